"""Reorderer: strict order, every number once, gaps for holes, never waits past its deadline."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest

from mjray.frames import Detections, Frame, Gap, GapReason, Lease, Result, Resume
from mjray.order.reorder import ReorderActor, Reorderer


def make(max_wait_s=1.0, max_pending=100):
    return Reorderer(lambda seq: ("gap", seq, "timeout"), max_wait_s=max_wait_s, max_pending=max_pending)


def seqs(items):
    return [i[1] for i in items]


@pytest.mark.parametrize("order", list(itertools.permutations(range(5))))
def test_any_arrival_order_comes_out_in_order(order):
    r = make()
    out = []
    for seq in order:
        out += r.push(seq, ("item", seq), now=0.0)
    assert out == [("item", s) for s in range(5)]
    assert r.pending == 0 and r.emitted == 5


@pytest.mark.parametrize("seed", range(50))
def test_random_shuffles_with_drops_and_duplicates(seed):
    rng = random.Random(seed)
    n = 200
    lost = set(rng.sample(range(n - 1), 10))  # a lost last frame is unknowable: nothing follows it
    arrivals = [s for s in range(n) if s not in lost]
    rng.shuffle(arrivals)
    arrivals += rng.sample(arrivals, 5)  # duplicates
    r = make(max_wait_s=5.0, max_pending=1000)
    out, now = [], 0.0
    for seq in arrivals:
        now += 0.01
        out += r.push(seq, ("item", seq), now)
    out += r.expire(now + 5.0)
    out += r.flush()
    assert seqs(out) == list(range(n)), "every number once, in order"
    assert {s for kind, s, *_ in out if kind == "gap"} == lost
    assert (r.duplicates, r.late) == (5, 0)


def test_hole_waits_only_until_the_deadline_then_becomes_a_timeout_gap():
    r = make(max_wait_s=1.0)
    assert r.push(1, ("item", 1), now=10.0) == []  # 0 missing: wait
    assert r.expire(now=10.9) == []
    out = r.expire(now=11.0)
    assert out == [("gap", 0, "timeout"), ("item", 1)]
    assert r.timeouts == 1


def test_late_item_after_its_gap_is_dropped_and_counted():
    r = make(max_wait_s=1.0)
    r.push(1, ("item", 1), now=0.0)
    r.expire(now=2.0)
    assert r.push(0, ("item", 0), now=2.1) == []
    assert (r.late, r.duplicates) == (1, 0)


def test_duplicate_of_an_emitted_item_is_dropped_and_counted():
    r = make()
    assert r.push(0, ("item", 0), 0.0) == [("item", 0)]
    assert r.push(0, ("item", 0), 0.1) == []
    r.push(2, ("item", 2), 0.2)
    assert r.push(2, ("again", 2), 0.3) == []  # duplicate while held
    assert (r.duplicates, r.late) == (2, 0)


def test_consecutive_holes_all_expire_together():
    r = make(max_wait_s=1.0)
    r.push(5, ("item", 5), now=0.0)
    out = r.expire(now=1.0)
    assert seqs(out) == [0, 1, 2, 3, 4, 5]
    assert [o[0] for o in out] == ["gap"] * 5 + ["item"]


def test_too_many_held_forces_progress_without_waiting():
    r = make(max_wait_s=100.0, max_pending=3)
    out = []
    for seq in range(1, 6):  # 0 never comes
        out += r.push(seq, ("item", seq), now=0.0)
    assert seqs(out) == [0, 1, 2, 3, 4, 5]
    assert out[0] == ("gap", 0, "timeout")


def test_next_expiry_is_when_the_oldest_held_item_gives_up_its_hole():
    r = make(max_wait_s=2.0, max_pending=3)
    assert r.next_expiry() is None
    r.push(3, ("item", 3), now=10.0)
    r.push(2, ("item", 2), now=11.0)
    assert r.next_expiry() == 12.0
    assert r.expire(11.9) == [] and seqs(r.expire(12.0)) == [0, 1, 2, 3]
    assert r.next_expiry() is None


def test_drain_sleeps_until_a_push_or_the_hole_deadline_not_in_short_polls():
    actor = ReorderActor("ton", max_wait_s=0.3, max_pending=10)
    frame = Frame("ton", 1, 5.0, "rtcp", 0, 5.1, 640, 360)
    threading.Timer(0.1, actor.push_many, [[Result(frame, Detections.empty(), 1.0, "w", 5.2)]]).start()
    started = time.monotonic()
    out = actor.drain(wait_s=5.0)  # frame 0 never comes: its gap is due 0.3 s after frame 1 arrived
    waited = time.monotonic() - started
    assert [(type(i).__name__, i.seq) for i in out] == [("Gap", 0), ("Result", 1)]
    assert 0.35 <= waited < 1.0


def test_gaps_pushed_as_items_pass_through_in_order():
    r = make()
    out = r.push(1, ("gap", 1, "skipped"), 0.0) + r.push(0, ("item", 0), 0.0)
    assert out == [("item", 0), ("gap", 1, "skipped")]


def test_flush_fills_every_hole():
    r = make()
    r.push(2, ("item", 2), 0.0)
    r.push(4, ("item", 4), 0.0)
    assert seqs(r.flush()) == [0, 1, 2, 3, 4]
    assert r.pending == 0


@pytest.mark.parametrize("max_wait_s, max_pending", [(0, 10), (-1, 10), (1, 0)])
def test_bad_limits_are_refused(max_wait_s, max_pending):
    with pytest.raises(ValueError):
        make(max_wait_s, max_pending)


def test_actor_shell_emits_results_and_timeout_gaps_with_its_clock():
    now = [0.0]
    actor = ReorderActor("ton", max_wait_s=1.0, max_pending=10, clock=lambda: now[0])
    frame = Frame("ton", 1, 5.0, "rtcp", 0, 5.1, 640, 360)
    actor.push_many([Result(frame, Detections.empty(), 1.0, "detector:ton:0", 5.2)])
    actor.push_many([Gap("ton", 2, GapReason.SKIPPED, 5.1)])
    assert actor.drain() == []
    now[0] = 1.5
    out = actor.drain()
    assert [(type(i).__name__, i.seq) for i in out] == [("Gap", 0), ("Result", 1), ("Gap", 2)]
    assert out[0].reason is GapReason.TIMEOUT and out[0].seat == "ton"
    assert actor.stats().timeouts == 1


def result(seq, seat="ton"):
    return Result(
        Frame(seat, seq, 5.0 + seq / 15, "rtcp", seq, 5.1 + seq / 15, 640, 360), Detections.empty(), 1.0, "w", 6.0
    )


def test_a_restarted_reorderer_emits_nothing_until_anchored_then_never_an_item_twice():
    r = Reorderer(lambda seq: ("gap", seq, "timeout"), max_wait_s=1.0, max_pending=100, first_seq=None)
    assert r.push(12, ("item", 12), now=0.0) == [] and r.push(9, ("item", 9), now=0.0) == []
    assert r.expire(100.0) == [] and r.next_expiry() is None, "nothing leaves before it knows where output stopped"
    r.anchor(10)  # the driver took up to 9: the 9 pushed again (a retried push) is a duplicate
    assert r.duplicates == 1 and r.resumed_below == 12
    assert r.expire(0.5) == [] and seqs(r.expire(1.0)) == [10, 11, 12]
    assert r.push(9, ("item", 9), now=1.0) == [] and r.late + r.duplicates == 2
    r.anchor(0)  # a second anchor changes nothing
    assert r.next_seq == 13


def test_a_restarted_reorderer_holds_past_max_pending_until_anchored_but_not_without_bound():
    r = Reorderer(lambda seq: ("gap", seq, "timeout"), max_wait_s=1.0, max_pending=3, first_seq=None)
    for seq in range(20, 30):  # a long outage's gaps in one push: more than max_pending, still held
        assert r.push(seq, ("item", seq), now=0.0) == []
    r.anchor(18)
    assert seqs(r.expire(1.0)) == list(range(18, 30))
    r2 = Reorderer(lambda seq: ("gap", seq, "timeout"), max_wait_s=1.0, max_pending=3, first_seq=None)
    r2.MAX_UNANCHORED = 3  # no driver to anchor it for minutes: memory first
    for seq in (20, 21, 22):
        assert r2.push(seq, ("item", seq), now=0.0) == []
    assert seqs(r2.push(23, ("item", 23), now=0.0)) == [20, 21, 22, 23]


def test_a_restarted_reorder_flushed_before_any_drain_starts_after_the_drivers_last_seq():
    actor = ReorderActor("ton", max_wait_s=1.0, max_pending=50, restarted=True)
    actor.push_many([result(4), result(7)])
    out = actor.flush(after=4)
    assert [(i.seq, getattr(i, "reason", None)) for i in out] == [
        (5, GapReason.RESTART),
        (6, GapReason.RESTART),
        (7, None),
    ]


def test_a_restarted_reorder_actor_resumes_after_the_drivers_last_seq_with_restart_gaps_for_what_it_lost():
    now = [0.0]
    actor = ReorderActor("ton", max_wait_s=1.0, max_pending=50, clock=lambda: now[0], restarted=True)
    actor.push_many([result(8), result(14), result(15)])  # 9..13 died with the old process's memory
    assert actor.drain(after=8) == [] and actor.stats().duplicates == 1, "the driver took 8 already"
    now[0] = 1.0
    out = actor.drain(after=8)
    assert [i.seq for i in out] == list(range(9, 16))
    assert [i.reason for i in out if isinstance(i, Gap)] == [GapReason.RESTART] * 5
    actor.push_many([result(17)])
    now[0] = 2.5
    late = actor.drain()
    assert [(i.seq, getattr(i, "reason", None)) for i in late] == [(16, GapReason.TIMEOUT), (17, None)], (
        "a hole after the restart is a timeout"
    )


def test_the_reorder_keeps_its_cameras_ledger_and_the_newest_frame_that_reached_the_seat():
    actor = ReorderActor("ton", max_wait_s=1.0, max_pending=50, restarted=False)
    assert actor.resume() == Resume()
    actor.lease(Lease(seq_until=64, counters={"decoded": 3}))
    actor.lease(Lease(seq_until=48))  # an older lease landing late changes nothing
    actor.push_many([result(2), result(0), Gap("ton", 1, GapReason.SKIPPED, 5.05)])
    resume = actor.resume()
    assert resume.lease == Lease(seq_until=64, counters={"decoded": 3})
    assert resume.newest_seq == 2 and resume.newest_captured_at == pytest.approx(5.0 + 2 / 15)


def test_seqs_of_a_dead_sender_are_given_up_at_their_deadline_not_after_the_usual_wait():
    now = [0.0]
    actor = ReorderActor("ton", max_wait_s=5.0, max_pending=50, clock=lambda: now[0], restarted=False)
    actor.push_many([result(0), result(1)])
    assert [i.seq for i in actor.drain()] == [0, 1]
    actor.abandon(6, grace_s=1.0)  # a restarted camera: 2..5 were the dead one's
    actor.push_many([result(3), result(6), result(7)])  # 3 landed in time; 2, 4, 5 never will
    assert actor.drain() == []
    now[0] = 1.0
    out = actor.drain()
    assert [(i.seq, getattr(i, "reason", None)) for i in out] == [
        (2, GapReason.RESTART),
        (3, None),
        (4, GapReason.RESTART),
        (5, GapReason.RESTART),
        (6, None),
        (7, None),
    ]
    actor.push_many([result(9)])
    now[0] = 3.0
    assert actor.drain() == [], "a later hole waits the usual max_wait_s"

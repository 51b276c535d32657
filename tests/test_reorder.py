"""Reorderer: strict order, every number once, gaps for holes, never waits past its deadline."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest

from mjray.frames import Detections, Frame, Gap, GapReason, Result
from mjray.reorder import ReorderActor, Reorderer


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
    assert actor.stats()["timeouts"] == 1

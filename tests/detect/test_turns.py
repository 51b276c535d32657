"""Turn-taking of a shared detector: fair order, resting seats, and when to ask for a frame."""

import pytest

from mjray.detect.turns import AskTimer, Rounds, SeatTurns


def test_seats_are_served_in_turn_and_equally():
    turns = SeatTurns(["ton", "nan", "sha", "pei"])
    order = []
    for _ in range(40):
        seat = turns.next(now=0.0)
        turns.got(seat, True, now=0.0)
        order.append(seat)
    assert order[:4] == ["ton", "nan", "sha", "pei"]
    assert all(order.count(seat) == 10 for seat in ("ton", "nan", "sha", "pei"))


def test_a_seat_with_nothing_rests_longer_each_time_and_returns_when_it_has_frames():
    turns = SeatTurns(["ton", "nan"], first_rest_s=0.05, max_rest_s=0.4)
    assert turns.next(0.0) == "ton"
    turns.got("ton", False, now=0.0)  # camera reconnecting
    assert [turns.next(0.01), turns.next(0.02)] == ["nan", "nan"]  # ton rests 0.05 s
    assert turns.next(0.05) == "ton"
    rests = []
    now = 0.05
    for _ in range(5):
        turns.got("ton", False, now)
        rests.append(round(turns._until["ton"] - now, 3))
        now = turns._until["ton"]
        while turns.next(now) != "ton":
            pass
    assert rests == [0.1, 0.2, 0.4, 0.4, 0.4]
    turns.got("ton", True, now)  # back: no more rest
    assert {turns.next(now), turns.next(now)} == {"ton", "nan"}


def test_when_every_seat_rests_next_is_none_until_the_first_wakes():
    turns = SeatTurns(["ton", "nan"])
    for seat in ("ton", "nan"):
        assert turns.next(0.0) == seat
        turns.got(seat, False, 0.0)
    assert turns.next(0.01) is None
    assert turns.wake_at() == pytest.approx(0.05)
    assert turns.next(turns.wake_at()) in ("ton", "nan")


def test_no_seats_is_refused():
    with pytest.raises(ValueError):
        SeatTurns([])


def test_ask_lands_as_the_model_frees_up():
    timer = AskTimer(weight=0.5)
    assert timer.delay() == 0.0  # nothing known yet: ask at once
    timer.inferred(0.060)
    assert timer.delay() == pytest.approx(0.060)
    timer.asked(0.004)
    assert timer.delay() == pytest.approx(0.060 - 0.006)
    timer.inferred(0.100)  # the model slowed down: the average follows
    assert timer.infer_s == pytest.approx(0.080)
    timer.asked(0.200)  # a slow round trip never makes the delay negative
    assert timer.delay() == 0.0


def serve(rounds, now):
    """One worker's ask and its take's report: the next (seat, instant)."""
    task = rounds.next(now)
    if task is not None:
        rounds.got(task[0], True, now)
    return task


def test_a_round_gives_every_seat_the_same_instant_and_the_next_opens_once_it_is_handed_out():
    rounds = Rounds(["ton", "nan", "sha", "pei"], slack_s=0.0)
    first = [serve(rounds, now=10.0 + 0.01 * i) for i in range(4)]  # two workers asking in turn
    assert first == [("ton", 10.0), ("nan", 10.0), ("sha", 10.0), ("pei", 10.0)]
    assert serve(rounds, now=10.25) == ("nan", 10.25)  # opened when asked: no worker waits on a clock
    assert rounds.opened == 2
    assert [serve(rounds, now=10.3)[0] for _ in range(3)] == ["sha", "pei", "ton"]  # nan went first this time


def test_a_seat_is_out_with_one_worker_at_a_time_so_its_takes_keep_the_order_of_their_instants():
    rounds = Rounds(["ton"], slack_s=0.0)
    assert rounds.next(now=1.0) == ("ton", 1.0)  # worker A
    assert rounds.next(now=1.01) is None  # worker B: ton is still out with A, no second round for it
    assert rounds.wake_at() == pytest.approx(1.01 + Rounds.BUSY_WAIT_S)
    rounds.got("ton", True, now=1.02)
    assert rounds.next(now=1.02) == ("ton", 1.02)
    assert rounds.next(now=1.03) is None
    # A died: given up
    assert rounds.next(now=1.02 + Rounds.BUSY_MAX_S) == ("ton", pytest.approx(1.02 + Rounds.BUSY_MAX_S))


def test_a_busy_seat_lets_the_others_of_its_round_go_first():
    rounds = Rounds(["ton", "nan"], slack_s=0.0)
    assert serve(rounds, 0.0) == ("ton", 0.0)
    assert rounds.next(0.1) == ("nan", 0.0)  # still out when the next round opens
    assert rounds.next(0.2) == ("ton", 0.2)  # round 2 opened with nan first, but nan is out: ton goes
    assert rounds.next(0.21) is None
    rounds.got("nan", True, 0.22)
    assert rounds.next(0.22) == ("nan", 0.2)


def test_the_instant_lies_behind_by_the_slowest_cameras_delay_so_every_frame_has_arrived():
    rounds = Rounds(["ton", "nan"], slack_s=0.02, weight=1.0)
    rounds.got("ton", True, now=0.0, delay_s=0.05)
    rounds.got("nan", True, now=0.0, delay_s=0.30)  # a camera with a long pipeline
    assert rounds.next(now=100.0) == ("ton", pytest.approx(100.0 - 0.32))


def test_rounds_instants_only_grow_and_respect_a_rate_cap():
    rounds = Rounds(["ton"], min_period_s=0.5, slack_s=0.0)
    instants = [serve(rounds, now=t)[1] for t in (10.0, 10.1, 10.2, 12.0)]
    assert instants == pytest.approx([10.0, 10.5, 11.0, 12.0])  # capped to 2 a second, caught up later
    free = Rounds(["ton"], slack_s=0.5)
    assert serve(free, now=10.0)[1] < serve(free, now=10.0)[1]  # never the same instant twice


def test_a_seat_with_nothing_sits_rounds_out_until_its_rest_ends():
    rounds = Rounds(["ton", "nan"], slack_s=0.0)
    assert rounds.next(0.0) == ("ton", 0.0)
    rounds.got("ton", False, now=0.0)  # camera down: rests 0.05 s
    assert serve(rounds, 0.01) == ("nan", 0.0)
    assert rounds.next(0.02) == ("nan", 0.02)  # next round: ton still rests
    rounds.got("nan", False, now=0.02)
    assert rounds.next(0.03) is None and rounds.wake_at() == pytest.approx(0.05)
    assert rounds.next(0.05) == ("ton", 0.05)


def test_rounds_refuse_no_seats():
    with pytest.raises(ValueError):
        Rounds([])

"""Turn-taking of a shared detector: fair order, resting seats, and when to ask for a frame."""

import pytest

from mjray.turns import AskTimer, SeatTurns


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

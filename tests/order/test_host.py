"""Several seats' reorders in one process (`ReorderHost`): one drain waits for any of them, hands
each seat its own output in order, and each seat's reorder still works as it does alone.

A host killed mid-run, its seats resuming: tests/test_faults.py (`reorder_host`)."""

from __future__ import annotations

import threading
import time

import pytest

from mjray.cluster.hosted import HostedSeat
from mjray.frames import Detections, Frame, Gap, GapReason, Result
from mjray.order.host import ReorderHost


def result(seq, seat):
    return Result(
        Frame(seat, seq, 5.0 + seq / 15, "rtcp", seq, 5.1 + seq / 15, 640, 360), Detections.empty(), 1.0, "w", 6.0
    )


def kinds(items):
    return [(type(i).__name__, i.seat, i.seq) for i in items]


def host(seats=("ton", "nan", "sha"), max_wait_s=0.3):
    return ReorderHost("reorders:" + "+".join(seats), dict.fromkeys(seats, (max_wait_s, 50)))


def test_one_drain_hands_each_seat_its_own_output_in_order():
    both = host()
    both.call("ton", "push_many", [result(1, "ton"), result(0, "ton")])
    both.call("nan", "push_many", [result(0, "nan"), Gap("nan", 1, GapReason.SKIPPED, 5.1)])
    got = both.drain_many(5.0, {"ton": -1, "nan": -1, "sha": -1})
    assert {seat: kinds(items) for seat, items in got.items()} == {
        "ton": [("Result", "ton", 0), ("Result", "ton", 1)],
        "nan": [("Result", "nan", 0), ("Gap", "nan", 1)],
        "sha": [],
    }
    assert both.drain_many(0.0, {"ton": 1, "nan": 1, "sha": -1}) == {"ton": [], "nan": [], "sha": []}
    assert both.call("ton", "stats").emitted == 2 and both.call("nan", "stats").emitted == 2


def test_a_waiting_drain_wakes_for_a_push_to_any_seat_and_sleeps_till_a_holes_deadline_otherwise():
    both = host(max_wait_s=0.3)
    started = time.monotonic()
    threading.Timer(0.1, both.call, ["sha", "push_many", [result(0, "sha")]]).start()
    got = both.drain_many(5.0, {"ton": -1, "sha": -1})
    assert kinds(got["sha"]) == [("Result", "sha", 0)] and got["ton"] == []
    assert 0.08 <= time.monotonic() - started < 1.0, "woken by the push to sha, not at the end of its wait"
    # nan's frame 0 never comes: its gap is due 0.3 s after frame 1 came, and the drain wakes for it
    started = time.monotonic()
    threading.Timer(0.1, both.call, ["nan", "push_many", [result(1, "nan")]]).start()
    got = both.drain_many(5.0, {"ton": -1, "nan": -1})  # frame 1 wakes it, and it waits on for frame 0
    assert kinds(got["nan"]) == [("Gap", "nan", 0), ("Result", "nan", 1)]
    assert got["nan"][0].reason is GapReason.TIMEOUT
    assert 0.35 <= time.monotonic() - started < 1.5
    started = time.monotonic()
    assert both.drain_many(0.2, {"ton": -1, "nan": 1}) == {"ton": [], "nan": []}
    assert 0.18 <= time.monotonic() - started < 1.0


def test_a_restarted_host_resumes_each_seat_after_the_drivers_own_last_seq():
    restarted = ReorderHost(
        "reorders:ton+nan", {"ton": (1.0, 50, time.monotonic, True), "nan": (1.0, 50, time.monotonic, True)}
    )
    restarted.call("ton", "push_many", [result(4, "ton"), result(5, "ton")])
    restarted.call("nan", "push_many", [result(9, "nan")])
    got = restarted.drain_many(0.0, {"ton": 4, "nan": 8})  # the driver took ton's 4 and nan's 8 already
    assert kinds(got["ton"]) == [("Result", "ton", 5)] and kinds(got["nan"]) == [("Result", "nan", 9)]
    assert restarted.call("ton", "stats").duplicates == 1


def test_a_seat_of_a_reorder_host_is_called_as_its_own_reorders_handle_is():
    class Handle:
        _actor_id = "host-id"

        def __init__(self) -> None:
            self.call, self.calls = self, []

        def remote(self, *args):
            self.calls.append(args)

    handle = Handle()
    reorder = HostedSeat(handle, "nan")
    reorder.push_many.remote([1])
    reorder.flush.remote(3)
    assert handle.calls == [("nan", "push_many", [1]), ("nan", "flush", 3)] and reorder._actor_id == "host-id"


def test_a_reorder_that_cannot_start_fails_its_host_so_no_seat_goes_silent(monkeypatch):
    from mjray.order import host as module

    made = module.ReorderActor

    def failing(seat, *args, **kwargs):
        if seat == "nan":
            raise MemoryError("no room")
        return made(seat, *args, **kwargs)

    monkeypatch.setattr(module, "ReorderActor", failing)
    with pytest.raises(MemoryError, match="no room"):
        host(("ton", "nan"))
    with pytest.raises(AttributeError, match="_taken"):  # what needs the host's lock is no call
        host(("ton",)).call("ton", "_taken")

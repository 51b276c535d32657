"""Several cameras in one process: which seats share one, and how a seat of a host is called.

A host killed mid-run, its seats resuming: tests/test_faults.py (`camera_host`)."""

from __future__ import annotations

import pickle

import pytest

from mjray.camera import host
from mjray.camera.host import CameraHost
from mjray.cluster.hosted import HostedSeat, groups


@pytest.mark.parametrize(
    "seats, per_process, placed, expected",
    [
        (["ton", "nan", "sha", "pei"], 1, {}, [["ton"], ["nan"], ["sha"], ["pei"]]),
        (["ton", "nan", "sha", "pei"], 2, {}, [["ton", "nan"], ["sha", "pei"]]),
        (["ton", "nan", "sha", "pei"], 3, {}, [["ton", "nan", "sha"], ["pei"]]),
        (["ton", "nan", "sha", "pei"], 8, {}, [["ton", "nan", "sha", "pei"]]),
        # seats pinned to other nodes never share a process, whatever the order they come in
        (
            ["a", "b", "c", "d", "e"],
            4,
            {"a": {"room1": 0.1}, "c": {"room1": 0.1}, "b": {"room2": 0.1}},
            [["a", "c"], ["b"], ["d", "e"]],
        ),
        # the same resources written in another order are one placement
        (["a", "b"], 2, {"a": {"x": 1.0, "y": 1.0}, "b": {"y": 1.0, "x": 1.0}}, [["a", "b"]]),
        ([], 4, {}, []),
    ],
)
def test_seats_share_a_process_in_their_order_and_only_where_they_are_placed_alike(
    seats, per_process, placed, expected
):
    assert groups(seats, per_process, placed) == expected


def test_many_seats_fill_each_process_and_lose_none():
    seats = [f"cam{i:03d}" for i in range(130)]
    got = groups(seats, 16, {})
    assert [len(g) for g in got] == [16] * 8 + [2]
    assert [seat for g in got for seat in g] == seats


class Handle:
    """Stands for a host's actor handle: what `call.remote` was asked, and its actor id."""

    _actor_id = "host-id"

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.call = self

    def remote(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return len(self.calls)


def test_a_seat_of_a_host_is_called_as_a_camera_actor_is():
    host = Handle()
    camera = HostedSeat(host, "nan")
    assert camera.take.remote(0.1, None) == 1
    assert camera.stats.remote() == 2
    camera.pixels.remote([3, 4])
    camera.stop.remote(timeout_s=5.0)
    assert host.calls == [
        (("nan", "take", 0.1, None), {}),
        (("nan", "stats"), {}),
        (("nan", "pixels", [3, 4]), {}),
        (("nan", "stop"), {"timeout_s": 5.0}),
    ]
    assert camera._actor_id == "host-id"  # what Ray knows of the host, it knows of the seat's camera


def test_a_seat_of_a_host_pickles_and_routes_no_private_name():
    camera = HostedSeat("handle", "nan")
    assert pickle.loads(pickle.dumps(camera)) == camera
    with pytest.raises(AttributeError):
        camera.__setstate__  # noqa: B018 (pickle and copy look for these: never a call to the host)
    with pytest.raises(AttributeError):
        camera._secret  # noqa: B018


def test_a_camera_that_cannot_start_leaves_the_others_of_its_process(monkeypatch):
    """Restarted after one seat's reorder died for good, that seat's camera has nothing to look up:
    the host still starts (a constructor that raises is never restarted by Ray) and serves the
    others; the dead seat's calls raise, as its own dead actor's would."""

    class Camera:  # stands for CameraActor: its constructor looks up the seat's reorder
        def __init__(self, seat: str, reorder: str | None) -> None:
            if reorder is None:
                raise ValueError(f"Failed to look up actor with name 'reorder:{seat}'")
            self.seat = seat

        def stats(self) -> str:
            return self.seat

    monkeypatch.setattr(host, "CameraActor", Camera)
    both = CameraHost("cameras:ton+nan", {"ton": ("reorder:ton",), "nan": (None,)})
    assert both.call("ton", "stats") == "ton"
    with pytest.raises(RuntimeError, match="camera nan could not start: .*reorder:nan"):
        both.call("nan", "stats")
    with pytest.raises(ValueError, match="reorder:nan"):  # none can start: the host fails as a camera would
        CameraHost("cameras:nan+pei", {"nan": (None,), "pei": (None,)})

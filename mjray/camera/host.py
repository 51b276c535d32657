"""Several cameras in one process (`pool.cameras_per_process`): a thread per camera, one Ray actor.

Every Ray actor is a process of its own, with Ray's threads and its idle cost (about 0.7 % of a
core here, `scripts/ray_overhead.py`) and its own memory (a camera's process holds about 180 MiB,
most of it Python, NumPy, PyAV and Ray themselves). A node of a hundred cameras would run a hundred
such processes for work that is mostly FFmpeg's, which decodes without holding the GIL. A host
runs each of its seats' `CameraActor` as it runs alone, decode thread and all; callers reach a
seat through a `SeatCamera`, which has the calls of a camera actor's handle.

What changes with a host: a seat's camera restarts when its host's process does, and so do the
host's other seats (each resumes from its own ledger, as a camera alone does); the seats of a
host share its node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mjray.camera.actor import CameraActor
from mjray.cluster.logs import setup_actor

log = logging.getLogger(__name__)


class CameraHost:
    """The cameras of `seats` (seat -> `CameraActor`'s arguments after the seat), in this process."""

    def __init__(self, name: str, seats: dict[str, tuple]) -> None:
        self.cameras: dict[str, CameraActor] = {}
        # A camera that cannot start (restarted after its seat's reorder died for good: nothing to
        # look up) must not fail the constructor: Ray would never restart the host, and the other
        # seats would be down for good. Its calls raise instead, as its own dead actor's would.
        self.failed: dict[str, Exception] = {}
        for seat, args in seats.items():
            try:
                self.cameras[seat] = CameraActor(seat, *args)
            except Exception as error:
                log.error("camera %s could not start in %s: %s: %s", seat, name, type(error).__name__, error)
                self.failed[seat] = error
        setup_actor(name)  # each camera named itself as it started: the lines are the host's
        if not self.cameras:
            raise next(iter(self.failed.values()))

    def call(self, seat: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if seat in self.failed:
            raise RuntimeError(f"camera {seat} could not start: {self.failed[seat]}") from self.failed[seat]
        return getattr(self.cameras[seat], method)(*args, **kwargs)


@dataclass(frozen=True)
class SeatCamera:
    """One seat of a `CameraHost`, called as a camera actor's handle is: `camera.take.remote(...)`.
    Its `_actor_id` is the host's, so what Ray knows of the host (alive, restarts, node, pid) is
    what it knows of the seat's camera."""

    host: Any  # the host's actor handle
    seat: str

    def __getattr__(self, method: str) -> _SeatCall:
        if method.startswith("_") and method != "_actor_id":
            raise AttributeError(method)
        if method == "_actor_id":
            return self.host._actor_id
        return _SeatCall(self.host, self.seat, method)


@dataclass(frozen=True)
class _SeatCall:
    host: Any
    seat: str
    method: str

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self.host.call.remote(self.seat, self.method, *args, **kwargs)


def groups(seats: list[str], per_process: int, placed: dict[str, object]) -> list[list[str]]:
    """Seats in hosts of at most `per_process`, in their order; only seats placed alike (the same
    Ray resources) share a host."""
    out: list[list[str]] = []
    open_: dict[str, list[str]] = {}  # placement -> the host being filled
    for seat in seats:
        key = repr(sorted(dict(placed.get(seat) or {}).items()))
        group = open_.get(key)
        if group is None or len(group) >= per_process:
            group = open_[key] = []
            out.append(group)
        group.append(seat)
    return out

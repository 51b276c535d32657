"""Several seats' actors of one kind in one process (`pool.cameras_per_process`,
`pool.reorders_per_process`): a `Host` is one Ray actor holding each seat's actor object as it
would run alone; callers reach a seat through a `HostedSeat`, called as that actor's handle is.

Every Ray actor is a process of its own, with Ray's threads, its idle cost (about 0.5-0.7 % of a
core here, `scripts/ray_overhead.py`), its memory (150-200 MiB) and a wake-up for each call. What
changes with a host: its seats restart together when its process dies (each resumes as it does
alone), and share its node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mjray.cluster.logs import setup_actor

log = logging.getLogger(__name__)


class Host:
    """The actors of `seats` (seat -> the arguments after the seat), made by `make`, in this process."""

    what = "actor"  # the kind of actor held, in messages

    def __init__(self, name: str, seats: dict[str, tuple]) -> None:
        self.held: dict[str, Any] = {}
        # A seat's actor that cannot start (a camera restarted after its seat's reorder died for
        # good: nothing to look up) must not fail the constructor: Ray would never restart the
        # host, and the other seats would be down for good. Its calls raise instead, as its own
        # dead actor's would.
        self.failed: dict[str, Exception] = {}
        for seat, args in seats.items():
            try:
                self.held[seat] = self.make(seat, args)
            except Exception as error:
                log.error("%s %s could not start in %s: %s: %s", self.what, seat, name, type(error).__name__, error)
                self.failed[seat] = error
        setup_actor(name)  # each seat's actor named itself as it started: the lines are the host's
        if not self.held:
            raise next(iter(self.failed.values()))

    def make(self, seat: str, args: tuple) -> Any:
        raise NotImplementedError

    def call(self, seat: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if method.startswith("_"):
            raise AttributeError(f"{method} is not a call of a seat's {self.what}")
        if seat in self.failed:
            raise RuntimeError(f"{self.what} {seat} could not start: {self.failed[seat]}") from self.failed[seat]
        return getattr(self.held[seat], method)(*args, **kwargs)


@dataclass(frozen=True)
class HostedSeat:
    """One seat of a `Host`, called as its own actor's handle is: `camera.take.remote(...)`.
    Its `_actor_id` is the host's, so what Ray knows of the host (alive, restarts, node, pid) is
    what it knows of the seat's actor."""

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

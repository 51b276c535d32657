"""Several seats' reorders in one process (`pool.reorders_per_process`), drained in one call.

A reorder does little per frame, yet as a process of its own each frame wakes it twice (its
detector's push and the driver's drain), with Ray's threads around each call and its idle cost
beside (docs/results.md). A host holds each seat's `ReorderActor` unchanged; `drain_many` waits
for any of them and hands over what each emitted, one call where there were one a seat. What changes: the seats' reorders
restart together when the process dies (each resumes from the driver's last seq, as alone).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mjray.cluster.hosted import Host
from mjray.frames import Item
from mjray.order.reorder import ReorderActor, wait_for


class ReorderHost(Host):
    """The reorders of `seats` (seat -> `ReorderActor`'s arguments after the seat), in this process."""

    what = "reorder"

    def __init__(self, name: str, seats: dict[str, tuple]) -> None:
        self.ready = threading.Condition()  # every seat's: a push to any wakes a waiting drain
        super().__init__(name, seats)
        # A reorder looks nothing up: one that cannot start fails the host, as it would its own
        # actor, so Ray marks it dead and the driver takes the seats down, never a seat silent.
        if self.failed:
            raise next(iter(self.failed.values()))

    def make(self, seat: str, args: tuple) -> Any:
        return ReorderActor(seat, *args, ready=self.ready)

    def drain_many(self, wait_s: float, after: dict[str, int]) -> dict[str, list[Item]]:
        """`ReorderActor.drain` for the seats of `after` (each seat's last seq taken), at once:
        waits up to `wait_s` for any of them to have output."""
        held = [self.held[seat] for seat in after if seat in self.held]
        return wait_for(held, self.ready, time.monotonic, wait_s, dict(after))

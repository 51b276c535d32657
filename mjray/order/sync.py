"""Align seats in time for display: what every camera showed at the same instant.

Each seat's items arrive in sequence order with their capture times. `SeatSync` walks a
cursor through capture time at the display rate; a moment at time T shows, for every seat, its
newest item captured at or before T. A moment is produced once every seat has shown something
after T (so nothing earlier can still come), or when a seat has fallen `max_lag_s` behind the
wall clock or holds `max_queue` items (a dead or stalled camera must not freeze the others).

Seats sampled in rounds (policy aligned: every seat's frame nearest one instant, items timed by
that instant) need not wait for the next sample: a moment shows the newest round every seat has
delivered, as soon as it is complete; the cursor runs at most one step past the newest round.
Pure: no Ray, no pixels, time passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from mjray.policy import PolicyParts

T = TypeVar("T")


@dataclass(frozen=True)
class Moment(Generic[T]):
    at: float  # capture time of this moment, wall-clock seconds
    items: dict[str, T | None]  # seat -> newest item captured at or before `at` (None: nothing yet)
    captured: dict[str, float | None]  # seat -> that item's capture time

    @property
    def skew_s(self) -> float | None:
        """Spread of the capture times shown together (0 = perfectly aligned)."""
        times = [t for t in self.captured.values() if t is not None]
        return max(times) - min(times) if len(times) == len(self.captured) else None


class SeatSync(Generic[T]):
    def __init__(
        self, seats: Sequence[str], period_s: float, max_lag_s: float, max_queue: int = 256, rounds: bool = False
    ) -> None:
        if period_s <= 0 or max_lag_s <= 0 or max_queue < 1:
            raise ValueError("period_s and max_lag_s must be > 0, max_queue >= 1")
        self.seats, self.period_s, self.max_lag_s, self.max_queue = tuple(seats), period_s, max_lag_s, max_queue
        self.rounds = rounds
        # per seat: (place in time, item, capture time); the place is the round's instant in rounds
        self._queues: dict[str, deque[tuple[float, T, float]]] = {s: deque() for s in self.seats}
        self._shown: dict[str, tuple[float, T, float] | None] = {s: None for s in self.seats}
        self._newest: dict[str, float] = {}  # seat -> place of its newest item, shown or not
        self.cursor: float | None = None
        self._origin, self._steps = 0.0, 0  # cursor = origin + steps * period, without float drift

    def add(self, seat: str, captured_at: float, item: T, instant: float | None = None) -> None:
        """`instant`: in rounds, the round's instant, where the item is placed (skew stays of capture times)."""
        queue = self._queues[seat]
        at = captured_at if instant is None else instant
        if queue and at < queue[-1][0]:
            at = queue[-1][0]  # capture clocks can step back (clock source switch): keep order
        queue.append((at, item, captured_at))
        self._newest[seat] = at

    def oldest(self, seat: str) -> T | None:
        """The oldest item of `seat` a moment may still show: the one shown last, else the first waiting."""
        shown = self._shown[seat]
        if shown is not None:
            return shown[1]
        queue = self._queues[seat]
        return queue[0][1] if queue else None

    def moments(self, now: float) -> list[Moment[T]]:
        if self.cursor is None:
            firsts = [q[0][0] for q in self._queues.values() if q]
            if not firsts:
                return []
            if len(firsts) < len(self.seats) and now - min(firsts) < self.max_lag_s:
                return []  # wait a little for every seat to start
            self._origin = max(firsts) if len(firsts) == len(self.seats) else min(firsts)
            self.cursor = self._origin
        out = []
        while self._ready(now):
            at = self.cursor
            for seat, queue in self._queues.items():
                while queue and queue[0][0] <= at:
                    self._shown[seat] = queue.popleft()
            out.append(
                Moment(
                    at,
                    {s: (v[1] if v else None) for s, v in self._shown.items()},
                    {s: (v[2] if v else None) for s, v in self._shown.items()},
                )
            )
            self._steps += 1
            self.cursor = self._origin + self._steps * self.period_s
        return out

    def _last_at_or_before(self, seat: str, at: float) -> float | None:
        shown = self._shown[seat]
        last = shown[0] if shown else None
        for t, *_ in self._queues[seat]:
            if t > at:
                break
            last = t
        return last

    def _ready(self, now: float) -> bool:
        at = self.cursor
        if now - at > self.max_lag_s:
            return True
        if any(len(q) > self.max_queue for q in self._queues.values()):
            return True
        if self.rounds:  # the newest round at or before `at` is complete; one step past the newest at most
            if len(self._newest) < len(self.seats) or at > max(self._newest.values()) + self.period_s:
                return False
            latest = max(
                (t for t in (self._last_at_or_before(s, at) for s in self.seats) if t is not None), default=None
            )
            return latest is not None and all(t >= latest for t in self._newest.values())
        return all(q and q[-1][0] > at for q in self._queues.values())


def for_display(seats: Sequence[str], display_fps: float, policy: PolicyParts) -> SeatSync:
    """The display's sync for a stream policy: how long it waits for a late seat, and whether it
    shows whole rounds (add items with their round's instant, `Frame.instant`)."""
    return SeatSync(seats, 1.0 / display_fps, policy.display_lag_s, rounds=policy.rounds)

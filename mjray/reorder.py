"""Restore frame order per seat: results arrive in any order, leave strictly by sequence number.

`Reorderer` is the pure logic (no Ray, time passed in). It promises:
- every sequence number is emitted exactly once, in increasing order, as the item pushed for it
  or as a gap made by `missing(seq)` (a timeout);
- it never waits forever: a hole is declared a `timeout` gap once something after it has
  waited `max_wait_s`, or at once when more than `max_pending` items are held behind it;
- an item arriving after its number was given up (late) or a second time (duplicate) is
  counted and dropped, never emitted.
`ReorderActor` is the thin shell that one seat's detectors push into and the driver drains.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Generic, TypeVar

from mjray.frames import Gap, GapReason, Item

T = TypeVar("T")


class Reorderer(Generic[T]):
    def __init__(self, missing: Callable[[int], T], max_wait_s: float, max_pending: int, first_seq: int = 0) -> None:
        if max_wait_s <= 0 or max_pending < 1:
            raise ValueError("max_wait_s must be > 0 and max_pending >= 1")
        self.missing, self.max_wait_s, self.max_pending = missing, max_wait_s, max_pending
        self.next_seq = first_seq
        self._held: dict[int, tuple[T, float]] = {}  # seq -> (item, arrival time)
        self._given_up: collections.deque[int] = collections.deque(maxlen=4096)  # recent timeouts
        self.emitted = self.timeouts = self.late = self.duplicates = 0

    @property
    def pending(self) -> int:
        return len(self._held)

    def push(self, seq: int, item: T, now: float) -> list[T]:
        """Accept one item; return what can now be emitted, in order."""
        if seq < self.next_seq or seq in self._held:
            if seq in self._given_up:
                self.late += 1
            else:
                self.duplicates += 1
            return self.expire(now)
        self._held[seq] = (item, now)
        return self.expire(now)

    def expire(self, now: float) -> list[T]:
        """Emit what is ready, declaring holes that waited too long (call it on a timer too)."""
        out = self._run()
        while self._held:
            oldest = min(arrival for _, arrival in self._held.values())
            if now - oldest < self.max_wait_s and len(self._held) <= self.max_pending:
                break
            out.append(self._give_up())
            out += self._run()
        return out

    def next_expiry(self) -> float | None:
        """When `expire` next has a hole to declare, if nothing arrives before; None if nothing is held."""
        if not self._held:
            return None
        if len(self._held) > self.max_pending:
            return float("-inf")
        return min(arrival for _, arrival in self._held.values()) + self.max_wait_s

    def flush(self) -> list[T]:
        """Emit everything held, gaps in the holes (at shutdown)."""
        out = self._run()
        while self._held:
            out.append(self._give_up())
            out += self._run()
        return out

    def _run(self) -> list[T]:
        out = []
        while self.next_seq in self._held:
            out.append(self._held.pop(self.next_seq)[0])
            self.next_seq += 1
            self.emitted += 1
        return out

    def _give_up(self) -> T:
        seq = self.next_seq
        self._given_up.append(seq)
        self.next_seq += 1
        self.emitted += 1
        self.timeouts += 1
        return self.missing(seq)


class ReorderActor:
    """One seat's reorder buffer; detectors and the camera push, the driver drains.

    Runs threaded (`max_concurrency` > 1) so `drain(wait_s)` can wait for output without
    blocking pushes: the driver makes one call per burst of output, not one per poll.
    """

    def __init__(self, seat: str, max_wait_s: float, max_pending: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.seat, self.clock = seat, clock
        self.reorderer: Reorderer[Item] = Reorderer(
            lambda seq: Gap(seat, seq, GapReason.TIMEOUT), max_wait_s=max_wait_s, max_pending=max_pending
        )
        self._out: list[Item] = []
        self._ready = threading.Condition()
        self.pushes = 0  # calls that brought items: each costs both sides a Ray call

    def push_many(self, items: list[Item]) -> None:
        with self._ready:
            self.pushes += bool(items)
            for item in items:
                self._out += self.reorderer.push(item.seq, item, self.clock())
            self._ready.notify_all()  # output, or a new hole deadline for a waiting drain

    def drain(self, wait_s: float = 0.0) -> list[Item]:
        """Everything emitted since the last drain, in order; waits up to `wait_s` for something."""
        deadline = self.clock() + wait_s
        with self._ready:
            while True:
                self._out += self.reorderer.expire(self.clock())
                left = deadline - self.clock()
                if self._out or left <= 0:
                    break
                expiry = self.reorderer.next_expiry()
                self._ready.wait(left if expiry is None else max(0.001, min(left, expiry - self.clock())))
            out, self._out = self._out, []
        return out

    def flush(self) -> list[Item]:
        with self._ready:
            self._out += self.reorderer.flush()
            out, self._out = self._out, []
        return out

    def stats(self) -> dict[str, int]:
        with self._ready:
            r = self.reorderer
            return {"emitted": r.emitted, "timeouts": r.timeouts, "late": r.late, "duplicates": r.duplicates,
                    "pending": r.pending, "next_seq": r.next_seq, "pushes": self.pushes}

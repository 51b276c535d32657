"""Restore frame order per seat: results arrive in any order, leave strictly by sequence number.

`Reorderer` is the pure logic (no Ray, time passed in). It promises:
- every sequence number is emitted exactly once, in increasing order, as the item pushed for it
  or as a gap made by `missing(seq)` (a timeout);
- it never waits forever: a hole is declared a `timeout` gap once something after it has
  waited `max_wait_s`, or at once when more than `max_pending` items are held behind it;
- an item arriving after its number was given up (late) or a second time (duplicate) is
  counted and dropped, never emitted;
- restarted (`first_seq=None`), it emits nothing until `anchor` says where output stopped (the
  driver knows: the last seq it took), so nothing is emitted twice; the holes behind the first
  items pushed after the restart (what died with the old process) are `restart` gaps.
`ReorderActor` is the thin shell that one seat's detectors push into and the driver drains; it
also keeps its camera's ledger, so a restarted camera resumes where it was.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from mjray.cluster import metrics
from mjray.cluster.clients import REORDER
from mjray.cluster.logs import setup_actor
from mjray.frames import Gap, GapReason, Item, Lease, ReorderReport, Resume

T = TypeVar("T")


class Reorderer(Generic[T]):
    MAX_UNANCHORED = 100_000  # items a restarted reorderer holds before its anchor comes (gaps of a long outage)

    def __init__(
        self, missing: Callable[[int], T], max_wait_s: float, max_pending: int, first_seq: int | None = 0
    ) -> None:
        if max_wait_s <= 0 or max_pending < 1:
            raise ValueError("max_wait_s must be > 0 and max_pending >= 1")
        self.missing, self.max_wait_s, self.max_pending = missing, max_wait_s, max_pending
        self.next_seq: int | None = first_seq  # None: restarted, waiting for `anchor`
        self.resumed_below: int | None = None  # restarted: holes below this died with the old process
        self.abandoned_below, self._abandon_at = 0, float("inf")  # holes below it are given up at that time
        self._resuming = first_seq is None
        self._held: dict[int, tuple[T, float]] = {}  # seq -> (item, arrival time)
        self._given_up: collections.deque[int] = collections.deque(maxlen=4096)  # recent timeouts
        self.emitted = self.timeouts = self.late = self.duplicates = 0

    @property
    def pending(self) -> int:
        return len(self._held)

    def push(self, seq: int, item: T, now: float) -> list[T]:
        """Accept one item; return what can now be emitted, in order."""
        if self.next_seq is None:  # restarted: hold until anchored (the driver's next drain, within a second)
            if seq in self._held:
                self.duplicates += 1
            else:
                self._held[seq] = (item, now)
            if len(self._held) > self.MAX_UNANCHORED:  # no driver for minutes: memory first
                self.anchor(min(self._held))
                return self.expire(now)
            return []
        if seq < self.next_seq or seq in self._held:
            if seq in self._given_up:
                self.late += 1
            else:
                self.duplicates += 1
            return self.expire(now)
        if self._resuming and self.resumed_below is None:
            self.resumed_below = seq
        self._held[seq] = (item, now)
        return self.expire(now)

    def anchor(self, next_seq: int) -> None:
        """Restarted: output stopped before `next_seq`; what is held below it was emitted already."""
        if self.next_seq is not None:
            return
        self.next_seq = next_seq
        for seq in [seq for seq in self._held if seq < next_seq]:
            del self._held[seq]
            self.duplicates += 1
        if self._held:
            self.resumed_below = min(self._held)

    def abandon(self, below: int, at: float) -> None:
        """The sender of every seq below `below` died: what has not come by `at` never will; its holes
        are given up then, not `max_wait_s` after something behind them arrived."""
        if below > self.abandoned_below:
            self.abandoned_below, self._abandon_at = below, at

    def expire(self, now: float) -> list[T]:
        """Emit what is ready, declaring holes that waited too long (call it on a timer too)."""
        if self.next_seq is None:
            return []
        out = self._run()
        while self.next_seq < self.abandoned_below and now >= self._abandon_at:
            out.append(self._give_up())
            out += self._run()
        while self._held:
            oldest = min(arrival for _, arrival in self._held.values())
            if now - oldest < self.max_wait_s and len(self._held) <= self.max_pending:
                break
            out.append(self._give_up())
            out += self._run()
        return out

    def next_expiry(self) -> float | None:
        """When `expire` next has a hole to declare, if nothing arrives before; None if nothing is held."""
        if not self._held or self.next_seq is None:
            return None
        if len(self._held) > self.max_pending:
            return float("-inf")
        expiry = min(arrival for _, arrival in self._held.values()) + self.max_wait_s
        return min(expiry, self._abandon_at) if self.next_seq < self.abandoned_below else expiry

    def flush(self) -> list[T]:
        """Emit everything held, gaps in the holes (at shutdown)."""
        if self.next_seq is None:
            if not self._held:
                return []
            self.anchor(min(self._held))
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


def wait_for(
    reorders: list[ReorderActor],
    ready: threading.Condition,
    clock: Callable[[], float],
    wait_s: float,
    after: dict[str, int | None],
) -> dict[str, list[Item]]:
    """Each reorder's output since its last drain, waiting up to `wait_s` for any of them to have
    some; `ready` is the condition they all notify. `after`: each seat's last seq taken."""
    deadline = clock() + wait_s
    with ready:
        while True:
            expiries = [e for r in reorders if (e := r._expired(after.get(r.seat))) is not None]
            left = deadline - clock()
            if any(r._out for r in reorders) or left <= 0:
                break
            ready.wait(left if not expiries else max(0.001, min(left, min(expiries) - clock())))
        out = {r.seat: r._taken() for r in reorders}
    now = time.time()
    for seat, items in out.items():
        metrics.emitted(seat, items, now)
    return out


class ReorderActor:
    """One seat's reorder buffer; detectors and the camera push, the driver drains.

    Runs threaded (`max_concurrency` > 1) so `drain(wait_s)` can wait for output without
    blocking pushes: the driver makes one call per burst of output, not one per poll.
    Restarted by Ray after a crash, it waits for the driver's next drain to say where output
    stopped. It keeps the camera's ledger (`lease`, `resume`): the seqs the camera may use and
    its counters, with the newest frame that reached this seat.
    """

    def __init__(
        self,
        seat: str,
        max_wait_s: float,
        max_pending: int,
        clock: Callable[[], float] = time.monotonic,
        restarted: bool | None = None,
        ready: threading.Condition | None = None,
    ) -> None:
        from mjray.cluster.facts import reconstructed

        setup_actor(REORDER.name(seat))
        self.seat, self.clock = seat, clock
        self.restarted = reconstructed() if restarted is None else restarted
        self.reorderer: Reorderer[Item] = Reorderer(
            self._missing, max_wait_s=max_wait_s, max_pending=max_pending, first_seq=None if self.restarted else 0
        )
        self._out: list[Item] = []
        # the seats of a host (`ReorderHost`) share one, so one drain can wait for any of them
        self._ready = ready or threading.Condition()
        self.pushes = 0  # calls that brought items: each costs both sides a Ray call
        self._lease = Lease()  # the camera's last lease
        self._newest: tuple[int, float] | None = None  # (seq, capture time) of the newest item pushed

    def _missing(self, seq: int) -> Gap:
        r = self.reorderer
        died = (r.resumed_below is not None and seq < r.resumed_below) or seq < r.abandoned_below
        return Gap(self.seat, seq, GapReason.RESTART if died else GapReason.TIMEOUT)

    def push_many(self, items: list[Item]) -> None:
        with self._ready:
            self.pushes += bool(items)
            for item in items:
                self._out += self.reorderer.push(item.seq, item, self.clock())
                if item.captured_at is not None and (self._newest is None or item.seq > self._newest[0]):
                    self._newest = (item.seq, item.captured_at)
            self._ready.notify_all()  # output, or a new hole deadline for a waiting drain

    def drain(self, wait_s: float = 0.0, after: int | None = None) -> list[Item]:
        """Everything emitted since the last drain, in order; waits up to `wait_s` for something.
        `after`: the last seq the driver took (-1: none), where a restarted reorder resumes."""
        return wait_for([self], self._ready, self.clock, wait_s, {self.seat: after})[self.seat]

    def _expired(self, after: int | None) -> float | None:
        """With `_ready` held: what is due moves to the output (`after` anchors a restarted one);
        when the next hole is due, if any."""
        if after is not None:
            self.reorderer.anchor(after + 1)
        self._out += self.reorderer.expire(self.clock())
        return self.reorderer.next_expiry()

    def _taken(self) -> list[Item]:
        """With `_ready` held: the output so far, handed over."""
        out, self._out = self._out, []
        metrics.set_gauge("mjray_reorder_waiting", self.reorderer.pending, seat=self.seat)
        return out

    def flush(self, after: int | None = None) -> list[Item]:
        """Everything held, gaps in the holes (at shutdown); `after` as for `drain`."""
        with self._ready:
            if after is not None:
                self.reorderer.anchor(after + 1)
            self._out += self.reorderer.flush()
            out, self._out = self._out, []
        metrics.emitted(self.seat, out, time.time())
        return out

    def lease(self, lease: Lease) -> None:
        """The camera's lease, kept here so a restarted camera can `resume`."""
        with self._ready:  # calls run on several threads: an older lease may land after a newer one
            if lease.seq_until >= self._lease.seq_until:
                self._lease = lease

    def abandon(self, below: int, grace_s: float) -> None:
        """A restarted camera: the seqs below `below` that the dead one used and that have not come
        within `grace_s` died with it (`restart` gaps)."""
        with self._ready:
            self.reorderer.abandon(below, self.clock() + grace_s)
            self._ready.notify_all()

    def resume(self) -> Resume:
        """For a restarted camera: its last lease, and the newest frame that reached this seat."""
        with self._ready:
            newest = self._newest or (-1, None)
            return Resume(self._lease, *newest)

    def stats(self) -> ReorderReport:
        with self._ready:
            r = self.reorderer
            return ReorderReport(
                r.emitted,
                r.timeouts,
                r.late,
                r.duplicates,
                r.pending,
                r.next_seq if r.next_seq is not None else -1,
                self.pushes,
            )

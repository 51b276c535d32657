"""A camera's bookkeeping, without Ray: the seqs it hands out and the gaps it owes its reorder.

A camera numbers every frame (`seq`) and never reuses a number, also after Ray restarts its
process: it claims seqs in leases written into its reorder (`SeqLedger`), and a restarted camera
goes on past the last lease, counting the frames due while it was gone as `offline`. The gaps of
frames it passes over wait in a `GapBatch` for the next frame sent (its detector pushes them with
the result: one call where there were two), or go by themselves after a while. `CameraActor`
is the shell around them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mjray.frames import Gap, Resume


@dataclass
class SeqLedger:
    """The next seq, and the lease (`leased`: no seq at or past it is used without a new one)."""

    lease_frames: int = 16
    next: int = 0
    leased: int = 0
    # restarted: the newest frame that reached the seat (seq, capture time) and the frame interval
    resume_from: tuple[int, float, float | None] | None = None

    def claim(self, count: int) -> tuple[int, int | None]:
        """The first of `count` new seqs, and the lease to write and wait for first (None: the
        current one covers them)."""
        first = self.next
        self.next += count
        return first, (self.next + self.lease_frames if self.next > self.leased else None)

    def resume(self, resume: Resume) -> int:
        """A restart: past every seq the dead camera may have used (its lease, the newest that
        reached the seat); returns the seq it resumes at."""
        self.next = self.leased = max(resume.lease.seq_until, resume.newest_seq + 1)
        if resume.newest_captured_at is not None:
            self.resume_from = (resume.newest_seq, resume.newest_captured_at, resume.lease.interval_s)
        return self.next

    def resumed(self, captured_at: float) -> tuple[bool, int, float, float]:
        """Restarted: is a frame captured then past where the dead camera was? At the first that
        is: (True, frames due between that no seq was claimed for, the first one's capture time,
        the interval), else (False, 0, 0, 0): a replay that starts over passes its frames over."""
        assert self.resume_from is not None
        newest_seq, newest_at, interval = self.resume_from
        if captured_at <= newest_at + 0.5 * (interval or 0.0):
            return False, 0, 0.0, 0.0
        self.resume_from = None
        if not interval:
            return True, 0, 0.0, 0.0
        claimed = self.next - newest_seq - 1  # gaps already, or results still on their way
        missed = round((captured_at - newest_at) / interval) - 1 - claimed
        return True, max(0, missed), newest_at + (claimed + 1) * interval, interval


@dataclass
class GapBatch:
    """Gaps waiting to reach the reorder; `due` once the oldest has waited `every_s`."""

    every_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    gaps: list[Gap] = field(default_factory=list)
    since: float | None = None  # when the batch was last taken

    def __post_init__(self) -> None:
        self.since = self.clock()

    def add(self, gaps: list[Gap]) -> bool:
        """Add; is the batch due to go by itself?"""
        self.gaps += gaps
        return self.due()

    def due(self) -> bool:
        return self.clock() - self.since > self.every_s

    def take(self) -> list[Gap]:
        gaps, self.gaps, self.since = self.gaps, [], self.clock()
        return gaps

    def __len__(self) -> int:
        return len(self.gaps)

"""Batching for a detector shared by several cameras: which frames go into one forward pass, and when.

A GPU infers a batch of frames in little more time than one, so a detector serving several seats
gathers their frames and infers them together. It must never wait on a stalled or restarting
camera: the first frame of a batch waits at most `wait_s` (about one frame interval, like the push
timeout of DeepStream's muxer), then the batch closes with whoever came. Frames are taken oldest
arrival first, so each seat's order is kept and a seat delivering a burst cannot starve the
others. A frame captured longer ago than `max_age_s` when its batch is taken is not inferred: it
comes back as stale, to be reported as a gap with its own reason, never dropped silently (consumer
cameras pause around key frames and then deliver late frames at once; Roboflow's
InferencePipeline has a staleness budget for the same reason). Pure logic, no Ray, no threads:
every time is passed in as `now`, wall-clock seconds, the clock of the frames' `captured_at`.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


@dataclass
class Batch(Generic[T]):
    """What one `take` hands out: `items` to infer together, `stale` to report as gaps."""

    items: list[tuple[str, T]] = field(default_factory=list)  # (seat, item), at most `size`, oldest arrival first
    stale: list[tuple[str, T]] = field(default_factory=list)  # (seat, item) too old to infer, oldest arrival first


@dataclass
class BatchSizes:
    """Sizes of the batches inferred: how full the forward passes were."""

    count: int = 0
    total: int = 0
    max: int = 0

    def add(self, size: int) -> None:
        self.count += 1
        self.total += size
        self.max = size if size > self.max else self.max

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def as_dict(self) -> dict:
        return {"mean": round(self.mean, 2), "max": self.max, "count": self.count}


class _Pending(NamedTuple, Generic[T]):
    seat: str
    item: T
    captured_at: float
    arrived_at: float


class BatchCollector(Generic[T]):
    """Frames of several seats gathered into batches of at most `size`.

    A batch falls due when it is full, when nothing more can come (no asks outstanding), or when its
    oldest frame by arrival has waited `wait_s`; then `take` hands out up to `size` frames, oldest
    arrival first, together with every pending frame that has gone stale.
    """

    def __init__(self, size: int, wait_s: float, max_age_s: float | None = None) -> None:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be a whole number of frames per forward pass, at least 1; got {size!r}")
        if not (isinstance(wait_s, numbers.Real) and math.isfinite(wait_s) and wait_s >= 0):
            raise ValueError(f"wait_s must be a finite number of seconds >= 0; got {wait_s!r}")
        if max_age_s is not None and not (isinstance(max_age_s, numbers.Real) and max_age_s > 0):
            raise ValueError(f"max_age_s must be a number of seconds > 0, or None for no limit; got {max_age_s!r}")
        self.size, self.wait_s = int(size), float(wait_s)
        self.max_age_s = None if max_age_s is None else float(max_age_s)
        self.sizes = BatchSizes()
        self._pending: deque[_Pending[T]] = deque()  # in arrival order
        self._per_seat: Counter[str] = Counter()

    def add(self, seat: str, item: T, captured_at: float, now: float) -> None:
        """A frame of `seat` arrived at `now`; `captured_at` decides when it goes stale."""
        self._pending.append(_Pending(seat, item, captured_at, now))
        self._per_seat[seat] += 1

    def stale(self, captured_at: float, now: float) -> bool:
        """Whether a frame captured at `captured_at` is too old to infer at `now`."""
        return self.max_age_s is not None and now - captured_at > self.max_age_s

    def due(self, now: float, expecting: int) -> bool:
        """Whether to take a batch now; `expecting`: frames asked for and not arrived yet (0: none can come)."""
        if expecting < 0:
            raise ValueError(f"expecting must be >= 0 frames asked for; got {expecting!r}")
        if not self._pending:
            return False
        fresh = sum(not self.stale(frame.captured_at, now) for frame in self._pending)
        # no fresh frame: only gaps to report, which need no waiting
        return fresh >= self.size or fresh == 0 or expecting == 0 or now >= self._pending[0].arrived_at + self.wait_s

    def wake_at(self) -> float | None:
        """When the pending batch falls due by waiting (its first arrival + `wait_s`); None when empty."""
        return self._pending[0].arrived_at + self.wait_s if self._pending else None

    def take(self, now: float) -> Batch[T]:
        """Every stale pending frame and up to `size` fresh ones, oldest arrival first. What stays pending
        arrived after every frame taken, so each seat's frames leave in the order they came."""
        batch: Batch[T] = Batch([], [])
        kept: deque[_Pending[T]] = deque()
        for frame in self._pending:
            if self.stale(frame.captured_at, now):
                batch.stale.append((frame.seat, frame.item))
            elif len(batch.items) < self.size:
                batch.items.append((frame.seat, frame.item))
            else:
                kept.append(frame)
                continue
            self._per_seat[frame.seat] -= 1
        self._pending = kept
        self._per_seat = +self._per_seat  # forget seats with nothing pending
        if batch.items:
            self.sizes.add(len(batch.items))
        return batch

    def drain(self) -> list[tuple[str, T]]:
        """Everything pending, in arrival order, and nothing left (for stopping)."""
        out = [(frame.seat, frame.item) for frame in self._pending]
        self._pending.clear()
        self._per_seat.clear()
        return out

    def pending(self) -> int:
        return len(self._pending)

    def pending_for(self, seat: str) -> int:
        return self._per_seat[seat]

"""The pixels of frames sent for inference, kept by their camera until the driver is done with them.

A frame's pixels go into Ray's object store once, in the camera's process, which owns them. The
outputs that show pictures (grid video, window, web view) ask the camera for the few they draw,
by seat and seq; results travel without them. Why not a reference inside each result: Ray 2.60
keeps about 430 bytes in every worker that returns an ObjectRef inside a value, for good (a
reorder handing 60 references a second to the driver grew 5 MiB in 200 s; passing them in
arguments, or returning pixels, did not grow).

Kept from the frame's send until the driver says it has shown everything before a seq
(`release`), and never longer than `max_age_s` (a driver that stopped asking must not fill the
object store): past the display's wait for a late seat and the reorder's for a lost frame
(`hold_for`). Pure: no Ray; time passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

SLACK_S = 5.0  # beyond the waits a shown frame can go through: the driver's steps, a slow box


def hold_for(display_lag_s: float, reorder_wait_s: float) -> float:
    """Longest a sent frame's pixels are kept: a frame can wait for a lost one in its reorder, then
    for a late seat in the display's sync (which shows it as much as `display_lag_s` behind)."""
    return display_lag_s + reorder_wait_s + SLACK_S


class PixelHold(Generic[T]):
    def __init__(self, max_age_s: float) -> None:
        if max_age_s <= 0:
            raise ValueError("max_age_s must be > 0")
        self.max_age_s = max_age_s
        self._held: OrderedDict[int, tuple[T, float]] = OrderedDict()  # seq -> (pixels, kept at), in seq order
        self._below = 0  # seqs under this were released: never kept again (a late send after the release)

    def __len__(self) -> int:
        return len(self._held)

    def keep(self, seq: int, pixels: T, now: float) -> None:
        if seq < self._below:
            return
        late = bool(self._held) and seq < next(reversed(self._held))  # sends can finish out of order
        self._held[seq] = (pixels, now)
        if late:
            self._held = OrderedDict(sorted(self._held.items()))
        self._expire(now)

    def get(self, seqs: Sequence[int], now: float) -> list[T | None]:
        """Each seq's pixels; None for one released, too old, or never kept (sent before a restart)."""
        self._expire(now)
        return [held[0] if (held := self._held.get(seq)) is not None else None for seq in seqs]

    def release(self, below: int) -> int:
        """The driver will not ask for any seq under `below` again; how many were let go."""
        self._below = max(self._below, below)
        gone = 0
        while self._held and next(iter(self._held)) < self._below:
            self._held.popitem(last=False)
            gone += 1
        return gone

    def _expire(self, now: float) -> None:
        for seq in [seq for seq, (_, at) in self._held.items() if now - at > self.max_age_s]:
            del self._held[seq]

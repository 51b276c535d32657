"""The pixels of frames sent for inference, and the pictures kept by their camera until the driver is done with them.

A sent frame's pixels go into Ray's object store once, in the camera's process, in the form its
detector reads (`Sending`). The outputs that show pictures (grid video, window, web view) ask the
camera for the few they draw, by seat and seq: it keeps each sent frame's decoder picture and
makes the BGR of only those asked for (`shown`); results travel without them. Why not a
reference inside each result: Ray 2.60 keeps about 430 bytes in every worker that returns an
ObjectRef inside a value, for good (a reorder handing 60 references a second to the driver grew
5 MiB in 200 s; passing them in arguments, or returning pixels, did not grow).

Kept from the frame's send until the driver says it has shown everything before a seq
(`release`), and never longer than `max_age_s` (a driver that stopped asking must not fill the
camera's memory): past the display's wait for a late seat and the reorder's for a lost frame
(`hold_for`). `PixelHold` is pure: no Ray; time passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cv2
import numpy as np

T = TypeVar("T")

SLACK_S = 5.0  # beyond the waits a shown frame can go through: the driver's steps, a slow box


# 8-bit YUV whose first plane is the luma, full size
LUMA_FIRST = {
    "yuv420p",
    "yuvj420p",
    "nv12",
    "nv21",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv440p",
    "yuvj440p",
}
JPEG_RANGE = 2  # AVCOL_RANGE_JPEG: luma 0-255; anything else is read as limited (16-235), as FFmpeg does
# limited-range luma to grey levels 0-255, as FFmpeg's scaler makes `gray`, without its cost
LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Sending:
    """What a detector gets of a decoded picture, made only for a frame that is sent: its long side
    at most `size` (0: as decoded), and for a model that reads grey, the picture's own luma on one
    channel (no colour made, a third of the bytes to move; FFmpeg's scaler makes `gray` slower than
    `bgr24`, so the luma plane is read directly: docs/results.md)."""

    size: int = 0
    grey: bool = False

    def __call__(self, picture: Any) -> np.ndarray:
        """`picture`: an `av.VideoFrame`."""
        width, height = picture.width, picture.height
        scale = self.size / max(width, height) if self.size else 1.0
        size = (round(width * scale / 2) * 2, round(height * scale / 2) * 2) if scale < 1.0 else None
        if self.grey and picture.format.name in LUMA_FIRST:
            return luma(picture, size)
        form = "gray" if self.grey else "bgr24"
        if size is None:
            return picture.to_ndarray(format=form)
        return picture.reformat(width=size[0], height=size[1], format=form, interpolation="AREA").to_ndarray()


BGR = Sending()  # the full picture in colour


def luma(picture: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """The grey levels of an 8-bit YUV picture from its luma plane (FFmpeg's `gray`: equal at full
    size), scaled to `size` (width, height) first where one is given."""
    plane = picture.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: picture.height, : picture.width]
    if size is not None:
        rows = cv2.resize(rows, size, interpolation=cv2.INTER_AREA)
    if picture.color_range == JPEG_RANGE or picture.format.name.startswith("yuvj"):
        return rows.copy() if size is None else rows
    return cv2.LUT(rows, LIMITED_TO_FULL)


def shown(picture: Any) -> np.ndarray:
    """A held decoder frame as the outputs draw it: BGR, full size, made only when one is shown."""
    return picture.to_ndarray(format="bgr24")


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

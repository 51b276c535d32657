"""Frame-index markers drawn into the pixels, so any reader can tell which frame it holds.

A marker is a 2 x 16 grid of black/white blocks carrying 32 bits: seat index (3 bits), frame
index (21 bits, 38 hours at 15 fps) and a CRC-8 over both. Blocks are large (1/45 of the frame
height) so they survive H.264 at any sane bitrate. It is drawn twice, in the top-left and the
bottom-right corner: a frame assembled from two pictures (a torn read of a shared buffer) shows
two valid markers that disagree, and a damaged one fails its CRC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COLS, ROWS = 16, 2
SEAT_BITS, INDEX_BITS, CRC_BITS = 3, 21, 8
MAX_SEATS = 1 << SEAT_BITS
MAX_INDEX = 1 << INDEX_BITS


def block_size(height: int) -> int:
    """Block edge in pixels for a frame of this height (8 px at 360p, 16 px at 720p)."""
    return max(6, round(height / 45))


def marker_shape(height: int) -> tuple[int, int]:
    """(height, width) in pixels of one marker including its one-block black border."""
    b = block_size(height)
    return (ROWS + 2) * b, (COLS + 2) * b


def crc8(value: int, nbytes: int = 3) -> int:
    """CRC-8 (polynomial 0x07, initial 0xFF) over the low `nbytes` bytes of value, MSB first.

    The non-zero start keeps an all-black or all-white patch from reading as a valid marker.
    """
    crc = 0xFF
    for shift in range(8 * (nbytes - 1), -1, -8):
        crc ^= (value >> shift) & 0xFF
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@dataclass(frozen=True, order=True)
class Marker:
    seat: int
    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.seat < MAX_SEATS:
            raise ValueError(f"marker seat {self.seat} outside 0..{MAX_SEATS - 1}")
        if not 0 <= self.index < MAX_INDEX:
            raise ValueError(f"marker frame index {self.index} outside 0..{MAX_INDEX - 1}")

    def bits(self) -> list[int]:
        payload = (self.seat << INDEX_BITS) | self.index
        word = (payload << CRC_BITS) | crc8(payload)
        return [(word >> (31 - i)) & 1 for i in range(32)]

    @classmethod
    def from_bits(cls, bits: list[int]) -> Marker | None:
        word = 0
        for bit in bits:
            word = (word << 1) | bit
        payload, crc = word >> CRC_BITS, word & 0xFF
        if crc8(payload) != crc:
            return None
        return cls(seat=payload >> INDEX_BITS, index=payload & (MAX_INDEX - 1))


def _origins(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    mh, mw = marker_shape(height)
    return (0, 0), (height - mh, width - mw)


def draw(image: np.ndarray, marker: Marker) -> None:
    """Draw the marker into both corners of an HxWx3 (or HxW) uint8 image, in place."""
    height, width = image.shape[:2]
    b = block_size(height)
    mh, mw = marker_shape(height)
    bits = marker.bits()
    for y0, x0 in _origins(height, width):
        image[y0 : y0 + mh, x0 : x0 + mw] = 0
        for i, bit in enumerate(bits):
            if bit:
                r, c = divmod(i, COLS)
                y, x = y0 + (r + 1) * b, x0 + (c + 1) * b
                image[y : y + b, x : x + b] = 255


def _read_at(image: np.ndarray, y0: int, x0: int, b: int) -> Marker | None:
    inner = b // 4  # sample the middle half of each block, away from ringing at its edges
    bits = []
    for i in range(ROWS * COLS):
        r, c = divmod(i, COLS)
        y, x = y0 + (r + 1) * b, x0 + (c + 1) * b
        patch = image[y + inner : y + b - inner, x + inner : x + b - inner]
        bits.append(1 if patch.mean() > 127 else 0)
    return Marker.from_bits(bits)


@dataclass(frozen=True)
class Reading:
    """What the two corner markers of one picture say."""

    top: Marker | None
    bottom: Marker | None

    @property
    def marker(self) -> Marker | None:
        """The frame's marker when both corners agree, else None."""
        return self.top if self.top is not None and self.top == self.bottom else None

    @property
    def torn(self) -> bool:
        """Both corners readable but from different frames: two pictures in one."""
        return self.top is not None and self.bottom is not None and self.top != self.bottom


def read(image: np.ndarray) -> Reading:
    """Read both corner markers of a decoded frame (BGR/RGB HxWx3 or gray HxW uint8)."""
    height, width = image.shape[:2]
    b = block_size(height)
    (ty, tx), (by, bx) = _origins(height, width)
    return Reading(top=_read_at(image, ty, tx, b), bottom=_read_at(image, by, bx, b))

"""The 34 mahjong tile kinds and their names in each vocabulary.

Tiles are named in the compact notation `1m`..`9m`, `1p`..`9p`, `1s`..`9s`, `1z`..`7z`
(east, south, west, north, white, green, red), ordered as the `mahjong` library's 34-array.
"""

from __future__ import annotations

from collections.abc import Iterable

TILES: tuple[str, ...] = tuple([f"{n}{suit}" for suit in "mps" for n in range(1, 10)] + [f"{n}z" for n in range(1, 8)])
TILE_INDEX = {name: i for i, name in enumerate(TILES)}
COPIES = 4  # copies of each tile kind in a set

# The `mahjong-detector` model's class names for honour tiles (suits use the same notation).
_HONOUR_NAMES = {"1z": "tou", "2z": "nan", "3z": "sha", "4z": "pe", "5z": "haku", "6z": "hatsu", "7z": "chun"}
DETECTOR_NAME = {t: _HONOUR_NAMES.get(t, t) for t in TILES}
FROM_DETECTOR_NAME = {v: k for k, v in DETECTOR_NAME.items()}


def tile_named(name: str) -> str | None:
    """A class name in either vocabulary as the compact one ('tou' -> '1z', '1z' -> '1z'); None
    for a class that is no tile."""
    return name if name in TILE_INDEX else FROM_DETECTOR_NAME.get(name)


def counts_34(tiles: Iterable[str]) -> list[int]:
    """How many of each of the 34 kinds, in the `mahjong` package's order (its 34-array)."""
    counts = [0] * len(TILES)
    for tile in tiles:
        counts[TILE_INDEX[tile]] += 1
    return counts

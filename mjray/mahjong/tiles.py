"""The 34 mahjong tile kinds and their names in each vocabulary.

Tiles are named in the compact notation `1m`..`9m`, `1p`..`9p`, `1s`..`9s`, `1z`..`7z`
(east, south, west, north, white, green, red), ordered as the `mahjong` library's 34-array.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence

TILES: tuple[str, ...] = tuple([f"{n}{suit}" for suit in "mps" for n in range(1, 10)] + [f"{n}z" for n in range(1, 8)])
TILE_INDEX = {name: i for i, name in enumerate(TILES)}
COPIES = 4  # copies of each tile kind in a set
SUITS = "mpsz"  # the usual order of a sorted hand's suits (honours last)
SUIT_ORDERS = tuple("".join(p) for p in itertools.permutations(SUITS))  # every order a player may keep

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


@functools.cache
def sorted_kinds(order: str = SUITS) -> tuple[str, ...]:
    """The 34 kinds as a hand sorted with its suits in `order` holds them ('zmps': honours first)."""
    if sorted(order) != sorted(SUITS):
        raise ValueError(f"a suit order is the four letters of {SUITS!r} in any order, got {order!r}")
    return tuple(sorted(TILES, key=lambda t: (order.index(t[1]), t[0])))


@functools.cache
def ranks(order: str = SUITS) -> dict[str, int]:
    """Each kind's place in a hand sorted with its suits in `order`."""
    return {tile: i for i, tile in enumerate(sorted_kinds(order))}


def suit_order(rows: Sequence[Sequence[str]], default: str = SUITS, singles: bool = False) -> str:
    """The order of the suits that most of `rows` (hands as read, left to right) show, where more
    than half show the same one: the order of their runs of a suit (unless `singles`, a tile whose
    suit neither neighbour shares says nothing: a misread, or a suit held once), the suits a row
    does not show kept where `default` has them; else `default`."""
    shown: Counter[str] = Counter()
    for row in rows:
        suits = [tile[1] for tile in row]
        kept = [s for i, s in enumerate(suits) if singles or s in suits[max(i - 1, 0) : i] + suits[i + 1 : i + 2]]
        runs = [suit for suit, _ in itertools.groupby(kept)]
        if len(runs) == len(set(runs)):  # (a suit in two places: no order)
            fill = iter(runs)
            shown["".join(next(fill) if suit in runs else suit for suit in default)] += 1
    order, times = max(shown.items(), key=lambda item: item[1], default=(default, 0))
    return order if 2 * times > len(rows) else default

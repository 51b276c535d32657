"""The table: a hand reader per seat, and the rule that a set holds four copies of each tile.

`TableHands` runs one `HandReader` per seat, applies the table's rule (at most four copies of a
tile: the least confident copies beyond four fall back to their runner-up label) and tells when a
new deal is seen. Pure logic; the game record (`mjray.mahjong.gamelog`) drives it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mjray.mahjong.hands import Event, HandReader, StableHand
from mjray.mahjong.rows import CONCEALED
from mjray.mahjong.tiles import COPIES, TILES, tile_named
from mjray.mahjong.votes import in_order


def cap_copies(hands: Mapping[str, StableHand | None], copies: int = COPIES) -> dict[str, StableHand | None]:
    """The hands with at most `copies` of each tile across the table: of a kind read too often, the
    least confident copies take their runner-up label (when they have one, it has room and it sorts
    where the tile lies among the seat's concealed tiles)."""
    count = Counter(tile for hand in hands.values() if hand for tile in hand.tiles)
    if not count or max(count.values()) <= copies:
        return dict(hands)
    tiles = {seat: list(hand.tiles) for seat, hand in hands.items() if hand}
    conf = {seat: list(hand.confidence) for seat, hand in hands.items() if hand}
    for kind in sorted((k for k, n in count.items() if n > copies), key=lambda k: -count[k]):
        holders = sorted(((conf[s][i], s, i) for s, ts in tiles.items() for i, t in enumerate(ts) if t == kind))
        for _, seat, i in holders:
            if count[kind] <= copies:
                break
            alternative = hands[seat].runner_up[i]  # type: ignore[union-attr]
            if alternative is None or count[alternative[0]] >= copies:
                continue
            if i < len(hands[seat].concealed) and not _sorts_between(tiles[seat], i, alternative[0], hands[seat]):
                continue  # (a read the hand's order rules out)
            tiles[seat][i], conf[seat][i] = alternative
            count[kind] -= 1
            count[alternative[0]] += 1
    out: dict[str, StableHand | None] = dict(hands)
    for seat, hand in hands.items():
        if hand and tuple(tiles[seat]) != hand.tiles:
            n = len(hand.concealed)
            out[seat] = replace(
                hand,
                concealed=tuple(tiles[seat][:n]),
                drawn=tiles[seat][n] if hand.drawn else None,
                confidence=tuple(conf[seat]),
            )
    return out


def _sorts_between(tiles: Sequence[str], i: int, kind: str, hand: StableHand) -> bool:
    """Does `kind` in concealed place `i` sort between its neighbours in the hand's order? A tile kept
    out of order (`StableHand.loose`) may be any kind, and is no neighbour."""
    if i in hand.loose:
        return True
    placed = [k for k in range(len(hand.concealed)) if k not in hand.loose]
    at = placed.index(i)
    return in_order(
        [tiles[k] for k in placed[max(at - 1, 0) : at]] + [kind] + [tiles[k] for k in placed[at + 1 : at + 2]],
        hand.order,
    )


@dataclass(frozen=True)
class Change:
    """What one result of a seat changed at the table."""

    seat: str
    at: float  # the result's capture time
    events: tuple[Event, ...] = ()
    hand: StableHand | None = None  # the seat's hand (copies capped) when its tiles changed, else None
    deal: dict[str, tuple[str, ...]] | None = None  # a new deal seen: the 13 tiles of the seats read anew so far


class TableHands:
    """A `HandReader` per seat and the table's rules over them: at most `copies` of a tile, and a new
    deal told once when `deal_seats` seats' hands are replaced wholesale within `deal_window_s`."""

    def __init__(
        self,
        seats: Sequence[str],
        copies: int = COPIES,
        deal_window_s: float = 6.0,
        deal_seats: int | None = None,
        **reader_options,
    ) -> None:
        self.readers = {seat: HandReader(seat, **reader_options) for seat in seats}
        self.copies, self.deal_window_s = copies, deal_window_s
        self.deal_seats = min(2, len(self.readers)) if deal_seats is None else deal_seats
        self._told: dict[str, tuple[str, ...]] = {}  # tiles last told per seat
        self._replaced: dict[str, float] = {}  # seat -> when its hand was last replaced wholesale
        self._deal_at = -math.inf

    def observe(self, seat: str, t: float, boxes: np.ndarray, labels: Sequence[str], scores: np.ndarray) -> Change:
        reader = self.readers[seat]
        before = reader.replaced_at
        events = reader.observe(t, boxes, labels, scores)
        return self._change(seat, t, events, reader.replaced_at != before)

    def gap(self, seat: str, t: float) -> Change:
        return self._change(seat, t, self.readers[seat].gap(t), False)

    def hands(self) -> dict[str, StableHand | None]:
        return cap_copies({seat: reader.hand for seat, reader in self.readers.items()}, self.copies)

    def _change(self, seat: str, t: float, events: list[Event], replaced: bool) -> Change:
        count = Counter(tile for reader in self.readers.values() for tile in reader.tiles)
        if count and max(count.values()) > self.copies:
            hand = self.hands()[seat]
        else:
            reader = self.readers[seat]
            hand = reader.hand if reader.tiles != self._told.get(seat) else None
        told = None
        if hand is not None and hand.tiles != self._told.get(seat):
            self._told[seat] = hand.tiles
            told = hand
        deal = None
        if replaced:
            self._replaced[seat] = self.readers[seat].replaced_at  # type: ignore[assignment]
            recent = {s: at for s, at in self._replaced.items() if t - at <= self.deal_window_s}
            if len(recent) >= self.deal_seats and t - self._deal_at > self.deal_window_s:
                self._deal_at = t
                deal = {s: self._told.get(s, ())[:CONCEALED] for s in recent}
        return Change(seat, t, tuple(events), told, deal)


def tile_labels(names: Mapping[int, str]) -> dict[int, str]:
    """The model's class ids that name tiles, as compact names ('tou' -> '1z'); empty when its
    classes are not mahjong tiles (fewer than half of the 34 kinds among them)."""
    out = {}
    for class_id, name in names.items():
        tile = tile_named(name)
        if tile is not None:
            out[int(class_id)] = tile
    return out if len(set(out.values())) >= len(TILES) // 2 else {}

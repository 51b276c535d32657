"""A deterministic mahjong game whose hands change over time, to give the cameras something to see.

Seats take turns in order: the seat to move draws a tile from the wall (14 tiles), holds it a
moment (apart at the right by a gap drawn per turn from `gaps`, or, with chance `slid`, slid into
the row where it sorts), then discards the tile that leaves its hand closest to ready
(lowest shanten, ties broken by the seed), and the 13 remaining tiles are sorted (in the order of
suits the seat keeps, `orders`), or, with chance `unsorted`, the drawn tile kept stays at the
row's right end until sorted in a while later. When the live
wall runs out a new hand is dealt. Everything is a pure function of (seats, seed, timing), so a
video and its ground truth can be rebuilt from a few numbers.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass

from mahjong.shanten import Shanten

from mjray.mahjong.tiles import SUITS, TILE_INDEX, TILES, counts_34, ranks

DEAD_WALL = 14
DRAWN_GAP = 0.35  # tiles between the 13 and the drawn tile, as the first test bed laid every hand
SORT_LATER_S = (1.0, 8.0)  # a tile left unsorted is sorted in this long after (or at the seat's next draw)


@dataclass(frozen=True)
class Hand:
    """What a seat's camera sees: the concealed tiles left to right (sorted, but for a drawn tile kept
    unsorted a while) and, during its turn, the drawn one."""

    concealed: tuple[str, ...]
    drawn: str | None = None
    gap: float = DRAWN_GAP  # tiles between the concealed row and the drawn tile (0: laid against it)
    slid: int | None = None  # the drawn tile slid into the row before concealed[slid] instead of apart

    def __post_init__(self) -> None:
        if self.gap < 0 or (self.slid is not None and not 0 <= self.slid <= len(self.concealed)):
            raise ValueError(f"a hand's gap must be >= 0 and slid within 0..{len(self.concealed)}: {self}")

    @property
    def tiles(self) -> tuple[str, ...]:
        """The hand's tiles: the concealed ones left to right, the drawn one last (wherever it lies)."""
        return self.concealed + ((self.drawn,) if self.drawn else ())

    @property
    def places(self) -> tuple[float, ...]:
        """Where each of `tiles` lies along the row, in tile widths from the first tile's left edge."""
        n = len(self.concealed)
        if self.drawn is None:
            return tuple(float(i) for i in range(n))
        if self.slid is None:
            return tuple(float(i) for i in range(n)) + (n + self.gap,)
        return tuple(float(i + (i >= self.slid)) for i in range(n)) + (float(self.slid),)


def sort_tiles(tiles: Sequence[str], order: str = SUITS) -> tuple[str, ...]:
    """The tiles as a player who keeps the suits in `order` sorts them."""
    return tuple(sorted(tiles, key=ranks(order).__getitem__))


class TableGame:
    """Hands of every seat over time; `hand(seat, t)` answers for any t in [0, duration_s]."""

    def __init__(
        self,
        seats: Sequence[str],
        duration_s: float,
        seed: int = 0,
        turn_s: float = 2.0,
        hold_fraction: float = 0.5,
        gaps: Sequence[float] = (DRAWN_GAP,),
        slid: float = 0.0,
        orders: Sequence[str] = (SUITS,),
        unsorted: float = 0.0,
    ) -> None:
        """`gaps`: the gaps (tiles) a drawn tile is held apart by, one drawn per turn; `slid`: the
        chance that a turn's drawn tile is slid into the row where it sorts instead; `orders`: the
        order each seat keeps its suits in (seat i the i-th, round again when there are fewer);
        `unsorted`: the chance that a drawn tile kept, not slid in, is left at the row's right end
        when another goes, and sorted in a while later (`SORT_LATER_S`) or at the seat's next draw."""
        if not seats:
            raise ValueError("a table needs at least one seat")
        if len(set(seats)) != len(seats):
            raise ValueError(f"seat names must be unique, got {list(seats)}")
        if turn_s <= 0 or not 0 < hold_fraction < 1:
            raise ValueError("turn_s must be > 0 and hold_fraction within (0, 1)")
        if not gaps or min(gaps) < 0 or not 0 <= slid <= 1 or not 0 <= unsorted <= 1:
            raise ValueError(
                f"gaps must be one or more tiles >= 0, slid and unsorted chances in [0, 1], got {gaps}, {slid}, {unsorted}"
            )
        self.seats = tuple(seats)
        self.turn_s = turn_s
        self._rng = random.Random(seed)
        self._shanten = Shanten()
        self._times: dict[str, list[float]] = {s: [] for s in self.seats}
        self._hands: dict[str, list[Hand]] = {s: [] for s in self.seats}
        self._wall: list[str] = []
        self._gaps, self._slid, self._unsorted = tuple(gaps), slid, unsorted
        self._sorting: dict[str, tuple[float, Hand]] = {}  # seat -> when it sorts a tile left unsorted, and how
        if not orders:
            raise ValueError("orders must name at least one suit order, e.g. 'mpsz'")
        for order in orders:
            ranks(order)  # (a bad one fails here, naming what is expected)
        self.orders = {seat: orders[i % len(orders)] for i, seat in enumerate(self.seats)}
        self._lay_rng = random.Random(f"lay-{seed}")  # (its own: the game's tiles do not depend on the lay)
        self._simulate(duration_s, hold_fraction)

    def hand(self, seat: str, t: float) -> Hand:
        times = self._times[seat]
        return self._hands[seat][max(0, bisect.bisect_right(times, t) - 1)]

    def changes(self, seat: str) -> list[float]:
        """Times at which this seat's hand changes (the first is 0.0)."""
        return list(self._times[seat])

    def _record(self, seat: str, t: float, hand: Hand) -> None:
        sorting = self._sorting.pop(seat, None)
        if sorting is not None and sorting[0] < t:  # (else sorted at this change: a draw, a deal)
            self._times[seat].append(sorting[0])
            self._hands[seat].append(sorting[1])
        self._times[seat].append(t)
        self._hands[seat].append(hand)

    def _deal(self, t: float) -> dict[str, list[str]]:
        self._wall = [tile for tile in TILES for _ in range(4)]
        self._rng.shuffle(self._wall)
        hands = {}
        for seat in self.seats:
            hands[seat] = [self._wall.pop() for _ in range(13)]
            self._record(seat, t, Hand(sort_tiles(hands[seat], self.orders[seat])))
        return hands

    def _discard(self, tiles: list[str]) -> str:
        """The tile whose discard leaves the lowest shanten; ties broken by the seeded rng."""
        counts = counts_34(tiles)
        scored = []
        for tile in sorted(set(tiles), key=TILE_INDEX.__getitem__):
            counts[TILE_INDEX[tile]] -= 1
            scored.append((self._shanten.calculate_shanten(counts), tile))
            counts[TILE_INDEX[tile]] += 1
        best = min(score for score, _ in scored)
        return self._rng.choice([tile for score, tile in scored if score == best])

    def _laid(self, concealed: tuple[str, ...], drawn: str, order: str) -> Hand:
        gap = self._lay_rng.choice(self._gaps)
        if self._slid and self._lay_rng.random() < self._slid:
            rank = ranks(order)
            at = bisect.bisect_right([rank[t] for t in concealed], rank[drawn])
            return Hand(concealed, drawn, slid=at)
        return Hand(concealed, drawn, gap=gap)

    def _kept_unsorted(self, held: list[str], drawn: str, discard: str, laid: Hand, order: str) -> Hand | None:
        """The hand after a discard with the drawn tile left at the row's right end, where the player
        leaves it so (`unsorted`); None where it is sorted in."""
        if not self._unsorted or drawn == discard or laid.slid is not None or self._lay_rng.random() >= self._unsorted:
            return None
        rest = list(held)
        rest.remove(drawn)
        return Hand(sort_tiles(rest, order) + (drawn,))

    def _simulate(self, duration_s: float, hold_fraction: float) -> None:
        hands = self._deal(0.0)
        turn = 0
        while True:
            start = (turn + 1) * self.turn_s  # the first turn starts after a calm first interval
            if start > duration_s:
                break
            if len(self._wall) <= DEAD_WALL:
                hands = self._deal(start)
            else:
                seat = self.seats[turn % len(self.seats)]
                order = self.orders[seat]
                drawn = self._wall.pop()
                laid = self._laid(sort_tiles(hands[seat], order), drawn, order)
                self._record(seat, start, laid)
                discard = self._discard(hands[seat] + [drawn])
                hands[seat] = hands[seat] + [drawn]
                hands[seat].remove(discard)
                after, at = Hand(sort_tiles(hands[seat], order)), start + hold_fraction * self.turn_s
                kept = self._kept_unsorted(hands[seat], drawn, discard, laid, order)
                if kept is not None and kept != after:  # (a tile that sorts last is sorted)
                    self._record(seat, at, kept)
                    self._sorting[seat] = (at + self._lay_rng.uniform(*SORT_LATER_S), after)
                else:
                    self._record(seat, at, after)
            turn += 1
        for seat, (t, hand) in list(self._sorting.items()):  # sorted before the game's end
            if t <= duration_s:
                self._record(seat, t, hand)

"""How well each turn explains a run of readings of a hand: tile k taken out of the 13 held and a new
one sorted in at place q, every (k, q) scored on every reading at once. Pure: numpy only.

A turn moves the tiles between k and q one place along, so its misfit is sums along three diagonals
of one cost cube (each tile in its place, shifted right, shifted left): all 169 turns cost a few
cumulative sums, not 169 passes over the readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mjray.mahjong.align import credit
from mjray.mahjong.rows import CONCEALED, TileRead
from mjray.mahjong.votes import Track


@dataclass(frozen=True)
class TurnFits:
    """views: per reading, the label read at each place or None. The rest are the cost cube and its
    cumulative diagonals, from which every turn's misfit follows."""

    views: list[list[str | None]]
    cost: np.ndarray  # [reading, tile, place]: 1 less the credit of the tile for what was read there
    same: np.ndarray  # [reading, place]: cumulative along the places, each tile in its own place
    after: np.ndarray  # ... tile p-1 at place p (the tiles a turn moves right)
    before: np.ndarray  # ... tile p+1 at place p (moved left)
    relabel: bool  # whether a tile may change in place (q == k)

    @property
    def held(self) -> np.ndarray:
        """Per reading, the misfit of the 13 held as they lie."""
        return self.same[:, CONCEALED]

    @cached_property
    def ranked(self) -> list[tuple[float, int, int]]:
        """(misfit summed over the readings, k, q) of every turn, best first."""
        n = CONCEALED
        k, q = np.divmod(np.arange(n * n), n)
        totals = self.misfits(k, q)
        if not self.relabel:
            totals = np.where(q == k, np.inf, totals)
        order = np.argsort(totals, kind="stable")
        return [(float(totals[i]), int(k[i]), int(q[i])) for i in order if totals[i] < np.inf]

    def misfits(self, k, q) -> np.ndarray:
        """Per reading, the misfit of taking tile k out and sorting the new one in at q (k, q ints);
        for arrays of them, each turn's misfit summed over the readings."""
        n, same, after, before, cost = CONCEALED, self.same, self.after, self.before, self.cost
        if np.ndim(k) == 0:
            if q == k:
                return same[:, n] - cost[:, k, k]
            if q < k:
                return same[:, q] + after[:, k + 1] - after[:, q + 1] + same[:, n] - same[:, k + 1]
            return same[:, k] + before[:, q] - before[:, k] + same[:, n] - same[:, q + 1]
        places = np.arange(n)
        sa, af, be = same.sum(axis=0), after.sum(axis=0), before.sum(axis=0)
        inplace = sa[n] - cost[:, places, places].sum(axis=0)[k]
        left = sa[q] + af[k + 1] - af[q + 1] + sa[n] - sa[k + 1]
        right = sa[k] + be[np.minimum(q, n)] - be[k] + sa[n] - sa[np.minimum(q + 1, n)]
        return np.where(q == k, inplace, np.where(q < k, left, right))


def fit_turns(placed: Sequence[Sequence[tuple[int, TileRead]]], tracks: Sequence[Track], relabel: bool) -> TurnFits:
    """Every turn scored on readings given as (place, read) per tile read. A read costs 1 less the
    credit of the tile it falls on (a tile often read so costs less). `relabel`: a tile may change
    in place (a drawn tile held, sorted where the one that went lay); else a turn moves a tile."""
    n = CONCEALED
    views = []
    cost = np.zeros((len(placed), n, n))
    for r, reads in enumerate(placed):
        view: list[str | None] = [None] * n
        for place, read in reads:
            if 0 <= place < n:
                view[place] = read.tile
                for i, track in enumerate(tracks):
                    cost[r, i, place] = 1.0 - credit(track, read)
        views.append(view)
    places = np.arange(n)
    zero = np.zeros((len(placed), 1))
    same = np.cumsum(np.hstack([zero, cost[:, places, places]]), axis=1)
    after = np.cumsum(np.hstack([zero, zero, cost[:, places[:-1], places[1:]]]), axis=1)
    before = np.cumsum(np.hstack([zero, cost[:, places[1:], places[:-1]], zero]), axis=1)
    return TurnFits(views, cost, same, after, before, relabel)

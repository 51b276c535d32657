"""Every turn scored on a run of readings at once (`mjray.mahjong.fits`), against the turn's misfit
counted place by place."""

from __future__ import annotations

import random

import numpy as np

from mjray.mahjong.fits import fit_turns
from mjray.mahjong.rows import CONCEALED, TileRead
from mjray.mahjong.tiles import TILES
from tests.support import held

HAND = ("1m", "2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "1p", "2p", "3p", "4p")


def reads(kinds) -> list[tuple[int, TileRead]]:
    """A reading of these kinds place by place (None: no tile read there)."""
    return [(p, TileRead(kind, 0.9, p, 40.0 * p)) for p, kind in enumerate(kinds) if kind is not None]


def test_a_turn_the_readings_show_ranks_first_and_a_tile_in_its_place_is_no_turn():
    # 2m went, 5p drawn and sorted in at the end: the tiles after 2m each lie one place to the left
    after = HAND[:1] + HAND[2:] + ("5p",)
    fits = fit_turns([reads(after)] * 3, held(HAND), relabel=False)
    misfit, k, q = fits.ranked[0]
    assert (k, q) == (1, CONCEALED - 1) and misfit == 0.0
    assert list(fits.held) == [12.0] * 3  # (as they lay: from 2m's place on, every tile is another)
    assert fits.views[0] == list(after)
    assert all(k != q for _, k, q in fits.ranked) and len(fits.ranked) == CONCEALED * (CONCEALED - 1)
    # a drawn tile held may go where the one that went lay: the same place, another tile
    relabelled = HAND[:4] + ("5p",) + HAND[5:]
    fits = fit_turns([reads(relabelled)], held(HAND), relabel=True)
    assert fits.ranked[0][1:] == (4, 4) and fits.ranked[0][0] == 0.0


def test_every_turns_misfit_is_what_counting_place_by_place_gives():
    rng = random.Random(7)
    tracks = held(HAND)
    readings = []
    for _ in range(4):  # hands as read: some tiles another kind, some places unread, some moved along
        kinds = [rng.choice(TILES) if rng.random() < 0.3 else HAND[p] for p in range(CONCEALED)]
        kinds = [None if rng.random() < 0.15 else kind for kind in kinds]
        shift = rng.choice((-1, 0, 1))
        readings.append([(p + shift, read) for p, read in reads(kinds)])
    fits = fit_turns(readings, tracks, relabel=True)

    def counted(r: int, k: int, q: int) -> float:
        order = tracks[:k] + tracks[k + 1 :]
        order.insert(q, None)  # (the tile sorted in: what it is, no reading can yet cost)
        misfit = 0.0
        for place, read in readings[r]:
            if 0 <= place < CONCEALED and order[place] is not None:
                misfit += 1.0 - order[place].credit(read.tile)
        return misfit

    for k in range(CONCEALED):
        for q in range(CONCEALED):
            expected = [counted(r, k, q) for r in range(len(readings))]
            assert np.allclose(fits.misfits(k, q), expected), (k, q)
    totals = {(k, q): m for m, k, q in fits.ranked}
    assert len(totals) == CONCEALED * CONCEALED
    assert all(np.isclose(m, fits.misfits(k, q).sum()) for (k, q), m in totals.items())
    assert [m for m, _, _ in fits.ranked] == sorted(m for m, _, _ in fits.ranked)

"""A reading laid on the hand held (`mjray.mahjong.align`): the shift that fits it, how well it
agrees there, and a row of 14 split into the 13 and a drawn tile."""

from __future__ import annotations

import pytest

from mjray.mahjong.align import align, fit, laid, of_14
from mjray.mahjong.rows import CONCEALED
from tests.support import HAND, held, placed, row


def test_a_reading_missing_its_first_tiles_is_laid_where_it_lies():
    places, tracks = placed(), held()
    reading = row(HAND[2:], first=2)  # the first two tiles missed: slots start at the third place
    assert align(reading, places, HAND) == (2, CONCEALED - 2, CONCEALED - 2)
    offset, agree, aligned = fit(reading, places, tracks)
    assert offset == 2 and aligned == CONCEALED - 2 and agree == pytest.approx(aligned)


def test_a_misread_costs_less_at_a_tile_often_misread_so():
    places, tracks = placed(), held()
    tracks[5].vote("8p", 0.9, margin=1.0)  # 7p read as 8p once among its reads
    misread = row(HAND[:5] + ("8p",) + HAND[6:])
    _, agree, aligned = fit(misread, places, tracks)
    assert CONCEALED - 1 < agree < CONCEALED and aligned == CONCEALED
    _, matches, _ = align(misread, places, HAND)
    assert matches == CONCEALED - 1
    named = list(HAND)
    named[5] = "8p"  # the place held to another name earns only reads of that name
    assert fit(misread, places, tracks, named)[1] == pytest.approx(CONCEALED)


@pytest.mark.parametrize("at", [13, 5, 9])
def test_a_row_of_14_is_the_13_and_the_tile_whose_removal_leaves_them(at):
    """A drawn tile laid against the row (place 13) or slid in among the 13 makes a row of 14 on
    the grid; the drawn one is the tile whose removal leaves the hand held."""
    places, tracks = placed(), held()
    kinds = list(HAND)
    kinds.insert(at, "4z")
    reading = row(kinds)
    assert of_14(reading, places)
    split = laid(reading, places, tracks)
    assert split.drawn is not None and split.drawn.tile == "4z"
    assert tuple(read.tile for read in split.concealed) == HAND
    assert [read.slot for read in split.concealed] == list(range(CONCEALED))
    assert not of_14(split, places)


def test_a_tile_past_the_places_lies_apart_and_one_far_past_them_is_not_the_hands():
    places, tracks = placed(), held()
    one_apart = row(HAND + (None, "4z"))  # a tile's width of a gap: on the grid past a hole
    split = laid(one_apart, places, tracks)
    assert split.drawn is not None and split.drawn.tile == "4z" and len(split.concealed) == CONCEALED
    stray = row(HAND + (None, None, None, None, "4z"))  # a meld, a stray on the row's line
    kept = laid(stray, places, tracks)
    assert kept.drawn is None and tuple(read.tile for read in kept.concealed) == HAND


def test_nothing_held_leaves_a_reading_as_it_is():
    reading = row(HAND + ("4z",))
    assert laid(reading, placed(), []) is reading

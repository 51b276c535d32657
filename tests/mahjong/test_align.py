"""A reading laid on the hand held (`mjray.mahjong.align`): the shift that fits it, how well it
agrees there, and a row of 14 split into the 13 and a drawn tile."""

from __future__ import annotations

import pytest

from mjray.mahjong.align import align, fit, laid, of_14
from mjray.mahjong.places import HandPlaces
from mjray.mahjong.rows import CONCEALED, Reading, TileRead
from mjray.mahjong.tiles import SUITS
from tests.mahjong.test_fits import held

PITCH = 40.0
X0 = 100.0
HAND = ("1m", "2m", "3m", "5p", "5p", "7p", "8p", "9p", "3s", "4s", "6s", "1z", "1z")


def row(kinds, first: int = 0, drawn: tuple[str, float] | None = None) -> Reading:
    """A reading of `kinds` on places first, first + 1, ... (None: a tile missed there), and a drawn
    tile (kind, place) apart."""
    reads = tuple(TileRead(kind, 0.9, p, X0 + (first + p) * PITCH) for p, kind in enumerate(kinds) if kind is not None)
    apart = None
    if drawn is not None:
        apart = TileRead(drawn[0], 0.9, round(drawn[1]) - first, X0 + drawn[1] * PITCH)
    return Reading(reads, apart, PITCH, X0 + first * PITCH, drawn_at=(drawn[1] - first) if drawn else 0.0)


def placed() -> HandPlaces:
    places = HandPlaces(confirm=2, confirm_new=3, window=48, switch_margin=1.0)
    for _ in range(2):
        places.learn(row(HAND), SUITS)
    assert places.known
    return places


def test_a_reading_missing_its_first_tiles_is_laid_where_it_lies():
    places, tracks = placed(), held(HAND)
    reading = row(HAND[2:], first=2)  # the first two tiles missed: slots start at the third place
    assert align(reading, places, HAND) == (2, CONCEALED - 2, CONCEALED - 2)
    offset, agree, aligned = fit(reading, places, tracks)
    assert offset == 2 and aligned == CONCEALED - 2 and agree == pytest.approx(aligned)


def test_a_misread_costs_less_at_a_tile_often_misread_so():
    places, tracks = placed(), held(HAND)
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
    places, tracks = placed(), held(HAND)
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
    places, tracks = placed(), held(HAND)
    one_apart = row(HAND + (None, "4z"))  # a tile's width of a gap: on the grid past a hole
    split = laid(one_apart, places, tracks)
    assert split.drawn is not None and split.drawn.tile == "4z" and len(split.concealed) == CONCEALED
    stray = row(HAND + (None, None, None, None, "4z"))  # a meld, a stray on the row's line
    kept = laid(stray, places, tracks)
    assert kept.drawn is None and tuple(read.tile for read in kept.concealed) == HAND


def test_nothing_held_leaves_a_reading_as_it_is():
    reading = row(HAND + ("4z",))
    assert laid(reading, placed(), []) is reading

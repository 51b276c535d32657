"""Where a seat's 13 places lie, learnt from its readings alone (`mjray.mahjong.places`)."""

from __future__ import annotations

import pytest

from mjray.mahjong.places import GUESS_AFTER, HandPlaces
from mjray.mahjong.rows import CONCEALED, Reading, TileRead
from mjray.mahjong.tiles import SUITS, TILES

PITCH = 40.0
X0 = 100.0  # place 0's centre in every picture below, unless the camera moved
HAND = ("1m", "2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "1p", "2p", "3p", "4p")


def row(places: range, drawn_at: float | None = None, x0: float = X0, kinds: tuple[str, ...] = HAND) -> Reading:
    """A reading of the hand's places `places` (a missed tile at either end leaves them out), and a
    drawn tile at `drawn_at` places from place 0."""
    first = places[0]
    reads = tuple(TileRead(kinds[p], 0.9, p - first, x0 + p * PITCH) for p in places)
    drawn = None if drawn_at is None else TileRead("5s", 0.9, round(drawn_at) - first, x0 + drawn_at * PITCH)
    return Reading(reads, drawn, PITCH, x0 + first * PITCH, drawn_at=(drawn_at or 0.0) - first)


def fresh() -> HandPlaces:
    return HandPlaces(confirm=2, confirm_new=3, window=48, switch_margin=1.0)


def placed() -> HandPlaces:
    places = fresh()
    for _ in range(2):
        places.learn(row(range(CONCEALED)), SUITS)
    assert places.known
    return places


def test_two_readings_of_both_ends_that_agree_place_the_hand_and_one_does_not():
    places = fresh()
    places.learn(row(range(CONCEALED)), SUITS)
    assert not places.known and places.offset(row(range(CONCEALED))) is None
    places.learn(row(range(CONCEALED), x0=X0 + PITCH), SUITS)  # a row of 14 missing its first tile looks whole too
    assert not places.known, "two readings that disagree on where the ends lie"
    places.learn(row(range(CONCEALED)), SUITS)
    assert places.known and (places.x0, places.pitch) == (X0, PITCH)


@pytest.mark.parametrize("gap", [0.3, 0.5, 0.8])
def test_a_drawn_tile_a_fraction_apart_places_the_hand_from_one_reading_whatever_end_is_missed(gap):
    for seen in (range(CONCEALED), range(1, CONCEALED), range(CONCEALED - 1)):
        places = fresh()
        places.learn(row(seen, drawn_at=CONCEALED + gap), SUITS)
        assert places.known and places.x0 == pytest.approx(X0), seen


@pytest.mark.parametrize("gap", [1.0, 2.0])
def test_a_drawn_tile_whole_tiles_apart_says_nothing_of_where_the_places_lie(gap):
    places = fresh()
    places.learn(row(range(1, CONCEALED), drawn_at=CONCEALED + gap), SUITS)
    assert not places.known


def test_readings_missing_either_end_that_span_thirteen_places_together_place_the_hand():
    places = fresh()
    for _ in range(2):
        places.learn(row(range(1, CONCEALED)), SUITS)
        assert not places.known
    places.learn(row(range(CONCEALED - 2)), SUITS)
    assert not places.known, "place 0 read once only"
    places.learn(row(range(CONCEALED - 3)), SUITS)
    assert places.known and places.x0 == pytest.approx(X0)


@pytest.mark.parametrize(
    "hand, seen",
    [
        (HAND, range(CONCEALED - 1)),  # 4p never read: more kinds sort after 3p than before 1m
        (TILES[-CONCEALED:], range(1, CONCEALED)),  # 4s never read: nothing sorts after 7z
    ],
)
def test_an_end_never_read_is_placed_after_a_while_on_the_side_where_more_kinds_sort(hand, seen):
    places = fresh()
    for i in range(GUESS_AFTER):
        assert not places.known, i
        places.learn(row(seen, kinds=hand), SUITS)
    assert places.known and places.offset(row(seen, kinds=hand)) == seen[0]


def test_the_known_places_follow_the_rows_drift_and_a_moved_camera_after_confirm_new_readings():
    places = placed()
    places.learn(row(range(CONCEALED), x0=X0 + 0.2 * PITCH), SUITS)
    assert places.x0 == pytest.approx(X0 + 0.3 * 0.2 * PITCH), "a reading of 10 tiles or more pulls the places"
    places.learn(row(range(4), x0=X0 + 0.2 * PITCH), SUITS)
    assert places.x0 == pytest.approx(X0 + 0.3 * 0.2 * PITCH), "a few tiles do not"
    moved = X0 + 5 * PITCH
    for i in range(3):
        assert places.offset(row(range(CONCEALED), x0=moved)) == 5, i
        places.learn(row(range(CONCEALED), drawn_at=CONCEALED + 0.5, x0=moved), SUITS)
    assert places.offset(row(range(CONCEALED), x0=moved)) == 0, "a whole row and its drawn tile elsewhere, three times"


def test_a_reading_lies_on_the_places_by_where_it_is_or_off_them():
    places = placed()
    assert places.offset(row(range(3, 9))) == 3
    assert places.offset(row(range(3, 9), x0=X0 + 0.4 * PITCH)) is None, "between two places"
    assert places.offsets(row(range(3, 9)), CONCEALED) == (range(3, 4), 3)
    assert fresh().offsets(row(range(1, CONCEALED)), CONCEALED) == (range(0, 2), None), "a missed end either side"

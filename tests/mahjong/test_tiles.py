"""Tile kinds in the order a player keeps them (mjray.mahjong.tiles), no Ray."""

import pytest

from mjray.mahjong.tiles import SUIT_ORDERS, TILES, ranks, sorted_kinds, suit_order


def test_every_order_of_the_suits_sorts_all_kinds_suit_by_suit_and_a_bad_one_is_named():
    assert len(SUIT_ORDERS) == 24 and sorted_kinds("mpsz") == TILES
    honours_first = sorted_kinds("zmps")
    assert honours_first[:7] == TILES[27:] and honours_first[7:] == TILES[:27]
    assert ranks("spmz")["1s"] == 0 and ranks("spmz")["9m"] == 26
    with pytest.raises(ValueError, match="four letters of 'mpsz'"):
        sorted_kinds("mpz")


@pytest.mark.parametrize(
    "rows, order",
    [
        ([["1z", "2z", "1m", "5m", "3p", "4p", "1s", "2s"]] * 3, "zmps"),  # honours first
        ([["1s", "2s", "5p", "6p", "1m", "2m", "1z", "1z"]] * 3, "spmz"),
        ([["1p", "2p", "1m", "2m"]] * 2 + [["1m", "2m"]], "pmsz"),  # a suit not shown stays where it was
        ([["1z", "2m", "3m", "5p", "6p"]] * 3, "mpsz"),  # a lone tile says nothing (a misread, or held once)
        ([["1z", "2z", "1m", "5m"], ["1p", "2p", "1m", "2m"], ["1s", "2s", "1m", "2m"]], "mpsz"),  # no majority
        ([["1p", "1p", "2m", "2m", "1p", "1p"]] * 3, "mpsz"),  # a suit in two places is no order
        ([], "mpsz"),
    ],
)
def test_the_suit_order_is_what_most_readings_show(rows, order):
    assert suit_order(rows) == order


def test_a_suit_held_once_counts_where_the_labels_are_voted():
    row = ["1z", "3m", "3p", "8p", "1s", "2s"]
    assert suit_order([row]) == "mpsz" and suit_order([row], singles=True) == "zmps"

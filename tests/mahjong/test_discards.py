"""Which tile went (`mjray.mahjong.discards`): every hand the 14 held may leave, scored on readings
of the turn's end."""

from __future__ import annotations

import pytest

from mjray.mahjong.discards import LOOSE_COST, UNREAD_COST, barely_named, candidates, rank_discards
from mjray.mahjong.tiles import SUITS
from mjray.mahjong.votes import Track, in_order
from tests.support import HAND, held, placed, row


def drawn_as(label: str, apart: bool = True) -> Track:
    track = held((label,))[0]
    track.apart = apart
    return track


def ranked(readings, drawn: Track):
    return rank_discards(readings, held(), HAND, drawn, placed(), SUITS, confirm=2, fit_tolerance=3.0)


def after(discard: str, drawn: str) -> tuple[str, ...]:
    """The 13 left with the drawn tile sorted in (HAND's kinds sort as listed; honours last)."""
    tiles = list(HAND)
    tiles.remove(discard)
    order = {kind: n for n, kind in enumerate(("1m", "2m", "3m", "4m", "5p", "6p", "7p", "8p", "9p", "2s", "3s"))}
    order |= {"4s": 11, "6s": 12, "9s": 13, "1z": 14}
    return tuple(sorted(tiles + [drawn], key=order.__getitem__))


@pytest.mark.parametrize(("discard", "drawn"), [("7p", "9s"), ("1m", "4m"), ("1z", "2s"), ("5p", "6p")])
def test_the_hand_the_readings_show_ranks_first(discard, drawn):
    left = after(discard, drawn)
    best, *rest = ranked([row(left)] * 3, drawn_as(drawn))
    assert best.removed.tile() == discard and best.labels == left and best.misfit == 0.0
    assert best.fitting == 3 and not best.loose and best.name == drawn
    assert rest[0].misfit >= 1.0, "another tile's loss shows at least one tile read wrong a reading"


def test_the_13_held_shown_again_is_a_tsumogiri():
    drawn = drawn_as("2z")
    best = ranked([row(HAND)] * 2, drawn)[0]
    assert best.removed is drawn and best.labels == HAND and best.misfit == 0.0


def test_a_drawn_tile_kept_at_the_rows_end_costs_a_little_and_only_when_held_apart():
    left = tuple(t for t in HAND if t != "1m") + ("2s",)  # 1m went, 2s left past the honours
    best = ranked([row(left)] * 3, drawn_as("2s"))[0]
    assert best.loose and best.labels == left and best.misfit == pytest.approx(3 * LOOSE_COST)
    assert all(not d.loose for d in ranked([row(left)] * 3, drawn_as("2s", apart=False)))


def test_a_drawn_tile_misread_alike_every_time_is_named_by_the_kind_the_readings_show():
    """Read as 2m when drawn (a kind that sorts elsewhere), 9s where it lies: a kind new in the
    readings names it, at a cost (a kind that sorts where its label does never takes its place)."""
    left = after("7p", "9s")
    best = ranked([row(left)] * 3, drawn_as("2m"))[0]
    assert best.name == "9s" and best.removed.tile() == "7p" and best.misfit == pytest.approx(3 * UNREAD_COST)


def test_a_drawn_tile_barely_named_takes_the_kind_its_place_shows_even_where_its_label_sorts():
    """Drawn 4m, named 1p and 2p only by the faces' unsure fills, however many: 1p sorts where 4m
    does, yet one reading's 4m names it, at no cost. Read 1p by the model, its label keeps that place."""
    left = after("7p", "4m")
    unsure = Track(window=48)
    for label in ("1p", "2p") * 6:
        unsure.vote(label, 0.1, margin=1.0)
    unsure.apart = True
    assert barely_named(unsure) and unsure.total > 1.0 and not barely_named(drawn_as("1p"))
    best = ranked([row(left)], unsure)[0]
    assert best.name == "4m" and best.labels == left and best.misfit == 0.0 and best.removed.tile() == "7p"
    assert ranked([row(left)], drawn_as("1p"))[0].name == "1p"


def test_each_tile_out_and_the_drawn_tile_where_its_kind_sorts():
    drawn = drawn_as("9s", apart=False)
    out = candidates(held(), drawn, SUITS)
    assert out[0][0] is drawn and len(out) == 1 + len(HAND)  # one place to sort 9s, whatever went
    for removed, rest, name, unread, loose in out[1:]:
        assert len(rest) == 13 and removed not in rest and drawn in rest
        assert in_order([tr.tile() for tr in rest], SUITS) and name == "9s" and not unread and not loose

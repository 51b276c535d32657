from collections import Counter

import pytest
from mahjong.shanten import Shanten

from mjray.mahjong.tiles import TILE_INDEX, TILES, ranks
from mjray.sim.game import Hand, TableGame, sort_tiles

SEATS = ("ton", "nan", "sha", "pei")


def all_hands(game: TableGame, duration: float, step: float = 0.25):
    t = 0.0
    while t <= duration:
        yield t, {s: game.hand(s, t) for s in game.seats}
        t += step


def test_same_seed_same_game_and_other_seed_another():
    a, b, c = (TableGame(SEATS, 120, seed=s) for s in (7, 7, 8))
    times = [i * 0.5 for i in range(240)]
    assert [a.hand(s, t) for s in SEATS for t in times] == [b.hand(s, t) for s in SEATS for t in times]
    assert [a.hand(s, t) for s in SEATS for t in times] != [c.hand(s, t) for s in SEATS for t in times]


@pytest.mark.parametrize("seed", range(5))
def test_hands_are_legal_at_every_moment(seed):
    game = TableGame(SEATS, 300, seed=seed, turn_s=1.0)
    for t, hands in all_hands(game, 300):
        drawing = [s for s, h in hands.items() if h.drawn]
        assert len(drawing) <= 1, f"two seats hold a drawn tile at t={t}"
        for hand in hands.values():
            assert len(hand.concealed) == 13
            assert hand.concealed == sort_tiles(hand.concealed)
        counts = Counter(tile for h in hands.values() for tile in h.tiles)
        assert max(counts.values()) <= 4, f"more than four of a tile at t={t}: {counts.most_common(1)}"


def test_turns_go_round_the_table_draw_then_discard():
    game = TableGame(SEATS, 20, seed=1, turn_s=2.0, hold_fraction=0.5)
    for turn in range(1, 9):
        seat = SEATS[(turn - 1) % 4]
        before, during, after = (game.hand(seat, turn * 2.0 + dt) for dt in (-0.01, 0.5, 1.5))
        assert before.drawn is None and during.drawn is not None and after.drawn is None
        assert during.concealed == before.concealed
        kept = Counter(during.tiles) - Counter(after.tiles)
        assert sum(kept.values()) == 1, "exactly one tile leaves the hand per turn"


def test_discards_never_move_a_hand_away_from_ready():
    shanten = Shanten()

    def counts(tiles):
        c = [0] * 34
        for tile in tiles:
            c[TILE_INDEX[tile]] += 1
        return c

    game = TableGame(SEATS, 200, seed=3, turn_s=1.0)
    for seat in SEATS:
        times = game.changes(seat)
        for t0, t1 in zip(times, times[1:]):
            before, after = game.hand(seat, t0), game.hand(seat, t1)
            if before.drawn is None and after.drawn is not None:  # a draw: compare with its discard
                held = game.hand(seat, t1 + 0.5)
                if held.drawn is None and len(held.concealed) == 13:
                    best = min(
                        shanten.calculate_shanten(counts([*after.tiles[:i], *after.tiles[i + 1 :]])) for i in range(14)
                    )
                    assert shanten.calculate_shanten(counts(held.concealed)) == best


def test_hand_lists_drawn_tile_last():
    hand = Hand(("1m", "2m"), drawn="9s")
    assert hand.tiles == ("1m", "2m", "9s")
    assert Hand(("1m",)).tiles == ("1m",)


def test_drawn_tiles_are_laid_as_the_table_says_and_the_game_is_the_same_however_they_lie():
    plain = TableGame(SEATS, 120, seed=5)
    laid = TableGame(SEATS, 120, seed=5, gaps=(0.0, 1.0, 2.0), slid=0.3)
    for seat in SEATS:
        hands = [laid.hand(seat, t) for t in laid.changes(seat)]
        assert [h.tiles for h in hands] == [plain.hand(seat, t).tiles for t in plain.changes(seat)]
        for hand in hands:
            if hand.drawn is None:
                assert hand.places == tuple(float(i) for i in range(13))
            elif hand.slid is None:
                assert hand.gap in (0.0, 1.0, 2.0) and hand.places == tuple(range(13)) + (13 + hand.gap,)
            else:  # where it sorts, the tiles after it a place on
                laid_out = [t for _, t in sorted(zip(hand.places, hand.tiles))]
                assert laid_out == sorted(hand.tiles, key=TILE_INDEX.__getitem__)
    kinds = {(h.slid is not None, h.gap) for s in SEATS for h in map(laid.hand, [s] * 99, laid.changes(s)) if h.drawn}
    assert {(True, 0.35), (False, 0.0), (False, 1.0), (False, 2.0)} <= kinds


def test_each_seat_sorts_its_suits_in_its_own_order_and_slides_a_drawn_tile_in_by_it():
    orders = ("zmps", "spmz")
    game = TableGame(SEATS, 120, seed=2, orders=orders, slid=0.5)
    plain = TableGame(SEATS, 120, seed=2)
    for i, seat in enumerate(SEATS):
        rank = ranks(orders[i % 2])
        assert game.orders[seat] == orders[i % 2]
        for t in game.changes(seat):
            hand = game.hand(seat, t)
            assert sorted(hand.tiles) == sorted(plain.hand(seat, t).tiles), "the same game, sorted otherwise"
            laid_out = [tile for _, tile in sorted(zip(hand.places, hand.tiles))]
            assert all(rank[a] <= rank[b] for a, b in zip(laid_out, laid_out[1:]) if hand.slid is not None)
            assert all(rank[a] <= rank[b] for a, b in zip(hand.concealed, hand.concealed[1:]))


def test_a_drawn_tile_left_unsorted_stays_at_the_rows_end_until_sorted_in_a_while_later_or_at_the_next_draw():
    plain = TableGame(SEATS, 120, seed=4, gaps=(0.35, 1.0))
    left = TableGame(SEATS, 120, seed=4, gaps=(0.35, 1.0), unsorted=1.0)
    sorted_later = at_next_draw = 0
    for seat in SEATS:
        hands = [left.hand(seat, t) for t in left.changes(seat)]
        assert [h.tiles for h in hands if h.drawn] == [
            plain.hand(seat, t).tiles for t in plain.changes(seat) if plain.hand(seat, t).drawn
        ], "the same game: the same draws, whatever the 13 look like between them"
        for before, hand, after in zip(hands, hands[1:], hands[2:] + [None]):
            unsorted = hand.concealed != sort_tiles(hand.concealed)
            if not unsorted:
                continue
            assert before.drawn == hand.concealed[-1] and hand.drawn is None, "the drawn tile kept where it lay"
            assert sort_tiles(hand.concealed[:-1]) == hand.concealed[:-1]
            if after is not None and after.drawn is None:
                assert after.concealed == sort_tiles(hand.concealed), "sorted in later: the same 13"
                sorted_later += 1
            elif after is not None:
                assert after.concealed == sort_tiles(hand.concealed), "sorted at the next draw"
                at_next_draw += 1
    assert sorted_later >= 10 and at_next_draw >= 2, (sorted_later, at_next_draw)


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="four letters"):
        TableGame(["ton"], 10, orders=("mpsz", "mps"))
    for gaps, slid in (((), 0.0), ((-0.5,), 0.0), ((0.35,), 1.5)):
        with pytest.raises(ValueError, match="gaps must be"):
            TableGame(["ton"], 10, gaps=gaps, slid=slid)
    with pytest.raises(ValueError, match="unsorted chances in"):
        TableGame(["ton"], 10, unsorted=-0.1)
    with pytest.raises(ValueError, match="unique"):
        TableGame(["ton", "ton"], 10)
    with pytest.raises(ValueError, match="at least one seat"):
        TableGame([], 10)
    assert len(TILES) == 34

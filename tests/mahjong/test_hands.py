"""The hand reader (mjray.mahjong.hands), no Ray: detection sequences made from the synthetic table's truth.

A seeded `TableGame` says what each hand is at any instant and `SeatView.boxes` where its tiles lie
in a 640x360 frame; `detections` turns that into what a weak detector reports, with the noise the
real model shows (label flicker, a systematic confusion, missed tiles, extra boxes, box jitter) and
results sampled about four times a second per seat with gaps, as under `stream.policy=aligned`.
Other habits of the real model's (kinds a camera never reads in the row, two boxes of two kinds on one
tile, a drawn tile misread alike every time) are cases of their own.
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pytest
from mahjong.shanten import Shanten
from mahjong.tile import TilesConverter

from mjray.mahjong.hands import Event, HandReader, StableHand, notation, shanten
from mjray.mahjong.rows import read_row
from mjray.mahjong.table import TableHands, cap_copies, tile_labels
from mjray.mahjong.tiles import DETECTOR_NAME, TILE_INDEX, TILES
from mjray.mahjong.votes import in_order
from mjray.sim.game import Hand, TableGame, sort_tiles
from mjray.sim.render import SeatView
from tests.support import HAND, row

SEATS = ("ton", "nan", "sha", "pei")
WIDTH, HEIGHT = 640, 360
CONFUSED = {"7p": "1s", "1m": "1s"}  # the real model's systematic confusions


# --- the test bed: what a weak detector reports ---------------------------------------------------


@dataclass(frozen=True)
class Noise:
    flicker: float = 0.0  # per tile per frame: a random wrong label
    confuse: float = 0.0  # per frame: CONFUSED tiles, and the tile at `confused_slot`, read wrong
    confused_slot: int | None = None  # one position misread (as the next tile kind) this often
    miss: float = 0.0  # per tile per frame: no box
    extra: float = 0.0  # per frame: one extra box (over a tile, between two, or off the row)
    jitter: float = 0.0  # box edges, pixels (sd)
    gaps: float = 0.0  # per sample: no result at all
    blind: tuple[str, ...] = ()  # kinds never read in the row (a consistent hole); read when drawn
    twins: tuple[tuple[str, str], ...] = ()  # (kind, other): a second box of the other kind on each such tile
    twin_wins: float = 0.6  # share of frames in which the second box is the more confident, by a hair
    drawn_as: tuple[tuple[str, str], ...] = ()  # (kind, read): a drawn tile of that kind always read so


PROFILES = {
    "clean": Noise(),
    "flicker": Noise(flicker=0.10),
    "confusion": Noise(confuse=0.30, confused_slot=5, flicker=0.03),
    "missed": Noise(miss=0.06),
    "extra": Noise(extra=0.5),
    "jitter+gaps": Noise(jitter=1.5, gaps=0.15),
    "all": Noise(flicker=0.08, confuse=0.3, confused_slot=7, miss=0.04, extra=0.3, jitter=1.0, gaps=0.1),
    "like the model": Noise(flicker=0.05, confuse=0.3, miss=0.03, extra=0.15, jitter=1.0, gaps=0.05),
}


def seeds(n: int, fast: int = 1) -> list:
    """Seeds 0..n-1: the first `fast` in the fast suite, the others slow (CI runs them all)."""
    return [*range(fast), *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(fast, n))]


@functools.cache
def view(seat_index: int) -> SeatView:
    return SeatView(seat_index, WIDTH, HEIGHT, seed=0, span=16.0)  # room for a drawn tile two tiles apart


@functools.lru_cache(maxsize=8192)
def true_boxes(seat_index: int, hand: Hand) -> tuple[tuple[str, tuple[float, ...]], ...]:
    return tuple((tb.tile, tb.box) for tb in view(seat_index).boxes(hand))


def wrong(tile: str, rng: random.Random) -> str:
    other = rng.choice(TILES[:-1])
    return other if other != tile else TILES[-1]


def detections(seat_index: int, hand: Hand, noise: Noise, rng: random.Random):
    """(boxes, labels, scores) a weak detector might give for this hand, in no particular order."""
    boxes, labels, scores = [], [], []
    truth = true_boxes(seat_index, hand)
    for slot, (tile, box) in enumerate(truth):
        drawn = slot == len(hand.concealed)
        if rng.random() < noise.miss or (tile in noise.blind and not drawn):
            continue
        label, score = tile, rng.uniform(0.6, 0.95)
        confusion = CONFUSED.get(tile) or (TILES[(TILE_INDEX[tile] + 1) % 34] if slot == noise.confused_slot else None)
        if confusion and rng.random() < noise.confuse:
            label, score = confusion, rng.uniform(0.4, 0.9)
        elif rng.random() < noise.flicker:
            label, score = wrong(tile, rng), rng.uniform(0.3, 0.85)
        if drawn:
            label = dict(noise.drawn_as).get(tile, label)
        boxes.append([c + rng.gauss(0, noise.jitter) for c in box] if noise.jitter else list(box))
        labels.append(label)
        scores.append(score)
        twin = None if drawn else dict(noise.twins).get(tile)
        if twin:  # class-wise NMS keeps a box of each kind: the wrong one often wins by a hair
            boxes.append([c + 1.0 for c in boxes[-1]])
            labels.append(twin)
            scores.append(min(0.99, score + 0.03) if rng.random() < noise.twin_wins else max(0.05, score - 0.5))
    if rng.random() < noise.extra:
        kind = rng.choice(("duplicate", "between", "stray"))
        i = rng.randrange(len(truth) - 1)
        x1, y1, x2, y2 = truth[i][1]
        if kind == "duplicate":  # a second box over the same tile, shifted a little
            d = rng.uniform(-3, 3)
            boxes.append([x1 + d, y1 + d, x2 + d, y2])
        elif kind == "between":  # a box straddling two neighbours
            nx1, _, nx2, _ = truth[i + 1][1]
            boxes.append([(x1 + nx1) / 2, y1, (x2 + nx2) / 2, y2])
        else:  # something on the felt, off the row
            dy = rng.choice((-1.6, 1.6)) * (y2 - y1)
            boxes.append([x1, y1 + dy, x2, y2 + dy])
        labels.append(rng.choice(TILES))
        scores.append(rng.uniform(0.3, 0.7))
    order = list(range(len(boxes)))
    rng.shuffle(order)  # a detector's output is not ordered left to right
    return (
        np.array([boxes[k] for k in order], np.float32).reshape(-1, 4),
        [labels[k] for k in order],
        np.array([scores[k] for k in order], np.float32),
    )


def sample_times(duration: float, rng: random.Random, rate: float = 4.0):
    t = rng.uniform(0, 1 / rate)
    while t < duration:
        yield t
        t += rng.uniform(0.75, 1.25) / rate


def true_events(game: TableGame, seat: str, duration: float) -> list[tuple[str, str, float, bool]]:
    """(kind, tile, at, tsumogiri) of the seat's draws and discards; a deal is neither."""
    out = []
    for at in game.changes(seat)[1:]:
        if at > duration:
            break
        before, after = game.hand(seat, at - 1e-6), game.hand(seat, at)
        if before.drawn is None and after.drawn is not None:
            out.append(("draw", after.drawn, at, False))
        elif before.drawn is not None and after.drawn is None:
            (gone,) = (Counter(before.tiles) - Counter(after.tiles)).elements()
            out.append(("discard", gone, at, gone == before.drawn))
    return out


def matched(read: list[Event], truth: list[tuple[str, str, float, bool]], within: float = 1.0):
    """(pairs, unmatched read): each true event paired with the nearest read one of its kind and tile
    within `within` s."""
    free = list(read)
    pairs = []
    for kind, tile, at, tsumogiri in truth:
        near = [e for e in free if e.kind == kind and e.tile == tile and abs(e.at - at) <= within]
        if near:
            best = min(near, key=lambda e: abs(e.at - at))
            free.remove(best)
            pairs.append(((kind, tile, at, tsumogiri), best))
    return pairs, free


@dataclass
class Run:
    """A reader's events against the truth up to `end` (later ones are left out: unconfirmed yet)."""

    events: list[Event]
    truth: list[tuple[str, str, float, bool]]
    end: float = float("inf")
    tiles: int = 0  # settled samples x tiles
    tiles_right: int = 0
    hands: int = 0  # settled samples
    hands_right: int = 0
    observations: int = 0
    cpu_s: float = 0.0

    def scored(self):
        """(pairs, spurious, truth) within the scored window."""
        pairs, spurious = matched(self.events, self.truth)
        pairs = [(truth, e) for truth, e in pairs if truth[2] <= self.end]
        return pairs, [e for e in spurious if e.at <= self.end], [e for e in self.truth if e[2] <= self.end]

    @property
    def f1(self) -> float:
        pairs, spurious, truth = self.scored()
        if not truth and not spurious:
            return 1.0
        return 2 * len(pairs) / (len(pairs) + len(spurious) + len(truth))


def play(
    game: TableGame,
    seat: str,
    seat_index: int,
    duration: float,
    noise: Noise,
    seed: int,
    settle_s: float = 0.7,
    start: float = 0.0,
    reader: HandReader | None = None,
) -> Run:
    """Feeds a reader one seat's samples of `game` over [start, duration) and scores it against the truth."""
    rng = random.Random(seed)
    reader = reader or HandReader(seat)
    run = Run([], [e for e in true_events(game, seat, duration) if e[2] >= start], end=duration - 1.5)
    changes = game.changes(seat)
    for t in sample_times(duration - start, rng):
        t += start
        hand = game.hand(seat, t)
        began = time.process_time()
        if rng.random() < noise.gaps:
            run.events += reader.gap(t)
        else:
            run.events += reader.observe(t, *detections(seat_index, hand, noise, rng))
        run.cpu_s += time.process_time() - began
        run.observations += 1
        last_change = max(c for c in changes if c <= t)
        if t - last_change >= settle_s and t - start >= 2.0:
            held = reader.hand
            run.hands += 1
            run.tiles += len(hand.tiles)
            if held is not None:
                run.hands_right += held.tiles == hand.tiles
                run.tiles_right += sum(a == b for a, b in zip(held.tiles, hand.tiles))
    return run


# --- one frame: read_row --------------------------------------------------------------------------

HAND_WITH_PAIRS = Hand(("1m", "2m", "3m", "5p", "5p", "7p", "8p", "9p", "3s", "3s", "3s", "1z", "1z"), "5p")


def row_case(case: str, seat_index: int, seed: int):
    """(boxes, labels, scores, expected concealed [(slot, tile)], expected drawn) for one frame."""
    rng = random.Random(seed)
    pool = [t for t in TILES for _ in range(4)]
    rng.shuffle(pool)
    drawn = pool[13] if case in ("drawn", "missed+drawn", "missed_last+drawn", "all+drawn") else None
    hand = Hand(sort_tiles(pool[:13]), drawn) if seed % 5 else HAND_WITH_PAIRS
    if not drawn:
        hand = Hand(hand.concealed)
    truth = list(true_boxes(seat_index, hand))
    boxes = [list(b) for _, b in truth]
    labels = [t for t, _ in truth]
    slots = list(range(13)) + ([None] if hand.drawn else [])
    drop: list[int] = []
    if case in ("missed", "missed+drawn"):
        drop = [rng.randrange(1, 12)]
    elif case == "missed_last+drawn":
        drop = [12]
    elif case == "missed_first":
        drop = [0]
    elif case == "missed_two":
        drop = rng.sample(range(1, 12), 2)
    extra = []
    i = rng.randrange(12)
    x1, y1, x2, y2 = boxes[i]
    if case in ("duplicate", "all+drawn"):
        extra.append(([x1 + 2, y1 + 1, x2 + 2, y2 - 1], wrong(labels[i], rng), 0.4))
    if case in ("between", "all+drawn"):
        nx1, _, nx2, _ = boxes[i + 1]
        extra.append(([(x1 + nx1) / 2, y1, (x2 + nx2) / 2, y2], wrong(labels[i], rng), 0.9))
    if case in ("stray", "all+drawn"):
        dy = 1.7 * (y2 - y1) * rng.choice((-1, 1))
        extra.append(([x1, y1 + dy, x2, y2 + dy], wrong(labels[i], rng), 0.95))
    jitter = 1.5 if case in ("jitter", "all+drawn") else 0.0
    keep = [k for k in range(len(boxes)) if k not in drop]
    out_boxes = [[c + rng.gauss(0, jitter) for c in boxes[k]] for k in keep] + [b for b, _, _ in extra]
    out_labels = [labels[k] for k in keep] + [label for _, label, _ in extra]
    out_scores = [rng.uniform(0.6, 0.95) for _ in keep] + [s for _, _, s in extra]
    order = list(range(len(out_boxes)))
    rng.shuffle(order)
    first = 1 if 0 in drop else 0
    expected = [(slots[k] - first, labels[k]) for k in keep if slots[k] is not None]
    return (
        np.array([out_boxes[k] for k in order], np.float32),
        [out_labels[k] for k in order],
        np.array([out_scores[k] for k in order], np.float32),
        expected,
        hand.drawn,
    )


ROW_CASES = [
    "clean",
    "drawn",
    "missed",
    "missed+drawn",
    "missed_last+drawn",
    "missed_first",
    "missed_two",
    "duplicate",
    "between",
    "stray",
    "jitter",
    "all+drawn",
]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("seat_index", range(4))
@pytest.mark.parametrize("case", ROW_CASES)
def test_read_row_keeps_the_row_left_to_right_with_holes_and_the_drawn_tile(case, seat_index, seed):
    boxes, labels, scores, expected, drawn = row_case(case, seat_index, seed)
    reading = read_row(boxes, labels, scores)
    assert [(r.slot, r.tile) for r in reading.concealed] == expected
    assert (reading.drawn.tile if reading.drawn else None) == drawn
    centres = [(b[0] + b[2]) / 2 for _, b in true_boxes(seat_index, Hand(("1m",) * 13))]
    assert reading.pitch == pytest.approx(float(np.median(np.diff(centres))), rel=0.05)


@pytest.mark.parametrize("seat_index", [0, 3])
@pytest.mark.parametrize("gap", [0.3, 0.35, 0.5, 0.65, 0.8, 1.0, 1.5, 2.0])
@pytest.mark.parametrize("missed", [(), (0,), (12,), (5,)])
def test_read_row_tells_a_drawn_tile_apart_by_any_gap_of_a_fifth_of_a_tile_or_more(missed, gap, seat_index):
    """Players hold the drawn tile apart by a gap of their own, up to two tiles: off the grid it is
    apart whatever the gap; on it (a gap of a whole tile or two), it is apart where the row would
    otherwise hold more than 13 places, so a missed tile at either end does not hide it."""
    hand = replace(HAND_WITH_PAIRS, gap=gap)
    truth = [tb for k, tb in enumerate(true_boxes(seat_index, hand)) if k not in missed]
    reading = read_row(np.array([b for _, b in truth], np.float32), [t for t, _ in truth], np.full(len(truth), 0.8))
    assert reading.drawn is not None and reading.drawn.tile == "5p"
    assert [r.tile for r in reading.concealed] == [t for k, t in enumerate(hand.concealed) if k not in missed]
    assert reading.drawn_at == pytest.approx(13 + gap - (0 in missed), abs=0.1)


@pytest.mark.parametrize("seat_index", [1, 2])
@pytest.mark.parametrize("missed", [(), (11,), (10, 11), (0, 11)])
def test_read_row_without_a_drawn_tile_keeps_its_holes_and_a_tile_against_the_row_on_the_grid(missed, seat_index):
    """A hand of 13 with holes in it has no drawn tile; a drawn tile laid against the row, or one
    slid into it, is a 14th tile on the grid (the reader tells which it is by the hand it holds)."""
    truth = [tb for k, tb in enumerate(true_boxes(seat_index, Hand(HAND_WITH_PAIRS.concealed))) if k not in missed]
    reading = read_row(np.array([b for _, b in truth], np.float32), [t for t, _ in truth], np.full(len(truth), 0.8))
    assert reading.drawn is None and len(reading.concealed) == 13 - len(missed)
    for laid in (replace(HAND_WITH_PAIRS, gap=0.0), replace(HAND_WITH_PAIRS, slid=4)):
        truth = true_boxes(seat_index, laid)
        reading = read_row(np.array([b for _, b in truth], np.float32), [t for t, _ in truth], np.full(14, 0.8))
        assert reading.drawn is None
        assert [r.slot for r in reading.concealed] == list(range(14))
        assert [r.tile for r in reading.concealed] == [t for _, t in sorted(zip(laid.places, laid.tiles))]


@pytest.mark.parametrize("seat_index", range(4))
def test_read_row_merges_a_second_box_on_every_tile(seat_index):
    """Class-wise NMS can leave two boxes, two labels, on one tile: the more confident one is kept."""
    rng = random.Random(seat_index)
    truth = true_boxes(seat_index, HAND_WITH_PAIRS)
    boxes = [list(b) for _, b in truth] + [[c + rng.uniform(-1.5, 1.5) for c in b] for _, b in truth]
    labels = [t for t, _ in truth] + [wrong(t, rng) for t, _ in truth]
    scores = np.array([0.8] * 14 + [0.5] * 14, np.float32)
    reading = read_row(np.array(boxes, np.float32), labels, scores)
    assert [r.tile for r in reading.concealed] == list(HAND_WITH_PAIRS.concealed)
    assert reading.drawn.tile == "5p" and reading.dropped == 14


def test_read_row_of_nothing_and_of_mismatched_arrays():
    assert read_row(np.zeros((0, 4)), [], np.zeros(0)).concealed == ()
    with pytest.raises(ValueError, match="2 boxes, 1 labels"):
        read_row(np.zeros((2, 4)), ["1m"], np.zeros(2))


def test_read_row_merges_overlapping_boxes_keeping_the_more_confident():
    truth = true_boxes(0, HAND_WITH_PAIRS)
    boxes = [list(b) for _, b in truth] + [list(truth[3][1])]
    labels = [t for t, _ in truth] + ["9m"]
    for score, expect in ((0.99, "9m"), (0.1, "5p")):
        scores = np.array([0.8] * 14 + [score], np.float32)
        reading = read_row(np.array(boxes, np.float32), labels, scores)
        assert [r.tile for r in reading.concealed][3] == expect
        assert len(reading.concealed) == 13 and reading.dropped == 1


# --- a seat over time -----------------------------------------------------------------------------


FLOORS = {"clean": 1.0, "extra": 1.0, "all": 0.8, "like the model": 0.85}  # F1 per case; others 0.9


@pytest.mark.parametrize("seed", seeds(24, fast=8))
@pytest.mark.parametrize("profile", list(PROFILES))
def test_reader_follows_a_seat_through_its_turns(profile, seed):
    """One seat playing every turn (a draw every 2 s, its discard 1 s later) for 30 s: harder than a
    table of four, where a seat's turns come 8 s apart."""
    game = TableGame(("ton",), 30, seed=seed)
    run = play(game, "ton", seed % 4, 30, PROFILES[profile], seed)
    pairs, spurious, truth = run.scored()
    missing = [t for t in truth if t not in [p[0] for p in pairs]]
    assert len(truth) >= 12 and run.hands >= 20
    assert run.f1 >= FLOORS.get(profile, 0.9), f"missing {missing}, spurious {spurious}"
    assert all(e.tsumogiri == tsumogiri for (kind, _, _, tsumogiri), e in pairs if kind == "discard")
    assert any(kind == "discard" and tsumogiri for (kind, _, _, tsumogiri), _ in pairs) == any(
        kind == "discard" and tsumogiri for kind, _, _, tsumogiri in truth
    ), "tsumogiri seen when it happens"
    assert run.tiles_right >= 0.95 * run.tiles, "settled tiles right"
    assert run.hands_right >= (1.0 if profile == "clean" else 0.7) * run.hands, "settled hands exactly right"


LAYS = {  # name: (gaps drawn from per turn, chance of a drawn tile slid in)
    "against the row": ((0.0,), 0.0),
    "half a tile apart": ((0.5,), 0.0),
    "a tile apart": ((1.0,), 0.0),
    "two tiles apart": ((2.0,), 0.0),
    "slid in where it sorts": ((0.35,), 1.0),
    "a habit of each": ((0.0, 0.35, 0.5, 1.0, 2.0), 0.3),
}


@pytest.mark.parametrize("seed", seeds(3))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
@pytest.mark.parametrize("lay", list(LAYS))
def test_reader_follows_a_seat_however_it_lays_its_drawn_tile(lay, profile, seed):
    """Players hold the drawn tile apart by a gap of their own, from none to two tiles, or slide it
    straight into the hand: its draw is read when it comes, its discard when it goes, and the hand
    (the drawn tile last) as it is, whatever the gap."""
    gaps, slid = LAYS[lay]
    game = TableGame(("ton",), 30, seed=seed, gaps=gaps, slid=slid)
    run = play(game, "ton", seed % 4, 30, PROFILES[profile], seed)
    pairs, spurious, truth = run.scored()
    missing = [t for t in truth if t not in [p[0] for p in pairs]]
    assert len(truth) >= 12
    assert run.f1 >= (1.0 if profile == "clean" else 0.85), f"missing {missing}, spurious {spurious}"
    assert all(e.tsumogiri == tsumogiri for (kind, _, _, tsumogiri), e in pairs if kind == "discard")
    assert run.tiles_right >= 0.95 * run.tiles, "settled tiles right"
    assert run.hands_right >= (1.0 if profile == "clean" else 0.8) * run.hands, "settled hands exactly right"


@pytest.mark.parametrize("seed", seeds(3))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
@pytest.mark.parametrize("order", ["zmps", "spmz", "pszm"])
def test_reader_learns_the_order_a_player_keeps_the_suits_in(order, profile, seed):
    """Players sort their suits in an order of their own (honours first, souzu first, ...): the
    reader learns it from the seat's hands, and reads the turns as well as in the usual order,
    a drawn tile of a suit the hand did not hold going wherever the player puts it. With a habit
    of each for the drawn tile, too."""
    game = TableGame(("ton",), 30, seed=seed, orders=(order,), gaps=(0.0, 0.5, 2.0), slid=0.3)
    reader = HandReader("ton")
    run = play(game, "ton", seed % 4, 30, PROFILES[profile], seed, reader=reader)
    pairs, spurious, truth = run.scored()
    missing = [t for t in truth if t not in [p[0] for p in pairs]]
    assert run.f1 >= (1.0 if profile == "clean" else 0.85), f"missing {missing}, spurious {spurious}"
    assert run.hands_right >= (1.0 if profile == "clean" else 0.8) * run.hands, "settled hands exactly right"
    assert in_order(game.hand("ton", 30).concealed, reader.order) and reader.hand.order == reader.order
    with pytest.raises(ValueError, match="four letters"):
        HandReader("ton", order="mps")


@pytest.mark.parametrize("seed", seeds(3))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
@pytest.mark.parametrize("table", ["one seat", "a table of four"])
def test_reader_follows_a_drawn_tile_left_unsorted_at_the_rows_end_and_sorted_in_later(table, profile, seed):
    """Players may keep the drawn tile where it lay, at the row's right end, when another goes, and
    sort it in a while later (a table of four: seconds before their next turn) or as they draw again
    (one seat): the hand is read as it lies meanwhile, its sorting in is no turn, and the turns are
    read as in a sorted hand."""
    seats = ("ton",) if table == "one seat" else SEATS
    duration = 30 if table == "one seat" else 60
    game = TableGame(seats, duration, seed=seed, gaps=(0.35, 1.0), unsorted=1.0)
    seat = seats[seed % len(seats)]
    hands = [game.hand(seat, t) for t in game.changes(seat)]
    assert sum(h.drawn is None and h.concealed != sort_tiles(h.concealed) for h in hands) >= 2
    run = play(game, seat, seed % 4, duration, PROFILES[profile], seed)
    pairs, spurious, truth = run.scored()
    missing = [t for t in truth if t not in [p[0] for p in pairs]]
    assert run.f1 >= (1.0 if profile == "clean" else 0.85), f"missing {missing}, spurious {spurious}"
    assert run.hands_right >= (1.0 if profile == "clean" else 0.8) * run.hands, "settled hands exactly right"


def covered(boxes, labels, scores, seat_index: int, hand: Hand, rng: random.Random, tiles: int):
    """The detections less those under a player's hand laid over `tiles` neighbouring tiles."""
    xs = sorted((b[0] + b[2]) / 2 for _, b in true_boxes(seat_index, hand))
    first = rng.randrange(len(xs) - tiles + 1)
    lo, hi = xs[first] - 5, xs[first + tiles - 1] + 5
    keep = [i for i, b in enumerate(boxes) if not lo <= (b[0] + b[2]) / 2 <= hi]
    return boxes[keep], [labels[i] for i in keep], scores[keep]


@pytest.mark.parametrize("seed", seeds(2))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
def test_a_hand_over_the_row_around_each_move_hides_tiles_but_not_the_turns(profile, seed):
    """A player's hand covers five to eight of its tiles from 0.3 s before each of its moves to
    0.6 s after (a table of four: a seat moves every 8 s): readings of the tiles left, on the
    hand's known places, still count, so the turns are read, late by the cover at most."""
    game = TableGame(SEATS, 120, seed=seed, gaps=(0.0, 0.35, 1.0), slid=0.2)
    rng, noise = random.Random(seed), PROFILES[profile]
    moves = game.changes("ton")[1:]
    samples = []
    for t in sample_times(120, rng):
        hand = game.hand("ton", t)
        boxes, labels, scores = detections(seed % 4, hand, noise, rng)
        near = [m for m in moves if m - 0.3 <= t < m + 0.6]
        if near:
            cover = random.Random(int(near[0] * 10))
            boxes, labels, scores = covered(boxes, labels, scores, seed % 4, hand, cover, cover.randint(5, 8))
        samples.append((t, hand, (boxes, labels, scores)))

    def read(reader: HandReader) -> Run:
        run = Run([], true_events(game, "ton", 120), end=118.5)
        for t, hand, found in samples:
            run.events += reader.observe(t, *found)
            if t - max(m for m in [0.0, *moves] if m <= t) >= 0.7 and t >= 2.0:
                run.hands += 1
                run.hands_right += reader.hand is not None and reader.hand.tiles == hand.tiles
        return run

    run, eight = read(HandReader("ton")), read(HandReader("ton", min_placed=8))  # (eight: as before)
    pairs, spurious, truth = run.scored()
    missing = [t for t in truth if t not in [p[0] for p in pairs]]
    assert len(truth) >= 25 and run.f1 >= (0.9 if profile == "clean" else 0.85), f"{missing}, {spurious}"
    assert run.f1 > eight.f1, "the readings of the tiles left count"
    assert run.hands_right >= 0.9 * run.hands
    assert all(abs(e.at - at) <= 1.0 for (_, _, at, _), e in pairs)


@pytest.mark.parametrize("seed", range(6))
def test_four_seats_with_a_new_deal_tell_it_once_and_read_the_new_hands(seed):
    """A table of four around the first new deal (the wall runs out after ~140 s)."""
    game = TableGame(SEATS, 150, seed=seed)
    deal_at = next(c for c in game.changes("ton")[1:] if all(c in game.changes(s) for s in SEATS))
    start, end = deal_at - 20, deal_at + 10
    table = TableHands(SEATS)
    noise = PROFILES["like the model"]
    rng = random.Random(seed)
    streams = []
    for i, seat in enumerate(SEATS):
        streams += [(t + start, i, seat) for t in sample_times(end - start, random.Random(seed * 10 + i))]
    deals, events, told = [], {s: [] for s in SEATS}, {}
    for t, i, seat in sorted(streams):
        if rng.random() < noise.gaps:
            change = table.gap(seat, t)
        else:
            change = table.observe(seat, t, *detections(i, game.hand(seat, t), noise, rng))
        events[seat] += change.events
        if change.deal is not None:
            deals.append((t, change.deal))
        if change.hand is not None:
            assert change.hand.tiles != told.get(seat), "a hand is told when its tiles change"
            told[seat] = change.hand.tiles
    assert told == {seat: hand.tiles for seat, hand in table.hands().items()}
    assert len(deals) == 1, f"one new deal told, got {[t for t, _ in deals]}"
    t, dealt = deals[0]
    assert deal_at <= t <= deal_at + 2.0
    assert len(dealt) >= 2
    for seat, tiles in dealt.items():  # as first read: a tile or two may still be misread
        assert sum(a == b for a, b in zip(tiles, game.hand(seat, deal_at).concealed)) >= 11
    for seat in SEATS:
        assert table.hands()[seat].tiles == game.hand(seat, end).tiles
        truth = [e for e in true_events(game, seat, end) if e[2] >= start + 3]
        read = [e for e in events[seat] if e.at >= start + 3]
        pairs, spurious = matched(read, truth)
        assert len(pairs) == len(truth) and not spurious, seat


# scripted hands: the cases by name

BASE = ("1m", "2m", "3m", "5p", "5p", "7p", "8p", "9p", "3s", "4s", "6s", "1z", "1z")


def scripted(
    timeline: list[tuple[float, Hand]],
    duration: float,
    noise: Noise,
    seed: int,
    seat_index: int = 0,
    gaps: tuple[tuple[float, float], ...] = (),
) -> tuple[HandReader, list[Event], list]:
    """A reader fed one seat's scripted hands: (from, hand) pairs; no results within `gaps` spans."""
    rng = random.Random(seed)
    reader = HandReader("ton")
    events, held = [], []
    for t in sample_times(duration, rng):
        hand = [h for start, h in timeline if start <= t][-1]
        if any(a <= t < b for a, b in gaps) or rng.random() < noise.gaps:
            events += reader.gap(t)
        else:
            events += reader.observe(t, *detections(seat_index, hand, noise, rng))
        held.append((t, reader.hand))
    return reader, events, held


def turn(before: tuple[str, ...], drawn: str, discard: str, at: float) -> list[tuple[float, Hand]]:
    after = list(before) + [drawn]
    after.remove(discard)
    return [(at, Hand(before, drawn)), (at + 1.0, Hand(sort_tiles(after)))]


TURNS = {  # name: (drawn, discarded, tsumogiri)
    "discard from the middle": ("9s", "7p", False),
    "tsumogiri": ("2z", "2z", True),
    "draw of a third copy, one discarded": ("5p", "5p", True),
    "one of two identical tiles discarded": ("6m", "5p", False),
    "the first tile discarded": ("4m", "1m", False),
    "the last tile discarded": ("3m", "1z", False),
    "drawn tile sorts to the front": ("1m", "6s", False),
}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("profile", ["clean", "flicker", "missed", "like the model"])
@pytest.mark.parametrize("name", list(TURNS))
def test_a_scripted_turn(name, profile, seed):
    drawn, discard, tsumogiri = TURNS[name]
    timeline = [(0.0, Hand(BASE))] + turn(BASE, drawn, discard, 4.0)
    reader, events, held = scripted(timeline, 8.0, PROFILES[profile], seed, seat_index=seed % 4)
    kinds = [(e.kind, e.tile, e.tsumogiri) for e in events]
    assert kinds == [("draw", drawn, False), ("discard", discard, tsumogiri)]
    assert 4.0 <= events[0].at <= 4.8
    assert (4.5 if tsumogiri else 5.0) <= events[1].at <= 5.8, "a drawn tile missed once looks like its tsumogiri"
    assert reader.hand.tiles == timeline[-1][1].tiles
    assert reader.hand.since == events[1].at
    holding = [h for t, h in held if 4.0 <= t < 5.0 and h is not None and len(h.tiles) == 14]
    if profile in ("clean", "flicker"):  # (others may miss the drawn tile in all but one frame)
        assert holding and holding[-1].concealed == BASE, "14 tiles while holding"
    if holding:
        assert holding[-1].drawn == drawn or drawn in CONFUSED, "(a tile often confused is right once sorted in)"


def after(before: tuple[str, ...], drawn: str, discard: str) -> tuple[str, ...]:
    tiles = list(before) + [drawn]
    tiles.remove(discard)
    return sort_tiles(tiles)


NO_SOUZU = ("1m", "2m", "3m", "5p", "5p", "7p", "8p", "9p", "1z", "1z", "2z", "5z", "6z")
KEPT = {  # name: (hand, drawn, discarded)
    "a tile of a suit held": (BASE, "2s", "1m"),
    "the only tile of its suit": (NO_SOUZU, "5s", "2z"),
}


@pytest.mark.parametrize("seed", seeds(4, fast=2))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
@pytest.mark.parametrize("kept", list(KEPT))
def test_a_drawn_tile_kept_at_the_rows_end_then_sorted_in_is_one_turn(kept, profile, seed):
    """The player discards another tile and leaves the drawn one at the row's right end, out of
    order, then sorts it in: one draw and one discard, and the hand read as it lies throughout
    (a tile of a suit the hand did not hold, too: where the player keeps that suit is not known)."""
    hand, drawn, discard = KEPT[kept]
    rest = list(hand)
    rest.remove(discard)
    left = Hand(tuple(rest) + (drawn,))
    timeline = [(0.0, Hand(hand)), (3.0, Hand(hand, drawn)), (4.0, left), (7.0, Hand(sort_tiles(left.concealed)))]
    reader, events, held = scripted(timeline, 10.0, PROFILES[profile], seed, seat_index=seed % 4)
    assert [(e.kind, e.tile) for e in events] == [("draw", drawn), ("discard", discard)]
    assert 4.0 <= events[1].at <= 4.8
    while_left = [h for t, h in held if 5.0 <= t < 7.0]
    assert while_left and sum(h.tiles == left.tiles for h in while_left) >= 0.8 * len(while_left), while_left
    if kept == "a tile of a suit held":  # (a lone tile's place is not known: not out of order)
        assert while_left[-1].loose == (12,) and reader.hand.loose == ()
    assert reader.hand.tiles == sort_tiles(left.concealed)


def test_a_tile_kept_loose_misread_and_then_sorted_in_where_both_kinds_sort_is_no_turn():
    """A drawn 4m read 1p throughout while it lies apart and then loose at the row's end (both sort
    between 3m and 5p), then sorted in, where the readings show 4m: the tile was misread, and its
    sorting in is no turn (not a discard of 1p and a draw of 4m); the hand holds 4m there."""
    reader = HandReader("ton")
    left = tuple(t for t in HAND if t != "6s") + ("1p",)  # 6s discarded, the drawn tile kept loose
    sorted_in = ("1m", "2m", "3m", "4m") + tuple(t for t in HAND[3:] if t != "6s")
    timeline = [(0.0, row(HAND)), (3.0, row(HAND, drawn=("1p", 13.5))), (4.0, row(left)), (7.0, row(sorted_in))]
    events, shown = [], []
    for step in range(40):
        t = step * 0.25
        events += reader.observe_reading(t, next(r for at, r in reversed(timeline) if at <= t))
        shown.append((t, reader.hand.tiles if reader.hand else ()))
    assert [(e.kind, e.tile) for e in events] == [("draw", "1p"), ("discard", "6s")], events
    assert reader.hand.tiles == sorted_in and reader.hand.loose == ()
    # taken once `confirm` readings show it, and held from then on: its misreads do not take it back
    assert all(tiles == sorted_in for t, tiles in shown if t >= 7.25), [(t, h) for t, h in shown if t >= 7.0]


KEPT_UNSEEN = KEPT | {"a tile from the middle discarded": (BASE, "9m", "4s")}


@pytest.mark.parametrize("seed", seeds(4, fast=4))  # (seed 3 waits for its fifth reading: all fast)
@pytest.mark.parametrize("profile", ["clean", "like the model"])
@pytest.mark.parametrize("kept", list(KEPT_UNSEEN))
def test_a_drawn_tile_never_seen_and_kept_at_the_rows_end_is_a_turn_when_the_discard_shows(kept, profile, seed):
    """The draw hidden (a hand over it, a gap in the results), then the row shows the discard with
    the drawn tile left at its end, out of order: the turn is read then, not seconds later when the
    tile is sorted in, and its sorting in is no second turn. (A discard of the row's last tile is
    not among the cases: one reading at a time, it looks like that tile misread.)"""
    hand, drawn, discard = KEPT_UNSEEN[kept]
    rest = list(hand)
    rest.remove(discard)
    left = Hand(tuple(rest) + (drawn,))
    timeline = [(0.0, Hand(hand)), (3.0, Hand(hand, drawn)), (4.0, left), (7.0, Hand(sort_tiles(left.concealed)))]
    reader, events, held = scripted(timeline, 10.0, PROFILES[profile], seed, seat_index=seed % 4, gaps=((2.8, 4.3),))
    assert [(e.kind, e.tile) for e in events] == [("draw", drawn), ("discard", discard)]
    assert all(4.3 <= e.at <= 5.3 for e in events), events
    while_left = [h for t, h in held if 5.5 <= t < 7.0]
    assert while_left and sum(h.tiles == left.tiles for h in while_left) >= 0.8 * len(while_left), while_left
    assert reader.hand.tiles == sort_tiles(left.concealed) and reader.hand.loose == ()


TWO_TURNS = [(0.0, Hand(BASE))] + turn(BASE, "9s", "7p", 4.0) + turn(after(BASE, "9s", "7p"), "2z", "4s", 8.0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
@pytest.mark.parametrize("blind", [("4s",), ("2m", "4s"), ("1z",), ("9s",)])
def test_kinds_never_read_in_the_row_leave_guessed_places_and_the_turns_are_read(blind, profile, seed):
    """The real model never reads some kinds at some cameras: 12 boxes, or 11, where 13 tiles lie, in
    every frame. The hand is held all the same (its places found where the tiles lie: from a frame that
    shows both ends, or, when an end is the hole (1z), from the drawn tile beside the last place); a
    place no read names is a guess from where it sorts (the lowest kind between its neighbours that the
    hand does not hold elsewhere), marked by confidence 0; a drawn tile keeps the kind it was read as
    when drawn (9s); draws and discards around the holes are read, a discard of the unread 4s too."""
    reader, events, held = scripted(TWO_TURNS, 12.0, replace(PROFILES[profile], blind=blind), seed, seat_index=seed % 4)
    assert [(e.kind, e.tile, e.tsumogiri) for e in events] == [
        ("draw", "9s", False),
        ("discard", "7p", False),
        ("draw", "2z", False),
        ("discard", "4s", False),
    ]
    for e, at in zip(events, (4.0, 5.0, 8.0, 9.0)):
        assert at <= e.at <= at + 0.8
    assert all(h is not None for t, h in held if t >= (4.5 if "1z" in blind else 2.0)), "a hand is held"
    hand = reader.hand
    assert hand.tiles == TWO_TURNS[-1][1].tiles
    assert hand.guessed == tuple(i for i, tile in enumerate(hand.tiles) if tile in blind and tile != "9s"), (
        "a guess is marked by confidence 0"
    )


@pytest.mark.parametrize("seed", seeds(4))
@pytest.mark.parametrize("gap", [1.0, 2.0])
@pytest.mark.parametrize("blind", [("1m",), ("1z",)])
def test_an_end_never_read_and_a_drawn_tile_whole_tiles_apart_still_make_a_hand(blind, gap, seed):
    """An end tile the model never reads, and a drawn tile a whole tile or two apart (on the row's
    grid, so it says nothing of where place 12 is): after 12 readings the places are set, the
    unread end a guess (on the side where more kinds could lie: here the wrong one for the 1m), and
    the turns are read."""
    timeline = [(at, replace(hand, gap=gap) if hand.drawn else hand) for at, hand in TWO_TURNS]
    reader, events, held = scripted(timeline, 12.0, replace(PROFILES["like the model"], blind=blind), seed, seed % 4)
    assert [(e.kind, e.tile) for e in events] == [("draw", "9s"), ("discard", "7p"), ("draw", "2z"), ("discard", "4s")]
    hand, unread = held[-1][1], timeline[-1][1].concealed.count(blind[0])
    assert hand is not None and len(hand.guessed) == unread
    right = [read for k, read in enumerate(hand.concealed) if k not in hand.guessed]
    assert right == [tile for tile in timeline[-1][1].concealed if tile not in blind]


@pytest.mark.parametrize("seed", seeds(3))
def test_a_tile_far_past_the_row_is_no_drawn_tile(seed):
    """A tile on the table on the row's line but further than two tiles past it (a meld, a stray)
    is not the hand's: no draw is read from it, and the turns are read as they come."""
    rng, reader, events = random.Random(seed), HandReader("ton"), []
    for t in sample_times(12.0, rng):
        hand = [h for start, h in TWO_TURNS if start <= t][-1]
        boxes, labels, scores = detections(seed % 4, hand, PROFILES["like the model"], rng)
        x1, y1, x2, y2 = true_boxes(seed % 4, Hand(BASE))[-1][1]
        far = [x1 + 5.5 * (x2 - x1), y1, x2 + 5.5 * (x2 - x1), y2]  # 4.5 tiles past the row's last
        boxes, labels, scores = np.vstack([boxes, far]), [*labels, "7z"], np.append(scores, 0.9)
        events += reader.observe(t, boxes, labels, scores)
    assert [(e.kind, e.tile) for e in events] == [("draw", "9s"), ("discard", "7p"), ("draw", "2z"), ("discard", "4s")]
    assert reader.hand.tiles == TWO_TURNS[-1][1].tiles


@pytest.mark.parametrize("seed", range(6))
def test_two_boxes_of_two_kinds_on_one_tile_both_vote(seed):
    """Class-wise NMS leaves two boxes on the 8p, an 8p and a 9p (both sort there, between 7p and 9p);
    the 9p is the more confident in 60 % of frames, by a hair, and far less in the others. Both boxes
    vote, weighed by confidence, so the tile is read 8p (keeping only the more confident read 9p)."""
    noise = Noise(twins=(("8p", "9p"),), flicker=0.03)
    timeline = [(0.0, Hand(BASE))] + turn(BASE, "2z", "3m", 4.0)
    reader, events, held = scripted(timeline, 8.0, noise, seed, seat_index=seed % 4)
    assert [(e.kind, e.tile) for e in events] == [("draw", "2z"), ("discard", "3m")]
    settled = [(t, h) for t, h in held if t >= 3.0 and not 4.0 <= t < 5.8]
    assert all(h.tiles == [hand for start, hand in timeline if start <= t][-1].tiles for t, h in settled)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("profile", ["clean", "like the model"])
def test_a_drawn_tile_misread_alike_every_time_is_named_where_it_sorts(profile, seed):
    """A drawn 4m is read as 9s in every frame (the drawn tile lies apart, seen at another angle); sorted
    in, the row reads it right: the draw is told as 4m and its discard (7p) found, not a tsumogiri."""
    timeline = [(0.0, Hand(BASE))] + turn(BASE, "4m", "7p", 4.0)
    noise = replace(PROFILES[profile], drawn_as=(("4m", "9s"),))
    reader, events, _ = scripted(timeline, 8.0, noise, seed, seat_index=seed % 4)
    assert [(e.kind, e.tile, e.tsumogiri) for e in events] == [("draw", "4m", False), ("discard", "7p", False)]
    assert reader.hand.tiles == timeline[-1][1].tiles


@pytest.mark.parametrize("seed", range(8))
def test_a_tile_missed_for_seconds_keeps_its_place(seed):
    """The detector loses one tile (the second of a pair) for 3 s: the hand holds, nothing happens."""
    rng = random.Random(seed)
    reader = HandReader("ton")
    hand = Hand(BASE)
    events = []
    for t in sample_times(8.0, rng):
        boxes, labels, scores = detections(seed % 4, hand, PROFILES["flicker"], rng)
        if 3.0 <= t < 6.0:
            x = true_boxes(seed % 4, hand)[4][1][0]
            keep = [k for k, b in enumerate(boxes) if abs(b[0] - x) > 3]
            boxes, labels, scores = boxes[keep], [labels[k] for k in keep], scores[keep]
        events += reader.observe(t, boxes, labels, scores)
        if t > 1.5:
            assert reader.hand.tiles == BASE, t
    assert events == []


@pytest.mark.parametrize("seed", range(6))
def test_a_new_hand_replaces_the_old_one_without_events(seed):
    rng = random.Random(seed)
    pool = [t for t in TILES for _ in range(4)]
    rng.shuffle(pool)
    new = sort_tiles(pool[:13])
    reader, events, _ = scripted([(0.0, Hand(BASE)), (4.0, Hand(new))], 8.0, PROFILES["flicker"], seed)
    assert events == []
    assert reader.hand.tiles == new and 4.0 <= reader.replaced_at <= 4.6 and reader.hand.since == reader.replaced_at


def test_a_turn_hidden_by_a_gap_is_told_as_a_draw_and_a_discard_when_seen():
    timeline = [(0.0, Hand(BASE))] + turn(BASE, "9s", "7p", 4.0)
    reader, events, _ = scripted(timeline, 9.0, PROFILES["clean"], 1, gaps=((3.8, 5.4),))
    assert [(e.kind, e.tile) for e in events] == [("draw", "9s"), ("discard", "7p")]
    assert all(5.4 <= e.at <= 5.8 for e in events) and reader.replaced_at is None
    assert reader.hand.tiles == timeline[-1][1].tiles


def test_flicker_alone_never_changes_a_settled_hand():
    """A hand read right for 3 s then a label flickering on every other frame at one tile: it holds."""
    rng = random.Random(3)
    reader = HandReader("ton")
    hand = Hand(BASE)
    for k, t in enumerate(sample_times(12.0, rng)):
        boxes, labels, scores = detections(0, hand, Noise(), rng)
        if t > 3.0 and k % 2:
            labels = ["9m" if label == "8p" else label for label in labels]
        assert reader.observe(t, boxes, labels, scores) == []
        if t > 1.0:
            assert reader.hand.tiles == BASE


@pytest.mark.parametrize("misread,held", [("7p", "7p"), ("9m", "8p")])
def test_systematic_misread_of_most_frames_wins_the_vote_where_it_sorts(misread, held):
    """The opposite: when most frames say 8p is 7p, the reader follows the evidence; when they say
    9m, which cannot lie between 7p and 9p in a sorted hand, the read that can (8p) names the tile."""
    rng = random.Random(4)
    reader = HandReader("ton")
    for t in sample_times(10.0, rng):
        boxes, labels, scores = detections(0, Hand(BASE), Noise(), rng)
        if t > 3.0 and rng.random() < 0.8:
            labels = [misread if label == "8p" else label for label in labels]
        reader.observe(t, boxes, labels, scores)
    other = "8p" if held == misread else misread
    assert reader.hand.tiles[6] == held and reader.hand.runner_up[6][0] == other


# --- notation, shanten, the table's rules ---------------------------------------------------------

KNOWN = [
    ("123m456p789s1122z", 0),
    ("1199m1199p1199s11z", -1),  # seven pairs, complete (14 tiles)
    ("19m19p19s1234567z", 0),  # thirteen orphans, ready
    ("19m19p19s12345677z", -1),
    ("147m258p369s1234z", 6),
    ("123456789m11p234s", -1),
    ("2345678m234p5566s", 0),
]


@pytest.mark.parametrize("hand,expected", KNOWN)
def test_notation_and_shanten_of_known_hands(hand, expected):
    tiles = [f"{n}{suit}" for n, suit in zip(*_expand(hand))]
    random.Random(hand).shuffle(tiles)
    assert notation(tiles) == hand
    assert hand == TilesConverter.to_one_line_string(TilesConverter.one_line_string_to_136_array(hand))
    assert shanten(tiles) == expected == Shanten().calculate_shanten(TilesConverter.one_line_string_to_34_array(hand))
    stable = StableHand(
        "ton", tuple(tiles[:13]), tiles[13] if len(tiles) > 13 else None, (1.0,) * len(tiles), (None,) * len(tiles), 0.0
    )
    assert stable.notation() == hand and stable.shanten() == expected


def _expand(hand: str) -> tuple[list[str], list[str]]:
    numbers, suits, run = [], [], []
    for ch in hand:
        if ch.isdigit():
            run.append(ch)
        else:
            numbers += run
            suits += [ch] * len(run)
            run = []
    return numbers, suits


def stable(seat, tiles, confidence, runner_up):
    return StableHand(
        seat, tuple(tiles[:13]), tiles[13] if len(tiles) > 13 else None, tuple(confidence), tuple(runner_up), 0.0
    )


def test_a_fifth_copy_falls_back_to_its_runner_up_least_confident_first():
    filler = ["2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "2p", "3p", "4p", "5p"]
    a = stable("ton", filler[:10] + ["1s"] * 3, [0.9] * 13, [None] * 13)
    b = stable("nan", filler[:11] + ["1s", "1s"], [0.9] * 11 + [0.8, 0.4], [None] * 11 + [("9p", 0.3), ("2s", 0.35)])
    capped = cap_copies({"ton": a, "nan": b, "sha": None})
    assert capped["ton"] is a and capped["sha"] is None
    assert capped["nan"].tiles[11:] == ("1s", "2s") and capped["nan"].confidence[12] == 0.35
    assert Counter(t for h in (capped["ton"], capped["nan"]) for t in h.tiles)["1s"] == 4


def test_a_fifth_copy_without_a_runner_up_or_room_for_it_stays():
    filler = ["2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "2p", "3p", "4p", "5p"]
    a = stable("ton", filler[:6] + ["7p"] * 4 + ["1s"] * 3, [0.9] * 13, [None] * 13)
    b = stable("nan", filler[:11] + ["1s", "1s"], [0.9] * 11 + [0.8, 0.4], [None] * 11 + [None, ("7p", 0.3)])
    capped = cap_copies({"ton": a, "nan": b})
    assert capped == {"ton": a, "nan": b}


def test_a_fifth_copy_whose_runner_up_cannot_lie_there_stays():
    """nan's second 1m is a guess (no read names it: confidence 0) over reads of 1s, which cannot lie
    before its 3m: a fifth 1m at the table does not bring the ruled-out read back."""
    a = stable(
        "ton", ["1m"] * 3 + ["2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "2p", "3p"], [0.9] * 13, [None] * 13
    )
    b = stable(
        "nan",
        ["1m", "1m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "2p", "3p", "4p", "5p"],
        [0.9, 0.0] + [0.9] * 11,
        [None, ("1s", 1.0)] + [None] * 11,
    )
    assert cap_copies({"ton": a, "nan": b}) == {"ton": a, "nan": b}


def test_a_fifth_copy_kept_out_of_order_may_fall_back_to_a_runner_up_that_does_not_sort_there():
    """nan left its drawn 7p at the row's end, after its honours: a fifth 7p at the table falls back
    to its runner-up there, which the hand's order does not rule out (that tile is out of it)."""
    a = stable("ton", ["2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "2p"] + ["7p"] * 4, [0.9] * 13, [None] * 13)
    held = ["1m", "2m", "3m", "5m", "6m", "7m", "8m", "9m", "1s", "2s", "1z", "1z", "7p"]
    b = stable("nan", held, [0.9] * 12 + [0.5], [None] * 12 + [("8p", 0.4)])
    assert cap_copies({"ton": a, "nan": b})["nan"] == b, "in order, an 8p cannot lie after the 1z"
    capped = cap_copies({"ton": a, "nan": replace(b, loose=(12,))})
    assert capped["nan"].tiles[12] == "8p" and capped["nan"].confidence[12] == 0.4


def test_table_hands_apply_four_copies_to_what_the_readers_hold():
    """Seat nan's 2s is read as 1s in 60 % of frames (a kind that sorts there too), so its reader holds
    a second 1s beside three at ton's: the table gives that least sure copy its runner-up, 2s."""
    ton = Hand(("2m", "3m", "4m", "5m", "6m", "7m", "8m", "9m", "2p", "3p", "1s", "1s", "1s"))
    nan = Hand(("1m", "1m", "3p", "4p", "5p", "6p", "7p", "8p", "9p", "1s", "2s", "1z", "2z"))
    table = TableHands(SEATS[:2])
    rng = random.Random(5)
    for t in sample_times(6.0, rng):
        for i, (seat, hand) in enumerate((("ton", ton), ("nan", nan))):
            boxes, labels, scores = detections(i, hand, Noise(), rng)
            if seat == "nan":
                eleventh = int(np.argsort(boxes[:, 0])[10])
                labels[eleventh] = "1s" if rng.random() < 0.6 else "2s"
            table.observe(seat, t, boxes, labels, scores)
    assert table.readers["nan"].tiles[10] == "1s", "the reader alone holds a misread"
    assert table.hands()["nan"].tiles == nan.tiles and table.hands()["ton"].tiles == ton.tiles
    assert Counter(t for h in table.hands().values() for t in h.tiles)["1s"] == 4


def test_tile_labels_maps_the_models_names_and_refuses_other_models():
    names = {i: DETECTOR_NAME[t] for i, t in enumerate(TILES)}
    assert tile_labels(names) == dict(enumerate(TILES))
    assert tile_labels({0: "person", 1: "car", 2: "1m"}) == {}


@pytest.mark.slow
def test_a_table_of_four_meets_the_targets_and_prints_the_cpu_per_observation(capsys):
    """Two games of four seats for 160 s each (a new deal at ~140 s), noise like the real model's: the
    issue's targets (tiles right >= 95 %, hands exact >= 80 %, draw/discard F1 >= 0.9 within 1 s, time
    error p95 <= 1 s). The reader's CPU per observation is printed, not asserted."""
    runs = []
    for seed in (11, 12):
        game = TableGame(SEATS, 160, seed=seed)
        runs += [play(game, seat, i, 160, PROFILES["like the model"], 100 * seed + i) for i, seat in enumerate(SEATS)]
    scored = [r.scored() for r in runs]
    pairs = [p for s in scored for p in s[0]]
    spurious = sum(len(s[1]) for s in scored)
    truth = sum(len(s[2]) for s in scored)
    f1 = 2 * len(pairs) / (len(pairs) + spurious + truth)
    errors = sorted(abs(e.at - at) for (_, _, at, _), e in pairs)
    p95 = errors[int(0.95 * (len(errors) - 1))]
    tiles = sum(r.tiles_right for r in runs) / sum(r.tiles for r in runs)
    hands = sum(r.hands_right for r in runs) / sum(r.hands for r in runs)
    observations = sum(r.observations for r in runs)
    with capsys.disabled():
        print(
            f"\nhand reader: {1e6 * sum(r.cpu_s for r in runs) / observations:.0f} us CPU per observation "
            f"({observations} observations); events F1 {f1:.3f} ({len(pairs)} of {truth} true, {spurious} "
            f"spurious), time error p95 {p95:.2f} s; settled tiles right {tiles:.3f}, hands exact {hands:.3f}"
        )
    assert truth >= 60
    assert f1 >= 0.9 and p95 <= 1.0 and tiles >= 0.95 and hands >= 0.8

"""The game record's pure parts: the mjai-style log's order and the scoring against the true game."""

from __future__ import annotations

import json

import pytest

from mjray.mahjong.gamelog import GameRecord, MjaiLog, SeenEvent, from_mjai, to_mjai
from mjray.mahjong.tiles import DETECTOR_NAME
from mjray.sim.game import TableGame
from mjray.sim.game_score import Segment, score_seat, segments, tiles_right, true_events

SEATS = ("ton", "nan", "sha", "pei")
HAND = ("1m", "2m", "3m", "4p", "5p", "6p", "7s", "8s", "9s", "1z", "1z", "5z", "7z")


def test_tiles_go_to_mjai_names_and_back():
    assert [to_mjai(t) for t in ("1z", "2z", "3z", "4z", "5z", "6z", "7z", "5m", None)] == [
        "E",
        "S",
        "W",
        "N",
        "P",
        "F",
        "C",
        "5m",
        "?",
    ]
    assert [from_mjai(p) for p in ("E", "C", "5pr", "9s", "?")] == ["1z", "7z", "5p", "9s", None]


def test_the_kyoku_starts_once_every_seat_is_read_and_events_seen_before_follow_it():
    log = MjaiLog(SEATS)
    assert log.begin() == [{"type": "start_game", "names": list(SEATS)}]
    assert log.hand("ton", HAND, 1.0) == []
    assert log.event(SeenEvent("ton", "draw", "2m", 1.5, 0.9)) == []  # held: the kyoku has not started
    assert log.hand("nan", HAND, 1.2) == [] and log.hand("sha", HAND, 1.3) == []
    lines = log.hand("pei", HAND, 1.4)
    assert [line["type"] for line in lines] == ["start_kyoku", "tsumo"]
    start, draw = lines
    assert start["tehais"][0] == ["1m", "2m", "3m", "4p", "5p", "6p", "7s", "8s", "9s", "E", "E", "P", "C"]
    assert start["t"] == 1.0 and start["kyoku"] == 1
    assert draw == {"type": "tsumo", "actor": 0, "pai": "2m", "t": 1.5, "seat": "ton", "confidence": 0.9}
    dahai = log.event(SeenEvent("nan", "discard", "1z", 3.0, 0.8, tsumogiri=True))
    assert dahai == [
        {"type": "dahai", "actor": 1, "pai": "E", "tsumogiri": True, "t": 3.0, "seat": "nan", "confidence": 0.8}
    ]
    assert log.hand("ton", HAND, 4.0) == []  # later hands do not restart it
    assert [line["type"] for line in log.end()] == ["end_kyoku", "end_game"]
    json.dumps(lines)  # plain JSON


def test_a_seat_never_read_does_not_hold_the_log_back_for_ever():
    log = MjaiLog(SEATS, hands_wait_s=5.0)
    log.hand("ton", HAND, 10.0)
    assert log.tick(14.9) == []
    lines = log.tick(15.0)
    assert lines[0]["type"] == "start_kyoku" and lines[0]["tehais"][1] == ["?"] * 13


def test_a_new_deal_ends_the_kyoku_and_starts_the_next_with_the_new_hands():
    log = MjaiLog(SEATS[:2])
    log.hand("ton", HAND, 0.0)
    log.hand("nan", HAND, 0.0)
    lines = log.deal({"ton": HAND[::-1], "nan": HAND}, 100.0)
    assert [line["type"] for line in lines] == ["end_kyoku", "start_kyoku"]
    assert lines[1]["kyoku"] == 2 and lines[1]["tehais"][0][0] == "C"


def test_the_record_takes_the_detectors_class_names_and_leaves_out_boxes_that_are_no_tile():
    boxes = [[100 + 50 * i, 400, 145 + 50 * i, 460] for i in range(13)]
    named, plain = GameRecord(["ton"]), GameRecord(["ton"])
    for k in range(10):  # the model's names ('tou' for 1z) and a person over the table, against compact names alone
        got = named.result(
            "ton",
            k / 10,
            boxes + [[0, 0, 700, 300]],
            [DETECTOR_NAME[t] for t in HAND] + ["person"],
            [0.9] * 13 + [0.99],
        )
        assert got == plain.result("ton", k / 10, boxes, HAND, [0.9] * 13)
        if got[1] is not None:
            assert got[1]["tiles"] == list(HAND) and got[1]["loose"] == []
            return
    pytest.fail("no hand read")


def test_an_empty_run_still_ends_the_game():
    assert [line["type"] for line in MjaiLog(SEATS).end()] == ["end_game"]


def test_segments_split_where_the_video_jumps():
    fps = 15
    anchors = [(100.0 + i, 15 * i) for i in range(5)] + [(105.0, 0), (106.0, 15), (107.0, 31)]
    segs = segments(anchors, fps)
    assert segs == [Segment(100.0, 104.0, 0, fps), Segment(105.0, 107.0, 0, fps)]
    assert segs[1].game_time(106.5) == pytest.approx(1.5)
    assert segments([(1.0, 5)], fps) == []


def test_true_events_alternate_draw_and_discard_and_keep_thirteen_tiles():
    game = TableGame(SEATS, 200.0, seed=3)
    for seat in SEATS:
        events = true_events(game, seat)
        kinds = [e.kind for e in events if e.kind != "deal"]
        assert kinds[0::2] == ["draw"] * len(kinds[0::2]) and kinds[1::2] == ["discard"] * len(kinds[1::2])
        assert any(e.kind == "deal" for e in events), "200 s runs the wall out: a new deal"
        for e in events:
            hand = game.hand(seat, e.game_t)
            assert len(hand.concealed) == 13
            if e.kind == "draw":
                assert hand.drawn == e.tile


def _perfect_record(game, seat, start, seconds, shift_s=0.0, wrong_tile=False):
    hands, events = [], []
    for t in sorted(set(game.changes(seat))):
        if t < seconds:
            hand = game.hand(seat, t)
            hands.append((start + t, hand.tiles))
    for e in true_events(game, seat):
        if e.kind != "deal" and e.game_t < seconds:
            tile = "9m" if wrong_tile and e.tile != "9m" else e.tile
            events.append((e.kind, tile, start + e.game_t + shift_s))
    return hands, events


def test_a_record_that_follows_the_game_scores_full_marks_and_a_late_or_wrong_one_does_not():
    game = TableGame(SEATS, 60.0, seed=1)
    segs = [Segment(1000.0, 1059.0, 0, 15)]
    hands, events = _perfect_record(game, "sha", 1000.0, 59.0)
    perfect = score_seat("sha", game, 60.0, segs, hands, events).figures()
    assert perfect["hand_exact"] == 1.0 and perfect["tiles_right"] == 1.0
    assert perfect["draw"]["f1"] == 1.0 and perfect["discard"]["f1"] == 1.0 and perfect["draw"]["true"] >= 6
    assert perfect["event_error_p95_s"] == 0.0
    late = score_seat("sha", game, 60.0, segs, *_perfect_record(game, "sha", 1000.0, 59.0, shift_s=1.5)).figures()
    assert late["draw"]["matched"] == 0 and late["draw"]["f1"] == 0.0
    soon = score_seat("sha", game, 60.0, segs, *_perfect_record(game, "sha", 1000.0, 59.0, shift_s=0.6)).figures()
    assert soon["discard"]["f1"] == 1.0 and soon["event_error_p50_s"] == pytest.approx(0.6, abs=1e-6)
    wrong = score_seat("sha", game, 60.0, segs, *_perfect_record(game, "sha", 1000.0, 59.0, wrong_tile=True)).figures()
    assert wrong["draw"]["precision"] < 0.5
    half = score_seat("sha", game, 60.0, [Segment(1000.0, 1059.0, 0, 15)], hands[: len(hands) // 2], []).figures()
    assert half["hand_exact"] < 0.8 and half["draw"]["recall"] == 0.0


def test_a_second_pass_of_the_loop_counts_its_events_again():
    game = TableGame(SEATS, 30.0, seed=2)
    one = score_seat("ton", game, 30.0, [Segment(0.0, 29.0, 0, 15)], [], []).figures()
    two = score_seat("ton", game, 30.0, [Segment(0.0, 29.0, 0, 15), Segment(30.0, 59.0, 0, 15)], [], []).figures()
    assert two["draw"]["true"] == 2 * one["draw"]["true"] > 0


def test_tiles_right_aligns_a_missed_tile():
    true = list(HAND)
    assert tiles_right(true, true) == 1.0
    assert tiles_right(true[:5] + true[6:], true) == pytest.approx(12 / 13)
    assert tiles_right([], true) == 0.0

"""The game written down as mjai-style JSONL: the hands first seen, then each seat's draws and discards.

mjai (https://github.com/gimite/mjai) is the log format mahjong AIs and viewers read: one JSON
object per line, `start_kyoku` with every seat's 13 tiles, then `tsumo` (a draw) and `dahai` (a
discard) by `actor`, the seat's index. Tiles are mjai's names: `1m`..`9p`..`9s`, honours `E S W
N P F C`, `?` for one not seen. A camera sees no wall, dora or score, so those fields say `?`
or are left out; every event adds `t`, the capture time of the first frame that showed it, and
`seat`. Pure logic: `MjaiLog` turns readings into lines, the sink writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mjray.mahjong.tiles import tile_named

HONOURS = {"1z": "E", "2z": "S", "3z": "W", "4z": "N", "5z": "P", "6z": "F", "7z": "C"}
FROM_MJAI = {v: k for k, v in HONOURS.items()}
UNSEEN = "?"
HANDS_WAIT_S = 10.0  # how long the first deal waits for a seat whose hand is not read yet


def to_mjai(tile: str | None) -> str:
    """'1z' -> 'E', '5p' -> '5p', None -> '?'."""
    return UNSEEN if tile is None else HONOURS.get(tile, tile)


def from_mjai(pai: str) -> str | None:
    """'E' -> '1z', '5pr' (red five) -> '5p', '?' -> None."""
    if pai == UNSEEN:
        return None
    return FROM_MJAI.get(pai, pai[:2])


@dataclass(frozen=True)
class SeenEvent:
    """A draw or discard as a hand reader saw it (the fields `mjray.mahjong.hands.Event` has)."""

    seat: str
    kind: str  # "draw" | "discard"
    tile: str
    at: float  # capture time of the first frame that showed it
    confidence: float = 1.0
    tsumogiri: bool = False  # a discard of the tile just drawn


class MjaiLog:
    """Lines of the log as the seats' readings come in; `start_kyoku` goes first once every seat's
    hand is known (or `HANDS_WAIT_S` after the first one, with `?` for the rest), and events seen
    before it wait for it, so the log always reads in mjai's order."""

    def __init__(self, seats: Sequence[str], hands_wait_s: float = HANDS_WAIT_S) -> None:
        self.seats = list(seats)
        self.actor = {seat: i for i, seat in enumerate(self.seats)}
        self.hands_wait_s = hands_wait_s
        self._first: dict[str, tuple[tuple[str, ...], float]] = {}  # seat -> (13 tiles, seen at)
        self._held: list[SeenEvent] = []
        self._kyoku = 0
        self._started = False

    def begin(self) -> list[dict]:
        return [{"type": "start_game", "names": self.seats}]

    def hand(self, seat: str, tiles: Sequence[str], at: float) -> list[dict]:
        """A seat's stable hand between turns (13 tiles); the first ones open the kyoku."""
        if len(tiles) == 13 and seat not in self._first and not self._started:
            self._first[seat] = (tuple(tiles), at)
        return self._maybe_start(at)

    def deal(self, hands: dict[str, Sequence[str]], at: float) -> list[dict]:
        """A new deal seen at the table: the kyoku ends and the next one starts with these hands."""
        out = [{"type": "end_kyoku"}] if self._started else []
        self._started, self._held = False, []
        self._first = {seat: (tuple(tiles), at) for seat, tiles in hands.items() if len(tiles) == 13}
        return out + self._maybe_start(at)

    def event(self, seen: SeenEvent) -> list[dict]:
        if not self._started:
            self._held.append(seen)
            return self._maybe_start(seen.at)
        return [self._line(seen)]

    def tick(self, now: float) -> list[dict]:
        """Time passing (a capture time): the first deal stops waiting for an unread seat."""
        return self._maybe_start(now)

    def end(self) -> list[dict]:
        """The last lines: the kyoku (started or not) and the game end."""
        out = [] if self._started or not (self._first or self._held) else self._start()
        return out + ([{"type": "end_kyoku"}] if self._started else []) + [{"type": "end_game"}]

    def _maybe_start(self, now: float) -> list[dict]:
        if self._started or not self._first:
            return []
        first_at = min(at for _, at in self._first.values())
        if len(self._first) < len(self.seats) and now - first_at < self.hands_wait_s:
            return []
        return self._start()

    def _start(self) -> list[dict]:
        self._started = True
        tehais = [
            [to_mjai(t) for t in self._first[seat][0]] if seat in self._first else [UNSEEN] * 13 for seat in self.seats
        ]
        at = min((at for _, at in self._first.values()), default=min((e.at for e in self._held), default=0.0))
        start = {
            "type": "start_kyoku",
            "bakaze": "E",
            "kyoku": self._kyoku + 1,
            "honba": 0,
            "kyotaku": 0,
            "oya": 0,
            "dora_marker": UNSEEN,
            "tehais": tehais,
            "t": round(at, 3),
        }
        self._kyoku += 1
        held, self._held = sorted(self._held, key=lambda e: e.at), []
        return [start] + [self._line(e) for e in held]

    def _line(self, seen: SeenEvent) -> dict:
        line = {
            "type": "tsumo" if seen.kind == "draw" else "dahai",
            "actor": self.actor[seen.seat],
            "pai": to_mjai(seen.tile),
        }
        if seen.kind != "draw":
            line["tsumogiri"] = bool(seen.tsumogiri)
        return {**line, "t": round(seen.at, 3), "seat": seen.seat, "confidence": round(float(seen.confidence), 3)}


class TileNames(dict):
    """Class name -> tile in compact names (None for a class that is no tile), each name mapped once,
    when first seen: a run's names are few and fixed, and a new one is still mapped right."""

    def __missing__(self, name: str) -> str | None:
        self[name] = tile = tile_named(name)
        return tile


class GameRecord:
    """Each seat's results in, the log's lines out: the table's hand readers (`mjray.mahjong.table.TableHands`)
    and the mjai log over them. Pure; the game sink writes its lines live, `python -m mjray.sim
    score-game --reread` from a run's detections afterwards."""

    def __init__(self, seats: Sequence[str], **reader_options) -> None:
        from mjray.mahjong.table import TableHands

        self.table = TableHands(seats, **reader_options)
        self.log = MjaiLog(seats)
        self.events = {"draw": 0, "discard": 0}
        self.tile_of = TileNames()

    def begin(self) -> list[dict]:
        return self.log.begin()

    def result(self, seat: str, t: float, boxes, classes: Sequence[str], scores) -> tuple[list[dict], dict | None]:
        """(lines of `game.jsonl`, the line of `hands.jsonl` when the seat's stable hand changed).
        `classes` are the detector's class names, as a result or `detections.jsonl` has them: the
        boxes of a class that is no tile are left out here, so no caller maps names itself."""
        tiles = [self.tile_of[name] for name in classes]
        keep = [i for i, tile in enumerate(tiles) if tile is not None]
        boxes, scores = np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)
        return self._take(self.table.observe(seat, t, boxes[keep], [tiles[i] for i in keep], scores[keep]))

    def gap(self, seat: str, t: float) -> tuple[list[dict], dict | None]:
        return self._take(self.table.gap(seat, t))

    def end(self) -> list[dict]:
        return self.log.end()

    def _take(self, change) -> tuple[list[dict], dict | None]:
        lines = self.log.deal(change.deal, change.at) if change.deal is not None else []
        for event in change.events:
            self.events[event.kind] += 1
            lines += self.log.event(
                SeenEvent(event.seat, event.kind, event.tile, event.at, event.confidence, event.tsumogiri)
            )
        hand, row = change.hand, None
        if hand is not None:
            row = {
                "seat": change.seat,
                "at": round(change.at, 6),
                "tiles": list(hand.concealed),
                "drawn": hand.drawn,
                "confidence": [round(c, 3) for c in hand.confidence],
                "guessed": list(hand.guessed),
                "loose": list(hand.loose),
                "hand": hand.notation(),
                "shanten": hand.shanten(),
            }
            if hand.drawn is None:
                lines += self.log.hand(change.seat, hand.concealed, change.at)
        return lines + self.log.tick(change.at), row

"""The game record as a sink: each seat's hand read from its results as they come, and the game
written down: `game.jsonl` (mjai-style: the hands first seen, draws, discards) and `hands.jsonl`
(each seat's stable hand whenever it changes); the hands go into the grid's captions."""

from __future__ import annotations

import json
import logging
import time

from mjray.frames import Item, Result
from mjray.mahjong.gamelog import GameRecord
from mjray.mahjong.table import tile_labels
from mjray.output.sinks import BaseSink, Sink, SinkContext

log = logging.getLogger(__name__)


class GameSink(BaseSink):
    """`game.jsonl` and `hands.jsonl`, written as the results come (`mjray.mahjong.gamelog.GameRecord`: a hand
    reader per seat and the table's rules over them); each seat's hand also becomes its grid caption."""

    def __init__(self, context: SinkContext) -> None:
        self.names = context.names
        self.at = context.recorded_time or (lambda t: t)
        self.record = GameRecord(context.seats)
        self.captions = context.captions
        self._game = open(context.out_dir / "game.jsonl", "w", buffering=1 << 14)
        self._hands = open(context.out_dir / "hands.jsonl", "w", buffering=1 << 14)
        self._lines(self.record.begin())
        self.results, self.cpu_s, self.failures = 0, 0.0, 0

    def write(self, item: Item, emitted_at: float) -> None:
        started = time.process_time()
        try:
            self._read(item)
        except Exception:  # a reader's bug costs the game record that result, never the run
            self.failures += 1
            if self.failures == 1:
                log.exception("game record: reading %s #%d failed; going on (said once)", item.seat, item.seq)
        self.cpu_s += time.process_time() - started

    def _read(self, item: Item) -> None:
        if isinstance(item, Result):
            d = item.detections
            lines, hand = self.record.result(
                item.seat,
                self.at(item.frame.captured_at),
                d.xyxy,
                [self.names.get(int(c), "") for c in d.class_id],
                d.confidence,
            )
            self.results += 1
        elif item.captured_at is not None:
            lines, hand = self.record.gap(item.seat, self.at(item.captured_at))
        else:
            return
        self._lines(lines)
        if hand is not None:
            self._hands.write(json.dumps(hand) + "\n")
            self.captions[item.seat] = f"{hand['hand']} ({hand['shanten']} sh)"

    def _lines(self, lines: list[dict]) -> None:
        for line in lines:
            self._game.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self._lines(self.record.end())
        self._game.close()
        self._hands.close()
        if self.results:
            log.info(
                "game record: %d draws, %d discards; hand reading %.3f ms of CPU per result%s",
                self.record.events["draw"],
                self.record.events["discard"],
                1000 * self.cpu_s / self.results,
                f"; {self.failures} results failed to read" if self.failures else "",
            )


def game_sink(context: SinkContext) -> Sink:
    """The game record, when the model's classes are mahjong tiles."""
    if not tile_labels(context.names):
        log.info("no game record (plugins.mahjong.game): the model's classes are not mahjong tiles")
        return BaseSink()
    return GameSink(context)

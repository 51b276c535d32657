"""The test bed's clock beside a run's: the frame markers of its results, read as it runs.

A sink of the run (`sim.markers`, on by default where it watches the embedded table): one
result's marker per seat per second, into `sim_frames.jsonl`, for `python -m mjray.sim
score-game` (`mjray.sim.game_score`). It imports nothing of the mahjong plug-in, so a run of
another model on the test bed loads none of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mjray.frames import Result
from mjray.output.sinks import BaseSink
from mjray.sim import marker

ANCHORS_FILE = "sim_frames.jsonl"
ANCHOR_EVERY_S = 1.0  # one marker read per seat per second of capture time


class MarkerAnchors(BaseSink):
    """A sink that reads the frame marker of one result per seat per `ANCHOR_EVERY_S` into
    `sim_frames.jsonl`: the test bed's clock beside the run's, for scoring afterwards."""

    def __init__(self, path: Path, fetch, every_s: float = ANCHOR_EVERY_S) -> None:
        self.fetch, self.every_s = fetch, every_s
        self._file = open(path, "w", buffering=1)
        self._last: dict[str, float] = {}

    def write(self, item, emitted_at: float) -> None:
        if not isinstance(item, Result):
            return
        frame = item.frame
        if frame.captured_at - self._last.get(item.seat, -np.inf) < self.every_s:
            return
        image = self.fetch([item])[0]
        found = None if image is None else marker.read(image).marker
        if found is None:  # lost with its camera, or a damaged picture: the next result tries again
            return
        self._last[item.seat] = frame.captured_at
        self._file.write(
            json.dumps(
                {"seat": item.seat, "seq": item.seq, "captured_at": round(frame.captured_at, 6), "frame": found.index}
            )
            + "\n"
        )

    def close(self) -> None:
        self._file.close()

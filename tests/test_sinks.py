"""Outputs: which sinks the display settings turn on, and what the JSONL line of each item holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mjray.config import DisplayConfig
from mjray.frames import Detections, Frame, Gap, GapReason, Result
from mjray.sinks import JsonlSink, wanted_sinks, wants_pixels


@pytest.mark.parametrize("display, screen, expected", [
    (DisplayConfig(), False, ["detections", "game", "video"]),
    (DisplayConfig(), True, ["detections", "game", "window"]),
    (DisplayConfig(mode="files", video=False, game=False), True, ["detections"]),
    (DisplayConfig(mode="window", detections=False), False, ["game", "window"]),
    (DisplayConfig(mode="none"), True, []),
])
def test_the_display_settings_pick_the_outputs(display, screen, expected):
    assert wanted_sinks(display, screen) == expected
    assert wants_pixels(expected) == ("video" in expected or "window" in expected), "pictures need the pixels' refs"


def test_jsonl_lines_carry_the_recorded_capture_times_of_a_replay_and_a_failed_frames_error(tmp_path):
    shift = 1000.0  # a replay's clock runs this far ahead of the recorded one
    frame = Frame("ton", 7, 5000.5, "rtcp", 42000, 5000.52, 64, 48, instant=5000.49)
    found = Detections(np.array([[30, 1, 40, 9], [10, 2, 20, 8]], np.float32), np.array([0.9, 0.8], np.float32),
                       np.array([1, 0], np.int32))
    sink = JsonlSink(tmp_path / "d.jsonl", {0: "1m", 1: "2m"}, recorded_time=lambda t: t - shift)
    sink.write(Result(frame, found, 12.3, "detector:shared:0", 5000.6), emitted_at=5000.7)
    sink.write(Gap("ton", 8, GapReason.FAILED, 5000.566, error="RuntimeError: boom"), emitted_at=5000.8)
    sink.write(Gap("ton", 9, GapReason.TIMEOUT), emitted_at=5000.9)
    sink.close()
    result, failed, timeout = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert result["captured_at"] == 4000.5 and result["instant"] == 4000.49 and result["pts"] == 42000
    assert result["classes"] == ["1m", "2m"] and result["boxes"][0] == [10.0, 2.0, 20.0, 8.0], "left to right"
    assert failed == {"seat": "ton", "seq": 8, "gap": "failed", "captured_at": 4000.566, "emitted_at": 5000.8,
                      "error": "RuntimeError: boom"}
    assert timeout["gap"] == "timeout" and timeout["captured_at"] is None

"""Outputs: which sinks the display settings turn on, and what the JSONL line of each item holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mjray.config import AppConfig, CameraConfig, DisplayConfig, SimConfig, WebConfig
from mjray.frames import Detections, Frame, Gap, GapReason, Result
from mjray.order.sync import Moment
from mjray.output.sinks import GridSink, GridVideoSink, JsonlSink, SinkContext, sink_table, wanted_sinks, wants_pixels

MAHJONG = {"mahjong": {"module": "mjray.mahjong", "game": True}}
NO_GAME = {"mahjong": {"module": "mjray.mahjong", "game": False}}


@pytest.mark.parametrize(
    "display, plugins, screen, expected",
    [
        (DisplayConfig(), MAHJONG, False, ["detections", "video", "game"]),
        (DisplayConfig(), MAHJONG, True, ["detections", "window", "game"]),
        (DisplayConfig(mode="files", video=False), NO_GAME, True, ["detections"]),
        (DisplayConfig(mode="window", detections=False), MAHJONG, False, ["window", "game"]),
        (DisplayConfig(), {}, False, ["detections", "video"]),  # no plug-in: the engine's own outputs
        (DisplayConfig(mode="none"), MAHJONG, True, []),
    ],
)
def test_the_display_settings_and_plugins_pick_the_outputs(display, plugins, screen, expected):
    table = sink_table(plugins)
    cfg = AppConfig(display=display, sim=SimConfig(markers=False))
    assert wanted_sinks(cfg, screen, table) == expected
    assert wants_pixels(expected, table) == ("video" in expected or "window" in expected), (
        "pictures need the cameras to keep pixels"
    )


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({}, ["detections", "video", "game", "markers"]),  # the embedded table: its frame markers read
        ({"cameras": [CameraConfig("ton", "rtsp://cam/1")]}, ["detections", "video", "game"]),
        ({"sim": SimConfig(markers=False)}, ["detections", "video", "game"]),
        ({"web": WebConfig(port=8080), "sim": SimConfig(markers=False)}, ["detections", "video", "game", "web"]),
        ({"web": WebConfig(port=0), "display": DisplayConfig(mode="none")}, ["markers", "web"]),
    ],
)
def test_the_web_view_and_the_test_beds_markers_are_outputs_of_the_table_too_after_the_plugins(settings, expected):
    table = sink_table(MAHJONG)
    assert wanted_sinks(AppConfig(**settings), False, table) == expected
    assert wants_pixels(["web"], table) and wants_pixels(["markers"], table), "both read the frames' pixels"


def test_jsonl_lines_carry_the_recorded_capture_times_of_a_replay_and_a_failed_frames_error(tmp_path):
    shift = 1000.0  # a replay's clock runs this far ahead of the recorded one
    frame = Frame("ton", 7, 5000.5, "rtcp", 42000, 5000.52, 64, 48, instant=5000.49)
    found = Detections(
        np.array([[30, 1, 40, 9], [10, 2, 20, 8]], np.float32),
        np.array([0.9, 0.8], np.float32),
        np.array([1, 0], np.int32),
    )
    sink = JsonlSink(tmp_path / "d.jsonl", {0: "1m", 1: "2m"}, recorded_time=lambda t: t - shift)
    sink.write(Result(frame, found, 12.3, "detector:shared:0", 5000.6), emitted_at=5000.7)
    sink.write(Gap("ton", 8, GapReason.FAILED, 5000.566, error="RuntimeError: boom"), emitted_at=5000.8)
    sink.write(Gap("ton", 9, GapReason.TIMEOUT), emitted_at=5000.9)
    sink.close()
    result, failed, timeout = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert result["captured_at"] == 4000.5 and result["instant"] == 4000.49 and result["pts"] == 42000
    assert result["classes"] == ["1m", "2m"] and result["boxes"][0] == [10.0, 2.0, 20.0, 8.0], "left to right"
    assert failed == {
        "seat": "ton",
        "seq": 8,
        "gap": "failed",
        "captured_at": 4000.566,
        "emitted_at": 5000.8,
        "error": "RuntimeError: boom",
    }
    assert timeout["gap"] == "timeout" and timeout["captured_at"] is None


class Pictures(GridSink):
    def present(self, picture, moments):
        self.shown.append(picture)

    def hold(self, moments):
        self.held += moments


def test_the_grid_asks_for_each_seats_pixels_once_and_keeps_a_picture_its_camera_no_longer_has(tmp_path):
    asked: list[tuple[str, int]] = []

    def fetch(items):
        asked.extend((i.seat, i.seq) for i in items)
        return [None if i.seq == 2 else np.full((36, 64, 3), 40 * i.seq, np.uint8) for i in items]

    sink = Pictures(SinkContext(tmp_path, ("ton", "nan"), {0: "1m"}, fetch, DisplayConfig(tile_width=64)))
    sink.shown, sink.held = [], 0
    item = {
        (seat, seq): Result(
            Frame(seat, seq, 10.0 + seq, "rtcp", seq, 10.0 + seq, 64, 36), Detections.empty(), 1.0, "w", 11.0 + seq
        )
        for seat in ("ton", "nan")
        for seq in range(3)
    }
    for at, (ton, nan) in enumerate([(0, None), (0, 0), (1, 0), (2, 0)]):
        sink.show(
            [
                Moment(
                    10.0 + at,
                    {"ton": item[("ton", ton)], "nan": item[("nan", nan)] if nan is not None else None},
                    {"ton": 10.0 + ton, "nan": None if nan is None else 10.0 + nan},
                )
            ]
        )
    assert asked == [("ton", 0), ("nan", 0), ("ton", 1), ("ton", 2)], "a picture shown again is not asked for again"
    # the last moment's only new picture is one its camera no longer has: the grid as it was stands
    assert len(sink.shown) == 3 and sink.held == 1, "a seat keeps its last picture"
    assert not np.array_equal(sink.shown[2], sink.shown[1])
    # nan's next picture: ton's cell is still the picture of its seq 1, which its camera let go of
    sink.show([Moment(14.0, {"ton": item[("ton", 2)], "nan": item[("nan", 1)]}, {"ton": 12.0, "nan": 11.0})])
    ton, nan = (slice(None), slice(0, 64)), (slice(None), slice(64, 128))
    assert len(sink.shown) == 4 and np.array_equal(sink.shown[3][ton], sink.shown[2][ton])
    assert not np.array_equal(sink.shown[3][nan], sink.shown[2][nan])


def moment(at: float, seqs: dict[str, int]) -> Moment:
    items = {
        seat: Result(Frame(seat, seq, at, "rtcp", seq, at, 64, 36), Detections.empty(), 1.0, "w", at + 1)
        for seat, seq in seqs.items()
    }
    return Moment(at, items, {seat: at for seat in seqs})


def test_the_grid_video_encodes_a_picture_once_and_keeps_the_clock_of_its_moments(tmp_path):
    """Moments that show nothing new cost no encoding: the picture before lasts through them, in a
    video as long as the run."""
    import av

    def fetch(items):
        return [np.full((36, 64, 3), 30 * i.seq, np.uint8) for i in items]

    sink = GridVideoSink(SinkContext(tmp_path, ("ton", "nan"), {0: "1m"}, fetch, DisplayConfig(tile_width=64, fps=15)))
    # (ton's seq, nan's seq) moment by moment: new pictures at moments 0, 3 and 4, then nothing new
    seqs = [(0, 0), (0, 0), (0, 0), (1, 0), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]
    for at, (ton, nan) in enumerate(seqs):
        sink.show([moment(float(at), {"ton": ton, "nan": nan})])
    sink.close()
    assert sink.encoded == 4 and sink.frames == len(seqs)  # three changes, and the last picture at the end
    with av.open(str(tmp_path / "grid.mp4")) as video:
        frames = list(video.decode(video=0))
        stream = video.streams.video[0]
        pts = [round(float(f.pts * stream.time_base) * 15) for f in frames]
        assert pts == [0, 3, 4, 9], "each picture at its moment, the last one at the run's end"
        pictures = [f.to_ndarray(format="bgr24") for f in frames]

    def apart(a, b):  # (H.264 is lossy: the same picture decodes a level or two off)
        return np.abs(a.astype(int) - b).mean()

    assert apart(pictures[2], pictures[3]) < 2 and apart(pictures[1], pictures[2]) > 5

"""Recording and replay without Ray: packets remuxed as received, read back with their capture
times, released at the recorded pace, pixels equal to a direct decode."""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mjray.camera.recording import Recording, RecordingError, SeatRecorder, start_recording
from mjray.camera.sources import ReplayClock, ReplaySource, SourceState
from mjray.camera.timeline import MissingFrames

FPS = 15
STEP = 80_000  # one frame interval in a raw H.264 stream's clock (1/1200000 s)


@pytest.fixture(scope="module")
def h264(tmp_path_factory) -> Path:
    """45 frames of a moving gradient as raw H.264, a keyframe every 15 frames (what a camera sends)."""
    path = tmp_path_factory.mktemp("h264") / "camera.264"
    with av.open(str(path), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"g": "15", "bf": "0", "preset": "ultrafast"}
        for i in range(45):
            image = np.zeros((96, 128, 3), np.uint8)
            image[:, :, 1] = (np.arange(128)[None, :] + 5 * i) % 256
            image[10:20, (2 * i) % 100 : (2 * i) % 100 + 10] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def record(h264: Path, folder: Path, seats=("ton",), t0: float = 1_700_000_000.0, connections: int = 1) -> Path:
    """Write `h264` as each seat's stream, as RtspSource does: packet by packet, capture time beside."""
    recording = start_recording(folder / "recording", list(seats), "stream:\n  policy: every\n")
    for s, seat in enumerate(seats):
        recorder = SeatRecorder(recording / seat)
        for c in range(connections):
            with av.open(str(h264), format="h264") as source:
                stream = source.streams.video[0]
                segment = recorder.open(stream)
                assert stream.time_base * STEP == Fraction(1, FPS)
                for i, packet in enumerate(source.demux(stream)):
                    if packet.size:
                        packet.pts = packet.dts = i * STEP  # the stream's own clock, as a camera numbers them
                        packet.time_base = stream.time_base
                        segment.write(packet, t0 + c * 10 + i / FPS + s * 0.01, "rtcp")
        recorder.close()
    return folder


def direct_decode(h264: Path) -> list[np.ndarray]:
    with av.open(str(h264), format="h264") as source:
        return [f.to_ndarray(format="bgr24") for f in source.decode(video=0)]


def replay(folder: Path, seat: str, speed: float | None, start_at: float | None = None):
    recording = Recording(folder)
    source = ReplaySource(str(recording.folder), seat, speed, recording.first_capture())
    state = SourceState()
    start_at = time.time() if start_at is None else start_at
    items = [(d, time.time()) for d in source.frames(threading.Event(), state, start_at)]
    frames = [(d, at) for d, at in items if not isinstance(d, MissingFrames)]
    replay.missing = [d for d, _ in items if isinstance(d, MissingFrames)]
    return frames, state, start_at, recording


def test_a_replay_gives_every_recorded_frame_with_its_pixels_capture_time_and_stream_pts(h264, tmp_path):
    t0 = 1_700_000_000.0
    record(h264, tmp_path, t0=t0)
    frames, state, start_at, recording = replay(tmp_path, "ton", speed=None)
    assert state.status == "ended"
    expected = direct_decode(h264)
    assert len(frames) == len(expected) == 45
    for i, ((decoded, _), pixels) in enumerate(zip(frames, expected)):
        assert np.array_equal(decoded.picture.to_ndarray(format="bgr24"), pixels), f"frame {i} differs"
        assert decoded.pts == i * STEP, "the stream's own pts, not the file's"
        assert decoded.clock == "rtcp"
        # on the replay's clock, and back on the recorded one
        clock = ReplayClock(start_at, recording.first_capture(), None)
        assert clock.recorded(decoded.captured_at) == pytest.approx(t0 + i / FPS, abs=1e-5)


@pytest.mark.parametrize("speed", [pytest.param(1.0, marks=pytest.mark.slow), 3.0])
def test_a_replay_keeps_the_recorded_pace_and_stamps_frames_when_it_releases_them(h264, tmp_path, speed):
    t0 = 1_700_000_000.0
    record(h264, tmp_path, t0=t0)
    frames, _, start_at, recording = replay(tmp_path, "ton", speed=speed)
    due = [start_at + i / FPS / speed for i in range(45)]
    late = [released - at for (_, released), at in zip(frames, due)]
    assert max(abs(x) for x in late) < 0.05, f"released off the recorded pace by up to {max(late):.3f} s"
    # stamped on the replay's clock, as a live camera stamps: capture time is when it is released
    assert [d.captured_at for d, _ in frames] == pytest.approx(due, abs=1e-5)
    clock = ReplayClock(start_at, recording.first_capture(), speed)
    assert [clock.recorded(d.captured_at) for d, _ in frames] == pytest.approx(
        [t0 + i / FPS for i in range(45)], abs=1e-5
    )


def test_each_connection_is_a_segment_and_a_replay_plays_them_in_order(h264, tmp_path):
    record(h264, tmp_path, connections=2)
    recording = Recording(tmp_path)
    assert [s.video.name for s in recording.segments["ton"]] == ["000.mkv", "001.mkv"]
    frames, _, start_at, _ = replay(tmp_path, "ton", speed=None)
    times = [d.captured_at for d, _ in frames]
    assert len(frames) == 90 and times == sorted(times)
    assert times[45] - times[44] == pytest.approx(10 - 44 / FPS, abs=1e-5), "the outage between connections is kept"
    (outage,) = replay.missing  # counted as live counted it: the frames due while the camera was away
    assert outage.reason == "offline" and outage.count == round((10 - 44 / FPS) * FPS) - 1


def test_seats_share_one_time_zero_so_they_stay_as_aligned_as_recorded(h264, tmp_path):
    record(h264, tmp_path, seats=("ton", "nan"))
    ton, _, start_at, _ = replay(tmp_path, "ton", speed=None)
    nan, _, _, _ = replay(tmp_path, "nan", speed=None, start_at=start_at)
    assert [b.captured_at - a.captured_at for (a, _), (b, _) in zip(ton, nan)] == pytest.approx([0.01] * 45, abs=1e-5)


def test_a_recording_cut_off_by_a_kill_replays_up_to_its_last_whole_line(h264, tmp_path):
    record(h264, tmp_path)
    times = tmp_path / "recording" / "ton" / "000.packets.jsonl"
    lines = times.read_text().splitlines()
    times.write_text("\n".join(lines[:30]) + "\n" + lines[30][:17])  # a line half written
    frames, state, _, _ = replay(tmp_path, "ton", speed=None)
    assert state.status == "ended" and len(frames) == 30
    assert [d.pts for d, _ in frames] == [i * STEP for i in range(30)]


def test_a_segment_its_writer_never_closed_replays_up_to_its_last_second(h264, tmp_path):
    """A killed camera actor closes nothing: what reached the disk must still play."""
    recording = start_recording(tmp_path / "recording", ["ton"], "")
    recorder = SeatRecorder(recording / "ton", flush_every_s=0.2)
    with av.open(str(h264), format="h264") as source:
        stream = source.streams.video[0]
        segment = recorder.open(stream)
        step = int(1 / FPS / stream.time_base)  # one frame interval in the stream's clock
        for i, packet in enumerate(source.demux(stream)):
            if packet.size:
                packet.pts = packet.dts = i * step
                packet.time_base = stream.time_base
                segment.write(packet, 1_700_000_000.0 + i / FPS, "rtcp")
                time.sleep(0.02)  # 45 packets over about a second: a few flushes of both files
    copy = tmp_path / "killed"
    (copy / "recording" / "ton").mkdir(parents=True)
    for f in (recording / "manifest.json", recording / "ton" / "000.mkv", recording / "ton" / "000.packets.jsonl"):
        (copy / f.relative_to(tmp_path)).write_bytes(f.read_bytes())  # the files as a kill leaves them
    segment.close()
    frames, state, _, _ = replay(copy, "ton", speed=None)
    assert state.status == "ended" and 25 <= len(frames) < 45, len(frames)
    assert [d.pts for d, _ in frames] == [i * step for i in range(len(frames))]


def test_a_connection_that_brought_nothing_leaves_no_segment(h264, tmp_path):
    recorder = SeatRecorder(tmp_path / "ton")
    with av.open(str(h264), format="h264") as source:
        recorder.open(source.streams.video[0])
        recorder.close()
    assert list((tmp_path / "ton").iterdir()) == [] and recorder.segments == 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda folder: None, "no recording in"),
        (
            lambda folder: (folder / "recording").mkdir() or (folder / "recording" / "manifest.json").write_text("{"),
            "not valid JSON",
        ),
        (
            lambda folder: (
                (folder / "recording").mkdir()
                or (folder / "recording" / "manifest.json").write_text(json.dumps({"format": 99, "seats": ["ton"]}))
            ),
            "format 99",
        ),
        (lambda folder: start_recording(folder / "recording", ["ton"], ""), "holds no recorded video"),
    ],
)
def test_a_folder_that_is_not_a_recording_says_what_is_missing(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(RecordingError, match=message):
        Recording(tmp_path)


def test_a_recording_is_never_overwritten(tmp_path):
    start_recording(tmp_path / "recording", ["ton"], "")
    with pytest.raises(RecordingError, match="already holds a recording"):
        start_recording(tmp_path / "recording", ["ton"], "")

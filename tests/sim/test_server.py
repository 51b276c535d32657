"""The test bed end to end: real renders, the real GStreamer RTSP server, a plain PyAV client."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time

import av
import psutil
import pytest

from mjray.sim.verify import TileMatcher
from tests import rtsp_client

pytestmark = pytest.mark.slow


def read_all(urls: dict[str, str], **kwargs) -> dict[str, rtsp_client.Received]:
    """Read every URL at once, one thread each, as a multi-camera client would."""
    results: dict[str, rtsp_client.Received] = {}
    errors: list[BaseException] = []

    def run(seat: str, url: str) -> None:
        try:
            results[seat] = rtsp_client.read(url, **kwargs)
        except BaseException as error:  # surfaced below with the seat's name
            errors.append(error)

    threads = [threading.Thread(target=run, args=item) for item in urls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def read_in_background(url: str, seconds: float) -> tuple[threading.Thread, dict]:
    """Start a reader thread; the dict gets `frames` or `error`, and `after` (seconds it took)."""
    outcome: dict = {}

    def reader():
        started = time.monotonic()
        try:
            outcome["frames"] = len(rtsp_client.read(url, seconds=seconds).markers)
        except av.error.FFmpegError as error:
            outcome["error"] = error
        outcome["after"] = time.monotonic() - started

    thread = threading.Thread(target=reader)
    thread.start()
    return thread, outcome


def test_four_720p_cameras_for_a_minute_lose_nothing(table_720, serve):
    spec = table_720.spec
    server = serve(table_720)
    process = psutil.Process(server.pid)
    process.cpu_percent()
    got = read_all(server.urls, seconds=60.0)
    server_cpu = process.cpu_percent()  # percent of one core over the minute
    print(f"\nRTSP server serving 4 x {spec.width}x{spec.height} at {spec.fps} fps: {server_cpu:.1f} % of one core")

    for seat_index, seat in enumerate(spec.seats):
        received = got[seat]
        readings = received.markers
        assert len(readings) >= 60 * spec.fps - spec.fps, f"{seat}: only {len(readings)} frames in 60 s"
        assert all(r.marker is not None for r in readings), f"{seat}: unreadable marker"
        indices = [r.marker.index for r in readings]
        assert {r.marker.seat for r in readings} == {seat_index}, f"{seat}: another seat's frames"
        steps = [(b - a) % spec.frames for a, b in zip(indices, indices[1:])]
        assert steps == [1] * len(steps), (
            f"{seat}: frames lost or repeated at {[i for i, s in enumerate(steps) if s != 1][:5]}"
        )
        pts = [p for p in received.pts if p is not None]
        assert len(pts) >= len(received.pts) - 1  # only the very first frame may lack a pts
        assert all(b - a == 90_000 // spec.fps for a, b in zip(pts, pts[1:])), f"{seat}: pts not monotonic at 1/fps"
        assert received.start_time_realtime is not None, f"{seat}: no RTCP wall clock"
        span = received.arrived[-1] - received.arrived[0]
        assert abs(len(readings) - 1 - span * spec.fps) < spec.fps, f"{seat}: not paced in real time"
    assert server_cpu < 50, "serving must leave the cores to mjray"


@pytest.mark.parametrize("size", ["360", "720"])
def test_truth_matches_frames_read_over_rtsp(request, size, serve):
    table = request.getfixturevalue(f"table_{size}")
    spec = table.spec
    rng = random.Random(size)
    keep = set(rng.sample(range(3 * spec.fps, 7 * spec.fps), 20))  # 20 random frames per seat
    server = serve(table)
    got = read_all(server.urls, frames=7 * spec.fps + 1, keep=keep)
    matcher = TileMatcher()
    checked, wrong = 0, []
    for seat in spec.seats:
        truth = table.load_truth(seat)
        images = got[seat].images
        assert set(images) == keep, f"{seat}: missing frames {sorted(keep - set(images))}"
        for index, image in images.items():
            checked += 1
            for box in truth[index]:
                seen = matcher.read(image, box.box)
                if seen != box.tile:
                    wrong.append((seat, index, box.tile, seen))
    assert checked >= 50
    assert wrong == [], f"{len(wrong)} tiles differ from the ground truth, e.g. {wrong[:5]}"


def test_killed_server_ends_the_stream_and_a_restart_serves_again(table_360, serve):
    server = serve(table_360)
    url = server.urls["ton"]
    assert len(rtsp_client.read(url, frames=10).markers) == 10

    thread, ended = read_in_background(url, seconds=30)
    time.sleep(2.0)
    server.kill()
    thread.join(timeout=20)
    assert not thread.is_alive(), "a reader of a killed camera must not hang"
    assert ended["after"] < 15

    server.start()  # same port, same URLs
    again = rtsp_client.read(url, frames=20)
    assert all(r.marker is not None and r.marker.seat == 0 for r in again.markers)


def test_frozen_server_makes_readers_time_out(table_360, serve):
    """A camera that hangs with its socket open must end a read with an error, not block it."""
    server = serve(table_360)
    url = server.urls["nan"]
    thread, outcome = read_in_background(url, seconds=40)
    time.sleep(3.0)
    server.freeze()
    try:
        thread.join(timeout=25)
        assert not thread.is_alive(), "a reader of a frozen camera must not hang"
        assert isinstance(outcome.get("error"), av.error.TimeoutError), outcome
        assert outcome["after"] < 15
        started = time.monotonic()
        with pytest.raises(av.error.FFmpegError):  # opening a frozen camera fails too
            rtsp_client.read(url, frames=5)
        assert time.monotonic() - started < 15
    finally:
        server.thaw()
    assert len(rtsp_client.read(url, frames=5).markers) == 5


def test_cli_serves_until_interrupted(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "mjray.sim",
        "serve",
        "--seats",
        "2",
        "--size",
        "640x360",
        "--seconds",
        "4",
        "--port",
        "0",
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        urls, lines = {}, []
        deadline = time.monotonic() + 120
        while len(urls) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.match(r"\s+(\w+)\s+(rtsp://127\.0\.0\.1:\d+/\w+)", line)
            if found:
                urls[found[1]] = found[2]
        assert set(urls) == {"ton", "nan"}, "".join(lines)
        for seat_index, seat in enumerate(("ton", "nan")):
            got = rtsp_client.read(urls[seat], frames=10)
            assert [r.marker.seat for r in got.markers] == [seat_index] * 10
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()


def test_cli_names_the_bad_setting():
    result = subprocess.run(
        [sys.executable, "-m", "mjray.sim", "render", "--size", "1280by720"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "1280by720" in result.stderr and "WIDTHxHEIGHT" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "mjray.sim", "render", "--seats", "9"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--seats" in result.stderr

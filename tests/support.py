"""Helpers the tests share (test files import them from here, never from one another): running
`python -m mjray.main`, a local Ray and a pipeline driven through mjray's driver loop, the web
view's requests and Prometheus scrapes, the rounds of an aligned run worth judging; for the hand
reader's pure parts, tiles held a while and a row read on known places."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray
from prometheus_client.parser import text_string_to_metric_families

from mjray.cluster import stages
from mjray.cluster.pipeline import Pipeline
from mjray.config import CameraConfig
from mjray.mahjong.places import HandPlaces
from mjray.mahjong.rows import Reading, TileRead
from mjray.mahjong.tiles import SUITS
from mjray.mahjong.votes import Track
from mjray.output.driver import Driver
from mjray.output.sinks import BaseSink


def steady_rounds(members_by_instant: dict[float, set[str]], seats) -> list[set[str]]:
    """The rounds from the first one that holds every seat, less the last two."""
    ordered = [members for _, members in sorted(members_by_instant.items())]
    print("seats per round:", "".join(str(len(members)) for members in ordered))
    first = next((i for i, members in enumerate(ordered) if members == set(seats)), len(ordered))
    assert first < len(ordered) / 4, f"the seats took {first} of {len(ordered)} rounds to share one"
    return ordered[first:-2]


def drive_sharing(pipeline: Pipeline, seconds: float) -> tuple[dict[str, list], float]:
    """`drive`, and the share of the box's cores the detectors spent in forward passes meanwhile:
    how well the pipeline kept the model fed, whatever one forward pass costs on this box (a count
    of frames inferred bounds the box's speed: the project's CI box, 2026-12-07, inferred half
    what ours does, its detectors' whole lives 0.45 of its cores in forward passes against our
    0.64). The ONNX runtime's forward pass is clocked on its one thread where a detector has one
    (a shared worker on a 2-core box); on more, by its process, which counts its other threads too."""
    before = pipeline.stage_costs()["detectors"]
    started = time.monotonic()
    got = drive(pipeline, seconds)
    elapsed = time.monotonic() - started
    after = stages.total([d.stages for d in pipeline.detector_stats])
    forward = stages.since(before, after).get("forward pass")
    assert forward is not None, f"the detectors clocked no forward pass: {after}"
    return got, forward["s"] / (len(os.sched_getaffinity(0)) * elapsed)


def mjray_main(*overrides: str, cwd: Path, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "mjray.main", *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@contextlib.contextmanager
def running_main(*overrides: str, cwd: Path):
    """`python -m mjray.main` started; yields (process, its output lines so far) once it says
    it is running (fails at once if it exits first); killed after if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mjray.main", *overrides],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not any("running for" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.2)
        yield process, lines
        process.wait(timeout=180)
        reader.join(10)
    finally:
        if process.poll() is None:
            process.kill()


def ordered_seats(out: Path) -> dict[str, int]:
    """seat -> frames emitted, checked in sequence, each once, all the camera decoded."""
    summary = json.loads((out / "summary.json").read_text())
    by_seat = defaultdict(list)
    for line in (out / "detections.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_seat[record["seat"]].append(record["seq"])
    for seat in summary["seats"]:
        assert by_seat[seat["seat"]] == list(range(seat["emitted"])) and seat["emitted"] == seat["decoded"] > 0, seat
    return {seat["seat"]: seat["emitted"] for seat in summary["seats"]}


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # git-ignored; kept after the run


def get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


SEATS = ("ton", "nan", "sha", "pei")


COUNTERS = ("ray_mjray_frames_decoded_total", "ray_mjray_frames_inferred_total", "ray_mjray_emitted_total")


PER_SEAT = COUNTERS + (
    "ray_mjray_latency_ms_count",
    "ray_mjray_inference_ms_count",
    "ray_mjray_frame_age_ms_count",
    "ray_mjray_camera_up",
    "ray_mjray_reorder_waiting",
    "ray_mjray_actor_restarts",
)


def scrape(port: int) -> dict[str, dict[str, float]]:
    """sample name -> seat -> value summed over its other labels (workers, processes, reasons)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ray_mjray_") and "seat" in sample.labels:
                out[sample.name][sample.labels["seat"]] += sample.value
    return out


def check_series(first: dict, second: dict, lines: list[str], run_dir: Path) -> None:
    """Two scrapes of a running table (>= 10 s apart: Ray exports every 10 s), its output and its
    run folder: every seat's series, counters rising, the actors' log lines with their names."""
    for name in PER_SEAT:
        assert set(second[name]) >= set(SEATS), f"{name}: series for {sorted(second[name])}, not every seat"
    for name in COUNTERS:
        for seat in SEATS:
            print(name, seat, first[name][seat], "->", second[name][seat])
            assert second[name][seat] > first[name][seat] > 0, f"{name}{{seat={seat}}} did not rise"
    assert all(second["ray_mjray_camera_up"][seat] == 1 for seat in SEATS)
    assert all(second["ray_mjray_actor_restarts"][seat] == 0 for seat in SEATS)
    run_log = "".join(path.read_text() for path in run_dir.glob("outputs/*/*/main.log"))
    for seat in SEATS:
        said = f"[camera:{seat}] mjray.camera.sources: camera {seat} "
        assert any(said in line for line in lines) and said in run_log, f"no log line of camera:{seat}"


@contextlib.contextmanager
def local_ray(dashboard: bool = False, **kwargs):
    """A fresh local Ray; the dashboard (which serves `ray list actors`) only where a test reads it."""
    ray.init(include_dashboard=dashboard, namespace=f"test-{time.time_ns()}", **kwargs)
    try:
        yield
    finally:
        ray.shutdown()


def cameras_for(server, seats=None) -> list[CameraConfig]:
    return [CameraConfig(seat, url) for seat, url in server.urls.items() if seats is None or seat in seats]


class Collect(BaseSink):
    """A sink keeping every item per seat, in emission order."""

    def __init__(self):
        self.got: dict[str, list] = defaultdict(list)

    def write(self, item, emitted_at):
        self.got[item.seat].append(item)


def drive(pipeline: Pipeline, seconds: float, sink=None, every_s: float = 10.0, on_tick=None) -> dict[str, list]:
    """Run a started pipeline through mjray's driver loop for `seconds`, then stop it; every item
    per seat, in emission order (or what `sink` kept)."""
    collect = sink or Collect()
    driver = Driver(pipeline, [collect])
    started = time.monotonic()
    next_tick = [started + every_s]

    def tick():
        if on_tick and time.monotonic() >= next_tick[0]:
            next_tick[0] += every_s
            on_tick(time.monotonic() - started)

    driver.run(seconds, stop=lambda: tick())
    pipeline.final = driver.finish()
    pipeline.tallies = driver.tallies
    return getattr(collect, "got", {})


# the hand reader's pure parts

HAND = ("1m", "2m", "3m", "5p", "5p", "7p", "8p", "9p", "3s", "4s", "6s", "1z", "1z")
PITCH, X0 = 40.0, 100.0  # pixels between tiles, and place 0's centre, in `row`'s readings


def held(labels: Sequence[str] = HAND) -> list[Track]:
    """Tiles held a while: each read as its label five times."""
    tracks = []
    for label in labels:
        track = Track(window=48)
        for _ in range(5):
            track.vote(label, 0.9, margin=1.0)
        tracks.append(track)
    return tracks


def row(kinds: Sequence[str | None], first: int = 0, drawn: tuple[str, float] | None = None) -> Reading:
    """A reading of `kinds` on places first, first + 1, ... (None: a tile missed there), and a drawn
    tile (kind, place) apart."""
    reads = tuple(TileRead(kind, 0.9, p, X0 + (first + p) * PITCH) for p, kind in enumerate(kinds) if kind is not None)
    apart = None
    if drawn is not None:
        apart = TileRead(drawn[0], 0.9, round(drawn[1]) - first, X0 + drawn[1] * PITCH)
    return Reading(reads, apart, PITCH, X0 + first * PITCH, drawn_at=(drawn[1] - first) if drawn else 0.0)


def placed(kinds: Sequence[str] = HAND) -> HandPlaces:
    """The 13 places known, from two whole readings of `kinds` at `row`'s places."""
    places = HandPlaces(confirm=2, confirm_new=3, window=48, switch_margin=1.0)
    for _ in range(2):
        places.learn(row(kinds), SUITS)
    assert places.known
    return places


def tile_with_face(face: np.ndarray, width: int, height: int, body: int = 235) -> np.ndarray:
    """A tile's grey raster: its body, and `face` on it where a face is taken from a tile's box (the
    middle face scale's share of its width, centred, just below its top edge)."""
    import cv2

    from mjray.mahjong.faces import FACE_ASPECT, FACE_SCALES

    tile = np.full((height, width), body, np.uint8)
    across = int(round(FACE_SCALES[1] * width))
    down, top, left = (
        int(round(across * FACE_ASPECT)),
        int(round((width - across) / 2 * FACE_ASPECT)),
        (width - across) // 2,
    )
    tile[top : top + down, left : left + across] = cv2.resize(face, (across, down), interpolation=cv2.INTER_AREA)
    return tile

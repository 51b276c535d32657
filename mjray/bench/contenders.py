"""The contenders, each run against the same RTSP cameras and reporting `Delivery`s.

Each `run_*` starts its contender, lets it warm up, measures for `seconds` (deliveries, CPU and
memory of its process tree), stops it, and returns what it delivered in the measured window.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from mjray.bench.observe import Delivery, TreeMeter
from mjray.output.sinks import BaseSink
from mjray.sim import marker

FETCH_WAIT_S = 10.0  # the benchmark reads every result's marker: a saturated box may take long to hand pixels over


@dataclass
class Outcome:
    deliveries: list[Delivery]
    seconds: float  # length of the measured window
    cpu_seconds: float
    peak_rss_mib: float
    notes: dict = field(default_factory=dict)
    cpu_by_role: dict = field(default_factory=dict)  # CPU seconds per kind of process (TreeMeter.by_role)
    displayed: list[Delivery] | None = None  # what a display put on screen, where not the deliveries themselves


def measure(meter: TreeMeter, seconds: float, step=None) -> tuple[float, float]:
    """Sample the tree every 0.5 s for `seconds` (calling `step()` in between); (start, end)."""
    meter.begin()
    start = time.time()
    next_sample = time.monotonic() + 0.5
    while time.time() - start < seconds:
        if step:
            step()
        else:
            time.sleep(0.05)
        if time.monotonic() >= next_sample:
            meter.sample()
            next_sample += 0.5
    meter.sample()
    return start, time.time()


def run_limit(images: list, seconds: float, model: dict, threads: int = 0, start=None) -> dict:
    """The model alone in a tight loop in this process; threads 0: every core (ONNX Runtime's and torch's default).
    `start`: a barrier to pass once loaded, so that loops meant to run together do."""
    from mjray.detect.model import load_model

    detector = load_model(**{**model, "threads": threads})
    for image in images[:5]:
        detector(image)
    if start is not None:
        start.wait()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector(images[done % len(images)])
        done += 1
    elapsed = time.perf_counter() - started
    return {
        "frames": done,
        "seconds": round(elapsed, 2),
        "fps": round(done / elapsed, 2),
        "model_ms": round(1000 * elapsed / done, 1),
    }


def _tight_loop(images: list, seconds: float, model: dict, start, queue) -> None:
    queue.put(run_limit(images, seconds, model, threads=1, start=start))


def run_limit_parallel(images: list, seconds: float, model: dict, processes: int) -> dict:
    """One single-threaded model per core, all at once: what the box can infer when nothing is
    spent on keeping threads of one inference in step."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Barrier(processes)
    workers = [ctx.Process(target=_tight_loop, args=(images, seconds, model, start, queue)) for _ in range(processes)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 300) for _ in workers]
    for w in workers:
        w.join(30)
    return {
        "processes": processes,
        "fps": round(sum(r["fps"] for r in results), 2),
        "model_ms": round(sum(r["model_ms"] for r in results) / len(results), 1),
    }


def stage_costs_since(before: dict, after: dict) -> dict:
    """`Pipeline.stage_costs` over the measured window: CPU seconds by stage, frames decoded."""
    from mjray.cluster.stages import since

    return {
        "cameras": since(before["cameras"], after["cameras"]),
        "detectors": since(before["detectors"], after["detectors"]),
        "decoded": after["decoded"] - before["decoded"],
    }


def bare_decode(video: Path, frames: int = 300) -> dict:
    """A bare PyAV decode of a camera's H.264, as the camera decodes it (slice threads), this
    process's CPU a frame: what a camera's CPU per decoded frame is held to."""
    import av

    started, done = time.process_time(), 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        for _ in zip(range(frames), container.decode(stream)):
            done += 1
    return {"frames": done, "cpu_ms": round(1000 * (time.process_time() - started) / max(done, 1), 3)}


def stage_times(results: list) -> dict:
    """Where an mjray frame's time goes, p50/p99 ms: decoded -> inference starts -> ends -> delivered."""
    import numpy as np

    if not results:
        return {}
    stages = {
        "waiting": [r.done_at - r.infer_ms / 1000 - r.frame.decoded_at for r, _ in results],
        "inference": [r.infer_ms / 1000 for r, _ in results],
        "delivery": [at - r.done_at for r, at in results],
    }
    return {
        name: {
            "p50_ms": round(float(np.percentile(v, 50)) * 1000, 1),
            "p99_ms": round(float(np.percentile(v, 99)) * 1000, 1),
        }
        for name, v in stages.items()
    }


class MarkerSink(BaseSink):
    """The benchmark's output: reads the frame marker of every result as it leaves its reorder
    (a delivery) and of every picture the grid display would put on screen (displayed)."""

    def __init__(self, seats: list[str], fetch) -> None:
        self.seat_index = {s: i for i, s in enumerate(seats)}
        self.fetch = fetch
        self.window = (float("inf"), float("inf"))  # wall times measured
        self.deliveries: list[Delivery] = []
        self.displayed: list[Delivery] = []
        self.timed: list = []  # (Result, delivered at)
        self._pending: list = []  # (Result, delivered at) whose markers are not read yet
        self._readings: dict[tuple[str, int], object] = {}  # (seat, seq) -> reading, until shown
        self._on_screen: dict[str, int] = {}  # seat -> seq of the picture shown

    def measuring(self, now: float) -> bool:
        return self.window[0] <= now <= self.window[1]

    def write(self, item, emitted_at: float) -> None:
        from mjray.frames import Result

        if isinstance(item, Result):
            self._pending.append((item, time.time()))

    def _read(self) -> None:
        """The markers of the results delivered since the last call: their pixels in one fetch, as a display would."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        for (item, at), image in zip(pending, self.fetch([r for r, _ in pending])):
            # not handed over: unreadable
            reading = marker.read(image) if image is not None else marker.Reading(None, None)
            self._readings[(item.seat, item.seq)] = reading
            if self.measuring(at):
                self.deliveries.append(Delivery(self.seat_index[item.seat], at, reading))
                self.timed.append((item, at))

    def show(self, moments) -> None:
        self._read()
        for moment in moments:
            for seat, item in moment.items.items():
                if item is not None and self._on_screen.get(seat) != item.seq:
                    self._on_screen[seat] = item.seq
                    reading = self._readings.get((seat, item.seq))
                    if self.measuring(time.time()):
                        self.displayed.append(Delivery(self.seat_index[seat], time.time(), reading))
        shown = {(seat, seq) for seat, seq in self._on_screen.items()}
        self._readings = {
            key: r for key, r in self._readings.items() if key in shown or key[1] > self._on_screen.get(key[0], -1)
        }

    def close(self) -> None:
        self._read()


def run_mjray(
    urls: list[str],
    seconds: float,
    warmup_s: float,
    model: dict,
    settings: dict,
    exclude: set[int],
    display_fps: float = 15.0,
) -> Outcome:
    """mjray as `python -m mjray.main` runs it (the same driver loop); `settings` change its
    defaults ({"pool": {"shared_workers": 0}}).

    Deliveries are its outputs as they leave the reorders; `displayed` is what its grid display
    (`SeatSync`, as in `mjray.main`) puts on screen, seats together, at `display_fps`.
    """
    import ray
    from omegaconf import OmegaConf

    from mjray.cluster.pipeline import Pipeline, inference_threads, live_sources
    from mjray.config import AppConfig, CameraConfig, validate
    from mjray.main import ray_settings, worker_env
    from mjray.order.sync import for_display
    from mjray.output.driver import Driver
    from mjray.policy import parts

    seats = [f"cam{i}" for i in range(len(urls))]
    model = dict(model)
    plugged = {"plugins": model.pop("plugins", None) or {}}  # the limit loops' model dict carries them too
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(AppConfig), {"model": model}, plugged, settings))
    cfg.cameras = [CameraConfig(s, u) for s, u in zip(seats, urls)]
    cfg = validate(cfg)
    # as `mjray.main` starts Ray: its settings for Ray's processes, which read them as they start, and its workers' env
    ours = ray_settings()
    outer = {name: os.environ.get(name) for name in ours}
    os.environ.update(ours)
    try:
        ray.init(include_dashboard=False, namespace=f"bench-{time.time_ns()}", runtime_env={"env_vars": worker_env()})
    finally:  # the benchmark's other contenders start with the environment as it was
        for name, value in outer.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        pipeline = Pipeline(cfg, live_sources(cfg, cfg.cameras), keep_pixels=True)
        pipeline.start()
        sink = MarkerSink(seats, lambda items: pipeline.pixels(items, wait_s=FETCH_WAIT_S))
        driver = Driver(pipeline, [sink], for_display(seats, display_fps, parts(cfg.stream.policy)))
        until = time.monotonic() + warmup_s
        while time.monotonic() < until:
            driver.step()
        costs = pipeline.stage_costs()
        meter = TreeMeter(os.getpid(), exclude)
        sink.window = (time.time(), time.time() + seconds)
        start, end = measure(meter, seconds, driver.step)
        costs = stage_costs_since(costs, pipeline.stage_costs())
        driver.finish()
        driver.close()
        pipeline.shutdown()
    finally:
        ray.shutdown()
    pool = pipeline.pool  # as pool=auto chose
    return Outcome(
        sink.deliveries,
        end - start,
        meter.cpu_seconds,
        meter.peak_rss / 2**20,
        {
            "policy": cfg.stream.policy.value,
            "threads": inference_threads(cfg, pool=pool),
            **({"aligned_hz": cfg.stream.aligned_hz} if parts(cfg.stream.policy).rounds else {}),
            **(
                {"shared_workers": pool.shared_workers}
                if pool.shared_workers
                else {"workers_per_camera": pool.workers_per_camera}
            ),
            "stages": stage_times(sink.timed),
            "cpu_stages": costs,
        },
        meter.by_role(),
        sink.displayed,
    )


def run_baseline(
    urls: list[str],
    shape: tuple[int, int, int],
    seconds: float,
    warmup_s: float,
    model: dict,
    workers: int,
    exclude: set[int],
) -> Outcome:
    from mjray.bench.baseline import Baseline

    baseline = Baseline(urls, shape, workers, model)
    baseline.start()
    time.sleep(warmup_s)
    meter = TreeMeter(os.getpid(), exclude)
    start, end = measure(meter, seconds)
    shown, counts = baseline.stop()
    deliveries = [
        Delivery(seat, at, reading) for seat, records in shown.items() for at, reading in records if start <= at <= end
    ]
    return Outcome(
        deliveries,
        end - start,
        meter.cpu_seconds,
        meter.peak_rss / 2**20,
        {
            "workers_per_camera": workers,
            **counts,
            "note": "latency is of the picture shown; its boxes may come from an older frame (see counts)",
        },
        meter.by_role(),
    )


def run_ultralytics(urls: list[str], seconds: float, warmup_s: float, spec: dict, exclude: set[int], folder) -> Outcome:
    """Ultralytics' own multi-stream mode: predict(source=<file of URLs>, stream=True)."""
    from mjray.detect.model import keep_ultralytics_offline, predict_options, resolve_weights

    keep_ultralytics_offline()
    from ultralytics import YOLO

    listing = folder / "cameras.streams"
    listing.write_text("\n".join(urls) + "\n")
    model = YOLO(resolve_weights(spec["weights"]), task="detect")
    options = predict_options(spec)
    deliveries: list[Delivery] = []
    meter = TreeMeter(os.getpid(), exclude)
    started = time.time()
    measuring_from = started + warmup_s
    until = measuring_from + seconds
    began = False
    for result in model.predict(source=str(listing), stream=True, **options):
        now = time.time()
        if not began and now >= measuring_from:
            meter.begin()
            began = True
        if began:
            deliveries.append(Delivery(_stream_index(result, urls), now, marker.read(result.orig_img)))
            if len(deliveries) % 20 == 0:
                meter.sample()
        if now >= until:
            break
    meter.sample()
    return Outcome(
        deliveries,
        min(time.time(), until) - measuring_from,
        meter.cpu_seconds,
        meter.peak_rss / 2**20,
        {"note": "colour frames: Ultralytics' stream loader has no hook for grey/autocontrast"},
        meter.by_role(),
    )


def _stream_index(result, urls: list[str]) -> int:
    path = str(result.path)
    for i, url in enumerate(urls):
        if path == url or path.endswith(url.rsplit("/", 1)[-1]):
            return i
    raise ValueError(f"result from unknown stream {path}")

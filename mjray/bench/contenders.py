"""The contenders, each run against the same RTSP cameras and reporting `Delivery`s.

Each `run_*` starts its contender, lets it warm up, measures for `seconds` (deliveries, CPU and
memory of its process tree), stops it, and returns what it delivered in the measured window.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from mjray.bench.observe import Delivery, TreeMeter
from mjray.sim import marker


@dataclass
class Outcome:
    deliveries: list[Delivery]
    seconds: float  # length of the measured window
    cpu_seconds: float
    peak_rss_mib: float
    notes: dict = field(default_factory=dict)


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


def run_limit(image_source, seconds: float) -> dict:
    """The model alone in a tight loop in this process (ONNX Runtime uses every core)."""
    from mjray.detector import YoloDetector

    images = list(image_source)
    detector = YoloDetector()
    for image in images[:5]:
        detector(image)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector(images[done % len(images)])
        done += 1
    elapsed = time.perf_counter() - started
    return {"frames": done, "seconds": round(elapsed, 2), "fps": round(done / elapsed, 2),
            "model_ms": round(1000 * elapsed / done, 1)}


def run_mjray(urls: list[str], seconds: float, warmup_s: float, policy: str, workers: int, exclude: set[int]) -> Outcome:
    import ray

    from mjray.config import AppConfig, CameraConfig, PoolConfig, StreamConfig, validate
    from mjray.frames import Result
    from mjray.pipeline import Pipeline

    seats = [f"cam{i}" for i in range(len(urls))]
    cfg = validate(AppConfig(cameras=[CameraConfig(s, u) for s, u in zip(seats, urls)],
                             stream=StreamConfig(policy=policy), pool=PoolConfig(workers_per_camera=workers)))
    ray.init(include_dashboard=False, namespace=f"bench-{time.time_ns()}")
    deliveries: list[Delivery] = []
    try:
        pipeline = Pipeline(cfg, cfg.cameras, keep_pixels=True)
        pipeline.start()
        seat_index = {s: i for i, s in enumerate(seats)}
        window = [float("inf"), float("inf")]

        def step():
            for seat, items in pipeline.drain(wait_s=0.05).items():
                now = time.time()
                results = [i for i in items if isinstance(i, Result)]
                images = ray.get([r.frame.ref for r in results])  # what a display would fetch to show
                if window[0] <= now <= window[1]:
                    deliveries.extend(Delivery(seat_index[seat], now, marker.read(img)) for img in images)

        until = time.monotonic() + warmup_s
        while time.monotonic() < until:
            step()
        meter = TreeMeter(os.getpid(), exclude)
        window[0], window[1] = time.time(), time.time() + seconds
        start, end = measure(meter, seconds, step)
        pipeline.stop()
        pipeline.shutdown()
    finally:
        ray.shutdown()
    return Outcome(deliveries, end - start, meter.cpu_seconds, meter.peak_rss / 2**20,
                   {"policy": policy, "workers_per_camera": workers})


def run_baseline(urls: list[str], shape: tuple[int, int, int], seconds: float, warmup_s: float, workers: int,
                 exclude: set[int]) -> Outcome:
    from mjray.bench.baseline import Baseline

    baseline = Baseline(urls, shape, workers)
    baseline.start()
    time.sleep(warmup_s)
    meter = TreeMeter(os.getpid(), exclude)
    start, end = measure(meter, seconds)
    shown, counts = baseline.stop()
    deliveries = [Delivery(seat, at, reading) for seat, records in shown.items() for at, reading in records
                  if start <= at <= end]
    return Outcome(deliveries, end - start, meter.cpu_seconds, meter.peak_rss / 2**20,
                   {"workers_per_camera": workers, **counts,
                    "note": "latency is of the picture shown; its boxes may come from an older frame (see counts)"})


def run_ultralytics(urls: list[str], seconds: float, warmup_s: float, exclude: set[int], folder) -> Outcome:
    """Ultralytics' own multi-stream mode: predict(source=<file of URLs>, stream=True)."""
    from mjray.detector import bundled_tile_model, keep_ultralytics_offline

    keep_ultralytics_offline()
    from ultralytics import YOLO

    listing = folder / "cameras.streams"
    listing.write_text("\n".join(urls) + "\n")
    model = YOLO(str(bundled_tile_model()), task="detect")
    deliveries: list[Delivery] = []
    meter = TreeMeter(os.getpid(), exclude)
    started = time.time()
    measuring_from = started + warmup_s
    until = measuring_from + seconds
    began = False
    for result in model.predict(source=str(listing), stream=True, verbose=False, conf=0.5, iou=0.5):
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
    return Outcome(deliveries, min(time.time(), until) - measuring_from, meter.cpu_seconds, meter.peak_rss / 2**20,
                   {"note": "colour frames: Ultralytics' stream loader has no hook for grey/autocontrast"})


def _stream_index(result, urls: list[str]) -> int:
    path = str(result.path)
    for i, url in enumerate(urls):
        if path == url or path.endswith(url.rsplit("/", 1)[-1]):
            return i
    raise ValueError(f"result from unknown stream {path}")

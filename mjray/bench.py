"""`python -m mjray.bench`: mjray's throughput against the model alone, same box, same run.

    python -m mjray.bench --seconds 60 --size 640x360 --seats 4 --policy latest

First the limit: the same model in a tight loop over decoded frames of the same table, with
ONNX Runtime's default threading (all cores). Then mjray on the embedded table for `--seconds`.
Prints both as a table and writes bench.json. Numbers only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import psutil

from mjray.config import AppConfig, RayConfig, RunConfig, SimConfig, StreamConfig, DisplayConfig
from mjray.sim.table import TableSpec, parse_size, render_table, seat_names


def model_limit(spec: TableSpec, seconds: float) -> dict:
    """Frames per second of the bundled model alone, in a tight loop on this process."""
    from mjray.detector import YoloDetector
    from mjray.sim.score import decoded

    table = render_table(spec)
    images = [image for _, image in decoded(table, spec.seats[0], list(range(60)))]
    detector = YoloDetector()
    for image in images[:5]:
        detector(image)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        detector(images[done % len(images)])
        done += 1
    elapsed = time.perf_counter() - started
    return {"frames": done, "seconds": round(elapsed, 2), "fps": round(done / elapsed, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mjray.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long mjray runs")
    parser.add_argument("--limit-seconds", type=float, default=20.0, help="how long the model-alone loop runs")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seats", type=int, default=4)
    parser.add_argument("--policy", default="latest", choices=["latest", "every"])
    parser.add_argument("--out", default="bench.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    width, height = parse_size(args.size)
    spec = TableSpec(seats=seat_names(args.seats), width=width, height=height)
    limit = model_limit(spec, args.limit_seconds)
    print(f"model alone (tight loop, all cores): {limit['fps']:.1f} frames/s")

    cfg = AppConfig(sim=SimConfig(seats=args.seats, size=args.size), stream=StreamConfig(policy=args.policy),
                    display=DisplayConfig(mode="none"), ray=RayConfig(dashboard=False),
                    run=RunConfig(duration_s=args.seconds))
    from mjray.main import run

    summary = run(cfg)
    total = sum(s.fps_out for s in summary.seats)
    print(summary.table())
    print(f"\nmjray delivered {total:.1f} inferred frames/s in total = {100 * total / limit['fps']:.0f} % of the model alone "
          f"({limit['fps']:.1f}/s), while decoding {sum(s.fps_in for s in summary.seats):.1f} frames/s "
          f"from {args.seats} cameras ({args.policy})")
    record = {
        "machine": {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "processor": platform.processor() or platform.machine()},
        "args": vars(args), "model_alone": limit, "mjray": summary.to_dict(), "mjray_total_fps": round(total, 2),
    }
    Path(args.out).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

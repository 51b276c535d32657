"""`python -m mjray.bench [overrides]`: one table of every contender on the same cameras.

    python -m mjray.bench                                   # all contenders, 4 seats, 60 s each
    python -m mjray.bench contenders=[mjray] seconds=20
    python -m mjray.bench -m contenders=[mjray] seats=1,2,4,8      # mjray's scaling curve
    python -m mjray.bench -m contenders=[mjray] workers_per_camera=1,2,3

Writes bench.json and bench.csv in Hydra's run directory (or `out_dir`). Prints numbers, asserts
nothing about speed.
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import psutil

from mjray.bench.contenders import Outcome, run_baseline, run_limit, run_mjray, run_ultralytics
from mjray.bench.observe import ReferenceReaders, score
from mjray.main import CONF_DIR

log = logging.getLogger("mjray.bench")
CONTENDERS = ("mjray", "baseline", "ultralytics")


@dataclass
class BenchConfig:
    seats: int = 4  # cameras (1..8)
    size: str = "640x360"  # WIDTHxHEIGHT of every camera
    fps: int = 15  # camera frame rate
    seconds: float = 60.0  # measured window per contender
    warmup_s: float = 20.0  # time each contender gets to load models and settle before measuring
    limit_seconds: float = 20.0  # the model alone in a tight loop
    contenders: list[str] = field(default_factory=lambda: list(CONTENDERS))
    policy: str = "latest"  # mjray's frame policy
    workers_per_camera: int = 1  # mjray's pool size and the original design's N
    out_dir: Optional[str] = None  # None: Hydra's run directory


def machine() -> dict:
    return {"host": platform.node(), "cpus": psutil.cpu_count(), "processor": platform.processor() or platform.machine(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "gpu": _gpu_name()}


def _gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        return None


def bench(cfg: BenchConfig, out: Path) -> dict:
    from mjray.sim.score import decoded
    from mjray.sim.server import RtspServer
    from mjray.sim.table import TableSpec, parse_size, render_table, seat_names

    unknown = set(cfg.contenders) - set(CONTENDERS)
    if unknown:
        raise ValueError(f"contenders: unknown {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    width, height = parse_size(cfg.size)
    spec = TableSpec(seats=seat_names(cfg.seats), width=width, height=height, fps=cfg.fps)
    table = render_table(spec)
    log.info("limit: the model alone for %.0f s", cfg.limit_seconds)
    limit = run_limit((img for _, img in decoded(table, spec.seats[0], list(range(60)))), cfg.limit_seconds)
    log.info("limit: %.1f frames/s (%.1f ms a frame)", limit["fps"], limit["model_ms"])
    report = {"machine": machine(), "config": asdict(cfg), "limit": limit, "contenders": {}}
    with RtspServer(table.videos, fps=spec.fps) as server, tempfile.TemporaryDirectory() as scratch:
        urls = [server.url(s) for s in spec.seats]
        for name in cfg.contenders:
            log.info("%s: warming up %.0f s, then measuring %.0f s", name, cfg.warmup_s, cfg.seconds)
            readers = ReferenceReaders(urls, cfg.warmup_s + cfg.seconds + 30).start()
            time.sleep(2.0)  # the reference joins first, so it sees every frame the contender can
            exclude = {server.pid, *readers.pids}
            if name == "mjray":
                outcome = run_mjray(urls, cfg.seconds, cfg.warmup_s, cfg.policy, cfg.workers_per_camera, exclude)
            elif name == "baseline":
                outcome = run_baseline(urls, (height, width, 3), cfg.seconds, cfg.warmup_s, cfg.workers_per_camera, exclude)
            else:
                outcome = run_ultralytics(urls, cfg.seconds, cfg.warmup_s, exclude, Path(scratch))
            reference = readers.collect()  # it has seen enough once the contender stopped
            report["contenders"][name] = summarize(outcome, reference, cfg, limit)
            log.info("%s: %s", name, report["contenders"][name]["total"])
    write(report, out)
    return report


def summarize(outcome: Outcome, reference, cfg: BenchConfig, limit: dict) -> dict:
    figures = score(outcome.deliveries, reference, cfg.seats, outcome.seconds, cfg.fps)
    total = figures["total"]
    total["ratio_to_limit"] = round(total["fps"] / limit["fps"], 3) if limit["fps"] else None
    delivered = sum(v["delivered"] for v in figures["seats"].values())
    total["cpu_s_per_frame"] = round(outcome.cpu_seconds / delivered, 4) if delivered else None
    total["peak_rss_mib"] = round(outcome.peak_rss_mib)
    return {**figures, "notes": outcome.notes, "measured_s": round(outcome.seconds, 2)}


COLUMNS = ["fps", "ratio_to_limit", "latency_p50_ms", "latency_p99_ms", "latency_max_ms", "order_violations",
           "duplicates", "torn", "unreadable", "skew_p50_ms", "skew_p99_ms", "cpu_s_per_frame", "peak_rss_mib"]


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1))
    with open(out / "bench.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["contender", "seat", *COLUMNS])
        for name, figures in report["contenders"].items():
            writer.writerow([name, "total", *[figures["total"].get(c) for c in COLUMNS]])
            for seat, row in figures["seats"].items():
                writer.writerow([name, seat, *[row.get(c) for c in COLUMNS]])


def table(report: dict) -> str:
    m, limit = report["machine"], report["limit"]
    lines = [f"machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, GPU {m['gpu'] or 'none'}; "
             f"limit (model alone, tight loop): {limit['fps']} frames/s",
             f"{'contender':12s}" + "".join(f"{c:>17s}" for c in COLUMNS)]
    for name, figures in report["contenders"].items():
        lines.append(f"{name:12s}" + "".join(f"{str(figures['total'].get(c)):>17s}" for c in COLUMNS))
    return "\n".join(lines)


def main() -> None:
    import hydra
    from hydra.core.config_store import ConfigStore
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    ConfigStore.instance().store(name="bench_schema", node=BenchConfig)

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="bench")
    def entry(raw) -> None:
        cfg: BenchConfig = OmegaConf.to_object(raw)
        out = Path(cfg.out_dir) if cfg.out_dir else Path(HydraConfig.get().runtime.output_dir)
        try:
            report = bench(cfg, out)
        except ValueError as error:
            print(f"mjray.bench: bad setting: {error}", file=sys.stderr)
            sys.exit(2)
        print(table(report))
        print(f"written: {out / 'bench.json'}, {out / 'bench.csv'}")

    entry()


if __name__ == "__main__":
    main()

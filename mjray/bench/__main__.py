"""`python -m mjray.bench [overrides]`: one table of every contender on the same cameras.

    python -m mjray.bench                                   # all contenders, 4 seats, 60 s each
    python -m mjray.bench contenders=[mjray] seconds=20
    python -m mjray.bench contenders=[mjray_aligned]        # mjray, every seat sampled at the same instants
    python -m mjray.bench contenders=[mjray_low_latency]    # mjray with pool=cpu_low_latency (one worker, all cores)
    python -m mjray.bench scaling=true                      # mjray's scaling curve: 1, 2, 4, 8 cameras x pools
    python -m mjray.bench contenders=[mjray] +mjray.pool.shared_workers=0 +mjray.pool.workers_per_camera=2
    python -m mjray.bench model.weights=yolov8l.yaml model.grayscale=false model.autocontrast=false  # GPU box

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np
import psutil
from omegaconf import OmegaConf

from mjray.bench.contenders import (
    Outcome,
    bare_decode,
    run_baseline,
    run_limit,
    run_limit_parallel,
    run_mjray,
    run_ultralytics,
)
from mjray.bench.observe import ReferenceReaders, score
from mjray.config import ModelConfig
from mjray.main import CONF_DIR

log = logging.getLogger("mjray.bench")
CONTENDERS = ("mjray", "mjray_low_latency", "mjray_aligned", "baseline", "ultralytics")


@dataclass
class BenchConfig:
    seats: int = 4  # cameras (1..8)
    size: str = "640x360"  # WIDTHxHEIGHT of every camera
    fps: int = 15  # camera frame rate
    seconds: float = 60.0  # measured window per contender
    warmup_s: float = 20.0  # time each contender gets to load models and settle before measuring
    limit_seconds: float = 10.0  # the model alone in a tight loop, before each contender and after the last
    contenders: list[str] = field(default_factory=lambda: list(CONTENDERS))
    # every contender's model (mjray's `model.*` settings); no plug-in by default: Ultralytics' stream mode
    # has no tile faces, so every contender does the same work a frame (+plugins.mahjong.faces=true measures
    # their cost, in mjray and the limit loops)
    model: ModelConfig = field(default_factory=ModelConfig)
    plugins: dict = field(default_factory=dict)
    # mjray settings that differ from its defaults: +mjray.pool.shared_workers=0
    mjray: dict = field(default_factory=dict)
    workers_per_camera: int = 1  # the original design's N
    # scaling=true: mjray alone, for each number of cameras in scale_seats and each pool in scale_pools
    # (pool.* settings, plus threads: model.threads and policy: stream.policy)
    scaling: bool = False
    scale_seats: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    scale_pools: list[dict] = field(
        default_factory=lambda: [
            {"shared_workers": 1},
            {"shared_workers": 2},
            {"shared_workers": 0, "workers_per_camera": 1, "cpus_per_worker": 0.05, "camera_cpus": 0.05},
            {"shared_workers": 0, "workers_per_camera": 2, "cpus_per_worker": 0.05, "camera_cpus": 0.05},
        ]
    )
    out_dir: Optional[str] = None  # None: Hydra's run directory


def machine() -> dict:
    return {
        "host": platform.node(),
        "cpus": psutil.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": _gpu_name(),
    }


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
    model = {**asdict(cfg.model), "plugins": dict(cfg.plugins)}
    images = [img for _, img in decoded(table, spec.seats[0], list(range(60)))]
    # This box's speed drifts (shared cores): the limit is measured right before each contender
    # and after the last, and each contender is held to the mean of the two around it.
    limits = [run_limit(images, cfg.limit_seconds, model)]
    log.info("limit: %.1f frames/s (%.1f ms a frame)", limits[0]["fps"], limits[0]["model_ms"])
    parallel = run_limit_parallel(images, cfg.limit_seconds, model, psutil.cpu_count() or 1)
    log.info("limit, one single-threaded model per core: %.1f frames/s", parallel["fps"])
    ultralytics = run_limit(images, cfg.limit_seconds, {**model, "runtime": "ultralytics"})
    log.info("Ultralytics' own loop (model.runtime=ultralytics): %.1f frames/s", ultralytics["fps"])
    decode = bare_decode(table.videos[spec.seats[0]])
    report = {
        "machine": machine(),
        "config": asdict(cfg),
        "limit": {},
        "limit_parallel": parallel,
        "limit_ultralytics": ultralytics,
        "bare_decode": decode,
        "contenders": {},
    }
    outcomes = {}
    with RtspServer(table.videos, fps=spec.fps) as server, tempfile.TemporaryDirectory() as scratch:
        urls = [server.url(s) for s in spec.seats]
        for i, name in enumerate(cfg.contenders):
            if i:
                limits.append(run_limit(images, cfg.limit_seconds, model))
            log.info("%s: warming up %.0f s, then measuring %.0f s", name, cfg.warmup_s, cfg.seconds)
            readers = start_reference(urls, cfg)
            exclude = {server.pid, *readers.pids}
            apparatus = ApparatusMeter(exclude)
            if name.startswith("mjray"):
                outcome = run_mjray(urls, cfg.seconds, cfg.warmup_s, model, mjray_settings(cfg, name), exclude, cfg.fps)
            elif name == "baseline":
                outcome = run_baseline(
                    urls, (height, width, 3), cfg.seconds, cfg.warmup_s, model, cfg.workers_per_camera, exclude
                )
            else:
                outcome = run_ultralytics(urls, cfg.seconds, cfg.warmup_s, model, exclude, Path(scratch))
            outcome.notes["apparatus_cores"] = apparatus.cores()  # CPU the cameras and the reference took meanwhile
            outcomes[name] = (outcome, readers.collect())  # the reference has seen enough once the contender stopped
    limits.append(run_limit(images, cfg.limit_seconds, model))
    report["limit"] = {
        "fps": round(float(np.median([x["fps"] for x in limits])), 2),
        "model_ms": round(float(np.median([x["model_ms"] for x in limits])), 1),
        "runs_fps": [x["fps"] for x in limits],
    }
    for i, (name, (outcome, reference)) in enumerate(outcomes.items()):
        report["contenders"][name] = summarize(
            outcome, reference, cfg, bracket(*limits[i : i + 2]), parallel["fps"], decode["cpu_ms"]
        )
        log.info("%s: %s", name, report["contenders"][name]["total"])
    write(report, out)
    return report


def mjray_settings(cfg: BenchConfig, contender: str) -> dict:
    """mjray's settings for a contender: `cfg.mjray`; for mjray_aligned with stream.policy=aligned,
    for mjray_low_latency with pool=cpu_low_latency (the variant's own settings win)."""
    settings = {k: dict(v) if isinstance(v, dict) else v for k, v in cfg.mjray.items()}
    if contender == "mjray_aligned":
        settings["stream"] = {**settings.get("stream", {}), "policy": "aligned"}
    if contender == "mjray_low_latency":
        settings["pool"] = {
            **settings.get("pool", {}),
            **OmegaConf.to_container(OmegaConf.load(CONF_DIR / "pool" / "cpu_low_latency.yaml")),
        }
    return settings


def start_reference(urls: list[str], cfg: BenchConfig) -> ReferenceReaders:
    readers = ReferenceReaders(urls, cfg.warmup_s + cfg.seconds + 30).start()
    time.sleep(2.0)  # the reference joins first, so it sees every frame the contender can
    return readers


def bracket(before: dict, after: dict) -> dict:
    """The limit a contender is held to: the mean of the limits measured just before and after it."""
    return {k: (before[k] + after[k]) / 2 for k in ("fps", "model_ms")}


class ApparatusMeter:
    """Cores used by the benchmark's own processes (RTSP server, reference readers) while a
    contender runs: CPU no contender can have, which the limit, measured alone, did have."""

    def __init__(self, pids: set[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.started, self.cpu = time.monotonic(), self._cpu()

    def _cpu(self) -> float:
        total = 0.0
        for p in self.processes:
            try:
                total += sum(p.cpu_times()[:2])
            except psutil.Error:
                pass
        return total

    def cores(self) -> float:
        return round((self._cpu() - self.cpu) / (time.monotonic() - self.started), 3)


def scaling(cfg: BenchConfig, out: Path) -> list[dict]:
    """mjray's scaling curve: one row per (cameras, pool), each measured like `bench` measures."""
    from mjray.sim.score import decoded
    from mjray.sim.server import RtspServer
    from mjray.sim.table import TableSpec, parse_size, render_table, seat_names

    width, height = parse_size(cfg.size)
    model = {**asdict(cfg.model), "plugins": dict(cfg.plugins)}
    rows = []
    for seats in cfg.scale_seats:
        spec = TableSpec(seats=seat_names(seats), width=width, height=height, fps=cfg.fps)
        table = render_table(spec)
        images = [img for _, img in decoded(table, spec.seats[0], list(range(60)))]
        with RtspServer(table.videos, fps=spec.fps) as server:
            urls = [server.url(s) for s in spec.seats]
            for pool in cfg.scale_pools:
                before = run_limit(images, cfg.limit_seconds, model)
                readers = start_reference(urls, cfg)
                settings = row_settings(pool)
                exclude = {server.pid, *readers.pids}
                apparatus = ApparatusMeter(exclude)
                outcome = run_mjray(urls, cfg.seconds, cfg.warmup_s, model, settings, exclude, cfg.fps)
                outcome.notes["apparatus_cores"] = apparatus.cores()
                reference = readers.collect()
                after = run_limit(images, cfg.limit_seconds, model)
                figures = summarize(outcome, reference, replace(cfg, seats=seats), bracket(before, after))
                row = {
                    "cameras": seats,
                    **pool,
                    **{c: figures["total"].get(c) for c in ["kept", *COLUMNS]},
                    "camera_fps": round(figures["total"]["fps"] / seats, 2),
                }
                rows.append(row)
                log.info("scaling: %s", row)
    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(out / "scaling.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
    (out / "scaling.json").write_text(json.dumps({"machine": machine(), "config": asdict(cfg), "rows": rows}, indent=1))
    return rows


ROW_KEYS = {"threads": ("model", "threads"), "policy": ("stream", "policy")}  # scale_pools keys outside pool.*


def row_settings(row: dict) -> dict:
    """mjray settings for a scaling row: pool.* keys, plus `threads` (model.threads) and `policy` (stream.policy)."""
    settings: dict = {"pool": {k: v for k, v in row.items() if k not in ROW_KEYS}}
    for key, (section, name) in ROW_KEYS.items():
        if key in row:
            settings.setdefault(section, {})[name] = row[key]
    return settings


def limit_left(limit_fps: float, cpus: int, apparatus_cores: float | None) -> float | None:
    """The limit on the cores the benchmark's own RTSP server and reference readers left free.

    The limit is measured alone; a contender runs beside them, and a user's box runs neither.
    Scaled by the share of cores left, which assumes the model's speed is in proportion to its
    cores (ONNX Runtime's threads in step make it, if anything, lose more).
    """
    if not limit_fps or apparatus_cores is None or apparatus_cores >= cpus:
        return None
    return limit_fps * (cpus - apparatus_cores) / cpus


def summarize(
    outcome: Outcome,
    reference,
    cfg: BenchConfig,
    limit: dict,
    per_core_fps: float | None = None,
    bare_decode_ms: float | None = None,
) -> dict:
    figures = score(outcome.deliveries, reference, cfg.seats, outcome.seconds, cfg.fps, outcome.displayed)
    total = figures["total"]
    if outcome.displayed is not None:  # the table's skew is of the display; say what the outputs alone give
        outputs = score(outcome.deliveries, reference, cfg.seats, outcome.seconds, cfg.fps)["total"]
        screen = score(outcome.displayed, reference, cfg.seats, outcome.seconds, cfg.fps)["total"]
        outcome.notes["skew_of_outputs_p50_p99_ms"] = [outputs["skew_p50_ms"], outputs["skew_p99_ms"]]
        outcome.notes["display_latency_p50_p99_ms"] = [screen["latency_p50_ms"], screen["latency_p99_ms"]]
    total["kept"] = round(total["fps"] / (cfg.seats * cfg.fps), 3)  # 1.0: every camera frame inferred, none skipped
    total["limit_fps"] = round(limit["fps"], 2)
    total["ratio_to_limit"] = round(total["fps"] / limit["fps"], 3) if limit["fps"] else None
    total["ratio_to_per_core"] = round(total["fps"] / per_core_fps, 3) if per_core_fps else None
    left = limit_left(limit["fps"], psutil.cpu_count() or 1, outcome.notes.get("apparatus_cores"))
    total["ratio_to_limit_left"] = round(total["fps"] / left, 3) if left else None
    # the latency target: twice the model's own time plus one frame interval
    total["latency_target_ms"] = round(2 * limit["model_ms"] + 1000 / cfg.fps, 1)
    delivered = sum(v["delivered"] for v in figures["seats"].values())
    total["cpu_s_per_frame"] = round(outcome.cpu_seconds / delivered, 4) if delivered else None
    total["peak_rss_mib"] = round(outcome.peak_rss_mib)
    cpu = {role: round(seconds / delivered, 4) for role, seconds in outcome.cpu_by_role.items()} if delivered else {}
    costs = outcome.notes.get("cpu_stages")
    split = breakdown(outcome.cpu_by_role, costs, delivered, bare_decode_ms) if costs and delivered else None
    return {
        **figures,
        "notes": outcome.notes,
        "measured_s": round(outcome.seconds, 2),
        "cpu_s_per_frame_by_role": cpu,
        **({"breakdown": split} if split else {}),
    }


STAGED = {"CameraActor": "cameras", "DetectorActor": "detectors"}  # process kinds that time their stages
FORWARD = ("forward pass", "Ultralytics' predict")  # the model's own work, as each runtime names it


def breakdown(cpu_by_role: dict, costs: dict, delivered: int, bare_decode_ms: float | None) -> dict:
    """CPU ms per delivered frame by process kind, the cameras' and detectors' split by stage (their
    `other`: Ray's calls and threads, what no stage times); the share of it all that is not the
    model's forward pass; a camera's CPU per decoded frame against a bare decode of its H.264."""
    kinds: dict[str, dict] = {}
    for role, seconds in sorted(cpu_by_role.items(), key=lambda kv: -kv[1]):
        ms = 1000 * seconds / delivered
        timed = {name: 1000 * got["s"] / delivered for name, got in costs.get(STAGED.get(role, ""), {}).items()}
        kinds[role] = {"all": ms, **timed, **({"other": ms - sum(timed.values())} if timed else {})}
    everything = sum(kind["all"] for kind in kinds.values())
    forward = sum(kinds.get("DetectorActor", {}).get(name, 0.0) for name in FORWARD)
    camera_ms = 1000 * cpu_by_role.get("CameraActor", 0.0) / costs["decoded"] if costs.get("decoded") else None
    return {
        "ms_per_frame": {role: {k: round(v, 2) for k, v in kind.items()} for role, kind in kinds.items()},
        "not_forward_share": round(1 - forward / everything, 3) if everything and forward else None,
        "camera_ms_per_decoded": round(camera_ms, 3) if camera_ms else None,
        "bare_decode_ms": bare_decode_ms,
        "camera_to_bare_decode": round(camera_ms / bare_decode_ms, 2) if camera_ms and bare_decode_ms else None,
    }


COLUMNS = [
    "fps",
    "limit_fps",
    "ratio_to_limit",
    "ratio_to_per_core",
    "ratio_to_limit_left",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "latency_target_ms",
    "order_violations",
    "duplicates",
    "torn",
    "unreadable",
    "skew_p50_ms",
    "skew_p99_ms",
    "cpu_s_per_frame",
    "peak_rss_mib",
]


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
    lines = [
        f"machine: {m['cpus']} CPUs, {m['memory_gib']} GiB, GPU {m['gpu'] or 'none'}; "
        f"limit (model alone, tight loop, all cores): {limit['fps']} frames/s, {limit['model_ms']} ms "
        f"(runs {limit['runs_fps']}); one single-threaded model per core: {report['limit_parallel']['fps']} frames/s "
        f"({report['limit_parallel']['model_ms']} ms a frame); Ultralytics' own loop, all cores: "
        f"{report['limit_ultralytics']['fps']} frames/s; a bare PyAV decode of a camera's H.264: "
        f"{report['bare_decode']['cpu_ms']} ms of CPU a frame",
        f"{'contender':12s}" + "".join(f"{c:>19s}" for c in COLUMNS),
    ]
    for name, figures in report["contenders"].items():
        lines.append(f"{name:12s}" + "".join(f"{str(figures['total'].get(c)):>19s}" for c in COLUMNS))
    lines.append("CPU seconds per delivered frame, by process:")
    for name, figures in report["contenders"].items():
        lines.append(f"  {name:10s} " + ", ".join(f"{k} {v}" for k, v in figures["cpu_s_per_frame_by_role"].items()))
    for name, figures in report["contenders"].items():
        if "breakdown" in figures:
            lines += breakdown_lines(name, figures["breakdown"])
    for name, figures in report["contenders"].items():
        notes = figures.get("notes", {})
        if notes.get("stages"):
            lines.append(
                f"{name}, where a frame's time goes (p50/p99 ms): "
                + ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in notes["stages"].items())
            )
        if "display_latency_p50_p99_ms" in notes:
            lines.append(
                f"{name}, skew above is of its grid display; of its outputs alone p50/p99 "
                f"{notes['skew_of_outputs_p50_p99_ms']} ms; display latency p50/p99 {notes['display_latency_p50_p99_ms']} ms"
            )
    return "\n".join(lines)


def breakdown_lines(name: str, split: dict) -> list[str]:
    lines = [f"{name}, CPU ms per delivered frame, by process kind and stage:"]
    for role, kind in split["ms_per_frame"].items():
        stages = ", ".join(f"{k} {v}" for k, v in kind.items() if k != "all")
        lines.append(f"  {role:16s} {kind['all']:8.2f}" + (f"  ({stages})" if stages else ""))
    if split["not_forward_share"] is not None:
        lines.append(
            f"  everything but the model's forward pass: {100 * split['not_forward_share']:.0f} % (target <= 10 %)"
        )
    if split["camera_to_bare_decode"] is not None:
        lines.append(
            f"  a camera's CPU per decoded frame: {split['camera_ms_per_decoded']} ms, "
            f"{split['camera_to_bare_decode']} x a bare PyAV decode ({split['bare_decode_ms']} ms; target <= 1.3 x)"
        )
    return lines


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
            if cfg.scaling:
                rows = scaling(cfg, out)
                keys = [
                    "cameras",
                    "shared_workers",
                    "workers_per_camera",
                    "threads",
                    "policy",
                    "fps",
                    "camera_fps",
                    "kept",
                    "ratio_to_limit",
                    "ratio_to_limit_left",
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "latency_target_ms",
                    "skew_p50_ms",
                    "skew_p99_ms",
                    "order_violations",
                    "torn",
                    "cpu_s_per_frame",
                ]
                print("".join(f"{k:>19s}" for k in keys))
                for row in rows:
                    print("".join(f"{str(row.get(k, '')):>19s}" for k in keys))
                print(f"written: {out / 'scaling.json'}, {out / 'scaling.csv'}")
                return
            report = bench(cfg, out)
        except ValueError as error:
            print(f"mjray.bench: bad setting: {error}", file=sys.stderr)
            sys.exit(2)
        print(table(report))
        print(f"written: {out / 'bench.json'}, {out / 'bench.csv'}")

    entry()


if __name__ == "__main__":
    main()

"""`python -m mjray.main [overrides]`: config -> pipeline -> run -> summary.

    python -m mjray.main                                   # embedded synthetic table, bundled tile model
    python -m mjray.main run.duration_s=60 stream.policy=every
    python -m mjray.main cameras=tapo4 pool=gpu pool.workers_per_camera=3 model.weights=best.pt
    python -m mjray.main ray.address=auto                  # join a running Ray cluster

The only module that imports Hydra's entry machinery; `run(cfg)` takes a plain `AppConfig` and
is what tests call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import time
from pathlib import Path

from mjray.config import AppConfig, CameraConfig, ConfigError, redact, register, validate
from mjray.frames import Result
from mjray.summary import SeatTally, Summary

log = logging.getLogger("mjray")
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def start_embedded_table(cfg: AppConfig, stack: contextlib.ExitStack) -> list[CameraConfig]:
    """No cameras configured: render the synthetic table and serve it over RTSP on 127.0.0.1."""
    from mjray.sim.server import RtspServer
    from mjray.sim.table import TableSpec, parse_size, render_table, seat_names

    width, height = parse_size(cfg.sim.size)
    spec = TableSpec(seats=seat_names(cfg.sim.seats), width=width, height=height, fps=cfg.sim.fps,
                     seconds=cfg.sim.seconds, seed=cfg.sim.seed)
    table = render_table(spec)
    server = stack.enter_context(RtspServer(table.videos, fps=spec.fps))
    log.info("embedded table: %d seats %s at %d fps on %s", len(spec.seats), cfg.sim.size, spec.fps,
             server.url("").rstrip("/"))
    return [CameraConfig(seat=seat, url=server.url(seat)) for seat in spec.seats]


def init_ray(cfg: AppConfig) -> None:
    import ray

    if ray.is_initialized():  # a caller (a test, a notebook) set Ray up already
        return
    from mjray.pipeline import WORKER_ENV

    common = {"namespace": f"mjray-{int(time.time())}", "runtime_env": {"env_vars": WORKER_ENV},
              "log_to_driver": True, "configure_logging": False}
    if cfg.ray.address:
        context = ray.init(address=cfg.ray.address, **common)
    else:
        context = ray.init(num_cpus=cfg.ray.num_cpus, num_gpus=cfg.ray.num_gpus, include_dashboard=cfg.ray.dashboard,
                           dashboard_host="127.0.0.1", **common)
    dashboard = getattr(context, "dashboard_url", None)
    log.info("Ray %s at %s%s", "cluster" if cfg.ray.address else "local", context.address_info.get("gcs_address"),
             f", dashboard http://{dashboard}" if dashboard else "")


def output_dir(cfg: AppConfig) -> Path:
    if cfg.display.output_dir:
        path = Path(cfg.display.output_dir)
    else:
        try:
            from hydra.core.hydra_config import HydraConfig

            path = Path(HydraConfig.get().runtime.output_dir)
        except ValueError:  # not under @hydra.main
            path = Path("outputs") / time.strftime("%Y-%m-%d/%H-%M-%S")
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(cfg: AppConfig) -> Summary:
    """Run the pipeline until `run.duration_s` or Ctrl-C; return the per-seat summary."""
    import ray

    from mjray.display import Display, has_screen
    from mjray.pipeline import Pipeline
    from mjray.sync import for_display

    validate(cfg)
    stopping: list[str] = []
    previous = {sig: signal.signal(sig, lambda s, _: stopping.append(signal.Signals(s).name))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: [signal.signal(s, h) for s, h in previous.items()])
        cameras = cfg.cameras or start_embedded_table(cfg, stack)
        for c in cameras:
            log.info("camera %s: %s", c.seat, redact(c.url))
        init_ray(cfg)
        out = output_dir(cfg)
        mode = cfg.display.mode if cfg.display.mode != "auto" else ("window" if has_screen() else "files")
        video = out / "grid.mp4" if mode == "files" and cfg.display.video else None
        window = mode == "window"
        pipeline = Pipeline(cfg, cameras, keep_pixels=bool(video or window))
        stack.callback(pipeline.shutdown)
        pipeline.start()
        seats = pipeline.seat_names
        fps = cfg.display.fps
        jsonl = out / "detections.jsonl" if cfg.display.detections and mode != "none" else None
        display = Display(seats, pipeline.names, ray.get, jsonl, video, window, fps, cfg.display.tile_width)
        stack.callback(display.close)
        sync = for_display(seats, fps, cfg.stream.policy)
        tallies = {seat: SeatTally(seat) for seat in seats}

        def take(drained: dict) -> None:
            now = time.time()
            for seat, items in drained.items():
                for item in items:
                    tallies[seat].add(item, now)
                    display.write(item, now)
                    if isinstance(item, Result):  # only pictures with boxes are shown; a skip keeps the last
                        sync.add(seat, item.captured_at, item, item.frame.instant)
            display.show(sync.moments(now))

        started = time.monotonic()
        next_status = started + cfg.run.status_every_s
        log.info("running%s; Ctrl-C stops", f" for {cfg.run.duration_s:g} s" if cfg.run.duration_s else "")
        while not stopping and not display.closed_by_user:
            if cfg.run.duration_s is not None and time.monotonic() - started >= cfg.run.duration_s:
                break
            take(pipeline.drain(wait_s=0.05))
            if time.monotonic() >= next_status:
                next_status += cfg.run.status_every_s
                status = pipeline.stats()
                log.info("status: %s", "  ".join(tallies[s].status(status[s]) for s in seats))
        elapsed = time.monotonic() - started
        why = stopping[0] if stopping else ("window closed" if display.closed_by_user else "duration reached")
        log.info("stopping (%s)", why)
        last, final = pipeline.stop()
        take(last)
        summary = Summary.build(tallies, final, elapsed, display.skews)
        (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=1))
        log.info("outputs in %s", out)
    return summary


def main() -> None:
    import hydra
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    register()

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
    def entry(raw) -> None:
        try:
            cfg = OmegaConf.to_object(raw)
        except OmegaConfBaseException as error:  # e.g. ${oc.env:TAPO_PASSWORD} unset
            print(f"mjray: bad setting: {str(error).splitlines()[0]}", file=sys.stderr)
            sys.exit(2)
        try:
            summary = run(cfg)
        except ConfigError as error:
            print(f"mjray: bad setting: {error}", file=sys.stderr)
            sys.exit(2)
        print(summary.table())

    entry()


if __name__ == "__main__":
    main()

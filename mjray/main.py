"""`python -m mjray.main [overrides]`: config -> pipeline -> run -> summary.

    python -m mjray.main                                   # embedded synthetic table, bundled tile model
    python -m mjray.main run.duration_s=60 stream.policy=every
    python -m mjray.main cameras=tapo4 pool=gpu pool.workers_per_camera=3 model.weights=best.pt
    python -m mjray.main 'urls=[rtsp://10.0.0.5/s1,rtsp://10.0.0.6/s1]'   # cameras from the command line
    python -m mjray.main record=true run.duration_s=600    # also keep every camera's stream as received
    python -m mjray.main replay=outputs/2026-11-25/20-00-00 stream.policy=every replay.speed=max
    python -m mjray.main ray.address=auto                  # join a running Ray cluster

The only module that imports Hydra's entry machinery; `run(cfg)` takes a plain `AppConfig` and
is what tests call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

from mjray.config import MOVED, AppConfig, CameraConfig, ConfigError, redact, redact_text, register, validate
from mjray.output.summary import Summary

log = logging.getLogger("mjray")
TASK_EVENTS = "RAY_task_events_report_interval_ms"  # 0: Ray's processes report no task events (`ray_settings`)
# a call's answer up to this size goes back in the reply, not through the object store (`ray_settings`)
INLINE = "RAY_max_direct_call_object_size"
INLINE_BYTES = 2 * 2**20  # a 1920x1080 frame's luma; Ray's default is 100 KiB
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def embedded_host(cfg: AppConfig) -> str:
    """Where the embedded table listens: `sim.host`, else 127.0.0.1 on a local Ray, else the
    address Ray knows this node by (call after `init_ray`)."""
    if cfg.sim.host:
        return cfg.sim.host
    if not cfg.ray.address:
        return "127.0.0.1"
    import ray

    return ray.util.get_node_ip_address()


def start_embedded_table(cfg: AppConfig, stack: contextlib.ExitStack, out: Path | None = None) -> list[CameraConfig]:
    """No cameras configured: render the synthetic table and serve it over RTSP (on 127.0.0.1; on a
    cluster, on this node's address, where the camera actors on other nodes reach it). Its spec
    goes into the run folder (`table.json`), for scoring the run against its game."""
    try:
        from mjray.sim.server import RtspServer
        from mjray.sim.table import TableSpec, parse_size, render_table, seat_names, write_spec
    except ImportError as error:
        raise ConfigError(
            f"cameras: none given, and the embedded table needs mjray's simulator ({error}); "
            "install it with `pip install -e '.[sim]'` (scripts/setup.sh does) or give urls=[rtsp://...]"
        ) from None

    width, height = parse_size(cfg.sim.size)
    try:
        seats = seat_names(cfg.sim.seats)
    except ValueError as error:
        raise ConfigError(f"sim.seats: {error}") from None
    try:
        spec = TableSpec(
            seats=seats,
            width=width,
            height=height,
            fps=cfg.sim.fps,
            seconds=cfg.sim.seconds,
            seed=cfg.sim.seed,
            scene=cfg.sim.scene,
        )
    except ValueError as error:
        raise ConfigError(f"sim.scene: {error}") from None
    table = render_table(spec)
    if out is not None:
        write_spec(spec, out)
    server = stack.enter_context(RtspServer(table.videos, fps=spec.fps, host=embedded_host(cfg)))
    log.info(
        "embedded table: %d seats %s at %d fps on %s",
        len(spec.seats),
        cfg.sim.size,
        spec.fps,
        server.url("").rstrip("/"),
    )
    return [CameraConfig(seat=seat, url=server.url(seat)) for seat in spec.seats]


def job_env() -> dict:
    """The job's runtime environment on a cluster: Ultralytics kept offline, and mjray's package
    shipped to every node (Ray uploads it once, each node unpacks it for its workers)."""
    import mjray

    return {"env_vars": worker_env(), "py_modules": [str(Path(mjray.__file__).parent)]}


def worker_env() -> dict[str, str]:
    """Every mjray worker's environment: Ultralytics offline, glibc's arenas few (mjray.cluster.heap), Ray's settings."""
    from mjray.cluster.heap import heap_env
    from mjray.detect.model import OFFLINE_ENV

    return {**OFFLINE_ENV, **heap_env(), **ray_settings()}


def ray_settings() -> dict[str, str]:
    """Ray's own settings for every process of a run, unless the environment sets them.

    No task events reported: mjray's actors record none, yet a run's processes still sent events
    that Ray's control store kept, and `gcs_server` grew all run long (docs/results.md, Memory).
    The cost: the dashboard's task views stay empty (its actors, logs and metrics do not).

    A frame handed over in a take's answer goes back in the reply up to `INLINE_BYTES`, not
    through the object store: a 640x360 frame's luma is 230 KB, over Ray's 100 KiB, and each such
    answer cost the object store's bookkeeping in Ray's own processes (on this box 4.2 -> 1.4 ms of
    their CPU a delivered frame, docs/results.md). Read by each process as it starts: on a cluster,
    mjray's workers get it from the job's runtime env; pushes (`ray.put`) still go through the store.
    """
    return {
        TASK_EVENTS: os.environ.get(TASK_EVENTS, "0"),
        INLINE: os.environ.get(INLINE, str(INLINE_BYTES)),
    }


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A head that does not answer is one line now, not minutes of Ray retrying to connect."""
    import socket

    host, _, port = address.rpartition(":")
    if address in ("auto", "local") or address.startswith("ray://") or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConfigError(
            f"ray.address: nothing answers at {address} ({error.strerror or error}); is the head "
            "node up (`ray status` there)? give its host:port, or auto on a node of the cluster"
        ) from None


def init_ray(cfg: AppConfig) -> None:
    import ray

    if ray.is_initialized():  # a caller (a test, a notebook) set Ray up already
        return
    for name, value in ray_settings().items():  # this process and a local Ray's, which inherit its environment
        os.environ.setdefault(name, value)
    common = {"namespace": f"mjray-{int(time.time())}", "log_to_driver": True, "configure_logging": False}
    if cfg.ray.address:  # mjray's code goes with the job: a worker node needs its dependencies, not mjray
        check_reachable(cfg.ray.address)
        try:
            context = ray.init(address=cfg.ray.address, runtime_env=job_env(), **common)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as error:
            raise ConfigError(
                f"ray.address: cannot join the Ray cluster at {cfg.ray.address}: "
                f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]} (is it up? `ray status`; "
                "a cluster with token authentication needs RAY_AUTH_MODE=token and its token)"
            ) from None
    else:
        export = {"_metrics_export_port": cfg.ray.metrics_export_port} if cfg.ray.metrics_export_port else {}
        context = ray.init(
            num_cpus=cfg.ray.num_cpus,
            num_gpus=cfg.ray.num_gpus,
            include_dashboard=cfg.ray.dashboard,
            dashboard_host="127.0.0.1",
            runtime_env={"env_vars": worker_env()},
            **export,
            **common,
        )
        if export:
            log.info(
                "metrics (Prometheus text): http://127.0.0.1:%d/metrics, series ray_mjray_* by seat",
                cfg.ray.metrics_export_port,
            )
    from mjray.cluster.logs import to_run_log

    to_run_log()
    dashboard = getattr(context, "dashboard_url", None)
    log.info(
        "Ray %s at %s%s",
        "cluster" if cfg.ray.address else "local",
        context.address_info.get("gcs_address"),
        f", dashboard http://{dashboard}{dashboard_login()}" if dashboard else "",
    )


def dashboard_login() -> str:
    """How to get into a dashboard that asks for Ray's token (never the token itself: logs are kept)."""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled

        enabled = is_token_auth_enabled()
    except Exception:  # Ray moved it: say nothing rather than something wrong
        return ""
    return " (it asks for Ray's token: `ray get-auth-token` prints it)" if enabled else ""


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


@contextlib.contextmanager
def stop_signals(stopping: list[str]):
    """SIGINT and SIGTERM (how systemd, Docker and Kubernetes stop a service) ask for a clean stop:
    the run notes it and winds down (outputs flushed, summary written); a second one exits at once."""

    def ask(signum, _frame) -> None:
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s again: exiting at once", name)
            raise SystemExit(128 + signum)
        log.info("%s: stopping cleanly (again to exit at once)", name)
        stopping.append(name)

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def settings_yaml(cfg: AppConfig) -> str:
    """The run's settings as YAML, camera credentials left out (kept with a recording)."""
    from omegaconf import OmegaConf

    saved = dataclasses.replace(
        cfg, cameras=[dataclasses.replace(c, username=None, password=None) for c in cfg.cameras]
    )
    return OmegaConf.to_yaml(OmegaConf.structured(saved))


def sources_for(cfg: AppConfig, out: Path, stack: contextlib.ExitStack) -> tuple[dict, float]:
    """Each seat's source, and a replay's time zero (its recording's first capture; 0 live)."""
    from mjray.camera.recording import Recording, RecordingError, start_recording
    from mjray.cluster.pipeline import live_sources, replay_sources
    from mjray.config import replay_speed
    from mjray.policy import parts

    if cfg.replay.path:
        try:
            recording = Recording(cfg.replay.path)
            sources = replay_sources(recording, replay_speed(cfg.replay.speed), cfg.stream.decode)
        except RecordingError as error:
            raise ConfigError(f"replay: {error}") from None
        fastest = replay_speed(cfg.replay.speed) is None
        log.info(
            "replaying %s (%s), seats %s",
            recording.folder,
            "as fast as the detectors take frames" if fastest else f"at {cfg.replay.speed} x the recorded pace",
            ", ".join(sources),
        )
        if fastest and not parts(cfg.stream.policy).lossless:
            log.warning(
                "replay.speed=max with stream.policy=%s skips most frames (nothing holds the decoder back); "
                "stream.policy=every infers them all",
                cfg.stream.policy.value,
            )
        return sources, recording.first_capture()
    cameras = cfg.cameras or start_embedded_table(cfg, stack, out)
    for c in cameras:
        log.info("camera %s: %s", c.seat, redact(c.url))
    record_to = None
    if cfg.record:
        try:
            record_to = start_recording(
                out / "recording", [c.seat for c in cameras], settings_yaml(dataclasses.replace(cfg, cameras=cameras))
            )
        except RecordingError as error:
            raise ConfigError(f"record: {error}") from None
        log.info("recording every camera as received into %s", record_to)
    return live_sources(cfg, cameras, record_to), 0.0


def run(cfg: AppConfig) -> Summary:
    """Run the pipeline until `run.duration_s`, Ctrl-C or the end of a replay; return the per-seat summary."""
    from mjray.camera.sources import ReplayClock
    from mjray.cluster.pipeline import Pipeline
    from mjray.config import replay_speed
    from mjray.order.sync import for_display
    from mjray.output.driver import Driver
    from mjray.output.sinks import SinkContext, build_sinks, sink_table, wanted_sinks, wants_pixels
    from mjray.policy import parts

    validate(cfg)
    # Ray would join it anyway: ship the job as for ray.address
    if not cfg.ray.address and os.environ.get("RAY_ADDRESS"):
        cfg.ray.address = os.environ["RAY_ADDRESS"]
    stopping: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(stop_signals(stopping))
        out = output_dir(cfg)
        if cfg.ray.address:  # the embedded table listens on the address the cluster knows this node by
            init_ray(cfg)
        sources, first_capture = sources_for(cfg, out, stack)
        init_ray(cfg)
        stack.enter_context(stop_signals(stopping))  # again: ray.init installs its own SIGTERM handler
        table = sink_table(cfg.plugins)
        outputs = wanted_sinks(cfg, table=table)
        pipeline = Pipeline(cfg, sources, keep_pixels=wants_pixels(outputs, table))
        stack.callback(pipeline.shutdown)
        pipeline.start()
        seats = pipeline.seat_names
        clock = (
            ReplayClock(pipeline.graph.started_at, first_capture, replay_speed(cfg.replay.speed))
            if cfg.replay.path
            else None
        )
        context = SinkContext(
            out,
            tuple(seats),
            pipeline.graph.names,
            pipeline.pixels,
            cfg.display,
            clock.recorded if clock else None,
            web=cfg.web,
        )
        sinks = build_sinks(context, outputs, table)
        driver = Driver(
            pipeline, sinks, for_display(seats, cfg.display.fps, parts(cfg.stream.policy)), cfg.run.status_every_s
        )
        stack.callback(driver.close)
        log.info("running%s; Ctrl-C stops", f" for {cfg.run.duration_s:g} s" if cfg.run.duration_s else "")
        why = driver.run(cfg.run.duration_s, lambda: stopping[0] if stopping else None)
        log.info("stopping (%s)", why)
        final = driver.finish()
        summary = Summary.build(driver.tallies, final, driver.elapsed_s, driver.skews)
        summary.actors = {name: dataclasses.asdict(fact) for name, fact in pipeline.facts.items()}
        graph = pipeline.graph
        summary.nodes, summary.pool, summary.driver_node = graph.nodes, pipeline.pool_choice, graph.driver_node
        summary.batches = {d.name: d.batches.as_dict() for d in pipeline.detector_stats if d.batches is not None}
        (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=1))
        log.info("outputs in %s", out)
    return summary


def hide_credentials_in_title() -> None:
    """A password typed into a camera URL on the command line leaves our process title (what `ps`
    shows, and what Ray records as the job's entrypoint for its dashboard)."""
    import setproctitle

    title = " ".join(sys.argv)
    if redact_text(title) != title:
        setproctitle.setproctitle(redact_text(f"{sys.executable} -m mjray.main {' '.join(sys.argv[1:])}"))


def redact_hydra_files() -> None:
    """Hydra saves the command line's overrides into the run folder (`.hydra/`): passwords out."""
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    if hydra.output_subdir is None:
        return
    for path in (Path(hydra.runtime.output_dir) / hydra.output_subdir).glob("*.yaml"):
        text = path.read_text()
        if redact_text(text) != text:
            path.write_text(redact_text(text))


def quiet_ray() -> None:
    """Shut Ray down, and with it the thread that copies its workers' output onto our stderr."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    sys.stderr.flush()


MAPS = ("pool.resources=", "pool.camera_resources=")  # maps of Ray resources, given whole on the command line


def shorthand(overrides: list[str]) -> list[str]:
    """`replay=<run dir>` is `replay.path=<run dir>` (replay is a group of settings); a resource map
    given whole (`pool.camera_resources={room_a: 0.01}`) is merged in with `++`, where Hydra would
    refuse new keys in the (empty) default."""
    return [
        f"replay.path={arg[len('replay=') :]}"
        if arg.startswith("replay=")
        else f"++{arg}"
        if arg.startswith(MAPS)
        else arg
        for arg in overrides
    ]


NOT_A_RUN = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun")  # Hydra prints or completes
MAX_CHECKED_JOBS = 256  # a sweep's jobs composed before the first starts


def hydra_args(argv: list[str]):
    """The command line as Hydra's own parser reads it (its flags, then the overrides)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(argv)


def hydra_quoted(text: str) -> str:
    """`text` as a quoted value in Hydra's override grammar, where a backslash is itself but before
    a quote (or the closing one): there it is doubled, and a quote escaped."""
    return "'" + re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text) + "'"


def check_overrides(argv: list[str]) -> str | None:
    """Compose the config from this command line as Hydra will; the first error as one line, or None.

    Hydra reports a bad override with a multi-line message and exit 1; mjray promises one line
    naming the setting and exit 2, so each job's config is composed here first, from the same
    config folders (`--config-path`, `--config-dir`, `hydra.searchpath`), config name and sweep
    (`-m`) as Hydra's.
    """
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    args = hydra_args(argv)
    if any(getattr(args, flag, None) for flag in NOT_A_RUN):
        return None
    hydra_own = ("hydra.", "+hydra.", "++hydra.", "hydra/")
    mine = [arg for arg in args.overrides if not arg.startswith(hydra_own)]
    multirun = args.multirun or any(arg.replace(" ", "") == "hydra.mode=MULTIRUN" for arg in args.overrides)
    parsed = []
    for arg in mine:  # a value the override grammar cannot read: name its setting
        try:
            parsed += OverridesParser.create().parse_overrides([arg])
        except HydraException as error:
            return f"{arg.split('=', 1)[0].lstrip('+~')}: cannot read {arg!r}: {str(error).splitlines()[0]}"
    for override in parsed:
        key = override.get_key_element().lstrip("+~")
        if key in MOVED:
            return f"{key}: is now {MOVED[key]} (the mahjong plug-in's settings; mahjong=none turns it off)"
    sweeps = [o for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        key = sweeps[0].get_key_element()
        return f"{key}: {sweeps[0].input_line!r} is a sweep: run it with -m (--multirun), or give a list as {key}=[...]"
    config_dir = CONF_DIR
    if args.config_path:
        if args.config_path.startswith("pkg://"):
            return None  # a package's configs: Hydra finds them, and reports them itself
        config_dir = (Path(__file__).parent / args.config_path).resolve()
    paths = []  # config folders beside the package's, in Hydra's order: --config-dir's, then hydra.searchpath's
    if args.config_dir:
        extra = Path(args.config_dir).resolve()
        if not extra.is_dir():
            return f"--config-dir: no folder at {extra}"
        paths.append(f"file://{extra}")
    # (Hydra reads the first)
    given = next((arg for arg in args.overrides if arg.startswith("hydra.searchpath=")), None)
    if given is not None:
        try:
            value = OverridesParser.create().parse_overrides([given])[0].value()
        except HydraException as error:
            return f"hydra.searchpath: cannot read {given!r}: {str(error).splitlines()[0]}"
        if not isinstance(value, list) or not all(isinstance(path, str) for path in value):
            return f"hydra.searchpath: a list of folders, e.g. 'hydra.searchpath=[file:///my/conf]', not {given!r}"
        paths += value
    search = [f"hydra.searchpath=[{','.join(map(hydra_quoted, paths))}]"] if paths else []
    try:
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch] if sweeps else [mine]
    except HydraException as error:  # a sweep only another sweeper plugin runs (interval, tag)
        return None if args.multirun else str(error).splitlines()[0]
    for number, job in enumerate(jobs[:MAX_CHECKED_JOBS], 1):
        try:
            with initialize_config_dir(version_base=None, config_dir=str(config_dir)):
                composed = compose(config_name=args.config_name or "config", overrides=search + job)
                if not args.cfg:  # (printed as composed: ${oc.env:...} unresolved, as Hydra prints it)
                    OmegaConf.to_object(composed)
        except (HydraException, OmegaConfBaseException, TypeError, ValueError) as error:
            lines = [text.strip() for text in str(error).splitlines() if text.strip()] or [type(error).__name__]
            cause = error.__cause__
            if cause is not None and str(cause).strip():
                lines.append(str(cause).strip().splitlines()[0])
            line = ": ".join(lines[:2])
            if lines[1:2] and lines[1].endswith(":"):  # Hydra lists what there is below: a group's options
                line += " " + ", ".join(itertools.takewhile(lambda text: not text.endswith(":"), lines[2:]))
            if any(arg.startswith("cameras=[") for arg in job):
                line += " (cameras= picks a preset from conf/cameras; give URLs with urls=[rtsp://...,rtsp://...])"
            return line + (f" (job {number} of the sweep: {' '.join(job)})" if len(jobs) > 1 else "")
    return None


def main() -> None:
    import hydra
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    register()
    hide_credentials_in_title()
    sys.argv[1:] = shorthand(sys.argv[1:])
    problem = check_overrides(sys.argv[1:])
    if problem:
        print(f"mjray: bad setting: {problem}", file=sys.stderr)
        sys.exit(2)

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
    def entry(raw) -> None:
        redact_hydra_files()
        try:
            cfg = OmegaConf.to_object(raw)
        except OmegaConfBaseException as error:  # e.g. ${oc.env:TAPO_PASSWORD} unset
            print(f"mjray: bad setting: {str(error).splitlines()[0]}", file=sys.stderr)
            sys.exit(2)
        from mjray.cluster.build import StartError

        try:
            summary = run(cfg)
        except ConfigError as error:
            quiet_ray()  # its workers' last lines (a killed actor's dump) must not follow the error
            print(f"mjray: bad setting: {error}", file=sys.stderr)
            sys.exit(2)
        except StartError as error:
            quiet_ray()
            print(f"mjray: could not start: {error}", file=sys.stderr)
            sys.exit(1)
        print(summary.table())
        quiet_ray()  # the next job of a sweep (-m) starts a Ray of its own

    entry()


if __name__ == "__main__":
    main()

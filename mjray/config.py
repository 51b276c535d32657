"""Typed configuration: one dataclass per concern, registered in Hydra's ConfigStore.

Defaults run on a laptop with no cameras (the embedded synthetic table and the bundled tile
model). `validate()` checks everything once at start-up and raises `ConfigError` naming the
setting and the fix; nothing deeper in the pipeline second-guesses a value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from mjray.frames import Decode, DisplayMode, Policy
from mjray.policy import parts

SEAT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
DEFAULT_SEATS = ("ton", "nan", "sha", "pei")  # seats named in order when urls= gives none
WEB_TOKEN_ENV = "MJRAY_WEB_TOKEN"  # the web view's token, when it listens beyond this machine


class ConfigError(ValueError):
    """A wrong setting; the message names it and says what to do."""


@dataclass
class CameraConfig:
    seat: str = "ton"  # seat name: names the actors and the outputs
    url: str = ""  # rtsp://host:554/stream1 (credentials go in username/password)
    username: Optional[str] = None  # e.g. ${oc.env:TAPO_USER}
    password: Optional[str] = None  # e.g. ${oc.env:TAPO_PASSWORD}; never printed
    resources: dict[str, float] = field(default_factory=dict)  # Ray resources its camera actor needs, to run
    # on the node that can reach it (e.g. {room_a: 0.01} with `ray start --resources='{"room_a": 1}'`)


@dataclass
class SimConfig:
    """The embedded synthetic table, started when no cameras are configured."""

    seats: int = 4  # cameras around the table (1..8)
    size: str = "640x360"  # WIDTHxHEIGHT of every camera
    fps: int = 15  # frames per second
    seconds: float = 60.0  # loop length of the rendered videos
    seed: int = 0
    scene: str = (
        "table"  # how the table looks: table; parlour (smaller tiles, other pose and light); homemade (other art)
    )
    host: Optional[str] = None  # address to serve on; None: 127.0.0.1, or on a cluster this node's Ray address
    markers: Optional[bool] = None  # read the frame markers into sim_frames.jsonl (for `python -m mjray.sim
    # score-game`); None: with the embedded table. true: cameras that serve the simulator's table (urls=...)


@dataclass
class ModelConfig:
    weights: Optional[str] = None  # .pt/.onnx path; None = the bundled mahjong tile model
    imgsz: int = 640  # inference size in pixels
    conf: float = 0.5  # minimum confidence of a detection
    iou: float = 0.5  # NMS IoU threshold
    device: str = "auto"  # auto (cuda when the worker holds a GPU), cpu, cuda, cuda:N
    grayscale: bool = True  # feed grey frames (the tile model was trained on them)
    autocontrast: bool = True  # stretch contrast to 0..255 before inference
    # CPU threads per worker for inference; 0: a shared worker's share of the cores, else pool.cpus_per_worker
    threads: int = 0
    # auto: an ONNX detection export on the CPU runs in ONNX Runtime directly (mjray.detect.onnx: Ultralytics'
    # boxes without its per-frame overhead); ultralytics: every model through Ultralytics' predict
    runtime: str = "auto"


@dataclass
class PoolConfig:
    auto: bool = False  # pool=auto (the default): where the cluster has GPUs the model can use, a pool per camera
    # holding GPU fractions (shared_workers -> 0, gpus_per_worker -> a share that packs whole into the GPUs);
    # else these settings as they are (placement.pool_for)
    shared_workers: int = 2  # detectors serving every camera in turn, newest frame first; 0: a pool per camera
    workers_per_camera: int = 1  # detector actors per camera, when shared_workers is 0
    gpus_per_worker: float = 0.0  # fraction of a GPU each detector reserves (0 = CPU)
    cpus_per_worker: float = 0.5  # CPUs each detector reserves in Ray's scheduler
    camera_cpus: float = 0.1  # CPUs each camera (decoder) actor reserves
    # cameras decoded in one process (a thread each; seats placed alike, in their order): fewer processes and
    # less memory on a node of many cameras; a crash restarts all of that process's seats. 1: a process each
    cameras_per_process: int = 1
    # seats' reorders in one process, drained by one call: less of Ray's CPU a frame; a crash of that
    # process restarts them all (each resumes where the driver took its output). 1: a process each
    reorders_per_process: int = 1
    in_flight_per_worker: int = 1  # pool per camera: frames queued or running per detector before the policy acts
    batch_size: int = (
        1  # shared workers: most frames, of as many cameras, inferred in one forward pass (1: one at a time)
    )
    batch_wait_ms: float = 50.0  # batch_size > 1: longest the first frame of a batch waits for it to fill
    # batch_size > 1: a frame captured longer ago than this when its batch closes becomes a `stale` gap; 0: no limit
    batch_max_age_ms: float = 2000.0
    # Ray resources every detector needs (placement), e.g. {gpu_box: 0.01}
    resources: dict[str, float] = field(default_factory=dict)
    # Ray resources every camera actor without its own needs (placement), e.g. {room_a: 0.01}
    camera_resources: dict[str, float] = field(default_factory=dict)


@dataclass
class StreamConfig:
    policy: Policy = Policy.latest  # latest: skip frames when busy (real time); every: a buffer, oldest first;
    # aligned: every seat sampled at the same instants, round after round (shared workers only)
    aligned_hz: float = 0.0  # policy aligned: most rounds per second; 0: as many as the workers infer
    # auto: on the GPU's video decoder (NVDEC) where the camera's node has one FFmpeg can open, else in software;
    # software; cuda: NVDEC or the seat ends saying why. Each camera logs which it got (summary: `decoder`)
    decode: Decode = Decode.auto
    open_timeout_s: float = 5.0  # RTSP open/read timeout before a reconnect
    reconnect_max_s: float = 5.0  # longest pause between reconnect attempts
    buffer_s: float = 2.0  # policy every: seconds of decoded frames a camera holds while detectors are busy
    # a frame's long side, in pixels, as a camera sends it to the detectors (scaled as it is converted: fewer bytes,
    # e.g. model.imgsz; boxes still come back in the frame's own pixels); 0: full size. Displays get the full picture.
    send_size: int = 0
    # (memory: width x height x 1.5 bytes a frame; what overflows is reported as `overflow` gaps)
    max_wait_ms: float = 5000.0  # reorder: longest wait for a lost frame before marking a gap (> slowest inference)
    max_pending: int = 256  # reorder: most frames held waiting for an earlier one


@dataclass
class DisplayConfig:
    mode: DisplayMode = DisplayMode.auto  # auto (window if a screen exists, else files), window, files, none
    output_dir: Optional[str] = None  # where files go; None = Hydra's run directory
    video: bool = True  # write the annotated grid of all seats as grid.mp4
    detections: bool = True  # write every seat's results as detections.jsonl
    tile_width: int = 640  # width in pixels of each seat's cell in the grid
    fps: int = 15  # moments per second of the grid (video clock, window, web view): its top picture rate


@dataclass
class WebConfig:
    """The live web view: the grid as it changes and each seat's state, in a browser."""

    port: Optional[int] = None  # serve it here (the URL is logged at start); None: off
    host: str = "127.0.0.1"  # any other address needs a token in $MJRAY_WEB_TOKEN (requests without it: 401)


@dataclass
class RayConfig:
    address: Optional[str] = None  # None: start Ray here; "auto": join the running cluster
    dashboard: bool = True  # start the dashboard with a local Ray
    num_cpus: Optional[int] = None  # CPUs of a local Ray (None: all cores)
    num_gpus: Optional[float] = None  # GPUs of a local Ray (None: detect)
    metrics_export_port: Optional[int] = None  # a local Ray serves Prometheus metrics here (/metrics); on a
    # cluster, each node's `ray start --metrics-export-port`


@dataclass
class ReplayConfig:
    """`replay=<run dir>` on the command line is short for `replay.path=<run dir>`."""

    path: Optional[str] = None  # a run directory made with record=true (or its recording/ folder)
    speed: str = "1"  # 1: the recorded pace (2: twice as fast, ...); max: as fast as the detectors take frames


@dataclass
class RunConfig:
    duration_s: Optional[float] = None  # stop after this long; None runs until Ctrl-C
    status_every_s: float = 5.0  # print a status line this often
    max_restarts: int = 3  # times Ray restarts an actor whose process died; past it its seat is down (-1: no limit)


@dataclass
class AppConfig:
    cameras: list[CameraConfig] = field(default_factory=list)  # a preset (cameras=tapo4); empty: the embedded table
    urls: list[str] = field(default_factory=list)  # cameras from the command line: urls=[rtsp://...,rtsp://...]
    seats: list[str] = field(default_factory=list)  # their seats, in order (default ton, nan, sha, pei, seat5, ...)
    record: bool = False  # write every camera's stream as received under <run dir>/recording
    replay: ReplayConfig = field(default_factory=ReplayConfig)  # feed a recording instead of cameras
    sim: SimConfig = field(default_factory=SimConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    web: WebConfig = field(default_factory=WebConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    run: RunConfig = field(default_factory=RunConfig)
    plugins: dict[str, Any] = field(default_factory=dict)  # name -> a plug-in's settings (mjray.plugins); the
    # mahjong group sets plugins.mahjong (mahjong=none: not loaded)


# Settings that moved, for a one-line pointer instead of "not in struct".
MOVED = {
    "model.faces": "plugins.mahjong.faces",
    "model.faces_file": "plugins.mahjong.faces_file",
    "display.game": "plugins.mahjong.game",
}


def register() -> None:
    """Register the schema with Hydra so YAML presets and overrides are type-checked."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="mjray_schema", node=AppConfig)


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe to log or show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


CREDENTIALS_IN_TEXT = re.compile(r"(\w+://[^\s/@:'\"]*):[^\s/@'\"]*@")


def redact_text(text: str) -> str:
    """Any text (an exception's message, a log line) with the passwords of URLs in it replaced by ***."""
    return CREDENTIALS_IN_TEXT.sub(r"\1:***@", text)


def with_credentials(camera: CameraConfig) -> str:
    """The URL to open, credentials filled in (keep it out of logs: use `redact`)."""
    if not camera.username and not camera.password:
        return camera.url
    parts = urlsplit(camera.url)
    user = quote(camera.username or "", safe="")
    password = quote(camera.password or "", safe="")
    host = parts.hostname or ""
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def cameras_from_urls(urls: list[str], seats: list[str]) -> list[CameraConfig]:
    """`urls=[...]` (and `seats=[...]`) as camera entries. Credentials in a URL move to the entry's
    username/password, so the URL itself never holds a password that could be logged."""
    _check(
        not seats or len(seats) == len(urls),
        "seats",
        f"names {len(seats)} seats for {len(urls)} urls; give one name per URL, or none for {', '.join(DEFAULT_SEATS)}, ...",
    )
    names = list(seats) or [DEFAULT_SEATS[i] if i < len(DEFAULT_SEATS) else f"seat{i + 1}" for i in range(len(urls))]
    twice = sorted({seat for seat in names if names.count(seat) > 1})
    _check(not twice, "seats", f"names {', '.join(twice)} twice; give each camera its own seat")
    cameras = []
    for i, (seat, url) in enumerate(zip(names, urls)):
        parts_ = urlsplit(str(url))
        _check(
            parts_.scheme in ("rtsp", "rtsps") and bool(parts_.hostname),
            f"urls[{i}]",
            f"must be an rtsp:// URL with a host, such as rtsp://192.168.1.101:554/stream1, got {redact(str(url))!r}",
        )
        netloc = (parts_.hostname or "") + (f":{parts_.port}" if parts_.port else "")
        cameras.append(
            CameraConfig(
                seat=seat,
                url=urlunsplit(parts_._replace(netloc=netloc)),
                username=unquote(parts_.username) if parts_.username else None,
                password=unquote(parts_.password) if parts_.password else None,
            )
        )
    return cameras


def replay_speed(speed: str) -> float | None:
    """`replay.speed` as a factor of the recorded pace; None for max (as fast as frames are taken)."""
    if str(speed).strip().lower() == "max":
        return None
    try:
        factor = float(speed)
    except ValueError:
        factor = float("nan")
    _check(
        factor > 0 and factor <= 100,
        "replay.speed",
        f"must be max or a factor of the recorded pace within (0, 100] (1: as recorded), got {speed!r}",
    )
    return factor


RESERVED = {
    "CPU": "pool.camera_cpus / pool.cpus_per_worker",
    "GPU": "pool.gpus_per_worker",
    "memory": "nothing: mjray places actors by CPUs, GPUs and custom resources",
    "object_store_memory": "nothing",
}


def _check_resource_names(setting: str, resources: dict) -> None:
    for name, amount in dict(resources or {}).items():
        _check(name not in RESERVED, setting, f"names Ray's own resource {name!r}; set it with {RESERVED.get(name)}")
        _check(
            isinstance(amount, (int, float)) and amount >= 0.0001,
            setting,
            f"{name}: must be an amount of at least 0.0001 (e.g. 0.01 of a resource a node has 1 of), got {amount!r}",
        )


def camera_resources(cfg: AppConfig, seat: str) -> dict[str, float]:
    """The Ray resources a seat's camera actor needs: its camera entry's, else the pool's default
    for cameras (the embedded table, urls=[...] and replays have no entries of their own)."""
    own = next((c.resources for c in cfg.cameras if c.seat == seat), None)
    return {k: float(v) for k, v in dict(own or cfg.pool.camera_resources).items()}


def _check(condition: bool, setting: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{setting}: {message}")


def validate(cfg: AppConfig) -> AppConfig:
    """Check every setting; raise ConfigError naming the first wrong one and the fix.

    Camera URLs given with `urls=` become `cameras` here; the policy name becomes its `Policy`."""
    if cfg.urls:
        _check(not cfg.cameras, "urls", "and a cameras preset were both given; use one of them")
        cfg.cameras = cameras_from_urls(list(cfg.urls), list(cfg.seats))
        cfg.urls, cfg.seats = [], []  # now cameras: validating again finds them there
    else:
        _check(not cfg.seats, "seats", "names seats but no urls=[...] were given")
    seats = [c.seat for c in cfg.cameras]
    for i, camera in enumerate(cfg.cameras):
        where = f"cameras[{i}] (seat {camera.seat!r})"
        _check(
            bool(SEAT_NAME.match(camera.seat or "")),
            f"{where}.seat",
            "must start with a letter and hold only letters, digits, - or _ (at most 32)",
        )
        _check(seats.count(camera.seat) == 1, f"{where}.seat", "is used by two cameras; give each seat its own name")
        scheme = urlsplit(camera.url).scheme
        _check(
            scheme in ("rtsp", "rtsps") and bool(urlsplit(camera.url).hostname),
            f"{where}.url",
            f"must be an rtsp:// URL with a host, got {redact(camera.url)!r} (a run recorded with record=true "
            "plays back with replay=<run dir>)",
        )
        _check(
            urlsplit(camera.url).password is None,
            f"{where}.url",
            "holds a password; put it in cameras[].password (e.g. ${oc.env:TAPO_PASSWORD}) so it is never logged",
        )
        _check_resource_names(f"{where}.resources", camera.resources)
    _check(len(cfg.cameras) <= 64, "cameras", f"{len(cfg.cameras)} cameras is more than 64")

    sim = cfg.sim
    _check(sim.seats >= 1, "sim.seats", f"must be at least 1, got {sim.seats}")  # the most: mjray.sim's to say
    _check(bool(re.match(r"^\d+x\d+$", sim.size)), "sim.size", f"must be WIDTHxHEIGHT like 640x360, got {sim.size!r}")
    _check(1 <= sim.fps <= 120, "sim.fps", f"must be within 1..120, got {sim.fps}")
    _check(sim.seconds >= 2, "sim.seconds", f"must be at least 2, got {sim.seconds}")

    model = cfg.model
    if model.weights and not os.path.isfile(model.weights):
        from mjray.detect.model import shipped_model_yaml

        _check(
            model.weights.endswith(".yaml") and shipped_model_yaml(model.weights),
            "model.weights",
            f"file not found: {model.weights} (give a local .pt or .onnx path, or an architecture Ultralytics "
            "ships such as yolov8n.yaml for random weights; nothing is downloaded)",
        )
    _check(
        32 <= model.imgsz <= 4096 and model.imgsz % 32 == 0,
        "model.imgsz",
        f"must be a multiple of 32 within 32..4096, got {model.imgsz}",
    )
    _check(0 <= model.conf <= 1, "model.conf", f"must be within 0..1, got {model.conf}")
    _check(0 <= model.iou <= 1, "model.iou", f"must be within 0..1, got {model.iou}")
    _check(
        bool(re.match(r"^(auto|cpu|cuda(:\d+)?|mps)$", model.device)),
        "model.device",
        f"must be auto, cpu, cuda or cuda:N, got {model.device!r}",
    )
    _check(
        model.runtime in ("auto", "ultralytics"),
        "model.runtime",
        f"must be auto or ultralytics, got {model.runtime!r}",
    )
    _check(model.threads >= 0, "model.threads", f"must be at least 1 (or 0 for auto), got {model.threads}")

    pool = cfg.pool
    _check(
        pool.workers_per_camera >= 1, "pool.workers_per_camera", f"must be at least 1, got {pool.workers_per_camera}"
    )
    _check(
        0 <= pool.gpus_per_worker <= 1 or float(pool.gpus_per_worker).is_integer(),
        "pool.gpus_per_worker",
        f"must be a fraction in 0..1 or a whole number of GPUs, got {pool.gpus_per_worker}",
    )
    _check(
        pool.shared_workers >= 0,
        "pool.shared_workers",
        f"must be 0 (a pool per camera) or the number of detectors shared by all cameras, got {pool.shared_workers}",
    )
    _check(pool.cpus_per_worker >= 0, "pool.cpus_per_worker", f"must be >= 0, got {pool.cpus_per_worker}")
    _check(pool.camera_cpus >= 0, "pool.camera_cpus", f"must be >= 0, got {pool.camera_cpus}")
    _check(
        pool.cameras_per_process >= 1,
        "pool.cameras_per_process",
        f"must be at least 1 (1: a process per camera), got {pool.cameras_per_process}",
    )
    _check(
        pool.reorders_per_process >= 1,
        "pool.reorders_per_process",
        f"must be at least 1 (1: a process per seat's reorder), got {pool.reorders_per_process}",
    )
    _check(
        pool.in_flight_per_worker >= 1,
        "pool.in_flight_per_worker",
        f"must be at least 1, got {pool.in_flight_per_worker}",
    )
    _check(pool.batch_size >= 1, "pool.batch_size", f"must be at least 1, got {pool.batch_size}")
    _check(
        pool.batch_size == 1 or pool.shared_workers >= 1,
        "pool.batch_size",
        f"is {pool.batch_size}, but batches are formed by detectors shared by the cameras: set pool.shared_workers >= 1 "
        "(e.g. pool.shared_workers=1), or pool.batch_size=1 for a pool per camera",
    )
    _check(pool.batch_wait_ms >= 0, "pool.batch_wait_ms", f"must be >= 0, got {pool.batch_wait_ms}")
    _check(
        pool.batch_max_age_ms >= 0, "pool.batch_max_age_ms", f"must be >= 0 (0: no limit), got {pool.batch_max_age_ms}"
    )
    _check_resource_names("pool.resources", pool.resources)
    _check_resource_names("pool.camera_resources", pool.camera_resources)
    if pool.gpus_per_worker == 0:
        _check(
            model.device in ("auto", "cpu"),
            "model.device",
            f"is {model.device!r} but pool.gpus_per_worker is 0: reserve GPUs (pool=gpu) or use model.device=cpu",
        )

    stream = cfg.stream
    try:
        stream.policy = Policy(stream.policy)
    except ValueError:
        raise ConfigError(
            f"stream.policy: must be one of {', '.join(p.value for p in Policy)}, got {stream.policy!r}"
        ) from None
    try:
        stream.decode = Decode(stream.decode)
    except ValueError:
        raise ConfigError(
            f"stream.decode: must be one of {', '.join(d.value for d in Decode)}, got {stream.decode!r}"
        ) from None
    if parts(stream.policy).shared_only:
        _check(
            pool.shared_workers >= 1,
            "stream.policy",
            f"{stream.policy.value} needs detectors shared by every camera (pool.shared_workers >= 1, e.g. pool=cpu)",
        )
    _check(
        pool.batch_size == 1 or not parts(stream.policy).rounds,
        "pool.batch_size",
        f"is {pool.batch_size}, but policy {stream.policy.value} samples one seat at a time at the rounds' instants: "
        "use pool.batch_size=1, or stream.policy=latest or every",
    )
    _check(
        0 <= stream.aligned_hz <= 120,
        "stream.aligned_hz",
        f"must be within 0..120 (0: no cap), got {stream.aligned_hz}",
    )
    _check(
        stream.send_size == 0 or stream.send_size >= 32,
        "stream.send_size",
        f"must be 0 (full size) or a long side of at least 32 pixels, got {stream.send_size}",
    )
    _check(stream.open_timeout_s > 0, "stream.open_timeout_s", f"must be > 0, got {stream.open_timeout_s}")
    _check(stream.reconnect_max_s > 0, "stream.reconnect_max_s", f"must be > 0, got {stream.reconnect_max_s}")
    _check(
        stream.max_wait_ms > 0,
        "stream.max_wait_ms",
        f"must be > 0 (the reorder never waits forever), got {stream.max_wait_ms}",
    )
    _check(0 < stream.buffer_s <= 60, "stream.buffer_s", f"must be within (0, 60] seconds, got {stream.buffer_s}")
    _check(stream.max_pending >= 1, "stream.max_pending", f"must be at least 1, got {stream.max_pending}")

    display = cfg.display
    try:
        display.mode = DisplayMode(display.mode)
    except ValueError:
        raise ConfigError(f"display.mode: must be one of {', '.join(DisplayMode)}, got {display.mode!r}") from None
    _check(1 <= display.fps <= 120, "display.fps", f"must be within 1..120, got {display.fps}")
    _check(16 <= display.tile_width <= 3840, "display.tile_width", f"must be within 16..3840, got {display.tile_width}")

    if cfg.run.duration_s is not None:
        _check(
            cfg.run.duration_s > 0,
            "run.duration_s",
            f"must be > 0 (or null to run until Ctrl-C), got {cfg.run.duration_s}",
        )
    _check(cfg.run.status_every_s > 0, "run.status_every_s", f"must be > 0, got {cfg.run.status_every_s}")
    speed = replay_speed(cfg.replay.speed)
    if cfg.replay.path:
        _check(os.path.exists(cfg.replay.path), "replay", f"no such run directory: {cfg.replay.path}")
        _check(not cfg.record, "record", "cannot record a replay (record=true with replay=...): it is recorded already")
        _check(not cfg.cameras, "replay", "replays a recording's cameras; drop the cameras/urls settings")
        _check(
            speed is not None or not parts(stream.policy).rounds,
            "replay.speed",
            f"max cannot drive stream.policy={stream.policy.value}: its rounds follow the wall clock; "
            "replay at a pace (replay.speed=1, 2, ...) or use stream.policy=every",
        )
    elif speed != 1.0:
        _check(False, "replay.speed", "is set but replay (the run directory to replay) is not")
    if cfg.record or cfg.replay.path:
        _check(
            not cfg.pool.camera_resources and not any(c.resources for c in cfg.cameras),
            "record" if cfg.record else "replay",
            "runs the camera actors on this node, where the recording's "
            "files are; drop pool.camera_resources and cameras[].resources",
        )
    if cfg.web.port is not None:
        _check(
            1 <= cfg.web.port <= 65535,
            "web.port",
            f"must be a port in 1..65535 (or null: no web view), got {cfg.web.port}",
        )
        _check(
            cfg.web.host in ("127.0.0.1", "localhost", "::1") or bool(os.environ.get(WEB_TOKEN_ENV)),
            "web.host",
            f"is {cfg.web.host!r}, not this machine alone: set a token in ${WEB_TOKEN_ENV} (requests must carry it), "
            "or keep web.host=127.0.0.1",
        )
    if cfg.ray.metrics_export_port is not None:
        _check(
            1 <= cfg.ray.metrics_export_port <= 65535 and not cfg.ray.address,
            "ray.metrics_export_port",
            f"must be a port in 1..65535, for a local Ray (a cluster's nodes set theirs with "
            f"`ray start --metrics-export-port`), got {cfg.ray.metrics_export_port}",
        )
    if cfg.ray.num_cpus is not None:
        _check(cfg.ray.num_cpus >= 1, "ray.num_cpus", f"must be at least 1, got {cfg.ray.num_cpus}")
    from mjray import plugins

    try:
        plugins.validate(cfg.plugins)
    except plugins.PluginError as error:
        raise ConfigError(str(error)) from None
    return cfg


def check_resources(pool: PoolConfig, cameras: int, available: dict[str, float]) -> None:
    """Fail at start-up, not by hanging, when the cluster cannot place every actor."""
    workers = pool.shared_workers or cameras * pool.workers_per_camera
    need_cpu = workers * pool.cpus_per_worker + cameras * pool.camera_cpus
    need_gpu = workers * pool.gpus_per_worker
    have_cpu, have_gpu = available.get("CPU", 0.0), available.get("GPU", 0.0)
    if need_cpu > have_cpu + 1e-9:
        how = (
            f"{pool.shared_workers} shared workers x {pool.cpus_per_worker} CPUs + {cameras} cameras x "
            f"{pool.camera_cpus} for decoding"
            if pool.shared_workers
            else f"{cameras} cameras x ({pool.workers_per_camera} workers x {pool.cpus_per_worker} CPUs "
            f"+ {pool.camera_cpus} for decoding)"
        )
        raise ConfigError(
            f"pool: {how} = {need_cpu:g} CPUs, but Ray has {have_cpu:g}; lower pool.cpus_per_worker, "
            "pool.camera_cpus, pool.workers_per_camera or pool.shared_workers, or add nodes"
        )
    if need_gpu > have_gpu + 1e-9:
        raise ConfigError(
            f"pool: {workers} workers x {pool.gpus_per_worker} GPUs = {need_gpu:g} GPUs, but Ray has {have_gpu:g}; "
            "lower pool.gpus_per_worker or pool.workers_per_camera (pool.gpus_per_worker=0 runs on CPU)"
        )

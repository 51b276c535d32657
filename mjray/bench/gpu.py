"""`python -m mjray.bench.gpu`: how many cameras one box infers every frame of, per model and pool.

    python -m mjray.bench.gpu                                   # GPU box: 1, 4, 16, 64, 128, 256 seats
    python -m mjray.bench.gpu --steps 1,2,4 --seconds 20        # a small box (CPU): small steps
    python -m mjray.bench.gpu --models yolov8n.yaml --modes batched --clips DIR

Cameras are H.264 streams fed at their own pace without an RTSP server: the test bed's clips
(`mjray.sim`, or `--clips DIR` of `<name>.264` files rendered elsewhere) remuxed once into a
recording of as many seats as a step needs, each seat a clip shifted by a part of a frame interval
so that the cameras are out of step as real ones are, and replayed by mjray itself
(`replay.path`, `stream.policy=every`), 16 cameras to a process (`--cameras-per-process`) and 16
seats' reorders (`--reorders-per-process`). Each
step is one `python -m mjray.main` run; its summary gives frames inferred, their share of the
cameras' frames, latency from capture to result, the batch sizes and each camera's decoder
(NVDEC where the node's FFmpeg opens a CUDA device: `stream.decode=auto`; pass
`stream.decode=software` to compare), and this script adds
CPU seconds per inferred frame by process kind and the GPU's use and memory (NVML, where there is
a GPU). A (model, mode) stops at the first step that infers less than `--keep-up` of the
cameras' frames. Prints numbers, asserts nothing
about speed; writes gpu.json and gpu.csv.

Modes: `pools`, a detector per camera, each a fraction of the GPUs (as pool=gpu); `batched`,
`--workers` detectors shared by all cameras, each inferring up to `--batch` frames in one pass.
Models: Ultralytics architectures built offline with random weights (speed, not accuracy, is
measured) and `tiles`, the bundled tile model (its face reading off: the engine is measured).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from mjray.bench.observe import TreeMeter
from mjray.camera.recording import FORMAT_VERSION

log = logging.getLogger("mjray.bench.gpu")

STEPS = (1, 4, 16, 64, 128, 256)
MODELS = ("yolov8n.yaml", "yolov8l.yaml", "tiles")
MODES = ("batched", "pools")
START_TIMEOUT_S = 600  # loading many detectors, starting many cameras


@dataclass
class Step:
    model: str
    mode: str
    seats: int
    seconds: float = 0.0
    frames_in: int = 0  # frames the cameras decoded
    inferred: int = 0
    fps_inferred: float = 0.0
    share: float = 0.0  # inferred / decoded
    latency_p50_ms: float | None = None  # capture -> result, the median seat's
    latency_p99_ms: float | None = None  # the worst seat's
    gaps: dict = field(default_factory=dict)  # reason -> frames
    batches: dict = field(default_factory=dict)  # detector -> mean, max, count
    decoders: dict = field(default_factory=dict)  # decoder in words (NVDEC, software and why) -> seats
    cpu_per_frame_ms: dict = field(default_factory=dict)  # process kind -> CPU ms per inferred frame
    gpu_util_pct: float | None = None  # mean over the run
    gpu_mem_mib: float | None = None  # peak
    wall_s: float = 0.0  # the whole run, start-up included
    error: str = ""  # why the run failed, if it did


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mjray.bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default=",".join(map(str, STEPS)), help="seats per step, comma-separated")
    parser.add_argument("--models", default=",".join(MODELS), help="weights (or 'tiles'), comma-separated")
    parser.add_argument("--modes", default=",".join(MODES), help="batched, pools")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--size", default="1280x720", help="the clips' WIDTHxHEIGHT (rendered by mjray.sim)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--clips", type=Path, help="a folder of <name>.264 clips to use instead of rendering them")
    parser.add_argument("--batch", type=int, default=0, help="batched: frames per pass (0: the seats, at most 64)")
    parser.add_argument("--batch-wait-ms", type=float, default=50.0)
    parser.add_argument("--send-size", type=int, default=640, help="stream.send_size: cameras send model-sized frames")
    parser.add_argument("--workers", type=int, default=0, help="batched: shared detectors (0: one per 64 seats)")
    parser.add_argument("--pools-max", type=int, default=16, help="pools: most seats tried (a process per camera)")
    parser.add_argument(
        "--cameras-per-process",
        type=int,
        default=16,
        help="pool.cameras_per_process: cameras decoded in one process (1: a process each)",
    )
    parser.add_argument(
        "--reorders-per-process",
        type=int,
        default=16,
        help="pool.reorders_per_process: seats' reorders in one process, drained by one call (1: a process each)",
    )
    parser.add_argument("--keep-up", type=float, default=0.97, help="share of frames inferred to go on to more seats")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench-gpu") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("overrides", nargs="*", help="more mjray settings for every run, e.g. model.imgsz=480")
    return parser.parse_args(argv)


def render_clips(size: str, fps: int, seconds: float) -> list[Path]:
    """The test bed's four seats as H.264 clips (rendered once, then cached)."""
    from mjray.sim.table import TableSpec, parse_size, render_table

    width, height = parse_size(size)
    table = render_table(TableSpec(width=width, height=height, fps=fps, seconds=seconds))
    return [table.folder / f"{seat}.264" for seat in table.spec.seats]


def remux(clip: Path, video: Path, fps: int) -> int:
    """A raw H.264 clip into Matroska with a timestamp per packet, as a recording holds it; its packets."""
    import av

    with av.open(str(clip), format="h264") as source, av.open(str(video), "w", format="matroska") as target:
        stream = source.streams.video[0]
        out = target.add_stream_from_template(stream)
        count = 0
        for packet in source.demux(stream):
            if packet.size == 0:
                continue
            packet.pts = packet.dts = count
            packet.time_base = out.time_base = _fraction(1, fps)
            packet.stream = out
            target.mux(packet)
            count += 1
    return count


def _fraction(num: int, den: int):
    from fractions import Fraction

    return Fraction(num, den)


def make_recording(folder: Path, clips: list[Path], seats: int, fps: int) -> Path:
    """A recording of `seats` cameras (`mjray.camera.recording`'s layout) made of the clips, seat i
    playing clip i mod len(clips), shifted by i / seats of a frame interval."""
    if (folder / "manifest.json").exists():
        return folder
    base = folder.parent / "clips"
    base.mkdir(parents=True, exist_ok=True)
    packets = {}
    for clip in clips:
        count = base / f"{clip.stem}.count"  # written after its video: both are there
        if not count.exists():
            count.write_text(str(remux(clip, base / f"{clip.stem}.mkv", fps)))
        packets[clip] = int(count.read_text())
    staging = folder.with_name(folder.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    names = [f"cam{i:03d}" for i in range(seats)]
    t0 = 1_000_000_000.0  # the recording's own clock: replay maps it onto now
    for i, name in enumerate(names):
        clip = clips[i % len(clips)]
        (staging / name).mkdir(parents=True)
        os.symlink((base / f"{clip.stem}.mkv").resolve(), staging / name / "000.mkv")
        offset = i / seats / fps
        with open(staging / name / "000.packets.jsonl", "w") as times:
            for n in range(packets[clip]):
                line = {"pts": n, "captured_at": round(t0 + offset + n / fps, 6), "clock": "arrival"}
                if n == 0:
                    line["time_base"] = f"1/{fps}"
                times.write(json.dumps(line) + "\n")
    (staging / "config.yaml").write_text("# made by python -m mjray.bench.gpu\n")
    (staging / "manifest.json").write_text(json.dumps({"format": FORMAT_VERSION, "seats": names, "started_at": t0}))
    staging.rename(folder)
    return folder


def settings(model: str, mode: str, seats: int, args: argparse.Namespace) -> list[str]:
    """The mjray overrides of one run."""
    gpus = gpu_count()
    run = [
        "stream.policy=every",
        f"run.duration_s={args.seconds:g}",
        "ray.dashboard=false",
        "display.mode=none",
        "display.video=false",
        "display.detections=false",
        "sim.markers=false",
        "pool.camera_cpus=0.04",  # 256 cameras and 4 detectors on 16 cores
        f"pool.cameras_per_process={args.cameras_per_process}",  # 256 cameras: 16 processes, not 256
        f"pool.reorders_per_process={args.reorders_per_process}",  # and 16 for their reorders
        f"stream.send_size={args.send_size}",
    ]
    if model == "tiles":
        run += ["plugins.mahjong.faces=false", "plugins.mahjong.game=false"]
    else:
        run += ["model=custom", f"model.weights={model}"]
    if mode == "pools":
        workers = seats
        fraction = 0.0 if not gpus else round(min(1.0, gpus / workers), 4)
        run += ["pool=gpu" if gpus else "pool=cpu", "pool.shared_workers=0", "pool.workers_per_camera=1"]
        run += [f"pool.gpus_per_worker={fraction}", f"pool.cpus_per_worker={0.5 if gpus else 0.2}"]
    else:
        workers = args.workers or max(1, -(-seats // 64))
        batch = args.batch or min(seats, 64)
        per_worker = -(-seats // workers)
        run += [
            "pool=gpu" if gpus else "pool=cpu",
            f"pool.shared_workers={workers}",
            f"pool.batch_size={min(batch, per_worker) if seats > 1 else 1}",
            f"pool.batch_wait_ms={args.batch_wait_ms:g}",
            f"pool.gpus_per_worker={round(min(1.0, gpus / workers), 4) if gpus else 0.0}",
            "pool.cpus_per_worker=1",
        ]
    return run + list(args.overrides)


def gpu_count() -> int:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount()
    except Exception:  # no NVML: no NVIDIA GPU here
        return 0


class GpuMeter:
    """The GPUs' utilisation (mean) and memory used (peak) while a run goes, from NVML."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s, self.util, self.peak_mib = every_s, [], 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GpuMeter:
        if gpu_count():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        import pynvml

        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        while not self._stop.wait(self.every_s):
            self.util.append(sum(pynvml.nvmlDeviceGetUtilizationRates(h).gpu for h in handles) / len(handles))
            self.peak_mib = max(self.peak_mib, sum(pynvml.nvmlDeviceGetMemoryInfo(h).used for h in handles) / 2**20)

    def mean_util(self) -> float | None:
        return round(sum(self.util) / len(self.util), 1) if self.util else None


def stop_session(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM to the run and everything it started (it writes its summary), SIGKILL past `grace_s`."""
    import signal

    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
            process.wait(wait_s)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def run_step(step: Step, recording: Path, overrides: list[str], out: Path) -> Step:
    """One `python -m mjray.main` run; the step filled in from its summary and the meters."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mjray.main", f"replay.path={recording}", *overrides, f"hydra.run.dir={out}"]
    (out / "command.txt").write_text(" ".join(command) + "\n")
    started = time.monotonic()
    with open(out / "log.txt", "w") as log_file, GpuMeter() as gpu:
        # a session of its own: a run past its time is stopped with every process it started (Ray's too)
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        meter = TreeMeter(process.pid)
        meter.begin()
        deadline = started + START_TIMEOUT_S + step.seconds * 2 + 60
        while process.poll() is None:
            try:
                meter.sample()
            except psutil.NoSuchProcess:  # the run ended between the poll and the sample
                break
            if time.monotonic() > deadline:
                stop_session(process)
                break
            time.sleep(1.0)
        process.wait()
    step.wall_s = round(time.monotonic() - started, 1)
    summary_file = out / "summary.json"
    if process.returncode != 0 or not summary_file.exists():
        tail = (out / "log.txt").read_text().strip().splitlines()[-3:]
        step.error = f"exit {process.returncode}: " + " | ".join(tail)[-400:]
        return step
    summary = json.loads(summary_file.read_text())
    seats = summary["seats"]
    step.seconds = summary["seconds"]
    step.frames_in = sum(s["decoded"] for s in seats)
    step.inferred = sum(s["inferred"] for s in seats)
    step.fps_inferred = round(step.inferred / max(step.seconds, 1e-9), 1)
    step.share = round(step.inferred / max(step.frames_in, 1), 4)
    p50 = sorted(s["latency_p50_ms"] for s in seats if s["latency_p50_ms"] is not None)
    step.latency_p50_ms = p50[len(p50) // 2] if p50 else None
    step.latency_p99_ms = max((s["latency_p99_ms"] for s in seats if s["latency_p99_ms"] is not None), default=None)
    for reason in ("skipped", "overflow", "failed", "timeouts", "lost", "offline", "restart", "stale"):
        count = sum(s.get(reason, 0) for s in seats)
        if count:
            step.gaps[reason] = count
    step.batches = summary.get("batches", {})
    for seat in seats:
        decoder = seat.get("decoder") or "never opened"
        step.decoders[decoder] = step.decoders.get(decoder, 0) + 1
    by_kind: dict[str, float] = {}  # camera:cam001:CameraActor -> CameraActor
    for role, seconds in meter.by_role().items():
        kind = role.rsplit(":", 1)[-1]
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    step.cpu_per_frame_ms = {
        kind: round(seconds * 1000 / max(step.inferred, 1), 2)
        for kind, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1])
        if seconds
    }
    step.gpu_util_pct, step.gpu_mem_mib = gpu.mean_util(), round(gpu.peak_mib) if gpu.peak_mib else None
    return step


def line(step: Step) -> str:
    if step.error:
        return f"{step.model:14s} {step.mode:8s} {step.seats:5d}  FAILED: {step.error}"
    mean_batch = (
        sum(b["mean"] * b["count"] for b in step.batches.values())
        / max(1, sum(b["count"] for b in step.batches.values()))
        if step.batches
        else 1.0
    )
    cpu = sum(step.cpu_per_frame_ms.values())
    nvdec = sum(n for decoder, n in step.decoders.items() if decoder.startswith("NVDEC"))
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    return (
        f"{step.model:14s} {step.mode:8s} {step.seats:5d} {step.fps_inferred:9.1f} {step.share:6.3f} "
        f"{fmt(step.latency_p50_ms):>7s} {fmt(step.latency_p99_ms):>7s} {mean_batch:6.1f} {cpu:8.1f} "
        f"{fmt(step.gpu_util_pct):>5s} {fmt(step.gpu_mem_mib):>7s} {nvdec:6d}"
    )


HEADER = (
    f"{'model':14s} {'mode':8s} {'seats':>5s} {'frames/s':>9s} {'share':>6s} {'p50 ms':>7s} {'p99 ms':>7s} "
    f"{'batch':>6s} {'CPU ms/f':>8s} {'GPU %':>5s} {'GPU MiB':>7s} {'NVDEC':>6s}"
)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    steps = [int(s) for s in args.steps.split(",") if s]
    models = [m for m in args.models.split(",") if m]
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not steps or min(steps) < 1:
        sys.exit(f"mjray.bench.gpu: --modes must be among {', '.join(MODES)} and --steps whole numbers >= 1")
    clips = sorted(args.clips.glob("*.264")) if args.clips else render_clips(args.size, args.fps, args.seconds + 15)
    if not clips:
        sys.exit(f"mjray.bench.gpu: no <name>.264 clips in {args.clips}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log.info(
        "%d clips (%s), %d CPU cores, %d GPUs; results in %s",
        len(clips),
        clips[0].parent,
        psutil.cpu_count(),
        gpu_count(),
        out,
    )
    done: list[Step] = []
    print(HEADER, flush=True)
    for model in models:
        for mode in modes:
            for seats in steps:
                if mode == "pools" and seats > args.pools_max:
                    break
                recording = make_recording(out / "recordings" / f"seats{seats}", clips, seats, args.fps)
                step = Step(model, mode, seats, seconds=args.seconds)
                step = run_step(
                    step,
                    recording,
                    settings(model, mode, seats, args),
                    out / "runs" / f"{Path(model).stem}-{mode}-{seats}",
                )
                done.append(step)
                print(line(step), flush=True)
                (out / "gpu.json").write_text(json.dumps([asdict(s) for s in done], indent=1))
                if step.error or step.share < args.keep_up:
                    break
    with open(out / "gpu.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "model",
                "mode",
                "seats",
                "fps_inferred",
                "share",
                "p50_ms",
                "p99_ms",
                "batches",
                "cpu_ms_per_frame",
                "gpu_util_pct",
                "gpu_mem_mib",
                "decoders",
                "error",
            ]
        )
        for s in done:
            writer.writerow(
                [
                    s.model,
                    s.mode,
                    s.seats,
                    s.fps_inferred,
                    s.share,
                    s.latency_p50_ms,
                    s.latency_p99_ms,
                    json.dumps(s.batches),
                    json.dumps(s.cpu_per_frame_ms),
                    s.gpu_util_pct,
                    s.gpu_mem_mib,
                    json.dumps(s.decoders),
                    s.error,
                ]
            )
    print(f"results: {out / 'gpu.json'}, {out / 'gpu.csv'}")


if __name__ == "__main__":
    main()

"""`python -m mjray.bench.recording`: what recording costs a camera, measured.

Serves the embedded table (by default 4 cameras at 1280x720, 15 fps) and reads every camera
with `RtspSource`, as the camera actors do, alternately without and with the recorder, in
rounds. Prints the CPU of the whole process per camera (decode, or decode + remux), the
difference, the CPU spent inside the recorder itself (thread time of `SegmentWriter.write` and
its segment's open and close), and the bytes written. Prints numbers, asserts nothing.

    python -m mjray.bench.recording                        # 4 x 720p15, 2 rounds of 30 s each way
    python -m mjray.bench.recording --size 640x360 --seconds 60 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from mjray.camera.actor import recording
from mjray.camera.sources import RtspSource, SourceState
from mjray.frames import Decode


def read_cameras(urls: dict[str, str], seconds: float, record_to: Path | None) -> dict:
    """Read every camera for `seconds` in threads of this process; CPU seconds and frames."""
    stop = threading.Event()
    frames = {seat: 0 for seat in urls}
    writer_s = [0.0]
    lock = threading.Lock()
    write = recording.SegmentWriter.write

    def timed_write(self, packet, captured_at, clock):
        started = time.thread_time()
        write(self, packet, captured_at, clock)
        with lock:
            writer_s[0] += time.thread_time() - started

    def read(seat: str, url: str) -> None:
        # (software: the recorder's cost is measured against a software decode, whatever the node)
        source = RtspSource(url, seat, record_to=str(record_to / seat) if record_to else None, decode=Decode.software)
        for _ in source.frames(stop, SourceState()):
            frames[seat] += 1

    recording.SegmentWriter.write = timed_write
    try:
        threads = [threading.Thread(target=read, args=item, daemon=True) for item in urls.items()]
        for thread in threads:
            thread.start()
        time.sleep(3.0)  # connected and streaming before the window opens
        cpu0, wall0, frames0 = time.process_time(), time.monotonic(), dict(frames)
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        counted = {seat: frames[seat] - frames0[seat] for seat in urls}
        stop.set()
        for thread in threads:
            thread.join(10)
    finally:
        recording.SegmentWriter.write = write
    written = sum(f.stat().st_size for f in record_to.rglob("*") if f.is_file()) if record_to else 0
    return {"cpu_s": cpu, "wall_s": wall, "frames": counted, "writer_cpu_s": writer_s[0], "bytes": written}


def main() -> None:
    from mjray.sim.server import RtspServer
    from mjray.sim.table import TableSpec, parse_size, render_table, seat_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=4)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window of each run")
    parser.add_argument("--rounds", type=int, default=2, help="runs without and with the recorder, alternating")
    args = parser.parse_args()
    width, height = parse_size(args.size)
    spec = TableSpec(seats=seat_names(args.seats), width=width, height=height, fps=args.fps)
    table = render_table(spec)
    runs: dict[str, list[dict]] = {"decode": [], "decode + record": []}
    with RtspServer(table.videos, fps=spec.fps) as server, tempfile.TemporaryDirectory() as scratch:
        urls = {seat: server.url(seat) for seat in spec.seats}
        for round_ in range(args.rounds):
            for mode in runs:
                folder = Path(scratch) / f"{round_}-{len(runs[mode])}" if mode != "decode" else None
                got = read_cameras(urls, args.seconds, folder)
                runs[mode].append(got)
                print(
                    f"round {round_ + 1} {mode:16s} {got['cpu_s'] / got['wall_s'] / args.seats * 100:6.2f} % of a core "
                    f"per camera, {sum(got['frames'].values()) / got['wall_s'] / args.seats:.2f} frames/s per camera",
                    flush=True,
                )
    cams = args.seats
    share = {mode: [r["cpu_s"] / r["wall_s"] / cams * 100 for r in rs] for mode, rs in runs.items()}
    recorded = runs["decode + record"]
    writer = [r["writer_cpu_s"] / r["wall_s"] / cams * 100 for r in recorded]
    rate = [r["bytes"] / (r["wall_s"] + 3.0) / cams / 1e6 for r in recorded]
    report = {
        "cameras": cams,
        "size": args.size,
        "fps": args.fps,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "decode_pct_core_per_camera": [round(x, 2) for x in share["decode"]],
        "decode_and_record_pct_core_per_camera": [round(x, 2) for x in share["decode + record"]],
        "difference_pct": round(
            sum(share["decode + record"]) / len(recorded) - sum(share["decode"]) / len(runs["decode"]), 2
        ),
        "recorder_thread_pct_core_per_camera": [round(x, 2) for x in writer],
        "written_mb_s_per_camera": [round(x, 3) for x in rate],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""What the live web view costs: the embedded table with the view on and nobody watching, against
the same with a client on its MJPEG stream and status (as the page is).

    python -m mjray.bench.web --seconds 60

Frames/s out and latency from each run's summary.json. A script that prints numbers, not a test:
run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

from mjray.sim.server import free_port


def watch(port: int, stop: threading.Event, got: dict) -> None:
    """As the page does: the MJPEG stream read as it comes, status.json once a second."""

    def stream() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=30) as response:
            while not stop.is_set():
                chunk = response.read(65536)
                if not chunk:
                    break
                got["bytes"] = got.get("bytes", 0) + len(chunk)
                got["pictures"] = got.get("pictures", 0) + chunk.count(b"--frame")

    threading.Thread(target=stream, daemon=True).start()
    while not stop.wait(1.0):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=10).read()


def run(seconds: float, watched: bool, folder: Path) -> dict:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mjray.main",
            f"run.duration_s={seconds}",
            f"web.port={port}",
            "ray.dashboard=false",
            "display.video=false",
            f"display.output_dir={folder}",
        ],
        cwd=folder.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stop, got = threading.Event(), {}
    for line in process.stdout:  # type: ignore[union-attr]
        if "running for" in line and watched:
            threading.Thread(target=watch, args=(port, stop, got), daemon=True).start()
    process.wait()
    stop.set()
    if process.returncode != 0:
        raise RuntimeError(f"mjray.main exit {process.returncode}")
    seats = json.loads((folder / "summary.json").read_text())["seats"]
    return {
        "watched": watched,
        "fps_out": round(sum(s["fps_out"] for s in seats), 1),
        "p50_ms": round(sum(s["latency_p50_ms"] or 0 for s in seats) / len(seats)),
        "p99_ms": max(s["latency_p99_ms"] or 0 for s in seats),
        "pictures_per_s": round(got.get("pictures", 0) / seconds, 1),
        "mb_per_s": round(got.get("bytes", 0) / seconds / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="mjray-web-"))
    rows = [run(args.seconds, watched, out / f"watched-{watched}") for watched in (False, True)]
    print(f"embedded table (4 x 640x360 15 fps), pool=auto, {args.seconds:g} s each; outputs in {out}")
    print(f"{'page':10s}{'frames/s out':>14s}{'p50 ms':>9s}{'p99 ms':>9s}{'pictures/s':>12s}{'MB/s':>7s}")
    for row in rows:
        print(
            f"{'open' if row['watched'] else 'closed':10s}{row['fps_out']:>14}{row['p50_ms']:>9}{row['p99_ms']:>9}"
            f"{row['pictures_per_s']:>12}{row['mb_per_s']:>7}"
        )


if __name__ == "__main__":
    main()

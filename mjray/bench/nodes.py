"""Cameras on one node and detectors on another, against all on one node: frames/s, latency and
the bytes that cross the network, on a real multi-node Ray cluster started here (127.0.0.1).

    python -m mjray.bench.nodes --seconds 60 --size 1280x720

Each layout is a fresh cluster (`mjray.bench.cluster`) running `python -m mjray.main` on the
embedded table with the same pool (two shared CPU detectors, policy latest). Network: the
loopback interface's received bytes while the pipeline runs (every node of this cluster talks
over it; so does the RTSP server, whose H.264 is the floor). A script that prints numbers, not a
test: run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from mjray.bench.cluster import LocalCluster, NodeSpec

POOL = ["pool=cpu", "pool.resources={dets: 0.01}", "pool.camera_resources={cams: 0.01}"]
LAYOUTS = {  # name -> (nodes, extra settings)
    "one node": ([NodeSpec("head", 2, resources={"cams": 1, "dets": 1})], ["display.video=false"]),
    "cameras | detectors": (
        [NodeSpec("head", 0), NodeSpec("cams", 1, resources={"cams": 1}), NodeSpec("dets", 2, resources={"dets": 1})],
        ["display.video=false"],
    ),
    "cameras | detectors, grid video": (
        [NodeSpec("head", 0), NodeSpec("cams", 1, resources={"cams": 1}), NodeSpec("dets", 2, resources={"dets": 1})],
        ["display.video=true"],
    ),
}


def loopback_bytes() -> int:
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, fields = line.partition(":")
        if name.strip() == "lo":
            return int(fields.split()[0])
    raise RuntimeError("no loopback interface in /proc/net/dev")


def run_layout(name: str, nodes: list[NodeSpec], extra: list[str], seconds: float, size: str, folder: Path) -> dict:
    folder.mkdir(parents=True)
    with LocalCluster(nodes, folder) as cluster:
        cmd = [
            sys.executable,
            "-m",
            "mjray.main",
            f"ray.address={cluster.address}",
            *POOL,
            *extra,
            f"sim.size={size}",
            f"run.duration_s={seconds}",
            f"display.output_dir={folder / 'run'}",
        ]
        process = subprocess.Popen(
            cmd, cwd=folder, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        marks: dict[str, tuple[float, int]] = {}

        def watch() -> None:
            with open(folder / "output.txt", "w") as output:
                for line in process.stdout:  # type: ignore[union-attr]
                    for mark in ("running for", "stopping ("):
                        if mark in line and mark not in marks:
                            marks[mark] = (time.monotonic(), loopback_bytes())
                    output.write(line)

        reader = threading.Thread(target=watch, daemon=True)
        reader.start()
        process.wait(timeout=seconds + 600)
        reader.join(10)
        if process.returncode != 0 or len(marks) < 2:
            raise RuntimeError(f"{name}: mjray.main exit {process.returncode}; see {folder / 'output.txt'}")
    (t0, b0), (t1, b1) = marks["running for"], marks["stopping ("]
    summary = json.loads((folder / "run" / "summary.json").read_text())
    seats = summary["seats"]
    return {
        "layout": name,
        "fps_out": round(sum(s["fps_out"] for s in seats), 1),
        "p50_ms": round(sum(s["latency_p50_ms"] or 0 for s in seats) / len(seats)),
        "p99_ms": max(s["latency_p99_ms"] or 0 for s in seats),
        "mb_per_s_per_seat": round((b1 - b0) / (t1 - t0) / len(seats) / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each layout runs")
    parser.add_argument("--size", default="1280x720", help="the embedded cameras' WIDTHxHEIGHT")
    parser.add_argument(
        "--out", default=None, help="folder for each layout's logs and outputs (default: a temp folder)"
    )
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="mjray-nodes-"))
    rows = []
    for i, (name, (nodes, extra)) in enumerate(LAYOUTS.items()):
        print(f"{name}: starting {len(nodes)} node(s) ...", flush=True)
        rows.append(run_layout(name, nodes, extra, args.seconds, args.size, out / f"layout{i}"))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n4 cameras {args.size}, {args.seconds:g} s each, pool=cpu (2 shared detectors), outputs in {out}")
    print(f"{'layout':34s}{'frames/s out':>14s}{'p50 ms':>9s}{'p99 ms':>9s}{'network MB/s/seat':>19s}")
    for row in rows:
        print(
            f"{row['layout']:34s}{row['fps_out']:>14}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['mb_per_s_per_seat']:>19}"
        )


if __name__ == "__main__":
    main()

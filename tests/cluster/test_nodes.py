"""On a real multi-node Ray cluster: every actor runs where its config says, mjray's code and the
model reach a node that has neither, and a resource no node has is one line."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mjray.bench.cluster import LocalCluster, NodeSpec, bare_env
from mjray.detect.model import resolve_weights

pytestmark = pytest.mark.slow


def mjray_main(cluster: LocalCluster, cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mjray.main", f"ray.address={cluster.address}", *overrides],
        cwd=cwd,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cameras_pinned_to_one_node_and_gpu_detectors_on_a_node_without_mjray(tmp_path):
    bare = bare_env(tmp_path / "bare")
    assert subprocess.run([bare, "-c", "import ray, av, ultralytics"], cwd="/", capture_output=True).returncode == 0
    no_mjray = subprocess.run([bare, "-c", "import mjray"], cwd="/", capture_output=True, text=True)
    assert "No module named 'mjray'" in no_mjray.stderr, "the bare environment must not find mjray by itself"
    driver = tmp_path / "driver"  # the weights are named relative to here: no other process finds them by that name
    driver.mkdir()
    shutil.copy(resolve_weights(None), driver / "tiles.onnx")
    sha = hashlib.sha256((driver / "tiles.onnx").read_bytes()).hexdigest()
    nodes = [
        NodeSpec("head", 1),
        NodeSpec("cams", 1, resources={"cams": 1}),
        NodeSpec("gpus", 2, num_gpus=1, resources={"gpu_box": 1}, python=bare),
    ]
    cluster = LocalCluster(nodes, tmp_path)
    cluster.node_env["MJRAY_CACHE"] = str(tmp_path / "cache")  # the nodes' cache, where shipped weights land
    shipped = tmp_path / "cache" / "weights" / sha[:16] / "tiles.onnx"
    with cluster:
        bad = mjray_main(cluster, driver, "pool.camera_resources={room_b: 0.01}", "run.duration_s=5")
        assert bad.returncode == 2, bad.stderr[-3000:]
        last = bad.stderr.strip().splitlines()[-1]
        assert last.startswith(
            "mjray: bad setting: pool.camera_resources: camera ton needs resource 'room_b', "
            "which no node of the Ray cluster has"
        ), last
        assert "Traceback" not in bad.stderr
        # pool=auto saw the logical GPU, and that the ONNX tile model could not use it here: CPU workers
        assert "pool=auto: the ONNX model would run on the CPU" in bad.stdout + bad.stderr, bad.stdout[-3000:]

        out = tmp_path / "run"
        pool = [
            "pool=gpu",
            "pool.workers_per_camera=1",
            "pool.gpus_per_worker=0.25",
            "pool.cpus_per_worker=0.25",
            "pool.camera_cpus=0.1",
        ]
        done = mjray_main(
            cluster,
            driver,
            "pool.camera_resources={cams: 0.01}",
            "pool.resources={gpu_box: 0.01}",
            *pool,
            "model.weights=tiles.onnx",
            "run.duration_s=20",
            "display.video=false",
            f"display.output_dir={out}",
        )
        assert done.returncode == 0, done.stderr[-4000:]
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if cluster.address in " ".join(p.info["cmdline"] or [])]
    assert not left, f"processes of the cluster left running: {left}"

    summary = json.loads((out / "summary.json").read_text())
    where = {name: cluster.name_of(fact["node_id"]) for name, fact in summary["actors"].items()}
    print(where, summary["pool"])
    seats = [row["seat"] for row in summary["seats"]]
    assert seats == ["ton", "nan", "sha", "pei"]
    assert all(where[f"camera:{seat}"] == "cams" for seat in seats), where
    assert all(where[f"detector:{seat}:0"] == "gpus" for seat in seats), where  # the node that cannot import mjray
    drivers = cluster.name_of(summary["driver_node"])
    assert all(where[f"reorder:{seat}"] == drivers for seat in seats), (drivers, where)  # drained there
    said = done.stdout + done.stderr
    assert all(f"detector:{seat}:0 ready: {shipped} on cpu" in said for seat in seats), said[-4000:]
    # its GPU is logical: the detectors say where they really infer
    assert all(
        f"detector:{seat}:0 holds 0.25 GPU but infers on the CPU: torch sees no CUDA device" in said for seat in seats
    )
    by_seat: dict[str, list[dict]] = {seat: [] for seat in seats}
    for line in (out / "detections.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_seat[record["seat"]].append(record)
    for row in summary["seats"]:
        records = by_seat[row["seat"]]
        assert [r["seq"] for r in records] == list(range(len(records))) and row["emitted"] == len(records) > 100
        assert sum("boxes" in r for r in records) > 10 and not row["down"]
        assert all(r["worker"] == f"detector:{row['seat']}:0" for r in records if "boxes" in r)

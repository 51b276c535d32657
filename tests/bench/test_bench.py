"""The benchmark: figures computed from markers alone, and a short run of every contender."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mjray.bench.__main__ import breakdown
from mjray.bench.observe import Delivery, Reference, score
from mjray.sim.marker import Marker, Reading


def seen(seat, index):
    m = Marker(seat, index)
    return Reading(m, m)


REF = Reference({0: [(100 + i / 10, i) for i in range(50)], 1: [(100.02 + i / 10, i) for i in range(50)]})


def test_in_order_deliveries_score_clean_with_their_latency():
    deliveries = [Delivery(s, 100 + i / 10 + 0.3, seen(s, i)) for s in (0, 1) for i in range(10, 40)]
    figures = score(deliveries, REF, seats=2, seconds=3.0, fps=10)
    total = figures["total"]
    assert total["fps"] == 20.0
    assert total["order_violations"] == total["duplicates"] == total["torn"] == total["unreadable"] == 0
    assert 270 <= total["latency_p50_ms"] <= 300
    assert total["skew_p99_ms"] <= 120


def test_out_of_order_repeated_torn_and_foreign_pictures_are_counted():
    torn = Reading(Marker(0, 5), Marker(0, 6))
    deliveries = [
        Delivery(0, 101.0, seen(0, 7)),
        Delivery(0, 101.1, seen(0, 6)),
        Delivery(0, 101.2, seen(0, 6)),
        Delivery(0, 101.3, torn),
        Delivery(0, 101.4, Reading(None, None)),
        Delivery(0, 101.5, seen(1, 8)),
    ]
    seat = score(deliveries, REF, seats=1, seconds=1.0, fps=10)["seats"][0]
    assert (seat["order_violations"], seat["duplicates"], seat["torn"], seat["unreadable"], seat["foreign"]) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert seat["delivered"] == 6 and seat["fps"] == 3.0


def test_looped_indices_are_matched_to_the_latest_pass():
    ref = Reference({0: [(100 + i / 10, i % 20) for i in range(60)]})  # the video loops every 20 frames
    figures = score([Delivery(0, 105.05, seen(0, 10))], ref, seats=1, seconds=1, fps=10)
    # frame 10 came at 101.0, 103.0 and 105.0: the delivery at 105.05 is of the third pass
    assert figures["seats"][0]["latency_p50_ms"] == pytest.approx(50, abs=1)


def test_a_frame_the_reference_missed_in_this_pass_is_not_matched_to_an_old_pass():
    ref = Reference({0: [(100 + i / 10, i % 200) for i in range(400) if i != 210]})  # loops every 20 s; lost 210
    figures = score([Delivery(0, 121.2, seen(0, 10)), Delivery(0, 121.3, seen(0, 11))], ref, seats=1, seconds=1, fps=10)
    seat = figures["seats"][0]
    assert seat["not_in_reference"] == 1 and seat["order_violations"] == 0  # not a 20 s latency, not out of order
    assert seat["latency_max_ms"] == pytest.approx(200, abs=1)


def test_skew_is_of_what_the_display_showed_when_it_differs_from_the_outputs():
    # seat 1's outputs trail seat 0's by 5 frames; a synchronising display shows both at frame i together
    deliveries = [Delivery(s, 100 + i / 10 + 0.3 + 0.5 * s, seen(s, i)) for s in (0, 1) for i in range(10, 40)]
    displayed = [Delivery(s, 100 + i / 10 + 0.85, seen(s, i)) for s in (0, 1) for i in range(10, 40)]
    outputs = score(deliveries, REF, seats=2, seconds=3.0, fps=10)["total"]
    screen = score(deliveries, REF, seats=2, seconds=3.0, fps=10, displayed=displayed)["total"]
    assert outputs["skew_p50_ms"] >= 400
    assert screen["skew_p50_ms"] == pytest.approx(20, abs=1)  # the two cameras' own offset
    assert {k: v for k, v in screen.items() if "skew" not in k} == {k: v for k, v in outputs.items() if "skew" not in k}


def test_mjray_variants_take_their_own_settings_over_the_users_and_keep_the_rest():
    from omegaconf import OmegaConf

    from mjray.bench.__main__ import BenchConfig, mjray_settings

    cfg = OmegaConf.to_object(
        OmegaConf.merge(
            OmegaConf.structured(BenchConfig),
            {"mjray": {"pool": {"shared_workers": 2, "camera_cpus": 0.2}, "stream": {"policy": "every"}}},
        )
    )
    assert mjray_settings(cfg, "mjray") == {
        "pool": {"shared_workers": 2, "camera_cpus": 0.2},
        "stream": {"policy": "every"},
    }
    assert mjray_settings(cfg, "mjray_aligned")["stream"] == {"policy": "aligned"}
    low = mjray_settings(cfg, "mjray_low_latency")
    # conf/pool/cpu_low_latency.yaml
    assert low["pool"]["shared_workers"] == 1 and low["pool"]["cpus_per_worker"] == 1.0
    assert low["stream"] == {"policy": "every"}
    assert cfg.mjray["pool"]["shared_workers"] == 2  # the user's settings are not changed for the next contender


def test_a_scaling_row_sets_pool_model_threads_and_stream_policy():
    from mjray.bench.__main__ import row_settings

    assert row_settings({"shared_workers": 2}) == {"pool": {"shared_workers": 2}}
    assert row_settings({"shared_workers": 1, "threads": 2, "policy": "aligned"}) == {
        "pool": {"shared_workers": 1},
        "model": {"threads": 2},
        "stream": {"policy": "aligned"},
    }


def test_the_limit_left_is_the_limit_on_the_cores_the_apparatus_left_free():
    from mjray.bench.__main__ import limit_left

    assert limit_left(20.0, 2, 0.2) == pytest.approx(18.0)
    assert limit_left(20.0, 2, 0.0) == pytest.approx(20.0)
    assert limit_left(20.0, 2, None) is None and limit_left(20.0, 2, 2.5) is None and limit_left(0.0, 2, 0.1) is None


def run_bench(tmp_path, *settings: str) -> subprocess.CompletedProcess:
    """`python -m mjray.bench` with these settings, its outputs in tmp_path; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "mjray.bench", *settings, f"out_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_breakdown_splits_each_kinds_cpu_by_its_stages_and_holds_cameras_to_a_bare_decode():
    roles = {"DetectorActor": 2.0, "CameraActor": 0.5, "ReorderActor": 0.1}  # CPU seconds in the window
    costs = {
        "detectors": {"pre-process": {"s": 0.1, "n": 20}, "forward pass": {"s": 1.6, "n": 20}},
        "cameras": {"decode": {"s": 0.2, "n": 100}, "convert": {"s": 0.05, "n": 20}},
        "decoded": 100,
    }
    split = breakdown(roles, costs, delivered=20, bare_decode_ms=2.0)
    kinds = split["ms_per_frame"]
    assert list(kinds) == ["DetectorActor", "CameraActor", "ReorderActor"], "the costliest first"
    assert kinds["DetectorActor"] == {"all": 100.0, "pre-process": 5.0, "forward pass": 80.0, "other": 15.0}
    assert kinds["CameraActor"] == {"all": 25.0, "decode": 10.0, "convert": 2.5, "other": 12.5}
    assert kinds["ReorderActor"] == {"all": 5.0}
    assert split["not_forward_share"] == round(1 - 80 / 130, 3)
    assert split["camera_ms_per_decoded"] == 5.0 and split["camera_to_bare_decode"] == 2.5


@pytest.mark.slow
def test_short_benchmark_of_every_contender_runs(tmp_path):
    """Seconds long, asserting nothing about speed: that each contender runs and is measured."""
    result = run_bench(tmp_path, "seats=2", "seconds=6", "warmup_s=15", "limit_seconds=2")
    report = json.loads((tmp_path / "bench.json").read_text())
    assert set(report["contenders"]) == {"mjray", "mjray_low_latency", "mjray_aligned", "baseline", "ultralytics"}
    assert report["limit"]["fps"] > 0
    # around each contender
    assert len(report["limit"]["runs_fps"]) == len(report["contenders"]) + 1 and report["limit_parallel"]["fps"] > 0
    for name, figures in report["contenders"].items():
        assert figures["total"]["fps"] > 0, f"{name} delivered nothing"
        assert figures["total"]["cpu_s_per_frame"] > 0 and figures["total"]["limit_fps"] > 0
        roles = figures["cpu_s_per_frame_by_role"]
        assert sum(roles.values()) == pytest.approx(figures["total"]["cpu_s_per_frame"], rel=0.05, abs=0.002)
        assert figures["notes"]["apparatus_cores"] > 0  # the server and reference readers were measured too
        assert figures["total"]["ratio_to_limit_left"] > figures["total"]["ratio_to_limit"]
    assert {"DetectorActor", "CameraActor", "ReorderActor", "driver"} <= set(
        report["contenders"]["mjray"]["cpu_s_per_frame_by_role"]
    )
    assert set(report["contenders"]["mjray"]["notes"]["stages"]) == {"waiting", "inference", "delivery"}
    for name in ("mjray", "mjray_low_latency", "mjray_aligned"):
        mjray = report["contenders"][name]["total"]
        assert mjray["order_violations"] == mjray["duplicates"] == mjray["torn"] == 0, name
        assert len(report["contenders"][name]["notes"]["display_latency_p50_p99_ms"]) == 2, "its display was measured"
    assert report["contenders"]["mjray_aligned"]["notes"]["policy"] == "aligned"
    low = report["contenders"]["mjray_low_latency"]["notes"]
    assert low["shared_workers"] == 1 and low["threads"] == (os.cpu_count() or 1), low  # one worker on every core
    assert (tmp_path / "bench.csv").read_text().startswith("contender,seat,fps")
    assert "limit (model alone" in result.stdout and "CPU seconds per delivered frame, by process" in result.stdout
    # where the CPU went, by stage, as each process timed its own work
    assert report["limit_ultralytics"]["fps"] > 0 and report["bare_decode"]["cpu_ms"] > 0
    for name in ("mjray", "mjray_low_latency", "mjray_aligned"):
        split = report["contenders"][name]["breakdown"]
        cameras, detectors = split["ms_per_frame"]["CameraActor"], split["ms_per_frame"]["DetectorActor"]
        assert cameras["decode"] > 0 and cameras["convert"] > 0 and cameras["other"] > 0, (name, cameras)
        assert {"frame policy", "take", "pixels"} <= set(cameras), (name, cameras)
        assert {"pre-process", "forward pass", "post-process", "fetch", "serve", "push"} <= set(detectors), detectors
        assert 0 < detectors["forward pass"] < detectors["all"], "the forward pass is part of the detectors' CPU"
        assert 0 < split["not_forward_share"] < 1 and split["camera_to_bare_decode"] > 1, (name, split)
    assert "everything but the model's forward pass" in result.stdout


@pytest.mark.slow
def test_short_scaling_run_writes_one_row_per_cameras_and_pool(tmp_path):
    run_bench(
        tmp_path,
        "scaling=true",
        "scale_seats=[1,2]",
        "scale_pools=[{shared_workers:1}]",
        "seconds=4",
        "warmup_s=15",
        "limit_seconds=2",
    )
    rows = json.loads((tmp_path / "scaling.json").read_text())["rows"]
    assert [(r["cameras"], r["shared_workers"]) for r in rows] == [(1, 1), (2, 1)]
    assert all(
        r["fps"] > 0 and r["order_violations"] == 0 and r["ratio_to_limit_left"] > r["ratio_to_limit"] for r in rows
    )
    assert (tmp_path / "scaling.csv").read_text().startswith("cameras,shared_workers")


@pytest.mark.slow
def test_the_ray_overhead_script_measures_idle_actors_and_calls(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "ray_overhead.py"
    result = subprocess.run(
        [sys.executable, str(script), "--actors", "2", "--seconds", "2", "--calls-per-s", "20"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "2 idle actors:" in result.stdout and "of the callee's CPU a call" in result.stdout
    idle = next(line for line in result.stdout.splitlines() if line.startswith("idle:"))
    assert "idle actor" in idle and "raylet" in idle, "the actors' own processes and Ray's were found and measured"


@pytest.mark.slow
def test_the_gpu_benchmark_runs_its_small_steps_on_cpu_and_counts_each_cameras_decoder(tmp_path):
    """`python -m mjray.bench.gpu` as a lent GPU box runs it (scripts/gpu-run.sh), here on the CPU:
    each (mode, step) one mjray run over replayed clips, its numbers from that run's summary."""
    import json

    from mjray.camera.decoding import cuda_unavailable

    out = tmp_path / "gpu"
    result = subprocess.run(
        [sys.executable, "-m", "mjray.bench.gpu", "--steps", "2", "--models", "tiles"]
        + ["--modes", "batched,pools", "--seconds", "6", "--size", "640x360", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = json.loads((out / "gpu.json").read_text())
    assert [(s["mode"], s["seats"], s["error"]) for s in steps] == [("batched", 2, ""), ("pools", 2, "")]
    expected = "NVDEC (cuda)" if cuda_unavailable() is None else f"software: {cuda_unavailable()}"
    for step in steps:
        assert step["frames_in"] > 0 and step["inferred"] > 0 and step["cpu_per_frame_ms"]["CameraActor"] > 0, step
        # its two seats' cameras in one process and their reorders in another, each counted as its kind
        assert step["cpu_per_frame_ms"]["ReorderActor"] > 0 and "ReorderHost" not in step["cpu_per_frame_ms"], step
        assert step["decoders"] == {expected: 2}, step["decoders"]
    assert "detector:shared:0" in steps[0]["batches"] and not steps[1]["batches"]
    header = next(line for line in result.stdout.splitlines() if line.startswith("model"))
    assert header.split()[-1] == "NVDEC", header

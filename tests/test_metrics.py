"""Monitoring: per-seat metrics at Ray's Prometheus endpoint, scraped during a real run; the
actors' log lines; the Grafana dashboard's queries."""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mjray.sim.server import free_port
from tests.test_main import running_main

SEATS = ("ton", "nan", "sha", "pei")
COUNTERS = ("ray_mjray_frames_decoded_total", "ray_mjray_frames_inferred_total", "ray_mjray_emitted_total")
PER_SEAT = COUNTERS + ("ray_mjray_latency_ms_count", "ray_mjray_inference_ms_count", "ray_mjray_frame_age_ms_count",
                       "ray_mjray_camera_up", "ray_mjray_reorder_waiting", "ray_mjray_actor_restarts")


def scrape(port: int) -> dict[str, dict[str, float]]:
    """sample name -> seat -> value summed over its other labels (workers, processes, reasons)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ray_mjray_") and "seat" in sample.labels:
                out[sample.name][sample.labels["seat"]] += sample.value
    return out


@pytest.mark.slow
def test_every_seats_series_are_at_the_prometheus_endpoint_and_counters_rise(tmp_path):
    port = free_port()
    with running_main("run.duration_s=45", "ray.dashboard=false", f"ray.metrics_export_port={port}",
                      "run.status_every_s=2", "display.video=false", f"display.output_dir={tmp_path / 'run'}",
                      cwd=tmp_path) as (process, lines):
        assert any(f"http://127.0.0.1:{port}/metrics" in line for line in lines), "the start-up log names the endpoint"
        time.sleep(15)  # Ray's agent exports every 10 s
        first = scrape(port)
        time.sleep(15)
        second = scrape(port)
    assert process.returncode == 0, "".join(lines)[-3000:]
    for name in PER_SEAT:
        assert set(second[name]) >= set(SEATS), f"{name}: series for {sorted(second[name])}, not every seat"
    for name in COUNTERS:
        for seat in SEATS:
            print(name, seat, first[name][seat], "->", second[name][seat])
            assert second[name][seat] > first[name][seat] > 0, f"{name}{{seat={seat}}} did not rise"
    assert all(second["ray_mjray_camera_up"][seat] == 1 for seat in SEATS)
    assert all(second["ray_mjray_actor_restarts"][seat] == 0 for seat in SEATS)
    # the actors' own log lines, with their names, on the console and in the run's log
    run_log = "".join(path.read_text() for path in tmp_path.glob("outputs/*/*/main.log"))
    for seat in SEATS:
        said = f"[camera:{seat}] mjray.sources: camera {seat} "
        assert any(said in line for line in lines) and said in run_log, f"no log line of camera:{seat}"


def test_the_grafana_dashboard_asks_only_for_series_mjray_exports():
    import json
    import re
    from pathlib import Path

    from mjray.metrics import METRICS

    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy" / "grafana-mjray.json").read_text())
    exported = set()
    for name, (kind, *_rest) in METRICS.items():
        exported |= {f"ray_{name}_total"} if kind == "counter" else {f"ray_{name}_bucket"} if kind == "histogram" else {f"ray_{name}"}
    asked = {m for panel in dashboard["panels"] for target in panel["targets"] for m in re.findall(r"ray_mjray_\w+", target["expr"])}
    assert asked and asked <= exported, asked - exported
    assert exported <= asked, f"not on the dashboard: {exported - asked}"

"""Monitoring: what a scrape of Ray's Prometheus endpoint must hold (the live run that scrapes it
is tests/test_web.py's, which also watches it in Chromium); the Grafana dashboard's queries."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


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


def check_series(first: dict, second: dict, lines: list[str], run_dir: Path) -> None:
    """Two scrapes of a running table (>= 10 s apart: Ray exports every 10 s), its output and its
    run folder: every seat's series, counters rising, the actors' log lines with their names."""
    for name in PER_SEAT:
        assert set(second[name]) >= set(SEATS), f"{name}: series for {sorted(second[name])}, not every seat"
    for name in COUNTERS:
        for seat in SEATS:
            print(name, seat, first[name][seat], "->", second[name][seat])
            assert second[name][seat] > first[name][seat] > 0, f"{name}{{seat={seat}}} did not rise"
    assert all(second["ray_mjray_camera_up"][seat] == 1 for seat in SEATS)
    assert all(second["ray_mjray_actor_restarts"][seat] == 0 for seat in SEATS)
    run_log = "".join(path.read_text() for path in run_dir.glob("outputs/*/*/main.log"))
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


def test_the_recorder_hands_on_sums_last_values_and_every_observation_from_its_own_thread():
    import threading
    import time

    from mjray.metrics import MAX_HELD, Recorder

    handed, threads = [], set()

    def hand_on(name, how, value, tags):
        handed.append((name, how, value, tags))
        threads.add(threading.current_thread().name)

    recorder = Recorder(hand_on, every_s=0.05)
    for _ in range(3):
        recorder.add("mjray_emitted", "inc", 2.0, {"seat": "ton"})
    recorder.add("mjray_emitted", "inc", 1.0, {"seat": "nan"})
    recorder.add("mjray_reorder_waiting", "set", 5, {"seat": "ton"})
    recorder.add("mjray_reorder_waiting", "set", 3, {"seat": "ton"})
    for value in (10.0, 20.0):
        recorder.add("mjray_latency_ms", "observe", value, {"seat": "ton"})
    deadline = time.monotonic() + 5
    while len(handed) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # later flushes hand on nothing twice
    assert sorted(handed, key=repr) == sorted([
        ("mjray_emitted", "inc", 6.0, {"seat": "ton"}), ("mjray_emitted", "inc", 1.0, {"seat": "nan"}),
        ("mjray_reorder_waiting", "set", 3, {"seat": "ton"}),
        ("mjray_latency_ms", "observe", 10.0, {"seat": "ton"}), ("mjray_latency_ms", "observe", 20.0, {"seat": "ton"}),
    ], key=repr)
    assert threads == {"mjray-metrics"}  # never the caller's thread (a Ray task's)
    recorder.add("mjray_emitted", "inc", 4.0, {"seat": "ton"})
    recorder.close()
    assert handed[-1] == ("mjray_emitted", "inc", 4.0, {"seat": "ton"}) and not recorder._thread.is_alive()

    held = Recorder(lambda *a: None, every_s=3600)
    for i in range(MAX_HELD + 7):
        held.add("mjray_latency_ms", "observe", float(i), {"seat": "ton"})
    assert held.dropped == 7
    handed.clear()
    held.hand_on = hand_on
    held.close()
    assert len(handed) == MAX_HELD and held.dropped == 7

"""Monitoring: what a scrape of Ray's Prometheus endpoint must hold (the live run that scrapes it
is tests/output/test_web.py's, which also watches it in Chromium); the Grafana dashboard's queries."""

from __future__ import annotations

from pathlib import Path


def test_the_grafana_dashboard_asks_only_for_series_mjray_exports():
    import json
    import re

    from mjray.cluster.metrics import METRICS

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "grafana-mjray.json").read_text())
    exported = set()
    for name, (kind, *_rest) in METRICS.items():
        exported |= (
            {f"ray_{name}_total"}
            if kind == "counter"
            else {f"ray_{name}_bucket"}
            if kind == "histogram"
            else {f"ray_{name}"}
        )
    asked = {
        m
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for m in re.findall(r"ray_mjray_\w+", target["expr"])
    }
    assert asked and asked <= exported, asked - exported
    assert exported <= asked, f"not on the dashboard: {exported - asked}"


def test_the_recorder_hands_on_sums_last_values_and_every_observation_from_its_own_thread():
    import threading
    import time

    from mjray.cluster.metrics import MAX_HELD, Recorder

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
    assert sorted(handed, key=repr) == sorted(
        [
            ("mjray_emitted", "inc", 6.0, {"seat": "ton"}),
            ("mjray_emitted", "inc", 1.0, {"seat": "nan"}),
            ("mjray_reorder_waiting", "set", 3, {"seat": "ton"}),
            ("mjray_latency_ms", "observe", 10.0, {"seat": "ton"}),
            ("mjray_latency_ms", "observe", 20.0, {"seat": "ton"}),
        ],
        key=repr,
    )
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

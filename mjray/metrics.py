"""Per-seat metrics for Prometheus and the Ray dashboard, recorded by the actors that know them.

Every name starts `mjray_` (Ray's exporter adds its `ray_` prefix, and `_total` to counters:
`ray_mjray_frames_decoded_total{seat="ton"}`), every series carries its `seat`, and `worker`
where one applies. Ray's metrics agent on each node serves them at that node's Prometheus
endpoint (`ray.metrics_export_port` for a local Ray, `ray start --metrics-export-port` on a
cluster). A process outside Ray (a plain-class test) records nothing.
"""

from __future__ import annotations

import logging

from mjray.frames import Gap, Result

LATENCY_MS = (25, 50, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000)  # capture -> emit, frame age
INFER_MS = (5, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500, 1000)

# name -> (kind, description, tag keys, histogram boundaries)
METRICS = {
    "mjray_frames_decoded": ("counter", "frames a camera decoded", ("seat",), None),
    "mjray_camera_reconnects": ("counter", "times a camera connected again after losing its stream", ("seat",), None),
    "mjray_camera_up": ("gauge", "1 while a camera streams, 0 while it is down or reconnecting", ("seat",), None),
    "mjray_frames_inferred": ("counter", "frames a detector inferred", ("seat", "worker"), None),
    "mjray_inference_ms": ("histogram", "model time per frame, ms", ("seat", "worker"), INFER_MS),
    "mjray_frame_age_ms": ("histogram", "capture -> inference start, ms", ("seat", "worker"), LATENCY_MS),
    "mjray_emitted": ("counter", "results and gaps a seat emitted in order", ("seat",), None),
    "mjray_gaps": ("counter", "frames emitted without a result, by reason", ("seat", "reason"), None),
    "mjray_latency_ms": ("histogram", "capture -> emitted in order, ms", ("seat",), LATENCY_MS),
    "mjray_reorder_waiting": ("gauge", "results held in a reorder for an earlier one", ("seat",), None),
    "mjray_actor_restarts": ("gauge", "times Ray restarted a seat's actors, by actor kind", ("seat", "actor"), None),
}

_made: dict[str, object] = {}
_failed: set[str] = set()  # metrics that could not be recorded, said once each
log = logging.getLogger(__name__)


def on() -> bool:
    """Recording only inside Ray (an actor, or a driver that joined it)."""
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized()


def metric(name: str):
    if name not in _made:
        from ray.util import metrics

        kind, description, tags, boundaries = METRICS[name]
        if kind == "histogram":
            _made[name] = metrics.Histogram(name, description=description, boundaries=list(boundaries), tag_keys=tags)
        else:
            _made[name] = {"counter": metrics.Counter, "gauge": metrics.Gauge}[kind](name, description=description, tag_keys=tags)
    return _made[name]


def _record(name: str, how: str, value: float, tags: dict) -> None:
    """Never raises: a metric that cannot be recorded must not stop a camera or a detector."""
    if not on():
        return
    try:
        getattr(metric(name), how)(value, tags=tags)
    except Exception as error:
        if name not in _failed:
            _failed.add(name)
            log.warning("metric %s not recorded: %s: %s", name, type(error).__name__, error)


def count(name: str, value: float = 1.0, **tags: str) -> None:
    if value > 0:
        _record(name, "inc", value, tags)


def set_gauge(name: str, value: float, **tags: str) -> None:
    _record(name, "set", value, tags)


def observe(name: str, value: float, **tags: str) -> None:
    _record(name, "observe", value, tags)


def emitted(seat: str, items: list, now: float) -> None:
    """A reorder emitted these, in order: counts, gaps by reason, capture -> emit latency."""
    if not items or not on():
        return
    count("mjray_emitted", len(items), seat=seat)
    reasons: dict[str, int] = {}
    for item in items:
        if isinstance(item, Gap):
            reasons[item.reason.value] = reasons.get(item.reason.value, 0) + 1
        elif isinstance(item, Result) and item.captured_at is not None:
            observe("mjray_latency_ms", max(0.0, (now - item.captured_at) * 1000), seat=seat)
    for reason, n in reasons.items():
        count("mjray_gaps", n, seat=seat, reason=reason)

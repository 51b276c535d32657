"""Per-seat metrics for Prometheus and the Ray dashboard, recorded by the actors that know them.

Every name starts `mjray_` (Ray's exporter adds its `ray_` prefix, and `_total` to counters:
`ray_mjray_frames_decoded_total{seat="ton"}`), every series carries its `seat`, and `worker`
where one applies. Ray's metrics agent on each node serves them at that node's Prometheus
endpoint (`ray.metrics_export_port` for a local Ray, `ray start --metrics-export-port` on a
cluster). A process outside Ray (a plain-class test) records nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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

FLUSH_EVERY_S = 1.0  # Ray exports every 10 s: a second's delay is never seen
MAX_HELD = 10_000  # observations held per series between flushes; more are dropped, never memory


class Recorder:
    """Holds what an actor's calls record and hands it on from a thread of its own every `every_s`.

    Why: Ray 2.60 grew an actor's memory with every task that recorded a metric, and not when a
    long-lived thread recorded the same values (a reorder run one call at a time, 200 results a
    second: +0.38 MiB in 4.4 minutes recording in its calls, +0.04 from this thread). Counters are
    summed and gauges keep their last value between flushes, so a flush makes one call per series
    (one per observation for histograms). What a process records in its last second is lost with
    it, as Ray's own last 10 s are. Pure: `hand_on(name, how, value, tags)` does the recording.
    """

    def __init__(self, hand_on: Callable[[str, str, float, dict], None], every_s: float = FLUSH_EVERY_S) -> None:
        self.hand_on, self.every_s = hand_on, every_s
        self._lock = threading.Lock()
        self._counts: dict[tuple, float] = {}
        self._gauges: dict[tuple, float] = {}
        self._observed: dict[tuple, list[float]] = {}
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, name: str, how: str, value: float, tags: dict) -> None:
        key = (name, tuple(sorted(tags.items())))
        with self._lock:
            if how == "inc":
                self._counts[key] = self._counts.get(key, 0.0) + value
            elif how == "set":
                self._gauges[key] = value
            elif len(held := self._observed.setdefault(key, [])) < MAX_HELD:
                held.append(value)
            else:
                self.dropped += 1
        if self._thread is None:
            self._start()

    def flush(self) -> None:
        with self._lock:
            taken = (
                [("inc", key, value) for key, value in self._counts.items()]
                + [("set", key, value) for key, value in self._gauges.items()]
                + [("observe", key, value) for key, values in self._observed.items() for value in values]
            )
            self._counts, self._gauges, self._observed = {}, {}, {}
        for how, (name, tags), value in taken:
            self.hand_on(name, how, value, dict(tags))

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="mjray-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.flush()

    def close(self) -> None:
        """Stop the thread and hand on what is held."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()


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
            _made[name] = {"counter": metrics.Counter, "gauge": metrics.Gauge}[kind](
                name, description=description, tag_keys=tags
            )
    return _made[name]


def _hand_on(name: str, how: str, value: float, tags: dict) -> None:
    """Never raises: a metric that cannot be recorded must not stop a camera or a detector."""
    if not on():  # the driver's Ray shut down since the figure was held
        return
    try:
        getattr(metric(name), how)(value, tags=tags)
    except Exception as error:
        if name not in _failed:
            _failed.add(name)
            log.warning("metric %s not recorded: %s: %s", name, type(error).__name__, error)


recorder = Recorder(_hand_on)


def _record(name: str, how: str, value: float, tags: dict) -> None:
    if on():
        recorder.add(name, how, value, tags)


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

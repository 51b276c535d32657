"""What a run did, per seat: frames in, inferred, skipped, emitted, rates and latency.

`SeatTally` counts what the driver received from one seat's reorder actor; `Summary` joins it
with the actors' final counters into the table printed at exit and `summary.json`.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import asdict, dataclass, field

import numpy as np

from mjray.frames import CameraReport, CameraStatus, Gap, GapReason, Item, Restarts, Result, SeatReport


class Quantiles:
    """Percentiles of a whole run in constant memory: counts in bins 1 % wide on a log scale.

    A day at 15 results a second per seat is 1.3 million values; kept as floats that is 40 MB a
    seat, growing all the while. A percentile here is within 1 % of the true one (0 and 100 exact),
    for values from `low` to `high`; smaller ones (zero, or negative from clocks a little apart) count
    as `low`, larger as `high`.
    """

    def __init__(self, low: float = 1e-4, high: float = 1e5, step: float = 0.01) -> None:
        self.low, self._log_step = low, math.log1p(step)
        self._counts = np.zeros(int(math.log(high / low) / self._log_step) + 2, np.int64)
        self.n, self.min, self.max = 0, math.inf, -math.inf

    def add(self, value: float) -> None:
        if not math.isfinite(value):  # a clock that failed says nothing of the run's latency
            return
        self.n += 1
        self.min, self.max = min(self.min, value), max(self.max, value)
        at = int(math.log(value / self.low) / self._log_step) + 1 if value > self.low else 0
        self._counts[min(at, len(self._counts) - 1)] += 1

    def extend(self, values) -> None:
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return self.n

    def percentile(self, q: float) -> float:
        """The value below which `q` % of those added lie (numpy's 'lower' rank), or nan if none."""
        if not self.n:
            return math.nan
        if q <= 0 or q >= 100:
            return self.min if q <= 0 else self.max
        at = int(np.searchsorted(np.cumsum(self._counts), math.floor(q / 100 * (self.n - 1)) + 1))
        value = self.low * math.exp((at - 0.5) * self._log_step) if at else self.low  # the bin's middle
        return min(max(value, self.min), self.max)


@dataclass
class SeatTally:
    seat: str
    results: int = 0
    gaps: Counter = field(default_factory=Counter)  # GapReason -> count
    last_seq: int = -1
    out_of_order: int = 0
    latencies_s: Quantiles = field(default_factory=Quantiles)
    infer_ms: Quantiles = field(default_factory=Quantiles)
    recent: deque = field(default_factory=lambda: deque(maxlen=256))  # (emitted_at, latency) of results

    def add(self, item: Item, emitted_at: float) -> None:
        if item.seq <= self.last_seq:
            self.out_of_order += 1
        self.last_seq = max(self.last_seq, item.seq)
        if isinstance(item, Result):
            self.results += 1
            latency = emitted_at - item.captured_at
            self.latencies_s.add(latency)
            self.infer_ms.add(item.infer_ms)
            self.recent.append((emitted_at, latency))
        else:
            assert isinstance(item, Gap)
            self.gaps[item.reason] += 1

    def status(self, stats: SeatReport) -> str:
        """One short live line for this seat."""
        cam = stats.camera
        if stats.down:
            return f"{self.seat} [down: {stats.down}]"
        out_fps = 0.0
        if len(self.recent) >= 2:
            out_fps = (len(self.recent) - 1) / max(1e-6, self.recent[-1][0] - self.recent[0][0])
        p50 = np.median([lat for _, lat in self.recent]) * 1000 if self.recent else float("nan")
        state = (
            ""
            if cam.status == CameraStatus.STREAMING
            else f" [{cam.status}" + (f": {cam.last_error}]" if cam.last_error else "]")
        )
        overflow = f", overflow {cam.overflow}" if cam.overflow else ""
        return (
            f"{self.seat}{state} in {cam.fps:.1f} out {out_fps:.1f} fps, skip {cam.skipped}{overflow}, p50 {p50:.0f} ms"
        )


def _pct(values: Quantiles, q: float) -> float | None:
    return round(values.percentile(q) * 1000, 1) if len(values) else None


@dataclass
class SeatSummary:
    seat: str
    decoded: int  # frames the camera actor decoded
    inferred: int  # results emitted
    skipped: int  # frames the policy skipped (reported as gaps)
    overflow: int  # policy every: frames given up because the camera's buffer was full
    failed: int
    timeouts: int  # holes the reorder gave up waiting for
    lost: int  # frames the camera sent that never arrived
    offline: int  # frames due while the camera could not be reached
    restart: int  # frames that died with an actor's process
    emitted: int  # results + gaps: decoded + lost + offline, every frame the camera sent
    out_of_order: int
    reconnects: int
    offline_s: float  # seconds the camera was unreachable (its offline frames' span)
    last_error: str  # the camera's last error in words, "" if none
    decoder: str  # which decoder the camera's stream got (NVDEC or software, and why), "" if it never opened
    restarts: Restarts  # times Ray restarted this seat's camera, reorder, detectors; and the actors all seats share
    down: str  # why the seat stopped before the run did (an actor dead for good), "" if it did not
    fps_in: float  # decoded frames per second of the run
    fps_decoding: float  # decoded frames per second from the first decoded frame to the last
    fps_out: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    infer_p50_ms: float | None
    stale: int = 0  # batched detectors: frames too old when their batch closed (pool.batch_max_age_ms)


@dataclass
class Summary:
    seconds: float
    seats: list[SeatSummary]
    skew_p50_ms: float | None = None  # spread of capture times shown together across seats
    skew_p99_ms: float | None = None
    actors: dict = field(default_factory=dict)  # actor name -> where it ran last (node, pid) and its restarts
    nodes: dict = field(default_factory=dict)  # node id -> its address and Ray resources, as the run started
    driver_node: str = ""  # the node id of the process that ran mjray.main
    pool: str = ""  # what pool=auto chose, in words
    batches: dict = field(default_factory=dict)  # batched detector -> its batch sizes: mean, max, count

    @classmethod
    def build(
        cls, tallies: dict[str, SeatTally], final: dict[str, SeatReport], seconds: float, skews: Quantiles
    ) -> Summary:
        seats = []
        for seat, t in tallies.items():
            report = final.get(seat) or SeatReport(CameraReport(seat))
            cam = report.camera
            emitted = t.results + sum(t.gaps.values())
            seats.append(
                SeatSummary(
                    seat=seat,
                    decoded=cam.decoded,
                    inferred=t.results,
                    skipped=t.gaps[GapReason.SKIPPED],
                    overflow=t.gaps[GapReason.OVERFLOW],
                    failed=t.gaps[GapReason.FAILED],
                    timeouts=t.gaps[GapReason.TIMEOUT],
                    lost=t.gaps[GapReason.LOST],
                    offline=t.gaps[GapReason.OFFLINE],
                    restart=t.gaps[GapReason.RESTART],
                    emitted=emitted,
                    out_of_order=t.out_of_order,
                    reconnects=cam.reconnects,
                    offline_s=round(cam.offline_s, 2),
                    last_error=cam.last_error,
                    decoder=cam.decoder,
                    restarts=report.restarts,
                    down=report.down,
                    fps_in=round(cam.decoded / seconds, 2),
                    fps_decoding=cam.decoding_fps(),
                    fps_out=round(t.results / seconds, 2),
                    latency_p50_ms=_pct(t.latencies_s, 50),
                    latency_p99_ms=_pct(t.latencies_s, 99),
                    latency_max_ms=_pct(t.latencies_s, 100),
                    infer_p50_ms=round(t.infer_ms.percentile(50), 1) if len(t.infer_ms) else None,
                    stale=t.gaps[GapReason.STALE],
                )
            )
        return cls(round(seconds, 2), seats, _pct(skews, 50), _pct(skews, 99))

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        head = (
            f"{'seat':8s}{'decoded':>9s}{'inferred':>9s}{'skipped':>9s}{'overflow':>9s}{'failed':>8s}{'timeout':>8s}{'lost':>7s}"
            f"{'offline':>8s}{'emitted':>9s}{'fps in':>8s}{'fps out':>8s}{'p50 ms':>8s}{'p99 ms':>8s}{'infer ms':>9s}"
        )
        rows = [f"mjray summary: {self.seconds:.1f} s", head]
        fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        for s in self.seats:
            rows.append(
                f"{s.seat:8s}{s.decoded:9d}{s.inferred:9d}{s.skipped:9d}{s.overflow:9d}{s.failed:8d}{s.timeouts:8d}{s.lost:7d}"
                f"{s.offline:8d}{s.emitted:9d}"
                f"{s.fps_in:8.1f}{s.fps_out:8.1f}{fmt(s.latency_p50_ms):>8s}{fmt(s.latency_p99_ms):>8s}"
                f"{fmt(s.infer_p50_ms):>9s}"
            )
        total_in = sum(s.fps_in for s in self.seats)
        total_out = sum(s.fps_out for s in self.seats)
        rows.append(
            f"{'total':8s}{sum(s.decoded for s in self.seats):9d}{sum(s.inferred for s in self.seats):9d}"
            f"{sum(s.skipped for s in self.seats):9d}{sum(s.overflow for s in self.seats):9d}{'':8s}{'':8s}{'':7s}{'':8s}{sum(s.emitted for s in self.seats):9d}"
            f"{total_in:8.1f}{total_out:8.1f}"
        )
        for s in self.seats:
            if s.reconnects or s.last_error:
                rows.append(
                    f"{s.seat}: {s.reconnects} reconnects, {s.offline_s:.1f} s offline"
                    + (f", last error: {s.last_error}" if s.last_error else "")
                )
            restarted = s.restarts.own()
            if restarted or s.restart:
                rows.append(
                    f"{s.seat}: restarted "
                    + ", ".join(f"{actor} {n}x" for actor, n in restarted.items())
                    + f"; {s.restart} frames died with a process"
                )
            if s.down:
                rows.append(f"{s.seat}: DOWN: {s.down}")
            if s.stale:
                rows.append(
                    f"{s.seat}: {s.stale} frames stale by the time a batch could take them (pool.batch_max_age_ms)"
                )
        decoders: dict[str, list[str]] = {}
        for s in self.seats:
            if s.decoder:
                decoders.setdefault(s.decoder, []).append(s.seat)
        for decoder, seats in decoders.items():
            rows.append(f"decoding {decoder}: {', '.join(seats)}")
        shared = max((s.restarts.shared for s in self.seats), default=0)
        if shared:
            rows.append(f"shared detectors and rounds restarted {shared}x")
        for name, sizes in self.batches.items():
            rows.append(
                f"{name}: {sizes['count']} batches, {sizes['mean']:.2f} frames each on average, at most {sizes['max']}"
            )
        if self.skew_p50_ms is not None:
            rows.append(
                f"cross-seat skew of the shown frames: p50 {self.skew_p50_ms:.0f} ms, p99 {self.skew_p99_ms:.0f} ms"
            )
        return "\n".join(rows)

"""Measure any contender from the frame-index markers in the pixels it delivers.

A *reference reader* process watches every camera with plain PyAV and notes when each marker
first arrived: that is the capture time as a client sees it. A contender reports *deliveries*
(seat, wall time, the marker read from the picture it showed). `score()` turns both into the
figures of the benchmark, trusting no contender's own bookkeeping:
delivered frames/s, latency (delivery - reference arrival), order violations, duplicates,
torn and unreadable pictures, cross-seat skew at each display instant. `TreeMeter` adds CPU
seconds and peak memory of a process tree.
"""

from __future__ import annotations

import bisect
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field

import numpy as np
import psutil

from mjray.sim import marker

MATCH_WINDOW_S = 10.0  # a delivery matches a reference frame seen at most this long before (or after) it


@dataclass(frozen=True)
class Delivery:
    seat: int  # seat index of the camera this output belongs to
    at: float  # wall-clock seconds when the contender showed / emitted it
    reading: marker.Reading


@dataclass
class Reference:
    """Per seat: (arrival wall time, marker index) of every frame, in arrival order."""

    arrivals: dict[int, list[tuple[float, int]]] = field(default_factory=dict)
    _by_index: dict = field(default_factory=dict, repr=False)

    def locate(self, seat: int, index: int, at: float) -> tuple[int, float] | None:
        """(position in the seat's stream, arrival time) of the newest frame `index` seen by `at`."""
        if seat not in self._by_index:
            table: dict[int, list[tuple[int, float]]] = {}
            for pos, (t, i) in enumerate(self.arrivals.get(seat, [])):
                table.setdefault(i, []).append((pos, t))
            self._by_index[seat] = table
        hits = self._by_index[seat].get(index, [])
        if not hits:
            return None
        before = [h for h in hits if h[1] <= at + 0.05]  # the reference may decode a little later
        hit = before[-1] if before else hits[0]
        if abs(at - hit[1]) > MATCH_WINDOW_S:  # the reference missed this pass (its readers starved): no match
            return None
        return hit


def _read_camera(url: str, seat: int, seconds: float, queue: mp.Queue, stop) -> None:
    import av

    from mjray.camera.sources import RTSP_OPTIONS

    arrivals = []
    started = time.monotonic()
    try:
        with av.open(url, options={**RTSP_OPTIONS, "timeout": "5000000"}) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                now = time.time()
                found = marker.read(frame.to_ndarray(format="gray")).marker
                if found is not None:
                    arrivals.append((now, found.index))
                if time.monotonic() - started > seconds or stop.is_set():
                    break
    finally:
        queue.put((seat, arrivals))


class ReferenceReaders:
    """A process per camera reading it with plain PyAV, started before the contender connects."""

    def __init__(self, urls: list[str], seconds: float) -> None:
        ctx = mp.get_context("spawn")
        self.queue: mp.Queue = ctx.Queue()
        self.stop = ctx.Event()
        self.processes = [
            ctx.Process(target=_read_camera, args=(url, i, seconds, self.queue, self.stop), daemon=True)
            for i, url in enumerate(urls)
        ]

    def start(self) -> ReferenceReaders:
        for p in self.processes:
            p.start()
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid]

    def collect(self, timeout_s: float = 60.0) -> Reference:
        """Stop reading and gather what each camera's reader saw."""
        self.stop.set()
        ref = Reference()
        for _ in self.processes:
            seat, arrivals = self.queue.get(timeout=timeout_s)
            ref.arrivals[seat] = arrivals
        for p in self.processes:
            p.join(5)
        return ref


def role(process: psutil.Process, root_pid: int) -> str:
    """What a process is, for a CPU profile: driver, a Ray actor's class, Ray's own, or its name."""
    if process.pid == root_pid:
        return "driver"
    command = process.cmdline() or [process.name()]
    if command[0].startswith("ray::"):  # Ray titles a worker ray::<Class>[.<method>] or ray::IDLE
        kind = command[0][5:].split(".")[0]
        # the cameras or reorders, however many a process holds (a title may lead with the actor's name)
        for host, actor in (("CameraHost", "CameraActor"), ("ReorderHost", "ReorderActor")):
            if kind.endswith(host):
                return kind.removesuffix(host) + actor
        return kind
    if any("ray" in part for part in command[:3]):
        return "ray system"
    return os.path.basename(command[0])


class TreeMeter:
    """CPU seconds and peak resident memory of a process and its descendants, minus some; CPU
    also by role (`by_role`), which is where the time of a pipeline goes."""

    def __init__(self, root_pid: int, exclude: set[int] = frozenset()) -> None:
        self.root, self.exclude = psutil.Process(root_pid), set(exclude)
        self._cpu: dict[int, float] = {}
        self._start: dict[int, float] = {}
        self._role: dict[int, str] = {}
        self.peak_rss = 0

    def _members(self) -> list[psutil.Process]:
        out, skip = [], set()
        for p in [self.root, *self.root.children(recursive=True)]:
            try:
                if p.pid in self.exclude or p.ppid() in skip:
                    skip.add(p.pid)
                    continue
            except psutil.Error:
                continue
            out.append(p)
        return out

    def sample(self) -> None:
        rss = 0
        for p in self._members():
            try:
                cpu = p.cpu_times()
                total = cpu.user + cpu.system
                rss += p.memory_info().rss
            except psutil.Error:
                continue
            self._start.setdefault(p.pid, total if p.pid == self.root.pid else 0.0)
            self._cpu[p.pid] = total
            if self._role.get(p.pid, "IDLE") in ("IDLE", "ray system"):  # a worker becomes an actor after it starts
                try:
                    self._role[p.pid] = role(p, self.root.pid)
                except psutil.Error:
                    self._role[p.pid] = "gone"
        self.peak_rss = max(self.peak_rss, rss)

    def begin(self) -> None:
        self.sample()
        self._start = dict(self._cpu)

    @property
    def cpu_seconds(self) -> float:
        return sum(v - self._start.get(pid, 0.0) for pid, v in self._cpu.items())

    def by_role(self) -> dict[str, float]:
        """CPU seconds per role, largest first."""
        out: dict[str, float] = {}
        for pid, v in self._cpu.items():
            name = self._role.get(pid, "gone")
            out[name] = out.get(name, 0.0) + v - self._start.get(pid, 0.0)
        return dict(sorted(((k, round(v, 2)) for k, v in out.items()), key=lambda kv: -kv[1]))


def _pct(values, q):
    return round(float(np.percentile(values, q)) * 1000, 1) if len(values) else None


def score(
    deliveries: list[Delivery],
    reference: Reference,
    seats: int,
    seconds: float,
    fps: float,
    displayed: list[Delivery] | None = None,
) -> dict:
    """The benchmark's figures per seat and in total, from pixels alone. Skew is of what was on
    screen: `displayed` (each picture once, when a display put it up) where a contender shows
    something other than its stream of outputs, else the deliveries themselves."""
    per_seat = {}
    all_latency = []
    shown: dict[int, list[tuple[float, float]]] = {s: [] for s in range(seats)}  # (delivered at, captured at)
    for seat in range(seats):
        mine = sorted((d for d in deliveries if d.seat == seat), key=lambda d: d.at)
        latency, positions = [], []
        torn = unreadable = foreign = unknown = 0
        for d in mine:
            if d.reading.torn:
                torn += 1
                continue
            m = d.reading.marker
            if m is None:
                unreadable += 1
                continue
            if m.seat != seat:
                foreign += 1
                continue
            hit = reference.locate(seat, m.index, d.at)
            if hit is None:
                unknown += 1
                continue
            position, arrived = hit
            positions.append(position)
            latency.append(d.at - arrived)
            shown[seat].append((d.at, arrived))
        if displayed is not None:
            shown[seat] = _on_screen([d for d in displayed if d.seat == seat], reference)
        order_violations = sum(1 for a, b in zip(positions, positions[1:]) if b < a)
        duplicates = len(positions) - len(set(positions))
        all_latency += latency
        per_seat[seat] = {
            "delivered": len(mine),
            "fps": round(len(positions) / seconds, 2),
            "latency_p50_ms": _pct(latency, 50),
            "latency_p99_ms": _pct(latency, 99),
            "latency_max_ms": _pct(latency, 100),
            "order_violations": order_violations,
            "duplicates": duplicates,
            "torn": torn,
            "unreadable": unreadable,
            "foreign": foreign,
            "not_in_reference": unknown,
        }
    skews = _skews(shown, fps)
    total = {
        "fps": round(sum(v["fps"] for v in per_seat.values()), 2),
        "latency_p50_ms": _pct(all_latency, 50),
        "latency_p99_ms": _pct(all_latency, 99),
        "latency_max_ms": _pct(all_latency, 100),
        **{
            k: sum(v[k] for v in per_seat.values())
            for k in ("order_violations", "duplicates", "torn", "unreadable", "foreign", "not_in_reference")
        },
        "skew_p50_ms": _pct(skews, 50),
        "skew_p99_ms": _pct(skews, 99),
    }
    return {"seats": per_seat, "total": total}


def _on_screen(displayed: list[Delivery], reference: Reference) -> list[tuple[float, float]]:
    """(put up at, reference arrival) of each readable picture a display showed, in time order."""
    out = []
    for d in sorted(displayed, key=lambda d: d.at):
        m = d.reading.marker
        hit = (
            reference.locate(d.seat, m.index, d.at)
            if m is not None and not d.reading.torn and m.seat == d.seat
            else None
        )
        if hit is not None:
            out.append((d.at, hit[1]))
    return out


def _skews(shown: dict[int, list[tuple[float, float]]], fps: float) -> list[float]:
    """At each display instant (every 1/fps s), the spread of the capture times on screen."""
    skews: list[float] = []
    if not shown or not all(shown.values()):
        return skews
    start = max(v[0][0] for v in shown.values())
    end = min(v[-1][0] for v in shown.values())
    times = {s: [a for a, _ in v] for s, v in shown.items()}
    t = start
    while t <= end:
        captured = [shown[s][bisect.bisect_right(times[s], t) - 1][1] for s in shown]
        skews.append(max(captured) - min(captured))
        t += 1.0 / fps
    return skews

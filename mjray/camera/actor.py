"""Camera stage: one source's decoded frames, numbered, through the frame policy, to the seat's pool.

The source (`mjray.camera.sources`: live RTSP or a recording) decodes and stamps capture times; this
stage knows nothing of where frames come from. Promises:
- every decoded frame gets the next sequence number (also across reconnects), and so does every
  frame the camera sent that never came (the source's `MissingFrames`: `lost`, `offline`), as a
  gap: decoded + lost + offline is what the camera sent;
- at most `capacity` frames are in flight to the detectors. Policy `latest` keeps one newest
  frame waiting and reports each frame it replaces as a `skipped` gap (latency stays bounded);
  policy `every` keeps decoding and holds up to `buffer_s` seconds of frames, oldest first, and
  reports what overflows as `overflow` gaps (a replay at full speed is held back instead);
- pixels are made, scaled and converted in one pass, when a frame is sent, never for skipped
  frames, and go into Ray's object store once: as the detector's argument (push) or in the answer
  to its take (pull). Where pictures are shown, the camera keeps the sent frames' decoder pictures
  until the driver has shown them and makes BGR of only those it asks for (`mjray.camera.pixels`):
  results carry no object references;
- control calls (`stats`, `stop`, `pixels`, `release`) are answered while it decodes; a source that ends (a replay)
  leaves the camera `ended`, its frames still inferred;
- policy `aligned` (pull only): the camera keeps about a second of decoded frames and a take asks
  for the one captured nearest an instant, the same instant for every seat; frames passed over
  are reported as skipped;
- `stop()` ends decoding; every frame already decoded is still inferred or reported;
- restarted by Ray after its process died, it resumes where it was: it never reuses a seq it may
  have used (it claims them from a ledger its reorder keeps), counts the frames due while it was
  gone as `offline`, and keeps its counters.

Two ways out. Push (a pool per camera): the camera sends each frame to its least busy detector
as a slot frees. Pull (a pool shared by every camera): a detector `take()`s a seat's newest frame
when that seat's turn comes, so a frame never ages in a queue while other seats are served.

`FrameGate` and `FrameRing` (here) and `SeqLedger` and `GapBatch` (`mjray.camera.ledger`) are the pure
parts; `CameraActor` is the shell around them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from mjray.camera.ledger import GapBatch, SeqLedger
from mjray.camera.pixels import BGR, PixelHold, Sending, shown
from mjray.camera.sources import Source, SourceState, describe
from mjray.camera.timeline import MissingFrames, quantile_step
from mjray.cluster import metrics
from mjray.cluster.clients import CAMERA, DETECTOR, REORDER
from mjray.cluster.heap import HeapTrimmer
from mjray.cluster.logs import setup_actor
from mjray.cluster.stages import StageClock
from mjray.frames import CameraReport, CameraStatus, Decoded, Frame, Gap, GapReason, Lease, Resume
from mjray.policy import PolicyParts

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_FPS = 120  # the buffer of policy every holds at most buffer_s x this many frames, whatever the stream says
SKIP_REPORT_S = 0.5  # longest a skipped frame's gap waits for a frame to travel with (and the ledger is written)
LEASE_FRAMES = 16  # seqs a camera claims from its ledger at a time: one waited-for call a second at 15 fps;
# a restart takes longer than that, so the claimed seqs a dead camera never used stand for frames it missed
RESTART_GRACE_S = 2.0  # restarted: results of the dead camera's frames still on their way land within this
# kept across restarts
COUNTERS = ("decoded", "sent", "skipped", "failed", "overflow", "lost", "offline", "offline_s", "first_at")
STALL_MIN_S = 0.3  # streaming with no frame for this long (or 3 intervals) is stalled: takes do not wait
GAPS_PER_PUSH = 1000  # a long outage's gaps go to the reorder in pushes of at most this many


@dataclass
class FrameGate(Generic[T]):
    """Which decoded frames go to the detectors, with at most `capacity` in flight and at most
    `max_waiting` waiting, oldest first. Policy latest waits with one (the newest: each new frame
    gives the waiting one up); policy every with a buffer of seconds of frames, the oldest given
    up when it overflows. `hold`: a source that can wait (a replay at full speed) is held back
    (`blocked`) instead, and nothing is given up."""

    capacity: int
    max_waiting: int = 1
    hold: bool = False
    in_flight: int = 0
    waiting: deque = field(default_factory=deque)

    def offer(self, frame: T) -> tuple[T | None, T | None]:
        """(frame to send now or None, frame given up or None). Not while `blocked`."""
        if self.in_flight < self.capacity and not self.waiting:
            self.in_flight += 1
            return frame, None
        if self.blocked:
            raise RuntimeError("FrameGate.offer while blocked")
        self.waiting.append(frame)
        return None, (self.waiting.popleft() if len(self.waiting) > self.max_waiting else None)

    def done(self) -> T | None:
        """A frame finished; returns the waiting frame to send now, if any."""
        if self.in_flight <= 0:
            raise RuntimeError("FrameGate.done without a frame in flight")
        self.in_flight -= 1
        if self.waiting:
            self.in_flight += 1
            return self.waiting.popleft()
        return None

    def take(self) -> T | None:
        """Hand the oldest waiting frame to a puller (pull mode: capacity 0, nothing is ever in flight)."""
        return self.waiting.popleft() if self.waiting else None

    def trim(self, too_old: Callable[[T], bool]) -> list[T]:
        """Give up the oldest waiting frames while `too_old` says so."""
        given_up = []
        while self.waiting and too_old(self.waiting[0]):
            given_up.append(self.waiting.popleft())
        return given_up

    def clear(self) -> list[T]:
        frames = list(self.waiting)
        self.waiting.clear()
        return frames

    @property
    def blocked(self) -> bool:
        return self.hold and len(self.waiting) >= self.max_waiting


@dataclass
class FrameRing(Generic[T]):
    """Policy `aligned`: the last moments of decoded frames, so a take can ask for the frame
    captured nearest an instant rather than the newest. Frames older than `keep_s` behind the
    newest, beyond `max_frames`, or passed over by a take are given up (reported as skipped);
    nothing is handed out twice."""

    keep_s: float
    max_frames: int
    frames: deque = field(default_factory=deque)  # (captured_at, frame), oldest first

    def add(self, captured_at: float, frame: T) -> list[T]:
        """Keep a decoded frame; returns the frames given up to make room."""
        if self.frames and captured_at < self.frames[-1][0]:
            captured_at = self.frames[-1][0]  # a clock stepping back must not reorder the ring
        self.frames.append((captured_at, frame))
        dropped = []
        while len(self.frames) > self.max_frames or captured_at - self.frames[0][0] > self.keep_s:
            dropped.append(self.frames.popleft()[1])
        return dropped

    def ready(self, at: float, half_interval_s: float) -> bool:
        """Is the frame nearest `at` known: has a frame captured at `at` - half an interval or later arrived?"""
        return bool(self.frames) and self.frames[-1][0] >= at - half_interval_s

    def take(self, at: float) -> tuple[T | None, list[T]]:
        """(frame captured nearest `at` or None if empty, older frames given up with it)."""
        if not self.frames:
            return None, []
        best = min(range(len(self.frames)), key=lambda i: abs(self.frames[i][0] - at))
        older = [self.frames.popleft()[1] for _ in range(best)]
        return self.frames.popleft()[1], older

    def clear(self) -> list[T]:
        frames = [f for _, f in self.frames]
        self.frames.clear()
        return frames


def arrival_interval(arrivals: deque[float]) -> float | None:
    """Seconds between decoded frames over the recent arrival times; None until two came."""
    return (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) if len(arrivals) >= 2 else None


class CameraActor:
    """One camera: decode thread + completion thread. Started on Ray by `mjray.cluster.clients.CAMERA`.

    With no `detectors` it runs in pull mode: nothing is sent, shared detectors `take()`.
    `policy.by_instant` (pull mode): takes ask for the frame captured nearest an instant.
    """

    def __init__(
        self,
        seat: str,
        source: Source,
        detectors: list[str],
        policy: PolicyParts,
        in_flight_per_worker: int,
        hold_s: float | None,
        buffer_s: float = 2.0,
        sending: Sending = BGR,
        hosts: dict[str, str] | None = None,
    ) -> None:
        import ray

        from mjray.cluster.facts import reconstructed

        self.seat, self.source = seat, source
        # Looked up by name, not passed as handles: handles among the constructor arguments would
        # keep Ray from restarting this actor after a crash (ray-project/ray#53727).
        self.reorder = REORDER.of(seat, hosts or {})  # its own actor, or its seat of a host's (ReorderHost)
        self.detectors = [DETECTOR.named(name) for name in detectors]
        self.lossless, self.buffer_s = policy.lossless, buffer_s
        self.sending = sending
        hold = policy.lossless and source.can_wait
        buffered = policy.lossless and not hold  # seconds of frames by capture time, oldest first
        self.gate: FrameGate[Decoded] = FrameGate(
            in_flight_per_worker * len(self.detectors), max(1, round(buffer_s * MAX_FPS)) if buffered else 1, hold
        )
        self.pull = not self.detectors
        if policy.by_instant and not self.pull:
            raise ValueError(f"camera {seat}: a policy that takes frames by instant needs shared detectors (pull mode)")
        # by instant: the last seat of a round is served a round after its instant: a second of
        # decoded frames (32 at most) covers slow rounds and slow cameras
        self.ring: FrameRing[Decoded] | None = FrameRing(1.0, 32) if policy.by_instant else None
        self._last_instant = float("-inf")  # by instant: the newest instant a take asked for
        self.per_worker = [0] * len(self.detectors)
        # sent frames' decoder pictures, for the driver to show, at most `hold_s`; None: no pictures shown
        self.held: PixelHold[object] | None = PixelHold(hold_s) if hold_s is not None else None
        setup_actor(CAMERA.name(seat))
        self.stats_ = CameraReport(seat, source.shown)  # its counters as they go; `stats` reports a copy
        self._arrivals: deque[float] = deque(maxlen=64)  # monotonic times of the recent decoded frames
        # CPU by stage: decode (demux and decode), frame policy, convert, put; take and pixels (calls)
        self.clock = StageClock()
        self.state = SourceState()
        self.seqs = SeqLedger(LEASE_FRAMES)  # the seqs it hands out, leased from its reorder's ledger
        self._started_at: float | None = None
        self._captures: deque[float] = deque(maxlen=33)  # recent capture times: the frame interval
        self._ledger_at = 0.0
        self._ledger_failed = False  # said once
        self._lock = threading.Condition()
        self._metrics_lock = threading.Lock()
        self._reported = (0, 0)  # decoded frames and reconnects already counted in the metrics
        self._in_flight: dict = {}  # ObjectRef of infer call -> (worker index, Frame, gaps it carried)
        self.skips = GapBatch(SKIP_REPORT_S)  # gaps (skipped, overflow, lost, offline) not yet reported
        self._pushes: list = []  # gap pushes to the reorder not known to have landed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._heap = HeapTrimmer()  # frames freed by other threads go back to the system (decode thread)
        if reconstructed():
            try:
                resume = ray.get(self.reorder.resume.remote(), timeout=60.0)
            except ray.exceptions.RayError as error:  # raising here would leave the actor dead for good
                log.error("camera %s: restarted without its ledger (%s): seqs may repeat", seat, type(error).__name__)
                resume = Resume()
            self._resume(resume)

    def _resume(self, resume: Resume) -> None:
        """Restarted: go on from the lease: past every seq the dead camera may have used, with its
        counters, and start decoding again by itself (nobody calls `start` on a restart)."""
        seq = self.seqs.resume(resume)
        lease = resume.lease
        for name, value in lease.counters.items():
            setattr(self.stats_, name, value)
        self.state.reconnects = lease.reconnects
        self._reported = (self.stats_.decoded, self.state.reconnects)  # the dead one reported those
        self.reorder.abandon.remote(seq, RESTART_GRACE_S)
        log.warning("camera %s: restarted after its process died; resuming at seq %d", self.seat, seq)
        self.start(lease.start_at)

    # control ------------------------------------------------------------------------------
    def start(self, start_at: float | None = None) -> str:
        """`start_at`: wall time a replay's first frame is due (one for every seat); default now."""
        if not self._threads:
            at = time.time() if start_at is None else start_at
            self._started_at = at
            self._write_ledger(self.seqs.leased, wait=True)
            self._threads = [
                threading.Thread(target=self._decode_loop, args=(at,), name=f"decode:{self.seat}", daemon=True)
            ]
            if not self.pull:
                self._threads.append(threading.Thread(target=self._reap_loop, name=f"reap:{self.seat}", daemon=True))
            for thread in self._threads:
                thread.start()
        return self.seat

    def stop(self, timeout_s: float = 30.0) -> CameraReport:
        """Stop decoding; frames already decoded are still inferred (bounded wait); final stats."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        last_take = min(deadline, time.monotonic() + 5.0)
        with self._lock:
            while self.pull and self.gate.waiting and time.monotonic() < last_take:
                self._lock.wait(0.05)  # shared detectors take the last frames soon
            untaken = self.gate.clear() + (self.ring.clear() if self.ring else [])
        for frame in untaken:
            self._report_skip(frame)  # never sent: report it, nothing is lost silently
        decoding = any(thread.is_alive() for thread in self._threads[:1])  # stuck past the timeout: it claims seqs
        # down at the end: what it missed until now
        if self.state.status not in (CameraStatus.STREAMING, CameraStatus.ENDED) and not decoding:
            self._report_missing(self.source.unreceived(time.time()))
        import ray

        try:
            ray.get(self._flush_skips(always=True))  # every push landed before the reorder is flushed
        except ray.exceptions.RayError as error:  # the reorder died for good: its seat is down
            log.error("camera %s: reorder unreachable at stop: %s", self.seat, type(error).__name__)
        if self.state.status != CameraStatus.ENDED:
            self.state.status = CameraStatus.STOPPED
        return self.stats()

    def stats(self) -> CameraReport:
        self._report_metrics()
        with self._lock:
            held = len(self.held) if self.held is not None else 0
            waiting = len(self.gate.waiting) + (len(self.ring.frames) if self.ring else 0)
            in_flight = self.gate.in_flight
        return replace(
            self.stats_,
            **vars(self.state),
            in_flight=in_flight,
            waiting=waiting,
            fps=0.0 if (interval := arrival_interval(self._arrivals)) is None else 1 / max(1e-6, interval),
            pixels_held=held,
            stages=self.clock.as_dict(),
        )

    def _report_metrics(self) -> None:
        """Counters as what came since the last report (each time anyone asks for stats: the
        driver, every status period); a restarted camera reports only what it decoded itself."""
        with self._metrics_lock:
            decoded, reconnects = self.stats_.decoded, self.state.reconnects
            metrics.count("mjray_frames_decoded", max(0, decoded - self._reported[0]), seat=self.seat)
            metrics.count("mjray_camera_reconnects", max(0, reconnects - self._reported[1]), seat=self.seat)
            self._reported = (decoded, reconnects)
        metrics.set_gauge("mjray_camera_up", float(self.state.status == CameraStatus.STREAMING), seat=self.seat)

    # decoding ----------------------------------------------------------------------------
    def _decode_loop(self, start_at: float) -> None:
        try:
            frames = self.source.frames(self._stop, self.state, start_at)
            while True:
                with self.clock.stage("decode"):
                    decoded = next(frames, None)
                if decoded is None or self._stop.is_set():
                    break
                self._heap.tick()
                if self.seqs.resume_from is not None and not self._resumed(decoded):
                    continue
                if isinstance(decoded, MissingFrames):
                    self._report_missing(decoded)
                else:
                    with self.clock.stage("frame policy"):
                        self._offer(decoded)
        except Exception as error:  # a source that cannot go on (a broken recording): the seat ends
            log.error("camera %s: source failed: %s", self.seat, describe(error))
            self.state.status, self.state.last_error = CameraStatus.ENDED, describe(error)

    def _resumed(self, got: Decoded | MissingFrames) -> bool:
        """Restarted: is `got` past where the dead camera was? At the first that is, the frames due
        between are reported `offline` (less the seqs the dead camera claimed: those are gaps
        already, or results still on their way). A replay starts over: its frames before are passed over."""
        captured = got.first_captured_at if isinstance(got, MissingFrames) else got.captured_at
        past, missed, first_at, interval = self.seqs.resumed(captured)
        if missed:
            self._report_missing(MissingFrames("offline", missed, first_at, interval))
        return past

    def _claim(self, count: int) -> int:
        """The first of `count` new seqs (decode thread only). Past the ledger's lease, a new lease
        is written and waited for first, so a restart never reuses a seq; between, the ledger is
        sent now and then with the counters."""
        first, lease = self.seqs.claim(count)
        if lease is not None:
            if self._write_ledger(lease, wait=True):
                self.seqs.leased = lease
        elif time.monotonic() - self._ledger_at > SKIP_REPORT_S:
            self._write_ledger(self.seqs.leased)
        return first

    def _write_ledger(self, seq_until: int, wait: bool = False) -> bool:
        """Write the camera's ledger into its reorder; with `wait`, is it written?"""
        import ray

        self._ledger_at = time.monotonic()
        lease = Lease(
            seq_until,
            self._started_at,
            self.state.reconnects,
            self.interval_s,
            {name: getattr(self.stats_, name) for name in COUNTERS},
        )
        call = self.reorder.lease.remote(lease)
        if not wait:
            return False
        try:
            ray.get(call, timeout=30.0)
            return True
        # a reorder dead for good (its seat is down) or stuck: decoding goes on
        except ray.exceptions.RayError as error:
            if not self._ledger_failed:
                log.error("camera %s: ledger not written: %s", self.seat, type(error).__name__)
            self._ledger_failed = True
            return False

    @property
    def interval_s(self) -> float | None:
        """The frame interval by capture time: a low quantile of recent steps (as `Timeline`)."""
        return quantile_step(list(self._captures))

    def _stalled(self) -> bool:
        """Streaming, but no frame for several intervals: the source hangs, or frames cannot be
        numbered while the seat's reorder restarts. A take then does not wait for one."""
        interval = arrival_interval(self._arrivals)
        return interval is not None and time.monotonic() - self._arrivals[-1] > max(STALL_MIN_S, 3 * interval)

    def _offer(self, decoded: Decoded) -> None:
        """Number a decoded picture and apply the policy; it becomes BGR pixels only if it is sent (`_frame`)."""
        stats = self.stats_
        stats.width, stats.height = decoded.picture.width, decoded.picture.height  # type: ignore[attr-defined]
        stats.decoded += 1
        self._arrivals.append(time.monotonic())
        stats.last_at = time.time()
        stats.first_at = stats.first_at or stats.last_at
        self._captures.append(decoded.captured_at)
        decoded.seq = self._claim(1)
        if self.ring is not None:
            with self._lock:
                dropped_frames = self.ring.add(decoded.captured_at, decoded)
                self._lock.notify_all()
            for dropped in dropped_frames:
                self._report_skip(dropped)
            return
        with self._lock:
            while self.gate.blocked:  # a source that can wait is held back (also while stopping)
                self._lock.wait(0.1)
            send, dropped = self.gate.offer(decoded)
            given_up = [dropped] if dropped is not None else []
            if self.lossless:  # the buffer holds `buffer_s` seconds of capture time
                given_up += self.gate.trim(lambda old: decoded.captured_at - old.captured_at > self.buffer_s)
            self._lock.notify_all()
        for frame in given_up:
            self._report_skip(frame, GapReason.OVERFLOW if self.lossless else GapReason.SKIPPED)
        if send is not None:
            self._send(send)

    def take(self, wait_s: float, at: float | None = None) -> tuple | None:
        """Pull mode: (Frame, the pixels its detector reads, gaps) of the oldest waiting frame
        (under latest the only one, the newest), waiting up to `wait_s` for one;
        by instant: of the frame captured nearest wall time `at`, waiting up to `wait_s` past `at`.

        None when no frame came in time (camera reconnecting, or stopped and empty).
        """
        with self.clock.stage("take"):
            return self._take(wait_s, at)

    def _take(self, wait_s: float, at: float | None) -> tuple | None:
        if self.state.status != CameraStatus.STREAMING or self._stalled():
            wait_s = 0.0  # no wait while down or stalled: the asking worker serves other seats meanwhile
        elif at is not None:
            wait_s += max(0.0, at - time.time())
        deadline = time.monotonic() + wait_s
        given_up: list[Decoded] = []
        with self._lock:
            if self.ring is not None and at is not None:
                interval = arrival_interval(self._arrivals)  # half the frame interval, 1/60 s until known
                half = 0.5 * interval if interval is not None else 1 / 60
                while not self.ring.ready(at, half) and not self._stop.is_set() and time.monotonic() < deadline:
                    self._lock.wait(max(0.0, deadline - time.monotonic()))
                # once stopping, the ring's frames are the stop's to report: a take now would race it;
                # an instant older than one served would get a newer frame: frames keep their instants' order
                stale = self._stop.is_set() or at <= self._last_instant
                pending, given_up = self.ring.take(at) if not stale else (None, [])
                self._last_instant = max(self._last_instant, at)
            else:
                while not self.gate.waiting and not self._stop.is_set() and time.monotonic() < deadline:
                    self._lock.wait(max(0.0, deadline - time.monotonic()))
                pending = self.gate.take()
            self._lock.notify_all()  # a held-back source may go on
        for frame in given_up:
            self._report_skip(frame)
        if pending is None:
            return None
        frame, image, gaps = self._frame(pending, at)
        if self.held is not None:
            self._keep(frame.seq, pending.picture)
        with self._lock:
            self.stats_.sent += 1
        return frame, image, gaps  # the pixels by value: one copy into the store, and no reference returned

    def _report_missing(self, missing: MissingFrames | None) -> None:
        """Frames the camera sent that never came: each takes the next seq, as a gap with its capture time."""
        if missing is None:
            return
        reason = GapReason.LOST if missing.reason == "lost" else GapReason.OFFLINE
        if reason is GapReason.LOST:
            self.stats_.lost += missing.count
        else:
            self.stats_.offline += missing.count
            self.stats_.offline_s += missing.count * missing.interval_s
        first_seq = self._claim(missing.count)
        for start in range(0, missing.count, GAPS_PER_PUSH):  # a long outage: a chunk in memory at a time
            chunk = [
                Gap(self.seat, first_seq + k, reason, missing.first_captured_at + k * missing.interval_s)
                for k in range(start, min(missing.count, start + GAPS_PER_PUSH))
            ]
            with self._lock:
                self.skips.add(chunk)
                full = len(self.skips) >= GAPS_PER_PUSH
            if full:
                import ray

                try:
                    ray.get(self._flush_skips())  # a chunk landed before the next is built: bounded memory
                except ray.exceptions.RayError:  # the reorder is dead for good: its seat is down
                    pass
        with self._lock:
            due = self.skips.due()
        if due:
            self._flush_skips()

    def _report_skip(self, decoded: Decoded, reason: GapReason = GapReason.SKIPPED) -> None:
        with self._lock:  # decode, reap and take threads all report
            if reason is GapReason.OVERFLOW:
                self.stats_.overflow += 1
            else:
                self.stats_.skipped += 1
            due = self.skips.add([Gap(self.seat, decoded.seq, reason, decoded.captured_at)])
        if due:
            self._flush_skips()

    def _take_skips(self) -> list[Gap]:
        with self._lock:
            return self.skips.take()

    def _flush_skips(self, always: bool = False) -> list:
        """Gaps the next sent frame did not carry go to the reorder themselves, after SKIP_REPORT_S;
        the pushes not known to have landed yet (the reorder serves calls on several threads, so
        one landed call says nothing of earlier ones)."""
        import ray

        skips = self._take_skips()
        pushes = [
            self.reorder.push_many.remote(skips[i : i + GAPS_PER_PUSH]) for i in range(0, len(skips), GAPS_PER_PUSH)
        ]
        with self._lock:
            self._pushes = ray.wait(self._pushes, num_returns=len(self._pushes), timeout=0)[1] if self._pushes else []
            self._pushes += pushes or ([self.reorder.push_many.remote([])] if always else [])
            return list(self._pushes)

    def _frame(self, decoded: Decoded, instant: float | None = None) -> tuple[Frame, object, list[Gap]]:
        """The frame and the pixels its detector reads, made only now it is sent. The gaps of the
        frames skipped since the last one sent travel with it: its detector pushes them with its
        result, one call where there were two (they cannot leave the reorder before it anyway)."""
        gaps = self._take_skips()
        with self.clock.stage("convert"):
            image = self.sending(decoded.picture)
        width, height = decoded.picture.width, decoded.picture.height  # type: ignore[attr-defined]
        frame = Frame(
            self.seat,
            decoded.seq,
            decoded.captured_at,
            decoded.clock,
            decoded.pts,
            decoded.decoded_at,
            width,
            height,
            instant,
        )
        return frame, image, gaps

    def _keep(self, seq: int, picture: object) -> None:
        """A sent frame's decoder picture, kept for the driver to show."""
        with self._lock:
            self.held.keep(seq, picture, time.monotonic())

    def pixels(self, seqs: list[int]) -> list:
        """The BGR pixels of these sent frames, made now for the outputs that show them (arrays, not
        references: see `mjray.camera.pixels`); None for one let go, or sent before this process started."""
        if self.held is None:
            return [None] * len(seqs)
        with self.clock.stage("pixels", len(seqs)):
            with self._lock:
                pictures = self.held.get(seqs, time.monotonic())
            return [None if picture is None else shown(picture) for picture in pictures]

    def release(self, below: int) -> None:
        """The driver has shown what it will of the frames before seq `below`."""
        if self.held is not None:
            with self._lock:
                self.held.release(below)

    def _send(self, decoded: Decoded) -> None:
        import ray

        frame, image, gaps = self._frame(decoded)
        with self.clock.stage("put"):
            ref = ray.put(image)  # an argument of the call: the detector gets the array, and no reference is lent
        if self.held is not None:
            self._keep(frame.seq, decoded.picture)
        with self._lock:
            worker = min(range(len(self.detectors)), key=self.per_worker.__getitem__)
            self.per_worker[worker] += 1
            call = self.detectors[worker].infer.remote(frame, ref, gaps)
            self._in_flight[call] = (worker, frame, gaps)
            self.stats_.sent += 1
            self._lock.notify_all()

    def _reap_loop(self) -> None:
        """Notice finished inferences, free their slots, send the waiting frame."""
        import ray

        while True:
            with self._lock:
                while not self._in_flight and not self._stop.is_set():
                    self._lock.wait(0.2)
                if not self._in_flight and self._stop.is_set():
                    return
                calls = list(self._in_flight)
            done, _ = ray.wait(calls, num_returns=1, timeout=0.2)
            for call in done:
                try:
                    ray.get(call)
                except Exception as error:  # the worker died: its frame becomes a gap, the gaps it carried go on
                    with self._lock:
                        _, frame, gaps = self._in_flight[call]
                    self.stats_.failed += 1
                    self.state.last_error = f"detector: {type(error).__name__}"
                    self.reorder.push_many.remote(
                        [
                            *gaps,
                            Gap(self.seat, frame.seq, GapReason.FAILED, frame.captured_at, frame, type(error).__name__),
                        ]
                    )
                with self._lock:
                    worker, *_ = self._in_flight.pop(call)
                    self.per_worker[worker] -= 1
                    waiting = self.gate.done()
                    self._lock.notify_all()
                if waiting is not None:  # sent even while stopping: a decoded frame is never dropped
                    self._send(waiting)

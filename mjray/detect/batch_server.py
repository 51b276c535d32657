"""A batched detector's serving loop: a take out at each of its seats' cameras at once, the
frames that come back gathered into batches (`BatchCollector`), each batch inferred in one
forward pass while the next takes are already out.

It never waits on a camera that is stalled or restarting for longer than `pool.batch_wait_ms`:
the batch closes with the frames that came. A camera that had nothing to give rests, longer
each time (`SeatTurns`), and a take it does not answer in time is kept and read when it comes:
a frame a camera handed out is inferred, or reported as a gap, never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mjray.cluster.clients import CAMERA
from mjray.cluster.raysafe import settle
from mjray.detect.batching import BatchCollector
from mjray.detect.turns import AskTimer, SeatTurns

if TYPE_CHECKING:
    from mjray.detect.actor import DetectorActor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSettings:
    """`pool.batch_*` in seconds, as a detector takes them."""

    size: int
    wait_s: float
    max_age_s: float | None  # None: no limit
    # policy every: a seat's next take goes out as soon as its last came back, so frames join a batch as they are
    # decoded; else (latest) just before the model frees up, so a batch holds the newest frames
    eager: bool = False

    @property
    def ahead(self) -> int:
        """Most frames of one seat waiting here for a batch."""
        return 2 if self.eager else 1


@dataclass
class Take:
    ref: object  # ObjectRef of a camera's take()
    answer_by: float  # monotonic: past it the batch no longer waits for this take


class BatchServer:
    """The loop of a detector shared by several cameras whose frames it infers in batches (a
    thread of `DetectorActor`)."""

    def __init__(self, worker: DetectorActor, settings: BatchSettings) -> None:
        self.worker, self.settings = worker, settings
        self.collector: BatchCollector[tuple] = BatchCollector(settings.size, settings.wait_s, settings.max_age_s)
        self.turns = SeatTurns(worker.seats)
        self.timer = AskTimer()  # when to send the next takes: a take's round trip before the model frees up
        self.takes: dict[str, Take] = {}  # seat -> its one take out
        self.cameras: dict[str, object] = {}
        self.failing: set[str] = set()  # seats whose camera's last take failed (logged once until it answers)

    def run(self) -> None:
        stop = self.worker._stop
        while True:
            stopping = stop.is_set()
            if stopping and not self.takes and not self.collector.pending():
                return
            try:
                self.serve_once(stopping)
            except Exception:  # one bad pass (a camera's odd answer, a push) must not end the serving for good
                log.exception("%s: a serving pass failed; serving on", self.worker.name)
                stop.wait(0.1)

    def serve_once(self, stopping: bool) -> None:
        """Send takes, collect what came back, and infer a batch if one is due."""
        stop = self.worker._stop
        if not stopping:
            self.send_takes()
        self.collect(stopping)
        now = time.time()
        if not self.collector.due(now, 0 if stopping else self.expecting()):
            return
        batch = self.collector.take(now)
        if self.settings.eager or not batch.items:
            if not stop.is_set():
                self.send_takes()  # the frames decoded meanwhile come in while this batch is inferred
            self.worker.infer_batch(batch.items, batch.stale)
            return
        # the next takes go out just before this batch ends: they land as the model frees up, the newest
        # frames then rather than those of this batch's start; at once if the batch ends first
        fired = threading.Event()

        def ahead_of_the_model() -> None:
            fired.set()
            if not stop.is_set():
                self.send_takes(timed=True)

        ahead = threading.Timer(self.timer.delay(), ahead_of_the_model)
        ahead.start()
        started = time.perf_counter()
        self.worker.infer_batch(batch.items, batch.stale)
        self.timer.inferred(time.perf_counter() - started)
        ahead.cancel()
        ahead.join()
        if not fired.is_set() and not stop.is_set():
            self.send_takes()

    def expecting(self) -> int:
        """Takes that may still join the batch: out, and not past their time."""
        now = time.monotonic()
        return sum(1 for take in self.takes.values() if take.answer_by > now)

    def send_takes(self, timed: bool = False) -> None:
        """A take to every seat that has none out, not too many frames waiting here, and is not resting.
        `timed` (sent ahead of the model, on the timer's thread): waits a little for the first answer,
        to time the round trip the next batch's takes are sent ahead by (never longer than a batch
        takes: the loop joins this thread once its batch is done, and must not wait on a slow camera)."""
        import ray

        worker, now, ahead = self.worker, time.monotonic(), self.settings.ahead
        sent = []
        for seat in worker.seats:
            if seat in self.takes or self.collector.pending_for(seat) >= ahead or self.turns.resting(seat, now):
                continue
            camera = self.cameras.get(seat)
            if camera is None:
                try:
                    camera = self.cameras[seat] = CAMERA.of(seat, worker.hosts)
                except ValueError:  # not started yet: asked again after a rest
                    self.turns.got(seat, False, now)
                    continue
            ref = camera.take.remote(worker.TAKE_WAIT_S, None)
            self.takes[seat] = Take(ref, now + worker.TAKE_WAIT_S + worker.ASK_SLACK_S)
            sent.append(ref)
        if timed and sent:
            limit = min(worker.TAKE_WAIT_S + worker.ASK_SLACK_S, self.timer.infer_s or worker.TAKE_WAIT_S)
            if ray.wait(sent, num_returns=1, timeout=limit)[0]:
                self.timer.asked(time.monotonic() - now)

    def collect(self, stopping: bool) -> None:
        """Wait for takes to answer, until one does or the pending batch falls due; keep what came.
        Stopping, a take still out is waited for as long as it may take, then let go."""
        import ray

        if not self.takes:
            wake = self.collector.wake_at()
            if wake is None:
                wake = time.time() + max(0.005, min(0.1, self.turns.wake_at() - time.monotonic()))
            self.worker._stop.wait(max(0.0, wake - time.time()))
            return
        now = time.monotonic()
        in_time = [take.answer_by for take in self.takes.values() if take.answer_by > now]
        until = min(in_time, default=now + 0.1)  # only late takes out: look again soon
        wake = self.collector.wake_at()
        if wake is not None:
            until = min(until, now + wake - time.time())
        ahead = self.settings.ahead
        resting = [s for s in self.worker.seats if s not in self.takes and self.collector.pending_for(s) < ahead]
        if resting:  # asked again once its rest ends
            until = min(until, max(now + 0.005, self.turns.wake_at(resting)))
        timeout = max(0.0, min(until - now, 0.5)) if not stopping else self.worker.TAKE_WAIT_S + self.worker.ASK_SLACK_S
        seats = {take.ref: seat for seat, take in self.takes.items()}
        done, _ = ray.wait(list(seats), num_returns=1, timeout=timeout)
        if done:
            done += ray.wait([r for r in seats if r not in done], num_returns=len(seats) - 1, timeout=0)[0]
        elif stopping:  # nothing more is coming in time
            self.takes.clear()
            return
        for ref in done:
            seat = seats[ref]
            del self.takes[seat]
            with self.worker.clock.stage("fetch"):
                got = settle(lambda ref=ref: ray.get(ref), ray.exceptions.RayError)
            now = time.monotonic()
            if isinstance(got, ray.exceptions.RayError):  # the camera died: rest its seat until it answers
                if seat not in self.failing:
                    log.warning("%s: asking camera %s failed: %s", self.worker.name, seat, type(got).__name__)
                    self.failing.add(seat)
                self.turns.got(seat, False, now)
                continue
            self.failing.discard(seat)
            self.turns.got(seat, got is not None, now)
            if got is not None:
                self.collector.add(seat, got, got[0].captured_at, time.time())

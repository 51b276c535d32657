"""Detector stage: a pool member holds one loaded model, infers frames, and pushes each result
(or a gap) to its seat's reorder. Loading and running the model is `mjray.detect.model`'s job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mjray.cluster import metrics
from mjray.cluster.clients import CAMERA, REORDER, ROUNDS
from mjray.cluster.logs import setup_actor
from mjray.cluster.raysafe import settle
from mjray.cluster.shipping import ShippedFile, receive
from mjray.cluster.stages import StageClock
from mjray.detect.batch_server import BatchServer, BatchSettings
from mjray.detect.batching import BatchSizes
from mjray.detect.model import Model, ModelBuilder, ModelError, auto_threads, load_model
from mjray.detect.turns import AskTimer, SeatTurns
from mjray.frames import Detections, Frame, Gap, GapReason, Item, Result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorReady:
    """What a detector says once its model has loaded (`DetectorActor.ready`), for start-up's lines."""

    name: str
    device: str  # where it infers: cpu, cuda:0, ...
    classes: int
    weights: str
    note: str = ""  # why it infers on the CPU where it was given a GPU, "" otherwise
    post: tuple[str, ...] = ()  # the plug-ins' post-processors, in the order they run
    batch: int = 1  # frames per forward pass
    batch_note: str = ""  # how a model that takes one frame at a time is batched


@dataclass
class DetectorReport:
    """A detector's counters (`DetectorActor.stats`, `stop`), for the summary and the benchmarks."""

    name: str
    inferred: int = 0
    failed: int = 0
    served: dict[str, int] = field(default_factory=dict)  # seat -> frames inferred for it
    post_ms: float = 0.0  # the plug-ins' post-processing, per frame inferred
    batches: BatchSizes | None = None  # batched detectors: how full their forward passes were
    stages: dict = field(default_factory=dict)  # CPU by stage (`mjray.cluster.stages.StageClock.as_dict`)


class LocalTurns:
    """Policy latest: a worker's own round robin over its seats, each seat's newest frame."""

    def __init__(self, seats: list[str]) -> None:
        self.turns = SeatTurns(seats)

    def next(self) -> tuple[str, None] | float:
        """The next (seat, None), or seconds to wait while every seat rests."""
        now = time.monotonic()
        seat = self.turns.next(now)
        return (seat, None) if seat is not None else max(0.005, self.turns.wake_at() - now)

    def got(self, seat: str, frame: bool, delay_s: float | None) -> None:
        self.turns.got(seat, frame, time.monotonic())


class SharedRounds:
    """Policy aligned: the (seat, instant) to sample next comes from the pool's `rounds` actor."""

    def __init__(self) -> None:
        self.actor = ROUNDS.lookup()

    def next(self) -> tuple[str, float] | float:
        import ray

        got = ray.get(self.actor.next.remote())
        return got if isinstance(got, tuple) else max(0.005, got - time.time())

    def got(self, seat: str, frame: bool, delay_s: float | None) -> None:
        """Sent, not waited for: this worker's next ask comes after it (an actor's calls from one caller keep their order)."""
        self.actor.got.remote(seat, frame, delay_s)


def with_local_files(model: dict, local: dict[str, str]) -> dict:
    """The model's settings with each shipped file at its local path: `weights`, or a plug-in's
    `plugins.<name>.<setting>`."""
    model = {**model, "plugins": {name: dict(s) for name, s in model.get("plugins", {}).items()}}
    for setting, path in local.items():
        if setting.startswith("plugins."):
            _, name, key = setting.split(".", 2)
            model["plugins"][name][key] = path
        else:
            model[setting] = path
    return model


def in_frame_pixels(detections: Detections, frame: Frame, image: np.ndarray) -> Detections:
    """Boxes found in `image` in pixels of the frame it was made from (sent scaled: `stream.send_size`)."""
    height, width = image.shape[:2]
    if (width, height) == (frame.width, frame.height):
        return detections
    return detections.scaled(frame.width / width, frame.height / height)


def node_cpus() -> int:
    """The CPUs Ray counts on this process's node (what `ray start --num-cpus` or a container's
    limit says), else the machine's."""
    import ray

    try:
        here = ray.get_runtime_context().get_node_id()
        cpus = next((n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("NodeID") == here), 0)
    except Exception:  # outside Ray, or the control store unreachable for a moment
        cpus = 0
    return int(cpus) or os.cpu_count() or 1


class DetectorActor:
    """A pool member: holds one loaded model, infers frames, pushes results to their seat's reorder.

    Plain class; `mjray.cluster.clients.DETECTOR` starts it on Ray. Given one seat it is pushed frames by
    that seat's camera (`infer`); given several it serves them itself, in turn, asking each
    seat's camera just before the model frees up: for its newest frame (`LocalTurns`), or under
    policy aligned for the frame captured nearest the instant the `rounds` actor gives
    (`SharedRounds`). A failed inference becomes a gap in the seat's output rather than an
    exception nobody reads.
    """

    TAKE_WAIT_S = 0.1  # how long a seat's camera may wait for its next frame when asked
    ASK_SLACK_S = 0.5  # past its wait, how long a take may take before this worker moves on (its answer is kept)

    def __init__(
        self,
        name: str,
        model: dict,
        seats: list[str],
        shared: bool = False,
        aligned: bool = False,
        build: ModelBuilder = load_model,
        batch: BatchSettings | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        setup_actor(name)
        # actor name -> the host it runs in (pool.cameras_per_process, pool.reorders_per_process)
        self.hosts = dict(hosts or {})
        # Looked up by name, not passed as handles: a handle among the constructor arguments
        # would keep Ray from restarting this actor after a crash (ray-project/ray#53727).
        self.name, self.seats, self.aligned = name, list(seats), aligned
        self.reorders = {seat: REORDER.of(seat, self.hosts) for seat in self.seats}
        self.load_error: ModelError | None = None
        model = dict(model)
        # setting -> the driver's file (weights, a plug-in's)
        shipped: dict[str, ShippedFile] = model.pop("shipped", {})
        auto = model.pop("auto_threads", None)
        if not model.get("threads") and auto:  # this node's CPUs, not the driver's
            model["threads"] = auto_threads(cores=node_cpus(), **auto)
        try:
            local = {}
            for setting, file in shipped.items():
                try:
                    local[setting] = receive(file)
                except (OSError, ValueError) as error:  # a cache that cannot be written, bytes that do not match
                    raise ModelError(
                        f"{file.path} could not be received on this node ({type(error).__name__}: "
                        f"{error}); MJRAY_CACHE names where nodes keep shipped files"
                    ) from error
            self.detector: Model = build(**with_local_files(model, local))
        except ModelError as error:  # said by ready(): a restart would fail the same way
            for setting, file in shipped.items():  # named as the driver's files, not their copies
                if setting in local:
                    error = ModelError(str(error).replace(local[setting], file.path))
            self.load_error, shared = error, False
        # CPU by stage: the model's own (where it keeps a clock), fetch, serve (results, metrics), push
        self.clock: StageClock = getattr(getattr(self, "detector", None), "clock", None) or StageClock()
        self.inferred = self.failed = 0
        self.post_ms = 0.0  # of inference, the plug-ins' post-processing (mjray.plugins)
        self.served: dict[str, int] = {seat: 0 for seat in self.seats}
        self._pushes: list = []  # pushes to reorders not known to have landed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batch = batch if batch is not None and batch.size > 1 else None
        self.batch_sizes = BatchSizes()
        if self.batch is not None and self.load_error is None:
            # a batch's first pass at its size is slow (memory, kernels chosen): not on cameras' frames
            try:
                self.detector.batch([np.zeros((720, 1280, 3), np.uint8)] * self.batch.size)
            except Exception as error:  # out of memory at this size, say: said by ready(), one line
                self.load_error, shared = (
                    ModelError(
                        f"{self.detector.weights}: a first batch of {self.batch.size} frames failed "
                        f"({type(error).__name__}: {str(error)[:200]}); lower pool.batch_size"
                    ),
                    False,
                )
        if shared:  # started here, not by a call, so a restarted actor serves again by itself
            self._thread = threading.Thread(target=self._serve, name=f"serve:{name}", daemon=True)
            self._thread.start()

    def ready(self) -> DetectorReady:
        if self.load_error is not None:
            raise self.load_error
        return DetectorReady(
            self.name,
            self.detector.device,
            len(self.detector.names),
            self.detector.weights,
            self.detector.device_note,
            tuple(post.name for post in self.detector.post),
            self.batch.size if self.batch else 1,
            self.detector.batch_note if self.batch else "",
        )

    def names(self) -> dict[int, str]:
        return self.detector.names

    def infer(self, frame: Frame, image: np.ndarray, gaps: Sequence[Gap] = ()) -> int:
        """Infer one frame (`image` is the frame's pixels, resolved from the object store); `gaps`:
        the frames its camera skipped before it, pushed with its result."""
        with self.clock.stage("serve"):
            return self._infer(frame, image, gaps)

    def _infer(self, frame: Frame, image: np.ndarray, gaps: Sequence[Gap]) -> int:
        age_ms = (time.time() - frame.captured_at) * 1000
        try:
            detections = self.detector(image)
        except Exception as error:  # one bad frame must not take the worker down
            self.failed += 1
            self._push(
                Gap(
                    frame.seat,
                    frame.seq,
                    GapReason.FAILED,
                    frame.captured_at,
                    frame,
                    f"{type(error).__name__}: {error}",
                ),
                gaps,
            )
            return frame.seq
        self.inferred += 1
        detections = in_frame_pixels(detections, frame, image)
        self.post_ms += self.detector.post_ms
        self.served[frame.seat] = self.served.get(frame.seat, 0) + 1
        metrics.count("mjray_frames_inferred", seat=frame.seat, worker=self.name)
        metrics.observe("mjray_inference_ms", self.detector.last_ms, seat=frame.seat, worker=self.name)
        metrics.observe("mjray_frame_age_ms", max(0.0, age_ms), seat=frame.seat, worker=self.name)
        self._push(Result(frame, detections, self.detector.last_ms, self.name, time.time()), gaps)
        return frame.seq

    def infer_batch(self, taken: Sequence[tuple[str, tuple]], stale: Sequence[tuple[str, tuple]] = ()) -> None:
        """Infer frames of several seats in one forward pass; each taken item is a camera's take
        (Frame, pixels, gaps before it). `stale`: takes too old to infer, pushed as gaps. Each
        seat's items go to its reorder in one call."""
        with self.clock.stage("serve", len(taken)):
            self._infer_batch(taken, stale)

    def _infer_batch(self, taken: Sequence[tuple[str, tuple]], stale: Sequence[tuple[str, tuple]]) -> None:
        out: dict[str, list[Item]] = {}
        for seat, (frame, _, gaps) in stale:
            out.setdefault(seat, []).extend([*gaps, Gap(seat, frame.seq, GapReason.STALE, frame.captured_at, frame)])
        if taken:
            started = time.time()
            try:
                found = self.detector.batch([image for _, (_, image, _) in taken])
                if len(found) != len(taken):
                    raise ValueError(f"the model gave {len(found)} results for a batch of {len(taken)} frames")
                error = None
            except Exception as raised:  # one bad batch must not take the worker down
                found, error = [], f"{type(raised).__name__}: {raised}"
            ms = self.detector.last_ms
            if error is None:
                self.batch_sizes.add(len(taken))
                self.post_ms += self.detector.post_ms
            for i, (seat, (frame, _, gaps)) in enumerate(taken):
                if error is not None:
                    self.failed += 1
                    item: Item = Gap(seat, frame.seq, GapReason.FAILED, frame.captured_at, frame, error)
                else:
                    self.inferred += 1
                    self.served[seat] = self.served.get(seat, 0) + 1
                    metrics.count("mjray_frames_inferred", seat=seat, worker=self.name)
                    metrics.observe("mjray_inference_ms", ms, seat=seat, worker=self.name)
                    age_ms = max(0.0, (started - frame.captured_at) * 1000)
                    metrics.observe("mjray_frame_age_ms", age_ms, seat=seat, worker=self.name)
                    detections = in_frame_pixels(found[i], frame, taken[i][1][1])
                    item = Result(frame, detections, ms, self.name, time.time())
                out.setdefault(seat, []).extend([*gaps, item])
        for seat, items in out.items():
            self._send(seat, sorted(items, key=lambda item: item.seq))

    def _push(self, item: Result | Gap, gaps: Sequence[Gap]) -> None:
        self._send(item.seat, [*gaps, item])

    def _send(self, seat: str, items: list[Item]) -> None:
        import ray

        with self.clock.stage("push"):
            if len(self._pushes) > 32:  # keep only those still on their way
                self._pushes = ray.wait(self._pushes, num_returns=len(self._pushes), timeout=0)[1]
            self._pushes.append(self.reorders[seat].push_many.remote(items))

    def _serve(self) -> None:
        """Shared mode: frames of every seat in batches (`BatchServer`), or seats in turn, each
        asked for its frame as the model frees up (`SeatServer`)."""
        if self.batch is not None:
            BatchServer(self, self.batch).run()
        else:
            SeatServer(self).run()

    def stop(self, timeout_s: float = 30.0) -> DetectorReport:
        """Shared mode: finish the frame in hand and stop asking for more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.stats()

    def barrier(self) -> None:
        """Returns once every result this worker pushed has reached its reorder (a reorder serves
        calls on several threads: each push is waited for, not just the last)."""
        import ray

        for push in self._pushes:
            try:
                ray.get(push)
            except ray.exceptions.RayError as error:  # that reorder is dead for good: its seat is down
                log.warning("%s: a push was lost: %s", self.name, type(error).__name__)
        self._pushes = []

    def stats(self) -> DetectorReport:
        return DetectorReport(
            self.name,
            self.inferred,
            self.failed,
            dict(self.served),
            round(self.post_ms / max(self.inferred, 1), 2),
            replace(self.batch_sizes) if self.batch else None,
            self.clock.as_dict(),
        )


@dataclass
class Ask:
    """The one outstanding ask of a shared detector: a seat's `take()` and when it must have answered."""

    seat: str
    ref: object  # ObjectRef of the take, or of a late take that brought a frame
    answer_by: float  # monotonic


class SeatServer:
    """A shared detector's serving loop: seats in turn, each asked for its frame just before the
    model frees up, so the next frame lands as this one ends (`AskTimer`). A camera that does not
    answer in time (restarting, or the box is slow) is not asked again until its late call comes
    back; a late frame is inferred, never dropped."""

    def __init__(self, worker: DetectorActor) -> None:
        self.worker = worker
        self.plan = SharedRounds() if worker.aligned else LocalTurns(worker.seats)
        self.timer = AskTimer()
        self.cameras: dict[str, object] = {}
        self.ask: Ask | None = None
        self.rest_s = 0.0  # how long to wait when every seat rests
        # seat -> a call its camera did not answer in time: a take, or a stats() probe
        self.late: dict[str, object] = {}

    def run(self) -> None:
        import ray

        worker, stop = self.worker, self.worker._stop
        while not stop.is_set() or self.ask:  # a frame already asked for is still inferred
            if not self.ask and stop.is_set():
                break
            if not self.ask:
                self.send_ask()
            if not self.ask:
                stop.wait(min(0.1, self.rest_s))
                continue
            ask, self.ask = self.ask, None
            try:
                with worker.clock.stage("fetch"):
                    got = ray.get(ask.ref, timeout=max(0.0, ask.answer_by - time.monotonic()))
            except ray.exceptions.GetTimeoutError:  # restarting, or slow: its answer is taken when it comes
                self.late[ask.seat] = ask.ref
                got = None
            except Exception as error:  # the camera actor died: rest that seat until it answers again
                log.warning("%s: asking camera %s failed: %s", worker.name, ask.seat, type(error).__name__)
                self.probe(ask.seat)
                got = None
            self.plan.got(ask.seat, got is not None, got[0].decoded_at - got[0].captured_at if got else None)
            if got is None:
                continue
            frame, image, gaps = got
            ahead = threading.Timer(self.timer.delay(), lambda: stop.is_set() or self.send_ask())
            ahead.start()  # the next frame lands as this one ends
            started = time.perf_counter()
            worker.infer(frame, image, gaps)
            self.timer.inferred(time.perf_counter() - started)
            ahead.join()
        self.infer_late()

    def answer(self, seat: str) -> tuple[bool, object | None]:
        """(may this seat be asked now, a late take that brought a frame, to infer now)."""
        import ray

        ref = self.late.get(seat)
        if ref is None:
            return True, None
        if not ray.wait([ref], timeout=0)[0]:
            return False, None
        del self.late[seat]
        got = settle(lambda: ray.get(ref), ray.exceptions.RayError)
        if isinstance(got, ray.exceptions.RayError):  # died (again): probe it until it answers
            self.probe(seat)
            return False, None
        return True, ref if isinstance(got, tuple) else None

    def probe(self, seat: str) -> None:
        camera = self.cameras.get(seat)
        if camera is not None:
            self.late[seat] = camera.stats.remote()

    def send_ask(self) -> None:
        import ray

        worker = self.worker
        for _ in range(len(worker.seats) + 1):
            try:
                choice = self.plan.next()
            except ray.exceptions.RayError as error:  # the rounds actor is dead for good: no more rounds
                log.error("%s: no rounds to serve: %s", worker.name, type(error).__name__)
                self.rest_s = 1.0
                return
            if not isinstance(choice, tuple):
                self.rest_s = choice
                return
            seat, at = choice
            may, frame_ref = self.answer(seat)
            if frame_ref is not None:
                self.ask = Ask(seat, frame_ref, time.monotonic() + worker.ASK_SLACK_S)
                return
            if not may:
                self.plan.got(seat, False, None)
                continue
            if seat not in self.cameras:
                try:
                    self.cameras[seat] = CAMERA.of(seat, worker.hosts)
                except ValueError:  # not started yet: try again on its next turn
                    self.plan.got(seat, False, None)
                    continue
            asked = time.monotonic()
            ref = self.cameras[seat].take.remote(worker.TAKE_WAIT_S, at)
            answer_by = asked + worker.TAKE_WAIT_S + worker.ASK_SLACK_S + max(0.0, (at or 0.0) - time.time())
            self.ask = Ask(seat, ref, answer_by)
            # the round trip, without our own inference
            if ray.wait([ref], timeout=max(0.0, answer_by - time.monotonic()))[0]:
                self.timer.asked(time.monotonic() - asked)
            return

    def infer_late(self) -> None:
        """Stopping: the takes that came back late still bring frames the cameras handed out."""
        import ray

        for ref in list(self.late.values()):
            try:
                got = ray.get(ref, timeout=self.worker.TAKE_WAIT_S + self.worker.ASK_SLACK_S)
            except ray.exceptions.RayError:  # GetTimeoutError too: a camera still restarting took nothing yet
                continue
            if isinstance(got, tuple):
                self.worker.infer(*got)

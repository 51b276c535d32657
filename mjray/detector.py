"""Detector stage: a pool member holds one loaded model, infers frames, and pushes each result
(or a gap) to its seat's reorder. Loading and running the model is `mjray.model`'s job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence

import numpy as np

from mjray import metrics
from mjray.frames import Frame, Gap, GapReason, Result
from mjray.logs import setup_actor
from mjray.model import ModelError, YoloDetector, auto_threads
from mjray.raysafe import settle
from mjray.shipping import ShippedFile, receive
from mjray.turns import AskTimer, SeatTurns

log = logging.getLogger(__name__)


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
        import ray

        self.actor = ray.get_actor("rounds")

    def next(self) -> tuple[str, float] | float:
        import ray

        got = ray.get(self.actor.next.remote())
        return got if isinstance(got, tuple) else max(0.005, got - time.time())

    def got(self, seat: str, frame: bool, delay_s: float | None) -> None:
        """Sent, not waited for: this worker's next ask comes after it (an actor's calls from one caller keep their order)."""
        self.actor.got.remote(seat, frame, delay_s)


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

    Plain class; `pipeline.py` wraps it with `ray.remote`. Given one seat it is pushed frames by
    that seat's camera (`infer`); given several it serves them itself, in turn, asking each
    seat's camera just before the model frees up: for its newest frame (`LocalTurns`), or under
    policy aligned for the frame captured nearest the instant the `rounds` actor gives
    (`SharedRounds`). A failed inference becomes a gap in the seat's output rather than an
    exception nobody reads.
    """

    TAKE_WAIT_S = 0.1  # how long a seat's camera may wait for its next frame when asked
    ASK_SLACK_S = 0.5  # past its wait, how long a take may take before this worker moves on (its answer is kept)

    def __init__(self, name: str, model: dict, seats: list[str], shared: bool = False, aligned: bool = False) -> None:
        import ray

        setup_actor(name)
        # Looked up by name, not passed as handles: a handle among the constructor arguments
        # would keep Ray from restarting this actor after a crash (ray-project/ray#53727).
        self.name, self.seats, self.aligned = name, list(seats), aligned
        self.reorders = {seat: ray.get_actor(f"reorder:{seat}") for seat in self.seats}
        self.load_error: ModelError | None = None
        model = dict(model)
        shipped: dict[str, ShippedFile] = model.pop("shipped", {})  # setting -> the driver's file (weights, faces)
        auto = model.pop("auto_threads", None)
        if not model.get("threads") and auto:  # this node's CPUs, not the driver's
            model["threads"] = auto_threads(cores=node_cpus(), **auto)
        try:
            for setting, file in shipped.items():
                try:
                    model[setting] = receive(file)
                except (OSError, ValueError) as error:  # a cache that cannot be written, bytes that do not match
                    raise ModelError(f"{file.path} could not be received on this node ({type(error).__name__}: "
                                     f"{error}); MJRAY_CACHE names where nodes keep shipped files") from error
            self.detector = YoloDetector(**model)
        except ModelError as error:  # said by ready(): a restart would fail the same way
            for setting, file in shipped.items():  # named as the driver's files, not their copies
                if isinstance(model.get(setting), str):
                    error = ModelError(str(error).replace(model[setting], file.path))
            self.load_error, shared = error, False
        self.inferred = self.failed = 0
        self.faces_ms = 0.0  # of inference, reading the tile faces (mjray.faces)
        self.served: dict[str, int] = {seat: 0 for seat in self.seats}
        self._pushes: list = []  # pushes to reorders not known to have landed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if shared:  # started here, not by a call, so a restarted actor serves again by itself
            self._thread = threading.Thread(target=self._serve, name=f"serve:{name}", daemon=True)
            self._thread.start()

    def ready(self) -> dict:
        if self.load_error is not None:
            raise self.load_error
        return {"name": self.name, "device": self.detector.device, "classes": len(self.detector.names),
                "weights": self.detector.weights, "note": self.detector.device_note,
                "faces": self.detector.faces is not None}

    def names(self) -> dict[int, str]:
        return self.detector.names

    def infer(self, frame: Frame, image: np.ndarray, gaps: Sequence[Gap] = ()) -> int:
        """Infer one frame (`image` is the frame's pixels, resolved from the object store); `gaps`:
        the frames its camera skipped before it, pushed with its result."""
        age_ms = (time.time() - frame.captured_at) * 1000
        try:
            detections = self.detector(image)
        except Exception as error:  # one bad frame must not take the worker down
            self.failed += 1
            self._push(Gap(frame.seat, frame.seq, GapReason.FAILED, frame.captured_at, frame, f"{type(error).__name__}: {error}"), gaps)
            return frame.seq
        self.inferred += 1
        self.faces_ms += self.detector.faces_ms
        self.served[frame.seat] = self.served.get(frame.seat, 0) + 1
        metrics.count("mjray_frames_inferred", seat=frame.seat, worker=self.name)
        metrics.observe("mjray_inference_ms", self.detector.last_ms, seat=frame.seat, worker=self.name)
        metrics.observe("mjray_frame_age_ms", max(0.0, age_ms), seat=frame.seat, worker=self.name)
        self._push(Result(frame, detections, self.detector.last_ms, self.name, time.time()), gaps)
        return frame.seq

    def _push(self, item: Result | Gap, gaps: Sequence[Gap]) -> None:
        import ray

        if len(self._pushes) > 32:  # keep only those still on their way
            self._pushes = ray.wait(self._pushes, num_returns=len(self._pushes), timeout=0)[1]
        self._pushes.append(self.reorders[item.seat].push_many.remote([*gaps, item]))

    def _serve(self) -> None:
        """Shared mode: seats in turn, each asked for its frame as the model frees up."""
        import ray

        plan = SharedRounds() if self.aligned else LocalTurns(self.seats)
        timer = AskTimer()
        cameras: dict[str, object] = {}
        ask: list = []  # [seat, ObjectRef of its take(), when it must have answered]: the one outstanding ask
        rest = [0.0]  # seconds to wait when every seat rests
        late: dict[str, object] = {}  # seat -> a call its camera did not answer in time: a take, or a stats() probe

        def answer(seat: str) -> tuple[bool, object | None]:
            """(may this seat be asked now, a late take that brought a frame, to infer now). While a
            seat's late call is out (its camera restarts, or the box is slow), it is not asked: a new
            take would hold this worker too. A late frame is inferred, never dropped."""
            ref = late.get(seat)
            if ref is None:
                return True, None
            if not ray.wait([ref], timeout=0)[0]:
                return False, None
            del late[seat]
            got = settle(lambda: ray.get(ref), ray.exceptions.RayError)
            if isinstance(got, ray.exceptions.RayError):  # died (again): probe it until it answers
                probe(seat)
                return False, None
            return True, ref if isinstance(got, tuple) else None

        def probe(seat: str) -> None:
            camera = cameras.get(seat)
            if camera is not None:
                late[seat] = camera.stats.remote()

        def send_ask() -> None:
            for _ in range(len(self.seats) + 1):
                try:
                    choice = plan.next()
                except ray.exceptions.RayError as error:  # the rounds actor is dead for good: no more rounds
                    log.error("%s: no rounds to serve: %s", self.name, type(error).__name__)
                    rest[0] = 1.0
                    return
                if not isinstance(choice, tuple):
                    rest[0] = choice
                    return
                seat, at = choice
                may, frame_ref = answer(seat)
                if frame_ref is not None:
                    ask[:] = [seat, frame_ref, time.monotonic() + self.ASK_SLACK_S]
                    return
                if not may:
                    plan.got(seat, False, None)
                    continue
                if seat not in cameras:
                    try:
                        cameras[seat] = ray.get_actor(f"camera:{seat}")
                    except ValueError:  # not started yet: try again on its next turn
                        plan.got(seat, False, None)
                        continue
                asked = time.monotonic()
                ref = cameras[seat].take.remote(self.TAKE_WAIT_S, at)
                answer_by = asked + self.TAKE_WAIT_S + self.ASK_SLACK_S + max(0.0, (at or 0.0) - time.time())
                ask[:] = [seat, ref, answer_by]
                if ray.wait([ref], timeout=max(0.0, answer_by - time.monotonic()))[0]:  # the round trip, without our own inference
                    timer.asked(time.monotonic() - asked)
                return

        def infer_late() -> None:
            """Stopping: the takes that came back late still bring frames the cameras handed out."""
            for ref in list(late.values()):
                try:
                    got = ray.get(ref, timeout=self.TAKE_WAIT_S + self.ASK_SLACK_S)
                except ray.exceptions.RayError:  # GetTimeoutError too: a camera still restarting took nothing yet
                    continue
                if isinstance(got, tuple):
                    self.infer(*got)

        while not self._stop.is_set() or ask:  # a frame already asked for is still inferred
            if not ask and self._stop.is_set():
                break
            if not ask:
                send_ask()
            if not ask:
                self._stop.wait(min(0.1, rest[0]))
                continue
            seat, ref, answer_by = ask
            ask.clear()
            try:
                got = ray.get(ref, timeout=max(0.0, answer_by - time.monotonic()))
            except ray.exceptions.GetTimeoutError:  # restarting, or slow: its answer is taken when it comes
                late[seat] = ref
                got = None
            except Exception as error:  # the camera actor died: rest that seat until it answers again
                log.warning("%s: asking camera %s failed: %s", self.name, seat, type(error).__name__)
                probe(seat)
                got = None
            plan.got(seat, got is not None, got[0].decoded_at - got[0].captured_at if got else None)
            if got is None:
                continue
            frame, image, gaps = got
            ahead = threading.Timer(timer.delay(), lambda: self._stop.is_set() or send_ask())
            ahead.start()  # the next frame lands as this one ends
            started = time.perf_counter()
            self.infer(frame, image, gaps)
            timer.inferred(time.perf_counter() - started)
            ahead.join()
        infer_late()

    def stop(self, timeout_s: float = 30.0) -> dict:
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

    def stats(self) -> dict:
        return {"name": self.name, "inferred": self.inferred, "failed": self.failed, "served": dict(self.served),
                "faces_ms": round(self.faces_ms / max(self.inferred, 1), 2)}

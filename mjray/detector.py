"""The model: loads YOLO weights once, offline, and turns a BGR frame into `Detections`.

Ultralytics is kept offline before it is imported (`YOLO_OFFLINE`): it never looks for weights,
fonts or updates on the network. Preprocessing that a model needs (the tile model wants
grayscale, auto-contrasted input) happens here, so every caller feeds it the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mjray.frames import Detections, Frame, Gap, Result
from mjray.turns import AskTimer, SeatTurns

log = logging.getLogger(__name__)


def bundled_tile_model() -> Path:
    """`model.onnx` of the `mahjong-detector` package: YOLO11n, 34 tile classes, 640x640."""
    import mahjong_detector

    path = Path(mahjong_detector.__file__).parent / "model.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall the mahjong-detector package")
    return path


def shipped_model_yaml(name: str) -> bool:
    """Is `name` (yolov8n.yaml, yolo11l.yaml) a model architecture that Ultralytics ships?"""
    keep_ultralytics_offline()
    from ultralytics.nn.tasks import yaml_model_load

    try:
        yaml_model_load(name)
    except (FileNotFoundError, OSError):
        return False
    return True


def resolve_weights(weights: str | Path | None) -> str:
    """What YOLO() loads: a weights file; or an architecture yaml Ultralytics ships, built with
    random weights (right for timing, not for detecting); None is the bundled tile model."""
    if not weights:
        return str(bundled_tile_model())
    if Path(weights).is_file():
        return str(weights)
    if str(weights).endswith(".yaml") and shipped_model_yaml(str(weights)):
        return str(weights)
    raise FileNotFoundError(f"model weights not found: {weights} (give a local .pt/.onnx file, or a shipped "
                            "architecture such as yolov8n.yaml; nothing is downloaded)")


def predict_options(model: dict) -> dict:
    """Ultralytics `predict()` settings from a `ModelConfig` as a dict; device "auto": Ultralytics picks."""
    return {"imgsz": model["imgsz"], "conf": model["conf"], "iou": model["iou"], "verbose": False,
            **({} if model["device"] == "auto" else {"device": model["device"]})}


def keep_ultralytics_offline() -> None:
    """Tell Ultralytics it has no network and may not pip-install, before it is first imported."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_VERBOSE", "False")


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """Stretch the darkest value to 0 and the brightest to 255 with PIL's rounding (a LUT)."""
    lo, hi = int(image.min()), int(image.max())
    if hi <= lo:
        return image
    scale = 255.0 / (hi - lo)
    lut = np.clip((np.arange(256) - lo) * scale, 0, 255).astype(np.uint8)  # truncates like PIL
    return cv2.LUT(image, lut)


def preprocess(image: np.ndarray, grayscale: bool, autocontrast: bool) -> np.ndarray:
    """BGR uint8 in, BGR uint8 out (grey in all three channels when `grayscale`).

    The tile model was trained on PIL's `convert("L")` then `ImageOps.autocontrast`; this gives
    the same pixels, rarely off by a grey level or two (rounding of the grey conversion).
    """
    if grayscale:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if autocontrast:
        image = stretch_contrast(image)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if grayscale else image


class YoloDetector:
    """A loaded Ultralytics model; `detector(bgr_image) -> Detections`."""

    def __init__(
        self,
        weights: str | Path | None = None,
        imgsz: int = 640,
        conf: float = 0.5,
        iou: float = 0.5,
        device: str = "auto",
        grayscale: bool = True,
        autocontrast: bool = True,
        threads: int | None = None,
    ) -> None:
        keep_ultralytics_offline()
        import torch
        from ultralytics import YOLO

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        path = resolve_weights(weights)
        self.weights, self.imgsz, self.conf, self.iou, self.device = path, imgsz, conf, iou, device
        self.grayscale, self.autocontrast = grayscale, autocontrast
        self.model = YOLO(path, task="detect")
        if path.endswith(".yaml"):
            self.model.model.eval()  # built, not loaded: inference mode as a checkpoint would be
        self.last_ms = 0.0
        self(np.zeros((imgsz, imgsz, 3), np.uint8))  # load now, not on the first real frame
        if threads:  # after loading: Ultralytics sets torch's threads (cores - 1, at most 8) as it loads
            self._limit_threads(threads)

    def _limit_threads(self, threads: int) -> None:
        """torch: `threads`, or one for an ONNX model (torch only pre- and post-processes it).
        ONNX Runtime takes every core by default; several workers on one box then fight.

        Its threads also spin between and after runs by default, and torch's (pre- and
        post-processing) spin after theirs: on a small box busy decoding, spinning threads take
        the cores the decoders and each other need. With ONNX Runtime's threads sleeping when idle
        (torch was already at one thread on 2 cores), one shared worker on 2 cores serving 4
        cameras infers in 70/103 ms (p50/p99) where it took 83/125, and delivers 13.2 frames/s
        where it delivered 11.3 (README)."""
        import torch

        backend = getattr(self.model.predictor.model, "backend", None)
        session = getattr(backend, "session", None)
        torch.set_num_threads(threads if session is None else 1)
        if session is None:
            return
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        backend.session = onnxruntime.InferenceSession(str(self.weights), options, providers=session.get_providers())

    @property
    def names(self) -> dict[int, str]:
        return dict(self.model.names)

    def __call__(self, image: np.ndarray) -> Detections:
        started = time.perf_counter()
        result = self.model.predict(
            preprocess(image, self.grayscale, self.autocontrast),
            imgsz=self.imgsz, conf=self.conf, iou=self.iou, device=self.device, verbose=False,
        )[0]
        self.last_ms = (time.perf_counter() - started) * 1000
        return Detections.from_ultralytics(result)


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

    def __init__(self, name: str, model: dict, seats: list[str], shared: bool = False, aligned: bool = False) -> None:
        import ray

        # Looked up by name, not passed as handles: a handle among the constructor arguments
        # would keep Ray from restarting this actor after a crash (ray-project/ray#53727).
        self.name, self.seats, self.aligned = name, list(seats), aligned
        self.reorders = {seat: ray.get_actor(f"reorder:{seat}") for seat in self.seats}
        self.detector = YoloDetector(**model)
        self.inferred = self.failed = 0
        self.served: dict[str, int] = {seat: 0 for seat in self.seats}
        self._pushes: dict[str, object] = {}  # seat -> last push made to its reorder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if shared:  # started here, not by a call, so a restarted actor serves again by itself
            self._thread = threading.Thread(target=self._serve, name=f"serve:{name}", daemon=True)
            self._thread.start()

    def ready(self) -> dict:
        return {"name": self.name, "device": self.detector.device, "classes": len(self.detector.names)}

    def names(self) -> dict[int, str]:
        return self.detector.names

    def infer(self, frame: Frame, image: np.ndarray, gaps: Sequence[Gap] = ()) -> int:
        """Infer one frame (`image` is the frame's pixels, resolved from the object store); `gaps`:
        the frames its camera skipped before it, pushed with its result."""
        try:
            detections = self.detector(image)
        except Exception as error:  # one bad frame must not take the worker down
            self.failed += 1
            self._push(Gap(frame.seat, frame.seq, f"failed: {type(error).__name__}: {error}", frame.captured_at, frame), gaps)
            return frame.seq
        self.inferred += 1
        self.served[frame.seat] = self.served.get(frame.seat, 0) + 1
        self._push(Result(frame, detections, self.detector.last_ms, self.name, time.time()), gaps)
        return frame.seq

    def _push(self, item: Result | Gap, gaps: Sequence[Gap]) -> None:
        self._pushes[item.seat] = self.reorders[item.seat].push_many.remote([*gaps, item])

    def _serve(self) -> None:
        """Shared mode: seats in turn, each asked for its frame as the model frees up."""
        import ray

        plan = SharedRounds() if self.aligned else LocalTurns(self.seats)
        timer = AskTimer()
        cameras: dict[str, object] = {}
        ask: list = []  # [seat, ObjectRef of its take()]: the one outstanding ask
        rest = [0.0]  # seconds to wait when every seat rests

        def send_ask() -> None:
            for _ in range(len(self.seats) + 1):
                choice = plan.next()
                if not isinstance(choice, tuple):
                    rest[0] = choice
                    return
                seat, at = choice
                if seat not in cameras:
                    try:
                        cameras[seat] = ray.get_actor(f"camera:{seat}")
                    except ValueError:  # not started yet: try again on its next turn
                        plan.got(seat, False, None)
                        continue
                asked = time.monotonic()
                ref = cameras[seat].take.remote(self.TAKE_WAIT_S, at)
                ask[:] = [seat, ref]
                if ray.wait([ref], timeout=self.TAKE_WAIT_S + 1.0)[0]:  # the round trip, without our own inference
                    timer.asked(time.monotonic() - asked)
                return

        while not self._stop.is_set() or ask:  # a frame already asked for is still inferred
            if not ask and self._stop.is_set():
                break
            if not ask:
                send_ask()
            if not ask:
                self._stop.wait(min(0.1, rest[0]))
                continue
            seat, ref = ask
            ask.clear()
            try:
                got = ray.get(ref)
            except Exception as error:  # the camera actor died or restarts: rest that seat
                log.warning("%s: asking camera %s failed: %s", self.name, seat, error)
                cameras.pop(seat, None)
                got = None
            plan.got(seat, got is not None, got[0].decoded_at - got[0].captured_at if got else None)
            if got is None:
                continue
            frame, image_ref, gaps = got
            image = ray.get(image_ref)
            ahead = threading.Timer(timer.delay(), lambda: self._stop.is_set() or send_ask())
            ahead.start()  # the next frame lands as this one ends
            started = time.perf_counter()
            self.infer(frame, image, gaps)
            timer.inferred(time.perf_counter() - started)
            ahead.join()

    def stop(self, timeout_s: float = 30.0) -> dict:
        """Shared mode: finish the frame in hand and stop asking for more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.stats()

    def barrier(self) -> None:
        """Returns once every result this worker pushed has reached its reorder (calls stay in order)."""
        import ray

        ray.get([self.reorders[seat].push_many.remote([]) for seat in self._pushes])

    def stats(self) -> dict:
        return {"name": self.name, "inferred": self.inferred, "failed": self.failed, "served": dict(self.served)}

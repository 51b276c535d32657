"""The model: loads YOLO weights once, offline, and turns a BGR frame into `Detections`.

Ultralytics is kept offline (`OFFLINE_ENV`, set before it is first imported here, and in every
Ray worker's environment by the job's runtime env, `main.worker_env`): it never looks for
weights, fonts or updates on the network. Preprocessing that a model needs (the tile model wants
grayscale, auto-contrasted input), its threads and the plug-ins' post-processing of its boxes
(`mjray.plugins`; the mahjong tile faces are one) are set here, so every caller (detectors,
benchmark, tests) runs it the same way.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from mjray.cluster.stages import StageClock
from mjray.frames import Detections
from mjray.plugins import PluginError, PostProcessor, Seen, postprocessors

log = logging.getLogger(__name__)

OFFLINE_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "YOLO_VERBOSE": "False"}


class ModelError(ValueError):
    """Weights that do not load as a model; the message names the file and what went wrong."""


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
    raise FileNotFoundError(
        f"model weights not found: {weights} (give a local .pt/.onnx file, or a shipped "
        "architecture such as yolov8n.yaml; nothing is downloaded)"
    )


def predict_options(model: dict) -> dict:
    """Ultralytics `predict()` settings from a `ModelConfig` as a dict; device "auto": Ultralytics picks."""
    return {
        "imgsz": model["imgsz"],
        "conf": model["conf"],
        "iou": model["iou"],
        "verbose": False,
        **({} if model["device"] == "auto" else {"device": model["device"]}),
    }


def gpu_unusable(weights: str | None, device: str) -> str:
    """Why detectors with these settings would not use a GPU here ('' if they would): pool=auto
    then keeps the shared CPU workers rather than GPU fractions that infer on one thread each."""
    if device == "cpu":
        return "model.device=cpu"
    if resolve_weights(weights).endswith(".onnx"):
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return (
                "the ONNX model would run on the CPU (this onnxruntime has no CUDA provider: install onnxruntime-gpu)"
            )
    return ""


def auto_threads(shared_workers: int, cpus_per_worker: float, cores: int) -> int:
    """Inference threads for `model.threads=0` on a node with `cores` cores: a shared detector
    owns the node's cores (split among the shared workers); a per-camera detector uses the CPUs
    it reserves."""
    if shared_workers:
        return max(1, cores // shared_workers)
    return max(1, math.ceil(cpus_per_worker))


def keep_ultralytics_offline() -> None:
    """Tell Ultralytics it has no network and may not pip-install, before it is first imported."""
    for name, value in OFFLINE_ENV.items():
        if name == "YOLO_VERBOSE":
            os.environ.setdefault(name, value)  # a user may ask for Ultralytics' chatter
        else:
            os.environ[name] = value


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """Stretch the darkest value to 0 and the brightest to 255 with PIL's rounding (a LUT)."""
    lo, hi = int(image.min()), int(image.max())
    if hi <= lo:
        return image
    scale = 255.0 / (hi - lo)
    lut = np.clip((np.arange(256) - lo) * scale, 0, 255).astype(np.uint8)  # truncates like PIL
    return cv2.LUT(image, lut)


def seen_by_model(image: np.ndarray, grayscale: bool, autocontrast: bool) -> np.ndarray:
    """BGR uint8 in, or grey (2-D: a camera sends its luma to a grey model); out, the picture the
    model sees: BGR, or grey on one channel when `grayscale`.

    The tile model was trained on PIL's `convert("L")` then `ImageOps.autocontrast`; this gives
    the same pixels, rarely off by a grey level or two (rounding of the grey conversion).
    """
    if image.ndim == 2:
        image = image if grayscale else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif grayscale:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return stretch_contrast(image) if autocontrast else image


def preprocess(image: np.ndarray, grayscale: bool, autocontrast: bool) -> np.ndarray:
    """`seen_by_model` as BGR uint8 (grey in all three channels when `grayscale`), as Ultralytics takes it."""
    seen = seen_by_model(image, grayscale, autocontrast)
    return cv2.cvtColor(seen, cv2.COLOR_GRAY2BGR) if grayscale else seen


class Model(Protocol):
    """What a detector actor infers with: `OnnxDetector`, `YoloDetector`, or a test's stand-in."""

    names: dict[int, str]
    weights: str
    device: str
    device_note: str  # why it runs elsewhere than asked ('' if it does not)
    batch_note: str  # how a batch is inferred where not in one forward pass ('' if it is)
    post: list[PostProcessor]
    last_ms: float  # the last call's time, post-processing included
    post_ms: float  # of it, the post-processing

    def __call__(self, image: np.ndarray) -> Detections: ...

    def batch(self, images: list[np.ndarray]) -> list[Detections]:
        """Several frames (of several cameras) in one forward pass; `last_ms` is the whole batch's time."""
        ...


class ModelBuilder(Protocol):
    """Builds the model from `ModelConfig`'s settings (plus `plugins`); raises `ModelError` for
    weights that do not load. `load_model` is the detectors' own."""

    def __call__(self, **settings: Any) -> Model: ...


def load_model(runtime: str = "auto", **settings: Any) -> Model:
    """The model for `ModelConfig`'s settings: an ONNX detection export on the CPU in ONNX Runtime
    directly (`OnnxDetector`) unless `runtime` is "ultralytics"; everything else through Ultralytics."""
    from mjray.detect.onnx import NotDirect, OnnxDetector, direct_export

    path = direct_export(settings.get("weights"), settings.get("device", "auto")) if runtime == "auto" else ""
    if path:
        try:
            return OnnxDetector(**{**settings, "weights": path})
        except NotDirect as why:
            log.info("Ultralytics runs this model (%s)", why)
    return YoloDetector(**settings)


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
        plugins: Mapping[str, Mapping] | None = None,
    ) -> None:
        keep_ultralytics_offline()
        import torch
        from ultralytics import YOLO

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        path = resolve_weights(weights)
        self.device_note = ""  # why the model runs elsewhere than asked
        if device.startswith("cuda") and path.endswith(".onnx"):
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                # Ultralytics would call it cuda and run it on the CPU anyway, moving tensors to and fro
                device, self.device_note = (
                    "cpu",
                    (
                        "an ONNX model on a GPU node runs on the CPU: this onnxruntime "
                        "has no CUDA provider (install onnxruntime-gpu there, or give .pt weights)"
                    ),
                )
                log.warning("%s: %s", path, self.device_note)
        self.weights, self.imgsz, self.conf, self.iou, self.device = path, imgsz, conf, iou, device
        self.grayscale, self.autocontrast = grayscale, autocontrast
        self.last_ms = 0.0
        self.clock = StageClock()  # CPU by stage
        self.post: list[PostProcessor] = []  # the plug-ins' work on each frame's boxes (mjray.plugins)
        self.post_ms = 0.0  # of last_ms
        self.batch_note = ""  # how a batch is inferred, if not in one forward pass
        self.half = device.startswith("cuda") and not path.endswith(".onnx")  # fp16 on a GPU (set as it loads)
        try:
            self.model = YOLO(path, task="detect")
            if path.endswith(".yaml"):
                self.model.model.eval()  # built, not loaded: inference mode as a checkpoint would be
            self(np.zeros((imgsz, imgsz, 3), np.uint8))  # load now, not on the first real frame
        except (ImportError, MemoryError):
            raise  # a missing backend or no memory left: not the weights' fault
        except Exception as error:  # Ultralytics and its backends raise anything on a file that is no model
            if "out of memory" in str(error).lower():
                raise
            what = (str(error).strip().splitlines() or [""])[0][:200]
            raise ModelError(
                f"{path} does not load as a YOLO model ({type(error).__name__}: {what}); give a .pt, "
                ".onnx or other export Ultralytics loads"
            ) from error
        backend = self.model.predictor.model
        if backend.format != "pt" and not backend.metadata.get("dynamic"):
            self.batch_note = (
                f"{Path(path).name} is an export of fixed batch {backend.batch}: "
                "a batch of frames is pre- and post-processed together, its forward pass run frame by frame"
            )
        if threads:  # after loading: Ultralytics sets torch's threads (cores - 1, at most 8) as it loads
            self._limit_threads(threads)
        try:
            self.post = postprocessors(plugins or {}, self.names)
        except PluginError as error:
            raise ModelError(str(error)) from error

    def _limit_threads(self, threads: int) -> None:
        """torch: `threads`, or one for an ONNX model (torch only pre- and post-processes it).
        ONNX Runtime takes every core by default; several workers on one box then fight.

        Its threads also spin between and after runs by default, and torch's (pre- and
        post-processing) spin after theirs: on a small box busy decoding, spinning threads take
        the cores the decoders and each other need, so here they sleep when idle (docs/results.md,
        for the measured gain)."""
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
        return self.batch([image])[0]

    def batch(self, images: list[np.ndarray]) -> list[Detections]:
        started, clock, n = time.perf_counter(), self.clock, len(images)
        with clock.stage("pre-process", n):
            seen = [preprocess(image, self.grayscale, self.autocontrast) for image in images]
        with clock.stage("Ultralytics' predict", n, time.process_time):  # its threads, and a GPU's waits
            results = self.model.predict(
                seen,
                imgsz=self.imgsz,
                conf=self.conf,
                iou=self.iou,
                device=self.device,
                verbose=False,
                half=self.half,
            )
            found = [Detections.from_ultralytics(result) for result in results]
        if self.post:
            inferred = time.perf_counter()
            with clock.stage("plug-ins", n):
                for i, detections in enumerate(found):
                    picture = Seen(seen[i], self.grayscale)
                    for post in self.post:
                        detections = post(picture, detections)
                    found[i] = detections
            self.post_ms = (time.perf_counter() - inferred) * 1000
        self.last_ms = (time.perf_counter() - started) * 1000
        return found

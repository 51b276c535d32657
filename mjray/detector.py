"""The model: loads YOLO weights once, offline, and turns a BGR frame into `Detections`.

Ultralytics is kept offline before it is imported (`YOLO_OFFLINE`): it never looks for weights,
fonts or updates on the network. Preprocessing that a model needs (the tile model wants
grayscale, auto-contrasted input) happens here, so every caller feeds it the same way.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from mjray.frames import Detections, Frame, Gap, Result


def bundled_tile_model() -> Path:
    """`model.onnx` of the `mahjong-detector` package: YOLO11n, 34 tile classes, 640x640."""
    import mahjong_detector

    path = Path(mahjong_detector.__file__).parent / "model.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall the mahjong-detector package")
    return path


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
        if threads:
            torch.set_num_threads(threads)

        path = Path(weights) if weights else bundled_tile_model()
        if not path.is_file():
            raise FileNotFoundError(f"model weights not found: {path}")
        self.weights, self.imgsz, self.conf, self.iou, self.device = path, imgsz, conf, iou, device
        self.grayscale, self.autocontrast = grayscale, autocontrast
        self.model = YOLO(str(path), task="detect")
        self.last_ms = 0.0
        self(np.zeros((imgsz, imgsz, 3), np.uint8))  # load now, not on the first real frame
        if threads:
            self._limit_onnx_threads(threads)

    def _limit_onnx_threads(self, threads: int) -> None:
        """ONNX Runtime takes every core by default; several workers on one box then fight."""
        backend = getattr(self.model.predictor.model, "backend", None)
        session = getattr(backend, "session", None)
        if session is None:
            return
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
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


class DetectorActor:
    """A pool member: holds one loaded model, infers frames, pushes results to its seat's reorder.

    Plain class; `pipeline.py` wraps it with `ray.remote`. A failed inference becomes a gap in
    the seat's output rather than an exception nobody reads.
    """

    def __init__(self, name: str, model: dict, reorder_name: str) -> None:
        import ray

        # Looked up by name, not passed as a handle: a handle among the constructor arguments
        # would keep Ray from restarting this actor after a crash (ray-project/ray#53727).
        self.name, self.reorder = name, ray.get_actor(reorder_name)
        self.detector = YoloDetector(**model)
        self.inferred = self.failed = 0

    def ready(self) -> dict:
        return {"name": self.name, "device": self.detector.device, "classes": len(self.detector.names)}

    def names(self) -> dict[int, str]:
        return self.detector.names

    def infer(self, frame: Frame, image: np.ndarray) -> int:
        """Infer one frame (`image` is the frame's pixels, resolved from the object store)."""
        try:
            detections = self.detector(image)
        except Exception as error:  # one bad frame must not take the worker down
            self.failed += 1
            self.reorder.push.remote(Gap(frame.seat, frame.seq, f"failed: {type(error).__name__}: {error}",
                                         frame.captured_at, frame))
            return frame.seq
        self.inferred += 1
        self.reorder.push.remote(Result(frame, detections, self.detector.last_ms, self.name, time.time()))
        return frame.seq

    def barrier(self) -> None:
        """Returns once every result this worker pushed has reached the reorder (calls stay in order)."""
        import ray

        ray.get(self.reorder.push_many.remote([]))

    def stats(self) -> dict:
        return {"name": self.name, "inferred": self.inferred, "failed": self.failed}

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

from mjray.frames import Detections


def bundled_tile_model() -> Path:
    """`model.onnx` of the `mahjong-detector` package: YOLO11n, 34 tile classes, 640x640."""
    import mahjong_detector

    path = Path(mahjong_detector.__file__).parent / "model.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall the mahjong-detector package")
    return path


def keep_ultralytics_offline() -> None:
    """Tell Ultralytics it has no network before it is first imported (and in every worker)."""
    os.environ["YOLO_OFFLINE"] = "1"
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
        device: str = "cpu",
        grayscale: bool = True,
        autocontrast: bool = True,
    ) -> None:
        keep_ultralytics_offline()
        from ultralytics import YOLO

        path = Path(weights) if weights else bundled_tile_model()
        if not path.is_file():
            raise FileNotFoundError(f"model weights not found: {path}")
        self.weights, self.imgsz, self.conf, self.iou, self.device = path, imgsz, conf, iou, device
        self.grayscale, self.autocontrast = grayscale, autocontrast
        self.model = YOLO(str(path), task="detect")
        self.last_ms = 0.0

    @property
    def names(self) -> dict[int, str]:
        if not self.model.predictor:  # names of an exported model are read on first use
            self(np.zeros((64, 64, 3), np.uint8))
        return dict(self.model.names)

    def __call__(self, image: np.ndarray) -> Detections:
        started = time.perf_counter()
        result = self.model.predict(
            preprocess(image, self.grayscale, self.autocontrast),
            imgsz=self.imgsz, conf=self.conf, iou=self.iou, device=self.device, verbose=False,
        )[0]
        self.last_ms = (time.perf_counter() - started) * 1000
        return Detections.from_ultralytics(result)

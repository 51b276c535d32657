"""An Ultralytics YOLO detection export in ONNX Runtime, without Ultralytics: letterbox, forward
pass and NMS as `YOLO.predict` does them (boxes, classes and scores equal within rounding), minus
its per-call overhead, and with neither torch nor Ultralytics in the detector's process.

A grey model's frame is converted, contrast-stretched, letterboxed and scaled on one channel,
and copied into the three channels the network takes only as floats. Exports this does not run
as Ultralytics would (a dynamic shape, whose letterbox Ultralytics fits to each frame; a batch
above one; end-to-end NMS; other tasks) and GPUs stay with `YoloDetector`.
"""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

from mjray.cluster.stages import StageClock
from mjray.detect.model import ModelError, resolve_weights, seen_by_model
from mjray.frames import Detections
from mjray.plugins import PluginError, PostProcessor, Seen, postprocessors

log = logging.getLogger(__name__)

PAD = 114  # Ultralytics' letterbox grey
MAX_CANDIDATES = 30000  # boxes into NMS, at most (Ultralytics' max_nms)
MAX_DETECTIONS = 300  # Ultralytics' max_det


def direct_export(weights: str | Path | None, device: str) -> str:
    """The ONNX file `OnnxDetector` runs for these settings, or '' (then `YoloDetector`)."""
    if device not in ("cpu", "auto"):
        return ""
    path = resolve_weights(weights)
    if not path.endswith(".onnx"):
        return ""
    if device == "auto":
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return ""  # Ultralytics picks the GPU
    return path


class NotDirect(Exception):
    """An export `OnnxDetector` does not run as Ultralytics would: `load_model` hands it to Ultralytics."""


def not_direct(task: str | None, classes: int, shape: list, outputs: list[list]) -> str:
    """Why `OnnxDetector` would not run an export of this task and these input and output shapes
    as Ultralytics does ('' if it would)."""
    if task != "detect":
        return f"task {task}, not detect"
    if len(outputs) != 1 or len(outputs[0]) != 3 or outputs[0][1] != 4 + classes:
        return f"outputs {outputs}: not one (batch, 4 + {classes} classes, boxes)"
    if len(shape) != 4 or shape[:2] != [1, 3]:
        return f"input {shape}: not one 3-channel picture"
    if not (isinstance(shape[2], int) and shape[2] == shape[3]):
        return f"input {shape}: not a fixed square (Ultralytics fits its letterbox to each frame)"
    return ""


class Letterbox:
    """One picture size into the network's square: scale, padding, and the way back for boxes."""

    def __init__(self, height: int, width: int, size: int) -> None:
        ratio = min(size / height, size / width)
        self.width, self.height = max(round(width * ratio), 1), max(round(height * ratio), 1)
        dw, dh = (size - self.width) / 2, (size - self.height) / 2
        self.top, self.bottom = round(dh - 0.1), round(dh + 0.1)
        self.left, self.right = round(dw - 0.1), round(dw + 0.1)
        self.gain = np.array([self.width / width, self.height / height] * 2, np.float32)
        self.offset = np.array([self.left, self.top] * 2, np.float32)
        self.limit = np.array([width, height] * 2, np.float32)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.shape[:2] != (self.height, self.width):
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        pad = PAD if image.ndim == 2 else (PAD,) * 3
        return cv2.copyMakeBorder(image, self.top, self.bottom, self.left, self.right, cv2.BORDER_CONSTANT, value=pad)

    def boxes_back(self, xyxy: np.ndarray) -> np.ndarray:
        """Network pixels to the frame's, clipped to it."""
        return np.clip((xyxy - self.offset) / self.gain, 0, self.limit)


def boxes_of(output: np.ndarray, conf: float, iou: float) -> Detections:
    """One image's raw output (4 + classes, candidates) as Ultralytics' NMS keeps it: the best class
    of each candidate above `conf`, NMS within each class, highest score first."""
    scores = output[4:]
    best = scores.max(0)
    keep = np.flatnonzero(best > conf)
    if not len(keep):
        return Detections.empty()
    confidence, class_id = best[keep], scores[:, keep].argmax(0).astype(np.int32)
    x, y, w, h = output[:4, keep]
    xyxy = np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], 1)
    order = np.argsort(-confidence, kind="stable")[:MAX_CANDIDATES]
    xyxy, confidence, class_id = xyxy[order], confidence[order], class_id[order]
    kept = sv.box_non_max_suppression(np.column_stack([xyxy, confidence, class_id]), iou)
    return Detections(xyxy[kept][:MAX_DETECTIONS], confidence[kept][:MAX_DETECTIONS], class_id[kept][:MAX_DETECTIONS])


class OnnxDetector:
    """`YoloDetector`'s job for an ONNX detection export on the CPU; `detector(bgr_image) -> Detections`."""

    def __init__(
        self,
        weights: str | Path | None = None,
        imgsz: int = 640,
        conf: float = 0.5,
        iou: float = 0.5,
        device: str = "cpu",
        grayscale: bool = True,
        autocontrast: bool = True,
        threads: int | None = None,
        plugins: Mapping[str, Mapping] | None = None,
    ) -> None:
        import onnxruntime

        path = resolve_weights(weights)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see YoloDetector._limit_threads
        try:
            self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            meta = self.session.get_modelmeta().custom_metadata_map
            self.names = {int(k): str(v) for k, v in ast.literal_eval(meta.get("names", "{}")).items()}
        except (
            Exception
        ) as error:  # ONNX Runtime raises its own kinds (InvalidProtobuf, Fail) on a file that is no model
            what = (str(error).strip().splitlines() or [""])[0][:200]
            raise ModelError(f"{path} does not load as a YOLO model ({type(error).__name__}: {what})") from error
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        why = not_direct(meta.get("task"), len(self.names), shape, [o.shape for o in outputs])
        if why:
            raise NotDirect(f"{Path(path).name}: {why}")
        self.input, self.size = inputs[0].name, shape[2]
        if imgsz != self.size:
            log.info("%s takes %d x %d pictures: model.imgsz=%d unused", Path(path).name, self.size, self.size, imgsz)
        self.weights, self.conf, self.iou, self.device = path, conf, iou, "cpu"
        self.grayscale, self.autocontrast = grayscale, autocontrast
        # CPU by stage; the forward pass on ONNX Runtime's own threads where it has more than one
        self.clock = StageClock()
        self._forward_clock = time.thread_time if threads == 1 else time.process_time
        self.device_note = ""
        self.batch_note = f"{Path(path).name} is an export of fixed batch 1: a batch's forward pass runs frame by frame"
        self.letterboxes: dict[tuple[int, int], Letterbox] = {}
        self.last_ms = self.post_ms = 0.0
        self.post: list[PostProcessor] = []
        self(np.zeros((self.size, self.size, 3), np.uint8))  # the first run allocates: now, not on a frame
        try:
            self.post = postprocessors(plugins or {}, self.names)
        except PluginError as error:
            raise ModelError(str(error)) from error

    def __call__(self, image: np.ndarray) -> Detections:
        return self.batch([image])[0]

    def tensor(self, pictures: list[np.ndarray], boxes: list[Letterbox]) -> np.ndarray:
        """(N, 3, size, size) float32 RGB in [0, 1]."""
        out = np.empty((len(pictures), 3, self.size, self.size), np.float32)
        for k, (picture, letterbox) in enumerate(zip(pictures, boxes)):
            square = letterbox(picture)
            if square.ndim == 2:
                np.multiply(square, np.float32(1 / 255), out=out[k, 0])
                out[k, 1] = out[k, 2] = out[k, 0]
            else:
                np.multiply(square.transpose(2, 0, 1)[::-1], np.float32(1 / 255), out=out[k])
        return out

    def batch(self, images: list[np.ndarray]) -> list[Detections]:
        started, clock, n = time.perf_counter(), self.clock, len(images)
        with clock.stage("pre-process", n):
            seen = [seen_by_model(image, self.grayscale, self.autocontrast) for image in images]
            boxes = [self._letterbox(picture.shape[:2]) for picture in seen]
            tensor = self.tensor(seen, boxes)
        with clock.stage("forward pass", n, self._forward_clock):
            raw = [self.session.run(None, {self.input: tensor[k : k + 1]})[0][0] for k in range(len(tensor))]
        found = []
        with clock.stage("post-process", n):
            for output, letterbox in zip(raw, boxes):
                detections = boxes_of(output, self.conf, self.iou)
                found.append(
                    Detections(letterbox.boxes_back(detections.xyxy), detections.confidence, detections.class_id)
                )
        if self.post:
            inferred = time.perf_counter()
            with clock.stage("plug-ins", n):
                for i, picture in enumerate(seen):
                    shown = (
                        Seen(np.broadcast_to(picture[..., None], (*picture.shape, 3)), True)
                        if picture.ndim == 2
                        else Seen(picture, False)
                    )
                    for post in self.post:
                        found[i] = post(shown, found[i])
            self.post_ms = (time.perf_counter() - inferred) * 1000
        self.last_ms = (time.perf_counter() - started) * 1000
        return found

    def _letterbox(self, shape: tuple[int, int]) -> Letterbox:
        if shape not in self.letterboxes:
            self.letterboxes[shape] = Letterbox(*shape, self.size)
        return self.letterboxes[shape]

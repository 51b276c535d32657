"""The tile model in ONNX Runtime directly (mjray.detect.onnx) against Ultralytics' predict on the
same real model and rendered frames: the same boxes, classes and scores."""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mjray.detect.model import ModelError, YoloDetector, load_model
from mjray.detect.onnx import Letterbox, OnnxDetector, boxes_of
from mjray.frames import Detections
from mjray.sim.game import TableGame
from mjray.sim.render import SeatView


def frames() -> list[np.ndarray]:
    """Real seats' frames: three looks, sizes wide, tall and odd, hands changing."""
    game = TableGame(["ton"], 20, seed=4)
    out = []
    for (width, height), scene in [((640, 360), "table"), ((1280, 720), "parlour"), ((333, 517), "homemade")]:
        view = SeatView(1, width, height, seed=3, scene=scene)
        out += [view.render(game.hand("ton", t), int(t * 15), 15) for t in (2.0, 11.0)]
    return out


def assert_same(got: Detections, want: Detections) -> None:
    assert got.class_id.tolist() == want.class_id.tolist()
    assert np.abs(got.xyxy - want.xyxy).max(initial=0) < 0.01  # pixels
    assert np.abs(got.confidence - want.confidence).max(initial=0) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("grayscale, faces", [(True, False), (False, False), (True, True)])
def test_the_direct_runtime_finds_what_ultralytics_finds(grayscale, faces):
    """Also with the tile faces after the model: the same picture reaches the plug-in."""
    from mjray.mahjong.plugin import plugged

    settings = {"threads": 1, "grayscale": grayscale, "autocontrast": grayscale, "conf": 0.25}
    if faces:
        settings["plugins"] = plugged(faces_memory=False)
    direct, ultralytics = OnnxDetector(**settings), YoloDetector(**settings)
    assert len(direct.post) == len(ultralytics.post) == faces
    assert direct.names == ultralytics.names
    pictures = frames()
    found = 0
    for picture in pictures:
        want = ultralytics(picture)
        assert_same(direct(picture), want)
        if grayscale:  # as a camera sends a grey model its pictures: one channel
            grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
            assert_same(direct(grey), want)
            assert_same(ultralytics(grey), want)
        found += len(want)
    assert found >= 40  # the frames hold tiles, and the model sees them (in colour too, if fewer)
    for got, want in zip(direct.batch(pictures[:3]), ultralytics.batch(pictures[:3])):  # sizes mixed in one batch
        assert_same(got, want)


def test_the_letterbox_centres_the_frame_and_boxes_come_back():
    wide = Letterbox(360, 640, 640)
    assert (wide.width, wide.height, wide.top, wide.bottom, wide.left, wide.right) == (640, 360, 140, 140, 0, 0)
    odd = Letterbox(517, 333, 640)
    square = odd(np.full((517, 333), 7, np.uint8))
    assert square.shape == (640, 640) and square[0, 0] == 114 and square[320, 320] == 7
    assert odd.left + odd.width + odd.right == 640 and abs(odd.left - odd.right) <= 1
    inside = np.array([[odd.left + 10, 20, odd.left + 50, 600]], np.float32)
    back = odd.boxes_back(inside)
    assert np.allclose(back[0, 0], 10 / (odd.width / 333), atol=1e-3)
    assert (odd.boxes_back(np.array([[-50, -50, 700, 700]], np.float32)) == [[0, 0, 333, 517]]).all()  # clipped


def raw(*boxes: tuple[float, float, float, float, int, float], classes: int = 3) -> np.ndarray:
    """A model's raw output for the given (x, y, w, h, class, score) candidates."""
    out = np.zeros((4 + classes, len(boxes)), np.float32)
    for i, (x, y, w, h, c, score) in enumerate(boxes):
        out[:4, i] = x, y, w, h
        out[4 + c, i] = score
    return out


def test_nms_keeps_the_best_of_each_class_and_nothing_at_the_floor():
    output = raw(
        (100, 100, 40, 60, 0, 0.9),
        (102, 101, 40, 60, 0, 0.8),  # the same tile again, weaker: gone
        (101, 100, 40, 60, 1, 0.7),  # the same place, another class: kept (Ultralytics' NMS is per class)
        (300, 100, 40, 60, 2, 0.5),  # exactly the floor: not above it
        (400, 100, 40, 60, 2, 0.95),
    )
    found = boxes_of(output, conf=0.5, iou=0.5)
    assert found.confidence.tolist() == pytest.approx([0.95, 0.9, 0.7])
    assert found.class_id.tolist() == [2, 0, 1]
    assert found.xyxy[1].tolist() == [80, 70, 120, 130]
    assert len(boxes_of(output, conf=0.99, iou=0.5)) == 0


@pytest.mark.slow  # (five seconds of sessions built: out of the one-minute fast suite)
def test_the_runtime_follows_the_settings():
    assert isinstance(load_model(threads=1, device="cpu"), OnnxDetector)
    assert isinstance(load_model(threads=1, device="cpu", runtime="ultralytics"), YoloDetector)


def test_junk_weights_are_one_line_naming_the_file(tmp_path):
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"model.onnx does not load as a YOLO model"):
        OnnxDetector(junk)


@pytest.mark.slow
def test_a_detector_of_the_direct_runtime_loads_neither_torch_nor_ultralytics():
    """Each detector process then holds ONNX Runtime and the model, not torch's hundreds of MiB."""
    code = (
        "import sys\nfrom mjray.detect.model import load_model\nfrom mjray.mahjong.plugin import plugged\n"
        "d = load_model(threads=1, plugins=plugged())\n"
        "print(type(d).__name__, [p.name for p in d.post], sorted(m for m in ('torch', 'ultralytics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[0] == "OnnxDetector ['tile faces'] []"


@pytest.mark.parametrize(
    "task, shape, outputs, why",
    [
        ("detect", [1, 3, 640, 640], [[1, 38, 8400]], ""),  # the bundled tile model
        ("segment", [1, 3, 640, 640], [[1, 70, 8400], [1, 32, 160, 160]], "task segment"),
        ("detect", ["batch", 3, "h", "w"], [["batch", 38, "n"]], "not one 3-channel picture"),
        ("detect", [1, 3, "h", "w"], [[1, 38, "n"]], "not a fixed square"),
        ("detect", [1, 3, 640, 640], [[1, 300, 6]], "not one \\(batch, 4 \\+ 34 classes"),  # end-to-end NMS
    ],
)
def test_exports_not_run_as_ultralytics_would_go_to_ultralytics(task, shape, outputs, why):
    from mjray.detect.onnx import not_direct

    reason = not_direct(task, 34, shape, outputs)
    assert (reason == "") if not why else re.search(why, reason), reason

"""The tile model through mjray's detector: preprocessing, offline loading, real accuracy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from mjray.detect.model import ModelError, preprocess
from mjray.frames import Detections
from tests.support import local_ray


def test_preprocess_matches_the_packages_own_grayscale_autocontrast():
    rng = np.random.default_rng(0)
    bgr = (rng.integers(40, 200, (90, 160, 3))).astype(np.uint8)
    ours = preprocess(bgr, grayscale=True, autocontrast=True)
    assert ours.shape == bgr.shape and np.array_equal(ours[..., 0], ours[..., 2])
    theirs = np.array(ImageOps.autocontrast(Image.fromarray(bgr[..., ::-1]).convert("L")))
    diff = np.abs(ours[..., 0].astype(int) - theirs.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.1  # grey conversion rounds differently, rarely
    assert ours.min() == 0 and ours.max() == 255


def test_a_grey_picture_is_taken_as_a_camera_sends_it_to_a_grey_model():
    rng = np.random.default_rng(1)
    bgr = (rng.integers(40, 200, (90, 160, 3))).astype(np.uint8)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(preprocess(grey, grayscale=True, autocontrast=True), preprocess(bgr, True, True))
    assert preprocess(grey, grayscale=False, autocontrast=False).shape == bgr.shape, "a colour model gets 3 channels"


def test_preprocess_off_returns_the_frame_untouched():
    bgr = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
    assert preprocess(bgr, grayscale=False, autocontrast=False) is bgr


def test_detections_arrays_must_agree():
    with pytest.raises(ValueError, match="disagree"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros(2, np.int32))
    d = Detections(np.float32([[5, 0, 6, 1], [1, 0, 2, 1]]), np.float32([0.9, 0.8]), np.int32([3, 4]))
    assert len(d) == 2 and list(d.left_to_right().class_id) == [4, 3]


def test_boxes_found_in_a_scaled_picture_come_back_in_the_frames_own_pixels():
    from mjray.detect.actor import in_frame_pixels
    from mjray.frames import Frame

    found = Detections(np.float32([[10, 5, 20, 15], [0, 0, 640, 360]]), np.float32([0.9, 0.8]), np.int32([3, 4]))
    frame = Frame("ton", 0, 0.0, "arrival", None, 0.0, 1280, 720)
    back = in_frame_pixels(found, frame, np.zeros((360, 640, 3), np.uint8))
    assert back.xyxy.tolist() == [[20, 10, 40, 30], [0, 0, 1280, 720]] and back.xyxy.dtype == np.float32
    assert back.class_id.tolist() == [3, 4] and back.confidence.tolist() == found.confidence.tolist()
    assert in_frame_pixels(found, frame, np.zeros((720, 1280, 3), np.uint8)) is found  # sent full size
    assert len(Detections.empty()) == 0


HAND_IMAGE = textwrap.dedent(
    """
    from mjray.sim.game import Hand
    from mjray.sim.render import SeatView
    image = SeatView(0, 640, 360).render(Hand(("1m", "2m", "3m", "4p", "5p", "6p", "7s", "8s", "9s", "1z", "1z", "5z", "6z")), 0, 15)
    """
)  # a real rendered hand of 13 tiles, for the probes below

OFFLINE_PROBE = (
    textwrap.dedent(
        """
    import socket, sys
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network disabled by test")
    socket.getaddrinfo = refuse
    socket.create_connection = refuse
    socket.socket.connect = lambda self, *a: refuse(*a)
    socket.socket.connect_ex = lambda self, *a: refuse(*a)
    from mjray.detect.model import YoloDetector
    """
    )
    + HAND_IMAGE
    + textwrap.dedent(
        """
    detector = YoloDetector()
    found = detector(image)
    print("detections", len(found), "names", len(detector.names), "attempts", attempts)
    sys.exit(1 if attempts else 0)
    """
    )
)


@pytest.mark.slow
def test_model_loads_and_infers_with_the_network_cut(tmp_path):
    """Ultralytics must not reach for the network (weights, fonts, updates, DNS checks)."""
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attempts []" in result.stdout
    detections = int(result.stdout.split("detections ")[1].split()[0])
    assert detections >= 10, result.stdout  # 13 tiles in view
    assert "names 34" in result.stdout


@pytest.mark.slow
def test_tile_model_reads_the_synthetic_table(table_360):
    """The real pretrained model on real rendered frames: most tiles found and read right; more read
    right once its boxes are relabelled by their faces, and more found once the rows' holes are
    filled (docs/game-record.md)."""
    from mjray.sim.score import score_table

    scores = score_table(table_360, frames=40, seed=1)
    score, relabel, faces = scores["model"], scores["relabel"], scores["faces"]
    print("\n" + "\n".join(s.text() for s in scores.values()))
    assert score.frames == 40 and score.tiles >= 40 * 13
    assert score.found / score.tiles > 0.85
    assert score.read / score.tiles > 0.75
    assert relabel.found == score.found and relabel.false_alarms == score.false_alarms  # the same boxes
    assert relabel.read / relabel.tiles > 0.92 and relabel.read > score.read + 0.03 * score.tiles
    assert faces.found > relabel.found + 0.02 * score.tiles and faces.read / faces.tiles > 0.96
    assert faces.false_alarms == score.false_alarms  # no tile made up


THREADS_PROBE = HAND_IMAGE + textwrap.dedent(
    """
    import numpy as np, torch
    import ultralytics.utils.torch_utils
    ultralytics.utils.torch_utils.NUM_THREADS = 4  # what Ultralytics gives torch as it loads on a 5-core box
    from mjray.detect.model import YoloDetector
    alone = YoloDetector()(image)
    limited = YoloDetector(threads=2)
    options = limited.model.predictor.model.backend.session.get_session_options()
    found = limited(image)
    print("torch", torch.get_num_threads(), "intra", options.intra_op_num_threads,
          "spinning", options.get_session_config_entry("session.intra_op.allow_spinning"),
          "same", len(found) == len(alone) and bool(np.array_equal(found.class_id, alone.class_id)), "tiles", len(found))
    YoloDetector("yolov8n.yaml", threads=3)
    print("torch model", torch.get_num_threads())
    """
)


@pytest.mark.slow
def test_a_limited_detector_keeps_torch_to_one_thread_and_onnx_runtime_from_spinning():
    """Spinning thread pools steal a small box's cores from each other (docs/benchmark.md); the
    session rebuilt with fewer threads must find what the default one finds. The thread counts
    must hold after Ultralytics sets torch's own as it loads."""
    result = subprocess.run([sys.executable, "-c", THREADS_PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch 1 intra 2 spinning 0 same True" in result.stdout, result.stdout
    assert "torch model 3" in result.stdout, result.stdout  # a torch model keeps the threads it was given
    assert int(result.stdout.split("tiles ")[1].split()[0]) >= 10, result.stdout


@pytest.mark.slow
def test_an_onnx_model_asked_for_cuda_without_a_cuda_onnxruntime_says_it_runs_on_the_cpu():
    """Seen on a GPU node (H200, onnxruntime 1.30 without CUDA): Ultralytics reports cuda, runs the
    ONNX tile model on the CPU, and is slower for the tensor moves. Said, and run on the CPU."""
    import onnxruntime

    from mjray.detect.model import YoloDetector

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime runs ONNX models on a GPU: nothing to fall back from")
    detector = YoloDetector(None, device="cuda", threads=1)
    assert detector.device == "cpu" and "onnxruntime-gpu" in detector.device_note
    assert detector(np.zeros((360, 640, 3), np.uint8)) is not None


class _Died(Exception):
    pass


def _ray_like_get():
    """Raises as Ray's `get` does: the error stays in a local of the raising frame (a cycle through its traceback)."""
    values = [_Died("actor died")]
    for value in values:
        raise value


class _Take:
    """Stands for the ObjectRef of the next take (its frame in the object store)."""


@pytest.mark.parametrize("settled", [True, False])
def test_an_error_a_detector_catches_does_not_hold_the_next_take(settled):
    import gc
    import weakref

    from mjray.cluster.raysafe import settle

    def answer():  # as the detector's: a late take whose camera died
        if settled:
            return isinstance(settle(_ray_like_get, _Died), _Died)
        try:
            _ray_like_get()
        except _Died:
            return True

    def send_ask():  # as the detector's: asks the next seat after that, then returns
        assert answer()
        ref = _Take()
        return weakref.ref(ref)

    gc.disable()  # a full collection comes minutes apart in a detector
    try:
        gone = send_ask()() is None
    finally:
        gc.enable()
    assert gone is settled  # unsettled, the error's traceback keeps send_ask's frame and its take


class StandInModel:
    """A model of a test's own, built by the detector actor as `YoloDetector` would be."""

    names = {0: "thing"}
    weights, device, device_note, batch_note, post = "stand-in.onnx", "cpu", "", "", []
    last_ms = post_ms = 0.0

    def __init__(self, **settings) -> None:
        assert settings["threads"] == 1 and settings["plugins"] == {}, settings

    def __call__(self, image: np.ndarray) -> Detections:
        return self.batch([image])[0]

    def batch(self, images: list[np.ndarray]) -> list[Detections]:
        if any(image.mean() > 200 for image in images):
            raise RuntimeError("too bright")
        self.last_ms = 1.5
        box = Detections(np.array([[1, 1, 5, 5]], np.float32), np.array([0.9], np.float32), np.array([0], np.int32))
        return [box for _ in images]


def weights_that_do_not_load(**settings):
    raise ModelError("stand-in.onnx does not load as a YOLO model")


@pytest.mark.slow
def test_a_detector_actor_infers_with_whatever_model_its_builder_makes_and_pushes_to_its_seats_reorder():
    import ray

    from mjray.cluster.clients import DETECTOR, REORDER
    from mjray.detect.actor import DetectorActor, DetectorReady
    from mjray.frames import Frame, Gap, GapReason, Result
    from mjray.order.reorder import ReorderActor

    with local_ray(num_cpus=2):
        reorder = REORDER.start_one(ReorderActor, "ton", (5.0, 64), restarts=0, strategy=None)
        ray.get(reorder.stats.remote())  # up, and known by its name
        name = DETECTOR.own("ton", 0)
        detector = DETECTOR.start_one(
            DetectorActor,
            name,
            ({"threads": 1}, ["ton"], False, False, StandInModel),
            cpus=0,
            gpus=0,
            resources={},
            restarts=0,
        )
        assert ray.get(detector.ready.remote()) == DetectorReady("detector:ton:0", "cpu", 1, "stand-in.onnx")
        frames = [Frame("ton", seq, time.time(), "arrival", None, time.time(), 8, 8) for seq in range(2)]
        ray.get(
            [
                detector.infer.remote(frames[0], np.zeros((8, 8, 3), np.uint8)),
                detector.infer.remote(frames[1], np.full((8, 8, 3), 255, np.uint8)),
            ]
        )
        assert REORDER.lookup("ton")._actor_id == reorder._actor_id
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            got += ray.get(reorder.drain.remote(0.5))
        assert [type(item) for item in got] == [Result, Gap] and [item.seq for item in got] == [0, 1]
        assert got[0].worker == name and got[0].infer_ms == 1.5 and got[0].detections.class_id.tolist() == [0]
        assert got[1].reason == GapReason.FAILED and got[1].error == "RuntimeError: too bright"
        broken = DETECTOR.start_one(
            DetectorActor,
            DETECTOR.own("ton", 1),
            ({}, ["ton"], False, False, weights_that_do_not_load),
            cpus=0,
            gpus=0,
            resources={},
            restarts=0,
        )
        with pytest.raises(ray.exceptions.RayTaskError, match="stand-in.onnx does not load as a YOLO model"):
            ray.get(broken.ready.remote())

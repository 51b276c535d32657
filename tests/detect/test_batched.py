"""Batched detectors: the real models infer a batch as they infer its frames one by one, and a
detector serving several cameras in real Ray never waits on one that does not answer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mjray.frames import Detections, Frame, Gap, GapReason, Result
from mjray.sim.table import decode_file
from tests.support import local_ray

pytestmark = pytest.mark.slow


def assert_same_detections(batched: list[Detections], alone: list[Detections]) -> None:
    assert len(batched) == len(alone)
    for one, other in zip(batched, alone):
        assert one.class_id.tolist() == other.class_id.tolist()
        np.testing.assert_allclose(one.xyxy, other.xyxy, atol=0.05)  # pixels
        np.testing.assert_allclose(one.confidence, other.confidence, atol=1e-3)


@pytest.mark.parametrize("weights", [None, "yolov8n.yaml"], ids=["tile-onnx", "yolov8n-torch"])
def test_a_batch_of_frames_finds_what_each_frame_alone_finds(table_360, weights):
    """Four seats' frames in one call: the same boxes, classes and scores as one frame at a time
    (the ONNX tile model is an export of batch 1: Ultralytics runs its forward pass frame by frame,
    and says so; torch weights take the batch in one pass)."""
    from mjray.detect.model import YoloDetector

    frames = [decode_file(table_360.folder / f"{seat}.264")[30] for seat in table_360.spec.seats]
    detector = YoloDetector(weights, conf=0.25 if weights else 0.5, grayscale=not weights, autocontrast=not weights)
    batched = detector.batch(frames)
    assert_same_detections(batched, [detector(frame) for frame in frames])
    if weights is None:
        assert sum(len(found) for found in batched) > 4 * 10, "the tile model finds the hands' tiles"
        assert "fixed batch 1" in detector.batch_note
    else:
        assert detector.batch_note == ""


class CountingModel:
    """A stand-in model that notes the seats of each batch it is given."""

    names = {0: "thing"}
    weights, device, device_note, batch_note, post = "counting.pt", "cpu", "", "", []
    last_ms = post_ms = 0.0

    def __init__(self, **settings) -> None:
        self.batches: list[int] = []

    def __call__(self, image: np.ndarray) -> Detections:
        return self.batch([image])[0]

    def batch(self, images: list[np.ndarray]) -> list[Detections]:
        time.sleep(0.01)
        self.last_ms = 10.0
        if any(image[0, 0, 0] == 255 for image in images):
            raise RuntimeError("a bad frame")
        return [
            Detections(np.zeros((1, 4), np.float32) + image[0, 0, 0], np.ones(1, np.float32), np.zeros(1, np.int32))
            for image in images
        ]


class PacedCamera:
    """A camera actor's `take` as a detector sees it: a new frame every `interval_s`, or, hung, no
    answer at all for a long time (a camera restarting, a node gone quiet)."""

    def __init__(self, seat: str, interval_s: float, hung: bool) -> None:
        self.seat, self.interval_s, self.hung = seat, interval_s, hung
        self.started: float | None = None  # the first take: frames of before would be a backlog
        self.seq = 0
        self.lock = threading.Lock()

    def take(self, wait_s: float, at: float | None = None) -> tuple | None:
        if self.hung:
            time.sleep(30)
            return None
        with self.lock:
            self.started = self.started or time.time()
            due = self.started + self.seq * self.interval_s
            if due > time.time() + wait_s:
                time.sleep(wait_s)
                return None
            time.sleep(max(0.0, due - time.time()))
            skipped = self.seq % 10 == 9  # as the policy would skip it: handed over as a gap before the next
            seq = self.seq + skipped
            self.seq = seq + 1
        frame = Frame(self.seat, seq, due, "arrival", None, time.time(), 8, 8)
        return (
            frame,
            np.full((8, 8, 3), seq % 200, np.uint8),
            [Gap(self.seat, seq - 1, GapReason.SKIPPED)] if skipped else [],
        )

    def stats(self) -> dict:
        return {}


@pytest.mark.parametrize("eager", [False, True], ids=["latest", "every"])
def test_a_batched_detector_never_waits_on_a_camera_that_does_not_answer(eager):
    """Three cameras at 15 fps and one that never answers: batches close within pool.batch_wait_ms
    with the frames that came, every live seat's results and gaps reach its reorder in order, and
    the stats say how full the batches were."""
    import ray

    from mjray.cluster.clients import CAMERA, DETECTOR, REORDER
    from mjray.detect.actor import DetectorActor
    from mjray.detect.batch_server import BatchSettings
    from mjray.order.reorder import ReorderActor

    seats = ["ton", "nan", "sha", "pei"]
    with local_ray(num_cpus=2):
        reorders = {s: REORDER.start_one(ReorderActor, s, (5.0, 256), restarts=0, strategy=None) for s in seats}
        ray.get([r.stats.remote() for r in reorders.values()])
        cameras = [  # kept: an actor whose last handle goes is ended
            CAMERA.start_one(
                PacedCamera,
                seat,
                (1 / 15, seat == "pei"),
                cpus=0,
                shared_detectors=1,
                resources={},
                restarts=0,
                strategy=None,
            )
            for seat in seats
        ]
        ray.get([camera.stats.remote() for camera in cameras])
        detector = DETECTOR.start_one(
            DetectorActor,
            DETECTOR.shared(0),
            ({}, seats, True, False, CountingModel, BatchSettings(4, 0.05, 2.0, eager)),
            cpus=0,
            gpus=0,
            resources={},
            restarts=0,
        )
        assert ray.get(detector.ready.remote()).batch == 4
        got: dict[str, list] = {s: [] for s in seats}
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for seat, reorder in reorders.items():
                got[seat] += ray.get(reorder.drain.remote(0.05))
        stats = ray.get(detector.stop.remote())
        ray.get(detector.barrier.remote())
        for seat, reorder in reorders.items():
            got[seat] += ray.get(reorder.drain.remote(0.2))

    assert got["pei"] == []
    for seat in ("ton", "nan", "sha"):
        items = got[seat]
        assert [item.seq for item in items] == list(range(len(items))), seat
        results = [item for item in items if isinstance(item, Result)]
        assert len(results) > 3.5 * 15 * 0.8, f"{seat}: {len(results)} results in about 4 s at 15 fps"
        waited = sorted(r.done_at - r.frame.captured_at for r in results)
        assert waited[len(waited) // 2] < 0.1, "a frame waits neither for the hung camera nor long for its batch"
        assert waited[int(len(waited) * 0.95)] < 0.3
        assert all(float(r.detections.xyxy[0, 0]) == r.seq % 200 for r in results), "each frame got its own boxes"
        assert {item.reason for item in items if isinstance(item, Gap)} <= {GapReason.SKIPPED}
    sizes = stats.batches
    assert 1.5 < sizes.mean <= 3 and sizes.max <= (4 if eager else 3), sizes  # eager: 2 frames of a seat may wait
    assert stats.inferred == sum(isinstance(item, Result) for items in got.values() for item in items)

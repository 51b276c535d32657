"""The data that flows between stages: small, typed, and cheap to send between Ray actors.

Detections follow roboflow/supervision's `Detections`: parallel numpy arrays (boxes, scores,
class ids), never framework objects or drawn images. Closed sets (stream policy, gap reason,
clock) are types, so a stage never compares strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Literal

import numpy as np

Clock = Literal["rtcp", "arrival"]  # where a capture time came from: the camera's RTCP clock, or ours on arrival


class Policy(str, Enum):
    """What a camera does with frames while every detector is busy (see `mjray.policy`).
    Members are lower case: Hydra matches an override (`stream.policy=every`) by member name."""

    latest = "latest"  # keep the newest, skip the rest (real time)
    every = "every"  # hold the decoder until a detector takes the frame (lossless)
    aligned = "aligned"  # every seat sampled at the same instants, round after round


class CameraStatus(StrEnum):
    """A camera's state, as its status line, the summary and the web view show it."""

    STARTING = "starting"  # not streaming yet
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"  # lost its stream; trying again with backoff
    ENDED = "ended"  # its source ended (a replay), or failed for good
    STOPPED = "stopped"  # stopped at the end of the run
    RESTARTING = "restarting"  # its actor's process died; Ray is starting it again
    DOWN = "down"  # its actor is dead for good


@dataclass
class CameraReport:
    """A camera's state and counters as it reports them (`CameraActor.stats`, `stop`: a copy of
    the one it keeps) to the driver, its status line, the summary and the web view."""

    seat: str
    source: str = ""  # what the source is (no credentials)
    status: CameraStatus = CameraStatus.STARTING
    last_error: str = ""
    reconnects: int = 0
    decoder: str = ""  # which decoder its stream got, in words: NVDEC or software, and why
    decoded: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    overflow: int = 0  # policy every: frames given up because its buffer was full
    lost: int = 0  # frames the camera sent that never arrived
    offline: int = 0  # frames due while the camera could not be reached
    offline_s: float = 0.0
    in_flight: int = 0
    waiting: int = 0  # decoded frames waiting for a detector
    width: int = 0
    height: int = 0
    fps: float = 0.0  # decoded frames per second over the last few seconds
    first_at: float | None = None  # wall times of the first and the last decoded frame
    last_at: float | None = None
    pixels_held: int = 0  # sent frames' pictures kept for the outputs that show them
    stages: dict = field(default_factory=dict)  # CPU by stage (`mjray.cluster.stages.StageClock.as_dict`)

    def decoding_fps(self) -> float:
        """Frames decoded a second between the first and the last (0.0 before two)."""
        first, last = self.first_at, self.last_at
        return round((self.decoded - 1) / (last - first), 2) if first and last and last > first else 0.0


@dataclass(frozen=True)
class ReorderReport:
    """A seat's reorder counters (`mjray.order.reorder.ReorderActor.stats`), for the driver, the summary and tests."""

    emitted: int = 0
    timeouts: int = 0  # holes given up waiting for
    late: int = 0  # items that came after their seq was given up: dropped
    duplicates: int = 0  # items that came twice: dropped
    pending: int = 0  # items held behind a hole
    next_seq: int = -1  # the next seq to emit; -1 before the first
    pushes: int = 0  # calls that brought items: each costs both sides a Ray call


@dataclass(frozen=True)
class Restarts:
    """How often Ray restarted a seat's actors: its camera, its reorder, its own detectors together,
    and the actors every seat shares (shared detectors, the rounds clock)."""

    camera: int = 0
    reorder: int = 0
    detectors: int = 0
    shared: int = 0

    def own(self) -> dict[str, int]:
        """The seat's own actors that were restarted, by kind."""
        return {
            kind: n
            for kind, n in (("camera", self.camera), ("reorder", self.reorder), ("detectors", self.detectors))
            if n
        }


@dataclass(frozen=True)
class SeatReport:
    """A seat as the pipeline reports it (`Pipeline.stats`, `stop`): its camera's and its reorder's
    counters, why it is down, and how often Ray restarted its actors."""

    camera: CameraReport
    reorder: ReorderReport = ReorderReport()  # an empty one where the reorder could not answer
    down: str = ""  # why the seat stopped before the run did (an actor dead for good), "" if it did not
    restarts: Restarts = Restarts()  # at stop


@dataclass(frozen=True)
class Lease:
    """What a camera keeps in its reorder (`ReorderActor.lease`), so that Ray's restart of its
    process goes on where it was (`mjray.camera.ledger.SeqLedger`)."""

    seq_until: int = 0  # no seq at or past it is used without a new lease
    start_at: float | None = None  # wall time a replay's first frame was due
    reconnects: int = 0
    interval_s: float | None = None  # the camera's frame interval, once known
    counters: dict[str, int] = field(default_factory=dict)  # its `CameraReport` counters by name


@dataclass(frozen=True)
class Resume:
    """For a restarted camera (`ReorderActor.resume`): its last lease (an empty one if none came),
    and the newest frame that reached its seat, from which to count what it missed."""

    lease: Lease = Lease()
    newest_seq: int = -1
    newest_captured_at: float | None = None


class DisplayMode(StrEnum):
    """Where the seats' pictures go (`display.mode`). Lower case: Hydra matches by member name."""

    auto = "auto"  # a window where there is a screen, else files
    window = "window"
    files = "files"
    none = "none"  # no pictures, no files


class Decode(str, Enum):
    """How cameras decode (`mjray.camera.decoding`); lower case for Hydra, as `Policy`."""

    auto = "auto"  # the GPU's video decoder (NVDEC) where the camera's node has one FFmpeg can open, else software
    software = "software"
    cuda = "cuda"  # NVDEC or nothing: a camera whose node has none says why and does not stream


class GapReason(str, Enum):
    """Why a frame has no detections."""

    SKIPPED = "skipped"  # the frame policy passed over it
    FAILED = "failed"  # inference raised, or its detector died
    TIMEOUT = "timeout"  # the reorder gave up waiting for it
    LOST = "lost"  # the camera sent it, it never arrived (lost in transit or dropped upstream)
    OFFLINE = "offline"  # due while the camera could not be reached
    OVERFLOW = "overflow"  # policy every: given up because the camera's buffer of waiting frames was full
    RESTART = "restart"  # died with an actor's process (its camera's, detector's or reorder's) before it was emitted
    STALE = "stale"  # batched detectors: older than pool.batch_max_age_ms when its batch closed, so not inferred


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame, in pixels of that frame."""

    xyxy: np.ndarray  # (N, 4) float32: x1, y1, x2, y2
    confidence: np.ndarray  # (N,) float32 in [0, 1]
    class_id: np.ndarray  # (N,) int32 index into the model's class names

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"Detections arrays disagree: xyxy {self.xyxy.shape}, confidence {self.confidence.shape}, "
                f"class_id {self.class_id.shape}"
            )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: slice | np.ndarray | list[int]) -> Detections:
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def from_ultralytics(cls, result: object) -> Detections:
        """From one Ultralytics `Results` (duck-typed: anything with `.boxes.xyxy/.conf/.cls`)."""
        boxes = result.boxes  # type: ignore[attr-defined]
        return cls(
            np.asarray(boxes.xyxy.cpu().numpy(), np.float32).reshape(-1, 4),
            np.asarray(boxes.conf.cpu().numpy(), np.float32).reshape(-1),
            np.asarray(boxes.cls.cpu().numpy(), np.int32).reshape(-1),
        )

    def scaled(self, sx: float, sy: float) -> Detections:
        """The boxes in pixels of a picture `sx` times as wide and `sy` times as high."""
        return Detections(
            (self.xyxy * np.array([sx, sy, sx, sy], np.float32)).astype(np.float32), self.confidence, self.class_id
        )

    def left_to_right(self) -> Detections:
        """Sorted by the boxes' left edges, the order tiles lie in a hand."""
        return self[np.argsort(self.xyxy[:, 0], kind="stable")]


@dataclass
class Decoded:
    """A picture as a source decoded it, before the camera numbers it and (maybe) sends it.

    `picture` stays a decoder frame (an `av.VideoFrame`) until it is sent: converting to BGR
    costs, and most frames under policy latest are never sent.
    """

    picture: object  # av.VideoFrame (anything with .width, .height, .to_ndarray(format=))
    captured_at: float  # wall-clock seconds: the camera's RTCP clock when it sends one, else arrival
    clock: Clock
    pts: int | None  # the stream's presentation timestamp (its time_base units), None if absent
    decoded_at: float  # wall-clock seconds when decoding finished (a replay: when the frame was released)
    seq: int = -1  # set by the camera: 0, 1, 2, ... per seat


@dataclass(frozen=True)
class Frame:
    """One decoded camera frame as it travels: what is known of it, not its pixels (those go to a
    detector beside it, and stay with the camera for display: `mjray.camera.pixels`)."""

    seat: str
    seq: int  # 0, 1, 2, ... per camera in decode order, never reused (also across reconnects)
    captured_at: float  # wall-clock seconds: from the camera's RTCP clock when it sends one
    clock: Clock
    pts: int | None  # the stream's presentation timestamp (time_base units), None if absent
    decoded_at: float  # wall-clock seconds when decoding finished
    width: int
    height: int
    instant: float | None = None  # policy aligned: the round's instant this frame was the nearest to


@dataclass(frozen=True)
class Result:
    """Detections for a frame, as the detector produced them."""

    frame: Frame
    detections: Detections
    infer_ms: float  # the model's own time for this frame
    worker: str  # which detector actor did it
    done_at: float  # wall-clock seconds when inference finished

    @property
    def seq(self) -> int:
        return self.frame.seq

    @property
    def seat(self) -> str:
        return self.frame.seat

    @property
    def captured_at(self) -> float:
        return self.frame.captured_at


@dataclass(frozen=True)
class Gap:
    """A frame that has no detections, and why."""

    seat: str
    seq: int
    reason: GapReason
    captured_at: float | None = None
    frame: Frame | None = None  # the frame, where it was decoded (what is known of it)
    error: str = ""  # what went wrong, for a failed frame


Item = Result | Gap

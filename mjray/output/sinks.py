"""What consumes the ordered results: every output is a `Sink` the driver loop feeds.

A sink gets every seat's items in sequence order (`write`) and the seats' synchronized moments
(`show`, from `sync.SeatSync`), and is closed once at the end. Outputs:
- `JsonlSink` writes every emitted item of every seat: results with their boxes, gaps with their
  reason. Nothing is dropped. A replay's lines carry the recorded capture times.
- `GridVideoSink` / `WindowSink` show moments as a grid of the seats, boxes and labels drawn
  here, once, with supervision's annotators (`GridSink` composes the picture). Pixels are
  asked of the cameras only for the moments shown (`mjray.camera.pixels`).
Adding an output is a class here and an entry in `SINKS` (with its `display.*` switch), or a
plug-in's `sinks` (`mjray.plugins`; the mahjong game record is one), which `sink_table` adds.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from mjray.config import WEB_TOKEN_ENV, AppConfig, ConfigError, DisplayConfig, WebConfig
from mjray.frames import CameraReport, DisplayMode, Gap, Item, Result
from mjray.order.sync import Moment

log = logging.getLogger(__name__)


class Sink(Protocol):
    stop_requested: bool  # the user asked to stop (a window closed): the driver winds the run down

    def write(self, item: Item, emitted_at: float) -> None:
        """One seat's next item, in that seat's sequence order."""

    def show(self, moments: Sequence[Moment]) -> None:
        """Moments of every seat together, oldest first (several when the driver fell behind)."""

    def cameras(self, states: Mapping[str, CameraReport]) -> None:
        """Each seat's camera report (`status` down for a seat down for good), once a status period."""

    def close(self) -> None: ...


class BaseSink:
    """Does nothing: a sink overrides what it consumes."""

    stop_requested = False

    def write(self, item: Item, emitted_at: float) -> None:
        pass

    def show(self, moments: Sequence[Moment]) -> None:
        pass

    def cameras(self, states: Mapping[str, CameraReport]) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SinkContext:
    """What the outputs of one run share."""

    out_dir: Path
    seats: tuple[str, ...]
    names: dict[int, str]  # the model's class names
    fetch: Callable[[list], list]  # results -> their pixels, None for one no longer kept (`Pipeline.pixels`)
    display: DisplayConfig
    recorded_time: Callable[[float], float] | None = None  # a replay: its clock's time -> the recorded time
    captions: dict[str, str] = field(default_factory=dict)  # seat -> what the grid says under it (its hand)
    web: WebConfig = field(default_factory=WebConfig)  # where the live web view listens


def item_record(
    item: Item, names: dict[int, str], emitted_at: float, recorded_time: Callable[[float], float] | None = None
) -> dict:
    """One JSONL line: what a seat's stream says about one frame (a replay's at its recorded time)."""
    at = recorded_time or (lambda t: t)
    if isinstance(item, Result):
        d = item.detections.left_to_right()
        instant = item.frame.instant
        return {
            "seat": item.seat,
            "seq": item.seq,
            "captured_at": round(at(item.frame.captured_at), 6),
            "clock": item.frame.clock,
            "pts": item.frame.pts,
            "emitted_at": round(emitted_at, 6),
            **({"instant": round(at(instant), 6)} if instant is not None else {}),  # its round
            "infer_ms": round(item.infer_ms, 2),
            "worker": item.worker,
            "boxes": [[round(float(v), 1) for v in box] for box in d.xyxy],
            "scores": [round(float(c), 3) for c in d.confidence],
            "classes": [names.get(int(c), str(int(c))) for c in d.class_id],
        }
    return {
        "seat": item.seat,
        "seq": item.seq,
        "gap": item.reason.value,
        "captured_at": None if item.captured_at is None else round(at(item.captured_at), 6),
        "emitted_at": round(emitted_at, 6),
        **({"error": item.error} if item.error else {}),
    }


class JsonlSink(BaseSink):
    """`detections.jsonl`: one line per item of every seat."""

    def __init__(
        self, path: Path, names: dict[int, str], recorded_time: Callable[[float], float] | None = None
    ) -> None:
        self.path, self.names, self.recorded_time = path, names, recorded_time
        self._file = open(path, "w", buffering=1 << 16)

    def write(self, item: Item, emitted_at: float) -> None:
        self._file.write(json.dumps(item_record(item, self.names, emitted_at, self.recorded_time)) + "\n")

    def close(self) -> None:
        self._file.close()


def annotate(image: np.ndarray, item: Item | None, names: dict[int, str], seat: str, note: str = "") -> np.ndarray:
    """A copy of the frame with boxes, labels and a caption naming the seat and frame (and `note`: its hand)."""
    import supervision as sv

    picture = image.copy()
    caption = seat
    if isinstance(item, Result) and len(item.detections):
        d = item.detections
        found = sv.Detections(xyxy=d.xyxy, confidence=d.confidence, class_id=d.class_id)
        labels = [names.get(int(c), str(int(c))) for c in d.class_id]
        picture = sv.BoxAnnotator(thickness=max(1, image.shape[0] // 240)).annotate(picture, found)
        picture = sv.LabelAnnotator(text_scale=image.shape[0] / 900, text_padding=2).annotate(
            picture, found, labels=labels
        )
    if item is not None:
        caption += f"  #{item.seq}" + (f"  ({item.reason.value})" if isinstance(item, Gap) else "")
    if note:
        caption += f"  {note}"
    cv2.putText(
        picture,
        caption,
        (10, image.shape[0] - 12),
        cv2.FONT_HERSHEY_SIMPLEX,
        image.shape[0] / 600,
        (255, 255, 255),
        max(1, image.shape[0] // 360),
        cv2.LINE_AA,
    )
    return picture


def grid(cells: Sequence[np.ndarray], cell_width: int) -> np.ndarray:
    """Cells resized to one width, laid out in a near-square grid (2x2 for four seats)."""
    columns = math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / columns)
    heights = [round(c.shape[0] * cell_width / c.shape[1]) for c in cells]
    cell_height = max(heights) + (max(heights) % 2)
    canvas = np.zeros((rows * cell_height, columns * cell_width, 3), np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        resized = cv2.resize(cell, (cell_width, heights[i]), interpolation=cv2.INTER_AREA)
        canvas[r * cell_height : r * cell_height + heights[i], c * cell_width : (c + 1) * cell_width] = resized
    return canvas


class GridSink(BaseSink):
    """All seats in one picture per moment that shows something new; subclasses put the picture
    somewhere (`present`), and know what a moment that shows nothing new means to them (`hold`)."""

    def __init__(self, context: SinkContext) -> None:
        self.seats, self.names, self.fetch = context.seats, context.names, context.fetch
        self.cell_width, self.captions = context.display.tile_width, context.captions
        self._last_picture: dict[str, np.ndarray] = {}
        self._drawn: dict[str, int] = {}  # seat -> seq of its last picture: shown again, not fetched again
        self._presented = False

    def show(self, moments: Sequence[Moment]) -> None:
        if not moments:
            return
        # Only the pixels of the newest moment are fetched and drawn when several are ready at once
        # (a display that fell behind catches up instead of replaying).
        moment = moments[-1]
        wanted = [
            (seat, item)
            for seat, item in moment.items.items()
            if item is not None and self._drawn.get(seat) != item.seq
        ]
        images = self.fetch([item for _, item in wanted]) if wanted else []
        drawn = False
        for (seat, item), image in zip(wanted, images):
            if image is None:  # its camera restarted since, or let it go: the seat keeps its last picture
                continue
            self._last_picture[seat] = annotate(image, item, self.names, seat, self.captions.get(seat, ""))
            self._drawn[seat] = item.seq
            drawn = True
        if not drawn and self._presented:  # nothing new: the picture presented last stands (no CPU to draw
            self.hold(len(moments))  # and encode it again at the display rate while the model is slower)
            return
        self._presented = True
        cells = [self._last_picture.get(seat, self._blank(seat)) for seat in self.seats]
        self.present(grid(cells, self.cell_width), len(moments))

    def present(self, picture: np.ndarray, moments: int) -> None:
        raise NotImplementedError

    def hold(self, moments: int) -> None:
        """The picture presented last stands for `moments` more."""

    def _blank(self, seat: str) -> np.ndarray:
        cell = np.zeros((self.cell_width * 9 // 16, self.cell_width, 3), np.uint8)
        cv2.putText(cell, f"{seat}: waiting", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (200, 200, 200), 1, cv2.LINE_AA)
        return cell


class GridVideoSink(GridSink):
    """`grid.mp4`: annotated moments as H.264 on the display rate's clock. A picture is encoded
    once, when it changes, and lasts until the next (a variable frame rate, as cameras' own
    recordings have): a moment that shows nothing new costs no encoding."""

    def __init__(self, context: SinkContext, path: Path | None = None) -> None:
        import av

        super().__init__(context)
        self.path, self.fps = path or context.out_dir / "grid.mp4", context.display.fps
        self._container = av.open(str(self.path), "w")
        self._stream = None
        self.frames = 0  # moments the video spans so far: the next picture's pts
        self.encoded = 0  # pictures encoded: at most one a moment
        self._last: np.ndarray | None = None
        self._last_pts = -1

    def present(self, picture: np.ndarray, moments: int) -> None:
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.height, self._stream.width = picture.shape[:2]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": "veryfast", "crf": "26"}
        if picture.shape[:2] != (self._stream.height, self._stream.width):
            picture = cv2.resize(picture, (self._stream.width, self._stream.height))
        self._encode(picture, self.frames)
        self.frames += moments  # the video keeps its clock

    def hold(self, moments: int) -> None:
        self.frames += moments

    def _encode(self, picture: np.ndarray, pts: int) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts = pts
        self._container.mux(self._stream.encode(frame))
        self._last, self._last_pts = picture, pts
        self.encoded += 1

    def close(self) -> None:
        if self._stream is not None:
            if self._last is not None and self._last_pts < self.frames - 1:
                self._encode(self._last, self.frames - 1)  # the last picture again at the end: the video lasts the run
            self._container.mux(self._stream.encode(None))
        self._container.close()


class WindowSink(GridSink):
    """An OpenCV window; closing it or pressing q asks the run to stop."""

    def __init__(self, context: SinkContext, title: str = "mjray") -> None:
        super().__init__(context)
        self.title = title

    def present(self, picture: np.ndarray, moments: int) -> None:
        cv2.imshow(self.title, picture)
        self.hold(moments)

    def hold(self, moments: int) -> None:
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):  # (the window's events are handled here too)
            self.stop_requested = True

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def has_screen() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class SinkEntry:
    on: Callable[[AppConfig, bool], bool]  # is it wanted for the run's settings (and is there a screen)
    build: Callable[[SinkContext], Sink]
    pixels: bool = False  # shows pictures: the cameras keep the pixels of the frames they send (`mjray.camera.pixels`)


def web_view(context: SinkContext) -> Sink:
    """The live web view, listening already; a port it cannot have is a bad setting."""
    from mjray.output.web import WebSink

    web = context.web
    try:
        return WebSink(context, web.host, web.port, os.environ.get(WEB_TOKEN_ENV) or None)
    except OSError as error:
        raise ConfigError(
            f"web.port: cannot listen on {web.host}:{web.port} ({error.strerror or error}); choose another port"
        ) from None


def marker_anchors(context: SinkContext) -> Sink:
    """The test bed's frame markers read beside the run's clock, for `python -m mjray.sim score-game`."""
    from mjray.sim.anchors import ANCHORS_FILE, MarkerAnchors

    return MarkerAnchors(context.out_dir / ANCHORS_FILE, context.fetch)


def on_the_test_bed(cfg: AppConfig) -> bool:
    """`sim.markers`, by default on where the run watches the embedded table (no cameras, no replay)."""
    return cfg.sim.markers if cfg.sim.markers is not None else not (cfg.cameras or cfg.replay.path)


SINKS: dict[str, SinkEntry] = {
    "detections": SinkEntry(
        lambda c, screen: c.display.detections and c.display.mode != DisplayMode.none,
        lambda c: JsonlSink(c.out_dir / "detections.jsonl", c.names, c.recorded_time),
    ),
    "video": SinkEntry(
        lambda c, screen: (
            c.display.video
            and (c.display.mode == DisplayMode.files or (c.display.mode == DisplayMode.auto and not screen))
        ),
        GridVideoSink,
        pixels=True,
    ),
    "window": SinkEntry(
        lambda c, screen: c.display.mode == DisplayMode.window or (c.display.mode == DisplayMode.auto and screen),
        WindowSink,
        pixels=True,
    ),
}


# after the plug-ins' outputs: they show what those set (the hands in the captions)
WATCHERS: dict[str, SinkEntry] = {
    "markers": SinkEntry(lambda c, screen: on_the_test_bed(c), marker_anchors, pixels=True),
    "web": SinkEntry(lambda c, screen: c.web.port is not None, web_view, pixels=True),
}


def sink_table(plugins: Mapping | None = None) -> dict[str, SinkEntry]:
    """The engine's outputs, those the enabled plug-ins add, and the watchers."""
    from mjray import plugins as plugged

    added = plugged.sinks(plugins or {})
    taken = sorted(set(added) & (set(SINKS) | set(WATCHERS)))
    if taken:
        raise ConfigError(
            f"plugins: an output named {', '.join(taken)} is the engine's own; name the plug-in's otherwise"
        )
    return {**SINKS, **added, **WATCHERS}


def wanted_sinks(cfg: AppConfig, screen: bool | None = None, table: Mapping[str, SinkEntry] = SINKS) -> list[str]:
    """Which outputs of `table` the run's settings turn on (`screen`: is there one; default: look)."""
    screen = has_screen() if screen is None else screen
    return [name for name, entry in table.items() if entry.on(cfg, screen)]


def build_sinks(context: SinkContext, names: Sequence[str], table: Mapping[str, SinkEntry] = SINKS) -> list[Sink]:
    return [table[name].build(context) for name in names]


def wants_pixels(names: Sequence[str], table: Mapping[str, SinkEntry] = SINKS) -> bool:
    return any(table[name].pixels for name in names)

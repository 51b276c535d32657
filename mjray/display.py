"""Display stage: every seat's ordered results to files, and all seats in step as one picture.

- `JsonlSink` writes every emitted item of every seat, in each seat's sequence order: results
  with their boxes, gaps with their reason. Nothing is dropped.
- `GridVideoSink` / `WindowSink` show synchronized moments (`sync.SeatSync`) as a grid of the
  seats, boxes and labels drawn here, once, with supervision's annotators.
Pixels are fetched from the object store only for moments that are shown.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from mjray.frames import Gap, Item, Result
from mjray.sync import Moment

log = logging.getLogger(__name__)


def item_record(item: Item, names: dict[int, str], emitted_at: float) -> dict:
    """One JSONL line: what a seat's stream says about one frame."""
    if isinstance(item, Result):
        d = item.detections.left_to_right()
        return {
            "seat": item.seat, "seq": item.seq, "captured_at": round(item.frame.captured_at, 6),
            "clock": item.frame.clock, "pts": item.frame.pts, "emitted_at": round(emitted_at, 6),
            **({"instant": round(item.frame.instant, 6)} if item.frame.instant is not None else {}),  # its round
            "infer_ms": round(item.infer_ms, 2), "worker": item.worker,
            "boxes": [[round(float(v), 1) for v in box] for box in d.xyxy],
            "scores": [round(float(c), 3) for c in d.confidence],
            "classes": [names.get(int(c), str(int(c))) for c in d.class_id],
        }
    return {"seat": item.seat, "seq": item.seq, "gap": item.reason,
            "captured_at": None if item.captured_at is None else round(item.captured_at, 6),
            "emitted_at": round(emitted_at, 6)}


class JsonlSink:
    def __init__(self, path: Path, names: dict[int, str]) -> None:
        self.path, self.names = path, names
        self._file = open(path, "w", buffering=1 << 16)

    def write(self, item: Item, emitted_at: float) -> None:
        self._file.write(json.dumps(item_record(item, self.names, emitted_at)) + "\n")

    def close(self) -> None:
        self._file.close()


def annotate(image: np.ndarray, item: Item | None, names: dict[int, str], seat: str) -> np.ndarray:
    """A copy of the frame with boxes, labels and a caption naming the seat and frame."""
    import supervision as sv

    picture = image.copy()
    caption = seat
    if isinstance(item, Result) and len(item.detections):
        d = item.detections
        found = sv.Detections(xyxy=d.xyxy, confidence=d.confidence, class_id=d.class_id)
        labels = [names.get(int(c), str(int(c))) for c in d.class_id]
        picture = sv.BoxAnnotator(thickness=max(1, image.shape[0] // 240)).annotate(picture, found)
        picture = sv.LabelAnnotator(text_scale=image.shape[0] / 900, text_padding=2).annotate(picture, found, labels=labels)
    if item is not None:
        caption += f"  #{item.seq}" + (f"  ({item.reason})" if isinstance(item, Gap) else "")
    cv2.putText(picture, caption, (10, image.shape[0] - 12), cv2.FONT_HERSHEY_SIMPLEX, image.shape[0] / 600,
                (255, 255, 255), max(1, image.shape[0] // 360), cv2.LINE_AA)
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


class GridVideoSink:
    """Annotated moments as H.264 MP4 at the display rate."""

    def __init__(self, path: Path, fps: int) -> None:
        import av

        self.path, self.fps = path, fps
        self._container = av.open(str(path), "w")
        self._stream = None
        self.frames = 0

    def show(self, picture: np.ndarray) -> None:
        import av

        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.height, self._stream.width = picture.shape[:2]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": "veryfast", "crf": "26"}
        if picture.shape[:2] != (self._stream.height, self._stream.width):
            picture = cv2.resize(picture, (self._stream.width, self._stream.height))
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts = self.frames
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            self._container.mux(self._stream.encode(None))
        self._container.close()


class WindowSink:
    """An OpenCV window; closing it or pressing q asks the run to stop."""

    def __init__(self, title: str = "mjray") -> None:
        self.title, self.closed = title, False

    def show(self, picture: np.ndarray) -> None:
        cv2.imshow(self.title, picture)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.closed = True

    def close(self) -> None:
        cv2.destroyWindow(self.title)


def has_screen() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Display:
    """Turns drained items into files and pictures; `fetch` gets pixels for a list of refs."""

    def __init__(self, seats: Sequence[str], names: dict[int, str], fetch: Callable[[list], list],
                 jsonl: Path | None, video: Path | None, window: bool, fps: int, cell_width: int) -> None:
        self.seats, self.names, self.fetch, self.cell_width = tuple(seats), names, fetch, cell_width
        self.jsonl = JsonlSink(jsonl, names) if jsonl else None
        self.screens: list = ([GridVideoSink(video, fps)] if video else []) + ([WindowSink()] if window else [])
        self._last_picture: dict[str, np.ndarray] = {}
        self.skews: list[float] = []

    @property
    def wants_pixels(self) -> bool:
        return bool(self.screens)

    @property
    def closed_by_user(self) -> bool:
        return any(getattr(s, "closed", False) for s in self.screens)

    def write(self, item: Item, emitted_at: float) -> None:
        if self.jsonl:
            self.jsonl.write(item, emitted_at)

    def show(self, moments: list[Moment]) -> None:
        for moment in moments:
            if moment.skew_s is not None:
                self.skews.append(moment.skew_s)
        if not self.screens or not moments:
            return
        # Only the pixels of the newest moment are fetched and drawn when several are ready at once
        # (a display that fell behind catches up instead of replaying).
        moment = moments[-1]
        wanted = [(seat, item) for seat, item in moment.items.items() if item is not None and _ref(item) is not None]
        images = self.fetch([_ref(item) for _, item in wanted]) if wanted else []
        for (seat, item), image in zip(wanted, images):
            self._last_picture[seat] = annotate(image, item, self.names, seat)
        cells = [self._last_picture.get(seat, self._blank(seat)) for seat in self.seats]
        picture = grid(cells, self.cell_width)
        for screen in self.screens:  # the video keeps its clock: one picture per moment
            for _ in range(len(moments) if isinstance(screen, GridVideoSink) else 1):
                screen.show(picture)

    def _blank(self, seat: str) -> np.ndarray:
        cell = np.zeros((self.cell_width * 9 // 16, self.cell_width, 3), np.uint8)
        cv2.putText(cell, f"{seat}: waiting", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (200, 200, 200), 1, cv2.LINE_AA)
        return cell

    def close(self) -> None:
        if self.jsonl:
            self.jsonl.close()
        for screen in self.screens:
            screen.close()


def _ref(item: Item):
    return None if item.frame is None else item.frame.ref

"""Score a detector against a rendered table's ground truth.

Each true tile is matched to at most one detection (greedy by IoU >= 0.5). A tile is *found*
when some detection overlaps it and *read* when that detection also names the right tile; a
detection matched to no tile is a false alarm. A hand is *read exactly* when the detections,
left to right, name the true tiles in order. Frames are chosen at random (seeded) across seats.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import av
import numpy as np
import supervision as sv

from mjray.camera.pixels import BGR, Sending
from mjray.frames import Detections
from mjray.mahjong.tiles import FROM_DETECTOR_NAME
from mjray.sim.render import TileBox
from mjray.sim.table import RenderedTable


@dataclass
class Score:
    frames: int = 0
    tiles: int = 0
    found: int = 0
    read: int = 0
    false_alarms: int = 0
    hands_exact: int = 0
    confusions: Counter = field(default_factory=Counter)  # (true, read) -> count

    def add(self, truth: list[TileBox], detections: Detections, names: dict[int, str], min_iou: float = 0.5) -> None:
        labels = [FROM_DETECTOR_NAME.get(names[int(c)], names[int(c)]) for c in detections.class_id]
        self.frames += 1
        self.tiles += len(truth)
        ordered = [labels[i] for i in np.argsort(detections.xyxy[:, 0], kind="stable")]
        self.hands_exact += ordered == [t.tile for t in truth]
        if not truth or not len(detections):
            self.false_alarms += len(detections)
            return
        overlap = sv.box_iou_batch(np.array([t.box for t in truth], np.float32), detections.xyxy)
        used: set[int] = set()
        for ti, di in sorted(np.argwhere(overlap >= min_iou), key=lambda p: -overlap[p[0], p[1]]):
            if ti in used or -1 - di in used:
                continue
            used.update((ti, -1 - di))
            self.found += 1
            if labels[di] == truth[ti].tile:
                self.read += 1
            else:
                self.confusions[(truth[ti].tile, labels[di])] += 1
        self.false_alarms += len(detections) - sum(1 for u in used if u < 0)

    def text(self) -> str:
        pct = lambda n, d: f"{100 * n / d:.1f} %" if d else "n/a"  # noqa: E731
        lines = [
            f"frames {self.frames}, tiles {self.tiles}",
            f"  tiles found (IoU >= 0.5)     {self.found:6d}  {pct(self.found, self.tiles)}",
            f"  tiles read right (accuracy)  {self.read:6d}  {pct(self.read, self.tiles)}",
            f"  false alarms                 {self.false_alarms:6d}  ({self.false_alarms / max(self.frames, 1):.2f} per frame)",
            f"  hands read exactly in order  {self.hands_exact:6d}  {pct(self.hands_exact, self.frames)}",
        ]
        if self.confusions:
            top = ", ".join(f"{t}->{r} x{n}" for (t, r), n in self.confusions.most_common(8))
            lines.append(f"  most confused: {top}")
        return "\n".join(lines)


def sample_frames(table: RenderedTable, frames: int, seed: int = 0) -> dict[str, list[int]]:
    """`frames` frame indices spread over the seats at random, sorted per seat."""
    rng = random.Random(seed)
    picks = rng.sample([(s, i) for s in table.spec.seats for i in range(table.spec.frames)], frames)
    by_seat: dict[str, list[int]] = {s: [] for s in table.spec.seats}
    for seat, index in picks:
        by_seat[seat].append(index)
    return {s: sorted(v) for s, v in by_seat.items()}


def decoded(table: RenderedTable, seat: str, indices: list[int], sending: Sending = BGR):
    """(index, picture) for the wanted frames of a seat's video, decoding it once in order: BGR, or
    as a camera sends it to a detector (`sending`)."""
    wanted = set(indices)
    with av.open(str(table.videos[seat])) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                yield i, sending(frame)
            if i >= max(indices, default=-1):
                break


def score_table(
    table: RenderedTable, frames: int = 200, seed: int = 0, detector=None, faces_file: str | None = None
) -> dict[str, Score]:
    """The model's reads (`model`), its boxes relabelled by their faces (`relabel`) and with the
    tiles it missed in the row found by their faces (`faces`, what the detector returns; mjray.mahjong.faces)."""
    from mjray.detect.model import load_model, preprocess
    from mjray.mahjong.faces import FaceMatcher
    from mjray.plugins import Seen

    detector = detector or load_model()
    names = detector.names
    matcher = FaceMatcher.for_model(names, faces_file)
    scores = {"model": Score(), "relabel": Score(), "faces": Score()}
    for seat, indices in sample_frames(table, frames, seed).items():
        truth = table.load_truth(seat)
        for i, image in decoded(table, seat, indices):
            detections = detector(image)
            scores["model"].add(truth[i], detections, names)
            if matcher is not None:
                grey = Seen(preprocess(image, detector.grayscale, detector.autocontrast), detector.grayscale).grey
                relabelled = matcher.relabel(grey, detections)
                scores["relabel"].add(truth[i], relabelled, names)
                scores["faces"].add(truth[i], matcher.fill(grey, relabelled), names)
    return scores

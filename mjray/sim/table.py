"""Render a whole table to H.264 files plus ground truth, cached on disk by its settings.

A table is `TableSpec` (seats, size, fps, seconds, seed, scene, how players lay their tiles). `render_table` writes, into a folder
named after the spec's hash:

- `<seat>.264`: raw H.264 (Annex B) from libx264, no B-frames, a keyframe every second, with
  SPS/PPS before every keyframe so a reader can join at any second;
- `<seat>.truth.jsonl`: one line per frame, `{"frame": i, "seat": "ton", "t": seconds,
  "tiles": [{"tile": "1m", "box": [x1, y1, x2, y2]}, ...]}` with the concealed tiles left to
  right, then the drawn one (wherever it lies), and boxes in pixels of the frame;
- `table.json`: the spec, written last, so a folder with it is complete.

Seats render in parallel processes; the folder appears atomically, so concurrent users of the
cache (tests, a server, a benchmark) never read half a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from mjray.mahjong.rows import CONCEALED
from mjray.mahjong.tiles import SUITS, sorted_kinds
from mjray.sim.game import DRAWN_GAP, TableGame
from mjray.sim.marker import MAX_SEATS
from mjray.sim.render import SeatView, TileBox, scene_named

log = logging.getLogger(__name__)

SEAT_NAMES = ("ton", "nan", "sha", "pei", "seat5", "seat6", "seat7", "seat8")
RENDER_VERSION = 3  # bump when the pictures change, so caches are rebuilt
SPEC_FILE = "table.json"
MAX_GAP = 2.0  # tiles: the furthest apart the reader looks for a drawn tile (mjray.mahjong.rows.FARTHEST)


def seat_names(count: int) -> tuple[str, ...]:
    if not 1 <= count <= MAX_SEATS:
        raise ValueError(f"--seats must be within 1..{MAX_SEATS}, got {count}")
    return SEAT_NAMES[:count]


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720), with a message that says what was expected."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if width % 2 or height % 2:
        raise ValueError(f"size {text!r} must have even width and height for H.264 (yuv420p)")
    return width, height


@dataclass(frozen=True)
class TableSpec:
    seats: tuple[str, ...] = SEAT_NAMES[:4]
    width: int = 1280
    height: int = 720
    fps: int = 15  # frames per second of the cameras
    seconds: float = 60.0  # length of the loop each camera plays
    seed: int = 0
    turn_s: float = 2.0  # one player's turn: draw, hold, discard
    scene: str = "table"  # the look, a name in `render.SCENES`: "parlour" is the held-out one
    gaps: tuple[float, ...] = (DRAWN_GAP,)  # tiles a drawn tile lies apart by, one drawn per turn
    slid: float = 0.0  # the chance that a turn's drawn tile is slid into the row instead
    orders: tuple[str, ...] = (SUITS,)  # the order of suits each seat keeps (seat i the i-th, round again)
    unsorted: float = 0.0  # the chance that a drawn tile kept is left unsorted at the row's end for a while

    def __post_init__(self) -> None:
        scene_named(self.scene)  # an unknown name fails here, naming the known ones
        if not self.gaps or min(self.gaps) < 0 or max(self.gaps) > MAX_GAP or not 0 <= self.slid <= 1:
            raise ValueError(
                f"drawn-tile gaps must be within 0..{MAX_GAP} tiles and slid a chance within 0..1, "
                f"got {list(self.gaps)} and {self.slid}"
            )
        if not 0 <= self.unsorted <= 1:
            raise ValueError(f"unsorted must be a chance within 0..1, got {self.unsorted}")
        for order in self.orders or ("",):
            sorted_kinds(order)  # (a bad one fails here, naming what is expected)

    @property
    def span(self) -> float:
        """Tile widths the widest hand takes."""
        return CONCEALED + 1 + max(max(self.gaps), DRAWN_GAP)

    @property
    def frames(self) -> int:
        return int(round(self.seconds * self.fps))

    def key(self) -> str:
        fields = dataclasses.asdict(self)
        for name in (
            "scene",
            "gaps",
            "slid",
            "orders",
            "unsorted",
        ):  # keys (and caches) from before these existed stay valid
            if fields[name] == getattr(TableSpec, name):
                del fields[name]
        text = json.dumps({**fields, "v": RENDER_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def game(self) -> TableGame:
        return TableGame(
            self.seats,
            self.seconds,
            seed=self.seed,
            turn_s=self.turn_s,
            gaps=self.gaps,
            slid=self.slid,
            orders=self.orders,
            unsorted=self.unsorted,
        )


@dataclass
class RenderedTable:
    spec: TableSpec
    folder: Path
    videos: dict[str, Path] = field(default_factory=dict)
    truth: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def at(cls, spec: TableSpec, folder: Path) -> RenderedTable:
        return cls(
            spec,
            folder,
            {s: folder / f"{s}.264" for s in spec.seats},
            {s: folder / f"{s}.truth.jsonl" for s in spec.seats},
        )

    def load_truth(self, seat: str) -> list[list[TileBox]]:
        """Ground truth of one seat: for each frame index, its tiles (the concealed left to right, then the drawn one)."""
        rows = []
        with open(self.truth[seat]) as f:
            for line in f:
                row = json.loads(line)
                rows.append([TileBox(t["tile"], tuple(t["box"])) for t in row["tiles"]])
        return rows


def write_spec(spec: TableSpec, folder: Path) -> None:
    """The spec as `table.json` in `folder`: a rendered table's, or a run folder's, which
    `python -m mjray.sim score-game` reads back to score the run against the spec's game."""
    (folder / SPEC_FILE).write_text(json.dumps(dataclasses.asdict(spec), indent=1))


def read_spec(folder: Path) -> TableSpec:
    """The spec `write_spec` wrote into `folder`; a field the file lacks (it predates the field)
    takes its default. A missing or unreadable file is an error naming it."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a rendered table's folder, or a run's on the embedded table, holds its spec"
        )
    try:
        saved = json.loads(path.read_text())
        saved = {**saved, "seats": tuple(saved["seats"])}
        for name in ("gaps", "orders"):
            if name in saved:
                saved[name] = tuple(saved[name])
        return TableSpec(**saved)
    except (ValueError, TypeError, KeyError) as error:  # not JSON, a field TableSpec lacks, no seats, a bad value
        raise ValueError(
            f"{path} is not a table spec ({type(error).__name__}: {error}); "
            "`python -m mjray.sim render` or a run on the embedded table writes one"
        ) from None


def cache_root() -> Path:
    return Path(os.environ.get("MJRAY_CACHE", Path.home() / ".cache" / "mjray")) / "tables"


def _encoder(container: av.container.OutputContainer, spec: TableSpec) -> av.VideoStream:
    stream = container.add_stream("libx264", rate=spec.fps)
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
    stream.options = {
        "preset": "veryfast",
        "crf": "23",
        "x264-params": f"keyint={spec.fps}:min-keyint={spec.fps}:scenecut=0:bframes=0:repeat-headers=1:sliced-threads=0",
    }
    return stream


def _render_seat(spec: TableSpec, seat_index: int, folder: Path) -> tuple[str, int, float]:
    seat = spec.seats[seat_index]
    started = time.perf_counter()
    game = spec.game()
    view = SeatView(seat_index, spec.width, spec.height, spec.seed, scene_named(spec.scene), span=spec.span)
    with (
        av.open(str(folder / f"{seat}.264"), "w", format="h264") as container,
        open(folder / f"{seat}.truth.jsonl", "w") as truth,
    ):
        stream = _encoder(container, spec)
        for i in range(spec.frames):
            hand = game.hand(seat, i / spec.fps)
            picture = view.render(hand, i, spec.fps)
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
            frame.pts = i
            container.mux(stream.encode(frame))
            tiles = [{"tile": b.tile, "box": list(b.box)} for b in view.boxes(hand)]
            truth.write(json.dumps({"frame": i, "seat": seat, "t": round(i / spec.fps, 4), "tiles": tiles}) + "\n")
        container.mux(stream.encode(None))
    return seat, spec.frames, time.perf_counter() - started


def render_table(spec: TableSpec, root: Path | None = None, workers: int | None = None) -> RenderedTable:
    """The table's files, rendered now unless the cache already holds them."""
    folder = (root or cache_root()) / spec.key()
    if (folder / SPEC_FILE).exists():
        return RenderedTable.at(spec, folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.key()}-", dir=folder.parent))
    workers = workers or min(len(spec.seats), os.cpu_count() or 1)
    log.info(
        "rendering %d seats x %d frames at %dx%d, %d fps into %s (%d processes)",
        len(spec.seats),
        spec.frames,
        spec.width,
        spec.height,
        spec.fps,
        folder,
        workers,
    )
    started = time.perf_counter()
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            jobs = [pool.submit(_render_seat, spec, i, staging) for i in range(len(spec.seats))]
            for job in jobs:
                seat, frames, seconds = job.result()
                log.info("seat %s: %d frames in %.1f s (%.0f frames/s)", seat, frames, seconds, frames / seconds)
        write_spec(spec, staging)
        try:
            staging.rename(folder)
        except OSError:  # another process finished the same table first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("table rendered in %.1f s", time.perf_counter() - started)
    return RenderedTable.at(spec, folder)


def decode_file(path: Path) -> list[np.ndarray]:
    """All frames of a rendered .264 file as BGR arrays (for tests and scoring)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]

"""Score a run's game record (`game.jsonl`, `hands.jsonl`) against the test bed's true game.

Which moment of the rendered game a result shows is read from the frame markers in the pixels:
during the run, `mjray.sim.anchors.MarkerAnchors` reads one result's marker per seat per second into
`sim_frames.jsonl` (capture time -> frame index). A capture time then maps to the game's time
through the last anchor before it; a pair of anchors whose frames do not advance with their
capture times (a loop of the video, a reconnect) splits the run into segments, and only time
inside a segment is scored. Figures per seat and overall:

- the share of time the stable hand (the last one in `hands.jsonl` at that capture time) is
  exactly the true one, and its tiles right (true tiles in order, aligned, over the longer hand);
- draws and discards: precision, recall and F1, an event counting when its seat, kind and tile
  are right and it is within `EVENT_WINDOW_S` of a true one (each true one matched once);
- the time error of the matched events, p50 and p95.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from mjray.mahjong.gamelog import from_mjai
from mjray.sim.anchors import ANCHORS_FILE
from mjray.sim.game import TableGame
from mjray.sim.table import SPEC_FILE, write_spec

EVENT_WINDOW_S = 1.0
SAMPLE_EVERY_S = 0.1  # the hand is checked this often along each segment
MAX_SLIP_FRAMES = 2  # anchors that disagree by more with their capture times start a new segment


@dataclass(frozen=True)
class Segment:
    """Capture times [start, end) during which game time = frame / fps + (t - at) of its first anchor."""

    start: float
    end: float
    frame: int
    fps: float

    def game_time(self, t: float) -> float:
        return self.frame / self.fps + (t - self.start)


def segments(anchors: Sequence[tuple[float, int]], fps: float) -> list[Segment]:
    """Stretches of consecutive anchors (capture time, frame) whose frames advance with time."""
    out: list[Segment] = []
    anchors = sorted(anchors)
    i = 0
    while i < len(anchors) - 1:
        start_t, start_f = anchors[i]
        j = i
        while (
            j + 1 < len(anchors)
            and abs((anchors[j + 1][1] - start_f) - (anchors[j + 1][0] - start_t) * fps) <= MAX_SLIP_FRAMES
        ):
            j += 1
        if j > i:
            out.append(Segment(start_t, anchors[j][0], start_f, fps))
        i = max(j, i + 1)
    return out


@dataclass(frozen=True)
class TrueEvent:
    seat: str
    kind: str  # "draw" | "discard" | "deal"
    tile: str | None
    game_t: float


def true_events(game: TableGame, seat: str) -> list[TrueEvent]:
    """A seat's draws, discards and deals from the game's hand changes."""
    out = []
    times = game.changes(seat)
    for before_t, t in zip(times, times[1:]):
        before, after = game.hand(seat, before_t), game.hand(seat, t)
        if after.drawn and not before.drawn:
            out.append(TrueEvent(seat, "draw", after.drawn, t))
            continue
        gone = Counter(before.tiles) - Counter(after.tiles)
        if not before.drawn and not after.drawn and not gone:
            continue  # a tile left unsorted, sorted in: no event
        if before.drawn and not after.drawn and sum(gone.values()) == 1:
            out.append(TrueEvent(seat, "discard", next(iter(gone)), t))
        else:
            out.append(TrueEvent(seat, "deal", None, t))
    return out


@dataclass
class SeatScore:
    seconds: float = 0.0  # scored time
    exact_s: float = 0.0
    tiles_right: float = 0.0  # summed over samples
    samples: int = 0
    found: Counter = field(default_factory=Counter)  # kind -> events seen
    truth: Counter = field(default_factory=Counter)  # kind -> true events in scored time
    matched: Counter = field(default_factory=Counter)
    errors_s: list[float] = field(default_factory=list)

    def add(self, other: SeatScore) -> None:
        self.seconds += other.seconds
        self.exact_s += other.exact_s
        self.tiles_right += other.tiles_right
        self.samples += other.samples
        self.found.update(other.found)
        self.truth.update(other.truth)
        self.matched.update(other.matched)
        self.errors_s.extend(other.errors_s)

    def f1(self, kind: str) -> tuple[float, float, float]:
        precision = self.matched[kind] / self.found[kind] if self.found[kind] else 0.0
        recall = self.matched[kind] / self.truth[kind] if self.truth[kind] else 0.0
        return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)

    def figures(self) -> dict:
        errors = np.array(self.errors_s) if self.errors_s else np.zeros(1)
        out = {
            "scored_s": round(self.seconds, 1),
            "hand_exact": round(self.exact_s / self.seconds, 4) if self.seconds else 0.0,
            "tiles_right": round(self.tiles_right / self.samples, 4) if self.samples else 0.0,
            "event_error_p50_s": round(float(np.percentile(errors, 50)), 3),
            "event_error_p95_s": round(float(np.percentile(errors, 95)), 3),
        }
        for kind in ("draw", "discard"):
            p, r, f = self.f1(kind)
            out[kind] = {
                "seen": self.found[kind],
                "true": self.truth[kind],
                "matched": self.matched[kind],
                "precision": round(p, 3),
                "recall": round(r, 3),
                "f1": round(f, 3),
            }
        return out


def tiles_right(read: Sequence[str], true: Sequence[str]) -> float:
    """True tiles read in order (aligned, so a missed tile costs one), over the longer hand."""
    if not true and not read:
        return 1.0
    same = sum(
        block.size for block in SequenceMatcher(None, list(read), list(true), autojunk=False).get_matching_blocks()
    )
    return same / max(len(read), len(true))


def score_seat(
    seat: str,
    game: TableGame,
    loop_s: float,
    segs: list[Segment],
    hands: list[tuple[float, tuple[str, ...]]],
    events: list[tuple[str, str, float]],
) -> SeatScore:
    """`hands`: (capture time, tiles with the drawn one last) in time order; `events`: (kind, tile, capture time)."""
    score = SeatScore()
    hand_times = [t for t, _ in hands]
    occurrences: list[tuple[str, str, float]] = []  # (kind, tile, capture time) of true draws/discards
    truth = [e for e in true_events(game, seat) if e.kind != "deal"]
    for seg in segs:
        for t in np.arange(seg.start, seg.end, SAMPLE_EVERY_S):
            true = game.hand(seat, seg.game_time(t) % loop_s).tiles
            i = bisect.bisect_right(hand_times, t) - 1
            read = hands[i][1] if i >= 0 else ()
            score.samples += 1
            score.seconds += SAMPLE_EVERY_S
            score.exact_s += SAMPLE_EVERY_S * (tuple(read) == tuple(true))
            score.tiles_right += tiles_right(read, true)
        g0, g1 = seg.game_time(seg.start), seg.game_time(seg.end)
        for loop in range(int(g0 // loop_s), int(g1 // loop_s) + 1):
            for e in truth:
                g = loop * loop_s + e.game_t
                if g0 <= g < g1:
                    occurrences.append((e.kind, e.tile, seg.start + (g - g0)))
    for kind, _, _ in occurrences:
        score.truth[kind] += 1
    inside = [e for e in events if any(s.start - EVENT_WINDOW_S <= e[2] < s.end + EVENT_WINDOW_S for s in segs)]
    for kind, _, _ in inside:
        score.found[kind] += 1
    pairs = sorted(
        (abs(t - tt), i, j)
        for i, (kind, tile, t) in enumerate(inside)
        for j, (tkind, ttile, tt) in enumerate(occurrences)
        if kind == tkind and tile == ttile and abs(t - tt) <= EVENT_WINDOW_S
    )
    used_seen, used_true = set(), set()
    for error, i, j in pairs:
        if i in used_seen or j in used_true:
            continue
        used_seen.add(i)
        used_true.add(j)
        score.matched[inside[i][0]] += 1
        score.errors_s.append(error)
    return score


@dataclass
class GameScore:
    seats: dict[str, SeatScore]

    @property
    def overall(self) -> SeatScore:
        total = SeatScore()
        for s in self.seats.values():
            total.add(s)
        return total

    def to_dict(self) -> dict:
        return {"seats": {seat: s.figures() for seat, s in self.seats.items()}, "overall": self.overall.figures()}

    def text(self) -> str:
        rows = [
            ("seat", "scored s", "hand exact", "tiles right", "draw P/R/F1", "discard P/R/F1", "event err p50/p95 s")
        ]
        for name, s in [*self.seats.items(), ("overall", self.overall)]:
            f = s.figures()
            prf = lambda k, f=f: "{precision:.2f}/{recall:.2f}/{f1:.2f} ({matched}/{true})".format(**f[k])  # noqa: E731
            rows.append(
                (
                    name,
                    f"{f['scored_s']:.0f}",
                    f"{100 * f['hand_exact']:.1f} %",
                    f"{100 * f['tiles_right']:.1f} %",
                    prf("draw"),
                    prf("discard"),
                    f"{f['event_error_p50_s']:.2f}/{f['event_error_p95_s']:.2f}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def load_run(run_dir: Path) -> tuple[dict, dict, dict]:
    """(anchors, hands, events) per seat from a run folder; a missing file says what makes it."""
    for name, hint in (
        (ANCHORS_FILE, "sim.markers=true (on by default for the embedded table)"),
        ("hands.jsonl", "plugins.mahjong.game=true"),
        ("game.jsonl", "plugins.mahjong.game=true"),
    ):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} not found: a run writes it with {hint}")
    anchors: dict[str, list[tuple[float, int]]] = {}
    for row in _rows(run_dir / ANCHORS_FILE):
        anchors.setdefault(row["seat"], []).append((row["captured_at"], row["frame"]))
    hands: dict[str, list[tuple[float, tuple[str, ...]]]] = {}
    for row in _rows(run_dir / "hands.jsonl"):
        hands.setdefault(row["seat"], []).append(
            (row["at"], tuple(row["tiles"]) + ((row["drawn"],) if row["drawn"] else ()))
        )
    events: dict[str, list[tuple[str, str, float]]] = {}
    for row in _rows(run_dir / "game.jsonl"):
        if row["type"] in ("tsumo", "dahai"):
            kind = "draw" if row["type"] == "tsumo" else "discard"
            events.setdefault(row["seat"], []).append((kind, from_mjai(row["pai"]), row["t"]))
    return anchors, hands, events


def score_run(run_dir: Path, game: TableGame, loop_s: float, fps: float, seats: Sequence[str]) -> GameScore:
    anchors, hands, events = load_run(run_dir)
    return GameScore(
        {
            seat: score_seat(
                seat,
                game,
                loop_s,
                segments(anchors.get(seat, []), fps),
                sorted(hands.get(seat, [])),
                events.get(seat, []),
            )
            for seat in seats
        }
    )


def _rows(path: Path):
    with open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def reread(run_dir: Path, out_dir: Path, **reader_options) -> None:
    """`game.jsonl` and `hands.jsonl` into `out_dir`, read anew from the run's `detections.jsonl` with
    today's hand reader: to see what a change to the reader does to a run already made."""
    from mjray.mahjong.gamelog import GameRecord

    rows = list(_rows(run_dir / "detections.jsonl"))
    seats = list(dict.fromkeys(row["seat"] for row in rows))
    record = GameRecord(seats, **reader_options)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "game.jsonl", "w") as game, open(out_dir / "hands.jsonl", "w") as hands:
        write = lambda lines: game.writelines(json.dumps(line) + "\n" for line in lines)  # noqa: E731
        write(record.begin())
        for row in rows:
            if row.get("captured_at") is None:
                continue
            if "boxes" in row:
                lines, hand = record.result(
                    row["seat"], row["captured_at"], row["boxes"], row["classes"], row["scores"]
                )
            else:
                lines, hand = record.gap(row["seat"], row["captured_at"])
            write(lines)
            if hand is not None:
                hands.write(json.dumps(hand) + "\n")
        write(record.end())
    for name in (ANCHORS_FILE, SPEC_FILE):
        if (run_dir / name).exists() and run_dir != out_dir:
            (out_dir / name).write_bytes((run_dir / name).read_bytes())


def detect_table(
    table,
    out_dir: Path,
    every: int = 4,
    start_at: float = 1_000_000.0,
    detector=None,
    faces: bool = True,
    progress=None,
    faces_file: str | None = None,
    faces_memory: bool = True,
) -> None:
    """A run folder without a run: the tile model on every `every`-th frame of each seat's video,
    as `detections.jsonl` in a run's lines (capture time = `start_at` + frame / fps, emitted then),
    with `sim_frames.jsonl` and `table.json`, for `score-game --reread`: the reader and the model,
    without the pipeline's timing."""
    import time

    from mjray.camera.pixels import Sending
    from mjray.detect.model import load_model
    from mjray.frames import Frame, Result
    from mjray.mahjong.plugin import plugged
    from mjray.output.sinks import item_record
    from mjray.sim.score import decoded

    detector = detector or load_model(plugins=plugged(faces=faces, faces_file=faces_file, faces_memory=faces_memory))
    names = detector.names
    sending = Sending(grey=detector.grayscale)  # the pictures a camera sends this model
    fps = table.spec.fps
    out_dir.mkdir(parents=True, exist_ok=True)
    write_spec(table.spec, out_dir)
    rows = []
    with open(out_dir / ANCHORS_FILE, "w") as anchors:
        for seat in table.spec.seats:
            indices = list(range(0, table.spec.frames, every))
            for n, (i, image) in enumerate(decoded(table, seat, indices, sending)):
                t = start_at + i / fps
                started = time.perf_counter()
                detections = detector(image)
                infer_ms = (time.perf_counter() - started) * 1000
                frame = Frame(seat, i, t, "arrival", i, t, table.spec.width, table.spec.height)
                rows.append(item_record(Result(frame, detections, infer_ms, "detect-table", t), names, t))
                if i % fps < every:
                    anchors.write(json.dumps({"seat": seat, "seq": i, "captured_at": round(t, 6), "frame": i}) + "\n")
                if progress and n % 100 == 0:
                    progress(f"{seat}: {n}/{len(indices)} frames")
    rows.sort(key=lambda r: (r["captured_at"], r["seat"]))
    with open(out_dir / "detections.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)

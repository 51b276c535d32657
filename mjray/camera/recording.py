"""Record a camera's stream as received and read it back.

A recording is a folder (`<run dir>/recording`):

    manifest.json            seats in order, format version, when it started
    config.yaml              the run's settings (credentials left out)
    <seat>/000.mkv           the H.264 packets of one connection, remuxed, never re-encoded
    <seat>/000.packets.jsonl one line per packet, in the file's order: {"pts", "captured_at", "clock"}
                             (the first line also names the stream's "time_base", e.g. "1/90000")
    <seat>/001.mkv ...       the next connection after a reconnect (numbered on: 999, 1000, ...)

A segment per connection, because a reconnect may change the stream's parameters and restarts
its timestamps. Capture times live beside the video (Matroska keeps no wall clock per packet);
line i belongs to packet i of the segment, which is how a reader pairs them whatever timestamp
rescaling the container did. Both files are written as packets arrive and reach the disk about
once a second (Matroska clusters of at most a second, each written out when full), so a run that
is killed leaves a readable recording up to about that second.

`SegmentWriter` and `Recording` are plain classes: no Ray, no threads.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
FLUSH_EVERY_S = 1.0


class RecordingError(ValueError):
    """A folder that is not a readable recording; the message says which file and why."""


class SegmentWriter:
    """One connection's packets into `<folder>/<nnn>.mkv`, their capture times beside them."""

    def __init__(self, folder: Path, index: int, template: object, flush_every_s: float = FLUSH_EVERY_S) -> None:
        import av

        folder.mkdir(parents=True, exist_ok=True)
        self.video_path = folder / f"{index:03d}.mkv"
        self.times_path = folder / f"{index:03d}.packets.jsonl"
        self.flush_every_s = flush_every_s
        # clusters of at most a second, each written out when closed: what a kill leaves is readable
        self._container = av.open(
            str(self.video_path),
            "w",
            format="matroska",
            options={"cluster_time_limit": str(int(flush_every_s * 1000)), "flush_packets": "1"},
        )
        try:
            self._stream = self._container.add_stream_from_template(template)
            self._times = open(self.times_path, "w", buffering=1 << 16)
        except Exception:
            self._container.close()
            raise
        self._flushed = time.monotonic()
        self.packets = 0

    def write(self, packet: object, captured_at: float, clock: str) -> None:
        """Remux one demuxed packet (its pts/dts in the input stream's time base)."""
        if packet.dts is None and packet.pts is None:  # type: ignore[attr-defined]
            return  # the demuxer's flush packet: no data
        line = {"pts": packet.pts, "captured_at": round(captured_at, 6), "clock": clock}  # type: ignore[attr-defined]
        if not self.packets:  # the stream's clock, so a replay counts missing frames as live did
            line["time_base"] = str(packet.time_base)  # type: ignore[attr-defined]
        packet.stream = self._stream  # type: ignore[attr-defined]
        self._container.mux(packet)
        self._times.write(json.dumps(line) + "\n")
        self.packets += 1
        if time.monotonic() - self._flushed >= self.flush_every_s:
            self._times.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        try:
            self._container.close()
        finally:
            self._times.close()


class SeatRecorder:
    """A seat's recording: a new segment for each connection the source opens, numbered on from
    the segments already there (a camera restarted after a crash appends, never overwrites)."""

    def __init__(self, folder: Path, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.folder, self.flush_every_s = folder, flush_every_s
        self.segment: SegmentWriter | None = None
        numbers = [int(path.stem) for path in folder.glob("*.mkv") if path.stem.isdigit()] if folder.is_dir() else []
        self.segments = max(numbers, default=-1) + 1

    def open(self, template: object) -> SegmentWriter:
        self.close()
        self.segment = SegmentWriter(self.folder, self.segments, template, self.flush_every_s)
        self.segments += 1
        return self.segment

    def close(self) -> None:
        if self.segment is not None:
            segment, self.segment = self.segment, None
            if segment.packets == 0:  # a connection that brought nothing leaves no files
                segment.close()
                segment.video_path.unlink(missing_ok=True)
                segment.times_path.unlink(missing_ok=True)
                self.segments -= 1
            else:
                segment.close()


def start_recording(folder: Path, seats: list[str], config_yaml: str) -> Path:
    """Make the recording folder with its manifest and config; refuses to overwrite one."""
    if (folder / "manifest.json").exists():
        raise RecordingError(f"{folder} already holds a recording; give the run its own output folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(config_yaml)
    (folder / "manifest.json").write_text(
        json.dumps({"format": FORMAT_VERSION, "seats": list(seats), "started_at": time.time()}, indent=1)
    )
    return folder


@dataclass(frozen=True)
class Segment:
    video: Path
    times: Path

    def packet_times(self) -> list[dict]:
        """Every packet's line; a last line cut short by a kill is left out."""
        lines = []
        for line in self.times.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return lines


class Recording:
    """A recording folder, read back: its seats and, per seat, its segments in order."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        folder = path / "recording" if (path / "recording" / "manifest.json").exists() else path
        manifest = folder / "manifest.json"
        if not manifest.exists():
            raise RecordingError(
                f"no recording in {path}: expected {path}/recording/manifest.json (a run made with record=true)"
            )
        try:
            meta = json.loads(manifest.read_text())
        except json.JSONDecodeError as error:
            raise RecordingError(f"{manifest} is not valid JSON: {error}") from None
        if meta.get("format") != FORMAT_VERSION:
            raise RecordingError(f"{manifest}: format {meta.get('format')!r}, this mjray reads {FORMAT_VERSION}")
        self.folder, self.seats = folder, list(meta["seats"])
        self.segments: dict[str, list[Segment]] = {}
        for seat in self.seats:
            videos = sorted((v for v in (folder / seat).glob("*.mkv") if v.stem.isdigit()), key=lambda v: int(v.stem))
            self.segments[seat] = [
                Segment(v, v.with_name(v.stem + ".packets.jsonl"))
                for v in videos
                if v.with_name(v.stem + ".packets.jsonl").exists()
            ]
        empty = [seat for seat in self.seats if not self.segments[seat]]
        if len(empty) == len(self.seats):
            raise RecordingError(f"{folder} holds no recorded video (no <seat>/000.mkv with its .packets.jsonl)")

    def first_capture(self) -> float:
        """The earliest capture time of any seat: replay's time zero."""
        firsts = []
        for segments in self.segments.values():
            if segments:
                times = segments[0].packet_times()
                if times:
                    firsts.append(times[0]["captured_at"])
        if not firsts:
            raise RecordingError(f"{self.folder}: no packet times recorded")
        return min(firsts)

"""Where a camera's frames come from: a live RTSP stream, or a recording of one played back.

A source is an iterator of `Decoded` pictures, each with its capture time; the camera actor
numbers them and applies the frame policy, and knows nothing else about where they came from.
Sources are plain, picklable objects: nothing is opened until `frames()` runs, in the actor.

- `RtspSource`: PyAV over TCP with timeouts; a stream that ends, errs or stalls is reopened with
  backoff, forever, until `stop` is set. Capture times come from the camera's RTCP clock when it
  sends one, else arrival. With a `SeatRecorder` every packet is also written as received.
- `ReplaySource`: a seat of a `Recording`, decoded from its files and released at the recorded
  pace (or as fast as it is consumed); it ends at the recording's end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from mjray.camera.decoding import DecodeUnavailable, decoder_in_use, hwaccel
from mjray.camera.recording import Recording, SeatRecorder
from mjray.camera.timeline import MissingFrames, Timeline
from mjray.config import redact_text
from mjray.frames import CameraStatus, Clock, Decode, Decoded

log = logging.getLogger(__name__)

RTSP_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32", "fflags": "nobuffer"}
MAX_CLOCK_SKEW_S = 10.0  # a camera clock further than this from ours is not trusted


def describe(error: BaseException) -> str:
    """A camera's error in words a user can act on; credentials never included."""
    import av

    kinds = [
        (av.error.HTTPUnauthorizedError, "401 unauthorized: wrong user name or password"),
        (av.error.HTTPForbiddenError, "403 forbidden: this user may not watch the stream"),
        (av.error.HTTPNotFoundError, "404 not found: no such stream path on the camera"),
        (ConnectionRefusedError, "connection refused: nothing listens at that host and port"),
        ((ConnectionResetError, BrokenPipeError), "connection reset: the camera dropped the connection"),
        ((TimeoutError, av.error.ExitError), "timed out: no answer from the camera"),
        (av.error.EOFError, "stream ended"),
    ]
    for kind, words in kinds:
        if isinstance(error, kind):
            return words
    return redact_text(f"{type(error).__name__}: {error}")


@dataclass
class SourceState:
    """What a source tells the camera's status line and summary."""

    status: CameraStatus = CameraStatus.STARTING
    reconnects: int = 0
    last_error: str = ""
    decoder: str = ""  # which decoder the stream got, in words (`mjray.camera.decoding`)

    def decoding(self, shown: str, picture: Any, stream: Any, asked: str, choice: Decode) -> None:
        """Note the decoder an opened stream's first picture came from; said when it is new or changed."""
        got = decoder_in_use(picture, stream, asked, choice)
        if got != self.decoder:
            log.info("camera %s: decoding: %s", shown, got)
        self.decoder = got


class Source(Protocol):
    shown: str  # what logs and status may show (no credentials)
    can_wait: bool  # may it be held back (a file) rather than give frames up (a live camera)
    ends: bool  # does it end by itself (a recording) or go on until stopped (a camera)

    def frames(self, stop: threading.Event, state: SourceState, start_at: float) -> Iterator[Decoded | MissingFrames]:
        """Decoded pictures in order until `stop` is set or the source ends (`state.status` says which),
        and before a picture the frames the camera sent that never came (`MissingFrames`).
        `start_at`: wall time the first frame is due (a replay's time zero; live sources ignore it)."""
        ...

    def unreceived(self, now: float) -> MissingFrames | None:
        """At the end, for a camera down: the frames due since its last one."""
        ...


@dataclass
class CaptureClock:
    """Capture wall time of a frame from the stream's RTCP-derived clock, else its arrival."""

    max_skew_s: float = MAX_CLOCK_SKEW_S
    distrusted: bool = False

    def stamp(self, pts_s: float | None, start_time_realtime_us: int | None, arrival: float) -> tuple[float, Clock]:
        if pts_s is None or not start_time_realtime_us or self.distrusted:
            return arrival, "arrival"
        captured = start_time_realtime_us / 1e6 + pts_s
        if abs(captured - arrival) > self.max_skew_s:
            self.distrusted = True  # camera clock wrong (no NTP?): use ours from now on
            return arrival, "arrival"
        return captured, "rtcp"


@dataclass(frozen=True)
class ReplayClock:
    """A replay's time: the recording's capture times mapped onto the wall clock from `start_at`,
    at `speed` (None: as fast as frames are taken, times kept at the recorded pace), and back.
    One clock for every seat, so seats stay as aligned as they were recorded."""

    start_at: float  # wall time the recording's first capture is replayed at
    first_capture: float  # the recording's time zero (`Recording.first_capture`)
    speed: float | None = 1.0

    def live(self, recorded: float) -> float:
        return self.start_at + (recorded - self.first_capture) / (self.speed or 1.0)

    def recorded(self, live: float) -> float:
        return self.first_capture + (live - self.start_at) * (self.speed or 1.0)


@dataclass
class RtspSource:
    url: str  # the URL to open, credentials filled in: never logged
    shown: str  # the same URL redacted
    open_timeout_s: float = 5.0
    reconnect_max_s: float = 5.0
    record_to: str | None = None  # a seat folder of a recording: every packet is written there as received
    decode: Decode = Decode.auto  # on the GPU's video decoder or in software (`mjray.camera.decoding`)
    clock: CaptureClock = field(default_factory=CaptureClock)
    timeline: Timeline = field(default_factory=Timeline)
    can_wait = False  # a camera sends on: what is not read in time is lost upstream
    ends = False  # reconnects until stopped

    def unreceived(self, now: float) -> MissingFrames | None:
        return self.timeline.until(now)

    def frames(
        self, stop: threading.Event, state: SourceState, start_at: float = 0.0
    ) -> Iterator[Decoded | MissingFrames]:
        import av

        accel, asked = hwaccel(self.decode)  # stream.decode=cuda with no GPU decoder: the seat ends, saying why
        recorder = SeatRecorder(Path(self.record_to)) if self.record_to else None
        backoff = 0.25

        def record(write, *args):
            """A recorder that fails (disk full) stops recording this seat, never the camera."""
            nonlocal recorder
            try:
                return write(*args)
            except Exception as error:
                log.error("camera %s: recording stopped: %s: %s", self.shown, type(error).__name__, error)
                state.last_error = f"recording stopped: {type(error).__name__}"
                failed, recorder = recorder, None
                try:
                    failed.close()
                except Exception:
                    pass
                return None

        try:
            while not stop.is_set():
                try:
                    options = {**RTSP_OPTIONS, "timeout": str(int(self.open_timeout_s * 1e6))}
                    with av.open(
                        self.url, options=options, timeout=(self.open_timeout_s, self.open_timeout_s), hwaccel=accel
                    ) as container:
                        stream = container.streams.video[0]
                        stream.thread_type = "SLICE"  # frame threading would hold back a frame per thread
                        first = True  # picture of this opening: it says which decoder the stream got
                        segment = record(recorder.open, stream) if recorder else None
                        if state.reconnects:
                            self.timeline.reconnected()
                        state.status = CameraStatus.STREAMING
                        log.info("camera %s: streaming", self.shown)
                        broken = None
                        try:
                            for packet in container.demux(stream):
                                arrival = time.time()
                                pictures = packet.decode()  # before the recorder takes the packet into its file
                                if segment is not None and recorder is not None and packet.pts is not None:
                                    captured, clock = self._stamp(
                                        _seconds(packet.pts, stream.time_base), container, arrival
                                    )
                                    record(segment.write, packet, captured, clock)
                                for picture in pictures:
                                    if first:
                                        state.decoding(self.shown, picture, stream, asked, self.decode)
                                        first = False
                                    yield from self._decoded(picture, stream, container, arrival)
                                    backoff = 0.25
                                if stop.is_set():
                                    break
                        except av.error.FFmpegError as error:
                            broken = error
                        if not stop.is_set():  # what the decoder still holds, as a replay of this segment gives it
                            for picture in _flush(stream):
                                yield from self._decoded(picture, stream, container, time.time())
                        if broken is not None:
                            raise broken
                    if not stop.is_set():
                        state.last_error = "stream ended"
                except DecodeUnavailable:  # stream.decode=cuda and NVDEC did not take the stream: no retry helps
                    raise
                except Exception as error:  # av errors, timeouts, refused connections: all reconnect
                    state.last_error = describe(error)
                finally:
                    if recorder:
                        record(recorder.close)
                if stop.is_set():
                    break
                state.status = CameraStatus.RECONNECTING
                state.reconnects += 1
                log.warning("camera %s: %s; reconnecting in %.1f s", self.shown, state.last_error, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.reconnect_max_s)
        finally:
            if recorder:
                record(recorder.close)

    def _decoded(self, picture, stream, container, arrival: float) -> Iterator[Decoded | MissingFrames]:
        """A decoded picture, stamped, after the frames missing just before it."""
        pts_s = _seconds(picture.pts, stream.time_base)
        captured, clock = self._stamp(pts_s, container, arrival)
        missing = self.timeline.frame(pts_s, captured)
        if missing is not None:
            yield missing
        yield Decoded(picture, captured, clock, picture.pts, time.time())

    def _stamp(self, pts_s: float | None, container, arrival: float) -> tuple[float, Clock]:
        return self.clock.stamp(pts_s, container.start_time_realtime, arrival)


def _seconds(pts: int | None, time_base) -> float | None:
    return float(pts * time_base) if pts is not None and time_base is not None else None


def _recorded_pictures(container, stream, times: list[dict], by_pts: dict, shown: str):
    """A recorded file's pictures, each packet's recorded time noted by its pts as it is demuxed."""
    import av

    index = 0
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and index < len(times):
                line = times[index]
                by_pts[packet.pts] = (line["captured_at"], line["clock"], line["pts"])
                index += 1
            yield from packet.decode()
    except av.error.FFmpegError as error:  # a file cut short by a kill: its end is lost
        log.warning("%s ends early: %s", shown, error)
        yield from _flush(stream)


def _flush(stream) -> list:
    """The pictures a decoder still holds at the end of its input (none without B-frames)."""
    try:
        return stream.codec_context.decode(None)
    except Exception:  # a decoder that cannot flush after an error holds nothing usable
        return []


@dataclass
class ReplaySource:
    """One seat of a recording. Frames are released and stamped on the replay's clock
    (`ReplayClock`: the same for every seat), so the pipeline runs as it would live; outputs map
    the times back to the recorded ones."""

    recording: str  # the recording folder
    seat: str
    speed: float | None = 1.0  # 1: the recorded pace; 2: twice as fast; None: as fast as frames are taken
    first_capture: float = 0.0  # the recording's time zero (`Recording.first_capture`)
    decode: Decode = Decode.auto
    ends = True  # at the recording's end

    @property
    def shown(self) -> str:
        return f"replay of {self.seat} from {self.recording}"

    @property
    def can_wait(self) -> bool:
        return self.speed is None  # at full speed nothing is due: it waits for the detectors

    def unreceived(self, now: float) -> MissingFrames | None:
        return None  # a recording ends with its last frame

    def frames(self, stop: threading.Event, state: SourceState, start_at: float) -> Iterator[Decoded | MissingFrames]:
        import av

        accel, asked = hwaccel(self.decode)
        recording = Recording(self.recording)
        clock_ = ReplayClock(start_at, self.first_capture, self.speed)
        timeline = Timeline()  # fed as live fed it: the same frames missing, so the same seqs
        state.status = CameraStatus.STREAMING
        for number, segment in enumerate(recording.segments.get(self.seat, [])):
            times = segment.packet_times()
            time_base = Fraction(times[0]["time_base"]) if times and "time_base" in times[0] else None
            if number:
                timeline.reconnected()
            by_pts: dict[int | None, tuple[float, Clock, int]] = {}  # file pts -> recorded time, clock, stream pts
            with av.open(str(segment.video), hwaccel=accel) as container:
                stream = container.streams.video[0]
                stream.thread_type = "SLICE"  # as live: the same decoder settings give the same pixels
                first = True
                for picture in _recorded_pictures(
                    container, stream, times, by_pts, f"{self.shown}: {segment.video.name}"
                ):
                    if first:
                        state.decoding(self.shown, picture, stream, asked, self.decode)
                        first = False
                    known = by_pts.pop(picture.pts, None)
                    if known is None:  # a frame whose packet line was cut off by a kill: past the end
                        continue
                    captured, clock, pts = known
                    missing = timeline.frame(_seconds(pts, time_base), captured)
                    live = clock_.live(captured)
                    if stop.wait(max(0.0, live - time.time()) if self.speed is not None else 0.0):
                        return
                    if missing is not None:
                        yield MissingFrames(
                            missing.reason,
                            missing.count,
                            clock_.live(missing.first_captured_at),
                            missing.interval_s / (self.speed or 1.0),
                        )
                    yield Decoded(picture, live, clock, pts, time.time())
        state.status = CameraStatus.ENDED
        state.last_error = "recording ended"

"""A plain PyAV RTSP reader for tests: no mjray pipeline code, so it checks the server on its own."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import av

from mjray.sim import marker

OPTIONS = {"rtsp_transport": "tcp", "timeout": "3000000", "analyzeduration": "0", "probesize": "32"}


@dataclass
class Received:
    pts: list[int | None] = field(default_factory=list)
    markers: list[marker.Reading] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    images: dict[int, object] = field(default_factory=dict)  # marker index -> BGR frame, when kept
    start_time_realtime: int | None = None


def read(url: str, frames: int | None = None, seconds: float | None = None, keep: set[int] | None = None) -> Received:
    """Read until `frames` frames or `seconds` of wall time, whichever comes first."""
    got = Received()
    started = time.monotonic()
    with av.open(url, options=OPTIONS) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            image = frame.to_ndarray(format="bgr24")
            reading = marker.read(image)
            got.pts.append(frame.pts)
            got.markers.append(reading)
            got.arrived.append(time.time())
            if keep is not None and reading.marker is not None and reading.marker.index in keep:
                got.images[reading.marker.index] = image
            if frames is not None and len(got.pts) >= frames:
                break
            if seconds is not None and time.monotonic() - started >= seconds:
                break
        got.start_time_realtime = container.start_time_realtime
    return got

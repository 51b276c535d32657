"""Start, stop, kill, freeze and restart the RTSP test server from Python (tests, CLI, demo).

The server is `gst_rtsp_server.py` run by the system Python that has GStreamer's bindings
(`MJRAY_GST_PYTHON`, default `/usr/bin/python3`). `RtspServer` owns that process: `start()`
returns once it listens, `kill()` drops every camera at once as a crashed camera would,
`freeze()`/`thaw()` make it hang without closing sockets (a stalled camera), `restart()` brings
it back on the same port so clients can reconnect to the same URLs; `auth` makes it ask for a
user name and password, as IP cameras do.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
SETUP_HINT = "run `bash scripts/setup.sh` (it installs GStreamer's RTSP server from Debian packages)"


def gst_python() -> str:
    """The interpreter with GStreamer's RTSP bindings, checked so a missing one fails clearly."""
    python = os.environ.get("MJRAY_GST_PYTHON", "/usr/bin/python3")
    if shutil.which(python) is None:
        raise RuntimeError(f"no Python at {python} for the RTSP test server; {SETUP_HINT}")
    probe = subprocess.run(
        [
            python,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"{python} cannot load GStreamer's RTSP server ({last}); {SETUP_HINT}")
    return python


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _drain(stream: IO[str]) -> None:
    """Keep reading the server's output so a full pipe never blocks it."""
    for line in stream:
        log.debug("rtsp server: %s", line.rstrip())


class RtspServer:
    """One RTSP server process serving a path per camera."""

    def __init__(
        self,
        videos: dict[str, Path],
        fps: int,
        host: str = "127.0.0.1",
        port: int = 0,
        patterns: tuple[str, ...] = (),
        pattern_size: str = "640x360",
        auth: tuple[str, str] | None = None,
    ) -> None:
        """`auth`: (user, password) every client must give (RTSP basic auth), as IP cameras ask."""
        self.videos, self.fps, self.host = dict(videos), fps, host
        self.auth = auth
        self.port = port or free_port(host)
        self.patterns, self.pattern_size = tuple(patterns), pattern_size
        self._process: subprocess.Popen[str] | None = None

    def url(self, path: str) -> str:
        return f"rtsp://{self.host}:{self.port}/{path}"

    @property
    def urls(self) -> dict[str, str]:
        return {path: self.url(path) for path in (*self.videos, *self.patterns)}

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = 20.0) -> RtspServer:
        if self.running:
            return self
        for path, video in self.videos.items():
            if not Path(video).is_file():
                raise FileNotFoundError(f"video for path {path!r} not found: {video}")
        cmd = [gst_python(), str(SCRIPT), "--host", self.host, "--port", str(self.port), "--fps", str(self.fps)]
        cmd += [arg for path, video in self.videos.items() for arg in ("--mount", f"{path}={video}")]
        cmd += [arg for path in self.patterns for arg in ("--pattern", path)] + ["--size", self.pattern_size]
        # not in argv: `ps` shows argv
        env = {**os.environ, **({"MJRAY_RTSP_AUTH": ":".join(self.auth)} if self.auth else {})}
        self._process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + timeout_s
        assert self._process.stdout is not None
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if line.startswith("READY"):
                log.info("RTSP server on %s:%d (pid %d)", self.host, self.port, self._process.pid)
                threading.Thread(target=_drain, args=(self._process.stdout,), daemon=True).start()
                return self
            if not line and self._process.poll() is not None:
                break
            if line:
                log.debug("rtsp server: %s", line.rstrip())
        self.stop()
        raise RuntimeError(
            f"RTSP test server did not start on {self.host}:{self.port} within {timeout_s:.0f} s: {line.strip()}"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop gracefully (clients see the stream end)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self.thaw()
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Die at once, like a camera losing power: sockets close, no goodbye."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def freeze(self) -> None:
        """Hang with sockets open, like a stalled camera: clients get no data and no close."""
        if self.running:
            os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.running:
            os.kill(self._process.pid, signal.SIGCONT)

    def restart(self) -> RtspServer:
        self.stop()
        return self.start()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        if sys is not None and self._process is not None and self._process.poll() is None:
            self._process.kill()

"""Shared fixtures: rendered tables (cached across runs) and RTSP servers started per test."""

from __future__ import annotations

import logging
import os
import sys
import threading

import pytest

from mjray.sim.server import RtspServer
from mjray.sim.table import RenderedTable, TableSpec, render_table

logging.basicConfig(level=logging.INFO)
EXIT_STATUS = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def table_360() -> RenderedTable:
    """4 seats, 640x360, 15 fps, a 60 s loop (about 15 s to render once, then cached)."""
    return render_table(TableSpec(width=640, height=360))


@pytest.fixture(scope="session")
def table_sparse() -> RenderedTable:
    """4 seats, 640x360, 2 frames a second with a keyframe every other frame: served at 1 fps, a
    load a slow 2-core box infers every frame of (a few seconds to render once, then cached)."""
    return render_table(TableSpec(width=640, height=360, fps=2))


@pytest.fixture(scope="session")
def table_720() -> RenderedTable:
    """The default table: 4 seats, 1280x720, 15 fps, a 60 s loop (about 50 s to render once)."""
    return render_table(TableSpec())


@pytest.fixture
def serve():
    """serve(table) -> a started RtspServer on 127.0.0.1 for that table, stopped after the test."""
    servers: list[RtspServer] = []

    def start(table: RenderedTable, fps: int | None = None, **kwargs) -> RtspServer:
        """`fps`: serve the table's frames at this rate instead (slower or faster than recorded)."""
        server = RtspServer(table.videos, fps=fps or table.spec.fps, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without the interpreter's teardown, keeping pytest's exit status.

    Once in four full runs (2026-11-24) the process segfaulted after every test had passed and the
    summary was printed: native libraries loaded into this process (Ray's core worker, ONNX Runtime,
    torch, PyAV) tearing down in the wrong order. Their teardown tests nothing of mjray.
    """
    status = config.stash.get(EXIT_STATUS, None)
    if status is None:
        return
    alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if alive:
        print(f"\nthreads still alive at exit: {alive}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

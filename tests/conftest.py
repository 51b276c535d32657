"""Shared fixtures: rendered tables (cached across runs) and RTSP servers started per test."""

from __future__ import annotations

import logging

import pytest

from mjray.sim.server import RtspServer
from mjray.sim.table import RenderedTable, TableSpec, render_table

logging.basicConfig(level=logging.INFO)


@pytest.fixture(scope="session")
def table_360() -> RenderedTable:
    """4 seats, 640x360, 15 fps, a 60 s loop (about 15 s to render once, then cached)."""
    return render_table(TableSpec(width=640, height=360))


@pytest.fixture(scope="session")
def table_720() -> RenderedTable:
    """The default table: 4 seats, 1280x720, 15 fps, a 60 s loop (about 50 s to render once)."""
    return render_table(TableSpec())


@pytest.fixture
def serve():
    """serve(table) -> a started RtspServer on 127.0.0.1 for that table, stopped after the test."""
    servers: list[RtspServer] = []

    def start(table: RenderedTable, **kwargs) -> RtspServer:
        server = RtspServer(table.videos, fps=table.spec.fps, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()

"""A live web view of the run: the grid of seats as MJPEG (a picture when a seat's changes, at most
at the display rate), and each seat's state.

`WebSink` is a grid sink of the driver: it draws and JPEG-encodes a picture only while somebody
watches, so a closed page costs nothing but its status counters. `WebServer` serves it with
aiohttp (shipped with `ray[default]`) on its own thread and event loop: `/` the page,
`/stream.mjpg` the grid, `/status.json` the seats. Bound to 127.0.0.1 by default; any other
address needs a token from the environment, and a request without it is refused with 401.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from mjray.frames import CameraReport, CameraStatus, Gap, Item, Result
from mjray.order.sync import Moment
from mjray.output.sinks import GridSink, SinkContext

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WATCHED_S = 5.0  # a picture is drawn and encoded while a stream is open or a frame was asked for this recently
JPEG_QUALITY = 75

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mjray</title>
<style>
body { font-family: sans-serif; background: #111; color: #ddd; margin: 1em; }
img { max-width: 100%; border: 1px solid #333; }
table { border-collapse: collapse; margin-top: 1em; }
td, th { padding: 0.3em 0.8em; border-bottom: 1px solid #333; text-align: left; }
.down { color: #f66; } .up { color: #6f6; }
</style></head>
<body>
<h1>mjray</h1>
<img id="grid" src="stream.mjpg" alt="the seats">
<table id="seats"><thead><tr><th>seat</th><th>camera</th><th>fps in</th><th>fps out</th><th>p50 ms</th>
<th>p99 ms</th><th>gaps</th><th>last error</th><th>seen</th><th>caption</th></tr></thead><tbody></tbody></table>
<script>
async function refresh() {
  try {
    const r = await fetch("status.json", {cache: "no-store"});
    const s = await r.json();
    const rows = s.seats.map(x => `<tr id="seat-${x.seat}"><td>${x.seat}</td>` +
      `<td class="${x.status === 'streaming' ? 'up' : 'down'}">${x.status}</td>` +
      `<td>${x.fps_in.toFixed(1)}</td><td>${x.fps_out.toFixed(1)}</td>` +
      `<td>${x.p50_ms ?? "-"}</td><td>${x.p99_ms ?? "-"}</td>` +
      `<td>${Object.entries(x.gaps).map(([k, v]) => k + " " + v).join(", ") || "none"}</td>` +
      `<td>${x.last_error || ""}</td><td>${x.classes.join(" ")}</td><td>${x.caption || ""}</td></tr>`);
    document.querySelector("#seats tbody").innerHTML = rows.join("");
  } catch (e) {}
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""


class SeatView:
    """What the page says of one seat, from its ordered items and the driver's status."""

    def __init__(self, seat: str, window_s: float = 5.0) -> None:
        self.seat, self.window_s = seat, window_s
        self.results: collections.deque[tuple[float, float]] = collections.deque()  # (emitted at, latency s)
        self.gaps: dict[str, int] = {}
        self.classes: list[str] = []  # the latest result's, left to right, by name
        self.camera = CameraReport(seat)  # the driver's latest, once a status period

    def add(self, item: Item, emitted_at: float, names: dict[int, str]) -> None:
        if isinstance(item, Gap):
            self.gaps[item.reason.value] = self.gaps.get(item.reason.value, 0) + 1
        elif isinstance(item, Result):
            self.results.append((emitted_at, emitted_at - item.frame.captured_at))
            self.classes = [names.get(int(c), str(c)) for c in item.detections.left_to_right().class_id]
        while self.results and self.results[0][0] < emitted_at - self.window_s:
            self.results.popleft()

    def to_dict(self, now: float) -> dict:
        latencies = [lat * 1000 for at, lat in self.results if at >= now - self.window_s]
        return {
            "seat": self.seat,
            "status": self.camera.status,
            "last_error": self.camera.last_error,  # decoded fps: its recent frames', 0 while down
            "fps_in": float(self.camera.fps) if self.camera.status == CameraStatus.STREAMING else 0.0,
            "fps_out": len(latencies) / self.window_s,
            "p50_ms": round(float(np.percentile(latencies, 50))) if latencies else None,
            "p99_ms": round(float(np.percentile(latencies, 99))) if latencies else None,
            "gaps": dict(self.gaps),
            "classes": self.classes,
        }


class WebServer:
    """aiohttp on its own thread. `publish(jpeg)` hands it the newest picture; `watched()` says
    whether anybody looks; `status` is a callable giving the page's JSON."""

    def __init__(self, host: str, port: int, token: str | None, status) -> None:
        if host not in LOOPBACK and not token:
            raise ValueError(f"serving on {host} needs a token")
        self.host, self.port, self.token, self.status = host, port, token, status
        self._jpeg: bytes | None = None
        self._version = 0
        self._streams = 0
        self._asked_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new: asyncio.Condition | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> WebServer:
        self._thread.start()
        self._ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    def watched(self) -> bool:
        return self._streams > 0 or time.monotonic() - self._asked_at < WATCHED_S

    def publish(self, jpeg: bytes) -> None:
        if self._loop is None:
            return
        self._jpeg = jpeg
        self._loop.call_soon_threadsafe(self._notify)

    def _notify(self) -> None:
        self._version += 1
        asyncio.ensure_future(self._wake())

    async def _wake(self) -> None:
        async with self._new:  # type: ignore[union-attr]
            self._new.notify_all()  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # the server ---------------------------------------------------------------------------
    def _allowed(self, request) -> bool:
        if not self.token:
            return True
        given = (
            request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            or request.query.get("token", "")
            or request.cookies.get("mjray_token", "")
        )
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _app(self):
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            if not self._allowed(request):
                return web.Response(status=401, text="401: this mjray view needs its token (?token=... once)")
            response = await handler(request)
            if self.token and request.query.get("token"):  # the page's later requests carry it as a cookie
                response.set_cookie("mjray_token", self.token, httponly=True, samesite="Strict")
            return response

        async def page(request):
            return web.Response(text=PAGE, content_type="text/html")

        async def status(request):
            return web.Response(
                text=json.dumps(self.status()), content_type="application/json", headers={"Cache-Control": "no-store"}
            )

        async def frame(request):
            self._asked_at = time.monotonic()
            if self._jpeg is None:
                return web.Response(status=503, text="no picture yet")
            return web.Response(body=self._jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

        async def stream(request):
            response = web.StreamResponse(
                headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame", "Cache-Control": "no-store"}
            )
            await response.prepare(request)
            await response.write(b"--frame\r\n")  # each part ends with the boundary: shown as it arrives
            self._streams += 1
            seen = -1
            try:
                while not self._stop.is_set():  # type: ignore[union-attr]
                    async with self._new:  # type: ignore[union-attr]
                        if self._version == seen or self._jpeg is None:
                            try:
                                await asyncio.wait_for(self._new.wait(), timeout=1.0)  # type: ignore[union-attr]
                            except TimeoutError:
                                continue
                    seen, jpeg = self._version, self._jpeg
                    if jpeg is None:
                        continue
                    await response.write(
                        b"Content-Type: image/jpeg\r\nContent-Length: "
                        + str(len(jpeg)).encode()
                        + b"\r\n\r\n"
                        + jpeg
                        + b"\r\n--frame\r\n"
                    )
            except (ConnectionResetError, asyncio.CancelledError):
                pass
            finally:
                self._streams -= 1
            return response

        app = web.Application(middlewares=[guard])
        app.add_routes(
            [
                web.get("/", page),
                web.get("/status.json", status),
                web.get("/frame.jpg", frame),
                web.get("/stream.mjpg", stream),
            ]
        )
        return app

    def _run(self) -> None:
        from aiohttp import web

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        async def serve() -> None:
            self._new, self._stop = asyncio.Condition(), asyncio.Event()
            runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            try:
                await web.TCPSite(runner, self.host, self.port).start()
            except OSError as error:
                self.error = error
                self._ready.set()
                await runner.cleanup()
                return
            self._loop = loop
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()


class WebSink(GridSink):
    """The driver's side: seat figures from every item, the grid drawn only while watched."""

    def __init__(self, context: SinkContext, host: str, port: int, token: str | None) -> None:
        super().__init__(context)
        self.views = {seat: SeatView(seat) for seat in context.seats}
        self.server = WebServer(host, port, token, self._status).start()
        self._lock = threading.Lock()
        log.info("web view: http://%s:%d/%s", host, port, " (with ?token=<your token> once)" if token else "")

    def _status(self) -> dict:
        now = time.time()
        with self._lock:
            return {
                "at": now,
                "seats": [
                    {**view.to_dict(now), "caption": self.captions.get(seat, "")} for seat, view in self.views.items()
                ],
            }

    def write(self, item: Item, emitted_at: float) -> None:
        with self._lock:
            self.views[item.seat].add(item, emitted_at, self.names)

    def cameras(self, stats: Mapping[str, CameraReport]) -> None:
        """The driver's latest per-seat camera figures (state, last error, decoded fps)."""
        with self._lock:
            for seat, camera in stats.items():
                if seat in self.views:
                    self.views[seat].camera = camera

    def show(self, moments: Sequence[Moment]) -> None:
        if self.server.watched():  # nobody looks: no pixels fetched, nothing drawn or encoded
            super().show(moments)

    def present(self, picture: np.ndarray, moments: int) -> None:
        ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            self.server.publish(jpeg.tobytes())

    def close(self) -> None:
        self.server.stop()

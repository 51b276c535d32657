"""The live web view: its token beyond this machine, its figures, and in a real headless Chromium
the grid changing and every seat's figures, through a camera outage; the same run's metrics
scraped from Ray's Prometheus endpoint (tests/cluster/test_metrics.py says what they must hold)."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from mjray.config import AppConfig, ConfigError, WebConfig, validate
from mjray.frames import CameraReport, CameraStatus, Gap, GapReason
from mjray.output.web import SeatView, WebServer
from mjray.sim.server import free_port
from tests.support import ARTIFACTS, COUNTERS, check_series, get, running_main, scrape


def test_a_view_beyond_this_machine_refuses_requests_without_its_token(monkeypatch):
    port = free_port()
    server = WebServer("0.0.0.0", port, "s3cret-token", lambda: {"seats": []}).start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/status.json")[0] == 401
        assert get(f"{base}/", {"Authorization": "Bearer wrong"})[0] == 401
        assert get(f"{base}/status.json", {"Authorization": "Bearer s3cret-token"})[0] == 200
        status, _, headers = get(f"{base}/?token=s3cret-token")
        assert status == 200 and "mjray_token=s3cret-token" in headers.get("Set-Cookie", "")  # the page's own requests
        assert get(f"{base}/status.json", {"Cookie": "mjray_token=s3cret-token"})[0] == 200
    finally:
        server.stop()
    with pytest.raises(ValueError, match="needs a token"):
        WebServer("0.0.0.0", free_port(), None, dict)
    monkeypatch.delenv("MJRAY_WEB_TOKEN", raising=False)
    with pytest.raises(
        ConfigError, match=r"web.host: is '0.0.0.0', not this machine alone: set a token in \$MJRAY_WEB_TOKEN"
    ):
        validate(AppConfig(web=WebConfig(port=8080, host="0.0.0.0")))


def test_a_seats_figures_come_from_its_items_and_its_cameras_state():
    view = SeatView("ton", window_s=5.0)
    view.add(Gap("ton", 0, GapReason.SKIPPED), 100.0, {})
    view.camera = CameraReport("ton", status=CameraStatus.RECONNECTING, last_error="401 unauthorized", fps=14.5)
    said = view.to_dict(100.0)
    assert said["gaps"] == {"skipped": 1} and said["status"] == "reconnecting" and said["fps_out"] == 0
    assert said["last_error"] == "401 unauthorized" and said["p50_ms"] is None and said["classes"] == []


@pytest.mark.slow
def test_the_page_in_chromium_shows_every_seat_and_a_changing_grid_through_an_outage(tmp_path, table_360, serve):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (scripts/setup.sh installs it)"
    server = serve(table_360)
    port = free_port()
    urls = ",".join(server.url(seat) for seat in table_360.spec.seats)
    ARTIFACTS.mkdir(exist_ok=True)
    metrics_port = free_port()
    with (
        running_main(
            f"urls=[{urls}]",
            "run.duration_s=80",
            f"web.port={port}",
            "run.status_every_s=1",
            f"ray.metrics_export_port={metrics_port}",
            "ray.dashboard=false",
            "display.video=false",
            "stream.open_timeout_s=2",
            "stream.reconnect_max_s=1",
            f"display.output_dir={tmp_path / 'run'}",
            cwd=tmp_path,
        ) as (process, lines),
        sync_playwright() as p,
    ):
        assert any(f"web view: http://127.0.0.1:{port}/" in line for line in lines), "the URL is logged at start"
        assert any(f"http://127.0.0.1:{metrics_port}/metrics" in line for line in lines), "and the metrics' URL"
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"http://127.0.0.1:{port}/")

        def seats_say(state: str) -> dict[str, str]:
            rows = {}
            for seat in table_360.spec.seats:
                page.wait_for_selector(f"#seat-{seat}", timeout=60_000)
                rows[seat] = page.inner_text(f"#seat-{seat}")
            assert all(state in row for row in rows.values()), rows
            return rows

        def grid_changes(name: str) -> None:
            page.wait_for_function("document.querySelector('#grid').naturalWidth > 0", timeout=60_000)
            time.sleep(3)
            first = page.locator("#grid").screenshot(path=str(ARTIFACTS / f"web-{name}-1.png"))
            time.sleep(2)
            second = page.locator("#grid").screenshot(path=str(ARTIFACTS / f"web-{name}-2.png"))
            assert first != second, f"the grid did not change in 2 s ({name})"

        def figures(row: str) -> bool:  # fps in from the camera's stats (each status period), fps out from the results
            cells = row.split("\t")
            return float(cells[2] or 0) > 5 and float(cells[3] or 0) > 0

        deadline = time.monotonic() + 60
        while True:  # the first figures come with the first results and the next status after them
            rows = seats_say("streaming")
            if all(figures(row) for row in rows.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
        print(rows)
        assert all(figures(row) for row in rows.values()), rows
        assert all(row.split("\t")[8].strip() for row in rows.values()), "each seat's latest classes by name"
        # Prometheus' view of the same run, once Ray has exported every counter of every seat
        deadline = time.monotonic() + 45
        while not all((first := scrape(metrics_port))[name].get(s) for name in COUNTERS for s in table_360.spec.seats):
            assert time.monotonic() < deadline, dict(first)
            time.sleep(1)
        scraped_at = time.monotonic()
        grid_changes("before")
        time.sleep(max(0.0, 15 - (time.monotonic() - scraped_at)))  # Ray's agent exports every 10 s
        check_series(first, scrape(metrics_port), lines, tmp_path)
        server.kill()  # every camera down: the page goes on and says so
        deadline = time.monotonic() + 30
        while not all("streaming" not in page.inner_text(f"#seat-{s}") for s in table_360.spec.seats):
            assert time.monotonic() < deadline, page.inner_text("#seats")
            time.sleep(0.5)
        print(page.inner_text("#seats"))
        server.start()
        deadline = time.monotonic() + 45
        while not all("streaming" in page.inner_text(f"#seat-{s}") for s in table_360.spec.seats):
            assert time.monotonic() < deadline, page.inner_text("#seats")
            time.sleep(0.5)
        grid_changes("after")
        hands = {s: page.inner_text(f"#seat-{s}").split("\t")[9] for s in table_360.spec.seats}
        # each seat's caption: the mahjong plug-in's hand
        assert all(re.search(r"^\d+[mpsz]", hand) and "sh)" in hand for hand in hands.values()), hands
        browser.close()
        process.terminate()  # SIGTERM: a clean stop
    assert process.returncode == 0, "".join(lines)[-3000:]

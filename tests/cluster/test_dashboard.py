"""Ray's dashboard with token authentication, as a user meets it in a real headless Chromium: the run
says how to get in (never the token), the dashboard refuses without the token, takes it in its login
form, and then lists every seat's actors by name."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from tests.support import ARTIFACTS, get, running_main


@pytest.mark.slow
def test_the_dashboard_asks_for_rays_token_and_then_lists_every_seats_actors(tmp_path, table_360, serve, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (scripts/setup.sh installs it)"
    # Ray 2.60 reads the token from $RAY_AUTH_TOKEN, else the file at $RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token
    # (which a local ray.init() creates): this run's own token, and the user's ~/.ray left alone.
    token = secrets.token_hex(32)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "auth_token").write_text(token)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "secret" / "auth_token"))
    seats = table_360.spec.seats
    urls = ",".join(serve(table_360).url(seat) for seat in seats)
    ARTIFACTS.mkdir(exist_ok=True)
    with (
        running_main(
            f"urls=[{urls}]",
            "run.duration_s=120",
            "ray.dashboard=true",
            "display.video=false",
            f"display.output_dir={tmp_path / 'run'}",
            cwd=tmp_path,
        ) as (process, lines),
        sync_playwright() as p,
    ):
        said = next((line for line in lines if "dashboard http://" in line), "")
        assert "(it asks for Ray's token: `ray get-auth-token` prints it)" in said, "".join(lines)[-3000:]
        dashboard = re.search(r"dashboard (http://127\.0\.0\.1:\d+)", said)[1]
        assert get(f"{dashboard}/api/v0/actors")[0] == 401, "no token, no actors"
        assert get(f"{dashboard}/api/v0/actors", {"Authorization": "Bearer wrong"})[0] == 403

        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        refused = []
        page.on("response", lambda response: refused.append(response.url) if response.status == 401 else None)
        page.goto(f"{dashboard}/#/actors")
        dialog = page.get_by_role("dialog", name="Authentication Token Required")
        expect(dialog).to_be_visible(timeout=30_000)
        assert any("/api/" in url for url in refused), "the page's own API calls were refused"
        field = dialog.get_by_label("Authentication Token")
        field.fill("not-the-token")
        dialog.get_by_role("button", name="Submit").click()
        expect(dialog.get_by_text("Invalid authentication token")).to_be_visible(timeout=10_000)
        field.fill(token)
        dialog.get_by_role("button", name="Submit").click()  # the dashboard sets its cookie and reloads
        expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)

        page.get_by_label("Page Size").fill("100")  # 10 rows a page by default; a table has more actors
        names = [f"camera:{seat}" for seat in seats] + [f"reorder:{seat}" for seat in seats]
        for name in names:
            expect(page.get_by_role("cell", name=name, exact=True).first).to_be_visible(timeout=60_000)
        expect(page.get_by_role("cell", name=re.compile(r"^detector:")).first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-actors.png"), full_page=True)
        browser.close()
        process.terminate()  # SIGTERM: a clean stop
    output = "".join(lines)
    assert process.returncode == 0, output[-3000:]
    assert token not in output, "the token in the run's output"
    files = [path for path in tmp_path.rglob("*") if path.is_file() and path.parent != tmp_path / "secret"]
    assert any(path.name == "main.log" for path in files) and (tmp_path / "run" / "summary.json") in files, files
    assert not [path for path in files if token.encode() in path.read_bytes()], "the token in the run's files"

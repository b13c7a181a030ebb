"""End to end in a real browser: Debian's headless Chromium driven by Playwright against a
real `fhir-sync demo` server on 127.0.0.1 (a fresh SQLite database with the demo enrolled).

No browser is downloaded: the system's /usr/bin/chromium is launched. Without it these tests
skip on a developer's machine and fail in CI (FHIR_SYNC_REQUIRE_INTEGRATION=1). Each test
writes a screenshot of the page it checks to docs/screenshots/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from bench.server_processes import free_port
from tests.conftest import REPO
from tests.webapp.conftest import add_dead_write, add_renewal_follow_up, add_return_to_stock

CHROMIUM = Path(os.environ.get("FHIR_SYNC_CHROMIUM", "/usr/bin/chromium"))
SHOTS = REPO / "docs" / "screenshots"
#: The data folder of each running demo server (by its base URL): a test that needs a state
#: the demo does not have (a dead write, an item due) writes it into the demo's database.
DATA_DIRS: dict[str, Path] = {}
LOGIN = re.compile(r"sign in as (\S+) / (\S+) \((\w+)\)")


def _require() -> None:
    if CHROMIUM.exists():
        return
    message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("FHIR_SYNC_REQUIRE_INTEGRATION") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    _require()
    port = free_port()
    folder = tmp_path_factory.mktemp("browser") / "data"
    log = (folder.parent / "serve.log").open("w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_SYNC_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "fhir_sync", "demo", "--port", str(port), "--data-dir", str(folder)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    DATA_DIRS[base] = folder
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/app/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"fhir-sync demo did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        log.seek(0)
        logins = {name: password for name, password, _ in LOGIN.findall(log.read())}
        yield base, logins
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def _page(browser: object, server: tuple[str, dict[str, str]], user: str, *, js: bool = True):  # type: ignore[no-untyped-def]
    """A new browser page signed in as `user` (a login of the `server` fixture), on Today."""
    base, logins = server
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=base, java_script_enabled=js, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto("/app/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(logins[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/app/today")
    return page


def _first_day_with(page: object, days: Iterable[str], button: str) -> str | None:
    """The first of `days` whose worklist offers `button`, the page left on that day."""
    for day in days:
        page.goto(f"/app/today?date={day}")  # type: ignore[attr-defined]
        if page.get_by_role("button", name=button).count():  # type: ignore[attr-defined]
            return day
    return None


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_sign_in_and_see_the_demo_worklist(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    page = _page(browser, server, "demo")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Today")
    calls = page.locator("#g-calls ~ article, section:has(#g-calls) article")
    assert calls.count() >= 1
    _shot(page, "today")
    page.goto("/app/pickups?date=2026-12-22")
    assert page.locator("section.bag").count() >= 1
    _shot(page, "pickup-sheet")


def test_record_a_call_with_a_hospital_stay(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    page = _page(browser, server, "tech")
    # Today links each call to its own check-in page (one form there, not one per item)
    page.get_by_role("link", name="Reached: ask the check-in questions").first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Check-in call")
    _shot(page, "check-in")
    call = page.locator("form.call")
    call.get_by_label("reached").check()
    call.get_by_label("Hospital or emergency visit since the last pickup?").select_option("yes")
    call.get_by_role("button", name="Record the call").click()
    page.wait_for_load_state()
    flash = page.locator(".flash").inner_text()
    assert "change(s) to review" in flash and "The plan was made again" in flash
    reviews = page.locator("section:has(#g-reviews) article")
    assert reviews.count() >= 1
    _shot(page, "today-after-check-in")


def test_preparation_done_and_pickup_and_no_show(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    page = _page(browser, server, "tech", js=False)  # plain forms, no JavaScript
    days = ("2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11", "2026-12-12")
    found = _first_day_with(page, days, "Mark started")
    assert found is not None, "an open preparation in the demo's last days"
    page.get_by_role("button", name="Mark started").first.click()
    page.get_by_role("button", name="Mark done").first.click()
    assert "Preparation completed" in page.locator(".flash").inner_text()
    pickups = []
    for day in ("2026-12-10", "2026-12-11", "2026-12-12", "2026-12-13", "2026-12-14"):
        page.goto(f"/app/today?date={day}")
        if page.get_by_role("button", name="Picked up").count():
            pickups.append(day)
    assert pickups, "open pickups in the demo's last days"
    page.goto(f"/app/today?date={pickups[0]}")
    page.get_by_role("button", name="Picked up").first.click()
    assert page.locator(".flash").inner_text() == "Picked up."
    no_show_day = _first_day_with(page, pickups, "No-show")
    assert no_show_day is not None, "a second open pickup in the demo's last days"
    page.get_by_role("button", name="No-show").first.click()
    assert page.locator(".flash").inner_text() == "No-show recorded."


def test_enroll_hold_resume_and_the_timeline(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    page = _page(browser, server, "demo")
    page.goto("/app/patients")
    page.get_by_label("Status").select_option("not enrolled")
    page.get_by_role("button", name="Search").click()
    _shot(page, "patients")
    page.locator("table a").first.click()
    page.get_by_role("button", name="Enroll").click()
    assert "Enrolled" in page.locator(".flash").inner_text()
    timeline = page.locator("svg.timeline")
    assert timeline.count() == 1 and page.locator("svg.timeline rect.bar").count() >= 1
    _shot(page, "patient")
    page.get_by_label("Hold until").fill("2027-01-05")
    page.get_by_role("button", name="Hold", exact=True).click()
    assert "On hold until 2027-01-05" in page.locator(".flash").inner_text()
    page.get_by_role("button", name="Resume").click()
    assert "Resumed" in page.locator(".flash").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/app/login")


def test_outbox_page_and_technician_refused(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    page = _page(browser, server, "tech")
    page.goto("/app/outbox")
    assert page.get_by_role("heading", level=1).inner_text() == "Write-back to EHRs"
    _shot(page, "outbox")
    page.goto("/app/patients/pt-000005")
    assert page.get_by_role("button", name="Hold", exact=True).count() == 0
    # a direct POST from the signed-in technician's browser is refused too
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async (token) => (await fetch('/app/patients/pt-000005/unenroll', {method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: 'csrf=' + encodeURIComponent(token)})).status""",
        token,
    )
    assert status == 403


def test_keyboard_reaches_sign_in_with_visible_focus(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    base, logins = server
    context = browser.new_context(base_url=base)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/app/login")
    # autofocus is applied at the next rendering step, which can come after "load": wait
    # for it, or the first keys go to the body and the sign-in silently fails
    page.wait_for_function("document.activeElement && document.activeElement.id === 'username'")
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    page.keyboard.type(logins["demo"])
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    page.wait_for_url("**/app/today")
    context.close()


AXE = Path(os.environ.get("FHIR_SYNC_AXE_JS", REPO / ".ci/node/node_modules/axe-core/axe.min.js"))
AXE_PAGES = (
    "/app/today",
    "/app/today?date=2026-12-11",
    "/app/patients",
    "/app/patients/pt-000005",
    "/app/outbox",
    "/app/pickups?date=2026-12-22",
    "check-in",  # the first call's check-in page, reached by its link on Today
)


def test_no_serious_or_critical_axe_violations(
    server: tuple[str, dict[str, str]], browser: object
) -> None:
    """axe-core (installed from npm by .ci/run into .ci/node) run in every page; the check
    injects it, so this context bypasses the pages' CSP (which allows no injected script)."""
    if not AXE.is_file():
        message = f"no axe-core at {AXE} (npm install --prefix .ci/node axe-core@4)"
        if os.environ.get("FHIR_SYNC_REQUIRE_INTEGRATION") == "1":
            pytest.fail(message)
        pytest.skip(message)
    base, logins = server
    context = browser.new_context(base_url=base, bypass_csp=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/app/login")
    found: dict[str, list[str]] = {}
    for path in ("/app/login", *AXE_PAGES):
        if path != "/app/login" and "/app/login" in page.url:
            page.get_by_label("User name").fill("demo")
            page.get_by_label("Password").fill(logins["demo"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/app/today")
        if path == "check-in":
            page.goto("/app/today")
            link = page.get_by_role("link", name="Reached: ask the check-in questions")
            path = str(link.first.get_attribute("href"))
        page.goto(path)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            """async () => { const r = await axe.run(document); return [r.passes.length,
            r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' '))
            .join(', '))]; }"""
        )
        passes, violations = result
        assert passes > 10, f"axe did not check {path}"
        if violations:
            found[path] = violations
    context.close()
    assert not found, found


def _demo_engine(server: tuple[str, dict[str, str]]):  # type: ignore[no-untyped-def]
    """The running demo's database (SQLite in its data folder), for writing a test's state."""
    from fhir_sync.store.database import open_engine
    from fhir_sync.store.location import DATABASE_FILE

    return open_engine(f"sqlite:///{DATA_DIRS[server[0]] / DATABASE_FILE}")


def test_outbox_retry_a_dead_write(server: tuple[str, dict[str, str]], browser: object) -> None:
    engine = _demo_engine(server)
    try:
        add_dead_write(engine)
    finally:
        engine.dispose()
    page = _page(browser, server, "tech", js=False)
    page.goto("/app/outbox")
    assert "HTTP 422 from the EHR" in page.locator("main").inner_text()
    page.get_by_role("button", name="Retry write").first.click()
    assert page.locator(".flash").inner_text() == "1 write(s) queued again."
    assert "No dead writes." in page.locator("main").inner_text()


def test_return_to_stock_from_today(server: tuple[str, dict[str, str]], browser: object) -> None:
    from datetime import date

    day = "2026-12-15"
    engine = _demo_engine(server)
    try:
        add_return_to_stock(engine, date.fromisoformat(day))
    finally:
        engine.dispose()
    page = _page(browser, server, "tech", js=False)
    page.goto(f"/app/today?date={day}")
    page.get_by_role("button", name="Returned to stock").first.click()
    assert page.locator(".flash").inner_text().startswith("Returned to stock: ")
    assert page.get_by_text("these fills are back on the shelf").count() >= 1


def test_renewal_sent_again_from_today(server: tuple[str, dict[str, str]], browser: object) -> None:
    from datetime import date

    day = "2026-12-15"
    engine = _demo_engine(server)
    try:
        add_renewal_follow_up(engine, "renewal-resend", date.fromisoformat(day))
    finally:
        engine.dispose()
    page = _page(browser, server, "tech", js=False)
    page.goto(f"/app/today?date={day}")
    page.get_by_role("button", name="Sent again").first.click()
    flash = page.locator(".flash").inner_text()
    assert flash.startswith(f"Sent again: Sent again on {day}")
    assert "the renewal Task says so" in flash

"""The web app over real HTTP (Starlette's client against the app on the demo database):
sign-in, sessions, CSRF, lockout, roles checked by direct POSTs, forms that work without
JavaScript, security headers, audit rows, and accessibility basics of every page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from fhir_sync.api.app import create_app
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.services.staff_accounts import MAX_FAILURES
from fhir_sync.store.enrollments import get_enrollment
from fhir_sync.store.tables import AuditRecord
from tests.webapp.conftest import (
    TODAY,
    add_dead_write,
    add_renewal_follow_up,
    add_return_to_stock,
    csrf_of,
    sign_in,
)

PAGES = (
    "/app/today",
    "/app/today?date=2026-12-22",
    "/app/patients",
    "/app/patients/pt-000005",
    "/app/outbox",
    "/app/pickups?date=2026-12-22",
)


def _status(engine: Engine, patient_id: str) -> str | None:
    with engine.connect() as connection:
        enrollment = get_enrollment(connection, patient_id)
    return enrollment.status if enrollment else None


def test_every_page_needs_a_session(app_client: TestClient) -> None:
    for path in PAGES:
        answer = app_client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/app/login", path


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    page = app_client.get("/app/login")
    answer = app_client.post(
        "/app/login",
        data={"csrf": csrf_of(page.text), "username": "demo", "password": passwords["demo"]},
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/app" in cookie
    token = csrf_of(app_client.get("/app/today").text)
    assert app_client.post("/app/logout", data={"csrf": token}).status_code == 303
    app_client.cookies.clear()
    # the old cookie value no longer names a session
    assert app_client.get("/app/today").status_code == 303


def test_cookie_is_secure_unless_the_server_runs_plain_http(
    demo_engine: Engine, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FHIR_SYNC_APP_INSECURE_COOKIES", raising=False)
    settings = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    with TestClient(create_app(settings, engine=demo_engine), follow_redirects=False) as client:
        page = client.get("https://testserver/app/login")
        answer = client.post(
            "https://testserver/app/login",
            data={"csrf": csrf_of(page.text), "username": "demo", "password": passwords["demo"]},
        )
        assert "secure" in answer.headers["set-cookie"].lower()


def test_forms_without_the_csrf_token_are_refused(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    # the sign-in form without its token
    refused = app_client.post("/app/login", data={"username": "demo", "password": "x" * 12})
    assert refused.status_code == 403
    sign_in(app_client, "demo", passwords["demo"])
    for form in ({"until": "2026-12-30"}, {"until": "2026-12-30", "csrf": "forged"}):
        answer = app_client.post("/app/patients/pt-000005/hold", data=form)
        assert answer.status_code == 403
    assert _status(demo_engine, "pt-000005") == "active"
    # a JSON body is not a form this app sends
    answer = app_client.post("/app/patients/pt-000005/hold", json={"until": "2026-12-30"})
    assert answer.status_code == 403


def test_lockout_after_repeated_failures(app_client: TestClient, passwords: dict[str, str]) -> None:
    for _ in range(MAX_FAILURES):
        page = app_client.get("/app/login")
        answer = app_client.post(
            "/app/login",
            data={"csrf": csrf_of(page.text), "username": "demo", "password": "wrong-password"},
        )
        assert answer.status_code == 401
    page = app_client.get("/app/login")
    answer = app_client.post(
        "/app/login",
        data={"csrf": csrf_of(page.text), "username": "demo", "password": passwords["demo"]},
    )
    assert answer.status_code == 401, "the right password must not open a locked account"
    assert "locked" in answer.text


def test_technician_cannot_change_enrollment_by_direct_post(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "tech", passwords["tech"])
    page = app_client.get("/app/patients/pt-000005")
    assert page.status_code == 200 and "/hold" not in page.text
    for action, form in (
        ("hold", {"until": "2026-12-30"}),
        ("unenroll", {}),
        ("enroll", {"cycle_days": "30"}),
        ("anchor", {"anchor_day": "5"}),
        ("sync", {}),
    ):
        answer = app_client.post(f"/app/patients/pt-000005/{action}", data={**form, "csrf": token})
        assert answer.status_code == 403, action
    assert _status(demo_engine, "pt-000005") == "active"
    with demo_engine.connect() as connection:
        refused = connection.execute(
            select(AuditRecord.__table__).where(  # type: ignore[attr-defined]
                AuditRecord.__table__.c.client_id == "staff:tech",  # type: ignore[attr-defined]
                AuditRecord.__table__.c.status == 403,  # type: ignore[attr-defined]
            )
        ).all()
    assert len(refused) == 5


def test_hold_resume_unenroll_enroll_as_plain_forms(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "demo", passwords["demo"])
    answer = app_client.post(
        "/app/patients/pt-000005/hold", data={"csrf": token, "until": "2026-12-30"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/app/patients/pt-000005"
    assert _status(demo_engine, "pt-000005") == "on-hold"
    assert "On hold until 2026-12-30" in app_client.get("/app/patients/pt-000005").text
    app_client.post("/app/patients/pt-000005/resume", data={"csrf": token})
    assert _status(demo_engine, "pt-000005") == "active"
    app_client.post("/app/patients/pt-000005/unenroll", data={"csrf": token})
    assert _status(demo_engine, "pt-000005") == "revoked"
    app_client.post(
        "/app/patients/pt-000005/enroll",
        data={"csrf": token, "anchor_day": "10", "cycle_days": "30", "lead_days": "7"},
    )
    assert _status(demo_engine, "pt-000005") == "active"
    page = app_client.get("/app/patients/pt-000005").text
    # anchor day 10 of the month: the next 10th at least 7 lead days after 2026-12-15
    assert "anchor Sun 10 Jan 2027" in page
    assert "<svg" in page and 'class="bar' in page
    history = re.findall(r"<td>(hold|resume|unenroll|enroll)</td>", page)
    assert sorted(history) == ["enroll", "hold", "resume", "unenroll"]


def test_a_call_with_a_hospital_stay_puts_a_review_on_the_worklist(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "tech", passwords["tech"])
    today = app_client.get("/app/today").text
    calls = re.findall(r'name="item_id" value="([^"]+:outreach:[^"]+)"', today)
    assert calls, "the demo has calls to make on its today"
    reviews_before = today.count(":review:")
    answer = app_client.post(
        "/app/today/call",
        data={
            "csrf": token,
            "day": TODAY.isoformat(),
            "item_id": calls[0],
            "outcome": "reached",
            "hospital_visit": "yes",
        },
    )
    assert answer.status_code == 303
    after = app_client.get("/app/today").text
    assert "1 change(s) to review" in after and "The plan was made again" in after
    assert calls[0] not in re.findall(r'name="item_id" value="([^"]+)"', after)
    assert after.count('id="g-reviews"') == 1
    assert reviews_before == 0 or after.count(":review:") >= reviews_before


def test_a_refused_action_is_said_and_nothing_changes(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "demo", passwords["demo"])
    app_client.post("/app/patients/pt-000005/hold", data={"csrf": token, "until": "2026-12-01"})
    assert _status(demo_engine, "pt-000005") == "active"
    assert (
        "Not done: the hold must end after today" in app_client.get("/app/patients/pt-000005").text
    )


def test_patient_search_is_a_post_and_finds_by_status(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "demo", passwords["demo"])
    found = app_client.post("/app/patients", data={"csrf": token, "status": "not enrolled"})
    # the demo unenrolls its last two patients
    assert len(set(re.findall(r'href="/app/patients/(pt-\d+)"', found.text))) == 2
    by_id = app_client.post("/app/patients", data={"csrf": token, "patient_id": "pt-000005"})
    assert set(re.findall(r'href="/app/patients/(pt-\d+)"', by_id.text)) == {"pt-000005"}


def test_security_headers_and_no_inline_script(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    sign_in(app_client, "demo", passwords["demo"])
    for path in PAGES:
        answer = app_client.get(path)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert answer.headers["cache-control"] == "no-store"
        assert re.search(r"<script(?![^>]*\bsrc=)", answer.text) is None, path
        assert " style=" not in answer.text and "<style" not in answer.text, path


def test_page_views_and_actions_are_audited(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    sign_in(app_client, "demo", passwords["demo"])
    app_client.get("/app/patients/pt-000003")
    table = AuditRecord.__table__  # type: ignore[attr-defined]
    with demo_engine.connect() as connection:
        rows = connection.execute(
            select(table.c.interaction, table.c.role, table.c.patient_id).where(
                table.c.client_id == "staff:demo"
            )
        ).all()
    assert ("app-sign-in", "pharmacist", None) in rows
    assert ("app-patient", "pharmacist", "pt-000003") in rows


class _Controls(HTMLParser):
    """Collects form controls, their labels and headings."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.h1 = 0
        self.in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if values.get("for"):
                self.labelled.add(str(values["for"]))
        elif tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append({**values, "_wrapped": "1" if self.in_label else None})
        elif tag == "h1":
            self.h1 += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


@pytest.mark.parametrize("role", ["demo", "tech"])
def test_every_control_has_a_label_and_every_page_one_h1(
    app_client: TestClient, passwords: dict[str, str], role: str
) -> None:
    app_client.get("/app/login")
    sign_in(app_client, role, passwords[role])
    for path in (*PAGES, "/app/patients/pt-000010"):
        parsed = _Controls()
        parsed.feed(app_client.get(path).text)
        assert parsed.h1 == 1, path
        for control in parsed.controls:
            named = (
                control.get("_wrapped")
                or control.get("aria-label")
                or control.get("id") in parsed.labelled
            )
            assert named, f"{path}: unlabelled control {control}"


def test_fhir_sync_app_0_turns_the_app_off(
    demo_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIR_SYNC_APP", "0")
    settings = ServerSettings(database_url="unused", today=TODAY, migrate_on_start=False)
    with TestClient(create_app(settings, engine=demo_engine)) as client:
        assert client.get("/app/login").status_code == 404


def test_outbox_page_lists_a_dead_write_and_retries_it(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    from fhir_sync.store.outbox import OUTBOX

    add_dead_write(demo_engine)
    token = sign_in(app_client, "tech", passwords["tech"])
    page = app_client.get("/app/outbox").text
    assert "HTTP 422 from the EHR" in page
    (write_id,) = re.findall(r'name="id" value="(\d+)"', page)
    answer = app_client.post("/app/outbox/retry", data={"csrf": token, "id": write_id})
    assert answer.status_code == 303
    page = app_client.get("/app/outbox").text
    assert "1 write(s) queued again." in page and "No dead writes." in page
    with demo_engine.connect() as connection:
        (state,) = connection.execute(
            select(OUTBOX.c.state).where(OUTBOX.c.id == int(write_id))
        ).one()
    assert state == "pending"


def test_a_review_item_is_confirmed_from_today(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "demo", passwords["demo"])
    today = app_client.get("/app/today").text
    call = re.findall(r'name="item_id" value="([^"]+:outreach:[^"]+)"', today)[0]
    app_client.post(
        "/app/today/call",
        data={
            "csrf": token,
            "day": TODAY.isoformat(),
            "item_id": call,
            "outcome": "reached",
            "new_medicines": "yes",
        },
    )
    page = app_client.get("/app/today").text
    reviews = re.findall(r'name="item_id" value="([^"]+:review:[^"]+)"', page)
    assert reviews, "the check-in's new medicines are a review item today"
    answer = app_client.post(
        "/app/today/close", data={"csrf": token, "day": TODAY.isoformat(), "item_id": reviews[0]}
    )
    assert answer.status_code == 303
    after = app_client.get("/app/today").text
    assert "Confirmed: the item is done." in after
    assert reviews[0] not in re.findall(r'name="item_id" value="([^"]+)"', after)
    # an outreach is not closed by saying so: it needs its outcome
    refused = app_client.post(
        "/app/today/close", data={"csrf": token, "day": TODAY.isoformat(), "item_id": call}
    )
    assert refused.status_code == 303
    assert "Not done" in app_client.get("/app/today").text


def test_today_links_each_call_to_its_own_check_in_page(
    app_client: TestClient, passwords: dict[str, str]
) -> None:
    """Today carries a short outcome form per call; the check-in questions are on the call's
    own page (a plain GET link with no patient data in its query string)."""
    sign_in(app_client, "tech", passwords["tech"])
    today = app_client.get("/app/today").text
    assert "Hospital or emergency visit" not in today
    links = re.findall(r'href="(/app/today/check-in/[^"?]+:outreach:[^"?]+)\?date=([^"&]+)"', today)
    assert links, "every call item links to its check-in page"
    page = app_client.get(f"{links[0][0]}?date={links[0][1]}").text
    assert "Hospital or emergency visit since the last pickup?" in page
    assert "Is the pickup date still right (or delivery, or a new date)?" in page
    assert 'value="delivery"' in page and 'value="new-date"' in page
    assert app_client.get("/app/today/check-in/pt-000005:outreach:1999-01-01").status_code == 200
    assert "Unknown patient" in app_client.get("/app/today/check-in/pt-000005:nothing").text


def _reached(client: TestClient, token: str, call: str, **answers: str) -> None:
    """Record the call `call` of today as reached, with these check-in answers."""
    data = {"csrf": token, "day": TODAY.isoformat(), "item_id": call, "outcome": "reached"}
    client.post("/app/today/call", data={**data, **answers})


def test_a_check_in_asking_for_delivery_or_a_new_date_is_acted_on(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    token = sign_in(app_client, "tech", passwords["tech"])
    today = app_client.get("/app/today").text
    calls = re.findall(r'name="item_id" value="([^"]+:outreach:[^"]+)"', today)
    assert len(calls) >= 2, "the demo has two calls to make on its today"
    _reached(app_client, token, calls[0], pickup="delivery")
    assert "Deliver the medicines instead of a pickup" in app_client.get("/app/today").text
    patient = calls[1].split(":")[0]
    _reached(app_client, token, calls[1], pickup="new-date", new_date="2027-01-04")
    assert "Pickups move to 2027-01-04." in app_client.get("/app/today").text
    with demo_engine.connect() as connection:
        enrollment = get_enrollment(connection, patient)
    assert enrollment is not None and enrollment.anchor_date.isoformat() == "2027-01-04"


@pytest.mark.parametrize(
    ("kind", "priority", "words"),
    [("renewal-resend", "asap", "Sent again on"), ("renewal-escalate", "urgent", "Escalated on")],
)
def test_a_renewal_sent_again_or_escalated_marks_the_renewal_task(
    app_client: TestClient,
    demo_engine: Engine,
    passwords: dict[str, str],
    kind: str,
    priority: str,
    words: str,
) -> None:
    """Closing a renewal follow-up records it: the renewal Task gets a new version with its
    priority raised and a dated note, and the item is done."""
    import orjson

    from fhir_sync.store.search import RESOURCE

    the_id, task_id, version_before = add_renewal_follow_up(demo_engine, kind, TODAY)
    token = sign_in(app_client, "demo", passwords["demo"])
    assert the_id in app_client.get("/app/today").text
    app_client.post(
        "/app/today/close", data={"csrf": token, "day": TODAY.isoformat(), "item_id": the_id}
    )
    after = app_client.get("/app/today").text
    assert "the renewal Task says so. The item is done." in after
    assert f'name="item_id" value="{the_id}"' not in after
    with demo_engine.connect() as connection:
        body, version = connection.execute(
            select(RESOURCE.c.body, RESOURCE.c.version_id).where(
                RESOURCE.c.resource_type == "Task", RESOURCE.c.id == task_id
            )
        ).one()
    task = orjson.loads(body)
    assert version == version_before + 1 and task["priority"] == priority
    assert task["note"][-1] == {"time": TODAY.isoformat(), "text": task["note"][-1]["text"]}
    assert task["note"][-1]["text"].startswith(f"{words} {TODAY.isoformat()}")


def test_return_to_stock_is_recorded_in_the_cycle_and_the_audit(
    app_client: TestClient, demo_engine: Engine, passwords: dict[str, str]
) -> None:
    """A return to stock is a dated fact of the cycle, an audit event of its own, the item
    closed, and the fills shown as returned (on Today and in the patient's cycle history)."""
    from fhir_sync.services.cycle_facts import load_facts
    from fhir_sync.store import cycle as store

    the_id, anchor, fills = add_return_to_stock(demo_engine, TODAY)
    patient = the_id.split(":")[0]
    token = sign_in(app_client, "tech", passwords["tech"])
    app_client.post(
        "/app/today/close", data={"csrf": token, "day": TODAY.isoformat(), "item_id": the_id}
    )
    after = app_client.get("/app/today").text
    assert f"Returned to stock: {fills} fill(s) back on the shelf." in after
    assert "<strong>Returned to stock</strong>: these fills are back on the shelf." in after
    assert f'name="item_id" value="{the_id}"' not in after
    with demo_engine.connect() as connection:
        saved = store.get_state(connection, patient)
        events = connection.scalars(
            select(AuditRecord.interaction).where(AuditRecord.patient_id == patient)
        ).all()
    assert saved is not None
    returned = next(c for c in load_facts(saved.facts).cycles if c.anchor == anchor)
    assert returned.returned_on == TODAY
    assert "app-today-return-to-stock" in events
    assert "returned to stock" in app_client.get(f"/app/patients/{patient}").text

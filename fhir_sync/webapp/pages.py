"""The web app's routes: sign-in, Today, Patients, a patient, Write-back, the pickup sheet.

Every data-changing action is a plain HTML form POST answered with a redirect (post, redirect,
get), so all of it works with JavaScript off. Patient names, birth dates and searches never go
in a URL's query string: a search is a POST, and only ids appear in paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from fhir_sync.engine.checkin import CheckInAnswers, PickupChoice
from fhir_sync.engine.cycle_types import ContactOutcome, PickupStatus
from fhir_sync.services import worklist
from fhir_sync.services.errors import DomainError
from fhir_sync.services.staff_accounts import (
    LIFETIME,
    ActiveSession,
    set_flash,
    sign_in,
    sign_out,
)
from fhir_sync.store.audit import AuditQuery, search_audit
from fhir_sync.store.cycle import close_item as close_cycle_item
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.enrollments import get_enrollment
from fhir_sync.store.outbox_review import dead_writes, outbox_counts, retry_dead
from fhir_sync.store.patient_pages import (
    PatientRow,
    appointments_around,
    find_patient_rows,
    open_renewal_tasks,
    patient_bodies,
    patient_bodies_by_id,
    patient_body,
    patient_rows,
    plan_bodies_by_patient,
    status_counts,
    token_ids,
)
from fhir_sync.webapp import audit
from fhir_sync.webapp.actions import ActionRefusedError, EnrollChoice, EnrollmentActions
from fhir_sync.webapp.plan_view import bag, read_plan, timeline
from fhir_sync.webapp.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ForbiddenError,
    check_csrf,
    current_session,
    new_login_token,
    read_form,
    set_cookie,
)
from mappings.kinds import BIRTH_DATE, NAME_WORD, name_words
from mappings.outbound.checkin_questionnaire import PICKUP_CHOICES
from mappings.profile import SID_RENEWAL_TASK

P = ParamSpec("P")
R = TypeVar("R")
PAGE_SIZE: Final = 50
ID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
PLAN_TYPES: Final = ("CarePlan", "Appointment", "Task")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STATUS_WORDS: Final = {"active": "enrolled", "on-hold": "on hold", "revoked": "not enrolled"}

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals["status_word"] = lambda s: STATUS_WORDS.get(s or "", "not enrolled")


@dataclass(frozen=True, slots=True)
class AppContext:
    engine: Engine
    actions: EnrollmentActions
    today: Callable[[], date]
    secure_cookies: bool


def render(template: str, http_status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**values), status_code=http_status)


def patient_name(body: bytes | None) -> str:
    if body is None:
        return "(no Patient record)"
    patient = orjson.loads(body)
    for name in patient.get("name") or ():
        if name.get("text"):
            return str(name["text"])
        given = " ".join(name.get("given") or ())
        return f"{given} {name.get('family') or ''}".strip() or "(unnamed)"
    return "(unnamed)"


def birth_date(body: bytes | None) -> str:
    return str(orjson.loads(body).get("birthDate") or "") if body is not None else ""


def valid_id(patient_id: str) -> str:
    if not 1 <= len(patient_id) <= 64 or not set(patient_id) <= ID_CHARS:
        raise ForbiddenError("not a patient id")
    return patient_id


def page_number(value: str | None) -> int:
    """A page number from the query string: 1 for none or nonsense, at most 100,000."""
    return max(1, min(int(value), 100_000)) if value and value.isdigit() else 1


def parse_day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        return default


def in_thread_pool(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`function`, called in the thread pool: for blocking work a route awaits."""

    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run_in_threadpool(function, *args, **kwargs)

    return call


def router(context: AppContext) -> APIRouter:
    engine = context.engine
    routes = APIRouter()

    async def signed_in(request: Request) -> ActiveSession:
        return await current_session(request, engine)

    def page(
        request: Request, session: ActiveSession, template: str, **values: Any
    ) -> HTMLResponse:
        return render(
            template,
            staff=session.staff,
            csrf=session.csrf,
            flash=session.flash,
            today=context.today(),
            path=request.url.path,
            **values,
        )

    # audit.record's arguments after the engine; the write runs in the thread pool.
    note = in_thread_pool(partial(audit.record, engine))

    # -- sign-in ------------------------------------------------------------------------

    @routes.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        token = new_login_token()
        response = render("login.html", login_csrf=token, message=None, staff=None)
        set_cookie(response, LOGIN_CSRF_COOKIE, token, secure=context.secure_cookies, max_age=3600)
        return response

    @routes.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or form.get("csrf") != expected:
            raise ForbiddenError("the sign-in form is out of date; reload the page")
        username = form.get("username", "")[:64]
        result = await run_in_threadpool(sign_in, engine, username, form.get("password", ""))
        if result is None:
            await note(None, "sign-in", action="E", status=401, username=username or None)
            token = new_login_token()
            response = render(
                "login.html",
                http_status=401,
                login_csrf=token,
                staff=None,
                message="Not signed in: the user name or password is wrong, or the account "
                "is locked or disabled. After 5 failures an account is locked for 15 minutes.",
            )
            set_cookie(
                response, LOGIN_CSRF_COOKIE, token, secure=context.secure_cookies, max_age=3600
            )
            return response
        await note(result.staff, "sign-in", action="E")
        signed = RedirectResponse("/app/today", status_code=303)
        set_cookie(
            signed,
            SESSION_COOKIE,
            result.token,
            secure=context.secure_cookies,
            max_age=int(LIFETIME.total_seconds()),
        )
        signed.delete_cookie(LOGIN_CSRF_COOKIE, path="/app")
        return signed

    @routes.post("/logout")
    async def logout(request: Request) -> Response:
        session = await signed_in(request)
        check_csrf(session, await read_form(request))
        await run_in_threadpool(sign_out, engine, session.token_hash)
        await note(session.staff, "sign-out", action="E")
        response = RedirectResponse("/app/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/app")
        return response

    @routes.get("/")
    async def home() -> Response:
        return RedirectResponse("/app/today", status_code=303)

    # -- Today ----------------------------------------------------------------------------

    @routes.get("/today", response_class=HTMLResponse)
    async def today_page(request: Request) -> Response:
        session = await signed_in(request)
        day = parse_day(request.query_params.get("date"), context.today())
        number = page_number(request.query_params.get("page"))
        pickups = await run_in_threadpool(pickups_on, engine, day, False, PAGE_SIZE + 1)
        renewals = await run_in_threadpool(renewals_waiting, engine, day)
        holds = await run_in_threadpool(status_counts_of, engine)
        work, names = await run_in_threadpool(worklist_of, engine, day, number)
        await note(session.staff, "today")
        return page(
            request,
            session,
            "today.html",
            day=day,
            pickups=pickups,
            renewals=renewals,
            counts=holds,
            work=work,
            names=names,
            prep_next=worklist.PREP_NEXT,
            previous=day - timedelta(days=1),
            next=day + timedelta(days=1),
        )

    @routes.get("/today/check-in/{item_id}", response_class=HTMLResponse)
    async def check_in_page(request: Request, item_id: str) -> Response:
        """A call's check-in questions on their own page, linked from its item on Today: Today
        carries one short outcome form per call instead of every call's questions."""
        session = await signed_in(request)
        day = parse_day(request.query_params.get("date"), context.today())
        number = page_number(request.query_params.get("page"))
        patient_id = valid_id(item_id.split(":")[0])
        found = await run_in_threadpool(call_entry, engine, patient_id, item_id)
        await note(session.staff, "check-in", patient_id=patient_id, status=200 if found else 404)
        if found is None:
            return page(request, session, "missing.html", patient_id=patient_id)
        entry, name = found
        back = f"/app/today?date={day.isoformat()}" + (f"&page={number}" if number > 1 else "")
        return page(
            request,
            session,
            "checkin.html",
            entry=entry,
            name=name,
            day=day,
            number=number,
            back=back,
            pickup_choices=[(c.value, words) for c, words in PICKUP_CHOICES.items()],
        )

    @routes.get("/pickups", response_class=HTMLResponse)
    async def pickup_sheet(request: Request) -> Response:
        session = await signed_in(request)
        day = parse_day(request.query_params.get("date"), context.today())
        number = page_number(request.query_params.get("page"))
        skip = (number - 1) * PAGE_SIZE
        pickups = await run_in_threadpool(pickups_on, engine, day, True, PAGE_SIZE + 1, skip)
        await note(session.staff, "pickup-sheet")
        return page(
            request,
            session,
            "pickups.html",
            day=day,
            pickups=pickups[:PAGE_SIZE],
            more=len(pickups) > PAGE_SIZE,
            number=number,
            first=skip + 1,
        )

    # -- Patients -------------------------------------------------------------------------

    @routes.get("/patients", response_class=HTMLResponse)
    async def patients_page(request: Request) -> Response:
        session = await signed_in(request)
        after, before = (request.query_params.get(k) for k in ("after", "before"))
        listed = await run_in_threadpool(
            patients_paged,
            engine,
            valid_id(after) if after else None,
            valid_id(before) if before else None,
        )
        await note(session.staff, "patients")
        return page(
            request, session, "patients.html", rows=listed.rows, listed=listed, searched=None
        )

    @routes.post("/patients", response_class=HTMLResponse)
    async def patients_search(request: Request) -> Response:
        session = await signed_in(request)
        form = await read_form(request)
        check_csrf(session, form)
        rows = await run_in_threadpool(
            search_patients,
            engine,
            form.get("name", "").strip(),
            form.get("birth_date", "").strip(),
            form.get("patient_id", "").strip(),
            form.get("status", ""),
        )
        await note(session.staff, "patient-search", action="E")
        return page(
            request,
            session,
            "patients.html",
            rows=rows[:PAGE_SIZE],
            listed=None,
            searched=form,
        )

    @routes.get("/patients/{patient_id}", response_class=HTMLResponse)
    async def patient_page(request: Request, patient_id: str) -> Response:
        session = await signed_in(request)
        patient_id = valid_id(patient_id)
        values = await run_in_threadpool(patient_values, engine, patient_id, context.today())
        if values is None:
            await note(session.staff, "patient", patient_id=patient_id, status=404)
            return page(request, session, "missing.html", patient_id=patient_id)
        await note(session.staff, "patient", patient_id=patient_id)
        return page(request, session, "patient.html", patient_id=patient_id, **values)

    @routes.post("/patients/{patient_id}/{action}")
    async def patient_action(request: Request, patient_id: str, action: str) -> Response:
        session = await signed_in(request)
        patient_id = valid_id(patient_id)
        form = await read_form(request)
        check_csrf(session, form)
        if action not in ACTIONS:
            raise ForbiddenError("no such action")
        if not session.staff.can_change_enrollment:
            await note(session.staff, action, action="E", patient_id=patient_id, status=403)
            raise ForbiddenError("only a pharmacist may change an enrollment")
        try:
            message = await ACTIONS[action](context.actions, patient_id, form, context.today())
            status = 200
        except (ActionRefusedError, DomainError, ValueError) as exc:
            message, status = f"Not done: {exc}", 409
        await note(session.staff, action, action="E", patient_id=patient_id, status=status)
        await run_in_threadpool(set_flash, engine, session.token_hash, message)
        return RedirectResponse(f"/app/patients/{patient_id}", status_code=303)

    @routes.post("/today/{what}")
    async def worklist_action(request: Request, what: str) -> Response:
        session = await signed_in(request)
        form = await read_form(request)
        check_csrf(session, form)
        day = parse_day(form.get("day"), context.today())
        if what not in WORK_ACTIONS:
            raise ForbiddenError("no such worklist action")
        patient_id = form.get("patient_id") or form.get("item_id", "").split(":")[0] or None
        try:
            message = await WORK_ACTIONS[what](context, form, day)
            status = 200
        except (ActionRefusedError, DomainError, ValueError) as exc:
            message, status = f"Not done: {exc}", 409
        # a return to stock is its own audit event (stock and claims change), not a "close"
        kind = form.get("item_id", "").split(":")[1:2]
        event = "today-return-to-stock" if kind == ["return-to-stock"] else f"today-{what}"
        await note(session.staff, event, action="E", patient_id=patient_id, status=status)
        await run_in_threadpool(set_flash, engine, session.token_hash, message)
        number = page_number(form.get("page"))
        back = f"/app/today?date={day.isoformat()}" + (f"&page={number}" if number > 1 else "")
        return RedirectResponse(back, status_code=303)

    # -- Write-back ----------------------------------------------------------------------

    @routes.get("/outbox", response_class=HTMLResponse)
    async def outbox_page(request: Request) -> Response:
        session = await signed_in(request)
        counts = await run_in_threadpool(outbox_counts, engine)
        dead = await run_in_threadpool(dead_writes, engine, PAGE_SIZE)
        await note(session.staff, "outbox")
        return page(request, session, "outbox.html", counts=counts, dead=dead)

    @routes.post("/outbox/retry")
    async def outbox_retry(request: Request) -> Response:
        session = await signed_in(request)
        form = await read_form(request)
        check_csrf(session, form)
        chosen = form.get("id", "")
        ids = None if chosen == "all" else [int(chosen)] if chosen.isdigit() else []
        result = await run_in_threadpool(retry_dead, engine, ids)
        message = f"{len(result.requeued)} write(s) queued again."
        if result.superseded:
            message += f" {len(result.superseded)} superseded by a newer plan (not sent)."
        if result.not_dead:
            message += " Some were no longer dead."
        await note(session.staff, "outbox-retry", action="E")
        await run_in_threadpool(set_flash, engine, session.token_hash, message)
        return RedirectResponse("/app/outbox", status_code=303)

    return routes


# -- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatientLine:
    patient_id: str
    name: str
    birth_date: str
    status: str | None
    anchor_date: date | None
    hold_until: date | None


def _line(row: PatientRow) -> PatientLine:
    return PatientLine(
        row.patient_id,
        patient_name(row.body),
        birth_date(row.body),
        row.status,
        row.anchor_date,
        row.hold_until,
    )


@dataclass(frozen=True, slots=True)
class PatientsPage:
    """A page of the patients list; `after` / `before` are the ids its Next / Previous links
    page from (None: no such page)."""

    rows: list[PatientLine]
    after: str | None
    before: str | None


def patients_paged(engine: Engine, after: str | None, before: str | None) -> PatientsPage:
    """The page after the id `after` or before the id `before` (neither: the first page)."""
    with read_transaction(engine) as connection:
        rows = patient_rows(
            connection, after=None if before else after, before=before, limit=PAGE_SIZE + 1
        )
    if before is not None:
        earlier = len(rows) > PAGE_SIZE
        rows = rows[-PAGE_SIZE:]
        later = True
    else:
        earlier = after is not None
        later = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
    lines = [_line(r) for r in rows]
    return PatientsPage(
        lines,
        lines[-1].patient_id if later and lines else None,
        lines[0].patient_id if earlier and lines else None,
    )


#: The status a search asks for -> the enrollment statuses it finds (None: never enrolled).
SEARCH_STATUSES: Final[dict[str, tuple[str | None, ...]]] = {
    "enrolled": ("active",),
    "on hold": ("on-hold",),
    "not enrolled": ("revoked", None),
}


def search_patients(
    engine: Engine, name: str, born: str, patient_id: str, status: str
) -> list[PatientLine]:
    """The first patients (by id) that match every criterion given: each word of `name` starts
    a word of one of the patient's names (accents and case ignored), the birth date is `born`,
    the id starts with `patient_id`, the enrollment is in `status`. Name words and birth dates
    are index entries of the stored Patients (mappings/kinds.py lookups), so a search reads
    the index and then only the patients it shows."""
    with read_transaction(engine) as connection:
        among: set[str] | None = None
        criteria = [(NAME_WORD.param, word, True) for word in name_words(name)]
        if born:
            criteria.append((BIRTH_DATE.param, born, False))
        for param, code, prefix in criteria:
            ids = token_ids(connection, "Patient", param, code, prefix=prefix)
            among = ids if among is None else among & ids
            if not among:
                return []
        rows = find_patient_rows(
            connection,
            among=among,
            id_prefix=patient_id or None,
            statuses=SEARCH_STATUSES.get(status),
            limit=PAGE_SIZE + 1,
        )
    return [_line(r) for r in rows]


def status_counts_of(engine: Engine) -> dict[str, int]:
    with read_transaction(engine) as connection:
        return status_counts(connection)


@dataclass(frozen=True, slots=True)
class PickupLine:
    patient_id: str
    name: str
    status: str
    description: str
    bag: list[tuple[str, str, int]]  # medicine, quantity, days supply


def pickups_on(
    engine: Engine,
    day: date,
    with_bags: bool = False,
    limit: int | None = None,
    skip: int = 0,
) -> list[PickupLine]:
    """The Appointments whose local date is `day` in patient order (the first `limit` after
    `skip`), with the fills that go in each bag. Only the pickups shown are read whole: their
    Patients and, for the bags, their CarePlans."""
    wanted = day.isoformat()
    found = []
    with read_transaction(engine) as connection:
        with closing(appointments_around(connection, day)) as appointments:
            for patient_id, body in appointments:
                appointment = orjson.loads(body)
                if str(appointment.get("start", ""))[:10] != wanted:
                    continue
                if appointment.get("status") in ("cancelled", "entered-in-error"):
                    continue
                if skip:
                    skip -= 1
                    continue
                found.append((patient_id, appointment))
                if limit is not None and len(found) >= limit:
                    break
        ids = [patient_id for patient_id, _ in found]
        names = patient_bodies_by_id(connection, ids)
        plans = plan_bodies_by_patient(connection, ids) if with_bags else {}
    return [
        PickupLine(
            patient_id,
            patient_name(names.get(patient_id)),
            str(appointment.get("status") or ""),
            str(appointment.get("description") or ""),
            bag(plans[patient_id][0][1], day) if patient_id in plans else [],
        )
        for patient_id, appointment in found
    ]


@dataclass(frozen=True, slots=True)
class RenewalLine:
    patient_id: str
    name: str
    medicine: str
    needed_by: str
    prescriber: str
    age_days: int | None


def renewals_waiting(engine: Engine, day: date) -> list[RenewalLine]:
    lines = []
    with read_transaction(engine) as connection:
        tasks = open_renewal_tasks(connection, PAGE_SIZE, identifier_system=SID_RENEWAL_TASK)
        names = patient_bodies_by_id(connection, [patient_id for patient_id, _ in tasks])
        for patient_id, body in tasks:
            task = orjson.loads(body)
            period = (task.get("restriction") or {}).get("period") or {}
            start = str(period.get("start") or "")
            try:
                age = (day - date.fromisoformat(start[:10])).days if start else None
            except ValueError:
                age = None
            lines.append(
                RenewalLine(
                    patient_id,
                    patient_name(names.get(patient_id)),
                    str((task.get("reasonCode") or {}).get("text") or ""),
                    str(period.get("end") or "")[:10],
                    str((task.get("owner") or {}).get("reference") or ""),
                    age,
                )
            )
    return lines


def patient_values(engine: Engine, patient_id: str, today: date) -> dict[str, Any] | None:
    with read_transaction(engine) as connection:
        body = patient_body(connection, patient_id)
        enrollment = get_enrollment(connection, patient_id)
        bodies = patient_bodies(connection, patient_id, PLAN_TYPES)
        events = search_audit(
            connection, AuditQuery(patients=((patient_id,),), actions=(("E",),), limit=25)
        )
    if body is None and enrollment is None:
        return None
    status = enrollment.status if enrollment is not None else None
    plan = read_plan(bodies, status)
    hold_until = enrollment.hold_until if enrollment is not None else None
    closed = {int(d) for d in enrollment.closed_weekdays.split(",") if d} if enrollment else set()
    cycle = [e for e in worklist.patient_entries(engine, patient_id) if e.day <= today]
    return {
        "cycle": cycle[-40:][::-1],
        "name": patient_name(body),
        "birth_date": birth_date(body),
        "enrollment": enrollment,
        "status": status,
        "plan": plan,
        "picture": timeline(plan, today, hold_until) if plan is not None else None,
        "closed": closed,
        "weekdays": WEEKDAYS,
        "history": [_history(event) for event in events],
    }


@dataclass(frozen=True, slots=True)
class HistoryLine:
    when: str
    who: str
    what: str
    result: str


def _history(event: Any) -> HistoryLine:
    return HistoryLine(
        event.recorded.strftime("%Y-%m-%d %H:%M"),
        (event.client_id or "").removeprefix(audit.CLIENT_PREFIX),
        event.interaction.removeprefix("app-"),
        "done" if event.status < 400 else f"refused ({event.status})",
    )


# -- actions ----------------------------------------------------------------------------


def _int(form: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = form.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"{name.replace('_', ' ')} must be a whole number from {low} to {high}")
    return int(value)


def _anchor(form: dict[str, str]) -> int | None:
    value = form.get("anchor_day", "").strip()
    return None if value in ("", "auto") else _int(form, "anchor_day", 1, 1, 31)


async def _enroll(actions: EnrollmentActions, pid: str, form: dict[str, str], _t: date) -> str:
    cycle = _int(form, "cycle_days", 30, 1, 90)
    if cycle not in (28, 30, 90):
        raise ValueError("the cycle is 28, 30 or 90 days")
    closed = frozenset(i for i, day in enumerate(WEEKDAYS) if form.get(f"closed_{day}"))
    choice = EnrollChoice(_anchor(form), cycle, closed, _int(form, "lead_days", 7, 0, 30))
    status = await actions.enroll(pid, choice)
    return f"Enrolled ({STATUS_WORDS.get(status, status)}); the plan was made again."


async def _anchor_change(
    actions: EnrollmentActions, pid: str, form: dict[str, str], _t: date
) -> str:
    await actions.change_anchor(pid, _anchor(form))
    return "Anchor day changed; the plan was made again."


async def _hold(actions: EnrollmentActions, pid: str, form: dict[str, str], today: date) -> str:
    try:
        until = date.fromisoformat(form.get("until", ""))
    except ValueError:
        raise ValueError("give the date the hold ends (YYYY-MM-DD)") from None
    if until <= today:
        raise ValueError("the hold must end after today")
    await actions.hold(pid, until)
    return f"On hold until {until.isoformat()}."


async def _resume(actions: EnrollmentActions, pid: str, _f: dict[str, str], _t: date) -> str:
    await actions.resume(pid)
    return "Resumed; the plan was made again as of today."


async def _unenroll(actions: EnrollmentActions, pid: str, _f: dict[str, str], _t: date) -> str:
    await actions.unenroll(pid)
    return "Unenrolled."


async def _sync(actions: EnrollmentActions, pid: str, _f: dict[str, str], _t: date) -> str:
    await actions.sync_now(pid)
    return "Synced: the plan was made again from the latest orders and fills."


ACTIONS: Final = {
    "enroll": _enroll,
    "anchor": _anchor_change,
    "hold": _hold,
    "resume": _resume,
    "unenroll": _unenroll,
    "sync": _sync,
}


# -- the worklist ---------------------------------------------------------------------------

GROUP_TITLES: Final = {
    "calls": "Calls to make",
    "preparations": "Fills to prepare",
    "pickups": "Pickups",
    "renewals": "Renewals waiting and overdue",
    "reviews": "Changes to review",
}
templates.globals["group_title"] = lambda name: GROUP_TITLES.get(name, name)


def worklist_of(
    engine: Engine, day: date, number: int = 1
) -> tuple[worklist.WorklistPage, dict[str, str]]:
    """A page of the day's worklist and the names of its patients."""
    work = worklist.day_worklist_page(engine, day, page=number, size=PAGE_SIZE)
    ids = sorted({entry.patient_id for entry in work.entries})
    with read_transaction(engine) as connection:
        bodies = patient_bodies_by_id(connection, ids)
    names = {pid: patient_name(bodies.get(pid)) for pid in ids}
    return work, names


#: The worklist kinds that are calls (recorded with an outcome and, when reached, a check-in).
CALL_KINDS: Final = ("outreach", "call-retry", "no-show-follow-up")


def call_entry(
    engine: Engine, patient_id: str, item_id: str
) -> tuple[worklist.WorklistEntry, str] | None:
    """The call item `item_id` of the patient and the patient's name (None: no such call)."""
    entry = next(
        (e for e in worklist.patient_entries(engine, patient_id) if e.item_id == item_id), None
    )
    if entry is None or entry.kind not in CALL_KINDS:
        return None
    with read_transaction(engine) as connection:
        return entry, patient_name(patient_body(connection, patient_id))


def _date(form: dict[str, str], name: str) -> date | None:
    value = form.get(name, "").strip()
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise ValueError(f"{name.replace('_', ' ')} is not a date (YYYY-MM-DD)") from None


def _pickup_choice(form: dict[str, str]) -> PickupChoice | None:
    """The answer to "is the pickup date still right?"; a new date given alone is a new date."""
    value = form.get("pickup", "")
    if not value:
        return PickupChoice.NEW_DATE if form.get("new_date", "").strip() else None
    try:
        return PickupChoice(value)
    except ValueError:
        raise ValueError("not an answer to the pickup question") from None


def _yes(form: dict[str, str], name: str) -> bool | None:
    value = form.get(name, "")
    return True if value == "yes" else False if value == "no" else None


async def _call(context: AppContext, form: dict[str, str], day: date) -> str:
    item_id = form.get("item_id", "")
    try:
        outcome = ContactOutcome(form.get("outcome", ""))
    except ValueError:
        raise ValueError("choose how the call ended") from None
    await run_in_threadpool(worklist.record_contact, context.engine, item_id, outcome, day)
    if outcome is not ContactOutcome.REACHED:
        return f"Call recorded: {outcome.value.replace('-', ' ')}."
    answers = CheckInAnswers(
        answered_on=day,
        taking_as_directed=_yes(form, "taking_as_directed"),
        missed_doses=_yes(form, "missed_doses"),
        hospital_visit=_yes(form, "hospital_visit"),
        new_medicines=_yes(form, "new_medicines"),
        stopped_or_changed=_yes(form, "stopped_or_changed"),
        side_effects=_yes(form, "side_effects"),
        pickup=_pickup_choice(form),
        new_date=_date(form, "new_date"),
        away_from=_date(form, "away_from"),
        away_until=_date(form, "away_until"),
        stop_program=_yes(form, "stop_program"),
        details=form.get("details", "").strip()[:2000] or None,
    )
    patient_id = item_id.split(":")[0]
    done = await context.actions.check_in(patient_id, answers)
    words = "Call recorded with the check-in."
    if done.result.reviews:
        words += f" {len(done.result.reviews)} change(s) to review."
    if done.result.new_anchor is not None:
        words += f" Pickups move to {done.result.new_anchor.isoformat()}."
    if done.result.early_pickup is not None:
        words += f" This pickup moves to {done.result.early_pickup.isoformat()} (away)."
    if done.result.delivery:
        words += " Deliver the medicines instead of a pickup at the counter."
    if done.result.replan:
        try:
            await context.actions.sync_now(patient_id)
            words += " The plan was made again."
        except (ActionRefusedError, DomainError) as exc:
            words += f" The plan could not be made again: {exc}"
    return words


async def _prepare(context: AppContext, form: dict[str, str], day: date) -> str:
    status = form.get("status", "")
    reason = form.get("reason", "").strip() or None
    await run_in_threadpool(partial_prep, context.engine, form.get("item_id", ""), status, reason)
    return f"Preparation {status.replace('-', ' ')}."


def partial_prep(engine: Engine, item_id: str, status: str, reason: str | None) -> None:
    worklist.set_preparation_status(engine, item_id, status, reason=reason)


async def _pickup(context: AppContext, form: dict[str, str], day: date) -> str:
    try:
        status = PickupStatus(form.get("status", ""))
        anchor = date.fromisoformat(form.get("anchor", ""))
    except ValueError:
        raise ValueError("not a pickup outcome") from None
    patient_id = valid_id(form.get("patient_id", ""))
    await run_in_threadpool(worklist.record_pickup, context.engine, patient_id, anchor, status, day)
    return "Picked up." if status is PickupStatus.FULFILLED else "No-show recorded."


#: Items that staff close by saying they were handled (a review confirmed, a renewal sent
#: again or escalated, a return to stock done), with the words of the button.
CLOSABLE: Final = {
    "review": "Confirmed",
    "renewal-resend": "Sent again",
    "renewal-escalate": "Escalated",
    "renewal-rejected": "Handled",
    "return-to-stock": "Returned to stock",
    "unreached": "Handled",
    "update-contact": "Contact updated",
    "pull-fill": "Fill pulled",
    "unconfirmed-pickup": "Handled",
    "roll-forward": "Handled",
}
templates.globals["closable"] = CLOSABLE
templates.globals["call_kinds"] = CALL_KINDS


def close_item(engine: Engine, item_id: str) -> bool:
    with write_transaction(engine) as connection:
        return close_cycle_item(connection, item_id, datetime.now(UTC))


async def _close(context: AppContext, form: dict[str, str], day: date) -> str:
    item_id = form.get("item_id", "")
    parts = item_id.split(":")
    if len(parts) < 3 or parts[1] not in CLOSABLE:
        raise ValueError("this item is closed by its own action")
    if parts[1] == "return-to-stock":
        back = await run_in_threadpool(worklist.return_to_stock, context.engine, item_id, day)
        return f"Returned to stock: {back.fills} fill(s) back on the shelf. The item is done."
    if parts[1] in ("renewal-resend", "renewal-escalate"):
        done = await run_in_threadpool(worklist.follow_up_renewal, context.engine, item_id, day)
        if done.task is None:
            return f"{CLOSABLE[parts[1]]}: the item is done (no open renewal Task to mark)."
        return f"{CLOSABLE[parts[1]]}: {done.note}; the renewal Task says so. The item is done."
    if not await run_in_threadpool(close_item, context.engine, item_id):
        raise ValueError("the item is already done")
    return f"{CLOSABLE[parts[1]]}: the item is done."


WORK_ACTIONS: Final = {"call": _call, "prepare": _prepare, "pickup": _pickup, "close": _close}

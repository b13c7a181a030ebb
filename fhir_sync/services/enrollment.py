"""Enrollment operations: the state changes of an enrollment and the plan that follows them.

Each operation is one database transaction: the enrollment row (locked), the plan resources,
the payer's Group version and the outbox write to the EHR commit together or not at all, so a
crash leaves either the old state or the new one, never a plan the EHR will not hear about.
Pulling from live endpoints happens before the transaction, never inside it, and so does
the planning (see plan_draft.py), so that the transaction holds only the writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from fhir_sync.engine import ControlledPolicy, Preferences
from fhir_sync.fill_settings import apply_fill_settings, parse_fill_settings, stored_form
from fhir_sync.services.collect import PatientInputs
from fhir_sync.services.cycle_replan import answered_renewals, feed_replan
from fhir_sync.services.errors import (
    InputsRejectedError,
    NotAvailableError,
    NotEnrolledError,
    StateConflictError,
    VersionMismatchError,
)
from fhir_sync.services.fhir_json import dumps
from fhir_sync.services.groups import payer_group_id
from fhir_sync.services.indexing import JsonObject, resource_row, without_meta
from fhir_sync.services.live_pull import Endpoints, LivePull
from fhir_sync.services.patient_inputs import gather, inputs_bytes, plan_for
from fhir_sync.services.plan_draft import (
    CheckedValidator,
    PlanDraft,
    PlanningTerms,
    check_changed,
    draft_plan,
)
from fhir_sync.services.plan_resources import (
    ACTIVE,
    ON_HOLD,
    REVOKED,
    StoredPlan,
    apply_enrollment_status,
    careplan_id,
    current_plan,
    plan_hash,
    resources_from_transaction,
    store_plan,
)
from fhir_sync.services.plan_terms import EnrollTerms
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.enrollments import (
    get_enrollment,
    pickups_per_day,
    save_enrollment,
    touch_payer_group,
)
from fhir_sync.store.outbox import enqueue
from fhir_sync.store.resources import read_resource, save_resources, set_payer
from fhir_sync.store.retry import retry_conflicts
from fhir_sync.store.tables import Enrollment
from mappings.pickup_hours import PickupHours, pickup_hours
from mappings.validation import validate_resource

Validator = Callable[[JsonObject], list[str]]


@dataclass(frozen=True, slots=True)
class OperationResult:
    enrollment_status: str
    plan: list[JsonObject]


def endpoints_of(enrollment: Enrollment) -> Endpoints:
    return Endpoints(
        enrollment.ehr_endpoint, enrollment.pharmacy_endpoint, enrollment.target_endpoint
    )


def preferences_of(enrollment: Enrollment) -> Preferences:
    closed = frozenset(int(day) for day in enrollment.closed_weekdays.split(",") if day)
    prefs = Preferences(
        cycle_days=enrollment.cycle_days,
        anchor_day=enrollment.anchor_day,
        anchor_date=enrollment.anchor_date,
        closed_weekdays=closed,
        lead_days=enrollment.lead_days,
        controlled=ControlledPolicy(enrollment.controlled),
    )
    return apply_fill_settings(prefs, fill_settings_of(enrollment))


def fill_settings_of(enrollment: Enrollment) -> dict[str, Any]:
    """The dispensing-rule settings given at $enroll (parsed), by key."""
    if not enrollment.fill_settings:
        return {}
    return parse_fill_settings(orjson.loads(enrollment.fill_settings))


def pickup_of(enrollment: Enrollment, default: PickupHours) -> PickupHours:
    """The enrollment's pickup hours and time zone, each falling back to the server's."""
    if enrollment.time_zone is None and enrollment.pickup_hours is None:
        return default
    return pickup_hours(
        enrollment.pickup_hours or default.text, enrollment.time_zone or default.time_zone
    )


def _now() -> datetime:
    return datetime.now(UTC)


class EnrollmentService:
    """The operations behind `Patient/$enroll` and friends; `today` gives the planning date."""

    def __init__(
        self,
        engine: Engine,
        *,
        today: Callable[[], date],
        live: LivePull | None = None,
        validate: Validator = validate_resource,
        pickup: PickupHours | None = None,
    ) -> None:
        self.engine = engine
        self.today = today
        self.live = live
        self.validate = validate
        self.pickup = pickup or PickupHours()

    # -- reading what to plan from ------------------------------------------------------

    async def pull(self, patient_id: str, endpoints: Endpoints) -> PatientInputs:
        if self.live is None:
            raise NotAvailableError(
                "pulling from live FHIR endpoints is not configured on this server; "
                "give the MedicationRequests and MedicationDispenses as 'resource' parts",
            )
        return await self.live.pull(patient_id, endpoints)

    def stored_inputs(self, patient_id: str) -> PatientInputs | None:
        with self.engine.connect() as connection:
            enrollment = get_enrollment(connection, patient_id)
        if enrollment is None or enrollment.inputs is None:
            return None
        return gather(patient_id, [orjson.loads(enrollment.inputs)])

    def enrollment(self, patient_id: str) -> Enrollment | None:
        with self.engine.connect() as connection:
            return get_enrollment(connection, patient_id)

    # -- operations ----------------------------------------------------------------------

    def preview(self, patient_id: str, terms: EnrollTerms, data: PatientInputs) -> JsonObject:
        """$plan: the transaction Bundle the patient would get, nothing stored."""
        enrollment = self.enrollment(patient_id)
        draft = _apply_terms(enrollment or _new_enrollment(patient_id, _now()), terms)
        with self.engine.connect() as connection:
            load = pickups_per_day(connection, patient_id)
        _, bundle = plan_for(
            patient_id,
            data,
            self.today(),
            preferences_of(draft),
            draft.pharmacy,
            pickup_of(draft, self.pickup),
            load,
        )
        return bundle

    @retry_conflicts
    def enroll(
        self,
        patient_id: str,
        terms: EnrollTerms,
        data: PatientInputs | None,
        *,
        if_match: str | None,
    ) -> OperationResult:
        now = _now()
        inputs = inputs_bytes(terms.resources) if terms.resources else None

        def prepare(
            existing: Enrollment | None, draft: PlanDraft | None = None
        ) -> tuple[Enrollment, PatientInputs]:
            enrollment = _apply_terms(existing or _new_enrollment(patient_id, now), terms)
            if existing is not None and existing.status == REVOKED:
                enrollment.status = ACTIVE
                enrollment.enrolled_at = now
                enrollment.revoked_at = None
            if inputs is not None:
                enrollment.inputs = inputs
            found = data if data is not None else self._inputs_of(enrollment, draft)
            if existing is None and not endpoints_of(enrollment).any and _nothing_in(found):
                # A mistyped id would otherwise leave an active, empty CarePlan behind.
                raise InputsRejectedError(
                    f"nothing could be planned: Patient/{patient_id} is not enrolled and the "
                    "request has no 'resource' parts and no ehrEndpoint; nothing was stored",
                    code="required",
                )
            if "payer" not in terms.given and found.payer is not None:
                enrollment.payer = found.payer
            return enrollment, found

        draft = self._draft(patient_id, prepare)
        with write_transaction(self.engine) as connection:
            existing = get_enrollment(connection, patient_id, for_update=True)
            _check_match(connection, patient_id, if_match)
            enrollment, found = prepare(existing, draft)
            old_payer = existing.payer if existing is not None else None
            self._store_patient(connection, patient_id, found.patient, enrollment.payer, now, draft)
            if enrollment.payer != old_payer:
                set_payer(connection, patient_id, enrollment.payer)
            plan = self._replan(connection, enrollment, found, now, draft)
            # Sorted: another process changing a patient between the same two payers must
            # lock their rows in the same order, or each waits for the other (a deadlock).
            for payer in sorted({p for p in (old_payer, enrollment.payer) if p is not None}):
                touch_payer_group(connection, payer, payer_group_id(payer), now)
            self._finish(connection, enrollment, plan, now, new=existing is None)
        return OperationResult(enrollment.status, plan.resources)

    def unenroll(self, patient_id: str, *, if_match: str | None) -> OperationResult:
        return self._change_status(patient_id, if_match, _revoke, touches_group=True)

    def hold(self, patient_id: str, until: date, *, if_match: str | None) -> OperationResult:
        def change(enrollment: Enrollment, _now: datetime) -> bool:
            if enrollment.status == REVOKED:
                raise StateConflictError("the patient is unenrolled; enroll again first")
            enrollment.status = ON_HOLD
            enrollment.hold_until = until
            return True

        return self._change_status(patient_id, if_match, change)

    @retry_conflicts
    def resume(
        self, patient_id: str, data: PatientInputs | None, *, if_match: str | None
    ) -> OperationResult:
        """Back to active; the plan is recomputed as of today (the hold may have been long)."""
        now = _now()

        def prepare(
            existing: Enrollment | None, draft: PlanDraft | None = None
        ) -> tuple[Enrollment, PatientInputs] | None:
            if existing is None or existing.status in (REVOKED, ACTIVE):
                return None
            enrollment = Enrollment(**existing.model_dump())
            enrollment.status = ACTIVE
            enrollment.hold_until = None
            return enrollment, data or self._inputs_of(enrollment, draft)

        draft = self._draft(patient_id, prepare)
        with write_transaction(self.engine) as connection:
            enrollment = self._locked(connection, patient_id, if_match)
            if enrollment.status == REVOKED:
                raise StateConflictError("the patient is unenrolled; enroll again instead")
            if enrollment.status == ACTIVE:
                return OperationResult(ACTIVE, current_plan(connection, patient_id))
            enrollment.status = ACTIVE
            enrollment.hold_until = None
            found = data or self._inputs_of(enrollment, draft)
            plan = self._replan(connection, enrollment, found, now, draft)
            self._finish(connection, enrollment, plan, now)
        return OperationResult(enrollment.status, plan.resources)

    @retry_conflicts
    def sync(
        self,
        patient_id: str,
        data: PatientInputs,
        given: list[JsonObject],
        *,
        if_match: str | None,
    ) -> OperationResult:
        """Re-plan from fresh data (given in the request or just pulled)."""
        now = _now()
        inputs = inputs_bytes(given) if given else None

        def prepare(
            existing: Enrollment | None, _draft: PlanDraft | None = None
        ) -> tuple[Enrollment, PatientInputs] | None:
            if existing is None or existing.status == REVOKED:
                return None
            return existing, data

        draft = self._draft(patient_id, prepare)
        with write_transaction(self.engine) as connection:
            enrollment = self._locked(connection, patient_id, if_match)
            if enrollment.status == REVOKED:
                raise StateConflictError("the patient is unenrolled; enroll again first")
            if inputs is not None:
                enrollment.inputs = inputs
            if data.patient is not None:
                self._store_patient(
                    connection, patient_id, data.patient, enrollment.payer, now, draft
                )
            plan = self._replan(connection, enrollment, data, now, draft)
            self._finish(connection, enrollment, plan, now)
        return OperationResult(enrollment.status, plan.resources)

    # -- steps ---------------------------------------------------------------------------

    def _inputs_of(self, enrollment: Enrollment, draft: PlanDraft | None = None) -> PatientInputs:
        """The enrollment's stored inputs, as the draft already read them when they are the
        same ones."""
        if draft is not None and draft.inputs == enrollment.inputs:
            return draft.data
        if enrollment.inputs is None:
            return PatientInputs()
        return gather(enrollment.patient_id, [orjson.loads(enrollment.inputs)])

    def _draft(
        self,
        patient_id: str,
        prepare: Callable[[Enrollment | None], tuple[Enrollment, PatientInputs] | None],
    ) -> PlanDraft | None:
        """The plan and the checks of its resources and Patient, done before the write
        transaction on an unlocked read; None when the operation will not plan."""
        with read_transaction(self.engine) as connection:
            existing = get_enrollment(connection, patient_id)
            stored = current_plan(connection, patient_id)
            # The other patients' pickups as they stand now: the daily limit is a preference
            # of the anchor choice, so a draft made a moment before the lock is good enough.
            load = pickups_per_day(connection, patient_id)
        prepared = prepare(existing)
        if prepared is None:
            return None
        enrollment, data = prepared
        checked = CheckedValidator(self.validate)
        if data.patient is not None:
            checked(without_meta(data.patient))
        return draft_plan(enrollment, data, self.today(), self._planning, checked, stored, load)

    def _planning(self, enrollment: Enrollment) -> PlanningTerms:
        """The enrollment's preferences and pickup hours, which its plan depends on."""
        return preferences_of(enrollment), pickup_of(enrollment, self.pickup)

    def _locked(self, connection: Connection, patient_id: str, if_match: str | None) -> Enrollment:
        enrollment = get_enrollment(connection, patient_id, for_update=True)
        if enrollment is None:
            raise NotEnrolledError(f"Patient/{patient_id} is not enrolled")
        _check_match(connection, patient_id, if_match)
        return enrollment

    @retry_conflicts
    def _change_status(
        self,
        patient_id: str,
        if_match: str | None,
        change: Callable[[Enrollment, datetime], bool],
        *,
        touches_group: bool = False,
    ) -> OperationResult:
        now = _now()
        checked = CheckedValidator(self.validate)
        with read_transaction(self.engine) as connection:  # validate before the write lock
            existing = get_enrollment(connection, patient_id)
            stored = current_plan(connection, patient_id)
        if existing is not None and change(existing, now):
            resources = [without_meta(r) for r in stored]
            apply_enrollment_status(resources, existing.status)
            check_changed(checked, resources, stored)
        with write_transaction(self.engine) as connection:
            enrollment = self._locked(connection, patient_id, if_match)
            if not change(enrollment, now):
                return OperationResult(enrollment.status, current_plan(connection, patient_id))
            plan = self._store_status(connection, enrollment, now, checked, touches_group)
        return OperationResult(enrollment.status, plan.resources)

    def _store_status(
        self,
        connection: Connection,
        enrollment: Enrollment,
        now: datetime,
        validate: Validator,
        touches_group: bool,
    ) -> StoredPlan:
        """The stored plan with the enrollment's new status (CarePlan, Appointments, Tasks),
        the payer's Group touched when membership changed, queued for the EHR, saved."""
        patient_id = enrollment.patient_id
        resources = [without_meta(r) for r in current_plan(connection, patient_id)]
        apply_enrollment_status(resources, enrollment.status)
        plan = store_plan(
            connection, patient_id, resources, payer=enrollment.payer, now=now, validate=validate
        )
        if touches_group and enrollment.payer is not None:
            payer = enrollment.payer
            touch_payer_group(connection, payer, payer_group_id(payer), now)
        self._finish(connection, enrollment, plan, now)
        return plan

    # -- the cycle's check-in acts through these, in its own transaction ------------------

    def revoke_locked(self, connection: Connection, enrollment: Enrollment, now: datetime) -> bool:
        """`$unenroll` of an enrollment the caller has locked, in the caller's transaction (a
        check-in answering "stop the program" also records its cycle facts there): the plan
        revoked and written back to the EHR exactly as `$unenroll` does. False, and nothing
        written, when the enrollment is already revoked (a second "stop" changes nothing)."""
        if not _revoke(enrollment, now):
            return False
        self._store_status(connection, enrollment, now, self.validate, touches_group=True)
        return True

    def reanchor_locked(
        self, connection: Connection, enrollment: Enrollment, anchor: date, now: datetime
    ) -> StoredPlan | None:
        """The enrollment (locked by the caller) re-anchored on `anchor` and re-planned from its
        stored orders in the caller's transaction, as `$enroll` with a new anchor plans it, so
        that the short fills and the Appointment fall on the new date. None when its orders
        come from a live endpoint (pulling never happens inside a transaction, so the caller
        queues a sync and the worker re-plans on the anchor set here), and when it has no
        stored orders to plan from."""
        enrollment.anchor_date = anchor
        if endpoints_of(enrollment).any or enrollment.inputs is None:
            return None
        plan = self._replan(connection, enrollment, self._inputs_of(enrollment), now)
        self._finish(connection, enrollment, plan, now)
        return plan

    def _replan(
        self,
        connection: Connection,
        enrollment: Enrollment,
        data: PatientInputs,
        now: datetime,
        draft: PlanDraft | None = None,
    ) -> StoredPlan:
        """Store the plan: the draft's when it was made for these terms and data, else one
        computed here (another request changed the enrollment in between)."""
        today = self.today()
        validate: Validator = self.validate
        if draft is not None and draft.fits(enrollment, data, today, self._planning):
            plan, resources, validate = draft.plan, draft.resources, draft.checked
        else:
            plan, bundle = plan_for(
                enrollment.patient_id,
                data,
                today,
                preferences_of(enrollment),
                enrollment.pharmacy,
                pickup_of(enrollment, self.pickup),
                pickups_per_day(connection, enrollment.patient_id),
            )
            resources = resources_from_transaction(bundle)
            apply_enrollment_status(resources, enrollment.status)
        if plan.anchor is not None:
            enrollment.anchor_date = plan.anchor
        before = current_plan(connection, enrollment.patient_id)
        resources = answered_renewals(before, resources, today)
        stored = store_plan(
            connection,
            enrollment.patient_id,
            resources,
            payer=enrollment.payer,
            now=now,
            validate=validate,
        )
        feed_replan(connection, enrollment, before, stored.resources, today, now)
        return stored

    def _store_patient(
        self,
        connection: Connection,
        patient_id: str,
        given: JsonObject | None,
        payer: str | None,
        now: datetime,
        draft: PlanDraft | None = None,
    ) -> None:
        stored = read_resource(connection, "Patient", patient_id)
        if given is None:
            if stored is not None:
                return
            resource: JsonObject = {"resourceType": "Patient", "id": patient_id, "active": True}
        else:
            resource = without_meta(given)
            problems = (draft.checked if draft is not None else self.validate)(resource)
            if problems:
                raise InputsRejectedError(
                    "the Patient is not valid FHIR R4: " + "; ".join(problems[:5]),
                    code="structure",
                    expression="Patient",
                )
            if stored is not None and without_meta(orjson.loads(stored.body)) == resource:
                return
        version = 1 if stored is None else stored.version_id + 1
        save_resources(
            connection, [resource_row(resource, version_id=version, last_updated=now, payer=payer)]
        )

    def _finish(
        self,
        connection: Connection,
        enrollment: Enrollment,
        plan: StoredPlan,
        now: datetime,
        *,
        new: bool = False,
    ) -> None:
        """Queue the plan for the EHR when it differs from what was last queued; save."""
        target = endpoints_of(enrollment).write_to
        transaction = plan.transaction()
        digest = plan_hash(transaction)
        if target is not None and digest != enrollment.plan_hash:
            enqueue(connection, target, enrollment.patient_id, dumps(transaction))
            enrollment.plan_hash = digest
        enrollment.updated_at = now
        enrollment.version = 1 if new else enrollment.version + 1
        save_enrollment(connection, enrollment, new=new)


def _revoke(enrollment: Enrollment, now: datetime) -> bool:
    """Unenroll: revoked from `now`; False when it already was."""
    if enrollment.status == REVOKED:
        return False
    enrollment.status = REVOKED
    enrollment.hold_until = None
    enrollment.revoked_at = now
    return True


def _nothing_in(data: PatientInputs) -> bool:
    return not data.orders and not data.fills and data.patient is None


def _new_enrollment(patient_id: str, now: datetime) -> Enrollment:
    return Enrollment(patient_id=patient_id, status=ACTIVE, enrolled_at=now, updated_at=now)


def _apply_terms(enrollment: Enrollment, terms: EnrollTerms) -> Enrollment:
    """A copy of `enrollment` with the given terms; a new anchor day or cycle drops the
    anchor date the patient had, so that the new terms take effect."""
    updated = Enrollment(**enrollment.model_dump())
    given = terms.given
    fields: dict[str, Any] = {
        "anchorDay": ("anchor_day", terms.anchor_day),
        "cycleDays": ("cycle_days", terms.cycle_days),
        "leadDays": ("lead_days", terms.lead_days),
        "timeZone": ("time_zone", terms.time_zone),
        "pickupHours": ("pickup_hours", terms.pickup_hours),
        "controlledSubstances": ("controlled", terms.controlled),
        "closedDays": (
            "closed_weekdays",
            ",".join(str(day) for day in sorted(terms.closed_weekdays)),
        ),
        "pharmacy": ("pharmacy", terms.pharmacy),
        "payer": ("payer", terms.payer),
        "ehrEndpoint": ("ehr_endpoint", terms.ehr_endpoint),
        "pharmacyEndpoint": ("pharmacy_endpoint", terms.pharmacy_endpoint),
        "targetEndpoint": ("target_endpoint", terms.target_endpoint),
    }
    for part, (attribute, value) in fields.items():
        if part in given:
            setattr(updated, attribute, value)
    if terms.fill:
        merged = {**fill_settings_of(enrollment), **terms.fill}
        updated.fill_settings = orjson.dumps(
            stored_form(merged), option=orjson.OPT_SORT_KEYS
        ).decode()
    if given & {"anchorDay", "cycleDays"} and (
        updated.anchor_day != enrollment.anchor_day or updated.cycle_days != enrollment.cycle_days
    ):
        updated.anchor_date = None
    return updated


def _check_match(connection: Connection, patient_id: str, if_match: str | None) -> None:
    """`If-Match: W/"<n>"` against the patient's CarePlan version: 412 when it moved on."""
    if if_match is None:
        return
    stored = read_resource(connection, "CarePlan", careplan_id(patient_id))
    wanted = if_match.strip().removeprefix("W/").strip('"')
    if stored is None or str(stored.version_id) != wanted:
        raise VersionMismatchError("the CarePlan has changed since that version (If-Match)")

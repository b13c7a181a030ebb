"""Mounting the staff web app at /app, with the enrollment service behind its actions.

The web app's actions are the same operations as `$enroll`, `$hold` and friends: this adapter
turns a form's choices into the service's terms and finds what to plan from the same way the
operations do (stored inputs, else the enrollment's live endpoints)."""

from __future__ import annotations

from datetime import date
from functools import partial

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from fhir_sync.api.errors import FhirError
from fhir_sync.engine.checkin import CheckInAnswers
from fhir_sync.services import worklist
from fhir_sync.services.collect import PatientInputs
from fhir_sync.services.enrollment import EnrollmentService, endpoints_of
from fhir_sync.services.plan_terms import EnrollTerms
from fhir_sync.services.server_settings import ServerSettings, today_for
from fhir_sync.services.worklist import CheckInRecorded
from fhir_sync.settings import AppSection
from fhir_sync.webapp import ActionRefusedError, EnrollChoice, staff_app


class ServiceActions:
    def __init__(self, service: EnrollmentService) -> None:
        self.service = service

    async def _data(self, patient_id: str) -> PatientInputs | None:
        enrollment = await run_in_threadpool(self.service.enrollment, patient_id)
        if enrollment is None:
            return None
        endpoints = endpoints_of(enrollment)
        try:
            if endpoints.any and self.service.live is not None:
                return await self.service.pull(patient_id, endpoints)
        except FhirError as exc:
            raise ActionRefusedError(str(exc)) from None
        return await run_in_threadpool(self.service.stored_inputs, patient_id)

    async def enroll(self, patient_id: str, choice: EnrollChoice) -> str:
        terms = EnrollTerms(
            given={"anchorDay", "cycleDays", "leadDays", "closedDays"},
            anchor_day=choice.anchor_day,
            cycle_days=choice.cycle_days,
            lead_days=choice.lead_days,
            closed_weekdays=choice.closed_weekdays,
        )
        data = await self._data(patient_id)
        result = await run_in_threadpool(
            self.service.enroll, patient_id, terms, data, if_match=None
        )
        return result.enrollment_status

    async def change_anchor(self, patient_id: str, anchor_day: int | None) -> str:
        enrollment = await run_in_threadpool(self.service.enrollment, patient_id)
        if enrollment is None or enrollment.status == "revoked":
            raise ActionRefusedError("the patient is not enrolled; enroll them first")
        terms = EnrollTerms(given={"anchorDay"}, anchor_day=anchor_day)
        data = await self._data(patient_id)
        result = await run_in_threadpool(
            self.service.enroll, patient_id, terms, data, if_match=None
        )
        return result.enrollment_status

    async def hold(self, patient_id: str, until: date) -> str:
        result = await run_in_threadpool(self.service.hold, patient_id, until, if_match=None)
        return result.enrollment_status

    async def resume(self, patient_id: str) -> str:
        data = await self._data(patient_id)
        result = await run_in_threadpool(self.service.resume, patient_id, data, if_match=None)
        return result.enrollment_status

    async def unenroll(self, patient_id: str) -> str:
        result = await run_in_threadpool(self.service.unenroll, patient_id, if_match=None)
        return result.enrollment_status

    async def sync_now(self, patient_id: str) -> str:
        data = await self._data(patient_id)
        if data is None:
            raise ActionRefusedError(
                "the patient is not enrolled, or there is nothing to sync from"
            )
        result = await run_in_threadpool(self.service.sync, patient_id, data, [], if_match=None)
        return result.enrollment_status

    async def check_in(self, patient_id: str, answers: CheckInAnswers) -> CheckInRecorded:
        service = self.service
        return await run_in_threadpool(
            partial(worklist.check_in, service.engine, patient_id, answers, plans=service)
        )


def mount_staff_app(
    app: FastAPI, settings: ServerSettings, engine: Engine, service: EnrollmentService
) -> None:
    """Mount at /app unless FHIR_SYNC_APP=0."""
    app_settings = AppSection.from_env()
    if not app_settings.app:
        return
    secure = not app_settings.app_insecure_cookies
    app.mount(
        "/app",
        staff_app(
            engine, ServiceActions(service), partial(today_for, settings), secure_cookies=secure
        ),
    )

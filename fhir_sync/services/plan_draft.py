"""A plan computed before the write transaction, used inside it when nothing changed meanwhile.

On SQLite a write transaction holds the database's one write lock, so whatever runs inside it
stalls every other write: planning, building the Bundle and validating each resource against
the FHIR models took most of an operation's time. They are pure functions of the patient's
data and the enrollment's terms, so they run first, on an unlocked read of the enrollment;
inside the transaction the locked enrollment is compared with what the draft assumed
(`planning_terms`) and the draft is used when they agree, which is all but always. When another
request changed the terms in between, the plan is computed again under the lock, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import orjson

from fhir_sync.engine import PatientPlan, Preferences
from fhir_sync.services.collect import PatientInputs
from fhir_sync.services.indexing import JsonObject, without_meta
from fhir_sync.services.patient_inputs import plan_for
from fhir_sync.services.plan_resources import apply_enrollment_status, resources_from_transaction
from fhir_sync.store.tables import Enrollment
from mappings.pickup_hours import PickupHours

Validator = Callable[[JsonObject], list[str]]
PlanningTerms = tuple[Preferences, PickupHours]
TermsOf = Callable[[Enrollment], PlanningTerms]


def planning_terms(enrollment: Enrollment, today: date, terms_of: TermsOf) -> tuple[object, ...]:
    """Everything of an enrollment a plan depends on: the engine's preferences and the pickup
    hours are compared whole, so a setting added to either is never missed here."""
    return (today, enrollment.status, enrollment.pharmacy, *terms_of(enrollment))


@dataclass(slots=True)
class CheckedValidator:
    """`validate` with answers remembered by the resource's bytes, so that resources checked
    before the transaction are not checked again inside it."""

    validate: Validator
    answers: dict[bytes, list[str]] = field(default_factory=dict)

    def __call__(self, resource: JsonObject) -> list[str]:
        key = orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
        found = self.answers.get(key)
        if found is None:
            found = self.answers[key] = self.validate(resource)
        return found


@dataclass(frozen=True, slots=True)
class PlanDraft:
    """A plan for `data` under `terms`; `inputs` are the stored inputs `data` came from."""

    terms: tuple[object, ...]
    inputs: bytes | None
    data: PatientInputs
    plan: PatientPlan
    resources: list[JsonObject]
    checked: CheckedValidator

    def fits(
        self, enrollment: Enrollment, data: PatientInputs, today: date, terms_of: TermsOf
    ) -> bool:
        return data is self.data and self.terms == planning_terms(enrollment, today, terms_of)


def check_changed(
    checked: CheckedValidator, resources: list[JsonObject], stored: list[JsonObject]
) -> None:
    """Validate into `checked` the `resources` that differ from the `stored` plan: the ones
    `store_plan` will validate."""
    unchanged = {orjson.dumps(without_meta(r), option=orjson.OPT_SORT_KEYS) for r in stored}
    for resource in resources:
        if orjson.dumps(resource, option=orjson.OPT_SORT_KEYS) not in unchanged:
            checked(resource)


def draft_plan(
    enrollment: Enrollment,
    data: PatientInputs,
    today: date,
    terms_of: TermsOf,
    checked: CheckedValidator,
    stored: list[JsonObject],
    load: Mapping[date, int] | None = None,
) -> PlanDraft:
    """The plan `enrollment` would get from `data`; its resources that differ from the
    `stored` plan (the ones the transaction will validate) are validated into `checked`."""
    preferences, pickup = terms_of(enrollment)
    plan, bundle = plan_for(
        enrollment.patient_id, data, today, preferences, enrollment.pharmacy, pickup, load
    )
    resources = resources_from_transaction(bundle)
    apply_enrollment_status(resources, enrollment.status)
    check_changed(checked, resources, stored)
    terms = planning_terms(enrollment, today, terms_of)
    return PlanDraft(terms, enrollment.inputs, data, plan, resources, checked)

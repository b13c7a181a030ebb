"""`Parameters` bodies of the Patient operations -> checked values.

Structure errors (not JSON, not a Parameters, an unknown part, a value of the wrong type) are a
400; well-formed values the server cannot honour (a cycle of 45 days, a hold ending in the
past) are a 422. An unknown part is an error, not ignored: a misspelt `anchorday` silently
dropped would enrol the patient on terms nobody asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from fhir_sync.api.errors import FhirError
from fhir_sync.api.input_limits import check_depth, parsed_json
from fhir_sync.engine import ControlledPolicy
from fhir_sync.fill_settings import BY_PARAMETER, FILL_SETTINGS
from fhir_sync.services.plan_terms import WEEKDAYS, EnrollTerms, supported_cycle
from mappings.pickup_hours import pickup_hours

JsonObject = dict[str, Any]

_REFERENCE: Final = re.compile(r"(Location|Organization)/[A-Za-z0-9\-.]{1,64}")
_URL: Final = re.compile(r"https?://[^\s]+")
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)

# part name -> the value[x] types accepted ("resource" for a resource part)
ENROLL_PARTS: Final = {
    "anchorDay": ("valueInteger", "valueCode", "valueString"),
    "cycleDays": ("valueInteger",),
    "leadDays": ("valueInteger",),
    "timeZone": ("valueCode", "valueString"),
    "pickupHours": ("valueString",),
    "closedDays": ("valueCode", "valueString"),
    "controlledSubstances": ("valueCode", "valueString"),
    "pharmacy": ("valueReference", "valueString"),
    "payer": ("valueReference", "valueString"),
    "ehrEndpoint": ("valueUrl", "valueUri", "valueString"),
    "pharmacyEndpoint": ("valueUrl", "valueUri", "valueString"),
    "targetEndpoint": ("valueUrl", "valueUri", "valueString"),
    "resource": ("resource",),
    **{
        setting.parameter: ("valueInteger",)
        if setting.key in ("window_days", "tolerance_days", "daily_limit")
        else ("valueDecimal", "valueString")
        for setting in FILL_SETTINGS
    },
}
HOLD_PARTS: Final = {"until": ("valueDate",)}
SYNC_PARTS: Final = {"resource": ("resource",)}
NO_PARTS: Final[dict[str, tuple[str, ...]]] = {}


def parse_parameters(body: bytes, allowed: Mapping[str, tuple[str, ...]]) -> list[JsonObject]:
    """The parts of a Parameters body (an empty body is an empty Parameters)."""
    if not body.strip():
        return []
    parameters = parsed_json(body)
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise FhirError(400, "the body must be a Parameters resource", code="structure")
    check_depth(parameters, "the Parameters")
    parts = parameters.get("parameter") or []
    if not isinstance(parts, list):
        raise FhirError(400, "Parameters.parameter must be a list", code="structure")
    for index, part in enumerate(parts):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise FhirError(400, f"{where} needs a name", code="required", expression=where)
        name = part["name"]
        accepted = allowed.get(name)
        if accepted is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise FhirError(400, f"unknown parameter {name!r} (known: {known})", expression=where)
        present = [key for key in part if key.startswith("value") or key == "resource"]
        if len(present) != 1 or present[0] not in accepted:
            raise FhirError(
                400,
                f"parameter {name!r} needs one of {', '.join(accepted)}",
                code="structure",
                expression=where,
            )
    return parts


def _value(part: JsonObject) -> Any:
    return next(v for k, v in part.items() if k.startswith("value") or k == "resource")


def enroll_terms(body: bytes) -> EnrollTerms:
    terms = EnrollTerms()
    for part in parse_parameters(body, ENROLL_PARTS):
        name, value = part["name"], _value(part)
        if name != "resource" and name in terms.given:
            raise FhirError(400, f"parameter {name!r} given twice")
        terms.given.add(name)
        if name == "anchorDay":
            terms.anchor_day = _anchor_day(value)
        elif name == "cycleDays":
            try:
                terms.cycle_days = supported_cycle(_integer(name, value))
            except ValueError as exc:
                raise FhirError(422, f"cycleDays {exc}", code="business-rule") from None
        elif name == "leadDays":
            terms.lead_days = _integer(name, value)
            if not 0 <= terms.lead_days <= 90:
                raise FhirError(422, "leadDays must be 0 to 90", code="business-rule")
        elif name in ("timeZone", "pickupHours"):
            setattr(terms, "time_zone" if name == "timeZone" else "pickup_hours", str(value))
        elif name == "closedDays":
            terms.closed_weekdays = _weekdays(value)
        elif name == "controlledSubstances":
            terms.controlled = _controlled(value)
        elif name in ("pharmacy", "payer"):
            setattr(terms, name, _reference(name, value))
        elif name.endswith("Endpoint"):
            setattr(terms, name.removesuffix("Endpoint") + "_endpoint", _url(name, value))
        elif name in BY_PARAMETER:
            setting = BY_PARAMETER[name]
            try:
                terms.fill[setting.key] = setting.parse(value)
            except ValueError as exc:
                raise FhirError(422, f"{name} {exc}", code="business-rule") from None
        else:
            if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                raise FhirError(400, "a resource part must hold a resource", code="structure")
            terms.resources.append(value)
    if terms.time_zone is not None or terms.pickup_hours is not None:
        try:
            pickup_hours(terms.pickup_hours, terms.time_zone)
        except ValueError as exc:
            raise FhirError(422, str(exc), code="value") from None
    return terms


CONTROLLED_POLICIES: Final = tuple(policy.value for policy in ControlledPolicy)


def _controlled(value: Any) -> str:
    if not isinstance(value, str) or value not in CONTROLLED_POLICIES:
        raise FhirError(
            422,
            f"controlledSubstances must be one of {', '.join(CONTROLLED_POLICIES)}",
            code="business-rule",
        )
    return value


def hold_until(body: bytes, today: date) -> date:
    parts = parse_parameters(body, HOLD_PARTS)
    if len(parts) != 1:
        raise FhirError(400, "$hold needs exactly one 'until' date", code="required")
    until = _date(_value(parts[0]))
    if until is None:
        raise FhirError(400, "until must be a date string (YYYY-MM-DD)", code="value")
    if until <= today:
        raise FhirError(422, "until must be after today", code="business-rule")
    return until


def sync_resources(body: bytes) -> list[JsonObject]:
    resources = []
    for part in parse_parameters(body, SYNC_PARTS):
        value = part["resource"]
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise FhirError(400, "a resource part must hold a resource", code="structure")
        resources.append(value)
    return resources


def _date(value: Any) -> date | None:
    """A FHIR date with a day, given as a JSON string (not a number that looks like one)."""
    if type(value) is not str or _DATE.fullmatch(value) is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _integer(name: str, value: Any) -> int:
    if type(value) is not int:
        raise FhirError(400, f"{name} must be an integer", code="value")
    return value


def _anchor_day(value: Any) -> int | None:
    if isinstance(value, str):
        if value == "automatic":
            return None
        raise FhirError(400, "anchorDay must be a day of month or 'automatic'", code="value")
    day = _integer("anchorDay", value)
    if not 1 <= day <= 31:
        raise FhirError(422, "anchorDay must be 1 to 31", code="business-rule")
    return day


def _weekdays(value: Any) -> frozenset[int]:
    if not isinstance(value, str):
        raise FhirError(400, "closedDays must be a code", code="value")
    days = set()
    for word in value.split(","):
        key = word.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise FhirError(400, "closedDays: use mon, tue, ..., sun", code="value")
        days.add(WEEKDAYS[key])
    if len(days) == 7:
        raise FhirError(422, "the pharmacy must be open one day a week", code="business-rule")
    return frozenset(days)


def _reference(name: str, value: Any) -> str:
    text = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(text, str) or not _REFERENCE.fullmatch(text):
        kind = "Location" if name == "pharmacy" else "Organization"
        raise FhirError(400, f"{name} must be a reference {kind}/<id>", code="value")
    if name == "payer" and not text.startswith("Organization/"):
        raise FhirError(400, "payer must reference an Organization", code="value")
    if name == "pharmacy" and not text.startswith("Location/"):
        raise FhirError(400, "pharmacy must reference a Location", code="value")
    return text


def _url(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _URL.fullmatch(value) or len(value) > 1024:
        raise FhirError(400, f"{name} must be an http(s) URL", code="value")
    return value.rstrip("/")

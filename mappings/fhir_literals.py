"""Builders for the small FHIR datatypes the outbound resources share.

Outbound resources are plain dict literals (no pydantic) so that writing a plan costs about
as much as serializing it; these helpers keep their numbers, times and identities in one
deterministic form.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from fractions import Fraction
from hashlib import sha1
from typing import Any, Final

from mappings.fhir_values import ID_PATTERN
from mappings.profile import UCUM

JsonObject = dict[str, Any]

DECIMAL_PLACES: Final = 6


def decimal(value: float | Fraction) -> int | float:
    """A FHIR decimal without float noise: rounded, and whole numbers without a fraction."""
    if type(value) is int:
        return value
    if type(value) is Fraction and value.denominator == 1:
        return value.numerator
    rounded = round(float(value), DECIMAL_PLACES)
    if rounded.is_integer():
        return int(rounded)
    return rounded


def quantity(value: float | Fraction, unit: str | None, code: str | None = None) -> JsonObject:
    """A quantity; with `code` it is a UCUM quantity (the dispense units fhir-sync names)."""
    if unit is None:
        return {"value": decimal(value)}
    if code is None:
        return {"value": decimal(value), "unit": unit}
    return {"value": decimal(value), "unit": unit, "system": UCUM, "code": code}


def days(value: float) -> JsonObject:
    return {"value": decimal(value), "unit": "days", "system": UCUM, "code": "d"}


def concept(system: str, code: str, display: str, *, text: str | None = None) -> JsonObject:
    """A CodeableConcept of one coding; a new dict per call, since callers may edit it."""
    value: JsonObject = {"coding": [{"system": system, "code": code, "display": display}]}
    if text is not None:
        value["text"] = text
    return value


def reference(target: str) -> JsonObject:
    return {"reference": target}


def instant(moment: datetime) -> str:
    """A FHIR instant with seconds and a zone; UTC is written as `Z`."""
    if moment.utcoffset() is None:
        raise ValueError("an instant needs a time zone")
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def identifier(system: str, value: str) -> list[JsonObject]:
    return [{"system": system, "value": value}]


_URL_NAMESPACE: Final = uuid.NAMESPACE_URL.bytes


def urn_for(system: str, value: str) -> str:
    """The deterministic fullUrl of the resource with this identifier (UUID v5, URL namespace).

    `uuid.uuid5` spelled out (RFC 4122 section 4.3: SHA-1 of namespace and name, version and
    variant bits set), without building a UUID object: a Bundle has several entries per
    patient, and the object cost as much as the hash. A test holds it to `uuid.uuid5`.
    """
    digest = bytearray(sha1(_URL_NAMESPACE + f"{system}|{value}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    x = digest.hex()
    return f"urn:uuid:{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def conditional_url(resource_type: str, system: str, value: str) -> str:
    """`Type?identifier=system|value`, unencoded: systems are fixed URLs, values FHIR ids."""
    return f"{resource_type}?identifier={system}|{value}"


def checked_id(value: str, what: str) -> str:
    """Ids end up in query strings and identifiers, so they must be plain FHIR ids."""
    if ID_PATTERN.fullmatch(value) is None:
        raise ValueError(f"{what} must be a FHIR id ([A-Za-z0-9-.]{{1,64}})")
    return value


def local_reference(target: str, resource_type: str) -> str:
    """`Type/id` from an id or from a `Type/id` reference."""
    prefix = resource_type + "/"
    rid = target[len(prefix) :] if target.startswith(prefix) else target
    return prefix + checked_id(rid, f"{resource_type} id")

"""The plan digest: a fingerprint of a sync-plan Bundle, kept on its CarePlan.

Writing an unchanged plan again is not free: most servers make a new version of every resource,
and subscriptions, simulators and audit trails fire on it. A sync therefore compares the digest
of the plan it would write with the one on the stored CarePlan and skips equal plans. The
digest is taken over the Bundle's entries as `plan_bundle` built them (before the digest itself
and any version checks are added), so it depends on the plan only.

The CarePlan's anchor date and the digest are also read back here, so the names stay in one
module with the writer (docs/sync-plan-profile.md, "plan-digest").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from mappings.fhir_literals import JsonObject
from mappings.profile import EXT_ANCHOR_DATE, EXT_PLAN_DIGEST

DIGEST_PREFIX = "sha256:"


def plan_digest(bundle: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the compact JSON of the Bundle's entries, keys sorted.

    Sorting keys makes the digest independent of how a dict was assembled; a change of any
    value in any entry (a quantity, a date, an added Task) changes it.
    """
    data = orjson.dumps(bundle.get("entry") or [], option=orjson.OPT_SORT_KEYS)
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def stamp_plan_digest(bundle: JsonObject) -> str:
    """Adds the digest to the Bundle's CarePlan (the first entry) in place and returns it.

    The CarePlan is the resource a sync reads back, so it carries the fingerprint of the
    whole Bundle: Appointment and Tasks included.
    """
    digest = plan_digest(bundle)
    careplan = _careplan(bundle)
    extensions = [e for e in careplan.get("extension") or [] if e.get("url") != EXT_PLAN_DIGEST]
    extensions.append({"url": EXT_PLAN_DIGEST, "valueString": digest})
    careplan["extension"] = extensions
    return digest


def careplan_digest(careplan: Mapping[str, Any]) -> str | None:
    """The digest a stored CarePlan carries, or None (not written by a sync, or edited)."""
    value = _extension_value(careplan, EXT_PLAN_DIGEST, "valueString")
    return value if isinstance(value, str) and value.startswith(DIGEST_PREFIX) else None


def careplan_anchor(careplan: Mapping[str, Any]) -> date | None:
    """The anchor date a stored CarePlan carries, or None when absent or not a full date."""
    value = _extension_value(careplan, EXT_ANCHOR_DATE, "valueDate")
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _careplan(bundle: JsonObject) -> JsonObject:
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "CarePlan":
            return resource
    raise ValueError("the Bundle has no CarePlan entry")


def _extension_value(resource: Mapping[str, Any], url: str, key: str) -> object:
    extensions = resource.get("extension")
    if not isinstance(extensions, list):
        return None
    for extension in extensions:
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(key)
    return None

"""`POST /notifications/subscription`: FHIR Subscription rest-hook notifications from an EHR.

The R4 Subscriptions Backport sends a `history` Bundle whose first entry is the notification's
status: a `Parameters` (R4) or a `SubscriptionStatus` (R4B), with its `type` (handshake,
heartbeat, event-notification...) and, per event, a `focus` reference such as
`MedicationRequest/123`. With id-only payloads that is all there is, so the affected patient is
found by reading the focus from the endpoint it came from (its subject); a full-resource
payload carries the resource and saves the read. Each enrolled patient found gets a sync
request (`store.sync_requests`), which the background worker runs: the EHR gets its 200 as
soon as the request is stored, and a crash afterwards loses nothing.

Only endpoints that some enrollment names are ever read (the notification cannot make the
server fetch arbitrary URLs). If the endpoint cannot be read just now the answer is a 503, so
the EHR sends the notification again later. Authentication: the bearer token the EHR sends in
the Subscription's `channel.header`, either the shared `FHIR_SYNC_NOTIFICATION_TOKEN` or an
access token of a registered EHR (or pharmacy) client from `/auth/token`.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from adapters.http import FhirError as HttpError
from fhir_sync.api.auth import Authorizer, tokens_enforced
from fhir_sync.api.context import Database
from fhir_sync.api.errors import FhirError
from fhir_sync.api.fhirjson import fhir_response
from fhir_sync.api.input_limits import parsed_json
from fhir_sync.services.endpoint_clients import EndpointClients
from fhir_sync.store.database import read_transaction, write_transaction
from fhir_sync.store.outbox import now_utc
from fhir_sync.store.sync_requests import enrolled_among, known_endpoints, request_sync
from mappings.outcome import operation_outcome

router = APIRouter()
JsonObject = dict[str, Any]

EVENT_TYPES: Final = frozenset({"event-notification", "query-event"})
ACK_TYPES: Final = frozenset({"handshake", "heartbeat", "query-status"})
#: Resources whose subject is the patient whose plan they feed.
SUBJECT_TYPES: Final = frozenset({"MedicationRequest", "MedicationDispense"})
#: Client roles whose access token is taken for a notification.
NOTIFYING_ROLES: Final = frozenset({"ehr", "pharmacy"})
_RELATIVE: Final = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})$")
_ABSOLUTE: Final = re.compile(
    r"^(?P<base>https?://.+)/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[^/]+)?$"
)


@dataclass(frozen=True, slots=True)
class Focus:
    """A changed resource: `base` None when the reference was relative."""

    base: str | None
    type: str
    id: str


@dataclass(slots=True)
class Notification:
    type: str
    subscription_base: str | None = None
    focus: list[Focus] = field(default_factory=list)
    #: Resources carried in the Bundle (full-resource payloads), by `Type/id`.
    resources: dict[str, JsonObject] = field(default_factory=dict)


def parse_notification(body: bytes) -> Notification:
    """The notification's type and focus references; 400 when it is not one."""
    bundle = parsed_json(body)
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "a notification is a Bundle", code="structure")
    if bundle.get("type") not in ("history", "subscription-notification"):
        raise FhirError(400, "a notification Bundle has type history", code="structure")
    entries = [e for e in bundle.get("entry") or () if isinstance(e, dict)]
    first = entries[0].get("resource") if entries else None
    if not isinstance(first, dict):
        raise FhirError(400, "the first entry must be the subscription status", code="required")
    if first.get("resourceType") == "Parameters":
        notification = _from_parameters(first)
    elif first.get("resourceType") == "SubscriptionStatus":
        notification = _from_status(first)
    else:
        raise FhirError(400, "the first entry must be a Parameters or SubscriptionStatus")
    for entry in entries[1:]:
        resource = entry.get("resource")
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            notification.resources[f"{resource.get('resourceType')}/{resource['id']}"] = resource
    return notification


def _from_parameters(parameters: JsonObject) -> Notification:
    kind: str | None = None
    subscription: str | None = None
    focus: list[Focus] = []
    for part in _list(parameters.get("parameter")):
        name = part.get("name")
        if name == "type":
            kind = part.get("valueCode")
        elif name == "subscription":
            subscription = _reference(part.get("valueReference"))
        elif name in ("notification-event", "notificationEvent"):
            for inner in _list(part.get("part")):
                if inner.get("name") == "focus":
                    focus.extend(_focus(_reference(inner.get("valueReference"))))
    return _notification(kind, subscription, focus)


def _from_status(status: JsonObject) -> Notification:
    focus: list[Focus] = []
    for event in _list(status.get("notificationEvent")):
        focus.extend(_focus(_reference(event.get("focus"))))
    return _notification(status.get("type"), _reference(status.get("subscription")), focus)


def _notification(kind: Any, subscription: str | None, focus: list[Focus]) -> Notification:
    if not isinstance(kind, str) or kind not in EVENT_TYPES | ACK_TYPES:
        raise FhirError(400, "the notification's type is missing or unknown", code="value")
    base = None
    if subscription is not None and "/Subscription/" in subscription:
        found = subscription.rsplit("/Subscription/", 1)[0]
        base = found if found.startswith(("http://", "https://")) else None
    return Notification(kind, base, focus)


def _list(value: Any) -> list[JsonObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else None


def _focus(reference: str | None) -> list[Focus]:
    if reference is None:
        return []
    relative = _RELATIVE.match(reference)
    if relative:
        return [Focus(None, relative["type"], relative["id"])]
    absolute = _ABSOLUTE.match(reference)
    if absolute:
        return [Focus(absolute["base"].rstrip("/"), absolute["type"], absolute["id"])]
    return []


# -- finding the patients ------------------------------------------------------------------


def _source(focus: Focus, notification: Notification, known: set[str]) -> str | None:
    base = focus.base or notification.subscription_base
    if base is None and len(known) == 1:
        base = next(iter(known))
    return base if base in known else None


async def _patient_of(
    focus: Focus, notification: Notification, known: set[str], clients: EndpointClients
) -> str | None:
    if focus.type == "Patient":
        return focus.id
    if focus.type not in SUBJECT_TYPES:
        return None
    resource = notification.resources.get(f"{focus.type}/{focus.id}")
    if resource is None:
        base = _source(focus, notification, known)
        if base is None:
            return None
        client = await clients.client(base)
        try:
            resource = (await client.read(focus.type, focus.id)).resource
        except HttpError as error:
            if error.status in (404, 410):  # deleted since: nothing to find it by
                return None
            raise FhirError(
                503,
                f"reading the changed resource failed: {error.message}; send it again later",
                code="transient",
                headers={"Retry-After": "30"},
            ) from None
    subject = _reference(resource.get("subject"))
    found = _focus(subject)
    return found[0].id if found and found[0].type == "Patient" else None


async def patients_to_sync(
    notification: Notification, engine: Engine, clients: EndpointClients
) -> set[str]:
    def endpoints() -> set[str]:
        with read_transaction(engine) as connection:
            return known_endpoints(connection)

    known = await run_in_threadpool(endpoints)
    found = await asyncio.gather(
        *(_patient_of(focus, notification, known, clients) for focus in notification.focus)
    )
    return {patient for patient in found if patient is not None}


# -- the route -------------------------------------------------------------------------------


def _authenticate(request: Request, clients: EndpointClients) -> None:
    """The shared notification token, or the access token of a registered EHR (or pharmacy)
    client, as the API takes it; with neither configured and tokens not enforced, open."""
    token = clients.settings.notification_token
    given = request.headers.get("Authorization", "")
    if token is not None and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return
    authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
    if authorizer is not None and tokens_enforced(request):
        caller = authorizer.authenticate(request)  # 401 unless a valid access token
        request.state.caller = caller
        if caller.role not in NOTIFYING_ROLES:
            raise FhirError(403, "notifications are taken from EHR and pharmacy clients only")
        return
    if token is None and not tokens_enforced(request):
        return
    raise FhirError(
        401,
        "a valid notification token or an EHR client's access token is required",
        headers={"WWW-Authenticate": "Bearer"},
    )


@router.post("/notifications/subscription")
async def subscription_notification(request: Request, database: Database) -> Response:
    clients: EndpointClients = request.app.state.clients
    _authenticate(request, clients)
    notification = parse_notification(await request.body())
    if notification.type in ACK_TYPES:
        return _informational(f"{notification.type} received")
    engine = database
    patients = await patients_to_sync(notification, engine, clients)

    def store() -> int:
        with write_transaction(engine) as connection:
            return request_sync(connection, enrolled_among(connection, patients), now_utc())

    queued = await run_in_threadpool(store) if patients else 0
    return _informational(f"{queued} enrolled patient(s) queued for a sync")


def _informational(message: str) -> Response:
    return fhir_response(operation_outcome("information", "informational", message))

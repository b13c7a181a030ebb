"""A plan's renewal Tasks as the enrollment's renewal tracks (engine.cycle_types.RenewalTrack).

The derivation chases a renewal (sent again, escalated, refused) only from a track, so every
stored plan is reconciled with the tracks: a waiting renewal Task with no track of its order
gets one (requested on the day it is sent: the Task's `restriction.period.start`, not before
the day the plan is stored; needed by `.end`), a prescriber's answer the Task shows is added
to its track once, and the track of a Task the plan cancelled (the renewal is no longer asked
for) is dropped, so nothing is chased for it. Reconciling the same plan twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Final

from fhir_sync.engine.cycle_types import RenewalAnswer, RenewalTrack
from fhir_sync.services.indexing import JsonObject
from mappings.profile import SID_RENEWAL_TASK

#: Task states of a renewal still waiting for the prescriber.
WAITING: Final = frozenset({"requested", "received", "accepted", "in-progress", "on-hold"})
_ANSWERS: Final = frozenset(a.value for a in RenewalAnswer)


def renewal_order(task: JsonObject) -> str | None:
    """The order a renewal Task asks to renew (its `focus`); None for any other resource."""
    if task.get("resourceType") != "Task":
        return None
    if not any(i.get("system") == SID_RENEWAL_TASK for i in task.get("identifier") or ()):
        return None
    focus = str((task.get("focus") or {}).get("reference", ""))
    return focus.rsplit("/", 1)[-1] if focus.startswith("MedicationRequest/") else None


def _day(value: object, default: date) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return default


def _new_track(order: str, task: JsonObject, day: date) -> RenewalTrack:
    period = (task.get("restriction") or {}).get("period") or {}
    requested = max(day, _day(period.get("start"), day))
    return RenewalTrack(order, _day(period.get("end"), requested), requested)


def _answered(track: RenewalTrack, status: str, day: date) -> RenewalTrack:
    if status not in _ANSWERS or any(a.value == status for _, a in track.answers):
        return track
    return replace(track, answers=(*track.answers, (day, RenewalAnswer(status))))


def track_plan(
    tracks: Iterable[RenewalTrack], resources: Iterable[JsonObject], day: date
) -> tuple[RenewalTrack, ...]:
    """`tracks` reconciled with the renewal Tasks of a plan stored on `day` (see above)."""
    status_of: dict[str, str] = {}
    tasks: dict[str, JsonObject] = {}
    for resource in resources:
        order = renewal_order(resource)
        if order is not None:
            status_of[order] = str(resource.get("status"))
            tasks[order] = resource
    out: list[RenewalTrack] = []
    for track in tracks:
        status = status_of.get(track.order_id)
        if status == "cancelled":
            continue
        out.append(track if status is None else _answered(track, status, day))
    tracked = {t.order_id for t in out}
    for order, task in tasks.items():
        if order not in tracked and status_of[order] in WAITING:
            out.append(_answered(_new_track(order, task, day), status_of[order], day))
    return tuple(out)

"""An enrollment's cycle facts (engine.cycle_types.Enrollment) <-> the JSON the store keeps.

The facts are a small record per patient that only grows by dated events, so one JSON text
per patient, read and written in one row, is all a day's derivation needs to touch.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fhir_sync.engine.cycle_types import (
    Change,
    ChangeSet,
    Contact,
    ContactOutcome,
    Cycle,
    CycleFill,
    CycleItem,
    Enrollment,
    ItemKind,
    PickupStatus,
    PrepStatus,
    RenewalAnswer,
    RenewalTrack,
    Stop,
)


def _d(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _fill(f: CycleFill) -> dict[str, Any]:
    return {
        "order": f.order_id,
        "medication": f.medication,
        "quantity": f.quantity,
        "unit": f.unit,
        "days": f.days_supply,
        "earliest": _iso(f.earliest),
        "scc": f.scc,
    }


def _read_fill(v: dict[str, Any]) -> CycleFill:
    return CycleFill(
        v["order"],
        v["medication"],
        v["quantity"],
        v["unit"],
        v["days"],
        _d(v["earliest"]),
        v["scc"],
    )


def dump_facts(e: Enrollment) -> str:
    return json.dumps(
        {
            "patient": e.patient_id,
            "cycleDays": e.cycle_days,
            "cycles": [
                {
                    "anchor": c.anchor.isoformat(),
                    "fills": [_fill(f) for f in c.fills],
                    "plannedOn": c.planned_on.isoformat(),
                    "pickup": _iso(c.pickup),
                    "vacation": c.vacation,
                    "movedOn": _iso(c.moved_on),
                    "outcomes": [[d.isoformat(), s.value] for d, s in c.outcomes],
                    "dispensedOn": _iso(c.dispensed_on),
                    # only when set: the facts of every cycle never returned stay as they were
                    **({"returnedOn": _iso(c.returned_on)} if c.returned_on else {}),
                }
                for c in e.cycles
            ],
            "contacts": [
                [c.anchor.isoformat(), c.day.isoformat(), c.outcome.value] for c in e.contacts
            ],
            "renewals": [
                {
                    "order": r.order_id,
                    "neededBy": r.needed_by.isoformat(),
                    "requestedOn": r.requested_on.isoformat(),
                    "answers": [[d.isoformat(), a.value] for d, a in r.answers],
                }
                for r in e.renewals
            ],
            "stops": [[s.order_id, s.known_on.isoformat()] for s in e.stops],
            "changeSets": [
                {
                    "anchor": cs.anchor.isoformat(),
                    "knownOn": cs.known_on.isoformat(),
                    "changes": [[c.kind, c.order_id, c.words] for c in cs.changes],
                }
                for cs in e.change_sets
            ],
            "endedOn": _iso(e.ended_on),
        },
        separators=(",", ":"),
    )


def load_facts(text: str) -> Enrollment:
    v = json.loads(text)
    return Enrollment(
        patient_id=v["patient"],
        cycle_days=v["cycleDays"],
        cycles=tuple(
            Cycle(
                anchor=date.fromisoformat(c["anchor"]),
                fills=tuple(_read_fill(f) for f in c["fills"]),
                planned_on=date.fromisoformat(c["plannedOn"]),
                pickup=_d(c["pickup"]),
                vacation=c["vacation"],
                moved_on=_d(c["movedOn"]),
                outcomes=tuple((date.fromisoformat(d), PickupStatus(s)) for d, s in c["outcomes"]),
                dispensed_on=_d(c["dispensedOn"]),
                returned_on=_d(c.get("returnedOn")),
            )
            for c in v["cycles"]
        ),
        contacts=tuple(
            Contact(date.fromisoformat(a), date.fromisoformat(d), ContactOutcome(o))
            for a, d, o in v["contacts"]
        ),
        renewals=tuple(
            RenewalTrack(
                r["order"],
                date.fromisoformat(r["neededBy"]),
                date.fromisoformat(r["requestedOn"]),
                tuple((date.fromisoformat(d), RenewalAnswer(a)) for d, a in r["answers"]),
            )
            for r in v["renewals"]
        ),
        stops=tuple(Stop(o, date.fromisoformat(d)) for o, d in v["stops"]),
        change_sets=tuple(
            ChangeSet(
                date.fromisoformat(cs["anchor"]),
                date.fromisoformat(cs["knownOn"]),
                tuple(Change(k, o, w) for k, o, w in cs["changes"]),
            )
            for cs in v["changeSets"]
        ),
        ended_on=_d(v["endedOn"]),
    )


def dump_item(item: CycleItem) -> str:
    return json.dumps(
        {
            "id": item.id,
            "patient": item.patient_id,
            "kind": item.kind.value,
            "day": item.day.isoformat(),
            "anchor": item.anchor.isoformat(),
            "action": item.action,
            "order": item.order_id,
            "attempt": item.attempt,
            "fills": [_fill(f) for f in item.fills],
            "status": None if item.status is None else item.status.value,
            "holdReasons": list(item.hold_reasons),
            "urgent": item.urgent,
            "nextAnchor": _iso(item.next_anchor),
            "pickup": _iso(item.pickup),
        },
        separators=(",", ":"),
    )


def load_item(text: str) -> CycleItem:
    v = json.loads(text)
    return CycleItem(
        id=v["id"],
        patient_id=v["patient"],
        kind=ItemKind(v["kind"]),
        day=date.fromisoformat(v["day"]),
        anchor=date.fromisoformat(v["anchor"]),
        action=v["action"],
        order_id=v["order"],
        attempt=v["attempt"],
        fills=tuple(_read_fill(f) for f in v["fills"]),
        status=None if v["status"] is None else PrepStatus(v["status"]),
        hold_reasons=tuple(v["holdReasons"]),
        urgent=v["urgent"],
        next_anchor=_d(v["nextAnchor"]),
        pickup=_d(v["pickup"]),
    )

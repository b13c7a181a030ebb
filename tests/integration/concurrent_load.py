"""Concurrent writers against real server processes: the same new patients enrolled from two
servers at once, then payer changes, holds and resumes on those patients from many threads.

Every answer is recorded, so that the test (and the soak benchmark's checks) can say how many
were 5xx and whether any write was lost: every successful `$enroll`, `$hold` and effective
`$resume` bumps the enrollment's version by exactly one, so the stored version must equal one
plus the count of those answers.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.server.api_support import demo_resources, parameters

Resource = dict[str, Any]
PAYERS = ("Organization/payer-east", "Organization/payer-west")


def patient_copy(template: str, new_id: str) -> list[Resource]:
    """The demo patient `template`'s resources as a new patient `new_id` (resource ids made
    unique by prefixing them)."""
    resources = []
    for original in demo_resources()[template]:
        resource = copy.deepcopy(original)
        if resource["resourceType"] == "Patient":
            resource["id"] = new_id
        else:
            resource["id"] = f"{new_id}-{resource['id']}"[:64]
            resource["subject"] = {"reference": f"Patient/{new_id}"}
        resources.append(resource)
    return resources


def first_enroll_body(patient_id: str, payer: str) -> Resource:
    templates = list(demo_resources())
    template = templates[sum(patient_id.encode()) % len(templates)]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in patient_copy(template, patient_id)],
    }
    return parameters(
        {"name": "payer", "valueReference": {"reference": payer}},
        {"name": "resource", "resource": bundle},
    )


def payer_body(payer: str) -> Resource:
    return parameters({"name": "payer", "valueReference": {"reference": payer}})


@dataclass
class Tally:
    """Answers by status, and per patient the writes that must each have bumped its version."""

    statuses: Counter[int] = field(default_factory=Counter)
    bumps: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, patient_id: str, what: str, response: Answer, *, bumps: bool) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 200 and bumps:
                self.bumps[patient_id] += 1
            if response.status_code >= 500 and len(self.failures) < 20:
                self.failures.append(f"{what} {patient_id}: {response.status_code} {response.text}")

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str


DROPPED = 599  # the server closed the connection without an answer


def post(
    client: httpx.Client, base: str, patient_id: str, operation: str, body: Resource
) -> Answer:
    try:
        response = client.post(
            f"{base}/Patient/{patient_id}/${operation}",
            json=body,
            headers={"Content-Type": "application/fhir+json"},
        )
    except httpx.TransportError as error:
        return Answer(DROPPED, f"no answer: {type(error).__name__}")
    return Answer(response.status_code, response.text[:500])


def first_enrollments(bases: list[str], patients: list[str], tally: Tally) -> None:
    """Each patient enrolled by one request per server, released together; a payer's first
    members arrive the same way (every patient of a round names one of two new payers)."""
    barrier = threading.Barrier(len(bases))

    def enroll_all(base: str) -> None:
        with httpx.Client(timeout=60) as client:
            for index, patient_id in enumerate(patients):
                payer = PAYERS[index % len(PAYERS)]
                barrier.wait(timeout=60)
                response = post(
                    client, base, patient_id, "enroll", first_enroll_body(patient_id, payer)
                )
                tally.record(patient_id, "first $enroll", response, bumps=True)

    run_threads([lambda b=base: enroll_all(b) for base in bases])


def mixed_changes(
    bases: list[str], patients: list[str], seconds: float, tally: Tally, seed: int = 7
) -> None:
    """For `seconds`: per patient one thread alternating `$hold` and `$resume` across the
    servers (so each resume follows a hold and takes effect), while payer-change threads
    re-enroll random patients under the other payer through random servers."""
    deadline = time.monotonic() + seconds

    def holds(patient_id: str, offset: int) -> None:
        with httpx.Client(timeout=60) as client:
            turn = offset
            while time.monotonic() < deadline:
                base = bases[turn % len(bases)]
                hold = parameters({"name": "until", "valueDate": "2027-01-15"})
                response = post(client, base, patient_id, "hold", hold)
                tally.record(patient_id, "$hold", response, bumps=True)
                held = response.status_code == 200
                base = bases[(turn + 1) % len(bases)]
                response = post(client, base, patient_id, "resume", parameters())
                tally.record(patient_id, "$resume", response, bumps=held)
                turn += 1

    def payer_changes(worker: int) -> None:
        chooser = random.Random(seed + worker)
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < deadline:
                patient_id = chooser.choice(patients)
                base = chooser.choice(bases)
                payer = chooser.choice(PAYERS)
                response = post(client, base, patient_id, "enroll", payer_body(payer))
                tally.record(patient_id, "payer $enroll", response, bumps=True)

    jobs: list[Callable[[], None]] = [
        lambda p=patient_id, i=index: holds(p, i) for index, patient_id in enumerate(patients)
    ]
    jobs += [lambda w=worker: payer_changes(w) for worker in range(4)]
    run_threads(jobs)


def run_threads(jobs: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]

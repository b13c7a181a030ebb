"""The server's tables. Every schema change goes through a migration in `migrations/versions`.

Times are aware UTC datetimes (sqlmodel stores them as UTC; SQLite keeps them as text without
an offset, which compares correctly since every value is UTC). Stored FHIR resources keep the
exact JSON bytes that are served, plus the few columns searches need, so a read never parses
JSON.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

ID = 64  # FHIR ids are at most 64 characters
URL = 1024
REFERENCE = 200


class Enrollment(SQLModel, table=True):
    """A patient enrolled by the pharmacy, with how their refills are lined up.

    `status` is active, on-hold or revoked and shows as the CarePlan's status. `anchor_date`
    is set once a plan chooses one, so that re-plans keep the patient's cycle. `inputs` holds
    the MedicationRequest/MedicationDispense Bundle given at enrollment (for patients without
    live endpoints), so the plan can be recomputed later. `plan_hash` detects an unchanged plan
    (nothing is stored or written back again). `version` increments on every change.
    `fill_settings` holds the dispensing-rule settings given at $enroll (fhir_sync.fill_settings
    keys); those not given follow the server's defaults.
    """

    __tablename__ = "enrollment"
    __table_args__ = (Index("ix_enrollment_status", "status"),)

    patient_id: str = Field(primary_key=True, max_length=ID)
    status: str = Field(max_length=16)
    hold_until: date | None = None
    cycle_days: int = 30
    anchor_day: int | None = None
    anchor_date: date | None = None
    closed_weekdays: str = Field(default="", max_length=16)  # "5,6"
    lead_days: int = 7
    # the pharmacy's IANA time zone and pickup hours ("09:00-17:00"); None: the server's
    time_zone: str | None = Field(default=None, max_length=64)
    pickup_hours: str | None = Field(default=None, max_length=11)
    # which controlled substances are synchronized: sync, skip-cii, skip-all
    controlled: str = Field(
        default="sync", max_length=16, sa_column_kwargs={"server_default": "sync"}
    )
    pharmacy: str | None = Field(default=None, max_length=REFERENCE)
    ehr_endpoint: str | None = Field(default=None, max_length=URL)
    pharmacy_endpoint: str | None = Field(default=None, max_length=URL)
    target_endpoint: str | None = Field(default=None, max_length=URL)
    payer: str | None = Field(default=None, max_length=REFERENCE, index=True)
    inputs: bytes | None = Field(default=None, sa_type=LargeBinary)
    plan_hash: str | None = Field(default=None, max_length=64)
    enrolled_at: datetime
    revoked_at: datetime | None = None
    updated_at: datetime
    version: int = 1
    fill_settings: str | None = Field(default=None, sa_type=Text)  # JSON, by setting key


class StoredResource(SQLModel, table=True):
    """A FHIR resource as served: `body` is the JSON sent on a read, byte for byte.

    The other columns exist for searching: `date_start`/`date_end` are the resource's date range
    for the `date` parameter as a half-open interval (`date_end` NULL: open-ended);
    multi-valued tokens and references live in `SearchToken`. `payer` copies the enrollment's
    payer so that a payer's searches can filter without a join.
    """

    __tablename__ = "fhir_resource"
    __table_args__ = (
        Index("ix_fhir_resource_patient", "resource_type", "patient_id", "id"),
        Index("ix_fhir_resource_payer", "resource_type", "payer", "id"),
        Index("ix_fhir_resource_updated", "resource_type", "last_updated"),
        Index("ix_fhir_resource_date", "resource_type", "date_start"),
        Index("ix_fhir_resource_status", "resource_type", "status", "date_start", "id"),
    )

    resource_type: str = Field(primary_key=True, max_length=32)
    id: str = Field(primary_key=True, max_length=ID)
    version_id: int
    last_updated: datetime
    patient_id: str | None = Field(default=None, max_length=ID)
    payer: str | None = Field(default=None, max_length=REFERENCE)
    status: str | None = Field(default=None, max_length=32)
    date_start: datetime | None = None
    date_end: datetime | None = None
    body: bytes = Field(sa_type=LargeBinary)


class SearchToken(SQLModel, table=True):
    """One value of a token or reference search parameter of a stored resource.

    Tokens (`identifier`, `category`) keep `system` and `code`; references (`based-on`,
    `activity-reference`) keep the relative reference (`CarePlan/<id>`) in `code` and no system.
    """

    __tablename__ = "search_token"
    __table_args__ = (Index("ix_search_token_value", "resource_type", "param", "code", "system"),)

    resource_type: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(primary_key=True, max_length=ID)
    param: str = Field(primary_key=True, max_length=32)
    system: str = Field(primary_key=True, default="", max_length=URL)
    code: str = Field(primary_key=True, max_length=REFERENCE)


class PayerGroup(SQLModel, table=True):
    """A payer's member Group. Its members are read from `enrollment` when served (a Group
    of many thousand members rewritten on every enrollment would cost far more than the
    reads); this row carries the Group's identity and version."""

    __tablename__ = "payer_group"

    id: str = Field(primary_key=True, max_length=ID)
    payer: str = Field(unique=True, max_length=REFERENCE)
    version_id: int = 1
    last_updated: datetime


class OutboxEntry(SQLModel, table=True):
    """A write to an EHR, committed in the same transaction as the plan it carries.

    `state`: pending, done, dead (gave up) or superseded (a newer plan for the same patient and
    endpoint was queued before this one was sent). A worker owns a pending row while
    `claimed_until` is in the future; a crashed worker's claim simply expires.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint: str = Field(max_length=URL)
    patient_id: str = Field(max_length=ID, index=True)
    bundle: bytes = Field(sa_type=LargeBinary)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    updated_at: datetime


class PullCursor(SQLModel, table=True):
    """Where the last incremental pull from an endpoint stopped, per resource type.

    `patient_id` is "" for a population pull. The cursor is the value the HTTP client's
    IncrementalPull returned, stored as text so that the server's own format is kept.
    """

    __tablename__ = "pull_cursor"

    endpoint: str = Field(primary_key=True, max_length=URL)
    resource_type: str = Field(primary_key=True, max_length=32)
    patient_id: str = Field(primary_key=True, default="", max_length=ID)
    cursor: str = Field(max_length=64)
    updated_at: datetime


class RegisteredClient(SQLModel, table=True):
    """A SMART Backend Services client: `role` is ehr, prescriber, payer or pharmacy; `jwks`
    the public keys its assertions are checked against (JSON text), or `jwks_url` where the
    client publishes them (one of the two); `payer` the Organization a payer client may see the
    members of. A removed client stays as `disabled` so that audit events keep naming a known
    client and a removed id is never mistaken for "no client was ever registered".
    `generation` counts the id's registrations and key rotations; access tokens carry it and
    are refused once it has moved on, except that after a rotation the previous generation's
    tokens and keys (`previous_jwks`) stay valid until `previous_until` (the overlap)."""

    __tablename__ = "registered_client"

    client_id: str = Field(primary_key=True, max_length=128)
    name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)
    jwks: str | None = Field(default=None, sa_type=Text)
    jwks_url: str | None = Field(default=None, max_length=URL)
    payer: str | None = Field(default=None, max_length=REFERENCE)
    disabled: bool = False
    created_at: datetime
    generation: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    previous_jwks: str | None = Field(default=None, sa_type=Text)
    previous_until: datetime | None = None


class AssertionId(SQLModel, table=True):
    """A client assertion's `jti`, kept until the assertion expires: a replay is refused by
    whichever server process it reaches, since they all share this table."""

    __tablename__ = "assertion_jti"
    __table_args__ = (Index("ix_assertion_jti_expires", "expires_at"),)

    client_id: str = Field(primary_key=True, max_length=128)
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: datetime


class TokenKey(SQLModel, table=True):
    """A secret the server signs its access tokens with (HMAC-SHA256), created on first use and
    shared by every server process through the database. `kid` names it in token headers."""

    __tablename__ = "token_key"

    kid: str = Field(primary_key=True, max_length=64)
    secret: str = Field(max_length=128)
    created_at: datetime


class AuditRecord(SQLModel, table=True):
    """Who did what to which patient's data, when, and how it ended (an AuditEvent's facts).

    One row per patient an access disclosed (a search returning plans of 50 patients makes 50
    rows, as IHE BALP records queries), so "who saw this patient's data" is one indexed lookup;
    an access that disclosed no patient is one row without `patient_id`. Audit rows may name
    patients; logs never do.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_recorded", "recorded", "id"),
        Index("ix_audit_event_client", "client_id", "id"),
        Index("ix_audit_event_entity", "resource_type", "resource_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    recorded: datetime
    client_id: str | None = Field(default=None, max_length=128)
    role: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=1)  # C R U D E, as AuditEvent.action
    interaction: str = Field(max_length=32)  # read, search-type, operation name...
    resource_type: str | None = Field(default=None, max_length=32)
    resource_id: str | None = Field(default=None, max_length=ID)
    patient_id: str | None = Field(default=None, max_length=ID, index=True)
    outcome: str = Field(max_length=2)  # 0 success, 4 minor, 8 serious, 12 major failure
    status: int
    query: str | None = Field(default=None, sa_type=Text)  # a search's parameters, URL-encoded


class ExportJob(SQLModel, table=True):
    """A Bulk Data export of a payer's members, kept in the database so that whichever server
    process a client's status poll reaches can answer it, and take the job over when the
    process that ran it died (`claimed_until`, a lease, as in the outbox).

    `status`: queued, running, completed or failed; a cancelled job is deleted. `client_id` and
    `owner_payer` are the caller that started it: only the same caller may poll, download or
    cancel. `types` is the comma-separated list of resource types asked for.
    """

    __tablename__ = "export_job"

    id: str = Field(primary_key=True, max_length=ID)
    group_id: str = Field(max_length=ID)
    payer: str = Field(max_length=REFERENCE)
    types: str = Field(max_length=REFERENCE)
    since: datetime | None = None
    request_url: str = Field(sa_type=Text)
    client_id: str | None = Field(default=None, max_length=128)
    owner_payer: str | None = Field(default=None, max_length=REFERENCE)
    status: str = Field(max_length=16)
    transaction_time: datetime | None = None
    total: int = 0
    exported: int = 0
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = None
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    updated_at: datetime
    expires_at: datetime = Field(index=True)


class ExportFile(SQLModel, table=True):
    """One NDJSON output file of an export job: stored resource bodies, one per line, in the
    order of `seq`. Files are capped in size while written, so serving one never holds more
    than that in memory."""

    __tablename__ = "export_file"

    job_id: str = Field(primary_key=True, max_length=ID)
    seq: int = Field(primary_key=True)
    resource_type: str = Field(max_length=32)
    count: int
    body: bytes = Field(sa_type=LargeBinary)


class SyncRequest(SQLModel, table=True):
    """A patient to pull and re-plan soon: a change notification named them, or their hold
    ended. One row per patient, so a burst of notifications costs one sync; `requested_at`
    moves on with each new request, and a sync that started before the latest request leaves
    the row for another round. Claimed with a lease, like the outbox."""

    __tablename__ = "sync_request"
    __table_args__ = (Index("ix_sync_request_due", "next_attempt_at"),)

    patient_id: str = Field(primary_key=True, max_length=ID)
    requested_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)


class StaffUser(SQLModel, table=True):
    """A pharmacy staff member who signs in to the web app. `role` is pharmacist or
    technician; `password_hash` an argon2 hash (never the password). `failed_attempts` counts
    wrong passwords since the last good one; past the limit the account is locked until
    `locked_until`. A disabled user keeps the row so audit events keep naming a known user."""

    __tablename__ = "staff_user"

    username: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    disabled: bool = False
    failed_attempts: int = 0
    locked_until: datetime | None = None
    created_at: datetime
    password_changed_at: datetime


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so
    a copy of the database signs nobody in. `csrf` is the token every form of the session
    must send back; `flash` a one-time message for the next page."""

    __tablename__ = "staff_session"
    __table_args__ = (Index("ix_staff_session_expires", "expires_at"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64, index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime
    last_seen: datetime
    expires_at: datetime
    flash: str | None = Field(default=None, sa_type=Text)


class CycleState(SQLModel, table=True):
    """The dated facts of one enrollment's monthly cycle (cycles, calls, pickups, renewal
    answers, stops, change sets) as JSON, and the last day whose items were derived: the
    next run derives from the day after it, so a day the worker missed is caught up."""

    __tablename__ = "cycle_state"

    patient_id: str = Field(primary_key=True, max_length=ID)
    facts: str = Field(sa_type=Text)
    derived_through: date | None = None
    version: int = 1
    updated_at: datetime


class CycleItemRow(SQLModel, table=True):
    """One derived cycle item. The key is the item identifier (`<patient>:<kind>:<anchor>...`),
    so deriving a day twice inserts nothing twice. `state` is open or done (the worklist);
    `resource_type`/`resource_id` name the resource it stands for, if any."""

    __tablename__ = "cycle_item"
    __table_args__ = (Index("ix_cycle_item_day_kind_state", "day", "kind", "state"),)

    id: str = Field(primary_key=True, max_length=REFERENCE)
    patient_id: str = Field(max_length=ID, index=True)
    kind: str = Field(max_length=32)
    day: date
    anchor: date
    action: str = Field(sa_type=Text)
    order_id: str | None = Field(default=None, max_length=ID)
    resource_type: str | None = Field(default=None, max_length=32)
    resource_id: str | None = Field(default=None, max_length=ID)
    state: str = Field(default="open", max_length=16)
    item: str = Field(sa_type=Text)  # the engine item as JSON
    note: str | None = Field(default=None, sa_type=Text)  # a preparation's hold reason
    created_at: datetime
    done_at: datetime | None = None

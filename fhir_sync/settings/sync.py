"""`fhir-sync sync`'s settings: the `[sync]` table and the endpoint tables (`[ehr]`,
`[pharmacy]`, `[target]`, and the server's `[endpoint.<name>]`), each key declared once with
its type, default, check, help text and flag. Resolved by `layers.Layers` (flags > environment
> TOML); `fhir_sync.sync.config` builds the run's objects from them and `fhir_sync.fill_settings`
is the registry of the dispensing rules among them; the README's tables are made here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import Field, PrivateAttr, create_model, model_validator

from adapters.http import EndpointSettings, Quirk
from fhir_sync.engine import ControlledPolicy, Preferences
from fhir_sync.engine.cycle_types import CycleSettings
from fhir_sync.engine.types import MAX_TOLERANCE_DAYS, MAX_WINDOW_DAYS
from fhir_sync.settings import values as v
from fhir_sync.settings.layers import (
    TOP,
    Flag,
    Key,
    LayeredSection,
    env_name,
)
from fhir_sync.settings.terms import CONTROLLED_HELP, CYCLES_TEXT
from mappings.pickup_hours import PickupHours

ENDPOINTS: Final = ("ehr", "pharmacy", "target")
CONFIG_ENV: Final = "FHIR_SYNC_CONFIG"
DEFAULT_CONCURRENCY: Final = 8
DEFAULT_PAGE_SIZE: Final = 100

#: Where `fhir-sync sync --help` lists a flag.
ENDPOINTS_PANEL: Final = "Endpoints"
PLAN_PANEL: Final = "Planning"
AUTH_PANEL: Final = "EHR authentication (SMART Backend Services or a bearer token)"
RUN_PANEL: Final = "Run"
_QUIET = (("show_default", False),)
#: The flag of a rule `fhir-sync sync` does not take (`cycle run` does; messages name it).
_NO_SYNC_FLAG: Final = Flag()


def _plan(type_: Any = str, *, name: str = "", options: tuple[tuple[str, Any], ...] = ()) -> Flag:
    return Flag(name=name, panel=PLAN_PANEL, type=type_, options=options)


def _ehr(help_: str, type_: Any = str, *, name: str = "", quiet: bool = False) -> Flag:
    return Flag(
        name=name,
        help=help_,
        panel=AUTH_PANEL,
        type=type_,
        section="ehr",
        options=_QUIET if quiet else (),
    )


def _engine(kind: type[Any], key: str) -> Any:
    return next(f.default for f in fields(kind) if f.name == key)


def _names(kind: type[Any]) -> set[str]:
    return {f.name for f in fields(kind)}


@dataclass(frozen=True, slots=True)
class Rule:
    """A dispensing rule (docs/fill-dates.md) or a rule of the monthly cycle (docs/cycle.md):
    a `[sync]` key and FHIR_SYNC_<KEY> variable that is also a `$plan`/`$enroll` parameter and
    a flag (of `plan` and `sync`, or of `cycle run`: `panel` None), with the engine's default
    (`Preferences` or `CycleSettings`). Read as a registry by `fhir_sync.fill_settings`."""

    key: str
    parameter: str
    check: Callable[[Any], Any]
    help: str
    flag: Flag = _NO_SYNC_FLAG
    shown: str | None = None

    def field(self) -> Any:
        owner = next(kind for kind in (Preferences, CycleSettings) if self.key in _names(kind))
        declared = Key(self.check, self.help, (self.flag,), self.shown, self.parameter)
        return Annotated[Any, declared], _engine(owner, self.key)


_SYNC_RULE = _plan(int, options=_QUIET)
RULES: Final = (
    Rule(
        "window_days",
        "windowDays",
        v.int_in(0, MAX_WINDOW_DAYS),
        "Grouping window: a fill due this many days after a pickup is dispensed at it "
        "when the payer pays it then (default 3).",
        _SYNC_RULE,
    ),
    Rule(
        "tolerance_days",
        "toleranceDays",
        v.int_in(0, MAX_TOLERANCE_DAYS),
        "Days a patient may go without a medicine when a fill moves off a closed day (default 0).",
        _SYNC_RULE,
    ),
    Rule(
        "refill_threshold",
        "refillThreshold",
        v.threshold,
        "Share of the previous days supply the payer wants used before a refill (default 0.80).",
        _plan(options=_QUIET),
        "`0.80`",
    ),
    Rule(
        "form_thresholds",
        "formThreshold",
        v.form_thresholds,
        "Per dose-form group, FORM=SHARE, comma-separated (default ophthalmic=0.70).",
        _plan(name="--form-threshold", options=_QUIET),
        "`{ ophthalmic = 0.70 }`",
    ),
    Rule(
        "daily_limit",
        "dailyLimit",
        v.daily_limit,
        "Pickups an open day can take; 0 means no limit (default 40).",
        _SYNC_RULE,
    ),
    Rule(
        "priming_units",
        "primingUnits",
        v.int_in(0, 20),
        "Insulin units primed before each pen injection (safety test on pen labels; default 2).",
        _plan(int),
    ),
    Rule(
        "drops_per_ml",
        "dropsPerMl",
        v.int_in(10, 40),
        "Eye drops per mL when figuring days supply (default 20).",
        _plan(int),
    ),
    Rule(
        "prep_days",
        "prepDays",
        v.int_in(0, 29),
        "Days before the pickup the fills are prepared (a prepare-fills Task; default 3).",
    ),
    Rule(
        "call_retries",
        "callRetries",
        v.int_in(0, 10),
        "Calls made again, a day apart, after no answer or a wrong number (default 2).",
    ),
    Rule(
        "renewal_follow_up_business_days",
        "renewalFollowUpDays",
        v.int_in(1, 60),
        "Business days without the prescriber's answer before a renewal is sent again (default 3).",
        Flag(name="--renewal-follow-up-days"),
    ),
    Rule(
        "renewal_escalation_business_days",
        "renewalEscalationDays",
        v.int_in(1, 60),
        "Further business days without an answer before a renewal is escalated (default 2).",
        Flag(name="--renewal-escalation-days"),
    ),
    Rule(
        "return_to_stock_days",
        "returnToStockDays",
        v.int_in(1, 60),
        "Days after a missed pickup before its fills go back to stock (default 10).",
    ),
    Rule(
        "unconfirmed_pickup_days",
        "unconfirmedPickupDays",
        v.int_in(1, 60),
        "Days after a pickup with no dispense recorded before it is a pharmacist's item "
        "(default 2).",
    ),
)

if TYPE_CHECKING:
    _Rules = LayeredSection
else:
    # The rules are read by key (fill_settings.BY_KEY), so they are fields made from the table.
    _Rules = create_model("_Rules", __base__=LayeredSection, **{r.key: r.field() for r in RULES})


class SyncSection(_Rules):
    """`[sync]`: the plan's terms, the run's limits and the rules (`RULES`), each a
    `FHIR_SYNC_<KEY>` variable."""

    tables = (TOP,)

    today: Annotated[
        date | None,
        Key(
            v.day,
            "Plan as of this date (YYYY-MM-DD); default: today.",
            (_plan(),),
            shown="today",
        ),
    ] = None
    anchor_day: Annotated[
        int | None,
        Key(
            v.within(v.positive_int, lambda n: n <= 31, "must be a day of month 1-31"),
            "Preferred pickup day of month; default: automatic.",
            (_plan(int),),
            shown="automatic",
        ),
    ] = None
    cycle_days: Annotated[
        int,
        Key(v.cycle_days, f"Refill cycle: {CYCLES_TEXT} days (default: 30).", (_plan(int),)),
    ] = 30
    closed: Annotated[
        frozenset[int],
        Key(v.closed, "Weekdays the pharmacy is closed, e.g. sat,sun.", (_plan(),), shown="none"),
    ] = frozenset()
    lead_days: Annotated[
        int,
        Key(
            v.within(v.non_negative_int, lambda n: n <= 90, "must be 0-90"),
            "Days before a fill for outreach/preparation (default: 7).",
            (_plan(int),),
        ),
    ] = 7
    controlled: Annotated[
        ControlledPolicy,
        Key(
            v.controlled,
            CONTROLLED_HELP + " Default: sync.",
            (_plan(ControlledPolicy, options=(("case_sensitive", False),)),),
        ),
    ] = ControlledPolicy.SYNC
    location: Annotated[
        str | None,
        Key(
            v.location,
            "The pharmacy Location reference for Appointments, e.g. Location/main.",
            (_plan(name="--pharmacy-location"),),
            shown="none",
        ),
    ] = None
    time_zone: Annotated[
        str | None,
        Key(
            v.text,
            "The pharmacy's time zone, IANA name (default: UTC).",
            (_plan(options=(("metavar", "AREA/CITY"),)),),
            shown="`UTC`",
        ),
    ] = None
    pickup_hours: Annotated[
        str | None,
        Key(
            v.text,
            "Pickup hours on the anchor date, local time (default: 09:00-17:00).",
            (_plan(options=(("metavar", "HH:MM-HH:MM"),)),),
            shown="`09:00-17:00`",
        ),
    ] = None
    keep_anchor: Annotated[
        bool,
        Key(
            v.flag,
            "Keep a synced patient's anchor date, or choose again (default: keep).",
            (_plan(bool, name="--keep-anchor/--reanchor", options=_QUIET),),
        ),
    ] = True
    concurrency: Annotated[
        int,
        Key(
            v.positive_int,
            "Patients synced at once and requests per endpoint (default: 8).",
            (Flag(panel=RUN_PANEL, type=int),),
        ),
    ] = DEFAULT_CONCURRENCY
    page_size: Annotated[
        int,
        Key(
            v.positive_int,
            "Search page size (_count) (default: 100).",
            (Flag(panel=RUN_PANEL, type=int),),
        ),
    ] = DEFAULT_PAGE_SIZE

    _pickup: PickupHours = PrivateAttr(default_factory=PickupHours)

    @model_validator(mode="after")
    def _pickup_hours(self) -> SyncSection:
        self._pickup = v.pickup(self.pickup_hours, self.time_zone)
        return self

    @property
    def pickup(self) -> PickupHours:
        return self._pickup


_ADAPTER: Final = {f.name: f.default for f in fields(EndpointSettings)}


class EndpointSection(LayeredSection):
    """An endpoint's table (`[ehr]`, `[pharmacy]`, `[target]`, `[endpoint.<name>]`):
    `FHIR_SYNC_<ENDPOINT>_<KEY>`. Its flags are the EHR's: credentials never go to another
    server."""

    tables = ENDPOINTS

    url: Annotated[
        str | None,
        Key(
            v.url,
            "the endpoint's FHIR base URL",
            (
                Flag(
                    name="--ehr",
                    help="EHR FHIR base URL (orders; plans go back here).",
                    panel=ENDPOINTS_PANEL,
                    section="ehr",
                ),
                Flag(
                    name="--pharmacy",
                    help="Pharmacy FHIR base URL (fills); default: the EHR.",
                    panel=ENDPOINTS_PANEL,
                    section="pharmacy",
                ),
                Flag(
                    name="--target",
                    help="Where plans are written; default: the EHR.",
                    panel=ENDPOINTS_PANEL,
                    section="target",
                ),
            ),
            shown="`[ehr]` is required; the pharmacy and the target are the EHR",
        ),
    ] = None
    auth: Annotated[
        str | None,
        Key(
            v.one_of("none", "bearer", "smart"),
            "`none`, `bearer` (a token) or `smart` (SMART Backend Services)",
            shown="`smart` with a client id or a key, `bearer` with a token, else `none`",
        ),
    ] = None
    token: Annotated[
        str | None,
        Key(
            v.text,
            "a static bearer token (better from the environment than in the file)",
            (_ehr("Static bearer token (prefer FHIR_SYNC_EHR_TOKEN)."),),
            shown="none",
        ),
    ] = Field(None, repr=False)
    client_id: Annotated[
        str | None,
        Key(
            v.text,
            "the SMART client_id registered at the endpoint's authorization server",
            (_ehr("SMART client_id registered at the EHR."),),
            shown="none",
        ),
    ] = None
    private_key: Annotated[
        str | None,
        Key(
            v.text,
            "the PEM private key file signing the client assertion",
            (_ehr("PEM private key signing the client assertion.", Path),),
            shown="none",
        ),
    ] = None
    key_id: Annotated[
        str | None,
        Key(
            v.text,
            "the key's `kid` in the registered JWKS",
            (_ehr("The key's kid in the registered JWKS."),),
            shown="none",
        ),
    ] = None
    alg: Annotated[
        str | None,
        Key(
            v.one_of("RS384", "ES384", upper=True),
            "`RS384` or `ES384`",
            (_ehr("RS384 or ES384 (default: RS384)."),),
            shown="`RS384`",
        ),
    ] = None
    token_url: Annotated[
        str | None,
        Key(
            v.url,
            "the token endpoint",
            (_ehr("Token endpoint; default: from .well-known/smart-configuration."),),
            shown="from `.well-known/smart-configuration`",
        ),
    ] = None
    scopes: Annotated[
        tuple[str, ...] | None,
        Key(
            v.words,
            "the scopes to request (a list, or space or comma separated)",
            (
                _ehr(
                    "Scope to request (repeatable); default: read orders/fills, write plans.",
                    list[str],
                    name="--scope",
                    quiet=True,
                ),
            ),
            shown="read orders and fills, write plans (a pharmacy: read fills)",
        ),
    ] = None
    page_size: Annotated[
        int | None, Key(v.positive_int, "search page size (`_count`)", shown="`[sync] page_size`")
    ] = None
    concurrency: Annotated[
        int | None,
        Key(v.positive_int, "requests at once to this endpoint", shown="`[sync] concurrency`"),
    ] = None
    timeout: Annotated[
        float | None,
        Key(v.positive_float, "seconds per request", shown=f"`{_ADAPTER['timeout']:g}`"),
    ] = None
    max_attempts: Annotated[
        int | None,
        Key(
            v.positive_int,
            "attempts per request, the first included",
            shown=f"`{_ADAPTER['max_attempts']}`",
        ),
    ] = None
    backoff_base: Annotated[
        float | None,
        Key(
            v.non_negative_float,
            "seconds; exponential backoff with full jitter, `Retry-After` honoured",
            shown=f"`{_ADAPTER['backoff_base']:g}`",
        ),
    ] = None
    quirks: Annotated[
        frozenset[Quirk],
        Key(
            v.quirks,
            "the server's deviations to work around: " + ", ".join(f"`{q.value}`" for q in Quirk),
            shown="none",
        ),
    ] = frozenset()
    transactions: Annotated[
        bool | None,
        Key(v.flag, "whether the server takes transaction Bundles", shown="what `/metadata` says"),
    ] = None


#: The tables of `fhir-sync sync`'s file, in the order messages list them.
TABLES: Final[dict[str, type[LayeredSection]]] = {
    TOP: SyncSection,
    **dict.fromkeys(ENDPOINTS, EndpointSection),
}


def flag_names() -> dict[tuple[str, str], str]:
    """(section, key) -> the flag that sets it, for messages and for the CLI's mapping."""
    return {
        (flag.section, key): flag.name
        for model in (SyncSection, EndpointSection)
        for key, _, flag in model.flags()
    }


def sync_readme_table() -> str:
    """The README's tables of `fhir-sync sync`'s keys, from the declarations."""
    lines = [
        "| `[sync]` key | environment variable | flag | meaning | default |",
        "|---|---|---|---|---|",
    ]
    for key, declared, flags in _rows(SyncSection):
        lines.append(
            f"| `{key}` | `{env_name(TOP, key)}` | {flags} | {declared.help} | "
            f"{_default(SyncSection, key, declared)} |"
        )
    lines += [
        "",
        "| `[ehr]`, `[pharmacy]`, `[target]` key | environment variable (the EHR's) | flag "
        "| meaning | default |",
        "|---|---|---|---|---|",
    ]
    for key, declared, flags in _rows(EndpointSection):
        lines.append(
            f"| `{key}` | `{env_name('ehr', key)}` | {flags} | {declared.help} | "
            f"{_default(EndpointSection, key, declared)} |"
        )
    return "\n".join(lines) + "\n"


def _rows(model: type[LayeredSection]) -> list[tuple[str, Key, str]]:
    """The keys with their `fhir-sync sync` flags; the rules after the terms."""
    named: dict[str, list[str]] = {}
    for key, _, flag in model.flags():
        if flag.panel is not None:
            named.setdefault(key, []).append(f"`{flag.name}`")
    rows = [(key, declared, ", ".join(named.get(key, []))) for key, declared in model.declared()]
    return sorted(rows, key=lambda row: row[1].parameter is not None)


def _default(model: type[LayeredSection], key: str, declared: Key) -> str:
    if declared.shown is not None:
        return declared.shown
    value = model.model_fields[key].default
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"

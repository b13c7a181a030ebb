"""The pharmacy's pickup hours and time zone: the Appointment on the anchor date carries the
local time with the offset of that date (daylight saving time included), from every way the
settings come in: `plan` flags, `sync` TOML/environment, the server's environment, `$enroll`."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fhir_sync.cli import app
from fhir_sync.services.server_settings import ServerSettings
from fhir_sync.sync.config import ConfigError, load_config
from mappings.pickup_hours import PickupHours, pickup_hours
from tests.conftest import FIXTURES

EHR = "https://ehr.example.org/fhir"


def test_parsing_and_errors() -> None:
    hours = pickup_hours("10:00-18:30", "America/New_York")
    assert hours == PickupHours("America/New_York", time(10, 0), time(18, 30))
    assert hours.minutes == 8 * 60 + 30 and hours.text == "10:00-18:30"
    assert pickup_hours() == PickupHours("UTC", time(9, 0), time(17, 0))
    for bad_hours, bad_zone in [("9-17", None), ("17:00-09:00", None), ("25:00-26:00", None)]:
        with pytest.raises(ValueError, match="pickup hours"):
            pickup_hours(bad_hours, bad_zone)
    with pytest.raises(ValueError, match="IANA"):
        pickup_hours(None, "Mars/Olympus_Mons")


def _appointment(out: Path, patient: str = "pt-000001") -> dict[str, Any]:
    bundle = orjson.loads((out / f"{patient}.json").read_bytes())
    (found,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment"
    ]
    return found


def _plan(out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["plan", str(FIXTURES / "demo"), "--out", str(out), *extra])
    return result.exit_code, result.output


def test_plan_writes_local_time_with_the_offset_of_the_anchor_date(tmp_path: Path) -> None:
    out = tmp_path / "plans"
    zone = ("--time-zone", "America/New_York", "--pickup-hours", "10:00-18:30")
    code, output = _plan(out, "--today", "2026-11-22", *zone)
    assert code == 0, output
    appointment = _appointment(out)
    day = appointment["start"][:10]
    # New York is on EST (UTC-5) from the first Sunday of November to the second of March.
    assert day[5:7] in ("11", "12", "01")
    assert appointment["start"] == f"{day}T10:00:00-05:00"
    assert appointment["end"] == f"{day}T18:30:00-05:00"
    assert appointment["minutesDuration"] == 510
    code, output = _plan(out, "--time-zone", "Nowhere/City")
    assert code == 2 and "IANA" in output


def test_summer_dates_get_the_summer_offset(tmp_path: Path) -> None:
    out = tmp_path / "plans"
    code, output = _plan(out, "--today", "2026-06-01", "--time-zone", "Europe/Berlin")
    assert code in (0, 1), output
    starts = [_appointment(out, p.stem)["start"] for p in out.glob("pt-*.json")
              if b'"Appointment"' in p.read_bytes()]  # fmt: skip
    assert starts
    for start in starts:
        month = int(start[5:7])
        # Berlin: CEST (UTC+2) from the last Sunday of March to the last Sunday of October,
        # CET (UTC+1) otherwise.
        offsets = {"+02:00"} if 4 <= month <= 9 else {"+01:00"} if month in (11, 12, 1, 2) else None
        assert start[10:19] == "T09:00:00"
        assert start[19:] in (offsets or {"+01:00", "+02:00"})


def test_sync_reads_them_from_flags_environment_and_file(tmp_path: Path) -> None:
    file = tmp_path / "sync.toml"
    file.write_text(f'[sync]\ntime_zone = "America/Chicago"\npickup_hours = "08:00-12:00"\n'
                    f'[ehr]\nurl = "{EHR}"\n')  # fmt: skip
    config = load_config({}, {}, file)
    assert config.pickup == PickupHours("America/Chicago", time(8, 0), time(12, 0))
    config = load_config({}, {"FHIR_SYNC_TIME_ZONE": "Europe/Paris"}, file)
    assert config.pickup.time_zone == "Europe/Paris"  # the environment over the file
    config = load_config({("sync", "pickup_hours"): "13:00-14:00"}, {}, file)
    assert config.pickup.text == "13:00-14:00"  # a flag over the file
    file.write_text(f'[sync]\ntime_zone = "Chicago"\n[ehr]\nurl = "{EHR}"\n')
    with pytest.raises(ConfigError, match=r"time_zone.*IANA"):
        load_config({}, {}, file)


def test_the_server_default_comes_from_the_environment() -> None:
    settings = ServerSettings.from_env(
        {"FHIR_SYNC_TIME_ZONE": "America/Denver", "FHIR_SYNC_PICKUP_HOURS": "07:30-11:00"}
    )
    assert settings.pickup == PickupHours("America/Denver", time(7, 30), time(11, 0))
    with pytest.raises(ValueError, match="FHIR_SYNC_TIME_ZONE"):
        ServerSettings.from_env({"FHIR_SYNC_TIME_ZONE": "Denver"})

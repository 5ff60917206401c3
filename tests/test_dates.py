"""Action dates as spreadsheets hold them -> ISO 8601 with the right offset, DST included."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.dates import BadDate, load_zone, to_action_date
from importer.sandbox.rules import parse_action_date

CASABLANCA = load_zone("Africa/Casablanca")
PARIS = load_zone("Europe/Paris")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        # Morocco is UTC+1, except during Ramadan (2025: 23 Feb 03:00 -> 6 Apr 02:00), UTC+0
        ("2025-02-01 14:00", "2025-02-01T14:00:00+01:00"),
        ("2025-02-01 14:00:00", "2025-02-01T14:00:00+01:00"),  # an Excel date cell, as read
        ("2025-02-01T14:00", "2025-02-01T14:00:00+01:00"),
        ("01/02/2025 14:00", "2025-02-01T14:00:00+01:00"),  # day first
        ("1/2/2025 14h30", "2025-02-01T14:30:00+01:00"),
        ("01-02-25 14h", "2025-02-01T14:00:00+01:00"),
        ("01.02.2025", "2025-02-01T00:00:00+01:00"),
        ("2025-02-01", "2025-02-01T00:00:00+01:00"),
        ("2025/02/01 09:05", "2025-02-01T09:05:00+01:00"),
        ("١٠/٠٣/٢٠٢٥ ١٤:٠٠", "2025-03-10T14:00:00+00:00"),  # Arabic-Indic digits, in Ramadan
        ("2025-03-10 14:00", "2025-03-10T14:00:00+00:00"),
        ("2025-04-07 14:00", "2025-04-07T14:00:00+01:00"),
        ("45689.5833333333", "2025-02-01T14:00:00+01:00"),  # an Excel serial number
        ("45689", "2025-02-01T00:00:00+01:00"),
        # an explicit offset is kept as written
        ("2025-02-01T14:00:00+01:00", "2025-02-01T14:00:00+01:00"),
        ("2025-02-01T14:00:00Z", "2025-02-01T14:00:00+00:00"),
        ("2025-02-01 14:00 -0500", "2025-02-01T14:00:00-05:00"),
        ("  2025-02-01   14:00 ", "2025-02-01T14:00:00+01:00"),
    ],
)
def test_cells_become_iso_8601_with_the_zones_offset(cell: str, expected: str) -> None:
    assert to_action_date(cell, CASABLANCA) == expected
    assert parse_action_date(expected) is not None  # the sandbox takes what we send


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("demain 14h", "is not a date"),
        ("14:00", "is not a date"),
        ("13/13/2025", "day first"),  # no 13th month: a US date, refused rather than guessed
        ("31/02/2025", "day first"),
        ("2025-02-01 25:00", "is not a date"),
        ("12345", "is not a date"),  # a serial number from 1933: not an action date
        ("", "empty"),
    ],
)
def test_what_is_no_date_is_said_so(cell: str, why: str) -> None:
    got = to_action_date(cell, CASABLANCA)
    assert isinstance(got, BadDate) and why in got.message
    if cell.strip():
        assert cell.strip() in got.message


def test_summer_time_gap_is_refused_and_the_repeated_hour_is_the_first() -> None:
    # Paris, 2025-03-30: 02:00 -> 03:00 (02:30 never happens); 2025-10-26: 03:00 -> 02:00
    gap = to_action_date("30/03/2025 02:30", PARIS)
    assert isinstance(gap, BadDate) and "does not exist in Europe/Paris" in gap.message
    assert to_action_date("30/03/2025 03:30", PARIS) == "2025-03-30T03:30:00+02:00"
    assert to_action_date("26/10/2025 02:30", PARIS) == "2025-10-26T02:30:00+02:00"
    assert to_action_date("26/10/2025 03:30", PARIS) == "2025-10-26T03:30:00+01:00"
    # Casablanca, end of Ramadan 2025: 02:00 -> 03:00 on 6 April
    jump = to_action_date("2025-04-06 02:30", CASABLANCA)
    assert isinstance(jump, BadDate) and "Africa/Casablanca" in jump.message


def test_unknown_zone_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="Africa/Casablanca"):
        load_zone("Mars/Olympus")


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.sampled_from(["Africa/Casablanca", "Europe/Paris", "UTC", "Asia/Kolkata"]),
)
def test_any_wall_clock_time_comes_back_as_the_same_instant(moment: datetime, name: str) -> None:
    zone = load_zone(name)
    for cell in (
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        moment.strftime("%d/%m/%Y %H:%M:%S"),
    ):
        got = to_action_date(cell, zone)
        exists = (
            moment.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
            == moment
        )
        if not exists:
            assert isinstance(got, BadDate)
            continue
        assert isinstance(got, str) and ISO.match(got), got
        parsed = datetime.fromisoformat(got)
        assert parsed.replace(tzinfo=None) == moment  # the wall-clock time as written
        assert parsed.utcoffset() == moment.replace(tzinfo=zone).utcoffset()


@given(st.floats(min_value=36526, max_value=60000, allow_nan=False))
def test_excel_serials_round_to_the_second(serial: float) -> None:
    got = to_action_date(repr(serial) if "e" not in repr(serial) else f"{serial:.6f}", UTC)
    assert isinstance(got, str)
    expected = datetime(1899, 12, 30, tzinfo=UTC) + timedelta(seconds=round(serial * 86400))
    assert datetime.fromisoformat(got) == expected


def test_zones_work_without_a_system_time_zone_database() -> None:
    # `tzdata` backs zoneinfo where /usr/share/zoneinfo is missing (Windows, slim images)
    code = (
        "from importer.dates import load_zone, to_action_date;"
        "print(to_action_date('2025-03-10 14:00', load_zone('Africa/Casablanca')))"
    )
    env = {**os.environ, "PYTHONTZPATH": os.devnull}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "2025-03-10T14:00:00+00:00", done.stderr

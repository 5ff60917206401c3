"""Action dates as spreadsheets hold them, turned into ISO 8601 with the offset of a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TIMEZONE", "BadDate", "load_zone", "to_action_date"]

#: Where WedoCOD's sellers are: the zone a date without an offset is read in by default.
DEFAULT_TIMEZONE = "Africa/Casablanca"

#: Excel's serial day numbers count from 1899-12-30 (its 1900 leap-year bug included).
_EXCEL_EPOCH = datetime(1899, 12, 30)
#: Serial numbers read as dates: 1970-01-01 .. 9999-12-31. Anything else is no date.
_SERIAL_RANGE = (25569.0, 2958465.0)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

_TIME = (
    r"(?P<hour>\d{1,2})(?:[:h](?P<minute>\d{2})?(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
)
_OFFSET = r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)"
#: 2025-02-01, 2025-02-01 14:00, 2025-02-01T14:00:00+01:00, 2025/02/01 14h30, ...
_YEAR_FIRST = re.compile(
    rf"^(?P<year>\d{{4}})[-/.](?P<month>\d{{1,2}})[-/.](?P<day>\d{{1,2}})"
    rf"(?:[T ]+{_TIME}\s*{_OFFSET}?)?$",
    re.IGNORECASE,
)
#: 01/02/2025, 01/02/2025 14:00, 1-2-25 14h: day first, as in Morocco and France.
_DAY_FIRST = re.compile(
    rf"^(?P<day>\d{{1,2}})[-/.](?P<month>\d{{1,2}})[-/.](?P<year>\d{{4}}|\d{{2}})"
    rf"(?:[T ]+{_TIME})?$",
    re.IGNORECASE,
)
_SERIAL = re.compile(r"^\d{5,7}(?:[.,]\d+)?$")

_FORMATS_HINT = (
    "write it as 2025-02-01 14:00 or 01/02/2025 14:00 (day first), "
    "or with its offset, 2025-02-01T14:00:00+01:00"
)


@dataclass(frozen=True, slots=True)
class BadDate:
    """Why a cell is not a usable action date (the message names the value)."""

    message: str


def load_zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA, e.g. ``Africa/Casablanca``); ValueError if unknown.

    The `tzdata` package backs `zoneinfo` where the system has no time zone database.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as {DEFAULT_TIMEZONE})"
        ) from err


def to_action_date(text: str, zone: tzinfo) -> str | BadDate:
    """One spreadsheet cell as the API's action date, ``YYYY-MM-DDTHH:MM:SS±HH:MM``.

    Read: ISO dates with or without a time and an offset, day-first dates (``01/02/2025
    14:00``, ``14h30``), Excel date cells (read as ``2025-02-01 14:00:00``) and Excel serial
    numbers (``45689.5833``). Without an offset the time is wall-clock time in `zone`, with the
    offset in force on that day (summer time and Ramadan included). A time the clocks skip
    is refused; a time they repeat is the first one. A date alone means midnight.
    """
    value = " ".join(text.translate(_DIGITS).split())
    if not value:
        return BadDate("The action date is empty.")
    if _SERIAL.match(value):
        return _from_serial(value, zone)
    match = _YEAR_FIRST.match(value) or _DAY_FIRST.match(value)
    if match is None:
        return BadDate(f"'{text.strip()}' is not a date: {_FORMATS_HINT}.")
    parts = match.groupdict()
    year = int(parts["year"])
    if len(parts["year"]) == 2:
        year += 2000
    try:
        moment = datetime(
            year,
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
        )
    except ValueError as err:
        order = "" if match.re is _YEAR_FIRST else " (dates are read day first: dd/mm/yyyy)"
        return BadDate(f"'{text.strip()}' is not a date: {err}{order}.")
    offset = parts.get("offset")
    if offset:
        return _iso(moment.replace(tzinfo=_fixed(offset)))
    return _localise(moment, zone, text.strip())


def _from_serial(value: str, zone: tzinfo) -> str | BadDate:
    serial = float(value.replace(",", "."))
    if not _SERIAL_RANGE[0] <= serial <= _SERIAL_RANGE[1]:
        return BadDate(f"'{value}' is not a date: {_FORMATS_HINT}.")
    # Excel stores times as fractions of a day: round to the second it shows
    moment = _EXCEL_EPOCH + timedelta(seconds=round(serial * 86400))
    return _localise(moment, zone, value)


def _fixed(offset: str) -> tzinfo:
    if offset.upper() == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _localise(moment: datetime, zone: tzinfo, shown: str) -> str | BadDate:
    """A wall-clock time in `zone`, checked to exist (fold=0: the first of a repeated hour)."""
    aware = moment.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != moment:
        return BadDate(
            f"'{shown}' does not exist in {zone}: the clocks skip that hour on that day "
            "(summer time or Ramadan); give a time outside the jump, or an offset."
        )
    return _iso(aware)


def _iso(moment: datetime) -> str | BadDate:
    offset = moment.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        # local mean time of the 19th century: no ±HH:MM offset can say it
        return BadDate(f"'{moment:%Y-%m-%d %H:%M}' is too far in the past for an action date.")
    return moment.isoformat(timespec="seconds")

"""The documented request rules of the Leads API, checked the way the real (Laravel) server does."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

#: The documented lead statuses, in the docs' order: key -> label.
STATUSES: dict[str, str] = {
    "new": "New",
    "confirmed": "Confirmed",
    "wrong": "Wrong",
    "testing": "Testing",
    "call_later": "Call Later",
    "no_reply": "No Reply",
    "cancelled": "Cancelled",
    "out_of_stock": "Out of Stock",
    "duplicate": "Duplicate",
    "expired": "Expired",
    "unreachable": "Unreachable",
    "preparing": "Preparing",
    "blacklist": "Blacklist",
    "no_reply_asked_to_recall": "No Reply Asked to Recall",
}
#: Statuses whose update needs an `action_date` (a callback time, a cancellation time).
NEEDS_ACTION_DATE = frozenset({"cancelled", "call_later"})
#: Statuses in which a lead may still be deleted; any other answers 403.
DELETABLE = frozenset({"new", "wrong", "testing", "duplicate", "cancelled"})

MAX_ITEMS = 100
# ISO 8601 with a mandatory offset (or Z), as the docs' example `2025-02-01T14:00:00+01:00`.
_ACTION_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")

Errors = dict[str, list[str]]


def clean(value: object) -> object:
    """What Laravel's TrimStrings + ConvertEmptyStringsToNull middleware make of an input value."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def is_number(value: object) -> bool:
    """Laravel's `numeric`: ints, floats and numeric strings; never booleans."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return False
        return number == number and abs(number) != float("inf")
    return False


def as_number(value: object) -> float:
    """The numeric value of something `is_number` accepted."""
    assert isinstance(value, int | float | str) and not isinstance(value, bool)
    return float(value)


def _label(path: str) -> str:
    """The attribute name in messages: the last key of the path, underscores as spaces."""
    return path.rsplit(".", 1)[-1].replace("_", " ")


def _add(errors: Errors, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _check_string(
    errors: Errors, item: dict[str, Any], key: str, path: str, low: int, high: int, required: bool
) -> str | None:
    """Checks one string field; returns the cleaned string when it is valid."""
    value = clean(item.get(key))
    name = _label(path)
    if value is None:
        if required:
            _add(errors, path, f"The {name} field is required.")
        return None
    if not isinstance(value, str):
        _add(errors, path, f"The {name} must be a string.")
        return None
    if not low <= len(value) <= high:
        _add(errors, path, f"The {name} must be between {low} and {high} characters.")
        return None
    return value


def _check_number(
    errors: Errors, item: dict[str, Any], key: str, path: str, low: int, high: int
) -> None:
    value = clean(item.get(key))
    name = _label(path)
    if value is None:
        _add(errors, path, f"The {name} field is required.")
    elif not is_number(value):
        _add(errors, path, f"The {name} must be a number.")
    elif not low <= as_number(value) <= high:
        _add(errors, path, f"The {name} must be between {low} and {high}.")


def _check_list(
    errors: Errors, value: object, path: str, required: bool, name: str | None = None
) -> list[Any] | None:
    """Checks an array field of at most 100 items; returns it when its items can be checked."""
    name = name or _label(path)
    if value is None or value == []:
        if required:
            _add(errors, path, f"The {name} field is required.")
        return None
    if not isinstance(value, list):
        _add(errors, path, f"The {name} must be an array.")
        return None
    if len(value) > MAX_ITEMS:
        _add(errors, path, f"The {name} must not have more than {MAX_ITEMS} items.")
        return None
    return value


def validate_create(body: object, catalog: frozenset[str]) -> dict[str, list[str]]:
    """Checks a `POST /leads` body against every documented rule; empty means valid.

    Keys are Laravel-style paths (`data.0.phone`, `data.0.products.1.sku`); messages are those of
    the docs. Strings are trimmed and empty strings count as missing (Laravel's default
    middleware); numbers may be JSON numbers or numeric strings (Laravel's `numeric`).
    """
    errors: Errors = {}
    data = body.get("data") if isinstance(body, dict) else None
    leads = _check_list(errors, data, "data", required=True)
    for n, lead in enumerate(leads or ()):
        at = f"data.{n}"
        if not isinstance(lead, dict):
            _add(errors, at, f"The {at} must be an object.")
            continue
        _check_string(errors, lead, "full_name", f"{at}.full_name", 3, 100, required=True)
        _check_string(errors, lead, "phone", f"{at}.phone", 7, 100, required=True)
        _check_string(errors, lead, "city", f"{at}.city", 3, 100, required=True)
        _check_string(errors, lead, "area", f"{at}.area", 3, 100, required=False)
        _check_string(errors, lead, "address", f"{at}.address", 5, 100, required=True)
        products = _check_list(errors, lead.get("products"), f"{at}.products", required=True)
        for p, product in enumerate(products or ()):
            pat = f"{at}.products.{p}"
            if not isinstance(product, dict):
                _add(errors, pat, f"The {pat} must be an object.")
                continue
            sku = _check_string(errors, product, "sku", f"{pat}.sku", 1, 100, required=True)
            if sku is not None and sku not in catalog:
                _add(errors, f"{pat}.sku", f"The selected {pat}.sku is invalid.")
            _check_number(errors, product, "quantity", f"{pat}.quantity", 1, 999)
            _check_number(errors, product, "total", f"{pat}.total", 1, 999999)
        entries = _check_list(errors, lead.get("data"), f"{at}.data", required=False)
        for e, entry in enumerate(entries or ()):
            eat = f"{at}.data.{e}"
            if not isinstance(entry, dict):
                _add(errors, eat, f"The {eat} must be an object.")
                continue
            _check_string(errors, entry, "key", f"{eat}.key", 1, 100, required=False)
            _check_string(errors, entry, "value", f"{eat}.value", 1, 100, required=False)
    return errors


def parse_action_date(value: str) -> datetime | None:
    """An `action_date` as the docs spell it (offset required), else None."""
    if not _ACTION_DATE.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def validate_update(body: object, known_refs: frozenset[str]) -> dict[str, list[str]]:
    """Checks a `PUT /leads` body; `known_refs` are the account's lead references."""
    errors: Errors = {}
    items = body.get("leads") if isinstance(body, dict) else None
    updates = _check_list(errors, items, "leads", required=True)
    for n, item in enumerate(updates or ()):
        at = f"leads.{n}"
        if not isinstance(item, dict):
            _add(errors, at, f"The {at} must be an object.")
            continue
        ref = _check_string(errors, item, "reference", f"{at}.reference", 1, 100, required=True)
        if ref is not None and ref not in known_refs:
            _add(errors, f"{at}.reference", f"The selected {at}.reference is invalid.")
        status = clean(item.get("status"))
        key = status.lower() if isinstance(status, str) else None
        if status is None:
            _add(errors, f"{at}.status", "The status field is required.")
        elif key not in STATUSES:
            _add(errors, f"{at}.status", "The selected status is invalid.")
        action_date = clean(item.get("action_date"))
        if action_date is None:
            if key in NEEDS_ACTION_DATE:
                _add(errors, f"{at}.action_date", f"The action date is required for status {key}.")
        elif not isinstance(action_date, str) or parse_action_date(action_date) is None:
            _add(
                errors,
                f"{at}.action_date",
                "The action date must be an ISO 8601 date (YYYY-MM-DDTHH:MM:SS±HH:MM).",
            )
    return errors


def validate_delete(body: object) -> dict[str, list[str]]:
    """Checks the shape of a `DELETE /leads` body (whether the ids exist is checked apart)."""
    errors: Errors = {}
    ids = _check_list(errors, body.get("ids") if isinstance(body, dict) else None, "ids", True)
    for n, lead_id in enumerate(ids or ()):
        if not isinstance(lead_id, str):
            _add(errors, f"ids.{n}", f"The ids.{n} must be a string.")
        elif not 3 <= len(lead_id.strip()) <= 100:
            _add(errors, f"ids.{n}", f"The ids.{n} must be between 3 and 100 characters.")
    return errors

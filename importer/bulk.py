"""The rest of the Leads API in bulk: status updates from a file, deletes, and export."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from importer.client import Forbidden, LeadsClient, ValidationFailed
from importer.mapping import normalize_header
from importer.model import Issue
from importer.read import ReadError, read_table

#: The API's limit on items per bulk request.
MAX_PER_REQUEST = 100
_INDEXED = re.compile(r"^(?:leads|ids)\.(\d+)(?:\.(\w+))?$")
_ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)$")

_COLUMN_SYNONYMS = {
    "reference": ("reference", "ref", "lead ref", "lead reference", "reference lead"),
    "status": ("status", "statut", "new status", "etat", "الحالة"),
    "action_date": ("action date", "action_date", "date action", "date", "callback"),
}


@dataclass(frozen=True)
class StatusUpdate:
    row: int
    reference: str
    status: str
    action_date: str | None = None

    def payload(self) -> dict[str, str]:
        item = {"reference": self.reference, "status": self.status}
        if self.action_date:
            item["action_date"] = self.action_date
        return item


@dataclass(frozen=True)
class ItemResult:
    """What became of one update or delete: `updated`, `deleted`, `rejected` or `refused`."""

    row: int
    item: str
    outcome: str
    message: str = ""


def read_status_updates(
    path: Path, known_statuses: Iterable[str], sheet: str | None = None
) -> tuple[list[StatusUpdate], list[Issue]]:
    """Read `reference,status[,action_date]` rows; bad rows become issues, not exceptions."""
    table = read_table(path, sheet)
    columns = _find_columns(table.frame.columns, path)
    statuses = {s.lower() for s in known_statuses}
    updates: list[StatusUpdate] = []
    issues: list[Issue] = []
    frame = table.frame
    action_col = columns.get("action_date")
    for row, reference, status, action in zip(
        frame.index.tolist(),
        frame[columns["reference"]].tolist(),
        frame[columns["status"]].tolist(),
        frame[action_col].tolist() if action_col else [""] * len(frame),
        strict=True,
    ):
        reference, status, action = str(reference).strip(), str(status).strip(), str(action)
        found = _check_update(row, reference, status, action.strip(), statuses, columns)
        if found:
            issues.extend(found)
            continue
        updates.append(StatusUpdate(row, reference, status.lower(), action.strip() or None))
    return updates, issues


def _find_columns(headers: Iterable[str], path: Path) -> dict[str, str]:
    by_norm = {normalize_header(h): h for h in headers}
    found: dict[str, str] = {}
    for field, names in _COLUMN_SYNONYMS.items():
        for name in names:
            if normalize_header(name) in by_norm:
                found[field] = by_norm[normalize_header(name)]
                break
    missing = [f for f in ("reference", "status") if f not in found]
    if missing:
        raise ReadError(
            f"{path}: no column for {', '.join(missing)}; the file needs a `reference` and a "
            f"`status` column (found: {', '.join(map(str, headers))})"
        )
    return found


def _check_update(
    row: int,
    reference: str,
    status: str,
    action: str,
    statuses: set[str],
    columns: dict[str, str],
) -> list[Issue]:
    issues = []
    if not 1 <= len(reference) <= 100:
        issues.append(
            Issue(row, columns["reference"], "required", "The reference field is required.")
        )
    if status.lower() not in statuses:
        issues.append(
            Issue(
                row,
                columns["status"],
                "unknown_status",
                f"The selected status '{status}' is invalid (see `wedocod statuses`).",
            )
        )
    if action and not _ISO_WITH_OFFSET.match(action):
        issues.append(
            Issue(
                row,
                columns.get("action_date"),
                "invalid_date",
                f"The action date '{action}' must be ISO 8601 with an offset, "
                "e.g. 2025-02-01T14:00:00+01:00.",
            )
        )
    elif action:
        try:
            datetime.fromisoformat(action)
        except ValueError:
            issues.append(
                Issue(row, columns.get("action_date"), "invalid_date", f"'{action}' is no date.")
            )
    return issues


def update_statuses(client: LeadsClient, updates: Sequence[StatusUpdate]) -> list[ItemResult]:
    """PUT in batches of 100; a 422 names the bad items, the rest are sent again."""
    results: list[ItemResult] = []
    for _, chunk in _chunks(updates, MAX_PER_REQUEST):
        pending = list(chunk)
        while pending:
            try:
                client.update_leads([u.payload() for u in pending])
            except ValidationFailed as err:
                bad = _indexed_messages(err.fields, len(pending))
                if not bad:  # the server names no item: the whole request was refused
                    results.extend(
                        ItemResult(u.row, u.reference, "rejected", str(err)) for u in pending
                    )
                    break
                results.extend(
                    ItemResult(pending[i].row, pending[i].reference, "rejected", "; ".join(msgs))
                    for i, msgs in sorted(bad.items())
                )
                pending = [u for i, u in enumerate(pending) if i not in bad]
                continue
            results.extend(ItemResult(u.row, u.reference, "updated") for u in pending)
            break
    return sorted(results, key=lambda r: r.row)


def delete_leads(client: LeadsClient, ids: Sequence[str]) -> list[ItemResult]:
    """DELETE in batches; a 403 refuses the whole batch, so its ids are tried one by one."""
    results: list[ItemResult] = []
    for start, chunk in _chunks(ids, MAX_PER_REQUEST):
        try:
            client.delete_leads(list(chunk))
        except Forbidden:
            if len(chunk) == 1:
                results.append(ItemResult(start + 1, chunk[0], "refused", _REFUSED))
                continue
            results.extend(_delete_one_by_one(client, chunk, start))
            continue
        except ValidationFailed as err:
            bad = _indexed_messages(err.fields, len(chunk))
            results.extend(
                ItemResult(start + i + 1, lead_id, "rejected", "; ".join(bad.get(i, [str(err)])))
                for i, lead_id in enumerate(chunk)
            )
            continue
        results.extend(
            ItemResult(start + i + 1, lead_id, "deleted") for i, lead_id in enumerate(chunk)
        )
    return results


_REFUSED = "This action is unauthorized: the lead's status does not allow deleting it."


def _delete_one_by_one(client: LeadsClient, chunk: Sequence[str], start: int) -> list[ItemResult]:
    out = []
    for i, lead_id in enumerate(chunk):
        try:
            client.delete_leads([lead_id])
        except Forbidden:
            out.append(ItemResult(start + i + 1, lead_id, "refused", _REFUSED))
        except ValidationFailed as err:
            out.append(ItemResult(start + i + 1, lead_id, "rejected", str(err)))
        else:
            out.append(ItemResult(start + i + 1, lead_id, "deleted"))
    return out


def _indexed_messages(fields: dict[str, list[str]], count: int) -> dict[int, list[str]]:
    bad: dict[int, list[str]] = {}
    for key, messages in fields.items():
        match = _INDEXED.match(key)
        if match and int(match.group(1)) < count:
            bad.setdefault(int(match.group(1)), []).extend(messages)
    return bad


def _chunks(items: Sequence[Any], size: int) -> Iterator[tuple[int, Sequence[Any]]]:
    """(position of the first item, the items) for each request's worth."""
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


#: Columns of an export, in order; `products` and `data` are flattened to readable text.
EXPORT_COLUMNS = (
    "reference",
    "id",
    "status",
    "full_name",
    "phone",
    "city",
    "area",
    "address",
    "products",
    "data",
    "created_at",
)


def export_rows(leads: Iterable[dict[str, Any]]) -> Iterator[list[str]]:
    """Each lead of `GET /leads` as one row of text cells, in EXPORT_COLUMNS order."""
    for lead in leads:
        products = "; ".join(
            f"{p.get('sku', '')} x{p.get('quantity', '')} = {p.get('total', '')}"
            for p in lead.get("products") or []
        )
        data = "; ".join(f"{d.get('key', '')}={d.get('value', '')}" for d in lead.get("data") or [])
        row = {**lead, "products": products, "data": data}
        yield ["" if row.get(c) is None else str(row.get(c)) for c in EXPORT_COLUMNS]

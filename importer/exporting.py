"""Export: every page of `GET /leads` to XLSX (a Leads and a Products sheet) or CSV.

Formula-safe (`report.write_export` writes text as text) and atomic: the file appears whole
or not at all, and Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.client import LeadsClient, LeadStatus
from importer.errors import BadResponse
from importer.report import write_export

__all__ = [
    "LEAD_COLUMNS",
    "PRODUCT_COLUMNS",
    "ExportError",
    "ExportFilters",
    "ExportResult",
    "export_leads",
    "lead_row",
    "product_rows",
    "resolve_statuses",
]

#: Columns of the Leads sheet (and of a CSV export); `products` and `data` as readable text.
LEAD_COLUMNS = (
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
    "action_date",
    "created_at",
)
#: Columns of the Products sheet: one row per product line, with its lead's reference and id.
PRODUCT_COLUMNS = ("reference", "id", "sku", "quantity", "price", "total")
#: Leads per page asked for (the API's maximum).
PER_PAGE = 100
#: When the server gives neither `pages` nor `total`, no export reads more pages than this.
MAX_PAGES = 100_000

OnPage = Callable[[int, int | None, int | None], None]


class ExportError(Exception):
    """The export cannot be written where asked (e.g. more rows than an Excel sheet holds)."""


@dataclass(frozen=True)
class ExportFilters:
    """What to export: `GET /leads`'s filters, and statuses (keys or labels, any of them)."""

    keyword: str | None = None
    search_by: str | None = None
    match_type: str | None = None
    start_at: str | None = None
    end_at: str | None = None
    statuses: tuple[LeadStatus, ...] = ()  # empty: every status

    def wants(self, lead: dict[str, Any]) -> bool:
        """Whether the lead has one of the statuses asked for (its key or its label)."""
        if not self.statuses:
            return True
        status = _text(lead.get("status")).casefold()
        return any(status in (s.key.casefold(), s.label.casefold()) for s in self.statuses)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    leads: int
    products: int
    pages: int
    repeated: int  # leads met twice while paging (new leads shift the pages): written once


def resolve_statuses(wanted: Iterable[str], known: Sequence[LeadStatus]) -> tuple[LeadStatus, ...]:
    """The account's statuses asked for by key or label (case aside), each once.

    Raises ValueError naming the ones the account does not have.
    """
    by_name: dict[str, LeadStatus] = {}
    for status in known:
        by_name.setdefault(status.label.casefold(), status)
    for status in known:
        by_name[status.key.casefold()] = status
    chosen: dict[str, LeadStatus] = {}
    unknown: list[str] = []
    for name in wanted:
        found = by_name.get(name.strip().casefold())
        if found is None:
            unknown.append(name)
        else:
            chosen[found.key] = found
    if unknown:
        keys = ", ".join(s.key for s in known)
        raise ValueError(
            f"unknown status {', '.join(map(repr, unknown))} (the account has: {keys})"
        )
    return tuple(chosen.values())


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def lead_row(lead: dict[str, Any]) -> list[str]:
    """One lead of `GET /leads` as text cells, in LEAD_COLUMNS order."""
    products = "; ".join(
        f"{_text(p.get('sku'))} x{_text(p.get('quantity'))} = {_text(p.get('total'))}"
        for p in lead.get("products") or []
        if isinstance(p, dict)
    )
    data = "; ".join(
        f"{_text(d.get('key'))}={_text(d.get('value'))}"
        for d in lead.get("data") or []
        if isinstance(d, dict)
    )
    row = {**lead, "products": products, "data": data}
    return [_text(row.get(c)) for c in LEAD_COLUMNS]


def product_rows(lead: dict[str, Any]) -> list[list[str | int]]:
    """The lead's product lines, in PRODUCT_COLUMNS order (a whole quantity as a number)."""
    out: list[list[str | int]] = []
    for product in lead.get("products") or []:
        if not isinstance(product, dict):
            continue
        quantity = product.get("quantity")
        shown: str | int = quantity if isinstance(quantity, int) else _text(quantity)
        out.append(
            [
                _text(lead.get("reference")),
                _text(lead.get("id")),
                _text(product.get("sku")),
                shown,
                _text(product.get("price")),
                _text(product.get("total")),
            ]
        )
    return out


class _PageLimit:
    """Stops a listing that never ends: past the pages the first answer announced (plus a
    margin for leads created meanwhile), reading more is refused."""

    def __init__(self, per_page: int, then: OnPage | None) -> None:
        self.per_page = per_page
        self.then = then
        self.limit: int | None = None
        self.read = 0

    def __call__(self, page: int, pages: int | None, total: int | None) -> None:
        self.read = page
        if self.limit is None:
            announced = pages or (math.ceil(total / self.per_page) if total else None)
            self.limit = announced + max(5, announced // 10) if announced else MAX_PAGES
        if page > self.limit:
            raise BadResponse(
                f"GET /leads kept answering past page {self.limit} (it announced fewer): "
                "stopped rather than page forever; nothing was written"
            )
        if self.then is not None:
            self.then(page, pages, total)


def export_leads(
    client: LeadsClient,
    path: Path,
    filters: ExportFilters,
    *,
    on_page: OnPage | None = None,
) -> ExportResult:
    """Write every lead the filters match to `path` (.xlsx or .csv), page after page.

    A single status without a keyword is asked of the server (`search_by=status`, exact);
    statuses are also checked on each lead, so the result is right wherever they are filtered.
    """
    keyword, search_by, match_type = filters.keyword, filters.search_by, filters.match_type
    if keyword is None and len(filters.statuses) == 1:
        keyword, search_by, match_type = filters.statuses[0].key, "status", "exact"
    limit = _PageLimit(PER_PAGE, on_page)
    leads = client.iter_leads(
        keyword=keyword,
        search_by=search_by,
        match_type=match_type,
        start_at=filters.start_at,
        end_at=filters.end_at,
        per_page=PER_PAGE,
        on_page=limit,
    )
    seen: set[str] = set()
    repeated = [0]

    def records() -> Iterator[tuple[Sequence[str], Sequence[Sequence[str | int]]]]:
        for lead in leads:
            if not filters.wants(lead):
                continue
            identity = _text(lead.get("id")) or _text(lead.get("reference"))
            if identity in seen:
                repeated[0] += 1
                continue
            seen.add(identity)
            yield lead_row(lead), product_rows(lead)

    try:
        count, products = write_export(path, LEAD_COLUMNS, PRODUCT_COLUMNS, records())
    except ValueError as err:
        raise ExportError(str(err)) from err
    return ExportResult(path, count, products, limit.read, repeated[0])

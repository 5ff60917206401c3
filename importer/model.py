"""Typed values passed between the pipeline's stages (no DataFrame past grouping)."""

from __future__ import annotations

import dataclasses
import gc
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import repeat
from types import MemberDescriptorType
from typing import Any, TypeVar, cast, overload

T = TypeVar("T")

#: The lead fields we map source columns onto, in the order of the API docs.
LEAD_FIELDS = ("full_name", "phone", "city", "area", "address")
#: The product fields of one line item. ``product_name`` only helps find a SKU in a catalog;
#: ``line_discount`` is a discount on this line's price x quantity.
PRODUCT_FIELDS = ("sku", "product_name", "quantity", "total", "unit_price", "line_discount")
#: Order-level values that are not sent as lead fields but decide how the lead is built:
#: the country phones without a +code belong to, and the amount the courier collects
#: (``order_total``) with the shipping and discount it includes.
ORDER_FIELDS = ("country", "order_total", "shipping", "discount")
#: Every canonical column a mapping can fill, besides custom data columns.
CANONICAL_FIELDS = ("order_key", *LEAD_FIELDS, *PRODUCT_FIELDS, *ORDER_FIELDS)
#: Canonical columns holding custom data are named with this prefix + the entry's key.
CUSTOM_PREFIX = "data:"
#: The custom data entry that carries our import key to the server.
IMPORT_ID_KEY = "import_id"


class Outcome(StrEnum):
    """What became of a source row; the report's ``Outcome`` column."""

    CREATED = "created"
    SKIPPED = "skipped"
    INVALID = "invalid"
    REJECTED = "rejected"
    FAILED = "failed"
    QUEUED = "queued"
    UNCERTAIN = "uncertain"
    VALID = "valid"

    __hash__ = str.__hash__  # as for Severity: in C, and in agreement with ==


class Severity(StrEnum):
    """An error holds its row's order back; a warning is sent, and the report says what was
    noticed or changed (``--strict`` turns warnings into errors)."""

    ERROR = "error"
    WARNING = "warning"

    # str's own hash, in C: Enum's is Python code, and every issue hashed (deduplicated,
    # counted) ran it; it also agrees with ==, which StrEnum takes from str ("error")
    __hash__ = str.__hash__


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with the input, found by us or by the server.

    ``row`` is the source row number as the user sees it (None: the whole file);
    ``column`` is the source column's header as written in the file (None: the whole row).
    ``code`` is stable (scripts may rely on it); ``message`` is for people.
    """

    row: int | None
    column: str | None
    code: str
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    quantity: int
    total: float

    def payload(self) -> dict[str, Any]:
        total: float | int = int(self.total) if float(self.total).is_integer() else self.total
        return {"sku": self.sku, "quantity": self.quantity, "total": total}


@dataclass(frozen=True, slots=True)
class CustomEntry:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Lead:
    """One order, ready to send: the lead fields, its products and custom data.

    ``key`` is the import key (source order id, else a content hash); it is sent as the
    custom entry ``import_id`` so the lead can be found on the server again.
    ``rows`` are the source rows the lead was built from, in source order.
    """

    key: str
    rows: tuple[int, ...]
    full_name: str
    phone: str
    city: str
    address: str
    area: str | None
    products: tuple[Product, ...]
    data: tuple[CustomEntry, ...] = ()

    def payload(self) -> dict[str, Any]:
        """The lead as one item of ``POST /leads``'s ``data`` array, ``import_id`` included."""
        item: dict[str, Any] = {
            "full_name": self.full_name,
            "phone": self.phone,
            "city": self.city,
            "address": self.address,
        }
        if self.area:
            item["area"] = self.area
        item["products"] = [p.payload() for p in self.products]
        entries = [{"key": IMPORT_ID_KEY, "value": self.key}]
        entries.extend({"key": e.key, "value": e.value} for e in self.data)
        item["data"] = entries
        return item


@dataclass(frozen=True, slots=True)
class FieldError:
    """A server-side (422) complaint about one field of one lead.

    ``field`` is the path inside the lead, e.g. ``phone`` or ``products.1.sku``.
    """

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class LeadOutcome:
    """What became of one lead after upload (or lookup)."""

    key: str
    outcome: Outcome
    ref: str | None = None
    errors: tuple[FieldError, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One line of the report: a source row, what became of it, and why.

    ``errors`` holds every issue about the row, warnings included (see `Issue.severity`).
    """

    row: int
    outcome: Outcome
    ref: str | None = None
    errors: tuple[Issue, ...] = ()
    #: Source column headers whose cells are at fault (highlighted in the report).
    columns: frozenset[str] = field(default_factory=frozenset)


class RowOutcomes(Sequence[RowOutcome]):
    """Every source row's outcome, in source order, held as columns.

    A million-row check would otherwise build a million `RowOutcome` objects; here only the
    rows with something to say (errors, cells at fault) carry one, in `details`. Indexing
    still gives a `RowOutcome` for any row, so it reads like the list it stands for.
    ``rows`` may be a list or a numpy array of row numbers (the pipeline gives the table's
    index as one: the report checks and writes it without a million Python ints).
    """

    __slots__ = ("details", "outcomes", "refs", "rows")

    def __init__(
        self,
        rows: Sequence[int],
        outcomes: list[Outcome],
        refs: list[str | None],
        details: dict[int, RowOutcome],
    ) -> None:
        if not len(rows) == len(outcomes) == len(refs):
            raise ValueError("rows, outcomes and refs must be as long as each other")
        self.rows = rows
        self.outcomes = outcomes
        self.refs = refs
        self.details = details

    @classmethod
    def from_list(cls, items: Sequence[RowOutcome]) -> RowOutcomes:
        if isinstance(items, RowOutcomes):
            return items
        return cls(
            [o.row for o in items],
            [o.outcome for o in items],
            [o.ref for o in items],
            {o.row: o for o in items if o.errors or o.columns},
        )

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> RowOutcome: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[RowOutcome]: ...
    def __getitem__(self, index: int | slice) -> RowOutcome | Sequence[RowOutcome]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = int(self.rows[index])
        found = self.details.get(row)
        if found is not None:
            return found
        return RowOutcome(row, Outcome(self.outcomes[index]), self.refs[index])

    def __iter__(self) -> Iterator[RowOutcome]:
        for i in range(len(self.rows)):
            yield self[i]


@dataclass(frozen=True, slots=True)
class IssueCount:
    """How many rows carry an issue of one code on one column: the Summary's "what to fix"."""

    severity: Severity
    column: str | None
    code: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "column": self.column,
            "code": self.code,
            "rows": self.rows,
        }

    def __str__(self) -> str:
        rows = f"{self.rows} row" + ("s" if self.rows != 1 else "")
        where = f"{self.column}, " if self.column else ""
        return f"{where}{self.code}: {rows}"


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts for the ``--json`` summary and the report's Summary sheet (leads, but ``rows``).

    ``warnings`` counts the rows that carry a warning; ``issues`` breaks every issue down by
    severity, column and code, the most frequent first; ``notes`` are what a person should
    know about the whole file (the sheet read, the next command to run...).
    """

    file: str
    rows: int
    leads: int
    created: int = 0
    skipped: int = 0
    invalid: int = 0
    rejected: int = 0
    failed: int = 0
    queued: int = 0
    uncertain: int = 0
    valid: int = 0
    report: str | None = None
    warnings: int = 0
    issues: tuple[IssueCount, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "rows": self.rows,
            "leads": self.leads,
            "created": self.created,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "rejected": self.rejected,
            "failed": self.failed,
            "queued": self.queued,
            "uncertain": self.uncertain,
        }
        if self.valid:
            out["valid"] = self.valid
        out["warnings"] = self.warnings
        out["issues"] = [count.to_dict() for count in self.issues]
        out["notes"] = list(self.notes)
        out["report"] = self.report
        return out


def frozen_objects(cls: type[T], fields: dict[str, list[Any]]) -> list[T]:
    """``cls(field=fields[field][i], ...)`` for each i: the same objects, ~3x faster.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; for
    700,000 leads that was most of grouping's time. Setting the slots through their
    descriptors, in C loops, makes equal objects with nothing else run. A class with its own
    ``__new__`` or ``__post_init__``, a field outside ``__init__``, no slots, or other fields
    than given gets its ``__init__`` after all.
    """
    names = [f.name for f in dataclasses.fields(cast(Any, cls))]
    slots: list[Any] = [cls.__dict__.get(name) for name in names]
    count = len(next(iter(fields.values()), []))
    if (
        hasattr(cls, "__post_init__")
        or cls.__new__ is not object.__new__
        or not all(f.init for f in dataclasses.fields(cast(Any, cls)))
        or not all(isinstance(slot, MemberDescriptorType) for slot in slots)
        or sorted(fields) != sorted(names)
        or any(len(values) != count for values in fields.values())
    ):
        return [
            cls(**dict(zip(fields, values, strict=True)))
            for values in zip(*fields.values(), strict=True)
        ]
    objects: list[T] = list(map(object.__new__, repeat(cls, count)))
    for name, slot in zip(names, slots, strict=True):
        deque(map(slot.__set__, objects, fields[name]), maxlen=0)
    return objects


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic GC while hundreds of thousands of small objects are alive and being built on.

    Each full collection would walk every one of them again (measured: 0.6 s of a 1M-row
    check); what these stages allocate is freed by reference counting anyway.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

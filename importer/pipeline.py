"""The import pipeline end to end: file -> leads -> server -> report (the CLI's library face)."""

from __future__ import annotations

import os
import shlex
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
import phonenumbers

from importer.amounts import AMOUNT_MODES, AmountMode, AmountOptions, amount_default, settle_amounts
from importer.errors import ConfigError, MappingError, SettingsError
from importer.group import ORDER_INVALID, GroupResult, group_leads, order_layout
from importer.mapping import (
    MappedTable,
    apply_mapping,
    detect_mapping,
    load_mapping,
    preset_mapping,
)
from importer.mapping import Mapping as ColumnMapping
from importer.model import (
    FieldError,
    Issue,
    IssueCount,
    Lead,
    LeadOutcome,
    Outcome,
    RowOutcome,
    RowOutcomes,
    Severity,
    Summary,
    frozen_objects,
    paused_gc,
)
from importer.normalize import NormalizeOptions, normalize_lines
from importer.read import Table, read_table
from importer.report import (
    default_report_path,
    report_columns_in,
    text_from_csv_cell,
    write_report,
)
from importer.validate import Catalog, load_catalog, validate_lines, validate_orders

if TYPE_CHECKING:
    from importer.upload import UploadOptions

PhoneFormat = Literal["national", "e164", "raw"]


@dataclass(frozen=True)
class SourceOptions:
    """How to read and understand one input file."""

    sheet: str | None = None
    preset: str | None = None
    mapping_file: Path | None = None
    catalog_file: Path | None = None
    phone_format: PhoneFormat = "national"
    #: the country of phones written without +country code, unless the row says (`--region`);
    #: None: the mapping file's `region`, else MA
    region: str | None = None
    #: warnings hold a row back as errors do (`--strict`, or `strict = true` in wedocod.toml)
    strict: bool = False
    #: "order": line totals add up to the order's own total when the file has one; "lines":
    #: price x quantity as written. None: the mapping file's or the preset's choice.
    amount: str | None = None


@dataclass(frozen=True)
class Prepared:
    """A file read, mapped, normalised, validated and grouped: what `check` reports on.

    The leads (and the orders by import key) are built when first asked for: an import
    sends them, a check only counts the clean orders and places their rows.
    """

    table: Table
    mapped: MappedTable
    grouped: GroupResult
    issues: dict[int, tuple[Issue, ...]]
    #: what a person should know about the whole file (the sheet read, products without SKU)
    notes: tuple[str, ...] = ()

    @property
    def leads(self) -> tuple[Lead, ...]:
        return self.grouped.leads

    @property
    def orders(self) -> dict[str, tuple[int, ...]]:
        return self.grouped.orders

    @property
    def order_count(self) -> int:
        """How many orders (each one a lead, clean or not) the file holds."""
        return self.grouped.count

    @property
    def invalid_orders(self) -> int:
        # every lead is one clean order: the others are the invalid ones
        return self.grouped.count - self.grouped.kept


@dataclass(frozen=True)
class RunResult:
    """What a check or an import came to: the summary, each row's outcome, and the exit status."""

    summary: Summary
    rows: Sequence[RowOutcome]
    stopped: str | None = None  # why the run stopped early (interrupt, circuit breaker), if it did

    @property
    def complete(self) -> bool:
        """Every lead is on the server (created/skipped), or valid for a check."""
        s = self.summary
        return (
            self.stopped is None
            and s.invalid == 0
            and s.rejected == 0
            and s.failed == 0
            and s.queued == 0
            and s.uncertain == 0
        )


@dataclass(frozen=True)
class Connection:
    """Where the API is and the token to use (never printed, never logged)."""

    base_url: str
    token: str = field(repr=False)


def choose_mapping(table: Table, options: SourceOptions) -> ColumnMapping:
    """The mapping file if given, else the named preset, else the detected one."""
    if options.mapping_file is not None:
        return load_mapping(options.mapping_file, table)
    if options.preset:
        return preset_mapping(options.preset, table)
    return detect_mapping(table)


def prepare_file(path: Path, options: SourceOptions) -> Prepared:
    """Read, map, normalise, validate and group one file. Bad data becomes issues, not errors."""
    table = _without_report_columns(read_table(path, options.sheet))
    catalog = load_catalog(options.catalog_file) if options.catalog_file else None
    return prepare_table(table, choose_mapping(table, options), options, catalog)


def _without_report_columns(table: Table) -> Table:
    """A report fixed in Excel comes back in: its own columns are not the user's data, and a
    CSV report's formula escapes (a leading `'`) are taken off again."""
    own = report_columns_in(list(table.frame.columns))
    if not own:
        return table
    frame = table.frame.drop(columns=list(own))
    if table.sheet is None:
        frame = frame.apply(lambda column: column.map(text_from_csv_cell))
    return replace(table, frame=frame)


def prepare_table(
    table: Table,
    mapping: ColumnMapping,
    options: SourceOptions,
    catalog: Catalog | None = None,
) -> Prepared:
    with paused_gc():
        return _prepare(table, mapping, options, catalog)


def _prepare(
    table: Table,
    mapping: ColumnMapping,
    options: SourceOptions,
    catalog: Catalog | None,
) -> Prepared:
    amount, region = _value_choices(mapping, options)
    mapped = apply_mapping(table, mapping)
    unpacked = mapped  # what mapping noticed (several products in a cell, merged orders)
    mapped, found = normalize_lines(
        mapped, NormalizeOptions(phone_format=options.phone_format, region=region)
    )
    settled = settle_amounts(mapped, AmountOptions(mode=amount))
    mapped = settled.mapped
    # one problem, one message: validation is told which cells were reported already
    reported = [*table.issues, *unpacked.issues, *found, *settled.issues]
    layout = order_layout(mapped.frame)  # where each order's rows are, for both stages
    on_lines = [*reported, *validate_lines(mapped, reported, layout)]
    line_issues = _strictly(on_lines, options.strict)
    # only errors hold an order back: a row with warnings is sent, and says so in the report
    errors = _by_row(i for i in line_issues if i.is_error)
    grouped = group_leads(mapped, errors, catalog, layout)
    lead_issues = _strictly(
        validate_orders(grouped.facts(), catalog, mapped.columns), options.strict
    )
    grouped, order_issues = grouped.without(
        i.row for i in lead_issues if i.is_error and i.row is not None
    )
    issues = _by_row([*line_issues, *grouped.issues, *lead_issues, *order_issues])
    notes = (
        *table.notes,
        *mapping.notes,
        *unpacked.notes,
        *settled.notes,
        *_product_notes(mapped, catalog),
    )
    return Prepared(
        table=table,
        mapped=mapped,
        grouped=grouped,
        # a row whose cell lists several products is several lines: one word about it once
        issues={
            row: tuple(found_here) if len(found_here) == 1 else tuple(dict.fromkeys(found_here))
            for row, found_here in issues.items()
        },
        notes=tuple(dict.fromkeys(notes)),
    )


def _value_choices(mapping: ColumnMapping, options: SourceOptions) -> tuple[AmountMode, str]:
    """The amount mode and the default phone country: the command line's or the settings
    file's, else the mapping file's, else the preset's (amount) or MA (region)."""
    said = _mapping_file_choices(options.mapping_file) if options.mapping_file else {}
    amount = options.amount or said.get("amount") or amount_default(mapping.preset)
    region = (options.region or said.get("region") or "MA").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(
            f"region '{region}' is not a country code libphonenumber knows "
            "(two letters, e.g. MA, FR, ZA)"
        )
    if amount not in AMOUNT_MODES:
        raise SettingsError(f"amount '{amount}': choose one of {', '.join(AMOUNT_MODES)}")
    return amount, region


def _mapping_file_choices(path: Path) -> dict[str, str]:
    """A mapping file's top-level `amount` and `region` (load_mapping checked the rest)."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}  # load_mapping has said what is wrong with the file already
    out: dict[str, str] = {}
    amount = raw.get("amount")
    if amount is not None:
        if amount not in AMOUNT_MODES:
            raise MappingError(f'{path}: amount must be "order" or "lines", not {amount!r}')
        out["amount"] = str(amount)
    region = raw.get("region")
    if region is not None:
        if not (isinstance(region, str) and len(region) == 2 and region.isalpha()):
            raise MappingError(
                f'{path}: region must be a two-letter country code, e.g. "MA", not {region!r}'
            )
        out["region"] = region.upper()
    return out


def _product_notes(mapped: MappedTable, catalog: Catalog | None) -> list[str]:
    """Products named without a SKU, said once for the file, with the command to run next."""
    frame = mapped.frame
    unnamed = (frame["sku"].fillna("") == "") & (frame["product_name"].fillna("") != "")
    if not unnamed.any():
        return []
    names = frame["product_name"][unnamed]
    path = shlex.quote(str(mapped.table.path))
    then = (
        f"Next: `wedocod products {path} --write products.xlsx`, fill in its sku column, "
        "then `wedocod products --save products.xlsx`: from then on every run finds the SKUs "
        "by product name."
    )
    distinct = names.unique().tolist()
    if catalog is None:
        rows = names.index.nunique()
        return [
            f"{rows} row(s) name a product but give no SKU ({len(distinct)} product(s)), and "
            f"no catalog of your SKUs is set. {then}"
        ]
    unknown = [name for name in distinct if catalog.sku_for_name(name) is None]
    where = f" ({catalog.path})" if catalog.path else ""
    if not unknown:
        return [
            f"{names.index.nunique()} row(s) without a SKU took theirs from your catalog"
            f"{where} by product name."
        ]
    rows = names[names.isin(unknown)].index.nunique()
    return [
        f"{len(unknown)} product(s) on {rows} row(s) have no SKU and are not in your catalog"
        f"{where}. {then}"
    ]


def _strictly(issues: list[Issue], strict: bool) -> list[Issue]:
    """With `strict`, every warning is an error: its row is held back."""
    if not strict:
        return issues
    return [i if i.is_error else replace(i, severity=Severity.ERROR) for i in issues]


def check_file(
    path: Path, options: SourceOptions, report: Path | None = None, *, write: bool = True
) -> RunResult:
    """Everything but the network: each row `valid` or `invalid`, and the report."""
    if write:
        check_report_path(report or default_report_path(path), path)
    prepared = prepare_file(path, options)
    with paused_gc():
        valid = prepared.grouped.kept_rows()
        rows = _row_outcomes(prepared, LeadRows.all_with(valid, Outcome.VALID))
    summary = Summary(
        file=str(path),
        rows=len(prepared.table.frame),
        leads=prepared.order_count,
        invalid=prepared.invalid_orders,
        valid=prepared.grouped.kept,
        notes=prepared.notes,
    )
    return _finish(prepared.table, rows, summary, report, write=write)


def import_file(
    path: Path,
    options: SourceOptions,
    connection: Connection,
    upload: UploadOptions,
    *,
    report: Path | None = None,
    ledger_path: Path | None = None,
    on_prepared: Callable[[Prepared], None] | None = None,
) -> RunResult:
    """Check the file, upload its valid leads exactly once, and write the report.

    The report's path and the connection are checked before anything is read or sent
    (``ConfigError``). When the API stops the run (token refused, server failing), the
    report is written for what was done and ``stopped`` says why -- except when the token
    (or the address) is refused before anything was sent: that error is raised, as for any
    run that cannot be done. The ledger's run is closed whatever happens.
    """
    # the network stack is imported here, not at the top: `check` needs none of it
    from importer.client import LeadsClient
    from importer.ledger import Ledger
    from importer.upload import RunStopped, upload_leads

    check_report_path(report or default_report_path(path), path)
    client = LeadsClient(connection.base_url, connection.token, stop=upload.stop)
    try:
        prepared = prepare_file(path, options)
        if on_prepared is not None:
            on_prepared(prepared)
        ledger = Ledger.open(ledger_path or Ledger.default_path(), client.account_id)
    except BaseException:
        client.close()
        raise
    stopped: str | None = None
    status, counts = "interrupted", {}
    try:
        run_id = ledger.start_run(str(path), len(prepared.table.frame), prepared.order_count)
        try:
            try:
                outcomes = upload_leads(client, prepared.leads, ledger, run_id, upload)
            except RunStopped as err:
                if not err.sent and err.cause is not None and err.cause.fatal:
                    # refused before anything was sent: the run cannot be done at all
                    status = f"stopped: {err.cause}"
                    raise err.cause from err
                outcomes, stopped = list(err.outcomes), str(err)
            if upload.stop is not None and upload.stop.is_set():
                stopped = stopped or "interrupted"
            result = _import_result(prepared, outcomes, path, report, stopped)
            counts = _counts(result.summary)
            status = "complete" if result.complete else (stopped or "partial")
            return result
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception as err:
            if not status.startswith("stopped"):
                status = f"stopped: {err}"
            raise
        finally:
            ledger.finish_run(run_id, counts, status)
    finally:
        ledger.close()
        client.close()


def check_report_path(report: Path, source: Path) -> Path:
    """``report`` if a report can be written there, else ``ConfigError`` saying why.

    Called before anything is read or sent: an import must not end with nowhere to say
    what it did. A report is ``.xlsx`` or ``.csv``, in a folder that exists and is
    writable, and never the input file itself.
    """
    report = Path(report)
    if report.suffix.lower() not in (".xlsx", ".csv"):
        raise ConfigError(
            f"{report}: a report is written as .xlsx or .csv, "
            f"not {report.suffix or 'a file without suffix'!r}."
        )
    if report.is_dir():
        raise ConfigError(f"{report}: this is a folder; give the report's file name.")
    folder = report.parent
    if not folder.is_dir():
        raise ConfigError(f"{report}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{report}: the folder {folder} is not writable.")
    if report.resolve() == Path(source).resolve() or (
        report.exists() and Path(source).exists() and os.path.samefile(report, source)
    ):
        raise ConfigError(f"{report}: this is the input file itself; the report goes elsewhere.")
    return report


def _import_result(
    prepared: Prepared,
    outcomes: Sequence[LeadOutcome],
    path: Path,
    report: Path | None,
    stopped: str | None,
) -> RunResult:
    by_key = {o.key: o for o in outcomes}
    placed = LeadRows()
    counts: dict[Outcome, int] = defaultdict(int)
    for lead in prepared.leads:
        got = by_key.get(lead.key) or LeadOutcome(
            lead.key,
            Outcome.FAILED,
            message="Not sent: the run stopped before this lead's turn. Run the import again.",
        )
        counts[got.outcome] += 1
        placed.add(lead.rows, got.outcome, got.ref)
        if got.errors or got.message:
            placed.server.update(_server_issues(lead, got, prepared.mapped.columns))
    rows = _row_outcomes(prepared, placed)
    summary = Summary(
        file=str(path),
        rows=len(prepared.table.frame),
        leads=prepared.order_count,
        invalid=prepared.invalid_orders,
        created=counts[Outcome.CREATED],
        skipped=counts[Outcome.SKIPPED],
        rejected=counts[Outcome.REJECTED],
        failed=counts[Outcome.FAILED],
        queued=counts[Outcome.QUEUED],
        uncertain=counts[Outcome.UNCERTAIN],
        notes=prepared.notes,
    )
    return _finish(prepared.table, rows, summary, report, stopped=stopped)


def _finish(
    table: Table,
    rows: Sequence[RowOutcome],
    summary: Summary,
    report: Path | None,
    *,
    write: bool = True,
    stopped: str | None = None,
) -> RunResult:
    summary = _with_issue_counts(summary, rows)
    if write:
        target = report or default_report_path(table.path)
        # a table too big for one Excel sheet is written as CSV: the path returned says where
        written = write_report(target, table, rows, _with_report(summary, str(target)))
        summary = _with_report(summary, str(written))
    return RunResult(summary=summary, rows=rows, stopped=stopped)


def _with_issue_counts(summary: Summary, rows: Sequence[RowOutcome]) -> Summary:
    """The rows with warnings, and every issue counted by severity, column and code."""
    details = rows.details.values() if isinstance(rows, RowOutcomes) else rows
    # each kind once per row, in the order rows and issues come: ties keep that order, so
    # the same file always lists its issues alike (a set's order would change run to run)
    # (a bool, not the Severity: an enum member's hash is Python code, run for each issue)
    error = Severity.ERROR
    said = dict.fromkeys(
        (o.row, i.severity is error, i.column, i.code) for o in details for i in o.errors
    )
    per_kind = Counter((wrong, column, code) for _, wrong, column, code in said)
    warned = len({row for row, wrong, _, _ in said if not wrong})

    # errors first, most rows first; "held back because of another row" says nothing to fix
    def rank(item: tuple[tuple[bool, str | None, str], int]) -> tuple[bool, bool, int]:
        (wrong, _, code), n = item
        return code == ORDER_INVALID, not wrong, -n

    counts = tuple(
        IssueCount(error if wrong else Severity.WARNING, column, code, n)
        for (wrong, column, code), n in sorted(per_kind.items(), key=rank)
    )
    return replace(summary, warnings=warned, issues=counts)


def _with_report(summary: Summary, report: str) -> Summary:
    return replace(summary, report=report)


def _counts(summary: Summary) -> dict[str, int]:
    return {k: v for k, v in summary.to_dict().items() if isinstance(v, int)}


def _by_row(issues: Iterable[Issue]) -> dict[int, list[Issue]]:
    out: dict[int, list[Issue]] = defaultdict(list)
    for issue in issues:
        out[issue.row if issue.row is not None else 0].append(issue)
    return out


def _server_issues(
    lead: Lead, outcome: LeadOutcome, columns: Mapping[str, str]
) -> dict[int, tuple[Issue, ...]]:
    """Place the server's words about a lead on the rows and columns they are about."""
    if not outcome.errors and not outcome.message:
        return {}
    per_row: dict[int, list[Issue]] = defaultdict(list)
    code = outcome.outcome.value
    for err in outcome.errors:
        for row, column in _locate(lead, err, columns):
            per_row[row].append(Issue(row, column, code, err.message))
    if outcome.message and not outcome.errors:
        for row in lead.rows:
            per_row[row].append(Issue(row, None, code, outcome.message))
    return {row: tuple(found) for row, found in per_row.items()}


def _locate(
    lead: Lead, err: FieldError, columns: Mapping[str, str]
) -> list[tuple[int, str | None]]:
    parts = err.field.split(".")
    if parts[0] == "products" and len(parts) >= 3 and parts[1].isdigit():
        index = int(parts[1])
        product_column: str | None = columns.get(parts[2], parts[2])
        if len(lead.products) == len(lead.rows) and index < len(lead.rows):
            return [(lead.rows[index], product_column)]
        return [(row, product_column) for row in lead.rows]
    if parts[0] == "data" and len(parts) >= 2 and parts[1].isdigit():
        # entry 0 is our import_id; the user's entries follow in mapping order
        index = int(parts[1]) - 1
        key = lead.data[index].key if 0 <= index < len(lead.data) else None
        data_column = columns.get(f"data:{key}", key) if key else None
        return [(row, data_column) for row in lead.rows]
    column = columns.get(parts[0], parts[0]) if parts[0] else None
    return [(row, column) for row in lead.rows]


class LeadRows:
    """The leads that went somewhere: their rows, and each lead's outcome and ref."""

    def __init__(self) -> None:
        self.rows: Any = []  # a list while leads are added; any sequence of row numbers
        self.sizes: list[int] = []  # rows per lead, to spread each lead's values over its rows
        self.outcomes: list[Outcome] = []
        self.refs: list[str | None] = []
        self.server: dict[int, tuple[Issue, ...]] = {}  # the server's words, per row

    def add(self, rows: Sequence[int], outcome: Outcome, ref: str | None) -> None:
        self.rows.extend(rows)
        self.sizes.append(len(rows))
        self.outcomes.append(outcome)
        self.refs.append(ref)

    @classmethod
    def all_with(cls, rows: Sequence[int] | np.ndarray, outcome: Outcome) -> LeadRows:
        """The rows of leads that all went the same way (a check: every clean order valid)."""
        placed = cls()
        placed.rows = rows
        placed.sizes = [len(placed.rows)]
        placed.outcomes = [outcome]
        placed.refs = [None]
        return placed

    def per_row(self, values: list[Any]) -> Any:
        return np.repeat(np.array(values, dtype=object), self.sizes)


def _row_outcomes(prepared: Prepared, placed: LeadRows) -> RowOutcomes:
    """One outcome per source row, in source order; a row no stage accounted for is said so.

    A row with an error is `invalid`; a row with warnings only keeps its lead's outcome and
    carries the warnings. Column-wise: only rows with issues become `RowOutcome` objects,
    made together (`frozen_objects`); the loops over those rows do no more than they must,
    for a file where a fifth of the rows have something to say.
    """
    index = prepared.table.frame.index
    outcomes = np.full(len(index), None, dtype=object)
    refs = np.full(len(index), None, dtype=object)
    unplaced = np.ones(len(index), dtype=bool)
    if len(placed.rows):
        at = index.get_indexer(pd.Index(np.asarray(placed.rows, dtype=np.int64), copy=False))
        outcomes[at] = placed.per_row(placed.outcomes)
        refs[at] = placed.per_row(placed.refs)
        unplaced[at] = False
    issues_of: dict[int, tuple[Issue, ...]] = dict(prepared.issues)
    error = Severity.ERROR
    wrong = {row for row, found in issues_of.items() for i in found if i.severity is error}
    for row in index[unplaced].tolist():
        if row not in wrong:
            lost = Issue(row, None, "not_a_lead", "This row did not become part of any lead.")
            issues_of[row] = (*issues_of.get(row, ()), lost)
            wrong.add(row)
    for row, server_issues in placed.server.items():
        issues_of[row] = (*issues_of.get(row, ()), *server_issues)
    said = np.fromiter(issues_of, dtype=np.int64, count=len(issues_of))
    positions = index.get_indexer(pd.Index(said, copy=False))
    inside = positions >= 0  # issues about rows the table has (not the whole file's)
    rows = said[inside]
    known: list[int] = rows.tolist()
    positions = positions[inside]
    # held: a row with an error, unless the server has spoken about it (then it was sent)
    held = np.isin(rows, np.fromiter(wrong, dtype=np.int64, count=len(wrong)))
    if placed.server:
        held &= ~np.isin(rows, np.fromiter(placed.server, dtype=np.int64))
    outcomes[positions[held]] = Outcome.INVALID
    kept = outcomes[positions]
    given = refs[positions]
    given[held] = None
    found = [issues_of[row] for row in known]
    details = frozen_objects(
        RowOutcome,
        {
            "row": known,
            # placed and held rows carry Outcome members already; anything else is made one
            "outcome": [o if type(o) is Outcome else Outcome(o) for o in kept.tolist()],
            "ref": given.tolist(),
            "errors": found,
            "columns": _fault_columns(found),
        },
    )
    return RowOutcomes(
        cast(Sequence[int], index.to_numpy(dtype=np.int64)),
        outcomes.tolist(),
        refs.tolist(),
        dict(zip(known, details, strict=True)),
    )


def _fault_columns(found: list[tuple[Issue, ...]]) -> list[frozenset[str]]:
    """The source headers at fault in each row's issues; an issue's column may name several
    joined headers (``A + B``). Made once per distinct column: most rows repeat a few."""
    parts: dict[str | None, frozenset[str]] = {None: frozenset(), "": frozenset()}
    for issues in found:
        for issue in issues:
            if issue.column not in parts:
                assert issue.column is not None
                parts[issue.column] = frozenset(p.strip() for p in issue.column.split(" + "))
    return [
        parts[issues[0].column]
        if len(issues) == 1
        else frozenset().union(*(parts[i.column] for i in issues))
        for issues in found
    ]

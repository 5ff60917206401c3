"""The `wedocod` command line: parse options, call the library, print, exit with a code."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click

from importer.errors import ApiError, AuthError, ConnectFailed
from importer.ledger import Ledger, LedgerError
from importer.mapping import MappingError, describe_mapping, dump_mapping
from importer.pipeline import (
    Connection,
    Prepared,
    RunResult,
    SourceOptions,
    check_file,
    choose_mapping,
    import_file,
)
from importer.read import ReadError, read_table
from importer.validate import CatalogError

if TYPE_CHECKING:
    from importer.client import LeadsClient

# The network stack (requests, the uploader) is imported by the commands that use it:
# `check` and `map` start faster without it.

DEFAULT_BASE_URL = "https://api.wedocod.com"

P = ParamSpec("P")
R = TypeVar("R")


class ExitStatus(IntEnum):
    """Exit codes scripts and cron jobs rely on (README: Exit codes)."""

    OK = 0
    INCOMPLETE = 1  # finished, but some rows were not imported (or not valid, for check)
    USAGE = 2
    BAD_INPUT = 3  # unreadable file, unusable mapping or configuration
    API = 4  # auth refused, server unreachable after retries, circuit breaker open
    INTERRUPTED = 130


class Failure(Exception):
    """A reason to stop, with the exit status that says which kind."""

    def __init__(self, message: str, status: ExitStatus) -> None:
        super().__init__(message)
        self.status = status


def exit_status_for(err: BaseException) -> tuple[ExitStatus, str]:
    """The one place that turns a library exception into an exit status and a message."""
    if isinstance(err, ReadError | MappingError | CatalogError | LedgerError):
        return ExitStatus.BAD_INPUT, str(err)
    if isinstance(err, PermissionError | IsADirectoryError | FileNotFoundError):
        return ExitStatus.BAD_INPUT, f"{err.filename}: {err.strerror}"
    if isinstance(err, AuthError):
        return ExitStatus.API, (
            f"{err} — the API refused the token. Check WEDOCOD_TOKEN or --token-file, "
            "and that the token may create leads."
        )
    if isinstance(err, ConnectFailed):
        return ExitStatus.API, f"{err} — is WEDOCOD_BASE_URL right, and is the server up?"
    if isinstance(err, ApiError):
        return ExitStatus.API, str(err)
    if isinstance(err, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED, "Interrupted."
    raise err


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Failure as err:
            status, message = err.status, str(err)
        except (
            ReadError,
            MappingError,
            CatalogError,
            LedgerError,
            ApiError,
            PermissionError,
            IsADirectoryError,
            FileNotFoundError,
            KeyboardInterrupt,
        ) as err:
            status, message = exit_status_for(err)
        click.echo(f"Error: {message}", err=True)
        if kwargs.get("as_json"):
            # a script reading stdout gets one JSON object whatever happened
            file = kwargs.get("file") or kwargs.get("directory")
            emit({"file": str(file) if file else None, "error": message, "exit": int(status)}, True)
        sys.exit(status)

    return wrapper


# --- shared options ---------------------------------------------------------------------------


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to read and map a file: the same options for import, check and map."""
    options = [
        click.option("--sheet", help="XLSX sheet to read (default: the one holding orders)."),
        click.option(
            "--preset",
            type=click.Choice(["wedocod", "shopify", "woocommerce", "youcan"]),
            help="Use a known export layout instead of detecting it.",
        ),
        click.option(
            "--mapping",
            "mapping_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A mapping file (TOML, see `wedocod map --write`).",
        ),
        click.option(
            "--catalog",
            "catalog_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="CSV of your SKUs (column `sku`, optional `name`): unknown SKUs are caught "
            "before sending, and products named but without SKU are found by name.",
        ),
        click.option(
            "--phone-format",
            type=click.Choice(["national", "e164", "raw"]),
            default="national",
            show_default=True,
            help="How phones are sent.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where the API is and how to authenticate: never a token on the command line."""
    func = click.option(
        "--token-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Read the API token from this file (else WEDOCOD_TOKEN).",
    )(func)
    return func


def upload_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to send: the same for import and ingest."""
    func = click.option(
        "--workers",
        type=click.IntRange(1, 32),
        default=4,
        show_default=True,
        help="Requests in flight at once.",
    )(func)
    return click.option(
        "--batch-size",
        type=click.IntRange(1, 100),
        default=10,
        show_default=True,
        help="Leads per request.",
    )(func)


def ledger_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ledger",
        "ledger_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The exactly-once journal (default: your state directory).",
    )(func)


def build_source(**kw: Any) -> SourceOptions:
    return SourceOptions(
        sheet=kw.get("sheet"),
        preset=kw.get("preset"),
        mapping_file=kw.get("mapping_file"),
        catalog_file=kw.get("catalog_file"),
        phone_format=kw.get("phone_format") or "national",
    )


def get_connection(token_file: Path | None) -> Connection:
    base_url = os.environ.get("WEDOCOD_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
        source = str(token_file)
    else:
        token = os.environ.get("WEDOCOD_TOKEN", "").strip()
        source = "WEDOCOD_TOKEN"
    if not token:
        raise Failure(
            f"No API token: {source} is empty. Set WEDOCOD_TOKEN or pass --token-file PATH.",
            ExitStatus.BAD_INPUT,
        )
    return Connection(base_url=base_url, token=token)


def make_client(token_file: Path | None) -> LeadsClient:
    from importer.client import LeadsClient

    conn = get_connection(token_file)
    return LeadsClient(conn.base_url, conn.token)


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))


def print_summary(result: RunResult, as_json: bool) -> None:
    data = result.summary.to_dict()
    if as_json:
        emit(data, True)
        return
    s = result.summary
    parts = [f"{k} {v}" for k, v in data.items() if isinstance(v, int) and v and k != "rows"]
    click.echo(f"{s.file}: {s.rows} rows, " + ", ".join(parts), err=True)
    if result.stopped:
        click.echo(f"Stopped early: {result.stopped}", err=True)
    if s.report:
        click.echo(f"Report: {s.report}", err=True)


def exit_for(result: RunResult, interrupted: bool = False) -> NoReturn:
    if interrupted:
        sys.exit(ExitStatus.INTERRUPTED)
    if result.stopped and result.stopped != "interrupted":
        sys.exit(ExitStatus.API)
    sys.exit(ExitStatus.OK if result.complete else ExitStatus.INCOMPLETE)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM asks the run to stop after the batch in flight; a second one aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo("Stopping after the batches in flight (again to abort)…", err=True)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- commands ---------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wedocod-importer")
def main() -> None:
    """Import order exports (CSV/XLSX) into WedoCOD leads, exactly once.

    Connection: WEDOCOD_BASE_URL (default https://api.wedocod.com) and WEDOCOD_TOKEN,
    or --token-file PATH. Try it all locally with `wedocod sandbox`.
    """


@main.command("import")
@upload_options
@ledger_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@source_options
@connection_options
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report path (.xlsx or .csv); default <file>.report.xlsx beside the input.",
)
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for queued (async) batches to show up on the server.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
@handles_errors
def import_command(
    file: Path,
    report: Path | None,
    batch_size: int,
    workers: int,
    wait: float,
    ledger_path: Path | None,
    as_json: bool,
    token_file: Path | None,
    **source: Any,
) -> None:
    """Check FILE and create its valid orders as leads, then write the report."""
    from importer.upload import UploadOptions

    connection = get_connection(token_file)
    with stop_on_signals() as stop, progress_bar() as progress:
        options = UploadOptions(
            batch_size=batch_size, workers=workers, wait=wait, stop=stop, progress=progress.advance
        )
        result = import_file(
            file,
            build_source(**source),
            connection,
            options,
            report=report,
            ledger_path=ledger_path,
            on_prepared=progress.start,
        )
    print_summary(result, as_json)
    exit_for(result, interrupted=stop.is_set())


@main.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@source_options
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report path (.xlsx or .csv); default <file>.report.xlsx beside the input.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
@handles_errors
def check_command(file: Path, report: Path | None, as_json: bool, **source: Any) -> None:
    """Check FILE without any network: every row `valid` or `invalid`, and the report."""
    result = check_file(file, build_source(**source), report)
    print_summary(result, as_json)
    exit_for(result)


@main.command("map")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@source_options
@click.option(
    "--write",
    "write_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the mapping as an editable TOML file (use it with --mapping).",
)
@handles_errors
def map_command(file: Path, write_to: Path | None, **source: Any) -> None:
    """Show how FILE's columns map onto lead fields (and save it with --write)."""
    options = build_source(**source)
    table = read_table(file, options.sheet)
    mapping = choose_mapping(table, options)
    click.echo(f"{file}: {len(table.frame)} rows, mapping: {mapping.origin}")
    for target, source_desc in describe_mapping(mapping, table):
        click.echo(f"  {target:<14} <- {source_desc}")
    if write_to is not None:
        write_to.write_text(dump_mapping(mapping), encoding="utf-8")
        click.echo(
            f"Mapping written to {write_to}; edit it, then use --mapping {write_to}", err=True
        )


@main.command("ingest")
@upload_options
@ledger_option
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@source_options
@connection_options
@click.option("--watch", is_flag=True, help="Keep watching the folder instead of one pass.")
@click.option(
    "--interval",
    type=click.FloatRange(1),
    default=60.0,
    show_default=True,
    help="Seconds between passes with --watch.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="Skip files modified in the last SECONDS (still being written).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per file.")
@handles_errors
def ingest_command(
    directory: Path,
    watch: bool,
    interval: float,
    settle: float,
    batch_size: int,
    workers: int,
    ledger_path: Path | None,
    as_json: bool,
    token_file: Path | None,
    **source: Any,
) -> None:
    """Import every new export dropped in DIRECTORY (for cron or systemd timers).

    Each file is imported, then moved with its report to DIRECTORY/done/ (every lead on the
    server) or DIRECTORY/attention/ (some rows need a person). Unreadable files go to
    DIRECTORY/attention/ too, with a .error.txt beside them.
    """
    from importer.ingest import FolderBusy, IngestOptions, ingest_folder
    from importer.upload import UploadOptions

    connection = get_connection(token_file)
    with stop_on_signals() as stop:
        options = IngestOptions(
            source=build_source(**source),
            upload=UploadOptions(batch_size=batch_size, workers=workers, stop=stop),
            ledger_path=ledger_path,
            watch=watch,
            interval=interval,
            settle=settle,
            stop=stop,
        )

        def on_result(path: Path, result: RunResult | None, error: str | None) -> None:
            if as_json:
                emit(
                    {"file": str(path), "error": error}
                    if result is None
                    else result.summary.to_dict(),
                    True,
                )
            elif result is not None:
                print_summary(result, False)
            else:
                click.echo(f"{path}: {error}", err=True)

        try:
            results = ingest_folder(directory, connection, options, on_result)
        except FolderBusy as err:
            # an overlapping cron run is not an error: the running one will see the files
            click.echo(str(err), err=True)
            sys.exit(ExitStatus.OK)
    if stop.is_set():
        sys.exit(ExitStatus.INTERRUPTED)
    sys.exit(ExitStatus.OK if all(ok for ok in results) else ExitStatus.INCOMPLETE)


@main.command("runs")
@ledger_option
@click.option(
    "--limit", type=click.IntRange(1), default=20, show_default=True, help="How many runs to list."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@connection_options
@handles_errors
def runs_command(
    ledger_path: Path | None, limit: int, as_json: bool, token_file: Path | None
) -> None:
    """List past import runs for this account: file, time, counts."""
    client = make_client(token_file)
    ledger = Ledger.open(ledger_path or Ledger.default_path(), client.account_id)
    try:
        runs = ledger.runs(limit)
    finally:
        ledger.close()
        client.close()
    if as_json:
        emit([run.to_dict() for run in runs], True)
        return
    if not runs:
        click.echo("No runs recorded for this account yet.", err=True)
    for run in runs:
        click.echo(run.describe())


@main.command("reconcile")
@ledger_option
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds to keep looking for leads of async batches.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@connection_options
@handles_errors
def reconcile_command(
    ledger_path: Path | None, wait: float, as_json: bool, token_file: Path | None
) -> None:
    """Settle leads left in doubt by an earlier run, without importing anything new."""
    from importer.upload import UploadOptions, reconcile

    client = make_client(token_file)
    ledger = Ledger.open(ledger_path or Ledger.default_path(), client.account_id)
    try:
        outcomes = reconcile(client, ledger, UploadOptions(wait=wait))
    finally:
        ledger.close()
        client.close()
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome.value] = counts.get(outcome.outcome.value, 0) + 1
    if as_json:
        emit({"leads": len(outcomes), **counts}, True)
    else:
        click.echo(
            f"{len(outcomes)} leads in doubt: "
            + (", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing to do"),
            err=True,
        )
    sys.exit(ExitStatus.OK if counts.get("uncertain", 0) == 0 else ExitStatus.INCOMPLETE)


@main.command("statuses")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@handles_errors
def statuses_command(token_file: Path | None, as_json: bool) -> None:
    """List the lead statuses the account knows."""
    client = make_client(token_file)
    try:
        statuses = client.lead_statuses()
    finally:
        client.close()
    if as_json:
        emit([{"key": s.key, "label": s.label} for s in statuses], True)
        return
    for s in statuses:
        click.echo(f"{s.key:<28} {s.label}")


@main.command("show")
@click.argument("reference")
@connection_options
@handles_errors
def show_command(reference: str, token_file: Path | None) -> None:
    """Show one lead by its reference, as JSON."""
    client = make_client(token_file)
    try:
        lead = client.show_lead(reference)
    finally:
        client.close()
    click.echo(json.dumps(lead, ensure_ascii=False, indent=2))


class ProgressBar:
    """A tqdm bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def start(self, prepared: Prepared) -> None:
        invalid = prepared.invalid_orders
        click.echo(
            f"{prepared.table.path}: {len(prepared.table.frame)} rows, "
            f"{len(prepared.orders)} orders ({invalid} invalid), "
            f"{len(prepared.leads)} leads to send",
            err=True,
        )
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=len(prepared.leads), unit="lead", file=sys.stderr)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def progress_bar() -> Iterator[ProgressBar]:
    bar = ProgressBar(enabled=sys.stderr.isatty())
    try:
        yield bar
    finally:
        bar.close()


@main.command("export")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--keyword", help="Search term.")
@click.option(
    "--search-by",
    type=click.Choice(["reference", "phone", "full_name", "city", "status"]),
    help="Field the keyword searches (the API's default: reference).",
)
@click.option(
    "--match-type",
    type=click.Choice(["exact", "partial", "starts_with", "ends_with"]),
    help="How the keyword matches.",
)
@click.option("--since", "start_at", help="From this date (YYYY-MM-DD).")
@click.option("--until", "end_at", help="Up to this date (YYYY-MM-DD).")
@connection_options
@handles_errors
def export_command(
    output: Path,
    keyword: str | None,
    search_by: str | None,
    match_type: str | None,
    start_at: str | None,
    end_at: str | None,
    token_file: Path | None,
) -> None:
    """Export leads (all pages) to OUTPUT (.xlsx or .csv)."""
    from importer.bulk import EXPORT_COLUMNS, export_rows
    from importer.report import write_rows

    client = make_client(token_file)
    try:
        leads = client.iter_leads(
            keyword=keyword,
            search_by=search_by,
            match_type=match_type,
            start_at=start_at,
            end_at=end_at,
        )
        count = write_rows(output, EXPORT_COLUMNS, export_rows(leads))
    finally:
        client.close()
    click.echo(f"{count} leads written to {output}", err=True)


@main.command("update")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sheet", help="XLSX sheet to read.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@connection_options
@handles_errors
def update_command(file: Path, sheet: str | None, as_json: bool, token_file: Path | None) -> None:
    """Set lead statuses from FILE (columns: reference, status[, action_date])."""
    from importer.bulk import read_status_updates, update_statuses

    client = make_client(token_file)
    try:
        known = [s.key for s in client.lead_statuses()]
        updates, issues = read_status_updates(file, known, sheet)
        results = update_statuses(client, updates)
    finally:
        client.close()
    for issue in issues:
        click.echo(f"{file}: {issue}", err=True)
    for result in results:
        if result.outcome != "updated":
            click.echo(f"{file}: row {result.row} ({result.item}): {result.message}", err=True)
    updated = sum(r.outcome == "updated" for r in results)
    summary = {
        "file": str(file),
        "rows": len(updates) + len(issues),
        "updated": updated,
        "invalid": len({i.row for i in issues}),
        "rejected": len(results) - updated,
    }
    if as_json:
        emit(summary, True)
    else:
        click.echo(", ".join(f"{k} {v}" for k, v in summary.items()), err=True)
    sys.exit(ExitStatus.OK if updated == summary["rows"] else ExitStatus.INCOMPLETE)


@main.command("delete")
@click.argument("ids", nargs=-1)
@click.option(
    "--from-file",
    type=click.File("r", encoding="utf-8"),
    help="Read lead ids from this file, one per line.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@connection_options
@handles_errors
def delete_command(
    ids: tuple[str, ...], from_file: Any, yes: bool, as_json: bool, token_file: Path | None
) -> None:
    """Delete leads by id (only statuses that allow it; the others are reported refused)."""
    from importer.bulk import delete_leads

    wanted = list(ids) + ([line.strip() for line in from_file if line.strip()] if from_file else [])
    if not wanted:
        raise click.UsageError("Give lead ids as arguments or with --from-file.")
    if not yes and not click.confirm(f"Delete {len(wanted)} leads?", err=True):
        sys.exit(ExitStatus.INCOMPLETE)
    client = make_client(token_file)
    try:
        results = delete_leads(client, wanted)
    finally:
        client.close()
    for result in results:
        if result.outcome != "deleted":
            click.echo(f"{result.item}: {result.outcome}: {result.message}", err=True)
    deleted = sum(r.outcome == "deleted" for r in results)
    if as_json:
        emit({"ids": len(wanted), "deleted": deleted, "refused": len(wanted) - deleted}, True)
    else:
        click.echo(f"{deleted} of {len(wanted)} leads deleted", err=True)
    sys.exit(ExitStatus.OK if deleted == len(wanted) else ExitStatus.INCOMPLETE)


@main.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port (0: any free one).",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    help="A token the sandbox accepts (repeat for several accounts). Default: sandbox-token.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file to keep leads in (default: in memory).",
)
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of SKUs (column `sku`) every account may order (default: samples/skus.csv).",
)
@click.option(
    "--sync-threshold",
    type=click.IntRange(0, 100),
    default=10,
    show_default=True,
    help="Batches up to this size answer 201 at once; larger ones 202 (queued).",
)
@click.option("--rate-limit", type=click.IntRange(1), help="Requests per minute per token.")
@click.option(
    "--latency-ms",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Delay added to every request.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of POST /leads answered 500 before anything is stored.",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of POST /leads stored, then the connection dropped unanswered.",
)
@click.option(
    "--fail-phones",
    default="",
    help="Comma-separated phones whose leads fail processing (counted in failed_count).",
)
@click.option("--seed", type=int, help="Makes the fault knobs repeatable.")
@click.option("--webhook-url", help="POST a batch-completed event here for async batches.")
def sandbox_command(
    host: str,
    port: int,
    tokens: tuple[str, ...],
    db: Path | None,
    catalog: Path | None,
    sync_threshold: int,
    rate_limit: int | None,
    latency_ms: int,
    error_rate: float,
    drop_rate: float,
    fail_phones: str,
    seed: int | None,
    webhook_url: str | None,
) -> None:
    """Serve a local WedoCOD-compatible Leads API to try the tool without an account."""
    from importer.sandbox import SandboxConfig, serve

    config = SandboxConfig(
        tokens=tokens or ("sandbox-token",),
        db_path=db,
        catalog_path=catalog,
        sync_threshold=sync_threshold,
        rate_limit=rate_limit,
        latency_ms=latency_ms,
        error_rate=error_rate,
        drop_rate=drop_rate,
        fail_phones=frozenset(p.strip() for p in fail_phones.split(",") if p.strip()),
        seed=seed,
        webhook_url=webhook_url,
    )
    serve(config, host=host, port=port)

"""What every command shares: exit codes, the one exception-to-exit mapping, common options.

Nothing here imports pandas, pandera, pyarrow or requests: `wedocod --help` and every
`wedocod <command> --help` start in the time it takes to import click. The commands import
the library inside their bodies.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar, cast

import click

from importer.errors import (
    ApiError,
    AuthError,
    CatalogError,
    ConfigError,
    ConnectFailed,
    LedgerError,
    MappingError,
    ReadError,
    SettingsError,
)
from importer.presets import PRESETS
from importer.settings import AMOUNT_MODES, PHONE_FORMATS, Settings, find_settings

if TYPE_CHECKING:
    from importer.client import LeadsClient
    from importer.pipeline import Connection, PhoneFormat, Prepared, RunResult, SourceOptions

DEFAULT_BASE_URL = "https://api.wedocod.com"
#: Kinds of issues (code and column) listed in the terminal after a run; the report has all.
SHOWN_ISSUES = 5
DEFAULT_BATCH_SIZE = 10
DEFAULT_WORKERS = 4

P = ParamSpec("P")
R = TypeVar("R")


#: True in the `wedocod` process itself (`importer.cli.program` sets it), never in a process
#: that calls the commands in-process (click's test runner): see `loading`.
_whole_process = False


def run_as_program() -> None:
    """Say that this process is the `wedocod` program: `loading` may then freeze what it loads."""
    global _whole_process
    _whole_process = True


@contextmanager
def loading() -> Iterator[None]:
    """Where a command imports the library: the cyclic collector paused, then told to skip it.

    pandas, pyarrow, pandera and the stages build ~100,000 objects that live as long as the
    process. Imported with the collector on, every collection walks what is loaded so far
    again (~0.05 s of a small check), and every full collection after would still walk it;
    ``gc.freeze()`` sets those objects aside for good. Only in the `wedocod` process: frozen,
    a test process's own garbage would never be collected.
    """
    if not _whole_process:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
        _arrow_allocator()


def _arrow_allocator() -> None:
    """Arrow's buffers from jemalloc rather than its default mimalloc, in the `wedocod` process.

    mimalloc hands the big buffers of a million-row file back to the system within
    milliseconds and faults them in again for the next column: on the 1M-row check that was
    2 s of kernel time, jemalloc 0.9 s (4.7 s -> 4.0 s in all, about the same peak memory).
    Only where pyarrow has jemalloc (Linux wheels), and never over the user's own
    ``ARROW_DEFAULT_MEMORY_POOL``.
    """
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is None or os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with suppress(NotImplementedError, AttributeError):  # built without jemalloc: mimalloc
        pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())


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


#: The library's exceptions that end a command with a message instead of a traceback.
HANDLED = (
    Failure,
    ReadError,
    MappingError,
    CatalogError,
    ConfigError,
    LedgerError,
    SettingsError,
    ApiError,
    PermissionError,
    IsADirectoryError,
    FileNotFoundError,
    KeyboardInterrupt,
)


def exit_status_for(err: BaseException) -> tuple[ExitStatus, str]:
    """The one place that turns a library exception into an exit status and a message."""
    if isinstance(err, Failure):
        return err.status, str(err)
    if isinstance(
        err,
        ReadError | MappingError | CatalogError | LedgerError | SettingsError | ConfigError,
    ):
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
    """End the command with the exit status and message `exit_status_for` gives."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HANDLED as err:
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
            type=click.Choice(list(PRESETS)),
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
            help="CSV or XLSX of your SKUs (column `sku`, optional `name`): unknown SKUs are "
            "caught before sending, and products named but without SKU are found by name "
            "(default: the settings file's, else your account's: see `wedocod products`).",
        ),
        click.option(
            "--strict/--no-strict",
            default=None,
            help="Hold back rows with warnings too, as if they were errors "
            "(default: no, or the settings file's `strict`).",
        ),
        click.option(
            "--phone-format",
            type=click.Choice(list(PHONE_FORMATS)),
            help="How phones are sent (default: national, or the settings file's).",
        ),
        click.option(
            "--region",
            metavar="CC",
            callback=_region_option,
            help="Country of phones written without +country code, when the row names none "
            "(ISO code; default: MA, or the settings or mapping file's `region`).",
        ),
        click.option(
            "--amount",
            type=click.Choice(list(AMOUNT_MODES)),
            help="order: each order's line totals add up to its own total (shipping and "
            "discounts spread over the lines); lines: price x quantity as written "
            "(default: the preset's choice, or the settings or mapping file's `amount`).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _region_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Two letters, upper-cased; whether libphonenumber knows the country is checked later."""
    if value is None:
        return None
    text = value.strip()
    if len(text) != 2 or not text.isalpha():
        raise click.BadParameter(f"'{value}' is not a two-letter country code (e.g. MA, FR, ZA)")
    return text.upper()


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where the API is and how to authenticate: never a token on the command line."""
    return click.option(
        "--token-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Read the API token from this file (else WEDOCOD_TOKEN).",
    )(func)


def upload_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to send: the same for import and ingest."""
    func = click.option(
        "--workers",
        type=click.IntRange(1, 32),
        help=f"Requests in flight at once (default: {DEFAULT_WORKERS}, or the settings file's).",
    )(func)
    return click.option(
        "--batch-size",
        type=click.IntRange(1, 100),
        help=f"Leads per request (default: {DEFAULT_BATCH_SIZE}, or the settings file's).",
    )(func)


def ledger_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--ledger",
        "ledger_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The exactly-once journal (default: your state directory).",
    )(func)


def report_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--report",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Report path (.xlsx or .csv); default <file>.report.xlsx beside the input.",
    )(func)


def json_option(help: str = "Print JSON on stdout.") -> Callable[[Callable[..., Any]], Any]:
    return click.option("--json", "as_json", is_flag=True, help=help)


# --- building the library's options -----------------------------------------------------------


def current_settings() -> Settings:
    """The settings file's values for this invocation (`--config`, else found), read once."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    settings = root.meta.get("wedocod.settings")
    if settings is None:
        settings = find_settings(root.params.get("config"))
        root.meta["wedocod.settings"] = settings
    return settings


def build_source(settings: Settings | None = None, **kw: Any) -> SourceOptions:
    """How to read the file: the command line's options, else the settings file's, else defaults.

    A preset or mapping on the command line replaces both of the settings file's. ``settings``:
    other settings than this invocation's (an ingest account folder's).
    """
    from importer.pipeline import SourceOptions

    settings = settings or current_settings()
    preset, mapping_file = kw.get("preset"), kw.get("mapping_file")
    if preset is None and mapping_file is None:
        preset, mapping_file = settings.preset, settings.mapping
    return SourceOptions(
        sheet=kw.get("sheet") or settings.sheet,
        preset=preset,
        mapping_file=mapping_file,
        catalog_file=catalog_path_for(kw.get("catalog_file"), kw.get("token_file"), settings),
        phone_format=cast(
            "PhoneFormat", kw.get("phone_format") or settings.phone_format or "national"
        ),
        region=kw.get("region") or settings.region,
        strict=bool(settings.strict if kw.get("strict") is None else kw["strict"]),
        amount=kw.get("amount") or settings.amount,
    )


def catalog_path_for(
    explicit: Path | None, token_file: Path | None = None, settings: Settings | None = None
) -> Path | None:
    """The catalog a run uses: --catalog, else the settings file's, else the one
    `wedocod products --save` keeps for the account (when there is one)."""
    if explicit is not None:
        return explicit
    settings = settings or current_settings()
    if settings.catalog is not None:
        return settings.catalog
    stored = stored_catalog_path(token_file, settings)
    return stored if stored is not None and stored.is_file() else None


def stored_catalog_path(
    token_file: Path | None = None, settings: Settings | None = None
) -> Path | None:
    """Where the account's catalog is kept, or None without a token (no account to speak of).

    The account is the one `get_connection` would give (base URL and token), found without
    checking either and without importing the network stack: `check` needs none of it.
    """
    from importer.catalog import account_catalog_path, account_id

    token_file = token_file or (settings or current_settings()).token_file
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
    else:
        token = os.environ.get("WEDOCOD_TOKEN", "").strip()
    if not token:
        return None
    base_url = (os.environ.get("WEDOCOD_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    return account_catalog_path(account_id(base_url, token))


def batching(
    batch_size: int | None, workers: int | None, settings: Settings | None = None
) -> tuple[int, int]:
    """Batch size and workers: the command line's, else the settings file's, else defaults."""
    settings = settings or current_settings()
    return (
        batch_size or settings.batch_size or DEFAULT_BATCH_SIZE,
        workers or settings.workers or DEFAULT_WORKERS,
    )


def ledger_path_for(ledger_path: Path | None, settings: Settings | None = None) -> Path | None:
    return ledger_path or (settings or current_settings()).ledger


def get_connection(token_file: Path | None, settings: Settings | None = None) -> Connection:
    """The API's address and token, checked before anything is sent (exit 3 when unusable).

    The address must be https:// (http:// only for a loopback sandbox) with no user name or
    password in it; neither the password nor the token is ever repeated in a message.
    ``settings``: other settings than this invocation's (an ingest account folder's).
    """
    from importer.client import check_base_url, check_token
    from importer.pipeline import Connection

    token_file = token_file or (settings or current_settings()).token_file
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise Failure(
                f"Cannot read the token file {token_file}: {err.strerror}.", ExitStatus.BAD_INPUT
            ) from err
        source = str(token_file)
    else:
        token = os.environ.get("WEDOCOD_TOKEN", "").strip()
        source = "WEDOCOD_TOKEN"
    if not token:
        raise Failure(
            f"No API token: {source} is empty. Set WEDOCOD_TOKEN or pass --token-file PATH.",
            ExitStatus.BAD_INPUT,
        )
    try:
        base_url = check_base_url(os.environ.get("WEDOCOD_BASE_URL") or DEFAULT_BASE_URL)
        check_token(token)
    except ConfigError as err:
        raise Failure(str(err), ExitStatus.BAD_INPUT) from err
    return Connection(base_url=base_url, token=token)


def make_client(token_file: Path | None) -> LeadsClient:
    from importer.client import LeadsClient

    conn = get_connection(token_file)
    return LeadsClient(conn.base_url, conn.token)


# --- output -----------------------------------------------------------------------------------


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))


def print_summary(result: RunResult, as_json: bool) -> None:
    data = result.summary.to_dict()
    if as_json:
        if result.stopped:  # stdout holds the JSON alone; why the run stopped goes to stderr
            click.echo(f"Stopped early: {result.stopped}", err=True)
        emit(data, True)
        return
    s = result.summary
    parts = [f"{k} {v}" for k, v in data.items() if isinstance(v, int) and v and k != "rows"]
    click.echo(f"{s.file}: {s.rows} rows, " + ", ".join(parts), err=True)
    for note in s.notes:
        click.echo(f"  {note}", err=True)
    shown = s.issues[:SHOWN_ISSUES]
    for count in shown:
        click.echo(f"  {count.severity.value}: {count}", err=True)
    if len(s.issues) > len(shown):
        click.echo(f"  ... and {len(s.issues) - len(shown)} more kinds (see the report)", err=True)
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


class ProgressBar:
    """A tqdm bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def start(self, prepared: Prepared) -> None:
        invalid = prepared.invalid_orders
        click.echo(
            f"{prepared.table.path}: {len(prepared.table.frame)} rows, "
            f"{prepared.order_count} orders ({invalid} invalid), "
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

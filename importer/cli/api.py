"""The rest of the Leads API: `statuses`, `show`, `export`, `update`, `delete`."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from importer.cli.common import (
    ExitStatus,
    Failure,
    connection_options,
    emit,
    handles_errors,
    json_option,
    loading,
    make_client,
    report_option,
    stop_on_signals,
)
from importer.errors import NotFound

if TYPE_CHECKING:
    from datetime import tzinfo

    from importer.client import LeadStatus

INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
OUTPUT_FILE = click.Path(dir_okay=False, path_type=Path)
REPORT_SUFFIXES = (".xlsx", ".csv")
#: Lines about ids not deleted printed on stderr when a report has them all.
SHOWN_PROBLEMS = 20


@click.command("statuses")
@connection_options
@json_option()
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


@click.command("show")
@click.argument("reference")
@connection_options
@handles_errors
def show_command(reference: str, token_file: Path | None) -> None:
    """Show one lead by its reference, as JSON (exit code 1 when there is no such lead)."""
    client = make_client(token_file)
    try:
        lead = client.show_lead(reference)
    except NotFound as err:
        raise Failure(f"{reference}: {err}", ExitStatus.INCOMPLETE) from err
    finally:
        client.close()
    click.echo(json.dumps(lead, ensure_ascii=False, indent=2))


# --- shared by export, update and delete ------------------------------------------------------


def _output_path(path: Path, what: str, source: Path | None = None) -> Path:
    """Refuse before any request a file that cannot be written: wrong suffix (usage), a
    missing folder or the input itself (exit 3)."""
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise click.UsageError(f"{what} {path}: must end in .xlsx or .csv")
    if not path.parent.is_dir():
        raise Failure(f"{path}: the folder {path.parent} does not exist", ExitStatus.BAD_INPUT)
    if not os.access(path.parent, os.W_OK):
        raise Failure(f"{path}: the folder {path.parent} is not writable", ExitStatus.BAD_INPUT)
    if source is not None and path.resolve() == source.resolve():
        raise Failure(f"{path}: would overwrite the input file", ExitStatus.BAD_INPUT)
    return path


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> tzinfo:
    from importer.dates import load_zone

    try:
        return load_zone(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from datetime import datetime

    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from err
    return value


class _Bar:
    """A tqdm bar on stderr when it is a terminal, silent otherwise."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._bar: Any = None

    def start(self, total: int | None) -> None:
        if self._bar is None and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=self.unit, file=sys.stderr)
        elif self._bar is not None and total is not None and self._bar.total != total:
            self._bar.total = total
            self._bar.refresh()

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def reach(self, n: int) -> None:
        if self._bar is not None and n > self._bar.n:
            self._bar.update(n - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def _progress(unit: str) -> Iterator[_Bar]:
    bar = _Bar(unit)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the command as Ctrl-C does (KeyboardInterrupt): files are cleaned up."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _no_route(err: NotFound) -> Failure:
    """A 404 on `/leads` or `/lead-statuses`: these routes always exist on the API."""
    return Failure(f"{err} — is WEDOCOD_BASE_URL the API's address?", ExitStatus.API)


def _finish(stopped: str | None, interrupted: bool, complete: bool) -> NoReturn:
    if interrupted:
        sys.exit(ExitStatus.INTERRUPTED)
    if stopped is not None:
        click.echo(f"Stopped early: {stopped}", err=True)
        sys.exit(ExitStatus.API)
    sys.exit(ExitStatus.OK if complete else ExitStatus.INCOMPLETE)


def _counts_line(data: dict[str, Any], skip: tuple[str, ...]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in data.items() if k not in skip and v)


# --- export -----------------------------------------------------------------------------------


@click.command("export")
@click.argument("output", required=False, type=OUTPUT_FILE)
@click.option(
    "-o",
    "--output",
    "output_option",
    type=OUTPUT_FILE,
    help="The file to write: .xlsx (a Leads sheet and a Products sheet, one row per product) "
    "or .csv (the leads). The same as the OUTPUT argument.",
)
@click.option("--keyword", help="Search term.")
@click.option(
    "--search-by",
    type=click.Choice(["reference", "phone", "full_name", "city", "area", "address", "status"]),
    help="Field the keyword searches (the API's default: reference).",
)
@click.option(
    "--match-type",
    type=click.Choice(["exact", "partial", "starts_with", "ends_with"]),
    help="How the keyword matches.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Only leads in this status (key or label, e.g. confirmed or 'Call Later'; repeat "
    "for several).",
)
@click.option("--since", "start_at", callback=_date, help="From this date (YYYY-MM-DD).")
@click.option("--until", "end_at", callback=_date, help="Up to this date (YYYY-MM-DD).")
@json_option("Print one JSON summary on stdout.")
@connection_options
@handles_errors
def export_command(
    output: Path | None,
    output_option: Path | None,
    keyword: str | None,
    search_by: str | None,
    match_type: str | None,
    statuses: tuple[str, ...],
    start_at: str | None,
    end_at: str | None,
    as_json: bool,
    token_file: Path | None,
) -> None:
    """Export leads (every page) to OUTPUT or -o FILE (.xlsx or .csv), formula-safe.

    Each lead's `id` is in the export, next to its `reference`: `wedocod delete --ids`
    takes the file as it is. The file appears whole or not at all (Ctrl-C leaves nothing).
    """
    with loading():
        from importer.client import ValidationFailed
        from importer.exporting import ExportError, ExportFilters, export_leads, resolve_statuses

    if output and output_option and output != output_option:
        raise click.UsageError("Give the output file once: OUTPUT or -o/--output.")
    target = output_option or output
    if target is None:
        raise click.UsageError("Where to? Give -o FILE.xlsx or -o FILE.csv.")
    _output_path(target, "Output")
    client = make_client(token_file)
    try:
        chosen: tuple[LeadStatus, ...] = ()
        if statuses:
            try:
                chosen = resolve_statuses(statuses, client.lead_statuses())
            except ValueError as err:
                raise click.BadParameter(str(err), param_hint="--status") from err
        filters = ExportFilters(
            keyword=keyword,
            search_by=search_by,
            match_type=match_type,
            start_at=start_at,
            end_at=end_at,
            statuses=chosen,
        )
        with _sigterm_interrupts(), _progress("page") as bar:

            def on_page(page: int, pages: int | None, total: int | None) -> None:
                bar.start(pages)
                bar.reach(page)

            result = export_leads(client, target, filters, on_page=on_page)
    except NotFound as err:
        raise _no_route(err) from err
    except ValidationFailed as err:
        fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in err.fields.items())
        message = f"The server refused the filters: {fields or err}"
        raise Failure(message, ExitStatus.BAD_INPUT) from err
    except ExportError as err:
        raise Failure(str(err), ExitStatus.BAD_INPUT) from err
    finally:
        client.close()
    products = f" ({result.products} product lines)" if target.suffix.lower() == ".xlsx" else ""
    click.echo(f"{result.leads} leads{products} written to {target}", err=True)
    if result.repeated:
        click.echo(
            f"{result.repeated} leads showed up twice while paging (leads created meanwhile): "
            "written once.",
            err=True,
        )
    if as_json:
        emit(
            {
                "file": str(target),
                "leads": result.leads,
                "products": result.products,
                "pages": result.pages,
            },
            True,
        )


# --- update -----------------------------------------------------------------------------------


@click.command("update")
@click.argument("file", type=INPUT_FILE)
@click.option("--sheet", help="XLSX sheet to read (default: the first with data).")
@click.option(
    "--timezone",
    "zone",
    default="Africa/Casablanca",
    show_default=True,
    callback=_zone,
    help="Time zone of action dates written without an offset (summer time and Ramadan included).",
)
@report_option
@json_option("Print one JSON summary on stdout.")
@connection_options
@handles_errors
def update_command(
    file: Path,
    sheet: str | None,
    zone: tzinfo,
    report: Path | None,
    as_json: bool,
    token_file: Path | None,
) -> None:
    """Set lead statuses from FILE (CSV or XLSX), 100 per request, and write a report.

    Columns, by header in English, French or Arabic: reference (Référence, المرجع), status
    (Statut, الحالة: a key or a label of `wedocod statuses`) and, for statuses that need one
    (cancelled, call_later), an action date (Date action, موعد): a date cell, 2025-02-01
    14:00, 01/02/2025 14:00 (day first) or ISO 8601 with an offset. The report (default
    FILE.report.xlsx) has every row: updated, invalid, rejected or failed.
    """
    with loading():
        from importer.report import default_report_path
        from importer.updates import CheckedUpdates, UpdateOptions, update_file

    _output_path(report or default_report_path(file), "Report", file)
    client = make_client(token_file)
    with stop_on_signals() as stop, _progress("row") as bar:

        def on_checked(checked: CheckedUpdates) -> None:
            rows = len(checked.sheet.table.frame)
            click.echo(
                f"{file}: {rows} rows, {len(checked.updates)} to send "
                f"({len(checked.issues)} invalid)",
                err=True,
            )
            bar.start(len(checked.updates))

        options = UpdateOptions(
            sheet=sheet,
            zone=zone,
            report=report,
            stop=stop,
            progress=bar.advance,
            on_checked=on_checked,
        )
        try:
            run = update_file(file, client, options)
        except NotFound as err:
            raise _no_route(err) from err
        finally:
            client.close()
    data = run.summary.to_dict()
    if as_json:
        emit(data, True)
    else:
        click.echo(
            f"{file}: {run.summary.rows} rows, {_counts_line(data, ('file', 'rows', 'report'))}",
            err=True,
        )
        click.echo(f"Report: {run.summary.report}", err=True)
    _finish(run.stopped, run.interrupted, run.complete)


# --- delete -----------------------------------------------------------------------------------


@click.command("delete")
@click.argument("ids", nargs=-1)
@click.option(
    "--ids",
    "--from-file",
    "ids_file",
    type=INPUT_FILE,
    help="Read the lead ids from FILE: a text file (one id per line) or a CSV/XLSX with an "
    "`id` column, such as `wedocod export`'s.",
)
@click.option("--sheet", help="XLSX sheet to read the ids from.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@report_option
@json_option("Print one JSON summary on stdout.")
@connection_options
@handles_errors
def delete_command(
    ids: tuple[str, ...],
    ids_file: Path | None,
    sheet: str | None,
    yes: bool,
    report: Path | None,
    as_json: bool,
    token_file: Path | None,
) -> None:
    """Delete leads by id: ID... or --ids FILE. 100 per request; a report of every id.

    Ids are not references. `GET /leads` lists each lead's `id` next to its `reference`:
    `wedocod export` writes both (give its file to --ids), and the `update` report has a
    `Lead id` column. Only leads whose status allows it are deleted (new, cancelled, ...);
    the server refuses the others (403): they are found by splitting the batch and reported
    `refused`, the rest deleted. Others: `not found`, `invalid`, `failed`. The report goes
    to --report, else beside FILE (ids as arguments: only the lines on stderr).
    """
    with loading():
        from importer.deleting import DeleteOptions, delete_ids, read_lead_ids
        from importer.report import default_report_path

    if not ids and ids_file is None:
        raise click.UsageError("Give lead ids as arguments or with --ids FILE.")
    target = report or (default_report_path(ids_file) if ids_file else None)
    if target is not None:
        _output_path(target, "Report", ids_file)
    id_list = read_lead_ids(ids_file, ids, sheet)
    sendable = id_list.sendable()
    source = f" (from {ids_file})" if ids_file else ""
    if sendable and not yes:
        prompt = f"Delete {len(sendable)} leads{source}? This cannot be undone."
        try:
            confirmed = click.confirm(prompt, err=True)
        except click.Abort:
            confirmed = False
        if not confirmed:
            raise Failure("Not confirmed: nothing was deleted.", ExitStatus.INCOMPLETE)
    client = make_client(token_file)
    with stop_on_signals() as stop, _progress("id") as bar:
        bar.start(len(sendable))
        options = DeleteOptions(report=report, stop=stop, progress=bar.advance)
        try:
            run = delete_ids(id_list, client, options)
        finally:
            client.close()
    problems = [r for r in run.rows if r.outcome != "deleted"]
    shown = problems if run.summary.report is None else problems[:SHOWN_PROBLEMS]
    for item in shown:
        why = "; ".join(i.message for i in item.errors)
        click.echo(f"row {item.row} ({item.lead_id or '-'}): {item.outcome}: {why}", err=True)
    if len(shown) < len(problems):
        click.echo(f"... and {len(problems) - len(shown)} more in the report", err=True)
    data = run.summary.to_dict()
    if as_json:
        emit(data, True)
    else:
        click.echo(
            f"{run.summary.deleted} of {run.summary.ids} leads deleted"
            + (f"; {_counts_line(data, ('file', 'ids', 'deleted', 'report'))}" if problems else ""),
            err=True,
        )
        if run.summary.report:
            click.echo(f"Report: {run.summary.report}", err=True)
    _finish(run.stopped, run.interrupted, run.complete)


COMMANDS = (statuses_command, show_command, export_command, update_command, delete_command)

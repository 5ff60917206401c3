"""Import and check: `import`, `check`, `map`, and the ledger's `runs` and `reconcile`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from importer.cli.common import (
    ExitStatus,
    batching,
    build_source,
    connection_options,
    emit,
    exit_for,
    get_connection,
    handles_errors,
    json_option,
    ledger_option,
    ledger_path_for,
    loading,
    make_client,
    print_summary,
    progress_bar,
    report_option,
    source_options,
    stop_on_signals,
    upload_options,
)

INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("import")
@upload_options
@ledger_option
@click.argument("file", type=INPUT_FILE)
@source_options
@connection_options
@report_option
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for queued (async) batches to show up on the server.",
)
@json_option("Print one JSON summary on stdout.")
@handles_errors
def import_command(
    file: Path,
    report: Path | None,
    batch_size: int | None,
    workers: int | None,
    wait: float,
    ledger_path: Path | None,
    as_json: bool,
    token_file: Path | None,
    **source: Any,
) -> None:
    """Check FILE and create its valid orders as leads, then write the report."""
    with loading():
        from importer.pipeline import import_file
        from importer.upload import UploadOptions

    connection = get_connection(token_file)
    batch_size, workers = batching(batch_size, workers)
    with stop_on_signals() as stop, progress_bar() as progress:
        options = UploadOptions(
            batch_size=batch_size, workers=workers, wait=wait, stop=stop, progress=progress.advance
        )
        result = import_file(
            file,
            build_source(token_file=token_file, **source),
            connection,
            options,
            report=report,
            ledger_path=ledger_path_for(ledger_path),
            on_prepared=progress.start,
        )
    print_summary(result, as_json)
    exit_for(result, interrupted=stop.is_set())


@click.command("check")
@click.argument("file", type=INPUT_FILE)
@source_options
@report_option
@json_option("Print one JSON summary on stdout.")
@handles_errors
def check_command(file: Path, report: Path | None, as_json: bool, **source: Any) -> None:
    """Check FILE without any network: every row `valid` or `invalid`, and the report."""
    with loading():
        from importer.pipeline import check_file

    result = check_file(file, build_source(**source), report)
    print_summary(result, as_json)
    exit_for(result)


@click.command("map")
@click.argument("file", type=INPUT_FILE)
@source_options
@click.option(
    "--write",
    "write_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the mapping as an editable TOML file (use it with --mapping).",
)
@handles_errors
def map_command(file: Path, write_to: Path | None, **source: Any) -> None:
    """Show how FILE's columns map onto lead fields (and save it with --write).

    When a required field has no column, --write still saves what was found, the missing
    fields marked to fill in (and the command exits 3).
    """
    with loading():
        from importer.errors import MappingError
        from importer.mapping import (
            describe_mapping,
            detect_mapping,
            dump_mapping,
            load_mapping,
            preset_mapping,
        )
        from importer.pipeline import choose_mapping
        from importer.read import read_table

    options = build_source(**source)
    table = read_table(file, options.sheet)
    try:
        mapping = choose_mapping(table, options)
        failed: MappingError | None = None
    except MappingError as err:
        if write_to is None:
            raise
        failed = err
        if options.mapping_file is not None:
            mapping = load_mapping(options.mapping_file, table, partial=True)
        elif options.preset:
            mapping = preset_mapping(options.preset, table, partial=True)
        else:
            mapping = detect_mapping(table, partial=True)
    click.echo(f"{file}: {len(table.frame)} rows, mapping: {mapping.origin}")
    for note in table.notes:
        click.echo(f"  ({note})")
    for target, source_desc in describe_mapping(mapping, table):
        click.echo(f"  {target:<14} <- {source_desc}")
    if write_to is not None:
        write_to.write_text(dump_mapping(mapping, table), encoding="utf-8")
        if failed is None:
            click.echo(
                f"Mapping written to {write_to}; edit it, then use --mapping {write_to}", err=True
            )
        else:
            click.echo(
                f"Mapping written to {write_to} with what was found; fill in "
                f"{', '.join(mapping.missing)} there (marked TO FILL IN), then use "
                f"--mapping {write_to}",
                err=True,
            )
            raise failed


@click.command("runs")
@ledger_option
@click.option(
    "--limit", type=click.IntRange(1), default=20, show_default=True, help="How many runs to list."
)
@json_option()
@connection_options
@handles_errors
def runs_command(
    ledger_path: Path | None, limit: int, as_json: bool, token_file: Path | None
) -> None:
    """List past import runs for this account: file, time, counts."""
    from importer.ledger import Ledger

    client = make_client(token_file)
    ledger = Ledger.open(ledger_path_for(ledger_path) or Ledger.default_path(), client.account_id)
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


@click.command("reconcile")
@ledger_option
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds to keep looking for leads of async batches.",
)
@json_option()
@connection_options
@handles_errors
def reconcile_command(
    ledger_path: Path | None, wait: float, as_json: bool, token_file: Path | None
) -> None:
    """Settle leads left in doubt by an earlier run, without importing anything new."""
    from importer.ledger import Ledger
    from importer.upload import UploadOptions, reconcile

    client = make_client(token_file)
    ledger = Ledger.open(ledger_path_for(ledger_path) or Ledger.default_path(), client.account_id)
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


COMMANDS = (import_command, check_command, map_command, runs_command, reconcile_command)

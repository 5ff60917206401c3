"""The rest of the Leads API: `statuses`, `show`, `export`, `update`, `delete`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from importer.cli.common import (
    ExitStatus,
    connection_options,
    emit,
    handles_errors,
    json_option,
    make_client,
)


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
    """Show one lead by its reference, as JSON."""
    client = make_client(token_file)
    try:
        lead = client.show_lead(reference)
    finally:
        client.close()
    click.echo(json.dumps(lead, ensure_ascii=False, indent=2))


@click.command("export")
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


@click.command("update")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sheet", help="XLSX sheet to read.")
@json_option()
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


@click.command("delete")
@click.argument("ids", nargs=-1)
@click.option(
    "--from-file",
    type=click.File("r", encoding="utf-8"),
    help="Read lead ids from this file, one per line.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option()
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


COMMANDS = (statuses_command, show_command, export_command, update_command, delete_command)

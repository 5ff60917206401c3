"""The local WedoCOD-compatible API: `sandbox`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sandbox")
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
    "--fault-methods",
    default="POST",
    show_default=True,
    help="Comma-separated methods on /leads that --error-rate and --drop-rate hit "
    "(POST, PUT, DELETE).",
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
    fault_methods: str,
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
        fault_methods=frozenset(m.strip().upper() for m in fault_methods.split(",") if m.strip()),
        fail_phones=frozenset(p.strip() for p in fail_phones.split(",") if p.strip()),
        seed=seed,
        webhook_url=webhook_url,
    )
    serve(config, host=host, port=port)


COMMANDS = (sandbox_command,)

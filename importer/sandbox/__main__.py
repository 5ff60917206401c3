"""`python -m importer.sandbox`: start the sandbox without the `wedocod` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from importer.sandbox.config import SandboxConfig
from importer.sandbox.server import serve


def parse_config(argv: list[str] | None = None) -> tuple[SandboxConfig, str, int]:
    """The sandbox config, host and port from command-line arguments (same options as the CLI)."""
    parser = argparse.ArgumentParser(
        prog="python -m importer.sandbox", description="Serve a local WedoCOD Leads API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--token", action="append", dest="tokens", help="accepted token (repeat for accounts)"
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default: in memory)")
    parser.add_argument("--catalog", type=Path, help="CSV of SKUs (column `sku`)")
    parser.add_argument("--sync-threshold", type=int, default=10)
    parser.add_argument("--async-delay", type=float, default=0.2, help="seconds")
    parser.add_argument("--rate-limit", type=int, help="requests per minute per token")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument(
        "--fault-methods", default="POST", help="methods faults hit: POST,PUT,DELETE"
    )
    parser.add_argument("--fail-phones", default="", help="comma-separated phones")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--webhook-url")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = parser.parse_args(argv)
    for name in ("error_rate", "drop_rate"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    config = SandboxConfig(
        tokens=tuple(args.tokens or ("sandbox-token",)),
        db_path=args.db,
        catalog_path=args.catalog,
        sync_threshold=args.sync_threshold,
        async_delay=args.async_delay,
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        fault_methods=frozenset(
            m.strip().upper() for m in args.fault_methods.split(",") if m.strip()
        ),
        fail_phones=frozenset(p.strip() for p in args.fail_phones.split(",") if p.strip()),
        seed=args.seed,
        webhook_url=args.webhook_url,
        log_requests=not args.quiet,
    )
    return config, args.host, args.port


def main(argv: list[str] | None = None) -> None:
    config, host, port = parse_config(argv)
    serve(config, host=host, port=port)


if __name__ == "__main__":
    main()

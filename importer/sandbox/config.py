"""What a sandbox run is set up with: accounts, storage, catalog, thresholds and fault knobs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: The repository's sample catalog, used when no catalog is given and it exists.
REPO_CATALOG = Path(__file__).resolve().parents[2] / "samples" / "skus.csv"
#: When neither a catalog file nor the repository's samples are at hand (an installed wheel).
BUILT_IN_SKUS = frozenset(f"SKU-{n:03d}" for n in range(1, 21))


@dataclass
class SandboxConfig:
    """How to run the sandbox; every knob off by default."""

    tokens: tuple[str, ...] = ("sandbox-token",)
    db_path: Path | None = None
    catalog_path: Path | None = None  # default: <repo>/samples/skus.csv, else BUILT_IN_SKUS
    sync_threshold: int = 10
    async_delay: float = 0.2  # seconds before a queued batch is processed
    rate_limit: int | None = None  # requests per window per token
    latency_ms: int = 0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    #: The methods on `/leads` that error_rate and drop_rate hit (PUT and DELETE too: tests).
    fault_methods: frozenset[str] = frozenset({"POST"})
    fail_phones: frozenset[str] = frozenset()
    seed: int | None = None
    webhook_url: str | None = None
    log_requests: bool = True
    rate_window: float = 60.0  # seconds; the API's limit is per minute, tests shorten it
    #: The order of `GET /leads` (the docs say none): "newest" first, "oldest" first, or by
    #: "reference" (stable, but unrelated to time) -- so tests can prove nothing relies on it.
    list_order: str = "newest"


def load_catalog(path: Path | None) -> frozenset[str]:
    """The SKUs every account may order: a CSV with a `sku` column (else its first column)."""
    if path is None:
        if not REPO_CATALOG.exists():
            return BUILT_IN_SKUS
        path = REPO_CATALOG
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return frozenset()
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("sku") if "sku" in header else 0
    body = rows[1:] if "sku" in header else rows
    return frozenset(
        row[column].strip() for row in body if len(row) > column and row[column].strip()
    )

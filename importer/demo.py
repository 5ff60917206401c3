"""`make demo`: start the sandbox on a free port, import every sample, show the reports."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from importer.pipeline import Connection, SourceOptions, import_file
from importer.sandbox import SandboxConfig, serve_in_thread
from importer.upload import UploadOptions

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
OUT = Path("demo-out")


def main() -> int:
    files = sorted(
        p for p in SAMPLES.iterdir() if p.suffix in (".csv", ".xlsx") and p.name != "skus.csv"
    )
    if not files:
        print(f"No samples found in {SAMPLES}", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    config = SandboxConfig(tokens=("demo-token",), log_requests=False)
    with serve_in_thread(config) as running, tempfile.TemporaryDirectory() as state:
        print(f"Sandbox listening on {running.url}", file=sys.stderr)
        connection = Connection(running.url, "demo-token")
        for path in files:
            result = import_file(
                path,
                SourceOptions(catalog_file=SAMPLES / "skus.csv"),
                connection,
                UploadOptions(wait=10.0),
                report=OUT / f"{path.stem}.report.xlsx",
                ledger_path=Path(state) / "ledger.sqlite3",
            )
            counts = {
                k: v
                for k, v in result.summary.to_dict().items()
                if isinstance(v, int) and v and k != "rows"
            }
            described = ", ".join(f"{k} {v}" for k, v in counts.items())
            print(f"{path.name:<28} {result.summary.rows:>4} rows  {described}")
            print(f"{'':<28} report: {result.summary.report}")
    print(f"\nOpen the reports in {OUT.resolve()} (one per sample).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

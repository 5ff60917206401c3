"""The processes `wedocod check` is compared with: a bare pandas read, and frictionless."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: The API's field rules (api/leads.txt) as a Table Schema over the native template.
TABLE_SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "order_id", "type": "string"},
        {
            "name": "full_name",
            "type": "string",
            "constraints": {"required": True, "minLength": 3, "maxLength": 100},
        },
        {
            "name": "phone",
            "type": "string",
            "constraints": {"required": True, "minLength": 7, "maxLength": 100},
        },
        {
            "name": "city",
            "type": "string",
            "constraints": {"required": True, "minLength": 3, "maxLength": 100},
        },
        {"name": "area", "type": "string", "constraints": {"minLength": 3, "maxLength": 100}},
        {
            "name": "address",
            "type": "string",
            "constraints": {"required": True, "minLength": 5, "maxLength": 100},
        },
        {
            "name": "sku",
            "type": "string",
            "constraints": {"required": True, "minLength": 1, "maxLength": 100},
        },
        {
            "name": "quantity",
            "type": "integer",
            "constraints": {"required": True, "minimum": 1, "maximum": 999},
        },
        {
            "name": "total",
            "type": "number",
            "constraints": {"required": True, "minimum": 1, "maximum": 999999},
        },
        {"name": "note", "type": "string", "constraints": {"minLength": 1, "maxLength": 100}},
        {
            "name": "utm_source",
            "type": "string",
            "constraints": {"minLength": 1, "maxLength": 100},
        },
    ]
}


def read_only(path: Path) -> dict[str, Any]:
    """What reading costs with the fastest sane reader: all text, nothing guessed."""
    import pandas as pd

    frame = pd.read_csv(path, engine="pyarrow", dtype=str, keep_default_na=False)
    return {"rows": len(frame), "columns": len(frame.columns)}


def read_only_xlsx(path: Path) -> dict[str, Any]:
    """What reading a workbook costs with the fastest reader pandas has (calamine), as text."""
    import pandas as pd

    frame = pd.read_excel(path, engine="calamine", dtype=str, keep_default_na=False)
    return {"rows": len(frame), "columns": len(frame.columns)}


def frictionless_validate(path: Path) -> dict[str, Any]:
    """Frictionless' validation of the same file against the same rules, every error kept."""
    from frictionless import Resource, Schema

    # frictionless refuses absolute paths as unsafe; a base path plus a file name is the way in
    resource = Resource(
        path=path.name, basepath=str(path.parent), schema=Schema.from_descriptor(TABLE_SCHEMA)
    )
    # the default stops at 1,000 errors, which would stop early on a 1 % invalid file
    report = resource.validate(limit_errors=sys.maxsize)
    task = report.tasks[0]
    if "rows" not in task.stats:  # the file itself was refused: no row was validated
        raise RuntimeError("; ".join(error.message for error in task.errors[:3]))
    return {"valid": report.valid, "rows": task.stats["rows"], "errors": task.stats["errors"]}


def main(argv: list[str]) -> int:
    kinds = {
        "read": read_only,
        "read-xlsx": read_only_xlsx,
        "frictionless": frictionless_validate,
    }
    if len(argv) != 2 or argv[0] not in kinds:
        print(
            "usage: python -m benchmarks.baselines read|read-xlsx|frictionless FILE",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(kinds[argv[0]](Path(argv[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Status updates from a file, deletes and export rows, against the sandbox where it matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.bulk import (
    EXPORT_COLUMNS,
    StatusUpdate,
    delete_leads,
    export_rows,
    read_status_updates,
    update_statuses,
)
from importer.client import LeadsClient
from importer.read import ReadError
from importer.sandbox import SandboxConfig, serve_in_thread

STATUSES = ("new", "confirmed", "cancelled", "call_later")
TOKEN = "test-token"


def test_status_file_with_french_headers_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "maj.csv"
    path.write_text(
        "Référence;Statut;Date action\n"
        "WDAAAAAA;Confirmed;\n"
        "WDBBBBBB;rappeler;\n"
        "WDCCCCCC;call_later;demain 14h\n"
        "WDDDDDDD;CANCELLED;2025-02-01T14:00:00+01:00\n"
        ";confirmed;\n",
        encoding="utf-8",
    )
    updates, issues = read_status_updates(path, STATUSES)
    assert updates == [
        StatusUpdate(2, "WDAAAAAA", "confirmed"),
        StatusUpdate(5, "WDDDDDDD", "cancelled", "2025-02-01T14:00:00+01:00"),
    ]
    assert [(i.row, i.column, i.code) for i in issues] == [
        (3, "Statut", "unknown_status"),
        (4, "Date action", "invalid_date"),
        (6, "Référence", "required"),
    ]


def test_status_file_without_a_status_column_names_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("reference,colour\nWDAAAAAA,red\n", encoding="utf-8")
    with pytest.raises(ReadError, match=r"status.*colour"):
        read_status_updates(path, STATUSES)


def test_export_rows_flatten_products_and_custom_data() -> None:
    lead = {
        "reference": "WDAAAAAA",
        "id": "01ARZ",
        "status": "new",
        "full_name": "Ahmed",
        "phone": "0612345678",
        "city": "Rabat",
        "area": None,
        "address": "1 Rue",
        "products": [{"sku": "SKU-001", "quantity": 2, "total": 299}],
        "data": [{"key": "import_id", "value": "order:A-1"}],
        "created_at": "2026-11-23T10:00:00Z",
    }
    (row,) = export_rows([lead])
    got = dict(zip(EXPORT_COLUMNS, row, strict=True))
    assert got["products"] == "SKU-001 x2 = 299"
    assert got["data"] == "import_id=order:A-1"
    assert got["area"] == ""


def _create(client: LeadsClient, phones: list[str]) -> list[dict[str, object]]:
    items = [
        {
            "full_name": "Client Test",
            "phone": phone,
            "city": "Rabat",
            "address": "12 Rue Atlas",
            "products": [{"sku": "SKU-001", "quantity": 1, "total": 100}],
        }
        for phone in phones
    ]
    client.create_leads(items)
    return list(client.iter_leads())


def test_updates_and_deletes_against_the_sandbox() -> None:
    with serve_in_thread(SandboxConfig(tokens=(TOKEN,), log_requests=False)) as running:
        client = LeadsClient(running.url, TOKEN)
        try:
            leads = _create(client, ["0612345678", "0698765432", "0661234567"])
            refs = [str(lead["reference"]) for lead in leads]
            results = update_statuses(
                client,
                [
                    StatusUpdate(2, refs[0], "confirmed"),
                    StatusUpdate(3, "NOPE0000", "confirmed"),
                    StatusUpdate(4, refs[1], "cancelled"),  # no action date: refused
                ],
            )
            assert [(r.row, r.outcome) for r in results] == [
                (2, "updated"),
                (3, "rejected"),
                (4, "rejected"),
            ]
            assert "action date" in results[2].message

            # the confirmed lead may not be deleted: the batch is refused, then tried one by one
            ids = [str(lead["id"]) for lead in leads]
            deleted = delete_leads(client, ids)
            assert [r.outcome for r in deleted] == ["refused", "deleted", "deleted"]
            assert [lead["reference"] for lead in client.iter_leads()] == [refs[0]]
        finally:
            client.close()

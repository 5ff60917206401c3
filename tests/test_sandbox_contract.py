"""The sandbox answers every documented example (leads.txt, error-handling.txt) with its shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from importer.sandbox import RunningSandbox, validate_create
from importer.sandbox.config import load_catalog

TIMEOUT = 10
CATALOG = load_catalog(None)

# -- the docs' examples, as written there ------------------------------------------------------

DOC_CREATE_BODY: dict[str, Any] = {
    "data": [
        {
            "full_name": "Ahmed El Fassi",
            "phone": "0612345678",
            "city": "Casablanca",
            "address": "123 Main Street",
            "data": [{"key": "note", "value": "Prefers afternoon delivery"}],
            "area": "Maarif",
            "products": [{"sku": "SKU-001", "quantity": 2, "total": 299}],
        }
    ]
}
DOC_SYNC = {
    "data": {"created_refs": ["WDFGHJKL"], "failed_count": 0},
    "meta": {"mode": "sync", "total": 1},
}
DOC_ASYNC = {
    "data": {"batch_id": "batch_550e8400-e29b-41d4-a716-446655440000", "queued": True},
    "meta": {"mode": "async", "total": 25},
}
DOC_CREATE_422_FIELDS = {
    "data.0.phone": ["The phone field is required."],
    "data.1.full_name": ["The full name must be between 3 and 100 characters."],
}
DOC_LIST = {
    "data": [
        {
            "reference": "LED-00001",
            "phone": "0612345678",
            "status": "new",
            "city": "Casablanca",
            "area": "Maarif",
            "data": [],
            "products": [],
            "leadHistories": [],
        }
    ],
    "meta": {"pagination": {"page": 1, "limit": 50, "total": 120, "pages": 3}},
}
DOC_SHOW = {
    "data": {
        "full_name": "Ahmed El Fassi",
        "phone": "0612345678",
        "city": "Casablanca",
        "area": "Maarif",
        "status": "New",
        "products": [
            {"sku": "SKU-001", "quantity": 2, "price": "299.00 MAD", "total": "299.00 MAD"}
        ],
        "created_at": "2025-01-16T10:00:00.000000Z",
    },
    "meta": {},
}
DOC_UPDATE = {
    "data": [
        {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "reference": "LED-00001"},
        {"id": "01ARZ3NDEKTSV4RRFFQ69G5FAW", "reference": "LED-00002"},
    ],
    "meta": {"updated_fields": ["status", "action_date"]},
}
DOC_UPDATE_422_FIELDS = {
    "leads.0.status": ["The selected status is invalid."],
    "leads.1.action_date": ["The action date is required for status cancelled."],
}
DOC_DELETE = {"data": {"deleted": True, "count": 2}, "meta": {}}
DOC_FORBIDDEN = {"error": {"code": "HTTP_ERROR", "message": "This action is unauthorized."}}
DOC_LEAD_NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "Lead not found."}}
DOC_NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "Resource not found."}}
DOC_UNAUTHENTICATED = {"error": {"code": "UNAUTHENTICATED", "message": "Unauthenticated."}}
DOC_STATUSES = [
    ("new", "New"),
    ("confirmed", "Confirmed"),
    ("wrong", "Wrong"),
    ("testing", "Testing"),
    ("call_later", "Call Later"),
    ("no_reply", "No Reply"),
    ("cancelled", "Cancelled"),
    ("out_of_stock", "Out of Stock"),
    ("duplicate", "Duplicate"),
    ("expired", "Expired"),
    ("unreachable", "Unreachable"),
    ("preparing", "Preparing"),
    ("blacklist", "Blacklist"),
    ("no_reply_asked_to_recall", "No Reply Asked to Recall"),
]
#: Documented keys that are null when the lead has none (area is optional on create).
OPTIONAL = frozenset({"area"})
REF = re.compile(r"^[A-Z]{8}$")
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def assert_shape(documented: object, actual: object, where: str = "$") -> None:
    """Every documented key is there with a value of the documented JSON type, recursively."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in documented.items():
            assert key in actual, f"{where}: missing key {key!r} in {sorted(actual)}"
            if actual[key] is None and key in OPTIONAL:
                continue
            assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        if documented and actual:
            for n, item in enumerate(actual):
                assert_shape(documented[0], item, f"{where}[{n}]")
    elif isinstance(documented, bool):
        assert isinstance(actual, bool), f"{where}: expected a boolean, got {actual!r}"
    elif isinstance(documented, int | float):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
        assert ok, f"{where}: expected a number, got {actual!r}"
    elif isinstance(documented, str):
        assert isinstance(actual, str), f"{where}: expected a string, got {actual!r}"


def api(running: RunningSandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {running.token}", **kwargs.pop("headers", {})}
    return requests.request(
        method, f"{running.url}{path}", headers=headers, timeout=TIMEOUT, **kwargs
    )


def lead(n: int = 0, **changes: Any) -> dict[str, Any]:
    item = {
        "full_name": f"Client Number {n}",
        "phone": f"06{n:08d}",
        "city": "Rabat",
        "address": "7 Avenue Hassan II",
        "products": [{"sku": "SKU-002", "quantity": 1, "total": 120}],
    }
    item.update(changes)
    return item


def create(running: RunningSandbox, leads: list[dict[str, Any]]) -> list[str]:
    answer = api(running, "POST", "/leads", json={"data": leads})
    assert answer.status_code == 201, answer.text
    refs: list[str] = answer.json()["data"]["created_refs"]
    return refs


# -- POST /leads -------------------------------------------------------------------------------


def test_sync_create_answers_the_documented_201(sandbox: RunningSandbox) -> None:
    answer = api(sandbox, "POST", "/leads", json=DOC_CREATE_BODY)
    assert answer.status_code == 201
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert_shape(DOC_SYNC, body)
    assert body["meta"] == DOC_SYNC["meta"]
    assert body["data"]["failed_count"] == 0
    (ref,) = body["data"]["created_refs"]
    assert REF.match(ref)
    stored = sandbox.sandbox.store.leads(sandbox.token)
    assert [s["reference"] for s in stored] == [ref]
    assert stored[0]["data"] == [{"key": "note", "value": "Prefers afternoon delivery"}]


def test_refs_are_unique_and_in_input_order(sandbox: RunningSandbox) -> None:
    refs = create(sandbox, [lead(n) for n in range(10)])
    assert len(set(refs)) == 10 and all(REF.match(r) for r in refs)
    phones = {s["reference"]: s["phone"] for s in sandbox.sandbox.store.leads(sandbox.token)}
    assert [phones[r] for r in refs] == [lead(n)["phone"] for n in range(10)]


def test_more_than_the_threshold_answers_the_documented_202(sandbox: RunningSandbox) -> None:
    answer = api(sandbox, "POST", "/leads", json={"data": [lead(n) for n in range(25)]})
    assert answer.status_code == 202
    body = answer.json()
    assert_shape(DOC_ASYNC, body)
    assert body["meta"] == DOC_ASYNC["meta"]
    assert body["data"]["queued"] is True
    assert re.match(r"^batch_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                    body["data"]["batch_id"])  # fmt: skip


def test_the_documented_422_example(sandbox: RunningSandbox) -> None:
    body = {"data": [lead(0, phone=None), lead(1, full_name="Al")]}
    del body["data"][0]["phone"]
    answer = api(sandbox, "POST", "/leads", json=body)
    assert answer.status_code == 422
    assert answer.json() == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The given data was invalid.",
            "fields": DOC_CREATE_422_FIELDS,
        }
    }
    assert sandbox.sandbox.store.leads(sandbox.token) == []  # one bad lead: nothing created


def test_422_names_nested_paths(sandbox: RunningSandbox) -> None:
    bad = lead(
        0,
        products=[{"sku": "SKU-001", "quantity": 1, "total": 10}, {"sku": "NOPE", "quantity": 0}],
        data=[{"key": "a", "value": "b"}, {"key": "c", "value": "x" * 101}],
    )
    answer = api(sandbox, "POST", "/leads", json={"data": [lead(1), bad]})
    assert answer.status_code == 422
    assert answer.json()["error"]["fields"] == {
        "data.1.products.1.sku": ["The selected data.1.products.1.sku is invalid."],
        "data.1.products.1.quantity": ["The quantity must be between 1 and 999."],
        "data.1.products.1.total": ["The total field is required."],
        "data.1.data.1.value": ["The value must be between 1 and 100 characters."],
    }


# -- validate_create, the pure rules (every documented bound) --------------------------------

STRING_RULES = [
    ("full_name", 3, 100, "full name"),
    ("phone", 7, 100, "phone"),
    ("city", 3, 100, "city"),
    ("area", 3, 100, "area"),
    ("address", 5, 100, "address"),
]


@pytest.mark.parametrize(("field", "low", "high", "name"), STRING_RULES)
def test_string_length_bounds(field: str, low: int, high: int, name: str) -> None:
    message = f"The {name} must be between {low} and {high} characters."
    for size, ok in ((low - 1, False), (low, True), (high, True), (high + 1, False)):
        errors = validate_create({"data": [lead(0, **{field: "x" * size})]}, CATALOG)
        if ok:
            assert errors == {}, (size, errors)
        else:
            assert errors == {f"data.0.{field}": [message]}, size


@pytest.mark.parametrize(("field", "low", "high", "name"), STRING_RULES)
def test_strings_must_be_strings(field: str, low: int, high: int, name: str) -> None:
    errors = validate_create({"data": [lead(0, **{field: 6123456789})]}, CATALOG)
    assert errors == {f"data.0.{field}": [f"The {name} must be a string."]}


@pytest.mark.parametrize("field", ["full_name", "phone", "city", "address"])
def test_required_fields(field: str) -> None:
    item = lead(0)
    del item[field]
    name = field.replace("_", " ")
    expected = {f"data.0.{field}": [f"The {name} field is required."]}
    assert validate_create({"data": [item]}, CATALOG) == expected
    # blank is missing, as Laravel's TrimStrings + ConvertEmptyStringsToNull make it
    assert validate_create({"data": [lead(0, **{field: "   "})]}, CATALOG) == expected


def test_area_is_optional_and_blank_area_is_absent() -> None:
    item = lead(0)
    assert "area" not in item
    assert validate_create({"data": [item]}, CATALOG) == {}
    assert validate_create({"data": [lead(0, area="")]}, CATALOG) == {}
    assert validate_create({"data": [lead(0, area=None)]}, CATALOG) == {}


def test_lengths_count_characters_after_trimming() -> None:
    assert validate_create({"data": [lead(0, city="  فاس  ")]}, CATALOG) == {}
    errors = validate_create({"data": [lead(0, city=" Fe ")]}, CATALOG)
    assert errors == {"data.0.city": ["The city must be between 3 and 100 characters."]}


@pytest.mark.parametrize(("field", "low", "high"), [("quantity", 1, 999), ("total", 1, 999999)])
def test_number_bounds(field: str, low: int, high: int) -> None:
    def check(value: object) -> dict[str, list[str]]:
        product = {"sku": "SKU-001", "quantity": 1, "total": 10, field: value}
        return validate_create({"data": [lead(0, products=[product])]}, CATALOG)

    key = f"data.0.products.0.{field}"
    assert check(low) == {} and check(high) == {}
    assert check(str(high)) == {}  # Laravel's `numeric` accepts numeric strings
    assert check(low - 1) == {key: [f"The {field} must be between {low} and {high}."]}
    assert check(high + 0.5) == {key: [f"The {field} must be between {low} and {high}."]}
    assert check("two") == {key: [f"The {field} must be a number."]}
    assert check(True) == {key: [f"The {field} must be a number."]}
    assert check(None) == {key: [f"The {field} field is required."]}


def test_sku_rules() -> None:
    def check(sku: object) -> dict[str, list[str]]:
        product = {"sku": sku, "quantity": 1, "total": 10}
        return validate_create({"data": [lead(0, products=[product])]}, CATALOG)

    key = "data.0.products.0.sku"
    assert check("SKU-001") == {}
    assert check(" SKU-001 ") == {}
    assert check("sku-001") == {key: ["The selected data.0.products.0.sku is invalid."]}
    assert check("") == {key: ["The sku field is required."]}
    assert check(1) == {key: ["The sku must be a string."]}
    long_sku = "S" * 101
    assert validate_create(
        {"data": [lead(0, products=[{"sku": long_sku, "quantity": 1, "total": 1}])]},
        frozenset({long_sku}),
    ) == {key: ["The sku must be between 1 and 100 characters."]}


def test_item_counts() -> None:
    assert validate_create({}, CATALOG) == {"data": ["The data field is required."]}
    assert validate_create({"data": []}, CATALOG) == {"data": ["The data field is required."]}
    assert validate_create([], CATALOG) == {"data": ["The data field is required."]}
    assert validate_create({"data": "x"}, CATALOG) == {"data": ["The data must be an array."]}
    too_many = {"data": [lead(n) for n in range(101)]}
    assert validate_create(too_many, CATALOG) == {
        "data": ["The data must not have more than 100 items."]
    }
    assert validate_create({"data": [lead(n) for n in range(100)]}, CATALOG) == {}
    product = {"sku": "SKU-001", "quantity": 1, "total": 1}
    assert validate_create({"data": [lead(0, products=[product] * 100)]}, CATALOG) == {}
    assert validate_create({"data": [lead(0, products=[product] * 101)]}, CATALOG) == {
        "data.0.products": ["The products must not have more than 100 items."]
    }
    assert validate_create({"data": [lead(0, products=[])]}, CATALOG) == {
        "data.0.products": ["The products field is required."]
    }
    entry = {"key": "k", "value": "v"}
    assert validate_create({"data": [lead(0, data=[entry] * 100)]}, CATALOG) == {}
    assert validate_create({"data": [lead(0, data=[entry] * 101)]}, CATALOG) == {
        "data.0.data": ["The data must not have more than 100 items."]
    }


def test_custom_entries() -> None:
    def check(entry: object) -> dict[str, list[str]]:
        return validate_create({"data": [lead(0, data=[entry])]}, CATALOG)

    assert check({"key": "k", "value": "v" * 100}) == {}
    assert check({"key": "k" * 101, "value": "v"}) == {
        "data.0.data.0.key": ["The key must be between 1 and 100 characters."]
    }
    assert check({"key": "k", "value": 5}) == {
        "data.0.data.0.value": ["The value must be a string."]
    }
    assert check("note") == {"data.0.data.0": ["The data.0.data.0 must be an object."]}


# -- GET /leads, show ----------------------------------------------------------------------------


def test_list_answers_the_documented_shape(sandbox: RunningSandbox) -> None:
    refs = create(sandbox, [DOC_CREATE_BODY["data"][0], lead(1)])
    answer = api(sandbox, "GET", "/leads")
    assert answer.status_code == 200
    body = answer.json()
    assert_shape(DOC_LIST, body)
    assert body["meta"]["pagination"] == {"page": 1, "limit": 50, "total": 2, "pages": 1}
    items = body["data"]
    assert [i["reference"] for i in items] == refs[::-1]  # newest first
    first = items[1]
    assert ULID.match(first["id"]) and TIMESTAMP.match(first["created_at"])
    assert first["status"] == "new" and first["full_name"] == "Ahmed El Fassi"
    assert first["data"] == [{"key": "note", "value": "Prefers afternoon delivery"}]
    assert first["products"] == DOC_SHOW["data"]["products"]
    assert first["leadHistories"] == []


def test_show_answers_the_documented_example(sandbox: RunningSandbox) -> None:
    (ref,) = create(sandbox, DOC_CREATE_BODY["data"])
    answer = api(sandbox, "GET", f"/leads/{ref}/show")
    assert answer.status_code == 200
    body = answer.json()
    assert_shape(DOC_SHOW, body)
    documented = dict(DOC_SHOW["data"])
    assert TIMESTAMP.match(body["data"]["created_at"])
    del documented["created_at"]
    assert {k: body["data"][k] for k in documented} == documented
    assert body["meta"] == {}


def test_show_unknown_lead_is_the_documented_404(sandbox: RunningSandbox) -> None:
    answer = api(sandbox, "GET", "/leads/NOSUCHRF/show")
    assert answer.status_code == 404
    assert answer.json() == DOC_LEAD_NOT_FOUND


# -- PUT /leads ----------------------------------------------------------------------------------


def test_update_answers_the_documented_example(sandbox: RunningSandbox) -> None:
    refs = create(sandbox, [lead(0), lead(1)])
    body = {
        "leads": [
            {"reference": refs[0], "status": "confirmed"},
            {
                "reference": refs[1],
                "status": "call_later",
                "action_date": "2025-02-01T14:00:00+01:00",
            },
        ]
    }
    answer = api(sandbox, "PUT", "/leads", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert_shape(DOC_UPDATE, result)
    assert [item["reference"] for item in result["data"]] == refs
    assert all(ULID.match(item["id"]) for item in result["data"])
    assert result["meta"] == DOC_UPDATE["meta"]
    only_status = api(sandbox, "PUT", "/leads", json={"leads": [body["leads"][0]]})
    assert only_status.json()["meta"] == {"updated_fields": ["status"]}


def test_update_validation_is_the_documented_422(sandbox: RunningSandbox) -> None:
    refs = create(sandbox, [lead(0), lead(1)])
    body = {
        "leads": [
            {"reference": refs[0], "status": "shipped"},
            {"reference": refs[1], "status": "cancelled"},
        ]
    }
    answer = api(sandbox, "PUT", "/leads", json=body)
    assert answer.status_code == 422
    assert answer.json() == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The given data was invalid.",
            "fields": DOC_UPDATE_422_FIELDS,
        }
    }
    assert {s["status"] for s in sandbox.sandbox.store.leads(sandbox.token)} == {"new"}


# -- DELETE /leads -------------------------------------------------------------------------------


def test_delete_answers_the_documented_example(sandbox: RunningSandbox) -> None:
    create(sandbox, [lead(0), lead(1), lead(2)])
    ids = [s["id"] for s in sandbox.sandbox.store.leads(sandbox.token)][:2]
    answer = api(sandbox, "DELETE", "/leads", json={"ids": ids})
    assert answer.status_code == 200
    assert answer.json() == DOC_DELETE
    assert len(sandbox.sandbox.store.leads(sandbox.token)) == 1


def test_delete_forbidden_is_the_documented_403(sandbox: RunningSandbox) -> None:
    (ref,) = create(sandbox, [lead(0)])
    api(sandbox, "PUT", "/leads", json={"leads": [{"reference": ref, "status": "confirmed"}]})
    ids = [s["id"] for s in sandbox.sandbox.store.leads(sandbox.token)]
    answer = api(sandbox, "DELETE", "/leads", json={"ids": ids})
    assert answer.status_code == 403
    assert answer.json() == DOC_FORBIDDEN


# -- GET /lead-statuses --------------------------------------------------------------------------


def test_statuses_are_exactly_the_documented_list(sandbox: RunningSandbox) -> None:
    answer = api(sandbox, "GET", "/lead-statuses")
    assert answer.status_code == 200
    assert answer.json() == {"data": [{"key": k, "label": v} for k, v in DOC_STATUSES], "meta": {}}


# -- error-handling.txt --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/leads"), ("POST", "/leads"), ("PUT", "/leads"), ("DELETE", "/leads"),
     ("GET", "/leads/ABCDEFGH/show"), ("GET", "/lead-statuses")],
)  # fmt: skip
def test_every_endpoint_needs_a_token(sandbox: RunningSandbox, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}):
        answer = requests.request(method, f"{sandbox.url}{path}", headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.json() == DOC_UNAUTHENTICATED


@pytest.mark.parametrize("path", ["/nope", "/leads/", "/leads/ABC", "/api/leads", "/docs"])
def test_unknown_routes_are_the_documented_404(sandbox: RunningSandbox, path: str) -> None:
    answer = api(sandbox, "GET", path)
    assert answer.status_code == 404
    assert answer.json() == DOC_NOT_FOUND


def test_wrong_method_is_a_405_envelope(sandbox: RunningSandbox) -> None:
    answer = api(sandbox, "PATCH", "/leads", json={})
    assert answer.status_code == 405
    assert answer.json() == {"error": {"code": "HTTP_ERROR", "message": "Method Not Allowed."}}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_malformed_json_is_a_400_envelope(sandbox: RunningSandbox, method: str) -> None:
    answer = api(
        sandbox, method, "/leads", data=b'{"data": [', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {"code": "HTTP_ERROR", "message": "The request body is not valid JSON."}
    }


def test_success_envelopes_always_carry_meta(sandbox: RunningSandbox) -> None:
    (ref,) = create(sandbox, [lead(0)])
    for path in ("/leads", f"/leads/{ref}/show", "/lead-statuses"):
        body = api(sandbox, "GET", path).json()
        assert set(body) == {"data", "meta"} and isinstance(body["meta"], dict)

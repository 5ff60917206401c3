"""Tests for importer.mapping: presets, header detection, mapping files and applying them."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.mapping import (
    FieldSource,
    Mapping,
    MappingError,
    apply_mapping,
    describe_mapping,
    detect_mapping,
    dump_mapping,
    load_mapping,
    normalize_header,
    preset_mapping,
)
from importer.model import CANONICAL_FIELDS, Severity
from importer.read import Table, read_table

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RESEARCH = Path("/work/shared/research/samples")


def make_table(columns: dict[str, list[str]], path: str = "orders.csv") -> Table:
    frame = pd.DataFrame(columns, dtype="str")
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="row")
    return Table(Path(path), frame, None, 1, "utf-8", ",")


def headers_table(*headers: str) -> Table:
    return make_table({h: ["x"] for h in headers})


# ---------------------------------------------------------------------------- presets


@pytest.mark.parametrize(
    ("sample", "preset"),
    [
        ("wedocod_native.csv", "wedocod"),
        ("orders_with_errors.csv", "wedocod"),
        ("shopify_orders.csv", "shopify"),
        ("woocommerce_orders.xlsx", "woocommerce"),
        ("commandes_fr.csv", None),
        ("orders_ar.csv", None),
        ("commandes_cod_form.csv", None),
    ],
)
def test_each_sample_is_detected(sample: str, preset: str | None) -> None:
    table = read_table(SAMPLES / sample)
    mapping = detect_mapping(table)
    assert mapping.preset == preset
    mapped = apply_mapping(table, mapping)
    for field in ("full_name", "phone", "city", "address", "quantity"):
        assert (mapped.frame[field] != "").any(), field
    assert list(mapped.frame.columns[: len(CANONICAL_FIELDS)]) == list(CANONICAL_FIELDS)
    # every source row is there, in order; a cell listing several products is several lines
    assert mapped.frame.index.unique().equals(table.frame.index)
    assert mapped.frame.index.is_monotonic_increasing
    assert (len(mapped.frame) > len(table.frame)) == bool(mapping.packed)


def test_shopify_sample_maps_lines_and_falls_back_on_continuation_rows() -> None:
    table = read_table(SAMPLES / "shopify_orders.csv")
    mapping = detect_mapping(table)
    assert mapping.price_is_unit
    assert mapping.fields["order_key"] == FieldSource(columns=("Name",))
    assert "area" not in mapping.fields
    frame = apply_mapping(table, mapping).frame
    first, second = frame.loc[2], frame.loc[3]
    assert first["order_key"] == second["order_key"] == "#1041"
    assert first["full_name"] == "Youssef El Amrani"
    assert second["full_name"] == ""  # lead-level values come from the order's first row
    assert second["phone"] == "+212612457893"  # Shopify repeats only `Phone` on later rows
    assert first["unit_price"] == "149.00" and first["total"] == ""
    assert dict(mapping.custom) == {
        "Name": "order", "Email": "email", "Created at": "order_date", "Total": "order_total"
    }  # fmt: skip


def test_woocommerce_sample_falls_back_to_billing_and_uses_unit_cost() -> None:
    table = read_table(SAMPLES / "woocommerce_orders.xlsx")
    mapping = detect_mapping(table)
    frame = apply_mapping(table, mapping).frame
    assert mapping.price_is_unit
    assert mapping.fields["full_name"].fallback == ("First Name (Billing)", "Last Name (Billing)")
    # order 2302 ships to nobody in particular: billing name and address fill in
    row = frame[frame["order_key"] == "2302"].iloc[0]
    assert row["full_name"] == "Zineb Idrissi"
    assert row["address"] == "Avenue des FAR, Imm 12"


@pytest.mark.parametrize(
    "name", ["shopify_cod_bd_REDACTED.csv", "shopify_multiline_ca_REDACTED.csv"]
)
def test_real_shopify_exports_are_detected(name: str) -> None:
    path = RESEARCH / name
    if not path.exists():
        pytest.skip(f"{path} is not available here")
    table = read_table(path)
    mapping = detect_mapping(table)
    assert mapping.preset == "shopify"
    frame = apply_mapping(table, mapping).frame
    assert (frame["order_key"] != "").all()
    assert (frame["quantity"] != "").all() and (frame["unit_price"] != "").all()
    # the order's amount and country are on each order's first row (blank on the others)
    first = ~frame["order_key"].duplicated()
    assert (frame["order_total"][first] != "").all() and (frame["country"][first] != "").all()
    assert mapping.price_is_unit and not mapping.notes  # nothing says otherwise on the rows


def test_older_shopify_header_without_trailing_columns_is_still_shopify() -> None:
    header = (SAMPLES / "shopify_orders.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    old = columns[: columns.index("Shipping Province Name") + 1]
    assert preset_mapping("shopify", headers_table(*old)).preset == "shopify"
    assert detect_mapping(headers_table(*old)).preset == "shopify"


def test_shopify_collects_the_outstanding_balance_else_the_total() -> None:
    header = (SAMPLES / "shopify_orders.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    mapping = preset_mapping("shopify", headers_table(*columns))
    assert mapping.fields["order_total"] == FieldSource(columns=("Outstanding Balance",))
    # the order's Total stays on the lead, where the amounts stage finds it
    assert ("Total", "order_total") in mapping.custom
    # the 66-column variant ends at Tax 5 Value: no Outstanding Balance, the Total is collected
    old = [c for c in columns[: columns.index("Tax 5 Value") + 1] if c != "Outstanding Balance"]
    mapping = preset_mapping("shopify", headers_table(*old))
    assert mapping.fields["order_total"] == FieldSource(columns=("Total",))
    described = dict(describe_mapping(mapping, headers_table(*old)))
    assert described["order_total"] == "Total" and described["data:order_total"] == "Total"


def test_woocommerce_snake_case_labels() -> None:
    table = headers_table(
        "order_id", "order_number", "status", "billing_first_name", "billing_last_name",
        "billing_phone", "billing_address_1", "billing_address_2", "billing_city",
        "shipping_first_name", "shipping_last_name", "shipping_address_1", "shipping_city",
        "item_name", "item_sku", "item_quantity", "item_price", "item_total", "order_total",
    )  # fmt: skip
    mapping = detect_mapping(table)
    assert mapping.preset == "woocommerce"
    assert mapping.fields["total"].columns == ("item_total",)
    assert "unit_price" not in mapping.fields and not mapping.price_is_unit
    assert mapping.fields["phone"].columns == ("billing_phone",)
    assert mapping.fields["full_name"] == FieldSource(
        columns=("shipping_first_name", "shipping_last_name"),
        fallback=("billing_first_name", "billing_last_name"),
    )


def test_youcan_preset_prefers_the_unit_price_over_the_order_total() -> None:
    table = headers_table(
        "ref", "first_name", "last_name", "phone", "city", "region", "first_line",
        "second_line", "variant", "sku", "quantity", "price", "total", "payment_status",
    )  # fmt: skip
    mapping = detect_mapping(table)
    assert mapping.preset == "youcan"
    assert mapping.price_is_unit and "total" not in mapping.fields
    assert mapping.fields["full_name"].columns == ("first_name", "last_name")
    assert mapping.fields["address"].columns == ("first_line", "second_line")
    assert ("region", "region") in mapping.custom and "area" not in mapping.fields


def test_wedocod_preset_sends_every_other_column_as_custom_data() -> None:
    table = read_table(SAMPLES / "wedocod_native.csv")
    mapping = preset_mapping("WedoCOD", table)
    assert mapping.custom == (("note", "note"), ("source", "source"))
    assert mapping.fields["order_key"].columns == ("order_id",)
    mapped = apply_mapping(table, mapping)
    assert mapped.frame.loc[2, "data:note"] == "Livrer après 18h"
    assert mapped.columns["data:source"] == "source"


def test_unknown_preset_and_preset_that_does_not_fit() -> None:
    with pytest.raises(MappingError, match="Did you mean 'shopify'"):
        preset_mapping("shopfy", headers_table("a"))
    table = read_table(SAMPLES / "commandes_fr.csv")
    with pytest.raises(MappingError) as err:
        preset_mapping("shopify", table)
    message = str(err.value)
    assert "preset shopify" in message and "full_name" in message and "'Nom complet'" in message


# ---------------------------------------------------------------------------- synonyms


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["NOM COMPLET", "Tél.", "ville", "Quartier ", "ADRESSE", "Référence", "Qté", "Montant"],
            {
                "full_name": "NOM COMPLET",
                "phone": "Tél.",
                "city": "ville",
                "area": "Quartier ",
                "address": "ADRESSE",
                "sku": "Référence",
                "quantity": "Qté",
                "total": "Montant",
            },
        ),
        (
            [
                "Nom du client",
                "GSM",
                "Ville",
                "Adresse",
                "Produit",
                "Quantite",
                "Prix total",
                "N° Commande",
            ],
            {
                "full_name": "Nom du client",
                "phone": "GSM",
                "product_name": "Produit",
                "quantity": "Quantite",
                "total": "Prix total",
                "order_key": "N° Commande",
            },
        ),
        (
            [
                "الاسم الكامل",
                "رقم الهاتف",
                "المدينة",
                "الحي",
                "العنوان",
                "المنتج",
                "الكمية",
                "المبلغ (درهم)",
                "رقم الطلب",
            ],
            {
                "full_name": "الاسم الكامل",
                "phone": "رقم الهاتف",
                "city": "المدينة",
                "area": "الحي",
                "address": "العنوان",
                "product_name": "المنتج",
                "quantity": "الكمية",
                "total": "المبلغ (درهم)",
                "order_key": "رقم الطلب",
            },
        ),
        (
            ["الإسم", "الهاتف", "المدينـــة", "العنوان", "المنتج", "السعر"],
            {"full_name": "الإسم", "phone": "الهاتف", "city": "المدينـــة", "unit_price": "السعر"},
        ),
        (
            ["Customer Name", "Phone Number", "City", "Address", "SKU", "Qty", "Total"],
            {
                "full_name": "Customer Name",
                "phone": "Phone Number",
                "sku": "SKU",
                "quantity": "Qty",
            },
        ),
        (
            ["Client", "Portable", "Ville", "Adresse", "Produit", "Prix"],
            {"full_name": "Client", "phone": "Portable", "unit_price": "Prix"},
        ),
    ],
)
def test_synonyms_in_french_arabic_and_english(
    headers: list[str], expected: dict[str, str]
) -> None:
    mapping = detect_mapping(headers_table(*headers))
    assert mapping.preset is None
    for field, header in expected.items():
        assert mapping.fields[field].columns == (header,), field


def test_first_and_last_name_columns_are_joined_and_the_second_phone_is_a_fallback() -> None:
    table = make_table(
        {
            "Prénom": ["Youssef", "Salma"],
            "Nom": ["El Amrani", ""],
            "Téléphone": ["", "0671122334"],
            "Téléphone 2": ["0612457893", "0600000001"],
            "Ville": ["Casablanca", "Agadir"],
            "Adresse": ["12 Rue Ibnou Mounir", "8 Rue Hassan II"],
            "Adresse 2": ["Apt 4", ""],
            "Produit": ["Argan Oil 100ml", "Babouche Cuir"],
            "Prix": ["149", "180"],
        }
    )
    mapping = detect_mapping(table)
    assert mapping.fields["full_name"].columns == ("Prénom", "Nom")
    frame = apply_mapping(table, mapping).frame
    assert frame["full_name"].tolist() == ["Youssef El Amrani", "Salma"]
    assert frame["phone"].tolist() == ["0612457893", "0671122334"]
    assert frame["address"].tolist() == ["12 Rue Ibnou Mounir Apt 4", "8 Rue Hassan II"]
    assert frame["quantity"].tolist() == ["1", "1"]
    assert dict(describe_mapping(mapping, table))["quantity"].startswith("'1' on every row")


#: Every character str.strip() removes, and look-alikes sharing their first or last bytes.
WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
NOT_WHITESPACE = ["€", "é", "\u200b", "\u2010", "\u3001", "\u1681", "\u00a1", "محمد", "x"]


@pytest.mark.parametrize("edge", ["start", "end"])
def test_values_are_stripped_of_every_whitespace_and_nothing_else(edge: str) -> None:
    # One padded cell among many clean ones: columns with nothing to strip are passed through
    # as they are, so the check that finds padding must never miss one.
    mapping = Mapping(None, {"city": FieldSource(columns=("Ville",))}, (("Note", "note"),))
    for space in WHITESPACE:
        padded = space + "Rabat" if edge == "start" else "Rabat" + space
        cities = ["Fès", "الرباط"] * 50 + [padded, *NOT_WHITESPACE]
        table = make_table({"Ville": cities, "Note": [padded] + [""] * (len(cities) - 1)})
        frame = apply_mapping(table, mapping).frame
        assert frame["city"].tolist() == [c.strip() for c in cities], repr(space)
        assert frame["city"].iloc[100] == "Rabat"
        assert frame["data:note"].iloc[0] == "Rabat"
    clean = make_table({"Ville": NOT_WHITESPACE, "Note": NOT_WHITESPACE})
    frame = apply_mapping(clean, mapping).frame
    assert frame["city"].tolist() == frame["data:note"].tolist() == NOT_WHITESPACE
    assert frame.index.equals(clean.frame.index)


def test_misspelt_and_decorated_headers_get_a_second_chance() -> None:
    mapping = detect_mapping(
        headers_table("Nom complet", "Telephonne", "Ville client", "Adress", "Produit", "Total")
    )
    assert mapping.fields["phone"].columns == ("Telephonne",)
    assert mapping.fields["city"].columns == ("Ville client",)
    assert mapping.fields["address"].columns == ("Adress",)


def test_unmatched_columns_become_custom_data_but_row_counters_do_not() -> None:
    table = headers_table(
        "#", "Nom complet", "Téléphone", "Ville", "Adresse", "Produit", "Total", "Remarque",
        "Source", "Unnamed: 9", "import_id",
    )  # fmt: skip
    mapping = detect_mapping(table)
    assert mapping.custom == (
        ("Remarque", "Remarque"),
        ("Source", "Source"),
        ("import_id", "source_import_id"),
    )


def test_missing_required_fields_name_the_headers_and_closest_candidates() -> None:
    table = headers_table("Nom complet", "Numéro client", "Cité", "Adresse", "Produit", "Prix TTC")
    with pytest.raises(MappingError) as err:
        detect_mapping(table)
    message = str(err.value)
    assert "orders.csv" in message
    assert "required field(s): phone, city, total" in message
    assert "Headers found: 'Nom complet', 'Numéro client', 'Cité'" in message
    assert "closest to phone: 'Numéro client'" in message
    assert "closest to city: 'Cité'" in message
    assert "closest to total or unit_price: 'Prix TTC'" in message
    assert "--mapping" in message


# ---------------------------------------------------------------------------- normaliser

_SPACING = st.sampled_from(["", " ", "  ", "_", "-", ".", ":", "(", ")", "/", "\t", "\u00a0"])
_WORD = st.text(alphabet=st.characters(categories=("Ll", "Lu", "Lo", "Nd")), min_size=1, max_size=8)


@given(st.text(max_size=40))
def test_normalize_header_is_idempotent_and_tidy(text: str) -> None:
    once = normalize_header(text)
    assert normalize_header(once) == once
    assert once == once.strip() and "  " not in once
    assert all(c.isalnum() or c == " " for c in once)


@given(st.lists(_WORD, min_size=1, max_size=4), st.lists(_SPACING, min_size=5, max_size=5))
def test_normalize_header_ignores_spacing_and_punctuation(
    words: list[str], seps: list[str]
) -> None:
    plain = " ".join(words)
    decorated = seps[0] + "".join(w + seps[i % 4 + 1] + " " for i, w in enumerate(words))
    assert normalize_header(decorated) == normalize_header(plain)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=30))
def test_normalize_header_ignores_case_and_accents(text: str) -> None:
    accented = unicodedata.normalize(
        "NFC", "".join(c + "\u0301" if c in "aeiou" else c for c in text)
    )
    assert normalize_header(accented.upper()) == normalize_header(text)


def test_normalize_header_examples() -> None:
    assert normalize_header("  Téléphone (GSM) ") == "telephone gsm"
    assert normalize_header("N° Commande") == "n commande"
    assert normalize_header("Quantity (- Refund)") == "quantity refund"
    assert normalize_header("المبلغ (درهم)") == "المبلغ درهم"
    # alef with hamza, taa marbuta, tatweel and short vowels are spelling variants
    assert normalize_header("الإجمالي") == normalize_header("الاجمالي")
    assert normalize_header("مدينة") == normalize_header("مدينه")
    assert normalize_header("المدينـــة") == normalize_header("المدينة")
    assert normalize_header("الكَمِّيَّة") == normalize_header("الكمية")


# ---------------------------------------------------------------------------- mapping files


@pytest.mark.parametrize(
    "sample",
    ["wedocod_native.csv", "shopify_orders.csv", "woocommerce_orders.xlsx", "commandes_fr.csv",
     "orders_ar.csv", "commandes_cod_form.csv"],
)  # fmt: skip
def test_dump_then_load_gives_the_same_mapping(sample: str, tmp_path: Path) -> None:
    table = read_table(SAMPLES / sample)
    mapping = detect_mapping(table)
    path = tmp_path / "mapping.toml"
    path.write_text(dump_mapping(mapping), encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))
    again = load_mapping(path, table)
    assert again.fields == mapping.fields
    assert again.custom == mapping.custom
    assert again.preset == mapping.preset
    assert again.price_is_unit == mapping.price_is_unit
    assert apply_mapping(table, again).frame.equals(apply_mapping(table, mapping).frame)


def test_mapping_file_in_the_documented_format(tmp_path: Path) -> None:
    table = make_table(
        {
            "Prénom": ["Omar", "Imane"],
            "Nom": ["Berrada", "Kettani"],
            "GSM": ["", "0709988776"],
            "Tel fixe": ["0522123456", "0522000000"],
            "Ville": ["Meknès", "Oujda"],
            "Adresse 1": ["17 Avenue Mohammed V", "Hay Al Qods"],
            "Adresse 2": ["", "Rue 5"],
            "Ref": ["SKU-002", "SKU-010"],
            "Qté": ["2", ""],
            "Prix unitaire": ["59", "99"],
            "N° commande": ["A1", "A2"],
            "Note": ["fragile", ""],
            "Source": ["fb", "ig"],
        }
    )
    path = tmp_path / "mapping.toml"
    path.write_text(
        """
[fields]
full_name = ["Prénom", "Nom"]          # joined with a space
phone = { columns = ["GSM"], fallback = ["Tel fixe"] }
city = "Ville"
address = { columns = ["Adresse 1", "Adresse 2"], joiner = ", " }
area = { constant = "Centre" }
sku = "Ref"
quantity = { column = "Qté", default = "1" }
unit_price = "Prix unitaire"
order_key = "N° commande"
[custom]
columns = { "Note" = "note", "Source" = "source" }
""",
        encoding="utf-8",
    )
    mapping = load_mapping(path, table)
    assert mapping.price_is_unit and mapping.preset is None
    mapped = apply_mapping(table, mapping)
    frame = mapped.frame
    assert frame["full_name"].tolist() == ["Omar Berrada", "Imane Kettani"]
    assert frame["phone"].tolist() == ["0522123456", "0709988776"]
    assert frame["address"].tolist() == ["17 Avenue Mohammed V", "Hay Al Qods, Rue 5"]
    assert frame["area"].tolist() == ["Centre", "Centre"]
    assert frame["quantity"].tolist() == ["2", "1"]
    assert frame["data:note"].tolist() == ["fragile", ""]
    assert mapped.columns["full_name"] == "Prénom + Nom"
    assert mapped.columns["phone"] == "GSM"
    assert "area" not in mapped.columns
    # and it survives a round trip
    path.write_text(dump_mapping(mapping), encoding="utf-8")
    assert load_mapping(path, table).fields == mapping.fields


def test_mapping_file_on_top_of_a_preset(tmp_path: Path) -> None:
    table = read_table(SAMPLES / "shopify_orders.csv")
    path = tmp_path / "mapping.toml"
    path.write_text(
        'preset = "shopify"\n[fields]\narea = "Shipping Province"\ntotal = "Subtotal"\n'
        "[custom]\ncolumns = ['Tags']\n",
        encoding="utf-8",
    )
    mapping = load_mapping(path, table)
    assert mapping.preset == "shopify"
    assert mapping.fields["area"].columns == ("Shipping Province",)
    assert mapping.fields["total"].columns == ("Subtotal",)
    assert "unit_price" not in mapping.fields and not mapping.price_is_unit
    assert mapping.fields["phone"].more_fallbacks == (("Phone",),)
    assert mapping.custom == (("Tags", "Tags"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fields]\nphone = 'Telephon'\n", "not in the file: 'Telephon' (closest: 'Téléphone'"),
        ("[fields]\nfull_nam = 'Nom'\n", "unknown field 'full_nam' (did you mean 'full_name'?)"),
        ("[fields]\ntotal = 'Prix'\nunit_price = 'Prix'\n", "either 'total'"),
        ("[fields]\nphone = { colums = ['GSM'] }\n", "unknown key(s) colums"),
        ("[fields]\nphone = 3\n", "expected a column"),
        ("[fieldz]\n", "unknown section(s) or key(s) fieldz"),
        ("[fields\n", "not a valid TOML file"),
        ("[custom]\ncolumns = ['Remarques']\n", "custom column 'Remarques' is not in the file"),
        ("[custom]\ncolumns = { 'Note' = 'import_id' }\n", "reserved"),
        ("preset = 'magento'\n", "unknown preset 'magento'"),
        ("[fields]\nphone = false\n", "required field(s): phone.\n"),
    ],
)  # fmt: skip
def test_mapping_file_errors_name_the_file_and_the_problem(
    text: str, expected: str, tmp_path: Path
) -> None:
    table = headers_table("Nom", "Téléphone", "Ville", "Adresse", "Produit", "Qté", "Prix", "Note")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_mapping(path, table)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_a_missing_mapping_file_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "nope.toml", headers_table("a"))


# ---------------------------------------------------------------------------- apply


def _mapping(**fields: FieldSource) -> Mapping:
    return Mapping(preset=None, fields=fields, custom=())


def test_apply_joins_non_empty_cells_only() -> None:
    table = make_table({"a": ["x", "", "x", "", " y "], "b": ["y", "y", "", "", "z"]})
    frame = apply_mapping(table, _mapping(address=FieldSource(columns=("a", "b")))).frame
    assert frame["address"].tolist() == ["x y", "y", "x", "", "y z"]


def test_apply_falls_back_row_by_row_and_then_to_the_constant() -> None:
    table = make_table(
        {"s1": ["a", "", "", "", ""], "s2": ["b", "", "", "", "q"],
         "b1": ["c", "d", "", "", "r"], "p": ["e", "f", "g", "", "s"]}
    )  # fmt: skip
    source = FieldSource(
        columns=("s1", "s2"), fallback=("b1",), more_fallbacks=(("p",),), constant="?"
    )
    frame = apply_mapping(table, _mapping(phone=source)).frame
    assert frame["phone"].tolist() == ["a b", "d", "g", "?", "q"]


def test_apply_fills_unmapped_fields_with_empty_text_and_keeps_the_row_numbers() -> None:
    table = make_table({"n": ["Omar"]})
    mapped = apply_mapping(
        table,
        Mapping(None, {"full_name": FieldSource(columns=("n",))}, (("n", "name copy"),)),
    )
    assert list(mapped.frame.columns) == [*CANONICAL_FIELDS, "data:name copy"]
    assert mapped.frame.loc[2, "city"] == ""
    assert mapped.frame.index.tolist() == [2]
    assert mapped.columns == {"full_name": "n", "data:name copy": "n"}


def test_apply_refuses_a_mapping_made_for_another_file() -> None:
    table = make_table({"Telephone": ["0612345678"]})
    with pytest.raises(MappingError, match="'Phone' \\(closest: 'Telephone'\\)"):
        apply_mapping(table, _mapping(phone=FieldSource(columns=("Phone",))))


def test_describe_lists_fields_custom_data_and_ignored_columns() -> None:
    table = read_table(SAMPLES / "shopify_orders.csv")
    described = dict(describe_mapping(detect_mapping(table), table))
    assert described["phone"] == "Shipping Phone, else Billing Phone, else Phone"
    assert described["total"] == "computed: unit_price x quantity"
    assert described["area"] == "not mapped (optional)"
    assert described["data:order"] == "Name"
    assert described["order_total"] == "Outstanding Balance"
    assert described["data:order_total"] == "Total"
    assert described["country"] == "Shipping Country, else Billing Country"
    # 79 columns: 23 read by fields, Email and Created at as custom data
    assert described["ignored"].startswith("54 column(s): Financial Status")


# ---------------------------------------------------------------------------- whole words


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (  # snake_case exports: the qualifier says whose, the rest says what
            ["billing_first_name", "billing_last_name", "billing_phone", "billing_city",
             "billing_address_1", "Products", "Product(s) qty", "Grand Total"],
            {"full_name": ("billing_first_name", "billing_last_name"), "phone": ("billing_phone",),
             "city": ("billing_city",), "address": ("billing_address_1",),
             "product_name": ("Products",), "order_total": ("Grand Total",)},
        ),
        (
            ["Customer", "Phone", "Province", "Address", "Product(s)", "Order Total"],
            {"full_name": ("Customer",), "city": ("Province",), "product_name": ("Product(s)",),
             "order_total": ("Order Total",), "total": ("Order Total",)},
        ),
        (  # ZR Express's Google Sheet (Algeria)
            ["Type de livraison", "Type de commande", "Nom du client", "Téléphone",
             "Téléphone 2", "Wilaya", "Commune / Bureau", "Adresse", "Description", "Produit",
             "Quantité", "Prix total", "Poids (kg)", "Numéro de suivi", "Prix à collecter"],
            {"full_name": ("Nom du client",), "phone": ("Téléphone",),
             "city": ("Commune / Bureau",), "product_name": ("Produit",),
             "quantity": ("Quantité",), "total": ("Prix total",),
             "order_total": ("Prix à collecter",)},
        ),
        (  # a COD landing page's Google Sheet: all products in one cell
            ["Date", "N° Commande", "Nom Client", "Téléphone", "Wilaya", "Adresse",
             "Type Livraison", "Produits", "Sous-total", "Frais Livraison", "Total", "Notes",
             "Statut"],
            {"order_key": ("N° Commande",), "full_name": ("Nom Client",), "city": ("Wilaya",),
             "product_name": ("Produits",), "total": ("Sous-total",),
             "shipping": ("Frais Livraison",), "order_total": ("Total",)},
        ),
        (
            ["رقم الطلب", "الاسم الكامل", "رقم الهاتف", "المدينة", "العنوان", "الباقة",
             "المبلغ (درهم)", "طريقة الدفع", "الحالة", "تاريخ الطلب"],
            {"order_key": ("رقم الطلب",), "phone": ("رقم الهاتف",), "product_name": ("الباقة",),
             "total": ("المبلغ (درهم)",)},
        ),
        (
            ["Nom du produit", "Nom", "Ville de livraison", "Téléphone client", "Adresse",
             "Pays", "Remise", "Prix livraison", "Montant"],
            {"product_name": ("Nom du produit",), "full_name": ("Nom",),
             "city": ("Ville de livraison",), "phone": ("Téléphone client",),
             "country": ("Pays",), "discount": ("Remise",), "shipping": ("Prix livraison",)},
        ),
    ],
)  # fmt: skip
def test_headers_are_read_word_for_word(
    headers: list[str], expected: dict[str, tuple[str, ...]]
) -> None:
    mapping = detect_mapping(headers_table(*headers))
    for name, columns in expected.items():
        assert mapping.fields[name].columns == columns, name


def test_shipping_columns_come_first_and_billing_ones_fill_in() -> None:
    mapping = detect_mapping(
        headers_table(
            "Order ID", "Billing City", "Shipping City", "Shipping Phone", "Billing Phone",
            "Customer name", "Shipping Address", "Item name", "Total",
        )
    )  # fmt: skip
    assert mapping.fields["city"] == FieldSource(
        columns=("Shipping City",), fallback=("Billing City",)
    )
    assert mapping.fields["phone"].columns == ("Shipping Phone",)
    assert mapping.fields["phone"].fallback == ("Billing Phone",)


def test_amounts_do_not_take_who_and_where_words() -> None:
    mapping = detect_mapping(
        headers_table("Nom", "Téléphone", "Ville", "Adresse", "Produit", "Prix", "Prix client")
    )
    assert mapping.fields["unit_price"].columns == ("Prix",)
    assert ("Prix client", "Prix client") in mapping.custom  # "client" qualifies no amount


def test_a_variant_column_makes_products_of_their_own() -> None:
    table = make_table(
        {
            "Nom": ["Ali Alaoui"] * 2,
            "Téléphone": ["0612345678"] * 2,
            "Ville": ["Rabat"] * 2,
            "Adresse": ["12 rue X, Agdal"] * 2,
            "Produit": ["Serum", "Serum"],
            "Variante": ["50ml", ""],
            "Total": ["100", "80"],
        }
    )
    mapping = detect_mapping(table)
    assert mapping.fields["product_name"] == FieldSource(
        columns=("Produit", "Variante"), joiner=" - "
    )
    assert apply_mapping(table, mapping).frame["product_name"].tolist() == ["Serum - 50ml", "Serum"]


def test_suggestions_come_from_real_similarity() -> None:
    table = headers_table("Nom complet", "Tags", "Ville", "Adresse", "Produit", "Total")
    with pytest.raises(MappingError) as err:
        detect_mapping(table)
    assert "closest to phone: none" in str(err.value)
    table = headers_table(
        "Nom complet", "Tel client mobile", "Ville", "Adresse", "Produit", "Total"
    )
    assert detect_mapping(table).fields["phone"].columns == ("Tel client mobile",)


def test_presets_read_the_order_amounts_and_the_country() -> None:
    shopify = detect_mapping(read_table(SAMPLES / "shopify_orders.csv"))
    assert shopify.fields["order_total"].columns == ("Outstanding Balance",)
    assert shopify.fields["shipping"].columns == ("Shipping",)
    assert shopify.fields["discount"].columns == ("Discount Amount",)
    assert shopify.fields["line_discount"].columns == ("Lineitem discount",)
    assert shopify.fields["country"] == FieldSource(
        columns=("Shipping Country",), fallback=("Billing Country",)
    )
    woo = headers_table(
        "Order Number", "Order Status", "Order Date", "First Name (Billing)",
        "Last Name (Billing)", "Address 1&2 (Billing)", "City (Billing)", "Phone (Billing)",
        "Country Code (Billing)", "SKU", "Item Name", "Quantity (- Refund)", "Item Cost",
        "Order Total Amount", "Order Shipping Amount", "Cart Discount Amount",
    )  # fmt: skip
    mapping = detect_mapping(woo)
    assert mapping.preset == "woocommerce"
    assert mapping.fields["order_total"].columns == ("Order Total Amount",)
    assert mapping.fields["shipping"].columns == ("Order Shipping Amount",)
    assert mapping.fields["discount"].columns == ("Cart Discount Amount",)
    assert mapping.fields["country"].columns == ("Country Code (Billing)",)


def test_at_most_99_columns_become_custom_data() -> None:
    from importer.mapping import MAX_CUSTOM_COLUMNS
    from schemas.leads import MAX_CUSTOM_ENTRIES

    assert MAX_CUSTOM_COLUMNS == MAX_CUSTOM_ENTRIES
    extra = [f"Taille {i}" for i in range(300)]
    headers = ("Nom", "Téléphone", "Ville", "Adresse", "SKU", "Total", *extra)
    mapping = detect_mapping(headers_table(*headers))
    assert [c for c, _ in mapping.custom] == extra[:MAX_CUSTOM_COLUMNS]
    assert any("300 columns match no field" in note for note in mapping.notes)


# ---------------------------------------------------------------------------- price or total


def price_table(prices: list[str], quantities: list[str], totals: list[str]) -> Table:
    n = len(prices)
    return make_table(
        {
            "Nom": ["Ali Alaoui"] * n,
            "Téléphone": ["0612345678"] * n,
            "Ville": ["Rabat"] * n,
            "Adresse": ["12 rue X, Agdal"] * n,
            "Produit": ["Serum"] * n,
            "Prix": prices,
            "Qté": quantities,
            "Montant à collecter": totals,
        }
    )


def test_a_price_equal_to_the_total_is_the_line_total() -> None:
    table = price_table(
        ["300", "150", "200", "99"], ["2", "3", "2", "1"], ["300", "150", "200", "99"]
    )
    mapping = detect_mapping(table)
    assert "unit_price" not in mapping.fields and not mapping.price_is_unit
    assert mapping.fields["total"].columns == ("Prix",)
    assert any("'Prix' is read as each line's total" in n and "3 of 3" in n for n in mapping.notes)
    said = dict(describe_mapping(mapping, table))
    assert "each line's total" in said["note"]


def test_a_price_times_quantity_equal_to_the_total_is_a_unit_price() -> None:
    table = price_table(["150", "50", "100"], ["2", "3", "2"], ["300", "150", "200"])
    mapping = detect_mapping(table)
    assert mapping.price_is_unit and mapping.fields["unit_price"].columns == ("Prix",)
    assert any("read as a unit price" in n for n in mapping.notes)


def test_too_few_rows_say_nothing_and_the_price_stays_a_unit_price() -> None:
    # one line of two items whose price is the total: a "buy one, get one free" looks so
    mapping = detect_mapping(price_table(["300", "99"], ["2", "1"], ["300", "99"]))
    assert mapping.price_is_unit and not mapping.notes


# ---------------------------------------------------------------------------- mapping files on top


def test_a_mapping_file_naming_only_the_missing_field_is_enough(tmp_path: Path) -> None:
    table = headers_table("Nom complet", "Contact client", "Ville", "Adresse", "Produit", "Somme")
    with pytest.raises(MappingError):
        detect_mapping(table)
    path = tmp_path / "m.toml"
    path.write_text('[fields]\ntotal = "Somme"\n', encoding="utf-8")
    mapping = load_mapping(path, table)
    assert mapping.fields["total"].columns == ("Somme",)
    assert mapping.fields["full_name"].columns == ("Nom complet",)  # from detection
    assert mapping.fields["phone"].columns == ("Contact client",)
    assert "Somme" not in dict(mapping.custom)


def test_a_mapping_file_overrides_detection_field_by_field(tmp_path: Path) -> None:
    table = headers_table(
        "Nom", "Téléphone", "GSM", "Ville", "Quartier", "Adresse", "Produit", "Total", "Note"
    )
    path = tmp_path / "m.toml"
    path.write_text('[fields]\nphone = "GSM"\narea = false\ncity = "Quartier"\n', encoding="utf-8")
    mapping = load_mapping(path, table)
    assert mapping.fields["phone"] == FieldSource(columns=("GSM",))
    assert mapping.fields["city"].columns == ("Quartier",)
    assert "area" not in mapping.fields
    # the columns detection had used and the file moved away become custom data again? no:
    # only what no field reads is custom data, as detection chose it
    assert dict(mapping.custom) == {"Note": "Note"}


def test_map_write_of_a_failed_detection_marks_what_to_fill_in(tmp_path: Path) -> None:
    table = headers_table("Nom complet", "Ville", "Adresse", "Article", "Prix TTC", "Contact")
    partial = detect_mapping(table, partial=True)
    assert partial.missing == ("total",)
    written = dump_mapping(partial, table)
    assert 'total = ""  # TO FILL IN' in written and "closest: 'Prix TTC'" in written
    path = tmp_path / "m.toml"
    path.write_text(written, encoding="utf-8")
    with pytest.raises(MappingError, match="field 'total': no column named yet"):
        load_mapping(path, table)
    path.write_text(written.replace('total = ""', 'total = "Prix TTC"'), encoding="utf-8")
    mapping = load_mapping(path, table)
    assert mapping.fields["total"].columns == ("Prix TTC",) and not mapping.missing
    assert "Prix TTC" not in dict(mapping.custom)
    assert mapping.fields["product_name"].columns == ("Article",)


# ---------------------------------------------------------------------------- packed products


def packed_table() -> Table:
    return make_table(
        {
            "N° Commande": ["C-1", "C-2", "", ""],
            "Nom Client": ["Youssef El Amrani", "Salma Chraibi", "Omar Berrada", "Omar Berrada"],
            "Téléphone": ["0612457893", "0671122334", "0698765412", "0698765412"],
            "Wilaya": ["Casablanca", "Agadir", "Meknès", "Meknès"],
            "Adresse": ["12 Rue Ibnou Mounir", "8 Rue Hassan II", "17 Av. Mohammed V"] * 1
            + ["17 Av. Mohammed V"],
            "Produits": [
                "Argan Oil 100ml x2, Black Soap Beldi 250g x1",
                "Face Cream Snail x1",
                "2x Smart Watch X8 + LED Strip 5m",
                "2x Smart Watch X8 + LED Strip 5m",
            ],
            "Sous-total": ["357", "199", "650", "650"],
            "Frais Livraison": ["30", "30", "0", "0"],
            "Total": ["387", "229", "650", "650"],
        }
    )


def test_a_cell_listing_products_becomes_one_line_per_product() -> None:
    table = packed_table()
    mapping = detect_mapping(table)
    assert mapping.packed == ("Produits",)
    mapped = apply_mapping(table, mapping)
    frame = mapped.frame
    assert frame.index.tolist() == [2, 2, 3, 4, 4, 5, 5]  # each line keeps its source row
    assert frame["product_name"].tolist() == [
        "Argan Oil 100ml", "Black Soap Beldi 250g", "Face Cream Snail", "Smart Watch X8",
        "LED Strip 5m", "Smart Watch X8", "LED Strip 5m",
    ]  # fmt: skip
    assert frame["quantity"].tolist() == ["2", "1", "1", "2", "1", "2", "1"]
    # the row's total is shared by quantity, and still adds up to it
    assert frame["total"].tolist() == ["238.00", "119.00", "199", "433.33", "216.67"] * 1 + [
        "433.33",
        "216.67",
    ]
    assert frame["shipping"].tolist()[:2] == ["30", "30"]
    shared = [i for i in mapped.issues if i.code == "shared_total"]
    assert [i.row for i in shared] == [2, 4, 5]
    assert "238 + 119" in shared[0].message and shared[0].severity is Severity.WARNING
    # rows without an order number whose cell lists several products are one order each,
    # with a key from their content: the same in every run, and identical rows kept apart
    keys = frame["order_key"].tolist()
    assert keys[:3] == ["C-1", "C-1", "C-2"]
    assert keys[3] == keys[4] and keys[5] == keys[6] and keys[3] != keys[5]
    assert keys[5] == keys[3] + "#2"
    assert apply_mapping(table, mapping).frame["order_key"].tolist() == keys
    assert mapped.columns["product_name"] == "Produits"
    assert mapped.notes and "'Produits' lists several products" in mapped.notes[0]


def test_a_product_name_with_a_separator_stays_whole() -> None:
    from importer.mapping import _list_items

    items = _list_items("Crème, hydratante x2, Savon x1")
    assert [(i.name, i.quantity) for i in items] == [("Crème, hydratante", "2"), ("Savon", "1")]
    assert [(i.name, i.quantity) for i in _list_items("Relax2 x3")] == [("Relax2", "3")]


def test_a_single_mark_that_disagrees_with_the_quantity_column_is_part_of_the_name() -> None:
    table = make_table(
        {
            "Produit": ["Couches x12", "Serum x2, Creme x1", "Serum x2"],
            "Qté": ["3", "3", "2"],
            "Total": ["90", "300", "200"],
        }
    )
    mapping = Mapping(
        None,
        {
            "product_name": FieldSource(columns=("Produit",)),
            "quantity": FieldSource(columns=("Qté",)),
            "total": FieldSource(columns=("Total",)),
        },
        (),
        packed=("Produit",),
    )
    frame = apply_mapping(table, mapping).frame
    assert frame["product_name"].tolist() == ["Couches x12", "Serum", "Creme", "Serum"]
    assert frame["quantity"].tolist() == ["3", "2", "1", "2"]


def test_woocommerce_line_item_cells() -> None:
    table = make_table(
        {
            "order_number": ["1001", "1002"],
            "billing_first_name": ["Youssef", "Salma"],
            "billing_last_name": ["El Amrani", "Chraibi"],
            "billing_phone": ["0612457893", "0671122334"],
            "billing_city": ["Casablanca", "Agadir"],
            "billing_address_1": ["12 Rue Ibnou Mounir", "8 Rue Hassan II"],
            "order_total": ["357.00", "199.00"],
            "line_item_1": [
                "name:Argan Oil 100ml|product_id:31|sku:SKU-001|quantity:2|total:298.00",
                "name:Face Cream Snail|product_id:36|sku:|quantity:1|total:199.00",
            ],
            "line_item_2": ["name:Black Soap Beldi 250g|sku:SKU-002|quantity:1|total:59.00", ""],
        }
    )
    mapping = detect_mapping(table)
    assert mapping.packed == ("line_item_1", "line_item_2")
    assert not {"line_item_1", "line_item_2"} & {c for c, _ in mapping.custom}
    mapped = apply_mapping(table, mapping)
    frame = mapped.frame
    assert frame.index.tolist() == [2, 2, 3]
    assert frame["sku"].tolist() == ["SKU-001", "SKU-002", ""]
    assert frame["product_name"].tolist() == [
        "Argan Oil 100ml", "Black Soap Beldi 250g", "Face Cream Snail",
    ]  # fmt: skip
    assert frame["quantity"].tolist() == ["2", "1", "1"]
    assert frame["total"].tolist() == ["298.00", "59.00", "199.00"]
    assert frame["order_key"].tolist() == ["1001", "1001", "1002"]
    assert mapped.columns["sku"] == "line_item_1 + line_item_2"
    assert not mapped.issues


def test_skyverge_line_items_in_one_cell() -> None:
    from importer.mapping import _parse_cell

    items = _parse_cell(
        "id:1|name:Serum; 50ml|product_id:4|sku:S-1|quantity:2|subtotal:200.00;"
        "id:2|name:Creme|sku:|quantity:1|total:90"
    )
    assert [(i.name, i.sku, i.quantity, i.total) for i in items] == [
        ("Serum; 50ml", "S-1", "2", "200.00"),
        ("Creme", "", "1", "90"),
    ]


def test_packed_columns_round_trip_and_can_be_turned_off(tmp_path: Path) -> None:
    table = packed_table()
    mapping = detect_mapping(table)
    path = tmp_path / "m.toml"
    path.write_text(dump_mapping(mapping), encoding="utf-8")
    assert 'packed = ["Produits"]' in path.read_text(encoding="utf-8")
    assert load_mapping(path, table).packed == ("Produits",)
    path.write_text("packed = false\n", encoding="utf-8")
    off = load_mapping(path, table)
    assert off.packed == ()
    assert apply_mapping(table, off).frame.index.tolist() == [2, 3, 4, 5]


def test_rows_under_one_merged_customer_cell_are_one_order() -> None:
    table = make_table(
        {
            "Nom": ["Ali Alaoui", "Ali Alaoui", "Bo Bennani"],
            "Téléphone": ["0612345678", "0612345678", "0698765432"],
            "Ville": ["Rabat", "Rabat", "Fès"],
            "Adresse": ["12 rue X, Agdal"] * 3,
            "Produit": ["Serum", "Creme", "Savon"],
            "Total": ["100", "50", "30"],
        }
    )
    table = replace(table, merged=(("Nom", (2, 3)), ("Téléphone", (2, 3))))
    mapped = apply_mapping(table, detect_mapping(table))
    keys = mapped.frame["order_key"].tolist()
    assert keys[0] == keys[1] != "" and keys[2] == ""
    assert mapped.notes and "merged 'Nom' cell" in mapped.notes[0]

"""Tests for importer.mapping: presets, header detection, mapping files and applying them."""

from __future__ import annotations

import tomllib
import unicodedata
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
from importer.model import CANONICAL_FIELDS
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
    assert mapped.frame.index.equals(table.frame.index)


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
    assert dict(mapping.custom) == {"Name": "order", "Email": "email", "Created at": "order_date"}


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


def test_older_shopify_header_without_trailing_columns_is_still_shopify() -> None:
    header = (SAMPLES / "shopify_orders.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    old = columns[: columns.index("Shipping Province Name") + 1]
    assert preset_mapping("shopify", headers_table(*old)).preset == "shopify"
    assert detect_mapping(headers_table(*old)).preset == "shopify"


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
     "orders_ar.csv"],
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
    assert described["order_total"] == "Total"
    assert described["country"] == "Shipping Country, else Billing Country"
    # 79 columns: 22 read by fields, Email and Created at as custom data
    assert described["ignored"].startswith("55 column(s): Financial Status")

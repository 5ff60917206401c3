"""Turn mapped text into what the API wants: phones, money, quantities and tidy text."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from importer.model import CUSTOM_PREFIX, Issue

__all__ = [
    "NormalizeOptions",
    "PhoneFormat",
    "clean_custom_column",
    "clean_text_column",
    "normalize_lines",
    "normalize_phone_column",
    "parse_money_column",
    "parse_quantity_column",
]

PhoneFormat = Literal["national", "e164", "raw"]

SPACE = pa.scalar(" ", pa.large_string())
EMPTY = pa.scalar("", pa.large_string())
TEXT_FIELDS = ("order_key", "full_name", "city", "area", "address", "sku", "product_name")
MONEY_FIELDS = ("total", "unit_price")
ISSUE_ORDER = {"invalid_phone": 0, "invalid_quantity": 1, "invalid_number": 2}

#: Arabic-Indic (U+0660..) and Persian (U+06F0..) digits, plus the Arabic decimal and
#: thousands signs, as ASCII.
EASTERN_DIGITS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬",
    "01234567890123456789.,",
)
HAS_EASTERN_DIGIT = r"[\x{0660}-\x{066C}\x{06F0}-\x{06F9}]"
#: Spaces people and spreadsheets put in values: NBSP, narrow NBSP, thin and figure spaces.
SPACES = r"\s\x{00A0}\x{202F}\x{2009}\x{2007}\x{3000}"
#: Invisible characters: zero-width space/joiner/non-joiner, word joiner, BOM, bidi marks.
INVISIBLE = r"[\x{200B}-\x{200F}\x{2060}\x{FEFF}\x{061C}\x{202A}-\x{202E}\x{2066}-\x{2069}]"


class _MappedLike(Protocol):
    """The shape of ``importer.mapping.MappedTable`` this stage relies on."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def frame(self) -> pd.DataFrame: ...

    @property
    def columns(self) -> dict[str, str]: ...


MappedT = TypeVar("MappedT", bound=_MappedLike)


@dataclass(frozen=True)
class NormalizeOptions:
    """How to write phones: ``national`` (0612345678), ``e164`` (+212612345678) or ``raw``."""

    phone_format: PhoneFormat = "national"
    region: str = "MA"


def normalize_lines(mapped: MappedT, options: NormalizeOptions) -> tuple[MappedT, list[Issue]]:
    """Normalise every canonical column; return the new table and one issue per bad cell.

    A bad cell is emptied ("" for text, NA for numbers) so that validation does not report
    it again as missing. ``total`` is filled from ``unit_price`` x ``quantity`` where the
    total is empty and a unit price is given, rounded to 2 decimals.
    """
    frame = mapped.frame.copy()
    issues: list[Issue] = []

    def where(field: str) -> str:
        return mapped.columns.get(field, field)

    def clean_phones(values: pd.Series) -> tuple[pd.Series, pd.Series]:
        return normalize_phone_column(values, options.phone_format, options.region)

    # Every column is cleaned on its own, and mostly inside Arrow's kernels, which let go of
    # the GIL: the columns are cleaned side by side, on as many cores as there are.
    texts = {f: clean_text_column for f in TEXT_FIELDS if f in frame.columns}
    texts.update(
        (c, clean_custom_column)
        for c in frame.columns
        if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)
    )
    checked: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {}
    if "phone" in frame.columns:
        checked["phone"] = clean_phones
    if "quantity" in frame.columns:
        checked["quantity"] = parse_quantity_column
    checked.update((f, parse_money_column) for f in MONEY_FIELDS if f in frame.columns)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        cleaned = {c: pool.submit(clean, frame[c]) for c, clean in texts.items()}
        parsed = {c: pool.submit(parse, frame[c]) for c, parse in checked.items()}
        for column, text in cleaned.items():
            frame[column] = text.result()
        results = {column: future.result() for column, future in parsed.items()}

    problems: dict[str, tuple[str, Callable[[str], str]]] = {
        "phone": ("invalid_phone", lambda v: _phone_problem(v, options)),
        "quantity": ("invalid_quantity", lambda v: f"'{v}' is not a whole number of items"),
    }
    money = (
        "invalid_number",
        lambda v: f"'{v}' is not an amount of money (write it like 1299.50 or 1 299,50)",
    )
    for column, (values, bad) in results.items():
        code, describe = problems.get(column, money)
        issues += _issues(frame[column], bad, where(column), code, describe)
        frame[column] = values

    if "unit_price" in frame.columns and "quantity" in frame.columns:
        computed = (frame["unit_price"] * frame["quantity"].astype("Float64")).round(2)
        if "total" in frame.columns:
            frame["total"] = frame["total"].fillna(computed)
        else:
            frame["total"] = computed

    # Issues in reading order: by row, then in the order of the canonical columns.
    issues.sort(key=lambda i: (i.row if i.row is not None else -1, ISSUE_ORDER.get(i.code, 9)))
    return dataclasses.replace(mapped, frame=frame), issues


def _issues(
    original: pd.Series,
    bad: pd.Series,
    column: str,
    code: str,
    message: Callable[[str], str],
) -> list[Issue]:
    """One issue per bad cell; the loop runs over bad cells only."""
    if not bad.any():
        return []
    mask = bad.to_numpy(dtype=bool)
    rows: list[Any] = original.index[mask].tolist()
    values = original[mask].tolist()
    return [
        Issue(int(row), column, code, message(str(value)))
        for row, value in zip(rows, values, strict=True)
    ]


# --- text ----------------------------------------------------------------------------------


def _as_text(values: pd.Series) -> pd.Series:
    """The column as pandas' text dtype with "" for missing."""
    return values.astype("str").fillna("")


def _per_distinct(
    values: pd.Series, parse: Callable[[pd.Series], tuple[pd.Series, pd.Series]]
) -> tuple[pd.Series, pd.Series]:
    """Run ``parse`` once per distinct value and spread the results back over the rows.

    Exports repeat themselves (cities, prices, quantities, the phone of every line of an
    order), so this divides the work by several times at the cost of one dictionary encode.
    """
    encoded = pc.dictionary_encode(_arrow(values))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    distinct = _from_arrow(encoded.dictionary, pd.RangeIndex(len(encoded.dictionary)))
    result, bad = parse(distinct)
    spread = result.take(codes)
    spread.index = values.index
    flags = pd.Series(bad.to_numpy(dtype=bool)[codes], index=values.index, dtype=bool)
    return spread, flags


def _eastern_to_ascii(text: pd.Series) -> pd.Series:
    """Arabic-Indic digits to ASCII, touching only the cells that have some (it is slow)."""
    has = text.str.contains(HAS_EASTERN_DIGIT, regex=True)
    if not has.any():
        return text
    text = text.copy()
    text[has] = [v.translate(EASTERN_DIGITS) for v in text[has].tolist()]
    return text


def _arrow(text: pd.Series) -> pa.Array:
    """The column as one arrow array of large strings, "" for missing (zero-copy mostly)."""
    array = pa.array(text.astype("str").array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.fill_null(array.cast(pa.large_string()), "")


def _from_arrow(array: pa.Array, index: pd.Index) -> pd.Series:
    series: pd.Series = array.to_pandas().astype("str")
    series.index = index
    return series


def _on_some(array: pa.Array, mask: pa.Array, change: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply ``change`` to the masked values only: most cells are plain ASCII and need none."""
    if not pc.any(mask).as_py():
        return array
    return pc.replace_with_mask(array, mask, change(pc.filter(array, mask)))


def _unicode_fixes(array: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_normalize(array, "NFC"), INVISIBLE, "")


def _collapse_spaces(array: pa.Array) -> pa.Array:
    # Splitting on whitespace knows every Unicode space (NBSP, narrow NBSP, newlines).
    return pc.binary_join(pc.utf8_split_whitespace(array), SPACE)


def _tidy_text(distinct: pd.Series) -> tuple[pd.Series, pd.Series]:
    array = _arrow(distinct)
    non_ascii = pc.invert(pc.string_is_ascii(array))
    array = _on_some(array, non_ascii, _unicode_fixes)
    spaced = pc.or_(non_ascii, pc.match_substring_regex(array, r"[\t\n\r\f\v]|  "))
    array = pc.utf8_trim_whitespace(_on_some(array, spaced, _collapse_spaces))
    return _from_arrow(array, distinct.index), pd.Series(False, index=distinct.index)


def _tidy_custom(distinct: pd.Series) -> tuple[pd.Series, pd.Series]:
    array = _arrow(distinct)
    array = _on_some(array, pc.invert(pc.string_is_ascii(array)), _unicode_fixes)
    array = pc.replace_substring(array, "\r\n", "\n")
    array = pc.replace_substring_regex(array, r"[ \t\x{00A0}\x{202F}]+\n", "\n")
    array = pc.utf8_trim_whitespace(array)
    return _from_arrow(array, distinct.index), pd.Series(False, index=distinct.index)


#: How many cells tell a column whose values repeat from one whose values hardly do.
CARDINALITY_SAMPLE = 10_000
#: ASCII characters that Unicode (and so utf8_trim_whitespace) counts as whitespace.
EDGE_SPACE = r"[\t-\r\x1c-\x20]"


def _tidy_where_needed(
    values: pd.Series,
    needs: Callable[[pa.Array], pa.Array],
    tidy: Callable[[pd.Series], tuple[pd.Series, pd.Series]],
) -> pd.Series:
    """Run ``tidy`` per distinct value on the cells ``needs`` flags; the rest are tidy already.

    In a column whose values hardly repeat (order ids), most cells are plain ASCII with
    nothing to trim: one vectorised check costs less than dictionary-encoding the column.
    """
    array = _arrow(values)
    sample = array.slice(0, CARDINALITY_SAMPLE)
    if pc.count_distinct(sample).as_py() * 2 <= len(sample):
        # Values repeat (cities, SKUs): tidying each distinct value once is cheapest.
        return _per_distinct(values, tidy)[0]
    mask = needs(array)
    count = pc.sum(mask).as_py() or 0
    if count == 0:
        return _from_arrow(array, values.index)
    if count == len(array):
        return _per_distinct(values, tidy)[0]
    flags = mask.to_numpy(zero_copy_only=False)
    tidied = _per_distinct(values[flags], tidy)[0]
    return _from_arrow(pc.replace_with_mask(array, mask, _arrow(tidied)), values.index)


def _text_needs_tidying(array: pa.Array) -> pa.Array:
    # What _tidy_text changes: non-ASCII, runs of spaces, control spaces, spaces at the ends.
    touched = pc.match_substring_regex(array, rf"[\t\n\r\f\v]|  |^{EDGE_SPACE}|{EDGE_SPACE}$")
    return pc.or_(pc.invert(pc.string_is_ascii(array)), touched)


def _custom_needs_tidying(array: pa.Array) -> pa.Array:
    # What _tidy_custom changes: non-ASCII, line breaks (and spaces before them), the ends.
    touched = pc.match_substring_regex(array, rf"\n|^{EDGE_SPACE}|{EDGE_SPACE}$")
    return pc.or_(pc.invert(pc.string_is_ascii(array)), touched)


def clean_text_column(values: pd.Series) -> pd.Series:
    """Trim, collapse inner whitespace (newlines, NBSP) to one space, NFC, drop invisibles."""
    return _tidy_where_needed(values, _text_needs_tidying, _tidy_text)


def clean_custom_column(values: pd.Series) -> pd.Series:
    """Custom data keeps its line breaks (Shopify's Note Attributes are one fact a line)."""
    return _tidy_where_needed(values, _custom_needs_tidying, _tidy_custom)


# --- phones --------------------------------------------------------------------------------


def _ma_number_pattern() -> str:
    """Every assigned Moroccan number range, from libphonenumber's own metadata."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region("MA")
    kinds = ("fixed_line", "mobile", "voip", "toll_free", "premium_rate", "uan", "pager")
    parts = [
        f"(?:{getattr(meta, k).national_number_pattern})"
        for k in kinds
        if getattr(meta, k) is not None and getattr(meta, k).national_number_pattern
    ]
    return "|".join(parts)


MA_NUMBER = _ma_number_pattern()
#: What spreadsheets wrap around a phone: ="…" formulas, a leading apostrophe, "tel:".
WRAPPERS = [
    (r'^="(.*)"$', r"\1"),
    (r"^[\x{0027}\x{2018}\x{2019}`]+", ""),
    (r"^(?i:tel:?|t[ée]l[ée]phone:?|phone:?)\s*", ""),
    (r"^(\+?\d+)\.0+$", r"\1"),  # a number that went through a float: 612345678.0
]
#: Cells that need one of WRAPPERS (checked first: one pass instead of four).
WRAPPED = r"^(?:=|[\x{0027}\x{2018}\x{2019}`]|(?i:t[ée]l|phone))|\.0+$"
#: A common Moroccan shape once separators are gone; group 1 is the 9-digit national number.
MA_SHAPE = r"^(?:(?:\+|00)2120?|2120?|0)?(?P<national>[5-8]\d{8})$"
DIGITS_ONLY = r"^\+?[0-9]*$"
SEPARATORS = rf"[{SPACES}\-.()\x{{2010}}-\x{{2015}}]"
SCIENTIFIC = re.compile(r"^\d+(?:[.,]\d+)?[eE][+-]?\d+$")
MULTI_SEPARATORS = re.compile(r"[/|,;&]|\s-\s|\s{2,}")
LETTERS = re.compile(r"\([^)]*\)|[^\W\d_]+")


def _strip_spreadsheet_junk(values: pd.Series) -> pa.Array:
    array = _arrow(_eastern_to_ascii(_as_text(values)))
    array = _on_some(array, pc.invert(pc.string_is_ascii(array)), _unicode_fixes)
    array = pc.utf8_trim_whitespace(array)
    wrapped = pc.match_substring_regex(array, WRAPPED)
    return _on_some(array, wrapped, _unwrap)


def _unwrap(array: pa.Array) -> pa.Array:
    for pattern, replacement in WRAPPERS:
        array = pc.replace_substring_regex(array, pattern, replacement)
    return pc.utf8_trim_whitespace(array)


def normalize_phone_column(
    values: pd.Series, fmt: PhoneFormat = "national", region: str = "MA"
) -> tuple[pd.Series, pd.Series]:
    """Normalise phones; return (text, mask of non-empty values that are not phones).

    ``national`` writes Moroccan numbers as 10 digits (0612345678) and foreign numbers in
    E.164 (+33612345678): a foreign number's national form (06 12 34 56 78 for France) would be
    dialled as a Moroccan one. ``e164`` writes +212612345678; ``raw`` only strips spreadsheet
    junk and reports nothing. A 9-digit number starting 5-8 has lost its leading 0 (Excel) and
    gets it back. In a cell holding several numbers, the first valid one is kept.
    Common Moroccan shapes are handled on the whole column at once; only the other distinct
    values go through libphonenumber, once each.
    """
    if fmt == "raw" or region.upper() != "MA":
        return _per_distinct(values, lambda distinct: _normalize_phones(distinct, fmt, region))
    # Plain ASCII cells in a Moroccan shape (nearly all of them) are settled on the whole
    # column: no dictionary encoding for values that hardly repeat. This is the same
    # computation _normalize_phones makes for such cells, minus the steps that cannot
    # change them (Eastern digits, Unicode fixes, unwrapping).
    array = _arrow(values)
    trimmed = pc.utf8_trim_whitespace(array)
    # Only cells with something besides digits can be wrapped or hold separators.
    other = pc.invert(pc.match_substring_regex(trimmed, DIGITS_ONLY))
    wrapped = pa.array(np.zeros(len(trimmed), dtype=bool))
    if pc.any(other).as_py():
        some = pc.match_substring_regex(pc.filter(trimmed, other), WRAPPED)
        wrapped = pc.replace_with_mask(wrapped, other, some)
    simple = pc.and_(pc.string_is_ascii(array), pc.invert(wrapped))
    compact = _compact(trimmed, other)
    shaped = pc.and_(simple, pc.match_substring_regex(compact, MA_SHAPE))
    # MA_SHAPE ends with the 9-digit national number: the last 9 characters.
    national = pc.utf8_slice_codeunits(compact, -9)
    valid = pc.and_(shaped, pc.match_substring_regex(national, f"^(?:{MA_NUMBER})$"))
    result = pc.if_else(valid, _with_prefix(national, fmt), EMPTY)
    bad = pc.and_(shaped, pc.invert(valid)).to_numpy(zero_copy_only=False)
    rest = pc.invert(pc.or_(shaped, pc.and_(simple, pc.equal(trimmed, EMPTY))))
    if pc.any(rest).as_py():
        flags = rest.to_numpy(zero_copy_only=False)
        phones, wrong = _per_distinct(
            values[flags], lambda distinct: _normalize_phones(distinct, fmt, region)
        )
        result = pc.replace_with_mask(result, rest, _arrow(phones))
        bad[flags] = wrong.to_numpy(dtype=bool)
    return _from_arrow(result, values.index), pd.Series(bad, index=values.index, dtype=bool)


def _compact(stripped: pa.Array, other: pa.Array | None = None) -> pa.Array:
    """Phones without separators (spaces, dashes, dots, brackets).

    ``other`` flags the cells that are not only digits, when the caller knows them already.
    """
    if other is None:
        other = pc.invert(pc.match_substring_regex(stripped, DIGITS_ONLY))
    return _on_some(stripped, other, lambda some: pc.replace_substring_regex(some, SEPARATORS, ""))


def _with_prefix(national: pa.Array, fmt: PhoneFormat) -> pa.Array:
    prefix = "0" if fmt == "national" else "+212"
    return pc.binary_join_element_wise(
        pa.scalar(prefix, pa.large_string()), pc.fill_null(national, ""), EMPTY
    )


def _normalize_phones(
    values: pd.Series, fmt: PhoneFormat, region: str
) -> tuple[pd.Series, pd.Series]:
    stripped = _strip_spreadsheet_junk(values)
    text = _from_arrow(stripped, values.index)
    empty = text == ""
    if fmt == "raw":
        return text, pd.Series(False, index=values.index, dtype=bool)
    result = pd.Series("", index=values.index, dtype="str")
    done = empty.copy()
    if region.upper() == "MA":
        compact = _compact(stripped)
        national = pc.struct_field(pc.extract_regex(compact, MA_SHAPE), [0])
        shaped = pc.is_valid(national)
        fast = pc.and_(shaped, pc.match_substring_regex(national, f"^(?:{MA_NUMBER})$"))
        fast = pc.fill_null(fast, False)
        result = _from_arrow(pc.if_else(fast, _with_prefix(national, fmt), ""), values.index)
        # A clean Moroccan shape outside every assigned range is invalid for libphonenumber
        # too (same metadata): no need to ask it.
        done |= pd.Series(shaped.to_numpy(zero_copy_only=False), index=values.index)
    bad = done & ~empty & (result == "")
    rest = ~done
    if rest.any():
        leftovers = text[rest]
        parsed = pd.Series(
            [_parse_phone(v, fmt, region) for v in leftovers.tolist()],
            index=leftovers.index,
            dtype=object,
        )
        result[rest] = parsed.fillna("").astype("str")
        bad[rest] = parsed.isna().to_numpy()
    return result, bad


def _format(number: phonenumbers.PhoneNumber, fmt: PhoneFormat, region: str) -> str:
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if fmt == "national" and phonenumbers.region_code_for_number(number) == region.upper():
        national: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return re.sub(r"[^\d+]", "", national)
    return e164


def _parse_one(candidate: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _parse_phone(value: str, fmt: PhoneFormat, region: str) -> str | None:
    """One distinct leftover value -> formatted phone, or None when it is not a phone."""
    if SCIENTIFIC.match(value.replace(" ", "")):
        return None
    cleaned = LETTERS.sub(" ", value).strip(" :,;/-")
    digits = re.sub(r"\D", "", cleaned)
    if region.upper() == "MA" and re.fullmatch(r"[5-8]\d{8}", digits) and "+" not in cleaned:
        cleaned = "0" + digits  # the leading zero lost to a number-formatted cell
    number = _parse_one(cleaned, region)
    if number is None and len(digits) > 12:
        # Several numbers in one cell ("0612345678 / 0698765432"): keep the first valid one,
        # trying the parts between separators first (libphonenumber's matcher is slow).
        parts = [_parse_one(p, region) for p in MULTI_SEPARATORS.split(cleaned) if p.strip()]
        number = next((p for p in parts if p is not None), None)
        if number is None:
            matches = phonenumbers.PhoneNumberMatcher(cleaned, region)
            number = next(
                (m.number for m in matches if phonenumbers.is_valid_number(m.number)), None
            )
    return None if number is None else _format(number, fmt, region)


def _phone_problem(value: str, options: NormalizeOptions) -> str:
    compact = re.sub(r"\s", "", value)
    if SCIENTIFIC.match(compact.lstrip("'")):
        return (
            f"'{value}' is a phone number that Excel turned into scientific notation and "
            "the last digits are lost; format the column as Text in Excel and type it again"
        )
    digits = re.sub(r"\D", "", value.translate(EASTERN_DIGITS))
    if options.region.upper() == "MA" and digits and len(digits) < 9:
        return (
            f"'{value}' is too short for a phone number ({len(digits)} digits; 0612345678 has 10)"
        )
    return f"'{value}' is not a valid phone number (expected e.g. 0612345678 or +212612345678)"


# --- money and quantities ------------------------------------------------------------------

CURRENCY = r"(?i:mad|dhs?|dirhams?|د\.م\.?|درهم|dh\.?)"
PLAIN_AMOUNT = r"[+-]?\d+(?:\.\d+)?"


def _strip_money_text(values: pd.Series) -> pd.Series:
    text = _eastern_to_ascii(_as_text(values).str.replace(INVISIBLE, "", regex=True))
    text = text.str.replace(CURRENCY, "", regex=True)
    return text.str.replace(rf"[{SPACES}\x{{0027}}\x{{2019}}]", "", regex=True)


def parse_money_column(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Amounts as Float64 (NA when empty or bad) and a mask of non-empty unparseable values.

    Both "1.299,50" and "1,299.50" are 1299.5: with both separators, the last one is the
    decimal mark. With one kind only, it is a thousands separator when it repeats ("1.234.567")
    or when exactly three digits follow it after a non-zero integer part of 1-3 digits
    ("1,234" and "1.500" are 1234 and 1500: prices in dirhams have two decimals, never three);
    otherwise it is the decimal mark ("299,5", "0.125").
    """
    return _per_distinct(values, _parse_amounts)


def _parse_amounts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = _strip_money_text(values)
    empty = text == ""
    plain = text.str.fullmatch(PLAIN_AMOUNT)
    thousands_like = text.str.fullmatch(r"[+-]?[1-9]\d{0,2}\.\d{3}")
    fast = plain & ~thousands_like
    amounts = pd.Series(pd.NA, index=values.index, dtype="Float64")
    amounts[fast] = pd.to_numeric(text[fast]).astype("Float64")
    rest = ~(fast | empty)
    if rest.any():
        leftovers = text[rest]
        cache = {v: _parse_amount(v) for v in leftovers.unique().tolist()}
        parsed = leftovers.map(cache)
        amounts[rest] = parsed.astype("Float64")
    bad = (amounts.isna() & ~empty).astype(bool)
    return amounts, bad


def _parse_amount(text: str) -> float | None:
    match = re.fullmatch(r"([+-]?)([\d.,]+)", text)
    if match is None:
        return None
    sign, body = match.groups()
    if not body[0].isdigit() or not body[-1].isdigit():
        return None
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        decimal = "." if body.rfind(".") > body.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        whole, _, fraction = body.rpartition(decimal)
        if thousands in fraction:
            return None
        if not re.fullmatch(rf"\d{{1,3}}(?:\{thousands}\d{{3}})*", whole):
            return None
        return float(sign + whole.replace(thousands, "") + "." + fraction)
    mark = "." if dots else "," if commas else ""
    if not mark:
        return float(sign + body)
    count = dots or commas
    if count > 1 or re.fullmatch(rf"[1-9]\d{{0,2}}\{mark}\d{{3}}", body):
        if not re.fullmatch(rf"\d{{1,3}}(?:\{mark}\d{{3}})+", body):
            return None
        return float(sign + body.replace(mark, ""))
    return float(sign + body.replace(mark, "."))


def parse_quantity_column(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers as Int64 ("2", "2.0", "2,0", " 3 "); NA and flagged when not whole.

    0 and negative numbers are parsed: whether they are allowed is the schema's business.
    """
    return _per_distinct(values, _parse_quantities)


def _parse_quantities(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = _eastern_to_ascii(_as_text(values)).str.replace(f"[{SPACES}]", "", regex=True)
    empty = text == ""
    whole = text.str.replace(r"^([+-]?\d+)[.,]0*$", r"\1", regex=True)
    ok = whole.str.fullmatch(r"[+-]?\d{1,9}")
    quantities = pd.Series(pd.NA, index=values.index, dtype="Int64")
    quantities[ok] = pd.to_numeric(whole[ok]).astype("Int64")
    bad = (~ok & ~empty).astype(bool)
    return quantities, bad

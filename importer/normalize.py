"""Turn mapped text into what the API wants: phones, money, quantities and tidy text."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, TypeVar

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from importer.group import order_numbers
from importer.mapping import PHONE_CHOICE
from importer.model import CUSTOM_PREFIX, Issue, Severity
from schemas.leads import MAX_CUSTOM_ENTRIES, RULES

__all__ = [
    "BAD_PHONE",
    "EMPTY_PHONE",
    "POSSIBLE_PHONE",
    "SEVERAL_PHONES",
    "VALID_PHONE",
    "NormalizeOptions",
    "PhoneFormat",
    "clean_custom_column",
    "clean_text_column",
    "country_code",
    "country_name",
    "fit_text_limits",
    "normalize_lines",
    "normalize_phone_column",
    "parse_money_column",
    "parse_quantity_column",
    "phone_problem",
    "read_phone_column",
]

PhoneFormat = Literal["national", "e164", "raw"]

SPACE = pa.scalar(" ", pa.large_string())
EMPTY = pa.scalar("", pa.large_string())
TEXT_FIELDS = ("order_key", "full_name", "city", "area", "address", "sku", "product_name")
MONEY_FIELDS = ("total", "unit_price")
#: The order of one row's issues: the order of the fields they are about.
ISSUE_ORDER = {
    "text_shortened": 0,
    "unknown_country": 1,
    "invalid_phone": 1,
    "phone_fallback": 1,
    "phone_not_used": 1,
    "several_phones": 1,
    "unlisted_phone": 1,
    "invalid_quantity": 2,
    "invalid_number": 3,
}

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
    """Normalise every canonical column; return the new table and the issues found.

    A bad cell is emptied ("" for text, NA for numbers) and reported once, here: validation
    is told not to report it again as missing. ``total`` is filled from ``unit_price`` x
    ``quantity`` where the total is empty and a unit price is given, rounded to 2 decimals.
    Phones are read in the row's country (``country`` column) or ``options.region``; a
    fallback phone column stands in for an invalid number. Lead texts and custom values over
    the API's 100 characters are shortened at a word boundary, the rest kept in custom data.
    """
    frame = mapped.frame.copy(deep=False)  # columns are replaced, never changed in place
    columns = dict(mapped.columns)
    issues: list[Issue] = []
    default = options.region.upper()

    def where(field: str) -> str:
        return columns.get(field, field)

    regions: pd.Series | None = None
    if _has_text(frame, "country") and "phone" in frame.columns:
        # the country of each row decides how its phone is read: settle it first
        if "order_key" in frame.columns:
            frame["order_key"] = clean_text_column(frame["order_key"])
        regions, found = _row_regions(frame, where("country"), default)
        issues += found

    def clean_phones(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
        return read_phone_column(values, options.phone_format, default, regions)

    # Every column is cleaned on its own, and mostly inside Arrow's kernels, which let go of
    # the GIL: the columns are cleaned side by side, on as many cores as there are.
    texts = {f: clean_text_column for f in TEXT_FIELDS if f in frame.columns}
    if regions is not None:
        texts.pop("order_key", None)  # cleaned already
    texts.update(
        (c, clean_custom_column)
        for c in frame.columns
        if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)
    )
    checked: dict[str, Callable[[pd.Series], tuple[pd.Series, Any]]] = {}
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

    if "phone" in results:
        phones, status = results.pop("phone")
        frame["phone"], found, several = _settle_phones(
            mapped.frame, frame, phones, status, regions, columns, options
        )
        issues += found
        issues += _keep_other_phones(frame, several, columns, options)
    problems: dict[str, tuple[str, Callable[[str], str]]] = {
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

    frame = frame.drop(columns=[c for c in frame.columns if _is_phone_choice(c)])
    issues += fit_text_limits(frame, columns)

    # Issues in reading order: by row, then in the order of the canonical columns.
    issues.sort(key=lambda i: (i.row if i.row is not None else -1, ISSUE_ORDER.get(i.code, 9)))
    return dataclasses.replace(mapped, frame=frame, columns=columns), issues


def _has_text(frame: pd.DataFrame, column: str) -> bool:
    """Whether the column exists and holds at least one non-empty cell."""
    if column not in frame.columns:
        return False
    return bool(pc.any(pc.not_equal(_arrow(frame[column]), EMPTY)).as_py())


def _is_phone_choice(column: Any) -> bool:
    return isinstance(column, str) and column.startswith(PHONE_CHOICE)


def _row_regions(frame: pd.DataFrame, column: str, default: str) -> tuple[pd.Series, list[Issue]]:
    """Each row's country as an ISO code ("" for ``default``), and warnings for unknown ones.

    A row without a country takes its order's (Shopify fills it on an order's first row
    only); a value that names no country is the default country, with a warning.
    """
    text = clean_text_column(frame["country"])
    distinct = text.unique().tolist()
    known = {value: country_code(value) for value in distinct if value}
    iso = text.map(lambda value: known.get(value) or "").astype("str")
    unknown = ((text != "") & (iso == "")).to_numpy()
    issues = [
        Issue(
            int(row),
            column,
            "unknown_country",
            f"'{value}' is not a country this tool knows (an ISO code such as MA, or a name "
            f"in English, French or Arabic); phones without a +country code here are read as "
            f"{country_name(default)} numbers (--region {default}).",
            Severity.WARNING,
        )
        for row, value in zip(frame.index[unknown].tolist(), text[unknown].tolist(), strict=True)
    ]
    empty = (text == "").to_numpy()
    if empty.any() and not empty.all():
        codes, count = order_numbers(frame)
        values = iso.to_numpy(dtype=object)
        named = np.flatnonzero(values != "")
        first = np.full(count, -1, dtype=np.int64)
        # the first named row of each order: positions are in file order, the first wins
        orders, at = np.unique(codes[named], return_index=True)
        first[orders] = named[at]
        take = empty & (first[codes] >= 0)
        values[take] = values[first[codes[take]]]
        iso = pd.Series(values, index=frame.index, dtype="str")
    iso = iso.where(iso != default, "")
    return iso, issues


class _Several(NamedTuple):
    """A phone cell holding several numbers whose chosen one is sent."""

    position: int
    #: the cell as written, and the header of its source column
    cell: str
    column: str
    region: str


def _phone_sources(
    original: pd.DataFrame, positions: np.ndarray
) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Where the phones at ``positions`` were read from.

    Returns the column groups (``phone#0``..., none when the phone has one column), the
    cells at ``positions`` of each (of the phone column when there are none), and the group
    each phone came from: its first non-empty one.
    """
    choices = sorted(
        (c for c in original.columns if _is_phone_choice(c)),
        key=lambda c: int(c[len(PHONE_CHOICE) :]),
    )
    if not choices:
        cells = [_as_text(original["phone"].iloc[positions]).to_numpy(dtype=object)]
        return [], cells, np.zeros(len(positions), dtype=np.int64)
    cells = [_as_text(original[c].iloc[positions]).to_numpy(dtype=object) for c in choices]
    return choices, cells, np.argmax(np.stack([group != "" for group in cells]), axis=0)


def _settle_phones(
    original: pd.DataFrame,
    frame: pd.DataFrame,
    phones: pd.Series,
    status: np.ndarray,
    regions: pd.Series | None,
    columns: dict[str, str],
    options: NormalizeOptions,
) -> tuple[pd.Series, list[Issue], list[_Several]]:
    """The phones to send, what to say about the cells that were not plain valid numbers,
    and the cells holding several numbers (for `_keep_other_phones`).

    A fallback phone column (Billing Phone after Shipping Phone) stands in for a number that
    is not valid; a cell that is no phone at all is an error unless its order has a phone on
    another row (only one phone is sent per order); a possible number in no listed range is
    sent with a warning. A cell holding several numbers sends one of its own, with no
    fallback. Only those cells are looked at one by one.
    """
    default = options.region.upper()
    rows = frame.index
    phone_column = columns.get("phone", "phone")

    def region_of(position: int) -> str:
        if regions is None:
            return default
        return str(regions.iloc[position]) or default

    def header(choices: list[str], group: int) -> str:
        return columns.get(choices[group], phone_column) if choices else phone_column

    listed = np.flatnonzero(status == SEVERAL_PHONES)
    choices, cells, source = _phone_sources(original, listed)
    several = [
        _Several(at, str(cells[source[n]][n]), header(choices, int(source[n])), region_of(at))
        for n, at in enumerate(listed.tolist())
    ]
    unsettled = np.flatnonzero((status == BAD_PHONE) | (status == POSSIBLE_PHONE))
    if len(unsettled) == 0:
        return phones, [], several
    # the cells in question, of the phone column and of each column group it was read from
    choices, cells, source = _phone_sources(original, unsettled)
    found = status[unsettled].copy()
    sent = phones.iloc[unsettled].to_numpy(dtype=object).copy()
    here = [str(cells[source[n]][n]) for n in range(len(unsettled))]
    # looked at for each cell below: as lists, not one pandas lookup per cell
    row_at = rows[unsettled].tolist()
    region_list = (
        [default] * len(unsettled)
        if regions is None
        else [str(r) or default for r in regions.iloc[unsettled].tolist()]
    )

    def region_at(n: int) -> str:
        return region_list[n]

    def column_of(n: int) -> str:
        return header(choices, int(source[n]))

    issues: list[Issue] = []
    replaced = np.zeros(len(unsettled), dtype=bool)
    for group, column in enumerate(choices):
        candidates = np.flatnonzero((~replaced) & (source < group) & (cells[group] != ""))
        if len(candidates) == 0:
            continue
        at = unsettled[candidates]
        text, got = read_phone_column(
            original[column].iloc[at],
            options.phone_format,
            default,
            None if regions is None else regions.iloc[at],
        )
        good = got == VALID_PHONE
        for k in np.flatnonzero(got == SEVERAL_PHONES).tolist():
            # a fallback cell holding several numbers stands in when the one it sends is valid
            n = int(candidates[k])
            cell = str(cells[group][n])
            listing = _cell_phones(_stripped_cells([cell])[0], region_at(n))
            if listing is not None and listing.numbers[listing.chosen][1] == VALID_PHONE:
                good[k] = True
                several.append(
                    _Several(int(at[k]), cell, columns.get(column, column), region_at(n))
                )
        for n, phone in zip(
            candidates[good].tolist(), text.to_numpy(dtype=object)[good].tolist(), strict=True
        ):
            if found[n] == BAD_PHONE:
                why = phone_problem(here[n], region_at(n))
            else:
                why = f"'{here[n]}' is in no range libphonenumber lists as assigned"
            issues.append(
                Issue(
                    int(rows[unsettled[n]]),
                    column_of(n),
                    "phone_fallback",
                    f"{why}; sent {phone} from {columns.get(column, column)} instead.",
                    Severity.WARNING,
                )
            )
            sent[n] = phone
            found[n] = VALID_PHONE
            replaced[n] = True

    result = phones
    if replaced.any():
        patched = pc.replace_with_mask(
            _arrow(phones),
            pa.array(np.isin(np.arange(len(phones)), unsettled[replaced])),
            pa.array(sent[replaced].tolist(), type=pa.large_string()),
        )
        result = _from_arrow(patched, phones.index)
    bad = (found == BAD_PHONE) & ~replaced
    first_phone = np.full(len(unsettled), -1, dtype=np.int64)
    if bad.any() and "order_key" in frame.columns:
        # one phone is sent per order: a bad cell on another row than it is not needed
        first_phone[bad] = _first_phone_of_order(frame["order_key"], result, unsettled[bad])
    unlisted: dict[tuple[str, str, str], str] = {}  # an order's phone repeats on its lines
    for n in np.flatnonzero(~replaced).tolist():
        row, column, cell, region = int(row_at[n]), column_of(n), here[n], region_at(n)
        if found[n] == POSSIBLE_PHONE:
            said = unlisted.get((cell, region, sent[n]))
            if said is None:
                said = unlisted[cell, region, sent[n]] = (
                    f"'{cell}' has the length of a {country_name(region)} phone number but is "
                    "in no range libphonenumber lists as assigned (its data lags new "
                    f"allocations); sent as {sent[n]}: check that it is right."
                )
            issues.append(Issue(row, column, "unlisted_phone", said, Severity.WARNING))
        elif first_phone[n] >= 0:
            other = int(first_phone[n])
            issues.append(
                Issue(
                    row,
                    column,
                    "phone_not_used",
                    f"{phone_problem(cell, region)}; not needed: the order is sent with "
                    f"the phone {result.iloc[other]} of row {int(rows[other])}.",
                    Severity.WARNING,
                )
            )
        else:
            issues.append(Issue(row, column, "invalid_phone", phone_problem(cell, region)))
    return result, issues, several


def _stripped_cells(cells: list[str]) -> list[str]:
    """Phone cells as `read_phone_column` reads them, spreadsheet junk stripped."""
    array: pa.Array = _strip_spreadsheet_junk(pd.Series(cells, dtype="str"))
    return [str(text) for text in array.to_pylist()]


def _keep_other_phones(
    frame: pd.DataFrame,
    several: list[_Several],
    columns: dict[str, str],
    options: NormalizeOptions,
) -> list[Issue]:
    """A ``several_phones`` warning for each cell holding several numbers, and the numbers
    not sent kept in custom data ``phone_2``, ``phone_3``... so that the call centre sees them.

    They are written like the phone sent, as far as the 99 custom entries allow (before the
    text limits take their share). ``frame`` and ``columns`` are changed in place.
    """
    if not several:
        return []
    default = options.region.upper()
    several = sorted(several)
    texts = _stripped_cells([s.cell for s in several])
    listings = [_cell_phones(text, s.region) for text, s in zip(texts, several, strict=True)]
    others = [
        [
            _format(number, options.phone_format, default, status == VALID_PHONE)
            for n, (number, status) in enumerate(listing.numbers)
            if n != listing.chosen
        ]
        if listing is not None
        else []
        for listing in listings
    ]
    used = sum(1 for c in frame.columns if isinstance(c, str) and c.startswith(CUSTOM_PREFIX))
    wanted = min(max(len(numbers) for numbers in others), MAX_CUSTOM_ENTRIES - used)
    keys: list[str] = []
    n = 2
    while len(keys) < wanted:
        if f"{CUSTOM_PREFIX}phone_{n}" not in frame.columns:
            keys.append(f"phone_{n}")
        n += 1
    positions = np.zeros(len(frame), dtype=bool)
    positions[[s.position for s in several]] = True
    mask = pa.array(positions)
    blank = pc.fill_null(pa.nulls(len(frame), pa.large_string()), "")
    for k, key in enumerate(keys):
        values = pa.array([o[k] if k < len(o) else "" for o in others], pa.large_string())
        frame[CUSTOM_PREFIX + key] = _from_arrow(
            pc.replace_with_mask(blank, mask, values), frame.index
        )
        columns[CUSTOM_PREFIX + key] = columns.get("phone", "phone")
    sent = frame["phone"].iloc[[s.position for s in several]].tolist()
    issues = []
    for cell, phone, listing, numbers in zip(several, sent, listings, others, strict=True):
        message = f"'{' '.join(cell.cell.split())}' holds several phone numbers: sent {phone}"
        if listing is not None:
            number, status = listing.numbers[listing.chosen]
            rank = _mobile_rank(number, status, cell.region)
            if listing.chosen > 0:
                what = ("mobile number", "valid number", "number")[rank % 3]
                where = f" in {country_name(cell.region)}" if rank < 3 else ""
                message += f", the first {what}{where}"
            if status == POSSIBLE_PHONE:
                message += " (in no range libphonenumber lists as assigned: check that it is right)"
        kept, lost = numbers[: len(keys)], numbers[len(keys) :]
        if kept:
            verb = "is" if len(kept) == 1 else "are"
            message += (
                f"; {', '.join(kept)} {verb} kept in custom data {', '.join(keys[: len(kept)])}"
            )
        if lost:
            message += f"; {', '.join(lost)} could not be kept (no custom data entry left)"
        for piece in listing.junk if listing is not None else ():
            message += f"; {phone_problem(piece, cell.region)}: left out"
        issues.append(
            Issue(
                int(frame.index[cell.position]),
                cell.column,
                "several_phones",
                message + ".",
                Severity.WARNING,
            )
        )
    return issues


def _first_phone_of_order(keys: pd.Series, phones: pd.Series, positions: np.ndarray) -> np.ndarray:
    """For rows at ``positions``: the position of their order's first phone, -1 when none.

    Only the rows sharing an order key with them are looked at (no factorizing of the whole
    column for a few bad cells); a row without an order key is an order of its own.
    """
    array = _arrow(keys)
    wanted = pc.unique(array.take(pa.array(positions)))
    wanted = pc.filter(wanted, pc.not_equal(wanted, EMPTY))
    same = pc.and_(pc.is_in(array, value_set=wanted), pc.not_equal(_arrow(phones), EMPTY)).to_numpy(
        zero_copy_only=False
    )
    first: dict[str, int] = {}
    candidates = np.flatnonzero(same)
    for key, at in zip(
        array.take(pa.array(candidates)).to_pylist(), candidates.tolist(), strict=True
    ):
        first.setdefault(key, at)
    mine = array.take(pa.array(positions)).to_pylist()
    return np.array([first.get(key, -1) if key else -1 for key in mine], dtype=np.int64)


# --- text limits ---------------------------------------------------------------------------

#: Lead fields cut to the API's limit rather than refused: an address with landmarks, a
#: name followed by a note, an address typed into the city cell. The rest goes to custom data.
SHORTENED_FIELDS = ("full_name", "city", "area", "address")
#: Custom entries a shortened value may fill with its rest (so at most 500 characters in all).
REST_ENTRIES = 4
#: Where a text may be cut: spaces and the punctuation between words (Latin and Arabic).
WORD_BREAK = re.compile(r"[\s,;،؛/\-]")
#: Everything up to the last word break (one match instead of a search for each break).
UP_TO_LAST_BREAK = re.compile(r".*[\s,;،؛/\-]", re.DOTALL)
TRIM = " ,;،؛/-"


def _cut(text: str, limit: int) -> tuple[str, str]:
    """``text`` as a head of at most ``limit`` characters, cut at a word boundary, and the rest.

    Without a boundary in the second half of the head, it is cut at ``limit`` exactly.
    """
    if len(text) <= limit:
        return text, ""
    found = UP_TO_LAST_BREAK.match(text, 0, limit + 1)
    last = found.end() - 1 if found else -1  # where the last break within the head is
    at = last if last >= limit // 2 else limit
    head = text[:at].rstrip(TRIM) or text[:limit]
    return head, text[len(head) :].lstrip(TRIM)


def _pieces(text: str, limit: int, count: int) -> tuple[list[str], int]:
    """Up to ``count`` pieces of at most ``limit`` characters, and how many characters remain."""
    pieces: list[str] = []
    while text and len(pieces) < count:
        head, text = _cut(text, limit)
        pieces.append(head)
    return pieces, len(text)


def _free_key(frame: pd.DataFrame, key: str) -> str:
    """``key``, or ``key`` with a number, that no custom column of the frame uses yet."""
    candidate, n = key, 1
    while CUSTOM_PREFIX + candidate in frame.columns:
        n += 1
        candidate = f"{key}_{n}"
    return candidate


WARNING = Severity.WARNING


def fit_text_limits(frame: pd.DataFrame, columns: dict[str, str]) -> list[Issue]:
    """Shorten what would break a 100-character limit instead of holding the order back.

    Lead texts (``SHORTENED_FIELDS``) and custom values longer than the API takes are cut
    at a word boundary; the rest goes into new custom data entries (``address_rest``,
    ``address_rest_2``... or ``note_2``, ``note_3``... for a custom value ``note``) as far as
    the 99 entries allow. ``frame`` and ``columns`` are changed in place; each shortened
    cell gets a ``text_shortened`` warning giving the lengths.
    """
    issues: list[Issue] = []
    targets = [f for f in SHORTENED_FIELDS if f in frame.columns]
    targets += [c for c in frame.columns if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)]
    room = MAX_CUSTOM_ENTRIES - sum(
        1 for c in frame.columns if isinstance(c, str) and c.startswith(CUSTOM_PREFIX)
    )
    for field in targets:
        custom = field.startswith(CUSTOM_PREFIX)
        limit = RULES["data.value" if custom else field].high
        array = _arrow(frame[field])
        mask = pc.greater(pc.utf8_length(array), limit)
        if not pc.any(mask).as_py():
            continue
        long = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        key = field[len(CUSTOM_PREFIX) :] if custom else f"{field}_rest"
        label = f"custom data '{key}'" if custom else f"{field.replace('_', ' ')}"
        texts: list[str] = pc.filter(array, mask).to_pylist()
        # an order's value repeats on each of its lines: each distinct text is cut once
        cut_of = {text: _cut(text, limit) for text in dict.fromkeys(texts)}
        rests_of = {
            text: _pieces(rest, RULES["data.value"].high, REST_ENTRIES)
            for text, (_, rest) in cut_of.items()
        }
        cut = list(map(cut_of.__getitem__, texts))
        rests = list(map(rests_of.__getitem__, texts))
        wanted = max(len(pieces) for pieces, _ in rests)
        keys: list[str] = []
        for n in range(min(wanted, max(room, 0))):
            base = f"{key}_{n + 2}" if custom else (key if n == 0 else f"{key}_{n + 1}")
            name = _free_key(frame, base)
            if len(name) > RULES["data.key"].high:
                break
            keys.append(name)
            pieces = [p[n] if n < len(p) else "" for p, _ in rests]
            blank = pc.fill_null(pa.nulls(len(frame), pa.large_string()), "")
            filled = pc.replace_with_mask(blank, mask, pa.array(pieces, pa.large_string()))
            frame[CUSTOM_PREFIX + name] = _from_arrow(filled, frame.index)
            columns[CUSTOM_PREFIX + name] = columns.get(field, field)
        room -= len(keys)
        heads = pa.array([h for h, _ in cut], pa.large_string())
        frame[field] = _from_arrow(pc.replace_with_mask(array, mask, heads), frame.index)
        rows = frame.index[long].tolist()
        source = columns.get(field, field)
        told: dict[str, str] = {}  # an order's text repeats on its lines: said alike
        for row, text, (kept, _), (pieces, left) in zip(rows, texts, cut, rests, strict=True):
            if text in told:
                issues.append(Issue(int(row), source, "text_shortened", told[text], WARNING))
                continue
            placed = pieces[: len(keys)]
            lost = left + sum(len(p) for p in pieces[len(keys) :])
            where = ", ".join(keys[: len(placed)])
            whole = WORD_BREAK.match(text, len(kept)) is not None
            message = (
                f"The {label} is {len(text)} characters long and WedoCOD takes at most "
                f"{limit}: sent the first {len(kept)}"
                + (" (up to the last whole word)" if whole else "")
            )
            if placed:
                message += f"; the next {sum(len(p) for p in placed)} are in custom data {where}"
            if lost:
                message += f"; the last {lost} could not be kept (no custom data entry left)"
            told[text] = message = message + "."
            issues.append(Issue(int(row), source, "text_shortened", message, WARNING))
    return issues


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
    # the flags keep their dtype: a bool mask, or a status per cell
    flags = pd.Series(np.asarray(bad.to_numpy())[codes], index=values.index)
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
#: Words around a number ("(whatsapp)", "tel", "ext"): a bracket with a letter in it, or
#: letters. Brackets of digits are an area code, "(705) 571-5151", or a trunk "(0)".
LETTERS = re.compile(r"\([^)]*[^\W\d_][^)]*\)|[^\W\d_]+")
#: What people put between the numbers of a cell listing several: a slash, a bar, a comma
#: or semicolon (Latin or Arabic), "&", a line break, a dash between spaces, or words
#: ("ou", "or", "و", "(whatsapp)").
PHONE_LIST = re.compile(rf"[/|,;&\n\r\u060c\u061b]|\s-\s|{LETTERS.pattern}")
#: A digit group of a phone piece ("+212", "06", "612-345" is two), and the most digits one
#: phone number has (libphonenumber's limit for a national number).
DIGIT_GROUP = re.compile(r"\+?\d+")
MAX_DIGITS = 17
#: The fewest digits of a number worth trying when a piece is cut (the API takes 7+ characters).
MIN_DIGITS = 6
#: Beyond this many digit groups, a piece is not cut between them (it is junk).
MAX_GROUPS = 24
#: libphonenumber's number types that a courier can call and text on the way.
MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)
#: Where a country's mobile numbers start (national digits), for numbers in ranges that
#: libphonenumber does not list yet: ANRT gives Morocco's 06 and 07 blocks to mobiles only.
MOBILE_BLOCKS = {"MA": ("6", "7")}


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


#: What became of a phone cell: `read_phone_column`'s status, one per cell.
EMPTY_PHONE = 0
#: A number libphonenumber lists as assigned (valid).
VALID_PHONE = 1
#: A number of a possible length for its country, in no range libphonenumber lists: its
#: metadata lags real allocations (Moroccan 0729, 074x, 079x...). Sent, with a warning.
POSSIBLE_PHONE = 2
#: Not a phone number: wrong length, no digits, lost digits. An error.
BAD_PHONE = 3
#: Several numbers in one cell ("0612345678 / 0698765432"): the one to send is in the text,
#: and `normalize_lines` keeps the others in custom data (``phone_2``...), with a warning.
SEVERAL_PHONES = 4


def read_phone_column(
    values: pd.Series,
    fmt: PhoneFormat = "national",
    region: str = "MA",
    regions: pd.Series | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """Normalise phones; return the text and each cell's status (``EMPTY_PHONE`` ...).

    ``region`` is the default country of numbers written without +country code; ``regions``
    (ISO codes, "" for the default) says it row by row when the file has a country column.
    ``national`` writes numbers of the default country as national digits (0612345678) and
    the others in E.164 (+27649040482): a foreign number's national form would be dialled as
    a local one. ``e164`` writes +212612345678; ``raw`` only strips spreadsheet junk and
    judges nothing. In Morocco a 9-digit number starting 5-8 has lost its leading 0 (Excel)
    and gets it back. A cell holding several numbers ("0612345678 / 0698765432") has the
    text of the one to send (the first mobile) and the status ``SEVERAL_PHONES``.
    Common Moroccan shapes are settled on the whole column at once; only the other distinct
    values go through libphonenumber, once each per country.
    """
    default = region.upper()
    if fmt == "raw":
        text = _per_distinct(values, _raw_phones)[0]
        return text, np.where(text.to_numpy() == "", EMPTY_PHONE, VALID_PHONE).astype(np.int8)
    other = np.zeros(len(values), dtype=bool)
    if regions is not None:
        codes = regions.to_numpy(dtype=object)
        other = (codes != "") & (codes != default)
    if default == "MA":
        result, status, rest = _moroccan_shapes(values, fmt, default)
        rest |= other
    else:
        result = pa.array([""] * len(values), type=pa.large_string())
        status = np.zeros(len(values), dtype=np.int8)
        rest = np.ones(len(values), dtype=bool)
    if rest.any():
        wanted = np.where(other, codes, default) if regions is not None else None
        for country in [default] if wanted is None else sorted(set(wanted[rest].tolist())):
            here = rest if wanted is None else rest & (wanted == country)

            def parse(distinct: pd.Series, country: str = country) -> tuple[pd.Series, pd.Series]:
                return _normalize_phones(distinct, fmt, country, default)

            phones, found = _per_distinct(values[here], parse)
            result = pc.replace_with_mask(result, pa.array(here), _arrow(phones))
            status[here] = found.to_numpy()
    return _from_arrow(result, values.index), status


def normalize_phone_column(
    values: pd.Series, fmt: PhoneFormat = "national", region: str = "MA"
) -> tuple[pd.Series, pd.Series]:
    """Phones as `read_phone_column` writes them, and a mask of the cells that are no phone.

    Numbers of a possible length in no listed range are kept (and not flagged).
    """
    text, status = read_phone_column(values, fmt, region)
    return text, pd.Series(status == BAD_PHONE, index=values.index, dtype=bool)


def _raw_phones(distinct: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = _from_arrow(_strip_spreadsheet_junk(distinct), distinct.index)
    return text, pd.Series(False, index=distinct.index)


def _moroccan_shapes(
    values: pd.Series, fmt: PhoneFormat, default: str
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Plain ASCII cells in a Moroccan shape (nearly all of them), settled on the whole column.

    Returns the phones, the status of each cell and the cells left for libphonenumber. No
    dictionary encoding for values that hardly repeat. This is the computation
    `_normalize_phones` makes for such cells, minus the steps that cannot change them
    (Eastern digits, Unicode fixes, unwrapping).
    """
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
    listed = pc.match_substring_regex(national, f"^(?:{MA_NUMBER})$")
    result = pc.if_else(shaped, _with_prefix(national, fmt, default), EMPTY)
    is_shaped = shaped.to_numpy(zero_copy_only=False)
    status = np.where(
        is_shaped,
        np.where(listed.to_numpy(zero_copy_only=False), VALID_PHONE, POSSIBLE_PHONE),
        EMPTY_PHONE,
    ).astype(np.int8)
    empty = pc.and_(simple, pc.equal(trimmed, EMPTY)).to_numpy(zero_copy_only=False)
    return result, status, ~(is_shaped | empty)


def _compact(stripped: pa.Array, other: pa.Array | None = None) -> pa.Array:
    """Phones without separators (spaces, dashes, dots, brackets).

    ``other`` flags the cells that are not only digits, when the caller knows them already.
    """
    if other is None:
        other = pc.invert(pc.match_substring_regex(stripped, DIGITS_ONLY))
    return _on_some(stripped, other, lambda some: pc.replace_substring_regex(some, SEPARATORS, ""))


def _with_prefix(national: pa.Array, fmt: PhoneFormat, default: str) -> pa.Array:
    """Moroccan national numbers (9 digits) as the default country dials them."""
    prefix = "0" if fmt == "national" and default == "MA" else "+212"
    return pc.binary_join_element_wise(
        pa.scalar(prefix, pa.large_string()), pc.fill_null(national, ""), EMPTY
    )


def _normalize_phones(
    values: pd.Series, fmt: PhoneFormat, region: str, default: str
) -> tuple[pd.Series, pd.Series]:
    """Distinct phone cells of one country -> (phones, status)."""
    stripped = _strip_spreadsheet_junk(values)
    text = _from_arrow(stripped, values.index)
    result = pd.Series("", index=values.index, dtype="str")
    status = np.full(len(values), EMPTY_PHONE, dtype=np.int8)
    done = np.array((text == "").to_numpy(), dtype=bool)
    if region == "MA":
        national = pc.struct_field(pc.extract_regex(_compact(stripped), MA_SHAPE), [0])
        shaped = np.asarray(pc.is_valid(national).to_numpy(zero_copy_only=False), dtype=bool)
        listed = pc.fill_null(pc.match_substring_regex(national, f"^(?:{MA_NUMBER})$"), False)
        prefixed = pc.if_else(shaped, _with_prefix(national, fmt, default), "")
        result = _from_arrow(prefixed, values.index)
        is_listed = np.asarray(listed.to_numpy(zero_copy_only=False), dtype=bool)
        status[shaped] = np.where(is_listed, VALID_PHONE, POSSIBLE_PHONE)[shaped]
        # A clean Moroccan shape is possible (9 national digits), and listed exactly when it
        # matches libphonenumber's own patterns: no need to ask it.
        done |= shaped
    rest = ~done
    if rest.any():
        parsed = [_parse_phone(v, fmt, region, default) for v in text[rest].tolist()]
        result[rest] = pd.Series([phone for phone, _ in parsed], index=result.index[rest])
        status[rest] = [found for _, found in parsed]
    return result, pd.Series(status, index=values.index)


def _home(default: str) -> int:
    """The country calling code of the default country (212 for MA)."""
    return int(phonenumbers.country_code_for_region(default))


def _format(number: phonenumbers.PhoneNumber, fmt: PhoneFormat, default: str, valid: bool) -> str:
    """National digits for a number of the default country's numbering plan, else E.164.

    Countries sharing a calling code share a numbering plan (MA and EH, the NANP...): their
    national form dials the same number.
    """
    if fmt == "national" and number.country_code == _home(default):
        if valid:
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            return re.sub(r"[^\d+]", "", national)
        # libphonenumber leaves the trunk prefix out of numbers it has no format for
        meta = phonenumbers.PhoneMetadata.metadata_for_region(default)
        prefix = (meta.national_prefix if meta is not None else None) or ""
        return prefix + phonenumbers.national_significant_number(number)
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def _parse_one(candidate: str, region: str) -> tuple[phonenumbers.PhoneNumber | None, int]:
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None, BAD_PHONE
    if number.extension:
        # "0612345678, 0698765432" reads as an extension (a comma dials one): no courier
        # dials an extension, and it is more often a second number.
        return None, BAD_PHONE
    if phonenumbers.is_valid_number(number):
        return number, VALID_PHONE
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None, BAD_PHONE
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if number.italian_leading_zero and meta is not None and meta.national_prefix == "0":
        # "061234567" in Morocco: libphonenumber keeps the trunk 0 when what follows is too
        # short, and finds the 9 characters a possible length. It is 8 digits after the 0.
        return None, BAD_PHONE
    return number, POSSIBLE_PHONE


#: MA_SHAPE, SEPARATORS and the listed Moroccan ranges for Python's re, for the few cells
#: read one by one (a cell listing numbers is read piece by piece).
MA_SHAPE_ONE = re.compile(MA_SHAPE)
SEPARATORS_ONE = re.compile(r"[\s\-.()\u2010-\u2015]")
MA_LISTED_ONE = re.compile(f"(?:{MA_NUMBER})")


def _read_one(text: str, region: str) -> tuple[phonenumbers.PhoneNumber | None, int]:
    """One number written in ``text``, or BAD_PHONE; a Moroccan number's lost 0 put back.

    A Moroccan shape is settled as `_moroccan_shapes` settles it, without libphonenumber.
    """
    if region == "MA":
        shape = MA_SHAPE_ONE.match(SEPARATORS_ONE.sub("", text))
        if shape is not None:
            national = shape.group("national")
            number = phonenumbers.PhoneNumber(country_code=212, national_number=int(national))
            return number, VALID_PHONE if MA_LISTED_ONE.fullmatch(national) else POSSIBLE_PHONE
    digits = re.sub(r"\D", "", text)
    if region == "MA" and re.fullmatch(r"[5-8]\d{8}", digits) and "+" not in text:
        text = "0" + digits  # the leading zero lost to a number-formatted cell
    return _parse_one(text, region)


def _parse_phone(value: str, fmt: PhoneFormat, region: str, default: str) -> tuple[str, int]:
    """One distinct leftover value -> (formatted phone, status); "" when it is no phone."""
    if SCIENTIFIC.match(value.replace(" ", "")):
        return "", BAD_PHONE
    number, status = _read_one(LETTERS.sub(" ", value).strip(" :,;/-"), region)
    if status == BAD_PHONE:
        # no one number: it may be several ("0612345678 / 0698765432")
        found = _cell_phones(value, region)
        if found is not None:
            number, status = found.numbers[found.chosen]
            if found.several:
                return _format(number, fmt, default, status == VALID_PHONE), SEVERAL_PHONES
    if number is None or status == BAD_PHONE:
        return "", BAD_PHONE
    return _format(number, fmt, default, status == VALID_PHONE), status


@dataclass(frozen=True)
class _CellPhones:
    """The numbers of a phone cell that is no one number, in the cell's order.

    ``numbers`` are (number, ``VALID_PHONE`` or ``POSSIBLE_PHONE``), each number once;
    ``junk`` the pieces that are no phone number, as written; ``chosen`` the number to send.
    """

    numbers: tuple[tuple[phonenumbers.PhoneNumber, int], ...]
    junk: tuple[str, ...]
    chosen: int

    @property
    def several(self) -> bool:
        return len(self.numbers) > 1 or bool(self.junk)


@lru_cache(maxsize=4096)
def _cell_phones(value: str, region: str) -> _CellPhones | None:
    """The numbers of a cell that is no one number; None when it holds none.

    The cell is cut where people separate numbers (``PHONE_LIST``: "/", ",", "ou", a line
    break...). A piece that is no number is cut between its digit groups only when every
    part is then a number and one at least is valid ("0612345678 0698765432"); else it is
    junk. Only cells that are not one number are asked about: "06 12 34 56 78" is never cut.
    The number sent is the first mobile (see `_mobile_rank`).
    """
    numbers: dict[str, tuple[phonenumbers.PhoneNumber, int]] = {}
    junk: list[str] = []
    for piece in PHONE_LIST.split(value):
        piece = piece.strip(" \t:.-")
        if not any(c.isdigit() for c in piece):
            continue
        number, status = _read_one(piece, region)
        found = [(number, status)] if number is not None and status != BAD_PHONE else None
        if found is None:
            found = _numbers_between_groups(piece, region)
        if found is None:
            junk.append(piece)
            continue
        for number, status in found:
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            numbers.setdefault(e164, (number, status))  # the same number twice is one
    if not numbers:
        return None
    listed = tuple(numbers.values())
    chosen = min(range(len(listed)), key=lambda n: (_mobile_rank(*listed[n], region), n))
    return _CellPhones(listed, tuple(junk), chosen)


#: A way to cut a piece into numbers: its score (valid numbers, -numbers) and the numbers.
_Cut = tuple[tuple[int, int], list[tuple[phonenumbers.PhoneNumber, int]]]


def _numbers_between_groups(
    piece: str, region: str
) -> list[tuple[phonenumbers.PhoneNumber, int]] | None:
    """``piece`` as numbers made of whole digit groups ("06 12 34 56 78 07 11 22 33 44").

    Every group must belong to a number and one number at least must be valid; among the
    ways to cut it, the one with the most valid numbers, then the fewest numbers, wins.
    None when there is no such cut.
    """
    groups = list(DIGIT_GROUP.finditer(piece))
    if not 2 <= len(groups) <= MAX_GROUPS:
        return None
    sizes = [sum(c.isdigit() for c in g.group()) for g in groups]
    # best[i]: the best cut of the groups from i on, scored (valid numbers, -numbers)
    best: list[_Cut | None] = [None] * len(groups) + [((0, 0), [])]
    for i in range(len(groups) - 1, -1, -1):
        digits = 0
        for j in range(i, len(groups)):
            digits += sizes[j]
            if digits > MAX_DIGITS:
                break
            rest = best[j + 1]
            if rest is None or digits < MIN_DIGITS:
                continue
            number, status = _read_one(piece[groups[i].start() : groups[j].end()], region)
            if number is None or status == BAD_PHONE:
                continue
            (valid, fewer), numbers = rest
            score = (valid + (status == VALID_PHONE), fewer - 1)
            current = best[i]
            if current is None or score > current[0]:
                best[i] = (score, [(number, status), *numbers])
    cut = best[0]
    if cut is None or len(cut[1]) < 2 or cut[0][0] == 0:
        return None
    return cut[1]


def _mobile_rank(number: phonenumbers.PhoneNumber, status: int, region: str) -> int:
    """How fit a number is to be the one sent: 0 for a mobile of the row's country, then
    its other valid numbers (landlines, VoIP), its other possible ones, foreign numbers last.

    The courier calls and texts the customer on the way: a mobile reaches them, an office
    or home landline often does not, and a foreign number is dear to call (the recipient of
    an order sent from abroad is the local number). The first number of a cell is usually
    the customer's own: the first of the best rank is sent. A possible number counts as a
    mobile in its country's mobile blocks (``MOBILE_BLOCKS``), where libphonenumber lags.
    """
    code = number.country_code or 0
    foreign = 3 if code != phonenumbers.country_code_for_region(region) else 0
    if status == VALID_PHONE:
        return foreign + (0 if phonenumbers.number_type(number) in MOBILE_TYPES else 1)
    country = phonenumbers.region_code_for_country_code(code)
    national = phonenumbers.national_significant_number(number)
    return foreign + (0 if national.startswith(MOBILE_BLOCKS.get(country, ())) else 2)


def country_name(region: str) -> str:
    """A country's English name ("Morocco" for MA), from CLDR."""
    return _territories("en").get(region.upper(), region.upper())


def _example(region: str, international: bool) -> str:
    """A phone of the region as people write it, for messages."""
    if region == "MA":
        return "+212612345678" if international else "0612345678"
    number = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(region)
    if number is None:
        return "+212612345678"
    if international:
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return _format(number, "national", region, True)


@lru_cache(maxsize=4096)
def phone_problem(value: str, region: str = "MA") -> str:
    """Why a cell is no phone number of ``region`` (or of the country its +code names)."""
    region = region.upper()
    compact = re.sub(r"\s", "", value)
    if SCIENTIFIC.match(compact.lstrip("'")):
        return (
            f"'{value}' is a phone number that Excel turned into scientific notation and "
            "the last digits are lost; format the column as Text in Excel and type it again"
        )
    ascii_value = value.translate(EASTERN_DIGITS)
    digits = re.sub(r"\D", "", ascii_value)
    if not digits:
        return f"'{value}' is not a phone number: it has no digits"
    international = bool(re.match(r"\s*(?:\+|00)", ascii_value))
    example = _example(region, international)
    wanted = len(re.sub(r"\D", "", example))
    where = "" if international else f" in {country_name(region)}"
    cleaned = LETTERS.sub(" ", ascii_value).strip(" :,;/-")
    reason: int | None
    try:
        reason = phonenumbers.is_possible_number_with_reason(phonenumbers.parse(cleaned, region))
    except phonenumbers.NumberParseException as err:
        reason = {
            phonenumbers.NumberParseException.TOO_SHORT_NSN: (
                phonenumbers.ValidationResult.TOO_SHORT
            ),
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: (
                phonenumbers.ValidationResult.TOO_SHORT
            ),
            phonenumbers.NumberParseException.TOO_LONG: phonenumbers.ValidationResult.TOO_LONG,
            phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
                phonenumbers.ValidationResult.INVALID_COUNTRY_CODE
            ),
        }.get(err.error_type)
    count = f"{len(digits)} digit" + ("s" if len(digits) != 1 else "")
    if reason in (
        phonenumbers.ValidationResult.TOO_SHORT,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        return f"'{value}' is too short for a phone number{where} ({count}; {example} has {wanted})"
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        return f"'{value}' is too long for a phone number{where} ({count}; {example} has {wanted})"
    if reason == phonenumbers.ValidationResult.INVALID_LENGTH:
        return (
            f"'{value}' has {count}, a length no phone number{where} has ({example} has {wanted})"
        )
    if reason == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        return f"'{value}' starts with a country code that does not exist"
    return f"'{value}' is not a phone number{where} (expected e.g. {example})"


# --- countries -----------------------------------------------------------------------------

#: Country spellings found in exports besides CLDR's names and ISO's two-letter codes.
COUNTRY_ALIASES = {
    "UK": "GB",
    "Great Britain": "GB",
    "England": "GB",
    "USA": "US",
    "United States of America": "US",
    "Etats-Unis d'Amerique": "US",
    "UAE": "AE",
    "EAU": "AE",
    "KSA": "SA",
    "Royaume du Maroc": "MA",
    "Kingdom of Morocco": "MA",
    "المملكة المغربية": "MA",
    "Marokko": "MA",
    "Sahara occidental": "EH",
    # ISO 3166 alpha-3 codes of the countries COD sellers of the region ship to most
    "MAR": "MA",
    "DZA": "DZ",
    "TUN": "TN",
    "LBY": "LY",
    "EGY": "EG",
    "MRT": "MR",
    "SEN": "SN",
    "CIV": "CI",
    "SAU": "SA",
    "ARE": "AE",
    "QAT": "QA",
    "KWT": "KW",
    "FRA": "FR",
    "ESP": "ES",
    "BEL": "BE",
    "NLD": "NL",
    "DEU": "DE",
    "ITA": "IT",
    "PRT": "PT",
    "GBR": "GB",
    "CHE": "CH",
    "CAN": "CA",
    "ZAF": "ZA",
    "BGD": "BD",
    "PAK": "PK",
}


#: The languages whose country names are recognised (CLDR's, through Babel).
COUNTRY_LANGUAGES = ("en", "fr", "ar", "es", "de", "it", "nl", "pt")


@cache
def _territories(language: str) -> dict[str, str]:
    """CLDR's country names in one language, by ISO code (Babel loads them on first use)."""
    from babel import Locale

    names = Locale.parse(language).territories
    return {code: str(name) for code, name in names.items() if len(code) == 2 and code.isalpha()}


@cache
def _countries() -> dict[str, str]:
    """Normalised country name or code -> ISO 3166 alpha-2 code."""
    from importer.mapping import normalize_header

    regions = phonenumbers.SUPPORTED_REGIONS
    table: dict[str, str] = {normalize_header(region): region for region in regions}
    # in language order: the first language to use a spelling keeps it
    for language in COUNTRY_LANGUAGES:
        for region, name in _territories(language).items():
            if region in regions:
                table.setdefault(normalize_header(name), region)
    for alias, region in COUNTRY_ALIASES.items():
        table[normalize_header(alias)] = region
    table.pop("", None)
    return table


def country_code(value: str) -> str | None:
    """The ISO code of a country written as a code or a name (EN, FR, AR...), or None.

    "MA", "ma", "MAR", "Maroc", "Morocco", "المغرب" are all MA; "+212" and "212" are the
    country of that calling code.
    """
    text = value.strip()
    if not text:
        return None
    calling = re.fullmatch(r"\+?(\d{1,3})", text)
    if calling:
        region = phonenumbers.region_code_for_country_code(int(calling.group(1)))
        return None if region == phonenumbers.UNKNOWN_REGION else str(region)
    from importer.mapping import normalize_header

    return _countries().get(normalize_header(text))


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

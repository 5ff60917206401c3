"""Which source columns feed which lead fields: presets, header auto-detection, mapping files.

Detection reads headers word by word (``Shipping City`` is a city, ``Nom du produit`` is not
a name), cross-checks what the headers leave open on the rows themselves (is ``Price`` a unit
price or the line's total?), and notices cells that list several products (WooCommerce's
``line_item_1``..N, a hand-made ``Produits`` = ``Sérum x2, Crème x1``): `apply_mapping` turns
each of their products into an order line of its own, on the same source row.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import tomli_w

from importer.errors import MappingError as MappingError
from importer.model import CANONICAL_FIELDS, CUSTOM_PREFIX, IMPORT_ID_KEY, Issue, Severity
from importer.presets import PRESETS as PRESETS

if TYPE_CHECKING:
    from importer.read import Table

#: Lead fields that must come from somewhere (besides one of sku/product_name, total/unit_price).
REQUIRED_FIELDS = ("full_name", "phone", "city", "address", "quantity")
#: A file without a quantity column almost always means one item per row.
DEFAULT_QUANTITY = "1"
#: Share of a preset's signature headers a file must have for the preset to be chosen.
DETECT_THRESHOLD = 0.6
#: The API's limit on a custom data key.
MAX_KEY_LENGTH = 100
#: Amount fields: who and where words ("livraison") change what an amount is.
AMOUNT_FIELDS = frozenset(
    {"total", "unit_price", "order_total", "shipping", "discount", "line_discount"}
)
#: Custom data entries one lead may carry (the API's 100, less the importer's import_id):
#: schemas.leads.MAX_CUSTOM_ENTRIES, kept here without importing pandera (a test holds them
#: equal). Detection sends no more columns than that as custom data.
MAX_CUSTOM_COLUMNS = 99
#: Rows looked at when the rows must say how to read a column (price vs total).
CROSS_CHECK_ROWS = 20_000
#: Share of the comparable rows that must agree before a price is read as a line total.
CROSS_CHECK_SHARE = 0.8
#: Issue code of a row whose cell lists several products sharing one total.
SHARED_TOTAL = "shared_total"

_SOURCE_KEYS = frozenset({"columns", "column", "fallback", "constant", "default", "joiner"})
_NON_WORD = re.compile(r"[\W_]+")
# Arabic letters written several ways by hand; tatweel is pure decoration.
_ARABIC_VARIANTS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ـ": None}
)
# Spreadsheet and pandas names for columns that had no header.
_BLANK_HEADER = re.compile(r"^(?:unnamed \d+|column ?\d+|col ?\d+|field ?\d+)?$")
# Letters and digits stuck together are two words: "Address1" is "Address 1".
_DIGIT_BOUNDARY = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
#: Numbered product cells (WebToffee's line_item_1..N) and SkyVerge's one-cell line_items.
_LINE_ITEM_HEADER = re.compile(r"line ?items?(?: ?\d+)?")


@dataclass(frozen=True)
class FieldSource:
    """Where one canonical field's value comes from.

    ``columns`` are joined with ``joiner`` (empty cells skipped); for a row where all of them
    are empty, ``fallback`` is used the same way, then each of ``more_fallbacks`` in turn;
    ``constant`` is the value when no column is given, or when every column is empty.
    """

    columns: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    constant: str | None = None
    joiner: str = " "
    more_fallbacks: tuple[tuple[str, ...], ...] = ()

    def groups(self) -> tuple[tuple[str, ...], ...]:
        """The column groups in the order they are tried."""
        return tuple(g for g in (self.columns, self.fallback, *self.more_fallbacks) if g)

    def headers(self) -> tuple[str, ...]:
        return tuple(h for g in self.groups() for h in g)


@dataclass(frozen=True)
class Mapping:
    """How a file's columns become canonical columns.

    ``preset`` names the preset the mapping came from (None: header synonyms or a file
    without ``preset``); ``custom`` pairs a source column with its custom data key;
    ``price_is_unit`` says the mapped price is a unit price (total = price x quantity).
    ``origin`` says in words where the mapping came from, for people. ``packed`` are the
    columns whose cells list one or more products each (each becomes an order line of its
    own); ``notes`` what detection decided that a person should know; ``missing`` the
    required fields no column was found for (only ever set on a draft, see ``partial``).
    """

    preset: str | None
    fields: dict[str, FieldSource]
    custom: tuple[tuple[str, str], ...]
    price_is_unit: bool = False
    origin: str = ""
    packed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def headers(self) -> set[str]:
        """Every source header the mapping reads."""
        used = {h for source in self.fields.values() for h in source.headers()}
        used.update(column for column, _ in self.custom)
        used.update(self.packed)
        return used


@dataclass(frozen=True)
class MappedTable:
    """A table's rows as canonical text columns, plus ``data:<key>`` custom columns.

    A source row whose cells list several products is several lines here, sharing the
    row's number in the index; ``issues`` are what mapping noticed about rows (a total
    shared between a cell's products...), ``notes`` about the file.
    """

    table: Table
    frame: pd.DataFrame
    columns: dict[str, str]
    mapping: Mapping
    issues: tuple[Issue, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Preset:
    name: str
    description: str
    signatures: tuple[frozenset[str], ...]
    prefer: str
    fields: dict[str, tuple[FieldSource, ...]]
    custom: tuple[tuple[str, str], ...]
    rest: bool


@dataclass(frozen=True)
class _Synonyms:
    fields: dict[str, tuple[str, ...]]  # normalised spellings, in the file's order
    ignore: frozenset[str]
    qualifiers: frozenset[str]  # stemmed words: who and where ("shipping", "client")
    neutral: frozenset[str]  # stemmed words that say nothing ("de", "order")

    def allowed(self, field_name: str) -> frozenset[str]:
        """Words a header may have besides a synonym's and still match it."""
        if field_name in AMOUNT_FIELDS:
            return self.neutral
        return self.neutral | self.qualifiers


@dataclass
class _Headers:
    """A file's headers, found exactly or by their normalised form, and the closest ones."""

    names: tuple[str, ...]
    by_norm: dict[str, str] = field(default_factory=dict)
    _bigrams: dict[str, list[str]] | None = None
    _by_word: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        for name in self.names:
            self.by_norm.setdefault(normalize_header(name), name)

    def find(self, name: str) -> str | None:
        if name in self.names:
            return name
        return self.by_norm.get(normalize_header(name))

    def near(self, target: str, share: float = 0.4) -> list[str]:
        """Normalised headers sharing at least ``share`` of ``target``'s letter pairs: the
        only ones worth comparing closely (a file may have thousands of headers)."""
        if self._bigrams is None:
            index: dict[str, list[str]] = {}
            for norm in self.by_norm:
                for pair in _bigrams(norm):
                    index.setdefault(pair, []).append(norm)
            self._bigrams = index
        pairs = _bigrams(target)
        if not pairs:
            return []
        counts = Counter(chain.from_iterable(self._bigrams.get(p, ()) for p in pairs))
        need = max(1, int(len(pairs) * share))
        return [norm for norm, n in counts.items() if n >= need]

    def closest(self, wanted: Iterable[str], n: int = 3) -> list[str]:
        """Headers most like any of ``wanted``: word for word (``Numéro client`` for
        ``Numéro de téléphone``), or letter for letter (``Cité`` for ``City``)."""
        synonyms = _synonyms()
        neutral = synonyms.neutral | synonyms.qualifiers
        if self._by_word is None:
            self._by_word = {}
            for norm in self.by_norm:
                for word in header_words(norm):
                    self._by_word.setdefault(word, []).append(norm)
        # numbers and short words are alike only when equal: looked up, not compared
        spelled = [w for w in self._by_word if len(w) >= 4 and w.isalpha()]
        best: dict[str, float] = {}
        for target in {normalize_header(w) for w in wanted}:
            candidates = set(self.near(target, share=0.5))
            for word in header_words(target):
                if word in neutral:
                    continue
                candidates.update(self._by_word.get(word, ()))
                if len(word) >= 4 and word.isalpha():
                    for known in spelled:
                        if _word_like(word, known):
                            candidates.update(self._by_word[known])
            for norm in candidates:
                score = _similarity(norm, target, neutral)
                if score >= 0.5 and score > best.get(norm, 0.0):
                    best[norm] = score
        ranked = sorted(best, key=lambda norm: (-best[norm], self.names.index(self.by_norm[norm])))
        return [self.by_norm[norm] for norm in ranked[:n]]


def _bigrams(text: str) -> set[str]:
    squeezed = text.replace(" ", "")
    if len(squeezed) < 2:
        return {squeezed} if squeezed else set()
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


def _similarity(header: str, target: str, neutral: frozenset[str]) -> float:
    """How alike two normalised headers are, 0..1: shared words (a typo within a word
    allowed), or letters for short headers. Unrelated headers ("Tags" for a phone) score 0."""
    if header == target:
        return 1.0
    mine = [w for w in header_words(header) if w not in neutral] or list(header_words(header))
    theirs = [w for w in header_words(target) if w not in neutral] or list(header_words(target))
    words = 0.0
    if mine and theirs:
        found = sum(any(_word_like(w, m) for m in mine) for w in theirs) / len(theirs)
        back = sum(any(_word_like(m, w) for w in theirs) for m in mine) / len(mine)
        words = (found + back) / 2 if found and back else 0.0
    letters = _letters_alike(header, target)
    inside = (
        0.7
        if min(len(header), len(target)) >= 4 and (header in target or target in header)
        else 0.0
    )
    return max(words, inside, letters if letters >= 0.75 else 0.0)


@cache
def _word_like(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) < 4 or len(b) < 4 or 2 * min(len(a), len(b)) < 0.8 * (len(a) + len(b)):
        return False  # too different in length for a ratio of 0.8
    if not (a.isalpha() and b.isalpha()):
        return False  # "2" is not "3": numbers are alike only when equal
    matcher = difflib.SequenceMatcher(None, a, b)
    return matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8


def _letters_alike(a: str, b: str) -> float:
    """difflib's ratio when it may reach 0.75, else 0 (cheap bounds first)."""
    if 2 * min(len(a), len(b)) < 0.75 * (len(a) + len(b)):
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < 0.75 or matcher.quick_ratio() < 0.75:
        return 0.0
    return matcher.ratio()


@lru_cache(maxsize=1 << 16)
def normalize_header(text: str) -> str:
    """A header reduced to what matters for matching: no case, accents, punctuation or tatweel.

    ``"  Téléphone (GSM) "`` -> ``"telephone gsm"``; ``"المبلغ (درهم)"`` -> ``"المبلغ درهم"``.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.translate(_ARABIC_VARIANTS).casefold()
    return _NON_WORD.sub(" ", bare).strip()


@cache
def header_words(norm: str) -> tuple[str, ...]:
    """A normalised header's words as compared: plural-free (``produits`` -> ``produit``),
    without the Arabic article (``الهاتف`` -> ``هاتف``) or lone letters (``Product(s)``)."""
    words = []
    for word in _DIGIT_BOUNDARY.sub(" ", norm).split():
        if len(word) == 1 and word.isalpha():
            continue
        words.append(_stem(word))
    return tuple(words)


def _stem(word: str) -> str:
    if word.startswith("ال") and len(word) >= 4:
        word = word[2:]
    if len(word) > 3 and word.isascii() and word[-1] in "sx":
        word = word[:-1]
    return word


def _exact_key(norm: str) -> str:
    """What two headers share when they are the same spelling but for plurals and "(s)"."""
    return " ".join(_stem(w) for w in norm.split() if w != "s")


# ---------------------------------------------------------------------------- data files


def _data_text(name: str) -> str:
    return resources.files("importer").joinpath("presets", name).read_text(encoding="utf-8")


@cache
def _synonyms() -> _Synonyms:
    raw = tomllib.loads(_data_text("synonyms.toml"))
    fields = {
        name: tuple(dict.fromkeys(normalize_header(s) for s in spellings))
        for name, spellings in raw["fields"].items()
    }
    ignore = frozenset(normalize_header(h) for h in raw["ignore"]["headers"])
    words = raw.get("words", {})

    def stemmed(key: str) -> frozenset[str]:
        return frozenset(w for h in words.get(key, []) for w in header_words(normalize_header(h)))

    return _Synonyms(fields, ignore, stemmed("qualifiers"), stemmed("neutral"))


@cache
def _preset(name: str) -> _Preset:
    where = f"preset {name}"
    raw = tomllib.loads(_data_text(f"{name}.toml"))
    fields = {
        key: _parse_field(key, value, where)
        for key, value in raw.get("fields", {}).items()
        if value is not False
    }
    custom_raw = raw.get("custom", {})
    return _Preset(
        name=name,
        description=str(raw.get("description", name)),
        signatures=tuple(
            frozenset(normalize_header(h) for h in signature) for signature in raw["signatures"]
        ),
        prefer=str(raw.get("prefer", "total")),
        fields=fields,
        custom=_parse_custom_columns(custom_raw.get("columns", []), where),
        rest=bool(custom_raw.get("rest", False)),
    )


def preset_descriptions() -> dict[str, str]:
    """Each preset's name and one-line description (for help texts)."""
    return {name: _preset(name).description for name in PRESETS}


# ---------------------------------------------------------------------------- parsing specs


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        names: tuple[str, ...] = (value,)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = tuple(value)
    else:
        raise MappingError(f"{what}: expected a column name or a list of column names")
    if any(not name.strip() for name in names):
        raise MappingError(
            f"{what}: no column named yet; write the header of your column between the quotes "
            "(`wedocod map FILE` lists the file's headers)"
        )
    return names


def _parse_source(name: str, value: Any, where: str) -> FieldSource:
    what = f"{where}: field '{name}'"
    if isinstance(value, str | list):
        return FieldSource(columns=_names(value, what))
    if not isinstance(value, dict):
        raise MappingError(f"{what}: expected a column, a list of columns or a table")
    unknown = sorted(set(value) - _SOURCE_KEYS)
    if unknown:
        raise MappingError(
            f"{what}: unknown key(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(_SOURCE_KEYS - {'column', 'default'}))}"
        )
    if "columns" in value and "column" in value:
        raise MappingError(f"{what}: give 'columns' or 'column', not both")
    if "constant" in value and "default" in value:
        raise MappingError(f"{what}: give 'constant' or 'default', not both")
    columns = _names(value.get("columns", value.get("column", [])), what)
    fallbacks = _parse_fallback(value.get("fallback", []), what)
    constant_raw = value.get("constant", value.get("default"))
    if isinstance(constant_raw, bool) or not isinstance(constant_raw, str | int | float | None):
        raise MappingError(f"{what}: the constant must be text or a number")
    constant = None if constant_raw is None else str(constant_raw)
    joiner = value.get("joiner", " ")
    if not isinstance(joiner, str):
        raise MappingError(f"{what}: 'joiner' must be text")
    if fallbacks and not columns:
        raise MappingError(f"{what}: 'fallback' needs 'columns' to fall back from")
    if not columns and constant is None:
        raise MappingError(f"{what}: give 'columns' (or 'column') or a 'constant'")
    return FieldSource(
        columns=columns,
        fallback=fallbacks[0] if fallbacks else (),
        constant=constant,
        joiner=joiner,
        more_fallbacks=tuple(fallbacks[1:]),
    )


def _parse_fallback(value: Any, what: str) -> list[tuple[str, ...]]:
    """``"B"`` or ``["B1", "B2"]`` (one group, joined) or ``[["B"], ["C"]]`` (tried in turn)."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [_names(v, f"{what} fallback") for v in value]
    names = _names(value, f"{what} fallback")
    return [names] if names else []


def _parse_field(name: str, value: Any, where: str) -> tuple[FieldSource, ...]:
    """One source, or ``{candidates = [...]}``: the first one the file has wins."""
    if isinstance(value, dict) and "candidates" in value:
        if set(value) != {"candidates"}:
            raise MappingError(f"{where}: field '{name}': 'candidates' stands alone")
        items = value["candidates"]
        if not isinstance(items, list) or not items:
            raise MappingError(f"{where}: field '{name}': 'candidates' must be a non-empty list")
        return tuple(_parse_source(name, item, where) for item in items)
    return (_parse_source(name, value, where),)


def _parse_custom_columns(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """``["Note", "Source"]`` (header = key) or ``{"Note" = "note"}``."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple((v, v) for v in value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return tuple((str(k), v) for k, v in value.items())
    raise MappingError(
        f"{where}: [custom] columns must be a list of headers or a table header = key"
    )


# ---------------------------------------------------------------------------- resolving


def _resolve(source: FieldSource, headers: _Headers) -> tuple[FieldSource | None, list[str]]:
    """The source with the file's own header spellings, and the columns the file lacks.

    Groups whose columns are all missing are dropped (a fallback moves up); None when
    nothing is left to read from.
    """
    found_groups: list[tuple[str, ...]] = []
    missing: list[str] = []
    for group in source.groups():
        found: list[str] = []
        for column in group:
            header = headers.find(column)
            if header is None:
                missing.append(column)
            else:
                found.append(header)
        if found:
            found_groups.append(tuple(found))
    if not found_groups and source.constant is None:
        return None, missing
    resolved = FieldSource(
        columns=found_groups[0] if found_groups else (),
        fallback=found_groups[1] if len(found_groups) > 1 else (),
        constant=source.constant,
        joiner=source.joiner,
        more_fallbacks=tuple(found_groups[2:]),
    )
    return resolved, missing


def _resolve_loose(candidates: Sequence[FieldSource], headers: _Headers) -> FieldSource | None:
    """The first candidate the file has columns for (missing columns are left out)."""
    for candidate in candidates:
        resolved, _ = _resolve(candidate, headers)
        if resolved is not None and resolved.groups():
            return resolved
    for candidate in candidates:
        if not candidate.groups() and candidate.constant is not None:
            return candidate
    return None


def _resolve_strict(
    name: str, candidates: Sequence[FieldSource], headers: _Headers, where: str
) -> FieldSource:
    """The first candidate whose every column is in the file, else a MappingError."""
    first_missing: list[str] = []
    for candidate in candidates:
        resolved, missing = _resolve(candidate, headers)
        if resolved is not None and not missing:
            return resolved
        if not first_missing:
            first_missing = missing
    hints = []
    for column in first_missing:
        close = headers.closest([column])
        hints.append(
            f"'{column}'" + (f" (closest: {', '.join(repr(c) for c in close)})" if close else "")
        )
    raise MappingError(
        f"{where}: field '{name}': column(s) not in the file: {'; '.join(hints)}. "
        f"Headers found: {_header_list(headers.names)}"
    )


def _resolve_custom(
    pairs: Iterable[tuple[str, str]], headers: _Headers, where: str | None
) -> list[tuple[str, str]]:
    """Custom (header, key) pairs with the file's header spellings; ``where`` None: lenient."""
    out: list[tuple[str, str]] = []
    keys: set[str] = set()
    for column, key in pairs:
        header = headers.find(column)
        if header is None:
            if where is None:
                continue
            close = headers.closest([column])
            hint = f" (closest: {', '.join(repr(c) for c in close)})" if close else ""
            raise MappingError(
                f"{where}: custom column '{column}' is not in the file{hint}. "
                f"Headers found: {_header_list(headers.names)}"
            )
        key = key.strip()
        problem = _key_problem(key, keys)
        if problem:
            if where is not None:
                raise MappingError(f"{where}: custom column '{column}': {problem}")
            continue
        keys.add(key)
        out.append((header, key))
    return out


def _key_problem(key: str, taken: set[str]) -> str | None:
    if not key:
        return "the key is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"the key is longer than {MAX_KEY_LENGTH} characters"
    if key == IMPORT_ID_KEY:
        return f"'{IMPORT_ID_KEY}' is reserved for the importer's own key"
    if key in taken:
        return f"the key '{key}' is used twice"
    return None


def _rest_as_custom(
    headers: _Headers, used: set[str], taken: set[str], skip_useless: bool
) -> list[tuple[str, str]]:
    """Every header no field reads becomes a custom entry keyed by the header."""
    ignore = _synonyms().ignore if skip_useless else frozenset()
    out: list[tuple[str, str]] = []
    for header in headers.names:
        if header in used:
            continue
        norm = normalize_header(header)
        if skip_useless and (norm in ignore or _BLANK_HEADER.match(norm)):
            continue
        key = header.strip()[:MAX_KEY_LENGTH]
        if key == IMPORT_ID_KEY:
            key = f"source_{IMPORT_ID_KEY}"
        if _key_problem(key, taken):
            continue
        taken.add(key)
        out.append((header, key))
    return out


# ---------------------------------------------------------------------------- completing


@dataclass
class _Draft:
    """Fields found so far, before the defaults, the checks on the rows and the required
    fields: what presets, header synonyms and mapping files each produce."""

    fields: dict[str, FieldSource]
    custom: list[tuple[str, str]]
    preset: str | None
    origin: str
    prefer: str
    where: str
    #: None: look at the cells; () or columns: said by a mapping file
    packed: tuple[str, ...] | None = None
    #: custom data is every other column (detection), not a list a person wrote
    auto_custom: bool = True
    hints: bool = True
    notes: list[str] = field(default_factory=list)


def _complete(draft: _Draft, table: Table, *, partial: bool = False) -> Mapping:
    """The draft as a usable mapping: packed product cells, the price reading the rows
    support, the quantity default, then the required fields (a MappingError naming the
    closest headers, or with ``partial`` a mapping that lists what is missing)."""
    headers = _Headers(tuple(table.frame.columns))
    fields = dict(draft.fields)
    notes = list(draft.notes)
    packed = draft.packed if draft.packed is not None else _detect_packed(table, fields)
    custom = list(draft.custom)
    if packed and draft.auto_custom:
        custom = [(column, key) for column, key in custom if column not in packed]
    if draft.auto_custom and len(custom) > MAX_CUSTOM_COLUMNS:
        custom, note = _capped_custom(custom)
        notes.append(note)
    if "total" in fields and "unit_price" in fields:
        dropped = fields.pop("unit_price" if draft.prefer == "total" else "total")
    else:
        dropped = None
    if "unit_price" in fields:
        notes.extend(_price_reading(table, fields, dropped))
    if "total" not in fields and "unit_price" not in fields and "order_total" in fields:
        # the order's amount is the only amount: each row's line total too (one row, one
        # order), and the amount to collect that line totals must add up to
        fields["total"] = fields["order_total"]
        notes.append(
            f"'{_describe_source(fields['total'])}' is the only amount: it is read as the "
            "line total and as the order's total."
        )
    if "quantity" not in fields:
        fields["quantity"] = FieldSource(constant=DEFAULT_QUANTITY)
    missing = _missing_fields(fields, packed)
    if missing and not partial:
        _raise_missing(missing, fields, headers, draft.where, draft.hints)
    ordered = {name: fields[name] for name in CANONICAL_FIELDS if name in fields}
    return Mapping(
        preset=draft.preset,
        fields=ordered,
        custom=tuple(custom),
        price_is_unit="unit_price" in ordered,
        origin=draft.origin,
        packed=packed,
        notes=tuple(notes),
        missing=tuple(missing),
    )


def _capped_custom(custom: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str]:
    """The first MAX_CUSTOM_COLUMNS custom columns, in the file's order: more would make every
    lead invalid (too many custom data entries), and a sheet may have thousands."""
    kept = custom[:MAX_CUSTOM_COLUMNS]
    note = (
        f"{len(custom)} columns match no field, and a lead carries at most "
        f"{MAX_CUSTOM_COLUMNS} custom data entries: the first {len(kept)} ('{kept[0][0]}' … "
        f"'{kept[-1][0]}') are sent as custom data, the other {len(custom) - len(kept)} are "
        "not. Name the ones you want in a mapping file ([custom] columns = [...])."
    )
    return kept, note


def _missing_fields(fields: dict[str, FieldSource], packed: Sequence[str]) -> list[str]:
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if "sku" not in fields and "product_name" not in fields and not packed:
        missing.append("sku")
    # numbered product cells (line_item_N) carry their own totals
    key_value = packed and "product_name" not in fields
    if "total" not in fields and "unit_price" not in fields and not key_value:
        missing.append("total")
    return missing


def _raise_missing(
    missing: Sequence[str],
    fields: dict[str, FieldSource],
    headers: _Headers,
    where: str,
    hints: bool,
) -> None:
    synonyms = _synonyms().fields
    lines = [f"{where}: no column found for required field(s): {', '.join(missing)}."]
    lines.append(f"Headers found: {_header_list(headers.names)}")
    used = {h for source in fields.values() for h in source.headers()}
    free = _Headers(tuple(h for h in headers.names if h not in used))
    for name in missing:
        close = free.closest(_wanted(name, synonyms))
        label = {"sku": "sku or product_name", "total": "total or unit_price"}.get(name, name)
        found = ", ".join(repr(c) for c in close) if close else "none"
        lines.append(f"  closest to {label}: {found}")
    if hints:
        lines.append(
            "Name the missing columns in a mapping file (TOML) and pass it with --mapping: "
            "`wedocod map FILE --write mapping.toml` writes one with what was found and the "
            "fields to fill in, e.g.\n"
            '  [fields]\n  phone = "<your phone column>"\n  total = "<your total column>"'
        )
    raise MappingError("\n".join(lines))


def _wanted(name: str, synonyms: dict[str, tuple[str, ...]]) -> list[str]:
    wanted = [*synonyms.get(name, ()), name]
    if name == "sku":
        wanted += synonyms["product_name"]
    if name == "total":
        wanted += [*synonyms["unit_price"], *synonyms["order_total"]]
    return wanted


def _header_list(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _where(table: Table) -> str:
    return str(table.path)


def _price_reading(
    table: Table, fields: dict[str, FieldSource], dropped: FieldSource | None
) -> list[str]:
    """Is the mapped unit price really one? The rows say: on lines of more than one item,
    a unit price times the quantity makes the total, while a price equal to the total is
    the line's total already. When the rows show the latter, the price becomes the total.
    """
    from importer.normalize import parse_money_column, parse_quantity_column

    unit = fields["unit_price"]
    quantity = fields.get("quantity")
    others = [s for s in (dropped, fields.get("order_total")) if s is not None and s != unit]
    if quantity is None or not quantity.groups() or not others:
        return []
    sample = table.frame.iloc[:CROSS_CHECK_ROWS]
    price = parse_money_column(_values(sample, unit))[0].to_numpy(dtype=float, na_value=np.nan)
    count = parse_quantity_column(_values(sample, quantity))[0]
    many = (count.fillna(0) > 1).to_numpy(dtype=bool)
    if "order_key" in fields and fields["order_key"].groups():
        keys = _values(sample, fields["order_key"])
        # an order's total equals a line's only when the order has that one line
        many &= ~(keys.duplicated(keep=False) & (keys != "")).to_numpy(dtype=bool)
    name = _describe_source(unit)
    for other in others:
        total = parse_money_column(_values(sample, other))[0].to_numpy(dtype=float, na_value=np.nan)
        usable = many & ~np.isnan(price) & ~np.isnan(total)
        compared = int(usable.sum())
        if not compared:
            continue
        equal = int((np.abs(price - total) < 0.005)[usable].sum())
        times = count.fillna(0).to_numpy(dtype=float)
        product = int((np.abs(price * times - total) < 0.01)[usable].sum())
        what = _describe_source(other)
        if equal >= 2 and equal >= CROSS_CHECK_SHARE * compared:
            fields["total"] = fields.pop("unit_price")
            return [
                f"'{name}' is read as each line's total, not a unit price: on {equal} of "
                f"{compared} row(s) with a quantity above 1 it equals '{what}'."
            ]
        if product >= CROSS_CHECK_SHARE * compared:
            return [
                f"'{name}' is read as a unit price (line total = price × quantity): on "
                f"{product} of {compared} row(s) with a quantity above 1, price × quantity "
                f"equals '{what}'."
            ]
    return []


# ---------------------------------------------------------------------------- packed cells

# A cell of key:value fields: WooCommerce's "name:Serum|sku:S-1|quantity:2|total:300".
_KEY_VALUE = re.compile(r"(?:^|[|;\n])\s*(?:name|sku|quantity|qty|product_id)\s*:", re.IGNORECASE)
# Two products in one cell, each with its quantity ("Sérum x2, Crème x1", "2x Sérum + 1x Crème"),
# as an RE2 pattern: pyarrow looks at the whole column at once.
_LIST_CELL = (
    r"(?s)(?:\s[xX×*]\s*[0-9]{1,3}\s*\)?\s*(?:[,;+\n]|\s/\s).*\s[xX×*]\s*[0-9]{1,3}\s*\)?\s*$)"
    r"|(?:^\s*[0-9]{1,3}\s*[xX×*]\s*\S[^,;+\n]*[,;+\n]\s*[0-9]{1,3}\s*[xX×*]\s*\S)"
)
_SEPARATOR = re.compile(r"(\s*(?:[,;+\n]|\s/\s)\s*)")
_END_MARK = re.compile(r"^(?P<name>.*?\S)(?:\s+|\s*\()[xX×*]\s*(?P<q>\d{1,3})\s*\)?$", re.DOTALL)
_START_MARK = re.compile(r"^(?P<q>\d{1,3})\s*[xX×*]\s*(?P<name>\S.*)$", re.DOTALL)
_ITEM_KEYS = {
    "name": "name", "product": "name", "product_name": "name", "item_name": "name",
    "title": "name", "sku": "sku", "item_sku": "sku", "quantity": "quantity", "qty": "quantity",
    "item_quantity": "quantity", "total": "total", "line_total": "total", "item_total": "total",
    "subtotal": "subtotal", "sub_total": "subtotal", "line_subtotal": "subtotal",
    "price": "price", "item_price": "price", "cost": "price", "item_cost": "price",
    "unit_price": "price",
}  # fmt: skip


#: Keys an item's first field may have: a new item starts there.
_ITEM_STARTS = frozenset({"id", "item_id", "line_id", *_ITEM_KEYS})


@dataclass(frozen=True)
class _Item:
    """One product read from a packed cell (values are text, "" when not given)."""

    name: str = ""
    sku: str = ""
    quantity: str = ""
    total: str = ""
    price: str = ""
    #: the quantity came from a mark in the name ("Sérum x2"), and the text it was read from
    marked: str = ""


def _detect_packed(table: Table, fields: dict[str, FieldSource]) -> tuple[str, ...]:
    """Columns whose cells list products: numbered ``line_item_N`` columns of key:value
    cells, or the product column when some of its cells name two products or more."""
    frame = table.frame
    numbered = [h for h in frame.columns if _LINE_ITEM_HEADER.fullmatch(normalize_header(str(h)))]
    if numbered and any(_has_key_values(frame[h]) for h in numbered):
        return tuple(numbered)
    product = fields.get("product_name")
    if product is None or len(product.columns) != 1 or product.fallback:
        return ()
    column = product.columns[0]
    if column not in frame.columns:
        return ()
    if _has_key_values(frame[column]):
        return (column,)
    values = pa.array(frame[column].fillna("").astype("str").array)
    if pc.any(pc.match_substring_regex(values, _LIST_CELL)).as_py():
        return (column,)
    return ()


def _has_key_values(values: pd.Series) -> bool:
    sample = values.iloc[:2000].astype("str")
    return bool(sample.str.contains(_KEY_VALUE.pattern, regex=True, case=False).any())


def _parse_cell(text: str) -> list[_Item]:
    if not text.strip():
        return []
    if _KEY_VALUE.search(text):
        return _key_value_items(text)
    return _list_items(text)


def _key_value_items(text: str) -> list[_Item]:
    """``name:A|sku:S|quantity:2|total:10;name:B|...`` (``;`` or a line break between items)."""
    chunks: list[str] = []
    for piece in re.split(r"[;\n]", text):
        key, colon, _ = piece.split("|", 1)[0].partition(":")
        starts = colon and key.strip().casefold().replace(" ", "_") in _ITEM_STARTS
        if starts or not chunks:
            chunks.append(piece)
        else:
            chunks[-1] += ";" + piece  # a ';' inside a value
    items = []
    for chunk in chunks:
        values: dict[str, str] = {}
        last: str | None = None
        for part in chunk.split("|"):
            key, colon, value = part.partition(":")
            name = _ITEM_KEYS.get(key.strip().casefold().replace(" ", "_")) if colon else None
            if name is None:
                if last is not None and not colon:
                    values[last] += "|" + part  # a '|' inside a value
                last = None if colon else last
                continue
            values[name] = value.strip()
            last = name
        if values.get("name") or values.get("sku"):
            items.append(
                _Item(
                    name=values.get("name", ""),
                    sku=values.get("sku", ""),
                    quantity=values.get("quantity", ""),
                    total=values.get("total") or values.get("subtotal", ""),
                    price=values.get("price", ""),
                )
            )
    return items


def _list_items(text: str) -> list[_Item]:
    """``Sérum x2, Crème x1`` / ``2x Sérum + Crème``: a separator inside a name stays in it,
    because every product but the last ends with its quantity."""
    parts = _SEPARATOR.split(text.strip())
    items: list[_Item] = []
    pending = ""
    for i in range(0, len(parts), 2):
        piece, glue = parts[i], parts[i - 1] if i else ""
        start = _START_MARK.match(piece)
        if start:
            if pending:
                items.append(_Item(name=pending))
                pending = ""
            items.append(_Item(name=start["name"].strip(), quantity=start["q"], marked=piece))
            continue
        candidate = pending + glue + piece if pending else piece
        end = _END_MARK.match(candidate)
        if end:
            items.append(_Item(name=end["name"].strip(), quantity=end["q"], marked=candidate))
            pending = ""
        else:
            pending = candidate
    if pending:
        items.append(_Item(name=pending.strip()))
    return items


def _row_key(values: Sequence[str], kind: str) -> str:
    """An order key for rows that have none but are one order: their content's fingerprint,
    the same in every run (the import key stays the same, and nothing is sent twice)."""
    digest = hashlib.sha256("\x1f".join(values).encode("utf-8")).hexdigest()[:16]
    return f"{kind}-{digest}"


def _number_copies(keys: list[str]) -> list[str]:
    """The 2nd, 3rd ... identical key in file order get #2, #3 (identical rows stay apart)."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return out


_PRODUCT_COLUMNS = ("sku", "product_name", "quantity", "total", "unit_price", "line_discount")


def _unpack(
    table: Table, mapping: Mapping, frame: pd.DataFrame, columns: dict[str, str]
) -> tuple[pd.DataFrame, list[Issue], list[str]]:
    """One line per product of the packed cells (the source row's number on each), the
    issues about rows whose total had to be shared, and a note for the file.

    Only files with packed cells come here: the loop runs over their rows in Python.
    """
    from importer.normalize import parse_money_column

    texts = [_text(table.frame, c).tolist() for c in mapping.packed]
    per_row = [
        list(chain.from_iterable(_parse_cell(cells[i]) for cells in texts))
        for i in range(len(frame))
    ]
    counts = np.array([max(1, len(items)) for items in per_row], dtype=np.int64)
    out = frame.iloc[np.repeat(np.arange(len(frame)), counts)].copy()
    values = {name: frame[name].tolist() for name in ("order_key", *_PRODUCT_COLUMNS)}
    lines = {name: out[name].tolist() for name in ("order_key", *_PRODUCT_COLUMNS)}
    quantity_source = mapping.fields.get("quantity")
    has_quantity = quantity_source is not None and bool(quantity_source.groups())
    row_numbers = frame.index.tolist()
    to_share: list[tuple[int, int, list[_Item], str, bool]] = []
    keyless: list[tuple[int, int, int]] = []  # (row position, first line, lines)
    at = 0
    for i, items in enumerate(per_row):
        size = int(counts[i])
        if not items:
            at += size
            continue
        several = len(items) > 1
        for j, item in enumerate(items):
            line = at + j
            name, quantity = item.name, item.quantity
            if item.marked and not several and has_quantity:
                row_quantity = values["quantity"][i]
                if row_quantity and row_quantity != item.quantity:
                    name, quantity = item.marked, row_quantity  # the mark is the name's
            lines["product_name"][line] = name
            lines["sku"][line] = item.sku or ("" if several else values["sku"][i])
            lines["quantity"][line] = quantity or ("1" if several else values["quantity"][i])
            lines["unit_price"][line] = item.price or ("" if several else values["unit_price"][i])
            lines["total"][line] = item.total or (
                "" if several or item.price else values["total"][i]
            )
            if several:
                lines["line_discount"][line] = ""
        if several and not all(item.total or item.price for item in items):
            base, from_price = values["total"][i], False
            if not base and mapping.price_is_unit:
                base, from_price = values["unit_price"][i], True
            to_share.append((i, at, items, base, from_price))
        if several and not values["order_key"][i]:
            keyless.append((i, at, size))
        at += size
    issues = _share_totals(to_share, lines, row_numbers, mapping, columns, parse_money_column)
    if keyless:
        source = table.frame
        keys = _number_copies(
            [_row_key(source.iloc[i].astype("str").tolist(), "packed") for i, _, _ in keyless]
        )
        for (_, first, size), key in zip(keyless, keys, strict=True):
            for line in range(first, first + size):
                lines["order_key"][line] = key
    for name, column in lines.items():
        out[name] = pd.array(column, dtype="str")
    packed_label = _columns_label(mapping.packed)
    joined = " + ".join(mapping.packed)
    product = mapping.fields.get("product_name")
    if product is None or product.columns != mapping.packed:
        # key:value cells: every product field comes from them
        for name in ("product_name", "sku", "quantity", "total"):
            columns[name] = joined
    elif not has_quantity:
        columns["quantity"] = joined
    several_rows = int((counts > 1).sum())
    notes = []
    if several_rows:
        notes.append(
            f"{packed_label} {'list' if len(mapping.packed) > 1 else 'lists'} several products in "
            f"one cell on {several_rows} row(s): each "
            f"product is an order line of its own ({len(out)} lines from {len(frame)} rows); "
            "the report keeps one line per source row."
        )
    return out, issues, notes


def _share_totals(
    to_share: list[tuple[int, int, list[_Item], str, bool]],
    lines: dict[str, list[Any]],
    row_numbers: list[int],
    mapping: Mapping,
    columns: dict[str, str],
    parse_money: Any,
) -> list[Issue]:
    """A cell's products without their own totals share the row's total in proportion to
    their quantities (rounded to the cent, the last one taking what rounding left), so that
    they still add up to it; the row says so."""
    if not to_share:
        return []
    parsed = parse_money(pd.Series([base for *_, base, _ in to_share], dtype="str"))[0]
    amounts: list[float | None] = [None if pd.isna(v) else float(v) for v in parsed.tolist()]
    issues = []
    for (i, first, items, base, from_price), amount in zip(to_share, amounts, strict=True):
        size = len(items)
        if not base or amount is None:
            for line in range(first, first + size):
                lines["total"][line] = base  # empty or unreadable: reported once the row is
            continue
        weights = [
            int(it.quantity) if it.quantity.isdigit() and int(it.quantity) else 1 for it in items
        ]
        whole = sum(weights)
        shares = [round(float(amount) * w / whole, 2) for w in weights[:-1]]
        shares.append(round(float(amount) - sum(shares), 2))
        for line, share in zip(range(first, first + size), shares, strict=True):
            lines["total"][line] = f"{share:.2f}"
            lines["unit_price"][line] = ""
        source = columns.get("unit_price" if from_price else "total", "total")
        listed = ", ".join(f"{it.name} ×{it.quantity or 1}" for it in items)
        how = (
            f"'{source}' holds one price for {size} different products: it was read as the "
            "row's total, and"
            if from_price
            else f"the row's total ({_plain(float(amount))}, from '{source}')"
        )
        issues.append(
            Issue(
                row_numbers[i],
                source,
                SHARED_TOTAL,
                f"This cell lists {size} products ({listed}), each sent as a product line of its "
                f"own; {how} was shared between them in proportion to their quantities: "
                + " + ".join(_plain(s) for s in shares)
                + ". Check the amounts.",
                Severity.WARNING,
            )
        )
    return issues


def _plain(amount: float) -> str:
    return str(int(amount)) if float(amount).is_integer() else f"{amount:.2f}"


def _columns_label(headers: Sequence[str]) -> str:
    if len(headers) <= 2:
        return " and ".join(f"'{h}'" for h in headers)
    return f"'{headers[0]}' … '{headers[-1]}'"


def _merged_orders(table: Table, mapping: Mapping, frame: pd.DataFrame) -> list[str]:
    """Rows under one merged name, phone or address cell are one order when the file has no
    order number: the person sees one customer over the rows of their products."""
    identity: set[str] = set()
    for name in ("full_name", "phone", "address"):
        source = mapping.fields.get(name)
        if source is not None:
            identity.update(source.headers())
    spans = [(header, rows) for header, rows in table.merged if header in identity]
    if not spans:
        return []
    parent: dict[int, int] = {}

    def root(row: int) -> int:
        while parent.setdefault(row, row) != row:
            row = parent[row]
        return row

    for _, rows in spans:
        for row in rows[1:]:
            parent[root(row)] = root(rows[0])
    groups: dict[int, list[int]] = {}
    for row in parent:
        groups.setdefault(root(row), []).append(row)
    keys = frame["order_key"]
    chosen = [
        sorted(group)
        for group in groups.values()
        if len(group) > 1 and all(row in keys.index and keys.loc[row] == "" for row in group)
    ]
    if not chosen:
        return []
    chosen.sort()
    cells = table.frame.astype("str")
    position = {row: n for n, row in enumerate(cells.index.tolist())}
    texts = [
        _row_key([str(v) for r in group for v in cells.iloc[position[r]].tolist()], "merged")
        for group in chosen
    ]
    for group, key in zip(chosen, _number_copies(texts), strict=True):
        frame.loc[group, "order_key"] = key
    header = next(h for h, _ in spans)
    return [
        f"{len(chosen)} order(s) span several rows under a merged '{header}' cell, and no "
        f"column holds an order number: the rows under each merged cell are one order "
        f"(rows {chosen[0][0]}–{chosen[0][-1]}, …)."
    ]


# ---------------------------------------------------------------------------- presets


def _preset_fields(preset: _Preset, headers: _Headers) -> dict[str, FieldSource]:
    fields: dict[str, FieldSource] = {}
    for name, candidates in preset.fields.items():
        resolved = _resolve_loose(candidates, headers)
        if resolved is not None:
            fields[name] = resolved
    return fields


def _preset_custom(
    preset: _Preset, headers: _Headers, fields: dict[str, FieldSource]
) -> list[tuple[str, str]]:
    custom = _resolve_custom(preset.custom, headers, None)
    if preset.rest:
        used = {h for source in fields.values() for h in source.headers()}
        used.update(column for column, _ in custom)
        custom += _rest_as_custom(headers, used, {k for _, k in custom}, skip_useless=False)
    return custom


def _preset_draft(key: str, table: Table) -> _Draft:
    preset = _preset(key)
    headers = _Headers(tuple(table.frame.columns))
    fields = _preset_fields(preset, headers)
    return _Draft(
        fields=fields,
        custom=_preset_custom(preset, headers, fields),
        preset=key,
        origin=f"preset {key}",
        prefer=preset.prefer,
        where=f"{_where(table)} (preset {key})",
    )


def _preset_key(name: str) -> str:
    key = name.strip().lower()
    if key not in PRESETS:
        close = difflib.get_close_matches(key, PRESETS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise MappingError(f"Unknown preset '{name}'; choose one of {', '.join(PRESETS)}.{hint}")
    return key


def preset_mapping(name: str, table: Table, *, partial: bool = False) -> Mapping:
    """The named preset, checked against the file's headers (``partial``: see
    ``detect_mapping``)."""
    return _complete(_preset_draft(_preset_key(name), table), table, partial=partial)


def preset_scores(table: Table) -> dict[str, float]:
    """How much of each preset's header signature the file has (0..1)."""
    present = {normalize_header(h) for h in table.frame.columns}
    return {
        name: max(len(sig & present) / len(sig) for sig in _preset(name).signatures)
        for name in PRESETS
    }


# ---------------------------------------------------------------------------- synonyms

#: Fields found by header names before the customer's: their headers ("Nom du produit",
#: "Réf commande") hold words that would otherwise look like a name or a reference.
_FIRST_FIELDS = (
    "order_key", "product_name", "sku", "quantity", "total", "unit_price", "line_discount",
    "order_total", "shipping", "discount", "country", "variant",
)  # fmt: skip
#: Fields that may read a second column when the first is empty on a row (billing after
#: shipping), found with the same synonym.
_WITH_FALLBACK = frozenset({"phone", "city", "area", "address", "address_2", "country"})
_SHIPPING_WORDS = frozenset({"shipping", "delivery", "livraison", "expedition"})
_BILLING_WORDS = frozenset({"billing", "facturation", "invoice"})


def _qualifier_rank(words: Sequence[str]) -> int:
    """Shipping columns before unqualified ones before billing ones: COD ships."""
    if _SHIPPING_WORDS.intersection(words):
        return 0
    return 2 if _BILLING_WORDS.intersection(words) else 1


class _Claims:
    """Headers taken by fields so far, so that no header feeds two fields by accident."""

    def __init__(self, headers: _Headers, synonyms: _Synonyms) -> None:
        self.index = headers
        self.names = headers.names
        self.synonyms = synonyms
        self.taken: set[str] = set()
        self.by_key: dict[str, list[str]] = {}
        self.words: dict[str, tuple[str, ...]] = {}
        self.by_word: dict[str, list[str]] = {}
        self.position = {name: n for n, name in enumerate(self.names)}
        for name in self.names:
            norm = normalize_header(name)
            self.by_key.setdefault(_exact_key(norm), []).append(name)
            words = header_words(norm)
            self.words[name] = words
            for word in set(words):
                self.by_word.setdefault(word, []).append(name)

    def exact(self, spellings: Sequence[str], skip: frozenset[str] = frozenset()) -> str | None:
        """The first spelling the file has, letter for letter (plurals aside)."""
        for spelling in spellings:
            if spelling in skip:
                continue
            for header in self.by_key.get(_exact_key(spelling), ()):
                if header not in self.taken:
                    self.taken.add(header)
                    return header
        return None

    def worded(
        self, name: str, spellings: Sequence[str], skip: frozenset[str] = frozenset()
    ) -> list[str]:
        """Unclaimed headers holding every word of a spelling and only neutral words besides
        ("Shipping City", "billing_city" for "City"), for the first spelling any header
        matches so; shipping ones first. Nothing is claimed yet."""
        allowed = self.synonyms.allowed(name)
        for spelling in spellings:
            if spelling in skip:
                continue
            wanted = set(header_words(spelling))
            if not wanted:
                continue
            rarest = min(wanted, key=lambda w: len(self.by_word.get(w, ())))
            found = []
            for header in self.by_word.get(rarest, ()):
                if header in self.taken:
                    continue
                words = set(self.words[header])
                if wanted <= words and not (words - wanted - allowed):
                    found.append(header)
            if found:
                found.sort(
                    key=lambda h: (
                        _qualifier_rank(self.words[h]),
                        len(self.words[h]),
                        self.position[h],
                    )
                )
                return found
        return []

    def claim(self, *headers: str | None) -> None:
        self.taken.update(h for h in headers if h)

    def near(self, spellings: Sequence[str], first_word: bool) -> str | None:
        """A misspelt header (``Telephon``), or one that starts with a one-word synonym."""
        best: tuple[float, str] | None = None
        for spelling in spellings:
            for norm in self.index.near(spelling, share=0.5):
                header = self.index.by_norm[norm]
                if header in self.taken:
                    continue
                ratio = difflib.SequenceMatcher(None, norm, spelling).ratio()
                if first_word and " " not in spelling and norm.split(" ")[:1] == [spelling]:
                    ratio = max(ratio, 0.9)
                if ratio >= 0.85 and (best is None or ratio > best[0]):
                    best = (ratio, header)
        if best is None:
            return None
        self.taken.add(best[1])
        return best[1]


def _synonym_draft(table: Table) -> _Draft:
    synonyms = _synonyms()
    spell = synonyms.fields
    headers = _Headers(tuple(table.frame.columns))
    claims = _Claims(headers, synonyms)
    found: dict[str, tuple[str, str | None]] = {}
    last_names = frozenset(spell["last_name"])

    # Pass 1: exact spellings for every field, so that no looser match takes one first.
    for name in _FIRST_FIELDS:
        header = claims.exact(spell[name])
        if header:
            found[name] = (header, None)
    full = claims.exact(spell["full_name"], skip=last_names)
    if full is None:
        first = claims.exact(spell["first_name"])
        if first is not None:
            found["first_name"] = (first, None)
            last = claims.exact(spell["last_name"])
            if last:
                found["last_name"] = (last, None)
        else:
            full = claims.exact(spell["full_name"])
    if full is not None:
        found["full_name"] = (full, None)
    for name in ("phone", "phone_2", "city", "area", "address", "address_2"):
        header = claims.exact(spell[name])
        if header:
            found[name] = (header, None)

    # Pass 2: word for word ("Shipping City", "billing_phone", "Ville de livraison").
    names = (*_FIRST_FIELDS, "full_name", "first_name", "last_name", "phone", "phone_2",
             "city", "area", "address", "address_2")  # fmt: skip
    for name in names:
        if name in found or (name == "full_name" and "first_name" in found):
            continue
        if name in ("first_name", "last_name") and "full_name" in found:
            continue
        skip = last_names if name == "full_name" else frozenset()
        candidates = claims.worded(name, spell[name], skip)
        if not candidates:
            continue
        primary = candidates[0]
        second = next(
            (
                c
                for c in candidates[1:]
                if _qualifier_rank(claims.words[c]) > _qualifier_rank(claims.words[primary])
            ),
            None,
        )
        second = second if name in _WITH_FALLBACK else None
        claims.claim(primary, second)
        found[name] = (primary, second)

    fields: dict[str, FieldSource] = {}

    def source(name: str, *extra: str) -> FieldSource:
        header, second = found[name]
        return FieldSource(columns=(header, *extra), fallback=(second,) if second else ())

    for name in (*_FIRST_FIELDS, "city", "area"):
        if name in found and name != "variant":
            fields[name] = source(name)
    if "product_name" in found and "variant" in found:
        # a variant is a product of its own: "Serum - 50ml", as Shopify names them
        fields["product_name"] = FieldSource(
            columns=(found["product_name"][0], found["variant"][0]), joiner=" - "
        )
    if "full_name" in found:
        fields["full_name"] = source("full_name")
    elif "first_name" in found:
        halves = [found["first_name"][0]] + (
            [found["last_name"][0]] if "last_name" in found else []
        )
        fields["full_name"] = FieldSource(columns=tuple(halves))
    phone, phone_2 = found.get("phone"), found.get("phone_2")
    if phone or phone_2:
        primary, billing = phone or phone_2  # type: ignore[misc]
        groups = [
            g
            for g in ((billing,) if billing else (), (phone_2[0],) if phone and phone_2 else ())
            if g
        ]
        fields["phone"] = FieldSource(
            columns=(primary,),
            fallback=groups[0] if groups else (),
            more_fallbacks=tuple(groups[1:]),
        )
    if "address" in found:
        address, billing = found["address"]
        second, billing_2 = found.get("address_2", (None, None))
        fields["address"] = FieldSource(
            columns=(address, second) if second else (address,),
            fallback=((billing, billing_2) if billing_2 else (billing,)) if billing else (),
        )

    # Pass 3, for required fields only: misspelt or decorated headers ("Téléphone (WhatsApp)").
    for name in ("phone", "city", "address", "full_name", "quantity", "total"):
        if name not in fields:
            header = claims.near(spell[name], first_word=name != "full_name")
            if header:
                fields[name] = FieldSource(columns=(header,))
    used = {h for s in fields.values() for h in s.headers()}
    custom = _rest_as_custom(headers, used, set(), skip_useless=True)
    return _Draft(
        fields=fields,
        custom=custom,
        preset=None,
        origin="header names",
        prefer="total",
        where=_where(table),
    )


def _detected_draft(table: Table) -> _Draft:
    """What detection finds: the preset the headers match (when it fits), else synonyms."""
    scores = preset_scores(table)
    best = max(PRESETS, key=lambda name: scores[name])
    if scores[best] >= DETECT_THRESHOLD:
        draft = _preset_draft(best, table)
        if not _complete(draft, table, partial=True).missing:
            return draft
        fallback = _synonym_draft(table)
        if not _complete(fallback, table, partial=True).missing:
            return fallback
        return draft
    return _synonym_draft(table)


def detect_mapping(table: Table, *, partial: bool = False) -> Mapping:
    """The preset whose header signature the file matches best, else header synonyms.

    A required field without a column is a MappingError naming the closest headers; with
    ``partial`` the mapping is returned anyway, its ``missing`` listing those fields (for
    `wedocod map --write`, which writes what was found and what is left to fill in).
    """
    scores = preset_scores(table)
    best = max(PRESETS, key=lambda name: scores[name])
    if scores[best] < DETECT_THRESHOLD:
        return _complete(_synonym_draft(table), table, partial=partial)
    try:
        return _complete(_preset_draft(best, table), table)
    except MappingError as preset_error:
        try:
            return _complete(_synonym_draft(table), table)
        except MappingError:
            if not partial:
                raise preset_error from None
    drafts = [
        _complete(_preset_draft(best, table), table, partial=True),
        _complete(_synonym_draft(table), table, partial=True),
    ]
    return min(drafts, key=lambda m: len(m.missing))


# ---------------------------------------------------------------------------- mapping files


def load_mapping(path: Path, table: Table, *, partial: bool = False) -> Mapping:
    """A TOML mapping file (see ``dump_mapping``), checked against the file's headers.

    The file adds to what detection finds, field by field: naming only the fields detection
    missed is enough, and a field it names replaces detection's (``area = false`` leaves a
    field unmapped). With ``preset = "name"``, the preset fills the fields the file does not
    name instead of detection. ``[custom]`` replaces the custom data detection chose;
    ``packed`` names the columns whose cells list several products (``false``: none).
    """
    where = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise MappingError(f"{where}: cannot read the mapping file: {err.strerror}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise MappingError(f"{where}: not a valid TOML file: {err}") from err
    # amount and region are read by the pipeline (they choose how values are read)
    unknown = sorted(set(raw) - {"preset", "amount", "region", "fields", "custom", "packed"})
    if unknown:
        raise MappingError(
            f"{where}: unknown section(s) or key(s) {', '.join(unknown)}; "
            "a mapping file has preset, amount, region, packed, [fields] and [custom]"
        )
    headers = _Headers(tuple(table.frame.columns))
    if "preset" in raw:
        name = str(raw["preset"]).strip().lower()
        if name not in PRESETS:
            raise MappingError(
                f"{where}: unknown preset '{raw['preset']}'; choose one of {', '.join(PRESETS)}"
            )
        draft = _preset_draft(name, table)
        draft.origin = f"mapping file {path} on preset {name}"
    else:
        draft = _detected_draft(table)
        draft.preset = None
        draft.origin = f"mapping file {path}"
    draft.where, draft.hints = where, False
    given = raw.get("fields", {})
    if not isinstance(given, dict):
        raise MappingError(f"{where}: [fields] must be a table")
    named: dict[str, FieldSource] = {}
    for name, value in given.items():
        if name not in CANONICAL_FIELDS:
            close = difflib.get_close_matches(name, CANONICAL_FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise MappingError(
                f"{where}: unknown field '{name}'{hint}; fields are {', '.join(CANONICAL_FIELDS)}"
            )
        if value is not False:
            named[name] = _resolve_strict(name, _parse_field(name, value, where), headers, where)
    if {"total", "unit_price"} <= set(named):
        raise MappingError(f"{where}: map either 'total' (line total) or 'unit_price', not both")
    fields = draft.fields
    taken = {h for s in named.values() for h in s.headers()}
    for name in list(fields):
        # the file's word beats detection's: a column it names for one field feeds no other
        # field detection had given it to, and a field it turns off stays off
        if name in given or taken.intersection(fields[name].headers()):
            del fields[name]
    fields.update(named)
    if named.keys() & {"total", "unit_price"}:
        # the file's own choice of price beats the preset's (or detection's)
        fields.pop("unit_price" if "total" in named else "total", None)
    if "custom" in raw:
        draft.custom = _load_custom(raw["custom"], headers, fields, where)
        draft.auto_custom = False
    else:
        used = {h for s in fields.values() for h in s.headers()}
        draft.custom = [(c, k) for c, k in draft.custom if c not in used]
    if "packed" in raw:
        draft.packed = _load_packed(raw["packed"], headers, where)
        draft.custom = [(c, k) for c, k in draft.custom if c not in draft.packed]
    return _complete(draft, table, partial=partial)


def _load_packed(value: Any, headers: _Headers, where: str) -> tuple[str, ...]:
    if value is False:
        return ()
    names = _names(value, f"{where}: packed") if value != [] else ()
    found = []
    for name in names:
        header = headers.find(name)
        if header is None:
            close = headers.closest([name])
            hint = f" (closest: {', '.join(repr(c) for c in close)})" if close else ""
            raise MappingError(f"{where}: packed column '{name}' is not in the file{hint}")
        found.append(header)
    return tuple(found)


def _load_custom(
    raw: Any, headers: _Headers, fields: dict[str, FieldSource], where: str
) -> list[tuple[str, str]]:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: [custom] must be a table")
    unknown = sorted(set(raw) - {"columns", "rest"})
    if unknown:
        raise MappingError(f"{where}: [custom]: unknown key(s) {', '.join(unknown)}")
    pairs = _parse_custom_columns(raw.get("columns", []), where)
    custom = _resolve_custom(pairs, headers, where)
    rest = raw.get("rest", False)
    if not isinstance(rest, bool):
        raise MappingError(f"{where}: [custom] rest must be true or false")
    if rest:
        used = {h for source in fields.values() for h in source.headers()}
        used.update(column for column, _ in custom)
        custom += _rest_as_custom(headers, used, {k for _, k in custom}, skip_useless=False)
    return custom


def _toml_value(value: str | Sequence[Any]) -> str:
    """One value on one line (tomli_w spreads arrays over several)."""
    if isinstance(value, str):
        return tomli_w.dumps({"v": value}).strip()[len("v = ") :]
    return "[" + ", ".join(_toml_value(item) for item in value) + "]"


def _source_toml(source: FieldSource) -> str:
    if not source.fallback and source.constant is None and source.joiner == " ":
        if len(source.columns) == 1:
            return _toml_value(source.columns[0])
        if source.columns:
            return _toml_value(list(source.columns))
    parts: list[str] = []
    if source.columns:
        parts.append(f"columns = {_toml_value(list(source.columns))}")
    if source.fallback:
        fallback: list[Any] = list(source.fallback)
        if source.more_fallbacks:
            fallback = [fallback, *(list(g) for g in source.more_fallbacks)]
        parts.append(f"fallback = {_toml_value(fallback)}")
    if source.constant is not None:
        parts.append(f"constant = {_toml_value(source.constant)}")
    if source.joiner != " ":
        parts.append(f"joiner = {_toml_value(source.joiner)}")
    return "{ " + ", ".join(parts) + " }"


#: What to write for a required field no column was found for: the field to fill in, and
#: the one to turn off when the other is filled in instead.
_TO_FILL = {"sku": ("product_name", "sku"), "total": ("total", "unit_price")}


def dump_mapping(mapping: Mapping, table: Table | None = None) -> str:
    """The mapping as an editable TOML mapping file; ``load_mapping`` reads it back.

    Required fields a partial mapping lacks are written as ``field = ""`` with the closest
    headers of ``table`` in a comment: loading the file fails, naming them, until a person
    fills them in.
    """
    lines = [
        f"# wedocod-importer mapping ({mapping.origin or 'saved'}).",
        "# Each field takes a column, a list of columns (joined with a space), or a table:",
        '#   { columns = [...], fallback = [...] or [[...], [...]], constant = "..." }',
        "# `field = false` leaves a field unmapped.",
        "# Use it with: wedocod import FILE --mapping THIS_FILE.toml",
    ]
    blanks: dict[str, str] = {}
    if mapping.missing:
        used = {h for source in mapping.fields.values() for h in source.headers()}
        free = (
            _Headers(tuple(h for h in table.frame.columns if h not in used))
            if table is not None
            else None
        )
        for name in mapping.missing:
            field_name, other = _TO_FILL.get(name, (name, ""))
            close = free.closest(_wanted(name, _synonyms().fields)) if free else []
            hint = f" (closest: {', '.join(repr(c) for c in close)})" if close else ""
            also = f"; or fill in {other} instead and set this one to false" if other else ""
            blanks[field_name] = (
                f'""  # TO FILL IN: the header of your {field_name} column{hint}{also}'
            )
        lines += [
            "#",
            "# TO FILL IN: no column was found for "
            + ", ".join(_TO_FILL.get(m, (m,))[0] for m in mapping.missing)
            + ". Write the header of your column between the quotes.",
        ]
    if mapping.preset:
        lines.append(f"preset = {_toml_value(mapping.preset)}")
    if mapping.packed:
        lines += [
            "# columns whose cells list several products (each an order line of its own):",
            f"packed = {_toml_value(list(mapping.packed))}",
        ]
    lines += ["", "[fields]"]
    for name in CANONICAL_FIELDS:
        source = mapping.fields.get(name)
        if name in blanks:
            lines.append(f"{name} = {blanks[name]}")
        else:
            lines.append(f"{name} = {_source_toml(source) if source else 'false'}")
    columns = dict(mapping.custom)
    if len(columns) != len(mapping.custom):
        # a TOML table cannot name one column twice
        raise MappingError("cannot save a mapping that sends one column under two keys")
    if mapping.missing:
        # what is left to fill in may be among the columns custom data would take: "rest"
        # sends every column no field reads, whichever those end up being
        lines += [
            "",
            "[custom]",
            "# every column no field reads is sent as custom data",
            "rest = true",
            "",
        ]
        return "\n".join(lines)
    custom = {"custom": {"rest": False, "columns": columns}}
    lines += ["", tomli_w.dumps(custom).strip(), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- applying


#: ASCII whitespace for str.strip() (Python's and arrow's agree): tab..CR, 0x1C..0x1F, space.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[*range(0x09, 0x0E), *range(0x1C, 0x21)]] = True
#: First bytes of the other whitespace characters: U+0085 and U+00A0 (C2, two bytes), U+1680
#: (E1), U+2000..U+205F (E2) and U+3000 (E3), three bytes each.
_TWO_BYTE_SPACE_LEAD = 0xC2
_THREE_BYTE_SPACE_LEAD = np.zeros(256, dtype=bool)
_THREE_BYTE_SPACE_LEAD[[0xE1, 0xE2, 0xE3]] = True
_SPACE_START = _ASCII_SPACE | _THREE_BYTE_SPACE_LEAD
_SPACE_START[_TWO_BYTE_SPACE_LEAD] = True


def _may_need_strip(chunk: pa.Array) -> bool:
    """Whether some cell of a string chunk may start or end with whitespace (never a miss).

    Looks at the bytes at both ends of every cell in the chunk's buffers: much cheaper than
    stripping, and most export columns have nothing to strip.
    """
    _, offsets_buffer, data_buffer = chunk.buffers()
    if len(chunk) == 0 or data_buffer is None or data_buffer.size == 0:
        return False
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets: np.ndarray = np.frombuffer(offsets_buffer, dtype=width)
    offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
    data: np.ndarray = np.frombuffer(data_buffer, dtype=np.uint8)
    # An empty cell reads its neighbours' bytes, which are checked anyway: no filtering.
    first = data[np.minimum(offsets[:-1], len(data) - 1)]
    if _SPACE_START[first].any():
        return True
    ends = np.maximum(offsets[1:], 1)
    last = data[ends - 1]
    if _ASCII_SPACE[last].any():
        return True
    # Cells ending in a multi-byte character: look at where that character would begin.
    wide = ends[last >= 0x80]
    if (data[np.maximum(wide - 2, 0)] == _TWO_BYTE_SPACE_LEAD).any():
        return True
    return bool(_THREE_BYTE_SPACE_LEAD[data[np.maximum(wide - 3, 0)]].any())


def _text(frame: pd.DataFrame, column: str) -> pd.Series[str]:
    """The column stripped, "" for empty (``.str.strip()``, sharing untouched chunks)."""
    values = frame[column].fillna("").astype("str")
    chunks = pa.chunked_array(pa.array(values.array))
    padded = [_may_need_strip(chunk) for chunk in chunks.chunks]
    if not any(padded):
        return values
    stripped: pd.Series[str] = pa.chunked_array(
        [
            pc.utf8_trim_whitespace(chunk) if pad else chunk
            for chunk, pad in zip(chunks.chunks, padded, strict=True)
        ],
        chunks.type,
    ).to_pandas()
    stripped = stripped.astype("str")
    stripped.index = values.index
    stripped.name = values.name
    return stripped


def _joined(frame: pd.DataFrame, columns: Sequence[str], joiner: str) -> pd.Series[str]:
    out = _text(frame, columns[0])
    for column in columns[1:]:
        part = _text(frame, column)
        both = (out != "") & (part != "")
        out = out + (joiner + part).where(both, part)
    return out


def _values(frame: pd.DataFrame, source: FieldSource) -> pd.Series[str]:
    result: pd.Series[str] | None = None
    for group in source.groups():
        joined = _joined(frame, group, source.joiner)
        result = joined if result is None else result.where(result != "", joined)
    if source.constant is not None:
        if result is None:
            return pd.Series(source.constant, index=frame.index, dtype="str")
        result = result.where(result != "", source.constant)
    if result is None:
        return pd.Series("", index=frame.index, dtype="str")
    return result


#: A phone read from several column groups (Shipping Phone, else Billing Phone, else Phone)
#: also gets each group's own values, as ``phone#0``, ``phone#1``...: normalize_lines falls
#: back past an invalid number to a valid one, and drops these columns.
PHONE_CHOICE = "phone#"


def apply_mapping(table: Table, mapping: Mapping) -> MappedTable:
    """The table's rows as canonical text columns ("" when empty or unmapped).

    Rows under one merged customer cell of a file without order numbers get one order key;
    a cell listing several products becomes one line per product (see ``Mapping.packed``).
    """
    frame = table.frame
    missing = sorted(mapping.headers() - set(frame.columns))
    if missing:
        headers = _Headers(tuple(frame.columns))
        hints = [
            f"'{m}'" + (f" (closest: {', '.join(repr(c) for c in close)})" if close else "")
            for m in missing
            for close in [headers.closest([m])]
        ]
        raise MappingError(
            f"{_where(table)}: the mapping reads column(s) the file does not have: "
            f"{'; '.join(hints)}"
        )
    empty = pd.Series("", index=frame.index, dtype="str")
    out: dict[str, pd.Series[str]] = {}
    columns: dict[str, str] = {}
    for name in CANONICAL_FIELDS:
        source = mapping.fields.get(name)
        out[name] = _values(frame, source) if source else empty
        if source and source.groups():
            columns[name] = " + ".join(source.groups()[0])
    for column, key in mapping.custom:
        out[CUSTOM_PREFIX + key] = _text(frame, column)
        columns[CUSTOM_PREFIX + key] = column
    phone = mapping.fields.get("phone")
    if phone is not None and len(phone.groups()) > 1:
        for n, group in enumerate(phone.groups()):
            out[f"{PHONE_CHOICE}{n}"] = _joined(frame, group, phone.joiner)
            columns[f"{PHONE_CHOICE}{n}"] = " + ".join(group)
    mapped = pd.DataFrame(out, index=frame.index)
    issues: list[Issue] = []
    notes: list[str] = []
    if table.merged:
        notes += _merged_orders(table, mapping, mapped)
    if mapping.packed:
        mapped, found, said = _unpack(table, mapping, mapped, columns)
        issues += found
        notes += said
    return MappedTable(
        table=table,
        frame=mapped,
        columns=columns,
        mapping=mapping,
        issues=tuple(issues),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------- describing

_UNMAPPED = {
    "order_key": "not mapped: each row is one lead",
    "area": "not mapped (optional)",
    "sku": "not mapped: products are found by product_name in the catalog",
    "product_name": "not mapped",
    "total": "computed: unit_price x quantity",
    "unit_price": "not mapped",
}


def _describe_source(source: FieldSource) -> str:
    glue = " + " if source.joiner.strip() == "" else f" {source.joiner.strip()} "
    texts = [glue.join(group) for group in source.groups()]
    text = ", else ".join(texts)
    if source.constant is not None:
        text = f"{text}, else '{source.constant}'" if text else f"'{source.constant}' on every row"
    return text


def describe_mapping(mapping: Mapping, table: Table) -> list[tuple[str, str]]:
    """(target, where it comes from) pairs for `wedocod map`: fields, what is missing, packed
    product cells, custom data, ignored columns, then what detection decided and why."""
    out: list[tuple[str, str]] = []
    missing = {_TO_FILL.get(m, (m,))[0]: m for m in mapping.missing}
    in_fields = {h for source in mapping.fields.values() for h in source.headers()}
    headers = _Headers(tuple(h for h in table.frame.columns if h not in in_fields))
    for name in CANONICAL_FIELDS:
        source = mapping.fields.get(name)
        if name in missing:
            close = headers.closest(_wanted(missing[name], _synonyms().fields))
            hint = f" (closest: {', '.join(repr(c) for c in close)})" if close else ""
            out.append((name, f"MISSING: no column found{hint}"))
            continue
        if source is None:
            text = _UNMAPPED.get(name, "not mapped")
            if name == "total" and "unit_price" not in mapping.fields:
                text = "not mapped"
            product = mapping.fields.get("product_name")
            key_values = mapping.packed and (product is None or product.columns != mapping.packed)
            if name in ("sku", "product_name", "total") and key_values:
                text = f"from the products listed in {_columns_label(mapping.packed)}"
            out.append((name, text))
            continue
        text = _describe_source(source)
        if name == "quantity" and not source.groups():
            if mapping.packed:
                text = (
                    f"the quantity written with each product in {_columns_label(mapping.packed)}"
                    f" (Sérum x2), else '{source.constant}'"
                )
            else:
                text += " (no quantity column found: each row is one item)"
        if name == "unit_price":
            text += " (unit price; total = unit_price x quantity)"
        out.append((name, text))
    if mapping.packed:
        out.append(
            (
                "packed",
                f"{_columns_label(mapping.packed)}: a cell may list several products; each is "
                "an order line of its own",
            )
        )
    for column, key in mapping.custom:
        out.append((f"{CUSTOM_PREFIX}{key}", column))
    used = mapping.headers()
    ignored = [h for h in table.frame.columns if h not in used]
    if ignored:
        shown = ", ".join(ignored[:12]) + (", …" if len(ignored) > 12 else "")
        out.append(("ignored", f"{len(ignored)} column(s): {shown}"))
    out.extend(("note", note) for note in mapping.notes)
    return out

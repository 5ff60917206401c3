"""Which source columns feed which lead fields: presets, header auto-detection, mapping files."""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import tomli_w

from importer.errors import MappingError as MappingError
from importer.model import CANONICAL_FIELDS, CUSTOM_PREFIX, IMPORT_ID_KEY
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

_SOURCE_KEYS = frozenset({"columns", "column", "fallback", "constant", "default", "joiner"})
_NON_WORD = re.compile(r"[\W_]+")
# Arabic letters written several ways by hand; tatweel is pure decoration.
_ARABIC_VARIANTS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ـ": None}
)
# Spreadsheet and pandas names for columns that had no header.
_BLANK_HEADER = re.compile(r"^(?:unnamed \d+|column ?\d+|col ?\d+|field ?\d+)?$")


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
    ``origin`` says in words where the mapping came from, for people.
    """

    preset: str | None
    fields: dict[str, FieldSource]
    custom: tuple[tuple[str, str], ...]
    price_is_unit: bool = False
    origin: str = ""

    def headers(self) -> set[str]:
        """Every source header the mapping reads."""
        used = {h for source in self.fields.values() for h in source.headers()}
        used.update(column for column, _ in self.custom)
        return used


@dataclass(frozen=True)
class MappedTable:
    """A table's rows as canonical text columns, plus ``data:<key>`` custom columns."""

    table: Table
    frame: pd.DataFrame
    columns: dict[str, str]
    mapping: Mapping


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
    fields: dict[str, tuple[str, ...]]
    ignore: frozenset[str]


@dataclass
class _Headers:
    """A file's headers, found exactly or by their normalised form."""

    names: tuple[str, ...]
    by_norm: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.names:
            self.by_norm.setdefault(normalize_header(name), name)

    def find(self, name: str) -> str | None:
        if name in self.names:
            return name
        return self.by_norm.get(normalize_header(name))

    def closest(self, wanted: Iterable[str], n: int = 3) -> list[str]:
        """Headers whose normalised form is nearest to any of ``wanted`` (normalised)."""
        targets = [normalize_header(w) for w in wanted]
        scored: list[tuple[float, str]] = []
        for norm, name in self.by_norm.items():
            best = max(
                (difflib.SequenceMatcher(None, norm, t).ratio() for t in targets), default=0.0
            )
            if best >= 0.5:
                scored.append((best, name))
        scored.sort(key=lambda pair: -pair[0])
        return [name for _, name in scored[:n]]


def normalize_header(text: str) -> str:
    """A header reduced to what matters for matching: no case, accents, punctuation or tatweel.

    ``"  Téléphone (GSM) "`` -> ``"telephone gsm"``; ``"المبلغ (درهم)"`` -> ``"المبلغ درهم"``.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.translate(_ARABIC_VARIANTS).casefold()
    return _NON_WORD.sub(" ", bare).strip()


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
    return _Synonyms(fields, ignore)


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
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(f"{what}: expected a column name or a list of column names")


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


def _finish(
    fields: dict[str, FieldSource],
    custom: Sequence[tuple[str, str]],
    *,
    preset: str | None,
    origin: str,
    prefer: str,
    headers: _Headers,
    where: str,
    hints: bool = True,
) -> Mapping:
    """Apply the quantity default and the price preference, then check required fields."""
    fields = dict(fields)
    if "total" in fields and "unit_price" in fields:
        fields.pop("unit_price" if prefer == "total" else "total")
    if "quantity" not in fields:
        fields["quantity"] = FieldSource(constant=DEFAULT_QUANTITY)
    _check_required(fields, headers, where, hints)
    ordered = {name: fields[name] for name in CANONICAL_FIELDS if name in fields}
    return Mapping(
        preset=preset,
        fields=ordered,
        custom=tuple(custom),
        price_is_unit="unit_price" in ordered,
        origin=origin,
    )


def _check_required(
    fields: dict[str, FieldSource], headers: _Headers, where: str, hints: bool
) -> None:
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if "sku" not in fields and "product_name" not in fields:
        missing.append("sku")
    if "total" not in fields and "unit_price" not in fields:
        missing.append("total")
    if not missing:
        return
    synonyms = _synonyms().fields
    lines = [f"{where}: no column found for required field(s): {', '.join(missing)}."]
    lines.append(f"Headers found: {_header_list(headers.names)}")
    used = {h for source in fields.values() for h in source.headers()}
    free = _Headers(tuple(h for h in headers.names if h not in used))
    for name in missing:
        wanted = [*synonyms.get(name, ()), name]
        if name == "sku":
            wanted += synonyms["product_name"]
        if name == "total":
            wanted += synonyms["unit_price"]
        close = free.closest(wanted)
        label = {"sku": "sku or product_name", "total": "total or unit_price"}.get(name, name)
        found = ", ".join(repr(c) for c in close) if close else "none"
        lines.append(f"  closest to {label}: {found}")
    if hints:
        lines.append(
            "Name the columns in a mapping file (TOML) and pass it with --mapping, e.g.\n"
            '  [fields]\n  phone = "<your phone column>"\n  total = "<your total column>"'
        )
    raise MappingError("\n".join(lines))


def _header_list(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _where(table: Table) -> str:
    return str(table.path)


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


def preset_mapping(name: str, table: Table) -> Mapping:
    """The named preset, checked against the file's headers."""
    key = name.strip().lower()
    if key not in PRESETS:
        close = difflib.get_close_matches(key, PRESETS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise MappingError(f"Unknown preset '{name}'; choose one of {', '.join(PRESETS)}.{hint}")
    preset = _preset(key)
    headers = _Headers(tuple(table.frame.columns))
    fields = _preset_fields(preset, headers)
    return _finish(
        fields,
        _preset_custom(preset, headers, fields),
        preset=key,
        origin=f"preset {key}",
        prefer=preset.prefer,
        headers=headers,
        where=f"{_where(table)} (preset {key})",
    )


def preset_scores(table: Table) -> dict[str, float]:
    """How much of each preset's header signature the file has (0..1)."""
    present = {normalize_header(h) for h in table.frame.columns}
    return {
        name: max(len(sig & present) / len(sig) for sig in _preset(name).signatures)
        for name in PRESETS
    }


# ---------------------------------------------------------------------------- synonyms


@dataclass
class _Claims:
    """Headers taken by fields so far, so that no header feeds two fields by accident."""

    headers: tuple[str, ...]
    taken: set[str] = field(default_factory=set)

    def exact(self, synonyms: Sequence[str], skip: frozenset[str] = frozenset()) -> str | None:
        norms = [(h, normalize_header(h)) for h in self.headers if h not in self.taken]
        for synonym in synonyms:
            if synonym in skip:
                continue
            for header, norm in norms:
                if norm == synonym:
                    self.taken.add(header)
                    return header
        return None

    def near(self, synonyms: Sequence[str], first_word: bool) -> str | None:
        """A misspelt header (``Telephon``), or one that starts with a one-word synonym."""
        best: tuple[float, str] | None = None
        for header in self.headers:
            if header in self.taken:
                continue
            norm = normalize_header(header)
            for synonym in synonyms:
                ratio = difflib.SequenceMatcher(None, norm, synonym).ratio()
                if first_word and " " not in synonym and norm.split(" ")[:1] == [synonym]:
                    ratio = max(ratio, 0.9)
                if ratio >= 0.85 and (best is None or ratio > best[0]):
                    best = (ratio, header)
        if best is None:
            return None
        self.taken.add(best[1])
        return best[1]


def _synonym_mapping(table: Table) -> Mapping:
    synonyms = _synonyms().fields
    headers = _Headers(tuple(table.frame.columns))
    claims = _Claims(headers.names)
    fields: dict[str, FieldSource] = {}

    def one(name: str) -> str | None:
        return claims.exact(synonyms[name])

    # Ids and products first: their headers ("Nom du produit", "Réf commande") contain words
    # that would otherwise look like a name or a reference.
    for name in ("order_key", "product_name", "sku", "quantity", "total", "unit_price"):
        header = one(name)
        if header:
            fields[name] = FieldSource(columns=(header,))
    # "Prénom" + "Nom" are two halves of the name; a full-name column wins over them.
    last_names = frozenset(synonyms["last_name"])
    full = claims.exact(synonyms["full_name"], skip=last_names)
    if full is None:
        first = one("first_name")
        if first is not None:
            last = one("last_name")
            fields["full_name"] = FieldSource(columns=(first, last) if last else (first,))
        else:
            full = one("full_name")
    if full is not None:
        fields["full_name"] = FieldSource(columns=(full,))
    phone, phone_2 = one("phone"), one("phone_2")
    if phone or phone_2:
        primary = phone or phone_2
        assert primary is not None
        second = (phone_2,) if phone and phone_2 else ()
        fields["phone"] = FieldSource(columns=(primary,), fallback=second)
    for name in ("city", "area"):
        header = one(name)
        if header:
            fields[name] = FieldSource(columns=(header,))
    address, address_2 = one("address"), one("address_2")
    if address:
        fields["address"] = FieldSource(columns=(address, address_2) if address_2 else (address,))
    # Second chance for required fields: misspelt headers, "Ville client", "Téléphone (WhatsApp)".
    for name in ("phone", "city", "address", "full_name", "quantity", "total"):
        if name not in fields:
            header = claims.near(synonyms[name], first_word=name != "full_name")
            if header:
                fields[name] = FieldSource(columns=(header,))
    used = {h for source in fields.values() for h in source.headers()}
    custom = _rest_as_custom(headers, used, set(), skip_useless=True)
    return _finish(
        fields,
        custom,
        preset=None,
        origin="header names",
        prefer="total",
        headers=headers,
        where=_where(table),
    )


def detect_mapping(table: Table) -> Mapping:
    """The preset whose header signature the file matches best, else header synonyms."""
    scores = preset_scores(table)
    best = max(PRESETS, key=lambda name: scores[name])
    if scores[best] < DETECT_THRESHOLD:
        return _synonym_mapping(table)
    try:
        return preset_mapping(best, table)
    except MappingError as preset_error:
        try:
            return _synonym_mapping(table)
        except MappingError:
            raise preset_error from None


# ---------------------------------------------------------------------------- mapping files


def load_mapping(path: Path, table: Table) -> Mapping:
    """A TOML mapping file (see ``dump_mapping``), checked against the file's headers.

    With ``preset = "name"``, the preset fills every field the file does not name
    (``area = false`` leaves a field unmapped).
    """
    where = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise MappingError(f"{where}: cannot read the mapping file: {err.strerror}") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise MappingError(f"{where}: not a valid TOML file: {err}") from err
    # amount and region are read by the pipeline (they choose how values are read)
    unknown = sorted(set(raw) - {"preset", "amount", "region", "fields", "custom"})
    if unknown:
        raise MappingError(
            f"{where}: unknown section(s) or key(s) {', '.join(unknown)}; "
            "a mapping file has preset, amount, region, [fields] and [custom]"
        )
    headers = _Headers(tuple(table.frame.columns))
    fields: dict[str, FieldSource] = {}
    custom: list[tuple[str, str]] = []
    preset_name: str | None = None
    prefer = "total"
    if "preset" in raw:
        preset_name = str(raw["preset"]).strip().lower()
        if preset_name not in PRESETS:
            raise MappingError(
                f"{where}: unknown preset '{raw['preset']}'; choose one of {', '.join(PRESETS)}"
            )
        preset = _preset(preset_name)
        fields = _preset_fields(preset, headers)
        custom = _preset_custom(preset, headers, fields)
        prefer = preset.prefer
    given = raw.get("fields", {})
    if not isinstance(given, dict):
        raise MappingError(f"{where}: [fields] must be a table")
    for name, value in given.items():
        if name not in CANONICAL_FIELDS:
            close = difflib.get_close_matches(name, CANONICAL_FIELDS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise MappingError(
                f"{where}: unknown field '{name}'{hint}; fields are {', '.join(CANONICAL_FIELDS)}"
            )
        if value is False:
            fields.pop(name, None)
            continue
        fields[name] = _resolve_strict(name, _parse_field(name, value, where), headers, where)
    named = {k for k, v in given.items() if v is not False}
    if {"total", "unit_price"} <= named:
        raise MappingError(f"{where}: map either 'total' (line total) or 'unit_price', not both")
    if named & {"total", "unit_price"}:
        # the file's own choice of price beats the preset's
        fields.pop("unit_price" if "total" in named else "total", None)
    if "custom" in raw:
        custom = _load_custom(raw["custom"], headers, fields, where)
    return _finish(
        fields,
        custom,
        preset=preset_name,
        origin=f"mapping file {path}",
        prefer=prefer,
        headers=headers,
        where=where,
        hints=False,
    )


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


def dump_mapping(mapping: Mapping) -> str:
    """The mapping as an editable TOML mapping file; ``load_mapping`` reads it back."""
    lines = [
        f"# wedocod-importer mapping ({mapping.origin or 'saved'}).",
        "# Each field takes a column, a list of columns (joined with a space), or a table:",
        '#   { columns = [...], fallback = [...] or [[...], [...]], constant = "..." }',
        "# `field = false` leaves a field unmapped.",
        "# Use it with: wedocod import FILE --mapping THIS_FILE.toml",
    ]
    if mapping.preset:
        lines.append(f"preset = {_toml_value(mapping.preset)}")
    lines += ["", "[fields]"]
    for name in CANONICAL_FIELDS:
        source = mapping.fields.get(name)
        lines.append(f"{name} = {_source_toml(source) if source else 'false'}")
    columns = dict(mapping.custom)
    if len(columns) != len(mapping.custom):
        # a TOML table cannot name one column twice
        raise MappingError("cannot save a mapping that sends one column under two keys")
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
    """The table's rows as canonical text columns ("" when empty or unmapped)."""
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
    return MappedTable(table=table, frame=mapped, columns=columns, mapping=mapping)


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
    texts = [" + ".join(group) for group in source.groups()]
    text = ", else ".join(texts)
    if source.constant is not None:
        text = f"{text}, else '{source.constant}'" if text else f"'{source.constant}' on every row"
    return text


def describe_mapping(mapping: Mapping, table: Table) -> list[tuple[str, str]]:
    """(target, where it comes from) pairs for `wedocod map`, ignored columns last."""
    out: list[tuple[str, str]] = []
    for name in CANONICAL_FIELDS:
        source = mapping.fields.get(name)
        if source is None:
            text = _UNMAPPED.get(name, "not mapped")
            if name == "total" and "unit_price" not in mapping.fields:
                text = "not mapped"
            out.append((name, text))
            continue
        text = _describe_source(source)
        if name == "quantity" and not source.groups():
            text += " (no quantity column found: each row is one item)"
        if name == "unit_price":
            text += " (unit price; total = unit_price x quantity)"
        out.append((name, text))
    for column, key in mapping.custom:
        out.append((f"{CUSTOM_PREFIX}{key}", column))
    used = mapping.headers()
    ignored = [h for h in table.frame.columns if h not in used]
    if ignored:
        shown = ", ".join(ignored[:12]) + (", …" if len(ignored) > 12 else "")
        out.append(("ignored", f"{len(ignored)} column(s): {shown}"))
    return out

"""Settings in `wedocod.toml`: the options a user would otherwise repeat on every command line.

A settings file is flat TOML, every key optional::

    preset = "shopify"            # or mapping = "mapping.toml"
    catalog = "products.csv"
    sheet = "Orders"
    region = "MA"
    phone_format = "national"
    strict = false                # warnings stop a row, as errors do
    amount = "order"              # or "lines" (see the README: the amount to collect)
    batch_size = 10
    workers = 4
    token_file = "/etc/wedocod/token"
    ledger = "/var/lib/wedocod/ledger.sqlite3"

Relative paths are relative to the file's own folder. Which file: `--config PATH` (or the
environment's `WEDOCOD_CONFIG`), else `wedocod.toml` in the current folder, else the one in
the user's config folder (`~/.config/wedocod/` on Linux). An option given on the command line
always wins over the file; the file wins over the built-in default.

Light on purpose (tomllib and platformdirs only): the command line reads it before any
command runs.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from importer.errors import SettingsError as SettingsError
from importer.presets import PRESETS

#: The settings file's name, in the current folder or the user's config folder.
CONFIG_NAME = "wedocod.toml"
#: Environment variable naming a settings file (as `--config` does).
CONFIG_ENV = "WEDOCOD_CONFIG"

PHONE_FORMATS = ("national", "e164", "raw")
AMOUNT_MODES = ("order", "lines")


@dataclass(frozen=True)
class Settings:
    """What a settings file says; None: not said (the command line or the default decides)."""

    path: Path | None = None  # the file these came from
    preset: str | None = None
    mapping: Path | None = None
    catalog: Path | None = None
    sheet: str | None = None
    region: str | None = None
    phone_format: str | None = None
    strict: bool | None = None
    amount: str | None = None
    batch_size: int | None = None
    workers: int | None = None
    token_file: Path | None = None
    ledger: Path | None = None

    def over(self, base: Settings) -> Settings:
        """These settings on top of ``base``: each key said here wins, the others come from it."""
        said = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "path" and getattr(self, f.name) is not None
        }
        return replace(base, path=self.path or base.path, **said)


@dataclass(frozen=True)
class _Rule:
    """How one key's value is checked: ``check`` gives the value to keep, or None if wrong."""

    check: Callable[[Any], Any]
    expected: str


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _choice(choices: tuple[str, ...]) -> _Rule:
    return _Rule(
        lambda value: value if isinstance(value, str) and value in choices else None,
        "one of " + ", ".join(f'"{c}"' for c in choices),
    )


def _count(low: int, high: int) -> _Rule:
    def check(value: Any) -> int | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return value if ok else None

    return _Rule(check, f"a whole number from {low} to {high}")


def _region(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) == 2 and value.isalpha()
    return value.upper() if ok else None


TEXT = _Rule(_text, "a text")
#: Each key and how its value is checked; paths are checked as text, then made absolute.
_KEYS: dict[str, _Rule] = {
    "preset": _choice(PRESETS),
    "mapping": TEXT,
    "catalog": TEXT,
    "sheet": TEXT,
    "region": _Rule(_region, 'a two-letter country code, e.g. "MA"'),
    "phone_format": _choice(PHONE_FORMATS),
    "strict": _Rule(lambda value: value if isinstance(value, bool) else None, "true or false"),
    "amount": _choice(AMOUNT_MODES),
    "batch_size": _count(1, 100),
    "workers": _count(1, 32),
    "token_file": TEXT,
    "ledger": TEXT,
}
_PATHS = frozenset({"mapping", "catalog", "token_file", "ledger"})


def load_settings(path: Path) -> Settings:
    """Read one settings file; a wrong key or value names the file, the key and what it wants."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"{path}: cannot read the settings file ({err.strerror}).") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: not valid TOML ({err}).") from err
    values: dict[str, Any] = {}
    for key, value in raw.items():
        rule = _KEYS.get(key)
        if rule is None:
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            known = ", ".join(_KEYS)
            raise SettingsError(f"{path}: unknown setting '{key}'.{hint} Known settings: {known}.")
        checked = rule.check(value)
        if checked is None:
            raise SettingsError(f"{path}: '{key}' must be {rule.expected}, not {value!r}.")
        if key in _PATHS:
            checked = (path.parent / Path(checked).expanduser()).resolve()
        values[key] = checked
    if "preset" in values and "mapping" in values:
        raise SettingsError(f"{path}: give 'preset' or 'mapping', not both.")
    return Settings(path=path, **values)


def settings_path(explicit: Path | None = None, cwd: Path | None = None) -> Path | None:
    """The settings file that applies: explicit, else $WEDOCOD_CONFIG, ./wedocod.toml, user's."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV, "").strip()
    if env:
        return Path(env)
    here = (cwd or Path.cwd()) / CONFIG_NAME
    if here.is_file():
        return here
    user = Path(platformdirs.user_config_dir("wedocod")) / CONFIG_NAME
    return user if user.is_file() else None


def find_settings(explicit: Path | None = None, cwd: Path | None = None) -> Settings:
    """The settings that apply (empty when there is no settings file)."""
    path = settings_path(explicit, cwd)
    return load_settings(path) if path is not None else Settings()

"""wedocod.toml: what it may say, where it is found, and that the command line wins over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import ExitStatus, main
from importer.settings import Settings, SettingsError, find_settings, load_settings

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_is_read_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    config = write(
        tmp_path / "wedocod.toml",
        'preset = "shopify"\ncatalog = "products.csv"\nsheet = "Orders"\nregion = "za"\n'
        'phone_format = "e164"\nstrict = true\namount = "lines"\nbatch_size = 50\n'
        'workers = 2\ntoken_file = "~/token"\nledger = "state/ledger.sqlite3"\n',
    )
    settings = load_settings(config)
    assert settings.preset == "shopify"
    assert settings.catalog == (tmp_path / "products.csv").resolve()
    assert settings.ledger == (tmp_path / "state" / "ledger.sqlite3").resolve()
    assert settings.token_file == (Path.home() / "token").resolve()
    assert (settings.region, settings.phone_format, settings.amount) == ("ZA", "e164", "lines")
    assert (settings.strict, settings.batch_size, settings.workers) == (True, 50, 2)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('catalogue = "x.csv"', "unknown setting 'catalogue'. Did you mean 'catalog'?"),
        ("batch_size = 500", "'batch_size' must be a whole number from 1 to 100, not 500"),
        ("strict = 1", "'strict' must be true or false, not 1"),
        ('preset = "shopfy"', "'preset' must be one of"),
        ('region = "Morocco"', "'region' must be a two-letter country code"),
        ('preset = "shopify"\nmapping = "m.toml"', "give 'preset' or 'mapping', not both"),
        ("preset = ", "not valid TOML"),
    ],
)
def test_a_wrong_setting_names_the_file_and_the_key(tmp_path: Path, text: str, said: str) -> None:
    config = write(tmp_path / "wedocod.toml", text + "\n")
    with pytest.raises(SettingsError, match=r"wedocod\.toml") as caught:
        load_settings(config)
    assert said in str(caught.value)


def test_found_in_the_current_folder_then_the_users_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "config" / "wedocod"
    user.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    here = tmp_path / "here"
    here.mkdir()
    assert find_settings(cwd=here) == Settings()
    write(user / "wedocod.toml", 'region = "FR"\n')
    assert find_settings(cwd=here).region == "FR"
    write(here / "wedocod.toml", 'region = "ZA"\n')
    assert find_settings(cwd=here).region == "ZA"
    other = write(tmp_path / "other.toml", 'region = "EG"\n')
    monkeypatch.setenv("WEDOCOD_CONFIG", str(other))
    assert find_settings(cwd=here).region == "EG"
    assert find_settings(user / "wedocod.toml", cwd=here).region == "FR"


def test_folder_settings_over_global_ones() -> None:
    base = Settings(region="MA", batch_size=10, strict=False)
    folder = Settings(path=Path("f/wedocod.toml"), batch_size=50)
    merged = folder.over(base)
    assert (merged.region, merged.batch_size, merged.strict) == ("MA", 50, False)
    assert merged.path == Path("f/wedocod.toml")


def _check(args: list[str]) -> dict[str, object]:
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (ExitStatus.OK, ExitStatus.INCOMPLETE), result.output
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def test_check_uses_the_settings_catalog_and_the_command_line_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """commandes_fr.csv names its products without SKUs: only a catalog makes it valid."""
    monkeypatch.chdir(tmp_path)
    sample = SAMPLES / "commandes_fr.csv"
    args = ["check", str(sample), "--report", str(tmp_path / "r.csv"), "--json"]
    assert _check(args)["invalid"] == 10
    write(tmp_path / "wedocod.toml", f'catalog = "{SAMPLES / "skus.csv"}"\n')
    assert _check(args)["valid"] == 10
    empty = write(tmp_path / "empty.csv", "sku,name\nSKU-X,Nothing\n")
    assert _check([*args, "--catalog", str(empty)])["invalid"] == 10


def test_config_option_and_a_broken_settings_file_is_exit_3(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.toml", "workers = 0\n")
    sample = SAMPLES / "commandes_fr.csv"
    result = CliRunner().invoke(
        main, ["--config", str(broken), "check", str(sample), "--report", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "broken.toml" in result.output and "'workers'" in result.output

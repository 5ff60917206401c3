"""The `wedocod` command line: parse options, call the library, print, exit with a code.

One module per command family (`run`: import and check; `catalog`: products and the
account's catalog; `ingest`; `api`: the rest of the Leads API; `sandbox`), sharing `common`.
Importing this package imports click and nothing heavy: each command imports pandas, pandera
or requests only when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from importer.cli import api, catalog, ingest, run, sandbox
from importer.cli.common import ExitStatus, Failure, exit_status_for

__all__ = ["ExitStatus", "Failure", "exit_status_for", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wedocod-importer")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="WEDOCOD_CONFIG",
    help="Settings file (default: ./wedocod.toml, else the one in your config folder).",
)
def main(config: Path | None) -> None:
    """Import order exports (CSV/XLSX) into WedoCOD leads, exactly once.

    Connection: WEDOCOD_BASE_URL (default https://api.wedocod.com) and WEDOCOD_TOKEN,
    or --token-file PATH. Options you repeat (preset, catalog, region, token file...) can be
    kept in a wedocod.toml settings file. Try it all locally with `wedocod sandbox`.
    """


for _family in (run, catalog, ingest, api, sandbox):
    for _command in _family.COMMANDS:
        main.add_command(_command)

"""The `wedocod` command line: parse options, call the library, print, exit with a code.

One module per command family (`run`: import and check; `ingest`; `api`: the rest of the
Leads API; `sandbox`), sharing `common`. Importing this package imports click and nothing
heavy: each command imports pandas, pandera or requests only when it runs.
"""

from __future__ import annotations

import click

from importer.cli import api, ingest, run, sandbox
from importer.cli.common import ExitStatus, Failure, exit_status_for

__all__ = ["ExitStatus", "Failure", "exit_status_for", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wedocod-importer")
def main() -> None:
    """Import order exports (CSV/XLSX) into WedoCOD leads, exactly once.

    Connection: WEDOCOD_BASE_URL (default https://api.wedocod.com) and WEDOCOD_TOKEN,
    or --token-file PATH. Try it all locally with `wedocod sandbox`.
    """


for _family in (run, ingest, api, sandbox):
    for _command in _family.COMMANDS:
        main.add_command(_command)

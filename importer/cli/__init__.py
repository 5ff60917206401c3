"""The `wedocod` command line: parse options, call the library, print, exit with a code.

One module per command family (`run`: import and check; `catalog`: products and the
account's catalog; `ingest`; `api`: the rest of the Leads API; `sandbox`), sharing `common`.
Importing this package imports click and nothing heavy: each command imports pandas, pandera
or requests only when it runs.
"""

from __future__ import annotations

import atexit
import gc
import sys
from pathlib import Path

import click

from importer.cli import api, catalog, ingest, run, sandbox
from importer.cli.common import ExitStatus, Failure, exit_status_for, run_as_program

__all__ = ["ExitStatus", "Failure", "exit_status_for", "main", "program"]


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


def program() -> None:
    """The `wedocod` program: where the console script and `python -m importer` start.

    Two things only a whole process may decide, so only this entry does them (the library
    and in-process callers such as click's test runner are left alone):

    - pandera registers its pandas backends on the first ``validate()``, which imports its
      data-synthesis strategies, which import hypothesis whenever it is installed (~0.1 s of
      a small check). The command line never synthesises data, so hypothesis is marked absent
      (a ``None`` in ``sys.modules`` makes its import fail, as the import system documents)
      and pandera takes its path for installs without the ``strategies`` extra: validation is
      unchanged. A process that has hypothesis loaded already keeps it.
    - The commands import the library with the cyclic collector paused, and freeze what it
      built (`common.loading`).
    - Leaving, the interpreter's last collections walk every object pandas, pyarrow and
      pandera built (~0.1 s, a sixth of a small check). ``gc.freeze()`` as the last exit
      hook skips that walk; exit hooks, ``weakref.finalize`` and flushing still run, and
      every file the commands write is closed before they return. Only the finalizers of
      objects still alive in cycles are skipped, which Python never promises to run at exit.
    """
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]
    run_as_program()
    atexit.register(gc.freeze)  # registered first, so it runs after every other exit hook
    main()

"""Products and the account's catalog: `products` lists them, writes the sheet, saves it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from importer.cli.common import (
    ExitStatus,
    Failure,
    catalog_path_for,
    connection_options,
    current_settings,
    emit,
    handles_errors,
    json_option,
    stored_catalog_path,
)
from importer.presets import PRESETS

if TYPE_CHECKING:
    from importer.catalog import Catalog, ProductListing
    from importer.mapping import Mapping
    from importer.read import Table

INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
#: Products listed in the terminal; the sheet and --json have them all.
SHOWN_PRODUCTS = 40


@click.command("products")
@click.argument("files", nargs=-1, type=INPUT_FILE)
@click.option("--sheet", help="XLSX sheet to read (default: the one holding orders).")
@click.option(
    "--preset", type=click.Choice(list(PRESETS)), help="A known export layout instead of detection."
)
@click.option(
    "--mapping",
    "mapping_file",
    type=INPUT_FILE,
    help="A mapping file (TOML, see `wedocod map --write`).",
)
@click.option(
    "--catalog",
    "catalog_file",
    type=INPUT_FILE,
    help="The catalog to compare with (default: the settings file's, else your account's).",
)
@click.option(
    "--write",
    "write_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the products as a sheet to fill in: products.xlsx or products.csv.",
)
@click.option(
    "--save",
    "save_from",
    type=INPUT_FILE,
    help="Make a filled products sheet your catalog (merged into the one kept for your "
    "account, or into the settings file's `catalog`).",
)
@connection_options
@json_option()
@handles_errors
def products_command(
    files: tuple[Path, ...],
    sheet: str | None,
    preset: str | None,
    mapping_file: Path | None,
    catalog_file: Path | None,
    write_to: Path | None,
    save_from: Path | None,
    token_file: Path | None,
    as_json: bool,
) -> None:
    """List the products of FILES and build your catalog of SKUs from them.

    Most COD exports have no SKUs, and WedoCOD needs one per product. Once:

    \b
      wedocod products orders.csv --write products.xlsx   # the products, a sku column to fill
      wedocod products --save products.xlsx               # the filled sheet is your catalog

    From then on `check` and `import` find each product's SKU by its name, without
    --catalog. Names already in your catalog come filled in; close names are suggested.
    The catalog is kept per account (WEDOCOD_BASE_URL and token; the token itself is
    never stored) in your config folder, or in the file `catalog = ...` of wedocod.toml.
    """
    from importer.catalog import load_catalog

    if not files and save_from is None:
        raise click.UsageError("give export FILES to list their products, or --save SHEET")
    output: dict[str, Any] = {}
    if save_from is not None:
        output["saved"] = _save(save_from, token_file, as_json)
    if not files:
        emit(output, as_json)
        return
    catalog_path = catalog_path_for(catalog_file, token_file)
    if catalog_file is None and catalog_path is not None and not catalog_path.exists():
        catalog_path = None  # the settings file names the catalog --save will create
    catalog = load_catalog(catalog_path) if catalog_path is not None else None
    listing = _listing(files, sheet, preset, mapping_file, catalog)
    if write_to is not None:
        from importer.catalog import write_products_sheet

        write_products_sheet(write_to, listing)
    if as_json:
        output.update(listing.to_dict())
        if write_to is not None:
            output["written"] = str(write_to)
        emit(output, True)
        return
    _print_listing(listing)
    _print_next(listing, write_to, files)


def _save(sheet: Path, token_file: Path | None, quiet: bool) -> dict[str, Any]:
    from importer.catalog import save_filled_sheet

    target = current_settings().catalog or stored_catalog_path(token_file)
    if target is None:
        raise Failure(
            "--save needs to know whose catalog it is: set WEDOCOD_TOKEN (or --token-file) for "
            'your account, or name a catalog file in wedocod.toml (catalog = "products.csv").',
            ExitStatus.BAD_INPUT,
        )
    result = save_filled_sheet(sheet, target)
    if not quiet:
        click.echo(f"Catalog saved: {result.describe()}", err=True)
    return {
        "catalog": str(result.path),
        "added": result.added,
        "changed": result.changed,
        "unchanged": result.unchanged,
        "without_sku": result.skipped,
        "total": result.total,
    }


def _listing(
    files: tuple[Path, ...],
    sheet: str | None,
    preset: str | None,
    mapping_file: Path | None,
    catalog: Catalog | None,
) -> ProductListing:
    from importer.catalog import list_products
    from importer.read import read_table

    settings = current_settings()
    if preset is None and mapping_file is None:
        preset, mapping_file = settings.preset, settings.mapping
    tables: list[tuple[Table, Mapping]] = []
    for file in files:
        table = read_table(file, sheet or settings.sheet)
        tables.append((table, _product_mapping(table, preset, mapping_file)))
    return list_products(tables, catalog)


def _product_mapping(table: Table, preset: str | None, mapping_file: Path | None) -> Mapping:
    """The file's mapping, lenient about every field but the product's: listing products
    needs no phone or address."""
    from importer.mapping import MappingError, detect_mapping, load_mapping, preset_mapping

    if mapping_file is not None:
        mapping = load_mapping(mapping_file, table, partial=True)
    elif preset:
        mapping = preset_mapping(preset, table, partial=True)
    else:
        mapping = detect_mapping(table, partial=True)
    if "sku" in mapping.missing:
        headers = ", ".join(repr(h) for h in list(table.frame.columns)[:40])
        raise MappingError(
            f"{table.path}: no column names the products (a product name or a SKU); headers "
            f'found: {headers}. Name it in a mapping file (product_name = "<column>") and '
            "pass it with --mapping."
        )
    return mapping


def _print_listing(listing: ProductListing) -> None:
    counts = ", ".join(
        f"{listing.count(status)} {status}" for status in ("in file", "in catalog", "suggested",
                                                           "to fill") if listing.count(status)
    )  # fmt: skip
    files = f"{len(listing.files)} file(s)" if len(listing.files) > 1 else listing.files[0]
    click.echo(f"{files}: {listing.rows} rows, {len(listing.products)} products ({counts})")
    if listing.products:
        width = max(len("sku"), *(len(p.sku) for p in listing.products[:SHOWN_PRODUCTS]))
        click.echo(f"  {'rows':>6} {'qty':>6}  {'sku':<{width}}  {'status':<10}  name")
    for product in listing.products[:SHOWN_PRODUCTS]:
        hint = (
            f"  (suggested: {product.suggested_sku} = {product.suggested_name})"
            if product.suggested_sku
            else ""
        )
        click.echo(
            f"  {product.rows:>6} {product.quantity:>6}  {product.sku or '—':<{width}}  "
            f"{product.status:<10}  {product.name}{hint}"
        )
    if len(listing.products) > SHOWN_PRODUCTS:
        click.echo(
            f"  … and {len(listing.products) - SHOWN_PRODUCTS} more (--write lists them all)"
        )


def _print_next(listing: ProductListing, written: Path | None, files: tuple[Path, ...]) -> None:
    catalog = listing.catalog
    if catalog is not None:
        where = catalog.path or "given"
        click.echo(f"Catalog: {where} ({len(catalog.skus)} SKUs)", err=True)
    else:
        click.echo("Catalog: none yet", err=True)
    open_ = listing.count("to fill") + listing.count("suggested")
    if not open_:
        click.echo("Every product has a SKU: nothing to fill in.", err=True)
        return
    if written is None:
        shown = " ".join(shlex.quote(str(f)) for f in files)
        click.echo(
            f"Next: `wedocod products {shown} --write products.xlsx`, fill in the sku column "
            f"({open_} product(s) without one), then `wedocod products --save products.xlsx`.",
            err=True,
        )
        return
    beside = "; suggestions are beside them" if listing.count("suggested") else ""
    click.echo(
        f"Products written to {written}: fill in the sku column ({open_} product(s) without "
        f"one{beside}), then `wedocod products --save {shlex.quote(str(written))}`.",
        err=True,
    )
    sys.stderr.flush()


COMMANDS = (products_command,)

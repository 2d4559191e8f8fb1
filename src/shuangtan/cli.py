"""The ``shuangtan`` command line: a thin front door over the services.

``shuangtan calc [FILE]``   the batch calculation contract (JSON Lines in, JSON Lines out)
``shuangtan demo``          the inventory of the bundled sample enterprise, as a table
``shuangtan factors …``     search and validate the factor library
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from shuangtan import __version__
from shuangtan.errors import ShuangtanError

app = typer.Typer(
    name="shuangtan",
    help="shuangtan (双碳): MRV from the meter to a verified carbon-neutral claim.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
factors_app = typer.Typer(help="Browse and check the factor library.", no_args_is_help=True)
app.add_typer(factors_app, name="factors")

_err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shuangtan {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Shuangtan (双碳) command line."""


@app.command()
def calc(
    file: Annotated[
        Path | None,
        typer.Argument(help="JSON Lines input; standard input when omitted.", show_default=False),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="vector (NumPy, default) or record (one at a time); same output.")
    ] = "vector",
) -> None:
    """Compute emissions for each JSON line; write one JSON object per line, in order.

    A failing line yields {"id": …, "error": {"field": …, "message": …}} and the batch goes on.
    Exit code 1 if any line failed, 0 otherwise, 2 for a bad command line.
    """
    from shuangtan.services.batch import run_batch

    if engine not in ("vector", "record"):
        raise _fail(f"--engine: must be 'vector' or 'record', not {engine!r}")
    chosen: Literal["vector", "record"] = "vector" if engine == "vector" else "record"
    if file is None:
        summary = run_batch(sys.stdin.buffer, sys.stdout.buffer, engine=chosen)
    else:
        try:
            stream = file.open("rb")
        except OSError as exc:
            raise _fail(f"FILE: cannot read {str(file)!r}: {exc.strerror}") from None
        with stream:
            summary = run_batch(stream, sys.stdout.buffer, engine=chosen)
    raise typer.Exit(1 if summary.failed else 0)


@app.command()
def demo(
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
) -> None:
    """Compute and print the inventory of the bundled sample enterprise (a year of data)."""
    from shuangtan.services.inventory import compute_inventory, load_sample

    if lang not in ("zh", "en"):
        raise _fail(f"--lang: must be 'zh' or 'en', not {lang!r}")
    try:
        sample = load_sample()
        inventory = compute_inventory(sample)
    except ShuangtanError as exc:
        raise _fail(str(exc), 1) from None
    from shuangtan.services.inventory import render_tables

    console = Console(width=max(Console().width, 110))
    for table in render_tables(inventory, lang=lang):
        console.print(table)


@factors_app.command("search")
def factors_search(
    query: Annotated[str, typer.Argument(help="Text in the key, region, source or notes.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """List library factors whose key, gas, region or source contains QUERY."""
    from shuangtan.services.calculation import default_library

    library = default_library()
    needle = query.casefold()
    table = Table(title=f"factor library {library.version}")
    for column in ("key", "gas", "region", "value", "unit", "valid", "status", "source"):
        table.add_column(column)
    shown = 0
    for factor in library:
        haystack = " ".join((factor.key, factor.gas, factor.region, factor.source_title)).casefold()
        if needle in haystack:
            valid = f"{factor.valid_from}…{factor.valid_to or ''}"
            table.add_row(
                factor.key,
                factor.gas,
                factor.region,
                repr(factor.value),
                factor.unit,
                valid,
                factor.status.value,
                factor.source_title,
            )
            shown += 1
            if shown >= limit:
                break
    Console().print(table)


@factors_app.command("validate")
def factors_validate(
    directory: Annotated[
        Path | None, typer.Argument(help="A factor data directory; the packaged one by default.")
    ] = None,
) -> None:
    """Load and validate a factor library; print its version and size."""
    from shuangtan.factors import FactorLibrary

    try:
        library = FactorLibrary.load(directory)
    except ShuangtanError as exc:
        raise _fail(str(exc), 1) from None
    except OSError as exc:
        raise _fail(f"DIRECTORY: {exc}", 2) from None
    typer.echo(
        f"ok: {len(library)} factors, {len(library.sources)} sources, version {library.version}"
    )


def main() -> None:
    """Console-script entry point."""
    app()

"""``shuangtan report …``: the reports from the command line.

::

    shuangtan report inventory --org JS-SGX-E01 --period 2025 [--variant mee|iso] \\
        --format pdf|html|xlsx|json --lang zh_CN|en [-o FILE]
    shuangtan report park --org JS-SGX --period 2025 --format pdf
    shuangtan report monthly --org JS-SGX-E01 --month 2025-03 --format xlsx
    shuangtan report reimport FILE.xlsx [--no-recompute]

A Typer app that ``shuangtan.cli`` mounts as ``report``. Like ``shuangtan inventory
recompute``, it works on the database of ``SHUANGTAN_DATABASE_URL`` as the system principal
(a trusted local tool). Without ``-o`` the report is written to its own file name in the
current directory (``JS-SGX-E01-2025-inventory-zh_CN.pdf``); ``-o -`` writes to standard
output. Errors are one line on standard error: exit code 2 for a bad command line, 1 for
anything else (unknown organisation, no inventory, a bad workbook …).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shuangtan.errors import NotFoundError, ShuangtanError

__all__ = ["app"]

app = typer.Typer(
    help="Reports: the inventory report, the park summary, the monthly statement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True)

FORMATS = ("pdf", "html", "xlsx", "json")
LANGS = ("zh_CN", "en")
VARIANTS = ("mee", "iso")

Org = Annotated[str, typer.Option("--org", help="Organisation code (JS-SGX-E01).")]
Format = Annotated[str, typer.Option("--format", "-f", help="pdf, html, xlsx or json.")]
Lang = Annotated[str, typer.Option("--lang", help="zh_CN or en.")]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="File to write; '-' for standard output; default: the report's file name here.",
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise _fail(f"{option}: must be one of {', '.join(allowed)}, not {value!r}", 2)


def _database() -> Any:
    """An engine on the configured database, refused unless it is at the newest migration."""
    from sqlalchemy.exc import OperationalError

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.db.migrate import current_revision, head_revision
    from shuangtan.adapters.settings import Settings

    try:
        settings = Settings.from_env()
    except ShuangtanError as exc:
        raise _fail(str(exc), 2) from None
    engine = make_engine(settings.database_url)
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise _fail(f"cannot reach the database: {exc.orig}") from None
    if current != head_revision():
        raise _fail(
            f"the database is at migration {current or '(empty)'}, not {head_revision()}:"
            " run `shuangtan db upgrade` first"
        )
    return engine


def _write(report: Any, output: str | None) -> None:
    if output == "-":
        sys.stdout.buffer.write(report.content)
        sys.stdout.buffer.flush()
        return
    path = Path(output) if output else Path(report.filename)
    try:
        path.write_bytes(report.content)
    except OSError as exc:
        raise _fail(f"--output: cannot write {str(path)!r}: {exc.strerror}") from None
    _err.print(
        f"{path}: {len(report.content):,} bytes, sha256 {report.sha256[:16]}…", highlight=False
    )


def _generate(kind: str, org: str, period: str, fmt: str, lang: str, *, progress: bool) -> Any:
    from rich.progress import Progress
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.reports import ReportRequest, generate

    engine = _database()
    try:
        with Session(engine) as session:
            store = Store(session, SYSTEM)
            try:
                org_id = store.org_by_code(org).id
            except NotFoundError as exc:
                raise _fail(f"--org: {exc.message}") from None
            request = ReportRequest(kind, org_id, period, fmt, lang)
            if not progress:
                return generate(store, request)
            with Progress(console=_err, transient=True) as bar:
                task = bar.add_task(f"{org} {period}: enterprises", total=None)
                return generate(
                    store,
                    request,
                    on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
    except typer.Exit:
        raise
    except ShuangtanError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # a renderer's failure: one line, no traceback
        raise _fail(f"could not make the report: {type(exc).__name__}: {exc}") from None
    finally:
        engine.dispose()


@app.command("inventory")
def inventory(
    org: Org,
    period: Annotated[str, typer.Option(help="2025 (or 2025-Q1, 2025-03).")],
    variant: Annotated[
        str, typer.Option(help="mee (guideline structure) or iso (14064-1).")
    ] = "mee",
    fmt: Format = "pdf",
    lang: Lang = "zh_CN",
    output: Output = None,
) -> None:
    """The enterprise GHG inventory report of the current inventory version."""
    _choice("--variant", variant, VARIANTS)
    _choice("--format", fmt, FORMATS)
    _choice("--lang", lang, LANGS)
    kind = "inventory_iso" if variant == "iso" else "inventory"
    _write(_generate(kind, org, period, fmt, lang, progress=False), output)


@app.command("park")
def park(
    org: Org,
    period: Annotated[str, typer.Option(help="2025 (or 2025-Q1, 2025-03).")],
    fmt: Format = "pdf",
    lang: Lang = "zh_CN",
    output: Output = None,
) -> None:
    """A park's or a region's summary over its enterprises (with a progress bar)."""
    _choice("--format", fmt, FORMATS)
    _choice("--lang", lang, LANGS)
    _write(_generate("park", org, period, fmt, lang, progress=True), output)


@app.command("monthly")
def monthly(
    org: Org,
    month: Annotated[str, typer.Option(help="The month, 2025-03.")],
    fmt: Format = "pdf",
    lang: Lang = "zh_CN",
    output: Output = None,
) -> None:
    """A month's energy and emissions statement."""
    _choice("--format", fmt, FORMATS)
    _choice("--lang", lang, LANGS)
    _write(_generate("monthly", org, month, fmt, lang, progress=False), output)


@app.command("reimport")
def reimport(
    file: Annotated[Path, typer.Argument(help="An inventory report's Excel export (.xlsx).")],
    recompute: Annotated[
        bool,
        typer.Option(
            "--recompute/--no-recompute", help="Recompute the current inventories that change."
        ),
    ] = True,
) -> None:
    """Write an exported workbook's activity data back (all rows checked first)."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.reports.workbook import reimport_activity

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise _fail(f"FILE: cannot read {str(file)!r}: {exc.strerror}", 2) from None
    engine = _database()
    try:
        with Session(engine) as session:
            store = Store(session, SYSTEM)
            try:
                summary = reimport_activity(store, data, follow=recompute)
            except ShuangtanError as exc:
                session.rollback()
                raise _fail(str(exc)) from None
            session.commit()
    finally:
        engine.dispose()
    typer.echo(
        f"{summary.rows} rows: {summary.created} created, {summary.updated} updated,"
        f" {summary.unchanged} unchanged"
    )
    for done in summary.recomputed:
        typer.echo(
            f"  inventory of org {done['org_id']} {done['period']} v{done['version']}:"
            f" {done['co2e_t']} tCO2e"
        )

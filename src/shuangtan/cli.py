"""The ``shuangtan`` command line: a thin front door over the services.

``shuangtan calc [FILE]``       the batch calculation contract (JSON Lines in, JSON Lines out)
``shuangtan serve``             the platform: REST API on http://127.0.0.1:8000/api/v1
``shuangtan db …``              migrate the database (upgrade, downgrade, current)
``shuangtan demo load|sample``  load the demo park; print the sample enterprise's inventory
``shuangtan user create|token`` accounts, roles and API tokens
``shuangtan inventory …``       recompute inventories (after a factor-library update)
``shuangtan factors …``         search and validate the factor library
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import typer
from rich.console import Console
from rich.table import Table

from shuangtan import __version__
from shuangtan.errors import ShuangtanError
from shuangtan.reports.commands import app as report_app

app = typer.Typer(
    name="shuangtan",
    help="shuangtan (双碳): MRV from the meter to a verified carbon-neutral claim.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
factors_app = typer.Typer(help="Browse and check the factor library.", no_args_is_help=True)
app.add_typer(factors_app, name="factors")
demo_app = typer.Typer(help="The demo park and the sample enterprise.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
db_app = typer.Typer(help="Database migrations (SHUANGTAN_DATABASE_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="Accounts, roles and API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
inventory_app = typer.Typer(help="Inventories of the organisation tree.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
ingest_app = typer.Typer(help="Meter readings in: MQTT, files.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
readings_app = typer.Typer(help="Meter readings: activity sync.", no_args_is_help=True)
app.add_typer(readings_app, name="readings")
simulate_app = typer.Typer(help="Live readings for the demo park.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")

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


@demo_app.command("sample")
def demo_sample(
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


# --- the platform: database, demo, accounts, server ---------------------------------------


def _settings() -> Any:
    from shuangtan.adapters.settings import Settings

    try:
        return Settings.from_env()
    except ShuangtanError as exc:
        raise _fail(str(exc)) from None


def _database(*, must_be_current: bool = True) -> tuple[Any, Any]:
    """The settings and an engine; refuses a database that is not at the newest migration."""
    from sqlalchemy.exc import OperationalError

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.db.migrate import current_revision, head_revision

    settings = _settings()
    engine = make_engine(settings.database_url)
    if must_be_current:
        try:
            current = current_revision(engine)
        except OperationalError as exc:
            raise _fail(f"cannot reach the database: {exc.orig}", 1) from None
        if current != head_revision():
            raise _fail(
                f"the database is at migration {current or '(empty)'}, not {head_revision()}:"
                " run `shuangtan db upgrade` first",
                1,
            )
    return settings, engine


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _migrate(direction: Literal["upgrade", "downgrade"], revision: str) -> None:
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from shuangtan.adapters.db import migrate

    settings = _settings()
    try:
        getattr(migrate, direction)(settings.database_url, revision)
    except (SQLAlchemyError, CommandError) as exc:
        raise _fail(f"migration failed: {exc}", 1) from None
    typer.echo(f"database {_safe_url(settings.database_url)} at revision {revision}")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database up to REVISION (the newest by default)."""
    _migrate("upgrade", revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; base drops every table.")],
) -> None:
    """Migrate the database down to REVISION (``base`` removes every table: data are lost)."""
    _migrate("downgrade", revision)


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision and the newest one."""
    from shuangtan.adapters.db.migrate import current_revision, head_revision

    _, engine = _database(must_be_current=False)
    typer.echo(f"current: {current_revision(engine) or '(empty)'}  head: {head_revision()}")


@demo_app.command("load")
def demo_load(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the demo is already loaded.")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1)] = 2026,
    readings: Annotated[
        bool,
        typer.Option("--readings/--no-readings", help="Also load 2025's 15-minute meter readings."),
    ] = True,
    months: Annotated[
        str,
        typer.Option(help="Months of 2025 whose readings to load: 1-12 or a list (1,2,7)."),
    ] = "1-12",
) -> None:
    """Load the demo park and its demo accounts.

    25 enterprises, 2 years of monthly data and a year (2025) of 15-minute meter readings.
    """
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.demo import DEMO_PASSWORD, is_loaded, load_demo
    from shuangtan.adapters.keys import KeyVault
    from shuangtan.services.calculation import default_library

    chosen = _months(months)
    settings, engine = _database()
    console = Console()
    with Session(engine) as session:
        if is_loaded(session):
            if not if_empty:
                raise _fail("the demo park is already loaded (use --if-empty to skip)", 1)
            console.print("demo park already loaded")
        else:
            try:
                loaded = load_demo(
                    session,
                    default_library(),
                    seed=seed,
                    progress=lambda m: console.print(f"  {m}"),
                    vault=KeyVault(settings.key_file),
                )
            except ShuangtanError as exc:
                session.rollback()
                raise _fail(str(exc), 1) from None
            session.commit()
            console.print(
                f"demo loaded: {loaded.organizations} organizations, {loaded.sources} sources,"
                f" {loaded.meters} meters, {loaded.activity} activity data,"
                f" {loaded.inventories} inventories, {loaded.cases} verification cases"
            )
            if readings:
                _demo_readings(engine, console, chosen)
        _demo_welcome(session, console, DEMO_PASSWORD)


def _digits(text: str) -> bool:
    # ASCII digits only: str.isdigit also accepts '²', which int() refuses.
    return text.isascii() and text.isdigit()


def _months(text: str) -> list[int]:
    """``1-12``, ``3`` or ``1,2,7`` → the months, or a clear error naming --months."""
    chosen: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not _digits(low) or (dash and not _digits(high)):
            raise _fail(f"--months: {text!r} is not a month list such as 1-12 or 1,2,7")
        first, last = int(low), int(high) if dash else int(low)
        if not 1 <= first <= last <= 12:
            raise _fail(f"--months: {part.strip()!r} is not within 1-12")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


def _demo_readings(engine: Any, console: Console, months: list[int]) -> None:
    """Load 2025's 15-minute readings of the demo meters with a progress bar."""
    import time

    from rich.progress import Progress
    from sqlalchemy.orm import sessionmaker

    from shuangtan.adapters.db.demo import load_demo_readings

    started = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("meter readings 2025", total=None)
        count = load_demo_readings(
            sessionmaker(engine),
            months=months,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    seconds = time.perf_counter() - started
    console.print(
        f"meter readings: {count:,} in {seconds:.0f} s ({count / seconds:,.0f} readings/s)"
    )
    from shuangtan.adapters.db.readings import Syncer
    from shuangtan.services.calculation import default_library

    done = Syncer(sessionmaker(engine), default_library()).run_now()
    console.print(
        f"activity data follow the meters: {done.created} created, {done.updated} updated,"
        f" {done.kept_entered} kept as imported"
    )


def _demo_welcome(session: Any, console: Console, password: str) -> None:
    """The demo logins and the first request to try."""
    from sqlalchemy import select

    from shuangtan.adapters.db.demo import demo_users
    from shuangtan.adapters.db.models import Organization
    from shuangtan.services.demo_park import PARK_CODE, build_demo_park

    park_id = session.scalar(select(Organization.id).where(Organization.code == PARK_CODE))
    table = Table(title=f"demo logins — password {password} (demo only, never for real data)")
    for column in ("user", "role", "on"):
        table.add_column(column)
    for username, role, code in demo_users(build_demo_park()):
        table.add_row(username, role, code or "everything")
    console.print(table)
    base = "http://127.0.0.1:8000/api/v1"
    console.print(
        "try:\n"
        f"  TOKEN=$(curl -s -d 'username=park&password={password}' {base}/auth/token"
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'  curl -H "Authorization: Bearer $TOKEN"'
        f' "{base}/organizations/{park_id}/inventory?period=2025"',
        highlight=False,
        soft_wrap=True,
    )


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        list[str],
        typer.Option(
            "--role",
            help="ROLE or ROLE@ORG_CODE, repeatable: platform_admin, org_admin@JS-SGX…",
        ),
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    display_name: Annotated[str, typer.Option(help="Name shown in the dashboard.")] = "",
) -> None:
    """Create a user with roles on organisation subtrees."""
    import re

    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.repositories import SYSTEM, Store

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,63}", username):
        raise _fail("USERNAME: 2–64 letters, digits and . _ @ -, starting with a letter or digit")
    _, engine = _database()
    password = _read_password(password_stdin)
    with Session(engine) as session:
        store = Store(session, SYSTEM)
        try:
            grants: list[tuple[str, int | None]] = []
            for spec in role:
                name, _, code = spec.partition("@")
                grants.append((name, store.org_by_code(code).id if code else None))
            user = store.create_user(username, password, display_name=display_name, grants=grants)
        except (ShuangtanError, ValueError) as exc:
            session.rollback()
            raise _fail(f"{exc}", 1) from None
        session.commit()
        typer.echo(f"user {user.username} created (id {user.id}) with {', '.join(role)}")


def _set_user(username: str, **changes: Any) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.models import ApiToken, User
    from shuangtan.adapters.db.repositories import SYSTEM, Store, utcnow

    _, engine = _database()
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise _fail(f"USERNAME: no user {username!r}", 1)
        store = Store(session, SYSTEM)
        before = store.snapshot("user", user)
        for key, value in changes.items():
            setattr(user, key, value)
        shown = {k: ("(changed)" if k == "password_hash" else v) for k, v in changes.items()}
        store.log("update", "user", user.id, org_id=None, before=before, after=user, detail=shown)
        if changes.get("active") is False:
            # A disabled account's tokens die with it, not at their expiry.
            for token in session.scalars(
                select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            ):
                token.revoked_at = utcnow()
        session.commit()


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disable an account and revoke its tokens (the demo accounts, for instance)."""
    _set_user(username, active=False)
    typer.echo(f"user {username} disabled; its tokens are revoked")


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Enable a disabled account (it needs a new token or login)."""
    _set_user(username, active=True)
    typer.echo(f"user {username} enabled")


@user_app.command("password")
def user_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password (argon2id)."""
    from shuangtan.services.credentials import check_password_strength, hash_password

    password = _read_password(password_stdin)
    try:
        check_password_strength(password)
    except ShuangtanError as exc:
        raise _fail(str(exc), 1) from None
    _set_user(username, password_hash=hash_password(password))
    typer.echo(f"password of {username} changed")


@user_app.command("token")
def user_token(
    username: Annotated[str, typer.Argument(help="The user the token acts for.")],
    name: Annotated[
        str | None, typer.Option(help="What the token is for (gateway-01, etl…); required.")
    ] = None,
    scope: Annotated[list[str], typer.Option("--scope", help="read and/or write.")] = ["read"],  # noqa: B006
    days: Annotated[int | None, typer.Option(min=1, max=3650, help="Expiry [days].")] = None,
    revoke: Annotated[
        int | None, typer.Option(help="Revoke the token with this id instead.", min=1)
    ] = None,
) -> None:
    """Issue an API token (printed once) or revoke one."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.models import User
    from shuangtan.adapters.db.repositories import Accounts

    _, engine = _database()
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise _fail(f"USERNAME: no user {username!r}", 1)
        accounts = Accounts(session)
        try:
            if revoke is not None:
                accounts.revoke(user.id, revoke)
                session.commit()
                typer.echo(f"token {revoke} revoked")
                return
            if not name:
                raise _fail("--name: say what the token is for (gateway-01, etl…)")
            row, secret = accounts.issue_token(
                user,
                kind="api",
                scopes=scope,
                name=name,
                hours=None if days is None else days * 24.0,
            )
        except ShuangtanError as exc:
            session.rollback()
            raise _fail(str(exc), 1) from None
        session.commit()
        _err.print(f"token {row.id} for {username} ({row.scopes}); it is shown only now:")
        typer.echo(secret)


@inventory_app.command("recompute")
def inventory_recompute(
    org: Annotated[str | None, typer.Option(help="Organisation code.")] = None,
    period: Annotated[str | None, typer.Option(help="2025, 2025-Q1 or 2025-03.")] = None,
    stale: Annotated[
        bool, typer.Option("--stale", help="Every inventory computed with another library version.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Recorded with the new version.")] = "",
    within: Annotated[
        str | None,
        typer.Option(help="Every current inventory of this organisation's subtree (a job)."),
    ] = None,
) -> None:
    """Recompute inventories; prints each one's change."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.services.calculation import default_library, present
    from shuangtan.services.inventories import parse_period, recompute

    if within is not None:
        if org is not None or stale or period is None:
            raise _fail("--within CODE takes --period P, and neither --org nor --stale")
        _recompute_within(within, period, reason or "requested from the command line")
        return
    if stale == (org is not None):
        raise _fail("give either --org CODE --period P, or --stale, or --within CODE --period P")
    _, engine = _database()
    library = default_library()
    with Session(engine) as session:
        store = Store(session, SYSTEM)
        try:
            if stale:
                targets = store.stale_inventories(library.version)
                why = reason or f"factor library updated to {library.version}"
            else:
                if period is None:
                    raise _fail("--period: required with --org")
                targets = [(store.org_by_code(org or "").id, parse_period(period).label)]
                why = reason or "requested from the command line"
            for org_id, label in targets:
                _, version, computed, diff = recompute(
                    store, library, org_id, parse_period(label), reason=why
                )
                delta = "" if diff is None else f" (Δ {diff['co2e_t']['delta']} tCO2e)"
                total = present(computed.co2e_t)
                typer.echo(f"{computed.org.code} {label} v{version}: {total} tCO2e{delta}")
        except ShuangtanError as exc:
            session.rollback()
            raise _fail(str(exc), 1) from None
        session.commit()
        typer.echo(f"{len(targets)} inventories recomputed")


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the chain, every audited row and every signed statement; exit 1 on any problem.

    Names the first broken link of the chain, then every row that differs from its last
    audited state and every statement whose signature or content no longer holds.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.audit import verify

    _, engine = _database()
    console = Console(stderr=True)
    with (
        Session(engine) as session,
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
        ) as bar,
    ):
        task = bar.add_task("checking the chain …")
        report = verify(
            session,
            progress=lambda n: bar.update(task, description=f"checking the chain: {n} records"),
        )
    if as_json:
        typer.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(
            f"{report.records} records, {report.entities} audited rows,"
            f" {report.signatures} signed statements checked"
        )
        first = report.first_broken_link
        if first is not None:
            typer.echo(f"first broken link: record {first.seq}: {first.message}")
        for problem in report.problems:
            if problem is not first:
                typer.echo(f"{problem.kind}: {problem.message}")
        if report.more:
            typer.echo(f"… and {report.more} more problems")
        typer.echo("ok" if report.ok else "FAILED")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("adopt")
def audit_adopt() -> None:
    """Record every row the trail does not know yet, as found (once, after an upgrade)."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.audit import adopt
    from shuangtan.adapters.db.repositories import SYSTEM, Store

    _, engine = _database()
    with Session(engine) as session:
        count = adopt(session, Store(session, SYSTEM).trail)
        session.commit()
    typer.echo(f"{count} rows recorded as found")


@audit_app.command("head")
def audit_head() -> None:
    """Print the last record's number and hash: keep it elsewhere to anchor the chain."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.models import AuditHead

    _, engine = _database()
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        if head is None:
            raise _fail("the audit head is missing: run `shuangtan db upgrade`", 1)
        typer.echo(f"{head.seq} {head.sha256}")


def _recompute_within(code: str, period: str, reason: str) -> None:
    """Recompute a subtree's inventories, each in its own transaction, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.records import recompute_subtree
    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.services.calculation import default_library, present

    _, engine = _database()
    library = default_library()
    with Session(engine) as session:
        try:
            root = Store(session, SYSTEM).org_by_code(code)
            with Progress(
                TextColumn("recomputing"), BarColumn(), MofNCompleteColumn(), console=_err
            ) as bar:
                task = bar.add_task("recompute", total=None)
                result = recompute_subtree(
                    session,
                    SYSTEM,
                    library,
                    root.id,
                    period,
                    reason=reason,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except ShuangtanError as exc:
            session.rollback()
            raise _fail(str(exc), 1) from None
    for row in result["recomputed"]:
        delta = "" if row["delta_co2e_t"] is None else f" (Δ {row['delta_co2e_t']} tCO2e)"
        total = present(row["co2e_t"])
        typer.echo(f"{row['org']} {result['period']} v{row['version']}: {total} tCO2e{delta}")
    for row in result["failed"]:
        typer.echo(f"{row['org']} {result['period']}: failed: {row['error']}")
    typer.echo(
        f"{len(result['recomputed'])} inventories recomputed, {len(result['failed'])} failed"
    )
    if result["failed"]:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Serve the platform: REST API under /api/v1 (OpenAPI at /api/v1/openapi.json), /health."""
    import logging

    import uvicorn

    from shuangtan.web.app import RequestIdFilter

    if log_level not in ("debug", "info", "warning", "error"):
        raise _fail(f"--log-level: must be debug, info, warning or error, not {log_level!r}")
    settings, _ = _database()
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    logging.basicConfig(level=log_level.upper(), handlers=[handler], force=True)
    _err.print(
        f"shuangtan {__version__} on http://{host}:{port}/  (API http://{host}:{port}/api/v1,"
        f" schema http://{host}:{port}/api/v1/openapi.json;"
        f" database {_safe_url(settings.database_url)})",
        highlight=False,
    )
    uvicorn.run(
        "shuangtan.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        log_config=None,
    )


def main() -> None:
    """Console-script entry point."""
    app()


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not _digits(port) or not 0 < int(port) < 65536:
        raise _fail(f"--broker: {value!r} is not HOST:PORT (e.g. 127.0.0.1:1883)")
    return host, int(port)


@ingest_app.command("mqtt")
def ingest_mqtt(
    broker: Annotated[str, typer.Option(help="MQTT broker HOST:PORT.")] = "127.0.0.1:1883",
    client_id: Annotated[
        str, typer.Option(help="Keep it stable per worker: the broker keeps its session.")
    ] = "shuangtan-ingest-1",
    group: Annotated[str, typer.Option(help="Shared-subscription group.")] = "shuangtan-ingest",
    shared: Annotated[bool, typer.Option("--shared/--no-shared")] = True,
    org: Annotated[
        list[str] | None,
        typer.Option(
            "--org",
            help="Only this organisation's topics (repeatable); give workers disjoint sets to "
            "scale out with whole meter streams each.",
        ),
    ] = None,
    max_messages: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
) -> None:
    """Subscribe to shuangtan/v1/+/readings and shuangtan/v1/+/+/readings; store readings.

    Each batch of messages is committed before the messages are acknowledged (QoS 1), so a
    killed worker loses nothing; run several with different --client-id to split the load.
    """
    import dataclasses
    import json
    import logging
    import signal
    import threading

    from sqlalchemy.orm import sessionmaker

    from shuangtan.adapters.db.readings import Syncer
    from shuangtan.adapters.mqtt import IngestWorker
    from shuangtan.adapters.mqtt_ingest import MqttIngest
    from shuangtan.services.calculation import default_library

    host, port = _broker(broker)
    from shuangtan.adapters.mqtt import topic_filters

    try:
        topic_filters(group, shared=shared, orgs=org or ())
    except ShuangtanError as exc:
        option = "--group" if exc.message.startswith("group") else "--org"
        raise _fail(f"{option}: {exc.message}") from None
    settings, engine = _database()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sessions = sessionmaker(engine, expire_on_commit=False)
    syncer = Syncer(sessions, default_library(), delay_s=settings.sync_delay_s)
    handle = MqttIngest(sessions, syncer)
    worker = IngestWorker(
        host,
        port,
        handle=handle,
        client_id=client_id,
        group=group,
        shared=shared,
        orgs=org or (),
        max_messages=max_messages,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    syncer.poke()  # months an earlier worker queued and did not get to
    worker.run(stop)
    syncer.close()
    summary = handle.total.summary()
    summary.pop("quarantine")
    stats = {k: v for k, v in dataclasses.asdict(worker.stats).items() if isinstance(v, int)}
    typer.echo(
        "ingest stopped: "
        + json.dumps(summary | {"batches": handle.batches, "worker": stats}, sort_keys=True)
    )


@ingest_app.command("file")
def ingest_file(
    path: Annotated[Path, typer.Argument(help="CSV or .xlsx file of readings.")],
    org: Annotated[str, typer.Option(help="Organisation code the meters belong to.")],
    encoding: Annotated[str, typer.Option(help="auto, utf-8, gbk …")] = "auto",
    map_: Annotated[
        str,
        typer.Option("--map", help="Columns: meter=表计编号,ts=采集时间,value=读数[,unit=单位]"),
    ] = "",
    sheet: Annotated[str | None, typer.Option(help="Excel sheet.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of timestamps written without one.")
    ] = None,
) -> None:
    """Import a file of readings as a job, with a progress bar."""
    from rich.progress import Progress
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from shuangtan.adapters.db.models import Organization
    from shuangtan.adapters.db.readings import Syncer
    from shuangtan.adapters.db.repositories import SYSTEM
    from shuangtan.adapters.imports import ImportOptions, create_import_job, run_import
    from shuangtan.services.calculation import default_library

    if not path.is_file():
        raise _fail(f"{path}: no such file")
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in map_.split(","))):
        key, eq, column = part.partition("=")
        if not eq or not key.strip() or not column.strip():
            raise _fail(f"--map: {part!r} is not field=column")
        mapping[key.strip()] = column.strip()
    _, engine = _database()
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as session:
        org_row = session.scalars(select(Organization).where(Organization.code == org)).first()
        if org_row is None:
            raise _fail(f"--org: no organisation {org!r}")
        try:
            job = create_import_job(
                session,
                path=path.resolve(),
                filename=path.name,
                options=ImportOptions(
                    encoding=encoding, mapping=mapping, sheet=sheet, timezone=timezone
                ),
                user_id=None,
                org_id=org_row.id,
            )
        except ShuangtanError as exc:
            raise _fail(str(exc)) from None
        session.commit()
        job_id = job.id
    console = Console()
    try:
        with Progress(console=console) as bar:
            task = bar.add_task(f"job {job_id}: {path.name}", total=None)
            result = run_import(
                sessions,
                job_id,
                SYSTEM,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except ShuangtanError as exc:
        raise _fail(f"job {job_id} failed: {exc}", 1) from None
    summary = result.summary()
    console.print(
        f"job {job_id} done: {summary['received']} rows, {summary['stored']} stored,"
        f" {summary['corrected']} corrected, {summary['duplicates']} duplicates,"
        f" {summary['quarantined']} quarantined"
    )
    for item in summary["quarantine"][:20]:
        console.print(f"  {item['ref']}: {item['reason']} ({item['field']}) {item['message']}")
    done = Syncer(sessions, default_library()).run_now()
    console.print(f"activity data: {done.created} created, {done.updated} updated")


@readings_app.command("sync")
def readings_sync() -> None:
    """Make activity data follow the meters now and recompute the inventories they touch."""
    from sqlalchemy.orm import sessionmaker

    from shuangtan.adapters.db.readings import Syncer
    from shuangtan.services.calculation import default_library

    _, engine = _database()
    done = Syncer(sessionmaker(engine, expire_on_commit=False), default_library()).run_now()
    typer.echo(orjson.dumps(done.summary(), option=orjson.OPT_INDENT_2).decode())


@simulate_app.command("meters")
def simulate_meters(
    via: Annotated[str, typer.Option(help="mqtt or http.")] = "mqtt",
    broker: Annotated[str, typer.Option(help="MQTT broker HOST:PORT.")] = "127.0.0.1:1883",
    url: Annotated[str, typer.Option(help="API base URL (http).")] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="SHUANGTAN_TOKEN", help="API token (http).")
    ] = None,
    every: Annotated[float, typer.Option(min=0.1, help="Seconds between rounds.")] = 5.0,
    rounds: Annotated[int, typer.Option(min=0, help="Stop after N rounds (0: never).")] = 0,
    backfill_hours: Annotated[float, typer.Option(min=0, max=24 * 31)] = 1.0,
) -> None:
    """Publish live 15-minute readings of the demo park's meters so the platform moves.

    Each round sends every interval that ended since the last round (the first round sends
    the last --backfill-hours), over MQTT (topic shuangtan/v1/<enterprise>/readings) or
    HTTP (POST /api/v1/readings with a token of a user allowed to enter data).
    """
    import time
    import urllib.error
    import urllib.request

    from shuangtan.adapters.mqtt import Publisher, readings_topic
    from shuangtan.services.demo_park import build_demo_park
    from shuangtan.services.meter_profiles import initial_counters, live_meters, live_readings
    from shuangtan.services.readings import from_us, to_us

    if via not in ("mqtt", "http"):
        raise _fail("--via: mqtt or http")
    if via == "http" and not token:
        raise _fail("--token (or SHUANGTAN_TOKEN): needed with --via http")
    park = build_demo_park()
    meters = live_meters(park)
    enterprise_of = {}
    parents = {o.code: o.parent_code for o in park.orgs}
    for meter in park.meters:
        enterprise_of[meter.code] = parents.get(meter.org_code) or meter.org_code
    state = initial_counters(park, 2026)
    step = 900 * 1_000_000
    now_us = to_us(dt.datetime.now(dt.UTC))
    last = (now_us - int(backfill_hours * 3600e6)) // step * step
    publisher = (
        Publisher(*_broker(broker), client_id="shuangtan-simulator") if via == "mqtt" else None
    )

    def post(body: bytes) -> None:
        request = urllib.request.Request(
            url.rstrip("/") + "/api/v1/readings",
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            raise _fail(f"{exc.code}: {exc.read()[:300].decode(errors='replace')}", 1) from None
        except urllib.error.URLError as exc:
            raise _fail(f"cannot reach {url}: {exc.reason}", 1) from None

    sent_rounds = 0
    try:
        while rounds == 0 or sent_rounds < rounds:
            now_us = to_us(dt.datetime.now(dt.UTC))
            end = now_us // step * step
            if end > last:
                series = live_readings(meters, last, end, seed=2026, state=state)
                by_org: dict[str, list[dict[str, Any]]] = {}
                for s in series:
                    items = by_org.setdefault(enterprise_of[s.meter_code], [])
                    for t, v in zip(s.ts_us.tolist(), s.values.tolist(), strict=True):
                        items.append(
                            {"meter": s.meter_code, "ts": from_us(t).isoformat(), "value": v}
                        )
                count = sum(len(v) for v in by_org.values())
                for org_code, items in by_org.items():
                    for i in range(0, len(items), 500):
                        body = orjson.dumps({"readings": items[i : i + 500]})
                        if publisher is not None:
                            publisher.publish(readings_topic(org_code), body)
                        else:
                            post(body)
                if publisher is not None:
                    publisher.flush()
                typer.echo(f"{from_us(end).isoformat()}: {count} readings sent via {via}")
                last = end
            sent_rounds += 1
            if rounds == 0 or sent_rounds < rounds:
                time.sleep(every)
    finally:
        if publisher is not None:
            publisher.close()

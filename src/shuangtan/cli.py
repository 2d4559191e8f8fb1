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

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

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
demo_app = typer.Typer(help="The demo park and the sample enterprise.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
db_app = typer.Typer(help="Database migrations (SHUANGTAN_DATABASE_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="Accounts, roles and API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
inventory_app = typer.Typer(help="Inventories of the organisation tree.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")

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
) -> None:
    """Load the demo park (25 enterprises, 2 years of monthly data) and its demo accounts."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.demo import DEMO_PASSWORD, is_loaded, load_demo
    from shuangtan.services.calculation import default_library

    _, engine = _database()
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
                )
            except ShuangtanError as exc:
                session.rollback()
                raise _fail(str(exc), 1) from None
            session.commit()
            console.print(
                f"demo loaded: {loaded.organizations} organizations, {loaded.sources} sources,"
                f" {loaded.meters} meters, {loaded.activity} activity data,"
                f" {loaded.inventories} inventories"
            )
        _demo_welcome(session, console, DEMO_PASSWORD)


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
    from shuangtan.adapters.db.repositories import utcnow

    _, engine = _database()
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise _fail(f"USERNAME: no user {username!r}", 1)
        for key, value in changes.items():
            setattr(user, key, value)
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
) -> None:
    """Recompute inventories; prints each one's change."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.services.calculation import default_library, present
    from shuangtan.services.inventories import parse_period, recompute

    if stale == (org is not None):
        raise _fail("give either --org CODE --period P, or --stale")
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

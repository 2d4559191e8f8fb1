"""Databases for the platform tests: one SQLite file and one real PostgreSQL database.

Every database test runs on both backends (``db_url`` is parametrised). PostgreSQL is the server
on 127.0.0.1:5432 (override with ``SHUANGTAN_TEST_PG``); each test session creates its own
databases there and drops them at the end. Under ``CI=true`` a missing server fails the tests;
on a laptop they skip and say why.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import upgrade
from shuangtan.adapters.db.models import Base
from shuangtan.services.audit import GENESIS

PG_ADMIN_URL = os.environ.get(
    "SHUANGTAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")
_counter = itertools.count()


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string()} unavailable: {exc}"
    return None


def require_pg() -> None:
    """Fail under CI, skip elsewhere, when PostgreSQL is missing."""
    reason = pg_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs PostgreSQL: {reason}")
    pytest.skip(reason)


def new_database(backend: str, tmp_dir: Any) -> tuple[str, Any]:
    """A fresh, empty database; returns its URL and a function that drops it."""
    if backend == "sqlite":
        path = tmp_dir / f"db{next(_counter)}.sqlite"
        return f"sqlite:///{path}", lambda: None
    require_pg()
    name = f"shuangtan_t_{uuid.uuid4().hex[:12]}"
    # Pre-ping: a test may restart the server; the drop must not fail on a dead connection.
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@dataclass
class Database:
    """A migrated test database."""

    backend: str
    url: str
    engine: Engine

    def wipe(self) -> None:
        """Delete every row (tables stay), so the next test starts empty."""
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        genesis = text("INSERT INTO audit_head (id, seq, sha256) VALUES (1, 0, :h)")
        if self.backend == "postgresql":
            with self.engine.begin() as connection:
                # The audit log refuses TRUNCATE; a test database is the one place to force it.
                connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
                connection.execute(genesis, {"h": GENESIS})
            return
        with self.engine.connect() as connection:
            # organizations refers to itself; SQLite checks such keys row by row.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            with connection.begin():
                triggers = connection.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                ).all()
                for name, _sql in triggers:
                    connection.execute(text(f"DROP TRIGGER {name}"))
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))
                for _name, sql in triggers:
                    connection.execute(text(sql))
                connection.execute(genesis, {"h": GENESIS})
                if inspect(connection).has_table("sqlite_sequence"):
                    connection.execute(text("DELETE FROM sqlite_sequence"))
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


@pytest.fixture(scope="session", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated database per backend, shared by the session (see ``db`` for isolation)."""
    url, drop = new_database(request.param, tmp_path_factory.mktemp("db"))
    upgrade(url)
    engine = make_engine(url)
    yield Database(request.param, url, engine)
    engine.dispose()
    drop()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The backend's database, emptied after the test."""
    yield database
    database.wipe()

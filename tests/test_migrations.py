"""Alembic migrations on SQLite and PostgreSQL: up, down, up again, and models == migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import current_revision, downgrade, head_revision, upgrade
from shuangtan.adapters.db.models import Base
from tests.platform_fixtures import BACKENDS, new_database

TABLES = {t.name for t in Base.metadata.sorted_tables}


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_upgrade(backend: str, tmp_path) -> None:
    url, drop = new_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        assert current_revision(engine) is None
        upgrade(url)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
        downgrade(url, "base")
        assert current_revision(engine) is None
        assert not (TABLES & set(inspect(engine).get_table_names()))
        upgrade(url)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
        drop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_models_match_the_migrations(backend: str, tmp_path) -> None:
    """A model change without a migration fails here (alembic's autogenerate finds nothing)."""
    url, drop = new_database(backend, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
        drop()

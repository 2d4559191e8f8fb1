"""Shared fixtures: the packaged factor library and helpers to run the batch contract."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import orjson
import pytest

from shuangtan.factors import FactorLibrary
from shuangtan.services.batch import Engine, run_batch
from shuangtan.services.calculation import default_library


@pytest.fixture(scope="session")
def library() -> FactorLibrary:
    return default_library()


def run_lines(lines: Iterable[bytes], engine: Engine = "record", chunk_lines: int = 1000) -> bytes:
    source = io.BytesIO(b"\n".join(lines) + b"\n")
    sink = io.BytesIO()
    run_batch(source, sink, engine=engine, chunk_lines=chunk_lines)
    return sink.getvalue()


def calc_one(record: dict[str, Any]) -> dict[str, Any]:
    """One record through the record engine, as the CLI prints it."""
    out = run_lines([orjson.dumps(record)])
    parsed: dict[str, Any] = orjson.loads(out)
    return parsed


# --- the platform: databases on both backends, a small world, an API client -----------------

from collections.abc import Iterator  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from tests.platform_fixtures import Database, database, db  # noqa: E402, F401
from tests.world import World, build_world  # noqa: E402


@pytest.fixture
def world(db: Database) -> World:  # noqa: F811
    """The small world of ``tests/world.py`` in an empty database of each backend."""
    return build_world(db.engine)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:  # noqa: F811
    """An API client on the backend's database."""
    from shuangtan.adapters.settings import Settings
    from shuangtan.web.app import create_app

    app = create_app(Settings(database_url=db.url))
    with TestClient(app) as test_client:
        yield test_client
    app.state.shuangtan.engine.dispose()


# --- the dashboard in a real browser ----------------------------------------------------------

from tests.ui_fixtures import browser, ui_guards, ui_page, ui_server  # noqa: E402, F401

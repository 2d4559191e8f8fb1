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

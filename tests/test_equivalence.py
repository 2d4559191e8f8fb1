"""The vectorised engine gives byte-identical output to the per-record engine on 1,000,000 lines.

Both outputs are hashed as they stream (about 0.7 GB each), so the test holds neither in memory.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest

from shuangtan.services.batch import run_batch
from tests.batchgen import lines


class _HashSink(io.RawIOBase):
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.lines += data.count(b"\n")
        return len(data)


class _LineSource(io.RawIOBase):
    """Generated lines as a binary stream, produced on demand."""

    def __init__(self, n: int) -> None:
        self._lines: Iterator[bytes] = lines(n)

    def __iter__(self) -> Iterator[bytes]:
        for line in self._lines:
            yield line + b"\n"


def _digest(n: int, engine: str, workers: int | None = None) -> tuple[str, int, int]:
    sink = _HashSink()
    summary = run_batch(_LineSource(n), sink, engine=engine, workers=workers)  # type: ignore[arg-type]
    assert sink.lines == n
    return sink.digest.hexdigest(), summary.records, summary.failed


def test_engines_agree_on_a_small_varied_batch() -> None:
    assert _digest(50_000, "vector", workers=1) == _digest(50_000, "record")


@pytest.mark.slow
def test_engines_agree_on_a_million_lines() -> None:
    vector = _digest(1_000_000, "vector")
    record = _digest(1_000_000, "record")
    assert vector == record
    assert 0 < vector[2] < 50_000  # the generator's bad lines failed, and only they

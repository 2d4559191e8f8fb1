"""Streaming JSON Lines batches: read, compute, write, in order, in bounded memory.

Input is read in chunks of lines and output written chunk by chunk, so a batch of any size runs
in constant memory. Two engines give byte-identical output:

* ``record`` — every line through :func:`shuangtan.services.calculation.evaluate`;
* ``vector`` — lines of the common shapes grouped and computed with NumPy by
  :mod:`shuangtan.services.vectorised`, the rest (and every error) through the record engine.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Literal

import orjson

from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import default_library, error_object, evaluate

__all__ = ["BatchSummary", "Engine", "decode_line", "iter_chunks", "run_batch"]

Engine = Literal["record", "vector"]
CHUNK_LINES = 32_768

# The library a worker process computes with: set in the parent just before the pool forks, so
# workers inherit it instead of loading it again.
_worker_library: FactorLibrary | None = None
_worker_engine: object = None


def _work(chunk: list[bytes], first_line: int) -> tuple[bytes, int, int]:
    # One engine per worker process, made on first use.
    global _worker_engine
    from shuangtan.services.vectorised import VectorEngine

    if _worker_engine is None:
        assert _worker_library is not None
        _worker_engine = VectorEngine(_worker_library)
    assert isinstance(_worker_engine, VectorEngine)
    summary = BatchSummary()
    out = _worker_engine.run_chunk(chunk, first_line, summary)
    return out, summary.records, summary.failed


@dataclass
class BatchSummary:
    """Counts of one batch run."""

    records: int = 0
    failed: int = 0


def iter_chunks(stream: BinaryIO, size: int = CHUNK_LINES) -> Iterator[list[bytes]]:
    """Lines of a binary stream, ``size`` at a time, without their line endings."""
    chunk: list[bytes] = []
    for raw in stream:
        chunk.append(raw.rstrip(b"\r\n"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def decode_line(line: bytes, number: int) -> tuple[object, dict[str, object] | None]:
    """Decode one line: ``(record, None)`` or ``(None, error object)``."""
    if not line.strip():
        return None, error_object(
            None, "$", f"line {number} is empty; each line must be a JSON object"
        )
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError as exc:
        return None, error_object(None, "$", f"line {number} is not valid JSON: {exc}")


def _record_chunk(
    lines: Iterable[bytes], first: int, library: FactorLibrary, summary: BatchSummary
) -> bytes:
    out = bytearray()
    for offset, line in enumerate(lines):
        record, error = decode_line(line, first + offset)
        if error is None:
            obj, ok = evaluate(record, library)
        else:
            obj, ok = error, False
        summary.records += 1
        summary.failed += 0 if ok else 1
        out += orjson.dumps(obj)
        out += b"\n"
    return bytes(out)


def run_batch(
    source: BinaryIO,
    sink: BinaryIO,
    *,
    library: FactorLibrary | None = None,
    engine: Engine = "vector",
    chunk_lines: int = CHUNK_LINES,
    workers: int | None = None,
) -> BatchSummary:
    """Compute every line of ``source`` and write one JSON object per line to ``sink``.

    Parameters
    ----------
    source : BinaryIO
        JSON Lines input.
    sink : BinaryIO
        Output, one object per input line, in order.
    library : FactorLibrary, optional
        The factor library; the packaged one by default.
    engine : {"vector", "record"}
        Which engine computes the lines; both give identical output.
    chunk_lines : int
        Lines per chunk.
    workers : int, optional
        Processes for the vector engine; by default one per core. Chunks after the first go to
        a pool (``fork``, so workers share the loaded library) with at most two chunks per
        worker in flight, and are written in input order.

    Returns
    -------
    BatchSummary
    """
    lib = library if library is not None else default_library()
    summary = BatchSummary()
    line_number = 1
    if engine == "vector":
        from shuangtan.services.vectorised import VectorEngine

        chunks = iter_chunks(source, chunk_lines)
        first = next(chunks, None)
        if first is not None:
            # The first chunk runs here: small batches never pay for a process pool.
            sink.write(VectorEngine(lib).run_chunk(first, line_number, summary))
            line_number += len(first)
            count = workers if workers is not None else (os.cpu_count() or 1)
            if count > 1 and "fork" in multiprocessing.get_all_start_methods():
                _run_pool(chunks, line_number, sink, lib, count, summary)
            else:
                vector = VectorEngine(lib)
                for chunk in chunks:
                    sink.write(vector.run_chunk(chunk, line_number, summary))
                    line_number += len(chunk)
    else:
        for chunk in iter_chunks(source, chunk_lines):
            sink.write(_record_chunk(chunk, line_number, lib, summary))
            line_number += len(chunk)
    sink.flush()
    return summary


def _run_pool(
    chunks: Iterator[list[bytes]],
    line_number: int,
    sink: BinaryIO,
    library: FactorLibrary,
    workers: int,
    summary: BatchSummary,
) -> None:
    # Handed to the forked workers, see _work.
    global _worker_library
    _worker_library = library
    context = multiprocessing.get_context("fork")
    pending: deque[Future[tuple[bytes, int, int]]] = deque()

    def drain_one() -> None:
        out, records, failed = pending.popleft().result()
        sink.write(out)
        summary.records += records
        summary.failed += failed

    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for chunk in chunks:
            pending.append(pool.submit(_work, chunk, line_number))
            line_number += len(chunk)
            while len(pending) >= 2 * workers:
                drain_one()
        while pending:
            drain_one()

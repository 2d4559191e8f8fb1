"""Streaming JSON Lines batches: read, compute, write, in order, in bounded memory.

Input is read in chunks of lines and output written chunk by chunk, so a batch of any size runs
in constant memory. Two engines give byte-identical output:

* ``record`` — every line through :func:`shuangtan.services.calculation.evaluate`;
* ``vector`` — lines of the common shapes grouped and computed with NumPy by
  :mod:`shuangtan.services.vectorised`, the rest (and every error) through the record engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

import orjson

from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import default_library, error_object, evaluate

__all__ = ["BatchSummary", "Engine", "decode_line", "iter_chunks", "run_batch"]

Engine = Literal["record", "vector"]
CHUNK_LINES = 32_768


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
        Lines held in memory at once.

    Returns
    -------
    BatchSummary
    """
    lib = library if library is not None else default_library()
    summary = BatchSummary()
    line_number = 1
    if engine == "vector":
        from shuangtan.services.vectorised import VectorEngine

        vector = VectorEngine(lib)
        for chunk in iter_chunks(source, chunk_lines):
            sink.write(vector.run_chunk(chunk, line_number, summary))
            line_number += len(chunk)
    else:
        for chunk in iter_chunks(source, chunk_lines):
            sink.write(_record_chunk(chunk, line_number, lib, summary))
            line_number += len(chunk)
    sink.flush()
    return summary

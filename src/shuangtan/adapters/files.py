"""Meter readings from files: CSV text (UTF-8, GBK/GB18030 …) and Excel workbooks, streamed.

:func:`open_readings_file` looks at a file once — format, encoding, delimiter, header, which
column holds what — and returns a :class:`ReadingsFile`. Nothing is held open between calls and
nothing is held in memory: :meth:`ReadingsFile.check` makes one full pass to prove that every
byte decodes and every row has the header's width; :meth:`ReadingsFile.chunks` streams the rows
as lists of :class:`~shuangtan.domain.readings.RawReading`. Values are passed on as received
(text from CSV, what openpyxl gives from a workbook); parsing and checking them is the job of
the readings pipeline, which knows the meters.

Columns are found by their header, case-insensitively, among built-in aliases (``meter_id``,
``表计编号``, ``采集时间``, ``读数`` …, see :data:`ALIASES`) unless the caller maps them::

    f = open_readings_file("2024-05.csv", mapping={"meter": "设备编号"})
    f.check()                    # -> number of data rows, or InputError naming the problem
    for chunk in f.chunks():
        ...

Every problem a user can cause is an :class:`~shuangtan.errors.InputError` whose ``field`` is
``format``, ``encoding``, ``sheet``, ``delimiter``, ``chunk_rows``, ``mapping.<target>`` or
``file`` (unreadable, not a workbook, NUL characters, a ragged row), with the line or row at
fault in the message.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import IO, Any, Final

import openpyxl  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from shuangtan.domain.readings import RawReading
from shuangtan.errors import InputError

__all__ = ["ALIASES", "ReadingsFile", "open_readings_file"]

#: Fields a column can be mapped to; ``unit`` is optional.
TARGETS: Final = ("meter", "ts", "value", "unit")
REQUIRED: Final = ("meter", "ts", "value")

#: Header names recognised for each field (compared after stripping, case-insensitively).
ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "meter": ("meter", "meter_id", "meter_code", "表计编号", "计量器具编号", "表号"),
    "ts": ("ts", "timestamp", "time", "时间", "采集时间", "数据时间"),
    "value": ("value", "reading", "读数", "数值"),
    "unit": ("unit", "单位"),
}

#: File name suffixes and the format they imply.
SUFFIXES: Final[Mapping[str, str]] = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

#: Delimiters tried when none is given.
DELIMITERS: Final = (",", ";", "\t", "|")

#: Bytes read at open to choose the encoding and delimiter and to read the header. [B]
PREFIX_BYTES: Final = 1 << 20
#: Bytes decoded at a time while streaming. [B]
BLOCK_BYTES: Final = 1 << 18
#: Characters of the prefix used to guess the delimiter.
_SNIFF_CHARS: Final = 1 << 16

_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_GB_CODECS: Final = frozenset({"gbk", "gb18030", "gb2312", "hz"})

Progress = Callable[[int], None]


class ReadingsFile:
    """A readings file, opened and understood but not read: each pass reopens it.

    Build it with :func:`open_readings_file`.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    columns : list of str
        The header as read (each cell stripped; empty for a blank header cell).
    format : str
        ``"csv"`` or ``"xlsx"``.
    encoding : str
        The codec used to decode a CSV file (``"utf-8"``, ``"utf-8-sig"``, ``"gb18030"``,
        ``"gbk"`` …); ``""`` for a workbook.
    size_bytes : int
        Size of the file. [B]
    mapping : dict of str to str
        Field (``meter``, ``ts``, ``value``, ``unit``) → the column header that holds it; ``unit``
        is absent when the file has no unit column.
    delimiter : str or None
        The CSV delimiter, given or guessed; ``None`` for a workbook.
    sheet : str or None
        The worksheet read; ``None`` for CSV.
    chunk_rows : int
        Most readings in one list from :meth:`chunks`.
    """

    def __init__(
        self,
        *,
        path: Path,
        format: str,
        columns: list[str],
        indices: dict[str, int],
        size_bytes: int,
        chunk_rows: int,
        encoding: str = "",
        delimiter: str | None = None,
        sheet: str | None = None,
    ) -> None:
        self.path = path
        self.format = format
        self.columns = columns
        self.encoding = encoding
        self.size_bytes = size_bytes
        self.delimiter = delimiter
        self.sheet = sheet
        self.chunk_rows = chunk_rows
        self._indices = indices
        self.mapping = {target: columns[i] for target, i in indices.items()}

    def __repr__(self) -> str:
        where = f"sheet={self.sheet!r}" if self.format == "xlsx" else f"encoding={self.encoding!r}"
        return (
            f"ReadingsFile({str(self.path)!r}, format={self.format!r}, {where}, "
            f"mapping={self.mapping!r})"
        )

    # --- the passes -------------------------------------------------------------------------

    def check(self, progress: Progress | None = None) -> int:
        """Read the whole file once, keeping nothing: prove it decodes and is rectangular.

        Parameters
        ----------
        progress : callable or None
            Called with the bytes read so far [B] (CSV) or the sheet rows read so far (xlsx),
            every ``chunk_rows`` data rows and once at the end.

        Returns
        -------
        int
            The number of data rows (blank rows not counted): how many readings
            :meth:`chunks` will yield.

        Raises
        ------
        InputError
            ``field="encoding"``: a byte sequence that does not decode, with its line, byte offset
            and a hint (``the file looks like GBK/GB18030: send encoding=gbk``);
            ``field="file"``: a row with more or fewer cells than the header, a NUL character,
            a broken CSV record or workbook, with its line or row.
        """
        if self.format == "xlsx":
            return self._check_xlsx(progress)
        return self._check_csv(progress)

    def chunks(self, progress: Progress | None = None) -> Iterator[list[RawReading]]:
        """Stream the data rows as readings, at most ``chunk_rows`` at a time.

        Blank rows (every cell empty) are skipped. CSV cells are stripped text; workbook cells
        are what openpyxl reads (text stripped, empty text as ``None``, dates as naive
        :class:`datetime.datetime`), except the meter, which is always text. An empty unit is
        ``None``. ``ref`` is ``"line N"`` (CSV, the physical line where the row starts; the
        header is line 1) or ``"<sheet>!row N"`` (xlsx).

        Parameters
        ----------
        progress : callable or None
            Called before each chunk is yielded with the bytes read so far [B] (CSV) or the sheet
            rows read so far (xlsx).

        Yields
        ------
        list of RawReading
            Non-empty lists, in file order.

        Raises
        ------
        InputError
            As :meth:`check`, when the bad spot is reached (the chunks before it have been
            yielded).
        """
        if self.format == "xlsx":
            return self._chunks_xlsx(progress)
        return self._chunks_csv(progress)

    # --- CSV --------------------------------------------------------------------------------

    def _csv_reader(self, raw: IO[bytes]) -> tuple[Any, _TextBlocks]:
        blocks = _TextBlocks(raw, self.encoding)
        reader = csv.reader(chain.from_iterable(blocks), delimiter=self.delimiter or ",")
        header = _first_filled(reader)
        if header is None or [c.strip() for c in header] != self.columns:
            raise InputError(
                f"{self.path.name} changed since it was opened (its header differs)", field="file"
            )
        return reader, blocks

    def _ragged(self, line: int, cells: int) -> InputError:
        return InputError(
            f"line {line} has {cells} cells but the header has {len(self.columns)}",
            field="file",
        )

    def _check_csv(self, progress: Progress | None) -> int:
        ix = self._indices
        mi, ti, vi = ix["meter"], ix["ts"], ix["value"]
        ncols = len(self.columns)
        every = self.chunk_rows
        rows = 0
        with _open_binary(self.path) as raw:
            reader, blocks = self._csv_reader(raw)
            prev = reader.line_num
            try:
                for row in reader:
                    line = prev + 1
                    prev = reader.line_num
                    if len(row) != ncols:
                        if _blank(row):
                            continue
                        raise self._ragged(line, len(row))
                    if not (row[mi].strip() or row[ti].strip() or row[vi].strip()) and _blank(row):
                        continue
                    rows += 1
                    if progress is not None and rows % every == 0:
                        progress(blocks.bytes_read)
            except csv.Error as exc:
                raise _csv_error(exc, prev + 1, reader.line_num) from None
        if progress is not None:
            progress(blocks.bytes_read)
        return rows

    def _chunks_csv(self, progress: Progress | None) -> Iterator[list[RawReading]]:
        ix = self._indices
        mi, ti, vi, ui = ix["meter"], ix["ts"], ix["value"], ix.get("unit", -1)
        ncols = len(self.columns)
        size = self.chunk_rows
        reading = RawReading
        chunk: list[RawReading] = []
        with _open_binary(self.path) as raw:
            reader, blocks = self._csv_reader(raw)
            prev = reader.line_num
            try:
                for row in reader:
                    line = prev + 1
                    prev = reader.line_num
                    if len(row) != ncols:
                        if _blank(row):
                            continue
                        raise self._ragged(line, len(row))
                    meter = row[mi].strip()
                    ts = row[ti].strip()
                    value = row[vi].strip()
                    if not (meter or ts or value) and _blank(row):
                        continue
                    unit = (row[ui].strip() or None) if ui >= 0 else None
                    chunk.append(reading(meter, ts, value, unit, f"line {line}"))
                    if len(chunk) >= size:
                        if progress is not None:
                            progress(blocks.bytes_read)
                        yield chunk
                        chunk = []
            except csv.Error as exc:
                raise _csv_error(exc, prev + 1, reader.line_num) from None
            if chunk:
                if progress is not None:
                    progress(blocks.bytes_read)
                yield chunk

    # --- xlsx -------------------------------------------------------------------------------

    def _xlsx_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        """Data rows of the sheet with their 1-based row numbers; blank rows left out."""
        wb = _load_workbook(self.path)
        source: Any = None
        try:
            ws = _worksheet(wb, self.sheet)
            ws.reset_dimensions()  # stream every row, whatever the stored dimensions say
            ncols = len(self.columns)
            source = ws.iter_rows(values_only=True)
            rows = enumerate(source, start=1)
            header = _first_filled(row for _, row in rows)
            if header is None or _header(header) != self.columns:
                raise InputError(
                    f"{self.path.name} changed since it was opened (its header differs)",
                    field="file",
                )
            for n, row in rows:
                if len(row) > ncols:
                    extra = next((i for i in range(ncols, len(row)) if _filled(row[i])), None)
                    if extra is not None:
                        raise InputError(
                            f"{self.sheet}!row {n} has a value in column "
                            f"{get_column_letter(extra + 1)}, which has no header",
                            field="file",
                        )
                if _blank(row):
                    continue
                yield n, row
        finally:
            _close(source)
            wb.close()

    def _check_xlsx(self, progress: Progress | None) -> int:
        rows = 0
        n = 0
        for n, _ in self._xlsx_rows():
            rows += 1
            if progress is not None and rows % self.chunk_rows == 0:
                progress(n)
        if progress is not None:
            progress(n)
        return rows

    def _chunks_xlsx(self, progress: Progress | None) -> Iterator[list[RawReading]]:
        ix = self._indices
        mi, ti, vi, ui = ix["meter"], ix["ts"], ix["value"], ix.get("unit", -1)
        sheet = self.sheet
        chunk: list[RawReading] = []
        n = 0
        for n, row in self._xlsx_rows():
            width = len(row)
            meter = _cell(row[mi]) if mi < width else None
            ts = _cell(row[ti]) if ti < width else None
            value = _cell(row[vi]) if vi < width else None
            unit = _cell(row[ui]) if 0 <= ui < width else None
            chunk.append(
                RawReading(
                    _text(meter),
                    ts,
                    value,
                    None if unit is None else _text(unit),
                    f"{sheet}!row {n}",
                )
            )
            if len(chunk) >= self.chunk_rows:
                if progress is not None:
                    progress(n)
                yield chunk
                chunk = []
        if chunk:
            if progress is not None:
                progress(n)
            yield chunk


def open_readings_file(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    encoding: str = "auto",
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    chunk_rows: int = 50_000,
) -> ReadingsFile:
    """Open a readings file: settle its format, encoding, delimiter, header and columns.

    Only the beginning of the file is read (the first :data:`PREFIX_BYTES` of a CSV file, the
    rows down to the header of a workbook); :meth:`ReadingsFile.check` reads the rest.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : {"csv", "xlsx"} or None
        The format; by default from the suffix (``.csv``, ``.txt``, ``.xlsx``, ``.xlsm``).
    encoding : str
        CSV only: ``"auto"`` (UTF-8, with or without BOM, else GB18030, a superset of GBK; a
        UTF-16 BOM is honoured too), or any Python codec name (``"utf-8"``, ``"gbk"``,
        ``"gb18030"`` …). A declared ``utf-8`` reads a BOM as ``utf-8-sig``.
    mapping : mapping of str to str or None
        Field (``meter``, ``ts``, ``value``, ``unit``) → column header in the file; fields not
        given are found by :data:`ALIASES`.
    sheet : str or None
        xlsx only: the worksheet; by default the first one. Ignored for CSV.
    delimiter : str or None
        CSV only: one character; by default guessed among ``,`` ``;`` tab and ``|``.
    chunk_rows : int
        Most readings per list from :meth:`ReadingsFile.chunks`.

    Returns
    -------
    ReadingsFile

    Raises
    ------
    InputError
        ``field`` names the problem: ``format`` (unknown format or suffix), ``encoding`` (unknown
        codec; a header that does not decode; with ``auto``, a beginning that is neither UTF-8
        nor GB18030), ``sheet`` (no such worksheet), ``delimiter``, ``chunk_rows``,
        ``mapping`` / ``mapping.<field>`` (unknown field, missing, ambiguous or shared column),
        ``file`` (unreadable, empty, not a valid workbook, a binary file given as CSV).
    """
    p = Path(path)
    fmt = _format(p, format)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InputError("must be a whole number ≥ 1", field="chunk_rows")
    codec = None if encoding.strip().lower() == "auto" else _codec(encoding)
    if mapping is not None:
        for target in mapping:
            if target not in TARGETS:
                raise InputError(
                    f"unknown field {target!r}; fields are {', '.join(TARGETS)}", field="mapping"
                )
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {p.name}: {exc.strerror}", field="file") from None
    if fmt == "xlsx":
        title, columns = _xlsx_header(p, sheet)
        return ReadingsFile(
            path=p,
            format=fmt,
            columns=columns,
            indices=_resolve(columns, mapping),
            size_bytes=size,
            chunk_rows=chunk_rows,
            sheet=title,
        )
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise InputError(
            "must be one character other than a quote or a line break", field="delimiter"
        )
    with _open_binary(p) as raw:
        prefix = raw.read(PREFIX_BYTES)
    whole = len(prefix) < PREFIX_BYTES or len(prefix) == size
    if prefix.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{p.name} is a ZIP archive (an .xlsx workbook?), not CSV text: send format=xlsx",
            field="file",
        )
    if prefix.startswith(_OLE2_MAGIC):
        raise InputError(
            f"{p.name} is an Excel 97-2003 (.xls) workbook: save it as .xlsx or CSV", field="file"
        )
    codec = _detect(prefix, whole) if codec is None else _with_bom(codec, prefix)
    sample, error = _decode_prefix(prefix, whole, codec)
    nul = sample.find("\x00")
    if nul >= 0:
        raise InputError(
            f"line {_breaks(sample[:nul]) + 1} contains a NUL character: {p.name} is not CSV text",
            field="file",
        )
    if not sample:
        if error is not None:
            raise error
        if whole:
            raise InputError(f"{p.name} is empty: no header row", field="file")
        raise InputError(
            f"the first line of {p.name} is longer than {PREFIX_BYTES} bytes: is it CSV text?",
            field="file",
        )
    delim = delimiter or _sniff(sample)
    header = _first_filled(csv.reader(io.StringIO(sample, newline=""), delimiter=delim))
    if header is None:
        if error is not None:
            raise error
        raise InputError(f"{p.name} has no header row (every line is blank)", field="file")
    columns = [c.strip() for c in header]
    return ReadingsFile(
        path=p,
        format=fmt,
        columns=columns,
        indices=_resolve(columns, mapping),
        size_bytes=size,
        chunk_rows=chunk_rows,
        encoding=codec,
        delimiter=delim,
    )


# --- options -------------------------------------------------------------------------------


def _format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.strip().lower().lstrip(".")
        if fmt not in ("csv", "xlsx"):
            raise InputError(f"unknown format {format!r}; formats are csv and xlsx", field="format")
        return fmt
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    extra = " (Excel 97-2003: save it as .xlsx or CSV)" if suffix == ".xls" else ""
    raise InputError(
        f"cannot tell the format of {path.name!r} from its suffix{extra}; "
        f"send format=csv or format=xlsx (known suffixes: {', '.join(SUFFIXES)})",
        field="format",
    )


def _codec(encoding: str) -> str:
    try:
        info = codecs.lookup(encoding.strip())
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise InputError(
            f"unknown text encoding {encoding!r}; e.g. auto, utf-8, gbk, gb18030", field="encoding"
        )
    return info.name


def _with_bom(codec: str, prefix: bytes) -> str:
    """A declared UTF-8 reads a UTF-8 BOM as such."""
    return "utf-8-sig" if codec == "utf-8" and prefix.startswith(codecs.BOM_UTF8) else codec


# --- decoding ------------------------------------------------------------------------------


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc.strerror}", field="file") from None


def _breaks(text: str) -> int:
    """Line breaks in ``text``: ``\\n``, ``\\r\\n`` and a lone ``\\r`` (as the csv module)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _complete(text: str) -> int:
    """Length of the part of ``text`` made of complete lines (a final ``\\r`` waits for ``\\n``)."""
    end = len(text) - 1 if text.endswith("\r") else len(text)
    return max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1


def _hint(window: bytes, codec: str) -> str:
    """Guess what the undecodable bytes are, for the error message."""
    if codec not in _GB_CODECS:
        try:
            text = codecs.getincrementaldecoder("gb18030")().decode(window)
        except UnicodeDecodeError:
            pass
        else:
            if any("\u4e00" <= ch <= "\u9fff" for ch in text):
                return "the file looks like GBK/GB18030: send encoding=gbk"
    if not codec.startswith("utf"):
        try:
            codecs.getincrementaldecoder("utf-8")().decode(window)
        except UnicodeDecodeError:
            pass
        else:
            return "the file looks like UTF-8: send encoding=utf-8"
    return "send the file's encoding, e.g. encoding=gbk or encoding=utf-8"


def _encoding_error(exc: UnicodeDecodeError, codec: str, line: int, offset: int) -> InputError:
    data = exc.object
    start = max(data.rfind(b"\n", 0, exc.start) + 1, exc.start - 4096)
    window = data[start : exc.start + 256]
    bad = data[exc.start : min(exc.end, exc.start + 4)].hex(" ")
    return InputError(
        f"line {line} does not decode as {codec} (byte offset {offset}: {bad}); "
        + _hint(window, codec),
        field="encoding",
    )


def _decode_prefix(prefix: bytes, whole: bool, codec: str) -> tuple[str, InputError | None]:
    """Decode the complete lines of the prefix; stop at an undecodable byte and say where."""
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        text = decoder.decode(prefix, final=whole)
    except UnicodeDecodeError as exc:
        valid = exc.object[: exc.start].decode(codec, "replace")
        error = _encoding_error(exc, codec, _breaks(valid) + 1, exc.start)
        return valid[: _complete(valid)], error
    return (text if whole else text[: _complete(text)]), None


def _detect(prefix: bytes, whole: bool) -> str:
    """The codec of a file from its beginning: BOM, else UTF-8, else GB18030."""
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decode_prefix(prefix, whole, "utf-8")[1] is None:
        return "utf-8"
    _, error = _decode_prefix(prefix, whole, "gb18030")
    if error is None:
        return "gb18030"
    where = error.message.partition("; ")[0]
    raise InputError(
        f"the file is neither UTF-8 nor GB18030/GBK ({where}): "
        "send the file's encoding, e.g. encoding=big5",
        field="encoding",
    )


class _TextBlocks:
    """Decode a binary file block by block into text made of whole lines.

    Iterating gives one :class:`io.StringIO` per block, so that ``chain.from_iterable`` hands
    the csv module its lines at C speed. Undecodable bytes and NUL characters raise
    :class:`InputError` with their physical line (counted like the csv module counts lines).
    """

    def __init__(self, raw: IO[bytes], codec: str) -> None:
        self.raw = raw
        self.codec = codec
        self.decoder = codecs.getincrementaldecoder(codec)()
        self.bytes_read = 0
        self.lines_done = 0  # line breaks in the text handed out
        self.carry = ""

    def __iter__(self) -> Iterator[io.StringIO]:
        while True:
            data = self.raw.read(BLOCK_BYTES)
            text = self.carry + self._decode(data, final=not data)
            self.bytes_read += len(data)
            if not data:
                if text:
                    self._check_nul(text)
                    yield io.StringIO(text, newline="")
                return
            cut = _complete(text)
            head, self.carry = text[:cut], text[cut:]
            if head:
                self._check_nul(head)
                self.lines_done += _breaks(head)
                yield io.StringIO(head, newline="")

    def _decode(self, data: bytes, *, final: bool) -> str:
        try:
            pending = len(self.decoder.getstate()[0])
        except (AttributeError, TypeError):  # pragma: no cover - codecs without a byte buffer
            pending = 0
        try:
            return self.decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            valid = exc.object[: exc.start].decode(self.codec, "replace")
            line = self.lines_done + _breaks(self.carry + valid) + 1
            offset = self.bytes_read - pending + exc.start
            raise _encoding_error(exc, self.codec, line, offset) from None

    def _check_nul(self, text: str) -> None:
        at = text.find("\x00")
        if at >= 0:
            line = self.lines_done + _breaks(text[:at]) + 1
            raise InputError(f"line {line} contains a NUL character: not CSV text", field="file")


def _csv_error(exc: csv.Error, start: int, end: int) -> InputError:
    """A record the csv module refuses, from the line it starts on."""
    hint = " (an unclosed quote?)" if "field limit" in str(exc) else ""
    where = f"line {start}" if end <= start else f"the row from line {start} to {end}"
    return InputError(f"{where}: {exc}{hint}", field="file")


def _sniff(sample: str) -> str:
    """The delimiter that splits the first lines into equally wide rows, widest first."""
    text = sample[:_SNIFF_CHARS]
    if len(sample) > _SNIFF_CHARS:
        text = text[: _complete(text)] or text
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        widths: list[int] = []
        try:
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delim):
                if not _blank(row):
                    widths.append(len(row))
                if len(widths) >= 50:
                    break
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        score = (sum(w == widths[0] for w in widths), widths[0])
        if score > best_score:
            best, best_score = delim, score
    return best


# --- rows and columns ----------------------------------------------------------------------


def _filled(cell: Any) -> bool:
    return cell is not None and (not isinstance(cell, str) or bool(cell.strip()))


def _blank(row: Iterable[Any]) -> bool:
    return not any(_filled(c) for c in row)


def _first_filled(rows: Iterable[Any]) -> Any:
    """The first row with a filled cell (the header), or ``None``."""
    for row in rows:
        if not _blank(row):
            return row
    return None


def _text(cell: Any) -> str:
    """A cell as text: whole floats lose their ``.0`` (meter codes typed as numbers)."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell.strip()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.date | dt.time):
        return cell.isoformat()
    return str(cell)


def _cell(cell: Any) -> Any:
    """A workbook cell as received, text stripped and empty text as ``None``."""
    if isinstance(cell, str):
        return cell.strip() or None
    return cell


def _header(row: Iterable[Any]) -> list[str]:
    cells = [_text(c) for c in row]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _resolve(columns: list[str], mapping: Mapping[str, str] | None) -> dict[str, int]:
    """Column index of each field: the caller's mapping first, then :data:`ALIASES`."""
    keys = [c.strip().casefold() for c in columns]
    shown = ", ".join(repr(c) for c in columns[:30]) + (", …" if len(columns) > 30 else "")
    found: dict[str, int] = {}
    for target, header in (mapping or {}).items():
        name = str(header).strip()
        hits = [i for i, c in enumerate(columns) if c == name] or [
            i for i, k in enumerate(keys) if k == name.casefold()
        ]
        if not hits:
            raise InputError(
                f"no column {header!r}; the file's columns are {shown}", field=f"mapping.{target}"
            )
        if len(hits) > 1:
            raise InputError(f"{len(hits)} columns are named {header!r}", field=f"mapping.{target}")
        found[target] = hits[0]
    for target in TARGETS:
        if target in found:
            continue
        aliases = {a.casefold() for a in ALIASES[target]}
        hits = [i for i, k in enumerate(keys) if k in aliases]
        if len(hits) > 1:
            both = ", ".join(repr(columns[i]) for i in hits)
            raise InputError(
                f"several columns could hold the {target}: {both}; "
                f"send mapping={{{target!r}: <column>}}",
                field=f"mapping.{target}",
            )
        if hits:
            found[target] = hits[0]
        elif target in REQUIRED:
            raise InputError(
                f"no {target} column (looked for {', '.join(ALIASES[target])}); the file's "
                f"columns are {shown}; send mapping={{{target!r}: <column>}}",
                field=f"mapping.{target}",
            )
    owner: dict[int, str] = {}
    for target in TARGETS:
        if target in found:
            i = found[target]
            if i in owner:
                raise InputError(
                    f"column {columns[i]!r} already holds the {owner[i]}", field=f"mapping.{target}"
                )
            owner[i] = target
    return {t: found[t] for t in TARGETS if t in found}


# --- workbooks -----------------------------------------------------------------------------


def _load_workbook(path: Path) -> Any:
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Warning:  # warnings turned into errors are the caller's business
        raise
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc.strerror or exc}", field="file") from None
    except Exception as exc:  # zipfile, XML and openpyxl errors: all mean "not a workbook"
        raise InputError(
            f"{path.name} is not a valid .xlsx workbook ({type(exc).__name__}: {exc})",
            field="file",
        ) from None


def _worksheet(wb: Any, sheet: str | None) -> Any:
    if sheet is None:
        if not wb.worksheets:
            raise InputError("the workbook has no worksheet", field="sheet")
        return wb.worksheets[0]
    if sheet not in wb.sheetnames:
        names = ", ".join(repr(n) for n in wb.sheetnames)
        raise InputError(f"no sheet {sheet!r}; the workbook has {names}", field="sheet")
    ws = wb[sheet]
    if not hasattr(ws, "iter_rows"):
        raise InputError(f"{sheet!r} is a chart sheet, not a worksheet", field="sheet")
    return ws


def _xlsx_header(path: Path, sheet: str | None) -> tuple[str, list[str]]:
    """The title of the sheet and its header row (the first row with a filled cell)."""
    wb = _load_workbook(path)
    source: Any = None
    try:
        ws = _worksheet(wb, sheet)
        ws.reset_dimensions()
        source = ws.iter_rows(values_only=True)
        header = _first_filled(source)
        if header is None:
            raise InputError(f"sheet {ws.title!r} is empty: no header row", field="file")
        return str(ws.title), _header(header)
    finally:
        _close(source)
        wb.close()


def _close(rows: Any) -> None:
    """Close a half-read row generator first: it holds the zip member, which keeps the file open."""
    close = getattr(rows, "close", None)
    if close is not None:
        close()

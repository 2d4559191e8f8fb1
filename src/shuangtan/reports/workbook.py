"""Excel workbooks of the reports: written with openpyxl, read back, re-imported.

One sheet per data table (:mod:`shuangtan.reports.tables`). Row 1 holds the headers in the
report's language, row 2 the columns' machine keys (grey: a re-import reads them, whatever the
language), the data start on row 3. Numbers are real numbers at full precision (the cell keeps
every digit of the float; the number format only shows fewer), dates are ISO 8601 text.

:func:`read_workbook` reads such a workbook back into the same tables, checking every cell's
type; :func:`reimport_activity` writes its activity sheet back into the database through the
scoped store, after checking every row, so that a bad workbook changes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from shuangtan.adapters.db.models import EmissionSource
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.errors import InputError, NotFoundError, PermissionDeniedError
from shuangtan.factors import FactorLibrary
from shuangtan.reports.labels import LANGS, label
from shuangtan.reports.tables import SPECS, Column, TableSpec, document_tables
from shuangtan.services.access import Action
from shuangtan.services.activity import check_datum
from shuangtan.services.calculation import default_library
from shuangtan.services.inventories import parse_period, recompute

__all__ = [
    "KEY_ROW",
    "ReimportSummary",
    "Sheet",
    "read_workbook",
    "reimport_activity",
    "write_workbook",
]

#: The row holding the machine keys of the columns (1-based); data start below it.
KEY_ROW: Final = 2
#: Largest workbook read. [bytes]
MAX_BYTES: Final = 64 * 1024 * 1024
#: Sheet title (in either language) → table key.
_TITLES: Final[dict[str, str]] = {
    label(spec.title, lang): key for key, spec in SPECS.items() for lang in LANGS
}
_HEADER_FILL: Final = "E4EFEC"
#: One save at a time swaps openpyxl's number formatting (see :func:`_exact_numbers`).
_EXACT_LOCK: Final = threading.Lock()
_KEY_COLOUR: Final = "8A9A9E"


# --- writing --------------------------------------------------------------------------------


@contextlib.contextmanager
def _exact_numbers() -> Iterator[None]:
    """Floats written with every digit while a workbook is saved.

    openpyxl writes numbers as ``"%.16g"``, one digit short of what a double needs
    (1146.1057477407999 would come back as 1146.1057477408); ``repr`` is the shortest text
    that reads back to the same double. Only the number formatting of the save is changed.
    """
    from openpyxl.cell import _writer  # type: ignore[import-untyped]

    original = _writer.safe_string

    def exact(value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return original(value)

    _writer.safe_string = exact
    try:
        yield
    finally:
        _writer.safe_string = original


def _number_format(column: Column) -> str:
    if column.kind == "int":
        return "0"
    if column.kind == "float":
        digits = 2 if column.digits is None else column.digits
        return "#,##0" + ("." + "0" * digits if digits else "")
    return "General"


def write_workbook(doc: Mapping[str, Any], lang: str) -> bytes:
    """The report's data tables as an Excel workbook (``.xlsx``).

    Parameters
    ----------
    doc : mapping
        A report document (:mod:`shuangtan.reports.data`).
    lang : str
        ``zh_CN`` or ``en``: sheet names, headers and ``label`` columns.
    """
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    book = Workbook()
    book.remove(book.active)
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor=_HEADER_FILL)
    key_font = Font(italic=True, size=8, color=_KEY_COLOUR)
    for table in document_tables(doc, lang):
        sheet = book.create_sheet(label(table.spec.title, lang))
        columns = table.spec.columns
        sheet.append([label(c.header, lang) for c in columns])
        sheet.append([c.key for c in columns])
        for index, column in enumerate(columns, start=1):
            letter = get_column_letter(index)
            sheet.column_dimensions[letter].width = column.width
            head = sheet.cell(row=1, column=index)
            head.font, head.fill = header_font, header_fill
            head.alignment = Alignment(wrap_text=True, vertical="top")
            sheet.cell(row=KEY_ROW, column=index).font = key_font
        formats = [_number_format(c) for c in columns]
        for row in table.rows:
            sheet.append([row[c.key] for c in columns])
            cells = sheet[sheet.max_row]
            for cell, fmt in zip(cells, formats, strict=True):
                if fmt != "General" and isinstance(cell.value, int | float):
                    cell.number_format = fmt
        sheet.freeze_panes = sheet.cell(row=KEY_ROW + 1, column=1)
        sheet.cell(row=KEY_ROW, column=1).comment = None
    info = book[label("sheet.info", lang)]
    info.cell(row=1, column=len(SPECS["info"].columns) + 2, value=label("sheet.keys_note", lang))
    out = io.BytesIO()
    with _EXACT_LOCK, _exact_numbers():
        book.save(out)
    return out.getvalue()


# --- reading --------------------------------------------------------------------------------


@dataclass
class Sheet:
    """One table read from a workbook: its rows and where each came from."""

    key: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: The worksheet row of each row (1-based).
    row_numbers: list[int] = field(default_factory=list)
    #: The column letter of each key.
    letters: dict[str, str] = field(default_factory=dict)

    def where(self, index: int, key: str) -> str:
        """The cell of a row's column, as Excel names it (``活动数据!D7``)."""
        return f"{self.title}!{self.letters.get(key, '?')}{self.row_numbers[index]}"


def _describe(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _cell(value: Any, column: Column, where: str) -> Any:
    """A cell's value checked against its column's type."""
    if isinstance(value, str) and value.strip() == "":
        value = None
    if value is None:
        if column.required:
            raise InputError(f"column {column.key}: a value is required", field=where)
        return None
    kind = column.kind
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(
                f"column {column.key}: must be a number, not {_describe(value)}", field=where
            )
        return float(value)
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(
                f"column {column.key}: must be a whole number, not {_describe(value)}",
                field=where,
            )
        return value
    if kind == "date":
        if isinstance(value, dt.datetime):
            if value.time() != dt.time(0):
                raise InputError(f"column {column.key}: must be a date", field=where)
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise InputError(
                f"column {column.key}: must be a date YYYY-MM-DD, not {_describe(value)}",
                field=where,
            ) from None
    if kind == "str":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        return str(value).strip() if isinstance(value, str) else str(value)
    return value


def _open(data: bytes) -> Any:
    from openpyxl import load_workbook

    if len(data) > MAX_BYTES:
        raise InputError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB", field="file")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise InputError(f"not an Excel workbook (.xlsx): {exc}", field="file") from None
    except Exception as exc:  # openpyxl's InvalidFileException and parser errors
        raise InputError(f"not an Excel workbook (.xlsx): {exc}", field="file") from None


def _read_sheet(worksheet: Any, spec: TableSpec, title: str) -> Sheet:
    from openpyxl.utils import get_column_letter

    rows = worksheet.iter_rows(values_only=True)
    header: tuple[Any, ...] = ()
    for number, values in enumerate(rows, start=1):
        if number == KEY_ROW:
            header = values
            break
    positions: dict[str, int] = {}
    for index, value in enumerate(header):
        if isinstance(value, str) and value.strip() in spec.keys:
            positions.setdefault(value.strip(), index)
    for column in spec.columns:
        if column.key not in positions:
            raise InputError(
                f"column {column.key} is missing (row {KEY_ROW} holds the column codes)",
                field=f"{title}!{KEY_ROW}",
            )
    sheet = Sheet(
        spec.key,
        title,
        letters={key: get_column_letter(i + 1) for key, i in positions.items()},
    )
    for number, values in enumerate(rows, start=KEY_ROW + 1):
        if values is None or all(
            v is None or (isinstance(v, str) and not v.strip()) for v in values
        ):
            continue
        row = {}
        for column in spec.columns:
            index = positions[column.key]
            raw = values[index] if index < len(values) else None
            where = f"{title}!{sheet.letters[column.key]}{number}"
            row[column.key] = _cell(raw, column, where)
        sheet.rows.append(row)
        sheet.row_numbers.append(number)
    return sheet


def _sheets(data: bytes, only: Iterable[str] | None) -> dict[str, Sheet]:
    book = _open(data)
    wanted = None if only is None else set(only) | {"info"}
    try:
        out: dict[str, Sheet] = {}
        for worksheet in book.worksheets:
            key = _TITLES.get(worksheet.title)
            if key is None or (wanted is not None and key not in wanted) or key in out:
                continue
            out[key] = _read_sheet(worksheet, SPECS[key], worksheet.title)
    finally:
        book.close()
    if "info" not in out:
        titles = " / ".join(label("sheet.info", lang) for lang in LANGS)
        raise InputError(
            f"no sheet {titles}: not a workbook exported by shuangtan's reports", field="file"
        )
    return out


def read_workbook(data: bytes, *, tables: Iterable[str] | None = None) -> dict[str, Any]:
    """Read an exported report workbook back into its data tables.

    Parameters
    ----------
    data : bytes
        The ``.xlsx`` file.
    tables : iterable of str, optional
        Only these tables (and ``info``); every known one by default.

    Returns
    -------
    dict
        ``report`` (``inventory``, ``park`` or ``monthly``), ``info`` (key → value) and
        ``tables`` (table key → rows, each a dict keyed by the columns' machine keys), equal to
        :func:`~shuangtan.reports.tables.document_tables` of the document it was made from.

    Raises
    ------
    InputError
        Not a workbook, no information sheet, a column missing, or a cell of the wrong type;
        ``field`` names the sheet and the cell (``活动数据!D7``).
    """
    sheets = _sheets(data, tables)
    info = {row["key"]: row["value"] for row in sheets["info"].rows if row["key"]}
    return {
        "report": info.get("report"),
        "info": info,
        "tables": {key: sheet.rows for key, sheet in sheets.items()},
    }


def tables_of(doc: Mapping[str, Any], lang: str) -> dict[str, list[dict[str, Any]]]:
    """The tables a workbook of ``doc`` holds, as :func:`read_workbook` gives them back."""
    return {t.spec.key: t.rows for t in document_tables(doc, lang)}


# --- re-import of activity data -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReimportSummary:
    """What a re-import did.

    Attributes
    ----------
    rows : int
        Activity rows read.
    created, updated, unchanged : int
        Data created, corrected (amount or unit differed) and left as they were.
    recomputed : tuple of dict
        The current inventories that followed (``org_id``, ``period``, ``version``,
        ``co2e_t`` [tCO2e]), those the caller may read.
    """

    rows: int
    created: int
    updated: int
    unchanged: int
    recomputed: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "recomputed": list(self.recomputed),
        }


@dataclass(frozen=True, slots=True)
class _Planned:
    source: EmissionSource
    start: dt.date
    end: dt.date
    amount: float
    unit: str
    datum_id: int | None
    changed: bool


_FIELD_COLUMN: Final = {
    "amount": "amount",
    "unit": "unit",
    "period_start": "period_start",
    "period_end": "period_end",
    "source_id": "source_code",
}


def _plan(store: Store, sheet: Sheet, library: FactorLibrary) -> list[_Planned]:
    """Check every row and decide what to do with it; writes nothing."""
    codes = sorted({str(row["source_code"]) for row in sheet.rows})
    ids: dict[str, int] = {}
    for i in range(0, len(codes), 1000):
        ids.update(
            dict(
                store.session.execute(
                    select(EmissionSource.code, EmissionSource.id).where(
                        EmissionSource.code.in_(codes[i : i + 1000])
                    )
                ).all()
            )
        )
    sources: dict[int, EmissionSource] = {}
    seen: dict[tuple[int, dt.date, dt.date], int] = {}
    plan: list[_Planned] = []
    for index, row in enumerate(sheet.rows):
        code = str(row["source_code"])
        where = sheet.where(index, "source_code")
        source_id = ids.get(code)
        if source_id is None:
            raise InputError(f"unknown source {code!r}", field=where)
        if source_id not in sources:
            try:
                sources[source_id] = store.get_source(source_id, Action.WRITE_ACTIVITY)
            except NotFoundError:
                raise InputError(f"unknown source {code!r}", field=where) from None
            except PermissionDeniedError as exc:
                raise PermissionDeniedError(exc.message, field=where) from None
        source = sources[source_id]
        start = dt.date.fromisoformat(row["period_start"])
        end = dt.date.fromisoformat(row["period_end"])
        key = (source.id, start, end)
        if key in seen:
            raise InputError(
                f"{code} {start}…{end} is also on row {sheet.row_numbers[seen[key]]}",
                field=sheet.where(index, "period_start"),
            )
        seen[key] = index
        amount, unit = float(row["amount"]), str(row["unit"])
        try:
            check_datum(
                store.source_row(source),
                period_start=start,
                period_end=end,
                amount=amount,
                unit=unit,
                library=library,
            )
        except InputError as exc:
            column = _FIELD_COLUMN.get(exc.field or "", "source_code")
            raise InputError(exc.message, field=sheet.where(index, column)) from None
        existing, _ = store.list_activity(source_id=source.id, start=start, end=end, limit=1000)
        datum = next((d for d in existing if d.period_start == start and d.period_end == end), None)
        plan.append(
            _Planned(
                source=source,
                start=start,
                end=end,
                amount=amount,
                unit=unit,
                datum_id=datum.id if datum is not None else None,
                changed=datum is None or datum.amount != amount or datum.unit != unit,
            )
        )
    return plan


def reimport_activity(
    store: Store,
    data: bytes,
    *,
    library: FactorLibrary | None = None,
    follow: bool = True,
    reason: str | None = None,
) -> ReimportSummary:
    """Write an exported workbook's activity sheet back into the database.

    Each row is matched to a stored datum by source code and period: a missing datum is created
    (origin ``imported``), one whose amount or unit differs is corrected (its version goes up),
    an equal one is left alone. Data of the database that the sheet does not mention stay.
    Every row is checked first (the source exists and the caller may enter its data, the
    datum computes, no row repeats another); any problem raises before anything is written.
    Then, as for any activity write, the current inventories covering the changed months
    follow (``follow``). The caller commits.

    Parameters
    ----------
    store : Store
        The caller's scoped store (``write_activity`` on the sources' organisations).
    data : bytes
        The ``.xlsx`` file (an inventory report's workbook, in either language).
    library : FactorLibrary, optional
        The factor library the data are checked with (the packaged one by default).
    follow : bool
        Recompute the current inventories the changes touch.
    reason : str, optional
        Recorded with those recomputations.

    Raises
    ------
    InputError
        A bad workbook: ``field`` names the sheet and cell.
    PermissionDeniedError
        A source the caller may see but not enter data for.
    """
    sheets = _sheets(data, ("activity",))
    if "activity" not in sheets:
        titles = " / ".join(label("sheet.activity", lang) for lang in LANGS)
        raise InputError(f"the workbook has no sheet {titles}", field="file")
    sheet = sheets["activity"]
    lib = library or default_library()
    plan = _plan(store, sheet, lib)
    created = updated = 0
    spans: dict[int, list[tuple[dt.date, dt.date]]] = {}
    for item in plan:
        if not item.changed:
            continue
        if item.datum_id is None:
            store.create_activity(
                {
                    "source_id": item.source.id,
                    "period_start": item.start,
                    "period_end": item.end,
                    "amount": item.amount,
                    "unit": item.unit,
                    "origin": "imported",
                    "note": "re-imported from a report workbook",
                }
            )
            created += 1
        else:
            store.update_activity(item.datum_id, {"amount": item.amount, "unit": item.unit})
            updated += 1
        spans.setdefault(item.source.org_id, []).append((item.start, item.end))
    recomputed: list[dict[str, Any]] = []
    if follow and spans:
        why = reason or (
            f"activity re-imported from a report workbook ({created} created, {updated} updated)"
        )
        # As for the API's activity writes: keeping derived figures current is the platform's
        # job, attributed to the caller; the answer lists only what the caller may read.
        system = Store(store.session, SYSTEM)
        targets: dict[tuple[int, str, str], None] = {}
        for org_id, org_spans in sorted(spans.items()):
            for start, end in org_spans:
                for key in system.affected_inventories(org_id, start, end):
                    targets.setdefault(key, None)
        done: list[dict[str, Any]] = []
        for org_id, period, gwp in targets:
            _, version, computed, _diff = recompute(
                system,
                lib,
                org_id,
                parse_period(period),
                gwp=gwp,  # each inventory keeps the GWP set it was computed with
                user_id=store.principal.user_id,
                reason=why,
            )
            done.append(
                {
                    "org_id": org_id,
                    "period": period,
                    "version": version,
                    "co2e_t": computed.summary["co2e_t"],
                }
            )
        readable = store.readable_org_ids({d["org_id"] for d in done})
        recomputed = [d for d in done if d["org_id"] in readable]
    return ReimportSummary(
        rows=len(plan),
        created=created,
        updated=updated,
        unchanged=len(plan) - created - updated,
        recomputed=tuple(recomputed),
    )

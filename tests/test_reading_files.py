"""The streaming reader of meter-reading files (CSV in UTF-8 / GBK, xlsx workbooks)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuangtan.adapters.files import ReadingsFile, open_readings_file
from shuangtan.domain.readings import RawReading
from shuangtan.errors import InputError

TS = "2024-05-01T00:15:00+08:00"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def readings(f: ReadingsFile) -> list[RawReading]:
    return [r for chunk in f.chunks() for r in chunk]


def raises(field: str, fn: Any, *args: Any, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    assert info.value.field == field, info.value
    return info.value


def open_and_check(path: Path, **kwargs: Any) -> int:
    """Errors may surface at open (the prefix) or at check (the rest): both are fine."""
    return open_readings_file(path, **kwargs).check()


# --- CSV: headers and mapping ---------------------------------------------------------------


def test_plain_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"meter,ts,value\nM1,{TS},1.5\nM2, {TS} ,2\n")
    f = open_readings_file(path)
    assert f.format == "csv"
    assert f.encoding == "utf-8"
    assert f.columns == ["meter", "ts", "value"]
    assert f.mapping == {"meter": "meter", "ts": "ts", "value": "value"}
    assert f.delimiter == ","
    assert f.size_bytes == path.stat().st_size
    assert f.check() == 2
    assert readings(f) == [
        RawReading("M1", TS, "1.5", None, "line 2"),
        RawReading("M2", TS, "2", None, "line 3"),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Meter_ID,Timestamp,Reading,Unit", ["Meter_ID", "Timestamp", "Reading", "Unit"]),
        (" METER_CODE , time , VALUE , unit ", ["METER_CODE", "time", "VALUE", "unit"]),
        ("表计编号,采集时间,读数,单位", ["表计编号", "采集时间", "读数", "单位"]),
        ("计量器具编号,数据时间,数值,单位", ["计量器具编号", "数据时间", "数值", "单位"]),
        ("表号,时间,数值,单位", ["表号", "时间", "数值", "单位"]),
    ],
)
def test_aliases(tmp_path: Path, header: str, expected: list[str]) -> None:
    path = write(tmp_path / "r.csv", f"{header}\nM1,{TS},1.5,kWh\nM2,{TS},2,\n")
    f = open_readings_file(path)
    assert f.columns == expected
    assert f.mapping == dict(zip(["meter", "ts", "value", "unit"], expected, strict=True))
    assert readings(f) == [
        RawReading("M1", TS, "1.5", "kWh", "line 2"),
        RawReading("M2", TS, "2", None, "line 3"),
    ]


def test_user_mapping_overrides_aliases(tmp_path: Path) -> None:
    text = f"设备编号,value,当前读数,time\nM1,9,1.5,{TS}\n"
    path = write(tmp_path / "r.csv", text)
    # "value" would be found by alias; the mapping says the value is elsewhere.
    raises("mapping.meter", open_readings_file, path)
    f = open_readings_file(path, mapping={"meter": "设备编号", "value": "当前读数"})
    assert f.mapping == {"meter": "设备编号", "ts": "time", "value": "当前读数"}
    assert readings(f) == [RawReading("M1", TS, "1.5", None, "line 2")]


def test_mapping_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"meter,ts,amount\nM1,{TS},1\n")
    err = raises("mapping.value", open_readings_file, path)
    assert "amount" in err.message  # the columns found are listed
    err = raises("mapping.value", open_readings_file, path, mapping={"value": "qty"})
    assert "'meter', 'ts', 'amount'" in err.message
    raises("mapping", open_readings_file, path, mapping={"reading": "amount"})
    raises("mapping.value", open_readings_file, path, mapping={"value": "meter"})
    assert open_readings_file(path, mapping={"value": "AMOUNT"}).check() == 1


def test_ambiguous_alias(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"meter,ts,time,value\nM1,{TS},{TS},1\n")
    err = raises("mapping.ts", open_readings_file, path)
    assert "'ts', 'time'" in err.message
    f = open_readings_file(path, mapping={"ts": "time"})
    assert readings(f)[0].ts == TS


# --- CSV: encodings -------------------------------------------------------------------------


GBK_TEXT = f"表计编号,采集时间,读数,单位\n锅炉房1号表,{TS},12.5,千瓦时\n空压机,{TS},3,\n"


def test_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", GBK_TEXT, "utf-8-sig")
    for encoding in ("auto", "utf-8", "UTF8"):
        f = open_readings_file(path, encoding=encoding)
        assert f.encoding == "utf-8-sig"
        assert f.columns[0] == "表计编号"
        assert readings(f)[0] == RawReading("锅炉房1号表", TS, "12.5", "千瓦时", "line 2")


@pytest.mark.parametrize("encoding", ["auto", "gbk", "gb18030"])
def test_gbk(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "r.csv", GBK_TEXT, "gbk")
    f = open_readings_file(path, encoding=encoding)
    assert f.encoding == ("gb18030" if encoding == "auto" else encoding)
    assert f.mapping == {"meter": "表计编号", "ts": "采集时间", "value": "读数", "unit": "单位"}
    assert f.check() == 2
    assert readings(f) == [
        RawReading("锅炉房1号表", TS, "12.5", "千瓦时", "line 2"),
        RawReading("空压机", TS, "3", None, "line 3"),
    ]


def test_gbk_declared_utf8_in_the_data(tmp_path: Path) -> None:
    text = f"meter,ts,value\nM1,{TS},1\n锅炉房,{TS},2\n"
    path = write(tmp_path / "r.csv", text, "gbk")
    f = open_readings_file(path, encoding="utf-8")  # the header decodes
    for run in (f.check, lambda: readings(f)):
        err = raises("encoding", run)
        assert "line 3" in err.message
        assert f"byte offset {len(text.split(chr(10))[0]) + len(f'M1,{TS},1') + 2}" in err.message
        assert "looks like GBK/GB18030: send encoding=gbk" in err.message


def test_gbk_declared_utf8_in_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", GBK_TEXT, "gbk")
    err = raises("encoding", open_readings_file, path, encoding="utf-8")
    assert "line 1" in err.message
    assert "encoding=gbk" in err.message


def test_gbk_after_the_prefix(tmp_path: Path) -> None:
    """Auto-detection reads 1 MiB; bytes beyond it are proved by check()."""
    head = "meter,ts,value\n" + f"M1,{TS},1\n" * 40_000  # > 1 MiB of ASCII
    path = tmp_path / "r.csv"
    path.write_bytes(head.encode() + f"锅炉房,{TS},2\n".encode("gbk"))
    f = open_readings_file(path)
    assert f.encoding == "utf-8"
    err = raises("encoding", f.check)
    assert "line 40002" in err.message
    assert f"byte offset {len(head)}" in err.message
    assert "send encoding=gbk" in err.message
    assert open_readings_file(path, encoding="gbk").check() == 40_001


def test_multibyte_split_across_blocks(tmp_path: Path) -> None:
    """Characters straddling the reader's 256 KiB blocks decode; line numbers stay exact."""
    rows = [f"表{i:06d}号,{TS},{i}" for i in range(30_000)]
    path = tmp_path / "r.csv"
    for encoding in ("utf-8", "gbk"):
        path.write_bytes(("meter,ts,value\r\n" + "\r\n".join(rows) + "\r\n").encode(encoding))
        got = readings(open_readings_file(path, encoding=encoding))
        assert [r.meter for r in got] == [r.split(",")[0] for r in rows]
        assert got[-1].ref == f"line {len(rows) + 1}"


def test_neither_utf8_nor_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"meter,ts,value\nM\xff\xff,x,1\n")
    err = raises("encoding", open_readings_file, path)
    assert "line 2" in err.message


def test_utf16_bom(tmp_path: Path) -> None:
    """Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated."""
    path = write(tmp_path / "r.txt", GBK_TEXT.replace(",", "\t"), "utf-16")
    f = open_readings_file(path)
    assert (f.encoding, f.delimiter) == ("utf-16", "\t")
    assert readings(f)[1] == RawReading("空压机", TS, "3", None, "line 3")


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"meter,ts,value\nM1,{TS},1\n")
    raises("encoding", open_readings_file, path, encoding="klingon")
    raises("encoding", open_readings_file, path, encoding="base64")  # not a text codec


# --- CSV: structure -------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [["meter", "ts", "value"], ["M1", TS, "1,5" if delimiter != "," else "1.5"]]
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path = write(tmp_path / "r.csv", buf.getvalue())
    f = open_readings_file(path)
    assert f.delimiter == delimiter
    assert readings(f) == [RawReading("M1", TS, rows[1][2], None, "line 2")]


def test_bad_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"meter,ts,value\nM1,{TS},1\n")
    raises("delimiter", open_readings_file, path, delimiter=",,")


def test_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"meter,ts,value\nM1,{TS},1\n\nM2,{TS},2,extra\n")
    f = open_readings_file(path)
    for run in (f.check, lambda: readings(f)):
        err = raises("file", run)
        assert "line 4" in err.message
        assert "4 cells" in err.message


def test_empty_rows_skipped(tmp_path: Path) -> None:
    text = f"\nmeter,ts,value,unit\nM1,{TS},1,\n\n,,,\n  , ,\t, \n\r\nM2,{TS},2,kWh\n,,,\n"
    path = write(tmp_path / "r.csv", text)
    f = open_readings_file(path)
    assert f.check() == 2
    assert readings(f) == [
        RawReading("M1", TS, "1", None, "line 3"),
        RawReading("M2", TS, "2", "kWh", "line 8"),
    ]


def test_a_row_with_only_a_note_is_kept(tmp_path: Path) -> None:
    """Not blank: the pipeline quarantines it (no meter), the reader does not hide it."""
    path = write(tmp_path / "r.csv", "meter,ts,value,note\n,,,hello\n")
    assert readings(open_readings_file(path)) == [RawReading("", "", "", None, "line 2")]


def test_quoted_newlines_keep_physical_line_numbers(tmp_path: Path) -> None:
    text = f'meter,ts,value\n"M\n1",{TS},1\r\nM2,{TS},"2"\n"M,3",{TS},"a ""b"""\n'
    f = open_readings_file(write(tmp_path / "r.csv", text))
    assert readings(f) == [
        RawReading("M\n1", TS, "1", None, "line 2"),
        RawReading("M2", TS, "2", None, "line 4"),
        RawReading("M,3", TS, 'a "b"', None, "line 5"),
    ]


def test_chunking(tmp_path: Path) -> None:
    body = "".join(f"M{i},{TS},{i}\n" for i in range(10))
    path = write(tmp_path / "r.csv", "meter,ts,value\n" + body)
    f = open_readings_file(path, chunk_rows=3)
    seen: list[int] = []
    chunks = list(f.chunks(progress=seen.append))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [r.ref for c in chunks for r in c] == [f"line {i}" for i in range(2, 12)]
    assert [r.meter for c in chunks for r in c] == [f"M{i}" for i in range(10)]
    assert len(seen) == 4
    assert seen[-1] == path.stat().st_size
    checked: list[int] = []
    assert f.check(progress=checked.append) == 10
    assert checked[-1] == path.stat().st_size
    raises("chunk_rows", open_readings_file, path, chunk_rows=0)


def test_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(f"meter,ts,value\nM1,{TS},1\nM\x002,{TS},2\n".encode())
    err = raises("file", open_and_check, path)
    assert "line 3" in err.message
    big = tmp_path / "big.csv"  # beyond the prefix: found by check()
    big.write_bytes(("meter,ts,value\n" + f"M1,{TS},1\n" * 40_000 + "M\x00,x,1\n").encode())
    err = raises("file", open_readings_file(big).check)
    assert "line 40002" in err.message


def test_binary_given_as_csv(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.save(tmp_path / "book.xlsx")
    path = tmp_path / "book.csv"
    path.write_bytes((tmp_path / "book.xlsx").read_bytes())
    err = raises("file", open_readings_file, path)
    assert "format=xlsx" in err.message


def test_empty_and_missing_files(tmp_path: Path) -> None:
    raises("file", open_readings_file, write(tmp_path / "empty.csv", ""))
    raises("file", open_readings_file, write(tmp_path / "blank.csv", "\n \n,,\n"))
    raises("file", open_readings_file, tmp_path / "missing.csv")


def test_header_only(tmp_path: Path) -> None:
    f = open_readings_file(write(tmp_path / "r.csv", "meter,ts,value"))
    assert f.check() == 0
    assert list(f.chunks()) == []


def test_format(tmp_path: Path) -> None:
    path = write(tmp_path / "readings.dat", f"meter,ts,value\nM1,{TS},1\n")
    raises("format", open_readings_file, path)
    raises("format", open_readings_file, path, format="json")
    assert open_readings_file(path, format="CSV").check() == 1
    raises("format", open_readings_file, tmp_path / "old.xls")


def test_txt_is_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "r.TXT", f"meter;ts;value\nM1;{TS};1\n")
    assert open_readings_file(path).format == "csv"


def test_chunks_can_be_abandoned(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "meter,ts,value\n" + f"M1,{TS},1\n" * 10)
    chunks = open_readings_file(path, chunk_rows=2).chunks()
    assert len(next(chunks)) == 2
    chunks.close()  # the file is closed; no ResourceWarning (warnings are errors here)


# --- round trip -----------------------------------------------------------------------------

cell_text = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\x00\r",
    )
    | st.sampled_from([",", ";", '"', "\n", "|", "\t", "\u2028", "\x85", "\x0c", "表"]),
    max_size=12,
).filter(lambda s: s == s.strip())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(cell_text.filter(bool), cell_text, cell_text, cell_text), min_size=1, max_size=30
    ),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    terminator=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
    chunk_rows=st.integers(1, 7),
)
def test_round_trip(
    tmp_path: Path,
    rows: list[tuple[str, str, str, str]],
    delimiter: str,
    terminator: str,
    encoding: str,
    chunk_rows: int,
) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(["meter", "ts", "value", "unit"])
    writer.writerows(rows)
    path = tmp_path / "round.csv"
    path.write_bytes(buf.getvalue().encode(encoding))

    f = open_readings_file(path, delimiter=delimiter, chunk_rows=chunk_rows)
    assert f.check() == len(rows)
    chunks = list(f.chunks())
    assert all(0 < len(c) <= chunk_rows for c in chunks)
    got = [r for c in chunks for r in c]
    line = 2
    expected = []
    for meter, ts, value, unit in rows:
        expected.append(RawReading(meter, ts, value, unit or None, f"line {line}"))
        line += 1 + sum(cell.count("\n") for cell in (meter, ts, value, unit))
    assert got == expected


# --- memory ---------------------------------------------------------------------------------


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("meter,ts,value\n")
        for i in range(200_000):
            fh.write(f"M{i % 500:04d},2024-05-01T00:{i % 60:02d}:00+08:00,{i * 0.37:.3f}\n")
    size = path.stat().st_size
    assert size > 8_000_000
    f = open_readings_file(path, chunk_rows=1000)

    tracemalloc.start()
    try:
        assert f.check() == 200_000
        check_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        assert sum(len(c) for c in f.chunks()) == 200_000
        chunks_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert check_peak < 6 * 2**20, check_peak
    assert chunks_peak < 6 * 2**20, chunks_peak


# --- xlsx -----------------------------------------------------------------------------------

T0 = dt.datetime(2024, 5, 1, 0, 15)


def workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "读数"
    ws.append(["表计编号", "采集时间", "读数", "单位"])
    ws.append(["锅炉房1号表", T0, 12.5, "kWh"])
    ws.append([None, None, None, None])  # blank
    ws.append([10023, T0 + dt.timedelta(minutes=15), 7, ""])  # meter code typed as a number
    ws.append(["  M3 ", "2024-05-01T00:45:00+08:00", " 8.5 ", None])
    ws.append([10024.0, T0, None])  # a short row
    other = book.create_sheet("Other")
    other.append(["meter_id", "timestamp", "reading"])
    other.append(["X1", T0, 1])
    book.save(path)
    return path


def test_xlsx_first_sheet(tmp_path: Path) -> None:
    f = open_readings_file(workbook(tmp_path / "r.xlsx"))
    assert (f.format, f.sheet, f.encoding, f.delimiter) == ("xlsx", "读数", "", None)
    assert f.columns == ["表计编号", "采集时间", "读数", "单位"]
    assert f.check() == 4
    got = readings(f)
    assert got == [
        RawReading("锅炉房1号表", T0, 12.5, "kWh", "读数!row 2"),
        RawReading("10023", T0 + dt.timedelta(minutes=15), 7, None, "读数!row 4"),
        RawReading("M3", "2024-05-01T00:45:00+08:00", "8.5", None, "读数!row 5"),
        RawReading("10024", T0, None, None, "读数!row 6"),
    ]
    assert isinstance(got[0].ts, dt.datetime)
    assert got[0].ts.tzinfo is None  # naive stays naive: the caller decides the zone


def test_xlsx_second_sheet_and_chunks(tmp_path: Path) -> None:
    path = workbook(tmp_path / "r.xlsm")
    f = open_readings_file(path, sheet="Other", chunk_rows=1)
    assert f.mapping == {"meter": "meter_id", "ts": "timestamp", "value": "reading"}
    seen: list[int] = []
    assert list(f.chunks(progress=seen.append)) == [[RawReading("X1", T0, 1, None, "Other!row 2")]]
    assert seen == [2]
    err = raises("sheet", open_readings_file, path, sheet="Nope")
    assert "'Other'" in err.message


def test_xlsx_value_right_of_the_header(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "S"
    ws.append(["meter", "ts", "value"])
    ws.append(["M1", T0, 1])
    ws.append(["M2", T0, 2, None, "oops"])
    path = tmp_path / "r.xlsx"
    book.save(path)
    f = open_readings_file(path)
    err = raises("file", f.check)
    assert "S!row 3" in err.message
    assert "column E" in err.message


def test_xlsx_missing_column(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["meter", "ts", "qty"])
    path = tmp_path / "r.xlsx"
    book.save(path)
    raises("mapping.value", open_readings_file, path)
    assert open_readings_file(path, mapping={"value": "qty"}).check() == 0


def test_not_a_workbook(tmp_path: Path) -> None:
    path = write(tmp_path / "r.xlsx", f"meter,ts,value\nM1,{TS},1\n")
    err = raises("file", open_readings_file, path)
    assert "not a valid .xlsx" in err.message
    assert open_readings_file(path, format="csv").check() == 1


def test_unclosed_quote(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", 'meter,ts,value\nM1,x,1\n"M2,x,1\n' + "M3,x,1\n" * 30_000)
    err = raises("file", open_readings_file(path).check)
    assert "from line 3" in err.message
    assert "unclosed quote" in err.message

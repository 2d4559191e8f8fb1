"""Reports: the inventory report (MEE and ISO), the park summary, the monthly statement.

The demo park (with January 2025's meter readings, and one enterprise without an inventory)
is loaded once for the module; documents and renderings are made once and shared. The Excel
round trip runs on the small world of ``tests/world.py`` on both backends, since it writes.

PDF checks read the PDF with poppler's ``pdftotext`` and ``pdffonts``: under ``CI=true`` a
missing poppler-utils fails the tests, elsewhere they skip and say why.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from shuangtan.adapters.db.demo import load_demo, load_demo_readings
from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import upgrade
from shuangtan.adapters.db.models import ActivityDatum, Meter, MeterRollup, Organization
from shuangtan.adapters.db.readings import us_to_naive
from shuangtan.adapters.db.repositories import SYSTEM, Accounts, Store
from shuangtan.errors import InputError, NotFoundError
from shuangtan.factors import FactorLibrary
from shuangtan.reports import ReportRequest, generate
from shuangtan.reports.data import inventory_report, monthly_statement, park_report
from shuangtan.reports.labels import LABELS, SECTIONS, fmt_number, label, section_heading
from shuangtan.reports.render import render, render_html, to_pdf
from shuangtan.reports.workbook import read_workbook, reimport_activity, tables_of
from shuangtan.services.inventories import parse_period, recompute
from shuangtan.services.readings import month_start_us
from tests.platform_fixtures import Database
from tests.world import World

#: The seven sections of the guideline report (the verification statement is the eighth).
SEVEN = SECTIONS[:7]
CJK = re.compile(r"[\u3400-\u9fff]")
E01, PARK, NEWCOMER = "JS-SGX-E01", "JS-SGX", "JS-SGX-E99"
VERIFICATION = {
    "state": "verified",
    "verifier": {"code": "VB-01", "name_zh": "江苏示范低碳认证中心有限公司", "name_en": "Demo CB"},
    "signed_at": "2026-03-31T08:00:00Z",
    "key_id": "vb01-2026",
    "content_sha256": "ab" * 32,
    "signature": "c2lnbmF0dXJl",
    "opinion": "排放报告真实、准确。",
    "findings": [{"id": 1, "title": "电表校准记录缺一份", "status": "closed"}],
}


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def poppler(tool: str) -> str:
    """The path of a poppler-utils tool; fails under CI, skips elsewhere, when missing."""
    path = shutil.which(tool)
    if path is None:
        reason = f"{tool} is missing (apt-get install -y poppler-utils)"
        if _ci():
            pytest.fail(f"CI needs {reason}")
        pytest.skip(reason)
    return path


def pdf_text(pdf: bytes) -> str:
    done = subprocess.run(
        [poppler("pdftotext"), "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode("utf-8")


def pdf_fonts(pdf: bytes, tmp: Path) -> list[list[str]]:
    path = tmp / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [poppler("pdffonts"), str(path)], capture_output=True, text=True, check=True, timeout=60
    )
    return [line.split() for line in done.stdout.splitlines()[2:] if line.strip()]


# --- the demo park, loaded once -------------------------------------------------------------


@dataclass
class Demo:
    url: str
    engine: Engine
    session: Session
    store: Store
    ids: dict[str, int]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, library: FactorLibrary) -> Iterator[Demo]:
    """The demo park with January 2025's readings, plus an enterprise without an inventory."""
    tmp = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{tmp / 'demo.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        loaded = load_demo(session, library)
        Store(session, SYSTEM).create_org(
            {
                "parent_id": loaded.park_id,
                "kind": "enterprise",
                "code": NEWCOMER,
                "name_zh": "示范新入园企业",
                "name_en": "Demonstration newcomer",
                "sector": "offices",
            }
        )
        session.commit()
    load_demo_readings(sessionmaker(engine), months=[1])
    session = Session(engine)
    store = Store(session, SYSTEM)
    ids = {code: store.org_by_code(code).id for code in (E01, PARK, NEWCOMER, "JS")}
    yield Demo(url, engine, session, store, ids)
    session.close()
    engine.dispose()


@pytest.fixture(scope="module")
def doc(demo: Demo) -> dict[str, Any]:
    return inventory_report(demo.store, demo.ids[E01], "2025")


@pytest.fixture(scope="module")
def iso_doc(demo: Demo) -> dict[str, Any]:
    return inventory_report(demo.store, demo.ids[E01], "2025", variant="iso")


@pytest.fixture(scope="module")
def zh_html(doc: dict[str, Any]) -> str:
    return render_html(doc, "zh_CN")


@pytest.fixture(scope="module")
def en_html(doc: dict[str, Any]) -> str:
    return render_html(doc, "en")


@pytest.fixture(scope="module")
def zh_pdf(zh_html: str) -> bytes:
    return to_pdf(zh_html)


@pytest.fixture(scope="module")
def zh_pdf_text(zh_pdf: bytes) -> str:
    return pdf_text(zh_pdf)


# --- the inventory report -------------------------------------------------------------------


def test_pdf_text_has_the_chinese_headings_and_the_total(
    doc: dict[str, Any], zh_pdf: bytes, zh_pdf_text: str
) -> None:
    assert zh_pdf.startswith(b"%PDF-")
    for section in SEVEN:
        assert label(f"section.{section}", "zh_CN") in zh_pdf_text, section
    # Numbered as the guideline reports are: 一、基本情况 … 七、数据质量管理.
    assert section_heading("basic", 1, "zh_CN") in zh_pdf_text
    assert section_heading("quality", 7, "zh_CN") in zh_pdf_text
    total = fmt_number(doc["totals"]["co2e_t"], 2, "zh_CN")
    assert total == "469,025.09"  # the demo's E01 2025, as docs/platform/demo-park.md lists it
    assert total in zh_pdf_text
    assert "江苏示范热电有限公司" in zh_pdf_text
    assert "91320505MA277919XK" in zh_pdf_text  # the credit code, in 基本情况
    assert label("section.verification", "zh_CN") not in zh_pdf_text  # no statement given


def test_pdf_fonts_are_embedded(zh_pdf: bytes, tmp_path: Path) -> None:
    fonts = pdf_fonts(zh_pdf, tmp_path)
    assert fonts
    names = [row[0] for row in fonts]
    assert any("Noto-Sans-CJK-SC" in n for n in names), names
    for row in fonts:
        # name type… encoding emb sub uni object ID: emb is the fifth field from the end.
        assert row[-5] == "yes", row


def test_pdf_and_html_show_the_same_charts(
    doc: dict[str, Any], zh_html: str, zh_pdf_text: str
) -> None:
    axis = label("chart.month_axis", "zh_CN", year=2025)
    # The axis title is drawn by matplotlib, kept as SVG text, and laid out by WeasyPrint.
    assert axis in zh_pdf_text
    svgs = re.findall(r"<svg\b.*?</svg>", zh_html, flags=re.DOTALL)
    assert len(svgs) == 3  # by month, by scope, by category
    assert any(axis in svg for svg in svgs)
    outside = re.sub(r"<svg\b.*?</svg>", "", zh_html, flags=re.DOTALL)
    assert axis not in outside  # so the PDF's text came from the chart
    assert "font-family: 'Noto Sans CJK SC'" in svgs[0]
    assert "http://" not in outside and "https://" not in outside


def test_english_html_has_english_headings_only(en_html: str, zh_html: str) -> None:
    assert '<html lang="en">' in en_html
    for number, section in enumerate(SEVEN, start=1):
        assert section_heading(section, number, "en") in en_html
        assert label(f"section.{section}", "zh_CN") not in en_html
        assert label(f"section.{section}", "en") not in zh_html
    assert "Jiangsu Demonstration Thermal Power Co., Ltd." in en_html


def test_chinese_report_carries_no_english_words(zh_html: str) -> None:
    # Visible text outside codes, charts and the header: no English label slips in.
    body = re.sub(r"<(svg|style|title)\b.*?</\1>", "", zh_html, flags=re.DOTALL)
    body = re.sub(r'<td class="code">.*?</td>|<span class="code">.*?</span>', "", body)
    text = re.sub(r"<[^>]+>", " ", body)
    for key, (_zh, en) in LABELS.items():
        if " " in en and not key.startswith(("sheet.", "chart.month_axis")):
            assert en not in text, key
    text = re.sub(r"\b[a-z0-9_]+(?:\.[a-z0-9_]+)+\b", " ", text)  # factor keys are codes
    words = set(re.findall(r"\b[A-Za-z]{4,}\b", text))
    # Units, gases, codes and proper names of standards are allowed; nothing else.
    allowed = {"shuangtan", "tCO2e", "kgce", "Excel", "globalwarmingpotentials", "AR6GWP100"}
    assert words <= allowed, words


def test_labels_come_in_both_languages() -> None:
    for key, (zh, en) in LABELS.items():
        assert zh.strip() and en.strip(), key
        assert not CJK.search(en), key
        placeholders = set(re.findall(r"\{(\w+)\}", zh))
        assert placeholders == set(re.findall(r"\{(\w+)\}", en)), key


def test_iso_variant_shows_categories_1_to_6(iso_doc: dict[str, Any], zh_html: str) -> None:
    categories = iso_doc["totals"]["by_iso_category"]
    assert [c["category"] for c in categories] == [1, 2, 3, 4, 5, 6]
    assert math.isclose(
        math.fsum(c["co2e_t"] for c in categories), iso_doc["totals"]["co2e_t"], rel_tol=1e-12
    )
    by_source: dict[int, float] = defaultdict(float)
    for source in iso_doc["sources"]:
        by_source[source["iso_category"]] += source["co2e_t"]
    assert by_source.keys() <= {1, 2}  # the demo's CHP plant: direct and imported energy only
    for lang in ("zh_CN", "en"):
        html = render_html(iso_doc, lang)
        assert label("title.inventory_iso", lang) in html
        for c in range(1, 7):
            assert label(f"iso.{c}", lang) in html
    assert label("iso.1", "zh_CN") not in zh_html  # the guideline variant has no ISO table


def test_json_is_the_document(doc: dict[str, Any], iso_doc: dict[str, Any]) -> None:
    for d in (doc, iso_doc):
        data = render(d, "json", "zh_CN")
        assert orjson.loads(data) == d
        assert render(d, "json", "en") == data  # JSON has no language
    assert render(doc, "html", "zh_CN") == render(doc, "html", "zh_CN")  # deterministic


def test_document_is_the_stored_current_version(demo: Demo, doc: dict[str, Any]) -> None:
    inventory = demo.store.current_inventory(demo.ids[E01], "2025")
    stored = orjson.loads(demo.store.document(inventory.id))
    meta = doc["boundary"]["inventory"]
    assert (meta["id"], meta["version"], meta["status"]) == (inventory.id, 1, "current")
    assert meta["gwp_set"] == "AR6" and meta["library_version"] == inventory.library_version
    assert float(f"{doc['totals']['co2e_t']:.15g}") == stored["co2e_t"]
    assert [s["code"] for s in doc["sources"]] == [i.source_code for i in inventory.items]
    assert [s["co2e_t"] for s in doc["sources"]] == [i.co2e_t for i in inventory.items]
    assert len(doc["activity"]) == 7 * 12
    assert {a["origin"] for a in doc["activity"]} == {"imported"}
    assert all(a["evidence"] == [] for a in doc["activity"])
    assert doc["factors"] and all(f["source_id"] for f in doc["factors"])
    assert doc["quality"]["origins"] == [{"origin": "imported", "count": 84, "share": 1.0}]
    # January's readings are loaded: that month is complete, the others have no data.
    months = {m["month"]: m for m in doc["quality"]["by_month"]}
    assert months["2025-01"]["completeness"] == pytest.approx(1.0, abs=0.01)
    assert months["2025-02"]["received"] == 0


def test_missing_inventory_is_not_found(demo: Demo) -> None:
    with pytest.raises(NotFoundError, match=f"{NEWCOMER} has no inventory for 2025"):
        inventory_report(demo.store, demo.ids[NEWCOMER], "2025")
    with pytest.raises(NotFoundError, match="2030"):
        inventory_report(demo.store, demo.ids[E01], "2030")
    with pytest.raises(InputError) as bad:
        inventory_report(demo.store, demo.ids[E01], "2025", variant="ghgp")
    assert bad.value.field == "variant"


def test_verification_statement(demo: Demo) -> None:
    signed = inventory_report(demo.store, demo.ids[E01], "2025", verification=VERIFICATION)
    assert signed["verification"]["findings"] == VERIFICATION["findings"]
    zh, en = render_html(signed, "zh_CN"), render_html(signed, "en")
    assert section_heading("verification", 8, "zh_CN") in zh
    assert section_heading("verification", 8, "en") in en
    for html in (zh, en):
        assert "ab" * 32 in html and "电表校准记录缺一份" in html
    tables = read_workbook(render(signed, "xlsx", "en"))["tables"]
    assert tables["findings"] == [{"id": 1, "title": "电表校准记录缺一份", "status": "closed"}]
    with pytest.raises(InputError) as bad:
        inventory_report(demo.store, demo.ids[E01], "2025", verification={"state": "signed"})
    assert bad.value.field == "verification.state"


# --- Excel: the tables read back, the activity data re-imported ----------------------------


def test_workbook_reads_back_the_same_tables(doc: dict[str, Any], iso_doc: dict[str, Any]) -> None:
    from openpyxl import load_workbook

    for d in (doc, iso_doc):
        for lang in ("zh_CN", "en"):
            data = render(d, "xlsx", lang)
            book = read_workbook(data)
            assert book["report"] == "inventory"
            assert book["tables"] == tables_of(d, lang)
    sheet = load_workbook(io.BytesIO(render(doc, "xlsx", "zh_CN")))["活动数据"]
    assert [c.value for c in sheet[2]][:5] == [
        "source_code",
        "period_start",
        "period_end",
        "amount",
        "unit",
    ]
    amount = sheet["D3"]
    assert amount.data_type == "n" and amount.value == doc["activity"][0]["amount"]


def _items(store: Store, org_id: int) -> dict[str, float]:
    inventory = store.current_inventory(org_id, "2025")
    return {item.source_code: item.co2e_t for item in inventory.items}


def test_excel_round_trip_gives_the_same_numbers(
    db: Database, world: World, library: FactorLibrary
) -> None:
    with Session(db.engine) as session:
        store = Store(session, SYSTEM)
        a1 = world.org["A1"]
        before = inventory_report(store, a1, "2025")
        data = render(before, "xlsx", "zh_CN")
        original = _items(store, a1)
        # Change one datum, delete another, and let the inventory follow.
        store.update_activity(world.activity["A1-S-EL/03"], {"amount": 1.0})
        store.delete_activity(world.activity["A1-S-GAS/07"])
        recompute(store, library, a1, parse_period("2025"), reason="test")
        assert _items(store, a1) != original

        summary = reimport_activity(store, data)
        assert (summary.rows, summary.created, summary.updated, summary.unchanged) == (
            24,
            1,
            1,
            22,
        )
        followed = {(r["org_id"], r["period"]) for r in summary.recomputed}
        assert {(a1, "2025"), (world.org["P1"], "2025"), (world.org["R1"], "2025")} <= followed
        recompute(store, library, a1, parse_period("2025"), reason="after re-import")
        after = inventory_report(store, a1, "2025")
        assert _items(store, a1) == original  # every source, to the last digit
        assert after["totals"]["co2e_t"] == before["totals"]["co2e_t"]
        assert [s["co2e_t"] for s in after["sources"]] == [s["co2e_t"] for s in before["sources"]]
        restored = session.scalars(
            select(ActivityDatum).where(
                ActivityDatum.source_id == world.source["A1-S-GAS"],
                ActivityDatum.period_start == parse_period("2025-07").start,
            )
        ).one()
        assert restored.origin == "imported"
        # Re-importing again changes nothing.
        again = reimport_activity(store, data)
        assert (again.created, again.updated, again.unchanged, again.recomputed) == (0, 0, 24, ())
        session.commit()


def _edit(data: bytes, sheet_title: str, cell: str, value: Any) -> bytes:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    book[sheet_title][cell] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _drop_column(data: bytes, sheet_title: str, column: int) -> bytes:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    book[sheet_title].delete_cols(column)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _drop_sheet(data: bytes, sheet_title: str) -> bytes:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    del book[sheet_title]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ZH, EN = "活动数据", "Activity data"


@pytest.fixture(scope="module")
def workbooks(doc: dict[str, Any]) -> tuple[bytes, bytes]:
    """The Chinese and English workbooks, each with one valid change on row 3 (D3)."""
    zh = _edit(render(doc, "xlsx", "zh_CN"), ZH, "D3", 1.0)
    en = _edit(render(doc, "xlsx", "en"), EN, "D3", 1.0)
    return zh, en


def _repeat_row_3(zh: bytes) -> bytes:
    return _edit(_edit(zh, ZH, "B4", "2025-01-01"), ZH, "C4", "2025-02-01")


#: case → (spoil the (zh, en) workbooks, the error's field, words of its message)
BAD: dict[str, tuple[Any, str, str]] = {
    "not a workbook": (lambda zh, en: b"PK\x03\x04 not really", "file", "not an Excel workbook"),
    "a text file": (lambda zh, en: b"code,amount\n", "file", "not an Excel workbook"),
    "no info sheet": (lambda zh, en: _drop_sheet(zh, "基本信息"), "file", "基本信息"),
    "no activity sheet": (lambda zh, en: _drop_sheet(zh, ZH), "file", ZH),
    "column missing": (lambda zh, en: _drop_column(zh, ZH, 4), f"{ZH}!2", "amount"),
    "text in a number": (lambda zh, en: _edit(zh, ZH, "D5", "12,5"), f"{ZH}!D5", "number"),
    "empty amount": (lambda zh, en: _edit(en, EN, "D9", None), f"{EN}!D9", "required"),
    "unknown source": (lambda zh, en: _edit(zh, ZH, "A7", "NO-S1"), f"{ZH}!A7", "unknown source"),
    "bad date": (lambda zh, en: _edit(zh, ZH, "B4", "2025-13-01"), f"{ZH}!B4", "YYYY-MM-DD"),
    "not a month": (lambda zh, en: _edit(zh, ZH, "B4", "2025-01-15"), f"{ZH}!B4", "first day"),
    "bad unit": (lambda zh, en: _edit(zh, ZH, "E6", "furlong"), f"{ZH}!E6", "furlong"),
    "repeated row": (lambda zh, en: _repeat_row_3(zh), f"{ZH}!B4", "also on row 3"),
    "text in an integer": (lambda zh, en: _edit(en, EN, "G3", "one"), f"{EN}!G3", "whole number"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_workbooks_change_nothing(
    demo: Demo, workbooks: tuple[bytes, bytes], case: str
) -> None:
    def state() -> list[Any]:
        stmt = select(
            ActivityDatum.id, ActivityDatum.amount, ActivityDatum.unit, ActivityDatum.version
        ).order_by(ActivityDatum.id)
        return [tuple(row) for row in demo.session.execute(stmt)]

    spoil, field, words = BAD[case]
    data = spoil(*workbooks)
    before = state()
    with pytest.raises(InputError) as bad:
        reimport_activity(demo.store, data)
    assert bad.value.field == field, bad.value
    assert words in bad.value.message, bad.value.message
    # The valid change on row 3 was not applied either: all rows are checked first.
    assert state() == before
    assert not demo.session.new and not demo.session.dirty


# --- the park summary ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def park_doc(demo: Demo) -> dict[str, Any]:
    calls: list[tuple[int, int]] = []
    doc = park_report(
        demo.store, demo.ids[PARK], "2025", on_progress=lambda d, t: calls.append((d, t))
    )
    doc["_calls"] = calls
    return doc


def test_park_report(demo: Demo, park_doc: dict[str, Any]) -> None:
    calls = park_doc.pop("_calls")
    assert calls == [(i, 26) for i in range(1, 27)]
    totals = park_doc["totals"]
    assert (totals["enterprises"], totals["with_inventory"]) == (26, 25)
    assert [m["code"] for m in park_doc["missing"]] == [NEWCOMER]
    enterprises = {e["code"]: e for e in park_doc["enterprises"]}
    assert enterprises[NEWCOMER]["inventory"] is None
    present = [e for e in park_doc["enterprises"] if e["inventory"]]
    assert totals["co2e_t"] == math.fsum(e["co2e_t"] for e in present)
    # The park's own inventory covers the same sources.
    own = park_doc["own_inventory"]
    assert own is not None and abs(own["difference_t"]) < 1e-6
    assert fmt_number(totals["co2e_t"], 2, "zh_CN") == "3,015,385.21"  # docs/platform/demo-park.md
    assert math.isclose(math.fsum(s["share"] for s in totals["by_sector"]), 1.0)
    assert math.isclose(math.fsum(s["co2e_t"] for s in totals["by_scope"]), totals["co2e_t"])
    top = [r["co2e_t"] for r in totals["top"]]
    assert len(top) == 10 and top == sorted(top, reverse=True)
    assert totals["top"][0]["code"] == "JS-SGX-E02"  # the cement plant
    e01 = enterprises[E01]
    assert e01["intensity_t_per_10k_cny"] == pytest.approx(e01["co2e_t"] / 71280.0)
    for lang in ("zh_CN", "en"):
        html = render_html(park_doc, lang)
        assert label("title.park.park", lang) in html
        assert label("section.no_inventory", lang) in html and NEWCOMER in html
        assert len(re.findall(r"<svg\b", html)) == 4
        book = read_workbook(render(park_doc, "xlsx", lang))
        assert book["report"] == "park" and book["tables"] == tables_of(park_doc, lang)
    region = park_report(demo.store, demo.ids["JS"], "2025")
    assert region["totals"]["co2e_t"] == totals["co2e_t"]
    with pytest.raises(InputError) as bad:
        park_report(demo.store, demo.ids[E01], "2025")
    assert bad.value.field == "org_id"


# --- the monthly statement -----------------------------------------------------------------


def test_monthly_statement_sums_equal_the_rollups(demo: Demo, doc: dict[str, Any]) -> None:
    statement = monthly_statement(demo.store, demo.ids[E01], "2025-01")
    assert statement["basis"] == "annual_share"
    bucket = us_to_naive(month_start_us(2025, 1))
    enterprise = demo.session.get(Organization, demo.ids[E01])
    assert enterprise is not None
    rollups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for carrier, unit, value in demo.session.execute(
        select(Meter.carrier, Meter.unit, MeterRollup.value)
        .join(MeterRollup, MeterRollup.meter_id == Meter.id)
        .join(Organization, Organization.id == Meter.org_id)
        .where(
            Organization.path.like(enterprise.path + "%"),
            MeterRollup.resolution == "month",
            MeterRollup.bucket == bucket,
        )
    ):
        rollups[carrier, unit].append(value)
    assert rollups
    shown = {
        (e["carrier"], v["unit"]): v["value"]
        for e in statement["energy"]["from_meters"]
        for v in e["values"]
    }
    assert shown == {key: math.fsum(values) for key, values in rollups.items()}
    assert sum(len(v) for v in rollups.values()) == len(statement["meters"])
    totals = statement["totals"]
    assert totals["energy_tce_meters"] == math.fsum(
        m["energy_tce"] for m in statement["meters"] if m["energy_tce"] is not None
    )
    january = doc["totals"]["monthly"][0]
    assert january["month"] == "2025-01"
    assert math.isclose(totals["co2e_t"], january["co2e_t"], rel_tol=1e-12)
    assert math.isclose(totals["energy_tce_activity"], january["energy_tce"], rel_tol=1e-12)
    # The meters measured what was imported: the coal and electricity agree.
    assert math.isclose(totals["energy_tce_meters"], totals["energy_tce_activity"], rel_tol=1e-6)
    assert statement["quality"]["completeness"] == pytest.approx(1.0, abs=0.01)
    for lang in ("zh_CN", "en"):
        html = render_html(statement, lang)
        assert label("title.monthly", lang) in html
        assert read_workbook(render(statement, "xlsx", lang))["tables"] == tables_of(
            statement, lang
        )
    with pytest.raises(InputError):
        monthly_statement(demo.store, demo.ids[E01], "2025")
    with pytest.raises(NotFoundError, match="2023"):
        monthly_statement(demo.store, demo.ids[E01], "2023-01")


# --- the entry point, the command line, scoping, the network --------------------------------


def test_generate(demo: Demo, doc: dict[str, Any]) -> None:
    import hashlib

    report = generate(demo.store, ReportRequest("inventory", demo.ids[E01], "2025", "json"))
    assert report.filename == "JS-SGX-E01-2025-inventory-zh_CN.json"
    assert report.media_type == "application/json"
    assert report.sha256 == hashlib.sha256(report.content).hexdigest()
    assert orjson.loads(report.content) == doc
    iso = generate(demo.store, ReportRequest("inventory_iso", demo.ids[E01], "2025", "html", "en"))
    assert iso.filename == "JS-SGX-E01-2025-inventory-iso-en.html"
    month = generate(demo.store, ReportRequest("monthly", demo.ids[E01], "2025-03", "xlsx", "en"))
    assert month.filename == "JS-SGX-E01-2025-03-monthly-en.xlsx"
    assert month.content.startswith(b"PK")
    for kind, fmt, lang in (("yearly", "pdf", "en"), ("park", "docx", "en"), ("park", "pdf", "fr")):
        with pytest.raises(InputError):
            ReportRequest(kind, 1, "2025", fmt, lang)


def test_scoped_to_the_caller(db: Database, world: World) -> None:
    with Session(db.engine) as session:
        accounts = Accounts(session)
        foreign = Store(session, accounts.principal(world.token["foreign"]))
        with pytest.raises(NotFoundError):
            inventory_report(foreign, world.org["A1"], "2025")
        with pytest.raises(NotFoundError):
            park_report(foreign, world.org["P1"], "2025")
        own = inventory_report(foreign, world.org["C1"], "2025")
        assert own["organization"]["parent"] is None  # its region is not the caller's to see
        orgadmin = Store(session, accounts.principal(world.token["orgadmin"]))
        a1 = inventory_report(orgadmin, world.org["A1"], "2025")
        assert [s["code"] for s in a1["sources"]] == ["A1-S-EL", "A1-S-GAS"]
        park = park_report(
            Store(session, accounts.principal(world.token["park"])), world.org["P1"], "2025"
        )
        assert [e["code"] for e in park["enterprises"]] == ["A1", "B1"]
        viewer = Store(session, accounts.principal(world.token["viewer"]))
        data = render(a1, "xlsx", "en")
        with pytest.raises(Exception, match="not allow"):
            reimport_activity(viewer, data)


def test_pdf_never_reaches_the_network() -> None:
    html = '<html><body><p>x</p><img src="http://198.51.100.1/logo.png"></body></html>'
    with pytest.raises(InputError, match=re.escape("disallowed protocol: http://198.51.100.1")):
        to_pdf(html)


def test_cli(demo: Demo, doc: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shuangtan.reports.commands import app

    runner = CliRunner()
    env = {"SHUANGTAN_DATABASE_URL": demo.url}
    out = tmp_path / "e01.json"
    done = runner.invoke(
        app,
        ["inventory", "--org", E01, "--period", "2025", "--format", "json", "-o", str(out)],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert orjson.loads(out.read_bytes()) == doc
    park = tmp_path / "park.xlsx"
    done = runner.invoke(
        app, ["park", "--org", PARK, "--period", "2025", "-f", "xlsx", "-o", str(park)], env=env
    )
    assert done.exit_code == 0, done.output
    assert read_workbook(park.read_bytes())["report"] == "park"
    for args, code, words in (
        (["inventory", "--org", "NOPE", "--period", "2025", "-f", "json"], 1, "'NOPE' not found"),
        (["inventory", "--org", NEWCOMER, "--period", "2025", "-f", "json"], 1, "no inventory"),
        (["inventory", "--org", E01, "--period", "2025", "-f", "docx"], 2, "--format"),
        (["monthly", "--org", E01, "--month", "2025-13", "-f", "json"], 1, "month"),
        (["reimport", str(out)], 1, "not an Excel workbook"),
    ):
        done = runner.invoke(app, args, env=env)
        assert done.exit_code == code, (args, done.output)
        assert words in done.output, (args, done.output)
        assert "Traceback" not in done.output
        assert len(done.output.strip().splitlines()) == 1, done.output  # one line
    xlsx = tmp_path / "e01.xlsx"
    xlsx.write_bytes(render(doc, "xlsx", "zh_CN"))
    done = runner.invoke(app, ["reimport", str(xlsx)], env=env)
    assert done.exit_code == 0, done.output
    assert "84 rows: 0 created, 0 updated, 84 unchanged" in done.output


def test_rollup_bucket_is_the_local_month(demo: Demo) -> None:
    # The statement reads the rollup starting at local midnight on the 1st (16:00 UTC before).
    bucket = us_to_naive(month_start_us(2025, 1))
    assert bucket.isoformat() == "2024-12-31T16:00:00"
    count = demo.session.scalar(
        select(func.count()).where(MeterRollup.resolution == "month", MeterRollup.bucket == bucket)
    )
    assert count

"""The overview and the enterprise pages: figures, charts, scoping, recalculation, live data.

The fast tests use FastAPI's TestClient on a copy of the browser tests' demo database as it
was loaded (the park with January 2025's readings; other tests write to the shared server's),
so that the demo's own figures can be checked and writes here leave the shared server alone. The
browser tests (tests/ui_fixtures.py) check that the charts are drawn, the live block updates
and the recalculation shows its diff, and write the screenshots.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.ui_fixtures import DEMO_PASSWORD, UiServer, login, screenshot

PARK_ID = 2
#: The demo park in 2025 (docs/platform/demo-park.md). [tCO2e]
PARK_2025_CO2E = 3_015_385.21


# --- pure helpers -----------------------------------------------------------------------------


def test_monthly_split_keeps_the_totals() -> None:
    from shuangtan.web.ui.overview import monthly_split

    jan = {"period_start": "2025-01-01", "period_end": "2025-02-01", "unit": "t"}
    feb = {"period_start": "2025-02-01", "period_end": "2025-03-01", "unit": "t"}
    # A quarter spread over its months by days; a datum in other units split by count.
    q2 = {"period_start": "2025-04-01", "period_end": "2025-07-01", "unit": "MWh"}
    months = monthly_split(
        [
            (30.0, 3.0, [{**jan, "amount": 1.0}, {**feb, "amount": 2.0}]),
            (91.0, None, [{**q2, "amount": 5.0}]),
            (-4.0, None, [{**jan, "amount": 0.0}, {**feb, "amount": 0.0}]),
        ]
    )
    assert list(months) == ["2025-01", "2025-02", "2025-04", "2025-05", "2025-06"]
    assert months["2025-01"] == pytest.approx((10.0 - 2.0, 1.0))
    assert months["2025-02"] == pytest.approx((20.0 - 2.0, 2.0))
    assert months["2025-04"][0] == pytest.approx(30.0)
    assert months["2025-05"][0] == pytest.approx(31.0)
    assert sum(v[0] for v in months.values()) == pytest.approx(117.0)


# --- fast tests on a copy of the demo database ----------------------------------------------


@pytest.fixture(scope="module")
def demo_app(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An app on a private copy of the browser tests' demo database, as it was loaded."""
    from shuangtan.adapters.settings import Settings
    from shuangtan.web.app import create_app

    tmp = tmp_path_factory.mktemp("overview")
    target = tmp / "demo.sqlite"
    source = sqlite3.connect(ui_server.pristine)
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    app = create_app(Settings(database_url=f"sqlite:///{target}", upload_dir=Path(tmp)))
    yield app
    app.state.shuangtan.engine.dispose()


def _client(app: Any, role: str, lang: str = "en") -> TestClient:
    client = TestClient(app)
    client.cookies.set("shuangtan_lang", lang)
    answer = client.post(
        "/login", data={"username": role, "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return client


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of a table's body cells, row by row (tags dropped)."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [
            re.sub(r"<[^>]+>|\s+", " ", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
        ]
        for r in rows
    ]


def test_park_overview_figures(demo_app: Any) -> None:
    client = _client(demo_app, "park")
    html = client.get("/").text
    assert "JS-SGX" in html and 'data-kpi="co2e"' in html
    total = re.search(r'data-kpi="co2e">.*?class="value">([\d,]+)<', html, re.S)
    assert total is not None and total.group(1) == f"{PARK_2025_CO2E:,.0f}"
    for chart in ("monthly", "scope", "category", "breakdown", "intensity"):
        assert f'id="chart-{chart}-data"' in html
    # Top emitters: ranked by emissions, ten a page; the cement plant leads in 2025.
    top = _cells(html, "top-emitters")
    assert len(top) == 10 and top[0][0] == "1" and "JS-SGX-E02" in top[0][1]
    assert "JS-SGX-E01" in top[1][1]
    second = _cells(client.get("/?sort=co2e&direction=desc&page=3").text, "top-emitters")
    assert len(second) == 5 and second[0][0] == "21"
    by_code = _cells(client.get("/?sort=code&direction=asc").text, "top-emitters")
    assert "JS-SGX-E01" in by_code[0][1] and "JS-SGX-E10" in by_code[9][1]
    # Data quality of January 2025: every enterprise, all readings in.
    quality = _cells(html, "quality")
    assert "2025-01" in html and len(quality) == 25
    assert all(row[5] == "100.0 %" for row in quality)
    # 2024 on request.
    assert "3,059,320" in client.get("/?period=2024").text


def test_live_json(demo_app: Any) -> None:
    client = _client(demo_app, "park")
    body = client.get(f"/overview/live.json?org={PARK_ID}").json()
    assert set(body) == {"readings_last_hour", "meters_last_hour", "meters", "latest", "checked"}
    assert body["meters"] == "158"
    assert body["latest"] == "2025-02-01 00:00"  # the last interval of January, Beijing time


def test_overview_in_chinese(demo_app: Any) -> None:
    html = _client(demo_app, "park", "zh_CN").get("/").text
    assert "排放总量" in html and "范围一" in html and "计量数据质量" in html
    assert "Top emitters" not in html


def test_enterprise_role_sees_its_own(demo_app: Any) -> None:
    client = _client(demo_app, "enterprise")
    html = client.get("/").text
    top = _cells(html, "top-emitters")
    assert len(top) == 1 and "JS-SGX-E01" in top[0][1]
    # Nothing of the park or of another enterprise: 404, without naming it.
    for path in (f"/?org={PARK_ID}", f"/overview/live.json?org={PARK_ID}", "/enterprises/7"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "JS-SGX-E02" not in answer.text and "苏州示范水泥" not in answer.text
    listed = client.get("/enterprises").text
    assert "JS-SGX-E01" in listed and "JS-SGX-E02" not in listed
    assert client.get("/enterprises/5").status_code == 404  # a facility is not an enterprise


def test_enterprise_list_sorts_and_searches(demo_app: Any) -> None:
    client = _client(demo_app, "regulator")
    rows = _cells(client.get("/enterprises?sort=co2e&direction=desc").text, "enterprises")
    assert len(rows) == 25 and rows[0][0] == "JS-SGX-E02" and rows[-1][0] == "JS-SGX-E13"
    found = _cells(client.get("/enterprises?q=E1").text, "enterprises")
    assert [r[0] for r in found] == [f"JS-SGX-E{n}" for n in range(10, 20)]


def test_enterprise_page_lineage(demo_app: Any) -> None:
    client = _client(demo_app, "park")
    html = client.get("/enterprises/4?period=2025").text
    # Facilities, sources, meters with their latest reading.
    assert "JS-SGX-E01-F1" in html and "JS-SGX-E01-S6" in html
    meters = _cells(html, "meters")
    assert meters and all(row[6] == "2025-02-01 00:00" for row in meters)
    # Lineage: activity and factors with the standard they come from.
    assert "cn.fuel.bituminous.ncv" in html and "gbt-32151-34-2024" in html
    assert "469,025.09" in html  # E01's 2025 total
    assert 'id="recompute"' in html  # the park's org admin may recompute


def test_recalculation_shows_the_diff(demo_app: Any) -> None:
    client = _client(demo_app, "enterprise")
    page = client.get("/enterprises/4?period=2025").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    # Without the token: refused.
    refused = client.post("/enterprises/4/recompute", data={"period": "2025"})
    assert refused.status_code == 403
    # Change a datum through the API (the platform recomputes), then compare with version 1.
    items = client.get(
        "/api/v1/activity", params={"source_id": 1, "start": "2025-01-01", "end": "2025-02-01"}
    ).json()["items"]
    (datum,) = items
    changed = client.patch(f"/api/v1/activity/{datum['id']}", json={"amount": 50_000.0})
    assert changed.status_code == 200, changed.text
    diff = client.get("/enterprises/4?period=2025&compare=1").text
    assert 'id="diff"' in diff
    sources = _cells(diff, "diff-sources")
    assert [r[0] for r in sources] == ["JS-SGX-E01-S1"]
    assert "45,515.800 t → 50,000.000 t" in sources[0][4]
    # Recalculating again by the form: a new version, nothing changed since the last.
    answer = client.post(
        "/enterprises/4/recompute",
        data={"csrf": csrf.group(1), "period": "2025", "reason": "check"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert target.startswith("/enterprises/4?period=2025&compare=")
    shown = client.get(target).text
    assert 'id="diff"' in shown and "No source changed" in shown
    versions = _cells(shown, "version-list")
    assert versions[0][0] == "3" and versions[0][5] == "check"


def test_pages_answer_for_the_whole_region(demo_app: Any) -> None:
    """Each page answers for the regulator (the whole region); times: `make bench`."""
    client = _client(demo_app, "regulator")
    for path in ("/", "/enterprises", "/enterprises/4", "/overview/live.json?org=1"):
        assert client.get(path).status_code == 200, path


# --- in the browser ---------------------------------------------------------------------------


def _charts_drawn(page: Any) -> int:
    page.wait_for_function(
        "document.querySelectorAll('[data-chart]').length > 0 && "
        "[...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn === '1')"
    )
    count: int = page.locator("[data-chart][data-drawn='1']").count()
    return count


@pytest.mark.parametrize(("role", "lang"), [("park", "zh_CN"), ("enterprise", "en")])
def test_pages_render_with_charts(ui_page: Any, ui_server: UiServer, role: str, lang: str) -> None:
    login(ui_page, ui_server, role, lang)
    assert _charts_drawn(ui_page) >= 4
    heading = "企业排放量排名" if lang == "zh_CN" else "Top emitters"
    assert heading in ui_page.locator("#top-title").inner_text()
    screenshot(ui_page, f"overview-{lang}")
    ui_page.goto(f"{ui_server.url}/enterprises/4?period=2025")
    assert _charts_drawn(ui_page) >= 3
    ui_page.locator("details[data-source='JS-SGX-E01-S1'] summary").click()
    assert (
        "gbt-32151-34-2024" in ui_page.locator("details[data-source='JS-SGX-E01-S1']").inner_text()
    )
    screenshot(ui_page, f"enterprise-{lang}")
    if role == "enterprise":
        answer = ui_page.goto(f"{ui_server.url}/enterprises/7")
        assert answer is not None and answer.status == 404


def test_recalculate_in_the_browser(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "enterprise", "en")
    # 2024, so that the 2025 figures other tests read stay version 1.
    ui_page.goto(f"{ui_server.url}/enterprises/4?period=2024")
    ui_page.fill("#reason", "browser test")
    ui_page.click("#recompute button[type=submit]")
    ui_page.wait_for_url(re.compile(r".*compare=\d+"))
    assert ui_page.locator("#diff").is_visible()
    assert "No source changed" in ui_page.locator("#diff").inner_text()


def test_live_block_updates(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "park", "en")
    ui_page.goto(f"{ui_server.url}/?every=5")
    assert ui_page.locator("#live").get_attribute("data-every") == "5"
    ui_page.wait_for_selector("#live[data-updated]", timeout=15_000)
    latest = ui_page.locator("#live [data-key='latest']").inner_text()
    # Other tests add readings to the shared server: at least the demo's last interval.
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", latest), latest
    assert latest >= "2025-02-01 00:00"
    checked = ui_page.locator("#live [data-key='checked']").inner_text()
    assert dt.datetime.strptime(checked, "%Y-%m-%d %H:%M")

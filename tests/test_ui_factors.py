"""The factor library pages: search, filters, sorting, paging, detail; and in a browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuangtan.web.deps import SESSION_COOKIE
from tests.ui_fixtures import UiServer, login, screenshot
from tests.world import World


def _rows(html: str) -> list[str]:
    """The factor keys of the list's rows, in order."""
    return re.findall(r'<td><a href="/factors/[^"]+"><code>([^<]+)</code>', html)


def _total(html: str) -> int:
    found = re.search(r'id="factor-count"[^>]*>\D*([\d,]+)', html)
    assert found, html[:2000]
    return int(found.group(1).replace(",", ""))


@pytest.fixture
def signed_in(client: TestClient, world: World) -> TestClient:
    client.cookies.set(SESSION_COOKIE, world.token["viewer"])
    client.cookies.set("shuangtan_lang", "en")
    return client


def test_factors_need_a_session(client: TestClient) -> None:
    answer = client.get("/factors", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/factors")


def test_search_narrows_and_filters(signed_in: TestClient, library: Any) -> None:
    everything = signed_in.get("/factors")
    assert everything.status_code == 200
    assert _total(everything.text) == len(library)
    assert len(_rows(everything.text)) == 25  # one page
    # By Chinese name, as the API's search does.
    diesel = signed_in.get("/factors", params={"q": "柴油"})
    keys = _rows(diesel.text)
    assert keys and all("diesel" in k for k in keys)
    assert _total(diesel.text) < _total(everything.text)
    # Category, region, gas and status narrow further.
    grid = signed_in.get(
        "/factors", params={"category": "cn.electricity", "region": "CN-JS", "gas": "CO2"}
    )
    keys = _rows(grid.text)
    assert keys and all(k.startswith("cn.electricity.") for k in keys)
    assert "CN-JS" in grid.text
    confirmed = signed_in.get("/factors", params={"status": "confirmed"})
    assert _total(confirmed.text) == sum(f.status.value == "confirmed" for f in library)
    # A bad year is said beside its field, not a crash.
    bad = signed_in.get("/factors", params={"year": "20x5"})
    assert bad.status_code == 200
    assert 'id="year-error"' in bad.text
    nothing = signed_in.get("/factors", params={"q": "no-such-factor-anywhere"})
    assert _total(nothing.text) == 0 and "No factor matches this search." in nothing.text


def test_sorting_and_paging(signed_in: TestClient, library: Any) -> None:
    values = sorted(f.value for f in library)
    top = signed_in.get("/factors", params={"sort": "value", "direction": "desc"})
    assert 'aria-sort="descending"' in top.text
    first_key = _rows(top.text)[0]
    assert any(f.key == first_key and f.value == values[-1] for f in library)
    second = signed_in.get("/factors", params={"sort": "key", "page": "2"})
    keys = sorted(f.key for f in library)
    assert _rows(second.text)[0] == keys[25]
    assert 'rel="prev"' in second.text and 'rel="next"' in second.text


def test_detail_lists_vintages_and_sources(signed_in: TestClient, library: Any) -> None:
    key = "cn.electricity.grid_average"
    answer = signed_in.get(f"/factors/{key}")
    assert answer.status_code == 200
    vintages = [f for f in library if f.key == key]
    for f in vintages:
        assert f.source_id in answer.text
    doc = library.sources[vintages[0].source_id]
    assert doc.document_number in answer.text or doc.title in answer.text
    assert signed_in.get("/factors/no.such.key").status_code == 404


def test_chinese_is_the_default(client: TestClient, world: World) -> None:
    client.cookies.set(SESSION_COOKIE, world.token["regulator"])
    text = client.get("/factors").text
    assert "排放因子" in text and "确认状态" in text and "来源" in text


# --- in a browser ----------------------------------------------------------------------------


def test_factor_search_in_browser(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "enterprise", "zh_CN")
    ui_page.click("nav a[href='/factors']")
    ui_page.wait_for_url(f"{ui_server.url}/factors")
    before = len(ui_page.locator("table.factors tbody tr").all())
    total_before = ui_page.locator("#factor-count").inner_text()
    ui_page.fill("#q", "柴油")
    ui_page.click("form[role=search] button[type=submit]")
    ui_page.wait_for_url("**/factors?q=*")
    rows = ui_page.locator("table.factors tbody tr")
    assert 0 < rows.count() <= before
    assert ui_page.locator("#factor-count").inner_text() != total_before
    for key in rows.locator("td:first-child code").all_inner_texts():
        assert "diesel" in key
    screenshot(ui_page, "factors-zh_CN")
    rows.first.locator("a").click()
    ui_page.wait_for_url("**/factors/cn.*")
    assert ui_page.locator("h2", has_text="版本与有效期").count() == 1


def test_factor_list_in_english(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "park", "en")
    ui_page.goto(f"{ui_server.url}/factors?category=cn.electricity&sort=valid_from&direction=desc")
    assert ui_page.locator("h1").inner_text() == "Factor library"
    assert ui_page.locator("th[aria-sort=descending]").inner_text().startswith("Valid from")
    screenshot(ui_page, "factors-en")

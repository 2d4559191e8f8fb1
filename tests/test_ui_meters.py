"""The meter pages in a browser: list, chart and resolution switch, scoping, quarantine fixes."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.ui_fixtures import DEMO_PASSWORD, UiServer, login, screenshot

#: An interval meter of JS-SGX-E01 (the ``enterprise`` account's enterprise): 1#皮带秤, t.
E01_METER = 1
#: A meter of another enterprise (JS-SGX-E02): outside ``enterprise``'s subtree.
E02_METER_CODE = "JS-SGX-E02-M1"


def _token(server: UiServer, role: str) -> str:
    body = urllib.parse.urlencode({"username": role, "password": DEMO_PASSWORD}).encode()
    with urllib.request.urlopen(f"{server.url}/api/v1/auth/token", body, timeout=30) as r:
        return str(json.load(r)["access_token"])


def _api(server: UiServer, token: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_meter_page_chart_and_resolution(ui_page: Any, ui_server: UiServer, lang: str) -> None:
    page = ui_page
    login(page, ui_server, "park", lang)
    page.goto(f"{ui_server.url}/meters?sort=latest&direction=desc")
    rows = page.locator("#meter-table tbody tr")
    assert rows.count() == 25
    assert page.locator("th[aria-sort='descending']").count() == 1
    page.select_option("#f-carrier", "electricity")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**carrier=electricity**")
    assert rows.count() > 0

    page.goto(f"{ui_server.url}/meters/{E01_METER}")
    page.wait_for_selector(
        "[data-meter-chart][data-resolution='hour'] [data-chart][data-drawn='1']"
    )
    assert page.locator(".js-plotly-plot .rangeslider-container").count() == 1
    page.click("a[data-resolution='15min']")
    page.wait_for_selector(
        "[data-meter-chart][data-resolution='15min'] [data-chart][data-drawn='1']"
    )
    assert page.locator("a[data-resolution='15min'][aria-current]").count() == 1
    assert "resolution=15min" in page.url
    page.click("a[data-resolution='day']")
    page.wait_for_selector("[data-meter-chart][data-resolution='day'] [data-chart][data-drawn='1']")
    if lang == "en":
        assert page.locator("h2#series-h").inner_text() == "Consumption"
    else:
        assert page.locator("h2#series-h").inner_text() == "消耗量"
    screenshot(page, f"meter-{lang}")

    for url in (
        "/meters",
        "/meters?sort=latest&direction=desc",
        f"/meters/{E01_METER}",
        f"/meters/{E01_METER}?resolution=15min",
        f"/meters/{E01_METER}?resolution=month",
    ):
        # Server times are measured by `make bench` (bench/pages.py), never asserted here.
        assert page.request.get(ui_server.url + url).status == 200, url


def test_meter_outside_subtree_is_not_found(ui_page: Any, ui_server: UiServer) -> None:
    token = _token(ui_server, "park")
    other = _api(ui_server, token, "/api/v1/meters?limit=1000")["items"]
    foreign = next(m["id"] for m in other if m["code"] == E02_METER_CODE)
    page = ui_page
    login(page, ui_server, "enterprise", "en")
    answer = page.goto(f"{ui_server.url}/meters/{foreign}")
    assert answer is not None and answer.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    answer = page.goto(f"{ui_server.url}/meters/{E01_METER}")
    assert answer is not None and answer.status == 200
    page.goto(f"{ui_server.url}/meters")
    codes = page.locator("#meter-table tbody td:first-child code").all_inner_texts()
    assert codes and all(c.startswith("JS-SGX-E01-") for c in codes)


def test_quarantine_correction(ui_page: Any, ui_server: UiServer) -> None:
    token = _token(ui_server, "enterprise")
    code = _api(ui_server, token, f"/api/v1/meters/{E01_METER}")["code"]
    ts = "2025-02-03T10:15:00+08:00"
    sent = _api(
        ui_server,
        token,
        "/api/v1/readings",
        {"readings": [{"meter": code, "ts": ts, "value": "-4.5"}]},
    )
    assert sent["quarantined"] == 1
    qid = sent["quarantine"][0]["id"]

    page = ui_page
    login(page, ui_server, "enterprise", "en")
    page.goto(f"{ui_server.url}/meters/{E01_METER}#quarantine")
    row = page.locator(f"#q-{qid}")
    assert "Negative value" in row.inner_text()
    # A value that is not a number: the message beside the field, the value kept.
    row.locator("input[name=value]").fill("4,5x")
    row.locator("button[value=correct]").click()
    page.wait_for_selector(f"#q-{qid}-value[aria-invalid='true']")
    assert page.locator(f"#q-{qid}-value").input_value() == "4,5x"
    assert page.locator(f"#q-{qid}-value-error").inner_text() == "Enter a number."
    assert page.locator(f"#q-{qid}-value").get_attribute("aria-describedby") == (
        f"q-{qid}-value-error"
    )
    page.locator(f"#q-{qid}-value").fill("4.5")
    page.locator(f"#q-{qid} button[value=correct]").click()
    page.wait_for_selector(f"#resolved-table #q-{qid}[data-status='reprocessed']")
    assert "stored" in page.locator(f"#q-{qid}-outcome").inner_text()
    series = _api(
        ui_server,
        token,
        f"/api/v1/meters/{E01_METER}/series?resolution=15min&start=2025-02-03&end=2025-02-04",
    )
    assert [p["value"] for p in series["points"] if p["ts"] == ts] == [4.5]

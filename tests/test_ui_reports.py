"""The reports page in the browser: a report job runs to its download; many inventories recompute.

The page starts jobs through ``POST /api/v1/reports`` and ``POST /api/v1/inventories/recompute``
and follows them at ``GET /api/v1/jobs/{id}`` with a progress bar (static/jobs.js). The
recalculation works on 2024, so that the 2025 figures other tests read stay as loaded.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.test_ui_verification import chinese_only
from tests.ui_fixtures import DEMO_PASSWORD, UiServer, login, screenshot


def _needs(server: UiServer, path: str) -> None:
    """Skip, naming the endpoint, when the server does not offer ``POST path`` yet."""
    answer = httpx.post(server.url + path, json={}, timeout=30)
    if answer.status_code in (404, 405):
        pytest.skip(f"POST {path} is not there yet (answered {answer.status_code})")


def _org_ids(server: UiServer) -> dict[str, int]:
    token = httpx.post(
        server.url + "/api/v1/auth/token",
        data={"username": "admin", "password": DEMO_PASSWORD},
        timeout=30,
    ).json()["access_token"]
    items = httpx.get(
        server.url + "/api/v1/organizations?limit=1000",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["items"]
    return {o["code"]: o["id"] for o in items}


@pytest.mark.parametrize(("lang", "fmt"), [("zh_CN", "html"), ("en", "xlsx")])
def test_a_report_job_runs_to_the_download(
    ui_page: Any, ui_server: UiServer, lang: str, fmt: str
) -> None:
    _needs(ui_server, "/api/v1/reports")
    page = ui_page
    e01 = _org_ids(ui_server)["JS-SGX-E01"]
    login(page, ui_server, "enterprise", lang)
    page.goto(f"{ui_server.url}/enterprises/{e01}")
    page.click(f"#enterprise-links a[href='/reports?org={e01}']")
    page.wait_for_url(re.compile(rf".*/reports\?org={e01}$"))
    assert page.locator("#report-org").input_value() == str(e01)
    before = page.locator("#reports tr[data-report]").count()
    page.select_option("#report-kind", "inventory")
    page.fill("#report-period", "2025")
    page.select_option("#report-fmt", fmt)
    page.select_option("#report-lang", lang)
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#report-status[data-state='done']", timeout=120_000)
    link = page.locator("#report-download")
    href = link.get_attribute("href") or ""
    assert re.fullmatch(r"/api/v1/reports/\d+", href)
    assert page.locator("#report-progress").get_attribute("value") == page.locator(
        "#report-progress"
    ).get_attribute("max")
    # The list was refreshed from the server: the new report is in it, first.
    page.wait_for_selector(f"#reports tr[data-report='{link.get_attribute('data-report')}']")
    assert page.locator("#reports tr[data-report]").count() == min(before + 1, 20)
    row = page.locator("#reports tr[data-report]").first
    assert "JS-SGX-E01" in row.inner_text() and "2025" in row.inner_text()
    if lang == "zh_CN":
        chinese_only(page)
    screenshot(page, f"reports-{lang}")
    got = page.request.get(ui_server.url + href)
    assert got.status == 200
    if fmt == "html":
        assert "text/html" in got.headers["content-type"]
        assert "JS-SGX-E01" in got.text() or "示范热电" in got.text()
    else:
        assert got.body()[:2] == b"PK"  # an xlsx is a zip
    # The download link in the list is the same file.
    listed = row.locator("a[download]").get_attribute("href")
    assert listed == href


def test_recalculate_every_inventory_of_the_park(ui_page: Any, ui_server: UiServer) -> None:
    _needs(ui_server, "/api/v1/inventories/recompute")
    page = ui_page
    park = _org_ids(ui_server)["JS-SGX"]
    login(page, ui_server, "park", "zh_CN")
    page.goto(f"{ui_server.url}/reports")
    page.select_option("#recompute-org", str(park))
    page.select_option("#recompute-period", "2024")
    page.fill("#recompute-reason", "浏览器测试：批量重新计算")
    page.click("#recompute-form button[type=submit]")
    page.wait_for_selector("#recompute-status[data-state='done']", timeout=120_000)
    message = page.locator("#recompute-status [data-job-message]").inner_text()
    assert re.search(r"重新计算了 \d+ 份清单", message), message
    done = int(re.search(r"(\d+) 份", message).group(1))  # type: ignore[union-attr]
    assert done > 10  # the park, its enterprises
    chinese_only(page)
    screenshot(page, "reports-recompute-zh_CN")
    # The enterprise's user has nothing to recompute many of: no such form.
    login(page, ui_server, "enterprise", "en")
    page.goto(f"{ui_server.url}/reports")
    assert page.locator("#recompute-form").count() == 0

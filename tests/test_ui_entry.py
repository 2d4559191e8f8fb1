"""The data-entry page in a browser: an activity datum (refused, then saved), a file upload."""

from __future__ import annotations

from typing import Any

from tests.ui_fixtures import UiServer, login, screenshot


def _readings_csv(rows: int, bad: int) -> bytes:
    """A CSV with Chinese headers: ``rows`` 15-minute readings of JS-SGX-E01-M1, ``bad`` < 0."""
    lines = ["表计编号,采集时间,读数"]
    for i in range(rows):
        minutes = 15 * (i + 1)
        day, rest = divmod(minutes, 24 * 60)
        ts = f"2025-02-{10 + day:02d} {rest // 60:02d}:{rest % 60:02d}:00"
        value = -1.0 if i < bad else 8.0 + (i % 7) * 0.25
        lines.append(f"JS-SGX-E01-M1,{ts},{value}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_activity_entry_refused_then_saved(ui_page: Any, ui_server: UiServer) -> None:
    page = ui_page
    login(page, ui_server, "enterprise", "zh_CN")
    answer = page.goto(f"{ui_server.url}/entry")
    assert answer is not None and answer.status == 200
    assert page.locator("nav a[href='/entry'][aria-current=page]").count() == 1
    source = page.locator("#source_id option[data-unit]").first.get_attribute("value")
    assert source
    page.select_option("#source_id", source)
    page.fill("#month", "2026-02")
    page.fill("#amount", "一千")
    page.fill("#note", "月度台账")
    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("#amount[aria-invalid='true']")
    assert page.locator("#amount").get_attribute("aria-describedby") == "amount-error"
    assert page.locator("#amount-error").inner_text() == "请输入大于或等于零的数字。"
    assert page.locator("#entry-alert").is_visible()
    # The values are kept.
    assert page.locator("#source_id").input_value() == source
    assert page.locator("#month").input_value() == "2026-02"
    assert page.locator("#amount").input_value() == "一千"
    assert page.locator("#note").input_value() == "月度台账"

    page.fill("#amount", "1234.5")
    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("#entry-notice")
    new = page.locator("#recent-table tr.new")
    assert new.count() == 1
    assert "2026-02" in new.inner_text()
    assert "1,234.500" in new.inner_text()
    assert page.locator("[aria-invalid='true']").count() == 0
    screenshot(page, "entry-zh_CN")

    # The same month again: refused beside the month.
    page.select_option("#source_id", source)
    page.fill("#month", "2026-02")
    page.fill("#amount", "1")
    page.click("#activity-form button[type=submit]")
    page.wait_for_selector("#month[aria-invalid='true']")
    assert "已有活动数据" in page.locator("#month-error").inner_text()

    # Server times are measured by `make bench` (bench/pages.py), never asserted here.
    assert page.request.get(f"{ui_server.url}/entry").status == 200


def test_upload_with_progress(ui_page: Any, ui_server: UiServer) -> None:
    page = ui_page
    login(page, ui_server, "enterprise", "en")
    page.goto(f"{ui_server.url}/entry")
    # Without a file: the message beside the field, nothing sent.
    page.click("#upload-button")
    assert page.locator("#file-error").inner_text() == "Choose a CSV or Excel file."
    assert page.locator("#upload-file").get_attribute("aria-invalid") == "true"

    page.set_input_files(
        "#upload-file",
        files=[{"name": "readings.csv", "mimeType": "text/csv", "buffer": _readings_csv(300, 2)}],
    )
    assert page.locator("#upload-org option").first.inner_text().startswith("JS-SGX-E01 ")
    page.select_option("#upload-encoding", "utf-8")
    page.fill("#map-meter", "表计编号")
    page.fill("#map-ts", "采集时间")
    page.fill("#map-value", "读数")
    page.click("#upload-button")
    page.wait_for_selector("#upload-status[data-state='done']", timeout=60_000)
    for bar in ("#upload-progress", "#job-progress"):
        value, top = page.eval_on_selector(bar, "p => [p.value, p.max]")
        assert value == top > 0, bar
    assert page.locator("#job-progress").evaluate("p => p.max") == 300
    assert page.locator("#upload-message").inner_text() == "Import finished."
    counts = {
        key: page.locator(f"#upload-result dd[data-key={key}]").inner_text()
        for key in ("received", "stored", "quarantined")
    }
    assert counts == {"received": "300", "stored": "298", "quarantined": "2"}
    table = page.locator("#upload-result table").inner_text()
    assert "Negative value" in table and "Line 2" in table
    assert page.locator("#file-error").is_hidden()
    screenshot(page, "entry-en")


def test_entry_needs_the_right_to_enter_data(ui_page: Any, ui_server: UiServer) -> None:
    page = ui_page
    login(page, ui_server, "regulator", "en")
    assert page.locator("nav a[href='/entry']").count() == 0
    answer = page.goto(f"{ui_server.url}/entry")
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "Not allowed"

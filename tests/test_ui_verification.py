"""Verification in the browser: the queue, the whole workflow, a conflicted signer, evidence.

The demo park (tests/ui_fixtures.py) has three 2025 cases with the verifier body VB-01: E02's
published and signed, E03's in verification with an open finding, E01's submitted and not
assigned. The demo ``verifier`` is a member of VB-01 and reads E02 and E03. The workflow test
takes E01's 2024 inventory through every step with the demo accounts, so that the 2025 figures
other tests read stay as loaded; the steps a test only needs as a setting are taken through the
API.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.ui_fixtures import DEMO_PASSWORD, UiServer, login, screenshot

#: A member of VB-01 who also enters E01's data (made by the workflow test).
CONFLICTED = "conflicted.verifier"
PDF = b"%PDF-1.4\n% invoice 2025-01 electricity 1234.5 MWh\n%%EOF\n"


# --- helpers ---------------------------------------------------------------------------------


def api(server: UiServer, username: str, password: str = DEMO_PASSWORD) -> httpx.Client:
    """An API client signed in as ``username`` (a bearer token)."""
    answer = httpx.post(
        server.url + "/api/v1/auth/token",
        data={"username": username, "password": password},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def admin(ui_server: UiServer) -> Iterator[httpx.Client]:
    """The platform admin's API client."""
    with api(ui_server, "admin") as client:
        yield client


@pytest.fixture(scope="module")
def orgs(admin: httpx.Client) -> dict[str, int]:
    """Organisation code → id."""
    items = admin.get("/organizations", params={"limit": 1000}).json()["items"]
    return {o["code"]: o["id"] for o in items}


@pytest.fixture(scope="module")
def foreign_case(ui_server: UiServer, orgs: dict[str, int]) -> dict[str, Any]:
    """E04's 2025 inventory submitted by the park and not assigned: no verifier sees it."""
    with api(ui_server, "park") as park:
        answer = park.post("/verifications", json={"org_id": orgs["JS-SGX-E04"], "period": "2025"})
        assert answer.status_code == 201, answer.text
        case: dict[str, Any] = answer.json()
    return case


def cases_of(client: httpx.Client, org_id: int, period: str) -> list[dict[str, Any]]:
    """The cases of an organisation and period the client can see."""
    answer = client.get("/verifications", params={"org_id": org_id, "period": period})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def state_of(page: Any) -> str:
    """The state of the case page shown (``data-state`` of the header badge)."""
    return str(page.locator("h1 [data-state]").get_attribute("data-state"))


def chinese_only(page: Any) -> None:
    """No message of the catalogs shows in English on the (Chinese) page."""
    from tools.ui_messages import extract, sources

    english = [
        m
        for m in extract(sources())
        if "%(" not in m and len(m.split()) >= 2 and re.search("[A-Za-z]{3}", m)
    ]
    text = page.locator("body").inner_text()
    shown = [m for m in english if m in text]
    assert not shown, shown


# --- the queue and scoping -------------------------------------------------------------------


def test_the_verifier_queue_shows_the_assigned_cases_and_no_foreign_one(
    ui_page: Any,
    ui_server: UiServer,
    admin: httpx.Client,
    orgs: dict[str, int],
    foreign_case: dict[str, Any],
) -> None:
    page = ui_page
    e01, e02, e03 = (orgs[f"JS-SGX-E0{n}"] for n in (1, 2, 3))
    published = cases_of(admin, e02, "2025")[0]
    in_verification = cases_of(admin, e03, "2025")[0]
    unassigned = cases_of(admin, e01, "2025")[0]
    assert (published["state"], in_verification["state"], unassigned["state"]) == (
        "published",
        "in_verification",
        "submitted",
    )

    login(page, ui_server, "verifier", "zh_CN")
    page.click("nav a[href='/verifications']")
    page.click("#my-queue")
    page.wait_for_url(re.compile(r".*queue=1"))
    shown = {
        int(c)
        for c in page.locator("#cases tr[data-case]").evaluate_all(
            "rows => rows.map(r => r.dataset.case)"
        )
    }
    assert {published["id"], in_verification["id"]} <= shown
    assert unassigned["id"] not in shown and foreign_case["id"] not in shown
    assert page.locator("#cases tr[data-case]:not([data-mine])").count() == 0
    assert int(page.locator("[data-kpi='awaiting'] .value").inner_text()) >= 1
    row = page.locator(f"#cases tr[data-case='{in_verification['id']}']")
    assert "核查中" in row.inner_text()
    assert "JS-SGX-E03" in row.inner_text()
    # The state filter keeps the cases in verification.
    page.click("#state-tabs a[data-state='in_verification']")
    states = page.locator("#cases tr[data-case] [data-state]").evaluate_all(
        "badges => badges.map(b => b.dataset.state)"
    )
    assert states and set(states) == {"in_verification"}
    chinese_only(page)
    screenshot(page, "verification-queue-zh_CN")

    # A case not assigned to the verifier's body, of an organisation it cannot read: not in
    # any list, 404 on its page, and the page does not name it.
    page.goto(f"{ui_server.url}/verifications")
    assert page.locator(f"#cases tr[data-case='{foreign_case['id']}']").count() == 0
    answer = page.goto(f"{ui_server.url}/verifications/{foreign_case['id']}")
    assert answer is not None and answer.status == 404
    body = page.locator("body").inner_text()
    assert "JS-SGX-E04" not in body
    assert foreign_case["org_name_zh"] not in body

    # The enterprise sees its own case, not the others'.
    login(page, ui_server, "enterprise", "en")
    page.goto(f"{ui_server.url}/verifications")
    shown = {
        int(c)
        for c in page.locator("#cases tr[data-case]").evaluate_all(
            "rows => rows.map(r => r.dataset.case)"
        )
    }
    assert unassigned["id"] in shown
    assert published["id"] not in shown and in_verification["id"] not in shown
    assert page.locator("#my-queue").count() == 0  # not a member of a verifier body
    screenshot(page, "verification-queue-en")
    answer = page.goto(f"{ui_server.url}/verifications/{in_verification['id']}")
    assert answer is not None and answer.status == 404
    assert "JS-SGX-E03" not in page.locator("body").inner_text()


def test_a_verified_version_is_frozen_on_the_enterprise_page(
    ui_page: Any, ui_server: UiServer, orgs: dict[str, int]
) -> None:
    page = ui_page
    login(page, ui_server, "park", "zh_CN")
    page.goto(f"{ui_server.url}/enterprises/{orgs['JS-SGX-E02']}?period=2025")
    assert page.locator("#frozen-badge [data-state='published']").inner_text() == "已发布"
    assert "冻结" in page.locator("#frozen-note").inner_text()
    assert page.locator("#submit-form").count() == 0
    # The recalculation explains that it adds a version beside the verified one.
    assert "不会修改" in page.locator("#recompute-frozen").inner_text()
    assert page.locator("#version-list [data-state='published']").count() == 1
    # Nothing on the page edits an inventory version: its forms recompute, submit or attach.
    actions = page.locator("main form[method='post']").evaluate_all(
        "forms => forms.map(f => f.getAttribute('action'))"
    )
    assert all(a.endswith("/recompute") or a == "/evidence" for a in actions), actions
    # A year without a case: the org admin above may submit it.
    page.goto(f"{ui_server.url}/enterprises/{orgs['JS-SGX-E06']}?period=2025")
    assert page.locator("#submit-form button").is_visible()


# --- the whole workflow ----------------------------------------------------------------------


def test_the_whole_workflow_in_the_browser(
    ui_page: Any, ui_server: UiServer, admin: httpx.Client, orgs: dict[str, int]
) -> None:
    page = ui_page
    e01, body = orgs["JS-SGX-E01"], orgs["VB-01"]
    made = admin.post(
        "/users",
        json={
            "username": CONFLICTED,
            "password": DEMO_PASSWORD,
            "grants": [
                {"role": "verifier", "org_id": body},
                {"role": "data_entry", "org_id": e01},
            ],
        },
    )
    assert made.status_code == 201, made.text

    # The enterprise submits its 2024 inventory from its page.
    login(page, ui_server, "enterprise", "zh_CN")
    page.goto(f"{ui_server.url}/enterprises/{e01}?period=2024")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/verifications/\d+\?done=submitted"))
    case_id = int(re.search(r"/verifications/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    case_url = f"{ui_server.url}/verifications/{case_id}"
    assert state_of(page) == "submitted"
    assert page.locator("#done").inner_text() == "清单已提交核查。"

    # The regulator assigns VB-01 (the only verifier organisation, independent of E01).
    login(page, ui_server, "regulator", "zh_CN")
    page.goto(case_url)
    options = page.locator("#verifier_org_id option[value]:not([value=''])")
    assert options.count() == 1 and options.first.inner_text().startswith("VB-01")
    page.click("#assign-form button[type=submit]")  # nothing chosen: refused beside the field
    page.wait_for_selector("#assign-error")
    assert page.locator("#assign-error").inner_text() == "请选择核查机构。"
    page.select_option("#verifier_org_id", str(body))
    page.click("#assign-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=assigned"))
    assert state_of(page) == "in_verification"
    assert "VB-01" in page.locator("#verifier-body").inner_text()

    # The verifier reads the lineage, raises a finding and returns the case.
    login(page, ui_server, "verifier", "zh_CN")
    page.goto(case_url)
    first = page.locator("#lineage-table details").first
    first.locator("summary").click()
    assert first.locator("table.activity tbody tr").count() >= 1
    assert first.locator("table.factors tbody tr").count() >= 1
    meters = first.locator("ul.meters a")
    if meters.count():
        assert re.fullmatch(r"/meters/\d+", meters.first.get_attribute("href") or "")
    source = first.get_attribute("data-source")
    page.select_option("#severity", "major")
    page.select_option("#subject", source)
    page.fill("#finding-title", "三月电量与发票不符")
    page.fill("#finding-body", "请提供三月份供电公司结算单。")
    page.click("#finding-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=finding"))
    finding = page.locator("article.finding").first
    assert "三月电量与发票不符" in finding.inner_text()
    assert finding.locator("[data-status]").inner_text() == "未关闭"
    # Verifying with a finding open is refused, the opinion kept.
    page.fill("#opinion", "草拟意见")
    page.click("#verify-form button[type=submit]")
    page.wait_for_selector("#verify-error")
    assert "尚未关闭：1" in page.locator("#verify-error").inner_text()
    assert page.locator("#opinion").input_value() == "草拟意见"
    page.fill("#return-note", "请更正三月电量")
    page.click("#return-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=returned"))
    assert state_of(page) == "returned"
    screenshot(page, "verification-returned-zh_CN")

    # The enterprise answers the finding and resubmits.
    login(page, ui_server, "enterprise", "zh_CN")
    page.goto(case_url)
    page.locator("article.finding textarea").first.fill("已按结算单更正，见证据文件。")
    page.locator("article.finding .comment-form button").first.click()
    page.wait_for_url(re.compile(r".*done=comment"))
    answered = page.locator("article.finding").first
    assert answered.locator("li.comment[data-side='organization']").count() == 1
    assert answered.locator("[data-status]").inner_text() == "已答复"
    page.click("#resubmit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=resubmitted"))
    assert state_of(page) == "in_verification"

    # A member of VB-01 who also enters E01's data is refused, with the reason on the page.
    login(page, ui_server, CONFLICTED, "zh_CN")
    page.goto(case_url)
    page.fill("#opinion", "排放报告真实、准确、完整")
    with page.expect_response(re.compile(r".*/verify$")) as refused:
        page.click("#verify-form button[type=submit]")
    assert refused.value.status == 403
    reason = page.locator("#verify-error").inner_text()
    assert "数据填报" in reason and "JS-SGX-E01" in reason and "独立" in reason
    assert page.locator("#opinion").input_value() == "排放报告真实、准确、完整"
    assert state_of(page) == "in_verification"
    chinese_only(page)
    screenshot(page, "verification-conflicted-zh_CN")

    # The verifier replies, closes the finding and signs.
    login(page, ui_server, "verifier", "en")
    page.goto(case_url)
    page.locator("article.finding textarea").first.fill("Checked against the bill.")
    page.locator("article.finding .comment-form button").first.click()
    page.wait_for_url(re.compile(r".*done=comment"))
    page.locator("article.finding .close-form button").first.click()
    page.wait_for_url(re.compile(r".*done=closed"))
    assert page.locator("article.finding [data-status]").first.inner_text() == "closed"
    sides = page.locator("article.finding li.comment").evaluate_all(
        "items => items.map(i => i.dataset.side)"
    )
    assert sides == ["organization", "verifier"]
    page.fill("#opinion", "The emission report is true, accurate and complete.")
    page.click("#verify-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=verified"))
    assert state_of(page) == "verified"
    statement = page.locator("#statement")
    assert statement.locator("#signature-ok").is_visible()
    assert statement.locator("#content-unchanged").is_visible()
    assert "true, accurate and complete" in statement.locator("#opinion-text").inner_text()
    assert "verifier" in statement.locator("#signer").inner_text()
    screenshot(page, "verification-case-en")
    # The statement downloads and checks with its public key.
    href = page.locator("#statement-download").get_attribute("href")
    signed = orjson.loads(page.request.get(ui_server.url + (href or "")).body())
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signed["public_key"]))
    public.verify(base64.b64decode(signed["signature"]), signed["statement"].encode())
    assert orjson.loads(signed["statement"])["organization"]["code"] == "JS-SGX-E01"

    # The enterprise publishes; the version is frozen, a recalculation goes beside it.
    login(page, ui_server, "enterprise", "zh_CN")
    page.goto(case_url)
    assert page.locator("#verify-form").count() == 0
    page.click("#publish-form button[type=submit]")
    page.wait_for_url(re.compile(r".*done=published"))
    assert state_of(page) == "published"
    screenshot(page, "verification-case-zh_CN")
    page.goto(f"{ui_server.url}/enterprises/{e01}?period=2024")
    assert page.locator("#frozen-badge").inner_text() == "已发布"
    assert page.locator("#submit-form").count() == 0
    page.fill("#reason", "核查后重新计算")
    page.click("#recompute button[type=submit]")
    page.wait_for_url(re.compile(r".*compare=\d+"))
    assert page.locator("#frozen-badge").count() == 0  # the new version is not verified
    assert page.locator("#version-list [data-state='published']").count() == 1
    assert page.locator("#submit-form").is_visible()  # the new version can go through again
    page.goto(case_url)
    assert page.locator("#content-unchanged").is_visible()  # the signed version is untouched
    assert page.locator("#newer-version").is_visible()


# --- evidence --------------------------------------------------------------------------------


def test_evidence_upload_refused_then_attached_and_downloaded(
    ui_page: Any, ui_server: UiServer, orgs: dict[str, int]
) -> None:
    page = ui_page
    e01 = orgs["JS-SGX-E01"]
    login(page, ui_server, "enterprise", "zh_CN")
    page.goto(f"{ui_server.url}/enterprises/{e01}?period=2025")
    details = page.locator("#lineage details").first
    details.locator("summary").click()
    form = details.locator("form.evidence-form")
    datum = form.locator("select[name=activity_id]").input_value()
    form.locator("input[type=file]").set_input_files(
        files=[{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    form.locator("input[name=note]").fill("一月电费发票")
    with page.expect_response(re.compile(r".*/evidence$")) as refused:
        form.locator("button[type=submit]").click()
    assert refused.value.status == 422
    assert page.locator("#evidence-error").inner_text() == "不接受此类型的文件作为证据。"
    assert page.locator("#evidence-file").get_attribute("aria-invalid") == "true"
    assert page.locator("#evidence-note").input_value() == "一月电费发票"
    assert page.locator("#no-evidence").is_visible()
    # An empty file: refused too.
    page.set_input_files(
        "#evidence-file", files=[{"name": "a.pdf", "mimeType": "application/pdf", "buffer": b""}]
    )
    page.click("#evidence-form button[type=submit]")
    page.wait_for_selector("#evidence-error")
    assert page.locator("#evidence-error").inner_text() == "文件为空。"

    page.set_input_files(
        "#evidence-file",
        files=[{"name": "发票-2025-01.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.click("#evidence-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/activity/{datum}/evidence\?added=\d+#files"))
    row = page.locator("#evidence-files tr.new")
    assert "发票-2025-01.pdf" in row.inner_text()
    assert "一月电费发票" in row.inner_text()
    screenshot(page, "verification-evidence-zh_CN")
    href = row.locator("a").get_attribute("href")
    got = page.request.get(ui_server.url + (href or ""))
    assert got.status == 200 and got.body() == PDF

    # The enterprise page lists the file beside its datum.
    page.goto(f"{ui_server.url}/enterprises/{e01}?period=2025")
    link = page.locator(f"#lineage tr[data-activity='{datum}'] a[data-evidence]")
    assert link.text_content() == "发票-2025-01.pdf"

    # Someone who reads E01 but may not write its data sees the files, not the upload.
    login(page, ui_server, "regulator", "en")
    page.goto(f"{ui_server.url}/activity/{datum}/evidence")
    assert page.locator("#evidence-files a").inner_text() == "发票-2025-01.pdf"
    assert page.locator("#evidence-form").count() == 0
    screenshot(page, "verification-evidence-en")
    # … and E01's user does not see another enterprise's datum at all.
    with api(ui_server, "admin") as admin:
        listed = admin.get("/activity", params={"within": orgs["JS-SGX-E05"], "limit": 1})
        foreign = listed.json()["items"][0]["id"]
    login(page, ui_server, "enterprise", "en")
    answer = page.goto(f"{ui_server.url}/activity/{foreign}/evidence")
    assert answer is not None and answer.status == 404
    assert "JS-SGX-E05" not in page.locator("body").inner_text()

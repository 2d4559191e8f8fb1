"""The audit trail page in the browser: the steps of a case, readable details, the chain check.

E05's 2024 inventory goes through verification over the API (the park's org admin submits,
answers and publishes; the regulator assigns VB-01; the demo verifier raises a finding, returns,
closes it and signs); the page must then list every step, newest first, in the caller's scope,
and the regulator's "verify the chain" must report it intact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.test_ui_verification import chinese_only
from tests.ui_fixtures import DEMO_PASSWORD, UiServer, login, screenshot

STEPS = [
    "verification.submit",
    "verification.assign",
    "finding.raise",
    "verification.return",
    "finding_comment.create",
    "finding.answer",
    "verification.resubmit",
    "finding.close",
    "verification.verify",
    "verification.publish",
]


def api(server: UiServer, username: str) -> httpx.Client:
    """An API client signed in as the demo account ``username``."""
    answer = httpx.post(
        server.url + "/api/v1/auth/token",
        data={"username": username, "password": DEMO_PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return httpx.Client(
        base_url=server.url + "/api/v1",
        headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def verified_case(ui_server: UiServer) -> Iterator[dict[str, Any]]:
    """E05's 2024 case, taken through every step over the API: (case, organisation ids)."""
    with (
        api(ui_server, "park") as park,
        api(ui_server, "regulator") as regulator,
        api(ui_server, "verifier") as verifier,
    ):
        orgs = {o["code"]: o["id"] for o in park.get("/organizations?limit=1000").json()["items"]}
        e05 = orgs["JS-SGX-E05"]
        body = regulator.get("/organizations?kind=verifier").json()["items"]
        vb01 = next((o["id"] for o in body if o["code"] == "VB-01"), None)
        if vb01 is None:  # the regulator does not read the body: ask the admin
            with api(ui_server, "admin") as admin:
                items = admin.get("/organizations?kind=verifier").json()["items"]
                vb01 = next(o["id"] for o in items if o["code"] == "VB-01")

        def ok(answer: httpx.Response) -> dict[str, Any]:
            assert answer.status_code in (200, 201), answer.text
            out: dict[str, Any] = answer.json()
            return out

        case = ok(park.post("/verifications", json={"org_id": e05, "period": "2024"}))
        cid = case["id"]
        ok(regulator.post(f"/verifications/{cid}/assign", json={"verifier_org_id": vb01}))
        finding = ok(
            verifier.post(
                f"/verifications/{cid}/findings",
                json={"severity": "minor", "title": "缺少月度结算单"},
            )
        )
        ok(verifier.post(f"/verifications/{cid}/return", json={"note": "请补充"}))
        ok(park.post(f"/findings/{finding['id']}/comments", json={"body": "已补充"}))
        ok(park.post("/verifications", json={"org_id": e05, "period": "2024"}))
        ok(verifier.post(f"/findings/{finding['id']}/close"))
        ok(verifier.post(f"/verifications/{cid}/verify", json={"opinion": "数据真实、准确"}))
        ok(park.post(f"/verifications/{cid}/publish"))
        yield {"case": case, "e05": e05}


def test_the_history_lists_every_step_newest_first(
    ui_page: Any, ui_server: UiServer, verified_case: dict[str, Any]
) -> None:
    page = ui_page
    e05 = verified_case["e05"]
    login(page, ui_server, "park", "zh_CN")
    page.click("nav a[href='/audit']")
    page.wait_for_url(re.compile(r".*/audit$"))
    assert page.locator("#verify-chain").count() == 0  # org admins do not check the chain
    page.goto(f"{ui_server.url}/audit?org={e05}")
    actions = page.locator("#audit tr[data-action]").evaluate_all(
        "rows => rows.map(r => r.dataset.action)"
    )
    steps = [a for a in actions if a in STEPS]
    assert steps == list(reversed(STEPS))  # newest first
    seqs = [
        int(s)
        for s in page.locator("#audit tr[data-seq]").evaluate_all(
            "rows => rows.map(r => r.dataset.seq)"
        )
    ]
    assert seqs == sorted(seqs, reverse=True)
    # Who, what and the detail in words: the assignment moved the state, named the body.
    assign = page.locator("#audit tr[data-action='verification.assign']")
    text = assign.inner_text()
    assert "regulator" in text and "指派核查机构" in text
    assert "已提交" in text and "核查中" in text and "VB-01" in text
    assert assign.locator("del").inner_text() == "已提交"
    # Hashes are shortened, the whole value in the title.
    full = assign.locator("td.hashes code.hash").first.get_attribute("title") or ""
    assert re.fullmatch(r"[0-9a-f]{64}", full)
    assert assign.locator("td.hashes code.hash").first.inner_text() == full[:10] + "…"
    # The case's entry links to its page.
    link = page.locator("#audit tr[data-action='verification.publish'] a").get_attribute("href")
    assert link == f"/verifications/{verified_case['case']['id']}"
    # A kind of record.
    page.select_option("#entity", "finding")
    page.click("#audit-filter button[type=submit]")
    kinds = page.locator("#audit tr[data-action]").evaluate_all(
        "rows => rows.map(r => r.dataset.action.split('.')[0])"
    )
    assert kinds and set(kinds) == {"finding"}
    chinese_only(page)
    screenshot(page, "audit-history-zh_CN")

    # The whole history is paged on the server.
    page.goto(f"{ui_server.url}/audit")
    assert page.locator("#audit tr[data-seq]").count() == 50
    first = page.locator("#audit tr[data-seq]").first.get_attribute("data-seq")
    page.click(".pager a[rel=next]")
    assert page.locator("#audit tr[data-seq]").first.get_attribute("data-seq") != first

    # Another enterprise's user: E05's history is not found, and not named.
    login(page, ui_server, "enterprise", "en")
    answer = page.goto(f"{ui_server.url}/audit?org={e05}")
    assert answer is not None and answer.status == 404
    assert "JS-SGX-E05" not in page.locator("body").inner_text()
    page.goto(f"{ui_server.url}/audit")
    shown = page.locator("#audit").inner_text()
    assert "JS-SGX-E05" not in shown and "JS-SGX-E01" in shown


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_regulator_verifies_the_chain(
    ui_page: Any, ui_server: UiServer, verified_case: dict[str, Any], lang: str
) -> None:
    page = ui_page
    login(page, ui_server, "regulator", lang)
    page.goto(f"{ui_server.url}/audit")
    page.click("#verify-chain button[type=submit]")
    page.wait_for_selector("#chain-report")
    report = page.locator("#chain-report")
    assert report.get_attribute("data-ok") == "true"
    assert int(report.locator("[data-key='records']").inner_text()) > 1000
    assert int(report.locator("[data-key='signatures']").inner_text()) >= 2  # demo + E05
    first = report.locator("[data-key='first']").inner_text()
    assert first == ("无" if lang == "zh_CN" else "none")
    expected = "审计记录完整无误。" if lang == "zh_CN" else "The audit trail is intact."
    assert expected in report.inner_text()
    if lang == "zh_CN":
        chinese_only(page)
    screenshot(page, f"audit-{lang}")
    # A forged form changes nothing and checks nothing.
    forged = page.request.post(ui_server.url + "/audit/verify", form={"csrf": "forged"})
    assert forged.status == 403

"""A role sees only its organisations' data on every page: the API's answer, through the browser.

For a sample of the demo roles, every enterprise and a sample of meters are opened as pages and
asked of the API (``/api/v1/organizations/{id}``, ``/api/v1/meters/{id}``) with the same
session; the page must answer as the API does (200 or 404), and a page that answers 404 must
not name what it hides. The lists (``/enterprises``, ``/meters``) must show only what the API
lists. The full role × endpoint matrix of the API is tests/test_authz_matrix.py; this holds
the pages to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui_fixtures import UiServer, login

API = "/api/v1"


def _api_list(page: Any, server: UiServer, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        answer = page.request.get(
            f"{server.url}{API}{path}", params={**params, "limit": 500, "offset": offset}
        )
        assert answer.status == 200, answer.text()
        body = answer.json()
        items += body["items"]
        offset += len(body["items"])
        if offset >= body["total"] or not body["items"]:
            return items


@pytest.fixture(scope="module")
def everything(browser: Any, ui_server: UiServer) -> dict[str, list[dict[str, Any]]]:
    """Every enterprise and meter of the demo, as the platform admin sees them."""
    context = browser.new_context()
    page = context.new_page()
    login(page, ui_server, "admin")
    out = {
        "enterprises": _api_list(page, ui_server, "/organizations", kind="enterprise"),
        "meters": _api_list(page, ui_server, "/meters"),
    }
    context.close()
    return out


@pytest.mark.parametrize("role", ["enterprise", "verifier", "park"])
def test_pages_answer_as_the_api(
    ui_page: Any, ui_server: UiServer, everything: dict[str, Any], role: str
) -> None:
    login(ui_page, ui_server, role)
    visible_orgs = {o["id"] for o in _api_list(ui_page, ui_server, "/organizations")}
    enterprises = everything["enterprises"]
    # Every enterprise: visible ones open, the others are 404 and not named.
    for org in enterprises:
        api = ui_page.request.get(f"{ui_server.url}{API}/organizations/{org['id']}").status
        page = ui_page.goto(f"{ui_server.url}/enterprises/{org['id']}")
        assert page is not None
        assert page.status == api, (role, org["code"], page.status, api)
        assert (api == 200) == (org["id"] in visible_orgs)
        if api == 404:
            text = ui_page.content()
            names = [org[k] for k in ("name_zh", "name_en") if org.get(k)]
            assert org["code"] not in text, (role, org["code"])
            assert not [n for n in names if n in text], (role, org["code"])
    # A sample of meters: every 7th, so each enterprise's meters are met.
    for meter in everything["meters"][::7]:
        api = ui_page.request.get(f"{ui_server.url}{API}/meters/{meter['id']}").status
        page = ui_page.goto(f"{ui_server.url}/meters/{meter['id']}")
        assert page is not None
        assert page.status == api, (role, meter["code"], page.status, api)
        if api == 404:
            assert meter["code"] not in ui_page.content(), (role, meter["code"])


@pytest.mark.parametrize("role", ["enterprise", "verifier"])
def test_lists_show_only_what_the_api_lists(
    ui_page: Any, ui_server: UiServer, everything: dict[str, Any], role: str
) -> None:
    login(ui_page, ui_server, role)
    mine = {o["code"] for o in _api_list(ui_page, ui_server, "/organizations", kind="enterprise")}
    others = {o["code"] for o in everything["enterprises"]} - mine
    assert mine and others
    ui_page.goto(f"{ui_server.url}/enterprises")
    text = ui_page.locator("main").inner_text()
    assert all(code in text for code in mine)
    assert not [code for code in others if code in text]
    my_meters = {m["code"] for m in _api_list(ui_page, ui_server, "/meters")}
    other_meters = {m["code"] for m in everything["meters"]} - my_meters
    ui_page.goto(f"{ui_server.url}/meters")
    text = ui_page.locator("main").inner_text()
    assert not [code for code in other_meters if code in text]

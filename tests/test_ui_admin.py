"""The administration pages: users, roles and API tokens; quickly, and in a browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuangtan.web.deps import SESSION_COOKIE
from shuangtan.web.ui.core import csrf_token
from tests.ui_fixtures import DEMO_PASSWORD, UiServer, login, screenshot
from tests.world import World


def _find(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text`` (the test fails when it is not there)."""
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in the page"
    return found.group(1)


def _as(client: TestClient, world: World, username: str) -> str:
    """Sign ``username`` in (English pages); returns the CSRF token of the session."""
    secret = world.token[username]
    client.cookies.set(SESSION_COOKIE, secret)
    client.cookies.set("shuangtan_lang", "en")
    return csrf_token(secret)


@pytest.mark.parametrize("username", ["viewer", "regulator", "verifier", "dataentry"])
def test_only_administrators_see_users(client: TestClient, world: World, username: str) -> None:
    csrf = _as(client, world, username)
    assert client.get("/admin/users").status_code == 403
    answer = client.post("/admin/users", data={"csrf": csrf, "username": "x1"})
    assert answer.status_code == 403
    assert client.get("/admin/tokens").status_code == 200  # one's own tokens: everyone


def test_org_admin_creates_user_and_grants(client: TestClient, world: World) -> None:
    csrf = _as(client, world, "park")
    listing = client.get("/admin/users")
    assert listing.status_code == 200
    assert "orgadmin" in listing.text and "foreign" not in listing.text
    org = world.org["A1"]
    # Validation first: beside the fields, nothing stored.
    bad = client.post(
        "/admin/users",
        data={"csrf": csrf, "username": "-bad", "password": "short", "role": "", "org_id": ""},
    )
    assert bad.status_code == 422
    for field in ("username", "password", "role", "org_id"):
        assert f'id="new-{"org" if field == "org_id" else field}-error"' in bad.text
    assert "short" not in bad.text  # the password is never echoed
    # An organisation outside the caller's subtree is refused beside its field.
    foreign = client.post(
        "/admin/users",
        data={
            "csrf": csrf,
            "username": "li.na",
            "password": "long-enough-pw",
            "role": "viewer",
            "org_id": str(world.org["C1"]),
        },
    )
    assert foreign.status_code == 422 and 'id="new-org-error"' in foreign.text
    data = {
        "csrf": csrf,
        "username": "li.na",
        "display_name": "李娜",
        "password": "long-enough-pw",
        "role": "data_entry",
        "org_id": str(org),
    }
    made = client.post("/admin/users", data=data, follow_redirects=False)
    assert made.status_code == 303, made.text[:500]
    page = client.get(made.headers["location"])
    assert "User li.na created." in page.text and "李娜" in page.text
    taken = client.post("/admin/users", data=data)
    assert taken.status_code == 422 and "This user name is taken." in taken.text
    user_id = int(_find(r'href="/admin/users/(\d+)">li\.na<', page.text))
    # Grant a second role, then revoke it.
    no_org = client.post(f"/admin/users/{user_id}/grants", data={"csrf": csrf, "role": "viewer"})
    assert no_org.status_code == 422 and 'id="grant-org-error"' in no_org.text
    granted = client.post(
        f"/admin/users/{user_id}/grants",
        data={"csrf": csrf, "role": "viewer", "org_id": str(world.org["B1"])},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    detail = client.get(granted.headers["location"])
    assert "Role granted." in detail.text and "B1" in detail.text
    grant_ids = re.findall(rf"/admin/users/{user_id}/grants/(\d+)/revoke", detail.text)
    assert len(grant_ids) == 2
    api_user = client.get(
        f"/api/v1/users/{user_id}", headers={"Authorization": f"Bearer {world.token['park']}"}
    ).json()
    assert {(g["role"], g["org_code"]) for g in api_user["grants"]} == {
        ("data_entry", "A1"),
        ("viewer", "B1"),
    }
    viewer_grant = next(g["id"] for g in api_user["grants"] if g["role"] == "viewer")
    revoked = client.post(
        f"/admin/users/{user_id}/grants/{viewer_grant}/revoke",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert "Role revoked." in client.get(revoked.headers["location"]).text
    # Without the CSRF token nothing happens.
    assert client.post(f"/admin/users/{user_id}/grants", data={"role": "viewer"}).status_code == 403


def test_tokens_created_once_and_revoked(client: TestClient, world: World) -> None:
    csrf = _as(client, world, "orgadmin")
    bad = client.post("/admin/tokens", data={"csrf": csrf, "name": "", "expires_days": "0"})
    assert bad.status_code == 422
    for field in ("name", "scopes", "days"):
        assert f'id="token-{field}-error"' in bad.text
    made = client.post(
        "/admin/tokens",
        data={"csrf": csrf, "name": "gateway", "scopes": ["read"], "expires_days": "30"},
    )
    assert made.status_code == 201
    secret = _find(r'id="token-secret">([^<]+)<', made.text)
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["scopes"] == ["read"]
    listing = client.get("/admin/tokens")
    assert secret not in listing.text and "gateway" in listing.text
    token_id = _find(r'data-token="(\d+)">\s*<td>gateway<', listing.text)
    revoked = client.post(
        f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert "Token revoked." in client.get(revoked.headers["location"]).text
    after = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert after.status_code == 401


# --- in a browser ----------------------------------------------------------------------------


def test_admin_in_browser(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "park", "zh_CN")
    ui_page.click("nav a[href='/admin/users']")
    ui_page.wait_for_url(f"{ui_server.url}/admin/users")
    # A validation error first: the message beside the field, the typed name kept.
    ui_page.fill("#new-username", "zhang.wei")
    ui_page.fill("#new-display_name", "张伟")
    ui_page.fill("#new-password", "short")
    ui_page.select_option("#new-role", "data_entry")
    ui_page.select_option("#new-org", index=2)
    ui_page.click("form[action='/admin/users'] button[type=submit]")
    error = ui_page.locator("#new-password-error")
    assert "8" in error.inner_text()
    assert ui_page.locator("#new-username").input_value() == "zhang.wei"
    screenshot(ui_page, "admin-zh_CN")
    ui_page.fill("#new-password", DEMO_PASSWORD + "-2")
    ui_page.select_option("#new-role", "data_entry")
    ui_page.select_option("#new-org", index=2)
    ui_page.click("form[action='/admin/users'] button[type=submit]")
    ui_page.wait_for_url("**/admin/users?created=zhang.wei")
    ui_page.click("table.users a:text-is('zhang.wei')")
    ui_page.select_option("#grant-role-select", "viewer")
    ui_page.select_option("#grant-org", index=1)
    ui_page.click("form[action$='/grants'] button[type=submit]")
    ui_page.wait_for_url("**?done=granted")
    assert ui_page.locator("table.user-grants tbody tr").count() == 2
    ui_page.goto(f"{ui_server.url}/lang/en?next=/admin/users")
    assert ui_page.locator("h1").inner_text() == "Users and roles"
    assert ui_page.locator("table.users a:text-is('zhang.wei')").count() == 1
    screenshot(ui_page, "admin-en")
    # A token: created, its secret shown once, then revoked.
    ui_page.click("nav.tabs a[href='/admin/tokens']")
    ui_page.fill("#token-name", "gateway")
    ui_page.click("form[action='/admin/tokens'] button[type=submit]")
    secret = ui_page.locator("#token-secret").inner_text()
    assert len(secret) > 20
    screenshot(ui_page, "admin-tokens-en")
    row = ui_page.locator("tr", has_text="gateway")
    row.locator("button", has_text="Revoke").click()
    ui_page.wait_for_url("**/admin/tokens?revoked=1")
    assert ui_page.locator("tr", has_text="gateway").count() == 0


def test_regulator_gets_403_in_browser(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "regulator", "en")
    assert ui_page.locator("nav a[href='/admin/users']").count() == 0
    answer = ui_page.goto(f"{ui_server.url}/admin/users")
    assert answer is not None and answer.status == 403
    assert ui_page.locator("h1").inner_text() == "Not allowed"

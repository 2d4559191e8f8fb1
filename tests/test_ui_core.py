"""The dashboard's shared parts: signing in and out, languages, catalogs, CSRF, no remote loads.

Browser tests drive Debian's Chromium (tests/ui_fixtures.py); each fails on a console error
or a request that leaves 127.0.0.1. The catalog tests need no browser.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui_fixtures import DEMO_PASSWORD, ROLES, UiServer, login, screenshot

# The pages every signed-in role may open (the menu's common entries).
COMMON_PAGES = ("/", "/enterprises", "/meters", "/factors")


# --- catalogs (no browser) -------------------------------------------------------------------


def test_every_message_is_translated_in_both_languages() -> None:
    from tools.ui_messages import missing

    gaps = missing()
    assert gaps == {"zh_CN": [], "en": []}, gaps


def test_catalogs_load_and_translate() -> None:
    from shuangtan.web.ui.core import translations

    assert translations("zh_CN").gettext("Sign in") == "登录"
    assert translations("en").gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/meters?page=2", "/meters?page=2"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_after_sign_in_only_local_paths(value: str | None, expected: str) -> None:
    from shuangtan.web.ui.core import safe_next

    assert safe_next(value) == expected


# --- in the browser --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_demo_role_signs_in_and_out(ui_page: Any, ui_server: UiServer, role: str) -> None:
    login(ui_page, ui_server, role)
    assert ui_page.locator("header .who").inner_text() == role
    # The menu offers what the role may do (adapters/db/demo.py: park and enterprise are
    # org_admin, regulator and verifier read only): data entry and users only to writers.
    menu = ui_page.locator("header nav").inner_text()
    writer = role in ("admin", "park", "enterprise")
    assert ("数据填报" in menu) == writer
    assert ("用户与令牌" in menu) == writer
    assert ("API 令牌" in menu) == (not writer)
    ui_page.click("header form[action='/logout'] button")
    ui_page.wait_for_url(re.compile(r".*/login$"))
    # The session is revoked: a page asks for a sign-in again.
    ui_page.goto(ui_server.url + "/factors")
    assert "/login?next=/factors" in ui_page.url


def test_wrong_password_is_said_beside_the_field(ui_page: Any, ui_server: UiServer) -> None:
    ui_page.goto(ui_server.url + "/lang/zh_CN?next=/login")
    ui_page.fill("#username", "park")
    ui_page.fill("#password", "not-the-password")
    ui_page.click("form[action='/login'] button[type=submit]")
    assert ui_page.locator("#password-error").inner_text() == "用户名或密码错误。"
    assert ui_page.locator("#password").get_attribute("aria-invalid") == "true"
    assert ui_page.locator("#username").input_value() == "park"  # kept


def test_language_switch_keeps_the_page(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "park")
    ui_page.goto(ui_server.url + "/factors")
    assert ui_page.locator("html").get_attribute("lang") == "zh-CN"
    assert "排放因子库" in ui_page.locator("header nav").inner_text()
    ui_page.click("a[data-lang='en']")
    ui_page.wait_for_url(re.compile(r".*/factors$"))
    assert ui_page.locator("html").get_attribute("lang") == "en"
    assert "Factor library" in ui_page.locator("header nav").inner_text()
    ui_page.click("a[data-lang='zh_CN']")
    ui_page.wait_for_url(re.compile(r".*/factors$"))
    assert ui_page.locator("html").get_attribute("lang") == "zh-CN"


def test_login_page_in_both_languages(ui_page: Any, ui_server: UiServer) -> None:
    for lang, title in (("zh_CN", "登录"), ("en", "Sign in")):
        ui_page.goto(f"{ui_server.url}/lang/{lang}?next=/login")
        assert ui_page.locator("h1").inner_text() == title
        screenshot(ui_page, f"login-{lang}")


def test_a_form_without_its_csrf_token_is_refused(ui_page: Any, ui_server: UiServer) -> None:
    login(ui_page, ui_server, "park")
    answer = ui_page.request.post(ui_server.url + "/logout", form={"csrf": "forged"})
    assert answer.status == 403
    # Still signed in.
    ui_page.goto(ui_server.url + "/factors")
    assert ui_page.url.endswith("/factors")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_pages_load_nothing_from_another_host(
    ui_page: Any, ui_server: UiServer, ui_guards: Any, lang: str
) -> None:
    login(ui_page, ui_server, "park", lang)
    for path in COMMON_PAGES:
        ui_page.goto(ui_server.url + path)
        ui_page.wait_for_load_state("networkidle")
        assert ui_page.locator("html").get_attribute("lang") == (
            "zh-CN" if lang == "zh_CN" else "en"
        )
    assert ui_guards.requests, "no request was seen"
    assert all(url.startswith(ui_server.url) for url in ui_guards.requests), ui_guards.requests


def test_pages_need_a_session(ui_server: UiServer) -> None:
    import httpx

    for path in COMMON_PAGES:
        answer = httpx.get(ui_server.url + path, follow_redirects=False, timeout=30)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/login?next={path}"


def test_demo_password_is_the_documented_one() -> None:
    # tests/ui_fixtures.py and docs/platform/roles.md must agree.
    from pathlib import Path

    roles_doc = (Path(__file__).resolve().parents[1] / "docs/platform/roles.md").read_text()
    assert DEMO_PASSWORD in roles_doc


def test_chinese_pages_show_no_untranslated_text(ui_page: Any, ui_server: UiServer) -> None:
    """No message of the catalogs appears in English on a Chinese page."""
    from tools.ui_messages import extract, sources

    english = sorted(
        m
        for m in extract(sources())
        if "%(" not in m and len(m.split()) >= 2 and re.search("[A-Za-z]{3}", m)
    )
    login(ui_page, ui_server, "park")
    for path in COMMON_PAGES:
        ui_page.goto(ui_server.url + path)
        text = ui_page.locator("body").inner_text()
        shown = [m for m in english if m in text]
        assert not shown, (path, shown)

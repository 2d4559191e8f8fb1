"""Browser fixtures: the real server on the demo park, Debian's Chromium through Playwright.

``ui_server`` (session) migrates a fresh SQLite database, loads the demo park with January
2025's meter readings and runs ``shuangtan serve`` on a free port of 127.0.0.1. ``ui_page``
gives each test a fresh browser context whose guards fail the test on any browser console
error or page error (Chromium's "Failed to load resource" note on a page answered 4xx on purpose
aside: a form with errors, another organisation's page), and on any request to a host other
than 127.0.0.1. Under ``CI=true`` a missing Chromium fails the tests; elsewhere they skip and
say why.

Helpers: ``login(page, server, role, lang=...)`` signs a demo account in;
``screenshot(page, name)`` writes ``build/screenshots/<name>.png``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("SHUANGTAN_CHROMIUM", "/usr/bin/chromium")
DEMO_PASSWORD = "shuangtan-demo"
#: The demo accounts (docs/platform/roles.md) and the organisation each one sees from.
ROLES = ("admin", "regulator", "park", "enterprise", "verifier")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(reason: str) -> None:
    if _ci():
        pytest.fail(f"CI needs {reason}")
    pytest.skip(reason)


@dataclass
class UiServer:
    """A running ``shuangtan serve`` on the demo park."""

    url: str
    database_url: str
    log: Path
    #: A copy of the database as loaded, before any test wrote to the server's: tests that
    #: check the demo's own figures work on a copy of this one.
    pristine: Path

    def get(self, path: str) -> tuple[int, str]:
        """GET ``path`` without a browser: (status, body)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """The demo park (January 2025's readings) served on 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("ui")
    database_url = f"sqlite:///{tmp / 'demo.sqlite'}"
    env = {
        **os.environ,
        "SHUANGTAN_DATABASE_URL": database_url,
        "SHUANGTAN_UPLOAD_DIR": str(tmp),
        "SHUANGTAN_KEY_FILE": str(tmp / "keys" / "platform.key"),
    }
    cli = [sys.executable, "-m", "shuangtan"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*cli, "demo", "load", "--months", "1"], env=env, check=True, capture_output=True
    )
    pristine = tmp / "demo-pristine.sqlite"
    shutil.copyfile(tmp / "demo.sqlite", pristine)  # no server yet: the file is at rest
    port = _free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = UiServer(f"http://127.0.0.1:{port}", database_url, log, pristine)
    deadline = time.monotonic() + 60
    while True:
        try:
            if server.get("/health")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the server did not start:\n{log.read_text()}")
        time.sleep(0.2)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        _need(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _need("the playwright package")
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Guards:
    """What a page did that a test must not allow."""

    console_errors: list[tuple[str, str]] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    #: Pages (documents) answered 4xx on purpose: a form with errors (422), a page of another
    #: organisation (404), a page the role may not use (403). Chromium logs each as "Failed to
    #: load resource"; those lines are not errors of the page. A script, style or fetch that
    #: fails still is.
    error_documents: set[str] = field(default_factory=set)

    def real_console_errors(self) -> list[str]:
        """Console errors other than Chromium's note on a 4xx page."""
        return [
            f"{text} ({url})"
            for text, url in self.console_errors
            if not (text.startswith("Failed to load resource") and url in self.error_documents)
        ]


@pytest.fixture
def ui_guards() -> Guards:
    """The current test's page guards (console errors, requests off 127.0.0.1)."""
    return Guards()


@pytest.fixture
def ui_page(browser: Any, ui_server: UiServer, ui_guards: Guards) -> Iterator[Any]:
    """A fresh context and page; fails the test on console errors or requests off-host."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)

    def on_console(message: Any) -> None:
        if message.type == "error":
            ui_guards.console_errors.append((message.text, message.location.get("url", "")))

    def on_response(response: Any) -> None:
        if response.request.resource_type == "document" and 400 <= response.status < 500:
            ui_guards.error_documents.add(response.url)

    def on_request(request: Any) -> None:
        ui_guards.requests.append(request.url)
        host = urlsplit(request.url).hostname
        if request.url.startswith(("data:", "blob:", "about:")):
            return
        if host != "127.0.0.1":
            ui_guards.remote_requests.append(request.url)

    page.on("console", on_console)
    page.on(
        "pageerror", lambda error: ui_guards.console_errors.append((f"page error: {error}", ""))
    )
    page.on("request", on_request)
    page.on("response", on_response)
    try:
        yield page
    finally:
        context.close()
    errors = ui_guards.real_console_errors()
    assert not errors, f"browser console errors: {errors}"
    assert not ui_guards.remote_requests, f"requests left 127.0.0.1: {ui_guards.remote_requests}"


def login(page: Any, server: UiServer, role: str, lang: str = "zh_CN") -> None:
    """Sign the demo account ``role`` in, in language ``lang``; ends on the overview."""
    page.goto(f"{server.url}/lang/{lang}?next=/login")
    page.fill("#username", role)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""The platform's command line, as an operator runs it: db, demo, user, inventory, serve."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.platform_fixtures import new_database


def run(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("shuangtan")
    return subprocess.run(
        [str(exe), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SHUANGTAN_DATABASE_URL": url, "COLUMNS": "160"},
        check=False,
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file migrated and loaded with the demo through the CLI."""
    url, _ = new_database("sqlite", tmp_path_factory.mktemp("cli"))
    done = run(url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    # January's readings only: the whole year (5,536,445 readings, what `make run` loads)
    # takes a minute, and the loader is the same for every month.
    done = run(url, "demo", "load", "--months", "1")
    assert done.returncode == 0, done.stderr
    assert "demo loaded: 77 organizations" in done.stdout
    # January's 15-minute readings of the 158 meters (counters add their baseline reading
    # at the end of December), kept beside the imported monthly activity, which they equal:
    # one month of each of the 99 metered sources.
    assert "meter readings: 470,333" in done.stdout
    assert "99 kept as imported" in done.stdout
    assert "shuangtan-demo" in done.stdout
    assert "regulator" in done.stdout
    return url


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = run(url, "demo", "load")
    assert done.returncode == 1
    assert "shuangtan db upgrade" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_database_url_is_named(tmp_path: Path) -> None:
    done = run("mysql://somewhere/db", "db", "current")
    assert done.returncode == 2
    assert "SHUANGTAN_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_db_current_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert run(url, "db", "upgrade").returncode == 0
    assert "current: 0003" in run(url, "db", "current").stdout
    assert run(url, "db", "downgrade", "base").returncode == 0
    assert "current: (empty)" in run(url, "db", "current").stdout


def test_demo_load_twice(loaded: str) -> None:
    again = run(loaded, "demo", "load")
    assert again.returncode == 1
    assert "already loaded" in again.stderr
    skip = run(loaded, "demo", "load", "--if-empty")
    assert skip.returncode == 0
    assert "already loaded" in skip.stdout
    assert "inventory?period=2025" in skip.stdout


@pytest.mark.parametrize("months", ["13", "0-3", "3-1", "jan", "1,,2"])
def test_demo_load_names_bad_months(loaded: str, months: str) -> None:
    done = run(loaded, "demo", "load", "--months", months)
    # Refused before the database is looked at (the demo is loaded here: that would say so).
    assert done.returncode == 2
    assert "--months" in done.stderr and "already loaded" not in done.stderr
    assert "Traceback" not in done.stderr


def test_user_create_token_and_revoke(loaded: str) -> None:
    done = run(
        loaded,
        "user",
        "create",
        "ops",
        "--role",
        "viewer@JS-SGX",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert done.returncode == 0, done.stderr
    short = run(
        loaded,
        "user",
        "create",
        "ops2",
        "--role",
        "viewer@JS-SGX",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "password" in short.stderr
    nowhere = run(
        loaded,
        "user",
        "create",
        "ops3",
        "--role",
        "viewer@NOPE",
        "--password-stdin",
        stdin="long enough pw\n",
    )
    assert nowhere.returncode == 1
    assert "NOPE" in nowhere.stderr
    badrole = run(
        loaded,
        "user",
        "create",
        "ops4",
        "--role",
        "king@JS",
        "--password-stdin",
        stdin="long enough pw\n",
    )
    assert badrole.returncode == 1
    assert "Traceback" not in badrole.stderr
    token = run(loaded, "user", "token", "ops", "--name", "gateway", "--scope", "read")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("stk_")
    assert "shown only now" in token.stderr
    token_id = token.stderr.split()[1]
    revoked = run(loaded, "user", "token", "ops", "--name", "x", "--revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    unknown = run(loaded, "user", "token", "nobody", "--name", "x")
    assert unknown.returncode == 1


def test_inventory_recompute(loaded: str) -> None:
    done = run(
        loaded, "inventory", "recompute", "--org", "JS-SGX", "--period", "2025", "--reason", "check"
    )
    assert done.returncode == 0, done.stderr
    assert "JS-SGX 2025 v2" in done.stdout
    assert "(Δ 0.0 tCO2e)" in done.stdout
    stale = run(loaded, "inventory", "recompute", "--stale")
    assert stale.returncode == 0, stale.stderr
    assert "0 inventories recomputed" in stale.stdout
    bad = run(loaded, "inventory", "recompute", "--org", "JS-SGX", "--period", "2025-13")
    assert bad.returncode == 1
    assert "period" in bad.stderr
    both = run(loaded, "inventory", "recompute")
    assert both.returncode == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_answers_health_and_logs_request_ids(loaded: str) -> None:
    port = _free_port()
    exe = Path(sys.executable).with_name("shuangtan")
    server = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env={**os.environ, "SHUANGTAN_DATABASE_URL": loaded},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": "probe-1"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert body["status"] == "ok"
        assert body["database"] == "sqlite"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in output
    assert "[probe-1]" in output or "request_id=probe-1" in output


def test_disable_enable_and_password(loaded: str) -> None:
    from fastapi.testclient import TestClient

    from shuangtan.adapters.settings import Settings
    from shuangtan.web.app import create_app

    app = create_app(Settings(database_url=loaded))
    with TestClient(app) as client:
        login = {"username": "verifier", "password": "shuangtan-demo"}
        token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert run(loaded, "user", "disable", "verifier").returncode == 0
        app.state.shuangtan.forget_principals()  # another process changed it; skip the 2 s cache
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
        assert client.post("/api/v1/auth/token", data=login).status_code == 401
        assert run(loaded, "user", "enable", "verifier").returncode == 0
        changed = run(
            loaded,
            "user",
            "password",
            "verifier",
            "--password-stdin",
            stdin="a new long password\n",
        )
        assert changed.returncode == 0, changed.stderr
        assert client.post("/api/v1/auth/token", data=login).status_code == 401
        new = {"username": "verifier", "password": "a new long password"}
        assert client.post("/api/v1/auth/token", data=new).status_code == 200
    app.state.shuangtan.engine.dispose()
    assert run(loaded, "user", "disable", "nobody").returncode == 1

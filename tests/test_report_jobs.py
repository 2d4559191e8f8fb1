"""Reports and bulk recomputation as jobs over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shuangtan.adapters.db.audit import adopt
from shuangtan.adapters.db.audit import verify as verify_audit
from shuangtan.adapters.db.repositories import SYSTEM, Store
from tests.platform_fixtures import Database
from tests.world import World, build_world


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Any:
    from shuangtan.adapters.settings import Settings
    from shuangtan.web.app import create_app

    world = build_world(db.engine)
    with Session(db.engine) as session:
        adopt(session, Store(session, SYSTEM).trail)
        session.commit()
    app = create_app(Settings(database_url=db.url, key_file=tmp_path / "kek"))
    with TestClient(app) as client:
        yield client, world
    app.state.shuangtan.engine.dispose()


def _finish(client: TestClient, world: World, who: str, job: dict[str, Any]) -> dict[str, Any]:
    """Follow a job until it ends (the runner is a real background thread)."""
    deadline = time.monotonic() + 120
    while True:
        got = client.get(f"/api/v1/jobs/{job['id']}", headers=world.auth(who)).json()
        if got["status"] in ("done", "failed"):
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def test_a_report_job_runs_to_a_kept_file(api: Any) -> None:
    client, w = api
    body = {"kind": "inventory", "org_id": w.org["A1"], "period": "2025", "fmt": "json"}
    started = client.post("/api/v1/reports", json=body, headers=w.auth("viewer"))
    assert started.status_code == 202, started.text
    assert started.json()["kind"] == "report"
    job = _finish(client, w, "viewer", started.json())
    assert job["status"] == "done", job
    report_id = job["result"]["report_id"]
    got = client.get(f"/api/v1/reports/{report_id}", headers=w.auth("viewer"))
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == got.headers["x-content-sha256"]
    document = orjson.loads(got.content)
    assert document["report"] == "inventory"
    assert document["organization"]["code"] == "A1"
    listed = client.get(f"/api/v1/reports?org_id={w.org['A1']}", headers=w.auth("viewer")).json()
    assert [r["id"] for r in listed["items"]] == [report_id]
    # Scoped: another organisation's reader neither lists nor downloads it.
    assert client.get(f"/api/v1/reports/{report_id}", headers=w.auth("foreign")).status_code == 404
    assert client.get("/api/v1/reports", headers=w.auth("foreign")).json()["total"] == 0


def test_a_report_job_names_what_failed(api: Any) -> None:
    client, w = api
    # C1's inventory exists; A1-F1 (a facility) has none: the job ends failed, saying why.
    body = {"kind": "inventory", "org_id": w.org["A1-F1"], "period": "2025", "fmt": "json"}
    started = client.post("/api/v1/reports", json=body, headers=w.auth("orgadmin"))
    job = _finish(client, w, "orgadmin", started.json())
    assert job["status"] == "failed"
    assert "inventory" in job["error"]
    monthly = {"kind": "monthly", "org_id": w.org["A1"], "period": "2025", "fmt": "pdf"}
    refused = client.post("/api/v1/reports", json=monthly, headers=w.auth("orgadmin"))
    assert refused.status_code == 422
    assert refused.json()["field"] == "period"
    foreign = {"kind": "inventory", "org_id": w.org["A1"], "period": "2025"}
    assert (
        client.post("/api/v1/reports", json=foreign, headers=w.auth("foreign")).status_code == 404
    )


def test_bulk_recomputation_is_a_job_with_progress(api: Any, db: Database) -> None:
    client, w = api
    body = {"org_id": w.org["P1"], "period": "2025", "reason": "new grid factor"}
    mine = {**body, "org_id": w.org["A1"]}
    for who, status in (("viewer", 403), ("foreign", 404)):
        refused = client.post("/api/v1/inventories/recompute", json=mine, headers=w.auth(who))
        assert refused.status_code == status
    started = client.post("/api/v1/inventories/recompute", json=body, headers=w.auth("park"))
    assert started.status_code == 202, started.text
    job = _finish(client, w, "park", started.json())
    assert job["status"] == "done", job
    # P1's subtree holds three inventories: A1, B1 and P1 itself.
    assert (job["done"], job["total"]) == (3, 3)
    assert sorted(r["org"] for r in job["result"]["recomputed"]) == ["A1", "B1", "P1"]
    assert all(r["version"] == 2 for r in job["result"]["recomputed"])
    versions = client.get(
        f"/api/v1/organizations/{w.org['B1']}/inventory/versions?period=2025",
        headers=w.auth("park"),
    ).json()
    assert versions[0]["reason"] == "new grid factor"
    with Session(db.engine) as session:
        assert verify_audit(session).ok

"""schemathesis over the OpenAPI schema: no 5xx, every response conforms to the schema.

Requests are generated from the schema itself (valid and invalid bodies, parameters at their
bounds) and sent in-process to the app, on a database with the small test world, as the
platform admin (so authorisation does not hide the handlers; the matrix test covers roles).

Every built-in check runs except "schema-valid data is accepted": business rules a schema
cannot state (a facility sits under an enterprise, a source's params fit its method, a datum
covers whole months) rightly refuse some schema-valid bodies with 422 and the field.

The world gets readings first (a full day of one meter, a monthly entry, quarantined readings,
a finished import job), so the readings operations reach stored data. Operations that cannot be
fuzzed sensibly are in :data:`NOT_FUZZED`, each with its reason and the test that covers it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import upgrade
from shuangtan.adapters.db.models import User
from shuangtan.adapters.db.repositories import Accounts
from shuangtan.adapters.settings import Settings
from shuangtan.web.app import create_app
from tests.platform_fixtures import BACKENDS, new_database
from tests.world import World, build_world

#: Ids of things that exist, per path parameter, so that half the cases reach real data.
REAL: dict[str, list[int]] = {}
#: Makes a fresh admin token, for operations that revoke the token they are called with.
THROWAWAY: list[Callable[[], dict[str, str]]] = []
EXAMPLES = 25
#: Operations that hash a password (argon2id, deliberately slow) get fewer examples.
SCHEMA_PATH = "/api/v1/openapi.json"
SLOW = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/session"), ("POST", "/api/v1/users")}
#: Operations left out, with the reason and where they are tested instead.
NOT_FUZZED = {
    ("POST", "/api/v1/imports"): (
        "a multipart upload: every case would store a file and queue a background import job "
        "that runs on after the case (and the test) ends, so a failure could not be tied to its "
        "case; covered by tests/test_readings_api.py (test_a_csv_upload_is_imported_as_a_job, "
        "test_uploads_are_checked_before_a_job_is_made) and the authorisation matrix"
    ),
}


@pytest.fixture(scope="module", params=BACKENDS)
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    url, drop = new_database(request.param, tmp_path_factory.mktemp("schema"))
    upgrade(url)
    engine = make_engine(url)
    world = build_world(engine)

    def throwaway() -> dict[str, str]:
        with Session(engine) as session:
            user = session.get(User, world.user["admin"])
            assert user is not None
            secret = Accounts(session).issue_token(user, kind="api", name="throwaway")[1]
            session.commit()
        return {"Authorization": f"Bearer {secret}"}

    THROWAWAY.append(throwaway)
    # Uploads in the test's directory; no background activity sync that would outlive the test.
    config = Settings(
        database_url=url,
        upload_dir=tmp_path_factory.mktemp("uploads"),
        sync_delay_s=3600,
    )
    app = create_app(config)
    with TestClient(app) as client:
        quarantined, job = _readings(client, world)
        document = client.get(SCHEMA_PATH).json()
    REAL.update(
        org_id=sorted(world.org.values()),
        source_id=sorted(world.source.values()),
        meter_id=sorted(world.meter.values()),
        activity_id=sorted(world.activity.values()),
        user_id=sorted(world.user.values()),
        qid=quarantined,
        job_id=[job],
    )
    schema = schemathesis.openapi.from_dict(document)
    schema.app, schema.location = app, SCHEMA_PATH
    yield schema
    app.state.shuangtan.syncer.close()
    app.state.shuangtan.jobs.close()
    app.state.shuangtan.engine.dispose()
    engine.dispose()
    THROWAWAY.clear()
    drop()


def _readings(client: TestClient, world: World) -> tuple[list[int], int]:
    """Readings of 2025-03-01 for A1's electricity meter (a full day), a monthly entry, bad
    readings (quarantined), an import job run to its end, and a cumulative meter (whose swaps
    can be recorded): their quarantine ids and the job; the meter goes in ``world.meter``."""
    admin = world.auth("admin")
    body = {
        "org_id": world.org["A1-F1"],
        "code": "A1-CUM",
        "name_zh": "累计表",
        "carrier": "electricity",
        "unit": "MWh",
        "kind": "cumulative",
    }
    r = client.post("/api/v1/meters", json=body, headers=admin)
    assert r.status_code == 201, r.text
    world.meter["A1-CUM"] = r.json()["id"]
    meter = world.meter["A1-S-EL"]
    start = dt.datetime(2025, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    day = [
        {"meter": meter, "ts": (start + dt.timedelta(minutes=15 * i)).isoformat(), "value": 1.0}
        for i in range(1, 97)
    ]
    bad = [
        {"meter": meter, "ts": "2025-03-02T00:15:00", "value": 1.0},
        {"meter": meter, "ts": "2025-03-02T00:30:00+08:00", "value": "n/a"},
        {"meter": "no-such-meter", "ts": "2025-03-02T00:45:00+08:00", "value": 1.0},
        {"meter": meter, "ts": "2025-03-02T01:00:00+08:00", "value": 1.0, "unit": "t"},
    ]
    r = client.post("/api/v1/readings", json={"readings": day + bad}, headers=admin)
    assert r.status_code == 200 and r.json()["quarantined"] == len(bad), r.text
    quarantined = [q["id"] for q in r.json()["quarantine"]]
    r = client.put(f"/api/v1/meters/{meter}/monthly/2025-03", json={"value": 96.0}, headers=admin)
    assert r.status_code == 200, r.text
    csv = f"meter,ts,value\n{meter},2025-03-02T01:15:00+08:00,1.0\n".encode()
    r = client.post(
        "/api/v1/imports",
        files={"file": ("readings.csv", csv, "text/csv")},
        data={"org_id": str(world.org["A1"])},
        headers=admin,
    )
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/jobs/{job}", headers=admin).json()["status"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline, "the import job did not end"
        time.sleep(0.05)
    return quarantined, job


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolves(document: Any, ref: str) -> bool:
    if not ref.startswith("#/"):
        return False
    node = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _resolve(document: Any, node: Any) -> Any:
    """``node``, or what its ``$ref`` points at."""
    while isinstance(node, dict) and "$ref" in node:
        assert _resolves(document, node["$ref"]), node["$ref"]
        target = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _realistic(cases: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly point path parameters at existing things and ask for a real period."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        case = draw(cases)
        if draw(st.integers(0, 3)):
            for name in list(case.path_parameters or {}):
                if name in REAL:
                    case.path_parameters[name] = draw(st.sampled_from(REAL[name]))
            query = case.query
            if query is not None and "period" in query:
                query["period"] = draw(st.sampled_from(["2025", "2025", "2025-Q1", "2024"]))
                query.pop("version", None)
            if query is not None and "org_id" in query:
                query["org_id"] = draw(st.sampled_from(REAL["org_id"]))
            if query is not None and "date" in query:  # the day of the readings, or the next
                query["date"] = draw(st.sampled_from(["2025-03-01", "2025-03-02"]))
            if query is not None and "month" in query:
                query["month"] = draw(st.sampled_from(["2025-03", "2025-02"]))
            if query is not None and {"start", "end"} <= set(query):
                query["start"], query["end"] = draw(
                    st.sampled_from([("2025-03-01", "2025-03-02"), ("2025-02-01", "2025-04-01")])
                )
        return case

    return build()


def test_api_conforms_to_its_schema(api_schema: Any) -> None:
    """Every operation, ``EXAMPLES`` generated cases each; failures are collected, then shown."""
    failures: list[str] = []
    unauthenticated: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 44
    keys = {(operation.method.upper(), operation.path) for operation in operations}
    assert set(NOT_FUZZED) <= keys, f"stale NOT_FUZZED entries: {set(NOT_FUZZED) - keys}"
    operations = [o for o in operations if (o.method.upper(), o.path) not in NOT_FUZZED]
    # Readings first, while the world is whole (the other operations delete what they can).
    operations.sort(key=lambda o: "readings" not in (o.definition.raw.get("tags") or []))

    for operation in operations:

        @given(case=_realistic(operation.as_strategy()))
        @settings(
            max_examples=5 if (operation.method.upper(), operation.path) in SLOW else EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A fresh token per case: signing out or revoking a token (valid cases here) must
            # not sign the next cases out.
            response = case.call_and_validate(
                headers=THROWAWAY[0](), excluded_checks=[positive_data_acceptance]
            )
            if response.status_code == 401 and not case.path.startswith("/api/v1/auth/"):
                unauthenticated.append(f"{case.method} {case.path}")

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    # Every case was signed in: the run tested the handlers, not the 401 path.
    assert not unauthenticated


def test_every_reference_of_the_schema_resolves(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'schema.sqlite'}"))
    document = TestClient(app).get(SCHEMA_PATH).json()
    app.state.shuangtan.engine.dispose()
    dangling = sorted({ref for ref in _refs(document) if not _resolves(document, ref)})
    assert not dangling, f"references to nothing: {dangling}"
    # The JSON body of POST /readings (read by the handler itself) is documented in full.
    content = document["paths"]["/api/v1/readings"]["post"]["requestBody"]["content"]
    body = _resolve(document, content["application/json"]["schema"])
    assert body["required"] == ["readings"]
    reading = _resolve(document, body["properties"]["readings"]["items"])
    assert set(reading["properties"]) == {"meter", "ts", "value", "unit"}
    assert set(reading["required"]) == {"meter", "ts", "value"}
    assert content["text/csv"]["schema"] == {"type": "string"}

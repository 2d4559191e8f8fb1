"""The REST API against real databases (SQLite and PostgreSQL): auth, CRUD, errors, recompute.

The authorisation matrix is in ``test_authz_matrix.py``; this file checks behaviour.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shuangtan.adapters.settings import Settings
from shuangtan.factors import FactorLibrary
from shuangtan.web.app import create_app
from tests.platform_fixtures import Database
from tests.world import PASSWORD, World

API = "/api/v1"


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "field", "message", "request_id"}, body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# --- service and auth --------------------------------------------------------------------


def test_health_reports_the_schema_and_library(client: TestClient, db: Database) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["database"] == db.backend
    assert body["schema_revision"] == "0003"
    assert body["factor_library"].startswith("2026.")


def test_password_login_issues_a_working_token(client: TestClient, world: World) -> None:
    r = client.post(f"{API}/auth/token", data={"username": "viewer", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "read write"
    me = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["username"] == "viewer"
    assert me.json()["grants"][0]["role"] == "viewer"


@pytest.mark.parametrize(
    ("username", "password"), [("viewer", "wrong-password"), ("nobody", PASSWORD), ("", "")]
)
def test_bad_logins_are_refused_alike(
    client: TestClient, world: World, username: str, password: str
) -> None:
    r = client.post(f"{API}/auth/token", data={"username": username, "password": password})
    assert r.status_code in (401, 422)
    body = error_of(r)
    if r.status_code == 401:
        assert body["message"] == "wrong username or password"


def test_tokens_can_be_narrowed_listed_and_revoked(client: TestClient, world: World) -> None:
    headers = world.auth("orgadmin")
    r = client.post(
        f"{API}/auth/tokens", json={"name": "gateway", "scopes": ["read"]}, headers=headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("stk_")
    listed = client.get(f"{API}/auth/tokens", headers=headers).json()
    assert all(t["token"] is None for t in listed)
    assert created["id"] in [t["id"] for t in listed]
    gateway = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"{API}/organizations", headers=gateway).status_code == 200
    denied = client.post(
        f"{API}/organizations",
        json={"parent_id": world.org["A1"], "kind": "facility", "code": "X", "name_zh": "x"},
        headers=gateway,
    )
    assert denied.status_code == 403
    # a read-only token cannot mint a write token
    r = client.post(f"{API}/auth/tokens", json={"name": "x", "scopes": ["write"]}, headers=gateway)
    assert error_of(r)["field"] == "scopes"
    assert client.delete(f"{API}/auth/tokens/{created['id']}", headers=headers).status_code == 204
    r = client.get(f"{API}/organizations", headers=gateway)
    assert r.status_code == 401
    assert error_of(r)["message"] == "token revoked"


def test_session_cookie_login_and_logout(client: TestClient, world: World) -> None:
    r = client.post(f"{API}/auth/session", data={"username": "park", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    assert client.get(f"{API}/auth/me").json()["username"] == "park"
    assert client.delete(f"{API}/auth/session").status_code == 204
    client.cookies.clear()
    assert client.get(f"{API}/auth/me").status_code == 401


def test_unauthenticated_and_garbage_tokens(client: TestClient, world: World) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer " + "x" * 500},
    ):
        r = client.get(f"{API}/organizations", headers=headers)
        assert r.status_code == 401
        assert error_of(r)["code"] == "unauthenticated"


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    made = client.get("/health", headers={"X-Request-ID": "bad id with spaces"}).headers[
        "x-request-id"
    ]
    assert made != "bad id with spaces"
    assert made != client.get("/health").headers["x-request-id"]  # unique per request


def test_unknown_endpoint_uses_the_error_body(client: TestClient) -> None:
    r = client.get(f"{API}/no-such-thing")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


# --- organisations -----------------------------------------------------------------------


def test_organisation_tree_and_crud(client: TestClient, world: World) -> None:
    headers = world.auth("park")
    tree = client.get(f"{API}/organizations/tree", headers=headers).json()
    assert [t["code"] for t in tree] == ["P1"]
    assert sorted(c["code"] for c in tree[0]["children"]) == ["A1", "B1"]
    r = client.post(
        f"{API}/organizations",
        json={
            "parent_id": world.org["P1"],
            "kind": "enterprise",
            "code": "N1",
            "name_zh": "新企业",
            "sector": "offices",
            "credit_code": "91320505MA1XXXXX0Y".replace("X", "1"),
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["path"].endswith(f"/{new['id']}/")
    assert new["path"].startswith(f"/{world.org['R1']}/{world.org['P1']}/")
    r = client.patch(
        f"{API}/organizations/{new['id']}", json={"name_en": "New Co"}, headers=headers
    )
    assert r.json()["name_en"] == "New Co"
    listed = client.get(f"{API}/organizations?q=new co", headers=headers).json()
    assert [o["code"] for o in listed["items"]] == ["N1"]
    assert client.delete(f"{API}/organizations/{new['id']}", headers=headers).status_code == 204
    assert client.get(f"{API}/organizations/{new['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "facility", "code": "F9", "name_zh": "x"}, "parent_id"),  # facility under a park
        ({"kind": "enterprise", "code": "bad code!", "name_zh": "x"}, "code"),
        ({"kind": "enterprise", "code": "A1", "name_zh": "x"}, "code"),  # taken
        ({"kind": "enterprise", "code": "E9", "name_zh": "x", "sector": "nope"}, "sector"),
        ({"kind": "planet", "code": "E9", "name_zh": "x"}, "kind"),
        ({"kind": "enterprise", "code": "E9", "name_zh": "x", "colour": "red"}, "colour"),
        ({"kind": "enterprise", "code": "E9", "name_zh": "x", "credit_code": "123"}, "credit_code"),
    ],
)
def test_bad_organisations_name_the_field(
    client: TestClient, world: World, body: dict[str, Any], field: str
) -> None:
    r = client.post(
        f"{API}/organizations",
        json={"parent_id": world.org["P1"], **body},
        headers=world.auth("park"),
    )
    assert r.status_code in (409, 422), r.text
    assert error_of(r)["field"] == field


def test_non_empty_organisations_are_not_deleted(client: TestClient, world: World) -> None:
    r = client.delete(f"{API}/organizations/{world.org['A1-F1']}", headers=world.auth("park"))
    assert r.status_code == 409
    assert "emission sources" in error_of(r)["message"]


def test_pagination_is_bounded(client: TestClient, world: World) -> None:
    headers = world.auth("admin")
    page = client.get(f"{API}/organizations?limit=3&offset=2", headers=headers).json()
    assert page["limit"] == 3 and page["offset"] == 2 and len(page["items"]) == 3
    assert page["total"] == 10
    for query in ("limit=0", "limit=1001", "offset=-1", "limit=abc"):
        r = client.get(f"{API}/organizations?{query}", headers=headers)
        assert r.status_code == 422
        assert error_of(r)["field"] in ("limit", "offset")


def test_economics_round_trip(client: TestClient, world: World) -> None:
    headers = world.auth("orgadmin")
    body = {
        "output_value_10k_cny": 12000.0,
        "value_added_10k_cny": 3000.0,
        "employees": 250,
        "production": [{"product_zh": "芯片", "product_en": "chips", "amount": 1e6, "unit": "pcs"}],
    }
    r = client.put(
        f"{API}/organizations/{world.org['A1']}/economics/2025", json=body, headers=headers
    )
    assert r.status_code == 200, r.text
    got = client.get(f"{API}/organizations/{world.org['A1']}/economics", headers=headers).json()
    assert got[0]["year"] == 2025 and got[0]["production"][0]["product_en"] == "chips"
    r = client.post(
        f"{API}/organizations/{world.org['A1']}/inventory/recompute",
        json={"period": "2025"},
        headers=headers,
    )
    intensity = r.json()["inventory"]["intensity"]
    total = r.json()["inventory"]["co2e_t"]
    assert intensity["co2e_t_per_10k_cny_output"] == pytest.approx(total / 12000.0, rel=1e-14)


# --- sources, meters, activity ------------------------------------------------------------


def test_source_params_are_validated_against_the_method(client: TestClient, world: World) -> None:
    headers = world.auth("orgadmin")
    base = {
        "org_id": world.org["A1-F1"],
        "code": "A1-S-NEW",
        "name_zh": "柴油发电机",
        "category": "stationary_combustion",
        "method": "fuel_combustion",
        "unit": "t",
    }
    r = client.post(f"{API}/sources", json={**base, "params": {"fule": "柴油"}}, headers=headers)
    assert error_of(r)["field"] == "params.fuel"  # the missing field, named first
    r = client.post(
        f"{API}/sources", json={**base, "params": {"fuel": "柴油", "amount": 3}}, headers=headers
    )
    assert error_of(r)["field"] == "params.amount"
    r = client.post(f"{API}/sources", json={**base, "method": "magic"}, headers=headers)
    assert error_of(r)["field"] == "method"
    r = client.post(
        f"{API}/sources",
        json={**base, "params": {"fuel": "柴油"}, "amount_field": "amount_t"},
        headers=headers,
    )
    assert error_of(r)["field"] == "amount_field"
    r = client.post(
        f"{API}/sources",
        json={**base, "org_id": world.org["A1"], "params": {"fuel": "柴油"}},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == 1
    assert r.json()["params"] == {"fuel": "柴油", "unit": "t"}
    r = client.post(
        f"{API}/sources",
        json={**base, "code": "X2", "org_id": world.org["P1"], "params": {"fuel": "柴油"}},
        headers=world.auth("park"),
    )
    assert error_of(r)["field"] == "org_id"


def test_meters_link_to_sources_of_their_enterprise(client: TestClient, world: World) -> None:
    headers = world.auth("park")
    base = {
        "org_id": world.org["A1-F1"],
        "code": "M-NEW",
        "name_zh": "电表",
        "carrier": "electricity",
        "unit": "kWh",
    }
    r = client.post(
        f"{API}/meters", json={**base, "source_id": world.source["B1-S-COAL"]}, headers=headers
    )
    assert error_of(r)["field"] == "source_id"
    r = client.post(
        f"{API}/meters",
        json={**base, "source_id": world.source["A1-S-EL"], "multiplier": 40},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["multiplier"] == 40
    listed = client.get(f"{API}/meters?source_id={world.source['A1-S-EL']}", headers=headers).json()
    assert {m["code"] for m in listed["items"]} == {"A1-S-EL-M", "M-NEW"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"period_start": "2024-01-15", "period_end": "2024-02-01"}, "period_start"),
        ({"period_start": "2024-01-01", "period_end": "2024-01-31"}, "period_end"),
        ({"period_start": "2024-03-01", "period_end": "2024-02-01"}, "period_end"),
        ({"period_start": "2024-12-01", "period_end": "2025-02-01"}, "period_end"),
        ({"amount": -1}, "amount"),
        ({"amount": "12"}, "amount"),
        ({"unit": "kg"}, "unit"),
        ({"unit": "parsec"}, "unit"),
        ({"period_start": "1995-01-01", "period_end": "1995-02-01"}, "period_start"),
        ({"source_id": 999999}, "source_id"),
    ],
)
def test_bad_activity_names_the_field_and_stores_nothing(
    client: TestClient, world: World, change: dict[str, Any], field: str
) -> None:
    headers = world.auth("dataentry")
    body = {
        "source_id": world.source["A1-S-EL"],
        "period_start": "2024-01-01",
        "period_end": "2024-02-01",
        "amount": 100.0,
        **change,
    }
    before = client.get(f"{API}/activity?limit=1", headers=headers).json()["total"]
    r = client.post(f"{API}/activity", json=body, headers=headers)
    assert r.status_code in (404, 422), r.text
    assert error_of(r)["field"] == field
    assert client.get(f"{API}/activity?limit=1", headers=headers).json()["total"] == before


def test_duplicate_activity_is_a_conflict(client: TestClient, world: World) -> None:
    r = client.post(
        f"{API}/activity",
        json={
            "source_id": world.source["A1-S-EL"],
            "period_start": "2025-03-01",
            "period_end": "2025-04-01",
            "amount": 1,
        },
        headers=world.auth("dataentry"),
    )
    assert r.status_code == 409
    assert (
        "PUT" in error_of(r)["message"]
        or "PATCH" in error_of(r)["message"]
        or "correct" in error_of(r)["message"]
    )


def _inventory(client: TestClient, world: World, code: str, who: str = "admin") -> dict[str, Any]:
    r = client.get(
        f"{API}/organizations/{world.org[code]}/inventory?period=2025", headers=world.auth(who)
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_correction_recomputes_the_tree_and_explains_the_change(
    client: TestClient, world: World
) -> None:
    before_park = _inventory(client, world, "P1")
    before_foreign = _inventory(client, world, "C1")
    march = world.activity["A1-S-EL/03"]
    old = client.get(f"{API}/activity/{march}", headers=world.auth("dataentry")).json()
    r = client.patch(
        f"{API}/activity/{march}",
        json={"amount": old["amount"] + 100},
        headers=world.auth("dataentry"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["activity"]["version"] == 2
    recomputed = {(x["org_id"], x["period"]) for x in body["recomputed"]}
    # The park's and region's inventories followed too, but the answer lists only what the
    # caller (data entry on A1) may read.
    assert recomputed == {(world.org["A1"], "2025")}
    after_park = _inventory(client, world, "P1")
    assert after_park["version"] == before_park["version"] + 1
    assert _inventory(client, world, "C1") == before_foreign
    # 100 MWh more at the Jiangsu grid factor the source uses
    factor = next(
        f["value"]
        for f in client.get(
            f"{API}/organizations/{world.org['A1']}/inventory/lineage?period=2025",
            headers=world.auth("viewer"),
        ).json()["items"][0]["factors"]
        if f["key"] == "cn.electricity.grid_average"
    )
    assert after_park["co2e_t"] - before_park["co2e_t"] == pytest.approx(100 * factor, rel=1e-9)
    diff = client.get(
        f"{API}/organizations/{world.org['P1']}/inventory/diff?period=2025",
        headers=world.auth("regulator"),
    ).json()
    assert (
        diff["from_version"] == before_park["version"]
        and diff["to_version"] == after_park["version"]
    )
    (changed,) = diff["sources"]
    assert changed["code"] == "A1-S-EL"
    assert changed["delta_co2e_t"] == pytest.approx(100 * factor, rel=1e-9)
    (reason,) = changed["reasons"]
    assert reason["kind"] == "activity_changed"
    assert reason["activity_id"] == march
    assert reason["new_amount"] - reason["old_amount"] == pytest.approx(100)
    versions = client.get(
        f"{API}/organizations/{world.org['P1']}/inventory/versions?period=2025",
        headers=world.auth("regulator"),
    ).json()
    assert [v["status"] for v in versions] == ["current", "superseded"]
    old_version = client.get(
        f"{API}/organizations/{world.org['P1']}/inventory?period=2025&version={before_park['version']}",
        headers=world.auth("regulator"),
    ).json()
    assert old_version == before_park


def test_deleting_and_adding_activity_is_explained(client: TestClient, world: World) -> None:
    headers = world.auth("dataentry")
    r = client.delete(f"{API}/activity/{world.activity['A1-S-GAS/12']}", headers=headers)
    assert r.status_code == 200, r.text
    (a1,) = [x for x in r.json()["recomputed"] if x["org_id"] == world.org["A1"]]
    assert a1["diff"]["sources"][0]["reasons"][0]["kind"] == "activity_removed"
    r = client.post(
        f"{API}/activity",
        json={
            "source_id": world.source["A1-S-GAS"],
            "period_start": "2025-12-01",
            "period_end": "2026-01-01",
            "amount": 1.5,
            "unit": "1e4Nm3",
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    (a1,) = [x for x in r.json()["recomputed"] if x["org_id"] == world.org["A1"]]
    assert a1["diff"]["sources"][0]["reasons"][0]["kind"] == "activity_added"


def test_a_factor_change_is_explained_by_the_factor(
    db: Database, world: World, library: FactorLibrary
) -> None:
    """A new library (a corrected grid factor) recomputes to a diff naming factor and versions."""
    changed = FactorLibrary.__new__(FactorLibrary)
    changed.__dict__.update(library.__dict__)
    vintages = dict(library._vintages)
    ident = next(k for k in vintages if k[0] == "cn.electricity.grid_average" and k[2] == "CN-JS")
    vintages[ident] = tuple(
        dataclasses.replace(f, value=f.value * 1.1)
        if f.valid_to is not None and f.valid_to.year == 2024
        else f
        for f in vintages[ident]
    )
    changed._vintages = vintages
    changed.version = library.version + "-corrected"
    app = create_app(Settings(database_url=db.url), library=changed)
    with TestClient(app) as client:
        stale = client.get(f"{API}/inventories?stale=true", headers=world.auth("admin")).json()
        assert stale["total"] == 6
        r = client.post(
            f"{API}/organizations/{world.org['A1']}/inventory/recompute",
            json={"period": "2025", "reason": "grid factor corrected"},
            headers=world.auth("orgadmin"),
        )
        assert r.status_code == 200, r.text
        diff = r.json()["diff"]
        assert diff["reasons"][0] == {
            "kind": "library_version",
            "old": library.version,
            "new": changed.version,
        }
        (source,) = diff["sources"]
        assert source["code"] == "A1-S-EL"
        factor_reason = next(x for x in source["reasons"] if x["kind"] == "factor_changed")
        assert factor_reason["key"] == "cn.electricity.grid_average"
        assert factor_reason["new"][0]["value"] == pytest.approx(
            factor_reason["old"][0]["value"] * 1.1
        )
        assert source["new_co2e_t"] == pytest.approx(source["old_co2e_t"] * 1.1, rel=1e-12)
        assert r.json()["inventory"]["reason"] == "grid factor corrected"
    app.state.shuangtan.engine.dispose()


# --- inventories --------------------------------------------------------------------------


def test_inventory_document_is_consistent(client: TestClient, world: World) -> None:
    park = _inventory(client, world, "P1", who="regulator")
    assert park["organization"]["code"] == "P1"
    assert park["period_start"] == "2025-01-01" and park["period_end"] == "2026-01-01"
    assert park["co2e_t"] == pytest.approx(
        math.fsum(s["co2e_t"] for s in park["by_source"]), rel=1e-14
    )
    assert park["co2e_t"] == pytest.approx(math.fsum(park["by_scope"].values()), rel=1e-14)
    assert park["energy_tce"] == pytest.approx(
        math.fsum(s["energy_tce"] or 0 for s in park["by_source"]), rel=1e-14
    )
    children = {c["code"]: c for c in park["children"]}
    assert set(children) == {"A1", "B1"}
    a1 = _inventory(client, world, "A1")
    assert children["A1"]["co2e_t"] == a1["co2e_t"]
    assert children["A1"]["children"][0]["code"] == "A1-F1"
    assert all(s["months"] == 12 for s in park["by_source"])
    assert any("latest_prior" in w for w in park["warnings"])


@pytest.mark.parametrize("period", ["2025-Q1", "2025-03"])
def test_quarter_and_month_inventories(client: TestClient, world: World, period: str) -> None:
    r = client.post(
        f"{API}/organizations/{world.org['A1']}/inventory/recompute",
        json={"period": period},
        headers=world.auth("dataentry"),
    )
    assert r.status_code == 200, r.text
    inv = r.json()["inventory"]
    months = 3 if "Q" in period else 1
    assert all(s["months"] == months for s in inv["by_source"])
    assert r.json()["diff"] is None


@pytest.mark.parametrize("period", ["25", "2025-13", "2025-Q5", "1989", "abcd", "2025-1"])
def test_bad_periods(client: TestClient, world: World, period: str) -> None:
    r = client.get(
        f"{API}/organizations/{world.org['A1']}/inventory?period={period}",
        headers=world.auth("viewer"),
    )
    assert r.status_code == 422
    assert error_of(r)["field"] == "period"


def test_calc_records_reproduce_the_inventory(client: TestClient, world: World) -> None:
    headers = world.auth("viewer")
    r = client.get(
        f"{API}/organizations/{world.org['A1']}/calc-records?period=2025", headers=headers
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    out = client.post(
        f"{API}/calc",
        content=r.content,
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )
    results = [orjson.loads(line) for line in out.content.splitlines()]
    assert not [x for x in results if "error" in x]
    inventory = _inventory(client, world, "A1", who="viewer")
    co2e = math.fsum(x["co2e_t"] for x in results if x["method"] != "energy_tce")
    tce = math.fsum(x["tce_t"] for x in results if x["method"] == "energy_tce")
    assert co2e == pytest.approx(inventory["co2e_t"], rel=1e-13)
    assert tce == pytest.approx(inventory["energy_tce"], rel=1e-13)


# --- calc and factors ---------------------------------------------------------------------


def test_calc_json_and_errors_in_place(client: TestClient, world: World) -> None:
    headers = world.auth("viewer")
    records = [
        {
            "id": "a",
            "method": "electricity",
            "amount": 1000,
            "unit": "MWh",
            "region": "河北",
            "year": 2022,
        },
        {"id": "b", "method": "electricity", "amount": "lots", "unit": "MWh"},
    ]
    r = client.post(f"{API}/calc", json={"records": records}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["failed"] == 1
    assert body["results"][0]["co2e_t"] == 725.2
    assert body["results"][1] == {
        "id": "b",
        "error": {"field": "amount", "message": "must be a number"},
    }


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        (b"{not json", "application/json", 422, "$"),
        (b'{"records": 3}', "application/json", 422, "records"),
        (b'{"rows": []}', "application/json", 422, "$"),
        (b"a,b,c", "text/csv", 422, "Content-Type"),
        (
            b'{"records": [' + b",".join([b"{}"] * 100_001) + b"]}",
            "application/json",
            413,
            "records",
        ),
    ],
)
def test_calc_bad_bodies(
    client: TestClient, world: World, content: bytes, content_type: str, status: int, field: str
) -> None:
    r = client.post(
        f"{API}/calc",
        content=content,
        headers={**world.auth("viewer"), "Content-Type": content_type},
    )
    assert r.status_code == status
    assert error_of(r)["field"] == field


def test_factor_search(client: TestClient, world: World, library: FactorLibrary) -> None:
    headers = world.auth("viewer")
    r = client.get(
        f"{API}/factors?key=cn.electricity.grid_average&region=CN-JS&year=2022", headers=headers
    ).json()
    assert r["total"] == 1
    (factor,) = r["items"]
    assert factor["valid_from"] == "2022-01-01" and factor["source"]
    assert r["library_version"] == library.version
    q = client.get(f"{API}/factors?q=GB/T 32151&limit=5", headers=headers).json()
    assert q["total"] > 5 and len(q["items"]) == 5
    assert client.get(f"{API}/factors", headers=headers).json()["total"] == len(library)


def test_factor_search_by_chinese_names(client: TestClient, world: World) -> None:
    headers = world.auth("viewer")
    diesel = client.get(f"{API}/factors?q=柴油&limit=1000", headers=headers).json()
    assert diesel["total"] > 0
    assert all("diesel" in f["key"] for f in diesel["items"])
    by_name = client.get(
        f"{API}/factors?region=江苏&key=cn.electricity.grid_average", headers=headers
    )
    by_code = client.get(
        f"{API}/factors?region=CN-JS&key=cn.electricity.grid_average", headers=headers
    )
    assert by_name.json()["total"] == by_code.json()["total"] > 0


def test_front_page_says_where_things_are_and_loads_nothing_remote(client: TestClient) -> None:
    body = client.get("/api").json()
    assert body["openapi"] == "/api/v1/openapi.json"
    assert client.get(body["openapi"]).status_code == 200
    # FastAPI's Swagger UI page would load scripts from a CDN: it is not served.
    assert client.get("/api/v1/docs").status_code == 404

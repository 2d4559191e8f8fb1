"""A park's inventory is the sum of its enterprises', and equals ``shuangtan calc`` on its data.

The property test builds random trees of enterprises, facilities, sources and monthly data and
checks the roll-up in the pure service; the demo tests check the same on the demo park as
stored in SQLite and PostgreSQL and served by the API, and against the CLI.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from shuangtan.adapters.db.demo import DEMO_PASSWORD, load_demo
from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import upgrade
from shuangtan.adapters.settings import Settings
from shuangtan.factors import FactorLibrary
from shuangtan.services.inventories import (
    ActivityRow,
    OrgNode,
    SourceRow,
    compute_inventory,
    month_bounds,
    parse_period,
)
from shuangtan.web.app import create_app
from tests.platform_fixtures import BACKENDS, new_database

API = "/api/v1"

TEMPLATES: list[tuple[str, str, dict[str, Any], str, str, str | None]] = [
    # method, category, params, amount field, unit, tce carrier
    (
        "electricity",
        "purchased_electricity",
        {"region": "江苏", "unit": "MWh"},
        "amount",
        "MWh",
        "electricity",
    ),
    (
        "fuel_combustion",
        "stationary_combustion",
        {"fuel": "烟煤", "unit": "t"},
        "amount",
        "t",
        "raw_coal",
    ),
    (
        "fuel_combustion",
        "mobile_combustion",
        {"fuel": "柴油", "unit": "t"},
        "amount",
        "t",
        "diesel",
    ),
    ("gas_release", "fugitive", {"gas": "SF6", "unit": "kg"}, "amount", "kg", None),
    ("carbonate", "process", {"carbonate": "CaCO3"}, "amount_t", "t", None),
]

amounts = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def trees(draw: st.DrawFn) -> tuple[OrgNode, list[OrgNode], list[SourceRow], list[ActivityRow]]:
    park = OrgNode(1, None, "/1/", "P", "park", "园区", "Park")
    nodes = [park]
    sources: list[SourceRow] = []
    activity: list[ActivityRow] = []
    next_id = 2
    for e in range(draw(st.integers(1, 5))):
        enterprise = OrgNode(
            next_id, 1, f"/1/{next_id}/", f"E{e}", "enterprise", f"企业{e}", f"E{e}"
        )
        next_id += 1
        nodes.append(enterprise)
        owners = [enterprise]
        for f in range(draw(st.integers(0, 2))):
            facility = OrgNode(
                next_id,
                enterprise.id,
                f"{enterprise.path}{next_id}/",
                f"E{e}F{f}",
                "facility",
                "厂区",
                "F",
            )
            next_id += 1
            nodes.append(facility)
            owners.append(facility)
        for s in range(draw(st.integers(0, 3))):
            method, category, params, field, unit, carrier = draw(st.sampled_from(TEMPLATES))
            owner = draw(st.sampled_from(owners))
            source = SourceRow(
                id=len(sources) + 1,
                code=f"E{e}-S{s}",
                org_id=owner.id,
                name_zh="源",
                name_en="source",
                scope=2 if method == "electricity" else 1,
                category=category,
                method=method,
                params=params,
                amount_field=field,
                unit=unit,
                tce_carrier=carrier,
            )
            sources.append(source)
            for month in draw(st.sets(st.integers(1, 12), max_size=12)):
                start, end = month_bounds(2022, month)
                activity.append(
                    ActivityRow(len(activity) + 1, source.id, start, end, draw(amounts), unit)
                )
    return park, nodes, sources, activity


def _subtree(nodes: list[OrgNode], root: OrgNode) -> list[OrgNode]:
    return [n for n in nodes if n.path.startswith(root.path)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_park_equals_the_sum_of_its_enterprises(
    library: FactorLibrary,
    tree: tuple[OrgNode, list[OrgNode], list[SourceRow], list[ActivityRow]],
) -> None:
    park, nodes, sources, activity = tree
    period = parse_period("2022")
    whole = compute_inventory(park, nodes, sources, activity, period, library)
    parts = []
    for enterprise in (n for n in nodes if n.kind == "enterprise"):
        sub = _subtree(nodes, enterprise)
        ids = {n.id for n in sub}
        own = [s for s in sources if s.org_id in ids]
        parts.append(compute_inventory(enterprise, sub, own, activity, period, library))
    assert whole.co2e_t == pytest.approx(math.fsum(p.co2e_t for p in parts), rel=1e-12, abs=1e-9)
    assert whole.energy_tce == pytest.approx(
        math.fsum(p.energy_tce for p in parts), rel=1e-12, abs=1e-9
    )
    for key in ("by_scope", "by_gas", "by_category"):
        merged: dict[str, list[float]] = {}
        for p in parts:
            for name, value in p.summary[key].items():
                merged.setdefault(name, []).append(value)
        assert set(whole.summary[key]) == set(merged)
        for name, values in merged.items():
            assert whole.summary[key][name] == pytest.approx(math.fsum(values), rel=1e-12, abs=1e-9)
    # The park document's children are exactly the enterprises' own documents' totals.
    children = {c["code"]: c for c in whole.summary["children"]}
    for p in parts:
        assert children[p.org.code]["co2e_t"] == p.summary["co2e_t"]
        assert children[p.org.code]["energy_tce"] == p.summary["energy_tce"]
        assert children[p.org.code]["by_scope"] == p.summary["by_scope"]


# --- the demo park on both backends -------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def demo_client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, library: FactorLibrary
) -> Iterator[tuple[TestClient, dict[str, str], int]]:
    url, drop = new_database(request.param, tmp_path_factory.mktemp("demo"))
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        loaded = load_demo(session, library)
        session.commit()
    engine.dispose()
    app = create_app(Settings(database_url=url), library=library)
    with TestClient(app) as client:
        token = client.post(
            f"{API}/auth/token", data={"username": "park", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        yield client, {"Authorization": f"Bearer {token}"}, loaded.park_id
    app.state.shuangtan.engine.dispose()
    drop()


@pytest.mark.parametrize("year", [2024, 2025])
def test_demo_park_is_the_sum_of_its_enterprises(
    demo_client: tuple[TestClient, dict[str, str], int], year: int
) -> None:
    client, headers, park_id = demo_client
    park = client.get(
        f"{API}/organizations/{park_id}/inventory?period={year}", headers=headers
    ).json()
    enterprises = client.get(
        f"{API}/organizations?kind=enterprise&parent_id={park_id}&limit=1000", headers=headers
    ).json()["items"]
    assert len(enterprises) >= 20
    totals = [
        client.get(f"{API}/organizations/{e['id']}/inventory?period={year}", headers=headers).json()
        for e in enterprises
    ]
    assert park["co2e_t"] == pytest.approx(math.fsum(t["co2e_t"] for t in totals), rel=1e-12)
    assert park["energy_tce"] == pytest.approx(
        math.fsum(t["energy_tce"] for t in totals), rel=1e-12
    )
    for scope in park["by_scope"]:
        assert park["by_scope"][scope] == pytest.approx(
            math.fsum(t["by_scope"].get(scope, 0.0) for t in totals), rel=1e-12
        )
    # a park of realistic size: 1–8 MtCO2e a year
    assert 1e6 < park["co2e_t"] < 8e6


def test_demo_park_equals_shuangtan_calc(
    demo_client: tuple[TestClient, dict[str, str], int], tmp_path: Any
) -> None:
    client, headers, park_id = demo_client
    records = client.get(f"{API}/organizations/{park_id}/calc-records?period=2025", headers=headers)
    assert records.status_code == 200
    results = _calc(records.content, tmp_path / "park-2025.jsonl")
    assert len(results) == len(records.content.splitlines())
    park = client.get(
        f"{API}/organizations/{park_id}/inventory?period=2025", headers=headers
    ).json()
    co2e = math.fsum(r["co2e_t"] for r in results if r["method"] != "energy_tce")
    tce = math.fsum(r["tce_t"] for r in results if r["method"] == "energy_tce")
    assert co2e == pytest.approx(park["co2e_t"], rel=1e-12)
    assert tce == pytest.approx(park["energy_tce"], rel=1e-12)


def _calc(lines: bytes, path: Any) -> list[dict[str, Any]]:
    """``shuangtan calc`` in a subprocess, as a user runs it."""
    path.write_bytes(lines)
    done = subprocess.run(
        [sys.executable, "-m", "shuangtan", "calc", str(path)], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return [orjson.loads(line) for line in done.stdout.splitlines()]

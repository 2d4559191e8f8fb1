"""The sample enterprise's inventory: totals are exact sums of what ``shuangtan calc`` gives."""

from __future__ import annotations

import math

import orjson

from shuangtan.services.inventory import compute_inventory, inventory_records, load_sample
from tests.conftest import run_lines


def test_inventory_equals_the_batch_contract_over_the_same_records() -> None:
    sample = load_sample()
    inventory = compute_inventory(sample)
    records = [record for _, record in inventory_records(sample)]
    out = [orjson.loads(x) for x in run_lines([orjson.dumps(r) for r in records]).splitlines()]
    assert all("error" not in o for o in out)
    emissions = [o["co2e_t"] for o in out if o["method"] != "energy_tce"]
    # Batch output is presented at 15 significant digits; the inventory sums raw floats.
    assert inventory.co2e_t == math.fsum(s.co2e_t for s in inventory.sources)
    assert math.isclose(inventory.co2e_t, math.fsum(emissions), rel_tol=1e-13)


def test_scopes_and_gases_add_up() -> None:
    inventory = compute_inventory(load_sample())
    assert math.isclose(math.fsum(inventory.by_scope().values()), inventory.co2e_t, rel_tol=1e-15)
    assert set(inventory.by_scope()) == {1, 2}
    assert {"CO2", "HFC-134a", "SF6"} == set(inventory.by_gas())
    steam = next(s for s in inventory.sources if s.id == "S8")
    assert steam.tce_t is not None
    assert steam.tce_t > 0
    # Every monthly result keeps its lineage.
    for source in inventory.sources:
        assert len(source.results) == 12
        assert all(r.factors for r in source.results if r.gases_t.get("CO2", 1) != 0)

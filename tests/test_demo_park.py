"""The demo park: deterministic, a well-formed tree, and every record computes plausibly."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from shuangtan.domain.platform import (
    ALLOWED_PARENTS,
    CATEGORY_SCOPE,
    SECTORS,
    Carrier,
    Category,
    MeterKind,
    OrgKind,
)
from shuangtan.domain.results import CalcResult
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate
from shuangtan.services.demo_park import (
    DemoActivity,
    DemoOrg,
    DemoPark,
    DemoSource,
    build_demo_park,
)
from shuangtan.services.requests import METHODS

MONTHS = [(year, month) for year in (2024, 2025) for month in range(1, 13)]


def emission_record(source: DemoSource, a: DemoActivity) -> dict[str, Any]:
    return {
        "id": f"{source.code}-{a.year}-{a.month:02d}",
        "method": source.method,
        "year": a.year,
        "gwp": "AR6",
        **source.params,
        source.amount_field: a.amount,
    }


@dataclass
class Computed:
    source: DemoSource
    activity: DemoActivity
    result: CalcResult
    tce_t: float | None


@pytest.fixture(scope="module")
def park() -> DemoPark:
    return build_demo_park()


@pytest.fixture(scope="module")
def computed(park: DemoPark, library: FactorLibrary) -> list[Computed]:
    sources = {s.code: s for s in park.sources}
    out = []
    for a in park.activity:
        source = sources[a.source_code]
        result = calculate(emission_record(source, a), library)
        tce = None
        carrier: str | None = source.tce_carrier
        amount, unit = a.amount, source.unit
        if source.tce_from_energy:
            assert result.energy_gj is not None
            amount, carrier, unit = result.energy_gj, "heat", "GJ"
        if carrier is not None:
            energy = {
                "id": f"{source.code}-{a.year}-{a.month:02d}-tce",
                "method": "energy_tce",
                "carrier": carrier,
                "amount": amount,
                "unit": unit,
                "year": a.year,
            }
            tce = calculate(energy, library).tce_t
        out.append(Computed(source, a, result, tce))
    return out


def enterprise_of(park: DemoPark) -> dict[str, DemoOrg]:
    """Each enterprise and facility code → its enterprise."""
    orgs = {o.code: o for o in park.orgs}
    out = {}
    for org in park.orgs:
        if org.kind == OrgKind.FACILITY:
            assert org.parent_code is not None
            out[org.code] = orgs[org.parent_code]
        elif org.kind == OrgKind.ENTERPRISE:
            out[org.code] = org
    return out


def totals(park: DemoPark, computed: list[Computed]) -> dict[tuple[str, int], float]:
    """co2e per (enterprise code, year), net of exports. [tCO2e]"""
    owner = enterprise_of(park)
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for c in computed:
        groups[owner[c.source.org_code].code, c.activity.year].append(c.result.co2e_t)
    return {key: math.fsum(values) for key, values in groups.items()}


def electricity_mwh(park: DemoPark) -> dict[tuple[str, int], float]:
    owner = enterprise_of(park)
    sources = {s.code: s for s in park.sources}
    out: dict[tuple[str, int], float] = defaultdict(float)
    for a in park.activity:
        source = sources[a.source_code]
        if source.method == "electricity":
            assert source.unit == "MWh"
            out[owner[source.org_code].code, a.year] += a.amount
    return out


# --- determinism -----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_park() -> None:
    assert build_demo_park(7) == build_demo_park(7)
    assert build_demo_park() == build_demo_park(2026)


def test_another_seed_changes_amounts_but_not_codes() -> None:
    a, b = build_demo_park(1), build_demo_park(2)
    assert a.orgs == b.orgs
    assert a.sources == b.sources
    assert a.meters == b.meters
    assert a.years == b.years
    keys = [(x.source_code, x.year, x.month) for x in a.activity]
    assert keys == [(x.source_code, x.year, x.month) for x in b.activity]
    changed = sum(x.amount != y.amount for x, y in zip(a.activity, b.activity, strict=True))
    assert changed > 0.9 * len(a.activity)


# --- structure -------------------------------------------------------------------------------


def test_the_tree(park: DemoPark) -> None:
    codes = [o.code for o in park.orgs]
    assert len(codes) == len(set(codes))
    assert all(code.isascii() and code for code in codes)
    seen: dict[str, DemoOrg] = {}
    for org in park.orgs:
        kind = OrgKind(org.kind)
        parent = None if org.parent_code is None else seen[org.parent_code]  # parents first
        assert (None if parent is None else OrgKind(parent.kind)) in ALLOWED_PARENTS[kind]
        assert org.region == "江苏"
        if kind not in (OrgKind.REGION, OrgKind.FACILITY):
            assert "示范" in org.name_zh
        assert org.name_en
        assert org.address_zh.startswith("江苏省")
        if kind in (OrgKind.ENTERPRISE, OrgKind.FACILITY):
            assert org.sector in SECTORS
        else:
            assert org.sector is None
        seen[org.code] = org
    by_code = {o.code: o for o in park.orgs}
    assert by_code["JS"].kind == OrgKind.REGION
    assert by_code["JS-SGX"].kind == OrgKind.PARK
    assert by_code["JS-SGX"].name_zh == "苏州示范高新技术产业开发区"
    verifier = by_code["VB-01"]
    assert (verifier.kind, verifier.parent_code) == (OrgKind.VERIFIER, None)
    enterprises = [o for o in park.orgs if o.kind == OrgKind.ENTERPRISE]
    assert len(enterprises) >= 20
    assert all(o.parent_code == "JS-SGX" for o in enterprises)
    for enterprise in enterprises:
        facilities = [o for o in park.orgs if o.parent_code == enterprise.code]
        assert 1 <= len(facilities) <= 3
        assert all(f.sector == enterprise.sector for f in facilities)
    sectors = {o.sector for o in enterprises}
    assert len(sectors) >= 8
    assert {"power", "cement", "data_centre", "logistics", "offices"} <= sectors
    assert sectors & {"electronics", "semiconductors"}


def check_digits_valid(code: str) -> bool:
    """统一社会信用代码: GB 11714 (organisation code) and GB 32100 check digits."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    if len(code) != 18 or any(c not in alphabet for c in code):
        return False
    body = code[8:16]
    org = (
        11 - sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    )
    if code[16] != {10: "X", 11: "0"}.get(org, str(org)):
        return False
    weights = [pow(3, i, 31) for i in range(17)]
    total = sum(alphabet.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    return code[17] == alphabet[(31 - total % 31) % 31]


def test_enterprises_have_credit_codes_and_economics(park: DemoPark) -> None:
    credit_codes = []
    for org in park.orgs:
        if org.kind != OrgKind.ENTERPRISE:
            assert org.credit_code is None
            assert org.economics == ()
            continue
        assert org.credit_code is not None
        assert check_digits_valid(org.credit_code), org.credit_code
        credit_codes.append(org.credit_code)
        assert tuple(e.year for e in org.economics) == park.years == (2024, 2025)
        for e in org.economics:
            assert 0 < e.value_added_10k_cny < e.output_value_10k_cny
            assert e.employees > 0
            assert e.floor_area_m2 > 0
            assert e.production
            assert all(zh and en and amount > 0 and unit for zh, en, amount, unit in e.production)
    assert len(credit_codes) == len(set(credit_codes))


def test_a_corrupted_credit_code_is_detected() -> None:
    assert check_digits_valid("91350100M000100Y43")  # the GB 32100 example
    assert not check_digits_valid("91350100M000100Y44")


def test_sources(park: DemoPark) -> None:
    orgs = {o.code: o for o in park.orgs}
    codes = [s.code for s in park.sources]
    assert len(codes) == len(set(codes))
    for s in park.sources:
        assert s.code.isascii()
        assert orgs[s.org_code].kind in (OrgKind.FACILITY, OrgKind.ENTERPRISE)
        assert s.method in METHODS
        assert s.method != "energy_tce"
        category = Category(s.category)
        assert not {"id", "method", "year", "gwp", s.amount_field} & set(s.params)
        if "unit" in s.params:
            assert s.params["unit"] == s.unit
        if s.method == "electricity":
            assert CATEGORY_SCOPE[category] == 2
            assert category is Category.PURCHASED_ELECTRICITY
            assert s.params["region"] == "江苏"
            assert s.params["fallback"] == "latest_prior"
            assert s.tce_carrier == "electricity"
        if s.tce_from_energy:
            assert (s.method, s.tce_carrier, s.amount_field) == ("heat", "heat", "steam_t")
        expected_field = {"carbonate": "amount_t"}.get(s.method, "amount")
        assert s.amount_field in (expected_field, "steam_t")


def test_each_source_has_24_months(park: DemoPark) -> None:
    months: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for a in park.activity:
        months[a.source_code].append((a.year, a.month))
        assert a.amount > 0
        assert math.isfinite(a.amount)
    assert set(months) == {s.code for s in park.sources}
    for code, got in months.items():
        assert sorted(got) == MONTHS, code


# Carrier and unit of a meter that fits each energy source.
METER_FIT = {
    "electricity": {(Carrier.ELECTRICITY, "kWh")},
    "raw_coal": {(Carrier.COAL, "t")},
    "natural_gas": {(Carrier.NATURAL_GAS, "Nm3")},
    "diesel": {(Carrier.OIL, "t")},
    "gasoline": {(Carrier.OIL, "t")},
    "heat": {(Carrier.HEAT, "GJ"), (Carrier.STEAM, "t")},
}


def test_meters(park: DemoPark) -> None:
    orgs = {o.code: o for o in park.orgs}
    sources = {s.code: s for s in park.sources}
    codes = [m.code for m in park.meters]
    assert len(codes) == len(set(codes))
    by_source: dict[str, list[tuple[Carrier, str]]] = defaultdict(list)
    for m in park.meters:
        assert orgs[m.org_code].kind in (OrgKind.FACILITY, OrgKind.ENTERPRISE)
        carrier = Carrier(m.carrier)
        MeterKind(m.kind)
        assert m.multiplier > 0
        if m.source_code is None:
            assert (carrier, m.unit) == (Carrier.WATER, "m3")
        else:
            assert sources[m.source_code].org_code == m.org_code
            by_source[m.source_code].append((carrier, m.unit))
    for s in park.sources:
        if s.tce_carrier is not None:
            assert set(by_source[s.code]) & METER_FIT[s.tce_carrier], s.code
    assert {m.kind for m in park.meters} == {"interval", "cumulative"}
    assert {m.multiplier for m in park.meters if m.carrier == Carrier.ELECTRICITY} >= {1, 40, 200}
    owner = enterprise_of(park)
    per_enterprise: dict[str, int] = defaultdict(int)
    for m in park.meters:
        per_enterprise[owner[m.org_code].code] += 1
    enterprises = [o.code for o in park.orgs if o.kind == OrgKind.ENTERPRISE]
    assert all(3 <= per_enterprise[e] <= 8 for e in enterprises), dict(per_enterprise)


# --- calculation -----------------------------------------------------------------------------


def test_every_record_computes(park: DemoPark, computed: list[Computed]) -> None:
    assert len(computed) == 24 * len(park.sources)
    for c in computed:
        co2e = c.result.co2e_t
        assert math.isfinite(co2e)
        if c.source.params.get("exported"):
            assert co2e < 0
            assert c.tce_t is None
        else:
            assert co2e >= 0, c.source.code
        if c.source.tce_carrier is not None:
            assert c.tce_t is not None
            assert math.isfinite(c.tce_t)
            assert c.tce_t > 0


def test_2024_and_2025_electricity_use_the_latest_prior_grid_factor(
    computed: list[Computed],
) -> None:
    electricity = [c for c in computed if c.source.method == "electricity"]
    assert electricity
    for c in electricity:
        assert any("latest_prior" in w for w in c.result.warnings)
        assert c.result.factors


def test_green_certificates_lower_market_based_emissions(computed: list[Computed]) -> None:
    market = [c for c in computed if c.source.params.get("basis") == "market"]
    assert market
    for c in market:
        green = c.source.params["green_amount"]
        assert isinstance(green, float)
        assert 0 < green <= c.activity.amount
        location_factor = 0.5827  # Jiangsu 2023, the latest prior vintage
        assert c.result.co2e_t < c.activity.amount * location_factor


def test_gases_released(computed: list[Computed]) -> None:
    gases: dict[Category, set[str]] = defaultdict(set)
    for c in computed:
        if c.source.method == "gas_release":
            gases[Category(c.source.category)] |= set(c.result.gases_t)
    assert {"HFC-134a", "HFC-32", "HFC-125"} <= gases[Category.FUGITIVE]
    assert {"NF3", "CF4", "SF6"} <= gases[Category.PROCESS] | gases[Category.FUGITIVE]


def test_park_total_is_a_few_million_tonnes(park: DemoPark, computed: list[Computed]) -> None:
    by_year: dict[int, list[float]] = defaultdict(list)
    for c in computed:
        by_year[c.activity.year].append(c.result.co2e_t)
    assert set(by_year) == {2024, 2025}
    for values in by_year.values():
        assert 1e6 <= math.fsum(values) <= 8e6


# Plausible annual emissions of one enterprise, net of exported heat. [tCO2e]
BANDS = {
    "power": (3e5, 1.2e6),
    "cement": (6e5, 1.5e6),
    "semiconductors": (5e4, 4e5),
    "data_centre": (3e4, 1e5),
    "offices": (5e2, 5e3),
    "hotel": (1.5e3, 6e3),
}


@pytest.mark.parametrize("sector", sorted(BANDS))
def test_enterprise_emissions_are_plausible_for_the_sector(
    sector: str, park: DemoPark, computed: list[Computed]
) -> None:
    low, high = BANDS[sector]
    by_enterprise = totals(park, computed)
    enterprises = [o for o in park.orgs if o.kind == OrgKind.ENTERPRISE and o.sector == sector]
    assert enterprises
    for org in enterprises:
        for year in park.years:
            assert low <= by_enterprise[org.code, year] <= high, (org.code, year)


# Plausible annual electricity purchases. [MWh]
ELECTRICITY_BANDS = {
    "data_centre": (5e4, 1.5e5),
    "offices": (1e3, 5e3),
    "semiconductors": (1e5, 4e5),
    "hotel": (3e3, 8e3),
}


@pytest.mark.parametrize("sector", sorted(ELECTRICITY_BANDS))
def test_electricity_is_plausible_for_the_sector(sector: str, park: DemoPark) -> None:
    low, high = ELECTRICITY_BANDS[sector]
    mwh = electricity_mwh(park)
    for org in park.orgs:
        if org.kind == OrgKind.ENTERPRISE and org.sector == sector:
            for year in park.years:
                assert low <= mwh[org.code, year] <= high, (org.code, year)


def test_coal_and_clinker_magnitudes(park: DemoPark) -> None:
    sources = {s.code: s for s in park.sources}
    owner = enterprise_of(park)
    coal: dict[str, float] = defaultdict(float)
    limestone: dict[str, float] = defaultdict(float)
    for a in park.activity:
        s = sources[a.source_code]
        sector = owner[s.org_code].sector
        if s.params.get("fuel") == "烟煤" and sector == "power":
            coal[str(a.year)] += a.amount
        if s.method == "carbonate" and sector == "cement":
            limestone[str(a.year)] += a.amount
    assert all(3e5 <= t <= 6e5 for t in coal.values())
    # About 1.27 t of limestone per t of clinker: 1–1.5 Mt clinker.
    assert all(1.27e6 <= t <= 1.9e6 for t in limestone.values())


# --- seasonal shapes -------------------------------------------------------------------------


def monthly(park: DemoPark, source: DemoSource, year: int) -> list[float]:
    return [a.amount for a in park.activity if a.source_code == source.code and a.year == year]


def test_seasonal_shapes(park: DemoPark) -> None:
    owner = enterprise_of(park)

    def sources_of(sector: str, method: str) -> list[DemoSource]:
        return [
            s for s in park.sources if owner[s.org_code].sector == sector and s.method == method
        ]

    for year in park.years:
        # Winter heating in offices, summer cooling in offices and data centres.
        for s in sources_of("offices", "fuel_combustion"):
            m = monthly(park, s, year)
            assert m[0] > 3 * m[6]
        for s in sources_of("offices", "electricity") + sources_of("data_centre", "electricity"):
            m = monthly(park, s, year)
            assert m[7] > m[3]
        # Spring Festival dip in manufacturing (February 2024; late January 2025).
        for s in sources_of("machinery", "electricity"):
            m = monthly(park, s, year)
            assert m[1] < 0.9 * m[2]


def test_some_enterprises_grow_and_some_cut_emissions(
    park: DemoPark, computed: list[Computed]
) -> None:
    by_enterprise = totals(park, computed)
    enterprises = [o.code for o in park.orgs if o.kind == OrgKind.ENTERPRISE]
    change = [by_enterprise[e, 2025] / by_enterprise[e, 2024] for e in enterprises]
    assert any(r > 1.03 for r in change)
    assert any(r < 0.97 for r in change)

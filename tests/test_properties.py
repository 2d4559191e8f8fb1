"""Invariants, by Hypothesis: linearity, CO2e = Σ gas × GWP, location = market without
instruments, and the two engines giving identical output for arbitrary records."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate
from tests.conftest import run_lines

amounts = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
scales = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)

RECORDS = [
    {"method": "fuel_combustion", "fuel": "diesel", "unit": "t", "year": 2022},
    {"method": "fuel_combustion", "fuel": "natural_gas", "unit": "Nm3", "year": 2025},
    {"method": "fuel_combustion", "fuel": "anthracite", "unit": "t", "defaults": "ipcc2006"},
    {"method": "electricity", "unit": "kWh", "region": "广东", "year": 2021},
    {"method": "heat", "year": 2022},
    {"method": "gas_release", "gas": "N2O", "unit": "kg", "gwp": "AR4"},
    {"method": "energy_tce", "carrier": "diesel", "unit": "t"},
]


@pytest.mark.parametrize(
    "template", RECORDS, ids=[r["method"] + str(i) for i, r in enumerate(RECORDS)]
)
@given(amount=amounts, k=scales)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scaling_the_amount_scales_co2e(
    library: FactorLibrary, template: dict[str, Any], amount: float, k: float
) -> None:
    base = calculate({"id": 1, **template, "amount": amount}, library)
    scaled = calculate({"id": 1, **template, "amount": amount * k}, library)
    assert scaled.co2e_t == pytest.approx(base.co2e_t * k, rel=1e-12, abs=1e-300)
    for gas, mass in base.gases_t.items():
        assert scaled.gases_t[gas] == pytest.approx(mass * k, rel=1e-12, abs=1e-300)
    if base.tce_t is not None:
        assert scaled.tce_t == pytest.approx(base.tce_t * k, rel=1e-12, abs=1e-300)


@given(amount=amounts, gwp=st.sampled_from(["SAR", "AR4", "AR5", "AR6"]))
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_co2e_is_the_sum_of_gas_times_gwp(library: FactorLibrary, amount: float, gwp: str) -> None:
    result = calculate(
        {
            "id": 1,
            "method": "fuel_combustion",
            "fuel": "lignite",
            "unit": "t",
            "defaults": "ipcc2006",
            "gwp": gwp,
            "amount": amount,
        },
        library,
    )
    values = library.gwp_set(gwp).values
    expected = math.fsum(
        m * (1.0 if g == "CO2" else values[g].value) for g, m in result.gases_t.items()
    )
    assert result.co2e_t == expected
    assert set(result.gases_t) == {"CO2", "CH4", "N2O"}


@given(
    amount=amounts,
    region=st.sampled_from(["CN", "华北", "江苏", "四川", "CN-GD"]),
    year=st.sampled_from([2021, 2022]),
    unit=st.sampled_from(["kWh", "MWh"]),
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_location_equals_market_without_instruments(
    library: FactorLibrary, amount: float, region: str, year: int, unit: str
) -> None:
    record = {
        "id": 1,
        "method": "electricity",
        "amount": amount,
        "unit": unit,
        "region": region,
        "year": year,
    }
    location = calculate(record, library)
    market = calculate({**record, "basis": "market", "green_amount": 0}, library)
    assert location.co2e_t == market.co2e_t


@given(amount=st.floats(min_value=0, max_value=1e6, allow_nan=False), green=st.floats(0, 1))
@settings(max_examples=60)
def test_green_power_never_increases_market_emissions(amount: float, green: float) -> None:
    record = {
        "id": 1,
        "method": "electricity",
        "amount": amount,
        "unit": "MWh",
        "region": "CN",
        "year": 2023,
        "basis": "market",
        "factor_kind": "residual",
    }
    without = calculate(record)
    with_green = calculate({**record, "green_amount": amount * green})
    assert 0 <= with_green.co2e_t <= without.co2e_t


# Arbitrary records, valid and not, through both engines: byte-identical output.
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e12),
    st.sampled_from(
        [
            "t",
            "kg",
            "MWh",
            "kWh",
            "1e4Nm3",
            "Nm3",
            "GJ",
            "diesel",
            "柴油",
            "天然气",
            "CN",
            "河北",
            "East",
            "SF6",
            "CH4",
            "electricity",
            "AR5",
            "SAR",
            "market",
            "residual",
            "ets",
            "CaCO3",
            "ipcc2006",
            "",
        ]
    ),
)
records = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(0, 10**9), st.text(max_size=5)),
        "method": st.sampled_from(
            [
                "fuel_combustion",
                "electricity",
                "heat",
                "gas_release",
                "energy_tce",
                "carbonate",
                "factor",
                "nope",
            ]
        ),
    },
    optional={
        "amount": values,
        "amount_t": values,
        "unit": values,
        "fuel": values,
        "region": values,
        "year": st.sampled_from([2021, 2022, 2023, 2030, 2022.0, None]),
        "gas": values,
        "carrier": values,
        "carbonate": values,
        "gwp": values,
        "basis": values,
        "green_amount": values,
        "factor_kind": values,
        "exported": values,
        "defaults": values,
    },
)


@given(st.lists(records, min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_vector_and_record_engines_agree(batch: list[dict[str, Any]]) -> None:
    # Repeat each record's shape with other amounts, so the vector engine forms real groups.
    lines = []
    for record in batch:
        lines.append(orjson.dumps(record))
        if isinstance(record.get("amount"), (int, float)):
            for factor in (0, 0.5, 3, 1e5):
                lines.append(orjson.dumps({**record, "amount": record["amount"] * factor}))
    assert run_lines(lines, "vector", chunk_lines=37) == run_lines(lines, "record")

"""The batch contract: output shape, overrides reported as input, and a bad-input corpus."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conftest import calc_one, run_lines

OUTPUT_KEYS = [
    "id",
    "method",
    "co2e_t",
    "gases_t",
    "energy_gj",
    "gwp_set",
    "library_version",
    "factors",
    "warnings",
]


def test_output_shape_in_order() -> None:
    out = calc_one(
        {"id": 7, "method": "electricity", "amount": 1, "unit": "MWh", "region": "CN", "year": 2022}
    )
    assert list(out) == OUTPUT_KEYS
    assert out["id"] == 7
    assert out["gwp_set"] == "AR6"
    factor = out["factors"][0]
    assert {"key", "value", "unit", "source", "source_id", "clause", "status"} <= set(factor)


def test_explicit_parameter_overrides_the_library_and_is_reported() -> None:
    out = calc_one(
        {
            "id": "x",
            "method": "fuel_combustion",
            "fuel": "diesel",
            "amount": 1,
            "unit": "t",
            "ncv": 43.0,
            "year": 2022,
        }
    )
    ncv = next(f for f in out["factors"] if f["key"].endswith("ncv"))
    assert ncv == {
        "key": "input.ncv",
        "value": 43.0,
        "unit": "GJ/t",
        "source": "given in the input",
        "source_id": "input",
        "status": "user",
        "match": "input",
    }
    assert out["energy_gj"] == 43.0


def test_no_year_takes_the_newest_vintage_with_a_warning() -> None:
    out = calc_one(
        {"id": "x", "method": "fuel_combustion", "fuel": "洗精煤", "amount": 1, "unit": "t"}
    )
    assert any("no year given" in w for w in out["warnings"])
    assert all(f.get("match") == "latest" for f in out["factors"])


def test_exported_electricity_is_negative() -> None:
    out = calc_one(
        {
            "id": "x",
            "method": "electricity",
            "amount": 10,
            "unit": "MWh",
            "region": "CN",
            "year": 2022,
            "exported": True,
        }
    )
    assert out["co2e_t"] == -5.366
    assert out["energy_gj"] == -36.0


def test_location_and_market_agree_without_instruments() -> None:
    base = {
        "id": "x",
        "method": "electricity",
        "amount": 1234.5,
        "unit": "MWh",
        "region": "江苏",
        "year": 2022,
    }
    assert calc_one(base)["co2e_t"] == calc_one({**base, "basis": "market"})["co2e_t"]


def test_market_with_average_warns_about_residual_mix() -> None:
    out = calc_one(
        {
            "id": "x",
            "method": "electricity",
            "amount": 100,
            "unit": "MWh",
            "region": "CN",
            "year": 2022,
            "basis": "market",
            "green_amount": 40,
        }
    )
    assert out["co2e_t"] == pytest.approx(60 * 0.5366)
    assert any("residual" in w for w in out["warnings"])


# field, message fragment, record
BAD: list[tuple[str, str, dict[str, Any]]] = [
    (
        "fuel",
        "unknown fuel",
        {"method": "fuel_combustion", "fuel": "unobtainium", "amount": 1, "unit": "t"},
    ),
    ("amount", "≥ 0", {"method": "fuel_combustion", "fuel": "diesel", "amount": -1, "unit": "t"}),
    (
        "unit",
        "unknown unit",
        {"method": "fuel_combustion", "fuel": "diesel", "amount": 1, "unit": "bogus"},
    ),
    ("unit", "is required", {"method": "fuel_combustion", "fuel": "diesel", "amount": 1}),
    ("unit", "per t", {"method": "fuel_combustion", "fuel": "diesel", "amount": 1, "unit": "L"}),
    (
        "amount",
        "must be a number",
        {"method": "electricity", "amount": "100", "unit": "MWh", "region": "CN", "year": 2022},
    ),
    (
        "amount",
        "must be a number",
        {"method": "electricity", "amount": True, "unit": "MWh", "region": "CN", "year": 2022},
    ),
    (
        "year",
        "whole number",
        {"method": "electricity", "amount": 1, "unit": "MWh", "region": "CN", "year": 2022.5},
    ),
    ("year", "is required", {"method": "electricity", "amount": 1, "unit": "MWh", "region": "CN"}),
    (
        "year",
        "valid in 2030",
        {"method": "electricity", "amount": 1, "unit": "MWh", "region": "CN", "year": 2030},
    ),
    (
        "region",
        "unknown region",
        {"method": "electricity", "amount": 1, "unit": "MWh", "region": "Atlantis", "year": 2022},
    ),
    (
        "region",
        "published for CN only",
        {
            "method": "electricity",
            "amount": 1,
            "unit": "MWh",
            "region": "河北",
            "year": 2022,
            "factor_kind": "residual",
        },
    ),
    (
        "green_amount",
        "exceeds",
        {
            "method": "electricity",
            "amount": 1,
            "unit": "MWh",
            "region": "CN",
            "year": 2022,
            "basis": "market",
            "green_amount": 2,
        },
    ),
    (
        "green_amount",
        "basis market",
        {
            "method": "electricity",
            "amount": 1,
            "unit": "MWh",
            "region": "CN",
            "year": 2022,
            "green_amount": 0.5,
        },
    ),
    (
        "basis",
        "must be one of",
        {
            "method": "electricity",
            "amount": 1,
            "unit": "MWh",
            "region": "CN",
            "year": 2022,
            "basis": "vibes",
        },
    ),
    (
        "colour",
        "not a field",
        {
            "method": "electricity",
            "amount": 1,
            "unit": "MWh",
            "region": "CN",
            "year": 2022,
            "colour": "green",
        },
    ),
    ("method", "unknown method", {"method": "alchemy", "amount": 1}),
    ("method", "is required", {"amount": 1}),
    ("id", "is required", {"method": "heat", "amount": 1}),
    (
        "gwp",
        "must be one of",
        {"method": "gas_release", "gas": "CH4", "amount": 1, "unit": "t", "gwp": "AR7"},
    ),
    (
        "gas",
        "unknown gas",
        {"method": "gas_release", "gas": "kryptonite", "amount": 1, "unit": "t"},
    ),
    (
        "gas",
        "no value for HFC-245fa",
        {"method": "gas_release", "gas": "HFC-245fa", "amount": 1, "unit": "t", "gwp": "SAR"},
    ),
    (
        "unit",
        "not a mass unit",
        {"method": "gas_release", "gas": "CH4", "amount": 1, "unit": "kWh"},
    ),
    (
        "steam_t",
        "exactly one",
        {"method": "heat", "steam_t": 1, "amount": 1, "steam_enthalpy_kj_per_kg": 2800},
    ),
    (
        "steam_enthalpy_kj_per_kg",
        "feed-water",
        {"method": "heat", "steam_t": 1, "steam_enthalpy_kj_per_kg": 50},
    ),
    (
        "water_temperature_c",
        "reference temperature",
        {"method": "heat", "hot_water_t": 1, "water_temperature_c": 15},
    ),
    ("purity", "≤ 1", {"method": "carbonate", "carbonate": "CaCO3", "amount_t": 1, "purity": 1.2}),
    (
        "carbonate",
        "unknown carbonate",
        {"method": "carbonate", "carbonate": "chalk dust", "amount_t": 1},
    ),
    (
        "carrier",
        "equal value",
        {
            "method": "energy_tce",
            "carrier": "heat",
            "amount": 1,
            "unit": "GJ",
            "basis": "equal_value",
            "year": 2020,
        },
    ),
    (
        "year",
        "is required",
        {
            "method": "energy_tce",
            "carrier": "electricity",
            "amount": 1,
            "unit": "kWh",
            "basis": "equal_value",
        },
    ),
    ("wood_density", "without species", {"method": "forest_stock_change", "volume_change_m3": 10}),
    (
        "volume_change_m3",
        "not both",
        {
            "method": "forest_stock_change",
            "volume_change_m3": 10,
            "volume_start_m3": 1,
            "volume_end_m3": 2,
            "species": "杉木",
        },
    ),
    (
        "factor_unit",
        "must name the gas",
        {
            "method": "factor",
            "amount": 1,
            "amount_unit": "kWh",
            "factor": 0.5,
            "factor_unit": "kg/kWh",
        },
    ),
    (
        "amount_unit",
        "per kWh",
        {
            "method": "factor",
            "amount": 1,
            "amount_unit": "t",
            "factor": 0.5,
            "factor_unit": "kgCO2e/kWh",
        },
    ),
    ("factor", "exactly one", {"method": "factor", "amount": 1, "amount_unit": "kWh"}),
    (
        "factor_key",
        "no factor",
        {"method": "factor", "amount": 1, "amount_unit": "kWh", "factor_key": "no.such.key"},
    ),
    (
        "gas_factors.XYZ",
        "unknown gas",
        {
            "method": "factor",
            "amount": 1,
            "amount_unit": "kWh",
            "gas_factors": {"XYZ": 1},
            "factor_unit": "kg/kWh",
        },
    ),
    (
        "amount",
        "overflows",
        {"method": "electricity", "amount": 1e308, "unit": "MWh", "factor": 10},
    ),
]


@pytest.mark.parametrize(
    ("field", "fragment", "record"), BAD, ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD)]
)
def test_bad_input_names_the_field(field: str, fragment: str, record: dict[str, Any]) -> None:
    if field != "id":
        record = {"id": "bad", **record}
    out = calc_one(record)
    assert set(out) == {"id", "error"}, out
    assert out["error"]["field"] == field, out
    assert fragment in out["error"]["message"], out


def test_line_level_errors_and_the_batch_goes_on() -> None:
    good = b'{"id":"ok","method":"heat","amount":10,"year":2022}'
    lines = [
        b'{"id": ',
        b"",
        b"   ",
        b"[1,2]",
        b'"text"',
        good,
        b'{"id":"ok2","method":"heat","amount":1}',
    ]
    out = [orjson.loads(x) for x in run_lines(lines).splitlines()]
    assert len(out) == len(lines)
    assert [o["error"]["field"] for o in out[:5]] == ["$", "$", "$", "$", "$"]
    assert "line 1 is not valid JSON" in out[0]["error"]["message"]
    assert "line 2 is empty" in out[1]["error"]["message"]
    assert out[5]["co2e_t"] == 1.1
    assert out[6]["id"] == "ok2"
    assert "error" not in out[6]


@pytest.mark.parametrize("bad_id", [1.5, True, None, [1], "x" * 201])
def test_invalid_id_is_named_id(bad_id: Any) -> None:
    out = calc_one({"id": bad_id, "method": "heat", "amount": 1, "year": 2022})
    assert out["error"]["field"] == "id"


def test_a_year_without_a_vintage_blames_the_year() -> None:
    out = calc_one(
        {
            "id": 1,
            "method": "fuel_combustion",
            "fuel": "diesel",
            "amount": 1,
            "unit": "t",
            "year": 2010,
        }
    )
    assert out["error"]["field"] == "year"


def test_market_factor_and_residual_factor_together_is_an_error() -> None:
    out = calc_one(
        {
            "id": 1,
            "method": "electricity",
            "amount": 1,
            "unit": "MWh",
            "basis": "market",
            "factor": 0.5,
            "residual_factor": 0.6,
        }
    )
    assert out["error"]["field"] == "residual_factor"


def test_explicit_ef_keeps_the_chinese_ncv() -> None:
    out = calc_one(
        {
            "id": 1,
            "method": "fuel_combustion",
            "fuel": "diesel",
            "amount": 1,
            "unit": "t",
            "year": 2022,
            "ef_co2_kg_per_tj": 74100,
        }
    )
    assert out["factors"][0]["key"] == "cn.fuel.diesel.ncv"
    assert out["gases_t"]["CO2"] == pytest.approx(42.652 / 1000 * 74100 / 1000)


def test_missing_data_file_is_a_factor_data_error(tmp_path: Any) -> None:
    from shuangtan.errors import FactorDataError
    from shuangtan.factors import FactorLibrary

    (tmp_path / "VERSION").write_text("1", encoding="utf-8")
    with pytest.raises(FactorDataError, match=r"sources\.toml"):
        FactorLibrary.load(tmp_path)

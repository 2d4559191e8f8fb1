"""units.py: exact conversions, custom Chinese and US units, emission-unit parsing."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shuangtan.errors import UnitMismatchError, UnknownUnitError
from shuangtan.units import (
    C_TO_CO2,
    conversion_ratio,
    convert,
    dimension_of,
    is_unit,
    parse_emission_unit,
)


@pytest.mark.parametrize(
    ("source", "target", "ratio"),
    [
        ("kWh", "GJ", Fraction(9, 2500)),
        ("MWh", "kWh", Fraction(1000)),
        ("t", "kg", Fraction(1000)),
        ("1e4Nm3", "Nm3", Fraction(10000)),
        ("万Nm3", "Nm3", Fraction(10000)),
        ("tce", "kgce", Fraction(1000)),
        ("kgce", "kJ", Fraction(293076, 10)),  # GB/T 2589-2020: 1 kgce = 29 307.6 kJ
        ("mmBtu", "GJ", Fraction("1.05505585262")),  # IT Btu = 1055.05585262 J
        ("gal", "L", Fraction("3.785411784")),  # US gallon
        ("scf", "m3", Fraction("0.028316846592")),  # (0.3048 m)^3
        ("TJ", "GJ", Fraction(1000)),
    ],
)
def test_exact_ratios(source: str, target: str, ratio: Fraction) -> None:
    assert conversion_ratio(source, target) == ratio


def test_convert_is_correctly_rounded_for_integer_ratios() -> None:
    assert convert(1500.0, "kg", "t") == 1.5
    assert convert(1.0, "kg", "t") == 1.0 / 1000  # division, not multiplication by 0.001
    assert convert(3.0, "kWh", "GJ") == float(Fraction(3) * Fraction(9, 2500))


def test_unknown_and_mismatched_units() -> None:
    assert not is_unit("furlongs per fortnight of coal")
    with pytest.raises(UnknownUnitError, match="unknown unit"):
        conversion_ratio("bogus", "t")
    with pytest.raises(UnitMismatchError, match="cannot convert 'kWh' to 't'"):
        convert(1.0, "kWh", "t")
    assert dimension_of("Nm3") == dimension_of("m3") == "[length] ** 3"


def test_emission_units() -> None:
    unit = parse_emission_unit("kgCO2e/kWh")
    assert (unit.mass_unit, unit.gas, unit.per_unit) == ("kg", "CO2e", "kWh")
    assert parse_emission_unit("tC/GJ").gas == "C"
    assert parse_emission_unit("gCH4/mmBtu").mass_to_t == Fraction(1, 1_000_000)
    with pytest.raises(UnknownUnitError):
        parse_emission_unit("CO2e per kWh")
    assert C_TO_CO2 == 44 / 12


@given(
    st.floats(min_value=0, max_value=1e12, allow_nan=False),
    st.sampled_from(
        [("t", "kg"), ("MWh", "kWh"), ("1e4Nm3", "Nm3"), ("TJ", "GJ"), ("tce", "kgce")]
    ),
)
def test_round_trip_through_integer_ratio_is_exact(value: float, pair: tuple[str, str]) -> None:
    # Multiplying by an exact integer and dividing by it again returns the value unless the
    # product overflowed the 53-bit mantissa; with these magnitudes both steps are exact or
    # correctly rounded, and the round trip lands within one ulp.
    there = convert(value, *pair)
    back = convert(there, pair[1], pair[0])
    assert back == pytest.approx(value, rel=2**-52, abs=0)


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False))
def test_kwh_to_mwh_scales_by_thousand(kwh: float) -> None:
    assert convert(kwh, "kWh", "MWh") == kwh / 1000

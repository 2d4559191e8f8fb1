"""Helpers shared by the calculation methods: unit checks on factors, CO2e, results."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CO2E, CalcResult
from shuangtan.errors import FactorNotFoundError, InputError, UnitMismatchError
from shuangtan.units import convert, parse_emission_unit

__all__ = [
    "amount_in",
    "co2e",
    "emission_parts",
    "make_result",
    "ratio_parameter",
    "require_fraction",
    "require_non_negative",
    "require_unit",
    "to_tonnes",
]


def require_non_negative(value: float, field: str) -> float:
    """Reject a negative or non-finite amount, naming the field."""
    if not math.isfinite(value):
        raise InputError("must be a finite number", field=field)
    if value < 0:
        raise InputError(f"must not be negative (got {value})", field=field)
    return value


def require_unit(factor: Factor, *units: str, field: str | None = None) -> float:
    """A factor's value, after checking that its unit is one of ``units``."""
    if factor.unit not in units:
        raise UnitMismatchError(
            f"{factor.key} is in {factor.unit!r}; expected {' or '.join(map(repr, units))}",
            field=field,
        )
    return factor.value


def ratio_parameter(
    factor: Factor, numerator: str, *, field: str | None = None
) -> tuple[float, str]:
    """Value and per-unit of a parameter whose unit is ``numerator/<per-unit>``.

    ``ratio_parameter(ncv, "GJ")`` on an NCV in ``GJ/1e4Nm3`` gives ``(389.31, "1e4Nm3")``.
    """
    head, slash, per = factor.unit.partition("/")
    if head != numerator or not slash or not per:
        raise UnitMismatchError(
            f"{factor.key} is in {factor.unit!r}; expected {numerator} per unit of amount",
            field=field,
        )
    return factor.value, per


def emission_parts(factor: Factor, *, field: str | None = None) -> tuple[float, str, str]:
    """An emission factor as (value, mass unit, activity unit).

    ``kgCO2e/kWh`` 0.2 gives ``(0.2, "kg", "kWh")``. Methods multiply the activity by the value
    in the factor's own mass unit and convert the product to tonnes, as a person would.
    """
    unit = parse_emission_unit(factor.unit)
    if unit.per_unit is None:
        raise UnitMismatchError(
            f"{factor.key} is in {factor.unit!r}, a mass; expected a mass per activity unit",
            field=field,
        )
    return factor.value, unit.mass_unit, unit.per_unit


def amount_in(amount: float, unit: str, target: str, *, needed_by: str) -> float:
    """Convert an input amount to the unit a factor needs, blaming the ``unit`` field."""
    try:
        return float(convert(amount, unit, target))
    except UnitMismatchError:
        raise UnitMismatchError(
            f"an amount in {unit!r} cannot be used with {needed_by}, which is per {target}",
            field="unit",
        ) from None


def to_tonnes(mass: float, mass_unit: str) -> float:
    """A mass in tonnes. [t]"""
    return float(convert(mass, mass_unit, "t"))


def require_fraction(value: float, field: str) -> float:
    """Reject a fraction outside [0, 1], naming the field."""
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"must be a fraction between 0 and 1 (got {value})", field=field)
    return value


def co2e(gases_t: Mapping[str, float], gwp: GwpSet) -> tuple[float, tuple[Factor, ...]]:
    """CO2 equivalent of per-gas masses under a GWP set, with the GWP values used.

    Parameters
    ----------
    gases_t : Mapping[str, float]
        Mass per gas. [t]
    gwp : GwpSet
        GWP-100 values. [tCO2e/t]

    Returns
    -------
    tuple[float, tuple[Factor, ...]]
        Σ mass × GWP, summed exactly with ``math.fsum`` [tCO2e], and the GWP factors used
        (CO2 and the pseudo-gas ``CO2e`` count 1 by definition and are not listed).

    Raises
    ------
    FactorNotFoundError
        The set has no value for a gas.
    """
    terms: list[float] = []
    used: list[Factor] = []
    for gas, mass in gases_t.items():
        if gas in (CO2E, "CO2"):
            terms.append(mass)
            continue
        factor = gwp.values.get(gas)
        if factor is None:
            raise FactorNotFoundError(f"GWP set {gwp.name} has no value for {gas}", field="gwp")
        terms.append(mass * factor.value)
        used.append(factor)
    return math.fsum(terms), tuple(used)


def make_result(
    method: str,
    gases_t: Mapping[str, float],
    gwp: GwpSet,
    factors: Iterable[Factor],
    *,
    energy_gj: float | None = None,
    tce_t: float | None = None,
    years: float | None = None,
    warnings: Iterable[str] = (),
) -> CalcResult:
    """Assemble a :class:`CalcResult`: CO2e under ``gwp``, lineage and the annual rate."""
    total, gwp_factors = co2e(gases_t, gwp)
    per_year = total / years if years is not None else None
    extra = [v for v in (energy_gj, tce_t) if v is not None]
    if not all(math.isfinite(v) for v in (total, *gases_t.values(), *extra)):
        raise InputError("is too large: the result overflows a double", field="amount")
    return CalcResult(
        method=method,
        gases_t=dict(gases_t),
        co2e_t=total,
        gwp_set=gwp.name,
        factors=(*factors, *gwp_factors),
        energy_gj=energy_gj,
        tce_t=tce_t,
        per_year=per_year,
        warnings=tuple(warnings),
    )

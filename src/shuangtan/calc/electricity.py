"""Purchased and exported electricity (scope 2 / 间接排放).

* :func:`location_based_electricity` — ``E = AD × EF_grid``.
* :func:`market_based_electricity` — zero-emission instruments (green certificates, green-power
  trading) count zero; the remainder is multiplied by the chosen factor: the residual mix of
  GHG Protocol Scope 2 Guidance, or the grid average as in Chinese ETS practice.

Exports are negative. Pure functions.
"""

from __future__ import annotations

from shuangtan.calc import kernels
from shuangtan.calc._common import (
    amount_in,
    emission_parts,
    make_result,
    require_non_negative,
    to_tonnes,
)
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CalcResult
from shuangtan.errors import InputError
from shuangtan.units import convert

__all__ = ["location_based_electricity", "market_based_electricity"]


def _gas_of(factor: Factor) -> str:
    return factor.gas or "CO2"


def location_based_electricity(
    *, amount: float, unit: str, factor: Factor, gwp: GwpSet, exported: bool = False
) -> CalcResult:
    """Emissions of purchased (or, when ``exported``, avoided by exported) electricity.

    Parameters
    ----------
    amount : float
        Electricity purchased or exported. [unit]
    unit : str
        ``kWh`` or ``MWh`` (any energy unit converts).
    factor : Factor
        Grid emission factor. [tCO2/MWh]
    gwp : GwpSet
        GWP set for CO2e.
    exported : bool, optional
        Exported electricity: the result is negative.

    Returns
    -------
    CalcResult
        ``energy_gj`` is the electricity itself (negative when exported).

    Notes
    -----
    .. math:: E = AD \\times EF

    References
    ----------
    GB/T 32150-2015 §6.5; MEE/NBS 电力二氧化碳排放因子 announcements; GHG Protocol Scope 2
    Guidance (2015), location-based method.
    """
    require_non_negative(amount, "amount")
    value, mass_unit, per = emission_parts(factor, field="factor")
    require_non_negative(value, "factor")
    activity = amount_in(amount, unit, per, needed_by=f"the factor {factor.key}")
    mass_t = to_tonnes(kernels.electricity_co2_t(activity, value), mass_unit)
    energy_gj = float(convert(amount, unit, "GJ"))
    sign = -1.0 if exported else 1.0
    return make_result(
        "electricity", {_gas_of(factor): sign * mass_t}, gwp, [factor], energy_gj=sign * energy_gj
    )


def market_based_electricity(
    *,
    amount: float,
    unit: str,
    green_amount: float,
    factor: Factor,
    gwp: GwpSet,
    exported: bool = False,
) -> CalcResult:
    """Market-based emissions: instruments count zero, the rest at ``factor``.

    Parameters
    ----------
    amount : float
        Electricity consumed. [unit]
    unit : str
        Unit of ``amount`` and ``green_amount``.
    green_amount : float
        Consumption covered by zero-emission instruments (绿证, 绿电交易). [unit]
    factor : Factor
        Factor for the uncovered remainder: the residual mix (MEE/NBS national factor excluding
        market-traded non-fossil power) or the grid average. [tCO2/MWh]
    gwp : GwpSet
        GWP set for CO2e.
    exported : bool, optional
        Exported electricity: the result is negative.

    Returns
    -------
    CalcResult

    Notes
    -----
    .. math:: E = (AD - AD_{green}) \\times EF

    References
    ----------
    GHG Protocol Scope 2 Guidance (2015), market-based method; MEE/NBS announcement of the
    2021 electricity CO2 factors (公告2024年第12号) on the residual factor.
    """
    require_non_negative(amount, "amount")
    require_non_negative(green_amount, "green_amount")
    if green_amount > amount:
        raise InputError(
            f"exceeds the amount consumed ({green_amount} > {amount})", field="green_amount"
        )
    value, mass_unit, per = emission_parts(factor, field="factor")
    require_non_negative(value, "factor")
    activity = amount_in(amount, unit, per, needed_by=f"the factor {factor.key}")
    green = amount_in(green_amount, unit, per, needed_by=f"the factor {factor.key}")
    mass_t = to_tonnes(kernels.market_electricity_co2_t(activity, green, value), mass_unit)
    energy_gj = float(convert(amount, unit, "GJ"))
    sign = -1.0 if exported else 1.0
    return make_result(
        "electricity", {_gas_of(factor): sign * mass_t}, gwp, [factor], energy_gj=sign * energy_gj
    )

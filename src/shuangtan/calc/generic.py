"""A generic amount × factor, with unit conversion: the shape of US EPA Hub and UK DESNZ factors.

``E_gas = amount [→ energy with energy_per_unit] → the factor's activity unit × factor_gas``,
the product in the factor's mass unit converted to tonnes. Per-gas factors are supported;
factors a publisher already aggregated to CO2e keep the pseudo-gas ``CO2e``.
"""

from __future__ import annotations

from collections.abc import Mapping

from shuangtan.calc import kernels
from shuangtan.calc._common import emission_parts, make_result, require_non_negative, to_tonnes
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CO2E, CalcResult
from shuangtan.errors import InputError, UnitMismatchError
from shuangtan.units import convert

__all__ = ["amount_times_factor"]


def _to(value: float, from_unit: str, to_unit: str, field: str, what: str) -> float:
    try:
        return float(convert(value, from_unit, to_unit))
    except UnitMismatchError:
        raise UnitMismatchError(
            f"an amount in {from_unit!r} cannot be used with {what}, which is per {to_unit}",
            field=field,
        ) from None


def amount_times_factor(
    *,
    amount: float,
    amount_unit: str,
    gas_factors: Mapping[str, Factor],
    gwp: GwpSet,
    energy_per_unit: Factor | None = None,
) -> CalcResult:
    """Emissions of an activity from one factor per gas.

    Parameters
    ----------
    amount : float
        Activity amount. [amount_unit]
    amount_unit : str
        Its unit (``kWh``, ``scf``, ``gal``, ``m3``, ``t`` …).
    gas_factors : Mapping[str, Factor]
        Factor per gas, each in ``<mass>[<gas>]/<activity unit>`` (``kgCO2/mmBtu``,
        ``gCH4/mmBtu``, ``kgCO2e/kWh``). [mass per activity unit]
    gwp : GwpSet
        GWP set for CO2e. Factors already in CO2e count 1 (a warning names the publisher's basis).
    energy_per_unit : Factor, optional
        Heat content of the amount when the factors are per energy, such as an HHV in
        ``mmBtu/scf``. [energy per amount unit]

    Returns
    -------
    CalcResult
        ``energy_gj`` when ``energy_per_unit`` was given.

    Notes
    -----
    .. math:: E_{gas} = A \\,[\\times HV] \\times EF_{gas}

    References
    ----------
    US EPA GHG Emission Factors Hub (40 CFR 98 Tables C-1, C-2); UK DESNZ Greenhouse gas
    reporting: conversion factors.
    """
    require_non_negative(amount, "amount")
    if not gas_factors:
        raise InputError("give a factor or gas_factors", field="factor")
    energy_gj: float | None = None
    factors: list[Factor] = []
    energy_amount: tuple[float, str] | None = None
    if energy_per_unit is not None:
        epu_unit, slash, epu_per = energy_per_unit.unit.partition("/")
        if not slash:
            raise UnitMismatchError(
                f"{energy_per_unit.unit!r} is not energy per unit of amount",
                field="energy_per_unit_unit",
            )
        require_non_negative(energy_per_unit.value, "energy_per_unit")
        base = _to(amount, amount_unit, epu_per, "amount_unit", "energy_per_unit")
        energy_amount = (kernels.energy_per_unit(base, energy_per_unit.value), epu_unit)
        energy_gj = _to(energy_amount[0], epu_unit, "GJ", "energy_per_unit_unit", "GJ")
        factors.append(energy_per_unit)
    gases_t: dict[str, float] = {}
    warnings: list[str] = []
    for gas, factor in gas_factors.items():
        field = "factor" if len(gas_factors) == 1 else f"gas_factors.{gas}"
        value, mass_unit, per = emission_parts(factor, field="factor_unit")
        require_non_negative(value, field)
        if energy_amount is not None:
            activity = _to(energy_amount[0], energy_amount[1], per, "factor_unit", "the factor")
        else:
            activity = _to(amount, amount_unit, per, "amount_unit", "the factor")
        gases_t[gas] = to_tonnes(kernels.mass_times_factor(activity, value), mass_unit)
        factors.append(factor)
        if gas == CO2E:
            warnings.append(
                f"{factor.key} is already in CO2e on its publisher's GWP basis, "
                f"not necessarily {gwp.name}"
            )
    return make_result("factor", gases_t, gwp, factors, energy_gj=energy_gj, warnings=warnings)

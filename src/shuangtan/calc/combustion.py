"""Stationary and mobile fuel combustion.

* :func:`fuel_combustion` — the Chinese calculation method of GB/T 32150-2015 and the NDRC/MEE
  guidelines: ``E = FC × NCV × CC × OF × 44/12``.
* :func:`fuel_combustion_measured_carbon` — the as-received-carbon variant of the MEE 发电设施
  guideline: ``E = FC × C_ar × OF × 44/12``.
* :func:`fuel_combustion_tier1` — IPCC 2006 Vol. 2 Ch. 2 Tier 1, per gas:
  ``E_gas = FC × NCV × EF_gas``.

Pure functions: factors arrive as arguments (see :mod:`shuangtan.factors` for their selection).
"""

from __future__ import annotations

from collections.abc import Mapping

from shuangtan.calc import kernels
from shuangtan.calc._common import (
    amount_in,
    make_result,
    ratio_parameter,
    require_fraction,
    require_non_negative,
    require_unit,
)
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CalcResult
from shuangtan.errors import InputError, UnitMismatchError
from shuangtan.units import convert, dimension_of

__all__ = [
    "fuel_combustion",
    "fuel_combustion_measured_carbon",
    "fuel_combustion_tier1",
    "fuel_energy_gj",
    "is_energy_unit",
]


def is_energy_unit(unit: str) -> bool:
    """Whether an amount unit measures energy (GJ, TJ, kWh…) rather than a physical quantity."""
    return dimension_of(unit) == dimension_of("GJ")


def fuel_energy_gj(*, amount: float, unit: str, ncv: Factor | None) -> tuple[float, Factor | None]:
    """Energy of a fuel amount: the amount itself when in energy units, else FC × NCV.

    Parameters
    ----------
    amount : float
        Fuel consumed. [unit]
    unit : str
        ``t``, ``kg``, ``Nm3``, ``1e4Nm3``, ``L`` …, or an energy unit (``GJ``, ``TJ``).
    ncv : Factor or None
        Net calorific value. [GJ per physical unit] Not needed for energy amounts.

    Returns
    -------
    tuple[float, Factor or None]
        Energy [GJ] and the NCV used (``None`` when the amount was energy already).
    """
    if is_energy_unit(unit):
        return float(convert(amount, unit, "GJ")), None
    if ncv is None:
        raise InputError(f"an amount in {unit!r} needs a net calorific value", field="ncv")
    ncv_gj, per = ratio_parameter(ncv, "GJ", field="ncv")
    fc = amount_in(amount, unit, per, needed_by=f"the net calorific value {ncv.key}")
    return kernels.energy_per_unit(fc, ncv_gj), ncv


def fuel_combustion(
    *,
    amount: float,
    unit: str,
    ncv: Factor | None,
    carbon_content: Factor,
    oxidation: Factor,
    gwp: GwpSet,
) -> CalcResult:
    """CO2 from burning a fuel, by the Chinese calculation method.

    Parameters
    ----------
    amount : float
        Fuel consumed, FC. [unit]
    unit : str
        Unit of ``amount``; energy units skip the NCV.
    ncv : Factor or None
        Net calorific value, NCV. [GJ/t, GJ/1e4Nm3 …]
    carbon_content : Factor
        Carbon content per unit heat, CC. [tC/GJ]
    oxidation : Factor
        Carbon oxidation rate, OF. [1]
    gwp : GwpSet
        GWP set for CO2e (CO2 counts 1).

    Returns
    -------
    CalcResult
        ``gases_t`` = {CO2}, ``energy_gj`` = FC × NCV.

    Notes
    -----
    .. math:: E_{CO_2} = FC \\times NCV \\times CC \\times OF \\times 44/12

    References
    ----------
    GB/T 32150-2015 工业企业温室气体排放核算和报告通则, §6 and Annex B; 工业其他行业企业温室气体
    排放核算方法与报告指南（试行）, 发改办气候〔2015〕1722号.

    Examples
    --------
    The worked check of the standards reference (500 t diesel) is in the test-suite's reference
    cases: 42.652 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 × 500 t = 1547.955 tCO2.
    """
    require_non_negative(amount, "amount")
    cc = require_unit(carbon_content, "tC/GJ", field="carbon_content")
    of = require_fraction(require_unit(oxidation, "1", field="oxidation"), "oxidation")
    energy_gj, used_ncv = fuel_energy_gj(amount=amount, unit=unit, ncv=ncv)
    co2_t = kernels.carbon_to_co2_t(energy_gj, cc, of)
    factors = [f for f in (used_ncv, carbon_content, oxidation) if f is not None]
    return make_result("fuel_combustion", {"CO2": co2_t}, gwp, factors, energy_gj=energy_gj)


def fuel_combustion_measured_carbon(
    *,
    amount: float,
    unit: str,
    carbon_per_unit: Factor,
    oxidation: Factor,
    gwp: GwpSet,
    ncv: Factor | None = None,
) -> CalcResult:
    """CO2 from a fuel whose as-received carbon content was measured.

    Parameters
    ----------
    amount : float
        Fuel consumed, FC. [unit]
    unit : str
        Unit of ``amount``.
    carbon_per_unit : Factor
        As-received carbon content, C_ar. [tC per unit of amount]
    oxidation : Factor
        Carbon oxidation rate, OF. [1]
    gwp : GwpSet
        GWP set for CO2e.
    ncv : Factor, optional
        Net calorific value, to report the energy. [GJ per unit]

    Returns
    -------
    CalcResult

    Notes
    -----
    .. math:: E_{CO_2} = FC \\times C_{ar} \\times OF \\times 44/12

    References
    ----------
    企业温室气体排放核算方法与报告指南 发电设施 (环办气候〔2021〕9号 and its 2022 revision).
    """
    require_non_negative(amount, "amount")
    c_ar, per = ratio_parameter(carbon_per_unit, "tC", field="carbon_per_unit")
    require_non_negative(c_ar, "carbon_per_unit")
    of = require_fraction(require_unit(oxidation, "1", field="oxidation"), "oxidation")
    fc = amount_in(amount, unit, per, needed_by="the carbon content")
    co2_t = kernels.carbon_to_co2_t(fc, c_ar, of)
    energy_gj: float | None = None
    factors = [carbon_per_unit, oxidation]
    if ncv is not None or is_energy_unit(unit):
        energy_gj, used_ncv = fuel_energy_gj(amount=amount, unit=unit, ncv=ncv)
        if used_ncv is not None:
            factors.append(used_ncv)
    return make_result("fuel_combustion", {"CO2": co2_t}, gwp, factors, energy_gj=energy_gj)


def fuel_combustion_tier1(
    *,
    amount: float,
    unit: str,
    ncv: Factor | None,
    emission_factors: Mapping[str, Factor],
    gwp: GwpSet,
) -> CalcResult:
    """Per-gas emissions of a fuel by IPCC 2006 Tier 1.

    Parameters
    ----------
    amount : float
        Fuel consumed. [unit]
    unit : str
        Unit of ``amount``; energy units skip the NCV.
    ncv : Factor or None
        Net calorific value. [GJ per unit] (IPCC tables: TJ/Gg, numerically GJ/t.)
    emission_factors : Mapping[str, Factor]
        Emission factor per gas. [kg/TJ]
    gwp : GwpSet
        GWP set for CO2e.

    Returns
    -------
    CalcResult
        One mass per gas in ``emission_factors``.

    Notes
    -----
    .. math:: E_{gas} = FC \\times NCV \\times EF_{gas}

    References
    ----------
    2006 IPCC Guidelines for National Greenhouse Gas Inventories, Vol. 2 Ch. 2, Eq. 2.1 and
    Tables 1.2, 2.2.
    """
    require_non_negative(amount, "amount")
    if not emission_factors:
        raise InputError("at least one emission factor is needed", field="ef_co2_kg_per_tj")
    energy_gj, used_ncv = fuel_energy_gj(amount=amount, unit=unit, ncv=ncv)
    gases_t: dict[str, float] = {}
    factors: list[Factor] = [used_ncv] if used_ncv is not None else []
    for gas, factor in emission_factors.items():
        field = f"ef_{gas.lower()}_kg_per_tj"
        if factor.unit not in ("kg/TJ", f"kg{gas}/TJ"):
            raise UnitMismatchError(
                f"{factor.key} is in {factor.unit!r}; expected kg{gas}/TJ", field=field
            )
        require_non_negative(factor.value, field)
        gases_t[gas] = kernels.ipcc_gas_t(energy_gj, factor.value)
        factors.append(factor)
    return make_result("fuel_combustion", gases_t, gwp, factors, energy_gj=energy_gj)

"""The arithmetic of every method, written once for floats and NumPy arrays alike.

Each kernel performs the same IEEE-754 operations in the same order whether it receives Python
floats (the per-record functions of :mod:`shuangtan.calc`) or float64 arrays (the vectorised
batch engine), so both paths give bit-identical results. Change the order of an operation here
and both paths change together.

Units are in the parameter names; every kernel is pure.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from shuangtan.units import C_TO_CO2

__all__ = [
    "carbon_to_co2_t",
    "carbonate_co2_t",
    "electricity_co2_t",
    "energy_per_unit",
    "forest_carbon_t",
    "grassland_soc_t",
    "heat_co2_t",
    "hot_water_energy_gj",
    "ipcc_gas_t",
    "market_electricity_co2_t",
    "mass_times_factor",
    "steam_energy_gj",
    "tce_t",
]

Num = TypeVar("Num", float, npt.NDArray[np.float64])


def energy_per_unit(amount: Num, energy_per_unit: float | Num) -> Num:
    """Energy of an amount. [energy unit] = [amount unit] × [energy unit / amount unit]."""
    return amount * energy_per_unit


def carbon_to_co2_t(
    energy_gj: Num, carbon_content_tc_per_gj: float | Num, oxidation: float | Num
) -> Num:
    """CO2 of burnt carbon: E = AD × CC × OF × 44/12. [tCO2]

    ``energy_gj`` may instead be a physical amount when ``carbon_content`` is per that amount
    (the measured-carbon variant, tC per unit of fuel).
    """
    return energy_gj * carbon_content_tc_per_gj * oxidation * C_TO_CO2


def ipcc_gas_t(energy_gj: Num, factor_kg_per_tj: float | Num) -> Num:
    """Mass of one gas from an IPCC factor: GJ → TJ, × kg/TJ, kg → t. [t]"""
    return energy_gj / 1000.0 * factor_kg_per_tj / 1000.0


def electricity_co2_t(amount_mwh: Num, factor_t_per_mwh: float | Num) -> Num:
    """Location-based electricity: AD × EF. [tCO2]"""
    return amount_mwh * factor_t_per_mwh


def market_electricity_co2_t(
    amount_mwh: Num, green_mwh: float | Num, factor_t_per_mwh: float | Num
) -> Num:
    """Market-based electricity: (AD − zero-emission instruments) × EF. [tCO2]"""
    return (amount_mwh - green_mwh) * factor_t_per_mwh


def steam_energy_gj(
    steam_t: Num, enthalpy_kj_per_kg: float | Num, feedwater_kj_per_kg: float | Num
) -> Num:
    """Heat in steam: Ma × (En − En_feedwater) × 10⁻³. [GJ]"""
    return steam_t * (enthalpy_kj_per_kg - feedwater_kj_per_kg) / 1000.0


def hot_water_energy_gj(
    water_t: Num,
    temperature_c: float | Num,
    reference_c: float | Num,
    specific_heat_kj_per_kg_k: float | Num,
) -> Num:
    """Heat in hot water: Ma × (T − T_ref) × c_p × 10⁻³. [GJ]"""
    return water_t * (temperature_c - reference_c) * specific_heat_kj_per_kg_k / 1000.0


def heat_co2_t(energy_gj: Num, factor_t_per_gj: float | Num) -> Num:
    """Purchased or exported heat: AD × EF. [tCO2]"""
    return energy_gj * factor_t_per_gj


def carbonate_co2_t(
    amount_t: Num, purity: float | Num, calcination: float | Num, factor_t_per_t: float | Num
) -> Num:
    """Carbonate decomposition: M × P × F × EF. [tCO2]"""
    return amount_t * purity * calcination * factor_t_per_t


def tce_t(amount: Num, coefficient_kgce_per_unit: float | Num) -> Num:
    """Standard-coal equivalent: amount × coefficient, kgce → tce. [tce]"""
    return amount * coefficient_kgce_per_unit / 1000.0


def forest_carbon_t(
    volume_m3: Num,
    wood_density_t_per_m3: float | Num,
    bef: float | Num,
    root_shoot: float | Num,
    carbon_fraction: float | Num,
) -> Num:
    """Carbon in tree biomass: V × D × BEF × (1 + R) × CF. [tC]"""
    return volume_m3 * wood_density_t_per_m3 * bef * (1.0 + root_shoot) * carbon_fraction


def grassland_soc_t(
    area_ha: Num,
    soc_ref_tc_per_ha: float | Num,
    f_lu: float | Num,
    f_mg: float | Num,
    f_i: float | Num,
) -> Num:
    """Soil organic carbon stock: SOC_REF × F_LU × F_MG × F_I × A. [tC]"""
    return soc_ref_tc_per_ha * f_lu * f_mg * f_i * area_ha


def mass_times_factor(activity: Num, factor: float | Num) -> Num:
    """Generic amount × factor. [factor mass unit]"""
    return activity * factor

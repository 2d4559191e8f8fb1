"""Purchased and exported heat, including steam and hot water given by mass.

Heat in steam and hot water follows the NDRC guideline appendix: the enthalpy above feed water
at 20 °C (83.74 kJ/kg), and c_p × (T − 20 °C) for hot water. GB/T 32151.34-2024 multiplies the
steam mass by the full enthalpy instead: pass a feed-water enthalpy of zero for that method.
"""

from __future__ import annotations

from shuangtan.calc import kernels
from shuangtan.calc._common import (
    emission_parts,
    make_result,
    require_non_negative,
    require_unit,
    to_tonnes,
)
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CalcResult
from shuangtan.errors import InputError, UnitMismatchError

__all__ = ["hot_water_energy_gj", "purchased_heat", "steam_energy_gj"]


def steam_energy_gj(*, steam_t: float, enthalpy_kj_per_kg: float, feedwater: Factor) -> float:
    """Heat delivered by steam. [GJ]

    Parameters
    ----------
    steam_t : float
        Mass of steam. [t]
    enthalpy_kj_per_kg : float
        Specific enthalpy of the steam at its temperature and pressure. [kJ/kg]
    feedwater : Factor
        Enthalpy of the feed water. [kJ/kg] (83.74, water at 20 °C)

    Notes
    -----
    .. math:: AD_{st} = Ma_{st} \\times (En_{st} - En_{fw}) \\times 10^{-3}
    """
    require_non_negative(steam_t, "steam_t")
    require_non_negative(enthalpy_kj_per_kg, "steam_enthalpy_kj_per_kg")
    h_fw = require_unit(feedwater, "kJ/kg", field="feedwater_enthalpy_kj_per_kg")
    if enthalpy_kj_per_kg <= h_fw:
        raise InputError(
            f"must exceed the feed-water enthalpy ({h_fw} kJ/kg)", field="steam_enthalpy_kj_per_kg"
        )
    return kernels.steam_energy_gj(steam_t, enthalpy_kj_per_kg, h_fw)


def hot_water_energy_gj(
    *, water_t: float, temperature_c: float, reference: Factor, specific_heat: Factor
) -> float:
    """Heat delivered by hot water. [GJ]

    Parameters
    ----------
    water_t : float
        Mass of hot water. [t]
    temperature_c : float
        Temperature of the water. [°C]
    reference : Factor
        Reference (return) temperature. [°C] (20)
    specific_heat : Factor
        Specific heat of water. [kJ/(kg·K)] (4.1868)

    Notes
    -----
    .. math:: AD_w = Ma_w \\times (T_w - 20) \\times 4.1868 \\times 10^{-3}
    """
    require_non_negative(water_t, "hot_water_t")
    t_ref = require_unit(reference, "degC", field="water_temperature_c")
    c_p = require_unit(specific_heat, "kJ/kg/K", field="water_temperature_c")
    if temperature_c <= t_ref:
        raise InputError(
            f"must be above the reference temperature ({t_ref} °C)", field="water_temperature_c"
        )
    return kernels.hot_water_energy_gj(water_t, temperature_c, t_ref, c_p)


def purchased_heat(
    *,
    energy_gj: float,
    factor: Factor,
    gwp: GwpSet,
    exported: bool = False,
    parameters: tuple[Factor, ...] = (),
) -> CalcResult:
    """Emissions of purchased (or exported) heat.

    Parameters
    ----------
    energy_gj : float
        Heat purchased or exported. [GJ]
    factor : Factor
        Heat emission factor. [tCO2/GJ] (0.11 by default in the Chinese guidelines)
    gwp : GwpSet
        GWP set for CO2e.
    exported : bool, optional
        Exported heat: the result is negative.
    parameters : tuple[Factor, ...], optional
        Factors used to obtain ``energy_gj`` (steam and hot-water constants), for the lineage.

    Returns
    -------
    CalcResult

    Notes
    -----
    .. math:: E = AD_{heat} \\times EF_{heat}

    References
    ----------
    GB/T 32150-2015 §6.5;
    中国公共建筑运营单位（企业）温室气体排放核算方法与报告指南（试行）, 附录表3.
    """
    require_non_negative(energy_gj, "amount")
    value, mass_unit, per = emission_parts(factor, field="factor")
    if per != "GJ":
        raise UnitMismatchError(
            f"{factor.key} is in {factor.unit!r}; expected tCO2/GJ", field="factor"
        )
    require_non_negative(value, "factor")
    mass_t = to_tonnes(kernels.heat_co2_t(energy_gj, value), mass_unit)
    sign = -1.0 if exported else 1.0
    return make_result(
        "heat",
        {factor.gas or "CO2": sign * mass_t},
        gwp,
        [*parameters, factor],
        energy_gj=sign * energy_gj,
    )

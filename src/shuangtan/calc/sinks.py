"""Carbon sinks: forest biomass stock change and grassland soil organic carbon.

Removals are negative emissions.
"""

from __future__ import annotations

import math

from shuangtan.calc import kernels
from shuangtan.calc._common import make_result, require_non_negative, require_unit
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CalcResult
from shuangtan.errors import InputError
from shuangtan.units import C_TO_CO2

__all__ = ["forest_stock_change", "grassland_soc_change"]


def _years(years: float | None) -> float | None:
    if years is not None and (not math.isfinite(years) or years <= 0):
        raise InputError(f"must be a positive number of years (got {years})", field="years")
    return years


def forest_stock_change(
    *,
    volume_change_m3: float,
    wood_density: Factor,
    bef: Factor,
    root_shoot: Factor,
    carbon_fraction: Factor,
    gwp: GwpSet,
    years: float | None = None,
) -> CalcResult:
    """CO2 removed (or emitted) by a change of forest stem volume, stock-difference method.

    Parameters
    ----------
    volume_change_m3 : float
        Stem volume at the end minus at the start; negative for a loss. [m3]
    wood_density : Factor
        Basic wood density, SVD. [t/m3]
    bef : Factor
        Biomass expansion factor, stem to above-ground biomass. [1]
    root_shoot : Factor
        Root-to-shoot ratio, R. [1]
    carbon_fraction : Factor
        Carbon fraction of dry matter, CF. [1]
    gwp : GwpSet
        GWP set for CO2e.
    years : float, optional
        Length of the period, to report the annual rate. [a]

    Returns
    -------
    CalcResult
        ``co2e_t`` negative for growth (a removal).

    Notes
    -----
    .. math:: \\Delta C = \\Delta V \\times SVD \\times BEF \\times (1 + R) \\times CF,\\quad
              E_{CO_2} = -\\Delta C \\times 44/12

    References
    ----------
    2006 IPCC Guidelines Vol. 4 Ch. 2 Eq. 2.8 and Ch. 4; 省级温室气体清单编制指南（试行）,
    土地利用变化和林业.
    """
    if not math.isfinite(volume_change_m3):
        raise InputError("must be a finite number", field="volume_change_m3")
    d = require_non_negative(
        require_unit(wood_density, "t/m3", field="wood_density"), "wood_density"
    )
    b = require_non_negative(require_unit(bef, "1", field="bef"), "bef")
    r = require_non_negative(require_unit(root_shoot, "1", field="root_shoot"), "root_shoot")
    cf = require_non_negative(
        require_unit(carbon_fraction, "1", field="carbon_fraction"), "carbon_fraction"
    )
    if cf > 1:
        raise InputError(f"must be a fraction between 0 and 1 (got {cf})", field="carbon_fraction")
    carbon_t = kernels.forest_carbon_t(volume_change_m3, d, b, r, cf)
    co2_t = -(carbon_t * C_TO_CO2)
    return make_result(
        "forest_stock_change",
        {"CO2": co2_t},
        gwp,
        [wood_density, bef, root_shoot, carbon_fraction],
        years=_years(years),
    )


def grassland_soc_change(
    *,
    area_ha: float,
    soc_ref: Factor,
    before: tuple[Factor, Factor, Factor],
    after: tuple[Factor, Factor, Factor],
    gwp: GwpSet,
    years: float = 20.0,
) -> CalcResult:
    """CO2 removed (or emitted) by a change of grassland soil organic carbon, IPCC Tier 1.

    Parameters
    ----------
    area_ha : float
        Area of grassland, A. [ha]
    soc_ref : Factor
        Reference SOC stock, 0–30 cm, SOC_REF. [tC/ha]
    before, after : tuple[Factor, Factor, Factor]
        Stock change factors (F_LU, F_MG, F_I) before and after the change. [1]
    gwp : GwpSet
        GWP set for CO2e.
    years : float, optional
        Transition period D, default 20. [a]

    Returns
    -------
    CalcResult
        ``co2e_t`` over the whole period (negative when SOC rises), ``per_year`` the annual rate.

    Notes
    -----
    .. math:: SOC = SOC_{REF} \\times F_{LU} \\times F_{MG} \\times F_I \\times A,\\quad
              \\Delta C = (SOC_0 - SOC_{0-T}),\\quad E_{CO_2} = -\\Delta C \\times 44/12

    References
    ----------
    2006 IPCC Guidelines Vol. 4 Ch. 2 Eq. 2.25 and Ch. 6 §6.3.3 (Tier 1, D = 20 years).
    """
    require_non_negative(area_ha, "area_ha")
    ref = require_non_negative(
        require_unit(soc_ref, "tC/ha", field="soc_ref_tc_per_ha"), "soc_ref_tc_per_ha"
    )
    values = []
    for label, triple in (("before", before), ("after", after)):
        for name, factor in zip(("f_lu", "f_mg", "f_i"), triple, strict=True):
            values.append(
                require_non_negative(
                    require_unit(factor, "1", field=f"{name}_{label}"), f"{name}_{label}"
                )
            )
    soc_before = kernels.grassland_soc_t(area_ha, ref, values[0], values[1], values[2])
    soc_after = kernels.grassland_soc_t(area_ha, ref, values[3], values[4], values[5])
    co2_t = -((soc_after - soc_before) * C_TO_CO2)
    return make_result(
        "grassland_soc",
        {"CO2": co2_t},
        gwp,
        [soc_ref, *before, *after],
        years=_years(years),
    )

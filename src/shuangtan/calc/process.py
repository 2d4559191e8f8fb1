"""Process emissions and direct releases.

* :func:`carbonate_decomposition` — CO2 from calcining carbonates: ``E = M × P × F × EF``.
* :func:`gas_release` — a direct release of any greenhouse gas (fugitive methane, refrigerant
  leaks, SF6 from switchgear): the mass itself, then CO2e under the GWP set.
"""

from __future__ import annotations

from shuangtan.calc import kernels
from shuangtan.calc._common import (
    emission_parts,
    make_result,
    require_fraction,
    require_non_negative,
    to_tonnes,
)
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CalcResult
from shuangtan.errors import UnitMismatchError
from shuangtan.units import convert

__all__ = ["carbonate_decomposition", "gas_release"]


def carbonate_decomposition(
    *,
    amount_t: float,
    factor: Factor,
    gwp: GwpSet,
    purity: float = 1.0,
    calcination: float = 1.0,
) -> CalcResult:
    """CO2 released by the thermal decomposition of a carbonate.

    Parameters
    ----------
    amount_t : float
        Mass of carbonate-bearing material consumed, M. [t]
    factor : Factor
        Emission factor of the pure carbonate, EF (stoichiometric 44.0095·n/M). [tCO2/t]
    gwp : GwpSet
        GWP set for CO2e.
    purity : float, optional
        Mass fraction of the carbonate in the material, P. [1]
    calcination : float, optional
        Fraction calcined, F. [1]

    Returns
    -------
    CalcResult

    Notes
    -----
    .. math:: E = M \\times P \\times F \\times EF

    References
    ----------
    2006 IPCC Guidelines Vol. 3 Ch. 2, Eq. 2.15 and Table 2.1; GB/T 32151.34-2024 Table C.2.
    """
    require_non_negative(amount_t, "amount_t")
    require_fraction(purity, "purity")
    require_fraction(calcination, "calcination")
    value, mass_unit, per = emission_parts(factor, field="factor")
    if per != "t":
        raise UnitMismatchError(
            f"{factor.key} is in {factor.unit!r}; expected tCO2/t", field="factor"
        )
    require_non_negative(value, "factor")
    mass_t = to_tonnes(kernels.carbonate_co2_t(amount_t, purity, calcination, value), mass_unit)
    return make_result("carbonate", {"CO2": mass_t}, gwp, [factor])


def gas_release(
    *, gas: str, amount: float, unit: str, gwp: GwpSet, gwp_value: Factor | None = None
) -> CalcResult:
    """A direct release of one greenhouse gas.

    Parameters
    ----------
    gas : str
        The gas (``"CH4"``, ``"HFC-134a"``, ``"SF6"`` …).
    amount : float
        Mass released. [unit]
    unit : str
        ``t`` or ``kg`` (any mass unit converts).
    gwp : GwpSet
        GWP set for CO2e.
    gwp_value : Factor, optional
        A GWP for ``gas`` that overrides the set's value. [tCO2e/t]

    Returns
    -------
    CalcResult

    Notes
    -----
    .. math:: E_{CO_2e} = m_{gas} \\times GWP_{gas}
    """
    require_non_negative(amount, "amount")
    try:
        mass_t = float(convert(amount, unit, "t"))
    except UnitMismatchError:
        raise UnitMismatchError(f"{unit!r} is not a mass unit (t, kg)", field="unit") from None
    if gwp_value is not None:
        require_non_negative(gwp_value.value, "gwp_value")
        gwp = GwpSet(name=gwp.name, values={**gwp.values, gas: gwp_value})
    return make_result("gas_release", {gas: mass_t}, gwp, [])

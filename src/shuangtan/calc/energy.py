"""Energy to standard-coal equivalent (tce), GB/T 2589-2020 综合能耗计算通则.

The *equivalent value* (当量值) counts an energy carrier by its own heat content; the *equal
value* (等价值) of secondary energy counts the primary energy spent to make it (for electricity,
the year's average coal consumption of thermal power supply) and is therefore dated.
"""

from __future__ import annotations

from shuangtan.calc import kernels
from shuangtan.calc._common import amount_in, make_result, ratio_parameter, require_non_negative
from shuangtan.domain.factors import Factor, GwpSet
from shuangtan.domain.results import CalcResult

__all__ = ["energy_to_tce"]


def energy_to_tce(*, amount: float, unit: str, coefficient: Factor, gwp: GwpSet) -> CalcResult:
    """Standard-coal equivalent of an amount of energy.

    Parameters
    ----------
    amount : float
        Amount of the carrier. [unit]
    unit : str
        Unit of ``amount`` (``t``, ``kWh``, ``Nm3``, ``GJ`` …).
    coefficient : Factor
        Conversion coefficient. [kgce per unit of the coefficient]
    gwp : GwpSet
        Recorded only; no gas is emitted by a conversion.

    Returns
    -------
    CalcResult
        ``tce_t`` set; no gases; ``co2e_t`` zero.

    Notes
    -----
    .. math:: E_{tce} = AD \\times k / 1000

    References
    ----------
    GB/T 2589-2020 综合能耗计算通则, Appendix A (fuels, electricity, heat) and B (energy-carrying
    working media).
    """
    require_non_negative(amount, "amount")
    value, per = ratio_parameter(coefficient, "kgce", field="coefficient")
    require_non_negative(value, "coefficient")
    activity = amount_in(amount, unit, per, needed_by=f"the coefficient {coefficient.key}")
    return make_result("energy_tce", {}, gwp, [coefficient], tce_t=kernels.tce_t(activity, value))

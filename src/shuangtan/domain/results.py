"""Results of a calculation, with their lineage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shuangtan.domain.factors import Factor

__all__ = ["CO2E", "CalcResult"]

#: Pseudo-gas for amounts a publisher already aggregated to CO2 equivalent (DESNZ factors).
CO2E = "CO2e"


@dataclass(frozen=True, slots=True)
class CalcResult:
    """The outcome of one calculation method.

    Attributes
    ----------
    method : str
        Method name of the batch contract (``"fuel_combustion"``, ``"electricity"``…).
    gases_t : Mapping[str, float]
        Mass per gas, negative for removals and exports. [t]
    co2e_t : float
        Σ gas × GWP under ``gwp_set``. [tCO2e]
    gwp_set : str
        The GWP set used for ``co2e_t``.
    factors : tuple[Factor, ...]
        Every factor and parameter used, GWP values included: the lineage.
    energy_gj : float or None
        Energy content of the activity, where it applies. [GJ]
    tce_t : float or None
        Standard-coal equivalent, for ``energy_tce``. [tce]
    per_year : float or None
        Annual rate of ``co2e_t`` where a number of years was given. [tCO2e/a]
    warnings : tuple[str, ...]
        Things the user should know about this result.
    """

    method: str
    gases_t: Mapping[str, float]
    co2e_t: float
    gwp_set: str
    factors: tuple[Factor, ...]
    energy_gj: float | None = None
    tce_t: float | None = None
    per_year: float | None = None
    warnings: tuple[str, ...] = ()

"""The calculation methods: pure, typed functions returning per-gas results with lineage.

No database, network, clock or configuration: activity amounts and :class:`~shuangtan.domain.Factor`
objects come in (from :class:`shuangtan.factors.FactorLibrary` or from the user), a
:class:`~shuangtan.domain.CalcResult` comes out, with CO2e under an explicit GWP set and every
factor used. The arithmetic itself is in :mod:`shuangtan.calc.kernels`, shared with the
vectorised batch engine.
"""

from shuangtan.calc._common import co2e
from shuangtan.calc.combustion import (
    fuel_combustion,
    fuel_combustion_measured_carbon,
    fuel_combustion_tier1,
    fuel_energy_gj,
    is_energy_unit,
)
from shuangtan.calc.electricity import location_based_electricity, market_based_electricity
from shuangtan.calc.energy import energy_to_tce
from shuangtan.calc.generic import amount_times_factor
from shuangtan.calc.heat import hot_water_energy_gj, purchased_heat, steam_energy_gj
from shuangtan.calc.process import carbonate_decomposition, gas_release
from shuangtan.calc.sinks import forest_stock_change, grassland_soc_change

__all__ = [
    "amount_times_factor",
    "carbonate_decomposition",
    "co2e",
    "energy_to_tce",
    "forest_stock_change",
    "fuel_combustion",
    "fuel_combustion_measured_carbon",
    "fuel_combustion_tier1",
    "fuel_energy_gj",
    "gas_release",
    "grassland_soc_change",
    "hot_water_energy_gj",
    "is_energy_unit",
    "location_based_electricity",
    "market_based_electricity",
    "purchased_heat",
    "steam_energy_gj",
]

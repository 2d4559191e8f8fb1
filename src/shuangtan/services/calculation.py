"""The batch calculation contract behind ``shuangtan calc`` (and, later, ``POST /api/v1/calc``).

One JSON object in, one JSON object out. :func:`calculate` turns a validated record into a
:class:`~shuangtan.domain.CalcResult`: it resolves names (``柴油`` → ``diesel``, ``河北`` →
``CN-HE``), takes every parameter the record does not give from the factor library for the
record's year (an explicit parameter always wins, and is reported as ``input``), and calls the
pure method in :mod:`shuangtan.calc`. :func:`evaluate` wraps that with validation and turns any
:class:`~shuangtan.errors.ShuangtanError` into the per-line error object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

from shuangtan import calc
from shuangtan.domain.factors import Factor, MatchKind
from shuangtan.domain.results import CO2E, CalcResult
from shuangtan.errors import (
    FactorNotFoundError,
    InputError,
    ShuangtanError,
    UnitMismatchError,
    UnknownUnitError,
)
from shuangtan.factors import FactorLibrary
from shuangtan.services.requests import (
    CarbonateIn,
    ElectricityIn,
    EnergyTceIn,
    FactorIn,
    ForestStockChangeIn,
    FuelCombustionIn,
    GasReleaseIn,
    GrasslandSocIn,
    HeatIn,
    RecordIn,
    parse_record,
)
from shuangtan.units import is_unit, parse_emission_unit

__all__ = [
    "calculate",
    "default_library",
    "error_object",
    "evaluate",
    "present",
    "result_object",
]

_ELECTRICITY_KEYS: Final = {
    "average": "cn.electricity.grid_average",
    "residual": "cn.electricity.residual",
    "fossil": "cn.electricity.fossil",
    "ets": "cn.electricity.ets",
}


@cache
def default_library() -> FactorLibrary:
    """The packaged factor library, loaded once per process."""
    return FactorLibrary.load()


def present(value: float) -> float:
    """A computed quantity at 15 significant digits, the precision a double guarantees.

    Removes binary-representation noise (1000 × 0.7252 = 725.1999999999999 becomes 725.2) and
    nothing else: a double carries 15.95 significant decimal digits, so every digit kept is
    meaningful. Applied only when results leave the system (ADR 0006).
    """
    # + 0.0 turns a negative zero (an exported amount of 0) into 0.0.
    return float(f"{value:.15g}") + 0.0


class _Resolver:
    """Takes library values for one record, with the record's year and fallback policy."""

    def __init__(self, library: FactorLibrary, record: RecordIn) -> None:
        self.library = library
        self.year = record.year
        self.allow_prior = record.fallback == "latest_prior"
        self.warnings: list[str] = []

    def select(self, key: str, *, region: str, gas: str = "", field: str | None = None) -> Factor:
        try:
            factor = self.library.select(
                key,
                region=region,
                gas=gas,
                year=self.year,
                allow_prior=self.allow_prior,
                field=field,
            )
        except FactorNotFoundError as exc:
            # The factor exists, only not for this year: the year is what to change.
            if self.library.vintages(key, gas=gas, region=region):
                raise FactorNotFoundError(exc.message, field="year") from None
            raise
        if (
            factor.match is MatchKind.LATEST
            and len(self.library.vintages(key, gas=gas, region=region)) > 1
        ):
            self.warnings.append(
                f"no year given: {key} is the newest vintage (valid from {factor.valid_from})"
            )
        elif factor.match is MatchKind.LATEST_PRIOR:
            self.warnings.append(
                f"no vintage of {key} covers {self.year}: used the one valid until "
                f"{factor.valid_to} (fallback latest_prior)"
            )
        return factor

    def value(
        self,
        given: float | None,
        name: str,
        unit: str,
        key: str,
        *,
        region: str,
        gas: str = "",
        field: str | None = None,
    ) -> Factor:
        """The input value when given, else the library's."""
        if given is not None:
            return Factor.from_input(name, given, unit, gas=gas)
        return self.select(key, region=region, gas=gas, field=field or name)


def _check_unit(unit: str, field: str) -> str:
    if not is_unit(unit):
        raise UnknownUnitError(unit, field=field)
    return unit


def _fuel(r: FuelCombustionIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    unit = _check_unit(r.unit, "unit")
    fuel = lib.resolve("energy", r.fuel, field="fuel")
    explicit_ef = {
        gas: value
        for gas, value in (
            ("CO2", r.ef_co2_kg_per_tj),
            ("CH4", r.ef_ch4_kg_per_tj),
            ("N2O", r.ef_n2o_kg_per_tj),
        )
        if value is not None
    }
    physical = not calc.is_energy_unit(unit)
    prefix = "ipcc2006.fuel" if r.defaults == "ipcc2006" else "cn.fuel"
    if not physical and r.ncv is not None:
        res.warnings.append(f"ncv is not used: the amount is already energy ({unit})")
    region = "GLOBAL" if prefix.startswith("ipcc") else "CN"

    def ncv() -> Factor | None:
        if not physical:
            return None
        if r.ncv is None and not lib.has(f"{prefix}.{fuel}.ncv", region=region):
            raise FactorNotFoundError(
                f"no default net calorific value for {fuel} ({prefix}); give ncv [GJ/{unit}]",
                field="ncv",
            )
        return res.value(r.ncv, "ncv", f"GJ/{unit}", f"{prefix}.{fuel}.ncv", region=region)

    if explicit_ef or r.defaults == "ipcc2006":
        if r.carbon_content is not None or r.carbon_per_unit is not None:
            field = "carbon_content" if r.carbon_content is not None else "carbon_per_unit"
            raise InputError("belongs to the Chinese method, not to per-gas factors", field=field)
        key = f"ipcc2006.stationary.energy_industries.{fuel}"
        if explicit_ef:
            efs = {
                gas: Factor.from_input(f"ef_{gas.lower()}_kg_per_tj", value, f"kg{gas}/TJ", gas=gas)
                for gas, value in explicit_ef.items()
            }
        else:
            gases = lib.gases(key, region="GLOBAL")
            if not gases:
                raise FactorNotFoundError(
                    f"no IPCC 2006 default emission factors for {fuel}", field="fuel"
                )
            efs = {g: res.select(key, region="GLOBAL", gas=g, field="fuel") for g in gases}
        return calc.fuel_combustion_tier1(
            amount=r.amount, unit=unit, ncv=ncv(), emission_factors=efs, gwp=gwp
        )

    if r.oxidation is None and not lib.has(f"cn.fuel.{fuel}.oxidation", region="CN"):
        raise FactorNotFoundError(
            f"no Chinese default parameters for {fuel}; give oxidation and "
            "carbon_content (or ef_*_kg_per_tj)",
            field="fuel",
        )
    oxidation = res.value(r.oxidation, "oxidation", "1", f"cn.fuel.{fuel}.oxidation", region="CN")
    if r.carbon_per_unit is not None:
        if r.carbon_content is not None:
            raise InputError(
                "give carbon_content or carbon_per_unit, not both", field="carbon_per_unit"
            )
        c_ar = Factor.from_input("carbon_per_unit", r.carbon_per_unit, f"tC/{unit}")
        optional_ncv = (
            Factor.from_input("ncv", r.ncv, f"GJ/{unit}")
            if r.ncv is not None and physical
            else None
        )
        return calc.fuel_combustion_measured_carbon(
            amount=r.amount,
            unit=unit,
            carbon_per_unit=c_ar,
            oxidation=oxidation,
            gwp=gwp,
            ncv=optional_ncv,
        )
    carbon = res.value(
        r.carbon_content, "carbon_content", "tC/GJ", f"cn.fuel.{fuel}.carbon_content", region="CN"
    )
    return calc.fuel_combustion(
        amount=r.amount, unit=unit, ncv=ncv(), carbon_content=carbon, oxidation=oxidation, gwp=gwp
    )


def _electricity(r: ElectricityIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    unit = _check_unit(r.unit, "unit")
    market = r.basis == "market"
    if not market and r.residual_factor is not None:
        raise InputError("is used only with basis market", field="residual_factor")
    if not market and r.green_amount:
        raise InputError(
            "zero-emission instruments count only with basis market", field="green_amount"
        )
    if market and r.factor is not None and r.residual_factor is not None:
        raise InputError("give factor or residual_factor, not both", field="residual_factor")
    given = r.residual_factor if market and r.residual_factor is not None else r.factor
    if given is not None:
        name = "residual_factor" if given is r.residual_factor else "factor"
        factor = Factor.from_input(name, given, "tCO2/MWh", gas="CO2")
    else:
        if r.region is None:
            raise InputError(
                "is required to choose the grid factor (or give factor)", field="region"
            )
        region = lib.resolve("region", r.region, field="region")
        if r.year is None:
            raise InputError(
                "is required to choose the grid factor of that year (or give factor)", field="year"
            )
        key = _ELECTRICITY_KEYS[r.factor_kind]
        if not lib.has(key, gas="CO2", region=region):
            raise FactorNotFoundError(
                f"no {r.factor_kind} electricity factor for {region}"
                + ("" if r.factor_kind == "average" else " (published for CN only)"),
                field="region",
            )
        factor = res.select(key, region=region, gas="CO2", field="year")
    if market:
        if r.factor_kind == "average" and given is None and (r.green_amount or 0) > 0:
            res.warnings.append(
                "uncovered consumption is valued at the grid average, as in Chinese ETS practice; "
                "GHG Protocol market-based accounting uses the residual mix (factor_kind residual)"
            )
        return calc.market_based_electricity(
            amount=r.amount,
            unit=unit,
            green_amount=r.green_amount or 0.0,
            factor=factor,
            gwp=gwp,
            exported=r.exported,
        )
    return calc.location_based_electricity(
        amount=r.amount, unit=unit, factor=factor, gwp=gwp, exported=r.exported
    )


def _heat(r: HeatIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    region = lib.resolve("region", r.region, field="region")
    forms = [
        name
        for name, present_ in (
            ("amount", r.amount is not None),
            ("steam_t", r.steam_t is not None),
            ("hot_water_t", r.hot_water_t is not None),
        )
        if present_
    ]
    if len(forms) != 1:
        raise InputError(
            "give exactly one of amount [GJ], steam_t or hot_water_t"
            + (f" (got {', '.join(forms)})" if forms else ""),
            field=forms[1] if len(forms) > 1 else "amount",
        )
    factor = res.value(r.factor, "factor", "tCO2/GJ", "cn.heat.purchased", region=region, gas="CO2")
    parameters: tuple[Factor, ...] = ()
    if r.amount is not None:
        unit = _check_unit(r.unit, "unit")
        try:
            energy_gj = calc.fuel_energy_gj(amount=r.amount, unit=unit, ncv=None)[0]
        except InputError:
            raise UnitMismatchError(
                f"{unit!r} is not an energy unit (GJ, MJ, kWh …)", field="unit"
            ) from None
    elif r.steam_t is not None:
        if r.steam_enthalpy_kj_per_kg is None:
            raise InputError("is required with steam_t", field="steam_enthalpy_kj_per_kg")
        feedwater = res.value(
            r.feedwater_enthalpy_kj_per_kg,
            "feedwater_enthalpy_kj_per_kg",
            "kJ/kg",
            "cn.heat.feedwater_enthalpy",
            region="CN",
        )
        energy_gj = calc.steam_energy_gj(
            steam_t=r.steam_t, enthalpy_kj_per_kg=r.steam_enthalpy_kj_per_kg, feedwater=feedwater
        )
        parameters = (feedwater,)
    else:
        assert r.hot_water_t is not None  # one form was checked above
        if r.water_temperature_c is None:
            raise InputError("is required with hot_water_t", field="water_temperature_c")
        reference = res.select("cn.heat.hot_water_reference_temperature", region="CN")
        specific_heat = res.select("cn.heat.water_specific_heat", region="CN")
        energy_gj = calc.hot_water_energy_gj(
            water_t=r.hot_water_t,
            temperature_c=r.water_temperature_c,
            reference=reference,
            specific_heat=specific_heat,
        )
        parameters = (reference, specific_heat)
    return calc.purchased_heat(
        energy_gj=energy_gj, factor=factor, gwp=gwp, exported=r.exported, parameters=parameters
    )


def _carbonate(r: CarbonateIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    name = lib.resolve("carbonate", r.carbonate, field="carbonate")
    region = lib.resolve("region", r.region, field="region")
    factor = res.value(
        r.factor,
        "factor",
        "tCO2/t",
        f"carbonate.{name}",
        region=region,
        gas="CO2",
        field="carbonate",
    )
    return calc.carbonate_decomposition(
        amount_t=r.amount_t, factor=factor, gwp=gwp, purity=r.purity, calcination=r.calcination
    )


def _gas_release(r: GasReleaseIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    gas = lib.resolve("gas", r.gas, field="gas")
    if gas == CO2E:
        raise InputError("CO2e is not a gas; give the gas released", field="gas")
    unit = _check_unit(r.unit, "unit")
    override = (
        None if r.gwp_value is None else Factor.from_input("gwp_value", r.gwp_value, "1", gas=gas)
    )
    if override is None and gas not in gwp.values and gas != "CO2":
        raise FactorNotFoundError(
            f"GWP set {gwp.name} has no value for {gas}; give gwp_value", field="gas"
        )
    return calc.gas_release(gas=gas, amount=r.amount, unit=unit, gwp=gwp, gwp_value=override)


def _energy_tce(r: EnergyTceIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    unit = _check_unit(r.unit, "unit")
    carrier = lib.resolve("energy", r.carrier, field="carrier")
    if r.coefficient is not None:
        coefficient = Factor.from_input("coefficient", r.coefficient, f"kgce/{unit}")
    else:
        key = f"cn.tce.{carrier}.{r.basis}"
        if r.basis == "equal_value" and not lib.has(key, region="CN"):
            equivalent = f"cn.tce.{carrier}.equivalent"
            if carrier in ("electricity", "heat") or not lib.has(equivalent, region="CN"):
                raise FactorNotFoundError(
                    f"no equal value (等价值) for {carrier}; give coefficient [kgce/{unit}]",
                    field="carrier",
                )
            res.warnings.append(
                f"{carrier} is primary energy: its equal value is its equivalent value (GB/T 2589)"
            )
            key = equivalent
        elif not lib.has(key, region="CN"):
            raise FactorNotFoundError(
                f"no GB/T 2589 coefficient for {carrier}; give coefficient [kgce/{unit}]",
                field="carrier",
            )
        if r.basis == "equal_value" and key.endswith("equal_value") and r.year is None:
            raise InputError(
                "is required for the equal value (等价值), which changes by year", field="year"
            )
        coefficient = res.select(key, region="CN", field="year" if r.year else "carrier")
    return calc.energy_to_tce(amount=r.amount, unit=unit, coefficient=coefficient, gwp=gwp)


def _forest(r: ForestStockChangeIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    if r.volume_change_m3 is not None:
        if r.volume_start_m3 is not None or r.volume_end_m3 is not None:
            raise InputError(
                "give volume_change_m3 or the start and end volumes, not both",
                field="volume_change_m3",
            )
        if not math.isfinite(r.volume_change_m3):
            raise InputError("must be a finite number", field="volume_change_m3")
        change = r.volume_change_m3
    else:
        for name in ("volume_start_m3", "volume_end_m3"):
            if getattr(r, name) is None:
                raise InputError("is required (or give volume_change_m3)", field=name)
        assert r.volume_end_m3 is not None
        assert r.volume_start_m3 is not None
        change = r.volume_end_m3 - r.volume_start_m3
    species = lib.resolve("species", r.species, field="species") if r.species else None

    def parameter(name: str, given: float | None, unit: str) -> Factor:
        if given is not None:
            return Factor.from_input(name, given, unit)
        if species is None:
            raise InputError("is required without species (or give species)", field=name)
        return res.select(f"forest.{species}.{name}", region="CN", field="species")

    return calc.forest_stock_change(
        volume_change_m3=change,
        wood_density=parameter("wood_density", r.wood_density, "t/m3"),
        bef=parameter("bef", r.bef, "1"),
        root_shoot=parameter("root_shoot", r.root_shoot, "1"),
        carbon_fraction=parameter("carbon_fraction", r.carbon_fraction, "1"),
        gwp=gwp,
        years=r.years,
    )


def _grassland(r: GrasslandSocIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)

    def given(name: str) -> Factor:
        return Factor.from_input(name, getattr(r, name), "1")

    return calc.grassland_soc_change(
        area_ha=r.area_ha,
        soc_ref=Factor.from_input("soc_ref_tc_per_ha", r.soc_ref_tc_per_ha, "tC/ha"),
        before=(given("f_lu_before"), given("f_mg_before"), given("f_i_before")),
        after=(given("f_lu_after"), given("f_mg_after"), given("f_i_after")),
        gwp=gwp,
        years=r.years,
    )


def _generic(r: FactorIn, lib: FactorLibrary, res: _Resolver) -> CalcResult:
    gwp = lib.gwp_set(r.gwp)
    amount_unit = _check_unit(r.amount_unit, "amount_unit")
    forms = [n for n in ("factor", "gas_factors", "factor_key") if getattr(r, n) is not None]
    if len(forms) != 1:
        raise InputError(
            "give exactly one of factor, gas_factors or factor_key"
            + (f" (got {', '.join(forms)})" if forms else ""),
            field=forms[1] if len(forms) > 1 else "factor",
        )
    factors: dict[str, Factor] = {}
    if r.factor is not None or r.gas_factors is not None:
        if r.factor_unit is None:
            raise InputError("is required with factor or gas_factors", field="factor_unit")
        try:
            parsed = parse_emission_unit(r.factor_unit)
        except UnknownUnitError as exc:
            raise UnknownUnitError(
                r.factor_unit, field="factor_unit", hint=exc.message.split("; ", 1)[-1]
            ) from None
        if parsed.per_unit is None:
            raise UnitMismatchError(
                "must be a mass per activity unit, such as kgCO2e/kWh", field="factor_unit"
            )
        if r.factor is not None:
            if parsed.gas is None or parsed.gas == "C":
                raise InputError(
                    "must name the gas, such as kgCO2e/kWh or kgCO2/mmBtu", field="factor_unit"
                )
            factors[parsed.gas] = Factor.from_input(
                "factor", r.factor, r.factor_unit, gas=parsed.gas
            )
        else:
            assert r.gas_factors is not None
            if parsed.gas is not None:
                raise InputError(
                    "must not name a gas when gas_factors gives one per gas (use kg/mmBtu)",
                    field="factor_unit",
                )
            units = r.gas_factor_units or {}
            for name in units:
                if name not in r.gas_factors:
                    raise InputError(
                        "has no value in gas_factors", field=f"gas_factor_units.{name}"
                    )
            for name, value in r.gas_factors.items():
                gas = lib.resolve("gas", name, field=f"gas_factors.{name}")
                unit = units.get(name, r.factor_unit)
                try:
                    per_gas = parse_emission_unit(unit)
                except UnknownUnitError:
                    raise UnknownUnitError(unit, field=f"gas_factor_units.{name}") from None
                if per_gas.gas not in (None, gas) or per_gas.per_unit is None:
                    raise UnitMismatchError(
                        f"{unit!r} does not fit {gas}", field=f"gas_factor_units.{name}"
                    )
                factors[gas] = Factor.from_input(f"gas_factors.{gas}", value, unit, gas=gas)
    else:
        assert r.factor_key is not None
        key = r.factor_key
        if r.factor_unit is not None:
            raise InputError("comes from the library with factor_key", field="factor_unit")
        regions = list(lib.regions(key))
        if not regions:
            raise FactorNotFoundError(f"no factor {key!r} in the library", field="factor_key")
        if r.region is not None:
            region = lib.resolve("region", r.region, field="region")
        elif len(regions) == 1:
            region = regions[0]
        else:
            raise InputError(f"is required: {key} exists for {', '.join(regions)}", field="region")
        gases = [g for g in lib.gases(key, region=region) if g]
        if not gases:
            raise FactorNotFoundError(
                f"{key} is not an emission factor for {region}", field="factor_key"
            )
        for gas in gases:
            factors[gas] = res.select(key, region=region, gas=gas, field="factor_key")
    energy = None
    if r.energy_per_unit is not None:
        if r.energy_per_unit_unit is None:
            raise InputError("is required with energy_per_unit", field="energy_per_unit_unit")
        head, slash, per = r.energy_per_unit_unit.partition("/")
        if not slash or not is_unit(head) or not is_unit(per):
            raise UnknownUnitError(
                r.energy_per_unit_unit,
                field="energy_per_unit_unit",
                hint="expected energy per unit of amount, such as mmBtu/scf",
            )
        energy = Factor.from_input("energy_per_unit", r.energy_per_unit, r.energy_per_unit_unit)
    elif r.energy_per_unit_unit is not None:
        raise InputError("is required with energy_per_unit_unit", field="energy_per_unit")
    return calc.amount_times_factor(
        amount=r.amount,
        amount_unit=amount_unit,
        gas_factors=factors,
        gwp=gwp,
        energy_per_unit=energy,
    )


_DISPATCH: Final[dict[str, Callable[[Any, FactorLibrary, _Resolver], CalcResult]]] = {
    "fuel_combustion": _fuel,
    "electricity": _electricity,
    "heat": _heat,
    "carbonate": _carbonate,
    "gas_release": _gas_release,
    "energy_tce": _energy_tce,
    "forest_stock_change": _forest,
    "grassland_soc": _grassland,
    "factor": _generic,
}


def calculate(record: Any, library: FactorLibrary | None = None) -> CalcResult:
    """Compute one record of the batch contract.

    Parameters
    ----------
    record : Any
        A decoded JSON object with ``id``, ``method`` and the method's fields.
    library : FactorLibrary, optional
        The factor library; the packaged one by default.

    Returns
    -------
    CalcResult
        Includes the library's warnings (vintage choices) after the method's own.

    Raises
    ------
    ShuangtanError
        Bad input or a missing factor, naming the field.
    """
    lib = library if library is not None else default_library()
    parsed = parse_record(record)
    resolver = _Resolver(lib, parsed)
    result = _DISPATCH[parsed.method](parsed, lib, resolver)
    if resolver.warnings:
        result = CalcResult(
            method=result.method,
            gases_t=result.gases_t,
            co2e_t=result.co2e_t,
            gwp_set=result.gwp_set,
            factors=result.factors,
            energy_gj=result.energy_gj,
            tce_t=result.tce_t,
            per_year=result.per_year,
            warnings=(*result.warnings, *resolver.warnings),
        )
    return result


def result_object(record_id: Any, result: CalcResult, library_version: str) -> dict[str, Any]:
    """The output object of a successful record, with computed quantities presented."""
    out: dict[str, Any] = {
        "id": record_id,
        "method": result.method,
        "co2e_t": present(result.co2e_t),
        "gases_t": {gas: present(mass) for gas, mass in result.gases_t.items()},
    }
    if result.energy_gj is not None:
        out["energy_gj"] = present(result.energy_gj)
    if result.tce_t is not None:
        out["tce_t"] = present(result.tce_t)
    if result.per_year is not None:
        out["per_year"] = present(result.per_year)
    out["gwp_set"] = result.gwp_set
    out["library_version"] = library_version
    out["factors"] = [factor.lineage() for factor in result.factors]
    out["warnings"] = list(result.warnings)
    return out


def error_object(record_id: Any, field: str | None, message: str) -> dict[str, Any]:
    """The output object of a failed record."""
    return {
        "id": record_id,
        "error": {"field": field if field is not None else "$", "message": message},
    }


def _record_id(record: Any) -> Any:
    if isinstance(record, Mapping):
        value = record.get("id")
        if isinstance(value, (str, int, float)) or value is None:
            return value
    return None


def evaluate(record: Any, library: FactorLibrary | None = None) -> tuple[dict[str, Any], bool]:
    """Compute one decoded record into its output object; never raises for bad input.

    Returns
    -------
    tuple[dict, bool]
        The output object and whether it succeeded.
    """
    lib = library if library is not None else default_library()
    record_id = _record_id(record)
    try:
        result = calculate(record, lib)
    except ShuangtanError as exc:
        return error_object(record_id, exc.field, exc.message), False
    return result_object(record_id, result, lib.version), True

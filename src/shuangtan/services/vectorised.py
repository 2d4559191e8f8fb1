"""The vectorised batch engine: NumPy over groups of records that share everything but the amount.

A chunk of lines is decoded, and each record of a common shape (fuel combustion by the Chinese
or IPCC method, electricity, heat in GJ, carbonates, gas releases, energy to tce) is grouped with
the records that share all its fields except ``id`` and the amount. For each group a *plan* is
made once, by computing one representative record through the per-record path
(:func:`shuangtan.services.calculation.calculate`): that validates the shape, resolves the
factors and fixes the lineage, warnings and output layout. The amounts of the group are then
computed together by the same kernels (:mod:`shuangtan.calc.kernels`) with the same factor values
in the same order of operations, so the numbers are bit-identical to the per-record path.

Everything else — other methods, records whose validation depends on the amount (green power
above consumption, overflow), malformed lines and every error — goes through the per-record path,
so error objects are identical by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import orjson

from shuangtan.calc import kernels
from shuangtan.calc._common import emission_parts, ratio_parameter
from shuangtan.domain.factors import Factor
from shuangtan.domain.results import CO2E, CalcResult
from shuangtan.errors import ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate, evaluate, present, result_object
from shuangtan.units import convert

__all__ = ["VectorEngine"]

Array = npt.NDArray[np.float64]
#: Methods the engine vectorises, with the field that varies within a group.
AMOUNT_FIELD: Final = {
    "fuel_combustion": "amount",
    "electricity": "amount",
    "heat": "amount",
    "carbonate": "amount_t",
    "gas_release": "amount",
    "energy_tce": "amount",
}
#: Plans kept across chunks; older ones are dropped first, so memory stays bounded.
MAX_PLANS: Final = 4096


class SummaryLike(Protocol):
    """Counters a batch run keeps."""

    records: int
    failed: int


@dataclass(frozen=True, slots=True)
class _Outputs:
    gases: dict[str, Array]
    energy_gj: Array | None = None
    tce_t: Array | None = None
    invalid: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    method: str
    compute: Callable[[Array], _Outputs]
    gwp: dict[str, float | None]  # per gas: multiplier, or None for CO2 / CO2e (counted 1)
    template: dict[str, Any]  # the representative's output object: layout and lineage


def _role(result: CalcResult, suffix: str) -> Factor | None:
    for factor in result.factors:
        if factor.key.endswith(suffix) and not factor.key.startswith("gwp."):
            return factor
    return None


def _fuel_compute(record: dict[str, Any], result: CalcResult) -> Callable[[Array], _Outputs] | None:
    if "carbon_per_unit" in record:
        return None
    unit = record["unit"]
    ncv = _role(result, ".ncv")
    per_gas = [f for f in result.factors if f.gas and not f.key.startswith("gwp.")]
    cc, of = _role(result, ".carbon_content"), _role(result, ".oxidation")

    def energy(a: Array) -> Array:
        if ncv is None:
            return np.asarray(convert(a, unit, "GJ"), dtype=np.float64)
        value, per = ratio_parameter(ncv, "GJ")
        return kernels.energy_per_unit(np.asarray(convert(a, unit, per), dtype=np.float64), value)

    if per_gas:

        def tier1(a: Array) -> _Outputs:
            e = energy(a)
            return _Outputs({f.gas: kernels.ipcc_gas_t(e, f.value) for f in per_gas}, energy_gj=e)

        return tier1
    if cc is None or of is None:
        return None
    cc_value, of_value = cc.value, of.value

    def chinese(a: Array) -> _Outputs:
        e = energy(a)
        return _Outputs({"CO2": kernels.carbon_to_co2_t(e, cc_value, of_value)}, energy_gj=e)

    return chinese


def _electricity_compute(record: dict[str, Any], result: CalcResult) -> Callable[[Array], _Outputs]:
    unit = record["unit"]
    factor = result.factors[0]
    value, mass_unit, per = emission_parts(factor)
    gas = factor.gas or "CO2"
    sign = -1.0 if record.get("exported") is True else 1.0
    market = record.get("basis") == "market"
    green = float(record.get("green_amount") or 0.0)

    def compute(a: Array) -> _Outputs:
        activity = np.asarray(convert(a, unit, per), dtype=np.float64)
        if market:
            green_activity = float(convert(green, unit, per))
            mass = kernels.market_electricity_co2_t(activity, green_activity, value)
            invalid = a < green
        else:
            mass = kernels.electricity_co2_t(activity, value)
            invalid = None
        mass_t = np.asarray(convert(mass, mass_unit, "t"), dtype=np.float64)
        energy = np.asarray(convert(a, unit, "GJ"), dtype=np.float64)
        return _Outputs({gas: sign * mass_t}, energy_gj=sign * energy, invalid=invalid)

    return compute


def _heat_compute(record: dict[str, Any], result: CalcResult) -> Callable[[Array], _Outputs] | None:
    if any(k in record for k in ("steam_t", "hot_water_t")):
        return None
    unit = record.get("unit", "GJ")
    factor = result.factors[-1]
    value, mass_unit, _ = emission_parts(factor)
    gas = factor.gas or "CO2"
    sign = -1.0 if record.get("exported") is True else 1.0

    def compute(a: Array) -> _Outputs:
        energy = np.asarray(convert(a, unit, "GJ"), dtype=np.float64)
        mass_t = np.asarray(
            convert(kernels.heat_co2_t(energy, value), mass_unit, "t"), dtype=np.float64
        )
        return _Outputs({gas: sign * mass_t}, energy_gj=sign * energy)

    return compute


def _carbonate_compute(record: dict[str, Any], result: CalcResult) -> Callable[[Array], _Outputs]:
    factor = result.factors[0]
    value, mass_unit, _ = emission_parts(factor)
    purity = float(record.get("purity", 1.0))
    calcination = float(record.get("calcination", 1.0))

    def compute(a: Array) -> _Outputs:
        mass = kernels.carbonate_co2_t(a, purity, calcination, value)
        return _Outputs({"CO2": np.asarray(convert(mass, mass_unit, "t"), dtype=np.float64)})

    return compute


def _gas_release_compute(record: dict[str, Any], result: CalcResult) -> Callable[[Array], _Outputs]:
    unit = record["unit"]
    (gas,) = result.gases_t

    def compute(a: Array) -> _Outputs:
        return _Outputs({gas: np.asarray(convert(a, unit, "t"), dtype=np.float64)})

    return compute


def _tce_compute(record: dict[str, Any], result: CalcResult) -> Callable[[Array], _Outputs]:
    unit = record["unit"]
    value, per = ratio_parameter(result.factors[0], "kgce")

    def compute(a: Array) -> _Outputs:
        activity = np.asarray(convert(a, unit, per), dtype=np.float64)
        return _Outputs({}, tce_t=kernels.tce_t(activity, value))

    return compute


_BUILDERS: Final[
    dict[str, Callable[[dict[str, Any], CalcResult], Callable[[Array], _Outputs] | None]]
] = {
    "fuel_combustion": _fuel_compute,
    "electricity": _electricity_compute,
    "heat": _heat_compute,
    "carbonate": _carbonate_compute,
    "gas_release": _gas_release_compute,
    "energy_tce": _tce_compute,
}


class VectorEngine:
    """Computes chunks of decoded lines, vectorising groups of common shapes.

    Parameters
    ----------
    library : FactorLibrary
        The factor library.
    """

    def __init__(self, library: FactorLibrary) -> None:
        self.library = library
        self._plans: dict[tuple[Any, ...], _Plan | None] = {}

    def _plan(self, key: tuple[Any, ...], record: dict[str, Any]) -> _Plan | None:
        if key in self._plans:
            return self._plans[key]
        if len(self._plans) >= MAX_PLANS:
            del self._plans[next(iter(self._plans))]
        plan: _Plan | None = None
        try:
            result = calculate(record, self.library)
        except ShuangtanError:
            result = None
        if result is not None:
            compute = _BUILDERS[result.method](record, result)
            if compute is not None:
                gwp: dict[str, float | None] = {}
                by_gas = {
                    f.gas: f.value
                    for f in result.factors
                    if f.key.startswith(("gwp.", "input.gwp_value"))
                }
                for gas in result.gases_t:
                    gwp[gas] = None if gas in ("CO2", CO2E) else by_gas[gas]
                template = result_object(None, result, self.library.version)
                # bytes(bytearray(…)) drops the spare capacity orjson leaves on its results.
                for name in ("factors", "warnings"):
                    template[name] = orjson.Fragment(bytes(bytearray(orjson.dumps(template[name]))))
                plan = _Plan(result.method, compute, gwp, template)
        self._plans[key] = plan
        return plan

    def run_chunk(self, lines: Sequence[bytes], first_line: int, summary: SummaryLike) -> bytes:
        """Compute one chunk of lines; return the output lines, in order."""
        n = len(lines)
        outputs: list[bytes | None] = [None] * n
        groups: dict[tuple[Any, ...], tuple[dict[str, Any], list[int], list[Any], list[float]]] = {}
        slow: list[tuple[int, Any]] = []
        for i, line in enumerate(lines):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                slow.append((i, None))
                continue
            field = None
            if record.__class__ is dict:
                method = record.get("method")
                field = AMOUNT_FIELD.get(method) if method.__class__ is str else None
            if field is None:
                slow.append((i, record))
                continue
            record_id = record.get("id")
            amount = record.get(field)
            kind = amount.__class__
            id_kind = record_id.__class__
            if not (
                (kind is float or kind is int)
                and amount >= 0
                and (id_kind is int or (id_kind is str and len(record_id) <= 200))
            ):
                slow.append((i, record))
                continue
            # The group key: every other field with its value and type (1, True and 1.0 must
            # not share a plan), built by C-level calls. Unhashable values fail the lookup and
            # take the per-record path.
            del record["id"]
            del record[field]
            key = (tuple(record.items()), tuple(map(type, record.values())))
            try:
                group = groups.get(key)
            except TypeError:
                slow.append((i, None))
                continue
            if group is None:
                record["id"] = record_id
                record[field] = amount
                groups[key] = (record, [i], [record_id], [float(amount)])
            else:
                group[1].append(i)
                group[2].append(record_id)
                group[3].append(float(amount))
        failed = 0
        for key, (representative, indices, ids, amounts) in groups.items():
            if len(indices) == 1 and key not in self._plans:
                # A shape seen once is cheaper through the per-record path than as a plan.
                slow.append((indices[0], None))
                continue
            plan = self._plan(key, representative)
            if plan is None:
                slow.extend((i, None) for i in indices)
                continue
            self._fill(plan, indices, ids, amounts, outputs, slow)
        for i, _ in slow:
            record_bytes, ok = self._slow(lines[i], first_line + i)
            outputs[i] = record_bytes
            failed += 0 if ok else 1
        summary.records += n
        summary.failed += failed
        return b"".join(o for o in outputs if o is not None)

    def _fill(
        self,
        plan: _Plan,
        indices: list[int],
        ids: list[Any],
        amounts: list[float],
        outputs: list[bytes | None],
        slow: list[tuple[int, Any]],
    ) -> None:
        a = np.asarray(amounts, dtype=np.float64)
        result = plan.compute(a)
        gases = {gas: values.tolist() for gas, values in result.gases.items()}
        bad = np.zeros(len(a), dtype=bool) if result.invalid is None else result.invalid.copy()
        for values in (*result.gases.values(), result.energy_gj, result.tce_t):
            if values is not None:
                bad |= ~np.isfinite(values)
        energy = result.energy_gj.tolist() if result.energy_gj is not None else None
        tce = result.tce_t.tolist() if result.tce_t is not None else None
        gwp = plan.gwp
        template = plan.template
        single = len(gwp) == 1
        (only_gas, only_gwp) = next(iter(gwp.items())) if single else ("", None)
        bad_list = bad.tolist()
        for j, index in enumerate(indices):
            if bad_list[j]:
                slow.append((index, None))
                continue
            if single:
                mass = gases[only_gas][j]
                shown = present(mass)
                masses = {only_gas: shown}
                if only_gwp is None:
                    # CO2e of a CO2 mass is the mass: fsum([m]) == m + 0.0, and present() adds 0.0.
                    out_co2e = shown
                else:
                    co2e = mass * only_gwp + 0.0
                    if not math.isfinite(co2e):
                        slow.append((index, None))
                        continue
                    out_co2e = present(co2e)
            else:
                terms = [gases[g][j] if m is None else gases[g][j] * m for g, m in gwp.items()]
                co2e = math.fsum(terms) if terms else 0.0
                masses = {g: present(gases[g][j]) for g in gwp}
                if not math.isfinite(co2e):
                    slow.append((index, None))
                    continue
                out_co2e = present(co2e)
            out = dict(template)
            out["id"] = ids[j]
            out["co2e_t"] = out_co2e
            out["gases_t"] = masses
            if energy is not None:
                out["energy_gj"] = present(energy[j])
            if tce is not None:
                out["tce_t"] = present(tce[j])
            outputs[index] = orjson.dumps(out) + b"\n"

    def _slow(self, line: bytes, number: int) -> tuple[bytes, bool]:
        from shuangtan.services.batch import decode_line

        record, error = decode_line(line, number)
        if error is not None:
            return orjson.dumps(error) + b"\n", False
        obj, ok = evaluate(record, self.library)
        return orjson.dumps(obj) + b"\n", ok

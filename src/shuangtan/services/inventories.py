"""Inventories of the organisation tree: compute, roll up, version and explain changes.

An organisation's inventory for a period covers every active source in its subtree. Each
activity datum inside the period becomes one record of the batch contract (the same record
``shuangtan calc`` takes, see :func:`activity_record`), so an inventory always equals
``shuangtan calc`` over its activity data. Sums are exact (:func:`math.fsum`), per source, per
scope, per gas, per category and per subtree.

A recomputation writes a new version; :func:`diff_items` compares two versions source by
source and says why each changed: which activity datum, which factor, the library version or
the GWP set.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from shuangtan.domain.results import CalcResult
from shuangtan.errors import FactorError, InputError, ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate, present
from shuangtan.services.requests import METHODS, parse_record
from shuangtan.units import convert

__all__ = [
    "AMOUNT_FIELDS",
    "ActivityRow",
    "ComputedInventory",
    "ComputedItem",
    "InventoryStore",
    "OrgNode",
    "Period",
    "SourceRow",
    "activity_record",
    "compute_inventory",
    "diff_items",
    "energy_record",
    "month_bounds",
    "monthly_split",
    "months_of",
    "parse_period",
    "recompute",
    "validate_source",
]

#: Which record field carries the activity amount, per method.
AMOUNT_FIELDS: Final[dict[str, frozenset[str]]] = {
    "fuel_combustion": frozenset({"amount"}),
    "electricity": frozenset({"amount"}),
    "heat": frozenset({"amount", "steam_t", "hot_water_t"}),
    "carbonate": frozenset({"amount_t"}),
    "gas_release": frozenset({"amount"}),
    "energy_tce": frozenset({"amount"}),
    "factor": frozenset({"amount"}),
    "forest_stock_change": frozenset({"volume_change_m3"}),
    "grassland_soc": frozenset({"area_ha"}),
}
#: Methods whose ``amount`` has a unit field of the record.
_UNIT_FIELD: Final[dict[str, str]] = {
    "fuel_combustion": "unit",
    "electricity": "unit",
    "heat": "unit",
    "gas_release": "unit",
    "energy_tce": "unit",
    "factor": "amount_unit",
}
#: Amount fields whose unit is fixed by their name: a datum in another unit is converted.
FIXED_UNITS: Final[dict[str, str]] = {
    "amount_t": "t",
    "steam_t": "t",
    "hot_water_t": "t",
    "volume_change_m3": "m3",
    "area_ha": "ha",
}
#: Record fields a source's params may not set (the platform sets them per datum).
_RESERVED: Final[frozenset[str]] = frozenset({"id", "method", "year", "gwp"})

_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|\d{2}))?$")


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period: a year ``2025``, a quarter ``2025-Q1`` or a month ``2025-03``.

    ``start`` is inclusive, ``end`` exclusive.
    """

    label: str
    start: dt.date
    end: dt.date

    @property
    def year(self) -> int:
        """The calendar year the period lies in."""
        return self.start.year


def parse_period(text: str, *, field: str = "period") -> Period:
    """Parse ``2025``, ``2025-Q2`` or ``2025-07``.

    Raises
    ------
    InputError
        Naming ``field``.
    """
    match = _PERIOD.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InputError(
            f"must be a year (2025), a quarter (2025-Q1) or a month (2025-03); got {text!r}",
            field=field,
        )
    year = int(match.group(1))
    if not 1990 <= year <= 2100:
        raise InputError(f"year must be within 1990–2100; got {year}", field=field)
    part = match.group(2)
    if part is None:
        return Period(f"{year}", dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    if part.startswith("Q"):
        q = int(part[1])
        start = dt.date(year, 3 * q - 2, 1)
        end = dt.date(year + 1, 1, 1) if q == 4 else dt.date(year, 3 * q + 1, 1)
        return Period(f"{year}-{part}", start, end)
    month = int(part)
    if not 1 <= month <= 12:
        raise InputError(f"month must be 01–12; got {part}", field=field)
    start, end = month_bounds(year, month)
    return Period(f"{year}-{month:02d}", start, end)


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    """First day of the month and first day of the next."""
    days = calendar.monthrange(year, month)[1]
    return dt.date(year, month, 1), dt.date(year, month, days) + dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class OrgNode:
    """What an inventory needs to know of an organisation."""

    id: int
    parent_id: int | None
    path: str
    code: str
    kind: str
    name_zh: str
    name_en: str
    sector: str | None = None


@dataclass(frozen=True, slots=True)
class SourceRow:
    """An emission source as the calculation needs it."""

    id: int
    code: str
    org_id: int
    name_zh: str
    name_en: str
    scope: int
    category: str
    method: str
    params: Mapping[str, Any]
    amount_field: str
    unit: str
    tce_carrier: str | None = None
    tce_from_energy: bool = False


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One activity datum: the amount of a source over ``[period_start, period_end)``."""

    id: int
    source_id: int
    period_start: dt.date
    period_end: dt.date
    amount: float
    unit: str
    version: int = 1


def validate_source(
    method: str, params: Mapping[str, Any], amount_field: str, unit: str
) -> dict[str, Any]:
    """Check that a source's definition makes valid records; return the params to store.

    The amount's unit is written into the params where the method has a unit field, so the
    stored params always build the full record.

    Raises
    ------
    InputError
        Naming the field (``method``, ``amount_field``, ``params.<name>``, ``unit``).
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} (known: {', '.join(METHODS)})", field="method")
    allowed = AMOUNT_FIELDS[method]
    if amount_field not in allowed:
        raise InputError(
            f"must be one of {', '.join(sorted(allowed))} for method {method!r}",
            field="amount_field",
        )
    clean = dict(params)
    for name in clean:
        if name in _RESERVED or name == amount_field:
            raise InputError(
                "is set by the platform for each activity datum", field=f"params.{name}"
            )
    fixed = FIXED_UNITS.get(amount_field)
    if fixed is not None:
        try:
            convert(1.0, unit, fixed)
        except InputError as exc:
            raise InputError(f"{amount_field} is in {fixed}: {exc.message}", field="unit") from None
    unit_field = _UNIT_FIELD.get(method) if amount_field == "amount" else None
    if unit_field is not None:
        clean[unit_field] = unit
    probe = {"id": "probe", "method": method, **clean, amount_field: 1.0}
    try:
        parse_record(probe)
    except InputError as exc:
        name = exc.field or "$"
        raise InputError(
            exc.message, field="unit" if name == unit_field else f"params.{name}"
        ) from None
    return clean


def activity_record(source: SourceRow, activity: ActivityRow, gwp: str = "AR6") -> dict[str, Any]:
    """The batch-contract record of one activity datum (what ``shuangtan calc`` takes)."""
    amount = activity.amount
    fixed = FIXED_UNITS.get(source.amount_field)
    if fixed is not None and activity.unit != fixed:
        # The field's name fixes its unit (steam_t is tonnes): convert, never reinterpret.
        try:
            amount = float(convert(amount, activity.unit, fixed))
        except InputError as exc:
            raise InputError(exc.message, field="unit") from None
    record: dict[str, Any] = {
        "id": f"{source.code}/{activity.period_start.isoformat()}",
        "method": source.method,
        "year": activity.period_start.year,
        "gwp": gwp,
        **source.params,
        source.amount_field: amount,
    }
    unit_field = _UNIT_FIELD.get(source.method) if source.amount_field == "amount" else None
    if unit_field is not None:
        record[unit_field] = activity.unit
    return record


def energy_record(
    source: SourceRow, activity: ActivityRow, energy_gj: float | None
) -> dict[str, Any] | None:
    """The ``energy_tce`` record of one datum, or ``None`` for a non-energy source.

    Sources marked ``tce_from_energy`` (steam by enthalpy) convert the energy the emission
    record computed [GJ]; the others convert the activity amount itself.
    """
    if source.tce_carrier is None:
        return None
    base = {
        "id": f"{source.code}/{activity.period_start.isoformat()}/tce",
        "method": "energy_tce",
        "carrier": source.tce_carrier,
        "year": activity.period_start.year,
    }
    if source.tce_from_energy:
        if energy_gj is None:
            return None
        return {**base, "amount": energy_gj, "unit": "GJ"}
    return {**base, "amount": activity.amount, "unit": activity.unit}


@dataclass
class ComputedItem:
    """One source's result over the period."""

    source: SourceRow
    co2e_t: float
    energy_tce: float | None
    gases_t: dict[str, float]
    factors: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    warnings: list[str]
    #: Each datum's result, in period order: the lineage month by month.
    results: list[CalcResult] = field(default_factory=list, repr=False)


@dataclass
class ComputedInventory:
    """A computed inventory: items plus the API document (``summary``)."""

    org: OrgNode
    period: Period
    gwp_set: str
    library_version: str
    items: list[ComputedItem]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def co2e_t(self) -> float:
        """Total over the subtree. [tCO2e]"""
        return math.fsum(i.co2e_t for i in self.items)

    @property
    def energy_tce(self) -> float:
        """Total energy, equivalent value. [tce]"""
        return math.fsum(i.energy_tce for i in self.items if i.energy_tce is not None)


def _factor_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        entry["key"],
        entry.get("gas", ""),
        entry.get("region", ""),
        entry.get("valid_from", ""),
        entry["value"],
    )


def _compute_item(
    source: SourceRow,
    rows: Sequence[ActivityRow],
    library: FactorLibrary,
    gwp: str,
) -> ComputedItem:
    results: list[CalcResult] = []
    energy: list[float] = []
    factors: dict[tuple[Any, ...], dict[str, Any]] = {}
    warnings: dict[str, None] = {}
    for row in rows:
        record = activity_record(source, row, gwp)
        try:
            result = calculate(record, library)
            tce_record = energy_record(source, row, result.energy_gj)
            tce = calculate(tce_record, library) if tce_record is not None else None
        except ShuangtanError as exc:
            kind = (
                InputError
                if isinstance(exc, InputError)
                else FactorError
                if isinstance(exc, FactorError)
                else ShuangtanError
            )
            raise kind(
                f"source {source.code}, activity {row.period_start.isoformat()}: {exc.message}",
                field=exc.field,
            ) from None
        results.append(result)
        for factor in result.factors:
            entry = factor.lineage()
            factors.setdefault(_factor_key(entry), entry)
        for warning in result.warnings:
            warnings.setdefault(warning, None)
        if tce is not None:
            assert tce.tce_t is not None
            energy.append(tce.tce_t)
            for factor in tce.factors:
                entry = factor.lineage()
                factors.setdefault(_factor_key(entry), entry)
    gases: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for gas, mass in result.gases_t.items():
            gases[gas].append(mass)
    return ComputedItem(
        source=source,
        co2e_t=math.fsum(r.co2e_t for r in results),
        energy_tce=math.fsum(energy) if source.tce_carrier is not None else None,
        gases_t={gas: math.fsum(masses) for gas, masses in sorted(gases.items())},
        factors=list(factors.values()),
        activity=[
            {
                "id": row.id,
                "period_start": row.period_start.isoformat(),
                "period_end": row.period_end.isoformat(),
                "amount": row.amount,
                "unit": row.unit,
                "version": row.version,
            }
            for row in rows
        ],
        warnings=list(warnings),
        results=results,
    )


def compute_inventory(
    org: OrgNode,
    subtree: Sequence[OrgNode],
    sources: Sequence[SourceRow],
    activity: Iterable[ActivityRow],
    period: Period,
    library: FactorLibrary,
    *,
    gwp: str = "AR6",
    economics: Mapping[int, Mapping[str, Any]] | None = None,
) -> ComputedInventory:
    """Compute ``org``'s inventory for ``period`` from its subtree's sources and activity.

    Parameters
    ----------
    org : OrgNode
        The organisation.
    subtree : Sequence[OrgNode]
        Every organisation in its subtree, itself included.
    sources : Sequence[SourceRow]
        Every active source of the subtree.
    activity : Iterable[ActivityRow]
        Activity data of those sources; only data wholly inside the period count.
    period : Period
        The period.
    library : FactorLibrary
        The factor library (its version is pinned in the result).
    gwp : str
        GWP set for CO2e.
    economics : Mapping[int, Mapping[str, Any]] or None
        Economic data of ``org`` for the period's year, by org id, for intensities.

    Raises
    ------
    ShuangtanError
        A datum could not be computed; the message names the source and period.
    """
    library.gwp_set(gwp, field="gwp")
    by_source: dict[int, list[ActivityRow]] = defaultdict(list)
    straddling: list[str] = []
    codes = {source.id: source.code for source in sources}
    for row in activity:
        if row.period_start >= period.start and row.period_end <= period.end:
            by_source[row.source_id].append(row)
        elif row.period_start < period.end and row.period_end > period.start:
            straddling.append(
                f"{codes.get(row.source_id, row.source_id)} "
                f"{row.period_start.isoformat()}…{row.period_end.isoformat()}"
            )
    items = [
        _compute_item(
            source, sorted(by_source.get(source.id, ()), key=lambda r: r.period_start), library, gwp
        )
        for source in sorted(sources, key=lambda s: s.code)
    ]
    inventory = ComputedInventory(
        org=org, period=period, gwp_set=gwp, library_version=library.version, items=items
    )
    inventory.summary = _summary(inventory, subtree, economics or {})
    if straddling:
        # Never pro-rated silently: a datum counts only in periods that contain it whole.
        inventory.summary["warnings"].append(
            f"{len(straddling)} activity data straddle {period.label} and were left out: "
            + ", ".join(straddling[:10])
            + (" …" if len(straddling) > 10 else "")
        )
    return inventory


def _breakdowns(items: Sequence[ComputedItem]) -> dict[str, Any]:
    scope: dict[int, list[float]] = defaultdict(list)
    gas: dict[str, list[float]] = defaultdict(list)
    category: dict[str, list[float]] = defaultdict(list)
    for item in items:
        scope[item.source.scope].append(item.co2e_t)
        category[item.source.category].append(item.co2e_t)
        for name, mass in item.gases_t.items():
            gas[name].append(mass)
    return {
        "co2e_t": present(math.fsum(i.co2e_t for i in items)),
        "energy_tce": present(math.fsum(i.energy_tce for i in items if i.energy_tce is not None)),
        "by_scope": {str(k): present(math.fsum(v)) for k, v in sorted(scope.items())},
        "by_gas": {k: present(math.fsum(v)) for k, v in sorted(gas.items())},
        "by_category": {k: present(math.fsum(v)) for k, v in sorted(category.items())},
    }


def _summary(
    inventory: ComputedInventory,
    subtree: Sequence[OrgNode],
    economics: Mapping[int, Mapping[str, Any]],
) -> dict[str, Any]:
    org = inventory.org
    nodes = {node.id: node for node in subtree}
    kids: dict[int | None, list[OrgNode]] = defaultdict(list)
    for node in subtree:
        if node.id != org.id:
            kids[node.parent_id].append(node)
    items_by_org: dict[int, list[ComputedItem]] = defaultdict(list)
    for item in inventory.items:
        items_by_org[item.source.org_id].append(item)

    def subtree_items(node: OrgNode) -> list[ComputedItem]:
        out = list(items_by_org.get(node.id, ()))
        for child in kids.get(node.id, ()):
            out.extend(subtree_items(child))
        return out

    def tree(node: OrgNode) -> dict[str, Any]:
        own = subtree_items(node)
        totals = _breakdowns(own)
        return {
            "id": node.id,
            "code": node.code,
            "kind": node.kind,
            "name_zh": node.name_zh,
            "name_en": node.name_en,
            "sector": node.sector,
            "co2e_t": totals["co2e_t"],
            "energy_tce": totals["energy_tce"],
            "by_scope": totals["by_scope"],
            "children": [tree(c) for c in sorted(kids.get(node.id, ()), key=lambda n: n.code)],
        }

    totals = _breakdowns(inventory.items)
    warnings: dict[str, None] = {}
    for item in inventory.items:
        for w in item.warnings:
            warnings.setdefault(w, None)
    econ = economics.get(org.id)
    intensity: dict[str, float] = {}
    if econ:
        total = math.fsum(i.co2e_t for i in inventory.items)
        energy = math.fsum(i.energy_tce for i in inventory.items if i.energy_tce is not None)
        output = econ.get("output_value_10k_cny")
        added = econ.get("value_added_10k_cny")
        if output:
            intensity["co2e_t_per_10k_cny_output"] = present(total / output)
            intensity["tce_per_10k_cny_output"] = present(energy / output)
        if added:
            intensity["co2e_t_per_10k_cny_value_added"] = present(total / added)
            intensity["tce_per_10k_cny_value_added"] = present(energy / added)
    return {
        "organization": {
            "id": org.id,
            "code": org.code,
            "kind": org.kind,
            "name_zh": org.name_zh,
            "name_en": org.name_en,
        },
        "period": inventory.period.label,
        "period_start": inventory.period.start.isoformat(),
        "period_end": inventory.period.end.isoformat(),
        "gwp_set": inventory.gwp_set,
        "library_version": inventory.library_version,
        **totals,
        "intensity": intensity,
        "by_source": [
            {
                "source_id": item.source.id,
                "code": item.source.code,
                "name_zh": item.source.name_zh,
                "name_en": item.source.name_en,
                "org_id": item.source.org_id,
                "org_code": nodes[item.source.org_id].code if item.source.org_id in nodes else None,
                "scope": item.source.scope,
                "category": item.source.category,
                "method": item.source.method,
                "co2e_t": present(item.co2e_t),
                "energy_tce": None if item.energy_tce is None else present(item.energy_tce),
                "gases_t": {g: present(m) for g, m in item.gases_t.items()},
                "months": len(item.activity),
            }
            for item in inventory.items
        ],
        "children": tree(org)["children"],
        "warnings": list(warnings),
    }


# --- differences between versions ----------------------------------------------------------


def _activity_changes(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    before = {a["period_start"] + "/" + a["period_end"]: a for a in old}
    after = {a["period_start"] + "/" + a["period_end"]: a for a in new}
    changes: list[dict[str, Any]] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None and b is not None:
            changes.append(
                {
                    "kind": "activity_added",
                    "activity_id": b["id"],
                    "period_start": b["period_start"],
                    "period_end": b["period_end"],
                    "new_amount": b["amount"],
                    "unit": b["unit"],
                }
            )
        elif b is None and a is not None:
            changes.append(
                {
                    "kind": "activity_removed",
                    "activity_id": a["id"],
                    "period_start": a["period_start"],
                    "period_end": a["period_end"],
                    "old_amount": a["amount"],
                    "unit": a["unit"],
                }
            )
        elif (
            a is not None
            and b is not None
            and (a["amount"] != b["amount"] or a["unit"] != b["unit"])
        ):
            changes.append(
                {
                    "kind": "activity_changed",
                    "activity_id": b["id"],
                    "period_start": b["period_start"],
                    "period_end": b["period_end"],
                    "old_amount": a["amount"],
                    "new_amount": b["amount"],
                    "old_unit": a["unit"],
                    "unit": b["unit"],
                    "old_version": a.get("version"),
                    "new_version": b.get("version"),
                }
            )
    return changes


def _factor_changes(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    def ident(entry: Mapping[str, Any]) -> tuple[str, str, str]:
        return (entry["key"], entry.get("gas", ""), entry.get("region", ""))

    before: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    after: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for e in old:
        before[ident(e)].append(e)
    for e in new:
        after[ident(e)].append(e)
    changes: list[dict[str, Any]] = []
    for key in sorted(before.keys() | after.keys()):
        a = sorted(before.get(key, ()), key=lambda e: e.get("valid_from", ""))
        b = sorted(after.get(key, ()), key=lambda e: e.get("valid_from", ""))
        if [(e["value"], e.get("unit"), e.get("valid_from"), e.get("source_id")) for e in a] == [
            (e["value"], e.get("unit"), e.get("valid_from"), e.get("source_id")) for e in b
        ]:
            continue
        changes.append(
            {
                "kind": "factor_changed"
                if a and b
                else ("factor_added" if b else "factor_removed"),
                "key": key[0],
                "gas": key[1] or None,
                "region": key[2] or None,
                "old": [
                    {
                        "value": e["value"],
                        "unit": e["unit"],
                        "valid_from": e.get("valid_from"),
                        "source": e.get("source"),
                    }
                    for e in a
                ],
                "new": [
                    {
                        "value": e["value"],
                        "unit": e["unit"],
                        "valid_from": e.get("valid_from"),
                        "source": e.get("source"),
                    }
                    for e in b
                ],
            }
        )
    return changes


def diff_items(
    old_meta: Mapping[str, Any],
    old_items: Sequence[Mapping[str, Any]],
    new_meta: Mapping[str, Any],
    new_items: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Compare two versions of an inventory source by source, with the reasons.

    Parameters
    ----------
    old_meta, new_meta : Mapping[str, Any]
        ``{"version", "library_version", "gwp_set", "co2e_t"}`` of each version.
    old_items, new_items : Sequence[Mapping[str, Any]]
        Items as stored: ``{"source_id", "source_code", "co2e_t", "energy_tce", "factors",
        "activity", "method", "scope", "category"}``.

    Returns
    -------
    dict
        ``{"from_version", "to_version", "co2e_t": {"old", "new", "delta"}, "reasons",
        "sources": [{"code", "old_co2e_t", "new_co2e_t", "delta_co2e_t", "reasons"}]}``; only
        changed sources are listed. [tCO2e]
    """
    reasons: list[dict[str, Any]] = []
    if old_meta["library_version"] != new_meta["library_version"]:
        reasons.append(
            {
                "kind": "library_version",
                "old": old_meta["library_version"],
                "new": new_meta["library_version"],
            }
        )
    if old_meta["gwp_set"] != new_meta["gwp_set"]:
        reasons.append({"kind": "gwp_set", "old": old_meta["gwp_set"], "new": new_meta["gwp_set"]})
    before = {i["source_code"]: i for i in old_items}
    after = {i["source_code"]: i for i in new_items}
    sources: list[dict[str, Any]] = []
    for code in sorted(before.keys() | after.keys()):
        a, b = before.get(code), after.get(code)
        entry_reasons: list[dict[str, Any]] = []
        if a is None:
            entry_reasons.append({"kind": "source_added"})
        elif b is None:
            entry_reasons.append({"kind": "source_removed"})
        else:
            if (
                a["method"] != b["method"]
                or a["scope"] != b["scope"]
                or a["category"] != b["category"]
            ):
                entry_reasons.append(
                    {
                        "kind": "source_changed",
                        "old": {k: a[k] for k in ("method", "scope", "category")},
                        "new": {k: b[k] for k in ("method", "scope", "category")},
                    }
                )
            entry_reasons.extend(_activity_changes(a["activity"], b["activity"]))
            entry_reasons.extend(_factor_changes(a["factors"], b["factors"]))
        old_value = a["co2e_t"] if a is not None else 0.0
        new_value = b["co2e_t"] if b is not None else 0.0
        old_energy = a.get("energy_tce") if a is not None else None
        new_energy = b.get("energy_tce") if b is not None else None
        if not entry_reasons and old_value == new_value and old_energy == new_energy:
            continue
        if not entry_reasons:
            entry_reasons.extend(reasons)
        sources.append(
            {
                "source_id": (b or a or {}).get("source_id"),
                "code": code,
                "old_co2e_t": present(old_value),
                "new_co2e_t": present(new_value),
                "delta_co2e_t": present(new_value - old_value),
                "old_energy_tce": None if old_energy is None else present(old_energy),
                "new_energy_tce": None if new_energy is None else present(new_energy),
                "reasons": entry_reasons,
            }
        )
    old_total = math.fsum(i["co2e_t"] for i in old_items)
    new_total = math.fsum(i["co2e_t"] for i in new_items)
    return {
        "from_version": old_meta["version"],
        "to_version": new_meta["version"],
        "co2e_t": {
            "old": present(old_total),
            "new": present(new_total),
            "delta": present(new_total - old_total),
        },
        "reasons": reasons,
        "sources": sources,
    }


# --- the use case, against a port ---------------------------------------------------------


class InventoryStore(Protocol):
    """What :func:`recompute` needs from storage (the SQLAlchemy repository implements it)."""

    def inventory_inputs(
        self, org_id: int, period: Period
    ) -> tuple[
        OrgNode, list[OrgNode], list[SourceRow], list[ActivityRow], dict[int, dict[str, Any]]
    ]:
        """The organisation, its subtree, its sources, their activity and its economics."""
        ...

    def save_inventory(
        self, computed: ComputedInventory, *, user_id: int | None, reason: str
    ) -> tuple[int, int, dict[str, Any] | None]:
        """Store a new version; return ``(inventory id, version, diff to the previous)``."""
        ...


def recompute(
    store: InventoryStore,
    library: FactorLibrary,
    org_id: int,
    period: Period,
    *,
    gwp: str = "AR6",
    user_id: int | None = None,
    reason: str = "",
) -> tuple[int, int, ComputedInventory, dict[str, Any] | None]:
    """Compute and store a new version of an organisation's inventory.

    Returns
    -------
    tuple
        ``(inventory id, version, the computed inventory, diff to the previous version or
        None for a first version)``.
    """
    org, subtree, sources, activity, economics = store.inventory_inputs(org_id, period)
    computed = compute_inventory(
        org, subtree, sources, activity, period, library, gwp=gwp, economics=economics
    )
    inventory_id, version, diff = store.save_inventory(computed, user_id=user_id, reason=reason)
    return inventory_id, version, computed, diff


# --- apportionment to months --------------------------------------------------------------


def months_of(start: dt.date, end: dt.date) -> list[tuple[str, int]]:
    """The months ``[start, end)`` overlaps (``YYYY-MM``), with the days of each it covers."""
    out: list[tuple[str, int]] = []
    day = start
    while day < end:
        last = calendar.monthrange(day.year, day.month)[1]
        month_end = dt.date(day.year, day.month, last) + dt.timedelta(days=1)
        stop = min(end, month_end)
        out.append((f"{day.year:04d}-{day.month:02d}", (stop - day).days))
        day = stop
    return out


def monthly_split(
    items: Iterable[tuple[float, float | None, Sequence[Mapping[str, Any]]]],
) -> dict[str, tuple[float, float]]:
    """Each source's result over the period apportioned to months by its activity data.

    A source's result is split in proportion to its data's amounts (by count when their units
    differ), and a datum covering several months by days. With constant factors over the year
    this is exactly the monthly calculation; otherwise it is an apportionment.

    Parameters
    ----------
    items : iterable of tuple
        ``(co2e_t [tCO2e], energy_tce [tce] or None, activity)`` per source, ``activity`` as
        stored with an inventory item (``period_start``, ``period_end``, ``amount``, ``unit``).

    Returns
    -------
    dict
        ``YYYY-MM`` → ``(co2e [tCO2e], energy [tce])``, in month order.
    """
    co2e: dict[str, list[float]] = defaultdict(list)
    energy: dict[str, list[float]] = defaultdict(list)
    for item_co2e, item_tce, activity in items:
        if not activity:
            continue
        units = {a.get("unit") for a in activity}
        weights = [float(a["amount"]) if len(units) == 1 else 1.0 for a in activity]
        total = math.fsum(weights)
        if total == 0:
            weights, total = [1.0] * len(activity), float(len(activity))
        for datum, weight in zip(activity, weights, strict=True):
            share = weight / total
            start = dt.date.fromisoformat(datum["period_start"])
            end = dt.date.fromisoformat(datum["period_end"])
            months = months_of(start, end)
            days = sum(d for _, d in months) or 1
            for month, covered in months:
                part = share * covered / days
                co2e[month].append(item_co2e * part)
                if item_tce is not None:
                    energy[month].append(item_tce * part)
    return {
        m: (math.fsum(co2e[m]), math.fsum(energy.get(m, ()))) for m in sorted(co2e.keys() | energy)
    }

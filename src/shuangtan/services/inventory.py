"""An organisation's inventory from monthly activity data.

Every source and month goes through the batch contract; totals by source, scope and gas are
exact sums; energy is in tce (GB/T 2589).

It works on a JSON document (the bundled sample enterprise, ``shuangtan demo sample``) by
turning it into the platform's inputs: the arithmetic is :mod:`shuangtan.services.inventories`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from rich.table import Table

from shuangtan.domain.results import CalcResult
from shuangtan.errors import InputError
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import default_library
from shuangtan.services.inventories import (
    FIXED_UNITS,
    ActivityRow,
    OrgNode,
    Period,
    SourceRow,
    activity_record,
    energy_record,
    month_bounds,
    parse_period,
)
from shuangtan.services.inventories import compute_inventory as platform_inventory

__all__ = [
    "Inventory",
    "SourceTotal",
    "compute_inventory",
    "inventory_records",
    "load_sample",
    "render_tables",
]


@dataclass
class SourceTotal:
    """Totals of one emission source over the period."""

    id: str
    name_zh: str
    name_en: str
    scope: int
    category: str
    co2e_t: float
    gases_t: dict[str, float]
    tce_t: float | None
    results: list[CalcResult] = field(repr=False)


@dataclass
class Inventory:
    """An organisation's inventory for one period, with lineage per source and month."""

    enterprise: Mapping[str, Any]
    year: int
    gwp_set: str
    library_version: str
    sources: list[SourceTotal]

    @property
    def co2e_t(self) -> float:
        """Total emissions, scope 1 + 2. [tCO2e]"""
        return math.fsum(s.co2e_t for s in self.sources)

    @property
    def tce_t(self) -> float:
        """Total energy consumption, equivalent value. [tce]"""
        return math.fsum(s.tce_t for s in self.sources if s.tce_t is not None)

    def by_scope(self) -> dict[int, float]:
        """Emissions per scope. [tCO2e]"""
        groups: dict[int, list[float]] = defaultdict(list)
        for s in self.sources:
            groups[s.scope].append(s.co2e_t)
        return {scope: math.fsum(v) for scope, v in sorted(groups.items())}

    def by_gas(self) -> dict[str, float]:
        """Mass per gas over all sources. [t]"""
        groups: dict[str, list[float]] = defaultdict(list)
        for s in self.sources:
            for gas, mass in s.gases_t.items():
                groups[gas].append(mass)
        return {gas: math.fsum(v) for gas, v in groups.items()}


def load_sample() -> dict[str, Any]:
    """The bundled sample enterprise: a year of monthly activity data (illustrative)."""
    text = (resources.files("shuangtan") / "samples" / "enterprise_2022.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _rows(
    document: Mapping[str, Any],
) -> tuple[OrgNode, list[SourceRow], list[ActivityRow], Period]:
    """The document as the platform's inventory inputs: one organisation, its sources, months."""
    enterprise = document["enterprise"]
    year = int(enterprise["year"])
    org = OrgNode(
        1, None, "/1/", "SAMPLE", "enterprise", enterprise["name_zh"], enterprise["name_en"]
    )
    sources: list[SourceRow] = []
    activity: list[ActivityRow] = []
    for number, source in enumerate(document["sources"], start=1):
        amount_field = source.get("amount_field", "amount")
        params = dict(source["params"])
        unit = source.get("tce_unit") or params.get("unit") or FIXED_UNITS.get(amount_field, "t")
        sources.append(
            SourceRow(
                id=number,
                code=source["id"],
                org_id=org.id,
                name_zh=source["name_zh"],
                name_en=source["name_en"],
                scope=int(source["scope"]),
                category=source["category"],
                method=source["method"],
                params=params,
                amount_field=amount_field,
                unit=unit,
                tce_carrier=source.get("tce_carrier"),
                tce_from_energy=bool(source.get("tce_from_energy")),
            )
        )
        monthly = source["monthly"]
        if len(monthly) != 12:
            raise InputError(f"source {source['id']}: needs 12 monthly amounts", field="monthly")
        for month, amount in enumerate(monthly, start=1):
            start, end = month_bounds(year, month)
            activity.append(ActivityRow(len(activity) + 1, number, start, end, float(amount), unit))
    return org, sources, activity, parse_period(str(year))


def inventory_records(document: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """The batch-contract records of a document: ``(source id, record)`` per source and month.

    The records are the platform's (:func:`~shuangtan.services.inventories.activity_record`).
    Sources marked ``tce_from_energy`` (steam by enthalpy) get their energy record from the
    heat content the emission record computes, so none is listed for them here.
    """
    gwp = document["enterprise"].get("gwp", "AR6")
    _, sources, activity, _ = _rows(document)
    by_id = {source.id: source for source in sources}
    for row in activity:
        source = by_id[row.source_id]
        yield source.code, activity_record(source, row, gwp)
        tce = None if source.tce_from_energy else energy_record(source, row, None)
        if tce is not None:
            yield source.code, tce


def compute_inventory(
    document: Mapping[str, Any], library: FactorLibrary | None = None
) -> Inventory:
    """Compute the inventory of a document of monthly activity data, as the platform does.

    Raises
    ------
    ShuangtanError
        A record failed; the message names the source, the month and the field.
    """
    lib = library if library is not None else default_library()
    enterprise = document["enterprise"]
    gwp = enterprise.get("gwp", "AR6")
    org, sources, activity, period = _rows(document)
    computed = platform_inventory(org, [org], sources, activity, period, lib, gwp=gwp)
    items = {item.source.code: item for item in computed.items}
    totals = [
        SourceTotal(
            id=source.code,
            name_zh=source.name_zh,
            name_en=source.name_en,
            scope=source.scope,
            category=source.category,
            co2e_t=items[source.code].co2e_t,
            gases_t=items[source.code].gases_t,
            tce_t=items[source.code].energy_tce,
            results=items[source.code].results,
        )
        for source in sources
    ]
    return Inventory(
        enterprise=enterprise,
        year=period.year,
        gwp_set=gwp,
        library_version=lib.version,
        sources=totals,
    )


_LABELS = {
    "zh": {
        "title": "{name} {year} 年温室气体排放清单（{gwp}）",
        "source": "排放源",
        "scope": "范围",
        "gases": "温室气体 (t)",
        "co2e": "排放量 (tCO2e)",
        "tce": "能耗 (tce, 当量值)",
        "share": "占比",
        "total": "合计",
        "summary": "按范围与气体汇总",
        "item": "项目",
        "scope_n": "范围{n}",
        "lineage": "因子库版本 {version}；GWP：{gwp}；{note}",
    },
    "en": {
        "title": "{name} — GHG inventory {year} ({gwp})",
        "source": "Source",
        "scope": "Scope",
        "gases": "Gases (t)",
        "co2e": "Emissions (tCO2e)",
        "tce": "Energy (tce, equivalent)",
        "share": "Share",
        "total": "Total",
        "summary": "By scope and gas",
        "item": "Item",
        "scope_n": "Scope {n}",
        "lineage": "Factor library {version}; GWP: {gwp}; {note}",
    },
}


def _fmt(value: float, places: int = 2) -> str:
    # Presentation only: guideline reports show tonnes to two decimals; small masses of
    # high-GWP gases keep four significant digits so they do not print as 0.00.
    if value and abs(value) < 10 ** (1 - places):
        return f"{value:.4g}"
    return f"{value:,.{places}f}"


def render_tables(inventory: Inventory, *, lang: str = "zh") -> list[Table]:
    """Rich tables of an inventory, in Chinese (``zh``) or English (``en``)."""
    t = _LABELS[lang]
    e = inventory.enterprise
    name = e["name_zh"] if lang == "zh" else e["name_en"]
    main = Table(
        title=t["title"].format(name=name, year=inventory.year, gwp=inventory.gwp_set),
        caption=t["lineage"].format(
            version=inventory.library_version,
            gwp=inventory.gwp_set,
            note=e["note_zh"] if lang == "zh" else e["note_en"],
        ),
        show_footer=True,
    )
    total = inventory.co2e_t
    main.add_column(t["source"], footer=t["total"])
    main.add_column(t["scope"], justify="center")
    main.add_column(t["gases"])
    main.add_column(t["co2e"], justify="right", footer=_fmt(total))
    main.add_column(t["share"], justify="right", footer="100.0%")
    main.add_column(t["tce"], justify="right", footer=_fmt(inventory.tce_t))
    for s in inventory.sources:
        gases = ", ".join(f"{g} {_fmt(m, 3)}" for g, m in s.gases_t.items())
        main.add_row(
            f"{s.id} {s.name_zh if lang == 'zh' else s.name_en}",
            str(s.scope),
            gases,
            _fmt(s.co2e_t),
            f"{100 * s.co2e_t / total:.1f}%" if total else "—",
            _fmt(s.tce_t) if s.tce_t is not None else "—",
        )
    summary = Table(title=t["summary"])
    summary.add_column(t["item"])
    summary.add_column(t["co2e"], justify="right")
    for scope, value in inventory.by_scope().items():
        summary.add_row(t["scope_n"].format(n=scope), _fmt(value))
    for gas, mass in inventory.by_gas().items():
        summary.add_row(f"{gas} (t)", _fmt(mass, 3))
    summary.add_row(t["tce"], _fmt(inventory.tce_t))
    return [main, summary]

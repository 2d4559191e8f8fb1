"""An organisation's inventory from monthly activity data.

Every source and month goes through the batch contract; totals by source, scope and gas are
exact sums; energy is in tce (GB/T 2589).

Until the platform's storage exists this works on a JSON document (the bundled sample
enterprise, ``shuangtan demo``); the aggregation is the one the platform will use.
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
from shuangtan.services.calculation import calculate, default_library

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


def inventory_records(document: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """The batch-contract records of a document: ``(source id, record)`` per source and month.

    Emission records carry ids ``<source>-<YYYY-MM>``; energy records ``<source>-<YYYY-MM>-tce``.
    Sources marked ``tce_from_energy`` (steam, hot water) get their energy record from the heat
    content the emission record computes, in :func:`compute_inventory`.
    """
    enterprise = document["enterprise"]
    year = int(enterprise["year"])
    gwp = enterprise.get("gwp", "AR6")
    for source in document["sources"]:
        amount_field = source.get("amount_field", "amount")
        monthly = source["monthly"]
        if len(monthly) != 12:
            raise InputError(f"source {source['id']}: needs 12 monthly amounts", field="monthly")
        for month, amount in enumerate(monthly, start=1):
            stamp = f"{year}-{month:02d}"
            record = {
                "id": f"{source['id']}-{stamp}",
                "method": source["method"],
                "year": year,
                "gwp": gwp,
                **source["params"],
                amount_field: amount,
            }
            yield source["id"], record
            carrier = source.get("tce_carrier")
            if carrier and not source.get("tce_from_energy"):
                yield (
                    source["id"],
                    {
                        "id": f"{source['id']}-{stamp}-tce",
                        "method": "energy_tce",
                        "carrier": carrier,
                        "amount": amount,
                        "unit": source.get("tce_unit", source["params"].get("unit", "t")),
                        "year": year,
                    },
                )


def compute_inventory(
    document: Mapping[str, Any], library: FactorLibrary | None = None
) -> Inventory:
    """Compute the inventory of a document of monthly activity data.

    Raises
    ------
    ShuangtanError
        A record failed; the message names the record id and field.
    """
    lib = library if library is not None else default_library()
    enterprise = document["enterprise"]
    emissions: dict[str, list[CalcResult]] = defaultdict(list)
    energy: dict[str, list[float]] = defaultdict(list)
    sources = {source["id"]: source for source in document["sources"]}
    for source_id, record in inventory_records(document):
        try:
            result = calculate(record, lib)
        except InputError as exc:
            raise InputError(f"record {record['id']}: {exc.message}", field=exc.field) from None
        if result.method == "energy_tce":
            assert result.tce_t is not None
            energy[source_id].append(result.tce_t)
            continue
        emissions[source_id].append(result)
        source = sources[source_id]
        if source.get("tce_from_energy") and result.energy_gj is not None:
            tce = calculate(
                {
                    "id": f"{record['id']}-tce",
                    "method": "energy_tce",
                    "carrier": source["tce_carrier"],
                    "amount": result.energy_gj,
                    "unit": "GJ",
                    "year": record["year"],
                },
                lib,
            )
            assert tce.tce_t is not None
            energy[source_id].append(tce.tce_t)
    totals = []
    for source in document["sources"]:
        results = emissions[source["id"]]
        gases: dict[str, list[float]] = defaultdict(list)
        for r in results:
            for gas, mass in r.gases_t.items():
                gases[gas].append(mass)
        totals.append(
            SourceTotal(
                id=source["id"],
                name_zh=source["name_zh"],
                name_en=source["name_en"],
                scope=int(source["scope"]),
                category=source["category"],
                co2e_t=math.fsum(r.co2e_t for r in results),
                gases_t={g: math.fsum(v) for g, v in gases.items()},
                tce_t=math.fsum(energy[source["id"]]) if source["id"] in energy else None,
                results=results,
            )
        )
    return Inventory(
        enterprise=enterprise,
        year=int(enterprise["year"]),
        gwp_set=enterprise.get("gwp", "AR6"),
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

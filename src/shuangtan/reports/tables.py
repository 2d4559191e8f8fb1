"""The data tables of each report: what the Excel export holds and what re-imports.

Each table has a fixed key, a title in both languages (the sheet's name) and typed columns
with a machine key. :func:`document_tables` turns a report document into its tables; the
workbook writer (:mod:`shuangtan.reports.workbook`) writes one sheet per table and
:func:`~shuangtan.reports.workbook.read_workbook` reads the same tables back, cell types
checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from shuangtan.reports.labels import (
    carrier_label,
    category_label,
    label,
    sector_label,
)

__all__ = [
    "SPECS",
    "Column",
    "Table",
    "TableSpec",
    "document_tables",
    "sheet_keys",
]

Kind = Literal["str", "float", "int", "date", "any"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column: machine key, header (a label key), cell type, number of decimals shown."""

    key: str
    header: str
    kind: Kind = "str"
    digits: int | None = None
    width: int = 14
    required: bool = False


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table: its key, its sheet title (a label key) and its columns."""

    key: str
    title: str
    columns: tuple[Column, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """The column keys, in order."""
        return tuple(c.key for c in self.columns)


@dataclass(frozen=True, slots=True)
class Table:
    """A table with its rows (dicts keyed by column key)."""

    spec: TableSpec
    rows: list[dict[str, Any]]


def _c(key: str, header: str, kind: Kind = "str", **kw: Any) -> Column:
    return Column(key, header, kind, **kw)


_T: Final = 6  # decimals shown for masses and CO2e in Excel (the cell keeps every digit)

#: Every table of every report, by key.
SPECS: Final[dict[str, TableSpec]] = {
    spec.key: spec
    for spec in (
        TableSpec(
            "info",
            "sheet.info",
            (
                _c("key", "sheet.col.key", width=26),
                _c("label", "label", width=34),
                _c("value", "value", "any", width=48),
            ),
        ),
        TableSpec(
            "organizations",
            "sheet.organizations",
            (
                _c("code", "org.code", width=18),
                _c("kind", "org.kind", width=10),
                _c("name_zh", "sheet.col.name_zh", width=28),
                _c("name_en", "sheet.col.name_en", width=28),
                _c("parent_code", "org.parent", width=18),
            ),
        ),
        TableSpec(
            "sources",
            "sheet.sources",
            (
                _c("code", "source.code", width=18),
                _c("name_zh", "sheet.col.name_zh", width=26),
                _c("name_en", "sheet.col.name_en", width=26),
                _c("org_code", "source.facility", width=18),
                _c("category", "source.category", width=22),
                _c("scope", "source.scope", "int", width=8),
                _c("iso_category", "source.iso_category", "int", width=10),
                _c("method", "source.method", width=16),
                _c("unit", "unit", width=10),
                _c("tce_carrier", "monthly.tce_carrier", width=14),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
                _c("months", "source.months", "int", width=8),
            ),
        ),
        TableSpec(
            "activity",
            "sheet.activity",
            (
                _c("source_code", "source.code", width=18, required=True),
                _c("period_start", "sheet.col.period_start", "date", width=12, required=True),
                _c("period_end", "sheet.col.period_end", "date", width=12, required=True),
                _c("amount", "activity.amount", "float", digits=4, width=18, required=True),
                _c("unit", "unit", width=10, required=True),
                _c("origin", "activity.origin", width=10),
                _c("version", "activity.version", "int", width=8),
                _c("activity_id", "sheet.col.activity_id", "int", width=10),
                _c("note", "activity.note", width=24),
            ),
        ),
        TableSpec(
            "factors",
            "sheet.factors",
            (
                _c("source_code", "source.code", width=18),
                _c("key", "factor.key", width=34),
                _c("gas", "factor.gas", width=8),
                _c("region", "factor.region", width=10),
                _c("value", "factor.value", "float", digits=6, width=14),
                _c("unit", "unit", width=12),
                _c("source_id", "sheet.col.source_id", width=22),
                _c("source", "factor.source", width=40),
                _c("clause", "factor.clause", width=18),
                _c("status", "factor.status", width=12),
                _c("valid_from", "sheet.col.valid_from", width=12),
                _c("valid_to", "sheet.col.valid_to", width=12),
                _c("match", "sheet.col.match", width=12),
            ),
        ),
        TableSpec(
            "by_gas",
            "sheet.by_gas",
            (
                _c("gas", "totals.gas", width=16),
                _c("mass_t", "totals.mass", "float", digits=_T, width=20),
                _c("gwp", "totals.gwp", "float", width=10),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
            ),
        ),
        TableSpec(
            "totals",
            "sheet.totals",
            (
                _c("dimension", "sheet.col.dimension", width=14),
                _c("key", "sheet.col.key", width=22),
                _c("label", "label", width=40),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
            ),
        ),
        TableSpec(
            "monthly",
            "sheet.monthly",
            (
                _c("month", "month", width=10),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
            ),
        ),
        TableSpec(
            "meters",
            "sheet.meters",
            (
                _c("code", "quality.meter", width=18),
                _c("name_zh", "sheet.col.name_zh", width=28),
                _c("name_en", "sheet.col.name_en", width=28),
                _c("carrier", "quality.carrier", width=12),
                _c("unit", "unit", width=8),
                _c("source_code", "source.code", width=18),
                _c("interval_s", "sheet.col.interval_s", "int", width=10),
                _c("received", "quality.received", "int", width=10),
                _c("expected", "quality.expected", "int", width=10),
                _c("completeness", "quality.rate", "float", digits=4, width=12),
            ),
        ),
        TableSpec(
            "origins",
            "sheet.origins",
            (
                _c("origin", "activity.origin", width=12),
                _c("count", "quality.count", "int", width=10),
                _c("share", "totals.share", "float", digits=4, width=10),
            ),
        ),
        TableSpec(
            "findings",
            "sheet.findings",
            (
                _c("id", "sheet.col.id", "int", width=8),
                _c("title", "verification.finding", width=50),
                _c("status", "verification.finding_status", width=14),
            ),
        ),
        TableSpec(
            "enterprises",
            "sheet.enterprises",
            (
                _c("code", "org.code", width=16),
                _c("name_zh", "sheet.col.name_zh", width=30),
                _c("name_en", "sheet.col.name_en", width=30),
                _c("sector", "org.sector", width=14),
                _c("parent_code", "org.parent", width=12),
                _c("inventory_id", "boundary.inventory_id", "int", width=10),
                _c("inventory_version", "boundary.inventory", "int", width=10),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("scope_1", "scope.1", "float", digits=_T, width=18),
                _c("scope_2", "scope.2", "float", digits=_T, width=18),
                _c("scope_3", "scope.3", "float", digits=_T, width=18),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
                _c("output_value_10k_cny", "econ.output", "float", digits=2, width=16),
                _c("value_added_10k_cny", "econ.value_added", "float", digits=2, width=16),
                _c("intensity_t_per_10k_cny", "intensity.co2e_output", "float", digits=6),
            ),
        ),
        TableSpec(
            "sectors",
            "sheet.sectors",
            (
                _c("sector", "org.sector", width=16),
                _c("label", "label", width=20),
                _c("enterprises", "park.enterprises", "int", width=10),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
                _c("share", "totals.share", "float", digits=4, width=10),
            ),
        ),
        TableSpec(
            "top",
            "sheet.top",
            (
                _c("rank", "park.rank", "int", width=6),
                _c("code", "org.code", width=16),
                _c("name_zh", "sheet.col.name_zh", width=30),
                _c("name_en", "sheet.col.name_en", width=30),
                _c("sector", "org.sector", width=14),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("share", "totals.share", "float", digits=4, width=10),
            ),
        ),
        TableSpec(
            "month_sources",
            "sheet.month_sources",
            (
                _c("code", "source.code", width=18),
                _c("name_zh", "sheet.col.name_zh", width=26),
                _c("name_en", "sheet.col.name_en", width=26),
                _c("org_code", "source.facility", width=18),
                _c("category", "source.category", width=22),
                _c("scope", "source.scope", "int", width=8),
                _c("amount", "activity.amount", "float", digits=4, width=16),
                _c("unit", "unit", width=10),
                _c("origins", "activity.origin", width=14),
                _c("tce_carrier", "monthly.tce_carrier", width=14),
                _c("co2e_t", "totals.co2e", "float", digits=_T, width=20),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
            ),
        ),
        TableSpec(
            "month_meters",
            "sheet.month_meters",
            (
                _c("code", "quality.meter", width=18),
                _c("name_zh", "sheet.col.name_zh", width=28),
                _c("name_en", "sheet.col.name_en", width=28),
                _c("org_code", "source.facility", width=18),
                _c("carrier", "quality.carrier", width=12),
                _c("unit", "unit", width=8),
                _c("source_code", "source.code", width=18),
                _c("value", "monthly.value", "float", digits=4, width=18),
                _c("intervals", "monthly.intervals", "int", width=10),
                _c("tce_carrier", "monthly.tce_carrier", width=14),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
            ),
        ),
        TableSpec(
            "energy",
            "sheet.energy",
            (
                _c("basis", "sheet.col.basis", width=12),
                _c("carrier", "quality.carrier", width=14),
                _c("label", "label", width=16),
                _c("energy_tce", "totals.energy_tce", "float", digits=_T, width=18),
            ),
        ),
    )
}

#: The tables of each kind of report, in sheet order.
_REPORT_TABLES: Final[dict[str, tuple[str, ...]]] = {
    "inventory": (
        "info",
        "organizations",
        "sources",
        "activity",
        "factors",
        "by_gas",
        "totals",
        "monthly",
        "meters",
        "origins",
        "findings",
    ),
    "park": ("info", "enterprises", "sectors", "top", "totals"),
    "monthly": ("info", "month_sources", "month_meters", "energy", "totals"),
}


def sheet_keys(report: str) -> tuple[str, ...]:
    """The tables of a kind of report, in sheet order."""
    return _REPORT_TABLES[report]


def _blank(value: Any) -> Any:
    """Empty text is an empty cell (what the workbook gives back)."""
    return None if value == "" else value


def _rows(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{c.key: _blank(row.get(c.key)) for c in spec.columns} for row in rows]


def _info(doc: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    org = doc["organization"]
    period = doc["period"]
    pairs: list[tuple[str, str, Any]] = [
        ("report", "sheet.info.report", doc["report"]),
        ("schema", "sheet.info.schema", doc["schema"]),
        ("lang", "sheet.info.lang", lang),
        ("organization.code", "org.code", org["code"]),
        ("organization.name_zh", "org.name", org["name_zh"]),
        ("organization.name_en", "org.name_en", org["name_en"]),
        ("organization.kind", "org.kind", org["kind"]),
        ("organization.credit_code", "org.credit_code", org.get("credit_code")),
        ("organization.sector", "org.sector", org.get("sector")),
        ("organization.address", "org.address", org.get("address")),
        ("period.label", "period", period["label"]),
        ("period.start", "sheet.col.period_start", period["start"]),
        ("period.end", "sheet.col.period_end", period["end"]),
    ]
    if doc["report"] == "inventory":
        meta = doc["boundary"]["inventory"]
        totals = doc["totals"]
        pairs += [
            ("variant", "sheet.info.variant", doc["variant"]),
            ("inventory.id", "boundary.inventory_id", meta["id"]),
            ("inventory.version", "boundary.inventory", meta["version"]),
            ("inventory.computed_at", "boundary.computed_at", meta["computed_at"]),
            ("inventory.gwp_set", "boundary.gwp", meta["gwp_set"]),
            ("inventory.library_version", "boundary.library", meta["library_version"]),
            ("totals.co2e_t", "totals.total", totals["co2e_t"]),
            ("totals.energy_tce", "totals.energy", totals["energy_tce"]),
        ]
        econ = doc["basic"]["economics"]
        if econ:
            pairs += [
                ("economics.output_value_10k_cny", "econ.output", econ["output_value_10k_cny"]),
                ("economics.value_added_10k_cny", "econ.value_added", econ["value_added_10k_cny"]),
                ("economics.employees", "econ.employees", econ["employees"]),
            ]
        statement = doc.get("verification")
        if statement:
            pairs += [
                ("verification.state", "verification.state", statement["state"]),
                ("verification.verifier", "verification.verifier", statement["verifier"]["code"]),
                ("verification.signed_at", "verification.signed_at", statement["signed_at"]),
                ("verification.key_id", "verification.key_id", statement["key_id"]),
                ("verification.content_sha256", "verification.sha256", statement["content_sha256"]),
                ("verification.signature", "verification.signature", statement["signature"]),
                ("verification.opinion", "verification.opinion", statement["opinion"]),
            ]
    elif doc["report"] == "park":
        totals = doc["totals"]
        pairs += [
            ("totals.enterprises", "park.enterprises", totals["enterprises"]),
            ("totals.with_inventory", "park.with_inventory", totals["with_inventory"]),
            ("totals.co2e_t", "totals.total", totals["co2e_t"]),
            ("totals.energy_tce", "totals.energy", totals["energy_tce"]),
        ]
    else:
        meta = doc["inventory"]
        pairs += [
            ("basis", "monthly.basis", doc["basis"]),
            ("inventory.id", "boundary.inventory_id", meta["id"]),
            ("inventory.version", "boundary.inventory", meta["version"]),
            ("inventory.period", "period", meta["period"]),
            ("totals.co2e_t", "totals.total", doc["totals"]["co2e_t"]),
        ]
    return [{"key": k, "label": label(h, lang), "value": _blank(v)} for k, h, v in pairs]


def _totals_inventory(doc: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    totals = doc["totals"]
    rows: list[dict[str, Any]] = [
        {
            "dimension": "total",
            "key": "total",
            "label": label("total", lang),
            "co2e_t": totals["co2e_t"],
            "energy_tce": totals.get("energy_tce"),
        }
    ]
    rows += [
        {
            "dimension": "scope",
            "key": str(s["scope"]),
            "label": label(f"scope.{s['scope']}", lang),
            "co2e_t": s["co2e_t"],
        }
        for s in totals["by_scope"]
    ]
    rows += [
        {
            "dimension": "category",
            "key": c["category"],
            "label": category_label(c["category"], lang),
            "co2e_t": c["co2e_t"],
        }
        for c in totals["by_category"]
    ]
    rows += [
        {
            "dimension": "iso_category",
            "key": str(c["category"]),
            "label": label(f"iso.{c['category']}", lang),
            "co2e_t": c["co2e_t"],
        }
        for c in totals.get("by_iso_category", [])
    ]
    rows += [
        {
            "dimension": "facility",
            "key": f["code"],
            "label": f["name_zh"] if lang == "zh_CN" or not f["name_en"] else f["name_en"],
            "co2e_t": f["co2e_t"],
            "energy_tce": f.get("energy_tce"),
        }
        for f in totals.get("by_facility", [])
    ]
    return rows


def document_tables(doc: Mapping[str, Any], lang: str) -> list[Table]:
    """The data tables of a report document, in sheet order (empty tables left out).

    Parameters
    ----------
    doc : mapping
        A document of :mod:`shuangtan.reports.data`.
    lang : str
        Language of the labels in the ``label`` columns and of the sheet titles.
    """
    kind = doc["report"]
    rows: dict[str, list[dict[str, Any]]] = {"info": _info(doc, lang)}
    if kind == "inventory":
        quality = doc["quality"]
        rows.update(
            {
                "organizations": doc["boundary"]["organizations"],
                "sources": doc["sources"],
                "activity": doc["activity"],
                "factors": doc["factors"],
                "by_gas": doc["totals"]["by_gas"],
                "totals": _totals_inventory(doc, lang),
                "monthly": doc["totals"]["monthly"],
                "meters": quality["meters"],
                "origins": quality["origins"],
                "findings": (doc.get("verification") or {}).get("findings", []),
            }
        )
    elif kind == "park":
        totals = doc["totals"]
        rows.update(
            {
                "enterprises": [
                    {
                        **e,
                        "inventory_id": (e["inventory"] or {}).get("id"),
                        "inventory_version": (e["inventory"] or {}).get("version"),
                        "scope_1": e["by_scope"].get("1"),
                        "scope_2": e["by_scope"].get("2"),
                        "scope_3": e["by_scope"].get("3"),
                    }
                    for e in doc["enterprises"]
                ],
                "sectors": [
                    {**s, "label": sector_label(s["sector"], lang)} for s in totals["by_sector"]
                ],
                "top": totals["top"],
                "totals": [
                    {
                        "dimension": "total",
                        "key": "total",
                        "label": label("total", lang),
                        "co2e_t": totals["co2e_t"],
                        "energy_tce": totals["energy_tce"],
                    },
                    *(
                        {
                            "dimension": "scope",
                            "key": str(s["scope"]),
                            "label": label(f"scope.{s['scope']}", lang),
                            "co2e_t": s["co2e_t"],
                        }
                        for s in totals["by_scope"]
                    ),
                    *(
                        {
                            "dimension": "category",
                            "key": c["category"],
                            "label": category_label(c["category"], lang),
                            "co2e_t": c["co2e_t"],
                        }
                        for c in totals["by_category"]
                    ),
                ],
            }
        )
    else:
        totals = doc["totals"]
        rows.update(
            {
                "month_sources": [{**s, "origins": " ".join(s["origins"])} for s in doc["sources"]],
                "month_meters": doc["meters"],
                "energy": [
                    *(
                        {
                            "basis": "activity",
                            "carrier": e["carrier"],
                            "label": carrier_label(e["carrier"], lang),
                            "energy_tce": e["energy_tce"],
                        }
                        for e in doc["energy"]["from_activity"]
                    ),
                    *(
                        {
                            "basis": "meters",
                            "carrier": e["carrier"],
                            "label": carrier_label(e["carrier"], lang),
                            "energy_tce": e["energy_tce"],
                        }
                        for e in doc["energy"]["from_meters"]
                    ),
                ],
                "totals": [
                    {
                        "dimension": "total",
                        "key": "total",
                        "label": label("total", lang),
                        "co2e_t": totals["co2e_t"],
                        "energy_tce": totals["energy_tce_activity"],
                    },
                    *(
                        {
                            "dimension": "scope",
                            "key": str(s["scope"]),
                            "label": label(f"scope.{s['scope']}", lang),
                            "co2e_t": s["co2e_t"],
                        }
                        for s in totals["by_scope"]
                    ),
                    *(
                        {
                            "dimension": "category",
                            "key": c["category"],
                            "label": category_label(c["category"], lang),
                            "co2e_t": c["co2e_t"],
                        }
                        for c in totals["by_category"]
                    ),
                ],
            }
        )
    out = []
    for key in sheet_keys(kind):
        table_rows = rows.get(key) or []
        if key != "info" and not table_rows:
            continue
        spec = SPECS[key]
        out.append(Table(spec, _rows(spec, table_rows)))
    return out

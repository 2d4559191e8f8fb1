"""The overview: a park's or a region's emissions, energy, top emitters, data quality, live data.

``GET /`` shows the caller's top visible organisation (``?org=`` picks another visible one,
``?period=`` a year; by default the latest year with an inventory): KPI cards, charts by
month, scope, category and sector, the enterprises ranked by emissions, their intensities per
output value, the GB/T 37947 data quality of their meters over a month and live figures
polled from ``GET /overview/live.json``.

Everything comes from the stored inventory document and items (the same the API serves) and
from the readings tables, through the caller's scoped store: nothing is cached across requests.

The helpers at the top (names, the monthly split, economics, latest readings, chart layout)
are shared with :mod:`shuangtan.web.ui.enterprises`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, cast

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select

from shuangtan.adapters.db.models import (
    InventoryItem,
    Meter,
    MeterRollup,
    Organization,
    OrgEconomics,
    QuarantinedReading,
    Reading,
)
from shuangtan.adapters.db.repositories import Store
from shuangtan.domain.platform import CATEGORIES, SECTORS, Category, OrgKind
from shuangtan.errors import NotFoundError
from shuangtan.services.access import Action
from shuangtan.services.inventories import monthly_split
from shuangtan.services.quality import COMPLETENESS_MIN
from shuangtan.web.ui.core import N_, Page, Table, UiPage, display_name, fmt_number, render

__all__ = [
    "LOCAL_OFFSET",
    "category_label",
    "figure",
    "inventory_years",
    "latest_readings",
    "local_time",
    "monthly_split",
    "output_values",
    "router",
    "sector_label",
]

router = APIRouter(include_in_schema=False)

#: Asia/Shanghai: days, months and times are shown in local time (no daylight saving).
LOCAL_OFFSET: Final = dt.timedelta(hours=8)
#: Rows of the top-emitters table per page.
TOP_PAGE_SIZE: Final = 10
#: Seconds between two polls of the live figures, by default and at the least (app.js's floor).
LIVE_EVERY_S: Final = 15
LIVE_EVERY_MIN_S: Final = 5
#: Colours of the charts (the stylesheet's brand green, then distinguishable companions).
COLOURS: Final = ("#0f6e5a", "#d08c2b", "#3b6fb6", "#9b4d96", "#5b6b70", "#b3261e")
_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
YearQ = Annotated[str | None, Query(max_length=4)]
OrgQ = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


# --- shared helpers ---------------------------------------------------------------------------


def category_label(code: str, locale: str) -> str:
    """A source category's name in the page's language (the code when unknown)."""
    try:
        zh, en = CATEGORIES[Category(code)]
    except (ValueError, KeyError):
        return code
    return zh if locale == "zh_CN" else en


def sector_label(code: str | None, locale: str) -> str:
    """An industry sector's name in the page's language (the code when unknown)."""
    if code is None:
        return "–"
    zh, en = SECTORS.get(code, (code, code))
    return zh if locale == "zh_CN" else en


def local_time(ts: dt.datetime | None) -> str | None:
    """A naive UTC timestamp as local time (Asia/Shanghai), to the minute."""
    return None if ts is None else (ts + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M")


def inventory_years(store: Store, org_id: int) -> list[str]:
    """The years with a current inventory of an organisation, newest first."""
    items, _ = store.list_inventories(org_id=org_id, limit=200)
    return sorted({i.period for i in items if _YEAR.match(i.period)}, reverse=True)


def stored_items(
    store: Store, inventory_id: int
) -> list[tuple[float, float | None, list[dict[str, Any]]]]:
    """``(co2e_t, energy_tce, activity)`` of each item of an inventory the caller has reached.

    Only call it with an id the scoped store gave (``current_inventory_id``).
    """
    stmt = select(InventoryItem.co2e_t, InventoryItem.energy_tce, InventoryItem.activity).where(
        InventoryItem.inventory_id == inventory_id
    )
    rows = [(co2e, tce, act) for co2e, tce, act in store.session.execute(stmt)]
    return cast(list[tuple[float, float | None, list[dict[str, Any]]]], rows)


def output_values(store: Store, root: Organization, year: int) -> dict[int, float]:
    """Output value [10⁴ CNY] of each visible organisation under ``root`` for a year."""
    stmt = (
        select(OrgEconomics.org_id, OrgEconomics.output_value_10k_cny)
        .join(Organization, Organization.id == OrgEconomics.org_id)
        .where(Organization.path.like(root.path + "%"), OrgEconomics.year == year)
    )
    scope = store.where(Action.READ)
    if scope is not None:
        stmt = stmt.where(scope)
    return {
        org_id: float(value) for org_id, value in store.session.execute(stmt) if value is not None
    }


def latest_readings(
    store: Store, root: Organization
) -> list[tuple[int, int, str, dt.datetime | None, float | None]]:
    """Each visible meter under ``root`` with its latest reading.

    Returns
    -------
    list of tuple
        ``(meter id, org id, org path, latest ts [naive UTC] or None, its value [unit])``.
    """
    last_ts = (
        select(Reading.ts)
        .where(Reading.meter_id == Meter.id)
        .order_by(Reading.ts.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_value = (
        select(Reading.value)
        .where(Reading.meter_id == Meter.id)
        .order_by(Reading.ts.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(Meter.id, Meter.org_id, Organization.path, last_ts, last_value)
        .join(Organization, Organization.id == Meter.org_id)
        .where(Organization.path.like(root.path + "%"))
    )
    scope = store.where(Action.READ)
    if scope is not None:
        stmt = stmt.where(scope)
    rows = [(m, o, p, ts, v) for m, o, p, ts, v in store.session.execute(stmt)]
    return cast(list[tuple[int, int, str, dt.datetime | None, float | None]], rows)


def figure(
    data: list[dict[str, Any]], *, y_title: str = "", height: int = 320, **layout: Any
) -> dict[str, Any]:
    """A Plotly figure with the dashboard's look (fonts, margins, no mode bar clutter)."""
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 50},
        "font": {
            "family": '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", system-ui, '
            "sans-serif",
            "size": 12,
        },
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "colorway": list(COLOURS),
        "separators": ".,",
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#d7e0e2", "separatethousands": True},
        "xaxis": {"automargin": True},
    }
    base.update(layout)
    return {"data": data, "layout": base, "config": {"displayModeBar": False}}


def monthly_figure(page: Page, months: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """Emissions (bars) and energy (line, right axis) by month."""
    years = {m[:4] for m in months}
    # Within one year the month numbers say it all (and read the same in both languages).
    labels = [m[5:] if len(years) == 1 else m for m in months]
    return figure(
        [
            {
                "type": "bar",
                "name": page.gettext(N_("Emissions (tCO2e)")),
                "x": labels,
                "y": [round(v[0], 2) for v in months.values()],
                "marker": {"color": COLOURS[0]},
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": page.gettext(N_("Energy (tce)")),
                "x": labels,
                "y": [round(v[1], 2) for v in months.values()],
                "yaxis": "y2",
                "line": {"color": COLOURS[1]},
            },
        ],
        y_title="tCO2e",
        yaxis2={
            "title": {"text": "tce"},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
            "separatethousands": True,
        },
        xaxis={"type": "category", "title": {"text": next(iter(years)) if len(years) == 1 else ""}},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        margin={"l": 70, "r": 70, "t": 30, "b": 50},
    )


def bar_figure(
    labels: list[str], values: list[float], *, horizontal: bool = False, unit: str = "tCO2e"
) -> dict[str, Any]:
    """One series of bars (horizontal for long labels)."""
    rounded = [round(v, 2) for v in values]
    trace: dict[str, Any] = {
        "type": "bar",
        "marker": {"color": [COLOURS[0] if v >= 0 else COLOURS[1] for v in values]},
        "hovertemplate": "%{"
        + ("y" if horizontal else "x")
        + "}: %{"
        + ("x" if horizontal else "y")
        + ":,.2f} "
        + unit
        + "<extra></extra>",
    }
    if horizontal:
        trace.update({"orientation": "h", "x": rounded, "y": labels})
        return figure(
            [trace],
            height=max(240, 28 * len(labels) + 70),
            yaxis={"automargin": True, "autorange": "reversed"},
            xaxis={"title": {"text": unit}, "gridcolor": "#d7e0e2", "separatethousands": True},
            margin={"l": 10, "r": 20, "t": 10, "b": 50},
        )
    trace.update({"x": labels, "y": rounded})
    return figure([trace], y_title=unit)


# --- the overview -----------------------------------------------------------------------------


@dataclass
class Member:
    """An enterprise as the overview shows it (from its row in the inventory document)."""

    id: int
    code: str
    name: str
    sector: str
    co2e_t: float
    scope1: float
    scope2: float
    energy_tce: float | None
    output_10k_cny: float | None

    @property
    def intensity(self) -> float | None:
        """Emissions per output value. [tCO2e / 10⁴ CNY]"""
        if not self.output_10k_cny:
            return None
        return self.co2e_t / self.output_10k_cny


def _enterprises(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """The enterprise rows of an inventory document, at any depth (a region holds parks)."""
    if node.get("kind") == "enterprise":
        yield node
        return
    for child in node.get("children", ()):
        yield from _enterprises(child)


def _members(
    document: Mapping[str, Any], org: Organization, outputs: Mapping[int, float], locale: str
) -> list[Member]:
    root = {**document["organization"], "children": document.get("children", [])}
    if root.get("kind") == "enterprise":
        root = {
            **root,
            "co2e_t": document["co2e_t"],
            "energy_tce": document["energy_tce"],
            "by_scope": document["by_scope"],
            "sector": org.sector,
        }
    out = []
    for row in _enterprises(root):
        scopes = row.get("by_scope", {})
        out.append(
            Member(
                id=row["id"],
                code=row["code"],
                name=display_name(row, locale),
                sector=sector_label(row.get("sector"), locale),
                co2e_t=float(row["co2e_t"]),
                scope1=float(scopes.get("1", 0.0)),
                scope2=float(scopes.get("2", 0.0)),
                energy_tce=row.get("energy_tce"),
                output_10k_cny=outputs.get(row["id"]),
            )
        )
    return out


_SORTS: Final = {
    "co2e": lambda m: m.co2e_t,
    "scope1": lambda m: m.scope1,
    "scope2": lambda m: m.scope2,
    "energy": lambda m: m.energy_tce,
    "intensity": lambda m: m.intensity,
    "code": lambda m: m.code,
}


def sort_rows(rows: list[Any], key: Any, descending: bool) -> list[Any]:
    """Rows sorted on ``key``; rows whose key is None always come last."""
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    return sorted(present, key=key, reverse=descending) + missing


def _choose_org(page: Page, org: int | None) -> tuple[Organization, list[Organization]]:
    """The organisation asked for (or the first visible top one) and the picker's choices."""
    roots = page.store.visible_roots()
    parks, _ = page.store.list_orgs(kind="park", limit=100)
    regions, _ = page.store.list_orgs(kind="region", limit=100)
    choices = {o.id: o for o in [*roots, *regions, *parks]}
    if org is not None:
        chosen = page.store.get_org(org)
        choices.setdefault(chosen.id, chosen)
    elif roots:
        chosen = roots[0]
    else:
        raise NotFoundError("you can see no organisation", field="org")
    return chosen, sorted(choices.values(), key=lambda o: o.path)


def _quality_month(store: Store, meter_ids: list[int], month: str | None) -> tuple[int, int] | None:
    """The month asked for, else the month of the latest daily data of the meters."""
    if month is not None and (match := _MONTH.match(month)):
        return int(match.group(1)), int(match.group(2))
    if not meter_ids:
        return None
    latest = store.session.scalar(
        select(func.max(MeterRollup.bucket)).where(
            MeterRollup.meter_id.in_(meter_ids), MeterRollup.resolution == "day"
        )
    )
    if latest is None:
        return None
    local = latest + LOCAL_OFFSET + dt.timedelta(hours=1)  # a day bucket starts at 16:00 UTC
    return local.year, local.month


def _enterprise_of(path: str, enterprises: Mapping[str, int]) -> int | None:
    """The enterprise (id) whose path is a prefix of ``path``."""
    parts = path.strip("/").split("/")
    for depth in range(len(parts), 0, -1):
        found = enterprises.get("/" + "/".join(parts[:depth]) + "/")
        if found is not None:
            return found
    return None


def data_quality(
    store: Store,
    root: Organization,
    members: Sequence[Member],
    meters: Sequence[tuple[int, int, str, dt.datetime | None, float | None]],
    month: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """GB/T 37947 completeness of each enterprise's meters over a month, and quarantine.

    Received is the measured intervals of the meters' daily rollups in the month; expected is
    the intervals of the month that have passed, for each active meter.

    Returns
    -------
    dict
        ``month`` (``YYYY-MM`` or None), ``rows`` per enterprise (``meters``, ``reporting``,
        ``received``, ``expected``, ``completeness`` [1] or None, ``quarantined`` open,
        ``latest`` local time, ``status``) and ``threshold`` [1].
    """
    ids_by_path: dict[str, int] = {
        path: org_id
        for org_id, path in store.session.execute(
            select(Organization.id, Organization.path).where(
                Organization.id.in_([m.id for m in members])
            )
        )
    }
    active = dict(
        store.session.execute(
            select(Meter.id, Meter.interval_s).where(
                Meter.id.in_([m[0] for m in meters]), Meter.active.is_(True)
            )
        ).all()
    )
    picked = _quality_month(store, [m[0] for m in meters], month)
    received: dict[int, int] = {}
    expected_s = 0.0
    if picked is not None:
        year, mon = picked
        lo = dt.datetime(year, mon, 1) - LOCAL_OFFSET
        hi = dt.datetime(year + (mon == 12), mon % 12 + 1, 1) - LOCAL_OFFSET
        expected_s = max(0.0, (min(hi, now) - lo).total_seconds())
        received = dict(
            store.session.execute(
                select(MeterRollup.meter_id, func.sum(MeterRollup.n))
                .where(
                    MeterRollup.meter_id.in_(list(active)),
                    MeterRollup.resolution == "day",
                    MeterRollup.bucket >= lo,
                    MeterRollup.bucket < hi,
                )
                .group_by(MeterRollup.meter_id)
            ).all()
        )
    stats: dict[int, dict[str, Any]] = {
        m.id: {"meters": 0, "reporting": 0, "received": 0, "expected": 0, "latest": None}
        for m in members
    }
    for meter_id, _org_id, path, last_ts, _value in meters:
        enterprise = _enterprise_of(path, ids_by_path)
        if enterprise is None or meter_id not in active:
            continue
        row = stats[enterprise]
        row["meters"] += 1
        got = int(received.get(meter_id) or 0)
        row["received"] += got
        row["reporting"] += got > 0
        row["expected"] += int(expected_s // active[meter_id])
        if last_ts is not None and (row["latest"] is None or last_ts > row["latest"]):
            row["latest"] = last_ts
    open_rows = select(Organization.path, func.count()).join(
        QuarantinedReading, QuarantinedReading.org_id == Organization.id
    )
    open_rows = open_rows.where(
        Organization.path.like(root.path + "%"), QuarantinedReading.status == "open"
    )
    scope = store.where(Action.READ)
    if scope is not None:
        open_rows = open_rows.where(scope)
    quarantined: dict[int, int] = defaultdict(int)
    for path, count in store.session.execute(open_rows.group_by(Organization.path)):
        enterprise = _enterprise_of(path, ids_by_path)
        if enterprise is not None:
            quarantined[enterprise] += int(count)
    rows = []
    for m in members:
        row = stats[m.id]
        share = min(1.0, row["received"] / row["expected"]) if row["expected"] else None
        if row["meters"] == 0:
            status = "none"
        elif not row["received"]:
            status = "no_data"
        elif share is not None and share >= COMPLETENESS_MIN:
            status = "ok"
        else:
            status = "incomplete"
        rows.append(
            {
                "member": m,
                **row,
                "latest": local_time(row["latest"]),
                "completeness": share,
                "quarantined": quarantined.get(m.id, 0),
                "status": status,
            }
        )
    return {
        "month": None if picked is None else f"{picked[0]:04d}-{picked[1]:02d}",
        "rows": rows,
        "threshold": COMPLETENESS_MIN,
    }


#: Labels of the data-quality statuses.
QUALITY_STATUS: Final = {
    "ok": (N_("Complete"), "ok"),
    "incomplete": (N_("Incomplete"), "warn"),
    "no_data": (N_("No data"), "bad"),
    "none": (N_("No meters"), ""),
}


@router.get("/")
def overview(
    request: Request,
    page: UiPage,
    org: OrgQ = None,
    period: YearQ = None,
    month: Annotated[str | None, Query(max_length=7)] = None,
    every: Annotated[int | None, Query(ge=1, le=3600)] = None,
) -> Response:
    """The overview of a park or a region (or of the caller's own enterprise)."""
    store = page.store
    chosen, choices = _choose_org(page, org)
    years = inventory_years(store, chosen.id)
    year = period if period in years else (years[0] if years else None)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    meters = latest_readings(store, chosen)
    table = Table.from_request(
        request, tuple(_SORTS), default="co2e", direction="desc", size=TOP_PAGE_SIZE
    )
    context: dict[str, Any] = {
        "org": chosen,
        "org_label": display_name(chosen, page.locale),
        "choices": [(o.id, f"{o.code} · {display_name(o, page.locale)}") for o in choices],
        "years": years,
        "year": year,
        "table": table,
        "live_url": f"/overview/live.json?org={chosen.id}",
        "live_every": max(LIVE_EVERY_MIN_S, every or LIVE_EVERY_S),
        "live": live_text(page, live_figures(store, meters, now), now),
        "doc": None,
    }
    if year is None:
        return render(request, "overview.html", context, page=page)
    inventory_id = store.current_inventory_id(chosen.id, year)
    doc = orjson.loads(store.document(inventory_id))
    outputs = output_values(store, chosen, int(year))
    members = _members(doc, chosen, outputs, page.locale)
    months = monthly_split(stored_items(store, inventory_id))
    by_sector: dict[str, list[float]] = defaultdict(list)
    for m in members:
        by_sector[m.sector].append(m.co2e_t)
    by_facility = chosen.kind == OrgKind.ENTERPRISE
    if by_facility:  # one enterprise: its facilities, rather than a single sector
        by_sector = {display_name(c, page.locale): [c["co2e_t"]] for c in doc.get("children", [])}
    sectors = sorted(((k, math.fsum(v)) for k, v in by_sector.items()), key=lambda kv: -kv[1])
    categories = sorted(doc["by_category"].items(), key=lambda kv: -kv[1])
    scopes = doc["by_scope"]
    with_output = [m for m in members if m.intensity is not None]
    intensity = doc.get("intensity", {}).get("co2e_t_per_10k_cny_output")
    intensity_own = intensity is not None
    if intensity is None and with_output:
        intensity = math.fsum(m.co2e_t for m in with_output) / math.fsum(
            m.output_10k_cny or 0.0 for m in with_output
        )
    ranked = sort_rows(members, _SORTS[table.sort], table.descending)
    table.total = len(ranked)
    by_intensity = sorted(with_output, key=lambda m: -(m.intensity or 0.0))
    gettext = page.gettext
    context.update(
        {
            "doc": doc,
            "scope1": float(scopes.get("1", 0.0)),
            "scope2": float(scopes.get("2", 0.0)),
            "intensity": intensity,
            "intensity_own": intensity_own,
            "with_output": len(with_output),
            "members": ranked[table.offset : table.offset + table.size],
            "member_count": len(members),
            "quality": data_quality(store, chosen, members, meters, month, now),
            "quality_status": {k: (gettext(v[0]), v[1]) for k, v in QUALITY_STATUS.items()},
            "charts": {
                "monthly": monthly_figure(page, months),
                "scope": bar_figure(
                    [gettext(N_("Scope 1")), gettext(N_("Scope 2"))],
                    [float(scopes.get("1", 0.0)), float(scopes.get("2", 0.0))],
                ),
                "category": bar_figure(
                    [category_label(k, page.locale) for k, _ in categories],
                    [v for _, v in categories],
                    horizontal=True,
                ),
                "breakdown": bar_figure(
                    [k for k, _ in sectors], [v for _, v in sectors], horizontal=True
                ),
                "intensity": bar_figure(
                    [m.name for m in by_intensity],
                    [m.intensity or 0.0 for m in by_intensity],
                    horizontal=True,
                    unit=gettext(N_("tCO2e per 10,000 CNY")),
                ),
            },
            "by_facility": by_facility,
        }
    )
    return render(request, "overview.html", context, page=page)


def live_figures(
    store: Store,
    meters: Sequence[tuple[int, int, str, dt.datetime | None, float | None]],
    now: dt.datetime,
) -> dict[str, Any]:
    """Readings of the subtree's meters: how many in the last hour, the latest, how many meters.

    Parameters
    ----------
    meters : sequence of tuple
        :func:`latest_readings` of the subtree.
    now : datetime.datetime
        The time of asking. [naive UTC]

    Returns
    -------
    dict
        ``readings_last_hour``, ``meters_last_hour``, ``meters``, ``latest`` (naive UTC or
        None).
    """
    ids = [m[0] for m in meters]
    since = now - dt.timedelta(hours=1)
    count, reporting = (0, 0)
    if ids:
        row = store.session.execute(
            select(func.count(), func.count(func.distinct(Reading.meter_id))).where(
                Reading.meter_id.in_(ids), Reading.ts > since, Reading.ts <= now
            )
        ).one()
        count, reporting = int(row[0]), int(row[1])
    stamps = [m[3] for m in meters if m[3] is not None]
    return {
        "readings_last_hour": count,
        "meters_last_hour": reporting,
        "meters": len(meters),
        "latest": max(stamps) if stamps else None,
    }


@router.get("/overview/live.json")
def live(page: UiPage, org: OrgQ = None) -> JSONResponse:
    """The live figures of an organisation's subtree, formatted for the page's language."""
    chosen, _ = _choose_org(page, org)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    body = live_text(page, live_figures(page.store, latest_readings(page.store, chosen), now), now)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def live_text(page: Page, figures: Mapping[str, Any], now: dt.datetime) -> dict[str, str]:
    """The live figures as the page shows them (numbers formatted for its language)."""
    number = fmt_number(page.locale)
    return {
        "readings_last_hour": number(figures["readings_last_hour"], 0),
        "meters_last_hour": number(figures["meters_last_hour"], 0),
        "meters": number(figures["meters"], 0),
        "latest": local_time(figures["latest"]) or "–",
        "checked": local_time(now) or "–",
    }

"""The enterprises: the list, and one enterprise with its inventory, lineage and versions.

``GET /enterprises`` lists the visible enterprises with a year's emissions, energy and
intensity (sortable, paged, searchable). ``GET /enterprises/{id}`` shows an enterprise's
facilities, sources and meters (with their latest reading), its inventory by source, gas and
scope with the lineage of every figure down to the activity data and the factors with their
sources, and the inventory's versions; ``?compare=<version>`` shows what changed from that
version to the current one. ``POST /enterprises/{id}/recompute`` computes a new version
(callers allowed to recompute, with the form's CSRF token) and shows that diff.

An enterprise outside the caller's subtrees answers 404, as in the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from shuangtan.adapters.db.models import Inventory, Organization
from shuangtan.adapters.db.repositories import Store
from shuangtan.domain.platform import OrgKind
from shuangtan.errors import InputError, NotFoundError
from shuangtan.services.access import Action
from shuangtan.services.inventories import diff_items, parse_period, recompute
from shuangtan.web.ui.core import N_, Page, Table, UiPage, display_name, fmt_number, render
from shuangtan.web.ui.overview import (
    bar_figure,
    category_label,
    inventory_years,
    latest_readings,
    local_time,
    monthly_figure,
    monthly_split,
    output_values,
    sector_label,
    sort_rows,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
YearQ = Annotated[str | None, Query(max_length=4)]
#: Rows of the enterprise list per page.
LIST_PAGE_SIZE: Final = 25
#: Methods of calculation, for people.
METHODS: Final = {
    "fuel_combustion": N_("Fuel combustion"),
    "electricity": N_("Purchased electricity"),
    "heat": N_("Heat"),
    "carbonate": N_("Carbonate decomposition"),
    "gas_release": N_("Gas release"),
    "energy_tce": N_("Energy only"),
    "factor": N_("Activity × factor"),
    "forest_stock_change": N_("Forest stock change"),
    "grassland_soc": N_("Grassland soil carbon"),
}
#: Review status of a factor in the library.
FACTOR_STATUS: Final = {
    "confirmed": (N_("confirmed"), "ok"),
    "corroborated": (N_("corroborated"), "ok"),
    "unconfirmed": (N_("unconfirmed"), "warn"),
}
#: Gases whose library name is not the symbol people write.
GAS_NAMES: Final = {"CH4_non_fossil": N_("CH4 (non-fossil)"), "CH4_fossil": N_("CH4 (fossil)")}
#: What a meter measures.
CARRIERS: Final = {
    "electricity": N_("Electricity"),
    "coal": N_("Coal"),
    "natural_gas": N_("Natural gas"),
    "oil": N_("Oil"),
    "heat": N_("Heat"),
    "steam": N_("Steam"),
    "water": N_("Water"),
    "other": N_("Other"),
}
#: How a meter reports.
METER_KINDS: Final = {
    "interval": N_("Interval consumption"),
    "cumulative": N_("Cumulative counter"),
}


# --- the list -------------------------------------------------------------------------------


def _current_totals(store: Store, period: str) -> dict[int, tuple[float, float | None, int]]:
    """Org id → (co2e [tCO2e], energy [tce], version) of visible enterprises' inventories."""
    stmt = (
        select(Inventory.org_id, Inventory.co2e_t, Inventory.energy_tce, Inventory.version)
        .join(Organization, Organization.id == Inventory.org_id)
        .where(
            Organization.kind == OrgKind.ENTERPRISE,
            Inventory.period == period,
            Inventory.status == "current",
        )
    )
    scope = store.where(Action.READ)
    if scope is not None:
        stmt = stmt.where(scope)
    return {org_id: (co2e, tce, v) for org_id, co2e, tce, v in store.session.execute(stmt)}


def _visible_years(store: Store) -> list[str]:
    """Years with a current inventory of a visible enterprise, newest first."""
    stmt = (
        select(Inventory.period)
        .join(Organization, Organization.id == Inventory.org_id)
        .where(Organization.kind == OrgKind.ENTERPRISE, Inventory.status == "current")
        .distinct()
    )
    scope = store.where(Action.READ)
    if scope is not None:
        stmt = stmt.where(scope)
    years = {p for p in store.session.scalars(stmt) if len(p) == 4 and p.isdigit()}
    return sorted(years, reverse=True)


_LIST_SORTS: Final = {
    "code": lambda r: r["code"],
    "name": lambda r: r["name"],
    "sector": lambda r: r["sector"],
    "co2e": lambda r: r["co2e_t"],
    "energy": lambda r: r["energy_tce"],
    "intensity": lambda r: r["intensity"],
}


@router.get("/enterprises")
def enterprise_list(
    request: Request,
    page: UiPage,
    period: YearQ = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The visible enterprises with a year's emissions, energy and intensity."""
    store = page.store
    years = _visible_years(store)
    year = period if period in years else (years[0] if years else None)
    table = Table.from_request(request, tuple(_LIST_SORTS), default="code", size=LIST_PAGE_SIZE)
    orgs, _ = store.list_orgs(kind=OrgKind.ENTERPRISE, q=(q or None), limit=100_000)
    parents, _ = store.list_orgs(kind=OrgKind.PARK, limit=10_000)
    park_names = {p.id: display_name(p, page.locale) for p in parents}
    totals = _current_totals(store, year) if year else {}
    outputs: dict[int, float] = {}
    if year:
        for root in store.visible_roots():
            outputs.update(output_values(store, root, int(year)))
    rows = []
    for org in orgs:
        co2e, tce, version = totals.get(org.id, (None, None, None))
        output = outputs.get(org.id)
        rows.append(
            {
                "id": org.id,
                "code": org.code,
                "name": display_name(org, page.locale),
                "sector": sector_label(org.sector, page.locale),
                "park": park_names.get(org.parent_id or 0, ""),
                "co2e_t": co2e,
                "energy_tce": tce,
                "version": version,
                "intensity": co2e / output if co2e is not None and output else None,
            }
        )
    ranked = sort_rows(rows, _LIST_SORTS[table.sort], table.descending)
    table.total = len(ranked)
    context = {
        "rows": ranked[table.offset : table.offset + table.size],
        "table": table,
        "years": years,
        "year": year,
        "q": q or "",
    }
    return render(request, "enterprises.html", context, page=page)


# --- one enterprise ---------------------------------------------------------------------------


def _enterprise(store: Store, org_id: int) -> Organization:
    """A visible enterprise (anything else is not found, as in the API)."""
    org = store.get_org(org_id)
    if org.kind != OrgKind.ENTERPRISE:
        raise NotFoundError(f"enterprise {org_id} not found", field="id")
    return org


def _amount(page: Page, value: Any, unit: str | None) -> str:
    number = fmt_number(page.locale)
    text = number(value, 3) if isinstance(value, int | float) else "–"
    return f"{text} {unit or ''}".strip()


def _factor_values(page: Page, entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return "–"
    number = fmt_number(page.locale)
    return "; ".join(
        f"{number(e['value'], 6).rstrip('0').rstrip('.,')} {e.get('unit', '')}"
        + (f" ({e['valid_from']})" if e.get("valid_from") else "")
        for e in entries
    )


def explain(page: Page, reason: Mapping[str, Any]) -> str:
    """One reason of a diff (:func:`~shuangtan.services.inventories.diff_items`) in words."""
    gettext = page.gettext
    kind = reason.get("kind")
    if kind == "library_version":
        return gettext(N_("Factor library %(old)s → %(new)s")) % reason
    if kind == "gwp_set":
        return gettext(N_("GWP set %(old)s → %(new)s")) % reason
    if kind == "source_added":
        return gettext(N_("Source added"))
    if kind == "source_removed":
        return gettext(N_("Source removed or deactivated"))
    if kind == "source_changed":
        return gettext(N_("Method, scope or category changed"))
    if kind in ("activity_added", "activity_removed", "activity_changed"):
        values = {
            "start": reason.get("period_start"),
            "end": reason.get("period_end"),
            "old": _amount(page, reason.get("old_amount"), reason.get("old_unit", reason["unit"])),
            "new": _amount(page, reason.get("new_amount"), reason.get("unit")),
        }
        message = {
            "activity_added": N_("Activity data %(start)s to %(end)s added: %(new)s"),
            "activity_removed": N_("Activity data %(start)s to %(end)s removed: %(old)s"),
            "activity_changed": N_("Activity data %(start)s to %(end)s: %(old)s → %(new)s"),
        }[kind]
        return gettext(message) % values
    if kind in ("factor_added", "factor_removed", "factor_changed"):
        values = {
            "key": reason.get("key"),
            "old": _factor_values(page, reason.get("old", [])),
            "new": _factor_values(page, reason.get("new", [])),
        }
        return gettext(N_("Factor %(key)s: %(old)s → %(new)s")) % values
    return str(kind)


def _diff_view(page: Page, diff: Mapping[str, Any]) -> dict[str, Any]:
    """A diff with its reasons in words."""
    return {
        "from_version": diff["from_version"],
        "to_version": diff["to_version"],
        "co2e_t": diff["co2e_t"],
        "reasons": [explain(page, r) for r in diff["reasons"]],
        "sources": [
            {**s, "reasons": [explain(page, r) for r in s["reasons"]]} for s in diff["sources"]
        ],
    }


def _lineage(page: Page, inventory: Inventory, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per source: its figures, its activity data and its factors with their sources."""
    names = {row["source_id"]: row for row in doc.get("by_source", [])}
    gettext = page.gettext
    out = []
    for item in sorted(inventory.items, key=lambda i: -i.co2e_t):
        row = names.get(item.source_id, {})
        out.append(
            {
                "id": item.source_id,
                "code": item.source_code,
                "name": display_name(row, page.locale) if row else item.source_code,
                "facility": row.get("org_code", ""),
                "scope": item.scope,
                "category": category_label(item.category, page.locale),
                "method": gettext(METHODS.get(item.method, item.method)),
                "co2e_t": item.co2e_t,
                "energy_tce": item.energy_tce,
                "gases": [
                    (gettext(GAS_NAMES.get(g, g)), mass) for g, mass in sorted(item.gases_t.items())
                ],
                "activity": item.activity,
                "factors": [
                    {
                        **f,
                        "status_label": gettext(
                            FACTOR_STATUS.get(f.get("status", ""), (f.get("status", "–"), ""))[0]
                        ),
                        "tone": FACTOR_STATUS.get(f.get("status", ""), ("", ""))[1],
                    }
                    for f in item.factors
                ],
                "warnings": item.warnings,
            }
        )
    return out


@router.get("/enterprises/{org_id}")
def enterprise_page(
    request: Request,
    org_id: PathId,
    page: UiPage,
    period: YearQ = None,
    compare: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    """One enterprise: facilities, sources, meters, inventory with lineage, versions, diff."""
    store = page.store
    org = _enterprise(store, org_id)
    locale = page.locale
    gettext = page.gettext
    subtree = store.subtree(org)
    facilities = [o for o in subtree if o.id != org.id]
    names = {o.id: display_name(o, locale) for o in subtree}
    sources, _ = store.list_sources(within=org.id, limit=10_000)
    meters, _ = store.list_meters(within=org.id, limit=10_000)
    latest = {m[0]: (m[3], m[4]) for m in latest_readings(store, org)}
    source_codes = {s.id: s.code for s in sources}
    years = inventory_years(store, org.id)
    year = period if period in years else (years[0] if years else None)
    context: dict[str, Any] = {
        "org": org,
        "org_label": display_name(org, locale),
        "sector": sector_label(org.sector, locale),
        "facilities": facilities,
        "names": names,
        "sources": [
            {
                "code": s.code,
                "name": display_name(s, locale),
                "facility": names.get(s.org_id, ""),
                "scope": s.scope,
                "category": category_label(s.category, locale),
                "method": gettext(METHODS.get(s.method, s.method)),
                "unit": s.unit,
                "active": s.active,
            }
            for s in sources
        ],
        "meters": [
            {
                "id": m.id,
                "code": m.code,
                "name": display_name(m, locale),
                "facility": names.get(m.org_id, ""),
                "carrier": gettext(CARRIERS.get(m.carrier, m.carrier)),
                "kind": gettext(METER_KINDS.get(m.kind, m.kind)),
                "unit": m.unit,
                "source": source_codes.get(m.source_id or 0, ""),
                "latest": local_time(latest.get(m.id, (None, None))[0]),
                "value": latest.get(m.id, (None, None))[1],
                "active": m.active,
            }
            for m in meters
        ],
        "years": years,
        "year": year,
        "doc": None,
        "can_recompute": page.principal.allows(Action.RECOMPUTE, org.path),
    }
    if year is None:
        return render(request, "enterprise.html", context, page=page)
    inventory = store.current_inventory(org.id, year)
    doc = orjson.loads(inventory.summary)
    versions = store.inventory_versions(org.id, year)
    diff = None
    if compare is not None and compare != inventory.version:
        old = store.inventory_version(org.id, year, compare)
        diff = _diff_view(
            page,
            diff_items(
                store.inventory_meta(old),
                [store.item_dict(i) for i in old.items],
                store.inventory_meta(inventory),
                [store.item_dict(i) for i in inventory.items],
            ),
        )
    lineage = _lineage(page, inventory, doc)
    months = monthly_split((i["co2e_t"], i["energy_tce"], i["activity"]) for i in lineage)
    scopes = doc.get("by_scope", {})
    gases = sorted(doc.get("by_gas", {}).items())
    ranked_sources = [s for s in lineage if s["co2e_t"] != 0]
    context.update(
        {
            "doc": doc,
            "inventory": inventory,
            "scope1": float(scopes.get("1", 0.0)),
            "scope2": float(scopes.get("2", 0.0)),
            "gases": [(gettext(GAS_NAMES.get(g, g)), mass) for g, mass in gases],
            "categories": sorted(
                ((category_label(k, locale), v) for k, v in doc.get("by_category", {}).items()),
                key=lambda kv: -kv[1],
            ),
            "intensity": doc.get("intensity", {}),
            "lineage": lineage,
            "versions": versions,
            "diff": diff,
            "compare": compare,
            "charts": {
                "monthly": monthly_figure(page, months),
                "scope": bar_figure(
                    [gettext(N_("Scope 1")), gettext(N_("Scope 2"))],
                    [float(scopes.get("1", 0.0)), float(scopes.get("2", 0.0))],
                ),
                "sources": bar_figure(
                    [s["name"] for s in ranked_sources],
                    [s["co2e_t"] for s in ranked_sources],
                    horizontal=True,
                ),
            },
        }
    )
    return render(request, "enterprise.html", context, page=page)


def _recompute(page: Page, org_id: int, period: str, reason: str) -> tuple[str, int]:
    store = page.store
    org = _enterprise(store, org_id)
    store.get_org(org.id, Action.RECOMPUTE)
    span = parse_period(period)
    gwp = "AR6"
    with contextlib.suppress(NotFoundError):
        gwp = store.current_inventory(org.id, span.label).gwp_set
    _, version, _, _ = recompute(
        store,
        page.state.library,
        org.id,
        span,
        gwp=gwp,
        user_id=store.principal.user_id,
        reason=reason or "requested in the dashboard",
    )
    return span.label, version


@router.post("/enterprises/{org_id}/recompute")
async def recompute_form(request: Request, org_id: PathId, page: UiPage) -> Response:
    """Compute a new version of the enterprise's inventory, then show what changed."""
    form = await request.form()
    page.check_csrf(form)
    period = form.get("period")
    reason = form.get("reason") or ""
    if not isinstance(period, str) or not isinstance(reason, str):
        raise InputError("choose a year", field="period")
    label, version = await run_in_threadpool(_recompute, page, org_id, period, reason[:500])
    target = f"/enterprises/{org_id}?period={label}"
    if version > 1:
        target += f"&compare={version - 1}#diff"
    return RedirectResponse(target, status_code=303)

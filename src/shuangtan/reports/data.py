"""Report documents: what each report says, as plain JSON-ready data.

Every function here reads through the caller's :class:`~shuangtan.adapters.db.repositories.Store`
(or, for meter rollups, with meter ids the scoped store gave), so a report shows exactly what
its reader may see. Figures come from the stored **current inventory version** (its items and
its frozen document), never from a recomputation: a report of version 3 says what version 3
says. Numbers stay at full precision (floats of the stored items, sums with
:func:`math.fsum`); rounding is for the renderers.

Documents are dicts of str, int, float, bool, None and lists; ``report`` names the kind
(``inventory``, ``park``, ``monthly``) and ``schema`` the layout version. The JSON rendering
is the document itself.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import orjson
from sqlalchemy import select

from shuangtan.adapters.db.models import (
    ActivityDatum,
    EmissionSource,
    Evidence,
    Inventory,
    InventoryItem,
    Meter,
    MeterRollup,
    Organization,
)
from shuangtan.adapters.db.readings import us_to_naive
from shuangtan.adapters.db.repositories import Store, utcnow
from shuangtan.domain.platform import CATEGORIES, ISO_CATEGORY, Category, OrgKind
from shuangtan.errors import InputError, NotFoundError, ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate, default_library
from shuangtan.services.inventories import Period, monthly_split, months_of, parse_period
from shuangtan.services.quality import COMPLETENESS_MIN
from shuangtan.services.readings import CARRIER_TCE, month_start_us

__all__ = [
    "ISO_CATEGORIES",
    "SCHEMA",
    "VARIANTS",
    "inventory_report",
    "meter_completeness",
    "monthly_statement",
    "park_report",
]

#: Layout version of the documents (raised when a field changes meaning or disappears).
SCHEMA: Final = 1
#: Variants of the inventory report: the MEE/NDRC guideline structure, or ISO 14064-1.
VARIANTS: Final = ("mee", "iso")
#: The ISO 14064-1:2018 categories, all shown even when empty.
ISO_CATEGORIES: Final = (1, 2, 3, 4, 5, 6)
#: Enough rows for any organisation (the store's listings are paged).
_ALL: Final = 10_000_000
#: Largest IN list sent in one query.
_CHUNK: Final = 1000
#: Enterprises in the park report's ranking of largest emitters.
TOP_EMITTERS: Final = 10
#: The fields of a factor's lineage entry, as the report lists them.
_FACTOR_FIELDS: Final = (
    "key",
    "gas",
    "region",
    "value",
    "unit",
    "source_id",
    "source",
    "clause",
    "status",
    "valid_from",
    "valid_to",
    "match",
)
#: Parameters of a source that are not worth showing (set by the platform, or units).
_HIDDEN_PARAMS: Final = frozenset({"unit", "amount_unit", "fallback", "gwp"})


# --- small helpers --------------------------------------------------------------------------


def _iso_time(value: dt.datetime | None) -> str | None:
    """A naive UTC timestamp as ISO 8601 text with ``Z``."""
    return None if value is None else value.isoformat() + "Z"


def _org(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "code": org.code,
        "kind": org.kind,
        "name_zh": org.name_zh,
        "name_en": org.name_en or "",
        "sector": org.sector,
        "region": org.region,
        "address": org.address or "",
        "credit_code": org.credit_code,
    }


def _period(span: Period) -> dict[str, Any]:
    return {
        "label": span.label,
        "start": span.start.isoformat(),
        "end": span.end.isoformat(),
        "last_day": (span.end - dt.timedelta(days=1)).isoformat(),
    }


def _iso_category(category: str) -> int | None:
    try:
        return ISO_CATEGORY[Category(category)]
    except (ValueError, KeyError):
        return None


def _category_order(category: str) -> int:
    order = list(CATEGORIES)
    try:
        return order.index(Category(category))
    except ValueError:
        return len(order)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _current(store: Store, org: Organization, label: str) -> Inventory:
    """The current inventory of a visible organisation, or a clear not-found error."""
    try:
        return store.current_inventory(org.id, label)
    except NotFoundError:
        raise NotFoundError(
            f"{org.code} has no inventory for {label}: compute it first "
            f"(shuangtan inventory recompute --org {org.code} --period {label})",
            field="period",
        ) from None


def _document(store: Store, inventory: Inventory) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(store.document(inventory.id))
    return doc


def _inventory_meta(inventory: Inventory) -> dict[str, Any]:
    return {
        "id": inventory.id,
        "version": inventory.version,
        "status": inventory.status,
        "computed_at": _iso_time(inventory.computed_at),
        "reason": inventory.reason,
        "gwp_set": inventory.gwp_set,
        "library_version": inventory.library_version,
    }


def _economics(store: Store, org: Organization, year: int) -> dict[str, Any] | None:
    for row in store.economics(org.id):
        if row.year == year:
            return {
                "year": row.year,
                "output_value_10k_cny": row.output_value_10k_cny,
                "value_added_10k_cny": row.value_added_10k_cny,
                "employees": row.employees,
                "floor_area_m2": row.floor_area_m2,
                "production": [
                    {
                        "product_zh": p.get("product_zh", ""),
                        "product_en": p.get("product_en", ""),
                        "amount": p.get("amount"),
                        "unit": p.get("unit", ""),
                    }
                    for p in row.production or []
                ],
            }
    return None


def _parent(store: Store, org: Organization) -> dict[str, Any] | None:
    """The parent organisation, if the caller may see it."""
    if org.parent_id is None or not store.readable_org_ids([org.parent_id]):
        return None
    parent = store.get_org(org.parent_id)
    return {
        "code": parent.code,
        "kind": parent.kind,
        "name_zh": parent.name_zh,
        "name_en": parent.name_en or "",
    }


def _grouped(pairs: Iterable[tuple[Any, float]]) -> dict[Any, float]:
    groups: dict[Any, list[float]] = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return {key: math.fsum(values) for key, values in groups.items()}


def _sources_by_id(store: Store, org: Organization) -> dict[int, EmissionSource]:
    rows, _ = store.list_sources(within=org.id, limit=_ALL)
    return {s.id: s for s in rows}


def _evidence_by_activity(store: Store, activity_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The evidence files of the activity data used: name and SHA-256, by datum id."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not activity_ids:
        return out
    rows = store.session.execute(
        select(Evidence.activity_id, Evidence.id, Evidence.filename, Evidence.sha256)
        .where(Evidence.activity_id.in_(set(activity_ids)))
        .order_by(Evidence.id)
    )
    for activity_id, evidence_id, filename, digest in rows:
        out.setdefault(activity_id, []).append(
            {"id": evidence_id, "filename": filename, "sha256": digest}
        )
    return out


def _activity_by_id(store: Store, org: Organization, span: Period) -> dict[int, ActivityDatum]:
    rows, _ = store.list_activity(within=org.id, start=span.start, end=span.end, limit=_ALL)
    return {d.id: d for d in rows}


def _gwp(library: FactorLibrary, gwp_set: str) -> dict[str, float]:
    try:
        return {gas: factor.value for gas, factor in library.gwp_set(gwp_set).values.items()}
    except ShuangtanError:
        return {}


# --- data quality: meter completeness -------------------------------------------------------


def _month_bounds_utc(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """A local (Asia/Shanghai) month's bounds as naive UTC."""
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return us_to_naive(month_start_us(year, month)), us_to_naive(month_start_us(*nxt))


def meter_completeness(
    store: Store,
    meters: Sequence[Meter],
    span: Period,
    now: dt.datetime,
    source_codes: Mapping[int, str],
) -> dict[str, Any]:
    """GB/T 37947 completeness of meters over a period: measured intervals over expected ones.

    Received is the measured intervals (``n``) of the meters' monthly rollups in the period's
    local months; expected is the intervals of the period that have passed by ``now``, for each
    active meter.

    Parameters
    ----------
    store : Store
        The caller's store (its session reads the rollups).
    meters : sequence of Meter
        Meters the scoped store listed.
    span : Period
        The period (whole months).
    now : datetime.datetime
        The time of asking. [naive UTC]
    source_codes : mapping
        Source id → code, for the meters' sources.

    Returns
    -------
    dict
        ``meters`` (per active meter: ``received``, ``expected``, ``completeness`` [1] or None,
        ``status``), ``by_month`` (the same summed over the meters), ``received``,
        ``expected``, ``completeness`` [1] or None and ``threshold`` [1].
    """
    active = sorted((m for m in meters if m.active), key=lambda m: m.code)
    months: list[tuple[str, dt.datetime, dt.datetime]] = []
    for label, _days in months_of(span.start, span.end):
        lo, hi = _month_bounds_utc(int(label[:4]), int(label[5:]))
        months.append((label, lo, hi))
    received: dict[tuple[int, str], int] = defaultdict(int)
    ids = [m.id for m in active]
    if ids and months:
        by_bucket = {lo: label for label, lo, _ in months}
        for chunk in _chunks(ids):
            rows = store.session.execute(
                select(MeterRollup.meter_id, MeterRollup.bucket, MeterRollup.n).where(
                    MeterRollup.meter_id.in_(chunk),
                    MeterRollup.resolution == "month",
                    MeterRollup.bucket >= months[0][1],
                    MeterRollup.bucket < months[-1][2],
                )
            )
            for meter_id, bucket, n in rows:
                found = by_bucket.get(bucket)
                if found is not None:
                    received[meter_id, found] += int(n)
    elapsed = {label: max(0.0, (min(hi, now) - lo).total_seconds()) for label, lo, hi in months}
    out: list[dict[str, Any]] = []
    month_received: dict[str, int] = defaultdict(int)
    month_expected: dict[str, int] = defaultdict(int)
    for meter in active:
        got = 0
        want = 0
        for label, _lo, _hi in months:
            expected = int(elapsed[label] // meter.interval_s)
            count = received.get((meter.id, label), 0)
            got += count
            want += expected
            month_received[label] += count
            month_expected[label] += expected
        out.append(
            {
                "meter_id": meter.id,
                "code": meter.code,
                "name_zh": meter.name_zh,
                "name_en": meter.name_en or "",
                "carrier": meter.carrier,
                "unit": meter.unit,
                "interval_s": meter.interval_s,
                "source_code": source_codes.get(meter.source_id) if meter.source_id else None,
                "received": got,
                "expected": want,
                "completeness": min(1.0, got / want) if want else None,
                "status": _status(got, want),
            }
        )
    got_all = sum(m["received"] for m in out)
    want_all = sum(m["expected"] for m in out)
    return {
        "meters": out,
        "by_month": [
            {
                "month": label,
                "received": month_received[label],
                "expected": month_expected[label],
                "completeness": (
                    min(1.0, month_received[label] / month_expected[label])
                    if month_expected[label]
                    else None
                ),
            }
            for label, _lo, _hi in months
        ]
        if out
        else [],
        "received": got_all,
        "expected": want_all,
        "completeness": min(1.0, got_all / want_all) if want_all else None,
        "threshold": COMPLETENESS_MIN,
    }


def _status(received: int, expected: int) -> str:
    if expected == 0:
        return "pending"
    if received == 0:
        return "no_data"
    return "ok" if received / expected >= COMPLETENESS_MIN else "incomplete"


# --- the enterprise inventory report ------------------------------------------------------


def _verification(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The verification statement's fields, checked for shape."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InputError("must be a mapping", field="verification")
    state = data.get("state")
    if state not in ("verified", "published"):
        raise InputError("must be 'verified' or 'published'", field="verification.state")
    verifier = data.get("verifier") or {}
    if not isinstance(verifier, Mapping):
        raise InputError("must be a mapping", field="verification.verifier")
    findings = []
    for i, f in enumerate(data.get("findings") or []):
        if not isinstance(f, Mapping):
            raise InputError("must be a mapping", field=f"verification.findings[{i}]")
        findings.append(
            {
                "id": f.get("id"),
                "title": str(f.get("title", "")),
                "status": str(f.get("status", "")),
            }
        )
    return {
        "state": state,
        "verifier": {
            "code": str(verifier.get("code", "")),
            "name_zh": str(verifier.get("name_zh", "")),
            "name_en": str(verifier.get("name_en", "")),
        },
        "signed_at": data.get("signed_at"),
        "key_id": data.get("key_id"),
        "content_sha256": data.get("content_sha256"),
        "signature": data.get("signature"),
        "opinion": str(data.get("opinion") or ""),
        "findings": findings,
    }


def inventory_report(
    store: Store,
    org_id: int,
    period: str,
    *,
    variant: str = "mee",
    verification: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    library: FactorLibrary | None = None,
) -> dict[str, Any]:
    """The enterprise GHG inventory report of an organisation's current inventory.

    Sections as the MEE/NDRC guideline reports have them: 基本情况 (``organization``,
    ``basic``), 核算边界 (``boundary``), 排放源识别 (``sources``), 活动数据及来源
    (``activity``), 排放因子及来源 (``factors``), 排放量汇总 (``totals``), 数据质量管理
    (``quality``), and 核查声明 (``verification``) when a statement is given.

    Parameters
    ----------
    store : Store
        The caller's scoped store.
    org_id : int
        The organisation (normally an enterprise; any organisation with an inventory works).
    period : str
        ``2025``, ``2025-Q1`` or ``2025-03``.
    variant : str
        ``mee`` (the guideline structure) or ``iso`` (ISO 14064-1: sources and totals also by
        category 1–6).
    verification : mapping, optional
        The verification statement: ``state`` (``verified`` or ``published``), ``verifier``
        (``code``, ``name_zh``, ``name_en``), ``signed_at``, ``key_id``, ``content_sha256``,
        ``signature``, ``opinion``, ``findings`` (``id``, ``title``, ``status``).
    now : datetime.datetime, optional
        The time of asking [naive UTC]: the meters' expected readings stop there.
    library : FactorLibrary, optional
        For the GWP values of the by-gas table (the packaged library by default).

    Returns
    -------
    dict
        The document (see ``docs/platform/reports.md``); masses [t], CO2e [tCO2e], energy
        [tce], shares [1].

    Raises
    ------
    NotFoundError
        The organisation is not visible, or has no current inventory for the period.
    InputError
        A bad ``period``, ``variant`` or ``verification``.
    """
    if variant not in VARIANTS:
        raise InputError(f"must be one of {', '.join(VARIANTS)}; got {variant!r}", field="variant")
    span = parse_period(period)
    org = store.get_org(org_id)
    statement = _verification(verification)
    inventory = _current(store, org, span.label)
    doc = _document(store, inventory)
    items: list[InventoryItem] = list(inventory.items)
    subtree = store.subtree(org)
    orgs = {o.id: o for o in subtree}
    sources = _sources_by_id(store, org)
    current_data = _activity_by_id(store, org, span)
    evidence = _evidence_by_activity(store, [a["id"] for i in items for a in i.activity])
    named = {row["code"]: row for row in doc.get("by_source", [])}

    source_rows: list[dict[str, Any]] = []
    activity_rows: list[dict[str, Any]] = []
    factor_rows: list[dict[str, Any]] = []
    for item in items:
        source = sources.get(item.source_id) if item.source_id is not None else None
        owner = orgs.get(item.org_id)
        described = named.get(item.source_code, {})
        unit = source.unit if source is not None else None
        if unit is None and item.activity:
            unit = item.activity[0].get("unit")
        source_rows.append(
            {
                "source_id": item.source_id,
                "code": item.source_code,
                "name_zh": source.name_zh if source is not None else described.get("name_zh", ""),
                "name_en": (source.name_en if source is not None else described.get("name_en"))
                or "",
                "org_id": item.org_id,
                "org_code": owner.code if owner is not None else described.get("org_code"),
                "org_name_zh": owner.name_zh if owner is not None else "",
                "org_name_en": (owner.name_en or "") if owner is not None else "",
                "category": item.category,
                "scope": item.scope,
                "iso_category": _iso_category(item.category),
                "method": item.method,
                "params": {
                    k: v
                    for k, v in (dict(source.params) if source is not None else {}).items()
                    if k not in _HIDDEN_PARAMS
                },
                "unit": unit,
                "tce_carrier": source.tce_carrier if source is not None else None,
                "co2e_t": item.co2e_t,
                "energy_tce": item.energy_tce,
                "gases_t": dict(item.gases_t),
                "months": len(item.activity),
                "warnings": list(item.warnings),
            }
        )
        for a in item.activity:
            datum = current_data.get(a["id"])
            activity_rows.append(
                {
                    "source_code": item.source_code,
                    "period_start": a["period_start"],
                    "period_end": a["period_end"],
                    "amount": a["amount"],
                    "unit": a["unit"],
                    "version": a.get("version"),
                    "activity_id": a["id"],
                    "origin": datum.origin if datum is not None else None,
                    "note": datum.note if datum is not None else "",
                    "current_version": datum.version if datum is not None else None,
                    "evidence": evidence.get(a["id"], []),
                }
            )
        factor_rows.extend(
            {
                "source_code": item.source_code,
                **{key: f.get(key) for key in _FACTOR_FIELDS},
            }
            for f in item.factors
        )

    totals = _inventory_totals(items, orgs, org, inventory.gwp_set, library or default_library())
    if variant == "iso":
        by_iso = _grouped((_iso_category(i.category), i.co2e_t) for i in items)
        totals["by_iso_category"] = [
            {"category": c, "co2e_t": by_iso.get(c, 0.0)} for c in ISO_CATEGORIES
        ]
    origins = Counter(row["origin"] or "unknown" for row in activity_rows)
    stale = [
        {
            "source_code": row["source_code"],
            "period_start": row["period_start"],
            "activity_id": row["activity_id"],
            "used_version": row["version"],
            "current_version": row["current_version"],
        }
        for row in activity_rows
        if row["current_version"] != row["version"]
    ]
    meters, _ = store.list_meters(within=org.id, limit=_ALL)
    codes = {s.id: s.code for s in sources.values()}
    quality = meter_completeness(store, meters, span, now or utcnow(), codes)
    quality.update(
        {
            "origins": [
                {"origin": k, "count": origins[k], "share": origins[k] / len(activity_rows)}
                for k in sorted(origins)
            ],
            "activity_count": len(activity_rows),
            "warnings": list(doc.get("warnings", [])),
            "stale": stale,
        }
    )
    return {
        "report": "inventory",
        "schema": SCHEMA,
        "variant": variant,
        "organization": {**_org(org), "parent": _parent(store, org)},
        "period": _period(span),
        "basic": {
            "economics": _economics(store, org, span.year),
            "intensity": dict(doc.get("intensity") or {}),
        },
        "boundary": {
            "organizations": [
                {
                    "code": o.code,
                    "kind": o.kind,
                    "name_zh": o.name_zh,
                    "name_en": o.name_en or "",
                    "parent_code": orgs[o.parent_id].code if o.parent_id in orgs else None,
                }
                for o in sorted(subtree, key=lambda o: o.code)
                if o.id != org.id
            ],
            "inventory": _inventory_meta(inventory),
            "scopes": sorted({i.scope for i in items}),
            "gases": sorted({gas for i in items for gas in i.gases_t}),
        },
        "sources": source_rows,
        "activity": activity_rows,
        "factors": factor_rows,
        "totals": totals,
        "quality": quality,
        "verification": statement,
    }


def _inventory_totals(
    items: Sequence[InventoryItem],
    orgs: Mapping[int, Organization],
    root: Organization,
    gwp_set: str,
    library: FactorLibrary,
) -> dict[str, Any]:
    gwp = _gwp(library, gwp_set)
    masses = _grouped((gas, mass) for i in items for gas, mass in i.gases_t.items())
    by_scope = _grouped((i.scope, i.co2e_t) for i in items)
    by_category = _grouped((i.category, i.co2e_t) for i in items)
    by_org = _grouped((i.org_id, i.co2e_t) for i in items)
    energy_by_org = _grouped((i.org_id, i.energy_tce) for i in items if i.energy_tce is not None)
    months = monthly_split((i.co2e_t, i.energy_tce, i.activity) for i in items)
    return {
        "co2e_t": math.fsum(i.co2e_t for i in items),
        "energy_tce": math.fsum(i.energy_tce for i in items if i.energy_tce is not None),
        "by_gas": [
            {
                "gas": gas,
                "mass_t": masses[gas],
                "gwp": gwp.get(gas),
                "co2e_t": masses[gas] * gwp[gas] if gas in gwp else None,
            }
            for gas in sorted(masses, key=lambda g: (g != "CO2", g))
        ],
        "by_scope": [{"scope": s, "co2e_t": by_scope[s]} for s in sorted(by_scope)],
        "by_category": [
            {
                "category": c,
                "scope": next(i.scope for i in items if i.category == c),
                "iso_category": _iso_category(c),
                "co2e_t": by_category[c],
            }
            for c in sorted(by_category, key=lambda c: (_category_order(c), c))
        ],
        "by_facility": [
            {
                "code": orgs[o].code if o in orgs else str(o),
                "kind": orgs[o].kind if o in orgs else None,
                "name_zh": orgs[o].name_zh if o in orgs else "",
                "name_en": (orgs[o].name_en or "") if o in orgs else "",
                "co2e_t": by_org[o],
                "energy_tce": energy_by_org.get(o),
            }
            for o in sorted(by_org, key=lambda o: orgs[o].code if o in orgs else str(o))
            if o != root.id or len(by_org) > 1
        ],
        "monthly": [
            {"month": m, "co2e_t": co2e, "energy_tce": tce} for m, (co2e, tce) in months.items()
        ],
    }


# --- the park or region summary -----------------------------------------------------------


def park_report(
    store: Store,
    org_id: int,
    period: str,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """A park's or a region's summary: every enterprise under it, from its current inventory.

    Parameters
    ----------
    store : Store
        The caller's scoped store.
    org_id : int
        A park or a region.
    period : str
        ``2025``, ``2025-Q1`` or ``2025-03``.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each enterprise.

    Returns
    -------
    dict
        ``enterprises`` (each with its totals [tCO2e], energy [tce], output value
        [10⁴ CNY] and intensity [tCO2e/10⁴ CNY], or ``inventory`` None), ``totals`` (sums over
        the enterprises with an inventory, by scope, category and sector, the largest
        emitters), ``missing`` (enterprises without an inventory) and ``own_inventory`` (the
        park's own current inventory, to compare).

    Raises
    ------
    NotFoundError
        The organisation is not visible.
    InputError
        It is neither a park nor a region, or a bad period.
    """
    span = parse_period(period)
    org = store.get_org(org_id)
    if org.kind not in (OrgKind.PARK, OrgKind.REGION):
        raise InputError(
            f"a park or region report needs a park or a region; {org.code} is a {org.kind}",
            field="org_id",
        )
    listed, _ = store.list_orgs(kind=OrgKind.ENTERPRISE.value, within=org.id, limit=_ALL)
    enterprises = sorted(listed, key=lambda o: o.code)
    parents = {
        o.id: o for o in store.subtree(org) if o.kind in (OrgKind.PARK.value, OrgKind.REGION.value)
    }
    yearly = span.label == str(span.year)
    rows: list[dict[str, Any]] = []
    for done, enterprise in enumerate(enterprises, start=1):
        rows.append(_enterprise_row(store, enterprise, span, parents, yearly))
        if on_progress is not None:
            on_progress(done, len(enterprises))
    present = [r for r in rows if r["inventory"] is not None]
    total = math.fsum(r["co2e_t"] for r in present)
    by_sector: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for r in present:
        by_sector[r["sector"]].append(r)
    with_output = [r for r in present if r["output_value_10k_cny"]]
    output = math.fsum(r["output_value_10k_cny"] for r in with_output)
    ranked = sorted(present, key=lambda r: (-r["co2e_t"], r["code"]))
    own: dict[str, Any] | None = None
    try:
        inventory = store.current_inventory(org.id, span.label)
    except NotFoundError:
        inventory = None
    if inventory is not None:
        own_doc = _document(store, inventory)
        own = {
            **_inventory_meta(inventory),
            "co2e_t": own_doc["co2e_t"],
            "energy_tce": own_doc["energy_tce"],
            "difference_t": own_doc["co2e_t"] - total,
        }
    scopes = _grouped((int(s), v) for r in present for s, v in r["by_scope"].items())
    categories = _grouped((c, v) for r in present for c, v in r["by_category"].items())
    return {
        "report": "park",
        "schema": SCHEMA,
        "organization": {**_org(org), "parent": _parent(store, org)},
        "period": _period(span),
        "enterprises": rows,
        "missing": [
            {k: r[k] for k in ("code", "name_zh", "name_en", "sector", "parent_code")}
            for r in rows
            if r["inventory"] is None
        ],
        "totals": {
            "enterprises": len(rows),
            "with_inventory": len(present),
            "co2e_t": total,
            "energy_tce": math.fsum(r["energy_tce"] for r in present),
            "by_scope": [{"scope": s, "co2e_t": scopes[s]} for s in sorted(scopes)],
            "by_category": [
                {"category": c, "co2e_t": categories[c]}
                for c in sorted(categories, key=lambda c: (_category_order(c), c))
            ],
            "by_sector": sorted(
                (
                    {
                        "sector": sector,
                        "enterprises": len(members),
                        "co2e_t": math.fsum(m["co2e_t"] for m in members),
                        "energy_tce": math.fsum(m["energy_tce"] for m in members),
                        "share": (math.fsum(m["co2e_t"] for m in members) / total)
                        if total
                        else None,
                    }
                    for sector, members in by_sector.items()
                ),
                key=lambda s: (-s["co2e_t"], s["sector"] or ""),
            ),
            "top": [
                {
                    "rank": rank,
                    "code": r["code"],
                    "name_zh": r["name_zh"],
                    "name_en": r["name_en"],
                    "sector": r["sector"],
                    "co2e_t": r["co2e_t"],
                    "share": r["co2e_t"] / total if total else None,
                }
                for rank, r in enumerate(ranked[:TOP_EMITTERS], start=1)
            ],
            "output_value_10k_cny": output if with_output else None,
            "intensity_t_per_10k_cny": (
                math.fsum(r["co2e_t"] for r in with_output) / output if output else None
            ),
            "with_output": len(with_output),
        },
        "own_inventory": own,
    }


def _enterprise_row(
    store: Store,
    enterprise: Organization,
    span: Period,
    parents: Mapping[int, Organization],
    yearly: bool,
) -> dict[str, Any]:
    try:
        inventory: Inventory | None = store.current_inventory(enterprise.id, span.label)
    except NotFoundError:
        inventory = None
    econ = _economics(store, enterprise, span.year) if yearly else None
    output = econ["output_value_10k_cny"] if econ else None
    added = econ["value_added_10k_cny"] if econ else None
    parent = parents.get(enterprise.parent_id) if enterprise.parent_id is not None else None
    row: dict[str, Any] = {
        "org_id": enterprise.id,
        "code": enterprise.code,
        "name_zh": enterprise.name_zh,
        "name_en": enterprise.name_en or "",
        "sector": enterprise.sector,
        "parent_code": parent.code if parent is not None else None,
        "inventory": None,
        "co2e_t": None,
        "energy_tce": None,
        "by_scope": {},
        "by_category": {},
        "output_value_10k_cny": output,
        "value_added_10k_cny": added,
        "intensity_t_per_10k_cny": None,
        "warnings": 0,
    }
    if inventory is None:
        return row
    doc = _document(store, inventory)
    co2e = float(doc["co2e_t"])
    row.update(
        {
            "inventory": _inventory_meta(inventory),
            "co2e_t": co2e,
            "energy_tce": float(doc["energy_tce"]),
            "by_scope": {str(k): float(v) for k, v in doc.get("by_scope", {}).items()},
            "by_category": {k: float(v) for k, v in doc.get("by_category", {}).items()},
            "intensity_t_per_10k_cny": co2e / output if output else None,
            "warnings": len(doc.get("warnings", [])),
        }
    )
    return row


# --- the monthly energy and emissions statement -------------------------------------------


def _meter_tce(
    meter: Meter,
    source: EmissionSource | None,
    value: float,
    year: int,
    library: FactorLibrary,
) -> tuple[float | None, str | None]:
    """A meter's consumption in standard coal (GB/T 2589) [tce], and the carrier used."""
    if source is not None and source.category == Category.EXPORTED_ENERGY:
        return None, None  # energy sent out is not consumption
    if source is not None and source.tce_carrier and not source.tce_from_energy:
        carrier: str | None = source.tce_carrier
    else:
        carrier = CARRIER_TCE.get(meter.carrier)
    if carrier is None:
        return None, None
    record = {
        "id": meter.code,
        "method": "energy_tce",
        "carrier": carrier,
        "year": year,
        "amount": value,
        "unit": meter.unit,
    }
    try:
        tce = calculate(record, library).tce_t
    except ShuangtanError:
        return None, carrier
    return tce, carrier


def _month_amount(activity: Sequence[Mapping[str, Any]], month: str) -> float | None:
    """The part of a source's activity that falls in a month (by days), in its one unit."""
    if len({a.get("unit") for a in activity}) > 1:
        return None
    parts: list[float] = []
    for a in activity:
        start = dt.date.fromisoformat(a["period_start"])
        end = dt.date.fromisoformat(a["period_end"])
        months = months_of(start, end)
        days = sum(d for _, d in months) or 1
        for label, covered in months:
            if label == month:
                parts.append(float(a["amount"]) * covered / days)
    return math.fsum(parts) if parts else None


def monthly_statement(
    store: Store,
    org_id: int,
    month: str,
    *,
    now: dt.datetime | None = None,
    library: FactorLibrary | None = None,
) -> dict[str, Any]:
    """A month's energy and emissions of an organisation.

    Emissions are the month's own current inventory when there is one, else the month's share
    of the year's current inventory, apportioned source by source by activity data (as the
    dashboard's monthly chart does). Energy is given twice: from the activity data (the
    inventory's standard coal, GB/T 2589, by carrier) and from the meters' monthly rollups
    (each meter's consumption converted with its carrier's coefficient).

    Parameters
    ----------
    store : Store
        The caller's scoped store.
    org_id : int
        Any organisation with an inventory (enterprise, park, region).
    month : str
        ``YYYY-MM``.
    now : datetime.datetime, optional
        The time of asking [naive UTC], for the meters' expected readings.
    library : FactorLibrary, optional
        For the meters' standard-coal coefficients (the packaged library by default).

    Returns
    -------
    dict
        ``sources`` (the month's amount [source unit], ``co2e_t`` [tCO2e], ``energy_tce``
        [tce]), ``energy`` (by carrier [tce], from activity and from meters), ``meters``
        (rollup value [meter unit], intervals, tce), ``totals`` and ``quality``.

    Raises
    ------
    NotFoundError
        Not visible, or no current inventory of the month or of its year.
    InputError
        ``month`` is not ``YYYY-MM``.
    """
    span = parse_period(month, field="month")
    if len(span.label) != 7 or "Q" in span.label:
        raise InputError(f"must be a month like 2025-03; got {month!r}", field="month")
    org = store.get_org(org_id)
    lib = library or default_library()
    try:
        inventory = store.current_inventory(org.id, span.label)
        basis = "month_inventory"
    except NotFoundError:
        inventory = _current(store, org, str(span.year))
        basis = "annual_share"
    items: list[InventoryItem] = list(inventory.items)
    orgs = {o.id: o for o in store.subtree(org)}
    sources = _sources_by_id(store, org)
    current_data = _activity_by_id(store, org, span)
    rows: list[dict[str, Any]] = []
    for item in items:
        source = sources.get(item.source_id) if item.source_id is not None else None
        part = monthly_split([(item.co2e_t, item.energy_tce, item.activity)]).get(span.label)
        in_month = [
            a
            for a in item.activity
            if a["period_start"] < span.end.isoformat() and a["period_end"] > span.start.isoformat()
        ]
        owner = orgs.get(item.org_id)
        rows.append(
            {
                "source_id": item.source_id,
                "code": item.source_code,
                "name_zh": source.name_zh if source is not None else "",
                "name_en": (source.name_en or "") if source is not None else "",
                "org_code": owner.code if owner is not None else None,
                "category": item.category,
                "scope": item.scope,
                "method": item.method,
                "unit": in_month[0]["unit"] if in_month else (source.unit if source else None),
                "amount": _month_amount(in_month, span.label),
                "origins": sorted(
                    {
                        current_data[a["id"]].origin if a["id"] in current_data else "unknown"
                        for a in in_month
                    }
                ),
                "tce_carrier": source.tce_carrier if source is not None else None,
                "co2e_t": part[0] if part is not None else 0.0,
                "energy_tce": (part[1] if part is not None else 0.0)
                if item.energy_tce is not None
                else None,
            }
        )
    meters, _ = store.list_meters(within=org.id, limit=_ALL)
    meters = sorted(meters, key=lambda m: m.code)
    lo, _hi = _month_bounds_utc(span.start.year, span.start.month)
    rollups: dict[int, tuple[float, int]] = {}
    ids = [m.id for m in meters]
    for chunk in _chunks(ids):
        for meter_id, value, n in store.session.execute(
            select(MeterRollup.meter_id, MeterRollup.value, MeterRollup.n).where(
                MeterRollup.meter_id.in_(chunk),
                MeterRollup.resolution == "month",
                MeterRollup.bucket == lo,
            )
        ):
            rollups[meter_id] = (float(value), int(n))
    meter_rows: list[dict[str, Any]] = []
    for meter in meters:
        if meter.id not in rollups:
            continue
        value, n = rollups[meter.id]
        source = sources.get(meter.source_id) if meter.source_id is not None else None
        tce, carrier = _meter_tce(meter, source, value, span.year, lib)
        owner = orgs.get(meter.org_id)
        meter_rows.append(
            {
                "meter_id": meter.id,
                "code": meter.code,
                "name_zh": meter.name_zh,
                "name_en": meter.name_en or "",
                "org_code": owner.code if owner is not None else None,
                "carrier": meter.carrier,
                "unit": meter.unit,
                "source_code": source.code if source is not None else None,
                "value": value,
                "intervals": n,
                "tce_carrier": carrier,
                "energy_tce": tce,
            }
        )
    from_activity = _grouped(
        (r["tce_carrier"] or "other", r["energy_tce"]) for r in rows if r["energy_tce"] is not None
    )
    from_meters = _grouped(
        (m["carrier"], m["energy_tce"]) for m in meter_rows if m["energy_tce"] is not None
    )
    carriers = sorted({m["carrier"] for m in meter_rows})
    physical = _grouped(((m["carrier"], m["unit"]), m["value"]) for m in meter_rows)
    by_scope = _grouped((r["scope"], r["co2e_t"]) for r in rows)
    by_category = _grouped((r["category"], r["co2e_t"]) for r in rows)
    codes = {s.id: s.code for s in sources.values()}
    return {
        "report": "monthly",
        "schema": SCHEMA,
        "organization": {**_org(org), "parent": _parent(store, org)},
        "period": _period(span),
        "basis": basis,
        "inventory": {**_inventory_meta(inventory), "period": inventory.period},
        "sources": rows,
        "meters": meter_rows,
        "energy": {
            "from_activity": [
                {"carrier": c, "energy_tce": from_activity[c]} for c in sorted(from_activity)
            ],
            "from_meters": [
                {
                    "carrier": c,
                    "energy_tce": from_meters.get(c),
                    "values": [
                        {"unit": unit, "value": value}
                        for (carrier, unit), value in sorted(physical.items())
                        if carrier == c
                    ],
                }
                for c in carriers
            ],
        },
        "totals": {
            "co2e_t": math.fsum(r["co2e_t"] for r in rows),
            "energy_tce_activity": math.fsum(from_activity.values()),
            "energy_tce_meters": math.fsum(from_meters.values()),
            "by_scope": [{"scope": s, "co2e_t": by_scope[s]} for s in sorted(by_scope)],
            "by_category": [
                {"category": c, "co2e_t": by_category[c]}
                for c in sorted(by_category, key=lambda c: (_category_order(c), c))
            ],
        },
        "quality": meter_completeness(store, meters, span, now or utcnow(), codes),
    }

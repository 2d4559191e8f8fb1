"""Dashboard pages: the meters, one meter's consumption and quality, its quarantined readings.

``GET /meters`` lists the meters the caller can see (sorted and paged on the server, filtered
by enterprise and carrier) with each one's latest reading. ``GET /meters/{id}`` draws its
consumption at 15 min, hour, day or month from the readings API's own series, marks flagged
readings and incomplete buckets, and lists its quarantined readings with a correction form
per row (``POST /meters/{id}/quarantine/{qid}``: correct and re-process, or discard).
A meter outside the caller's subtrees answers 404, as in the API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import and_, func, or_, select

from shuangtan.adapters.db.models import (
    EmissionSource,
    Job,
    Meter,
    Organization,
    QuarantinedReading,
    Reading,
)
from shuangtan.adapters.db.readings_queries import ReadingQueries
from shuangtan.adapters.imports import ImportOptions
from shuangtan.errors import InputError, NotFoundError, ShuangtanError
from shuangtan.services.access import Action
from shuangtan.services.readings import LOCAL_OFFSET_US
from shuangtan.web.readings_api import MAX_POINTS, series
from shuangtan.web.ui.core import N_, Page, Table, UiPage, display_name, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]

#: Carriers of meters, by code (others are shown by their code).
CARRIERS = {
    "electricity": N_("Electricity"),
    "natural_gas": N_("Natural gas"),
    "coal": N_("Coal"),
    "oil": N_("Oil"),
    "heat": N_("Heat"),
    "steam": N_("Steam"),
    "water": N_("Water"),
}
#: What a meter sends.
KINDS = {"interval": N_("Interval consumption"), "cumulative": N_("Cumulative counter")}
#: Resolutions of the series, in the order of the switch.
RESOLUTIONS = {"15min": N_("15 min"), "hour": N_("Hour"), "day": N_("Day"), "month": N_("Month")}
#: Quality flags of a reading (``shuangtan.domain.readings.Flag``), by the API's names.
FLAGS = {
    "corrected": N_("Corrected"),
    "first": N_("First counter reading"),
    "rollover": N_("Counter rollover"),
    "replacement": N_("Meter replaced"),
    "gap": N_("Gap before"),
    "spike": N_("Spike"),
}
#: Why a reading went to quarantine (``shuangtan.domain.readings.Reason``).
REASONS = {
    "malformed": N_("Malformed row"),
    "unknown_meter": N_("Unknown meter"),
    "meter_not_in_org": N_("Meter not in the organisation"),
    "inactive_meter": N_("Meter inactive"),
    "bad_timestamp": N_("Unreadable timestamp"),
    "no_timezone": N_("Timestamp without a time zone"),
    "future_timestamp": N_("Timestamp in the future"),
    "too_old": N_("Timestamp too old"),
    "bad_value": N_("Value is not a number"),
    "negative": N_("Negative value"),
    "implausible": N_("Implausible value"),
    "wrong_unit": N_("Wrong unit"),
    "counter_backwards": N_("Counter ran backwards"),
    "conflict_in_batch": N_("Conflicting values in one batch"),
}
#: Status of a quarantined reading.
STATUSES = {"open": N_("Open"), "reprocessed": N_("Stored"), "discarded": N_("Discarded")}
#: Sortable columns of the list → SQL expression (set per request for the latest reading).
SORTS = ("code", "name", "carrier", "org", "latest")
#: Open quarantined rows shown on a meter's page (the API lists all).
QUARANTINE_SHOWN = 50
_MONTH = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOCAL = dt.timedelta(microseconds=LOCAL_OFFSET_US)


def _not_found(page: Page, request: Request) -> Response:
    """The 404 page in the caller's language (a meter outside the subtrees is not there)."""
    return render(
        request,
        "error.html",
        {
            "title": page.gettext(N_("Not found")),
            "message": page.gettext(N_("There is no such meter, or it is not yours to see.")),
            "field": None,
        },
        page=page,
        status_code=404,
    )


def _local(ts: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp [naive UTC] as Asia/Shanghai wall time."""
    return None if ts is None else ts + _LOCAL


# --- the list ------------------------------------------------------------------------------


def _int_param(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return None


@router.get("/meters")
def meter_list(request: Request, page: UiPage) -> Response:
    """The meters the caller can see, with the latest reading of each."""
    session = page.store.session
    table = Table.from_request(request, SORTS, default="code")
    latest = (
        select(func.max(Reading.ts)).where(Reading.meter_id == Meter.id).scalar_subquery()
    ).label("latest")
    stmt = select(Meter, Organization, latest).join(Organization, Organization.id == Meter.org_id)
    scope = page.store.where(Action.READ)
    if scope is not None:
        stmt = stmt.where(scope)
    enterprises, _ = page.store.list_orgs(kind="enterprise", limit=1000)
    enterprise_id = _int_param(request.query_params.get("enterprise"))
    chosen = next((e for e in enterprises if e.id == enterprise_id), None)
    if chosen is not None:
        stmt = stmt.where(Organization.path.like(chosen.path + "%"))
    carrier = request.query_params.get("carrier") or ""
    if carrier:
        stmt = stmt.where(Meter.carrier == carrier[:20])
    table.total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    name = Meter.name_en if page.locale == "en" else Meter.name_zh
    column = {
        "code": Meter.code,
        "name": name,
        "carrier": Meter.carrier,
        "org": Organization.code,
        "latest": latest,
    }[table.sort]
    order = column.desc() if table.descending else column.asc()
    rows: list[tuple[Meter, Organization, dt.datetime | None]] = [
        (m, o, ts)
        for m, o, ts in session.execute(
            stmt.order_by(order, Meter.code).limit(table.size).offset(table.offset)
        )
    ]
    pairs = [(m.id, ts) for m, _, ts in rows if ts is not None]
    values: dict[int, float] = {}
    if pairs:
        latest_values = select(Reading.meter_id, Reading.value).where(
            or_(*(and_(Reading.meter_id == i, Reading.ts == ts) for i, ts in pairs))
        )
        values = {meter_id: float(value) for meter_id, value in session.execute(latest_values)}
    carriers = sorted(
        c
        for (c,) in session.execute(
            select(Meter.carrier)
            .join(Organization, Organization.id == Meter.org_id)
            .where(scope if scope is not None else Meter.id.is_not(None))
            .distinct()
        )
    )
    items = [
        {
            "id": meter.id,
            "code": meter.code,
            "name": display_name(meter, page.locale),
            "carrier": page.gettext(CARRIERS[meter.carrier])
            if meter.carrier in CARRIERS
            else meter.carrier,
            "org_code": org.code,
            "org_name": display_name(org, page.locale),
            "unit": meter.unit,
            "active": meter.active,
            "latest": _local(ts),
            "value": values.get(meter.id),
        }
        for meter, org, ts in rows
    ]
    return render(
        request,
        "meters.html",
        {
            "table": table,
            "items": items,
            "enterprises": [(e.id, e.code, display_name(e, page.locale)) for e in enterprises],
            "enterprise_id": chosen.id if chosen else None,
            "carriers": [(c, page.gettext(CARRIERS[c]) if c in CARRIERS else c) for c in carriers],
            "carrier": carrier,
        },
        page=page,
    )


# --- one meter -----------------------------------------------------------------------------


def _date(value: str | None) -> dt.date | None:
    if not value or not _MONTH.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _month_after(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _default_range(
    readings: ReadingQueries, meter: Meter, resolution: str
) -> tuple[dt.date, dt.date]:
    """The local month of the meter's latest reading (its year at month resolution)."""
    last = readings.session.scalar(select(func.max(Reading.ts)).where(Reading.meter_id == meter.id))
    local = (
        _local(last - dt.timedelta(microseconds=1))
        if last is not None
        else dt.datetime.now(dt.UTC).replace(tzinfo=None) + _LOCAL
    )
    assert local is not None
    if resolution == "month":
        return dt.date(local.year, 1, 1), dt.date(local.year + 1, 1, 1)
    first = dt.date(local.year, local.month, 1)
    return first, _month_after(first)


def _wall(ts: str) -> str:
    """An API timestamp (``…+08:00``) as Plotly's wall time (it ignores offsets)."""
    return ts[:19].replace("T", " ")


def _figure(page: Page, meter: Meter, data: dict[str, Any]) -> dict[str, Any]:
    """The Plotly figure of a series: consumption, flagged readings or incomplete buckets."""
    points = data["points"]
    resolution = data["resolution"]
    unit = meter.unit
    x = [_wall(p["ts"]) for p in points]
    traces: list[dict[str, Any]] = []
    consumption = page.gettext(N_("Consumption"))
    if resolution == "15min":
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": consumption,
                "x": x,
                "y": [p["value"] for p in points],
                "line": {"color": "#0f6e5a", "width": 1.2},
                "hovertemplate": "%{x}<br>%{y:.4g} " + unit + "<extra></extra>",
            }
        )
        flagged = [p for p in points if p.get("flags")]
        if flagged:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": page.gettext(N_("Flagged reading")),
                    "x": [_wall(p["ts"]) for p in flagged],
                    "y": [p["value"] for p in flagged],
                    "text": [
                        " · ".join(page.gettext(FLAGS.get(f, f)) for f in p["flags"])
                        for p in flagged
                    ],
                    "marker": {"color": "#b3261e", "size": 7, "symbol": "x"},
                    "hovertemplate": "%{x}<br>%{y:.4g} " + unit + "<br>%{text}<extra></extra>",
                }
            )
    else:
        expected = _expected(meter, resolution)
        complete: list[float | None] = []
        partial: list[float | None] = []
        for p in points:
            full = expected is None or p["n"] >= expected(p["ts"])
            complete.append(p["value"] if full else None)
            partial.append(None if full else p["value"])
        # Each bar spans its bucket (the API stamps a bucket by its start).
        period = {"hour": 3_600_000, "day": 86_400_000, "month": "M1"}[resolution]
        common = {
            "type": "bar",
            "x": x,
            "xperiod": period,
            "xperiodalignment": "middle",
            "customdata": [p["n"] for p in points],
        }
        hover = (
            "%{x}<br>%{y:.4g} "
            + unit
            + "<br>"
            + page.gettext(N_("Measured intervals"))
            + ": %{customdata}<extra></extra>"
        )
        traces.append(
            {
                **common,
                "name": consumption,
                "y": complete,
                "marker": {"color": "#0f6e5a"},
                "hovertemplate": hover,
            }
        )
        if any(v is not None for v in partial):
            traces.append(
                {
                    **common,
                    "name": page.gettext(N_("Incomplete (intervals missing)")),
                    "y": partial,
                    "marker": {"color": "#d08a1f"},
                    "hovertemplate": hover,
                }
            )
    layout = {
        "margin": {"l": 60, "r": 20, "t": 20, "b": 40},
        "barmode": "overlay",
        "hovermode": "closest",
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.12},
        "xaxis": {
            "type": "date",
            "rangeslider": {"visible": True, "thickness": 0.08},
            # Numeric dates: plotly.js names months in English only (no locale bundled).
            "hoverformat": "%Y-%m-%d" if resolution in ("day", "month") else "%Y-%m-%d %H:%M",
            "tickformatstops": [
                {"dtickrange": [None, 86_400_000], "value": "%H:%M<br>%Y-%m-%d"},
                {"dtickrange": [86_400_000, 28 * 86_400_000], "value": "%m-%d<br>%Y"},
                {"dtickrange": [28 * 86_400_000, None], "value": "%Y-%m"},
            ],
        },
        "yaxis": {"title": {"text": f"{consumption} [{unit}]"}, "rangemode": "tozero"},
        "font": {"family": '"Noto Sans CJK SC", system-ui, sans-serif', "size": 12},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
    }
    return {
        "data": traces,
        "layout": layout,
        "config": {"displaylogo": False, "displayModeBar": False},
    }


def _expected(meter: Meter, resolution: str) -> Any:
    """Intervals a complete bucket holds, by the bucket's start (None: not judged)."""
    per_hour = 3600 / meter.interval_s
    if resolution == "hour":
        return lambda ts: per_hour
    if resolution == "day":
        return lambda ts: 24 * per_hour
    if resolution == "month":

        def month(ts: str) -> float:
            first = dt.date(int(ts[:4]), int(ts[5:7]), 1)
            return (_month_after(first) - first).days * 24 * per_hour

        return month
    return None


def _quality(data: dict[str, Any], meter: Meter) -> dict[str, Any]:
    """Counts for the quality line under the chart."""
    points = data["points"]
    flags: dict[str, int] = {}
    for p in points:
        for f in p.get("flags") or ():
            flags[f] = flags.get(f, 0) + 1
    incomplete = 0
    expected = _expected(meter, data["resolution"])
    if expected is not None:
        incomplete = sum(1 for p in points if p["n"] < expected(p["ts"]))
    total = sum(p["value"] for p in points if p["value"] is not None and math.isfinite(p["value"]))
    tce = data["tce_per_unit"]
    return {
        "points": len(points),
        "flags": sorted(flags.items()),
        "incomplete": incomplete,
        "total": total,
        "tce": None if tce is None else total * tce,
    }


def _meter_context(
    page: Page,
    request: Request,
    meter: Meter,
    *,
    resolution: str,
    start: dt.date | None,
    end: dt.date | None,
) -> dict[str, Any]:
    """Everything the meter page shows, for the meter and the chosen range."""
    readings = ReadingQueries(page.store.session, page.principal)
    org = page.store.session.get(Organization, meter.org_id)
    assert org is not None
    source = page.store.session.get(EmissionSource, meter.source_id) if meter.source_id else None
    range_error = None
    default_start, default_end = _default_range(readings, meter, resolution)
    if start is None or end is None:
        start, end = default_start, default_end
    elif end <= start:
        range_error = N_("The end must be after the start.")
    elif start.year < 2000 or end.year > 2100:
        range_error = N_("Choose days between 2000 and 2100.")
    else:
        per_day = {"15min": 86400 / meter.interval_s, "hour": 24, "day": 1, "month": 1 / 28}
        if (end - start).days * per_day[resolution] > MAX_POINTS:
            range_error = N_("Too many points: choose a shorter range or a coarser resolution.")
    figure = None
    quality = None
    data: dict[str, Any] | None = None
    if range_error is None:
        data = series(
            meter.id,
            page.store,
            readings,
            page.state,
            start,
            end,
            resolution,  # type: ignore[arg-type]
        )
        figure = _figure(page, meter, data)
        quality = _quality(data, meter)
    open_rows, open_total = readings.list_quarantine(
        status="open", meter_id=meter.id, limit=QUARANTINE_SHOWN
    )
    done_rows = page.store.session.scalars(
        select(QuarantinedReading)
        .where(
            QuarantinedReading.meter_id == meter.id,
            QuarantinedReading.status != "open",
        )
        .order_by(QuarantinedReading.resolved_at.desc(), QuarantinedReading.id.desc())
        .limit(10)
    ).all()
    visible_done = [r for r in done_rows if _visible(readings, r.id)]
    zones: dict[int, dt.tzinfo | None] = {}
    return {
        "meter": meter,
        "meter_name": display_name(meter, page.locale),
        "org": org,
        "org_name": display_name(org, page.locale),
        "source": source,
        "source_name": display_name(source, page.locale) if source else None,
        "carrier": page.gettext(CARRIERS[meter.carrier])
        if meter.carrier in CARRIERS
        else meter.carrier,
        "kind": page.gettext(KINDS[meter.kind]) if meter.kind in KINDS else meter.kind,
        "resolution": resolution,
        "resolutions": [(k, page.gettext(v)) for k, v in RESOLUTIONS.items()],
        "start": start,
        "end": end,
        "range_error": range_error,
        "figure": figure,
        "quality": quality,
        "flag_names": {k: page.gettext(v) for k, v in FLAGS.items()},
        "note": data["note"] if data else None,
        "tce_per_unit": data["tce_per_unit"] if data else None,
        "can_write": page.principal.allows(Action.WRITE_ACTIVITY, org.path),
        "open_rows": [_row(r, _job_zone(page.store.session, r.job_id, zones)) for r in open_rows],
        "open_total": open_total,
        "done_rows": [_row(r) for r in visible_done],
        "reasons": {k: page.gettext(v) for k, v in REASONS.items()},
        "statuses": {k: page.gettext(v) for k, v in STATUSES.items()},
        "outcome": None,
        "form": None,
    }


def _visible(readings: ReadingQueries, qid: int) -> bool:
    try:
        readings.get_quarantined(qid)
    except NotFoundError:
        return False
    return True


#: A file import's reference to a row (``line 17``), shown in the page's language.
_LINE = re.compile(r"^line (\d+)$")
_ZONED = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def _zoned(ts: str, zone: dt.tzinfo | None) -> str:
    """A file's timestamp without a zone, in its import's zone (as re-processing needs it)."""
    if zone is None or not ts or _ZONED.search(ts):
        return ts
    try:
        naive = dt.datetime.fromisoformat(ts)
    except ValueError:
        return ts
    return naive.replace(tzinfo=zone).isoformat()


def _job_zone(session: Any, job_id: int | None, zones: dict[int, dt.tzinfo | None]) -> Any:
    if job_id is None:
        return None
    if job_id not in zones:
        job = session.get(Job, job_id)
        try:
            zones[job_id] = ImportOptions.from_dict(job.params or {}).zone() if job else None
        except ShuangtanError:
            zones[job_id] = None
    return zones[job_id]


def _row(row: QuarantinedReading, zone: dt.tzinfo | None = None) -> dict[str, Any]:
    raw = row.raw if isinstance(row.raw, dict) else {}
    ts = "" if raw.get("ts") is None else str(raw.get("ts"))
    return {
        "id": row.id,
        "line": int(line.group(1)) if (line := _LINE.match(row.ref)) else None,
        "ref": row.ref,
        "channel": row.channel,
        "reason": row.reason,
        "field": row.field,
        "received": _local(row.received_at),
        "ts": _zoned(ts, zone) if row.status == "open" else ts,
        "value": "" if raw.get("value") is None else str(raw.get("value")),
        "unit": "" if raw.get("unit") is None else str(raw.get("unit")),
        "status": row.status,
    }


def _resolution(value: str | None) -> str:
    return value if value in RESOLUTIONS else "hour"


def _meter_or_none(page: Page, meter_id: int) -> Meter | None:
    try:
        return page.store.get_meter(meter_id)
    except NotFoundError:
        return None


@router.get("/meters/{meter_id}")
def meter_detail(meter_id: PathId, request: Request, page: UiPage) -> Response:
    """One meter: its consumption at a resolution, its quality, its quarantined readings."""
    meter = _meter_or_none(page, meter_id)
    if meter is None:
        return _not_found(page, request)
    q = request.query_params
    context = _meter_context(
        page,
        request,
        meter,
        resolution=_resolution(q.get("resolution")),
        start=_date(q.get("start")),
        end=_date(q.get("end")),
    )
    done = _int_param(q.get("done"))
    outcome = q.get("outcome")
    if done is not None and outcome in ("stored", "refused", "discarded"):
        context["outcome"] = {"id": done, "kind": outcome}
    return render(request, "meter.html", context, page=page)


def _number(text: str) -> float | None:
    """A number typed by a person (grouping commas allowed); None when it is not one."""
    try:
        value = float(text.replace(",", "").replace("，", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@router.post("/meters/{meter_id}/quarantine/{qid}")
async def quarantine_action(
    meter_id: PathId, qid: PathId, request: Request, page: UiPage
) -> Response:
    """Correct and re-process a quarantined reading of the meter, or discard it.

    A correction the page can judge (a value that is not a number, an empty time) comes back
    with the message beside the field and the values kept; the outcome of re-processing
    (stored, or refused again with the new reason) is shown beside the row.
    """
    form = await request.form()
    page.check_csrf(form)
    meter = _meter_or_none(page, meter_id)
    if meter is None:
        return _not_found(page, request)
    readings = ReadingQueries(page.store.session, page.principal)
    try:
        row = readings.get_quarantined(qid)
    except NotFoundError:
        return _not_found(page, request)
    if row.meter_id != meter.id:
        return _not_found(page, request)
    q = request.query_params
    back = {
        "resolution": _resolution(q.get("resolution")),
        "start": q.get("start") or "",
        "end": q.get("end") or "",
    }
    action = str(form.get("action") or "correct")
    now = dt.datetime.now(dt.UTC)
    if action == "discard":
        with contextlib.suppress(InputError):  # already resolved: the page shows its status
            readings.discard(qid, now=now)
        return _back(meter.id, back, qid, "discarded")
    ts = str(form.get("ts") or "").strip()[:40]
    value_text = str(form.get("value") or "").strip()[:60]
    unit = str(form.get("unit") or "").strip()[:40]
    errors: dict[str, str] = {}
    value = _number(value_text)
    if value is None:
        errors["value"] = N_("Enter a number.")
    if not ts:
        errors["ts"] = N_("Enter the time, with its zone (for example 2025-01-15T10:00:00+08:00).")
    if errors:
        context = _meter_context(
            page,
            request,
            meter,
            resolution=back["resolution"],
            start=_date(back["start"]),
            end=_date(back["end"]),
        )
        context["form"] = {
            "id": qid,
            "ts": ts,
            "value": value_text,
            "unit": unit,
            "errors": errors,
        }
        return render(request, "meter.html", context, page=page, status_code=422)
    readings.correct_quarantined(qid, {"ts": ts, "value": value, "unit": unit or None})
    fixed, result = readings.reprocess(qid, now=now)
    if not result.quarantined and result.months and page.state.syncer is not None:
        page.state.syncer.poke()
    return _back(meter.id, back, qid, "refused" if fixed.status == "open" else "stored")


def _back(meter_id: int, params: dict[str, str], qid: int, outcome: str) -> Response:
    query = "&".join(f"{k}={v}" for k, v in params.items() if v and re.match(r"^[\w-]+$", v))
    url = f"/meters/{meter_id}?{query}&done={qid}&outcome={outcome}#q-{qid}"
    return RedirectResponse(url, status_code=303)

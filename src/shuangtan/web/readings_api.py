"""REST API v1 for online energy monitoring: readings in, series, quality and quarantine out."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Annotated, Any, Literal

import msgspec
import orjson
from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from shuangtan.adapters.db.models import Meter, QuarantinedReading
from shuangtan.adapters.db.readings import (
    IngestResult,
    ReadingsWriter,
    sync_activity,
    us_to_naive,
)
from shuangtan.adapters.db.readings_queries import ReadingQueries
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.adapters.gcpause import gc_paused
from shuangtan.adapters.imports import ImportOptions, create_import_job, remove_upload
from shuangtan.domain.readings import Channel, Flag, RawReading
from shuangtan.errors import InputError, PermissionDeniedError
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import Action
from shuangtan.services.calculation import calculate
from shuangtan.services.quality import day_quality, month_consistency, quarantine_day
from shuangtan.services.readings import (
    CARRIER_TCE,
    DAY_US,
    GJ_PER_TCE,
    LOCAL_OFFSET_US,
    month_start_us,
    to_us,
)
from shuangtan.web import schemas as s
from shuangtan.web.deps import ScopedReadings, ScopedStore, State
from shuangtan.web.errors import PayloadTooLargeError
from shuangtan.web.jobs import job_body
from shuangtan.web.params import Limit, Offset, OptId, PathId

router = APIRouter()


#: Most readings one request may carry.
MAX_READINGS = 100_000
#: Largest body accepted. [bytes]
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Most points one series answer may hold.
MAX_POINTS = 20_000
#: Largest upload. [bytes]
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def _page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# --- readings in ---------------------------------------------------------------------------


#: Members a reading object may have.
_MEMBERS = frozenset(("meter", "ts", "value", "unit"))


class _ReadingIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A well-formed reading object; ``ts`` and ``value`` are judged later, with reasons."""

    meter: str
    ts: Any
    value: Any
    unit: str | None = None


class _ReadingsIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    readings: list[_ReadingIn]


#: Decodes a well-formed body straight into typed objects: about a fifth of the time of
#: JSON → dicts → checks, and nothing for the cyclic GC to track.
_TYPED = msgspec.json.Decoder(_ReadingsIn)


def _decode_json(body: bytes) -> list[RawReading]:
    if b"\\u0000" in body:
        # PostgreSQL text cannot hold NUL: no meter code, timestamp or unit has one.
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"the body is not valid JSON: {exc}", field="$") from None
        raise InputError("the body holds NUL characters (\\u0000)", field="$")
    try:
        typed = _TYPED.decode(body)
    except (msgspec.DecodeError, ValueError):  # ValueError: invalid UTF-8 in a string
        # Any other shape (or bad JSON) takes the checks below, which name the field.
        return _decode_json_checked(body)
    if len(typed.readings) > MAX_READINGS:
        raise _too_many(len(typed.readings))
    make = tuple.__new__  # RawReading's own __new__ is Python code: ~0.3 µs a reading more
    return [
        make(RawReading, (r.meter, r.ts, r.value, r.unit, f"readings[{i}]"))
        for i, r in enumerate(typed.readings)
    ]


def _decode_json_checked(body: bytes) -> list[RawReading]:
    """Decode any JSON body, naming the first member that is not as it should be."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}", field="$") from None
    if not isinstance(document, dict) or "readings" not in document:
        raise InputError('must be an object {"readings": [...]}', field="$")
    extra = set(document) - {"readings"}
    if extra:
        raise InputError(f"unknown member {sorted(extra)[0]!r}", field="$")
    readings = document["readings"]
    if not isinstance(readings, list):
        raise InputError("must be a list of readings", field="readings")
    if len(readings) > MAX_READINGS:
        raise _too_many(len(readings))
    out: list[RawReading] = []
    for i, item in enumerate(readings):
        if type(item) is not dict:
            raise InputError("must be an object {meter, ts, value}", field=f"readings[{i}]")
        if not _MEMBERS.issuperset(item):
            unknown = sorted(set(item) - _MEMBERS)[0]
            raise InputError(f"unknown member {unknown!r}", field=f"readings[{i}]")
        meter = item.get("meter")
        if type(meter) is not str:
            if isinstance(meter, bool) or not isinstance(meter, str | int):
                raise InputError("must be a meter id or code", field=f"readings[{i}].meter")
            meter = str(meter)
        unit = item.get("unit")
        if unit is not None and type(unit) is not str:
            raise InputError("must be a unit text", field=f"readings[{i}].unit")
        out.append(RawReading(meter, item.get("ts"), item.get("value"), unit, f"readings[{i}]"))
    return out


def _decode_csv(body: bytes) -> list[RawReading]:
    try:
        content = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise InputError(
            f"line {line} is not UTF-8 (byte 0x{body[exc.start]:02x}); send UTF-8, or upload "
            "the file to /api/v1/imports with encoding=gbk",
            field="body",
        ) from None
    if "\x00" in content:
        raise InputError("the CSV holds NUL characters", field="body")
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise InputError(f"the CSV header cannot be read: {exc}", field="header") from None
    if not {"meter", "ts", "value"} <= set(header):
        raise InputError(
            f"the header must name the columns meter,ts,value (got {','.join(header)[:80]!r})",
            field="header",
        )
    index = {
        name: header.index(name) for name in ("meter", "ts", "value", "unit") if name in header
    }
    out: list[RawReading] = []
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(
            f"the CSV cannot be read at line {reader.line_num}: {exc}", field="body"
        ) from None
    for line_no, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(
                f"line {line_no} has {len(row)} cells; the header has {len(header)}", field="body"
            )
        unit = row[index["unit"]].strip() or None if "unit" in index else None
        out.append(
            RawReading(
                row[index["meter"]].strip(),
                row[index["ts"]].strip(),
                row[index["value"]].strip(),
                unit,
                f"line {line_no}",
            )
        )
        if len(out) > MAX_READINGS:
            raise _too_many(len(out))
    return out


def _too_many(count: int) -> Exception:
    return PayloadTooLargeError(
        f"{count} readings; at most {MAX_READINGS} per request (upload a file to /api/v1/imports, "
        "or use MQTT, for more)",
        field="readings",
    )


def _ingest(store: Store, raws: list[RawReading]) -> IngestResult:
    return ReadingsWriter(store.session).ingest(
        raws,
        resolve=store.meter_resolver(),
        now=dt.datetime.now(dt.UTC),
        channel=Channel.HTTP,
        user_id=store.principal.user_id if store.principal.user_id > 0 else None,
    )


@router.post(
    "/readings",
    response_model=s.IngestOut,
    tags=["readings"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": s.component_ref(s.ReadingsIn)},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_readings(request: Request, store: ScopedStore, state: State) -> dict[str, Any]:
    """Store a batch of meter readings (at most 100,000): JSON or CSV (``meter,ts,value[,unit]``).

    Readings already stored with the same value count as ``duplicates``; another value for a
    stored (meter, ts) replaces it and is recorded (``corrected``). Readings that fail a check
    go to the quarantine with the field and the reason (``quarantined``); the others are
    stored. A body that cannot be read at all is refused whole (422) and nothing is stored.
    """
    if not store.principal.scope_allows(Action.WRITE_ACTIVITY):
        raise PermissionDeniedError("this token's scopes do not allow writing", field=None)
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body exceeds {MAX_BODY_BYTES} bytes", field="$")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body exceeds {MAX_BODY_BYTES} bytes", field="$")
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        decode = _decode_csv
    elif media in ("application/json", ""):
        decode = _decode_json
    else:
        raise InputError(
            f"unsupported content type {media!r}; send application/json or text/csv",
            field="Content-Type",
        )

    def receive() -> IngestResult:
        # Decoded and stored with the cyclic GC paused: a batch is ~10⁵ acyclic objects.
        with gc_paused():
            return _ingest(store, decode(body))

    result = await run_in_threadpool(receive)
    if result.months and state.syncer is not None:
        # After this request's commit; a pass a few seconds later picks the months up.
        state.syncer.poke()
    return result.summary()


@router.post("/readings/sync", response_model=s.SyncOut, tags=["readings"])
def sync_now(store: ScopedStore, state: State) -> dict[str, Any]:
    """Make activity data follow the meters now (platform administrators).

    This normally happens by itself a few seconds after readings arrive.
    """
    if not store.principal.is_platform_admin:
        raise PermissionDeniedError("only platform administrators may run the sync", field=None)
    if not store.principal.scope_allows(Action.RECOMPUTE):
        raise PermissionDeniedError("this token's scopes do not allow writing", field=None)
    return sync_activity(store.session, state.library).summary()


# --- series --------------------------------------------------------------------------------


def _tce_per_unit(
    readings: ReadingQueries, meter: Meter, library: FactorLibrary, year: int
) -> tuple[float | None, list[dict[str, Any]], str | None]:
    """Standard coal per meter unit (GB/T 2589) [tce/unit], the factors used, or why not."""
    carrier = readings.source_tce_carrier(meter) or CARRIER_TCE.get(meter.carrier)
    if carrier is None:
        return None, [], f"no GB/T 2589 coefficient for a {meter.carrier} meter"
    try:
        result = calculate(
            {
                "id": "tce",
                "method": "energy_tce",
                "carrier": carrier,
                "year": year,
                "amount": 1.0,
                "unit": meter.unit,
            },
            library,
        )
    except Exception as exc:  # a unit or a year without a factor
        return None, [], str(exc)
    lineage = [
        {
            "key": f.key,
            "value": f.value,
            "unit": f.unit,
            "source": f.source_id,
            "clause": f.clause,
            "status": f.status,
        }
        for f in result.factors
    ]
    return result.tce_t, lineage, None


def _local_iso(ts: dt.datetime) -> str:
    return (ts + dt.timedelta(hours=8)).isoformat() + "+08:00"


@router.get("/meters/{meter_id}/series", response_model=s.SeriesOut, tags=["readings"])
def series(
    meter_id: PathId,
    store: ScopedStore,
    readings: ScopedReadings,
    state: State,
    start: Annotated[dt.date, Query(description="First local day (Asia/Shanghai)")],
    end: Annotated[dt.date, Query(description="Day after the last (exclusive)")],
    resolution: Annotated[Literal["15min", "hour", "day", "month"], Query()] = "day",
) -> dict[str, Any]:
    """A meter's consumption over local days ``[start, end)``: in its unit, GJ and tce.

    ``15min`` gives the readings themselves with their quality flags; ``hour``, ``day`` and
    ``month`` the rollups, with the number of measured intervals in each bucket (a
    counter's baseline reading is not one). Timestamps are the end (readings) or start
    (buckets) in Asia/Shanghai time.
    """
    meter = store.get_meter(meter_id)
    if end <= start:
        raise InputError("must be after start", field="end")
    if start.year < 2000 or end.year > 2100:
        raise InputError("must be between 2000 and 2100", field="start")
    days = (end - start).days
    per_day = {"15min": 86400 // meter.interval_s, "hour": 24, "day": 1, "month": 1 / 28}[
        resolution
    ]
    if days * per_day > MAX_POINTS:
        raise InputError(
            f"{days} days at {resolution} exceed {MAX_POINTS} points; ask a coarser resolution",
            field="resolution",
        )
    lo = us_to_naive(
        to_us(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)) - LOCAL_OFFSET_US
    )
    hi = us_to_naive(
        to_us(dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC)) - LOCAL_OFFSET_US
    )
    tce_per_unit, lineage, why = _tce_per_unit(readings, meter, state.library, start.year)
    points: list[dict[str, Any]] = []
    if resolution == "15min":
        for ts, value, raw, flags in readings.readings(meter, lo, hi):
            points.append(
                {
                    "ts": _local_iso(ts),
                    "value": value,
                    "raw": raw,
                    "flags": [f.name.lower() for f in Flag if flags & f and f.name],
                }
            )
    else:
        if resolution == "month":
            lo = us_to_naive(month_start_us(start.year, start.month))
        for bucket, value, n in readings.rollups(meter, resolution, lo, hi):
            points.append({"ts": _local_iso(bucket), "value": value, "n": n})
    for point in points:
        tce = None if tce_per_unit is None else point["value"] * tce_per_unit
        point["tce"] = tce
        point["gj"] = None if tce is None else tce * GJ_PER_TCE
    return {
        "meter_id": meter.id,
        "code": meter.code,
        "unit": meter.unit,
        "resolution": resolution,
        "start": start,
        "end": end,
        "tce_per_unit": tce_per_unit,
        "gj_per_tce": GJ_PER_TCE,
        "factors": lineage,
        "note": why,
        "points": points,
    }


# --- manual monthly entries and meter swaps ------------------------------------------------


@router.put("/meters/{meter_id}/monthly/{month}", response_model=s.MonthlyOut, tags=["readings"])
def put_monthly(
    meter_id: PathId,
    month: Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])],
    body: s.MonthlyIn,
    store: ScopedStore,
    readings: ScopedReadings,
    state: State,
) -> dict[str, Any]:
    """Enter a month's consumption of a meter by hand (unmetered use, or the bill).

    For a meter without readings in that month, the entry is the month's consumption and its
    source's activity follows it; for a metered one it is the reference the daily data is
    checked against (GB/T 37947: deviation ≤ 5 %).
    """
    meter = store.get_meter(meter_id, Action.WRITE_ACTIVITY)
    year, mon = int(month[:4]), int(month[5:])
    if not 2000 <= year <= 2100:
        raise InputError("must be between 2000 and 2100", field="month")
    entry = readings.put_monthly(
        meter,
        dt.date(year, mon, 1),
        value=body.value,
        note=body.note,
        now=dt.datetime.now(dt.UTC),
    )
    if meter.source_id is not None and state.syncer is not None:
        state.syncer.poke()
    return {
        "meter_id": meter.id,
        "month": month,
        "value": entry.value,
        "unit": meter.unit,
        "note": entry.note,
    }


@router.get("/meters/{meter_id}/monthly", response_model=list[s.MonthlyOut], tags=["readings"])
def list_monthly(
    meter_id: PathId, store: ScopedStore, readings: ScopedReadings
) -> list[dict[str, Any]]:
    """A meter's monthly entries."""
    meter = store.get_meter(meter_id)
    return [
        {
            "meter_id": meter.id,
            "month": f"{r.month:%Y-%m}",
            "value": r.value,
            "unit": meter.unit,
            "note": r.note,
        }
        for r in readings.monthly_entries(meter)
    ]


@router.post(
    "/meters/{meter_id}/replacements",
    response_model=s.ReplacementOut,
    status_code=201,
    tags=["readings"],
)
def add_replacement(
    meter_id: PathId, body: s.ReplacementIn, store: ScopedStore, readings: ScopedReadings
) -> dict[str, Any]:
    """Record that a cumulative meter's device was swapped: the counters either side.

    The interval across the swap then counts the old device's last stretch plus the new
    one's first, instead of a counter running backwards.
    """
    meter = store.get_meter(meter_id, Action.WRITE_CONFIGURATION)
    if meter.kind != "cumulative":
        raise InputError("only cumulative meters have counters to swap", field="meter_id")
    row = readings.add_replacement(
        meter,
        ts=body.ts.astimezone(dt.UTC).replace(tzinfo=None),
        old_final=body.old_final,
        new_initial=body.new_initial,
        note=body.note,
    )
    return {
        "id": row.id,
        "meter_id": meter.id,
        "ts": body.ts,
        "old_final": row.old_final,
        "new_initial": row.new_initial,
        "note": row.note,
    }


# --- quarantine ----------------------------------------------------------------------------


def _quarantine_out(row: QuarantinedReading) -> dict[str, Any]:
    return {
        "id": row.id,
        "meter_id": row.meter_id,
        "org_id": row.org_id,
        "channel": row.channel,
        "ref": row.ref,
        "reason": row.reason,
        "field": row.field,
        "message": row.message,
        "raw": row.raw,
        "job_id": row.job_id,
        "received_at": row.received_at.replace(tzinfo=dt.UTC),
        "status": row.status,
        "resolved_at": row.resolved_at.replace(tzinfo=dt.UTC) if row.resolved_at else None,
    }


@router.get("/quarantine", response_model=s.Page[s.QuarantineOut], tags=["readings"])
def list_quarantine(
    readings: ScopedReadings,
    status: Annotated[Literal["open", "reprocessed", "discarded"] | None, Query()] = "open",
    meter_id: OptId = None,
    org_id: OptId = None,
    job_id: OptId = None,
    reason: Annotated[str | None, Query(max_length=30)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Readings refused by a check, with the field and the reason, newest first.

    Listed are those of organisations the caller can read, and those the caller sent.
    """
    rows, total = readings.list_quarantine(
        status=status,
        meter_id=meter_id,
        org_id=org_id,
        job_id=job_id,
        reason=reason,
        limit=limit,
        offset=offset,
    )
    return _page([_quarantine_out(r) for r in rows], total, limit, offset)


@router.patch("/quarantine/{qid}", response_model=s.QuarantineOut, tags=["readings"])
def correct_quarantined(
    qid: PathId, body: s.QuarantinePatch, readings: ScopedReadings
) -> dict[str, Any]:
    """Correct a quarantined reading (meter, ts, value, unit) before re-processing it."""
    return _quarantine_out(readings.correct_quarantined(qid, body.model_dump(exclude_unset=True)))


@router.post("/quarantine/{qid}/reprocess", response_model=s.ReprocessOut, tags=["readings"])
def reprocess(qid: PathId, readings: ScopedReadings, state: State) -> dict[str, Any]:
    """Send a quarantined reading through the checks again.

    If it passes, it is stored and the row is marked ``reprocessed``; if not, the row stays
    open with the new reason (no second row is made).
    """
    row, result = readings.reprocess(qid, now=dt.datetime.now(dt.UTC))
    if not result.quarantined and result.months and state.syncer is not None:
        state.syncer.poke()
    return {
        "quarantine": _quarantine_out(row),
        "stored": result.stored,
        "corrected": result.corrected,
        "duplicates": result.duplicates,
    }


@router.post("/quarantine/{qid}/discard", response_model=s.QuarantineOut, tags=["readings"])
def discard(qid: PathId, readings: ScopedReadings) -> dict[str, Any]:
    """Give up on a quarantined reading (it stays listed as ``discarded``)."""
    return _quarantine_out(readings.discard(qid, now=dt.datetime.now(dt.UTC)))


# --- quality -------------------------------------------------------------------------------


@router.get("/quality/daily", response_model=s.DailyQualityOut, tags=["readings"])
def daily_quality(
    store: ScopedStore,
    readings: ScopedReadings,
    org_id: Annotated[int, Query(ge=1, le=2**31 - 1)],
    date: Annotated[dt.date, Query(description="Local day (Asia/Shanghai)")],
) -> dict[str, Any]:
    """GB/T 37947 data quality of a day, per active meter of an organisation's subtree and in all.

    Completeness is readings received over readings expected (≥ 90 % passes); gaps, spikes,
    counter problems and open quarantined readings are counted; a meter silent for more than
    an hour at the time of asking is stale.

    A quarantined reading counts on the local day of its own timestamp (``raw.ts``, read
    like an incoming one; a file import's ``timezone`` places one written without a zone), as
    a stored reading would. It counts on the day it was received only when the timestamp is
    what was refused (field ``ts``: unreadable, no zone, in the future, before 2000), or when
    it cannot be read, has no zone or is later than its receipt (a row refused for its meter
    before the timestamp was checked).
    """
    org = store.get_org(org_id)
    if not dt.date(2000, 1, 1) <= date <= dt.date(2100, 1, 1):
        raise InputError("must be between 2000 and 2100", field="date")
    day_lo_us = to_us(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)) - LOCAL_OFFSET_US
    lo, hi = us_to_naive(day_lo_us), us_to_naive(day_lo_us + DAY_US)
    now_us = to_us(dt.datetime.now(dt.UTC))
    out = []
    for day in readings.meter_days(org, lo, hi):
        quality = day_quality(
            day.ts_us,
            day.values,
            day.flags,
            interval_s=day.meter.interval_s,
            day_start_us=day_lo_us,
            last_us=day.last_us,
            now_us=now_us,
        )
        quarantined = sum(
            1
            for q in day.quarantined
            if quarantine_day(q.ts, q.field, q.received_us, q.zone) == date
        )
        out.append(
            {
                "meter_id": day.meter.id,
                "code": day.meter.code,
                "unit": day.meter.unit,
                "quarantined": quarantined,
                **quality,
            }
        )
    passing = sum(1 for m in out if m["complete"])
    return {
        "org_id": org.id,
        "date": date,
        "meters": len(out),
        "meters_complete": passing,
        "completeness": (sum(m["completeness"] for m in out) / len(out)) if out else None,
        "threshold": 0.9,
        "items": out,
    }


@router.get("/quality/monthly", response_model=s.MonthlyQualityOut, tags=["readings"])
def monthly_quality(
    store: ScopedStore,
    readings: ScopedReadings,
    org_id: Annotated[int, Query(ge=1, le=2**31 - 1)],
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2025-03"])],
) -> dict[str, Any]:
    """GB/T 37947 day/month consistency: the month's daily totals against the monthly figure.

    The monthly figure is the meter's monthly entry (a bill) or, for a meter that feeds a
    source whose activity was entered by hand, that activity; deviation ≤ 5 % passes.
    """
    org = store.get_org(org_id)
    year, mon = int(month[:4]), int(month[5:])
    if not 2000 <= year <= 2100:
        raise InputError("must be between 2000 and 2100", field="month")
    lo = us_to_naive(month_start_us(year, mon))
    hi = us_to_naive(month_start_us(year + (mon == 12), mon % 12 + 1))
    items = [
        {
            "meter_id": meter.id,
            "code": meter.code,
            "unit": meter.unit,
            "days_with_data": days,
            **month_consistency(daily_total, reference),
        }
        for meter, daily_total, days, reference in readings.month_days(
            org, lo, hi, dt.date(year, mon, 1)
        )
    ]
    return {"org_id": org.id, "month": month, "threshold": 0.05, "items": items}


# --- imports and jobs ----------------------------------------------------------------------


@router.post("/imports", response_model=s.JobOut, status_code=202, tags=["readings"])
async def upload(
    store: ScopedStore,
    state: State,
    file: Annotated[UploadFile, File(description="CSV or Excel (.xlsx) file of readings")],
    org_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    encoding: Annotated[str, Form(max_length=30)] = "auto",
    mapping: Annotated[
        str, Form(max_length=2000, description='JSON {"meter": "表计编号", …}')
    ] = "",
    sheet: Annotated[str | None, Form(max_length=100)] = None,
    timezone: Annotated[str | None, Form(max_length=60)] = None,
) -> dict[str, Any]:
    """Import a file of readings as a job; follow it at ``GET /api/v1/jobs/{id}``.

    The file is checked whole first (encoding, columns); then its rows are stored in chunks
    and the job's ``done``/``total`` show the progress. The file is kept only until the job
    ends, done or failed.
    """
    org = store.get_org(org_id, Action.WRITE_ACTIVITY, field="org_id")
    try:
        columns = orjson.loads(mapping) if mapping.strip() else {}
    except orjson.JSONDecodeError:
        raise InputError('must be JSON like {"meter": "表计编号"}', field="mapping") from None
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise InputError("must be a JSON object of column names", field="mapping")
    name = (file.filename or "upload").replace("/", "_")[-120:]
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in ("csv", "txt", "xlsx", "xlsm"):
        raise InputError("must be a .csv or .xlsx file", field="file")
    options = ImportOptions(encoding=encoding, mapping=columns, sheet=sheet, timezone=timezone)
    options.zone()
    directory = state.settings.upload_dir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.{suffix}"
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise PayloadTooLargeError(
                        f"the file exceeds {MAX_UPLOAD_BYTES} bytes", field="file"
                    )
                out.write(chunk)
        job = create_import_job(
            store.session,
            path=path,
            filename=name,
            options=options,
            user_id=store.principal.user_id if store.principal.user_id > 0 else None,
            org_id=org.id,
        )
        job_id = job.id
        store.session.commit()
    except BaseException:
        # No job will ever read it (too large, the client went away, the database failed).
        remove_upload(path)
        raise
    if state.jobs is not None:
        syncer = state.syncer
        state.jobs.submit_import(
            job_id,
            store.principal,
            on_chunk=(lambda r: syncer.poke() if r.months else None) if syncer else None,
        )
    return job_body(job)


@router.get("/jobs/{job_id}", response_model=s.JobOut, tags=["readings"])
def get_job(job_id: PathId, readings: ScopedReadings) -> dict[str, Any]:
    """A job's progress (``done`` of ``total`` rows) and, when finished, its result.

    The job's creator and readers of its organisation see it. An uploaded file is deleted
    when its job ends, done or failed.
    """
    return job_body(readings.get_job(job_id))


__all__ = ["SYSTEM", "router"]

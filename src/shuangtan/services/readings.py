"""Meter readings: checks, deduplication, counters to intervals, and rollup increments.

Everything here is pure: the adapters fetch what a batch touches, call :func:`parse_readings`
and :func:`plan_batch`, and write the plan back in one transaction. The work is vectorised
with NumPy over the whole batch, so the cost per reading does not depend on how many meters a
batch spans.

Conventions
-----------
- Timestamps are ``int64`` microseconds since 1970-01-01 UTC (``*_us``).
- A reading covers the interval that ends at its timestamp; a rollup bucket holds the readings
  stamped in ``(start, end]``. Buckets are keyed by their start as a UTC instant; days and
  months are those of Asia/Shanghai (UTC+8, no daylight saving since 1991).
- ``raw`` is what the meter sent (interval consumption or counter, in the meter unit before the
  multiplier); ``value`` is the interval's consumption in the meter unit after the multiplier.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from shuangtan.domain.platform import MeterKind
from shuangtan.domain.readings import Flag, RawReading, Reason, Rejected, Resolution
from shuangtan.errors import InputError
from shuangtan.units import convert, is_unit

__all__ = [
    "CARRIER_TCE",
    "EARLIEST",
    "FUTURE_TOLERANCE_S",
    "GJ_PER_TCE",
    "LOCAL_OFFSET_US",
    "Batch",
    "Existing",
    "MeterInfo",
    "Plan",
    "Replacement",
    "bucket_starts",
    "local_date",
    "month_start_us",
    "parse_readings",
    "plan_batch",
    "to_us",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

US: Final = 1_000_000
HOUR_US: Final = 3600 * US
DAY_US: Final = 86400 * US
#: Asia/Shanghai is UTC+8 all year (no daylight saving since 1991). [µs]
LOCAL_OFFSET_US: Final = 8 * HOUR_US
#: Readings before this are refused (no meter of the platform's era). [UTC]
EARLIEST: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: How far ahead of the server clock a timestamp may be (clock skew of field devices). [s]
FUTURE_TOLERANCE_S: Final = 300
_INF: Final = math.inf
_NEG_INF: Final = -math.inf
#: 1 tce = 29.3076 GJ: 1 kgce is 29 307.6 kJ by definition (GB/T 2589-2020, 3.x 标准煤). [GJ/tce]
GJ_PER_TCE: Final = 29.3076
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """What ingestion needs to know about a meter.

    Attributes
    ----------
    id, org_id : int
        Meter and the organisation it is installed in.
    code : str
        Meter code.
    kind : str
        ``interval`` or ``cumulative``.
    unit : str
        Unit of consumption (after the multiplier).
    multiplier : float
        Reading × multiplier = consumption. [1]
    interval_s : int
        Nominal interval between readings. [s]
    active : bool
        Inactive meters take no readings.
    rollover_at : float or None
        Counter capacity: a counter that passes it starts again from zero. [meter unit / multiplier]
    max_per_hour : float or None
        Largest plausible consumption in an hour; above it a reading is quarantined. [unit/h]
    source_id : int or None
        The emission source whose activity this meter measures.
    """

    id: int
    org_id: int
    code: str
    kind: str
    unit: str
    multiplier: float = 1.0
    interval_s: int = 900
    active: bool = True
    rollover_at: float | None = None
    max_per_hour: float | None = None
    source_id: int | None = None


@dataclass(frozen=True, slots=True)
class Replacement:
    """A cumulative meter swapped for another: the counters on both sides of the swap.

    Attributes
    ----------
    meter_id : int
        The meter (the measuring point keeps its id).
    ts_us : int
        When the swap happened. [µs UTC]
    old_final : float
        The old device's last counter. [meter unit / multiplier]
    new_initial : float
        The new device's first counter. [meter unit / multiplier]
    """

    meter_id: int
    ts_us: int
    old_final: float
    new_initial: float


@dataclass(slots=True)
class Batch:
    """Readings that passed the checks, sorted by (meter, ts), one per (meter, ts).

    Attributes
    ----------
    meter_id, ts_us : numpy.ndarray
        Keys. [µs UTC]
    raw : numpy.ndarray
        Values as sent, converted to the meter unit. [meter unit / multiplier]
    refs : list[str]
        Where each came from.
    superseded : list[tuple[int, int, float, float, str]]
        Repeats inside the batch with another value: ``(meter, ts, first, last, ref)``; the
        last wins.
    repeats : int
        Exact repeats inside the batch (counted as duplicates).
    """

    meter_id: I64
    ts_us: I64
    raw: F64
    refs: list[str]
    superseded: list[tuple[int, int, float, float, str]] = field(default_factory=list)
    repeats: int = 0

    def __len__(self) -> int:
        return len(self.meter_id)

    def bounds(self) -> list[tuple[int, int, int]]:
        """``(meter, first ts, last ts)`` per meter of the batch. [µs UTC]"""
        if not len(self.meter_id):
            return []
        starts = np.flatnonzero(np.r_[True, self.meter_id[1:] != self.meter_id[:-1]])
        ends = np.r_[starts[1:], len(self.meter_id)] - 1
        return [
            (int(self.meter_id[s]), int(self.ts_us[s]), int(self.ts_us[e]))
            for s, e in zip(starts, ends, strict=True)
        ]


@dataclass(slots=True)
class Existing:
    """Stored readings a batch touches, sorted by (meter, ts).

    For each meter: those in the batch's span, and the one just before and just after it.
    """

    meter_id: I64
    ts_us: I64
    raw: F64
    value: F64
    flags: I64

    @classmethod
    def empty(cls) -> Existing:
        """No stored readings."""
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.empty(0, np.float64),
            np.empty(0, np.int64),
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, float, float, int]]) -> Existing:
        """From ``(meter, ts_us, raw, value, flags)`` rows."""
        data = list(rows)
        if not data:
            return cls.empty()
        m, t, r, v, f = zip(*data, strict=True)
        out = cls(
            np.asarray(m, np.int64),
            np.asarray(t, np.int64),
            np.asarray(r, np.float64),
            np.asarray(v, np.float64),
            np.asarray(f, np.int64),
        )
        order = np.lexsort((out.ts_us, out.meter_id))
        return cls(
            out.meter_id[order],
            out.ts_us[order],
            out.raw[order],
            out.value[order],
            out.flags[order],
        )


@dataclass(slots=True)
class Plan:
    """What to write for a batch.

    Attributes
    ----------
    meter_id, ts_us, raw, value, flags : numpy.ndarray
        Rows to upsert: new readings, corrected ones, and stored neighbours whose interval
        value changed because of them.
    fresh : numpy.ndarray of bool
        Rows whose key is not stored yet (plain inserts; the others replace stored rows).
    inserted : int
        New (meter, ts) keys.
    corrected : int
        Stored readings given another value.
    duplicates : int
        Readings identical to a stored one (or repeated in the batch): nothing to do.
    changes : list[tuple[int, int, float, float]]
        ``(meter, ts, old raw, new raw)`` for every correction, in or across batches.
    rejected : list[Rejected]
        Readings refused against the stored ones (a counter running backwards …).
    rollups : dict[Resolution, tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]]
        Per resolution: ``(meter, bucket start [µs UTC], Δvalue [unit], Δcount)`` to add;
        the count is of measured intervals (a counter's baseline reading is not one).
    months : list[tuple[int, int]]
        ``(meter, month start [µs UTC])`` whose monthly total changed.
    """

    meter_id: I64
    ts_us: I64
    raw: F64
    value: F64
    flags: I64
    fresh: npt.NDArray[np.bool_]
    inserted: int = 0
    corrected: int = 0
    duplicates: int = 0
    changes: list[tuple[int, int, float, float]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    rollups: dict[Resolution, tuple[I64, I64, F64, I64]] = field(default_factory=dict)
    months: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.meter_id)


# --- time --------------------------------------------------------------------------------------


def to_us(ts: dt.datetime) -> int:
    """Microseconds since the epoch of an aware datetime. [µs UTC]"""
    delta = ts - _EPOCH
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def from_us(ts_us: int) -> dt.datetime:
    """The aware UTC datetime of an epoch in microseconds."""
    return _EPOCH + dt.timedelta(microseconds=int(ts_us))


def local_date(ts_us: int) -> dt.date:
    """The Asia/Shanghai date whose day holds a reading stamped ``ts_us`` (end-stamped)."""
    return (from_us(ts_us - 1 + LOCAL_OFFSET_US)).date()


def month_start_us(year: int, month: int) -> int:
    """UTC instant of local midnight on the first of a month. [µs UTC]"""
    return to_us(dt.datetime(year, month, 1, tzinfo=dt.UTC)) - LOCAL_OFFSET_US


def bucket_starts(ts_us: I64, resolution: Resolution) -> I64:
    """Start of the bucket holding each end-stamped reading, as a UTC instant. [µs UTC]

    A reading stamped exactly on a boundary closes the bucket before it: 01:00 belongs to
    00:00–01:00.
    """
    shifted = ts_us - 1
    if resolution is Resolution.HOUR:
        # Asia/Shanghai is a whole number of hours from UTC, so local and UTC hours coincide.
        return (shifted // HOUR_US) * HOUR_US
    local = shifted + LOCAL_OFFSET_US
    if resolution is Resolution.DAY:
        return (local // DAY_US) * DAY_US - LOCAL_OFFSET_US
    if resolution is Resolution.MONTH:
        months = local.astype("datetime64[us]").astype("datetime64[M]")
        return months.astype("datetime64[us]").astype(np.int64) - LOCAL_OFFSET_US
    raise ValueError(f"no buckets for {resolution}")


# --- parsing -----------------------------------------------------------------------------------


def _raw_dict(raw: RawReading) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, str):
            # PostgreSQL text and JSONB cannot hold NUL: keep the row, mark the character.
            return value.replace("\x00", "\ufffd")
        if value is None or isinstance(value, bool | int | float):
            if isinstance(value, float) and not math.isfinite(value):
                return str(value)
            return value
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return str(value)

    out = {"meter": plain(raw.meter), "ts": plain(raw.ts), "value": plain(raw.value)}
    if raw.unit is not None:
        out["unit"] = plain(raw.unit)
    return out


def _parse_ts(value: Any, assume_tz: dt.tzinfo | None) -> tuple[dt.datetime | None, Reason, str]:
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = dt.datetime.fromisoformat(text)
        except ValueError:
            return None, Reason.BAD_TIMESTAMP, f"{text[:40]!r} is not an ISO 8601 timestamp"
    else:
        kind = "missing" if value is None else f"a {type(value).__name__}"
        return None, Reason.BAD_TIMESTAMP, f"must be an ISO 8601 timestamp text, got {kind}"
    if ts.tzinfo is None or ts.utcoffset() is None:
        if assume_tz is None:
            return (
                None,
                Reason.NO_TIMEZONE,
                f"{ts.isoformat()} has no time zone: add one (e.g. +08:00) or Z",
            )
        ts = ts.replace(tzinfo=assume_tz)
    return ts, Reason.BAD_TIMESTAMP, ""


def _parse_value(value: Any) -> tuple[float | None, str]:
    if isinstance(value, bool):
        return None, "must be a number, got a boolean"
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return None, f"{text[:40]!r} is not a number"
    elif value is None:
        return None, "is missing"
    else:
        return None, f"must be a number, got a {type(value).__name__}"
    if not math.isfinite(number):
        return None, "must be a finite number"
    return number, ""


def plausible_stamps(values: Iterable[Any], *, now: dt.datetime) -> I64:
    """The distinct timestamps [µs UTC] among ``values`` that a batch could store.

    Texts with a zone, between 2000 and the server clock (plus tolerance); anything else is
    left out (:func:`parse_readings` refuses it). For preparing storage (month partitions)
    before the batch's transaction begins.
    """
    latest = to_us(now) + FUTURE_TOLERANCE_S * US
    earliest = to_us(EARLIEST)
    out: set[int] = set()
    for text in {v for v in values if type(v) is str}:
        ts, _reason, _message = _parse_ts(text, None)
        if ts is not None and earliest <= (us := to_us(ts)) <= latest:
            out.add(us)
    return np.fromiter(out, np.int64, len(out))


def parse_readings(
    raws: Sequence[RawReading],
    resolve: Callable[[str], MeterInfo | Rejected],
    *,
    now: dt.datetime,
    assume_tz: dt.tzinfo | None = None,
) -> tuple[Batch, list[Rejected]]:
    """Check readings as received; keep the good ones, refuse the others with a reason.

    Parameters
    ----------
    raws : sequence of RawReading
        As received.
    resolve : callable
        Meter reference (id or code, as text) → the meter, or a :class:`Rejected` saying why
        not (unknown, inactive, not in the sender's organisation). Called once per distinct
        reference; if it also has ``many(refs) -> dict`` (the repository's resolver), the
        batch's distinct references are looked up with that, at once.
    now : datetime.datetime
        The server clock (aware); later timestamps (beyond a small tolerance) are refused.
    assume_tz : datetime.tzinfo, optional
        Zone for timestamps that have none (a file whose times are local); without it such
        timestamps are refused.

    Returns
    -------
    (Batch, list[Rejected])
        The accepted readings (sorted, one per key) and the refused ones.
    """
    latest = to_us(now) + FUTURE_TOLERANCE_S * US
    earliest = to_us(EARLIEST)
    meters: dict[str, MeterInfo | Rejected] = {}
    ratios: dict[tuple[str, str], float | str] = {}
    ids: list[int] = []
    stamps: list[int] = []
    values: list[float] = []
    refs: list[str] = []
    rejected: list[Rejected] = []
    # A batch repeats its timestamps (every meter at each instant): judge each text once.
    stamp_cache: dict[str, tuple[int, Reason | None, str]] = {}

    def refuse(
        raw: RawReading, reason: Reason, fieldname: str, message: str, mid: int | None
    ) -> None:
        rejected.append(Rejected(raw.ref, reason, fieldname, message, _raw_dict(raw), mid))

    def judge_stamp(stamp: Any) -> tuple[int, Reason | None, str]:
        """``(ts [µs UTC], why not or None, message)`` of a timestamp as received."""
        ts, reason, message = _parse_ts(stamp, assume_tz)
        if ts is None:
            return 0, reason, message
        ts_us = to_us(ts)
        if ts_us > latest:
            return (
                ts_us,
                Reason.FUTURE_TIMESTAMP,
                f"{ts.isoformat()} is later than the server clock "
                f"{now.isoformat(timespec='seconds')}",
            )
        if ts_us < earliest:
            return ts_us, Reason.TOO_OLD, f"{ts.isoformat()} is before 2000-01-01"
        return ts_us, None, ""

    many = getattr(resolve, "many", None)
    if many is not None:
        # One lookup for the batch's distinct meters instead of one per meter.
        distinct = {raw.meter if type(raw.meter) is str else str(raw.meter) for raw in raws}
        found = many([ref.strip() for ref in distinct])
        meters.update((ref, found[ref.strip()]) for ref in distinct)

    # The loop runs once per reading: checks are ordered cheapest first, and the common case
    # (a known meter, a timestamp already seen, a finite float, no unit) takes no calls.
    for raw in raws:
        ref = raw.meter if type(raw.meter) is str else str(raw.meter)
        meter = meters.get(ref)
        if meter is None:
            meter = meters[ref] = resolve(ref.strip())
        if isinstance(meter, Rejected):
            # Only a meter in the sender's reach is named (an inactive one): a row refused
            # for access stays with the sender's organisation, never the meter's.
            mid = meter.meter_id if meter.reason is Reason.INACTIVE_METER else None
            rejected.append(
                Rejected(raw.ref, meter.reason, "meter", meter.message, _raw_dict(raw), mid)
            )
            continue
        stamp = raw.ts
        verdict = stamp_cache.get(stamp) if type(stamp) is str else None
        if verdict is None:
            verdict = judge_stamp(stamp)
            if type(stamp) is str:
                stamp_cache[stamp] = verdict
        ts_us, reason, message = verdict
        if reason is not None:
            refuse(raw, reason, "ts", message, meter.id)
            continue
        number = raw.value
        if type(number) is not float or not _NEG_INF < number < _INF:
            number, message = _parse_value(raw.value)
            if number is None:
                refuse(raw, Reason.BAD_VALUE, "value", message, meter.id)
                continue
        if raw.unit is not None and raw.unit.strip() != meter.unit:
            unit = raw.unit.strip()
            ratio = ratios.get((unit, meter.unit))
            if ratio is None:
                ratio = ratios[(unit, meter.unit)] = _unit_ratio(unit, meter.unit)
            if isinstance(ratio, str):
                refuse(raw, Reason.WRONG_UNIT, "unit", ratio, meter.id)
                continue
            number *= ratio
        if not number * meter.multiplier < _INF:
            # Finite, but not once multiplied: it would make the rollups infinite, then NaN.
            refuse(raw, Reason.BAD_VALUE, "value", f"{number:g} is too large", meter.id)
            continue
        if number < 0:
            what = "counter" if meter.kind == MeterKind.CUMULATIVE else "consumption"
            refuse(
                raw, Reason.NEGATIVE, "value", f"a {what} cannot be negative ({number})", meter.id
            )
            continue
        if meter.max_per_hour is not None and meter.kind != MeterKind.CUMULATIVE:
            limit = meter.max_per_hour * meter.interval_s / 3600
            if number * meter.multiplier > limit:
                refuse(
                    raw,
                    Reason.IMPLAUSIBLE,
                    "value",
                    f"{number * meter.multiplier:g} {meter.unit} in {meter.interval_s // 60} min "
                    f"exceeds the meter's plausible maximum of {limit:g}",
                    meter.id,
                )
                continue
        ids.append(meter.id)
        stamps.append(ts_us)
        values.append(number)
        refs.append(raw.ref)
    batch = dedupe(
        np.asarray(ids, np.int64),
        np.asarray(stamps, np.int64),
        np.asarray(values, np.float64),
        refs,
    )
    return batch, rejected


def _unit_ratio(unit: str, meter_unit: str) -> float | str:
    if not is_unit(unit):
        return f"{unit!r} is not a unit; the meter measures {meter_unit}"
    try:
        return float(convert(1.0, unit, meter_unit))
    except InputError:
        return f"{unit} cannot be converted to the meter's unit {meter_unit}"


def dedupe(meter_id: I64, ts_us: I64, raw: F64, refs: Sequence[str]) -> Batch:
    """Readings in arrival order → a :class:`Batch`: sorted by (meter, ts), one per key.

    Of repeats of a key the last one wins; the earlier ones count as repeats if equal, or
    as superseded (recorded as a change) if not.

    Parameters
    ----------
    meter_id, ts_us, raw : numpy.ndarray
        Meter ids, timestamps [µs UTC] and values [meter unit], in arrival order.
    refs : sequence of str
        Where each came from.
    """
    # Stable sort by (meter, ts) keeps arrival order among repeats: the last one wins.
    order = np.lexsort((np.arange(len(meter_id)), ts_us, meter_id))
    meter_id, ts_us, raw = meter_id[order], ts_us[order], raw[order]
    if len(meter_id) < 2:
        return Batch(meter_id, ts_us, raw, [refs[i] for i in order.tolist()])
    same_next = (meter_id[1:] == meter_id[:-1]) & (ts_us[1:] == ts_us[:-1])
    if not same_next.any():
        return Batch(meter_id, ts_us, raw, [refs[i] for i in order.tolist()])
    keep = np.r_[~same_next, True]
    superseded: list[tuple[int, int, float, float, str]] = []
    repeats = 0
    # For each run of repeats, the kept (last) row and the first: record a change if they differ.
    for i in np.flatnonzero(same_next):
        j = i + 1
        if raw[i] == raw[j]:
            repeats += 1
        else:
            superseded.append(
                (int(meter_id[i]), int(ts_us[i]), float(raw[i]), float(raw[j]), refs[order[j]])
            )
    kept = np.flatnonzero(keep)
    return Batch(
        meter_id[kept],
        ts_us[kept],
        raw[kept],
        [refs[k] for k in order[kept].tolist()],
        superseded,
        repeats,
    )


# --- planning ----------------------------------------------------------------------------------


def plan_batch(
    batch: Batch,
    existing: Existing,
    meters: dict[int, MeterInfo],
    replacements: Sequence[Replacement] = (),
    *,
    resolutions: Sequence[Resolution] = (Resolution.HOUR, Resolution.DAY, Resolution.MONTH),
) -> Plan:
    """Merge a batch with the stored readings it touches; say what to write.

    Parameters
    ----------
    batch : Batch
        Checked readings (from :func:`parse_readings`).
    existing : Existing
        For each meter of the batch, the stored readings from the last one before the batch's
        first timestamp to the first one after its last (inclusive).
    meters : dict[int, MeterInfo]
        The batch's meters by id.
    replacements : sequence of Replacement
        Meter swaps of the batch's cumulative meters.
    resolutions : sequence of Resolution
        Rollups to maintain.

    Returns
    -------
    Plan
        Rows to upsert, counts, corrections, rejections and rollup increments. Applying the
        plan to the stored rows gives what applying every reading ever received in time order
        would give: ingestion is idempotent and order-independent.
    """
    n_new = len(batch)
    # Stack stored rows (source 0) and new rows (source 1); sort by (meter, ts, source).
    meter_id = np.concatenate([existing.meter_id, batch.meter_id])
    ts_us = np.concatenate([existing.ts_us, batch.ts_us])
    raw = np.concatenate([existing.raw, batch.raw])
    source = np.concatenate([np.zeros(len(existing.meter_id), np.int8), np.ones(n_new, np.int8)])
    new_index = np.concatenate([np.full(len(existing.meter_id), -1), np.arange(n_new)])
    order = np.lexsort((source, ts_us, meter_id))
    meter_id, ts_us, raw, source, new_index = (
        a[order] for a in (meter_id, ts_us, raw, source, new_index)
    )
    old_value = np.concatenate([existing.value, np.full(n_new, np.nan)])[order]
    old_flags = np.concatenate([existing.flags, np.zeros(n_new, np.int64)])[order]
    old_raw = np.concatenate([existing.raw, np.full(n_new, np.nan)])[order]

    # A new row right after a stored row with the same key replaces it.
    same_as_prev = np.r_[False, (meter_id[1:] == meter_id[:-1]) & (ts_us[1:] == ts_us[:-1])]
    replaced_stored = np.r_[same_as_prev[1:], False]  # stored rows a new row replaces
    is_new = source == 1
    stored_match = same_as_prev & is_new
    # Carry the stored row's state onto the new row that replaces it.
    old_value[stored_match] = old_value[np.flatnonzero(stored_match) - 1]
    old_flags[stored_match] = old_flags[np.flatnonzero(stored_match) - 1]
    old_raw[stored_match] = old_raw[np.flatnonzero(stored_match) - 1]
    keep = ~replaced_stored
    meter_id, ts_us, raw, is_new, new_index = (
        a[keep] for a in (meter_id, ts_us, raw, is_new, new_index)
    )
    old_value, old_flags, old_raw = old_value[keep], old_flags[keep], old_raw[keep]
    was_stored = ~np.isnan(old_raw)
    duplicate = is_new & was_stored & (raw == old_raw)
    corrected = is_new & was_stored & ~duplicate

    rejected: list[Rejected] = []
    value, flags, alive = _interval_values(meter_id, ts_us, raw, is_new, meters, replacements)
    # Refuse new counters that run backwards (or jump implausibly); recompute until stable.
    for _ in range(len(meter_id) + 1):
        bad = _bad_rows(meter_id, ts_us, raw, value, flags, is_new, alive, meters)
        if not bad:
            break
        for row, reason, message in bad:
            raw_reading = batch.refs[new_index[row]]
            if was_stored[row]:
                # A refused correction: the stored reading stands.
                raw[row], is_new[row] = old_raw[row], False
                corrected[row] = duplicate[row] = False
            else:
                alive[row] = False
            rejected.append(
                Rejected(
                    raw_reading,
                    reason,
                    "value",
                    message,
                    {
                        "meter": meters[int(meter_id[row])].code,
                        "ts": from_us(int(ts_us[row])).isoformat(),
                        "value": float(batch.raw[new_index[row]]),
                    },
                    int(meter_id[row]),
                )
            )
        sel = alive
        v2, f2, _ = _interval_values(
            meter_id[sel], ts_us[sel], raw[sel], is_new[sel], meters, replacements
        )
        value[sel], flags[sel] = v2, f2
    # A reading once corrected keeps the mark.
    flags |= np.where(was_stored, old_flags & int(Flag.CORRECTED), 0)
    flags |= np.where(corrected, int(Flag.CORRECTED), 0)

    duplicate &= alive
    corrected &= alive
    prior_value = np.where(was_stored, old_value, 0.0)
    # The stored reading just before a meter's batch is context only (its own interval
    # depends on a reading not loaded): never re-planned.
    first_of_meter = np.r_[True, meter_id[1:] != meter_id[:-1]]
    context = first_of_meter & ~is_new & (ts_us < _batch_start(meter_id, batch))
    # Written: new keys, and stored rows whose raw value, interval or flags now differ; a
    # duplicate too when the batch changed its interval (a gap before it filled in the batch).
    changed = (
        alive
        & ~context
        & (
            (is_new & ~was_stored)
            | (was_stored & ((raw != old_raw) | (value != old_value) | (flags != old_flags)))
        )
    )
    inserted = alive & is_new & ~was_stored
    rows = np.flatnonzero(changed)
    plan = Plan(
        meter_id[rows],
        ts_us[rows],
        raw[rows],
        value[rows],
        flags[rows],
        inserted[rows],
        inserted=int(inserted.sum()),
        corrected=int(corrected.sum()),
        duplicates=int(duplicate.sum()) + batch.repeats,
        rejected=rejected,
    )
    for i in np.flatnonzero(corrected):
        plan.changes.append((int(meter_id[i]), int(ts_us[i]), float(old_raw[i]), float(raw[i])))
    alive_keys = (
        {
            (int(m), int(t))
            for m, t in zip(meter_id[alive & is_new], ts_us[alive & is_new], strict=True)
        }
        if batch.superseded
        else set()
    )
    for m, t, first, last, _ref in batch.superseded:
        if (m, t) in alive_keys:
            plan.changes.append((m, t, first, last))

    d_value = value[rows] - prior_value[rows]
    # Rollups count measured intervals: a counter's first reading only sets the baseline (its
    # interval is unknown), so it counts once a reading before it arrives and gives it one.
    first = int(Flag.FIRST)
    measured = ((flags & first) == 0).astype(np.int64)
    was_measured = (was_stored & ((old_flags & first) == 0)).astype(np.int64)
    d_count = measured[rows] - was_measured[rows]
    for resolution in resolutions:
        plan.rollups[resolution] = _aggregate(
            meter_id[rows], bucket_starts(ts_us[rows], resolution), d_value, d_count
        )
    if Resolution.MONTH in plan.rollups:
        months_m, months_b, _, _ = plan.rollups[Resolution.MONTH]
        plan.months = [(int(m), int(b)) for m, b in zip(months_m, months_b, strict=True)]
    return plan


def _batch_start(meter_id: I64, batch: Batch) -> I64:
    """Each row's meter's first timestamp in the batch. [µs UTC]"""
    bounds = batch.bounds()
    if not bounds:
        return np.full(len(meter_id), np.iinfo(np.int64).max, np.int64)
    ids = np.fromiter((b[0] for b in bounds), np.int64, len(bounds))  # sorted: the batch is
    lo = np.fromiter((b[1] for b in bounds), np.int64, len(bounds))
    pos = np.minimum(np.searchsorted(ids, meter_id), len(ids) - 1)
    return np.where(ids[pos] == meter_id, lo[pos], np.iinfo(np.int64).max)


def _interval_values(
    meter_id: I64,
    ts_us: I64,
    raw: F64,
    is_new: npt.NDArray[np.bool_],
    meters: dict[int, MeterInfo],
    replacements: Sequence[Replacement],
) -> tuple[F64, I64, npt.NDArray[np.bool_]]:
    """Consumption of each row's interval, flags, and an all-true 'alive' mask."""
    n = len(meter_id)
    ids, inverse = np.unique(meter_id, return_inverse=True)
    infos = [meters[int(mid)] for mid in ids]
    # Per-meter properties spread over the rows through the inverse index (no row loop).
    multiplier = np.array([i.multiplier for i in infos], np.float64)[inverse]
    cumulative = np.array([i.kind == MeterKind.CUMULATIVE for i in infos], bool)[inverse]
    interval = np.array([i.interval_s * US for i in infos], np.int64)[inverse]
    rollover = np.array(
        [np.nan if i.rollover_at is None else i.rollover_at for i in infos], np.float64
    )[inverse]
    has_prev = np.r_[False, meter_id[1:] == meter_id[:-1]]
    prev_raw = np.r_[np.nan, raw[:-1]]
    prev_ts = np.r_[0, ts_us[:-1]]
    delta = raw - prev_raw
    flags = np.zeros(n, np.int64)
    # Rollover: the counter fell by more than half its capacity.
    wrapped = cumulative & has_prev & (delta < 0) & ~np.isnan(rollover) & (-delta > rollover / 2)
    delta = np.where(wrapped, delta + np.nan_to_num(rollover), delta)
    flags[wrapped] |= int(Flag.ROLLOVER)
    for rep in replacements:
        hit = (
            cumulative
            & has_prev
            & (meter_id == rep.meter_id)
            & (prev_ts < rep.ts_us)
            & (ts_us >= rep.ts_us)
        )
        if hit.any():
            delta = np.where(hit, (rep.old_final - prev_raw) + (raw - rep.new_initial), delta)
            flags[hit] |= int(Flag.REPLACEMENT)
            flags[hit] &= ~int(Flag.ROLLOVER)
    value = np.where(cumulative, np.where(has_prev, delta, 0.0), raw) * multiplier
    flags[cumulative & ~has_prev] |= int(Flag.FIRST)
    gap = has_prev & ((ts_us - prev_ts) * 2 > interval * 3)
    flags[gap] |= int(Flag.GAP)
    return value, flags, np.ones(n, bool)


def _bad_rows(
    meter_id: I64,
    ts_us: I64,
    raw: F64,
    value: F64,
    flags: I64,
    is_new: npt.NDArray[np.bool_],
    alive: npt.NDArray[np.bool_],
    meters: dict[int, MeterInfo],
) -> list[tuple[int, Reason, str]]:
    """Rows (indices into the full arrays) to refuse.

    A new counter below the one before it or above the one after it, or an implausible jump.
    """
    rows = np.flatnonzero(alive)
    bad: dict[int, tuple[Reason, str]] = {}
    negative = rows[value[rows] < 0]
    for k in negative:
        pos = int(np.searchsorted(rows, k))
        prev = int(rows[pos - 1])
        info = meters[int(meter_id[k])]
        culprit = k if is_new[k] else prev if is_new[prev] else None
        if culprit is None:
            continue
        other = prev if culprit == k else int(k)
        bad[int(culprit)] = (
            Reason.COUNTER_BACKWARDS,
            f"counter {raw[culprit]:g} at {from_us(int(ts_us[culprit])).isoformat()} is "
            f"{'below' if culprit == k else 'above'} {raw[other]:g} at "
            f"{from_us(int(ts_us[other])).isoformat()} of meter {info.code} "
            "(no rollover or replacement explains it)",
        )
    if not len(rows):
        return [(k, reason, message) for k, (reason, message) in sorted(bad.items())]
    # An implausible jump: a new counter's interval above the meter's maximum rate.
    ids, inverse = np.unique(meter_id[rows], return_inverse=True)
    infos = [meters[int(mid)] for mid in ids]
    per_hour = np.array(
        [
            i.max_per_hour
            if i.kind == MeterKind.CUMULATIVE and i.max_per_hour is not None
            else np.nan
            for i in infos
        ],
        np.float64,
    )[inverse]
    least_h = np.array([i.interval_s / 3600 for i in infos], np.float64)[inverse]
    ts_rows = ts_us[rows]
    # The row before within the alive rows; a meter's first row carries FIRST and is skipped.
    hours = np.maximum(np.diff(ts_rows, prepend=ts_rows[0]) / HOUR_US, least_h)
    jump = (
        ~np.isnan(per_hour)
        & is_new[rows]
        & ((flags[rows] & int(Flag.FIRST)) == 0)
        & (value[rows] > per_hour * hours)
    )
    for p in np.flatnonzero(jump):
        k = int(rows[p])
        if k in bad:
            continue
        info = meters[int(meter_id[k])]
        bad[k] = (
            Reason.IMPLAUSIBLE,
            f"{value[k]:g} {info.unit} over {hours[p]:g} h exceeds the meter's plausible "
            f"maximum of {info.max_per_hour:g} {info.unit}/h",
        )
    return [(k, reason, message) for k, (reason, message) in sorted(bad.items())]


def _aggregate(meter_id: I64, bucket: I64, d_value: F64, d_count: I64) -> tuple[I64, I64, F64, I64]:
    if not len(meter_id):
        return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))
    # Stable sort by (meter, bucket), then sum each run (rows keep their order within it).
    order = np.lexsort((bucket, meter_id))
    m, b = meter_id[order], bucket[order]
    starts = np.flatnonzero(np.r_[True, (m[1:] != m[:-1]) | (b[1:] != b[:-1])])
    sums = np.add.reduceat(d_value[order], starts)
    counts = np.add.reduceat(d_count[order].astype(np.int64), starts)
    return m[starts], b[starts], sums, counts


#: GB/T 2589 carrier of a meter without a source carrier, by what it measures.
CARRIER_TCE: Final[dict[str, str]] = {
    "electricity": "electricity",
    "natural_gas": "natural_gas",
    "heat": "heat",
    "coal": "raw_coal",
    "water": "fresh_water",
}

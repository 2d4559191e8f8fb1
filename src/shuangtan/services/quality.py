"""GB/T 37947 data quality of meter readings: completeness, gaps, spikes, consistency.

The national online-monitoring rules (GB/T 37947 series, 用能单位能耗在线监测系统) ask for
15-minute real-time data, completeness (received / expected) of at least 90 %, and a
deviation between the sum of the daily data and the monthly data of at most 5 %.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from shuangtan.domain.readings import Flag
from shuangtan.services.readings import EARLIEST, FUTURE_TOLERANCE_S, local_date, to_us

__all__ = [
    "COMPLETENESS_MIN",
    "CONSISTENCY_MAX",
    "SPIKE_FACTOR",
    "STALE_AFTER_S",
    "day_quality",
    "month_consistency",
    "quarantine_day",
]

#: Least share of expected readings for a complete day (GB/T 37947). [1]
COMPLETENESS_MIN: Final = 0.90
#: Largest relative deviation of Σ daily from monthly data (GB/T 37947). [1]
CONSISTENCY_MAX: Final = 0.05
#: A reading above this multiple of the day's median (and of its mean) is a spike. [1]
SPIKE_FACTOR: Final = 5.0
#: A meter silent for longer than this is stale. [s]
STALE_AFTER_S: Final = 3600
_US: Final = 1_000_000
_DAY_US: Final = 86_400 * _US


def day_quality(
    ts_us: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    flags: npt.NDArray[np.int64],
    *,
    interval_s: int,
    day_start_us: int,
    last_us: int | None,
    now_us: int,
) -> dict[str, Any]:
    """Quality of one meter's readings over one local day.

    Parameters
    ----------
    ts_us, values, flags : numpy.ndarray
        The day's readings, sorted: end timestamps [µs UTC], interval consumption [unit]
        and :class:`~shuangtan.domain.readings.Flag` bits.
    interval_s : int
        The meter's interval. [s]
    day_start_us : int
        Local midnight starting the day. [µs UTC]
    last_us : int or None
        The meter's latest reading at all. [µs UTC]
    now_us : int
        The time of asking. [µs UTC]

    Returns
    -------
    dict
        ``expected``, ``received``, ``completeness`` [1], ``complete`` (≥ 90 %),
        ``missing`` intervals, ``longest_gap_min`` [min], ``total`` [unit], ``spikes``,
        ``counter_events`` (rollovers and replacements), ``corrected``, ``stale`` and a
        ``status`` of ``ok``, ``incomplete``, ``stale``, ``no_data`` or ``pending`` (a day
        not over yet is judged on the part that has passed).
    """
    day_end_us = day_start_us + _DAY_US
    elapsed_end = min(day_end_us, now_us)
    expected_full = _DAY_US // (interval_s * _US)
    expected = (
        max(0, (elapsed_end - day_start_us) // (interval_s * _US))
        if elapsed_end > day_start_us
        else 0
    )
    received = len(ts_us)
    completeness = received / expected if expected else (1.0 if received else 0.0)
    edges = np.concatenate([[day_start_us], ts_us, [elapsed_end]]) if expected else ts_us
    gaps = np.diff(edges) if len(edges) > 1 else np.zeros(0)
    longest_gap_min = float(gaps.max() / (60 * _US)) if len(gaps) else 0.0
    positive = values[values > 0]
    spikes = 0
    if len(positive) >= 8:
        median = float(np.median(positive))
        mean = float(positive.mean())
        spikes = int(((values > SPIKE_FACTOR * median) & (values > 2 * mean)).sum())
    counter_events = int(((flags & (int(Flag.ROLLOVER) | int(Flag.REPLACEMENT))) != 0).sum())
    stale = last_us is None or now_us - last_us > STALE_AFTER_S * _US
    if received == 0:
        status = "no_data"
    elif now_us < day_end_us:
        status = "stale" if stale else "pending"
    else:
        status = "ok" if completeness >= COMPLETENESS_MIN else "incomplete"
    return {
        "expected": int(expected_full if now_us >= day_end_us else expected),
        "received": received,
        "completeness": min(completeness, 1.0),
        "complete": completeness >= COMPLETENESS_MIN,
        "missing": int(max(0, (expected_full if now_us >= day_end_us else expected) - received)),
        "longest_gap_min": longest_gap_min,
        "total": float(values.sum()),
        "spikes": spikes,
        "counter_events": counter_events,
        "corrected": int(((flags & int(Flag.CORRECTED)) != 0).sum()),
        "stale": bool(stale),
        "status": status,
    }


def month_consistency(daily_total: float, reference: float | None) -> dict[str, Any]:
    """Deviation of the month's Σ daily data from the monthly figure (GB/T 37947: ≤ 5 %).

    Parameters
    ----------
    daily_total : float
        Sum of the daily rollups. [unit]
    reference : float or None
        The monthly figure (a bill, a monthly entry). [unit]

    Returns
    -------
    dict
        ``daily_total``, ``monthly`` and ``deviation`` [1] (``None`` without a monthly
        figure), ``consistent`` (``None`` when it cannot be judged).
    """
    if reference is None:
        return {"daily_total": daily_total, "monthly": None, "deviation": None, "consistent": None}
    if reference == 0:
        deviation = 0.0 if daily_total == 0 else float("inf")
    else:
        deviation = abs(daily_total - reference) / abs(reference)
    return {
        "daily_total": daily_total,
        "monthly": reference,
        "deviation": deviation if np.isfinite(deviation) else None,
        "consistent": bool(deviation <= CONSISTENCY_MAX),
    }


def quarantine_day(
    ts: object, field: str, received_us: int, zone: dt.tzinfo | None = None
) -> dt.date:
    """The local day (Asia/Shanghai) on which a quarantined reading counts.

    A refused reading belongs to the day of its own timestamp, like a stored one: a reading
    of 1 March refused on 3 March for its value counts on 1 March. Only when the timestamp is
    the problem does it count on the day it was received: the row was refused for its
    ``ts`` (unreadable, without a zone, in the future, before 2000), or its timestamp cannot
    be read, lacks a zone, or is later than its receipt (a row refused for its meter before
    the timestamp was checked).

    Parameters
    ----------
    ts : object
        The timestamp as received (``raw["ts"]`` of the quarantine row): ISO 8601 text.
    field : str
        The field the reading was refused for (``ts``, ``value``, ``meter`` …).
    received_us : int
        When the reading was received. [µs UTC]
    zone : datetime.tzinfo, optional
        Zone of a timestamp written without one (the ``timezone`` of the file import that
        took it); without it such a timestamp cannot be placed.

    Returns
    -------
    datetime.date
        The local day; an end-stamped reading at midnight closes the day before.
    """
    received_day = local_date(received_us)
    if field == "ts" or not isinstance(ts, str):
        return received_day
    try:
        parsed = dt.datetime.fromisoformat(ts.strip())
    except ValueError:
        return received_day
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if zone is None:
            return received_day
        parsed = parsed.replace(tzinfo=zone)
    ts_us = to_us(parsed)
    if ts_us < to_us(EARLIEST) or ts_us > received_us + FUTURE_TOLERANCE_S * _US:
        return received_day
    return local_date(ts_us)

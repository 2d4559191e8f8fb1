"""15-minute meter readings for the demo park, and live readings for a simulator.

Readings are **end-stamped** on the 15-minute grid in UTC (the value stamped 00:15 local is
the day's first interval, 00:00–00:15); days and months are those of Asia/Shanghai (UTC+8,
fixed), so the reading stamped 00:00 local belongs to the previous day and a day has 96
intervals. As :mod:`shuangtan.services.readings` reads them, a reading is on the secondary
side of the meter's instrument transformers: *interval* meters report the interval's
consumption divided by the multiplier (consumption = ``value × multiplier``; the same as the
consumption for the many meters of multiplier 1), *cumulative* meters a counter (consumption
= ``Δcounter × multiplier``).

How the series are made
-----------------------
A meter's consumption in a local month is a total times a normalised *shape* (one weight per
interval, ≥ 0). For the demo park the totals come from the park's monthly activity: a
source's amount, converted to the meter's unit, is split between its meters with seeded
shares (the cumulative meter keeps its share; the source's interval meters take the rest,
so the month adds up exactly); water meters, which measure no source, get a seeded yearly
volume by sector with a summer peak. The counter of a cumulative meter is the running sum of
its consumption divided by the multiplier, from a seeded initial counter (the meter has been
in service some years), continuous across months and from one park year to the next.

Counters are rounded as a meter display rounds them: 2 decimals for direct-connected meters
(multiplier 1); CT/PT-connected meters show ``ceil(log10(multiplier)) + 1`` decimals, as the
high-resolution energy registers of DL/T 645 meters do, so that one step of the counter is at
most 0.1 of the meter's unit on the primary side (with 2 decimals, one step of a meter behind
110 kV transformers of multiplier 66,000 would be 660 kWh and a month could not be read to a
ppm). The rounding never accumulates: counter ``i`` is the rounded running register, so
consumption read from counters equals the park's activity to within one counter step a month
(far below 1 ppm of any month here). Interval values are not rounded, so they add up exactly.

Shapes, as seen in Chinese park data (interval midpoints, local time):

* **Continuous processes** (power/CHP, cement, chemicals, petrochemicals, aluminium, steel,
  glass, wafer and panel fabs, paper): flat 24/7, a +2 % afternoon swell, 2.5 % correlated
  noise (6 % on coal belt scales, 5 % on weigh scales), a maintenance dip every other month
  on average (4–16 h at 35–75 %). Cement and EAF-steel electricity lean into the valley tariff
  (00:00–08:00 +8 %, peaks 08–11 and 17–22 −6 %). A month far below the meter's usual daily
  rate (cement 错峰生产 in January and February) becomes a stoppage of whole days at
  auxiliary load, placed around the Spring Festival.
* **Data centres, cold stores**: IT load flat (0.8 % noise), cooling up a little on hot days
  and in the afternoon. **Wastewater**: inflow peaks mid-morning and evening, a trough at
  04:00.
* **Day-shift manufacturing** (machinery, auto parts, PCB and module plants, batteries, PV,
  pharma, food, dyeing): ramps 07:30–08:30 up and 17:30–18:30 down, lunch dip, nights at a
  base load (35 % electricity, 45 % gas furnaces kept hot, 40 % steam, 25 % water);
  Saturdays half a shift, Sundays and public holidays base load only; the working days after
  the Spring Festival restart slowly (55 % → 95 % over ten days).
* **Offices** (weekdays 08–19, HVAC pre-start from 07:00, overtime tail to 21:30, base 22 %),
  **retail** (open 10–22 every day, busier at weekends and on holidays), **hotels** (morning
  and evening peaks, nights at 55 %), **hospitals** (24/7 at 60 %, the outpatient day peak on
  weekdays, less at weekends). Their electricity follows the weather: a park-wide daily
  temperature for Suzhou (monthly normals + AR(1) anomalies, seeded) raises cooling days
  (> 22 °C) and heating days (< 12 °C).
* **Heat**: office heating (hot water, gas boilers) by heating degree days, with a morning
  preheat on working days and night set-back; hotel and hospital boilers (hot water,
  sterilisation) peak mornings and evenings; kitchens and restaurants at meal times; the CHP
  plant's heat export is flat with a weekday day-time swell and more on cold days.
* **Liquid fuels**: vehicle and forklift diesel/gasoline is metered at the dispenser, so the
  series is refuelling events (0.15 t on average) in working hours; emergency generators burn
  only in weekly 30–60 min test runs; boiler-ignition oil in a few start-up episodes a month;
  engine test-bench diesel in runs of 1–3 h on working days.

Public holidays (国务院办公厅 notices) 2024, 2025 (元旦 1 Jan; 春节 28 Jan–4 Feb; 清明 4–6 Apr;
劳动节 1–5 May; 端午 31 May–2 Jun; 中秋/国庆 1–8 Oct; working days 26 Jan, 8 Feb, 27 Apr,
28 Sep, 11 Oct) and 2026 behave like Sundays for day-shift sectors and offices (and like busy
weekend days for retail); the make-up working days (调休) behave like weekdays.

Pure: no I/O, clock or global state; the random draws come from NumPy generators seeded by
(seed, meter code, year, month), so a meter-month is the same whichever months are asked for.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from shuangtan.domain.platform import Carrier, Category, MeterKind
from shuangtan.services.demo_park import DemoMeter, DemoPark
from shuangtan.units import convert

__all__ = [
    "INTERVAL_US",
    "SHAPES",
    "LiveMeter",
    "MeterSeries",
    "counter_decimals",
    "demo_shape",
    "demo_year_readings",
    "initial_counters",
    "is_holiday",
    "live_meters",
    "live_readings",
    "shape_for",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Length of an interval. [µs]
INTERVAL_US: Final = 15 * 60 * 1_000_000
_DAY_US: Final = 86_400_000_000
_PER_DAY: Final = 96
#: Asia/Shanghai: UTC+8, no daylight saving.
_OFFSET_US: Final = 8 * 3600 * 1_000_000
_EPOCH: Final = dt.date(1970, 1, 1)
#: Average month. [d]
_MEAN_MONTH_DAYS: Final = 365.2425 / 12


# --- public model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class MeterSeries:
    """Readings of one meter, as the meter reports them.

    Attributes
    ----------
    meter_code : str
        The meter.
    ts_us : numpy.ndarray
        ``int64`` end-of-interval timestamps, strictly increasing, on the 15-minute grid.
        [µs since 1970-01-01 UTC]
    values : numpy.ndarray
        ``float64``: the interval's consumption (interval meters) or the counter (cumulative
        meters), before the multiplier. [meter unit / multiplier]
    """

    meter_code: str
    ts_us: IntArray
    values: FloatArray


@dataclass(frozen=True, slots=True)
class LiveMeter:
    """A meter of a live simulator.

    Attributes
    ----------
    code : str
        Meter code; also seeds its randomness.
    sector : str
        A ``SECTORS`` code of its enterprise (chooses the shape unless ``shape`` is given).
    carrier : str
        A :class:`~shuangtan.domain.platform.Carrier` value.
    unit : str
        Unit of the consumption (``kWh``, ``Nm3``, ``t``, ``GJ``, ``m3``).
    kind : str
        A :class:`~shuangtan.domain.platform.MeterKind` value.
    multiplier : float
        Counter × multiplier = consumption (cumulative meters). [1]
    monthly : float
        Typical monthly consumption; the month's total is this times the shape's season and
        the month's length over an average month. [unit]
    shape : str or None
        One of :data:`SHAPES`; ``None`` chooses it from ``sector`` and ``carrier`` with
        :func:`shape_for`.
    """

    code: str
    sector: str
    carrier: str
    unit: str
    kind: str
    multiplier: float
    monthly: float
    shape: str | None = None


def counter_decimals(multiplier: float) -> int:
    """Decimals a cumulative meter shows: 2, more behind instrument transformers.

    Parameters
    ----------
    multiplier : float
        The meter's multiplier. [1]

    Returns
    -------
    int
        ``max(2, ceil(log10(multiplier)) + 1)``: a counter step is at most 0.1 of the meter's
        unit on the primary side (0.01 for direct-connected meters).

    Examples
    --------
    >>> [counter_decimals(m) for m in (1, 40, 200, 4000, 66000)]
    [2, 3, 4, 5, 6]
    """
    if multiplier <= 1:
        return 2
    return max(2, math.ceil(round(math.log10(multiplier), 9)) + 1)


# --- calendar --------------------------------------------------------------------------------


def _dates(first: str, last: str | None = None) -> list[dt.date]:
    start = dt.date.fromisoformat(first)
    end = dt.date.fromisoformat(last) if last else start
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


# fmt: off
_HOLIDAY_RANGES: Final = (
    ("2024-01-01", None), ("2024-02-10", "2024-02-17"), ("2024-04-04", "2024-04-06"),
    ("2024-05-01", "2024-05-05"), ("2024-06-08", "2024-06-10"), ("2024-09-15", "2024-09-17"),
    ("2024-10-01", "2024-10-07"),
    ("2025-01-01", None), ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08"),
    ("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"),
)
_MAKEUP_DAYS: Final = (
    "2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14",
    "2024-09-29", "2024-10-12",
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
)
# fmt: on

#: Public holidays (rest days of the official schedule, weekends inside them included).
_HOLIDAYS: Final[frozenset[dt.date]] = frozenset(
    d for first, last in _HOLIDAY_RANGES for d in _dates(first, last)
)
#: Official make-up working days (调休上班).
_MAKEUP: Final[frozenset[dt.date]] = frozenset(dt.date.fromisoformat(d) for d in _MAKEUP_DAYS)
#: Spring Festival holiday: first and last day.
_SPRING_FESTIVAL: Final[dict[int, tuple[dt.date, dt.date]]] = {
    2024: (dt.date(2024, 2, 10), dt.date(2024, 2, 17)),
    2025: (dt.date(2025, 1, 28), dt.date(2025, 2, 4)),
    2026: (dt.date(2026, 2, 15), dt.date(2026, 2, 23)),
}

# Day kinds.
_WORK, _SATURDAY, _SUNDAY, _HOLIDAY = 0, 1, 2, 3


def is_holiday(day: dt.date) -> bool:
    """Whether a date is a rest day of the official public-holiday schedule (2024–2026).

    Parameters
    ----------
    day : datetime.date
        A local date.

    Returns
    -------
    bool
        ``True`` for 元旦, 春节, 清明, 劳动节, 端午, 中秋 and 国庆 rest days (weekends inside
        them included); make-up working days are ``False``.
    """
    return day in _HOLIDAYS


def _day_kind(day: dt.date) -> int:
    if day in _HOLIDAYS:
        return _HOLIDAY
    if day in _MAKEUP:
        return _WORK
    return {5: _SATURDAY, 6: _SUNDAY}.get(day.weekday(), _WORK)


def _restart(day: dt.date) -> float:
    """Activity of day-shift plants around the Spring Festival (slow restart). [1]"""
    festival = _SPRING_FESTIVAL.get(day.year) or _SPRING_FESTIVAL.get(day.year + 1)
    if festival is None:
        return 1.0
    first, last = festival
    after = (day - last).days
    if 1 <= after <= 10:
        return 0.55 + 0.4 * (after - 1) / 9
    if 1 <= (first - day).days <= 3:
        return 0.8
    return 1.0


# Suzhou monthly mean temperature. [°C]
_NORMALS: Final = (4.0, 6.2, 10.2, 15.9, 21.2, 24.9, 28.9, 28.4, 24.4, 19.1, 12.9, 6.5)


def _temperatures(seed: int, year: int) -> FloatArray:
    """Daily mean temperature of the park for a year: normals + AR(1) weather. [°C]"""
    days = 366 if calendar.isleap(year) else 365
    mids = np.array(
        [(dt.date(year, m, 15) - dt.date(year, 1, 1)).days for m in range(1, 13)], dtype=float
    )
    anchors = np.concatenate([mids[-1:] - days, mids, mids[:1] + days])
    normals = np.array(_NORMALS[-1:] + _NORMALS + _NORMALS[:1])
    normal = np.interp(np.arange(days, dtype=float), anchors, normals)
    rng = _rng(seed, "weather", year)
    shocks = rng.standard_normal(days) * 2.8 * math.sqrt(1 - 0.75**2)
    anomaly = np.empty(days)
    value = rng.standard_normal() * 2.8
    for i in range(days):
        value = 0.75 * value + shocks[i]
        anomaly[i] = value
    result: FloatArray = normal + anomaly
    return result


@dataclass(frozen=True, slots=True)
class _Month:
    """The calendar of one local month, shared by all meters."""

    year: int
    month: int
    days: int
    start_us: int  # local 00:00 of day 1 [µs UTC]
    ts_us: IntArray  # end stamps (n,)
    hour: FloatArray  # local hour of each interval's midpoint (n,)
    day: npt.NDArray[np.intp]  # day index of each interval (n,)
    kind: npt.NDArray[np.intp]  # day kind per day (days,)
    weekday: npt.NDArray[np.intp]  # per day (days,)
    restart: FloatArray  # Spring Festival restart factor per day (days,)
    temp: FloatArray  # daily mean temperature per day (days,) [°C]

    @property
    def n(self) -> int:
        return self.days * _PER_DAY


def _local_midnight_us(day: dt.date) -> int:
    return (day - _EPOCH).days * _DAY_US - _OFFSET_US


def _month(year: int, month: int, temps: FloatArray) -> _Month:
    days = calendar.monthrange(year, month)[1]
    first = dt.date(year, month, 1)
    start = _local_midnight_us(first)
    n = days * _PER_DAY
    ts = start + INTERVAL_US * np.arange(1, n + 1, dtype=np.int64)
    ts.flags.writeable = False
    k = np.arange(n)
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    doy = (first - dt.date(year, 1, 1)).days
    return _Month(
        year=year,
        month=month,
        days=days,
        start_us=start,
        ts_us=ts,
        hour=((k % _PER_DAY) + 0.5).astype(np.float64) / 4.0,
        day=k // _PER_DAY,
        kind=np.array([_day_kind(d) for d in dates], dtype=np.intp),
        weekday=np.array([d.weekday() for d in dates], dtype=np.intp),
        restart=np.array([_restart(d) for d in dates]),
        temp=temps[doy : doy + days],
    )


# --- randomness and building blocks ----------------------------------------------------------


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    words = [seed % 2**63] + [
        zlib.crc32(k.encode()) if isinstance(k, str) else k % 2**63 for k in keys
    ]
    return np.random.default_rng(words)


def _window(hour: FloatArray, start: float, end: float, width: float) -> FloatArray:
    """Smooth 0→1→0 window: on from ``start`` to ``end`` hours, edges ``width`` wide."""
    result: FloatArray = (
        0.25 * (1 + np.tanh((hour - start) / width)) * (1 + np.tanh((end - hour) / width))
    )
    return result


def _bump(hour: FloatArray, centre: float, width: float) -> FloatArray:
    result: FloatArray = np.exp(-0.5 * ((hour - centre) / width) ** 2)
    return result


_KERNEL: Final = 0.85 ** np.arange(32)
_KERNEL_UNIT: Final = _KERNEL / np.sqrt((_KERNEL**2).sum())


def _noise(rng: np.random.Generator, n: int, sd: float) -> FloatArray:
    """Correlated multiplicative noise of mean 1 (log-normal, AR(1)-like, ~2 h memory)."""
    white = rng.standard_normal(n + _KERNEL_UNIT.size - 1)
    z = np.convolve(white, _KERNEL_UNIT, mode="valid")
    result: FloatArray = np.exp(sd * z - 0.5 * sd * sd)
    return result


def _dips(rng: np.random.Generator, n: int, rate: float) -> FloatArray:
    """Maintenance dips: a Poisson number of 4–16 h blocks at 35–75 % load."""
    factor = np.ones(n)
    for _ in range(int(rng.poisson(rate))):
        start = int(rng.integers(0, n))
        factor[start : start + int(rng.integers(16, 65))] = rng.uniform(0.35, 0.75)
    return factor


def _per_day(m: _Month, levels: Sequence[float]) -> FloatArray:
    """Per-interval level from a level per day kind (work, Saturday, Sunday, holiday)."""
    by_day: FloatArray = np.asarray(levels, dtype=float)[m.kind]
    result: FloatArray = by_day[m.day]
    return result


def _cooling_heating(m: _Month) -> FloatArray:
    """Daily HVAC factor of buildings: more on hot (> 22 °C) and cold (< 12 °C) days. [1]"""
    t = m.temp
    result: FloatArray = 1 + 0.045 * np.maximum(t - 22, 0) + 0.02 * np.maximum(12 - t, 0)
    return result


# --- shapes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    """What a shape needs besides the calendar."""

    code: str
    carrier: str
    unit: str
    total: float  # the month's consumption [unit]
    hint: float = 1.0  # the month's daily rate / the usual daily rate [1]


Shape = Callable[[_Month, np.random.Generator, _Job], FloatArray]

_NOISE: Final[dict[str, float]] = {
    Carrier.COAL.value: 0.06,
    Carrier.OTHER.value: 0.05,
    Carrier.WATER.value: 0.1,
}
_DAY_SHIFT_BASE: Final[dict[str, float]] = {
    Carrier.ELECTRICITY.value: 0.35,
    Carrier.NATURAL_GAS.value: 0.45,
    Carrier.STEAM.value: 0.4,
    Carrier.HEAT.value: 0.4,
    Carrier.WATER.value: 0.25,
}


def _stoppage(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    """Whole days at auxiliary load, so that the month runs at ``job.hint`` of its usual rate."""
    idle = 0.0 if job.carrier in (Carrier.COAL.value, Carrier.OTHER.value) else 0.1
    length = round(m.days * min(0.9, (1 - job.hint) / (1 - idle)))
    factor = np.ones(m.n)
    if length <= 0:
        return factor
    holidays = np.flatnonzero(m.kind == _HOLIDAY)
    if holidays.size:
        first = int(holidays[holidays.size // 2]) - length // 2
    else:
        first = int(rng.integers(0, m.days - length + 1))
    first = min(max(first, 0), m.days - length)
    factor[first * _PER_DAY : (first + length) * _PER_DAY] = idle
    return factor


def _continuous(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    w = 1.0 + 0.02 * _bump(m.hour, 14.0, 4.0)
    w *= _noise(rng, m.n, _NOISE.get(job.carrier, 0.025)) * _dips(rng, m.n, 0.5)
    if job.carrier == Carrier.WATER.value:
        w *= (1 + 0.02 * np.maximum(m.temp - 20, 0))[m.day]
    if job.hint < 0.8:
        w *= _stoppage(m, rng, job)
    return w


def _continuous_tou(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    tou = (
        1.0
        + 0.08 * _window(h, 0.0, 8.0, 0.2)
        - 0.06 * (_window(h, 8.0, 11.0, 0.2) + _window(h, 17.0, 22.0, 0.2))
    )
    return _continuous(m, rng, job) * tou


def _day_shift(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    base = _DAY_SHIFT_BASE.get(job.carrier, 0.35)
    occupied = _window(m.hour, 8.0, 18.0, 0.3) * (1 - 0.12 * _bump(m.hour, 12.5, 0.35))
    level = _per_day(m, (1.0, 0.5, 0.0, 0.0)) * m.restart[m.day]
    w = base + (1 - base) * occupied * level
    return w * _noise(rng, m.n, 0.1 if job.carrier == Carrier.WATER.value else 0.04)


def _office(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    base = 0.06 if job.carrier == Carrier.WATER.value else 0.22
    occupied = (
        _window(h, 8.0, 19.0, 0.3) * (1 - 0.1 * _bump(h, 12.5, 0.4))
        + 0.5 * _window(h, 7.0, 8.0, 0.2)
        + 0.3 * _window(h, 19.0, 21.5, 0.4)
    )
    level = _per_day(m, (1.0, 0.12, 0.05, 0.05))
    if job.carrier == Carrier.ELECTRICITY.value:
        level = level * _cooling_heating(m)[m.day] * (1 + 0.1 * _bump(h, 15.0, 2.5))
    w = base + (1 - base) * occupied * level
    return w * _noise(rng, m.n, 0.1 if job.carrier == Carrier.WATER.value else 0.03)


def _retail(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    base = 0.05 if job.carrier == Carrier.WATER.value else 0.18
    open_ = _window(h, 10.0, 22.0, 0.2) * _per_day(m, (1.0, 1.15, 1.12, 1.2))
    staff = 0.4 * _window(h, 9.0, 10.0, 0.2) + 0.25 * _window(h, 22.0, 22.75, 0.15)
    if job.carrier == Carrier.ELECTRICITY.value:
        open_ = open_ * _cooling_heating(m)[m.day] * (1 + 0.1 * _bump(h, 15.0, 2.5))
    w = base + (1 - base) * (open_ + staff)
    return w * _noise(rng, m.n, 0.1 if job.carrier == Carrier.WATER.value else 0.03)


def _hotel(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    water = job.carrier == Carrier.WATER.value
    base = 0.25 if water else 0.55
    peaks = (
        (0.6 if water else 0.3) * _bump(h, 7.8, 1.2)
        + 0.12 * _window(h, 10.0, 17.0, 0.5)
        + (0.7 if water else 0.45) * _bump(h, 20.3, 1.9)
    )
    # Friday and Saturday nights and holidays are busier.
    busy = 1 + 0.08 * ((m.weekday >= 4) & (m.weekday <= 5) | (m.kind == _HOLIDAY))
    level = busy[m.day]
    if not water:
        level = level * _cooling_heating(m)[m.day]
    w: FloatArray = (base + peaks) * level
    return w * _noise(rng, m.n, 0.1 if water else 0.03)


def _hospital(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    water = job.carrier == Carrier.WATER.value
    base = 0.45 if water else 0.6
    day_peak = _window(h, 7.5, 17.5, 0.4) * _per_day(m, (1.0, 0.55, 0.35, 0.35))
    w = base + (1 - base) * day_peak + 0.08 * _bump(h, 20.0, 2.0)
    if not water:
        w *= _cooling_heating(m)[m.day]
    return w * _noise(rng, m.n, 0.1 if water else 0.03)


def _space_heating(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    degree_days = (np.maximum(16 - m.temp, 0) + 0.8)[m.day]
    on_duty = 0.1 + 0.9 * _bump(h, 6.8, 0.9) + 0.5 * _window(h, 8.0, 18.0, 0.4)
    work = (m.kind == _WORK)[m.day]
    w = degree_days * np.where(work, on_duty, 0.25)
    return w * _noise(rng, m.n, 0.05)


def _hot_water(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    w = (
        0.45
        + 0.35 * _bump(h, 7.5, 1.3)
        + 0.25 * _window(h, 9.0, 17.0, 0.5)
        + 0.4 * _bump(h, 20.5, 1.8)
    )
    w *= (1 + 0.04 * np.maximum(16 - m.temp, 0))[m.day]
    return w * _noise(rng, m.n, 0.05)


def _kitchen(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    w = 0.05 + 0.5 * _bump(h, 7.2, 0.7) + _bump(h, 11.9, 0.8) + _bump(h, 18.4, 1.0)
    w *= _per_day(m, (1.0, 1.2, 1.15, 1.25))
    return w * _noise(rng, m.n, 0.08)


def _restaurant(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    w = 0.04 + _bump(h, 11.9, 0.8) + 1.2 * _bump(h, 18.4, 1.0)
    w *= _per_day(m, (1.0, 1.3, 1.25, 1.4))
    return w * _noise(rng, m.n, 0.08)


def _datacentre(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    warm = (1 + 0.004 * (m.temp - m.temp.mean()))[m.day]
    w: FloatArray = warm * (1 + 0.015 * _bump(m.hour, 15.0, 3.0) * (m.temp > 20)[m.day])
    return w * _noise(rng, m.n, 0.1 if job.carrier == Carrier.WATER.value else 0.008)


def _cold_store(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    warm = (1 + 0.02 * (m.temp - m.temp.mean()))[m.day]
    w: FloatArray = warm * (1 + 0.08 * _bump(m.hour, 14.5, 3.0))
    w *= 1 + 0.1 * _window(m.hour, 6, 20, 0.5)
    return w * _noise(rng, m.n, 0.05)


def _wastewater(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    h = m.hour
    w = 0.88 + 0.1 * _bump(h, 10.5, 2.5) + 0.08 * _bump(h, 20.5, 2.0) - 0.06 * _bump(h, 4.5, 1.5)
    return w * _noise(rng, m.n, 0.03)


def _steam_supply(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    demand = 1 + 0.15 * _window(m.hour, 8.0, 18.0, 0.4) * _per_day(m, (1.0, 0.5, 0.0, 0.0))
    w = demand * (1 + 0.02 * np.maximum(15 - m.temp, 0))[m.day]
    return w * _noise(rng, m.n, 0.025) * _dips(rng, m.n, 0.2)


def _logistics(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    level = _per_day(m, (1.0, 0.95, 0.85, 0.7))
    w = 0.3 + 0.7 * _window(m.hour, 6.0, 22.0, 0.4) * level
    return w * _noise(rng, m.n, 0.1 if job.carrier == Carrier.WATER.value else 0.05)


def _events(
    m: _Month,
    rng: np.random.Generator,
    job: _Job,
    *,
    days: Sequence[int],
    hours: tuple[float, float],
) -> FloatArray:
    """Refuelling events: a Poisson number a day in the allowed days and hours."""
    allowed = np.flatnonzero(np.isin(m.kind, days))
    if not allowed.size:
        allowed = np.arange(m.days)
    fill = 0.15 if job.unit == "t" else job.total / max(6.0 * allowed.size, 1e-9)
    per_day = min(max(job.total / max(fill * allowed.size, 1e-9), 0.3), 40.0)
    count = max(1, int(rng.poisson(per_day * allowed.size)))
    day = rng.choice(allowed, size=count)
    slot = rng.integers(int(hours[0] * 4), int(hours[1] * 4), size=count)
    size = rng.lognormal(0.0, 0.35, size=count)
    return np.bincount(day * _PER_DAY + slot, weights=size, minlength=m.n).astype(float)


def _refuelling(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    return _events(m, rng, job, days=(_WORK, _SATURDAY, _SUNDAY, _HOLIDAY), hours=(6.0, 22.0))


def _refuelling_day(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    return _events(m, rng, job, days=(_WORK, _SATURDAY), hours=(7.0, 19.0))


def _genset(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    """Weekly test runs of emergency generators, 30–60 min from 10:00 on a fixed weekday."""
    weekday = zlib.crc32(job.code.encode()) % 5
    days = np.flatnonzero((m.weekday == weekday) & (m.kind == _WORK))
    if not days.size:
        days = np.flatnonzero(m.kind == _WORK)[:1] if (m.kind == _WORK).any() else np.array([0])
    w = np.zeros(m.n)
    for d in days:
        start = int(d) * _PER_DAY + 40
        w[start : start + int(rng.integers(2, 5))] = rng.uniform(0.8, 1.2)
    return w


def _startup(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    """Boiler start-up and low-load support oil: a few 2–12 h episodes a month."""
    w = np.zeros(m.n)
    for _ in range(1 + int(rng.poisson(2.5))):
        start = int(rng.integers(0, m.n))
        w[start : start + int(rng.integers(8, 49))] = rng.lognormal(0.0, 0.3)
    return w * _noise(rng, m.n, 0.1)


def _test_run(m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    """Engine test runs of 1–3 h between 08:30 and 17:00 on working days."""
    w = np.zeros(m.n)
    for d in np.flatnonzero(m.kind == _WORK):
        for _ in range(1 + int(rng.poisson(0.6))):
            start = int(d) * _PER_DAY + int(rng.integers(34, 60))
            w[start : start + int(rng.integers(4, 13))] = rng.uniform(0.7, 1.3)
    if not w.any():
        w[40:48] = 1.0
    return w


_SHAPES: Final[dict[str, Shape]] = {
    "continuous": _continuous,
    "continuous_tou": _continuous_tou,
    "day_shift": _day_shift,
    "office": _office,
    "retail": _retail,
    "hotel": _hotel,
    "hospital": _hospital,
    "datacentre": _datacentre,
    "cold_store": _cold_store,
    "wastewater": _wastewater,
    "logistics": _logistics,
    "space_heating": _space_heating,
    "hot_water": _hot_water,
    "kitchen": _kitchen,
    "restaurant": _restaurant,
    "steam_supply": _steam_supply,
    "refuelling": _refuelling,
    "refuelling_day": _refuelling_day,
    "genset": _genset,
    "startup": _startup,
    "test_run": _test_run,
}

#: Names of the shapes.
SHAPES: Final[tuple[str, ...]] = tuple(_SHAPES)

_SECTOR_SHAPES: Final[dict[str, str]] = {
    "power": "continuous",
    "cement": "continuous",
    "glass": "continuous",
    "chemicals": "continuous",
    "petrochemicals": "continuous",
    "steel": "continuous",
    "nonferrous": "continuous",
    "paper": "continuous",
    "semiconductors": "continuous",
    "data_centre": "datacentre",
    "water": "wastewater",
    "textiles": "day_shift",
    "food": "day_shift",
    "pharma": "day_shift",
    "electronics": "day_shift",
    "photovoltaics": "day_shift",
    "batteries": "day_shift",
    "automotive": "day_shift",
    "machinery": "day_shift",
    "logistics": "logistics",
    "offices": "office",
    "public": "office",
    "hospital": "hospital",
    "hotel": "hotel",
    "retail": "retail",
}
_BUILDINGS: Final = frozenset({"office", "retail", "hotel", "hospital"})


def shape_for(sector: str, carrier: str, *, category: str | None = None, hint: str = "") -> str:
    """The shape of a meter from its enterprise's sector and its carrier.

    Parameters
    ----------
    sector : str
        A ``SECTORS`` code.
    carrier : str
        A :class:`~shuangtan.domain.platform.Carrier` value.
    category : str or None, optional
        The measured source's :class:`~shuangtan.domain.platform.Category`, if known: mobile
        fuel is refuelling, stationary oil is generators, start-up oil or test runs.
    hint : str, optional
        Names of the source and facility (English); ``fab``, ``cold``, ``kitchen``,
        ``restaurant`` and ``test`` refine the shape.

    Returns
    -------
    str
        One of :data:`SHAPES`.
    """
    text = hint.lower()
    base = _SECTOR_SHAPES.get(sector, "day_shift")
    if sector == "electronics" and "fab" in text:
        base = "continuous"
    if sector == "logistics" and "cold" in text:
        base = "cold_store"
    if carrier == Carrier.OIL.value:
        if category == Category.STATIONARY_COMBUSTION.value:
            if sector == "power":
                return "startup"
            if sector == "machinery" or "test" in text:
                return "test_run"
            return "genset"
        return "refuelling_day" if base == "day_shift" else "refuelling"
    if carrier == Carrier.WATER.value:
        return base
    if base in _BUILDINGS and carrier != Carrier.ELECTRICITY.value:
        if "kitchen" in text or "restaurant" in text or sector == "retail":
            return "restaurant" if sector == "retail" or "restaurant" in text else "kitchen"
        return "space_heating" if base == "office" else "hot_water"
    if sector == "power" and carrier == Carrier.HEAT.value:
        return "steam_supply"
    if (
        base == "continuous"
        and carrier == Carrier.ELECTRICITY.value
        and sector in ("cement", "steel")
    ):
        return "continuous_tou"
    return base


# Seasons of live meters (monthly levels, January first), by shape; water has its own.
# fmt: off
_SEASONS: Final[dict[str, tuple[float, ...]]] = {
    "flat": (1.0,) * 12,
    "manufacturing": (0.95, 0.85, 1.02, 1.0, 1.0, 1.02, 1.0, 1.0, 1.02, 0.97, 1.04, 1.05),
    "cooling": (1.05, 0.95, 0.85, 0.82, 0.9, 1.1, 1.35, 1.4, 1.12, 0.88, 0.85, 0.98),
    "heating": (2.1, 1.8, 1.2, 0.6, 0.35, 0.25, 0.2, 0.2, 0.3, 0.55, 1.1, 1.9),
    "heating_mild": (1.5, 1.35, 1.1, 0.9, 0.8, 0.75, 0.75, 0.75, 0.8, 0.9, 1.1, 1.4),
    "datacentre": (0.95, 0.93, 0.95, 0.97, 1.0, 1.04, 1.08, 1.09, 1.04, 0.99, 0.96, 0.96),
    "chp": (1.18, 1.1, 1.0, 0.9, 0.85, 0.92, 1.08, 1.1, 0.95, 0.88, 0.97, 1.12),
    "wastewater": (0.92, 0.9, 0.98, 1.0, 1.02, 1.1, 1.12, 1.1, 1.02, 0.98, 0.94, 0.92),
    "water": (0.9, 0.86, 0.95, 0.98, 1.02, 1.08, 1.16, 1.15, 1.05, 0.99, 0.94, 0.92),
}
# fmt: on
_SHAPE_SEASON: Final[dict[str, str]] = {
    "day_shift": "manufacturing",
    "refuelling_day": "manufacturing",
    "test_run": "manufacturing",
    "office": "cooling",
    "retail": "cooling",
    "hotel": "cooling",
    "hospital": "cooling",
    "cold_store": "cooling",
    "space_heating": "heating",
    "hot_water": "heating_mild",
    "datacentre": "datacentre",
    "steam_supply": "chp",
    "wastewater": "wastewater",
}

# Mains water of an enterprise by sector. [m3/a]
_WATER_M3_A: Final[dict[str, float]] = {
    "power": 1_500_000,
    "cement": 420_000,
    "glass": 260_000,
    "chemicals": 650_000,
    "petrochemicals": 1_500_000,
    "steel": 900_000,
    "nonferrous": 380_000,
    "paper": 1_900_000,
    "textiles": 2_600_000,
    "food": 950_000,
    "pharma": 520_000,
    "electronics": 1_400_000,
    "semiconductors": 6_500_000,
    "photovoltaics": 1_600_000,
    "batteries": 480_000,
    "automotive": 260_000,
    "machinery": 130_000,
    "data_centre": 650_000,
    "logistics": 55_000,
    "offices": 40_000,
    "public": 30_000,
    "hospital": 420_000,
    "hotel": 150_000,
    "retail": 170_000,
    "water": 60_000,
}


# --- the demo park ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """One meter in one year: its shape and monthly totals."""

    meter: DemoMeter
    shape: str
    totals: FloatArray  # monthly consumption (12,) [unit]; nominal for cumulative meters
    registers: FloatArray  # cumulative: exact register at each month boundary (13,)
    hints: FloatArray  # the month's daily rate / the usual daily rate (12,)


class _Index:
    """Look-ups of the park."""

    def __init__(self, park: DemoPark) -> None:
        self.park = park
        self.orgs = {o.code: o for o in park.orgs}
        self.sources = {s.code: s for s in park.sources}
        self.amounts = {(a.source_code, a.year, a.month): a.amount for a in park.activity}
        self.by_source: dict[str, list[DemoMeter]] = {}
        self.water: dict[str, list[DemoMeter]] = {}
        for meter in park.meters:
            if meter.source_code is not None:
                self.by_source.setdefault(meter.source_code, []).append(meter)
            else:
                self.water.setdefault(self.enterprise(meter), []).append(meter)

    def enterprise(self, meter: DemoMeter) -> str:
        return self.orgs[meter.org_code].parent_code or meter.org_code

    def sector(self, meter: DemoMeter) -> str:
        return self.orgs[meter.org_code].sector or ""

    def shape(self, meter: DemoMeter) -> str:
        source = self.sources.get(meter.source_code or "")
        facility = self.orgs[meter.org_code].name_en
        return shape_for(
            self.sector(meter),
            meter.carrier,
            category=source.category if source else None,
            hint=f"{source.name_en if source else ''} | {facility}",
        )


def demo_shape(park: DemoPark, meter: DemoMeter) -> str:
    """The shape of a demo park meter (see :func:`shape_for`).

    Parameters
    ----------
    park : DemoPark
        The park.
    meter : DemoMeter
        One of its meters.

    Returns
    -------
    str
        One of :data:`SHAPES`.
    """
    return _Index(park).shape(meter)


def _check_year(park: DemoPark, year: int, *, following: bool = False) -> None:
    allowed = (*park.years, park.years[-1] + 1) if following else park.years
    if year not in allowed:
        raise ValueError(f"no activity for {year} in the demo park (years {park.years})")


def _nominal(index: _Index, year: int, seed: int) -> dict[str, FloatArray]:
    """Monthly consumption of every meter in a year, before counter rounding. [unit]"""
    out: dict[str, FloatArray] = {}
    for source_code, meters in index.by_source.items():
        source = index.sources[source_code]
        amounts = np.array(
            [index.amounts[(source_code, year, month)] for month in range(1, 13)], dtype=float
        )
        rng = _rng(seed, source_code, year, "shares")
        base = rng.uniform(0.75, 1.25, size=len(meters))
        shares = base[:, None] * rng.lognormal(0.0, 0.03, size=(len(meters), 12))
        shares /= shares.sum(axis=0)
        for meter, share in zip(meters, shares, strict=True):
            out[meter.code] = np.asarray(convert(amounts, source.unit, meter.unit)) * share
    for enterprise, meters in index.water.items():
        sector = index.sector(meters[0])
        rng = _rng(seed, enterprise, "water")  # the same every year: a plant's scale
        annual = _WATER_M3_A.get(sector, 100_000) * rng.lognormal(0.0, 0.15)
        splits = np.array([0.7, 0.3, *(0.1,) * (len(meters) - 2)][: len(meters)])
        for meter, split in zip(meters, splits / splits.sum(), strict=True):
            months = _rng(seed, meter.code, year, "water")
            days = np.array([calendar.monthrange(year, m)[1] for m in range(1, 13)], dtype=float)
            weights = np.array(_SEASONS["water"]) * days * months.lognormal(0.0, 0.03, size=12)
            if _SECTOR_SHAPES.get(sector) in ("day_shift", "office"):
                for month in range(1, 13):
                    lost = sum(
                        is_holiday(dt.date(year, month, d))
                        for d in range(1, int(days[month - 1]) + 1)
                    )
                    weights[month - 1] *= 1 - 0.6 * lost / days[month - 1]
            factor = 1.0 if meter.unit == "m3" else float(convert(1.0, "t", meter.unit))
            out[meter.code] = annual * split * factor * weights / weights.sum()
    return out


def _initial(meter: DemoMeter, annual: float, seed: int) -> float:
    """A counter after some years in service (seeded), on the display's grid."""
    years = _rng(seed, meter.code, "age").uniform(0.4, 7.0)
    return round(annual / meter.multiplier * years, counter_decimals(meter.multiplier))


def _registers(index: _Index, year: int, seed: int) -> dict[str, FloatArray]:
    """Exact registers of cumulative meters at the 13 month boundaries of ``year``.

    Chained from the first park year, so that December's end is January's start.
    """
    cumulative = [m for m in index.park.meters if m.kind == MeterKind.CUMULATIVE.value]
    out: dict[str, FloatArray] = {}
    start: dict[str, float] = {}
    for y in range(index.park.years[0], year + 1):
        nominal = _nominal(index, y, seed)
        for meter in cumulative:
            if meter.code not in start:
                start[meter.code] = _initial(meter, float(nominal[meter.code].sum()), seed)
            registers = np.empty(13)
            registers[0] = value = start[meter.code]
            for i, amount in enumerate(nominal[meter.code], start=1):
                value = value + amount / meter.multiplier
                registers[i] = value
            start[meter.code] = value
            out[meter.code] = registers
    return out


def initial_counters(park: DemoPark, year: int = 2025, *, seed: int = 2026) -> dict[str, float]:
    """Registers of the cumulative meters at local 00:00 on 1 January of ``year``.

    Parameters
    ----------
    park : DemoPark
        The park.
    year : int, optional
        A park year, or the year after the last (the registers at the end of the data, to seed
        :func:`live_readings`' ``state``).
    seed : int, optional
        Seed of the readings.

    Returns
    -------
    dict[str, float]
        Meter code → register, unrounded (the reading shown is it rounded to
        :func:`counter_decimals`). [counter unit]

    Raises
    ------
    ValueError
        The park has no activity for the year (nor for the one before).
    """
    _check_year(park, year, following=True)
    index = _Index(park)
    if year > park.years[-1]:
        return {code: float(r[-1]) for code, r in _registers(index, year - 1, seed).items()}
    return {code: float(r[0]) for code, r in _registers(index, year, seed).items()}


def _plans(park: DemoPark, year: int, seed: int) -> list[_Plan]:
    index = _Index(park)
    nominal = _nominal(index, year, seed)
    registers = _registers(index, year, seed)
    days = np.array([calendar.monthrange(year, m)[1] for m in range(1, 13)], dtype=float)
    totals = dict(nominal)
    # Interval meters of a source take what its cumulative meters do not read.
    for meters in index.by_source.values():
        counters = [m for m in meters if m.kind == MeterKind.CUMULATIVE.value]
        intervals = [m for m in meters if m.kind != MeterKind.CUMULATIVE.value]
        if not counters or not intervals:
            continue
        amount = sum(nominal[m.code] for m in meters)
        read = sum(
            np.diff(np.round(registers[m.code], counter_decimals(m.multiplier))) * m.multiplier
            for m in counters
        )
        weights = np.array([nominal[m.code] for m in intervals])
        rest = np.maximum(amount - read, 0.0)
        for meter, weight in zip(intervals, weights / weights.sum(axis=0), strict=True):
            totals[meter.code] = rest * weight
    plans = []
    for meter in park.meters:
        rate = nominal[meter.code] / days
        usual = float(np.median(rate))
        plans.append(
            _Plan(
                meter=meter,
                shape=index.shape(meter),
                totals=totals[meter.code],
                registers=registers.get(meter.code, np.zeros(13)),
                hints=rate / usual if usual > 0 else np.ones(12),
            )
        )
    return plans


def _weights(shape: str, m: _Month, rng: np.random.Generator, job: _Job) -> FloatArray:
    w = _SHAPES[shape](m, rng, job)
    if not np.isfinite(w).all() or w.sum() <= 0:
        return np.ones(m.n)
    return np.maximum(w, 0.0)


def demo_year_readings(
    park: DemoPark,
    year: int = 2025,
    *,
    seed: int = 2026,
    months: Sequence[int] | None = None,
) -> Iterator[MeterSeries]:
    """15-minute readings of every demo park meter for a year, one month at a time.

    For each metered source and local month, the consumption read from its meters (``value ×
    multiplier`` of interval meters, ``Δcounter × multiplier`` of cumulative meters from the
    previous month's last counter), converted
    to the source's unit, equals the park's activity amount to within one counter step of
    its cumulative meters (≤ 0.1 [meter unit], well below 1 ppm of a month).

    Parameters
    ----------
    park : DemoPark
        The park (:func:`~shuangtan.services.demo_park.build_demo_park`).
    year : int, optional
        One of ``park.years``.
    seed : int, optional
        Seed of shapes, splits, water volumes and initial counters.
    months : sequence of int, optional
        Local calendar months, 1–12 (default all), generated in increasing order.

    Yields
    ------
    MeterSeries
        One per meter and month, in meter order then month order: the month's 2,688–2,976
        readings stamped 00:15 on day 1 to 00:00 on the next month's day 1 (local). A
        cumulative meter's January series, and any month whose previous month is not asked
        for, starts with one more point: the counter at local 00:00 on day 1, so the first
        interval's consumption is defined.

    Raises
    ------
    ValueError
        ``year`` is not a park year, or a month is not 1–12 (raised at the call, not when
        iterating).
    """
    _check_year(park, year)
    wanted = sorted(set(range(1, 13) if months is None else months))
    if any(not 1 <= m <= 12 for m in wanted):
        raise ValueError(f"months must be 1–12, not {months!r}")
    return _year_readings(park, year, seed, wanted)


def _year_readings(
    park: DemoPark, year: int, seed: int, wanted: list[int]
) -> Iterator[MeterSeries]:
    plans = _plans(park, year, seed)
    temps = _temperatures(seed, year)
    calendars = {m: _month(year, m, temps) for m in wanted}
    for plan in plans:
        meter = plan.meter
        cumulative = meter.kind == MeterKind.CUMULATIVE.value
        decimals = counter_decimals(meter.multiplier)
        for month in wanted:
            cal = calendars[month]
            rng = _rng(seed, meter.code, year, month)
            total = float(plan.totals[month - 1])
            job = _Job(meter.code, meter.carrier, meter.unit, total, float(plan.hints[month - 1]))
            w = _weights(plan.shape, cal, rng, job)
            if not cumulative:
                values = w * (total / w.sum() / meter.multiplier)
                yield MeterSeries(meter.code, cal.ts_us, values)
                continue
            fraction = np.cumsum(w)
            fraction /= fraction[-1]
            first = float(plan.registers[month - 1])
            delta = float(plan.registers[month]) - first
            counters = np.round(first + fraction * delta, decimals)
            if month == 1 or month - 1 not in calendars:
                ts = np.concatenate([[cal.start_us], cal.ts_us]).astype(np.int64)
                counters = np.concatenate([[np.round(first, decimals)], counters])
                yield MeterSeries(meter.code, ts, counters)
            else:
                yield MeterSeries(meter.code, cal.ts_us, counters)


# --- live ------------------------------------------------------------------------------------


def live_meters(park: DemoPark, *, seed: int = 2026, year: int | None = None) -> list[LiveMeter]:
    """The demo park's meters for a live simulator, at their typical monthly consumption.

    Parameters
    ----------
    park : DemoPark
        The park.
    seed : int, optional
        Seed of the split between meters and of water volumes.
    year : int, optional
        The park year whose average month is typical (default the last).

    Returns
    -------
    list[LiveMeter]
        In the park's meter order, with the demo shapes.
    """
    year = park.years[-1] if year is None else year
    _check_year(park, year)
    index = _Index(park)
    out = []
    for plan in _plans(park, year, seed):
        m = plan.meter
        out.append(
            LiveMeter(
                code=m.code,
                sector=index.sector(m),
                carrier=m.carrier,
                unit=m.unit,
                kind=m.kind,
                multiplier=m.multiplier,
                monthly=float(plan.totals.mean()),
                shape=plan.shape,
            )
        )
    return out


def _season(meter: LiveMeter, shape: str, month: int) -> float:
    if meter.carrier == Carrier.WATER.value:
        return _SEASONS["water"][month - 1]
    return _SEASONS[_SHAPE_SEASON.get(shape, "flat")][month - 1]


def live_readings(
    meters: Sequence[LiveMeter],
    start_us: int,
    end_us: int,
    *,
    seed: int,
    state: dict[str, float],
) -> list[MeterSeries]:
    """Readings at every 15-minute boundary in ``(start_us, end_us]``, for a live simulator.

    The consumption of an interval depends only on the seed, the meter and the time (the
    meter's whole local month is shaped and scaled to ``monthly × season × days / average
    month``), so consecutive calls give the same readings as one call over both spans.

    Parameters
    ----------
    meters : sequence of LiveMeter
        The meters.
    start_us, end_us : int
        The span, exclusive and inclusive. [µs since 1970-01-01 UTC]
    seed : int
        Seed of the shapes (and of a counter's start when ``state`` has none).
    state : dict[str, float]
        Meter code → register of cumulative meters (unrounded), updated in place; a meter
        missing from it starts from a seeded counter after some years in service.

    Returns
    -------
    list[MeterSeries]
        One per meter, in order; empty arrays if no boundary falls in the span.
    """
    first = (start_us // INTERVAL_US + 1) * INTERVAL_US
    last = (end_us // INTERVAL_US) * INTERVAL_US
    ts = np.arange(first, last + 1, INTERVAL_US, dtype=np.int64)
    # The local month of each interval (stamped at its end, so look at its start).
    starts = (ts - INTERVAL_US + _OFFSET_US) // _DAY_US
    groups: list[tuple[int, int, int, int]] = []  # year, month, first index, end index
    i = 0
    while i < ts.size:
        day = _EPOCH + dt.timedelta(days=int(starts[i]))
        nxt = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        j = int(np.searchsorted(starts, (nxt - _EPOCH).days, side="left"))
        groups.append((day.year, day.month, i, j))
        i = j
    temps: dict[int, FloatArray] = {}
    calendars: dict[tuple[int, int], _Month] = {}
    for year, month, _, _ in groups:
        if year not in temps:
            temps[year] = _temperatures(seed, year)
        calendars[(year, month)] = _month(year, month, temps[year])
    out = []
    for meter in meters:
        shape = meter.shape or shape_for(meter.sector, meter.carrier)
        consumption = np.empty(ts.size)
        for year, month, a, b in groups:
            cal = calendars[(year, month)]
            total = meter.monthly * _season(meter, shape, month) * cal.days / _MEAN_MONTH_DAYS
            rng = _rng(seed, meter.code, year, month)
            w = _weights(shape, cal, rng, _Job(meter.code, meter.carrier, meter.unit, total))
            index = (ts[a:b] - cal.start_us) // INTERVAL_US - 1
            consumption[a:b] = w[index] * (total / w.sum())
        if meter.kind != MeterKind.CUMULATIVE.value:
            out.append(MeterSeries(meter.code, ts, consumption / meter.multiplier))
            continue
        decimals = counter_decimals(meter.multiplier)
        if meter.code not in state:
            years = _rng(seed, meter.code, "age").uniform(0.4, 7.0)
            state[meter.code] = round(meter.monthly * 12 / meter.multiplier * years, decimals)
        registers = state[meter.code] + np.cumsum(consumption) / meter.multiplier
        if registers.size:
            state[meter.code] = float(registers[-1])
        out.append(MeterSeries(meter.code, ts, np.round(registers, decimals)))
    return out

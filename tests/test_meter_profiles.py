"""15-minute demo readings: they add up to the park's activity, on the grid, with real shapes."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pytest

from shuangtan.domain.platform import MeterKind
from shuangtan.services.demo_park import DemoMeter, DemoPark, build_demo_park
from shuangtan.services.meter_profiles import (
    INTERVAL_US,
    SHAPES,
    LiveMeter,
    MeterSeries,
    counter_decimals,
    demo_shape,
    demo_year_readings,
    initial_counters,
    is_holiday,
    live_meters,
    live_readings,
    shape_for,
)
from shuangtan.units import convert

CST = dt.timezone(dt.timedelta(hours=8))
MONTHS = (1, 2, 4, 7, 10)


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """A local (UTC+8) time as µs since the epoch."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=CST).timestamp()) * 1_000_000


@pytest.fixture(scope="module")
def park() -> DemoPark:
    return build_demo_park()


@pytest.fixture(scope="module")
def meters(park: DemoPark) -> dict[str, DemoMeter]:
    return {m.code: m for m in park.meters}


@pytest.fixture(scope="module")
def series(park: DemoPark) -> dict[str, dict[int, MeterSeries]]:
    out: dict[str, dict[int, MeterSeries]] = defaultdict(dict)
    for s in demo_year_readings(park, 2025, months=MONTHS):
        month = dt.datetime.fromtimestamp(s.ts_us[-1] / 1e6 - 1, CST).month
        out[s.meter_code][month] = s
    return out


def month_consumption(
    meter: DemoMeter, s: MeterSeries, before: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """End stamps and consumption of a month's intervals [meter unit].

    ``before`` is the previous month's last counter (None when the series opens with it).
    """
    if meter.kind != MeterKind.CUMULATIVE.value:
        return s.ts_us, s.values * meter.multiplier
    if before is None:
        return s.ts_us[1:], np.diff(s.values) * meter.multiplier
    return s.ts_us, np.diff(s.values, prepend=before) * meter.multiplier


def consumption(
    meter: DemoMeter, by_month: dict[int, MeterSeries], month: int
) -> tuple[np.ndarray, np.ndarray]:
    before = by_month[month - 1].values[-1] if month - 1 in by_month else None
    return month_consumption(meter, by_month[month], before)


def local_day_totals(ts: np.ndarray, values: np.ndarray) -> dict[dt.date, float]:
    """Consumption per local day (a reading stamped 00:00 belongs to the day before)."""
    days: dict[dt.date, float] = defaultdict(float)
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        start = dt.datetime.fromtimestamp((t - INTERVAL_US) / 1e6, CST)
        days[start.date()] += v
    return days


def hour_means(ts: np.ndarray, values: np.ndarray, days: set[dt.date]) -> np.ndarray:
    """Mean consumption per local hour (of the interval's start) over the given days."""
    sums = np.zeros(24)
    counts = np.zeros(24)
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        start = dt.datetime.fromtimestamp((t - INTERVAL_US) / 1e6, CST)
        if start.date() in days:
            sums[start.hour] += v
            counts[start.hour] += 1
    return sums / counts


# --- totals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [2024, 2025])
def test_monthly_sums_equal_the_park_activity(park: DemoPark, year: int) -> None:
    meters = {m.code: m for m in park.meters}
    sources = {s.code: s for s in park.sources}
    amounts = {(a.source_code, a.month): a.amount for a in park.activity if a.year == year}
    read: dict[tuple[str, int], float] = defaultdict(float)
    last: dict[str, float] = {}
    count = 0
    for s in demo_year_readings(park, year):
        meter = meters[s.meter_code]
        month = dt.datetime.fromtimestamp(s.ts_us[-1] / 1e6 - 1, CST).month
        _, used = month_consumption(meter, s, last.get(meter.code))
        last[meter.code] = float(s.values[-1])
        count += 1
        if meter.source_code is not None:
            source = sources[meter.source_code]
            read[(source.code, month)] += convert(float(used.sum()), meter.unit, source.unit)
    assert count == 12 * len(park.meters)
    metered = {m.source_code for m in park.meters if m.source_code}
    assert {code for code, _ in read} == metered
    for (code, month), value in read.items():
        assert value == pytest.approx(amounts[(code, month)], rel=1e-6, abs=0), (code, month)


def test_counters_continue_from_one_year_to_the_next(park: DemoPark) -> None:
    december = {s.meter_code: s for s in demo_year_readings(park, 2024, months=[12])}
    january = {s.meter_code: s for s in demo_year_readings(park, 2025, months=[1])}
    starts = initial_counters(park, 2025)
    for meter in park.meters:
        if meter.kind == MeterKind.CUMULATIVE.value:
            opening = january[meter.code]
            assert opening.ts_us[0] == december[meter.code].ts_us[-1] == us(2025, 1, 1)
            assert opening.values[0] == december[meter.code].values[-1]
            decimals = counter_decimals(meter.multiplier)
            assert opening.values[0] == round(starts[meter.code], decimals)
    assert set(starts) == {m.code for m in park.meters if m.kind == MeterKind.CUMULATIVE.value}


def test_series_are_continuous_across_months(
    park: DemoPark, meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    for code, by_month in series.items():
        meter = meters[code]
        jan, feb = by_month[1], by_month[2]
        assert feb.ts_us[0] == jan.ts_us[-1] + INTERVAL_US
        if meter.kind != MeterKind.CUMULATIVE.value:
            continue
        # The first February interval is an ordinary interval, not a jump.
        _, used = consumption(meter, by_month, 2)
        step = 10.0 ** -counter_decimals(meter.multiplier) * meter.multiplier
        assert used[0] <= 10 * np.median(used) + step, code
    # February alone opens with January's last counter.
    alone = {s.meter_code: s for s in demo_year_readings(park, 2025, months=[2])}
    for code, by_month in series.items():
        if meters[code].kind == MeterKind.CUMULATIVE.value:
            assert alone[code].ts_us[0] == us(2025, 2, 1)
            assert alone[code].values[0] == by_month[1].values[-1]
            np.testing.assert_array_equal(alone[code].values[1:], by_month[2].values)
        else:
            np.testing.assert_array_equal(alone[code].values, by_month[2].values)


# --- the grid --------------------------------------------------------------------------------


def test_timestamps_are_the_local_15_minute_grid(
    meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    for code, by_month in series.items():
        cumulative = meters[code].kind == MeterKind.CUMULATIVE.value
        jan, feb, apr = by_month[1], by_month[2], by_month[4]
        assert jan.ts_us.dtype == np.int64 and jan.values.dtype == np.float64
        assert jan.ts_us.size == jan.values.size == 2976 + cumulative
        # February continues January; April (March not asked for) opens with a counter too.
        assert feb.ts_us.size == 2688 and apr.ts_us.size == 2880 + cumulative
        for s in by_month.values():
            assert (np.diff(s.ts_us) == INTERVAL_US).all()
            assert (s.ts_us % INTERVAL_US == 0).all()
        assert jan.ts_us[0] == (us(2025, 1, 1) if cumulative else us(2025, 1, 1, 0, 15))
        assert jan.ts_us[-1] == us(2025, 2, 1) == feb.ts_us[0] - INTERVAL_US
        assert apr.ts_us[0] == (us(2025, 4, 1) if cumulative else us(2025, 4, 1, 0, 15))
        assert apr.ts_us[-1] == us(2025, 5, 1)
    # 96 intervals a local day: the reading stamped 00:00 closes the previous day.
    ts, used = consumption(meters["JS-SGX-E12-M1"], series["JS-SGX-E12-M1"], 4)
    days = local_day_totals(ts, used)
    assert len(days) == 30 and min(days) == dt.date(2025, 4, 1)
    assert us(2025, 1, 1) == 1735660800 * 1_000_000  # 2024-12-31T16:00Z


def test_counters_never_decrease_and_intervals_are_not_negative(
    meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    kinds = set()
    for code, by_month in series.items():
        meter = meters[code]
        kinds.add(meter.kind)
        values = np.concatenate([by_month[m].values for m in (1, 2)])
        assert np.isfinite(values).all()
        if meter.kind == MeterKind.CUMULATIVE.value:
            assert (np.diff(values) >= 0).all(), code
            decimals = counter_decimals(meter.multiplier)
            np.testing.assert_array_equal(values, np.round(values, decimals))
            assert values[0] > 0
        else:
            assert (values >= 0).all(), code
    assert kinds == {MeterKind.CUMULATIVE.value, MeterKind.INTERVAL.value}


# --- shapes ----------------------------------------------------------------------------------


def test_office_is_busy_in_working_hours(
    park: DemoPark, meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    code = "JS-SGX-E12-M1"  # Innovation Centre Tower A electricity
    assert demo_shape(park, meters[code]) == "office"
    ts, used = consumption(meters[code], series[code], 4)
    weekdays = {dt.date(2025, 4, d) for d in (9, 15, 16, 17, 22, 23)}
    hours = hour_means(ts, used, weekdays)
    assert hours[10] > 2 * hours[3]
    sunday = hour_means(ts, used, {dt.date(2025, 4, 13)})
    assert sunday[10] < 0.5 * hours[10]


def test_continuous_process_runs_day_and_night(
    meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    for code in ("JS-SGX-E06-M1", "JS-SGX-E10-M1", "JS-SGX-E07-M1"):  # glass, DC, fab
        ts, used = consumption(meters[code], series[code], 7)
        hours = hour_means(ts, used, {dt.date(2025, 7, d) for d in range(1, 32)})
        night, day = hours[1:5].mean(), hours[9:17].mean()
        assert night / day > 0.8, code


def test_holiday_is_like_a_sunday_for_day_shift_plants(
    park: DemoPark, meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    assert is_holiday(dt.date(2025, 10, 3)) and not is_holiday(dt.date(2025, 10, 15))
    assert not is_holiday(dt.date(2025, 10, 11))  # make-up working Saturday
    for code in ("JS-SGX-E24-M1", "JS-SGX-E16-M3", "JS-SGX-E09-M1"):
        assert demo_shape(park, meters[code]) == "day_shift"
        ts, used = consumption(meters[code], series[code], 10)
        days = local_day_totals(ts, used)
        holiday, wednesday = days[dt.date(2025, 10, 3)], days[dt.date(2025, 10, 15)]
        assert holiday < 0.8 * wednesday, code
        assert days[dt.date(2025, 10, 11)] > 0.9 * wednesday  # 调休: a working day


def test_seasons(meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]) -> None:
    def total(code: str, month: int) -> float:
        return float(consumption(meters[code], series[code], month)[1].sum())

    for code in ("JS-SGX-E12-M1", "JS-SGX-E12-M2", "JS-SGX-E13-M1"):  # office electricity
        assert total(code, 7) > 1.2 * total(code, 4)
    assert total("JS-SGX-E13-M3", 1) > 3 * total("JS-SGX-E13-M3", 7)  # office heating
    assert total("JS-SGX-E12-M3", 1) > 3 * total("JS-SGX-E12-M3", 7)  # heating gas
    assert total("JS-SGX-E01-M5", 1) > total("JS-SGX-E01-M5", 4)  # CHP heat export
    # Water meters measure plausible volumes (m3 a month).
    for code in ("JS-SGX-E07-M6", "JS-SGX-E12-M4", "JS-SGX-E22-M5"):
        assert meters[code].source_code is None
        assert 500 < total(code, 7) < 1_000_000


def test_fuel_meters_record_events(
    park: DemoPark, meters: dict[str, DemoMeter], series: dict[str, dict[int, MeterSeries]]
) -> None:
    genset = series["JS-SGX-E22-M4"][7].values  # hospital emergency generators
    assert demo_shape(park, meters["JS-SGX-E22-M4"]) == "genset"
    assert 0 < np.count_nonzero(genset) <= 5 * 4
    trucks = series["JS-SGX-E11-M1"][7].values  # logistics diesel dispenser
    assert demo_shape(park, meters["JS-SGX-E11-M1"]) == "refuelling"
    assert 0.1 < np.count_nonzero(trucks) / trucks.size < 0.9


def test_every_demo_meter_has_a_known_shape(park: DemoPark) -> None:
    shapes = {demo_shape(park, m) for m in park.meters}
    assert shapes <= set(SHAPES)
    assert {"continuous", "day_shift", "office", "retail", "hotel", "hospital"} <= shapes
    assert shape_for("electronics", "electricity", hint="Array fab") == "continuous"
    assert shape_for("hotel", "natural_gas", hint="Kitchen gas") == "kitchen"
    assert shape_for("unknown", "electricity") == "day_shift"


# --- determinism and arguments ---------------------------------------------------------------


def test_same_seed_same_arrays(park: DemoPark, series: dict[str, dict[int, MeterSeries]]) -> None:
    again = list(demo_year_readings(park, 2025, months=[4]))
    other = list(demo_year_readings(park, 2025, seed=7, months=[4]))
    assert [s.meter_code for s in again] == [m.code for m in park.meters]
    differ = 0
    for a, b in zip(again, other, strict=True):
        ref = series[a.meter_code][4]
        n = ref.values.size
        np.testing.assert_array_equal(a.ts_us[-n:], ref.ts_us)
        np.testing.assert_array_equal(a.values[-n:], ref.values)
        differ += not np.array_equal(a.values, b.values)
    assert differ == len(park.meters)


def test_arguments_are_checked(park: DemoPark) -> None:
    with pytest.raises(ValueError, match="2023"):
        demo_year_readings(park, 2023)
    with pytest.raises(ValueError, match="months"):
        demo_year_readings(park, 2025, months=[13])
    with pytest.raises(ValueError, match="2027"):
        initial_counters(park, 2027)
    assert [counter_decimals(m) for m in (1, 40, 200, 4000, 66000)] == [2, 3, 4, 5, 6]


# --- live ------------------------------------------------------------------------------------


def test_live_readings_continue_across_calls(park: DemoPark) -> None:
    fleet = live_meters(park)
    assert [m.code for m in fleet] == [m.code for m in park.meters]
    start = us(2025, 12, 31, 22, 7)  # over a local month and year boundary
    middle = us(2026, 1, 1, 0, 40)
    end = us(2026, 1, 1, 6, 0)
    state = initial_counters(park, 2026)
    first = live_readings(fleet, start, middle, seed=5, state=state)
    assert state != initial_counters(park, 2026)
    second = live_readings(fleet, middle, end, seed=5, state=state)
    whole = live_readings(fleet, start, end, seed=5, state=initial_counters(park, 2026))
    for meter, a, b, c in zip(fleet, first, second, whole, strict=True):
        assert a.meter_code == b.meter_code == c.meter_code == meter.code
        assert a.ts_us[0] == us(2025, 12, 31, 22, 15) and a.ts_us[-1] == us(2026, 1, 1, 0, 30)
        assert b.ts_us[0] == a.ts_us[-1] + INTERVAL_US and b.ts_us[-1] == end
        np.testing.assert_array_equal(np.concatenate([a.ts_us, b.ts_us]), c.ts_us)
        joined = np.concatenate([a.values, b.values])
        if meter.kind == MeterKind.CUMULATIVE.value:
            step = 10.0 ** -counter_decimals(meter.multiplier)
            np.testing.assert_allclose(joined, c.values, rtol=0, atol=step * 1.01)
            assert (np.diff(joined) >= 0).all()
            assert state[meter.code] == pytest.approx(float(c.values[-1]), abs=step)
        else:
            np.testing.assert_allclose(joined, c.values, rtol=1e-12)
            assert (joined >= 0).all()


def test_live_readings_are_deterministic_and_shaped() -> None:
    office = LiveMeter(
        code="X-M1",
        sector="offices",
        carrier="electricity",
        unit="kWh",
        kind="cumulative",
        multiplier=40.0,
        monthly=150_000.0,
    )
    pump = LiveMeter("X-M2", "water", "electricity", "kWh", "interval", 1.0, 800_000.0)
    start, end = us(2025, 4, 16), us(2025, 4, 17)  # a Wednesday
    runs = [live_readings([office, pump], start, end, seed=3, state={}) for _ in range(2)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        assert a.ts_us.size == 96
    used = np.diff(runs[0][0].values) * office.multiplier
    assert used[10 * 4 - 1] > 2 * used[3 * 4 - 1]  # 10:00–10:15 against 03:00–03:15
    flat = runs[0][1].values
    assert flat.min() > 0.6 * flat.max()
    # Roughly the typical month: a day of the pump is about a thirtieth of it.
    assert 0.7 < flat.sum() * 30.4 / pump.monthly < 1.3
    empty = live_readings([office], start + 1, start + 100, seed=3, state={})
    assert empty[0].ts_us.size == empty[0].values.size == 0

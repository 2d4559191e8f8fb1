"""Readings in the database, on SQLite and PostgreSQL: dedupe, corrections, counters, rollups."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Meter, MeterRollup, QuarantinedReading, Reading
from shuangtan.adapters.db.readings import IngestResult, ReadingsWriter
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.domain.readings import Channel, Flag, RawReading
from tests.platform_fixtures import Database
from tests.world import World

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
CST = dt.timezone(dt.timedelta(hours=8))


def ingest(db: Database, raws: list[RawReading], **kwargs: Any) -> IngestResult:
    with Session(db.engine) as session:
        store = Store(session, SYSTEM)
        result = ReadingsWriter(session).ingest(
            raws, resolve=store.meter_resolver(), now=NOW, channel=Channel.HTTP, **kwargs
        )
        session.commit()
    return result


def stamp(day: int, minute: int, month: int = 1) -> str:
    base = dt.datetime(2026, month, day, tzinfo=CST) + dt.timedelta(minutes=minute)
    return base.isoformat()


def rows(db: Database, meter_id: int) -> list[tuple[dt.datetime, float, float, int]]:
    with Session(db.engine) as session:
        return [
            (r.ts, r.raw, r.value, r.flags)
            for r in session.scalars(
                select(Reading).where(Reading.meter_id == meter_id).order_by(Reading.ts)
            )
        ]


def rollups(db: Database, meter_id: int, resolution: str) -> dict[dt.datetime, tuple[float, int]]:
    with Session(db.engine) as session:
        return {
            r.bucket: (r.value, r.n)
            for r in session.scalars(
                select(MeterRollup).where(
                    MeterRollup.meter_id == meter_id, MeterRollup.resolution == resolution
                )
            )
        }


def make_cumulative(db: Database, meter_id: int, **extra: Any) -> None:
    with Session(db.engine) as session:
        meter = session.get(Meter, meter_id)
        assert meter is not None
        meter.kind = "cumulative"
        meter.unit = "kWh"
        meter.multiplier = 2.0
        for key, value in extra.items():
            setattr(meter, key, value)
        session.commit()


def test_interval_readings_land_once_and_roll_up(db: Database, world: World) -> None:
    meter = world.meter["B1-S-COAL"]
    raws = [RawReading("B1-S-COAL-M", stamp(1, 15 * k), 1.5, ref=f"r{k}") for k in range(1, 97)]
    first = ingest(db, raws)
    assert (first.stored, first.duplicates, first.quarantined) == (96, 0, 0)
    again = ingest(db, raws[::-1])
    assert (again.stored, again.duplicates, again.corrected) == (0, 96, 0)
    assert len(rows(db, meter)) == 96
    days = rollups(db, meter, "day")
    # The local day 2026-01-01 starts at 2025-12-31 16:00 UTC and holds all 96 readings.
    assert days == {dt.datetime(2025, 12, 31, 16): (pytest.approx(144.0), 96)}
    hours = rollups(db, meter, "hour")
    assert len(hours) == 24 and all(n == 4 for _, n in hours.values())
    months = rollups(db, meter, "month")
    assert months == {dt.datetime(2025, 12, 31, 16): (pytest.approx(144.0), 96)}
    assert first.months == {(world.source["B1-S-COAL"], dt.date(2026, 1, 1))}


def test_a_correction_replaces_the_value_and_is_recorded(db: Database, world: World) -> None:
    meter = world.meter["B1-S-COAL"]
    ingest(
        db,
        [
            RawReading("B1-S-COAL-M", stamp(1, 15), 1.0),
            RawReading("B1-S-COAL-M", stamp(1, 30), 2.0),
        ],
    )
    result = ingest(db, [RawReading("B1-S-COAL-M", stamp(1, 15), 4.0)])
    assert (result.stored, result.corrected) == (0, 1)
    stored = rows(db, meter)
    assert [r[2] for r in stored] == [4.0, 2.0]
    assert stored[0][3] & Flag.CORRECTED
    assert rollups(db, meter, "day")[dt.datetime(2025, 12, 31, 16)] == (6.0, 2)
    with Session(db.engine) as session:
        change = session.execute(text("SELECT old_raw, new_raw FROM reading_changes")).one()
    assert tuple(change) == (1.0, 4.0)


def test_counters_become_intervals_out_of_order(db: Database, world: World) -> None:
    meter = world.meter["A1-S-EL"]
    make_cumulative(db, meter, rollover_at=1000.0)
    counters = [(0, 990.0), (15, 995.0), (30, 5.0), (45, 10.0), (60, 12.5)]
    # Send the second half first: the stored neighbours must be re-planned.
    ingest(db, [RawReading("A1-S-EL-M", stamp(2, m), c) for m, c in counters[2:]])
    ingest(db, [RawReading("A1-S-EL-M", stamp(2, m), c) for m, c in counters[:2]])
    stored = rows(db, meter)
    assert [r[2] for r in stored] == [0.0, 10.0, 20.0, 10.0, 5.0]
    assert stored[0][3] & Flag.FIRST and stored[2][3] & Flag.ROLLOVER
    total = sum(v for v, _ in rollups(db, meter, "hour").values())
    assert total == pytest.approx(45.0)
    # Measured intervals: the first counter is the baseline, not one.
    assert sum(n for _, n in rollups(db, meter, "day").values()) == 4


def test_a_counter_running_backwards_goes_to_quarantine(db: Database, world: World) -> None:
    meter = world.meter["A1-S-EL"]
    make_cumulative(db, meter)
    ingest(db, [RawReading("A1-S-EL-M", stamp(3, m), c) for m, c in [(0, 100.0), (15, 110.0)]])
    result = ingest(db, [RawReading("A1-S-EL-M", stamp(3, 30), 105.0, ref="line 2")])
    assert (result.stored, result.quarantined) == (0, 1)
    assert result.rejected[0].reason == "counter_backwards"
    with Session(db.engine) as session:
        row = session.scalars(select(QuarantinedReading)).one()
    assert (row.reason, row.field, row.ref, row.meter_id) == (
        "counter_backwards",
        "value",
        "line 2",
        meter,
    )
    assert row.org_id == world.org["A1-F1"]


def test_bad_rows_are_quarantined_and_good_ones_kept(db: Database, world: World) -> None:
    raws = [
        RawReading("B1-S-COAL-M", stamp(4, 15), "1.5", ref="ok"),
        RawReading("NOPE", stamp(4, 15), 1, ref="unknown"),
        RawReading("B1-S-COAL-M", "2026-01-04T00:30:00", 1, ref="nozone"),
        RawReading("B1-S-COAL-M", stamp(4, 45), "一点五", ref="text"),
        RawReading("B1-S-COAL-M", "2030-01-01T00:00:00Z", 1, ref="future"),
        RawReading("B1-S-COAL-M", stamp(4, 60), 1, unit="kWh", ref="unit"),
        RawReading("B1-S-COAL-M", stamp(4, 75), -1, ref="negative"),
    ]
    result = ingest(db, raws)
    assert (result.received, result.stored, result.quarantined) == (7, 1, 6)
    reasons = {r.ref: (r.reason.value, r.field) for r in result.rejected}
    assert reasons == {
        "unknown": ("unknown_meter", "meter"),
        "nozone": ("no_timezone", "ts"),
        "text": ("bad_value", "value"),
        "future": ("future_timestamp", "ts"),
        "unit": ("wrong_unit", "unit"),
        "negative": ("negative", "value"),
    }


def test_late_readings_become_activity_and_recompute_the_inventory(
    db: Database, world: World, library: Any
) -> None:
    from shuangtan.adapters.db.models import ActivityDatum
    from shuangtan.adapters.db.readings import sync_activity

    source = world.source["B1-S-COAL"]
    with Session(db.engine) as session:
        # The world's 2025 coal is entered by hand; March 2025 is given to the meters.
        session.execute(
            text("DELETE FROM activity_data WHERE source_id = :s AND period_start = :d"),
            {"s": source, "d": dt.date(2025, 3, 1)},
        )
        session.commit()
    march = [
        RawReading(
            "B1-S-COAL-M",
            (dt.datetime(2025, 3, 1, tzinfo=CST) + dt.timedelta(minutes=15 * k)).isoformat(),
            2.5,
        )
        for k in range(1, 96 * 31 + 1)
    ]
    ingest(db, march)
    with Session(db.engine) as session:
        done = sync_activity(session, library)
        session.commit()
    assert (done.created, done.kept_entered) == (1, 0)
    periods = {r["period"] for r in done.recomputed}
    assert "2025" in periods
    with Session(db.engine) as session:
        datum = session.scalars(
            select(ActivityDatum).where(
                ActivityDatum.source_id == source, ActivityDatum.period_start == dt.date(2025, 3, 1)
            )
        ).one()
        assert (datum.origin, datum.amount) == ("meter", pytest.approx(2.5 * 96 * 31))
    # A late correction changes the month: the datum follows, with a new version.
    ingest(db, [RawReading("B1-S-COAL-M", march[10].ts, 12.5)])
    with Session(db.engine) as session:
        again = sync_activity(session, library)
        session.commit()
        datum = session.get(ActivityDatum, datum.id)
        assert datum is not None
        assert (again.updated, datum.version) == (1, 2)
        assert datum.amount == pytest.approx(2.5 * 96 * 31 + 10)
    # Entered data is never overwritten by meters.
    ingest(db, [RawReading("B1-S-COAL-M", stamp(5, 15, month=4).replace("2026", "2025"), 1.0)])
    with Session(db.engine) as session:
        third = sync_activity(session, library)
        session.commit()
    assert (third.kept_entered, third.created, third.updated) == (1, 0, 0)


def test_a_month_with_only_a_counter_baseline_is_unknown_not_zero(
    db: Database, world: World, library: Any
) -> None:
    """A counter's first reading at 00:00 on 1 April ends an interval of 31 March whose
    consumption is unknown: March gets no activity datum (not a zero), April gets the
    measured intervals, and the month rollups count measured intervals only."""
    from shuangtan.adapters.db.models import ActivityDatum
    from shuangtan.adapters.db.readings import sync_activity

    source = world.source["B1-S-COAL"]
    meter = world.meter["B1-S-COAL"]
    make_cumulative(db, meter)
    with Session(db.engine) as session:
        session.execute(text("DELETE FROM activity_data WHERE source_id = :s"), {"s": source})
        session.execute(text("UPDATE meters SET unit = 't' WHERE id = :m"), {"m": meter})
        session.commit()
    april = dt.datetime(2025, 4, 1, tzinfo=CST)
    counters = [
        RawReading("B1-S-COAL-M", (april + dt.timedelta(minutes=15 * k)).isoformat(), 100 + k)
        for k in range(5)
    ]
    ingest(db, counters)
    month = {(b + dt.timedelta(hours=8)).month: v for b, v in rollups(db, meter, "month").items()}
    assert month == {3: (0.0, 0), 4: (pytest.approx(8.0), 4)}  # 4 intervals × 1 × 2
    with Session(db.engine) as session:
        done = sync_activity(session, library)
        session.commit()
        data = {
            d.period_start: d.amount
            for d in session.scalars(select(ActivityDatum).where(ActivityDatum.source_id == source))
        }
    assert (done.created, done.unchanged) == (1, 1)
    assert data == {dt.date(2025, 4, 1): pytest.approx(8.0)}
    # A late reading before the baseline measures the baseline's interval: March counts it.
    ingest(db, [RawReading("B1-S-COAL-M", (april - dt.timedelta(minutes=15)).isoformat(), 99.5)])
    month = {(b + dt.timedelta(hours=8)).month: v for b, v in rollups(db, meter, "month").items()}
    assert month[3] == (pytest.approx(1.0), 1)
    assert month[4] == (pytest.approx(8.0), 4)


def test_a_failing_sync_pass_tries_again_by_itself(library: Any) -> None:
    """The database away for two attempts: the syncer retries without another poke."""
    import threading
    import time

    from shuangtan.adapters.db.readings import Syncer, SyncResult

    attempts: list[float] = []
    done = threading.Event()

    def run_now() -> SyncResult:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise ConnectionError("database restarting")
        done.set()
        return SyncResult()

    syncer = Syncer(lambda: None, library, delay_s=0.05)  # type: ignore[arg-type, return-value]
    syncer.run_now = run_now  # type: ignore[method-assign]
    syncer.poke()
    assert done.wait(10), f"no successful pass after {len(attempts)} attempts"
    assert syncer.failures == 2 and len(attempts) == 3
    syncer.close()
    syncer.poke()  # closed: schedules nothing
    time.sleep(0.2)
    assert len(attempts) == 3


def test_a_value_too_large_once_multiplied_is_refused(db: Database, world: World) -> None:
    """1e308 is finite, but × the multiplier it is not: it would make the rollups NaN."""
    meter = world.meter["B1-S-COAL"]
    with Session(db.engine) as session:
        session.execute(text("UPDATE meters SET multiplier = 2 WHERE id = :m"), {"m": meter})
        session.commit()
    result = ingest(db, [RawReading("B1-S-COAL-M", stamp(1, 15), 1e308)])
    assert (result.stored, result.quarantined) == (0, 1)
    assert result.rejected[0].reason.value == "bad_value"
    assert "too large" in result.rejected[0].message

"""The PostgreSQL writer's fast paths: new rollup buckets by COPY, its fallback, JIT off.

The writer sends the rollup buckets that hold no stored reading straight to ``meter_rollups``
by COPY and upserts only the others (``ReadingsWriter._pg_add_rollups``). These tests hold it
to the upsert's answer where the two could part: batches mixing new and existing buckets at
every resolution, and rollup rows left behind by readings deleted by hand (the COPY's premise
broken: the savepoint falls back to the upsert). They run on both backends; SQLite always
upserts, so it gives the reference answer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import MeterRollup, Reading
from shuangtan.adapters.db.readings import (
    SAVEPOINTS_PER_TRANSACTION,
    IngestResult,
    ReadingsWriter,
    naive_to_us,
    us_to_naive,
)
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.domain.readings import Channel, RawReading, Resolution
from shuangtan.services.readings import bucket_starts
from tests.platform_fixtures import Database
from tests.world import World

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
CST = dt.timezone(dt.timedelta(hours=8))
CODE = "B1-S-COAL-M"


def ingest(db: Database, raws: list[RawReading]) -> IngestResult:
    with Session(db.engine) as session:
        result = ReadingsWriter(session).ingest(
            raws,
            resolve=Store(session, SYSTEM).meter_resolver(),
            now=NOW,
            channel=Channel.HTTP,
        )
        session.commit()
    return result


def at(day: int, minute: int, month: int = 1) -> str:
    return (dt.datetime(2026, month, day, tzinfo=CST) + dt.timedelta(minutes=minute)).isoformat()


def stored_rollups(db: Database, meter_id: int) -> dict[tuple[str, dt.datetime], tuple[float, int]]:
    with Session(db.engine) as session:
        return {
            (r.resolution, r.bucket): (r.value, r.n)
            for r in session.scalars(select(MeterRollup).where(MeterRollup.meter_id == meter_id))
        }


def sums_of_readings(db: Database, meter_id: int) -> dict[tuple[str, dt.datetime], float]:
    """Each hour's, day's and month's sum of the stored readings, computed afresh."""
    with Session(db.engine) as session:
        readings = session.scalars(select(Reading).where(Reading.meter_id == meter_id)).all()
    sums: dict[tuple[str, dt.datetime], float] = defaultdict(float)
    ts_us = np.asarray([naive_to_us(r.ts) for r in readings], np.int64)
    for resolution in (Resolution.HOUR, Resolution.DAY, Resolution.MONTH):
        starts = bucket_starts(ts_us, resolution)
        for reading, start in zip(readings, starts.tolist(), strict=True):
            sums[(resolution.value, us_to_naive(start))] += reading.value
    return dict(sums)


def test_batches_mixing_new_and_existing_buckets_sum_like_a_fresh_count(
    db: Database, world: World
) -> None:
    meter = world.meter["B1-S-COAL"]
    # Half an hour, a day and a month already started; then a batch that continues them,
    # opens new hours and a new day and month, and brings a late reading into an old hour.
    ingest(db, [RawReading(CODE, at(31, 15 * k), 1.0) for k in range(1, 3)])
    late_and_new = [RawReading(CODE, at(31, 15 * k), 2.0) for k in range(3, 90)]
    late_and_new.append(RawReading(CODE, at(31, 10), 5.0))
    late_and_new += [RawReading(CODE, at(1, 15 * k, month=2), 3.0) for k in range(1, 9)]
    result = ingest(db, late_and_new)
    assert (result.stored, result.quarantined) == (len(late_and_new), 0)
    # And a batch wholly in buckets that exist: the upsert alone.
    ingest(db, [RawReading(CODE, at(31, 15 * k + 5), 0.5) for k in range(0, 8)])

    rollups = stored_rollups(db, meter)
    expected = sums_of_readings(db, meter)
    assert set(rollups) == set(expected)
    for key, total in expected.items():
        assert rollups[key][0] == pytest.approx(total, rel=1e-12), key
    value, n = rollups[("month", dt.datetime(2026, 1, 31, 16))]  # February: 8 readings of 3.0
    assert (value, n) == (24.0, 8)


def test_rollup_rows_left_by_deleted_readings_still_take_the_increments(
    db: Database, world: World
) -> None:
    """Readings deleted by hand leave their rollups: the batch must not fail on them.

    The fast path would COPY those buckets as new and hit their rows; it falls back to the
    upsert, which adds the increments as it always did.
    """
    meter = world.meter["B1-S-COAL"]
    day = [RawReading(CODE, at(2, 15 * k), 1.5) for k in range(1, 97)]
    ingest(db, day)
    with Session(db.engine) as session:
        session.execute(text("DELETE FROM readings WHERE meter_id = :m"), {"m": meter})
        session.commit()
    again = ingest(db, day)
    assert (again.stored, again.duplicates, again.quarantined) == (96, 0, 0)
    rollups = stored_rollups(db, meter)
    # The first day's increments plus the second's: what the upsert alone gives.
    value, n = rollups[("day", dt.datetime(2026, 1, 1, 16))]
    assert (value, n) == (288.0, 192)
    assert all(n == 8 for (res, _), (_, n) in rollups.items() if res == "hour")


def test_the_writer_turns_jit_off_for_its_own_transaction_only(db: Database, world: World) -> None:
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no JIT")
    with Session(db.engine) as session:
        before: str = session.execute(text("SHOW jit")).scalar_one()
        session.commit()
        ReadingsWriter(session).ingest(
            [RawReading(CODE, at(3, 15), 1.0)],
            resolve=Store(session, SYSTEM).meter_resolver(),
            now=NOW,
            channel=Channel.HTTP,
        )
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
        session.commit()
        assert session.execute(text("SHOW jit")).scalar_one() == before


def test_one_transaction_opens_a_bounded_number_of_savepoints(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An MQTT batch stores each organisation with its own call, all in one transaction.

    Each fast path's savepoint keeps a subtransaction id in the backend's cache of 64 until
    the commit. Past the bound, calls take the upsert instead, with the same result; the next
    transaction may open them again.
    """
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no savepoints here")
    opened: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(query, str) and query.startswith("SAVEPOINT rollups_fresh"):
            opened.append(query)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    meter = world.meter["B1-S-COAL"]
    calls = SAVEPOINTS_PER_TRANSACTION + 8
    with Session(db.engine) as session:
        writer = ReadingsWriter(session)
        resolve = Store(session, SYSTEM).meter_resolver()
        for k in range(calls):
            # A new hour each call: every call has a new bucket to COPY.
            raws = [RawReading(CODE, at(4, 60 * k + 15 * j), 1.0) for j in range(1, 5)]
            result = writer.ingest(raws, resolve=resolve, now=NOW, channel=Channel.HTTP)
            assert result.stored == 4
        session.commit()
        assert len(opened) == SAVEPOINTS_PER_TRANSACTION
        writer.ingest(
            [RawReading(CODE, at(6, 15), 1.0)], resolve=resolve, now=NOW, channel=Channel.HTTP
        )
        session.commit()
    assert len(opened) == SAVEPOINTS_PER_TRANSACTION + 1
    rollups = stored_rollups(db, meter)
    assert sum(n for (res, _), (_, n) in rollups.items() if res == "hour") == 4 * calls + 1
    for key, total in sums_of_readings(db, meter).items():
        assert rollups[key][0] == pytest.approx(total, rel=1e-12), key

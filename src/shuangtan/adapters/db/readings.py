"""Readings in the database: one transaction per batch, the same plan on SQLite and PostgreSQL.

For each batch the writer

1. checks the readings (:func:`shuangtan.services.readings.parse_readings`);
2. locks the batch's meters (so two ingest workers never interleave on one meter);
3. reads, per meter, the stored readings from the one before the batch to the one after it;
4. plans the writes (:func:`shuangtan.services.readings.plan_batch`);
5. writes readings, corrections, rollup increments, the months whose activity must follow,
   and the quarantine. On PostgreSQL, new readings and rollup buckets that do not exist yet go
   by binary ``COPY`` straight into their tables (step 2's locks make that safe); rows that
   replace or add to stored ones go by binary ``COPY`` into a temporary staging table, then
   ``INSERT … ON CONFLICT``.

The caller commits; until then nothing is visible, so a batch lands whole or not at all. On
PostgreSQL the writer turns JIT compilation off for the rest of the transaction (see
:meth:`ReadingsWriter._lock_meters`).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

import numpy as np
import psycopg
from sqlalchemy import Date, DateTime, Engine, bindparam, select, text
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Meter, MeterReplacement, QuarantinedReading
from shuangtan.domain.readings import Channel, RawReading, Rejected, Resolution
from shuangtan.errors import ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.readings import (
    HOUR_US,
    LOCAL_OFFSET_US,
    Batch,
    Existing,
    MeterInfo,
    Plan,
    Replacement,
    bucket_starts,
    dedupe,
    month_start_us,
    parse_readings,
    plan_batch,
)

__all__ = [
    "IngestResult",
    "ReadingsWriter",
    "SyncResult",
    "Syncer",
    "meter_info",
    "month_total",
    "naive_to_us",
    "sync_activity",
    "us_to_naive",
]

_PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01 UTC in µs since 1970
_EPOCH = dt.datetime(1970, 1, 1)
#: At most this many quarantine rows are returned in an answer (all are stored).
QUARANTINE_SHOWN: Final = 100
#: Fast-path savepoints (see ``ReadingsWriter._pg_add_rollups``) one transaction may open;
#: later batches of it take the upsert. Each subtransaction that writes keeps one of the 64
#: subtransaction ids a PostgreSQL backend caches until the top-level commit; past 64, every
#: snapshot taken meanwhile anywhere in the cluster must look them up in ``pg_subtrans``. An
#: MQTT batch stores each organisation's readings with its own call, in one transaction.
SAVEPOINTS_PER_TRANSACTION: Final = 32
_SAVEPOINTS_KEY: Final = "shuangtan.readings.savepoints"
#: The ``meters`` columns ingestion reads: :class:`MeterInfo`'s fields, in their order.
_METER_FIELDS: Final = tuple(f.name for f in fields(MeterInfo))


def us_to_naive(ts_us: int) -> dt.datetime:
    """Naive UTC datetime (the storage convention) of µs since the epoch."""
    return _EPOCH + dt.timedelta(microseconds=int(ts_us))


def naive_to_us(ts: dt.datetime) -> int:
    """µs since the epoch of a naive UTC datetime."""
    delta = ts - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def meter_info(meter: Meter) -> MeterInfo:
    """What ingestion needs of a meter row."""
    return MeterInfo(
        id=meter.id,
        org_id=meter.org_id,
        code=meter.code,
        kind=meter.kind,
        unit=meter.unit,
        multiplier=meter.multiplier,
        interval_s=meter.interval_s,
        active=meter.active,
        rollover_at=meter.rollover_at,
        max_per_hour=meter.max_per_hour,
        source_id=meter.source_id,
    )


@dataclass
class IngestResult:
    """What happened to a batch.

    Attributes
    ----------
    received : int
        Readings received.
    stored : int
        New readings stored.
    corrected : int
        Stored readings replaced by another value (the old value is kept in the changes).
    duplicates : int
        Readings identical to stored ones: nothing changed.
    quarantined : int
        Readings refused, kept in the quarantine with the reason.
    rejected : list[Rejected]
        The refused readings (the first :data:`QUARANTINE_SHOWN` are shown in answers).
    quarantine_ids : list[int]
        Their quarantine rows.
    months : set[tuple[int, dt.date]]
        ``(source id, month)`` whose activity must follow the meters.
    """

    received: int = 0
    stored: int = 0
    corrected: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    quarantine_ids: list[int] = field(default_factory=list)
    months: set[tuple[int, dt.date]] = field(default_factory=set)

    def add(self, other: IngestResult) -> None:
        """Accumulate another batch's result."""
        self.received += other.received
        self.stored += other.stored
        self.corrected += other.corrected
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        room = QUARANTINE_SHOWN - len(self.rejected)
        if room > 0:
            self.rejected.extend(other.rejected[:room])
            self.quarantine_ids.extend(other.quarantine_ids[:room])
        self.months |= other.months

    def summary(self) -> dict[str, Any]:
        """The counts and the first refused readings, JSON-able."""
        return {
            "received": self.received,
            "stored": self.stored,
            "corrected": self.corrected,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "quarantine": [
                {
                    "id": qid,
                    "ref": r.ref,
                    "reason": r.reason.value,
                    "field": r.field,
                    "message": r.message,
                }
                for qid, r in zip(
                    self.quarantine_ids, self.rejected[:QUARANTINE_SHOWN], strict=False
                )
            ],
        }


class ReadingsWriter:
    """Writes batches of readings within the caller's session (the caller commits).

    Parameters
    ----------
    session : Session
        An open session; its transaction holds the batch.

    Notes
    -----
    On PostgreSQL each batch sets ``jit = off`` with ``SET LOCAL``: it holds until the
    caller's commit or rollback, so statements the caller runs after a batch in the same
    transaction are not JIT-compiled either. A batch may also open (and release) a savepoint,
    at most :data:`SAVEPOINTS_PER_TRANSACTION` in one transaction.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        bind = session.get_bind()
        self.engine: Engine = bind.engine if hasattr(bind, "engine") else bind  # type: ignore[assignment]
        self.postgres = self.engine.dialect.name == "postgresql"

    # --- the batch ------------------------------------------------------------------------

    def ingest(
        self,
        raws: Sequence[RawReading],
        *,
        resolve: Callable[[str], MeterInfo | Rejected],
        now: dt.datetime,
        channel: Channel,
        user_id: int | None = None,
        org_id: int | None = None,
        job_id: int | None = None,
        assume_tz: dt.tzinfo | None = None,
    ) -> IngestResult:
        """Check, deduplicate and store a batch; quarantine what fails.

        Parameters
        ----------
        raws : sequence of RawReading
            The readings as received.
        resolve : callable
            Meter reference → meter, or why not (see :func:`parse_readings`).
        now : datetime.datetime
            Server clock (aware).
        channel : Channel
            How they arrived.
        user_id : int, optional
            Who sent them.
        org_id : int, optional
            Organisation the sender wrote to, for quarantined rows whose meter is unknown.
        job_id : int, optional
            The import job they belong to.
        assume_tz : datetime.tzinfo, optional
            Zone for timestamps without one.
        """
        batch, rejected = parse_readings(raws, resolve, now=now, assume_tz=assume_tz)
        result = self._store(batch, channel, user_id, now)
        result.received = len(raws)
        rejected.extend(result.rejected)
        if rejected:
            result.quarantine_ids = self.quarantine(
                rejected, channel=channel, user_id=user_id, org_id=org_id, job_id=job_id, now=now
            )
            result.quarantined = len(rejected)
            result.rejected = rejected[:QUARANTINE_SHOWN]
            result.quarantine_ids = result.quarantine_ids[:QUARANTINE_SHOWN]
        return result

    def ingest_arrays(
        self,
        meter_id: np.ndarray,
        ts_us: np.ndarray,
        raw: np.ndarray,
        *,
        now: dt.datetime,
        channel: Channel,
    ) -> IngestResult:
        """Store readings already checked (the demo loader, the benchmarks): plan and write.

        The values still go through deduplication, counters and rollups; only the per-row
        checks of :func:`parse_readings` are skipped.
        """
        batch = dedupe(
            meter_id.astype(np.int64),
            ts_us.astype(np.int64),
            raw.astype(np.float64),
            [""] * len(meter_id),
        )
        result = self._store(batch, channel, None, now)
        if result.rejected:
            self.quarantine(
                result.rejected, channel=channel, user_id=None, org_id=None, job_id=None, now=now
            )
            result.quarantined = len(result.rejected)
        return result

    def _store(
        self, batch: Batch, channel: Channel, user_id: int | None, now: dt.datetime
    ) -> IngestResult:
        """Lock, read the neighbours, plan and write a checked batch; queue changed months.

        The plan's refusals (counters running backwards …) are returned in ``rejected``,
        not yet quarantined.
        """
        result = IngestResult(received=len(batch))
        if not len(batch):
            return result
        ids = sorted(int(m) for m in np.unique(batch.meter_id))
        meters = self._lock_meters(ids)
        self._ensure_partitions(batch.ts_us)
        existing = self._existing(batch.bounds())
        replacements = self._replacements([m for m in ids if meters[m].kind == "cumulative"])
        plan = plan_batch(batch, existing, meters, replacements)
        self._write(plan, existing, channel, user_id, now)
        result.stored, result.corrected, result.duplicates = (
            plan.inserted,
            plan.corrected,
            plan.duplicates,
        )
        result.rejected = plan.rejected
        result.months = {
            (source, _local_month(b))
            for m, b in plan.months
            if (source := meters[m].source_id) is not None
        }
        self.queue_months(result.months, now)
        return result

    # --- steps -----------------------------------------------------------------------------

    def _lock_meters(self, ids: list[int]) -> dict[int, MeterInfo]:
        """Lock the meters (in id order, so workers never deadlock) and read them.

        Only the columns ingestion needs, as plain rows: ORM objects cost ~15 µs each to
        build (6 ms of the 8 ms this took for 400 meters), and objects already in the session
        would come back with the values they were loaded with, not those read under the lock.
        """
        if self.session.autoflush:
            # As an ORM query would: a meter or replacement edited in this session and not
            # yet flushed must be what the batch reads.
            self.session.flush()
        if self.postgres:
            raw: Any = self.session.connection().connection.driver_connection
            with raw.cursor() as cur:
                # No JIT for the rest of this transaction: the planner's estimate for the
                # neighbours' query grows with the number of month partitions (400 meters
                # pass jit_above_cost at about 25 of them), and compiling then costs
                # 100–450 ms a batch for a query that runs in 4 ms.
                cur.execute("SET LOCAL jit = off")
                cur.execute(
                    f"SELECT {', '.join(_METER_FIELDS)} FROM meters WHERE id = ANY(%s) "
                    "ORDER BY id FOR UPDATE",
                    (ids,),
                )
                return {row[0]: MeterInfo(*row) for row in cur}
        # SQLite: a write first takes the database's write lock for this transaction, so
        # what is read next cannot change before the commit.
        self.session.execute(
            text("UPDATE meters SET interval_s = interval_s WHERE id = :id"), {"id": ids[0]}
        )
        table: Any = Meter.__table__
        stmt = select(*(table.c[name] for name in _METER_FIELDS)).where(table.c.id.in_(ids))
        return {row.id: MeterInfo(**row._mapping) for row in self.session.execute(stmt)}

    #: ``(database, partition)`` known to exist, per process (partitions are never dropped).
    _partitions: set[tuple[str, str]] = set()  # noqa: RUF012

    def ensure_partitions(self, ts_us: np.ndarray) -> None:
        """PostgreSQL: create the month partitions for ``ts_us`` [µs UTC] (own transaction).

        Call it before a transaction that stores several batches touches ``readings``:
        creating a partition needs a lock that the caller's own open transaction, holding
        ``readings``, would never let go of.
        """
        if len(ts_us):
            self._ensure_partitions(ts_us)

    def _ensure_partitions(self, ts_us: np.ndarray) -> None:
        """PostgreSQL: create the month partitions the batch needs (own transaction)."""
        if not self.postgres:
            return
        bounds = np.array([ts_us.min(), ts_us.max()]).astype("datetime64[us]")
        months = bounds.astype("datetime64[M]")
        if months[0] != months[1]:
            months = np.unique(ts_us.astype("datetime64[us]").astype("datetime64[M]"))
        else:
            months = months[:1]  # the common case, without converting every stamp
        database = self.engine.url.render_as_string(hide_password=True)
        missing = [m for m in months if (database, _partition_name(m)) not in self._partitions]
        if not missing:
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for month in missing:
                name = _partition_name(month)
                start = str(month.astype("datetime64[D]"))
                end = str((month + 1).astype("datetime64[D]"))
                exists = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
                if exists is None:
                    try:
                        conn.execute(
                            text(
                                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings "
                                f"FOR VALUES FROM ('{start}') TO ('{end}')"
                            )
                        )
                    except Exception:
                        if (
                            conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
                            is None
                        ):
                            raise
                self._partitions.add((database, name))

    def _existing(self, bounds: list[tuple[int, int, int]]) -> Existing:
        """Stored readings from the one before each meter's span to the one after it."""
        if not bounds:
            return Existing.empty()
        raw: Any = self.session.connection().connection.driver_connection
        rows: list[tuple[int, int, float, float, int]] = []
        if self.postgres:
            # Bounds in and stamps out as µs integers, binary: no datetime objects either way.
            sql = """
                SELECT r.meter_id, (extract(epoch FROM r.ts) * 1000000)::int8,
                       r.raw, r.value, r.flags
                FROM (
                    SELECT u.m AS meter_id,
                           %(epoch)s::timestamp + u.lo * interval '1 microsecond' AS lo,
                           %(epoch)s::timestamp + u.hi * interval '1 microsecond' AS hi
                    FROM unnest(%(m)s::int4[], %(lo)s::int8[], %(hi)s::int8[]) AS u(m, lo, hi)
                ) AS b
                JOIN LATERAL (
                    (SELECT * FROM readings p WHERE p.meter_id = b.meter_id AND p.ts < b.lo
                     ORDER BY p.ts DESC LIMIT 1)
                    UNION ALL
                    (SELECT * FROM readings s WHERE s.meter_id = b.meter_id
                     AND s.ts >= b.lo AND s.ts <= b.hi)
                    UNION ALL
                    (SELECT * FROM readings n WHERE n.meter_id = b.meter_id AND n.ts > b.hi
                     ORDER BY n.ts LIMIT 1)
                ) r ON true
            """
            with raw.cursor(binary=True) as cur:
                cur.execute(
                    sql,
                    {
                        "epoch": _EPOCH,
                        "m": [b[0] for b in bounds],
                        "lo": [b[1] for b in bounds],
                        "hi": [b[2] for b in bounds],
                    },
                )
                rows = cur.fetchall()
        else:
            cur = raw.cursor()
            try:
                for meter_id, lo, hi in bounds:
                    lo_s, hi_s = _sqlite_ts(lo), _sqlite_ts(hi)
                    for sql, args in (
                        (
                            "SELECT meter_id, ts, raw, value, flags FROM readings "
                            "WHERE meter_id = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                            (meter_id, lo_s),
                        ),
                        (
                            "SELECT meter_id, ts, raw, value, flags FROM readings "
                            "WHERE meter_id = ? AND ts >= ? AND ts <= ?",
                            (meter_id, lo_s, hi_s),
                        ),
                        (
                            "SELECT meter_id, ts, raw, value, flags FROM readings "
                            "WHERE meter_id = ? AND ts > ? ORDER BY ts LIMIT 1",
                            (meter_id, hi_s),
                        ),
                    ):
                        for m, ts, r, v, f in cur.execute(sql, args):
                            rows.append((m, _sqlite_us(ts), r, v, f))
            finally:
                cur.close()
        return Existing.from_rows(rows)

    def _replacements(self, meter_ids: list[int]) -> list[Replacement]:
        if not meter_ids:
            return []
        if self.postgres:
            # One array parameter, not an IN list of hundreds of bound values.
            raw: Any = self.session.connection().connection.driver_connection
            with raw.cursor() as cur:
                cur.execute(
                    "SELECT meter_id, ts, old_final, new_initial FROM meter_replacements "
                    "WHERE meter_id = ANY(%s)",
                    (meter_ids,),
                )
                return [Replacement(m, naive_to_us(ts), old, new) for m, ts, old, new in cur]
        rows = self.session.execute(
            MeterReplacement.__table__.select().where(MeterReplacement.meter_id.in_(meter_ids))
        ).mappings()
        return [
            Replacement(r["meter_id"], naive_to_us(r["ts"]), r["old_final"], r["new_initial"])
            for r in rows
        ]

    def _write(
        self,
        plan: Plan,
        existing: Existing,
        channel: Channel,
        user_id: int | None,
        now: dt.datetime,
    ) -> None:
        raw: Any = self.session.connection().connection.driver_connection
        changed_at = now.astimezone(dt.UTC).replace(tzinfo=None)
        if len(plan):
            if self.postgres:
                self._pg_upsert_readings(raw, plan)
            else:
                stamps = _sqlite_ts_array(plan.ts_us)
                raw.executemany(
                    "INSERT INTO readings (meter_id, ts, raw, value, flags) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (meter_id, ts) DO UPDATE SET raw = excluded.raw, "
                    "value = excluded.value, flags = excluded.flags",
                    zip(
                        plan.meter_id.tolist(),
                        stamps,
                        plan.raw.tolist(),
                        plan.value.tolist(),
                        plan.flags.tolist(),
                        strict=True,
                    ),
                )
        if plan.changes:
            self.session.execute(
                text(
                    "INSERT INTO reading_changes (meter_id, ts, old_raw, new_raw, channel, "
                    "changed_at, changed_by) VALUES (:m, :ts, :old, :new, :ch, :at, :by)"
                ).bindparams(bindparam("ts", type_=DateTime()), bindparam("at", type_=DateTime())),
                [
                    {
                        "m": m,
                        "ts": us_to_naive(t),
                        "old": old,
                        "new": new,
                        "ch": channel.value,
                        "at": changed_at,
                        "by": user_id,
                    }
                    for m, t, old, new in plan.changes
                ],
            )
        if self.postgres:
            self._pg_add_rollups(raw, plan, existing)
            return
        rollups: list[dict[str, Any]] = []
        for resolution, (m, b, dv, dn) in plan.rollups.items():
            for mid, bucket, value, count in zip(
                m.tolist(), b.tolist(), dv.tolist(), dn.tolist(), strict=True
            ):
                rollups.append(
                    {
                        "m": mid,
                        "r": resolution.value,
                        "b": us_to_naive(bucket),
                        "v": value,
                        "n": count,
                    }
                )
        if rollups:
            self.session.execute(
                text(
                    "INSERT INTO meter_rollups (meter_id, resolution, bucket, value, n) "
                    "VALUES (:m, :r, :b, :v, :n) ON CONFLICT (meter_id, resolution, bucket) "
                    "DO UPDATE SET value = meter_rollups.value + excluded.value, "
                    "n = meter_rollups.n + excluded.n"
                ).bindparams(bindparam("b", type_=DateTime())),
                rollups,
            )

    def _pg_add_rollups(self, raw: Any, plan: Plan, existing: Existing) -> None:
        """PostgreSQL: add the plan's rollup increments, new buckets by COPY.

        A bucket that holds no stored reading has no rollup row yet: rows are only ever made
        by adding a written reading's increment, in the transaction that writes the reading,
        and readings are never deleted. ``existing`` holds, for each meter of the batch,
        every stored reading from the one before the batch to the one after it, so it tells
        exactly which of the plan's buckets are new. Those (in the live case, appending: all
        but each meter's first hour, day and month) go by binary COPY straight into
        ``meter_rollups`` (~1.3 µs a row in PostgreSQL); only the others take the upsert
        (binary COPY into a staging table, then ``INSERT … ON CONFLICT``, ~5 µs a row).
        Straight COPY is safe for the same reason as the readings': the batch's meters are
        locked, so no other writer can make one of these buckets before the commit. Should
        the premise ever fail (readings deleted by hand), the COPY's unique violation rolls
        back to a savepoint and those increments take the upsert too, as before. Once a
        transaction has opened :data:`SAVEPOINTS_PER_TRANSACTION` of these savepoints, its
        later batches take the upsert for everything.

        Five statements in the common case, whatever the number of buckets.
        """
        fast = self._savepoints_opened() < SAVEPOINTS_PER_TRANSACTION
        fresh: list[tuple[Resolution, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        held: list[bytes] = []
        for resolution, (m, b, dv, dn) in plan.rollups.items():
            if not len(m):
                continue
            if fast:
                stored = np.unique(
                    _bucket_keys(existing.meter_id, bucket_starts(existing.ts_us, resolution))
                )
                old = np.isin(_bucket_keys(m, b), stored, assume_unique=True)
            else:
                old = np.ones(len(m), bool)
            if not old.all():
                new = ~old
                fresh.append((resolution, m[new], b[new], dv[new], dn[new]))
            if old.any():
                held.append(_pgcopy_staged(resolution, m[old], b[old], dv[old], dn[old]))
        with raw.cursor() as cur:
            if held:
                _pg_stage_rollups(cur, held)
            if fresh:
                # Only the straight COPY runs in the savepoint: a subtransaction that writes
                # holds a subtransaction id until the commit (see SAVEPOINTS_PER_TRANSACTION).
                cur.execute("SAVEPOINT rollups_fresh")
                self._savepoints_opened(add=1)
                try:
                    with cur.copy(
                        "COPY meter_rollups (meter_id, resolution, bucket, value, n) "
                        "FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.write(
                            _HEADER
                            + b"".join(_pgcopy_rollups(*part) for part in fresh)
                            + b"\xff\xff"
                        )
                except psycopg.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT rollups_fresh")
                    staged = [_pgcopy_staged(*part) for part in fresh]
                    _pg_stage_rollups(cur, staged, append=bool(held))
                    held += staged
            if not held:
                if fresh:
                    cur.execute("RELEASE SAVEPOINT rollups_fresh")
                return
            cur.execute(
                ("RELEASE SAVEPOINT rollups_fresh; " if fresh else "")
                + "INSERT INTO meter_rollups (meter_id, resolution, bucket, value, n) "
                f"SELECT meter_id, ({_RESOLUTION_NAMES})[res], bucket, value, n "
                "FROM rollups_stage ON CONFLICT (meter_id, resolution, bucket) "
                "DO UPDATE SET value = meter_rollups.value + excluded.value, "
                "n = meter_rollups.n + excluded.n"
            )

    def _savepoints_opened(self, add: int = 0) -> int:
        """Rollup savepoints the session's current transaction has opened (after ``add``).

        Kept in the session, so that every writer of one transaction counts together.
        """
        transaction = self.session.get_transaction()
        seen = self.session.info.get(_SAVEPOINTS_KEY)
        opened = (seen[1] if seen is not None and seen[0] is transaction else 0) + add
        if add:
            self.session.info[_SAVEPOINTS_KEY] = (transaction, opened)
        return int(opened)

    def _pg_upsert_readings(self, raw: Any, plan: Plan) -> None:
        """PostgreSQL: new keys by COPY into ``readings``, changed ones by staging + upsert.

        New keys go by binary COPY straight into the table; the rows a batch changes
        (corrections, re-planned neighbours) through a staging table and
        ``INSERT … ON CONFLICT``. Straight COPY is safe because the batch's meters are
        locked: no other writer can add one of these keys before the commit (and if one did,
        the batch would fail whole).
        """
        fresh = plan.fresh
        with raw.cursor() as cur:
            if fresh.any():
                with cur.copy(
                    "COPY readings (meter_id, ts, raw, value, flags) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.write(_pgcopy_rows(plan, fresh))
            if fresh.all():
                return
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS readings_stage "
                "(meter_id int4, ts timestamp, raw float8, value float8, flags int4) "
                "ON COMMIT DELETE ROWS"
            )
            cur.execute("TRUNCATE readings_stage")
            with cur.copy(
                "COPY readings_stage (meter_id, ts, raw, value, flags) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(_pgcopy_rows(plan, ~fresh))
            cur.execute(
                "INSERT INTO readings (meter_id, ts, raw, value, flags) "
                "SELECT meter_id, ts, raw, value, flags FROM readings_stage "
                "ON CONFLICT (meter_id, ts) DO UPDATE SET raw = EXCLUDED.raw, "
                "value = EXCLUDED.value, flags = EXCLUDED.flags"
            )

    def queue_months(self, months: Iterable[tuple[int, dt.date]], now: dt.datetime) -> None:
        """Queue ``(source id, month)`` for the activity sync."""
        rows = [
            {"s": s, "m": m, "at": now.astimezone(dt.UTC).replace(tzinfo=None)} for s, m in months
        ]
        if rows:
            self.session.execute(
                text(
                    "INSERT INTO activity_sync_queue (source_id, month, queued_at) "
                    "VALUES (:s, :m, :at) ON CONFLICT (source_id, month) "
                    "DO UPDATE SET queued_at = excluded.queued_at"
                ).bindparams(bindparam("m", type_=Date()), bindparam("at", type_=DateTime())),
                rows,
            )

    def quarantine(
        self,
        rejected: Sequence[Rejected],
        *,
        channel: Channel,
        user_id: int | None,
        org_id: int | None,
        job_id: int | None,
        now: dt.datetime,
    ) -> list[int]:
        """Store refused readings with their reasons; the ids of the first ones shown.

        A row goes with its meter's organisation, else with ``org_id`` (the sender's target).
        """
        meter_orgs: dict[int, int] = {}
        meter_ids = {r.meter_id for r in rejected if r.meter_id is not None}
        if meter_ids:
            meter_orgs = dict(
                self.session.execute(
                    Meter.__table__.select()
                    .with_only_columns(Meter.id, Meter.org_id)
                    .where(Meter.id.in_(meter_ids))
                ).all()
            )
        received = now.astimezone(dt.UTC).replace(tzinfo=None)
        table: Any = QuarantinedReading.__table__
        rows = [
            {
                "meter_id": r.meter_id,
                "org_id": meter_orgs.get(r.meter_id, org_id) if r.meter_id else org_id,
                "submitted_by": user_id,
                "channel": channel.value,
                "ref": r.ref[:200],
                "reason": r.reason.value,
                "field": r.field,
                "message": r.message,
                "raw": r.raw,
                "job_id": job_id,
                "received_at": received,
                "status": "open",
            }
            for r in rejected
        ]
        # Rows one by one with RETURNING would be slow for a big file: only the first ones,
        # shown in the answer, report their ids; the rest go in bulk.
        shown = rows[:QUARANTINE_SHOWN]
        ids = [
            int(self.session.execute(table.insert().returning(table.c.id), row).scalar_one())
            for row in shown
        ]
        if len(rows) > len(shown):
            self.session.execute(table.insert(), rows[len(shown) :])
        return ids


# --- helpers -------------------------------------------------------------------------------


def _partition_name(month: np.datetime64) -> str:
    text_month = str(month)  # 2025-03
    return f"readings_y{text_month[:4]}m{text_month[5:7]}"


def _local_month(bucket_us: int) -> dt.date:
    local = us_to_naive(bucket_us + LOCAL_OFFSET_US)
    return dt.date(local.year, local.month, 1)


def _sqlite_ts(ts_us: int) -> str:
    return us_to_naive(ts_us).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_ts_array(ts_us: np.ndarray) -> list[str]:
    # SQLAlchemy's SQLite DateTime format: 'YYYY-MM-DD HH:MM:SS.ffffff'.
    text_ts = np.datetime_as_string(ts_us.astype("datetime64[us]"), unit="us")
    return [s.replace("T", " ") for s in text_ts.tolist()]


def _sqlite_us(value: str) -> int:
    return naive_to_us(dt.datetime.fromisoformat(value))


_ROW = np.dtype(
    [
        ("nf", ">i2"),
        ("l1", ">i4"),
        ("m", ">i4"),
        ("l2", ">i4"),
        ("ts", ">i8"),
        ("l3", ">i4"),
        ("raw", ">f8"),
        ("l4", ">i4"),
        ("value", ">f8"),
        ("l5", ">i4"),
        ("flags", ">i4"),
    ]
)
_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def _rollup_row(width: int) -> np.dtype[Any]:
    """Binary COPY row of ``meter_rollups`` whose resolution text is ``width`` bytes."""
    return np.dtype(
        [
            ("nf", ">i2"),
            ("l1", ">i4"),
            ("m", ">i4"),
            ("l2", ">i4"),
            ("r", f"S{width}"),
            ("l3", ">i4"),
            ("b", ">i8"),
            ("l4", ">i4"),
            ("v", ">f8"),
            ("l5", ">i4"),
            ("n", ">i4"),
        ]
    )


def _pgcopy_rollups(
    resolution: Resolution,
    meter_id: np.ndarray,
    bucket_us: np.ndarray,
    value: np.ndarray,
    n: np.ndarray,
) -> bytes:
    """Binary COPY rows (no header or trailer) of ``meter_rollups``, built with NumPy."""
    name = resolution.value.encode()
    rows = np.empty(len(meter_id), _rollup_row(len(name)))
    rows["nf"] = 5
    rows["l1"], rows["l2"], rows["l3"], rows["l4"], rows["l5"] = 4, len(name), 8, 8, 4
    rows["m"], rows["r"], rows["b"] = meter_id, name, bucket_us - _PG_EPOCH_US
    rows["v"], rows["n"] = value, n
    return rows.tobytes()


def _bucket_keys(meter_id: np.ndarray, bucket_us: np.ndarray) -> np.ndarray:
    """One int64 per (meter, bucket): the meter in the high half, the bucket's hour in the low.

    Every bucket starts on a whole hour (days and months too: UTC+8 is a whole number of
    hours), and hours since 1970 fit in 32 bits for the next 400,000 years.
    """
    keys: np.ndarray = (meter_id.astype(np.int64) << 32) | (bucket_us // HOUR_US)
    return keys


_STAGED_ROW = np.dtype(
    [
        ("nf", ">i2"),
        ("l1", ">i4"),
        ("m", ">i4"),
        ("l2", ">i4"),
        ("r", ">i2"),
        ("l3", ">i4"),
        ("b", ">i8"),
        ("l4", ">i4"),
        ("v", ">f8"),
        ("l5", ">i4"),
        ("n", ">i8"),
    ]
)
#: Resolutions by their code in the staging table (1-based, as SQL arrays are).
_RESOLUTION_CODES: Final = {r: i for i, r in enumerate(Resolution, start=1)}
_RESOLUTION_NAMES: Final = "ARRAY[" + ", ".join(f"'{r.value}'" for r in Resolution) + "]"


def _pgcopy_staged(
    resolution: Resolution,
    meter_id: np.ndarray,
    bucket_us: np.ndarray,
    value: np.ndarray,
    n: np.ndarray,
) -> bytes:
    """Binary COPY rows (no header or trailer) of the rollup staging table."""
    rows = np.empty(len(meter_id), _STAGED_ROW)
    rows["nf"] = 5
    rows["l1"], rows["l2"], rows["l3"], rows["l4"], rows["l5"] = 4, 2, 8, 8, 8
    rows["m"], rows["r"] = meter_id, _RESOLUTION_CODES[resolution]
    rows["b"], rows["v"], rows["n"] = bucket_us - _PG_EPOCH_US, value, n
    return rows.tobytes()


def _pg_stage_rollups(cur: Any, parts: Sequence[bytes], *, append: bool = False) -> None:
    """Binary COPY rollup increments (:func:`_pgcopy_staged` rows) into the staging table.

    The table is emptied first unless ``append``: an earlier batch of the same transaction
    may have used it (``ON COMMIT DELETE ROWS`` empties it at the commit).
    """
    if not append:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS rollups_stage "
            "(meter_id int4, res int2, bucket timestamp, value float8, n int8) "
            "ON COMMIT DELETE ROWS; DELETE FROM rollups_stage"
        )
    with cur.copy(
        "COPY rollups_stage (meter_id, res, bucket, value, n) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(_HEADER + b"".join(parts) + b"\xff\xff")


def _pgcopy_rows(plan: Plan, which: np.ndarray) -> bytes:
    """PostgreSQL binary COPY of the plan's rows ``which`` (a mask), built with NumPy."""
    rows = np.empty(int(which.sum()), _ROW)
    rows["nf"] = 5
    rows["l1"], rows["l2"], rows["l3"], rows["l4"], rows["l5"] = 4, 8, 8, 8, 4
    rows["m"] = plan.meter_id[which]
    rows["ts"] = plan.ts_us[which] - _PG_EPOCH_US
    rows["raw"] = plan.raw[which]
    rows["value"] = plan.value[which]
    rows["flags"] = plan.flags[which]
    return _HEADER + rows.tobytes() + b"\xff\xff"


# --- meters → activity data ------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one pass of :func:`sync_activity` did.

    Attributes
    ----------
    months : int
        Source-months taken from the queue.
    created, updated, unchanged : int
        Activity data created, corrected, or already equal to the meters.
    kept_entered : int
        Months whose activity was entered or imported by hand: kept, not overwritten (the
        day/month consistency report compares them with the meters).
    failed : list[str]
        Source-months whose activity would not compute, with the reason (left in the queue).
    recomputed : list[dict]
        Inventories recomputed (organisation, period, version, co2e_t).
    """

    months: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_entered: int = 0
    failed: list[str] = field(default_factory=list)
    recomputed: list[Mapping[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-able counts."""
        return {
            "months": self.months,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept_entered": self.kept_entered,
            "failed": self.failed,
            "recomputed": [
                {k: r[k] for k in ("org_id", "period", "version", "co2e_t")}
                for r in self.recomputed
            ],
        }


def month_total(session: Session, source_id: int, month: dt.date, unit: str) -> float | None:
    """Consumption of a source's meters in a local month, in ``unit``; None without data.

    Per meter: the month's rollup if it has measured intervals, else a monthly entry; None
    when no meter of the source has either (no meters, or only a counter's baseline reading).
    """
    from shuangtan.adapters.db.models import MeterMonthly, MeterRollup
    from shuangtan.units import convert

    meters = session.scalars(select(Meter).where(Meter.source_id == source_id)).all()
    if not meters:
        return None
    bucket = us_to_naive(month_start_us(month.year, month.month))
    total = 0.0
    measured = False
    for meter in meters:
        rollup = session.get(MeterRollup, (meter.id, "month", bucket))
        if rollup is not None and rollup.n > 0:
            amount = rollup.value
        else:
            entry = session.scalars(
                select(MeterMonthly).where(
                    MeterMonthly.meter_id == meter.id, MeterMonthly.month == month
                )
            ).first()
            if entry is None:
                continue  # this meter says nothing about the month
            amount = entry.value
        measured = True
        total += float(convert(amount, meter.unit, unit))
    # No meter measured the month (a counter's baseline alone is not a measurement): unknown,
    # not zero.
    return total if measured else None


def sync_activity(
    session: Session,
    library: FactorLibrary,
    *,
    limit: int = 1000,
    user_id: int | None = None,
) -> SyncResult:
    """Make the activity data of queued source-months follow their meters; recompute.

    Monthly rollups become activity data (origin ``meter``) of the meters' source. Data
    entered or imported by hand is never overwritten. The current inventories that cover a
    changed month, of the source's organisation and its ancestors, are recomputed, so late
    readings show in the inventories. The caller commits.
    """
    from shuangtan.adapters.db.models import ActivityDatum, EmissionSource, SyncQueue
    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.services.activity import check_datum, recompute_affected
    from shuangtan.services.inventories import month_bounds

    stmt = select(SyncQueue).order_by(SyncQueue.queued_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    queued = session.scalars(stmt).all()
    result = SyncResult(months=len(queued))
    store = Store(session, SYSTEM)
    spans: dict[int, list[tuple[dt.date, dt.date]]] = {}
    for item in queued:
        source = session.get(EmissionSource, item.source_id)
        if source is None:
            session.delete(item)
            continue
        start, end = month_bounds(item.month.year, item.month.month)
        amount = month_total(session, source.id, item.month, source.unit)
        if amount is None:
            # The meters measured nothing of this month (a counter's baseline at its end).
            result.unchanged += 1
            session.delete(item)
            continue
        datum = session.scalars(
            select(ActivityDatum).where(
                ActivityDatum.source_id == source.id,
                ActivityDatum.period_start == start,
                ActivityDatum.period_end == end,
            )
        ).first()
        if datum is not None and datum.origin != "meter":
            result.kept_entered += 1
            session.delete(item)
            continue
        if datum is not None and datum.amount == amount:
            result.unchanged += 1
            session.delete(item)
            continue
        try:
            check_datum(
                store.source_row(source),
                period_start=start,
                period_end=end,
                amount=amount,
                unit=source.unit,
                library=library,
            )
        except ShuangtanError as exc:
            item.error = exc.message
            result.failed.append(f"{source.code} {item.month:%Y-%m}: {exc.message}")
            continue
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        # Audited like any edit: the trail's state of the datum must follow the meters.
        if datum is None:
            datum = ActivityDatum(
                source_id=source.id,
                period_start=start,
                period_end=end,
                amount=amount,
                unit=source.unit,
                origin="meter",
                note="from meter readings",
                version=1,
                created_at=now,
                updated_at=now,
                updated_by=user_id,
            )
            session.add(datum)
            session.flush()
            store.log("sync", "activity", datum.id, org_id=source.org_id, before=None, after=datum)
            result.created += 1
        else:
            before = store.snapshot("activity", datum)
            datum.amount = amount
            datum.version += 1
            datum.updated_at = now
            datum.updated_by = user_id
            store.log(
                "sync", "activity", datum.id, org_id=source.org_id, before=before, after=datum
            )
            result.updated += 1
        session.delete(item)
        spans.setdefault(source.org_id, []).append((start, end))
    session.flush()
    for org_id, org_spans in spans.items():
        result.recomputed.extend(
            recompute_affected(
                store, library, org_id, org_spans, user_id=user_id, reason="meter readings"
            )
        )
    return result


class Syncer:
    """Runs :func:`sync_activity` in the background, at most once per ``delay_s``.

    Ingestion pokes it after each committed batch; the first poke schedules a pass, later
    ones within the delay ride along. So a stream of batches recomputes inventories every few
    seconds, not once per batch. A pass that fails (the database restarting …) is tried again
    by itself, after ``delay_s`` doubling up to :attr:`RETRY_MAX_S`; the queue it works from is
    in the database, so nothing is lost meanwhile, and a process that starts pokes once to
    drain what an earlier one left.
    """

    #: Longest wait between attempts of a failing pass. [s]
    RETRY_MAX_S: Final = 60.0

    def __init__(
        self,
        sessions: Callable[[], Session],
        library: FactorLibrary,
        *,
        delay_s: float = 5.0,
        logger: Any = None,
    ) -> None:
        import logging
        import threading

        self.sessions = sessions
        self.library = library
        self.delay_s = delay_s
        self.log = logger or logging.getLogger("shuangtan.sync")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self._retry_s = 0.0
        self.passes = 0
        self.failures = 0

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (it schedules nothing more; make a new one)."""
        return self._closed

    def poke(self) -> None:
        """Schedule a pass unless one is pending."""
        self._schedule(self.delay_s)

    def _schedule(self, delay_s: float) -> None:
        import threading

        with self._lock:
            if self._timer is not None or self._closed:
                return
            self._timer = threading.Timer(delay_s, self._run)
            self._timer.daemon = True
            self._timer.start()

    def run_now(self) -> SyncResult:
        """One pass, now, in this thread (until the queue is empty)."""
        total = SyncResult()
        while True:
            with self.sessions() as session:
                done = sync_activity(session, self.library)
                session.commit()
            self.passes += 1
            for name in ("months", "created", "updated", "unchanged", "kept_entered"):
                setattr(total, name, getattr(total, name) + getattr(done, name))
            total.failed.extend(done.failed)
            total.recomputed.extend(done.recomputed)
            if done.months - len(done.failed) <= 0:
                return total

    def _run(self) -> None:
        with self._lock:
            self._timer = None
        try:
            done = self.run_now()
        except Exception:
            self.failures += 1
            self._retry_s = min(max(self._retry_s * 2, self.delay_s, 0.5), self.RETRY_MAX_S)
            self.log.exception("activity sync failed; trying again in %g s", self._retry_s)
            self._schedule(self._retry_s)
            return
        self._retry_s = 0.0
        if done.months:
            self.log.info("activity follows meters: %s", done.summary())

    def close(self) -> None:
        """Cancel a pending pass and schedule no more (the queue stays in the database)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

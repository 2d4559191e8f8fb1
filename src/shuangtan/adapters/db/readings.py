"""Readings in the database: one transaction per batch, the same plan on SQLite and PostgreSQL.

For each batch the writer

1. checks the readings (:func:`shuangtan.services.readings.parse_readings`);
2. locks the batch's meters (so two ingest workers never interleave on one meter);
3. reads, per meter, the stored readings from the one before the batch to the one after it;
4. plans the writes (:func:`shuangtan.services.readings.plan_batch`);
5. writes readings (PostgreSQL: binary ``COPY`` into a temporary staging table, then
   ``INSERT … ON CONFLICT``), corrections, rollup increments, the months whose activity must
   follow, and the quarantine.

The caller commits; until then nothing is visible, so a batch lands whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from sqlalchemy import Date, DateTime, Engine, bindparam, select, text
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Meter, MeterReplacement, QuarantinedReading
from shuangtan.domain.readings import Channel, RawReading, Rejected
from shuangtan.errors import ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.readings import (
    LOCAL_OFFSET_US,
    Batch,
    Existing,
    MeterInfo,
    Plan,
    Replacement,
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
        self._write(plan, channel, user_id, now)
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
        """Lock the meters (in id order, so workers never deadlock) and read them."""
        stmt = select(Meter).where(Meter.id.in_(ids)).order_by(Meter.id)
        if self.postgres:
            stmt = stmt.with_for_update()
        else:
            # SQLite: a write first takes the database's write lock for this transaction, so
            # what is read next cannot change before the commit.
            self.session.execute(
                text("UPDATE meters SET interval_s = interval_s WHERE id = :id"), {"id": ids[0]}
            )
        return {meter.id: meter_info(meter) for meter in self.session.scalars(stmt)}

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
        months = np.unique(ts_us.astype("datetime64[us]").astype("datetime64[M]"))
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
            sql = """
                SELECT r.meter_id, r.ts, r.raw, r.value, r.flags
                FROM unnest(%s::int[], %s::timestamp[], %s::timestamp[]) AS b(meter_id, lo, hi)
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
            with raw.cursor() as cur:
                cur.execute(
                    sql,
                    (
                        [b[0] for b in bounds],
                        [us_to_naive(b[1]) for b in bounds],
                        [us_to_naive(b[2]) for b in bounds],
                    ),
                )
                for m, ts, r, v, f in cur:
                    rows.append((m, naive_to_us(ts), r, v, f))
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
        rows = self.session.execute(
            MeterReplacement.__table__.select().where(MeterReplacement.meter_id.in_(meter_ids))
        ).mappings()
        return [
            Replacement(r["meter_id"], naive_to_us(r["ts"]), r["old_final"], r["new_initial"])
            for r in rows
        ]

    def _write(self, plan: Plan, channel: Channel, user_id: int | None, now: dt.datetime) -> None:
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
            self._pg_add_rollups(raw, plan)
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

    def _pg_add_rollups(self, raw: Any, plan: Plan) -> None:
        """PostgreSQL: add the plan's rollup increments: binary COPY, then one upsert.

        Built with NumPy like the readings (no per-bucket Python), so a batch costs two
        round trips whatever the number of buckets.
        """
        names = [r.value for r in plan.rollups]
        parts = []
        for code, (m, b, dv, dn) in enumerate(plan.rollups.values(), start=1):
            rows = np.empty(len(m), _ROLLUP_ROW)
            rows["nf"] = 5
            rows["l1"], rows["l2"], rows["l3"], rows["l4"], rows["l5"] = 4, 2, 8, 8, 8
            rows["m"], rows["r"], rows["b"] = m, code, b - _PG_EPOCH_US
            rows["v"], rows["n"] = dv, dn
            parts.append(rows.tobytes())
        if not any(parts):
            return
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS rollups_stage "
                "(meter_id int4, res int2, bucket timestamp, value float8, n int8) "
                "ON COMMIT DELETE ROWS"
            )
            cur.execute("TRUNCATE rollups_stage")
            with cur.copy(
                "COPY rollups_stage (meter_id, res, bucket, value, n) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(_HEADER + b"".join(parts) + b"\xff\xff")
            cur.execute(
                "INSERT INTO meter_rollups (meter_id, resolution, bucket, value, n) "
                "SELECT meter_id, (%s::text[])[res], bucket, value, n FROM rollups_stage "
                "ON CONFLICT (meter_id, resolution, bucket) "
                "DO UPDATE SET value = meter_rollups.value + excluded.value, "
                "n = meter_rollups.n + excluded.n",
                (names,),
            )

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
_ROLLUP_ROW = np.dtype(
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
_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


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
        if datum is None:
            session.add(
                ActivityDatum(
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
            )
            result.created += 1
        else:
            datum.amount = amount
            datum.version += 1
            datum.updated_at = now
            datum.updated_by = user_id
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

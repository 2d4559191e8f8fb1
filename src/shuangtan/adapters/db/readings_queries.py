"""The readings API's queries: series, monthly entries, meter swaps, quarantine, quality, jobs.

:class:`ReadingQueries` wraps one session and one principal, like
:class:`~shuangtan.adapters.db.repositories.Store` does for the rest of the API. Methods that
take a :class:`~shuangtan.adapters.db.models.Meter` or an
:class:`~shuangtan.adapters.db.models.Organization` expect one the caller was authorised for
(``Store.get_meter`` / ``Store.get_org``); the quarantine and the jobs are scoped here: a row
outside the caller's subtrees (and not the caller's own) is *not found*.

Timestamps are naive UTC (the storage convention); local days and months (Asia/Shanghai) are
turned into UTC bounds by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import (
    EmissionSource,
    Job,
    Meter,
    MeterMonthly,
    MeterReplacement,
    MeterRollup,
    Organization,
    QuarantinedReading,
    Reading,
)
from shuangtan.adapters.db.readings import IngestResult, ReadingsWriter, naive_to_us
from shuangtan.adapters.db.repositories import Store, utcnow
from shuangtan.adapters.imports import ImportOptions
from shuangtan.domain.readings import Channel, RawReading
from shuangtan.errors import InputError, NotFoundError, PermissionDeniedError, ShuangtanError
from shuangtan.services.access import Action, Principal
from shuangtan.services.readings import FUTURE_TOLERANCE_S

__all__ = ["MeterDay", "QuarantineStamp", "ReadingQueries"]

#: Quarantine filters of :meth:`ReadingQueries.list_quarantine`, by parameter name.
_QUARANTINE_FILTERS: Final = {
    "status": QuarantinedReading.status,
    "meter_id": QuarantinedReading.meter_id,
    "org_id": QuarantinedReading.org_id,
    "job_id": QuarantinedReading.job_id,
    "reason": QuarantinedReading.reason,
}


@dataclass(frozen=True, slots=True)
class QuarantineStamp:
    """What the daily quality needs of an open quarantined reading to place it on a day.

    Attributes
    ----------
    field : str
        The field it was refused for.
    ts : object
        Its timestamp as received (``raw["ts"]``).
    received_us : int
        When it was received. [µs UTC]
    zone : datetime.tzinfo or None
        The zone its import job gave to timestamps without one.
    """

    field: str
    ts: object
    received_us: int
    zone: dt.tzinfo | None = None


@dataclass
class MeterDay:
    """One active meter's readings of a day, for the GB/T 37947 daily quality.

    Attributes
    ----------
    meter : Meter
        The meter.
    ts_us : numpy.ndarray
        The day's reading end timestamps, sorted. [µs UTC]
    values : numpy.ndarray
        Their interval consumption. [meter unit]
    flags : numpy.ndarray
        Their :class:`~shuangtan.domain.readings.Flag` bits.
    last_us : int or None
        The meter's latest reading at all. [µs UTC]
    quarantined : list[QuarantineStamp]
        Its open quarantined readings that may belong to the day.
    """

    meter: Meter
    ts_us: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    flags: npt.NDArray[np.int64]
    last_us: int | None
    quarantined: list[QuarantineStamp] = field(default_factory=list)


class ReadingQueries:
    """The readings API's reads and writes for one request, scoped to one principal.

    Parameters
    ----------
    session : Session
        The SQLAlchemy session (the caller commits or rolls back).
    principal : Principal
        Who is asking.
    """

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.store = Store(session, principal)

    @property
    def user_id(self) -> int | None:
        """The acting user, as the rest of the repositories record it."""
        return self.store.user_id

    # --- series -----------------------------------------------------------------------------

    def source_tce_carrier(self, meter: Meter) -> str | None:
        """The GB/T 2589 carrier named by the meter's source, unless its tce comes from energy."""
        if meter.source_id is None:
            return None
        source = self.session.get(EmissionSource, meter.source_id)
        if source is None or not source.tce_carrier or source.tce_from_energy:
            return None
        return source.tce_carrier

    def readings(
        self, meter: Meter, lo: dt.datetime, hi: dt.datetime
    ) -> list[tuple[dt.datetime, float, float, int]]:
        """The meter's readings stamped in ``(lo, hi]`` [naive UTC], in time order.

        Returns
        -------
        list of tuple
            ``(ts [naive UTC], value [unit], raw [unit], flags)``.
        """
        rows = self.session.execute(
            select(Reading.ts, Reading.value, Reading.raw, Reading.flags)
            .where(Reading.meter_id == meter.id, Reading.ts > lo, Reading.ts <= hi)
            .order_by(Reading.ts)
        ).all()
        return [(ts, value, raw, flags) for ts, value, raw, flags in rows]

    def rollups(
        self, meter: Meter, resolution: str, lo: dt.datetime, hi: dt.datetime
    ) -> list[tuple[dt.datetime, float, int]]:
        """The meter's ``hour``, ``day`` or ``month`` buckets starting in ``[lo, hi)``.

        Returns
        -------
        list of tuple
            ``(bucket start [naive UTC], value [unit], measured intervals in the bucket)``.
        """
        rows = self.session.execute(
            select(MeterRollup.bucket, MeterRollup.value, MeterRollup.n)
            .where(
                MeterRollup.meter_id == meter.id,
                MeterRollup.resolution == resolution,
                MeterRollup.bucket >= lo,
                MeterRollup.bucket < hi,
            )
            .order_by(MeterRollup.bucket)
        ).all()
        return [(bucket, value, n) for bucket, value, n in rows]

    # --- monthly entries and meter swaps ------------------------------------------------------

    def monthly_entries(self, meter: Meter) -> list[MeterMonthly]:
        """The meter's monthly entries, oldest first."""
        return list(
            self.session.scalars(
                select(MeterMonthly)
                .where(MeterMonthly.meter_id == meter.id)
                .order_by(MeterMonthly.month)
            )
        )

    def put_monthly(
        self, meter: Meter, month: dt.date, *, value: float, note: str, now: dt.datetime
    ) -> MeterMonthly:
        """Make or replace the meter's entry of a month; queue its source's month for the sync.

        Parameters
        ----------
        meter : Meter
            A meter the caller may write activity data of.
        month : datetime.date
            The first day of the month.
        value : float
            The month's consumption. [meter unit]
        note : str
            Where the figure comes from (a bill …).
        now : datetime.datetime
            Server clock (aware).
        """
        entry = self.session.scalars(
            select(MeterMonthly).where(
                MeterMonthly.meter_id == meter.id, MeterMonthly.month == month
            )
        ).first()
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None)
        if entry is None:
            entry = MeterMonthly(
                meter_id=meter.id,
                month=month,
                value=value,
                note=note,
                updated_at=stamp,
                updated_by=self.user_id,
            )
            self.session.add(entry)
        else:
            entry.value, entry.note, entry.updated_at, entry.updated_by = (
                value,
                note,
                stamp,
                self.user_id,
            )
        self.session.flush()
        if meter.source_id is not None:
            ReadingsWriter(self.session).queue_months({(meter.source_id, month)}, now)
        return entry

    def add_replacement(
        self,
        meter: Meter,
        *,
        ts: dt.datetime,
        old_final: float,
        new_initial: float,
        note: str,
    ) -> MeterReplacement:
        """Record a cumulative meter's device swap at ``ts`` [naive UTC].

        Raises
        ------
        InputError
            Readings at or after ``ts`` are already stored (field ``ts``).
        """
        later = self.session.execute(
            select(Reading.ts).where(Reading.meter_id == meter.id, Reading.ts >= ts).limit(1)
        ).first()
        if later is not None:
            raise InputError(
                "readings after the swap are already stored; record swaps before sending "
                "readings of the new device",
                field="ts",
            )
        row = MeterReplacement(
            meter_id=meter.id,
            ts=ts,
            old_final=old_final,
            new_initial=new_initial,
            note=note,
            created_at=utcnow(),
            created_by=self.user_id,
        )
        self.session.add(row)
        self.session.flush()
        return row

    # --- quarantine -------------------------------------------------------------------------

    def _quarantine_scope(self) -> Any:
        """Rows of organisations the caller can read, plus those the caller sent."""
        # The store's own scoping rule, so that both stay one rule.
        condition = self.store.where(Action.READ)
        if condition is None:
            return None
        mine = QuarantinedReading.submitted_by == self.principal.user_id
        return or_(and_(QuarantinedReading.org_id.is_not(None), condition), mine)

    def list_quarantine(
        self,
        *,
        status: str | None = "open",
        meter_id: int | None = None,
        org_id: int | None = None,
        job_id: int | None = None,
        reason: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[QuarantinedReading], int]:
        """Quarantined readings the caller may see, newest first, and how many in all.

        Parameters
        ----------
        status, meter_id, org_id, job_id, reason : optional
            Rows whose column equals the value (any, when None).
        limit, offset : int
            The page.
        """
        filters = {
            "status": status,
            "meter_id": meter_id,
            "org_id": org_id,
            "job_id": job_id,
            "reason": reason,
        }
        stmt: Select[Any] = select(QuarantinedReading).outerjoin(
            Organization, Organization.id == QuarantinedReading.org_id
        )
        scope = self._quarantine_scope()
        if scope is not None:
            stmt = stmt.where(scope)
        for name, value in filters.items():
            if value is not None:
                stmt = stmt.where(_QUARANTINE_FILTERS[name] == value)
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = self.session.scalars(
            stmt.order_by(QuarantinedReading.id.desc()).limit(limit).offset(offset)
        ).all()
        return list(rows), int(total)

    def get_quarantined(self, qid: int, action: Action = Action.READ) -> QuarantinedReading:
        """A quarantined reading the caller may ``action`` on.

        Readers of its organisation see it, and so does its sender; acting on it needs the
        action's role on its organisation (the sender's current roles count, like anyone's).
        A row without an organisation is its sender's and the platform administrators'.

        Raises
        ------
        NotFoundError
            Not there or not visible.
        PermissionDeniedError
            Visible, but ``action`` is not allowed.
        """
        row = self.session.get(QuarantinedReading, qid)
        if row is None:
            raise NotFoundError(f"quarantined reading {qid} not found", field="id")
        mine = row.submitted_by is not None and row.submitted_by == self.principal.user_id
        org = self.session.get(Organization, row.org_id) if row.org_id else None
        if org is not None:
            if not (mine or self.principal.allows(Action.READ, org.path)):
                raise NotFoundError(f"quarantined reading {qid} not found", field="id")
            if not self.principal.allows(action, org.path):
                raise PermissionDeniedError(
                    f"your roles on {org.code} do not allow this", field=None
                )
        elif not (mine or self.principal.is_platform_admin):
            raise NotFoundError(f"quarantined reading {qid} not found", field="id")
        elif not self.principal.scope_allows(action):
            raise PermissionDeniedError("this token's scopes do not allow writing", field=None)
        return row

    def _open_quarantined(self, qid: int, doing: str) -> QuarantinedReading:
        row = self.get_quarantined(qid, Action.WRITE_ACTIVITY)
        if row.status != "open":
            raise InputError(
                f"the reading is {row.status}; only open ones can be {doing}", field="id"
            )
        return row

    def correct_quarantined(self, qid: int, changes: Mapping[str, Any]) -> QuarantinedReading:
        """Change the fields (``meter``, ``ts``, ``value``, ``unit``) of an open row's reading."""
        row = self._open_quarantined(qid, "corrected")
        row.raw = {**row.raw, **changes}
        self.session.flush()
        return row

    def reprocess(self, qid: int, *, now: dt.datetime) -> tuple[QuarantinedReading, IngestResult]:
        """Send an open quarantined reading through the checks again.

        If it passes, it is stored and the row is marked ``reprocessed``; if not, the row
        stays open with the new reason (no second row is made).

        Parameters
        ----------
        qid : int
            The row.
        now : datetime.datetime
            Server clock (aware).
        """
        row = self._open_quarantined(qid, "re-processed")
        raw = row.raw
        reading = RawReading(
            str(raw.get("meter", "")), raw.get("ts"), raw.get("value"), raw.get("unit"), row.ref
        )
        result = ReadingsWriter(self.session).ingest(
            [reading],
            resolve=self.store.meter_resolver(),
            now=now,
            channel=Channel(row.channel),
            user_id=self.user_id,
            org_id=row.org_id,
            job_id=row.job_id,
        )
        if result.quarantined:
            # The checks wrote a fresh row; keep the original (with its history) instead.
            fresh = self.session.get(QuarantinedReading, result.quarantine_ids[0])
            assert fresh is not None
            row.reason, row.field, row.message = fresh.reason, fresh.field, fresh.message
            row.meter_id = fresh.meter_id or row.meter_id
            row.org_id = fresh.org_id if fresh.org_id is not None else row.org_id
            self.session.delete(fresh)
        else:
            self._resolve(row, "reprocessed", now)
        self.session.flush()
        return row, result

    def discard(self, qid: int, *, now: dt.datetime) -> QuarantinedReading:
        """Give up on an open quarantined reading (it stays, ``discarded``)."""
        row = self.get_quarantined(qid, Action.WRITE_ACTIVITY)
        if row.status != "open":
            raise InputError(f"the reading is already {row.status}", field="id")
        self._resolve(row, "discarded", now)
        self.session.flush()
        return row

    def _resolve(self, row: QuarantinedReading, status: str, now: dt.datetime) -> None:
        row.status = status
        row.resolved_at = now.astimezone(dt.UTC).replace(tzinfo=None)
        row.resolved_by = self.user_id

    # --- quality ----------------------------------------------------------------------------

    @staticmethod
    def _meters_within(org: Organization, *, active_only: bool) -> Select[Any]:
        stmt = (
            select(Meter.id)
            .join(Organization, Organization.id == Meter.org_id)
            .where(Organization.path.like(org.path + "%"))
        )
        return stmt.where(Meter.active.is_(True)) if active_only else stmt

    def meter_days(self, org: Organization, lo: dt.datetime, hi: dt.datetime) -> list[MeterDay]:
        """The active meters of an organisation's subtree with their readings in ``(lo, hi]``.

        Parameters
        ----------
        org : Organization
            An organisation the caller may read.
        lo, hi : datetime.datetime
            The local day's bounds. [naive UTC]

        Returns
        -------
        list[MeterDay]
            By meter code, each with its latest reading at all and its open quarantined
            readings that may belong to the day (see :meth:`quarantine_stamps`).
        """
        ids = self._meters_within(org, active_only=True)
        last = select(func.max(Reading.ts)).where(Reading.meter_id == Meter.id).scalar_subquery()
        meters = self.session.execute(
            select(Meter, last).where(Meter.id.in_(ids)).order_by(Meter.code)
        ).all()
        readings: dict[int, list[tuple[int, float, int]]] = {}
        for meter_id, ts, value, flags in self.session.execute(
            select(Reading.meter_id, Reading.ts, Reading.value, Reading.flags)
            .where(Reading.meter_id.in_(ids), Reading.ts > lo, Reading.ts <= hi)
            .order_by(Reading.meter_id, Reading.ts)
        ):
            readings.setdefault(meter_id, []).append((naive_to_us(ts), value, flags))
        stamps = self.quarantine_stamps(ids, since=lo)
        out = []
        for meter, last_ts in meters:
            rows = readings.get(meter.id, [])
            out.append(
                MeterDay(
                    meter=meter,
                    ts_us=np.asarray([r[0] for r in rows], np.int64),
                    values=np.asarray([r[1] for r in rows], np.float64),
                    flags=np.asarray([r[2] for r in rows], np.int64),
                    last_us=naive_to_us(last_ts) if last_ts is not None else None,
                    quarantined=stamps.get(meter.id, []),
                )
            )
        return out

    def quarantine_stamps(
        self, meter_ids: Select[Any], *, since: dt.datetime
    ) -> dict[int, list[QuarantineStamp]]:
        """Open quarantined readings of the meters that may belong to a day starting ``since``.

        A row counts on the day of its own timestamp, or on the day it was received (see
        :func:`shuangtan.services.quality.quarantine_day`); either way it was received after
        the day began, less the tolerance for clocks ahead, so older rows are left out.

        Parameters
        ----------
        meter_ids : Select
            A query of meter ids.
        since : datetime.datetime
            The day's start. [naive UTC]
        """
        earliest = since - dt.timedelta(seconds=FUTURE_TOLERANCE_S)
        rows: Sequence[tuple[int, str, Any, dt.datetime, int | None]] = self.session.execute(
            select(
                QuarantinedReading.meter_id,
                QuarantinedReading.field,
                QuarantinedReading.raw,
                QuarantinedReading.received_at,
                QuarantinedReading.job_id,
            ).where(
                QuarantinedReading.meter_id.in_(meter_ids),
                QuarantinedReading.status == "open",
                QuarantinedReading.received_at > earliest,
            )
        ).all()
        zones = self._job_zones({row[4] for row in rows if row[4] is not None})
        out: dict[int, list[QuarantineStamp]] = {}
        for meter_id, fieldname, raw, received_at, job_id in rows:
            out.setdefault(meter_id, []).append(
                QuarantineStamp(
                    fieldname,
                    raw.get("ts") if isinstance(raw, dict) else None,
                    naive_to_us(received_at),
                    zones.get(job_id) if job_id is not None else None,
                )
            )
        return out

    def _job_zones(self, job_ids: set[int]) -> dict[int, dt.tzinfo | None]:
        """The zone each import job gave to timestamps without one."""
        if not job_ids:
            return {}
        zones: dict[int, dt.tzinfo | None] = {}
        jobs: Sequence[tuple[int, dict[str, Any]]] = self.session.execute(
            select(Job.id, Job.params).where(Job.id.in_(sorted(job_ids)))
        ).all()
        for job_id, params in jobs:
            try:
                zones[job_id] = ImportOptions.from_dict(params or {}).zone()
            except ShuangtanError:  # checked when the job was made; never fatal here
                zones[job_id] = None
        return zones

    def month_days(
        self, org: Organization, lo: dt.datetime, hi: dt.datetime, month: dt.date
    ) -> list[tuple[Meter, float, int, float | None]]:
        """The meters of an organisation's subtree: Σ daily data of a month, and its entry.

        Parameters
        ----------
        org : Organization
            An organisation the caller may read.
        lo, hi : datetime.datetime
            The local month's bounds. [naive UTC]
        month : datetime.date
            Its first day.

        Returns
        -------
        list of tuple
            By meter code: ``(meter, Σ daily rollups [unit], days with data, monthly entry
            [unit] or None)``.
        """
        ids = self._meters_within(org, active_only=False)
        meters = self.session.scalars(
            select(Meter).where(Meter.id.in_(ids)).order_by(Meter.code)
        ).all()
        days = {
            meter_id: (float(total or 0.0), int(count or 0))
            for meter_id, total, count in self.session.execute(
                select(MeterRollup.meter_id, func.sum(MeterRollup.value), func.count())
                .where(
                    MeterRollup.meter_id.in_(ids),
                    MeterRollup.resolution == "day",
                    MeterRollup.bucket >= lo,
                    MeterRollup.bucket < hi,
                )
                .group_by(MeterRollup.meter_id)
            )
        }
        entries: dict[int, float] = dict(
            self.session.execute(
                select(MeterMonthly.meter_id, MeterMonthly.value).where(
                    MeterMonthly.meter_id.in_(ids), MeterMonthly.month == month
                )
            ).all()
        )
        return [(m, *days.get(m.id, (0.0, 0)), entries.get(m.id)) for m in meters]

    # --- jobs -------------------------------------------------------------------------------

    def get_job(self, job_id: int) -> Job:
        """A job the caller made, or one of an organisation the caller can read.

        Raises
        ------
        NotFoundError
            Not there or not visible.
        """
        job = self.session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found", field="id")
        org = self.session.get(Organization, job.org_id) if job.org_id else None
        mine = job.created_by is not None and job.created_by == self.principal.user_id
        if not mine and (org is None or not self.principal.allows(Action.READ, org.path)):
            raise NotFoundError(f"job {job_id} not found", field="id")
        return job

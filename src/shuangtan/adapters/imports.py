"""File imports of readings (CSV, Excel) as jobs with progress.

An import first reads the whole file once without storing anything (every byte decodes, the
columns map, every row has its cells), so a file with a wrong encoding is refused whole
instead of half-applied. Then it streams the rows in chunks, one transaction per chunk;
rows that fail a check go to the quarantine with the job's id. Ingestion is idempotent, so a
job that stopped half-way (a crash, a restart) is simply run again.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Job, Organization
from shuangtan.adapters.db.readings import IngestResult, ReadingsWriter
from shuangtan.adapters.db.repositories import Store
from shuangtan.adapters.files import open_readings_file
from shuangtan.domain.readings import Channel
from shuangtan.errors import InputError, ShuangtanError
from shuangtan.services.access import Principal

__all__ = ["ImportOptions", "create_import_job", "run_import"]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read a file of readings.

    Attributes
    ----------
    format : str or None
        ``csv`` or ``xlsx``; from the file name when None.
    encoding : str
        CSV text encoding (``auto``, ``utf-8``, ``gbk`` …).
    mapping : dict
        Target field (``meter``, ``ts``, ``value``, ``unit``) → column header.
    sheet : str or None
        Excel sheet; the first when None.
    timezone : str or None
        IANA zone for timestamps written without one (``Asia/Shanghai``); without it such
        rows go to quarantine.
    chunk_rows : int
        Rows per transaction.
    """

    format: str | None = None
    encoding: str = "auto"
    mapping: Mapping[str, str] = field(default_factory=dict)
    sheet: str | None = None
    timezone: str | None = None
    chunk_rows: int = 20_000

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the job's parameters."""
        return {
            "format": self.format,
            "encoding": self.encoding,
            "mapping": dict(self.mapping),
            "sheet": self.sheet,
            "timezone": self.timezone,
            "chunk_rows": self.chunk_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportOptions:
        """From :meth:`as_dict`."""
        return cls(
            format=data.get("format"),
            encoding=data.get("encoding") or "auto",
            mapping=dict(data.get("mapping") or {}),
            sheet=data.get("sheet"),
            timezone=data.get("timezone"),
            chunk_rows=int(data.get("chunk_rows") or 20_000),
        )

    def zone(self) -> dt.tzinfo | None:
        """The zone for naive timestamps, checked."""
        if not self.timezone:
            return None
        try:
            return zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InputError(
                f"{self.timezone!r} is not a time zone (e.g. Asia/Shanghai)", field="timezone"
            ) from None


def create_import_job(
    session: Session,
    *,
    path: Path,
    filename: str,
    options: ImportOptions,
    user_id: int | None,
    org_id: int | None,
) -> Job:
    """Record a queued import job for a file already on disk; the caller commits."""
    options.zone()  # refuse a bad zone before queueing
    job = Job(
        kind="readings_import",
        status="queued",
        org_id=org_id,
        created_by=user_id,
        params={"path": str(path), "filename": filename, "org_id": org_id, **options.as_dict()},
        done=0,
        total=None,
        result={},
        created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )
    session.add(job)
    session.flush()
    return job


def run_import(
    sessions: Callable[[], Session],
    job_id: int,
    principal: Principal,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    on_chunk: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    """Run an import job to the end; its row says where it is and how it ended.

    Parameters
    ----------
    sessions : callable
        Makes sessions on the platform database.
    job_id : int
        The job (from :func:`create_import_job`).
    principal : Principal
        Whose rights the rows are checked against (the job's creator).
    progress : callable, optional
        ``progress(rows done, rows in all)`` after the check pass and each chunk.
    on_chunk : callable, optional
        Called with each committed chunk's result (to wake the activity sync …).
    """
    with sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise InputError(f"no job {job_id}", field="job_id")
        params = dict(job.params)
        job.status, job.started_at = "running", _now()
        session.commit()
    options = ImportOptions.from_dict(params)
    total_result = IngestResult()
    try:
        zone = options.zone()
        reader = open_readings_file(
            params["path"],
            format=options.format,
            encoding=options.encoding,
            mapping=options.mapping or None,
            sheet=options.sheet,
            chunk_rows=options.chunk_rows,
        )
        rows = reader.check()
        _update(sessions, job_id, done=0, total=rows)
        if progress:
            progress(0, rows)
        done = 0
        for chunk in reader.chunks():
            with sessions() as session:
                store = Store(session, principal)
                within = (
                    session.get(Organization, params["org_id"]) if params.get("org_id") else None
                )
                result = ReadingsWriter(session).ingest(
                    chunk,
                    resolve=store.meter_resolver(within=within),
                    now=dt.datetime.now(dt.UTC),
                    channel=Channel.FILE,
                    user_id=principal.user_id if principal.user_id > 0 else None,
                    job_id=job_id,
                    assume_tz=zone,
                )
                done += len(chunk)
                job = session.get(Job, job_id)
                assert job is not None
                job.done = done
                session.commit()
            total_result.add(result)
            if on_chunk:
                on_chunk(result)
            if progress:
                progress(done, rows)
    except ShuangtanError as exc:
        _finish(sessions, job_id, "failed", total_result, f"{exc.field or 'file'}: {exc.message}")
        raise
    except Exception as exc:
        _finish(sessions, job_id, "failed", total_result, f"internal error: {type(exc).__name__}")
        raise
    _finish(sessions, job_id, "done", total_result, None)
    return total_result


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _update(sessions: Callable[[], Session], job_id: int, *, done: int, total: int) -> None:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.done, job.total = done, total
        session.commit()


def _finish(
    sessions: Callable[[], Session],
    job_id: int,
    status: str,
    result: IngestResult,
    error: str | None,
) -> None:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.error, job.finished_at = status, error, _now()
        job.result = result.summary()
        session.commit()

"""File imports of readings (CSV, Excel) as jobs with progress.

An import first reads the whole file once without storing anything (every byte decodes, the
columns map, every row has its cells), so a file with a wrong encoding is refused whole
instead of half-applied. Then it streams the rows in chunks, one transaction per chunk;
rows that fail a check go to the quarantine with the job's id and organisation. Ingestion is
idempotent, so a job that stopped half-way (a crash, a restart) is simply run again.

An uploaded file (``remove_file``) is deleted when its job ends, done or failed; a file named
on the command line is the user's and stays.
"""

from __future__ import annotations

import datetime as dt
import logging
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

__all__ = [
    "ImportOptions",
    "ImportStoppedError",
    "abandon_import",
    "create_import_job",
    "remove_upload",
    "run_import",
]

log = logging.getLogger("shuangtan.imports")


class ImportStoppedError(Exception):
    """An import job was asked to stop between two chunks (the server is shutting down)."""


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
    stop: Callable[[], bool] | None = None,
    remove_file: bool = False,
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
    stop : callable, optional
        Asked before each chunk; when it answers true, the job ends ``failed`` with what was
        stored so far, and :class:`ImportStoppedError` is raised.
    remove_file : bool
        Delete the file when the job ends, done or failed (an upload); a failure to delete it
        is logged, not raised.

    Raises
    ------
    ShuangtanError
        The file cannot be read (the job ends ``failed`` with the field and the reason).
    ImportStoppedError
        ``stop`` answered true.
    """
    with sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise InputError(f"no job {job_id}", field="job_id")
        params = dict(job.params)
        job.status, job.started_at = "running", _now()
        session.commit()
    options = ImportOptions.from_dict(params)
    org_id = params.get("org_id")
    total_result = IngestResult()

    def end(status: str, error: str | None) -> None:
        # The end is recorded first; the upload goes only once it is (if the database is away,
        # the job stays 'running' with its file, never 'running' without it).
        _finish(sessions, job_id, status, total_result, error)
        if remove_file:
            remove_upload(params.get("path"), job_id)

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
            if stop is not None and stop():
                raise ImportStoppedError(
                    f"stopped after {done} of {rows} rows: the server shut down; upload the "
                    "file again (rows already stored count as duplicates)"
                )
            with sessions() as session:
                store = Store(session, principal)
                within = session.get(Organization, org_id) if org_id else None
                result = ReadingsWriter(session).ingest(
                    chunk,
                    resolve=store.meter_resolver(within=within),
                    now=dt.datetime.now(dt.UTC),
                    channel=Channel.FILE,
                    user_id=principal.user_id if principal.user_id > 0 else None,
                    # Rows of unknown meters go with the job's organisation, so its readers
                    # see them in the quarantine (not only the uploader).
                    org_id=org_id,
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
    except ImportStoppedError as exc:
        end("failed", str(exc))
        raise
    except ShuangtanError as exc:
        end("failed", f"{exc.field or 'file'}: {exc.message}")
        raise
    except Exception as exc:
        end(
            "failed",
            f"internal error: {type(exc).__name__} after {total_result.received} rows; upload "
            "the file again (rows already stored count as duplicates)",
        )
        raise
    end("done", None)
    return total_result


def abandon_import(
    sessions: Callable[[], Session], job_id: int, reason: str, *, remove_file: bool = False
) -> bool:
    """End a job that never started (still ``queued``) as ``failed`` with ``reason``.

    Parameters
    ----------
    sessions : callable
        Makes sessions on the platform database.
    job_id : int
        The job.
    reason : str
        Why, for its ``error``.
    remove_file : bool
        Delete its file (an upload); a failure to delete it is logged, not raised.

    Returns
    -------
    bool
        Whether the job was queued (and is now failed); a job that started is left alone.
    """
    with sessions() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != "queued":
            return False
        path = job.params.get("path")
    _finish(sessions, job_id, "failed", IngestResult(), reason)
    if remove_file:
        remove_upload(path, job_id)
    return True


def remove_upload(path: str | Path | None, job_id: int | None = None) -> None:
    """Delete an uploaded file (of import job ``job_id``); a failure is logged, never raised."""
    if not path:
        return
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:
        job = f" of import job {job_id}" if job_id is not None else ""
        log.warning("could not delete the upload %s%s: %s", path, job, exc)


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

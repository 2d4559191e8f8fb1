"""Background jobs of the API process: file imports, reports and recomputations.

They run one after another on one worker thread. A task's progress is committed as it goes
(``done`` of ``total``), so ``GET /api/v1/jobs/{id}`` can follow it from another request.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Job
from shuangtan.adapters.imports import ImportStoppedError, abandon_import, run_import
from shuangtan.adapters.settings import Settings
from shuangtan.errors import ShuangtanError
from shuangtan.services.access import Principal

__all__ = ["JobRunner", "Progress", "Task", "job_body"]

#: ``progress(done, total)``: commits the job's progress.
Progress = Callable[[int, int], None]
#: A task: ``task(session, progress) -> result`` (the caller's principal is bound in).
Task = Callable[[Session, Progress], dict[str, Any]]

log = logging.getLogger("shuangtan.jobs")

#: The error of a queued job the server stopped before running it.
NOT_STARTED = "the server stopped before the import started; upload the file again"
#: The error of a queued task the server stopped before running it.
NOT_STARTED_TASK = "the server stopped before the job started; start it again"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JobRunner:
    """Runs import jobs one after another on a background thread.

    Uploaded files are deleted when their job ends, done or failed. :meth:`close` stops the
    runner: the running job stops after its current chunk, queued ones end ``failed``.

    Parameters
    ----------
    sessions : callable
        Makes sessions on the platform database.
    settings : Settings
        The platform's settings.
    """

    def __init__(self, sessions: Callable[[], Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        # One at a time: imports are write-heavy, and SQLite has one writer anyway.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shuangtan-job")
        self.futures: dict[int, Future[Any]] = {}
        self._stopping = threading.Event()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (no job can be queued any more)."""
        return self._stopping.is_set()

    def submit_import(
        self, job_id: int, principal: Principal, on_chunk: Callable[[Any], None] | None = None
    ) -> Future[Any]:
        """Queue an import job of an uploaded file (deleted when the job ends).

        Raises
        ------
        RuntimeError
            The runner is closed.
        """

        def work() -> Any:
            try:
                return run_import(
                    self.sessions,
                    job_id,
                    principal,
                    on_chunk=on_chunk,
                    stop=self._stopping.is_set,
                    remove_file=True,
                )
            except ImportStoppedError:
                log.info("import job %s stopped: the server is shutting down", job_id)
                return None
            except Exception:
                # The job row says how it ended; the log keeps the detail.
                log.exception("import job %s failed", job_id)
                return None

        future = self.pool.submit(work)
        self.futures[job_id] = future
        # Forget it once it ran; one cancelled by close() stays for close() to end it.
        future.add_done_callback(
            lambda done: None if done.cancelled() else self.futures.pop(job_id, None)
        )
        return future

    def submit_task(self, job_id: int, task: Task) -> Future[Any]:
        """Queue a task (a report, a recomputation) for a job row made by the caller.

        The task gets a session of its own and a progress callback; its result is stored on
        the job. A :class:`~shuangtan.errors.ShuangtanError` ends the job ``failed`` with its
        message; any other error ends it ``failed`` with a generic one (the log has the detail).
        """

        def update(**values: Any) -> None:
            with self.sessions() as session:
                job = session.get(Job, job_id)
                if job is not None:
                    for key, value in values.items():
                        setattr(job, key, value)
                    session.commit()

        def progress(done: int, total: int) -> None:
            update(done=done, total=total)

        def work() -> Any:
            update(status="running", started_at=_now())
            try:
                with self.sessions() as session:
                    result = task(session, progress)
                    session.commit()
            except ShuangtanError as exc:
                update(status="failed", error=str(exc), finished_at=_now())
                return None
            except Exception:
                log.exception("job %s failed", job_id)
                update(
                    status="failed",
                    error="the job failed on an internal error; the server log has the detail",
                    finished_at=_now(),
                )
                return None
            update(status="done", result=result, finished_at=_now())
            return result

        future = self.pool.submit(work)
        self.futures[job_id] = future
        future.add_done_callback(
            lambda done: None if done.cancelled() else self.futures.pop(job_id, None)
        )
        return future

    def close(self) -> None:
        """Stop: the running job ends after its current chunk, queued ones end ``failed``.

        Returns when the worker thread has ended; calling it again does nothing more.
        """
        self._stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for job_id, future in list(self.futures.items()):
            if future.cancelled():
                try:
                    with self.sessions() as session:
                        job = session.get(Job, job_id)
                        if job is not None and job.kind in ("report", "recompute"):
                            job.status, job.error = "failed", NOT_STARTED_TASK
                            job.finished_at = _now()
                            session.commit()
                            continue
                    abandon_import(self.sessions, job_id, NOT_STARTED, remove_file=True)
                except Exception:
                    log.exception("import job %s could not be marked failed", job_id)
            self.futures.pop(job_id, None)


def job_body(job: Job) -> dict[str, Any]:
    """A job as the API answers it (``JobOut``)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "org_id": job.org_id,
        "filename": job.params.get("filename"),
        "done": job.done,
        "total": job.total,
        "result": job.result or None,
        "error": job.error,
        "created_at": job.created_at.replace(tzinfo=dt.UTC),
        "finished_at": job.finished_at.replace(tzinfo=dt.UTC) if job.finished_at else None,
    }

"""Background jobs of the API process: file imports run on a worker thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from shuangtan.adapters.imports import run_import
from shuangtan.adapters.settings import Settings
from shuangtan.services.access import Principal

__all__ = ["JobRunner"]

log = logging.getLogger("shuangtan.jobs")


class JobRunner:
    """Runs import jobs one after another on a background thread.

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

    def submit_import(
        self, job_id: int, principal: Principal, on_chunk: Callable[[Any], None] | None = None
    ) -> Future[Any]:
        """Queue an import job."""

        def work() -> Any:
            try:
                return run_import(self.sessions, job_id, principal, on_chunk=on_chunk)
            except Exception:
                # The job row says how it ended; the log keeps the detail.
                log.exception("import job %s failed", job_id)
                return None

        future = self.pool.submit(work)
        self.futures[job_id] = future
        return future

    def close(self) -> None:
        """Finish running jobs and stop."""
        self.pool.shutdown(wait=True, cancel_futures=False)

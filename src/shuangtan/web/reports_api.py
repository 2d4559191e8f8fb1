"""Reports and bulk recomputation as background jobs.

``POST /reports`` starts a report job; the file is kept (``GET /reports/{id}``) with its
SHA-256. ``POST /inventories/recompute`` recomputes every current inventory of a subtree for a
period, each in its own transaction, with progress. Both answer 202 with the job; follow it at
``GET /jobs/{id}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Job, ReportFile
from shuangtan.adapters.db.records import (
    recompute_subtree,
    report_file,
    report_files,
    statement_for,
)
from shuangtan.adapters.db.repositories import Store, utcnow
from shuangtan.errors import InputError, PermissionDeniedError, ShuangtanError
from shuangtan.services.access import Action
from shuangtan.services.inventories import parse_period
from shuangtan.web import schemas as s
from shuangtan.web.deps import ScopedStore, State
from shuangtan.web.jobs import Progress, job_body
from shuangtan.web.params import Limit, Offset, OptId, PathId

__all__ = ["router"]

router = APIRouter()


class ReportIn(s.Strict):
    """A report to generate."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["inventory", "inventory_iso", "park", "monthly"]
    org_id: int = Field(ge=1, le=2**31 - 1)
    period: str = Field(min_length=4, max_length=10, examples=["2025", "2025-03"])
    fmt: Literal["html", "pdf", "xlsx", "json"] = "pdf"
    lang: Literal["zh_CN", "en"] = "zh_CN"


class RecomputeManyIn(s.Strict):
    """Recompute every current inventory of a subtree for a period."""

    model_config = ConfigDict(extra="forbid")

    org_id: int = Field(ge=1, le=2**31 - 1)
    period: str = Field(min_length=4, max_length=10, examples=["2025"])
    reason: str = Field(default="", max_length=500)


class ReportFileOut(BaseModel):
    """A generated report file."""

    id: int
    kind: str
    org_id: int
    period: str
    fmt: str
    lang: str
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: s.UtcDateTime
    job_id: int | None


def _new_job(store: Store, kind: str, org_id: int, params: dict[str, Any]) -> Job:
    job = Job(
        kind=kind,
        status="queued",
        org_id=org_id,
        created_by=store.user_id,
        params=params,
        done=0,
        total=None,
        result={},
        created_at=utcnow(),
    )
    store.session.add(job)
    store.session.flush()
    return job


def _runner(state: State) -> Any:
    runner = state.jobs
    if runner is None or runner.closed:
        raise ShuangtanError("the server is shutting down; try again", field=None)
    return runner


@router.post("/reports", response_model=s.JobOut, status_code=202, tags=["reports"])
def start_report(body: ReportIn, store: ScopedStore, state: State) -> dict[str, Any]:
    """Generate a report in the background (HTML, PDF, Excel or JSON; Chinese or English)."""
    from shuangtan.reports import ReportRequest, generate

    org = store.get_org(body.org_id)
    if not store.principal.scope_allows(Action.RECOMPUTE):
        # A report job stores a file: a read-only token only reads.
        raise PermissionDeniedError("this token's scopes allow reading only; reports are stored")
    if body.kind == "monthly" and len(body.period) != 7:
        raise InputError("a monthly statement needs a month: YYYY-MM", field="period")
    label = parse_period(body.period).label
    job = _new_job(store, "report", org.id, {**body.model_dump(), "period": label})
    principal = store.principal
    request = ReportRequest(
        kind=body.kind, org_id=org.id, period=label, fmt=body.fmt, lang=body.lang
    )

    def task(session: Session, progress: Progress) -> dict[str, Any]:
        task_store = Store(session, principal)
        verification = None
        if body.kind in ("inventory", "inventory_iso"):
            inventory = task_store.current_inventory(org.id, label)
            verification = statement_for(session, inventory.id)
        report = generate(task_store, request, verification=verification, on_progress=progress)
        row = ReportFile(
            job_id=job.id,
            org_id=org.id,
            kind=body.kind,
            period=label,
            fmt=body.fmt,
            lang=body.lang,
            filename=report.filename,
            media_type=report.media_type,
            size=len(report.content),
            sha256=report.sha256,
            content=report.content,
            created_at=utcnow(),
            created_by=task_store.user_id,
        )
        session.add(row)
        session.flush()
        return {"report_id": row.id, "filename": report.filename, "sha256": report.sha256}

    store.session.commit()
    _runner(state).submit_task(job.id, task)
    return job_body(job)


@router.get("/reports", response_model=s.Page[ReportFileOut], tags=["reports"])
def list_reports(
    store: ScopedStore, org_id: OptId = None, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """The reports you generated (all of them for a platform admin), newest first.

    A report shows what its maker could see (a park's admin sees the park in an enterprise's
    report), so a stored file is served to its maker only; others generate their own.
    """
    found, total = report_files(store, org_id=org_id, limit=limit, offset=offset)
    rows = [r for r, _ in found]
    items = [
        {
            "id": r.id,
            "kind": r.kind,
            "org_id": r.org_id,
            "period": r.period,
            "fmt": r.fmt,
            "lang": r.lang,
            "filename": r.filename,
            "media_type": r.media_type,
            "size": r.size,
            "sha256": r.sha256,
            "created_at": r.created_at.replace(tzinfo=dt.UTC),
            "job_id": r.job_id,
        }
        for r in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get(
    "/reports/{report_id}",
    tags=["reports"],
    response_class=Response,
    responses={
        200: {
            "description": "The report file",
            "content": {
                **{
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in (
                        "application/pdf",
                        "text/html; charset=utf-8",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    )
                },
                # The JSON report is the report's document (docs/platform/reports.md).
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def download_report(report_id: PathId, store: ScopedStore) -> Response:
    """A generated report file (its SHA-256 in ``X-Content-SHA256``)."""
    row = report_file(store, report_id)
    disposition = "inline" if row.fmt in ("html", "pdf") else "attachment"
    return Response(
        row.content,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{row.filename}"',
            "X-Content-SHA256": row.sha256,
        },
    )


@router.post(
    "/inventories/recompute", response_model=s.JobOut, status_code=202, tags=["inventories"]
)
def recompute_many(body: RecomputeManyIn, store: ScopedStore, state: State) -> dict[str, Any]:
    """Recompute every current inventory of an organisation's subtree for a period (a job)."""
    org = store.get_org(body.org_id, Action.RECOMPUTE)
    label = parse_period(body.period).label
    job = _new_job(store, "recompute", org.id, {"period": label, "reason": body.reason})
    principal = store.principal
    library = state.library
    reason = body.reason or "recomputed in bulk"

    def task(session: Session, progress: Progress) -> dict[str, Any]:
        return recompute_subtree(
            session, principal, library, org.id, label, reason=reason, progress=progress
        )

    store.session.commit()
    _runner(state).submit_task(job.id, task)
    return job_body(job)

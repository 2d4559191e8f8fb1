"""Reports and bulk recomputation as background jobs.

``POST /reports`` starts a report job; the file is kept (``GET /reports/{id}``) with its
SHA-256. ``POST /inventories/recompute`` recomputes every current inventory of a subtree for a
period, each in its own transaction, with progress. Both answer 202 with the job; follow it at
``GET /jobs/{id}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from shuangtan.adapters.db.models import Inventory, Job, Organization, ReportFile, Verification
from shuangtan.adapters.db.repositories import Store, utcnow
from shuangtan.errors import InputError, NotFoundError, PermissionDeniedError, ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import Action, Principal
from shuangtan.services.inventories import parse_period, recompute
from shuangtan.web import schemas as s
from shuangtan.web.deps import ScopedStore, State
from shuangtan.web.jobs import Progress, job_body
from shuangtan.web.params import Limit, Offset, OptId, PathId

__all__ = ["recompute_subtree", "router", "statement_for"]

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


def statement_for(session: Session, inventory_id: int) -> dict[str, Any] | None:
    """The verification statement of an inventory version, as a report shows it, or None."""
    case = session.scalars(
        select(Verification)
        .where(
            Verification.inventory_id == inventory_id,
            Verification.state.in_(("verified", "published")),
        )
        .order_by(Verification.id.desc())
    ).first()
    if case is None or case.statement is None:
        return None
    signed = orjson.loads(case.statement)
    return {
        "state": case.state,
        "verifier": signed["verifier"],
        "signed_at": signed["signed_at"],
        "signed_by": signed["signed_by"],
        "key_id": case.key_id,
        "content_sha256": signed["inventory"]["content_sha256"],
        "signature": case.signature,
        "opinion": signed["opinion"],
        "findings": [
            {"id": f["number"], "title": f["title"], "status": f["status"]}
            for f in signed["findings"]
        ],
    }


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
    stmt = (
        select(ReportFile)
        .join(Organization, Organization.id == ReportFile.org_id)
        .options(defer(ReportFile.content))
    )
    if not store.principal.is_platform_admin:
        stmt = stmt.where(ReportFile.created_by == store.principal.user_id)
    if org_id is not None:
        stmt = stmt.where(ReportFile.org_id == store.get_org(org_id).id)
    total = store.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = store.session.scalars(stmt.order_by(ReportFile.id.desc()).limit(limit).offset(offset))
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
    row = store.session.get(ReportFile, report_id)
    if row is None:
        raise NotFoundError(f"report {report_id} not found", field="id")
    org = store.session.get(Organization, row.org_id)
    mine = store.principal.is_platform_admin or row.created_by == store.principal.user_id
    if org is None or not mine or not store.principal.allows(Action.READ, org.path):
        raise NotFoundError(f"report {report_id} not found", field="id")
    disposition = "inline" if row.fmt in ("html", "pdf") else "attachment"
    return Response(
        row.content,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{row.filename}"',
            "X-Content-SHA256": row.sha256,
        },
    )


def recompute_subtree(
    session: Session,
    principal: Principal,
    library: FactorLibrary,
    org_id: int,
    period: str,
    *,
    reason: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Recompute every current inventory of a subtree for a period, each in its own transaction.

    A failing one is reported and the rest go on. ``progress(done, total)`` after each.
    """
    store = Store(session, principal)
    root = store.get_org(org_id, Action.RECOMPUTE)
    label = parse_period(period).label
    targets = list(
        session.execute(
            select(Inventory.org_id, Organization.code)
            .join(Organization, Organization.id == Inventory.org_id)
            .where(
                Organization.path.like(root.path + "%"),
                Inventory.period == label,
                Inventory.status == "current",
            )
            .order_by(func.length(Organization.path).desc(), Organization.path)
        )
    )
    if not targets:
        raise NotFoundError(f"no inventory under {root.code} for {label}", field="period")
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    session.commit()
    for n, (target, code) in enumerate(targets, start=1):
        try:
            _, version, computed, diff = recompute(
                Store(session, principal), library, target, parse_period(label), reason=reason
            )
            session.commit()
            delta = None if diff is None else diff["co2e_t"]["delta"]
            done.append(
                {"org": code, "version": version, "co2e_t": computed.co2e_t, "delta_co2e_t": delta}
            )
        except ShuangtanError as exc:
            session.rollback()
            failed.append({"org": code, "error": str(exc)})
        if progress is not None:
            progress(n, len(targets))
    return {"period": label, "recomputed": done, "failed": failed}


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

"""Audit history, stored report files and bulk recomputation, scoped to the caller.

The queries behind ``GET /api/v1/audit``, ``/reports`` and ``POST /inventories/recompute`` (and
the dashboard pages and CLI commands that do the same), kept here so the routers hold no SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from shuangtan.adapters.db.models import (
    AuditRecord,
    Inventory,
    Organization,
    ReportFile,
    Verification,
)
from shuangtan.adapters.db.repositories import Store
from shuangtan.errors import NotFoundError, ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import Action, Principal
from shuangtan.services.inventories import parse_period, recompute

__all__ = ["audit_page", "recompute_subtree", "report_file", "report_files", "statement_for"]


def audit_page(
    store: Store,
    *,
    org_id: int | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[AuditRecord], int]:
    """Audit records of the organisations the caller reads, newest first, and their count.

    With ``org_id``: that organisation's subtree.
    """
    stmt = select(AuditRecord).outerjoin(Organization, Organization.id == AuditRecord.org_id)
    condition = store.where(Action.READ)
    if condition is not None:
        stmt = stmt.where(Organization.id.is_not(None), condition)
    if org_id is not None:
        org = store.get_org(org_id)
        stmt = stmt.where(or_(Organization.path.like(org.path + "%"), AuditRecord.org_id == org.id))
    if entity is not None:
        stmt = stmt.where(AuditRecord.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditRecord.entity_id == entity_id)
    total = store.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = store.session.scalars(stmt.order_by(AuditRecord.seq.desc()).limit(limit).offset(offset))
    return list(rows), total


def _mine(store: Store) -> Any:
    """The condition on the stored reports the caller may have.

    A report shows what its maker could see (a park's admin sees the park in an enterprise's
    report), so it is its maker's, and an admin's.
    """
    if store.principal.is_platform_admin:
        return None
    return ReportFile.created_by == store.principal.user_id


def report_files(
    store: Store,
    *,
    org_id: int | None = None,
    within: Organization | None = None,
    newest_first: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[ReportFile, Organization]], int]:
    """The caller's stored reports (content not loaded), with their organisations, and how many."""
    stmt = (
        select(ReportFile, Organization)
        .join(Organization, Organization.id == ReportFile.org_id)
        .options(defer(ReportFile.content))
    )
    condition = store.where(Action.READ)
    if condition is not None:
        stmt = stmt.where(condition)
    mine = _mine(store)
    if mine is not None:
        stmt = stmt.where(mine)
    if org_id is not None:
        stmt = stmt.where(ReportFile.org_id == store.get_org(org_id).id)
    if within is not None:
        stmt = stmt.where(Organization.path.like(within.path + "%"))
    total = store.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = ReportFile.id.desc() if newest_first else ReportFile.id.asc()
    rows = store.session.execute(stmt.order_by(order).limit(limit).offset(offset))
    return [(r, o) for r, o in rows], total


def report_file(store: Store, report_id: int) -> ReportFile:
    """One stored report the caller may have.

    Raises
    ------
    NotFoundError
        Not there, not the caller's, or its organisation is not visible.
    """
    row = store.session.get(ReportFile, report_id)
    if row is None:
        raise NotFoundError(f"report {report_id} not found", field="id")
    org = store.session.get(Organization, row.org_id)
    mine = store.principal.is_platform_admin or row.created_by == store.principal.user_id
    if org is None or not mine or not store.principal.allows(Action.READ, org.path):
        raise NotFoundError(f"report {report_id} not found", field="id")
    return row


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


def recompute_subtree(
    session: Session,
    principal: Principal,
    library: FactorLibrary,
    org_id: int,
    period: str,
    *,
    reason: str,
    progress: Callable[[int, int], None] | None = None,
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

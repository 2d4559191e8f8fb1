"""Dashboard page of the audit trail: who changed what, when, and whether the chain holds.

``GET /audit`` lists the audit records of the organisations the caller can read, newest first
and paged on the server (``?org=`` keeps one organisation's subtree, ``?entity=`` and
``?entity_id=`` one kind of thing or one thing): who, when, the action, what it was done to,
the detail in words (a changed field as old → new) and the record's hashes, shortened, with the
whole value in the ``title``. ``POST /audit/verify`` (platform admins and regulators, with the
form's CSRF token) re-checks the whole chain, every audited row and every signed statement, as
``shuangtan audit verify`` does, and shows what it checked and the first broken link.

The records and the scoping are the API's (``GET /api/v1/audit``); an organisation outside the
caller's subtrees answers 404.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import func, or_, select

from shuangtan.adapters.db.audit import AUDITED
from shuangtan.adapters.db.audit import verify as verify_audit
from shuangtan.adapters.db.models import AuditRecord, Organization
from shuangtan.domain.platform import Role
from shuangtan.errors import PermissionDeniedError
from shuangtan.services.access import Action
from shuangtan.web.ui.admin import ROLE_LABELS
from shuangtan.web.ui.core import N_, Page, Table, UiPage, display_name, render
from shuangtan.web.ui.overview import LOCAL_OFFSET
from shuangtan.web.ui.verification import FINDING_STATUS, ORIGINS, SEVERITIES, SIDES, STATES

__all__ = ["describe", "router"]

router = APIRouter(include_in_schema=False)

OptId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
#: Records per page.
PAGE_SIZE: Final = 50
#: Longest value shown whole in a detail; longer ones are cut, whole in the ``title``.
SHOWN: Final = 160
#: Problems of a check shown on the page (the CLI prints them all).
PROBLEMS_SHOWN: Final = 20
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
#: A timestamp as details store it (naive UTC, ISO 8601).
_TIMESTAMP: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$")

#: What happened, by the verb of the action (``<entity>.<verb>``).
VERBS: Final = {
    "create": N_("created"),
    "update": N_("updated"),
    "delete": N_("deleted"),
    "import": N_("imported"),
    "compute": N_("computed"),
    "supersede": N_("superseded"),
    "adopt": N_("recorded as found"),
    "submit": N_("submitted for verification"),
    "assign": N_("verifier assigned"),
    "return": N_("returned to the organisation"),
    "resubmit": N_("resubmitted"),
    "verify": N_("verified and signed"),
    "publish": N_("published"),
    "raise": N_("finding raised"),
    "answer": N_("finding answered"),
    "close": N_("finding closed"),
    "attach": N_("evidence attached"),
    "grant": N_("role granted"),
    "revoke": N_("role revoked"),
    "unlink_source": N_("meter unlinked from its source"),
}
#: What it happened to.
ENTITIES: Final = {
    "organization": N_("Organisation"),
    "economics": N_("Economic data"),
    "source": N_("Emission source"),
    "meter": N_("Meter"),
    "activity": N_("Activity datum"),
    "inventory": N_("Inventory"),
    "verification": N_("Verification case"),
    "finding": N_("Finding"),
    "finding_comment": N_("Comment on a finding"),
    "evidence": N_("Evidence file"),
    "signing_key": N_("Signing key"),
    "user": N_("User"),
    "grant": N_("Role"),
}
#: Names of the fields details carry most often.
FIELDS: Final = {
    "amount": N_("Amount"),
    "unit": N_("Unit"),
    "note": N_("Note"),
    "period": N_("Period"),
    "period_start": N_("Period start"),
    "period_end": N_("Period end"),
    "version": N_("Version"),
    "by_version": N_("Superseded by version"),
    "status": N_("Status"),
    "state": N_("State"),
    "title": N_("Title"),
    "severity": N_("Severity"),
    "body": N_("Text"),
    "filename": N_("File"),
    "size": N_("Size (bytes)"),
    "source_id": N_("Emission source"),
    "source_code": N_("Emission source"),
    "verifier": N_("Verifier organisation"),
    "inventory_id": N_("Inventory"),
    "case_id": N_("Case"),
    "number": N_("Number"),
    "reason": N_("Reason"),
    "co2e_t": N_("Emissions (tCO2e)"),
    "energy_tce": N_("Energy (tce)"),
    "key_id": N_("Signing key"),
    "activity_id": N_("Activity datum"),
    "side": N_("Side"),
    "finding_id": N_("Finding"),
    "name_zh": N_("Name (Chinese)"),
    "name_en": N_("Name (English)"),
    "code": N_("Code"),
    "user": N_("User"),
    "role": N_("Role"),
    "org": N_("Organisation"),
    "org_id": N_("Organisation"),
    "active": N_("Active"),
    "origin": N_("Origin"),
    "created_at": N_("Created"),
    "updated_at": N_("Last change"),
    "submitted_at": N_("Submitted"),
    "assigned_at": N_("Assigned"),
    "decided_at": N_("Decided"),
    "published_at": N_("Published"),
    "closed_at": N_("Closed"),
    "uploaded_at": N_("Uploaded"),
    "computed_at": N_("Computed"),
    "verifier_org_id": N_("Verifier organisation"),
    "statement": N_("Statement"),
    "signature": N_("Signature"),
    "content_sha256": N_("Content hash"),
}
#: Values of some fields in words (by the field's name).
VALUES: Final[dict[str, dict[str, str]]] = {
    "severity": {k: label for k, (label, _tone) in SEVERITIES.items()},
    "status": {
        **{k: label for k, (label, _tone) in FINDING_STATUS.items()},
        "current": N_("current"),
        "superseded": N_("superseded"),
    },
    "side": dict(SIDES),
    "origin": dict(ORIGINS),
    "role": dict(ROLE_LABELS),
    **{key: {k: label for k, (label, _tone) in STATES.items()} for key in ("from", "to", "state")},
}
#: Kinds of problem ``audit verify`` reports.
PROBLEM_KINDS: Final = {
    "chain": N_("chain"),
    "state": N_("audited data"),
    "signature": N_("signature"),
}


def _verifiers(page: Page) -> bool:
    """Whether the caller may re-check the whole trail (platform admins, regulators)."""
    return any(g.role in (Role.PLATFORM_ADMIN, Role.REGULATOR) for g in page.principal.grants)


def _seconds(ts: dt.datetime) -> str:
    return (ts + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M:%S")


def _value(page: Page, key: str, value: Any) -> dict[str, Any]:
    """One value of a detail for people: text, the whole text when cut, whether a hash."""
    if value is None:
        return {"text": "–", "full": None, "hash": False, "none": True}
    if isinstance(value, bool):
        return {"text": page.gettext(N_("yes") if value else N_("no")), "full": None, "hash": False}
    if isinstance(value, str) and value in VALUES.get(key, {}):
        return {"text": page.gettext(VALUES[key][value]), "full": value, "hash": False}
    if isinstance(value, str) and _TIMESTAMP.match(value):
        when = dt.datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=None)
        return {"text": _seconds(when), "full": value, "hash": False}
    if isinstance(value, str) and (
        _HEX64.match(value) or key.endswith("sha256") or key == "public_key"
    ):
        return {"text": value, "full": value, "hash": True}
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if len(text) > SHOWN:
        return {"text": text[:SHOWN] + "…", "full": text, "hash": False}
    return {"text": text, "full": None, "hash": False}


def describe(page: Page, record: AuditRecord) -> list[dict[str, Any]]:
    """A record's detail in words: one line per field, ``old`` set where a field changed.

    A change (a record with a state before and after) stores each changed field as
    ``[old, new]``; a state transition stores ``from`` and ``to``, shown as one line.
    """
    detail = orjson.loads(record.detail)
    if not isinstance(detail, Mapping):
        return [{"field": "", "code": "", "new": _value(page, "", detail), "old": None}]
    change = record.before_sha256 is not None and record.after_sha256 is not None
    lines: list[dict[str, Any]] = []
    transition = "from" in detail and "to" in detail
    if transition:
        lines.append(
            {
                "field": page.gettext(N_("State")),
                "code": "state",
                "new": _value(page, "to", detail["to"]),
                "old": _value(page, "from", detail["from"]),
            }
        )
    for key, value in detail.items():
        if transition and key in ("from", "to"):
            continue
        label = FIELDS.get(key)
        old: dict[str, Any] | None = None
        new = value
        if change and isinstance(value, list) and len(value) == 2:
            old, new = _value(page, key, value[0]), value[1]
        lines.append(
            {
                "field": page.gettext(label) if label else key,
                "code": key,
                "new": _value(page, key, new),
                "old": old,
            }
        )
    return lines


def _link(entity: str, entity_id: int | None) -> str | None:
    """Where the dashboard shows the thing a record names, if it has a page."""
    if entity_id is None:
        return None
    return {
        "verification": f"/verifications/{entity_id}",
        "meter": f"/meters/{entity_id}",
        "activity": f"/activity/{entity_id}/evidence",
        "evidence": f"/api/v1/evidence/{entity_id}",
    }.get(entity)


def _audit_response(
    request: Request,
    page: Page,
    *,
    org: int | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
    report: dict[str, Any] | None = None,
) -> Response:
    store = page.store
    table = Table.from_request(request, ("seq",), default="seq", direction="desc", size=PAGE_SIZE)
    stmt = select(AuditRecord, Organization).outerjoin(
        Organization, Organization.id == AuditRecord.org_id
    )
    condition = store.where(Action.READ)
    if condition is not None:
        stmt = stmt.where(Organization.id.is_not(None), condition)
    within = store.get_org(org) if org is not None else None
    if within is not None:
        stmt = stmt.where(
            or_(Organization.path.like(within.path + "%"), AuditRecord.org_id == within.id)
        )
    kind = entity if entity in AUDITED else None
    if kind is not None:
        stmt = stmt.where(AuditRecord.entity == kind)
        if entity_id is not None:
            stmt = stmt.where(AuditRecord.entity_id == entity_id)
    table.total = store.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    order = AuditRecord.seq.desc() if table.descending else AuditRecord.seq.asc()
    found = store.session.execute(stmt.order_by(order).limit(table.size).offset(table.offset))
    rows = []
    for record, record_org in found:
        verb = record.action.rsplit(".", 1)[-1]
        label = VERBS.get(verb)
        what = ENTITIES.get(record.entity)
        rows.append(
            {
                "seq": record.seq,
                "at": _seconds(record.at),
                "actor": record.actor,
                "action": page.gettext(label) if label else record.action,
                "action_code": record.action,
                "entity": page.gettext(what) if what else record.entity,
                "entity_id": record.entity_id,
                "link": _link(record.entity, record.entity_id),
                "org": (record_org.code, display_name(record_org, page.locale))
                if record_org
                else None,
                "detail": describe(page, record),
                "before": record.before_sha256,
                "after": record.after_sha256,
                "sha256": record.sha256,
                "prev": record.prev_sha256,
            }
        )
    context = {
        "rows": rows,
        "table": table,
        "within": (within.id, display_name(within, page.locale)) if within else None,
        "entity": kind,
        "entity_id": entity_id if kind else None,
        "entities": sorted(
            ((key, page.gettext(label)) for key, label in ENTITIES.items()), key=lambda kv: kv[1]
        ),
        "can_verify": _verifiers(page),
        "report": report,
    }
    return render(request, "audit.html", context, page=page)


@router.get("/audit")
def audit_page(
    request: Request,
    page: UiPage,
    org: OptId = None,
    entity: Annotated[str | None, Query(max_length=30)] = None,
    entity_id: OptId = None,
) -> Response:
    """The audit records the caller may read, newest first."""
    return _audit_response(request, page, org=org, entity=entity, entity_id=entity_id)


def _report_view(page: Page, report: Mapping[str, Any]) -> dict[str, Any]:
    """``audit verify``'s report with the kinds of problem in words."""
    first = report["first_broken_link"]
    problems = [
        {
            **p,
            "kind_label": page.gettext(PROBLEM_KINDS.get(p["kind"], p["kind"])),
        }
        for p in report["problems"][:PROBLEMS_SHOWN]
    ]
    return {
        **report,
        "first": first,
        "shown": problems,
        "hidden": len(report["problems"]) - len(problems) + report["more_problems"],
    }


@router.post("/audit/verify")
async def audit_verify(request: Request, page: UiPage) -> Response:
    """Re-check the chain, the audited data and the signatures; show what was found."""
    form = await request.form()
    page.check_csrf(form)
    if not _verifiers(page):
        raise PermissionDeniedError("only platform admins and regulators may verify the trail")
    report = await run_in_threadpool(lambda: verify_audit(page.store.session).as_dict())
    return _audit_response(request, page, report=_report_view(page, report))

"""Verification, evidence and the audit trail over HTTP.

The organisation submits its current inventory (``POST /verifications``); a regulator or an
organisation admin assigns a verifier organisation; the verifier's members raise findings, the
organisation answers them, the verifier returns or verifies (signs) the case; the organisation
publishes it. Evidence files hang on activity data. ``GET /audit`` is an organisation's history;
``POST /audit/verify`` re-checks the whole chain (platform admins and regulators).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from shuangtan.adapters.db.audit import verify as verify_audit
from shuangtan.adapters.db.models import Evidence
from shuangtan.adapters.db.records import audit_page
from shuangtan.adapters.db.verification import (
    EVIDENCE_TYPES,
    MAX_EVIDENCE_BYTES,
    Cases,
    case_dict,
)
from shuangtan.domain.platform import Role
from shuangtan.errors import InputError, PermissionDeniedError
from shuangtan.web import schemas as s
from shuangtan.web.deps import ScopedStore, State
from shuangtan.web.params import Limit, Offset, OptId, PathId

router = APIRouter()

#: What a downloaded file may be, for the OpenAPI document.
_FILE_TYPES: dict[str, Any] = {
    media: {"schema": {"type": "string", "format": "binary"}} for media in sorted(EVIDENCE_TYPES)
}

StateName = Literal["draft", "submitted", "in_verification", "returned", "verified", "published"]


class SubmitIn(s.Strict):
    """Submit an organisation's current inventory of a period."""

    org_id: int = Field(ge=1, le=2**31 - 1)
    period: str = Field(min_length=4, max_length=10, examples=["2025"])


class AssignIn(s.Strict):
    """Assign a verifier organisation."""

    verifier_org_id: int = Field(ge=1, le=2**31 - 1)


class ReturnIn(s.Strict):
    """Return a case with its findings."""

    note: str = Field(default="", max_length=4000)


class VerifyIn(s.Strict):
    """Sign off a case."""

    opinion: str = Field(min_length=1, max_length=8000)


class FindingIn(s.Strict):
    """A new finding."""

    severity: Literal["major", "minor", "observation"]
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=8000)
    subject: dict[str, str | int | float | None] = Field(default_factory=dict)


class CommentIn(s.Strict):
    """A comment on a finding."""

    body: str = Field(min_length=1, max_length=8000)


class CaseOut(BaseModel):
    """A verification case."""

    id: int
    org_id: int
    org_code: str | None
    org_name_zh: str | None
    org_name_en: str | None
    period: str
    inventory_id: int
    state: str
    verifier_org_id: int | None
    verifier_code: str | None
    verifier_name_zh: str | None
    verifier_name_en: str | None
    submitted_at: str | None
    assigned_at: str | None
    decided_at: str | None
    published_at: str | None
    statement: dict[str, Any] | None
    signature: str | None
    key_id: int | None
    updated_at: str | None


class CommentOut(BaseModel):
    """A comment on a finding."""

    id: int
    side: str
    body: str
    created_at: s.UtcDateTime
    created_by: int | None


class FindingOut(BaseModel):
    """A finding with its comments."""

    id: int
    verification_id: int
    number: int
    severity: str
    title: str
    body: str
    subject: dict[str, Any]
    status: str
    created_at: s.UtcDateTime
    closed_at: s.UtcDateTime | None
    comments: list[CommentOut]


class EvidenceOut(BaseModel):
    """An evidence file's metadata."""

    id: int
    activity_id: int
    org_id: int
    filename: str
    media_type: str
    size: int
    sha256: str
    note: str
    uploaded_at: s.UtcDateTime


class AuditOut(BaseModel):
    """One audit record."""

    seq: int
    at: s.UtcDateTime
    actor: str
    actor_id: int | None
    org_id: int | None
    action: str
    entity: str
    entity_id: int | None
    before_sha256: str | None
    after_sha256: str | None
    detail: dict[str, Any]
    prev_sha256: str
    sha256: str


class AuditProblemOut(BaseModel):
    """Something ``audit verify`` found wrong."""

    kind: str
    message: str
    seq: int | None
    entity: str | None
    entity_id: int | None


class AuditReportOut(BaseModel):
    """What ``audit verify`` checked and found."""

    ok: bool
    records: int
    entities: int
    signatures: int
    first_broken_link: AuditProblemOut | None
    problems: list[AuditProblemOut]
    more_problems: int


def _cases(store: ScopedStore, state: State) -> Cases:
    return Cases(store, state.vault)


def _out(cases: Cases, case: Any) -> dict[str, Any]:
    return case_dict(case, cases.orgs_of([case]))


def _finding_out(finding: Any, comments: list[Any]) -> dict[str, Any]:
    return {
        "id": finding.id,
        "verification_id": finding.verification_id,
        "number": finding.number,
        "severity": finding.severity,
        "title": finding.title,
        "body": finding.body,
        "subject": finding.subject,
        "status": finding.status,
        "created_at": finding.created_at,
        "closed_at": finding.closed_at,
        "comments": [
            {
                "id": c.id,
                "side": c.side,
                "body": c.body,
                "created_at": c.created_at,
                "created_by": c.created_by,
            }
            for c in comments
        ],
    }


def _evidence_out(e: Evidence) -> dict[str, Any]:
    return {
        "id": e.id,
        "activity_id": e.activity_id,
        "org_id": e.org_id,
        "filename": e.filename,
        "media_type": e.media_type,
        "size": e.size,
        "sha256": e.sha256,
        "note": e.note,
        "uploaded_at": e.uploaded_at,
    }


@router.get("/verifications", response_model=s.Page[CaseOut], tags=["verification"])
def list_cases(
    store: ScopedStore,
    state: State,
    case_state: Annotated[StateName | None, Query(alias="state")] = None,
    org_id: OptId = None,
    period: Annotated[str | None, Query(max_length=10)] = None,
    queue: Annotated[bool, Query(description="Only cases assigned to your bodies")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Cases you can see: your organisations' and those assigned to your verifier bodies."""
    cases = _cases(store, state)
    rows, total = cases.search(
        state=case_state, org_id=org_id, period=period, queue=queue, limit=limit, offset=offset
    )
    orgs = cases.orgs_of(rows)
    return {
        "items": [case_dict(c, orgs) for c in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post("/verifications", response_model=CaseOut, status_code=201, tags=["verification"])
def submit_case(body: SubmitIn, store: ScopedStore, state: State) -> dict[str, Any]:
    """Submit the organisation's current inventory of a period (or resubmit a returned one)."""
    cases = _cases(store, state)
    return _out(cases, cases.submit(body.org_id, body.period))


@router.get("/verifications/{case_id}", response_model=CaseOut, tags=["verification"])
def get_case(case_id: PathId, store: ScopedStore, state: State) -> dict[str, Any]:
    """One case."""
    cases = _cases(store, state)
    return _out(cases, cases.get(case_id))


@router.post("/verifications/{case_id}/assign", response_model=CaseOut, tags=["verification"])
def assign_case(
    case_id: PathId, body: AssignIn, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Assign a verifier organisation; its members can then read the organisation's lineage."""
    cases = _cases(store, state)
    case = cases.assign(case_id, body.verifier_org_id)
    state.forget_principals()
    return _out(cases, case)


@router.post("/verifications/{case_id}/return", response_model=CaseOut, tags=["verification"])
def return_case(
    case_id: PathId, body: ReturnIn, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Return the case to the organisation with its open findings."""
    cases = _cases(store, state)
    return _out(cases, cases.return_case(case_id, body.note))


@router.post("/verifications/{case_id}/verify", response_model=CaseOut, tags=["verification"])
def verify_case(
    case_id: PathId, body: VerifyIn, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Sign off: the version is frozen and the statement signed with the body's Ed25519 key."""
    cases = _cases(store, state)
    return _out(cases, cases.verify(case_id, body.opinion))


@router.post("/verifications/{case_id}/publish", response_model=CaseOut, tags=["verification"])
def publish_case(case_id: PathId, store: ScopedStore, state: State) -> dict[str, Any]:
    """Publish a verified case."""
    cases = _cases(store, state)
    return _out(cases, cases.publish(case_id))


@router.get("/verifications/{case_id}/statement", tags=["verification"])
def case_statement(case_id: PathId, store: ScopedStore, state: State) -> Response:
    """The signed statement, its signature and public key, to check offline.

    ``statement`` is the exact text signed (UTF-8); check with any Ed25519 library.
    """
    cases = _cases(store, state)
    case = cases.get(case_id)
    if case.statement is None:
        raise InputError(f"case {case.id} is {case.state}: nothing is signed yet", field="state")
    statement = orjson.loads(case.statement)
    body = {
        "statement": case.statement,
        "signature": case.signature,
        "algorithm": "Ed25519",
        "public_key": statement.get("public_key"),
        "key_id": case.key_id,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/verifications/{case_id}/lineage", response_model=dict[str, Any], tags=["verification"]
)
def case_lineage(case_id: PathId, store: ScopedStore, state: State) -> dict[str, Any]:
    """The version under review down to activity data, evidence, meters and factors."""
    return _cases(store, state).lineage(case_id)


@router.get(
    "/verifications/{case_id}/findings", response_model=list[FindingOut], tags=["verification"]
)
def list_findings(case_id: PathId, store: ScopedStore, state: State) -> list[dict[str, Any]]:
    """The case's findings with their comments."""
    return [_finding_out(f, c) for f, c in _cases(store, state).findings(case_id)]


@router.post(
    "/verifications/{case_id}/findings",
    response_model=FindingOut,
    status_code=201,
    tags=["verification"],
)
def add_finding(
    case_id: PathId, body: FindingIn, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Raise a finding (the assigned verifier, while the case is in verification)."""
    finding = _cases(store, state).add_finding(
        case_id, severity=body.severity, title=body.title, body=body.body, subject=body.subject
    )
    return _finding_out(finding, [])


@router.post(
    "/findings/{finding_id}/comments",
    response_model=CommentOut,
    status_code=201,
    tags=["verification"],
)
def comment_finding(
    finding_id: PathId, body: CommentIn, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Answer a finding (the organisation) or reply (the verifier)."""
    c = _cases(store, state).comment(finding_id, body.body)
    return {
        "id": c.id,
        "side": c.side,
        "body": c.body,
        "created_at": c.created_at,
        "created_by": c.created_by,
    }


@router.post("/findings/{finding_id}/close", response_model=FindingOut, tags=["verification"])
def close_finding(finding_id: PathId, store: ScopedStore, state: State) -> dict[str, Any]:
    """Close a finding (the verifier)."""
    cases = _cases(store, state)
    finding = cases.close_finding(finding_id)
    comments = next(c for f, c in cases.findings(finding.verification_id) if f.id == finding.id)
    return _finding_out(finding, comments)


@router.post(
    "/activity/{activity_id}/evidence",
    response_model=EvidenceOut,
    status_code=201,
    tags=["verification"],
)
async def upload_evidence(
    activity_id: PathId,
    store: ScopedStore,
    state: State,
    file: Annotated[UploadFile, File(description="The evidence file (≤ 20 MB)")],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> dict[str, Any]:
    """Attach an evidence file to an activity datum."""
    if "\x00" in note:
        raise InputError("must not contain NUL characters (note)", field="note")
    content = await file.read(MAX_EVIDENCE_BYTES + 1)

    def work() -> dict[str, Any]:
        evidence = _cases(store, state).add_evidence(
            activity_id,
            filename=file.filename or "evidence",
            media_type=file.content_type or "",
            content=content,
            note=note,
        )
        return _evidence_out(evidence)

    return await run_in_threadpool(work)


@router.get(
    "/activity/{activity_id}/evidence", response_model=list[EvidenceOut], tags=["verification"]
)
def list_evidence(activity_id: PathId, store: ScopedStore, state: State) -> list[dict[str, Any]]:
    """The evidence files of an activity datum."""
    store.get_activity(activity_id)
    return [_evidence_out(e) for e in _cases(store, state).evidence_for([activity_id])]


@router.get(
    "/evidence/{evidence_id}",
    tags=["verification"],
    response_class=Response,
    responses={200: {"description": "The file as uploaded", "content": _FILE_TYPES}},
)
def download_evidence(evidence_id: PathId, store: ScopedStore, state: State) -> Response:
    """An evidence file, as uploaded (its SHA-256 in ``X-Content-SHA256``)."""
    evidence = _cases(store, state).get_evidence(evidence_id)
    ascii_name = evidence.filename.encode("ascii", "replace").decode().replace('"', "")
    return Response(
        evidence.content,
        media_type=evidence.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"',
            "X-Content-SHA256": evidence.sha256,
        },
    )


@router.delete("/evidence/{evidence_id}", status_code=204, tags=["verification"])
def delete_evidence(evidence_id: PathId, store: ScopedStore, state: State) -> Response:
    """Remove an evidence file no signed statement covers."""
    _cases(store, state).delete_evidence(evidence_id)
    return Response(status_code=204)


@router.get("/audit", response_model=s.Page[AuditOut], tags=["audit"])
def audit_history(
    store: ScopedStore,
    org_id: OptId = None,
    entity: Annotated[str | None, Query(max_length=30)] = None,
    entity_id: OptId = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Audit records of the organisations you can read, newest first.

    With ``org_id``: that organisation's subtree.
    """
    rows, total = audit_page(
        store, org_id=org_id, entity=entity, entity_id=entity_id, limit=limit, offset=offset
    )
    items = [
        {
            "seq": r.seq,
            "at": r.at,
            "actor": r.actor,
            "actor_id": r.actor_id,
            "org_id": r.org_id,
            "action": r.action,
            "entity": r.entity,
            "entity_id": r.entity_id,
            "before_sha256": r.before_sha256,
            "after_sha256": r.after_sha256,
            "detail": orjson.loads(r.detail),
            "prev_sha256": r.prev_sha256,
            "sha256": r.sha256,
        }
        for r in rows
    ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/audit/verify", response_model=AuditReportOut, tags=["audit"])
def audit_verify(store: ScopedStore) -> dict[str, Any]:
    """Re-check the chain, the audited data and the signatures (platform admins, regulators)."""
    roles = {g.role for g in store.principal.grants}
    if not roles & {Role.PLATFORM_ADMIN, Role.REGULATOR}:
        raise PermissionDeniedError("only platform admins and regulators may verify the trail")
    return verify_audit(store.session).as_dict()

"""Verification cases, findings, evidence and signed statements, scoped to the caller.

:class:`Cases` works beside a :class:`~shuangtan.adapters.db.repositories.Store` (same session,
same principal, same audit trail). The rules (which transition from which state, who is
independent) are :mod:`shuangtan.services.verification`; here they meet the database:

- the organisation's side acts through its roles (``submit``, ``respond``, …) on the
  organisation's subtree;
- the verifier's side acts through membership: a ``verifier`` grant on the verifier
  organisation the case is assigned to;
- every change is an audit record whose hashes cover the case, the finding or the file;
- signing freezes the version: the statement names the inventory's content hash and the
  evidence files' hashes, and is signed with the body's Ed25519 key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any, Final

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from shuangtan.adapters.db.audit import content_hash
from shuangtan.adapters.db.models import (
    ActivityDatum,
    EmissionSource,
    Evidence,
    Finding,
    FindingComment,
    Inventory,
    Meter,
    Organization,
    SigningKey,
    Verification,
)
from shuangtan.adapters.db.repositories import Store, utcnow
from shuangtan.adapters.keys import KeyVault
from shuangtan.domain.platform import OrgKind, Role
from shuangtan.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from shuangtan.services.access import Action
from shuangtan.services.inventories import parse_period
from shuangtan.services.verification import (
    OPEN_STATES,
    FindingStatus,
    Severity,
    State,
    Transition,
    check_independent,
    check_signer,
    next_state,
)

__all__ = ["EVIDENCE_TYPES", "MAX_EVIDENCE_BYTES", "Cases", "case_dict"]

#: Largest evidence file. [B]
MAX_EVIDENCE_BYTES: Final = 20 * 1024 * 1024

#: Media types accepted as evidence.
EVIDENCE_TYPES: Final = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "text/csv",
        "text/plain",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel",
        "application/zip",
    }
)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def case_dict(case: Verification, orgs: dict[int, Organization]) -> dict[str, Any]:
    """A case as the API shows it."""
    org = orgs.get(case.org_id)
    body = orgs.get(case.verifier_org_id) if case.verifier_org_id is not None else None
    return {
        "id": case.id,
        "org_id": case.org_id,
        "org_code": org.code if org else None,
        "org_name_zh": org.name_zh if org else None,
        "org_name_en": org.name_en if org else None,
        "period": case.period,
        "inventory_id": case.inventory_id,
        "state": case.state,
        "verifier_org_id": case.verifier_org_id,
        "verifier_code": body.code if body else None,
        "verifier_name_zh": body.name_zh if body else None,
        "verifier_name_en": body.name_en if body else None,
        "submitted_at": _iso(case.submitted_at),
        "assigned_at": _iso(case.assigned_at),
        "decided_at": _iso(case.decided_at),
        "published_at": _iso(case.published_at),
        "statement": None if case.statement is None else orjson.loads(case.statement),
        "signature": case.signature,
        "key_id": case.key_id,
        "updated_at": _iso(case.updated_at),
    }


class Cases:
    """Verification cases for one request.

    Parameters
    ----------
    store : Store
        The request's store (session, principal, audit trail).
    vault : KeyVault or None
        Signs statements; needed only to verify a case.
    """

    def __init__(self, store: Store, vault: KeyVault | None = None) -> None:
        self.store = store
        self.session: Session = store.session
        self.principal = store.principal
        self.vault = vault

    # --- who is who -------------------------------------------------------------------------

    def bodies(self) -> set[int]:
        """Verifier organisations the caller is a member of."""
        ids = {g.org_id for g in self.principal.grants if g.role is Role.VERIFIER and g.org_id}
        if not ids:
            return set()
        return set(
            self.session.scalars(
                select(Organization.id).where(
                    Organization.id.in_(ids), Organization.kind == OrgKind.VERIFIER.value
                )
            )
        )

    def _member(self, case: Verification) -> bool:
        return case.verifier_org_id is not None and case.verifier_org_id in self.bodies()

    def _org(self, org_id: int) -> Organization:
        org = self.session.get(Organization, org_id)
        if org is None:
            raise NotFoundError(f"organization {org_id} not found", field="org_id")
        return org

    def _require_org_side(self, case: Verification, action: Action) -> Organization:
        org = self._org(case.org_id)
        self.store.get_org(org.id, action)
        return org

    def _require_verifier(self, case: Verification) -> None:
        if not self._member(case):
            raise PermissionDeniedError(
                "only a member of the verifier organisation assigned to this case may do that"
                + ("" if case.verifier_org_id else " (none is assigned yet)")
            )
        if not self.principal.scope_allows(Action.SUBMIT):
            raise PermissionDeniedError("this token's scopes allow reading only")

    # --- reading ----------------------------------------------------------------------------

    def _visible(self) -> Any:
        bodies = self.bodies()
        condition = self.store.where(Action.READ)
        member = Verification.verifier_org_id.in_(bodies) if bodies else None
        if condition is None:
            return None
        return or_(condition, member) if member is not None else condition

    def get(self, case_id: int) -> Verification:
        """A case the caller may see (its organisation's readers and the assigned body)."""
        row = self.session.execute(
            select(Verification, Organization)
            .join(Organization, Organization.id == Verification.org_id)
            .where(Verification.id == case_id)
        ).first()
        if row is None:
            raise NotFoundError(f"verification case {case_id} not found", field="id")
        case, org = row
        if not (self.principal.allows(Action.READ, org.path) or self._member(case)):
            raise NotFoundError(f"verification case {case_id} not found", field="id")
        return case

    def search(
        self,
        *,
        state: str | None = None,
        org_id: int | None = None,
        period: str | None = None,
        queue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Verification], int]:
        """Visible cases, newest first; ``queue`` keeps those assigned to the caller's bodies."""
        stmt = select(Verification).join(Organization, Organization.id == Verification.org_id)
        condition = self._visible()
        if condition is not None:
            stmt = stmt.where(condition)
        if queue:
            stmt = stmt.where(Verification.verifier_org_id.in_(self.bodies() or {-1}))
        if state is not None:
            try:
                State(state)
            except ValueError:
                raise InputError(
                    f"unknown state {state!r} (one of {', '.join(s.value for s in State)})",
                    field="state",
                ) from None
            stmt = stmt.where(Verification.state == state)
        if org_id is not None:
            stmt = stmt.where(Verification.org_id == org_id)
        if period is not None:
            stmt = stmt.where(Verification.period == parse_period(period).label)
        total = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = self.session.scalars(
            stmt.order_by(Verification.updated_at.desc(), Verification.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(rows), total

    def orgs_of(self, cases: Iterable[Verification]) -> dict[int, Organization]:
        """The organisations and bodies the cases name."""
        ids = set()
        for case in cases:
            ids.add(case.org_id)
            if case.verifier_org_id is not None:
                ids.add(case.verifier_org_id)
        if not ids:
            return {}
        return {
            o.id: o
            for o in self.session.scalars(select(Organization).where(Organization.id.in_(ids)))
        }

    def open_case(self, org_id: int, period: str) -> Verification | None:
        """The case under way for an organisation and period, if any."""
        return self.session.scalars(
            select(Verification).where(
                Verification.org_id == org_id,
                Verification.period == parse_period(period).label,
                Verification.state.in_([s.value for s in OPEN_STATES]),
            )
        ).first()

    def cases_of_inventory(self, inventory_id: int) -> list[Verification]:
        """Every case that names an inventory version."""
        return list(
            self.session.scalars(
                select(Verification).where(Verification.inventory_id == inventory_id)
            )
        )

    def frozen(self, inventory_id: int) -> bool:
        """Whether a version is verified or published (frozen: never edited)."""
        return bool(
            self.session.scalar(
                select(func.count())
                .select_from(Verification)
                .where(
                    Verification.inventory_id == inventory_id,
                    Verification.state.in_((State.VERIFIED.value, State.PUBLISHED.value)),
                )
            )
        )

    # --- transitions ------------------------------------------------------------------------

    def _move(
        self,
        case: Verification,
        transition: Transition,
        *,
        before: dict[str, Any] | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        target = next_state(State(case.state), transition)
        old = case.state
        case.state = target.value
        case.updated_at = utcnow()
        self.session.flush()
        self.store.log(
            transition.value,
            "verification",
            case.id,
            org_id=case.org_id,
            before=before,
            after=case,
            detail={"from": old, "to": target.value, **(detail or {})},
        )

    def submit(self, org_id: int, period: str) -> Verification:
        """Submit the organisation's current inventory for the period.

        A returned case goes back to its verifier with the current version (resubmit).
        """
        org = self.store.get_org(org_id, Action.SUBMIT, field="org_id")
        label = parse_period(period).label
        inventory = self.store.current_inventory(org.id, label)
        # Serialise submissions of one organisation (PostgreSQL row lock).
        self.session.execute(
            select(Organization.id).where(Organization.id == org.id).with_for_update()
        )
        case = self.open_case(org.id, label)
        now = utcnow()
        if case is None:
            if self.frozen(inventory.id):
                raise ConflictError(
                    f"version {inventory.version} of {org.code}'s {label} inventory is already"
                    " verified; recompute it for a new version to submit",
                    field="period",
                )
            case = Verification(
                org_id=org.id,
                period=label,
                inventory_id=inventory.id,
                state=State.DRAFT.value,
                submitted_at=now,
                submitted_by=self.store.user_id,
                updated_at=now,
            )
            self.session.add(case)
            self.session.flush()
            before = None
            transition = Transition.SUBMIT
        else:
            before = self.store.snapshot("verification", case)
            transition = Transition.RESUBMIT
            next_state(State(case.state), transition)  # refuse before changing anything
            case.inventory_id = inventory.id
            case.submitted_at = now
            case.submitted_by = self.store.user_id
        self._move(
            case,
            transition,
            before=before,
            detail={"period": label, "inventory_id": inventory.id, "version": inventory.version},
        )
        return case

    def assign(self, case_id: int, verifier_org_id: int) -> Verification:
        """Assign a verifier organisation to a submitted case."""
        case = self.get(case_id)
        org = self._require_org_side(case, Action.ASSIGN_VERIFIER)
        body = self.session.get(Organization, verifier_org_id)
        if body is None or body.kind != OrgKind.VERIFIER.value:
            raise InputError(
                f"organization {verifier_org_id} is not a verifier organisation",
                field="verifier_org_id",
            )
        check_independent(org.path, body.path, body.code)
        before = self.store.snapshot("verification", case)
        next_state(State(case.state), Transition.ASSIGN)  # refuse before changing anything
        case.verifier_org_id = body.id
        case.assigned_at = utcnow()
        case.assigned_by = self.store.user_id
        self._move(case, Transition.ASSIGN, before=before, detail={"verifier": body.code})
        return case

    def return_case(self, case_id: int, note: str = "") -> Verification:
        """Return a case with its open findings to the organisation."""
        case = self.get(case_id)
        self._require_verifier(case)
        pending = self.session.scalar(
            select(func.count())
            .select_from(Finding)
            .where(Finding.verification_id == case.id, Finding.status != FindingStatus.CLOSED)
        )
        if not pending:
            raise ConflictError(
                "a case is returned with findings: raise at least one first", field="findings"
            )
        before = self.store.snapshot("verification", case)
        self._move(case, Transition.RETURN, before=before, detail={"note": note})
        return case

    def verify(self, case_id: int, opinion: str) -> Verification:
        """Sign off: freeze the version, sign the statement with the body's key."""
        case = self.get(case_id)
        self._require_verifier(case)
        next_state(State(case.state), Transition.VERIFY)
        org = self._org(case.org_id)
        check_signer(self.principal.roles_on(org.path), self.principal.username, org.code)
        if not opinion.strip():
            raise InputError("must state the verification opinion", field="opinion")
        findings = list(
            self.session.scalars(
                select(Finding).where(Finding.verification_id == case.id).order_by(Finding.number)
            )
        )
        unclosed = [f.number for f in findings if f.status != FindingStatus.CLOSED]
        if unclosed:
            raise ConflictError(
                f"findings {', '.join(map(str, unclosed))} are not closed", field="findings"
            )
        if self.vault is None:
            raise RuntimeError("no key vault: the server was started without one")
        assert case.verifier_org_id is not None
        body = self._org(case.verifier_org_id)
        key = self.session.scalars(
            select(SigningKey)
            .where(SigningKey.org_id == body.id, SigningKey.revoked_at.is_(None))
            .order_by(SigningKey.id.desc())
        ).first()
        if key is None:
            key = self.create_key(body.id)
        inventory = self.session.get(Inventory, case.inventory_id)
        assert inventory is not None
        now = utcnow()
        statement = {
            "type": "shuangtan.verification-statement/1",
            "case_id": case.id,
            "organization": {
                "id": org.id,
                "code": org.code,
                "name_zh": org.name_zh,
                "name_en": org.name_en,
                "credit_code": org.credit_code,
            },
            "period": case.period,
            "inventory": {
                "id": inventory.id,
                "version": inventory.version,
                "co2e_t": inventory.co2e_t,
                "energy_tce": inventory.energy_tce,
                "gwp_set": inventory.gwp_set,
                "library_version": inventory.library_version,
                "content_sha256": content_hash(inventory),
            },
            "evidence": self._evidence_of(inventory),
            "verifier": {
                "id": body.id,
                "code": body.code,
                "name_zh": body.name_zh,
                "name_en": body.name_en,
            },
            "signed_by": self.principal.username,
            "signed_at": now.isoformat() + "Z",
            "opinion": opinion.strip(),
            "findings": [
                {"number": f.number, "severity": f.severity, "title": f.title, "status": f.status}
                for f in findings
            ],
            "key_id": key.id,
            "public_key": key.public_key,
        }
        text = orjson.dumps(statement, option=orjson.OPT_SORT_KEYS).decode()
        before = self.store.snapshot("verification", case)
        case.statement = text
        case.signature = self.vault.sign(key.wrapped_private_key, text.encode())
        case.key_id = key.id
        case.decided_at = now
        case.decided_by = self.store.user_id
        self._move(
            case,
            Transition.VERIFY,
            before=before,
            detail={
                "inventory_id": inventory.id,
                "content_sha256": content_hash(inventory),
                "key_id": key.id,
            },
        )
        return case

    def publish(self, case_id: int) -> Verification:
        """Publish a verified case."""
        case = self.get(case_id)
        self._require_org_side(case, Action.SUBMIT)
        before = self.store.snapshot("verification", case)
        next_state(State(case.state), Transition.PUBLISH)
        case.published_at = utcnow()
        self._move(case, Transition.PUBLISH, before=before)
        return case

    # --- keys -------------------------------------------------------------------------------

    def create_key(self, body_id: int) -> SigningKey:
        """A new signing key for a verifier organisation (older keys still check old statements)."""
        if self.vault is None:
            raise RuntimeError("no key vault: the server was started without one")
        body = self._org(body_id)
        if body.kind != OrgKind.VERIFIER.value:
            raise InputError(f"{body.code} is not a verifier organisation", field="org_id")
        public, wrapped = self.vault.new_key()
        key = SigningKey(
            org_id=body.id, public_key=public, wrapped_private_key=wrapped, created_at=utcnow()
        )
        self.session.add(key)
        self.session.flush()
        self.store.log(
            "create",
            "signing_key",
            key.id,
            org_id=body.id,
            before=None,
            after=key,
            detail={"org": body.code, "public_key": public},
        )
        return key

    # --- findings ---------------------------------------------------------------------------

    def findings(self, case_id: int) -> list[tuple[Finding, list[FindingComment]]]:
        """A case's findings with their comments, in order."""
        case = self.get(case_id)
        findings = list(
            self.session.scalars(
                select(Finding).where(Finding.verification_id == case.id).order_by(Finding.number)
            )
        )
        comments: dict[int, list[FindingComment]] = {f.id: [] for f in findings}
        if findings:
            for c in self.session.scalars(
                select(FindingComment)
                .where(FindingComment.finding_id.in_(comments))
                .order_by(FindingComment.id)
            ):
                comments[c.finding_id].append(c)
        return [(f, comments[f.id]) for f in findings]

    def add_finding(
        self,
        case_id: int,
        *,
        severity: str,
        title: str,
        body: str = "",
        subject: dict[str, Any] | None = None,
    ) -> Finding:
        """Raise a finding on a case in verification."""
        case = self.get(case_id)
        self._require_verifier(case)
        if case.state != State.IN_VERIFICATION.value:
            raise ConflictError(
                f"findings are raised while a case is in verification, not {case.state}",
                field="state",
            )
        try:
            level = Severity(severity)
        except ValueError:
            raise InputError(
                f"must be one of {', '.join(s.value for s in Severity)}", field="severity"
            ) from None
        if not title.strip():
            raise InputError("must not be empty", field="title")
        number = (
            self.session.scalar(
                select(func.max(Finding.number)).where(Finding.verification_id == case.id)
            )
            or 0
        ) + 1
        finding = Finding(
            verification_id=case.id,
            number=number,
            severity=level.value,
            title=title.strip()[:200],
            body=body,
            subject=dict(subject or {}),
            status=FindingStatus.OPEN.value,
            created_at=utcnow(),
            created_by=self.store.user_id,
        )
        self.session.add(finding)
        self.session.flush()
        self.store.log(
            "raise",
            "finding",
            finding.id,
            org_id=case.org_id,
            before=None,
            after=finding,
            detail={
                "case_id": case.id,
                "number": number,
                "severity": level.value,
                "title": finding.title,
            },
        )
        return finding

    def _finding(self, finding_id: int) -> tuple[Finding, Verification]:
        finding = self.session.get(Finding, finding_id)
        if finding is None:
            raise NotFoundError(f"finding {finding_id} not found", field="finding_id")
        case = self.get(finding.verification_id)  # raises not found when not visible
        return finding, case

    def comment(self, finding_id: int, body: str) -> FindingComment:
        """Answer a finding (the organisation) or reply to the answer (the verifier)."""
        finding, case = self._finding(finding_id)
        # Who may speak first: a reader who may not answer learns nothing of the state.
        if self._member(case):
            self._require_verifier(case)
            side = "verifier"
        else:
            self._require_org_side(case, Action.RESPOND)
            side = "organization"
        if not body.strip():
            raise InputError("must not be empty", field="body")
        if case.state not in (State.IN_VERIFICATION.value, State.RETURNED.value):
            raise ConflictError(f"the case is {case.state}: findings are settled", field="state")
        if finding.status == FindingStatus.CLOSED.value:
            raise ConflictError(f"finding {finding.number} is closed", field="finding_id")
        comment = FindingComment(
            finding_id=finding.id,
            side=side,
            body=body.strip(),
            created_at=utcnow(),
            created_by=self.store.user_id,
        )
        self.session.add(comment)
        self.session.flush()
        self.store.log(
            "create",
            "finding_comment",
            comment.id,
            org_id=case.org_id,
            before=None,
            after=comment,
            detail={"finding_id": finding.id, "side": side, "body": comment.body},
        )
        if side == "organization" and finding.status == FindingStatus.OPEN.value:
            before = self.store.snapshot("finding", finding)
            finding.status = FindingStatus.ANSWERED.value
            self.store.log(
                "answer", "finding", finding.id, org_id=case.org_id, before=before, after=finding
            )
        return comment

    def close_finding(self, finding_id: int) -> Finding:
        """Close a finding (the verifier accepts the answer or the correction)."""
        finding, case = self._finding(finding_id)
        self._require_verifier(case)
        if case.state != State.IN_VERIFICATION.value:
            raise ConflictError(
                f"findings are closed while a case is in verification, not {case.state}",
                field="state",
            )
        if finding.status == FindingStatus.CLOSED.value:
            raise ConflictError(f"finding {finding.number} is already closed", field="finding_id")
        before = self.store.snapshot("finding", finding)
        finding.status = FindingStatus.CLOSED.value
        finding.closed_at = utcnow()
        self.store.log(
            "close", "finding", finding.id, org_id=case.org_id, before=before, after=finding
        )
        return finding

    # --- evidence ---------------------------------------------------------------------------

    def add_evidence(
        self, activity_id: int, *, filename: str, media_type: str, content: bytes, note: str = ""
    ) -> Evidence:
        """Attach a file to an activity datum."""
        datum = self.store.get_activity(activity_id, Action.WRITE_ACTIVITY)
        if not content:
            raise InputError("the file is empty", field="file")
        if len(content) > MAX_EVIDENCE_BYTES:
            raise InputError(
                f"the file is {len(content)} bytes; the limit is {MAX_EVIDENCE_BYTES}",
                field="file",
            )
        media = media_type.split(";")[0].strip().lower()
        if media not in EVIDENCE_TYPES:
            raise InputError(
                f"files of type {media or '(none)'} are not accepted as evidence"
                f" (accepted: {', '.join(sorted(EVIDENCE_TYPES))})",
                field="file",
            )
        name = (filename or "evidence").replace("\\", "/").rsplit("/", 1)[-1][:200]
        org_id = self.store._activity_org(datum)
        evidence = Evidence(
            activity_id=datum.id,
            org_id=org_id,
            filename=name,
            media_type=media,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
            note=note,
            uploaded_at=utcnow(),
            uploaded_by=self.store.user_id,
        )
        self.session.add(evidence)
        self.session.flush()
        self.store.log(
            "attach",
            "evidence",
            evidence.id,
            org_id=org_id,
            before=None,
            after=evidence,
            detail={
                "activity_id": datum.id,
                "filename": name,
                "sha256": evidence.sha256,
                "size": evidence.size,
            },
        )
        return evidence

    def evidence_for(self, activity_ids: Iterable[int]) -> list[Evidence]:
        """Evidence files (metadata loaded, content deferred) of visible activity data."""
        ids = list(set(activity_ids))
        if not ids:
            return []
        rows = self.session.execute(
            select(Evidence, Organization.path)
            .join(Organization, Organization.id == Evidence.org_id)
            .where(Evidence.activity_id.in_(ids))
            .options(defer(Evidence.content))
            .order_by(Evidence.id)
        )
        return [e for e, path in rows if self.principal.allows(Action.READ, path)]

    def get_evidence(self, evidence_id: int) -> Evidence:
        """One evidence file the caller may read."""
        evidence = self.session.get(Evidence, evidence_id)
        if evidence is None:
            raise NotFoundError(f"evidence {evidence_id} not found", field="id")
        org = self._org(evidence.org_id)
        if not self.principal.allows(Action.READ, org.path):
            raise NotFoundError(f"evidence {evidence_id} not found", field="id")
        return evidence

    def delete_evidence(self, evidence_id: int) -> None:
        """Remove a file no verified inventory relies on."""
        evidence = self.get_evidence(evidence_id)
        self.store.get_org(evidence.org_id, Action.WRITE_ACTIVITY)
        signed = self.session.scalars(
            select(Verification.statement).where(Verification.statement.is_not(None))
        )
        for text in signed:
            covered = orjson.loads(text or "{}").get("evidence", [])
            if any(e.get("id") == evidence.id for e in covered):
                raise ConflictError(
                    f"evidence {evidence.id} is part of a signed verification statement",
                    field="id",
                )
        before = self.store.snapshot("evidence", evidence)
        self.session.delete(evidence)
        self.session.flush()
        self.store.log("delete", "evidence", evidence_id, org_id=evidence.org_id, before=before)

    def _evidence_of(self, inventory: Inventory) -> list[dict[str, Any]]:
        ids = [a["id"] for item in inventory.items for a in item.activity if "id" in a]
        rows = self.session.execute(
            select(Evidence.id, Evidence.activity_id, Evidence.filename, Evidence.sha256)
            .where(Evidence.activity_id.in_(ids or [-1]))
            .order_by(Evidence.id)
        )
        return [{"id": i, "activity_id": a, "filename": f, "sha256": h} for i, a, f, h in rows]

    # --- lineage ----------------------------------------------------------------------------

    def lineage(self, case_id: int) -> dict[str, Any]:
        """What the verifier checks: each result down to activity, evidence, meters, factors."""
        case = self.get(case_id)
        inventory = self.session.get(Inventory, case.inventory_id)
        assert inventory is not None
        activity_ids = [a["id"] for item in inventory.items for a in item.activity if "id" in a]
        current = {
            d.id: d
            for d in self.session.scalars(
                select(ActivityDatum).where(ActivityDatum.id.in_(activity_ids or [-1]))
            )
        }
        evidence: dict[int, list[dict[str, Any]]] = {}
        for e in self.session.scalars(
            select(Evidence)
            .where(Evidence.activity_id.in_(activity_ids or [-1]))
            .order_by(Evidence.id)
            .options(defer(Evidence.content))
        ):
            evidence.setdefault(e.activity_id, []).append(
                {
                    "id": e.id,
                    "filename": e.filename,
                    "media_type": e.media_type,
                    "size": e.size,
                    "sha256": e.sha256,
                    "uploaded_at": _iso(e.uploaded_at),
                    "note": e.note,
                }
            )
        source_ids = [i.source_id for i in inventory.items if i.source_id is not None]
        meters: dict[int, list[dict[str, Any]]] = {}
        names: dict[int, tuple[str, str]] = {}
        for s in self.session.scalars(
            select(EmissionSource).where(EmissionSource.id.in_(source_ids or [-1]))
        ):
            names[s.id] = (s.name_zh, s.name_en)
        for m in self.session.scalars(
            select(Meter).where(Meter.source_id.in_(source_ids or [-1])).order_by(Meter.id)
        ):
            assert m.source_id is not None
            meters.setdefault(m.source_id, []).append(
                {
                    "id": m.id,
                    "code": m.code,
                    "name_zh": m.name_zh,
                    "name_en": m.name_en,
                    "carrier": m.carrier,
                    "unit": m.unit,
                }
            )
        items = []
        for item in sorted(inventory.items, key=lambda i: i.id):
            acts = []
            for a in item.activity:
                datum = current.get(a.get("id", -1))
                acts.append(
                    {
                        **a,
                        "origin": datum.origin if datum else None,
                        "current_version": datum.version if datum else None,
                        "current_amount": datum.amount if datum else None,
                        "changed_since": datum is None or datum.version != a.get("version"),
                        "evidence": evidence.get(a.get("id", -1), []),
                    }
                )
            zh, en = names.get(item.source_id or -1, (item.source_code, item.source_code))
            items.append(
                {
                    "source_id": item.source_id,
                    "source_code": item.source_code,
                    "source_name_zh": zh,
                    "source_name_en": en,
                    "scope": item.scope,
                    "category": item.category,
                    "method": item.method,
                    "co2e_t": item.co2e_t,
                    "energy_tce": item.energy_tce,
                    "gases_t": item.gases_t,
                    "factors": item.factors,
                    "activity": acts,
                    "meters": meters.get(item.source_id or -1, []),
                    "warnings": item.warnings,
                }
            )
        return {
            "case_id": case.id,
            "inventory": {
                "id": inventory.id,
                "org_id": inventory.org_id,
                "period": inventory.period,
                "version": inventory.version,
                "status": inventory.status,
                "co2e_t": inventory.co2e_t,
                "energy_tce": inventory.energy_tce,
                "gwp_set": inventory.gwp_set,
                "library_version": inventory.library_version,
                "computed_at": _iso(inventory.computed_at),
                "content_sha256": content_hash(inventory),
            },
            "items": items,
        }

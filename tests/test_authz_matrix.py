"""Authorisation matrix: every role × every endpoint × own versus foreign organisation.

Acceptance: *no foreign datum readable, no unauthorised write succeeds.*

How it is built
---------------
* :data:`ENDPOINTS` maps every route of the OpenAPI schema to a builder of the requests of one
  caller, one per target: own and foreign (A1's side, B1's side, C1's side, the park, the
  regions, the verifier bodies, throwaway objects for deletes).
  ``test_every_route_is_in_the_matrix`` fails when a route is missing, so a new endpoint cannot
  slip past.
* The expected status of every request comes from :class:`Oracle`, which restates the rules of
  ``shuangtan.services.access`` and ``shuangtan.services.verification`` independently of the
  product (:data:`MAY` is the access table): a role holds on the subtree it is granted on; a
  resource outside every visible subtree is 404, visible but not allowed 403 (before any
  conflict with its state, 409); a read-only token writes nothing (403); users are visible to
  those who manage them, and to themselves.
* Verification: the callers are the world's users and ``member``, a ``verifier`` of the verifier
  organisation V1 (membership: a ``verifier`` grant on an organisation of kind ``verifier``; the
  world's ``verifier``, granted on the enterprise A1, is a reader and no member). The organisation's
  side acts through its roles: ``submit`` and ``publish`` (org admins), ``assign`` (regulators and
  org admins), ``respond`` to findings (org admins and data entry). The verifier's side acts
  through membership of the body the case is assigned to: raising and closing findings,
  returning, signing (not a member who holds a role that can change the organisation's data),
  replying to findings. A case is seen by the readers of its organisation and by the members of
  its body, who also read, as viewers, every organisation with a case assigned to their body
  (in verification, returned, verified or published); a case names its body to all who see it.
  The setup (:meth:`Matrix.setup_verification`) gives A1 and C1 a case in every state, A1's
  assigned to V1 and C1's to V2 (so ``member`` has a foreign side), with findings and evidence
  files; it takes the world into the audit trail first, so that ``POST /audit/verify`` finds it
  whole. Re-checking the trail is a check, not a write: platform admins and regulators, with any
  token. Evidence files go with their activity datum (read it to read them, write activity data
  to attach or remove them; one a signed statement covers stays, 409); the audit history with
  the organisations its records belong to.
* Reports and bulk recomputation are background jobs: a reader of an organisation generates its
  reports (a stored file and a job: with a token that may write), and reads the stored ones,
  which may show only what it may see; recomputing a subtree needs ``recompute`` on its top.
* ``test_role_matrix[user]`` builds the world once per user and walks every case as that user:
  all reads; the main reads again with its read-only token; one write per write endpoint on its side
  with the read-only token; then all writes with the read-write token. Lists must hold exactly the
  visible ids (and ``total`` must count only those); every body, errors included, is searched for
  the codes, names and ids of what the caller cannot see. Each write is bracketed by a snapshot of
  all tables, ``audit_log`` and ``audit_head`` included: a refusal must change nothing (so it
  appends no audit record); a success must change the very row it names and, for an audited row,
  append a record naming that row with the caller as its actor.
* Known product defects are listed in :data:`KNOWN_DEFECTS`; their cases are left out of the
  matrix and replayed by ``test_known_defect[...]`` under ``xfail(strict=True)``, so the file
  fails once a defect is fixed, and its entry can go. (One more, grants of other sides shown to
  a user's managers, has its own scenario: ``test_user_with_roles_on_both_sides_managers``; so do
  two of the quarantine, which need a role taken away or a row moved to another meter, under
  ``xfail(strict=True)`` at the end of the file.)
* Readings: the matrix's meters feed no emission source, so no write wakes the background
  activity sync between two snapshots; an import's case waits for its job to end before the
  snapshot (so do reports and bulk recomputations). Quarantined readings to act on are sent in
  :meth:`Matrix.setup_readings`.

Users created here get the world's precomputed password hash (argon2 costs ~0.2 s a hash, and
hashing has nothing to do with authorisation): every password is ``PASSWORD``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Text, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from shuangtan.adapters.db import repositories
from shuangtan.adapters.db.audit import adopt
from shuangtan.adapters.db.models import (
    ActivityDatum,
    ApiToken,
    AuditRecord,
    Base,
    EmissionSource,
    Evidence,
    Finding,
    Inventory,
    Job,
    Meter,
    Organization,
    QuarantinedReading,
    Reading,
    ReportFile,
    RoleGrant,
    User,
    Verification,
)
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.adapters.db.verification import Cases
from shuangtan.domain.platform import Role
from shuangtan.services.access import SCOPES, Grant, Principal
from shuangtan.services.inventories import parse_period, recompute
from tests.platform_fixtures import Database
from tests.world import PASSWORD, USERS, World, _password_hash

API = "/api/v1"

# --- the rules, restated ----------------------------------------------------------------------

READ = "read"
ORGANIZATION = "write organizations"
CONFIGURATION = "write sources and meters"
ACTIVITY = "write activity data"
RECOMPUTE = "recompute inventories"
MANAGE_USERS = "manage users"
SUBMIT = "submit and publish inventories for verification"
ASSIGN = "assign verifier organisations"
RESPOND = "answer findings"
#: Generating a report reads the organisation, and stores a file made by a background job: a
#: reader may, with a token that may write.
REPORT = "generate reports"
ALL = frozenset(
    {
        READ,
        ORGANIZATION,
        CONFIGURATION,
        ACTIVITY,
        RECOMPUTE,
        MANAGE_USERS,
        SUBMIT,
        ASSIGN,
        RESPOND,
        REPORT,
    }
)

#: What each role may do on the subtree it is granted on (the access module's docstring table).
MAY: dict[str, frozenset[str]] = {
    "platform_admin": ALL,
    "regulator": frozenset({READ, REPORT, ASSIGN}),
    "org_admin": ALL,
    "data_entry": frozenset({READ, REPORT, ACTIVITY, RECOMPUTE, RESPOND}),
    "verifier": frozenset({READ, REPORT}),
    "viewer": frozenset({READ, REPORT}),
}
#: The callers of the matrix: the world's users, and ``member``, a verifier of the verifier
#: organisation V1 (a member of that body, see :meth:`Oracle.bodies`).
CALLERS: dict[str, tuple[str, str | None]] = {**USERS, "member": ("verifier", "V1")}
#: Case states in which the assigned body's members read the organisation (as its viewers).
ASSIGNED_STATES = frozenset({"in_verification", "returned", "verified", "published"})
#: Case states in which findings are answered and replied to.
DISCUSSED_STATES = frozenset({"in_verification", "returned"})
#: Transitions of a case: the states it leaves → the state it reaches (verification module).
TRANSITIONS = {
    "submit": ({"draft"}, "submitted"),
    "assign": ({"submitted"}, "in_verification"),
    "resubmit": ({"returned"}, "in_verification"),
    "return": ({"in_verification"}, "returned"),
    "verify": ({"in_verification"}, "verified"),
    "publish": ({"verified"}, "published"),
}
#: A case under way: one per organisation and period at most.
OPEN_STATES = frozenset({"submitted", "in_verification", "returned"})
#: Roles that can change an organisation's data, so cannot sign its verification statement.
INTERESTED = frozenset({"platform_admin", "org_admin", "data_entry"})
#: Who may re-check the whole audit trail (a role held anywhere).
AUDITORS = frozenset({"platform_admin", "regulator"})

TOP = "(top level)"  # where a top-level organisation is written: platform admins only


@dataclass(frozen=True)
class Side:
    """One enterprise of the world with what hangs below it."""

    key: str
    enterprise: str
    facility: str
    source: str
    region: str

    @property
    def tag(self) -> str:
        """Prefix of this side's throwaway objects: ``xa``, ``xb``, ``xc``."""
        return f"x{self.key.lower()}"


SIDES = (
    Side("A", "A1", "A1-F1", "A1-S-EL", "江苏"),
    Side("B", "B1", "B1-F1", "B1-S-COAL", "江苏"),
    Side("C", "C1", "C1-F1", "C1-S-EL", "浙江"),
)
SIDE = {s.key: s for s in SIDES}
#: Sides of writes and list filters: the sibling B1 is read, not written (it is foreign to A1's
#: users exactly as C1 is, and own to the park and the regulator exactly as A1 is).
WRITE_SIDES = (SIDE["A"], SIDE["C"])
#: Every organisation of the world (``GET /organizations/{org_id}``).
ORG_TARGETS = ("A1", "A1-F1", "B1", "B1-F1", "P1", "R1", "C1", "C1-F1", "R2", "V1", "V2")
#: Organisations with a 2025 inventory in the world (``GET …/inventory``).
INVENTORY_ORGS = ("A1", "B1", "P1", "R1", "C1", "R2")
#: Own enterprise, park, region, foreign enterprise (organisation writes, recomputation).
ORG_WRITE_SAMPLE = ("A1", "P1", "R1", "C1")
#: Own enterprise, park, foreign enterprise (the secondary organisation and inventory reads).
ORG_READ_SAMPLE = ("A1", "P1", "C1")


@dataclass(frozen=True)
class Caller:
    """A world user, seen through its read-write or its read-only token."""

    username: str
    read_only: bool = False

    @property
    def role(self) -> str:
        return CALLERS[self.username][0]

    @property
    def home(self) -> str | None:
        """The organisation the role is granted on (``None``: platform-wide)."""
        return CALLERS[self.username][1]

    @property
    def admin(self) -> bool:
        return self.role == "platform_admin"

    def __str__(self) -> str:
        return f"{self.username}{' (read-only token)' if self.read_only else ''}"


# --- what is in the database ------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    """A verification case: its organisation and period, the inventory version it reviews, the
    verifier organisation assigned, its state."""

    org: int
    period: str
    inventory: int
    body: int | None
    state: str


@dataclass
class Registry:
    """Rows by id, read straight from the database: the oracle's view of the world."""

    org: dict[int, Organization]
    source: dict[int, EmissionSource]
    meter: dict[int, Meter]
    activity: dict[int, int]  # datum id -> source id
    inventory: dict[int, int]  # current inventory id -> org id
    user: dict[int, str]
    grants: dict[str, list[tuple[str, int | None]]]  # username -> (role, org id)
    quarantine: dict[int, tuple[int | None, int | None]]  # quarantined reading -> (org, sender)
    jobs: dict[int, tuple[int | None, int | None]]  # job id -> (org id, creator id)
    cases: dict[int, CaseRow] = field(default_factory=dict)  # verification cases
    findings: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (case, status)
    evidence: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (datum, org id)
    audit: dict[int, int | None] = field(default_factory=dict)  # audit record seq -> org id
    reports: dict[int, int] = field(default_factory=dict)  # report file id -> org id
    report_makers: dict[int, int] = field(default_factory=dict)  # report file id -> user id

    @classmethod
    def load(cls, db: Database) -> Registry:
        with Session(db.engine, expire_on_commit=False) as s:
            reg = cls(
                org={o.id: o for o in s.scalars(select(Organization))},
                source={x.id: x for x in s.scalars(select(EmissionSource))},
                meter={x.id: x for x in s.scalars(select(Meter))},
                activity=dict(s.execute(select(ActivityDatum.id, ActivityDatum.source_id)).all()),
                inventory=dict(
                    s.execute(
                        select(Inventory.id, Inventory.org_id).where(Inventory.status == "current")
                    ).all()
                ),
                user=dict(s.execute(select(User.id, User.username)).all()),
                grants={},
                quarantine={
                    q: (org, sender)
                    for q, org, sender in s.execute(
                        select(
                            QuarantinedReading.id,
                            QuarantinedReading.org_id,
                            QuarantinedReading.submitted_by,
                        )
                    )
                },
                jobs={
                    j: (org, by)
                    for j, org, by in s.execute(select(Job.id, Job.org_id, Job.created_by))
                },
            )
            for user_id, role, org_id in s.execute(
                select(RoleGrant.user_id, RoleGrant.role, RoleGrant.org_id)
            ):
                reg.grants.setdefault(reg.user[user_id], []).append((role, org_id))
            reg.cases = {
                i: CaseRow(*row)
                for i, *row in s.execute(
                    select(
                        Verification.id,
                        Verification.org_id,
                        Verification.period,
                        Verification.inventory_id,
                        Verification.verifier_org_id,
                        Verification.state,
                    )
                )
            }
            reg.findings = {
                i: (case, status)
                for i, case, status in s.execute(
                    select(Finding.id, Finding.verification_id, Finding.status)
                )
            }
            reg.evidence = {
                i: (datum, org)
                for i, datum, org in s.execute(
                    select(Evidence.id, Evidence.activity_id, Evidence.org_id)
                )
            }
            reg.audit = dict(s.execute(select(AuditRecord.seq, AuditRecord.org_id)).all())
            reg.reports = dict(s.execute(select(ReportFile.id, ReportFile.org_id)).all())
            reg.report_makers = dict(
                s.execute(select(ReportFile.id, ReportFile.created_by)).all()  # type: ignore[arg-type]
            )
            s.expunge_all()
        return reg

    def org_id(self, code: str) -> int:
        return next(i for i, o in self.org.items() if o.code == code)

    def under(self, org_id: int, root_id: int) -> bool:
        """Whether ``org_id`` is ``root_id`` or below it, following parent links."""
        current: int | None = org_id
        while current is not None:
            if current == root_id:
                return True
            current = self.org[current].parent_id
        return False


class Oracle:
    """Expected outcomes, from the grants of :data:`CALLERS` and the tree in the database."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self._grants: dict[str, tuple[tuple[str, int], ...]] = {}

    def bodies(self, c: Caller) -> frozenset[int]:
        """The verifier organisations ``c`` is a member of: a ``verifier`` grant on an
        organisation of kind ``verifier`` (a ``verifier`` grant on an enterprise only reads)."""
        if c.role != "verifier" or c.home is None:
            return frozenset()
        org = self.reg.org_id(c.home)
        return frozenset({org}) if self.reg.org[org].kind == "verifier" else frozenset()

    def grants(self, c: Caller) -> tuple[tuple[str, int], ...]:
        """``(role, org id)`` of the caller's roles on organisations: its own grant, and a member's
        ``viewer`` of every organisation with a case assigned to its body (in verification,
        returned, verified or published)."""
        if c.username not in self._grants:
            own = [] if c.home is None else [(c.role, self.reg.org_id(c.home))]
            bodies = self.bodies(c)
            own += sorted(
                {
                    ("viewer", case.org)
                    for case in self.reg.cases.values()
                    if case.body in bodies and case.state in ASSIGNED_STATES
                }
            )
            self._grants[c.username] = tuple(own)
        return self._grants[c.username]

    def sees(self, c: Caller, org: int) -> bool:
        if c.admin:
            return True
        return any(self.reg.under(org, home) for _, home in self.grants(c))

    def may(self, c: Caller, kind: str, org: int) -> bool:
        """The roles allow ``kind`` on ``org`` (token scopes aside)."""
        if c.admin:
            return True
        return any(kind in MAY[role] and self.reg.under(org, home) for role, home in self.grants(c))

    def expect(
        self, c: Caller, kind: str, org: int | None, write: int | str | None = None, ok: int = 200
    ) -> int:
        """Status of a request that names ``org`` and needs ``kind`` on ``write`` (or ``org``).

        ``org`` is what the request names (404 when the caller cannot see it); ``write`` is where
        the permission is needed: the parent for creations and deletions, :data:`TOP` for the top
        level.
        """
        if org is not None and not self.sees(c, org):
            return 404
        if kind == READ:
            return ok
        if c.read_only:
            return 403
        target = org if write is None else write
        if target == TOP:
            return ok if c.admin else 403
        assert isinstance(target, int)
        return ok if self.may(c, kind, target) else 403

    # verification: the organisation's side acts through its roles, the verifier's through
    # membership of the body the case is assigned to

    def member(self, c: Caller, case_id: int) -> bool:
        """``c`` is a member of the verifier organisation the case is assigned to."""
        body = self.reg.cases[case_id].body
        return body is not None and body in self.bodies(c)

    def sees_case(self, c: Caller, case_id: int) -> bool:
        """A case: readers of its organisation see it, and so do the assigned body's members."""
        return self.sees(c, self.reg.cases[case_id].org) or self.member(c, case_id)

    def case_org_side(self, c: Caller, case_id: int, kind: str, ok: int) -> int:
        """Assigning, publishing: ``kind`` on the case's organisation; ``ok`` once allowed."""
        if not self.sees_case(c, case_id):
            return 404
        if c.read_only or not self.may(c, kind, self.reg.cases[case_id].org):
            return 403
        return ok

    def case_verifier_side(self, c: Caller, case_id: int, ok: int) -> int:
        """Findings, returning, signing: members of the assigned body, with a write token."""
        if not self.sees_case(c, case_id):
            return 404
        if c.read_only or not self.member(c, case_id):
            return 403
        return ok

    def comment(self, c: Caller, finding_id: int) -> int:
        """Answering a finding (``respond`` on the organisation) or replying to it (a member);
        once allowed, 409 unless the case is in verification or returned and the finding is
        not closed."""
        case_id, status = self.reg.findings[finding_id]
        if not self.sees_case(c, case_id):
            return 404
        allowed = self.member(c, case_id) or self.may(c, RESPOND, self.reg.cases[case_id].org)
        if c.read_only or not allowed:
            return 403
        open_ = self.reg.cases[case_id].state in DISCUSSED_STATES and status != "closed"
        return 201 if open_ else 409

    def close(self, c: Caller, finding_id: int) -> int:
        """Closing a finding: a member; once allowed, 409 unless the case is in verification and
        the finding is not closed yet."""
        case_id, status = self.reg.findings[finding_id]
        open_ = self.reg.cases[case_id].state == "in_verification" and status != "closed"
        return self.case_verifier_side(c, case_id, 200 if open_ else 409)

    def moves(self, case_id: int, transition: str, ok: int = 200) -> int:
        """``ok`` if the case's state allows ``transition``, else 409; returning needs a finding
        not closed, signing every finding closed."""
        case = self.reg.cases[case_id]
        if case.state not in TRANSITIONS[transition][0]:
            return 409
        unclosed = any(
            of == case_id and status != "closed" for of, status in self.reg.findings.values()
        )
        if (transition == "return" and not unclosed) or (transition == "verify" and unclosed):
            return 409
        return ok

    def submits(self, org: int, period: str) -> int:
        """Submitting an organisation's current inventory of a period: a draft opens a case, a
        returned case is resubmitted (201); a case under way, or a current version already
        verified, is a conflict (409)."""
        cases = [x for x in self.reg.cases.values() if (x.org, x.period) == (org, period)]
        under_way = [x for x in cases if x.state in OPEN_STATES]
        if under_way:
            return 201 if under_way[0].state in TRANSITIONS["resubmit"][0] else 409
        current = {i for i, o in self.reg.inventory.items() if o == org}
        frozen = any(x.inventory in current for x in cases if x.state in ASSIGNED_STATES)
        return 409 if frozen else 201

    def signer(self, c: Caller, case_id: int) -> bool:
        """``c`` holds no role that can change the case's organisation's data."""
        org = self.reg.cases[case_id].org
        return not any(
            role in INTERESTED and (home is None or self.reg.under(org, home))
            for role, home in self.declared(c)
        )

    def declared(self, c: Caller) -> list[tuple[str, int | None]]:
        return [(c.role, None if c.home is None else self.reg.org_id(c.home))]

    def sees_evidence(self, c: Caller, evidence_id: int) -> bool:
        return self.sees(c, self.reg.evidence[evidence_id][1])

    def sees_audit(self, c: Caller, seq: int) -> bool:
        """An audit record: readers of its organisation see it; records of no organisation
        (users) and of deleted ones, platform admins only."""
        org = self.reg.audit[seq]
        if c.admin:
            return True
        return org is not None and org in self.reg.org and self.sees(c, org)

    def manages(self, c: Caller, username: str) -> bool:
        """The caller administers one of the user's grants (platform admins: everyone's)."""
        if c.admin:
            return True
        return any(
            org is not None and self.may(c, MANAGE_USERS, org)
            for _, org in self.reg.grants.get(username, [])
        )

    def sees_user(self, c: Caller, username: str) -> bool:
        return username == c.username or self.manages(c, username)

    def grant(self, c: Caller, role: str, org: int | None, ok: int = 201) -> int:
        """Giving ``role`` on ``org`` (``None``: platform-wide) to a user the caller sees."""
        if org is None or role == "platform_admin":
            return 403 if c.read_only or not c.admin else ok
        if not self.sees(c, org):
            return 404
        return 403 if c.read_only or not self.may(c, MANAGE_USERS, org) else ok

    def sends(self, c: Caller, user_id: int | None) -> bool:
        """``user_id`` is the caller (who sent a reading, started a job)."""
        return user_id is not None and self.reg.user.get(user_id) == c.username

    def sees_quarantined(self, c: Caller, qid: int) -> bool:
        """A quarantined reading: readers of its organisation see it, and so does its sender."""
        org, sender = self.reg.quarantine[qid]
        return c.admin or self.sends(c, sender) or (org is not None and self.sees(c, org))

    def fix_quarantined(self, c: Caller, qid: int, ok: int = 200) -> int:
        """Correcting, re-processing or discarding a quarantined reading: write activity data
        on its organisation; a reading without one (its meter unknown) is its sender's."""
        org, _ = self.reg.quarantine[qid]
        if not self.sees_quarantined(c, qid):
            return 404
        if c.read_only:
            return 403
        if org is None:
            return ok
        return ok if self.may(c, ACTIVITY, org) else 403

    def sees_job(self, c: Caller, job_id: int) -> bool:
        """A job: readers of its organisation see it, and so does whoever started it."""
        org, creator = self.reg.jobs[job_id]
        return self.sends(c, creator) or (org is not None and self.sees(c, org))

    def ancestors(self, c: Caller) -> Iterator[int]:
        """Organisations above the caller's grants."""
        for _, home in self.grants(c):
            parent = self.reg.org[home].parent_id
            while parent is not None:
                yield parent
                parent = self.reg.org[parent].parent_id

    def disclosed(self, c: Caller) -> set[int]:
        """Verifier organisations the caller cannot see but may know of: a case names the body
        assigned to it to everyone who sees the case."""
        return {
            case.body
            for i, case in self.reg.cases.items()
            if case.body is not None and self.sees_case(c, i)
        }

    def secrets(self, c: Caller) -> Secrets:
        """What ``c`` must never find in a response."""
        orgs = {i for i in self.reg.org if not self.sees(c, i)}
        sources = {i for i, x in self.reg.source.items() if x.org_id in orgs}
        named = orgs - self.disclosed(c)  # the codes and names a response must not hold
        things: list[Any] = [self.reg.org[i] for i in named] + [self.reg.source[i] for i in sources]
        things += [x for x in self.reg.meter.values() if x.org_id in orgs]
        codes = sorted({x.code for x in things})
        names = sorted({n for x in things for n in (x.name_zh, x.name_en) if n})
        parts = [rf"(?<![A-Za-z0-9]){re.escape(x)}(?![A-Za-z0-9])" for x in codes]
        parts += [re.escape(n) for n in names]
        return Secrets(
            pattern=re.compile("|".join(parts)) if parts else None,
            org_ids=frozenset(orgs),
            source_ids=frozenset(sources),
            usernames=frozenset(u for u in self.reg.user.values() if not self.sees_user(c, u)),
            above=frozenset(self.ancestors(c)),
        )


@dataclass(frozen=True)
class Secrets:
    """Codes, names, ids and usernames a caller cannot see."""

    pattern: re.Pattern[str] | None
    org_ids: frozenset[int]
    source_ids: frozenset[int]
    usernames: frozenset[str]
    #: the caller's ancestors: their ids are in its top organisation's ``parent_id`` and ``path``
    above: frozenset[int] = frozenset()

    SKIP = frozenset({"token", "access_token", "request_id", "library_version"})

    def find(self, doc: Any, where: str = "$") -> Iterator[str]:
        """Where ``doc`` (a decoded JSON document) mentions something secret."""
        if isinstance(doc, dict):
            for key, value in doc.items():
                if key in self.SKIP:
                    continue
                at = f"{where}.{key}"
                hidden = self.org_ids - self.above if key == "parent_id" else self.org_ids
                if key in ("org_id", "parent_id") and value in hidden:
                    yield f"{at} = {value} (a foreign organisation's id)"
                elif key == "source_id" and isinstance(value, int) and value in self.source_ids:
                    yield f"{at} = {value} (a foreign source's id)"
                elif key == "username" and value in self.usernames:
                    yield f"{at} = {value!r} (a user the caller cannot see)"
                else:
                    yield from self.find(value, at)
        elif isinstance(doc, list):
            for i, value in enumerate(doc):
                yield from self.find(value, f"{where}[{i}]")
        elif isinstance(doc, str) and self.pattern is not None:
            hit = self.pattern.search(doc)
            if hit:
                yield f"{where} mentions {hit.group(0)!r}: {doc[:120]!r}"


# --- cases and their effects ------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """The row a successful write must add, change or delete, seen in the table snapshots.

    Snapshot lines read ``table:id|col|col|…``; ``row`` is the id (or a function of the answer
    giving it), ``holds`` are texts the new line must contain. Rows of audited tables
    (:data:`AUDITED`) must also be named by a new audit record with the caller as its actor.
    """

    table: str
    row: int | Callable[[Any], int] | None = None
    holds: tuple[str, ...] = ()
    gone: bool = False

    def problems(
        self, body: Any, before: list[str], after: list[str], actor: tuple[int, str] | None = None
    ) -> list[str]:
        row = self.row(body) if callable(self.row) else self.row
        prefix = f"{self.table}:" if row is None else f"{self.table}:{row}|"
        old = set(before)
        if self.gone:
            if any(x.startswith(prefix) for x in after):
                return [f"{prefix} is still there"]
            rows = [] if row is None else [str(row)]
        else:
            new = [x for x in after if x.startswith(prefix) and x not in old]
            changed = [x for x in new if all(h in x for h in self.holds)]
            if not changed:
                return [f"no new or changed {prefix}… holding {self.holds}; new: {new[:2]}"]
            rows = [x.split(":", 1)[1].split("|", 1)[0] for x in changed]
        entity = AUDITED.get(self.table)
        if entity is None or actor is None:
            return []
        # audit_log: seq|at|actor_id|actor|org_id|action|entity|entity_id|…
        records = [x for x in after if x.startswith("audit_log:") and x not in old]
        named = [x for x in records if any(f"|{entity}|{r}|" in x for r in rows)]
        if not named:
            return [f"no new audit record names {entity} {rows}; new records: {records[:2]}"]
        if not any(f"|{actor[0]}|{actor[1]}|" in x for x in named):
            return [f"the audit records of {entity} {rows} do not name {actor[1]}: {named[:2]}"]
        return []


#: Tables whose rows the audit trail covers → the entity its records name.
AUDITED = {
    "organizations": "organization",
    "org_economics": "economics",
    "emission_sources": "source",
    "meters": "meter",
    "activity_data": "activity",
    "inventories": "inventory",
    "verifications": "verification",
    "findings": "finding",
    "finding_comments": "finding_comment",
    "evidence": "evidence",
    "signing_keys": "signing_key",
    "users": "user",
    "role_grants": "grant",
}


@dataclass
class Case:
    """One request of one caller, and what must come of it."""

    endpoint: str  # "PATCH /organizations/{org_id}", as in the OpenAPI schema (prefix dropped)
    target: str  # what it aims at, for people
    url: str
    expected: int
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    write: bool = False
    own: bool = True  # the caller can see the target
    #: a successful write must change this row (None: must change nothing, e.g. POST /calc)
    effect: Effect | None = None
    #: lists: the ids the page must hold, exactly
    items: set[int] | None = None
    #: after a success: checks of the answer, returning problems
    verify: Callable[[httpx.Response], Iterable[str]] | None = None
    subject: str | None = None  # the user a /users/{user_id} request is about
    #: a body other than JSON: raw bytes (``content``) or a multipart form (``files``, ``data``)
    content: bytes | None = None
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    #: waits for the background work a successful write started (before the snapshot)
    settle: Callable[[httpx.Response], None] | None = None

    @property
    def method(self) -> str:
        return self.endpoint.split()[0]

    def body(self) -> dict[str, Any]:
        """The request's body, as keyword arguments of ``TestClient.request``."""
        return {"json": self.json, "content": self.content, "files": self.files, "data": self.data}


class Matrix:
    """The world, its throwaway objects, the oracle, and helpers of the case builders."""

    def __init__(self, client: TestClient, world: World, db: Database) -> None:
        self.client, self.world, self.db = client, world, db
        self.seq = itertools.count(1)
        self.tmp: dict[str, int] = {}  # "A.fac", "A.src", "A.meter", "A.datum", "A.user", …
        self.tokens: dict[Caller, dict[str, tuple[int, str]]] = {}  # purpose -> (id, secret)
        self.reg: Registry
        self.oracle: Oracle

    def setup(self, callers: Iterable[Caller]) -> None:
        """The world taken into the audit trail, the verification cases, throwaway objects for
        deletes and grants (through the admin API), throwaway tokens of the callers, then the
        registry."""
        self.setup_verification()
        for side in WRITE_SIDES:
            t, ent, fac = side.tag, self.org(side.enterprise), self.facility(side)
            body = {"parent_id": ent, "kind": "facility", "code": f"{t}-fac", "name_zh": f"临时{t}"}
            self.tmp[f"{side.key}.fac"] = self.as_admin("POST", "/organizations", body)["id"]
            body = source_body(fac, f"{t}-src", side.region)
            self.tmp[f"{side.key}.src"] = self.as_admin("POST", "/sources", body)["id"]
            body = meter_body(fac, f"{t}-m", None)
            self.tmp[f"{side.key}.meter"] = self.as_admin("POST", "/meters", body)["id"]
            body = activity_body(self.source(side), 7)
            self.tmp[f"{side.key}.datum"] = self.as_admin("POST", "/activity", body)["activity"][
                "id"
            ]
            user = self.as_admin("POST", "/users", user_body(f"{t}-user", [("viewer", ent)]))
            self.tmp[f"{side.key}.user"] = user["id"]
            body = {"role": "data_entry", "org_id": ent}
            grant = self.as_admin("POST", f"/users/{user['id']}/grants", body)
            self.tmp[f"{side.key}.grant"] = grant["id"]
        user = self.as_admin("POST", "/users", user_body("xp-admin", [("platform_admin", None)]))
        self.tmp["P.user"], self.tmp["P.grant"] = user["id"], user["grants"][0]["id"]
        self.setup_readings()
        self.setup_reports()
        with Session(self.db.engine) as s:
            accounts = repositories.Accounts(s)
            for c in callers:
                user_row = s.get(User, self.world.user[c.username])
                assert user_row is not None
                scopes = ["read"] if c.read_only else ["read", "write"]
                self.tokens[c] = {}
                for purpose in ("revoke", "logout"):
                    row, secret = accounts.issue_token(
                        user_row, kind="api", scopes=scopes, name=f"matrix-{purpose}"
                    )
                    self.tokens[c][purpose] = (row.id, secret)
            s.commit()
        self.reg = Registry.load(self.db)
        self.oracle = Oracle(self.reg)

    def setup_verification(self) -> None:
        """The world taken into the audit trail as found (it is written straight to the tables),
        so that ``audit verify`` finds it whole; the verifier organisation V2 (C1's cases go to
        it, so that V1's ``member`` has a foreign side) with its member ``v2-member``; ``member``
        with its tokens; then per writable side the cases of :data:`CASE_PERIODS`, their
        findings and evidence files (:meth:`setup_cases`)."""
        with Session(self.db.engine) as s:
            adopt(s, Store(s, SYSTEM).trail)
            s.commit()
        body = {"parent_id": None, "kind": "verifier", "code": "V2", "name_zh": "测试V2"}
        self.world.org["V2"] = self.as_admin("POST", "/organizations", body)["id"]
        for username, code in (("member", "V1"), ("v2-member", "V2")):
            grants: list[tuple[str, int | None]] = [("verifier", self.org(code))]
            self.world.user[username] = self.as_admin(
                "POST", "/users", user_body(username, grants)
            )["id"]
        with Session(self.db.engine) as s:
            accounts = repositories.Accounts(s)
            user_row = s.get(User, self.world.user["member"])
            assert user_row is not None
            self.world.token["member"] = accounts.issue_token(user_row, kind="api", name="rw")[1]
            self.world.read_token["member"] = accounts.issue_token(
                user_row, kind="api", scopes=["read"], name="ro"
            )[1]
            s.commit()
        state = self.client.app.state.shuangtan  # type: ignore[attr-defined]
        with Session(self.db.engine) as s:
            for side in WRITE_SIDES:
                self.setup_cases(s, side, state.library, state.vault)
            s.commit()

    def setup_cases(self, s: Session, side: Side, library: Any, vault: Any) -> None:
        """A side's cases (straight through :class:`Cases`, as the system and as the body's
        member): each period of :data:`CASE_PERIODS` recomputed, submitted, and brought to its
        state; the findings of :data:`FINDINGS`; evidence files on the side's datum of June
        (covered by the June statement) and of October (covered by none)."""
        system = Store(s, SYSTEM)
        org, body = self.org(side.enterprise), self.org(BODY[side.key])
        path = s.get(Organization, body)
        assert path is not None
        username = "member" if side.key == "A" else "v2-member"
        member = Principal(
            self.world.user[username],
            username,
            (Grant(Role.VERIFIER, body, path.path),),
            frozenset(SCOPES),
        )
        cases, verifier = Cases(system, vault), Cases(Store(s, member), vault)
        ids: dict[str, int] = {}
        for name, period in CASE_PERIODS.items():
            recompute(system, library, org, parse_period(period), reason="matrix")
            ids[name] = cases.submit(org, period).id
            self.tmp[f"{side.key}.case.{name}"] = ids[name]
            if name != "submitted":
                cases.assign(ids[name], body)
        for finding, name in FINDINGS.items():
            row = verifier.add_finding(ids[name], severity="minor", title=f"{side.tag}-{finding}")
            self.tmp[f"{side.key}.f.{finding}"] = row.id
        for use, month in (("signed", "06"), ("tmp", "10")):
            content = f"%PDF-1.4 {side.tag} {use}".encode()
            evidence = cases.add_evidence(
                self.world.activity[f"{side.source}/{month}"],
                filename=f"{side.tag}-{use}.pdf",
                media_type="application/pdf",
                content=content,
            )
            self.tmp[f"{side.key}.ev.{use}"] = evidence.id
        verifier.return_case(ids["returned"], "matrix")
        verifier.close_finding(self.tmp[f"{side.key}.f.settled"])
        for name in ("verified", "published"):
            verifier.verify(ids[name], "matrix")
        cases.publish(ids["published"])

    def setup_readings(self) -> None:
        """Per writable side: an interval and a cumulative meter without a source (readings of
        metered sources would wake the background activity sync and change tables between
        snapshots), quarantined readings of the side's data writer to correct, re-process and
        discard (those to re-process already corrected), and a finished import job; plus
        readings the viewer sent for A1's meter, quarantined as an unknown meter, so only the
        viewer and platform admins see them."""
        for side in WRITE_SIDES:
            fac = self.facility(side)
            for name, kind in (("rmeter", "interval"), ("cmeter", "cumulative")):
                body = {**meter_body(fac, f"{side.tag}-{name}", None), "kind": kind}
                self.tmp[f"{side.key}.{name}"] = self.as_admin("POST", "/meters", body)["id"]
        slots = itertools.count(1)
        for key, sender, meter, zone in (
            ("A", "dataentry", self.tmp["A.rmeter"], False),
            ("C", "foreign", self.tmp["C.rmeter"], False),
            ("V", "viewer", self.tmp["A.rmeter"], True),
        ):
            readings = [
                {"meter": meter, "ts": slot(next(slots), zone=zone), "value": 1.5}
                for _ in QUARANTINE_USES
            ]
            body = self.as_user(sender, "POST", "/readings", json={"readings": readings})
            assert body["quarantined"] == len(readings), body
            for use, row in zip(QUARANTINE_USES, body["quarantine"], strict=True):
                self.tmp[f"{key}.q.{use}"] = row["id"]
            if not zone:  # corrected, so that re-processing stores it
                qid = self.tmp[f"{key}.q.reprocess"]
                ts = readings[QUARANTINE_USES.index("reprocess")]["ts"]
                self.as_admin("PATCH", f"/quarantine/{qid}", {"ts": f"{ts}+08:00"})
        for side in WRITE_SIDES:
            meter, ent = self.tmp[f"{side.key}.rmeter"], self.org(side.enterprise)
            job = self.as_user("admin", "POST", "/imports", **import_form(ent, meter, next(slots)))
            self.tmp[f"{side.key}.job"] = job["id"]
            assert self.finish_job(job["id"])["status"] == "done"

    def setup_reports(self) -> None:
        """Per writable side, the park admin's (A1) or the foreign org admin's (C1) JSON report
        of its enterprise's 2025 inventory, its job run to its end."""
        for side, maker in ((SIDE["A"], "park"), (SIDE["C"], "foreign")):
            body = report_body(self.org(side.enterprise))
            job = self.finish_job(self.as_user(maker, "POST", "/reports", json=body)["id"])
            assert job["status"] == "done", job
            self.tmp[f"{side.key}.report"] = job["result"]["report_id"]

    def as_user(self, username: str, method: str, path: str, **kw: Any) -> Any:
        auth = self.world.auth(username)
        response = self.client.request(method, API + path, headers=auth, **kw)
        assert response.is_success, f"setup {method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def as_admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.as_user("admin", method, path, json=body)

    def finish_job(self, job_id: int) -> Any:
        """Wait for a job to end (it runs on the app's worker thread); its last state."""
        deadline = time.monotonic() + 30
        while True:
            r = self.client.get(API + f"/jobs/{job_id}", headers=self.world.auth("admin"))
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("done", "failed") or time.monotonic() > deadline:
                return r.json()
            time.sleep(0.02)

    def settle_import(self, response: httpx.Response) -> None:
        if response.status_code == 202:
            self.finish_job(response.json()["id"])

    def stored(self, meter: int, n: int) -> bool:
        """Whether the reading of ``meter`` at :func:`slot` ``n`` is stored."""
        ts = (READINGS_START + dt.timedelta(minutes=15 * n)).astimezone(dt.UTC)
        with Session(self.db.engine) as s:
            count = s.scalar(
                select(func.count())
                .select_from(Reading)
                .where(Reading.meter_id == meter, Reading.ts == ts.replace(tzinfo=None))
            )
        return bool(count)

    # ids

    def org(self, code: str) -> int:
        return self.world.org[code]

    def facility(self, side: Side) -> int:
        return self.world.org[side.facility]

    def source(self, side: Side) -> int:
        return self.world.source[side.source]

    def meter(self, side: Side) -> int:
        return self.world.meter[side.source]

    def datum(self, side: Side) -> int:
        return self.world.activity[f"{side.source}/03"]

    def unique(self, c: Caller) -> str:
        """A fresh lower-case code (never mistaken for a world code)."""
        return f"n{next(self.seq)}-{c.username}{'-ro' if c.read_only else ''}"

    # case factories

    def case(
        self, c: Caller, endpoint: str, url: str, target: str, expected: int, **kw: Any
    ) -> Case:
        """A case with a given expected status."""
        method = endpoint.split()[0]
        headers = self.world.auth(c.username, read_only=c.read_only)
        return Case(endpoint, target, url, expected, headers=headers, write=method != "GET", **kw)

    def scoped(
        self,
        c: Caller,
        endpoint: str,
        url: str,
        target: str,
        kind: str,
        org: int | None,
        *,
        write: int | str | None = None,
        ok: int | None = None,
        **kw: Any,
    ) -> Case:
        """A case whose outcome follows the organisation rules (see :meth:`Oracle.expect`)."""
        method = endpoint.split()[0]
        ok = ok or {"POST": 201, "DELETE": 204}.get(method, 200)
        expected = self.oracle.expect(c, kind, org, write, ok)
        own = org is None or self.oracle.sees(c, org)
        return self.case(c, endpoint, url, target, expected, own=own, **kw)


# --- request bodies ---------------------------------------------------------------------------


def source_body(org_id: int, code: str, region: str) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "code": code,
        "name_zh": f"临时{code}",
        "category": "purchased_electricity",
        "method": "electricity",
        "params": {"region": region, "fallback": "latest_prior"},
        "unit": "MWh",
    }


def meter_body(org_id: int, code: str, source_id: int | None) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "source_id": source_id,
        "code": code,
        "name_zh": f"临时{code}",
        "carrier": "electricity",
        "unit": "MWh",
    }


def activity_body(source_id: int, month: int, amount: float = 10.0) -> dict[str, Any]:
    """A 2024 datum (the world's 2025 months are all taken)."""
    return {
        "source_id": source_id,
        "period_start": f"2024-{month:02d}-01",
        "period_end": f"2024-{month + 1:02d}-01",
        "amount": amount,
    }


def user_body(username: str, grants: list[tuple[str, int | None]]) -> dict[str, Any]:
    return {
        "username": username,
        "password": PASSWORD,
        "grants": [{"role": r, "org_id": o} for r, o in grants],
    }


#: The verification cases of each writable side (periods of its enterprise's inventory), by
#: what they are there for. ``submitted``: not assigned yet (assigning); ``return``: in
#: verification with an open finding (returning); ``verify``: in verification without findings
#: (signing); ``review``: in verification with two open findings (raising, answering, closing);
#: ``returned``: returned with an open finding (resubmitting, answering); ``verified``: signed,
#: its finding closed, covering the June evidence file (publishing, the statement); ``published``.
#: The side's year (:data:`DRAFT_PERIOD`) has no case: submitting it opens one.
CASE_PERIODS = {
    "submitted": "2025-01",
    "return": "2025-02",
    "verify": "2025-03",
    "review": "2025-04",
    "returned": "2025-05",
    "verified": "2025-06",
    "published": "2025-07",
}
DRAFT_PERIOD = "2025"
#: Findings raised in the setup → the case they are on.
FINDINGS = {
    "return": "return",
    "close": "review",
    "comment": "review",
    "returned": "returned",
    "settled": "verified",
}
#: The verifier organisation each side's cases are assigned to (V2 is made by the setup).
BODY = {"A": "V1", "C": "V2"}

#: Where the readings of the matrix start (Asia/Shanghai; in the past of the server clock).
READINGS_START = dt.datetime(2025, 5, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
#: What the quarantined readings of each side are there for.
QUARANTINE_USES = ("patch", "reprocess", "discard")


def slot(n: int, *, zone: bool = True) -> str:
    """End of the ``n``-th 15-minute interval after :data:`READINGS_START`, as a meter sends it
    (without its zone: a reading the checks quarantine)."""
    ts = (READINGS_START + dt.timedelta(minutes=15 * n)).isoformat()
    return ts if zone else ts.removesuffix("+08:00")


def import_form(org_id: int, meter: int, n: int) -> dict[str, Any]:
    """``POST /imports`` of a one-reading CSV file into ``org_id``."""
    csv = f"meter,ts,value\n{meter},{slot(n)},{n}\n".encode()
    return {"files": {"file": ("readings.csv", csv, "text/csv")}, "data": {"org_id": str(org_id)}}


def report_body(org_id: int) -> dict[str, Any]:
    """A report of the organisation's 2025 inventory, in JSON (quick to make, and searchable)."""
    return {"kind": "inventory", "org_id": org_id, "period": "2025", "fmt": "json", "lang": "en"}


def new_id(body: Any) -> int:
    return int(body["id"])


def grant_line(user_id: int, role: str, org: int | None) -> str:
    """The text of a ``role_grants`` snapshot line after its id: ``user_id|org_id|role|``."""
    return f"|{user_id}|{'∅' if org is None else org}|{role}|"


# --- the endpoint table -----------------------------------------------------------------------

Builder = Callable[[Matrix, Caller], list[Case]]
#: ``"METHOD /path"`` (as in the OpenAPI schema, without the ``/api/v1`` prefix) → builder.
ENDPOINTS: dict[str, Builder] = {}
#: Reachable without credentials: exercised by ``test_unauthenticated_and_login``.
PUBLIC = ("GET /health", "POST /auth/token", "POST /auth/session")


def endpoint(key: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        assert key not in ENDPOINTS, key
        ENDPOINTS[key] = builder
        return builder

    return register


# service and authentication: about the caller itself, no organisation involved


@endpoint("GET /health")
def _health(m: Matrix, c: Caller) -> list[Case]:
    return [m.case(c, "GET /health", "/health", "service", 200)]


@endpoint("POST /auth/token")
def _login_token(m: Matrix, c: Caller) -> list[Case]:
    return []  # public; see test_unauthenticated_and_login


@endpoint("POST /auth/session")
def _login_session(m: Matrix, c: Caller) -> list[Case]:
    return []  # public; see test_unauthenticated_and_login


@endpoint("DELETE /auth/session")
def _logout(m: Matrix, c: Caller) -> list[Case]:
    # Signs out the token it is sent with: a throwaway token of the caller's (any scope may).
    token_id, secret = m.tokens[c]["logout"]
    headers = {"Authorization": f"Bearer {secret}"}

    def signed_out(_: httpx.Response) -> list[str]:
        r = m.client.get(API + "/auth/me", headers=headers)
        return [] if r.status_code == 401 else [f"the token still works: {r.status_code}"]

    case = m.case(
        c,
        "DELETE /auth/session",
        "/auth/session",
        "own session",
        204,
        effect=Effect("api_tokens", token_id),
        verify=signed_out,
    )
    case.headers = headers
    return [case]


@endpoint("GET /auth/me")
def _me(m: Matrix, c: Caller) -> list[Case]:
    scopes = ["read"] if c.read_only else ["read", "write"]

    def me(r: httpx.Response) -> list[str]:
        body = r.json()
        if (body["username"], body["scopes"]) != (c.username, scopes):
            return [f"/auth/me says {body['username']} {body['scopes']}"]
        return []

    return [m.case(c, "GET /auth/me", "/auth/me", "self", 200, verify=me)]


@endpoint("GET /auth/tokens")
def _tokens(m: Matrix, c: Caller) -> list[Case]:
    with Session(m.db.engine) as s:
        user_id = m.world.user[c.username]
        mine = set(s.scalars(select(ApiToken.id).where(ApiToken.user_id == user_id)))

    def only_mine(r: httpx.Response) -> list[str]:
        listed = {t["id"] for t in r.json()}
        if not listed or not listed <= mine or any(t["token"] for t in r.json()):
            return [f"listed tokens {sorted(listed)}; the caller's are {sorted(mine)}"]
        return []

    return [m.case(c, "GET /auth/tokens", "/auth/tokens", "own tokens", 200, verify=only_mine)]


@endpoint("POST /auth/tokens")
def _new_token(m: Matrix, c: Caller) -> list[Case]:
    # Self-service: allowed with any token, but never with more scopes than the token used.
    user_id = m.world.user[c.username]
    return [
        m.case(
            c,
            "POST /auth/tokens",
            "/auth/tokens",
            f"own token, scopes {' '.join(scopes)}",
            422 if c.read_only and "write" in scopes else 201,
            json={"name": "matrix", "scopes": scopes},
            # api_tokens: id|user_id|kind|name|…
            effect=Effect("api_tokens", new_id, (f"|{user_id}|api|matrix|",)),
        )
        for scopes in (["read"], ["read", "write"])
    ]


@endpoint("DELETE /auth/tokens/{token_id}")
def _revoke_token(m: Matrix, c: Caller) -> list[Case]:
    own_id, _ = m.tokens[c]["revoke"]
    other = "foreign" if c.username != "foreign" else "viewer"
    with Session(m.db.engine) as s:
        other_id = s.scalars(
            select(ApiToken.id).where(ApiToken.user_id == m.world.user[other]).order_by(ApiToken.id)
        ).first()
    key = "DELETE /auth/tokens/{token_id}"
    return [
        m.case(
            c, key, f"/auth/tokens/{own_id}", "own token", 204, effect=Effect("api_tokens", own_id)
        ),
        m.case(c, key, f"/auth/tokens/{other_id}", f"{other}'s token", 404, own=False),
    ]


# organisations


def _ids(body: Any, key: str = "id") -> set[int]:
    return {item[key] for item in body["items"]}


@endpoint("GET /organizations")
def _list_orgs(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /organizations"
    visible = {i for i in reg.org if o.sees(c, i)}
    cases = [m.case(c, key, "/organizations?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        ent = m.org(side.enterprise)
        sees = o.sees(c, ent)
        url = f"/organizations?limit=1000&within={ent}"
        within = {i for i in visible if reg.under(i, ent)}
        cases.append(
            m.case(
                c,
                key,
                url,
                f"within {side.enterprise}",
                200 if sees else 404,
                items=within,
                own=sees,
            )
        )
        needle = side.enterprise.casefold()
        texts = {i: (reg.org[i].code, reg.org[i].name_zh, reg.org[i].name_en) for i in visible}
        found = {i for i, t in texts.items() if any(needle in x.casefold() for x in t)}
        url = f"/organizations?q={side.enterprise}"
        cases.append(m.case(c, key, url, f"q={side.enterprise}", 200, items=found, own=sees))
    return cases


@endpoint("GET /organizations/tree")
def _tree(m: Matrix, c: Caller) -> list[Case]:
    visible = {i for i in m.reg.org if m.oracle.sees(c, i)}
    return [
        m.case(c, "GET /organizations/tree", "/organizations/tree", "forest", 200, items=visible)
    ]


@endpoint("POST /organizations")
def _create_org(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for parent, kind in (
        ("A1", "facility"),
        ("C1", "facility"),
        ("P1", "enterprise"),
        ("R1", "park"),
        (None, "region"),
    ):
        code = m.unique(c)
        pid = m.org(parent) if parent else None
        cases.append(
            m.scoped(
                c,
                "POST /organizations",
                "/organizations",
                f"child of {parent or 'nothing (top level)'}",
                ORGANIZATION,
                pid,
                write=pid if pid else TOP,
                json={"parent_id": pid, "kind": kind, "code": code, "name_zh": f"新{code}"},
                effect=Effect("organizations", new_id, (f"|{'∅' if pid is None else pid}|", code)),
            )
        )
    return cases


@endpoint("GET /organizations/{org_id}")
def _get_org(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /organizations/{org_id}"
    return [m.scoped(c, key, f"/organizations/{m.org(o)}", o, READ, m.org(o)) for o in ORG_TARGETS]


@endpoint("PATCH /organizations/{org_id}")
def _patch_org(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for o in ORG_WRITE_SAMPLE:
        address = f"地址-{m.unique(c)}"
        cases.append(
            m.scoped(
                c,
                "PATCH /organizations/{org_id}",
                f"/organizations/{m.org(o)}",
                o,
                ORGANIZATION,
                m.org(o),
                json={"address": address},
                effect=Effect("organizations", m.org(o), (address,)),
            )
        )
    return cases


@endpoint("DELETE /organizations/{org_id}")
def _delete_org(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        fac = m.tmp[f"{side.key}.fac"]
        cases.append(
            m.scoped(
                c,
                "DELETE /organizations/{org_id}",
                f"/organizations/{fac}",
                f"{side.tag}-fac (empty, under {side.enterprise})",
                ORGANIZATION,
                fac,
                write=m.org(side.enterprise),  # deleting needs write access to the parent
                effect=Effect("organizations", fac, gone=True),
            )
        )
    for code in ("A1", "C1"):  # not empty: 409 for those allowed, 403 or 404 for the others
        org = m.org(code)
        cases.append(
            m.scoped(
                c,
                "DELETE /organizations/{org_id}",
                f"/organizations/{org}",
                f"{code} (not empty)",
                ORGANIZATION,
                org,
                write=m.reg.org[org].parent_id,
                ok=409,
            )
        )
    # A verifier organisation that cases name and that has a signing key: in use, so 409 for
    # those allowed (platform admins: it is top-level).
    org = m.org("V1")
    cases.append(
        m.scoped(
            c,
            "DELETE /organizations/{org_id}",
            f"/organizations/{org}",
            "V1 (the verifier of A1's cases)",
            ORGANIZATION,
            org,
            write=TOP,
            ok=409,
        )
    )
    return cases


@endpoint("GET /organizations/{org_id}/economics")
def _get_economics(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /organizations/{org_id}/economics"
    return [
        m.scoped(c, key, f"/organizations/{m.org(o)}/economics", o, READ, m.org(o))
        for o in ORG_READ_SAMPLE
    ]


@endpoint("PUT /organizations/{org_id}/economics/{year}")
def _put_economics(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for o in ORG_WRITE_SAMPLE:
        employees = 1000 + next(m.seq)
        cases.append(
            m.scoped(
                c,
                "PUT /organizations/{org_id}/economics/{year}",
                f"/organizations/{m.org(o)}/economics/2025",
                o,
                ORGANIZATION,
                m.org(o),
                json={"employees": employees, "output_value_10k_cny": 100.0},
                # org_economics: id|org_id|year|output|value_added|employees|…
                effect=Effect("org_economics", None, (f"|{m.org(o)}|2025|", f"|{employees}|")),
            )
        )
    return cases


# inventories


def _inventory_reads(key: str, suffix: str, orgs: tuple[str, ...]) -> Builder:
    def build_inventory_reads(m: Matrix, c: Caller) -> list[Case]:
        return [
            m.scoped(c, key, f"/organizations/{m.org(o)}{suffix}", o, READ, m.org(o)) for o in orgs
        ]

    return endpoint(key)(build_inventory_reads)


_inventory_reads("GET /organizations/{org_id}/inventory", "/inventory?period=2025", INVENTORY_ORGS)
_inventory_reads(
    "GET /organizations/{org_id}/inventory/versions",
    "/inventory/versions?period=2025",
    ORG_READ_SAMPLE,
)
_inventory_reads(
    "GET /organizations/{org_id}/inventory/diff",
    "/inventory/diff?period=2025&from_version=1&to_version=1",
    ORG_READ_SAMPLE,
)
_inventory_reads(
    "GET /organizations/{org_id}/inventory/lineage",
    "/inventory/lineage?period=2025",
    ORG_READ_SAMPLE,
)
_inventory_reads(
    "GET /organizations/{org_id}/calc-records", "/calc-records?period=2025", ORG_READ_SAMPLE
)


@endpoint("POST /organizations/{org_id}/inventory/recompute")
def _recompute(m: Matrix, c: Caller) -> list[Case]:
    def new_version(body: Any) -> int:
        return int(body["inventory"]["inventory_id"])

    return [
        m.scoped(
            c,
            "POST /organizations/{org_id}/inventory/recompute",
            f"/organizations/{m.org(o)}/inventory/recompute",
            o,
            RECOMPUTE,
            m.org(o),
            ok=200,
            json={"period": "2025", "reason": "matrix"},
            # inventories: id|org_id|period|start|end|version|status|…
            effect=Effect("inventories", new_version, (f"|{m.org(o)}|2025|", "|current|")),
        )
        for o in ORG_WRITE_SAMPLE
    ]


@endpoint("GET /inventories")
def _list_inventories(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /inventories"
    visible = {i for i, org in reg.inventory.items() if o.sees(c, org)}
    cases = [m.case(c, key, "/inventories?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        ent = m.org(side.enterprise)
        mine = {i for i in visible if reg.inventory[i] == ent}
        url = f"/inventories?org_id={ent}"
        cases.append(
            m.case(c, key, url, f"org_id={side.enterprise}", 200, items=mine, own=o.sees(c, ent))
        )
    return cases


# sources and meters


@endpoint("GET /sources")
def _list_sources(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /sources"
    visible = {i for i, x in reg.source.items() if o.sees(c, x.org_id)}
    cases = [m.case(c, key, "/sources?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        fac, ent = m.facility(side), m.org(side.enterprise)
        sees = o.sees(c, ent)
        on_fac = {i for i in visible if reg.source[i].org_id == fac}
        within = {i for i in visible if reg.under(reg.source[i].org_id, ent)}
        cases += [
            m.case(
                c,
                key,
                f"/sources?org_id={fac}",
                f"org_id={side.facility}",
                200,
                items=on_fac,
                own=sees,
            ),
            m.case(
                c,
                key,
                f"/sources?within={ent}",
                f"within {side.enterprise}",
                200 if sees else 404,
                items=within,
                own=sees,
            ),
        ]
    return cases


@endpoint("POST /sources")
def _create_source(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        code, fac = m.unique(c), m.facility(side)
        cases.append(
            m.scoped(
                c,
                "POST /sources",
                "/sources",
                f"on {side.facility}",
                CONFIGURATION,
                fac,
                json=source_body(fac, code, side.region),
                effect=Effect("emission_sources", new_id, (f"|{fac}|{code}|",)),
            )
        )
    return cases


@endpoint("GET /sources/{source_id}")
def _get_source(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /sources/{source_id}"
    return [
        m.scoped(c, key, f"/sources/{m.source(s)}", s.source, READ, m.facility(s)) for s in SIDES
    ]


@endpoint("PATCH /sources/{source_id}")
def _patch_source(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        name = f"renamed-{m.unique(c)}"
        cases.append(
            m.scoped(
                c,
                "PATCH /sources/{source_id}",
                f"/sources/{m.source(side)}",
                side.source,
                CONFIGURATION,
                m.facility(side),
                json={"name_en": name},
                effect=Effect("emission_sources", m.source(side), (f"|{name}|",)),
            )
        )
    return cases


@endpoint("DELETE /sources/{source_id}")
def _delete_source(m: Matrix, c: Caller) -> list[Case]:
    return [
        m.scoped(
            c,
            "DELETE /sources/{source_id}",
            f"/sources/{m.tmp[f'{s.key}.src']}",
            f"{s.tag}-src (on {s.facility}, no data)",
            CONFIGURATION,
            m.facility(s),
            effect=Effect("emission_sources", m.tmp[f"{s.key}.src"], gone=True),
        )
        for s in WRITE_SIDES
    ]


@endpoint("GET /meters")
def _list_meters(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /meters"
    visible = {i for i, x in reg.meter.items() if o.sees(c, x.org_id)}
    cases = [m.case(c, key, "/meters?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        src, ent = m.source(side), m.org(side.enterprise)
        sees = o.sees(c, ent)
        linked = {i for i in visible if reg.meter[i].source_id == src}
        within = {i for i in visible if reg.under(reg.meter[i].org_id, ent)}
        cases += [
            m.case(
                c,
                key,
                f"/meters?source_id={src}",
                f"source_id={side.source}",
                200,
                items=linked,
                own=sees,
            ),
            m.case(
                c,
                key,
                f"/meters?within={ent}",
                f"within {side.enterprise}",
                200 if sees else 404,
                items=within,
                own=sees,
            ),
        ]
    return cases


def _meter_link(m: Matrix, c: Caller, org: int, source_side: Side, ok: int) -> int:
    """Linking ``source_side``'s source to a meter on ``org``: the organisation rules first, then
    the source must be visible (404) and belong to the meter's enterprise (422)."""
    status = m.oracle.expect(c, CONFIGURATION, org)
    if status != 200:
        return status
    if not m.oracle.sees(c, m.facility(source_side)):
        return 404
    return ok if m.reg.under(org, m.org(source_side.enterprise)) else 422


CROSS_LINKS = (("A", "C"), ("C", "A"), ("A", "B"))  # (the meter's side, the source's side)


@endpoint("POST /meters")
def _create_meter(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        code, fac = m.unique(c), m.facility(side)
        cases.append(
            m.scoped(
                c,
                "POST /meters",
                "/meters",
                f"on {side.facility}",
                CONFIGURATION,
                fac,
                json=meter_body(fac, code, m.source(side)),
                effect=Effect("meters", new_id, (f"|{fac}|{m.source(side)}|{code}|",)),
            )
        )
    for on, link in CROSS_LINKS:
        fac = m.facility(SIDE[on])
        cases.append(
            m.case(
                c,
                "POST /meters",
                "/meters",
                f"on {SIDE[on].facility} linked to {SIDE[link].source}",
                _meter_link(m, c, fac, SIDE[link], 201),
                json=meter_body(fac, m.unique(c), m.source(SIDE[link])),
                own=m.oracle.sees(c, fac),
            )
        )
    return cases


@endpoint("GET /meters/{meter_id}")
def _get_meter(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /meters/{meter_id}"
    return [
        m.scoped(c, key, f"/meters/{m.meter(s)}", f"{s.source}-M", READ, m.facility(s))
        for s in SIDES
    ]


@endpoint("PATCH /meters/{meter_id}")
def _patch_meter(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        name = f"renamed-{m.unique(c)}"
        cases.append(
            m.scoped(
                c,
                "PATCH /meters/{meter_id}",
                f"/meters/{m.meter(side)}",
                f"{side.source}-M",
                CONFIGURATION,
                m.facility(side),
                json={"name_en": name},
                effect=Effect("meters", m.meter(side), (f"|{name}|",)),
            )
        )
    for on, link in CROSS_LINKS:
        fac = m.facility(SIDE[on])
        cases.append(
            m.case(
                c,
                "PATCH /meters/{meter_id}",
                f"/meters/{m.meter(SIDE[on])}",
                f"{SIDE[on].source}-M relinked to {SIDE[link].source}",
                _meter_link(m, c, fac, SIDE[link], 200),
                json={"source_id": m.source(SIDE[link])},
                own=m.oracle.sees(c, fac),
            )
        )
    return cases


@endpoint("DELETE /meters/{meter_id}")
def _delete_meter(m: Matrix, c: Caller) -> list[Case]:
    return [
        m.scoped(
            c,
            "DELETE /meters/{meter_id}",
            f"/meters/{m.tmp[f'{s.key}.meter']}",
            f"{s.tag}-m (on {s.facility})",
            CONFIGURATION,
            m.facility(s),
            effect=Effect("meters", m.tmp[f"{s.key}.meter"], gone=True),
        )
        for s in WRITE_SIDES
    ]


# activity data


@endpoint("GET /activity")
def _list_activity(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /activity"

    def org_of(datum: int) -> int:
        return reg.source[reg.activity[datum]].org_id

    visible = {i for i in reg.activity if o.sees(c, org_of(i))}
    cases = [m.case(c, key, "/activity?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        src, ent = m.source(side), m.org(side.enterprise)
        sees = o.sees(c, ent)
        cases += [
            m.case(
                c,
                key,
                f"/activity?limit=1000&source_id={src}",
                f"source_id={side.source}",
                200,
                items={i for i in visible if reg.activity[i] == src},
                own=sees,
            ),
            m.case(
                c,
                key,
                f"/activity?limit=1000&within={ent}",
                f"within {side.enterprise}",
                200 if sees else 404,
                items={i for i in visible if reg.under(org_of(i), ent)},
                own=sees,
            ),
        ]
    return cases


@endpoint("POST /activity")
def _create_activity(m: Matrix, c: Caller) -> list[Case]:
    def datum_id(body: Any) -> int:
        return int(body["activity"]["id"])

    cases = []
    for side in WRITE_SIDES:
        amount = 100 + next(m.seq)
        cases.append(
            m.scoped(
                c,
                "POST /activity",
                "/activity",
                f"{side.source} 2024-06",
                ACTIVITY,
                m.facility(side),
                json=activity_body(m.source(side), 6, amount),
                # activity_data: id|source_id|start|end|amount|…
                effect=Effect("activity_data", datum_id, (f"|{m.source(side)}|2024-06-01|",)),
            )
        )
    return cases


@endpoint("GET /activity/{activity_id}")
def _get_activity(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /activity/{activity_id}"
    return [
        m.scoped(c, key, f"/activity/{m.datum(s)}", f"{s.source}/03", READ, m.facility(s))
        for s in SIDES
    ]


@endpoint("PATCH /activity/{activity_id}")
def _patch_activity(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        amount = 500 + next(m.seq)

        def corrected(r: httpx.Response, amount: int = amount) -> list[str]:
            datum = r.json()["activity"]
            ok = datum["amount"] == amount and datum["version"] > 1
            return [] if ok else [f"answered {datum}"]

        cases.append(
            m.scoped(
                c,
                "PATCH /activity/{activity_id}",
                f"/activity/{m.datum(side)}",
                f"{side.source}/03",
                ACTIVITY,
                m.facility(side),
                json={"amount": amount},
                effect=Effect("activity_data", m.datum(side), (f"|{amount}",)),
                verify=corrected,
            )
        )
    return cases


@endpoint("DELETE /activity/{activity_id}")
def _delete_activity(m: Matrix, c: Caller) -> list[Case]:
    return [
        m.scoped(
            c,
            "DELETE /activity/{activity_id}",
            f"/activity/{m.tmp[f'{s.key}.datum']}",
            f"{s.source} 2024-07 (throwaway)",
            ACTIVITY,
            m.facility(s),
            ok=200,
            effect=Effect("activity_data", m.tmp[f"{s.key}.datum"], gone=True),
        )
        for s in WRITE_SIDES
    ]


# factors and calculation: global, for any signed-in caller, changing nothing


@endpoint("GET /factors")
def _factors(m: Matrix, c: Caller) -> list[Case]:
    return [m.case(c, "GET /factors", "/factors?q=electricity&limit=5", "library", 200)]


@endpoint("POST /calc")
def _calc(m: Matrix, c: Caller) -> list[Case]:
    record = {
        "id": "r1",
        "method": "electricity",
        "year": 2024,
        "region": "江苏",
        "amount": 1.0,
        "unit": "MWh",
        "fallback": "latest_prior",
    }
    return [m.case(c, "POST /calc", "/calc", "stateless", 200, json={"records": [record]})]


# users and roles


@endpoint("GET /users")
def _list_users(m: Matrix, c: Caller) -> list[Case]:
    managed = {i for i, u in m.reg.user.items() if m.oracle.manages(c, u)}
    return [m.case(c, "GET /users", "/users?limit=1000", "managed users", 200, items=managed)]


@endpoint("GET /users/{user_id}")
def _get_user(m: Matrix, c: Caller) -> list[Case]:
    targets = [(f"{s.tag}-user", m.tmp[f"{s.key}.user"]) for s in WRITE_SIDES]
    targets += [("xp-admin", m.tmp["P.user"]), (c.username, m.world.user[c.username])]
    targets += [(u, m.world.user[u]) for u in ("viewer", "foreign") if u != c.username]
    return [
        m.case(
            c,
            "GET /users/{user_id}",
            f"/users/{uid}",
            name,
            200 if m.oracle.sees_user(c, name) else 404,
            own=m.oracle.sees_user(c, name),
            subject=name,
        )
        for name, uid in targets
    ]


@endpoint("POST /users")
def _create_user(m: Matrix, c: Caller) -> list[Case]:
    o = m.oracle

    def outcome(grants: list[tuple[str, int | None]]) -> int:
        if not grants:  # only platform admins may create users without roles
            return (403 if c.read_only else 201) if c.admin else 422
        for role, org in grants:  # in order: the first refusal answers
            status = o.grant(c, role, org)
            if status != 201:
                return status
        return 201

    plans: list[tuple[str, list[tuple[str, int | None]]]] = [
        (f"viewer on {s.enterprise}", [("viewer", m.org(s.enterprise))]) for s in WRITE_SIDES
    ]
    plans += [
        ("viewer on A1 and on C1", [("viewer", m.org("A1")), ("viewer", m.org("C1"))]),
        ("org_admin on P1", [("org_admin", m.org("P1"))]),
        ("platform_admin", [("platform_admin", None)]),
        ("no roles", []),
    ]
    cases = []
    for label, grants in plans:
        username = m.unique(c)
        orgs = [org for _, org in grants if org is not None]
        cases.append(
            m.case(
                c,
                "POST /users",
                "/users",
                label,
                outcome(grants),
                json=user_body(username, grants),
                effect=Effect("users", new_id, (f"|{username}|",)),
                own=all(o.sees(c, org) for org in orgs),
            )
        )
    return cases


@endpoint("POST /users/{user_id}/grants")
def _add_grant(m: Matrix, c: Caller) -> list[Case]:
    o, me = m.oracle, m.world.user[c.username]
    plans: list[tuple[str, int, str, int | None]] = [
        (f"{s.tag}-user", m.tmp[f"{s.key}.user"], "verifier", m.org(s.enterprise))
        for s in WRITE_SIDES
    ]
    plans += [
        ("xa-user", m.tmp["A.user"], "viewer", m.org("C1")),
        ("xc-user", m.tmp["C.user"], "viewer", m.org("A1")),
        ("xa-user", m.tmp["A.user"], "org_admin", m.org("P1")),
        ("xa-user", m.tmp["A.user"], "platform_admin", None),
        (c.username, me, "org_admin", m.org("A1")),  # escalating oneself
        (c.username, me, "org_admin", m.org("C1")),
        (c.username, me, "platform_admin", None),
    ]
    cases = []
    for name, uid, role, org in plans:
        held = (role, org) in m.reg.grants.get(name, [])  # granting it again changes nothing
        effect = Effect("role_grants", new_id, (grant_line(uid, role, org),))
        cases.append(
            m.case(
                c,
                "POST /users/{user_id}/grants",
                f"/users/{uid}/grants",
                f"{name} += {role}" + (f" on {m.reg.org[org].code}" if org else ""),
                o.grant(c, role, org) if o.sees_user(c, name) else 404,
                json={"role": role, "org_id": org},
                effect=None if held else effect,
                own=o.sees_user(c, name) and (org is None or o.sees(c, org)),
                subject=name,
            )
        )
    return cases


@endpoint("DELETE /users/{user_id}/grants/{grant_id}")
def _remove_grant(m: Matrix, c: Caller) -> list[Case]:
    key = "DELETE /users/{user_id}/grants/{grant_id}"
    cases = []
    for side in WRITE_SIDES:
        uid, gid = m.tmp[f"{side.key}.user"], m.tmp[f"{side.key}.grant"]
        cases.append(
            m.scoped(
                c,
                key,
                f"/users/{uid}/grants/{gid}",
                f"{side.tag}-user's data_entry on {side.enterprise}",
                MANAGE_USERS,
                m.org(side.enterprise),
                effect=Effect("role_grants", gid, gone=True),
            )
        )
    uid, gid = m.tmp["P.user"], m.tmp["P.grant"]
    # A platform-wide grant is invisible to everyone but platform admins.
    cases.append(
        m.case(
            c,
            key,
            f"/users/{uid}/grants/{gid}",
            "xp-admin's platform_admin",
            (403 if c.read_only else 204) if c.admin else 404,
            effect=Effect("role_grants", gid, gone=True),
            own=c.admin,
        )
    )
    return cases


# readings: sending, series, monthly entries, meter swaps, quarantine, quality, imports, jobs


@endpoint("POST /readings")
def _post_readings(m: Matrix, c: Caller) -> list[Case]:
    """A batch names its meters in the body: a read-only token is refused whole (403, whatever
    the meters); otherwise a reading of a meter the caller may not write to is quarantined as an
    unknown meter (not stored, its existence not revealed), and the others are stored."""
    uid = m.world.user[c.username]
    cases = []
    for side, media in ((SIDE["A"], "json"), (SIDE["C"], "json"), (SIDE["A"], "csv")):
        meter, fac, n = m.tmp[f"{side.key}.rmeter"], m.facility(side), next(m.seq)
        allowed = m.oracle.may(c, ACTIVITY, fac)

        def outcome(
            r: httpx.Response, meter: int = meter, n: int = n, ok: bool = allowed
        ) -> list[str]:
            body, problems = r.json(), []
            if (body["stored"], body["quarantined"]) != ((1, 0) if ok else (0, 1)):
                problems.append(f"answered {body}")
            elif not ok and body["quarantine"][0]["reason"] != "unknown_meter":
                problems.append(f"quarantined as {body['quarantine'][0]}")
            if m.stored(meter, n) != ok:
                problems.append(f"the reading is {'not ' if ok else ''}stored")
            return problems

        if allowed:
            effect = Effect("readings", meter)
        else:  # quarantine: id|meter_id|org_id|submitted_by|channel|ref|reason|…
            effect = Effect("quarantine", None, (f"|∅|∅|{uid}|http|", "|unknown_meter|"))
        case = m.case(
            c,
            "POST /readings",
            "/readings",
            f"{media} reading of {side.tag}-rmeter (on {side.facility})",
            403 if c.read_only else 200,
            effect=effect,
            verify=outcome,
            own=m.oracle.sees(c, fac),
        )
        if media == "json":
            case.json = {"readings": [{"meter": meter, "ts": slot(n), "value": float(n)}]}
        else:
            case.content = f"meter,ts,value\n{meter},{slot(n)},{n}\n".encode()
            case.headers = {**case.headers, "Content-Type": "text/csv"}
        cases.append(case)
    return cases


@endpoint("POST /readings/sync")
def _sync_activity(m: Matrix, c: Caller) -> list[Case]:
    # Platform admins only; nothing is queued (the matrix's meters feed no source): no change.
    allowed = c.admin and not c.read_only
    return [
        m.case(c, "POST /readings/sync", "/readings/sync", "activity sync", 200 if allowed else 403)
    ]


@endpoint("GET /meters/{meter_id}/series")
def _series(m: Matrix, c: Caller) -> list[Case]:
    key, period = "GET /meters/{meter_id}/series", "start=2025-05-01&end=2025-05-03"
    cases = [
        m.scoped(
            c,
            key,
            f"/meters/{m.meter(s)}/series?{period}&resolution={resolution}",
            f"{s.source}-M by {resolution}",
            READ,
            m.facility(s),
        )
        for s, resolution in zip(SIDES, ("day", "hour", "month"), strict=True)
    ]
    cases += [
        m.scoped(
            c,
            key,
            f"/meters/{m.tmp[f'{s.key}.rmeter']}/series?{period}&resolution=15min",
            f"{s.tag}-rmeter by 15min",
            READ,
            m.facility(s),
        )
        for s in WRITE_SIDES
    ]
    return cases


@endpoint("GET /meters/{meter_id}/monthly")
def _list_monthly(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /meters/{meter_id}/monthly"
    return [
        m.scoped(c, key, f"/meters/{m.meter(s)}/monthly", f"{s.source}-M", READ, m.facility(s))
        for s in SIDES
    ]


@endpoint("PUT /meters/{meter_id}/monthly/{month}")
def _put_monthly(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        meter, note = m.tmp[f"{side.key}.rmeter"], m.unique(c)
        cases.append(
            m.scoped(
                c,
                "PUT /meters/{meter_id}/monthly/{month}",
                f"/meters/{meter}/monthly/2025-03",
                f"{side.tag}-rmeter 2025-03",
                ACTIVITY,
                m.facility(side),
                json={"value": 100.0 + next(m.seq), "note": note},
                # meter_monthly: id|meter_id|month|value|note|…
                effect=Effect("meter_monthly", None, (f"|{meter}|2025-03-01|", f"|{note}|")),
            )
        )
    return cases


@endpoint("POST /meters/{meter_id}/replacements")
def _add_replacement(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        meter, note = m.tmp[f"{side.key}.cmeter"], m.unique(c)
        cases.append(
            m.scoped(
                c,
                "POST /meters/{meter_id}/replacements",
                f"/meters/{meter}/replacements",
                f"{side.tag}-cmeter (cumulative, on {side.facility})",
                CONFIGURATION,
                m.facility(side),
                json={
                    "ts": slot(next(m.seq)),
                    "old_final": 1000.0,
                    "new_initial": 0.0,
                    "note": note,
                },
                # meter_replacements: id|meter_id|ts|old_final|new_initial|note|…
                effect=Effect("meter_replacements", new_id, (f"|{meter}|", f"|{note}|")),
            )
        )
    return cases


@endpoint("GET /quarantine")
def _list_quarantine(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /quarantine"
    visible = {q for q in reg.quarantine if o.sees_quarantined(c, q)}
    cases = [m.case(c, key, "/quarantine?limit=1000", "all open", 200, items=visible)]
    for side in WRITE_SIDES:
        fac, meter = m.facility(side), m.tmp[f"{side.key}.rmeter"]
        own = o.sees(c, fac)
        cases += [
            m.case(
                c,
                key,
                f"/quarantine?limit=1000&org_id={fac}",
                f"org_id={side.facility}",
                200,
                items={q for q in visible if reg.quarantine[q][0] == fac},
                own=own,
            ),
            m.case(
                c,
                key,
                f"/quarantine?limit=1000&meter_id={meter}&status=open",
                f"meter_id={side.tag}-rmeter",
                200,
                items={q for q in visible if reg.quarantine[q][0] == fac},
                own=own,
            ),
        ]
    return cases


#: Quarantined readings of the setup: the side's data writer's, and the viewer's own.
QUARANTINED = {
    "A": "dataentry's, on A1-F1",
    "C": "foreign's, on C1-F1",
    "V": "viewer's, meter unknown to it",
}


def _quarantine_write(
    m: Matrix,
    c: Caller,
    key: str,
    use: str,
    suffix: str,
    effect: Callable[[int], Effect | None],
    **kw: Any,
) -> list[Case]:
    cases = []
    for who, label in QUARANTINED.items():
        qid = m.tmp[f"{who}.q.{use}"]
        cases.append(
            m.case(
                c,
                key,
                f"/quarantine/{qid}{suffix}",
                label,
                m.oracle.fix_quarantined(c, qid),
                effect=effect(qid),
                own=m.oracle.sees_quarantined(c, qid),
                **kw,
            )
        )
    return cases


@endpoint("PATCH /quarantine/{qid}")
def _correct_quarantined(m: Matrix, c: Caller) -> list[Case]:
    value = 1000.5 + next(m.seq)
    # quarantine: …|raw|… (JSON text holding the corrected value)
    return _quarantine_write(
        m,
        c,
        "PATCH /quarantine/{qid}",
        "patch",
        "",
        lambda qid: Effect("quarantine", qid, (str(value),)),
        json={"value": value},
    )


@endpoint("POST /quarantine/{qid}/reprocess")
def _reprocess(m: Matrix, c: Caller) -> list[Case]:
    def effect(qid: int) -> Effect | None:
        if qid == m.tmp["V.q.reprocess"] and not c.admin:
            return None  # still an unknown meter to the viewer: stays open, unchanged
        return Effect("quarantine", qid, ("|reprocessed|",))

    return _quarantine_write(
        m, c, "POST /quarantine/{qid}/reprocess", "reprocess", "/reprocess", effect
    )


@endpoint("POST /quarantine/{qid}/discard")
def _discard(m: Matrix, c: Caller) -> list[Case]:
    return _quarantine_write(
        m,
        c,
        "POST /quarantine/{qid}/discard",
        "discard",
        "/discard",
        lambda qid: Effect("quarantine", qid, ("|discarded|",)),
    )


@endpoint("GET /quality/daily")
def _daily_quality(m: Matrix, c: Caller) -> list[Case]:
    return [
        m.scoped(
            c,
            "GET /quality/daily",
            f"/quality/daily?org_id={m.org(o)}&date=2025-05-01",
            o,
            READ,
            m.org(o),
        )
        for o in ORG_READ_SAMPLE
    ]


@endpoint("GET /quality/monthly")
def _monthly_quality(m: Matrix, c: Caller) -> list[Case]:
    return [
        m.scoped(
            c,
            "GET /quality/monthly",
            f"/quality/monthly?org_id={m.org(o)}&month=2025-05",
            o,
            READ,
            m.org(o),
        )
        for o in ORG_READ_SAMPLE
    ]


@endpoint("POST /imports")
def _import(m: Matrix, c: Caller) -> list[Case]:
    uid = m.world.user[c.username]
    cases = []
    for side in WRITE_SIDES:
        ent, meter, n = m.org(side.enterprise), m.tmp[f"{side.key}.rmeter"], next(m.seq)

        def imported(r: httpx.Response, meter: int = meter, n: int = n) -> list[str]:
            job = m.finish_job(r.json()["id"])
            if job["status"] != "done" or job["result"]["stored"] != 1:
                return [f"the job ended {job}"]
            return [] if m.stored(meter, n) else ["the reading is not stored"]

        case = m.scoped(
            c,
            "POST /imports",
            "/imports",
            f"a CSV file into {side.enterprise}",
            ACTIVITY,
            ent,
            ok=202,
            # jobs: id|kind|status|org_id|created_by|…
            effect=Effect("jobs", new_id, (f"|readings_import|done|{ent}|{uid}|",)),
            settle=m.settle_import,
            verify=imported,
        )
        form = import_form(ent, meter, n)
        case.files, case.data = form["files"], form["data"]
        cases.append(case)
    return cases


@endpoint("GET /jobs/{job_id}")
def _get_job(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        job = m.tmp[f"{side.key}.job"]
        sees = m.oracle.sees_job(c, job)
        label = f"admin's import into {side.enterprise}"
        cases.append(
            m.case(c, "GET /jobs/{job_id}", f"/jobs/{job}", label, 200 if sees else 404, own=sees)
        )
    return cases


# verification: cases, findings, evidence files, the audit trail


def _case_targets(m: Matrix, names: Iterable[str]) -> list[tuple[Side, str, int]]:
    """``(side, name, case id)`` of the named setup cases of each writable side."""
    return [(s, n, m.tmp[f"{s.key}.case.{n}"]) for s in WRITE_SIDES for n in names]


def _case_label(side: Side, name: str) -> str:
    return f"{side.enterprise}'s {CASE_PERIODS[name]} case ({name})"


@endpoint("GET /verifications")
def _list_cases(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /verifications"
    visible = {i for i in reg.cases if o.sees_case(c, i)}
    cases = [
        m.case(c, key, "/verifications?limit=1000", "all", 200, items=visible),
        m.case(
            c,
            key,
            "/verifications?limit=1000&queue=true",
            "the queue of the caller's verifier organisations",
            200,
            items={i for i in visible if o.member(c, i)},
        ),
        m.case(
            c,
            key,
            "/verifications?limit=1000&state=in_verification",
            "in verification",
            200,
            items={i for i in visible if reg.cases[i].state == "in_verification"},
        ),
    ]
    for side in WRITE_SIDES:
        ent = m.org(side.enterprise)
        cases.append(
            m.case(
                c,
                key,
                f"/verifications?limit=1000&org_id={ent}",
                f"org_id={side.enterprise}",
                200,
                items={i for i in visible if reg.cases[i].org == ent},
                own=o.sees(c, ent),
            )
        )
    return cases


@endpoint("POST /verifications")
def _submit_case(m: Matrix, c: Caller) -> list[Case]:
    """Submitting a year without a case opens one; a returned case goes back to its verifier
    (resubmitted); a case under way cannot be submitted again, nor a version already verified
    (409)."""
    cases = []
    for side in WRITE_SIDES:
        org = m.org(side.enterprise)
        returned = m.tmp[f"{side.key}.case.returned"]
        # verifications: id|org_id|period|inventory_id|state|verifier_org_id|…
        opened = Effect("verifications", new_id, (f"|{org}|2025|", "|submitted|"))
        resubmitted = Effect("verifications", returned, ("|in_verification|",))
        for period, effect in (
            (DRAFT_PERIOD, opened),
            (CASE_PERIODS["returned"], resubmitted),
            (CASE_PERIODS["submitted"], None),
            (CASE_PERIODS["published"], None),
        ):
            cases.append(
                m.scoped(
                    c,
                    "POST /verifications",
                    "/verifications",
                    f"{side.enterprise} {period}",
                    SUBMIT,
                    org,
                    ok=m.oracle.submits(org, period),
                    json={"org_id": org, "period": period},
                    effect=effect,
                )
            )
    return cases


def _case_reads(key: str, suffix: str, names: tuple[str, ...], ok: dict[str, int]) -> Builder:
    def build_case_reads(m: Matrix, c: Caller) -> list[Case]:
        return [
            m.case(
                c,
                key,
                f"/verifications/{cid}{suffix}",
                _case_label(side, name),
                ok.get(name, 200) if m.oracle.sees_case(c, cid) else 404,
                own=m.oracle.sees_case(c, cid),
            )
            for side, name, cid in _case_targets(m, names)
        ]

    return endpoint(key)(build_case_reads)


_case_reads("GET /verifications/{case_id}", "", ("submitted", "review"), {})
_case_reads("GET /verifications/{case_id}/lineage", "/lineage", ("review",), {})
# Nothing is signed before a case is verified: 422 (field state) to those who see it.
_case_reads(
    "GET /verifications/{case_id}/statement",
    "/statement",
    ("verified", "submitted"),
    {"submitted": 422},
)


@endpoint("GET /verifications/{case_id}/findings")
def _list_findings(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side, name, cid in _case_targets(m, ("review", "verified")):
        sees = m.oracle.sees_case(c, cid)
        case = m.case(
            c,
            "GET /verifications/{case_id}/findings",
            f"/verifications/{cid}/findings",
            _case_label(side, name),
            200 if sees else 404,
            own=sees,
            items={f for f, (of, _) in m.reg.findings.items() if of == cid},
        )
        cases.append(case)
    return cases


@endpoint("POST /verifications/{case_id}/assign")
def _assign_case(m: Matrix, c: Caller) -> list[Case]:
    """The regulator or an org admin of the organisation: a verifier organisation (else 422),
    to a submitted case (else 409)."""
    o, cases = m.oracle, []
    for side in WRITE_SIDES:
        body = m.org(BODY[side.key])
        for name, verifier in (("submitted", m.org("B1")), ("submitted", body), ("verified", body)):
            cid = m.tmp[f"{side.key}.case.{name}"]
            is_body = m.reg.org[verifier].kind == "verifier"
            ok = o.moves(cid, "assign") if is_body else 422
            cases.append(
                m.case(
                    c,
                    "POST /verifications/{case_id}/assign",
                    f"/verifications/{cid}/assign",
                    f"{_case_label(side, name)} to {m.reg.org[verifier].code}",
                    o.case_org_side(c, cid, ASSIGN, ok),
                    json={"verifier_org_id": verifier},
                    effect=Effect("verifications", cid, (f"|in_verification|{body}|",)),
                    own=o.sees_case(c, cid),
                )
            )
    return cases


@endpoint("POST /verifications/{case_id}/publish")
def _publish_case(m: Matrix, c: Caller) -> list[Case]:
    return [
        m.case(
            c,
            "POST /verifications/{case_id}/publish",
            f"/verifications/{cid}/publish",
            _case_label(side, name),
            m.oracle.case_org_side(c, cid, SUBMIT, m.oracle.moves(cid, "publish")),
            effect=Effect("verifications", cid, ("|published|",)),
            own=m.oracle.sees_case(c, cid),
        )
        for side, name, cid in _case_targets(m, ("verified", "published"))
    ]


def _verifier_writes(
    key: str,
    suffix: str,
    targets: tuple[str, ...],
    body: Callable[[Matrix, Caller], Any],
    effect: Callable[[int], Effect],
    ok: Callable[[Oracle, int], int],
    *,
    signs: bool = False,
) -> Builder:
    """Writes of the assigned body's members on the setup cases ``targets``; ``ok``: the status
    once allowed; ``signs``: only a member independent of the organisation (else 403)."""

    def outcome(m: Matrix, c: Caller, cid: int) -> int:
        status = m.oracle.case_verifier_side(c, cid, ok(m.oracle, cid))
        if signs and status < 300 and not m.oracle.signer(c, cid):
            return 403
        return status

    def build_verifier_writes(m: Matrix, c: Caller) -> list[Case]:
        return [
            m.case(
                c,
                key,
                f"/verifications/{cid}{suffix}",
                _case_label(side, name),
                outcome(m, c, cid),
                json=body(m, c),
                effect=effect(cid),
                own=m.oracle.sees_case(c, cid),
            )
            for side, name, cid in _case_targets(m, targets)
        ]

    return endpoint(key)(build_verifier_writes)


# Raising a finding: in verification only; on a case not assigned yet, nobody's member (403).
_verifier_writes(
    "POST /verifications/{case_id}/findings",
    "/findings",
    ("review", "submitted", "verified"),
    lambda m, c: {"severity": "major", "title": f"finding {m.unique(c)}"},
    # findings: id|verification_id|number|severity|…
    lambda cid: Effect("findings", new_id, (f"|{cid}|", "|major|")),
    lambda o, cid: 201 if o.reg.cases[cid].state == "in_verification" else 409,
)
# Returning: in verification with a finding not closed.
_verifier_writes(
    "POST /verifications/{case_id}/return",
    "/return",
    ("return", "returned", "verify"),
    lambda m, c: {"note": m.unique(c)},
    lambda cid: Effect("verifications", cid, ("|returned|",)),
    lambda o, cid: o.moves(cid, "return"),
)
# Signing: in verification with every finding closed.
_verifier_writes(
    "POST /verifications/{case_id}/verify",
    "/verify",
    ("verify", "published", "review"),
    lambda m, c: {"opinion": f"真实、准确、完整 {m.unique(c)}"},
    lambda cid: Effect("verifications", cid, ("|verified|",)),
    lambda o, cid: o.moves(cid, "verify"),
    signs=True,
)


@endpoint("POST /findings/{finding_id}/comments")
def _comment_finding(m: Matrix, c: Caller) -> list[Case]:
    """Open findings of a case in verification and of a returned one; a closed finding of a
    verified case (409 for those allowed: findings are settled)."""
    cases = []
    for side in WRITE_SIDES:
        for finding in ("comment", "returned", "settled"):
            fid = m.tmp[f"{side.key}.f.{finding}"]
            cid = m.reg.findings[fid][0]
            side_name = "verifier" if m.oracle.member(c, cid) else "organization"
            cases.append(
                m.case(
                    c,
                    "POST /findings/{finding_id}/comments",
                    f"/findings/{fid}/comments",
                    f"finding {finding} of {side.enterprise}'s {m.reg.cases[cid].state} case",
                    m.oracle.comment(c, fid),
                    json={"body": f"answer {m.unique(c)}"},
                    # finding_comments: id|finding_id|side|body|…
                    effect=Effect("finding_comments", new_id, (f"|{fid}|{side_name}|",)),
                    own=m.oracle.sees_case(c, cid),
                )
            )
    return cases


@endpoint("POST /findings/{finding_id}/close")
def _close_finding(m: Matrix, c: Caller) -> list[Case]:
    """Members of the assigned body close findings while the case is in verification."""
    cases = []
    for side in WRITE_SIDES:
        for finding in ("close", "returned", "settled"):
            fid = m.tmp[f"{side.key}.f.{finding}"]
            cid = m.reg.findings[fid][0]
            cases.append(
                m.case(
                    c,
                    "POST /findings/{finding_id}/close",
                    f"/findings/{fid}/close",
                    f"finding {finding} of {side.enterprise}'s {m.reg.cases[cid].state} case",
                    m.oracle.close(c, fid),
                    effect=Effect("findings", fid, ("|closed|",)),
                    own=m.oracle.sees_case(c, cid),
                )
            )
    return cases


def _evidence_file(m: Matrix, c: Caller) -> dict[str, Any]:
    content = f"%PDF-1.4 {m.unique(c)}".encode()
    return {"file": ("invoice.pdf", content, "application/pdf")}


@endpoint("POST /activity/{activity_id}/evidence")
def _upload_evidence(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in WRITE_SIDES:
        datum, fac = m.datum(side), m.facility(side)
        case = m.scoped(
            c,
            "POST /activity/{activity_id}/evidence",
            f"/activity/{datum}/evidence",
            f"{side.source}/03",
            ACTIVITY,
            fac,
            # evidence: id|activity_id|org_id|filename|…
            effect=Effect("evidence", new_id, (f"|{datum}|{fac}|invoice.pdf|",)),
        )
        case.files, case.data = _evidence_file(m, c), {"note": "matrix"}
        cases.append(case)
    return cases


@endpoint("GET /activity/{activity_id}/evidence")
def _list_evidence(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for side in SIDES:
        datum = m.world.activity[f"{side.source}/06"]
        cases.append(
            m.scoped(
                c,
                "GET /activity/{activity_id}/evidence",
                f"/activity/{datum}/evidence",
                f"{side.source}/06",
                READ,
                m.facility(side),
                items={e for e, (d, _) in m.reg.evidence.items() if d == datum},
            )
        )
    return cases


@endpoint("GET /evidence/{evidence_id}")
def _get_evidence(m: Matrix, c: Caller) -> list[Case]:
    key = "GET /evidence/{evidence_id}"
    return [
        m.scoped(
            c,
            key,
            f"/evidence/{m.tmp[f'{s.key}.ev.signed']}",
            f"{s.tag}-signed.pdf (on {s.source}/06)",
            READ,
            m.facility(s),
        )
        for s in WRITE_SIDES
    ]


@endpoint("DELETE /evidence/{evidence_id}")
def _delete_evidence(m: Matrix, c: Caller) -> list[Case]:
    """A file no statement covers goes (204); one a signed statement covers stays (409)."""
    cases = []
    for side in WRITE_SIDES:
        for use, ok in (("tmp", 204), ("signed", 409)):
            evidence = m.tmp[f"{side.key}.ev.{use}"]
            cases.append(
                m.scoped(
                    c,
                    "DELETE /evidence/{evidence_id}",
                    f"/evidence/{evidence}",
                    f"{side.tag}-{use}.pdf",
                    ACTIVITY,
                    m.facility(side),
                    ok=ok,
                    effect=Effect("evidence", evidence, gone=True),
                )
            )
    return cases


@endpoint("GET /audit")
def _audit_history(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /audit"
    visible = {seq for seq in reg.audit if o.sees_audit(c, seq)}
    assert len(reg.audit) <= 1000, "the audit log outgrew one page"
    cases = [m.case(c, key, "/audit?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        ent = m.org(side.enterprise)
        sees = o.sees(c, ent)
        within = {
            seq for seq in visible if reg.audit[seq] in reg.org and reg.under(reg.audit[seq], ent)
        }
        cases.append(
            m.case(
                c,
                key,
                f"/audit?limit=1000&org_id={ent}",
                f"org_id={side.enterprise}",
                200 if sees else 404,
                items=within,
                own=sees,
            )
        )
    return cases


@endpoint("POST /audit/verify")
def _audit_verify(m: Matrix, c: Caller) -> list[Case]:
    """Platform admins and regulators re-check the whole trail; a check, not a write: a read
    token may, and nothing changes."""

    def whole(r: httpx.Response) -> list[str]:
        body = r.json()
        return [] if body["ok"] else [f"the trail is broken: {body['problems'][:3]}"]

    allowed = bool({role for role, _ in m.oracle.declared(c)} & AUDITORS)
    return [
        m.case(
            c,
            "POST /audit/verify",
            "/audit/verify",
            "the whole trail",
            200 if allowed else 403,
            verify=whole,
        )
    ]


# reports and bulk recomputation: background jobs


def _job_ended(m: Matrix, check: Callable[[Any], list[str]]) -> Callable[[httpx.Response], Any]:
    """A ``verify`` of a job's answer: the job ended ``done`` and its result passes ``check``."""

    def ended(r: httpx.Response) -> list[str]:
        job = m.finish_job(r.json()["id"])
        if job["status"] != "done":
            return [f"the job ended {job['status']}: {job['error']}"]
        return check(job["result"])

    return ended


@endpoint("POST /reports")
def _start_report(m: Matrix, c: Caller) -> list[Case]:
    uid = m.world.user[c.username]
    cases = []
    for side in WRITE_SIDES:
        ent = m.org(side.enterprise)

        def readable(result: Any, c: Caller = c) -> list[str]:
            url = API + f"/reports/{result['report_id']}"
            r = m.client.get(url, headers=m.world.auth(c.username))
            return [] if r.status_code == 200 else [f"its report answers {r.status_code}"]

        cases.append(
            m.scoped(
                c,
                "POST /reports",
                "/reports",
                f"{side.enterprise}'s 2025 inventory in JSON",
                REPORT,
                ent,
                ok=202,
                json=report_body(ent),
                # jobs: id|kind|status|org_id|created_by|…
                effect=Effect("jobs", new_id, (f"|report|done|{ent}|{uid}|",)),
                settle=m.settle_import,
                verify=_job_ended(m, readable),
            )
        )
    return cases


@endpoint("GET /reports")
def _list_reports(m: Matrix, c: Caller) -> list[Case]:
    o, reg, key = m.oracle, m.reg, "GET /reports"
    visible = {i for i, org in reg.reports.items() if o.sees(c, org) and _made_by(m, c, i)}
    cases = [m.case(c, key, "/reports?limit=1000", "all", 200, items=visible)]
    for side in WRITE_SIDES:
        ent = m.org(side.enterprise)
        sees = o.sees(c, ent)
        cases.append(
            m.case(
                c,
                key,
                f"/reports?limit=1000&org_id={ent}",
                f"org_id={side.enterprise}",
                200 if sees else 404,
                items={i for i in visible if reg.reports[i] == ent},
                own=sees,
            )
        )
    return cases


def _made_by(m: Matrix, c: Caller, report_id: int) -> bool:
    """A stored report shows what its maker could see: it is its maker's (and an admin's)."""
    return c.admin or m.reg.report_makers.get(report_id) == m.world.user[c.username]


@endpoint("GET /reports/{report_id}")
def _get_report(m: Matrix, c: Caller) -> list[Case]:
    cases = []
    for s in WRITE_SIDES:
        report_id = m.tmp[f"{s.key}.report"]
        org = m.org(s.enterprise)
        sees = m.oracle.sees(c, org)
        cases.append(
            m.case(
                c,
                "GET /reports/{report_id}",
                f"/reports/{report_id}",
                f"{s.enterprise}'s 2025 inventory report (made by another user)",
                200 if sees and _made_by(m, c, report_id) else 404,
                own=sees,
            )
        )
    return cases


@endpoint("POST /inventories/recompute")
def _recompute_subtree(m: Matrix, c: Caller) -> list[Case]:
    uid = m.world.user[c.username]
    cases = []
    for o in ORG_WRITE_SAMPLE:
        org = m.org(o)
        below = sorted(x for x in INVENTORY_ORGS if m.reg.under(m.org(x), org))

        def all_below(result: Any, below: list[str] = below) -> list[str]:
            done = sorted(x["org"] for x in result["recomputed"])
            if done != below or result["failed"]:
                return [f"recomputed {done} (failed {result['failed']}), expected {below}"]
            return []

        cases.append(
            m.scoped(
                c,
                "POST /inventories/recompute",
                "/inventories/recompute",
                f"{o}'s subtree",
                RECOMPUTE,
                org,
                ok=202,
                json={"org_id": org, "period": "2025", "reason": "matrix"},
                effect=Effect("jobs", new_id, (f"|recompute|done|{org}|{uid}|",)),
                settle=m.settle_import,
                verify=_job_ended(m, all_below),
            )
        )
    return cases


# --- running cases ----------------------------------------------------------------------------

#: Columns left out of snapshots: those that change on reads (token use, logins), and the frozen
#: JSON documents of inventory versions (a new version is a new row anyway).
VOLATILE = frozenset(
    {
        "last_used_at",
        "last_login_at",
        "inventories.summary",
        "inventory_items.factors",
        "inventory_items.activity",
        "inventory_items.gases_t",
        "inventory_items.warnings",
    }
)
ERROR_CODES = {
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    422: "invalid_input",
}


def _snapshot_query() -> Any:
    """One statement for all tables: a line of text per row, ``table:id|col|…|``."""
    parts = []
    for table in Base.metadata.sorted_tables:
        line: Any = literal(f"{table.name}:")
        for col in table.c:
            if not {col.name, f"{table.name}.{col.name}"} & VOLATILE:
                line = line + func.coalesce(cast(col, Text), literal("∅")) + literal("|")
        parts.append(select(line.label("line")).select_from(table))
    return union_all(*parts)


SNAPSHOT = _snapshot_query()


def watcher(db: Database) -> Connection:
    """A connection for snapshots, each statement its own transaction."""
    return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def snapshot(connection: Connection) -> list[str]:
    """Every row of every table, volatile columns aside."""
    return sorted(connection.scalars(SNAPSHOT))


def snap(db: Database) -> list[str]:
    with watcher(db) as connection:
        return snapshot(connection)


def changed(before: list[str], after: list[str]) -> str:
    """The tables whose rows differ."""
    diff = set(before) ^ set(after)
    return ", ".join(sorted({line.split(":", 1)[0] for line in diff})) or "nothing"


def send(m: Matrix, case: Case) -> httpx.Response:
    url = case.url if case.url == "/health" else API + case.url
    response = m.client.request(case.method, url, headers=case.headers, **case.body())
    m.client.cookies.clear()  # a session cookie must never authenticate a later request
    if response.is_success and case.settle is not None:
        case.settle(response)
    return response


def decode(response: httpx.Response) -> Any:
    media = response.headers.get("content-type", "")
    if not response.content:
        return None
    if "ndjson" in media:
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]
    if "json" in media:
        return response.json()
    return response.text


def listed_ids(endpoint: str, body: Any) -> set[int]:
    if endpoint == "GET /organizations/tree":
        out: set[int] = set()
        stack = list(body)
        while stack:
            node = stack.pop()
            out.add(node["id"])
            stack.extend(node["children"])
        return out
    if isinstance(body, list):  # the findings of a case, the evidence files of a datum
        return {item["id"] for item in body}
    key = {"GET /inventories": "inventory_id", "GET /audit": "seq"}.get(endpoint, "id")
    return _ids(body, key)


def check(case: Case, response: httpx.Response, body: Any, secrets: Secrets) -> list[str]:
    """Problems with one answer: status, error body, leaks, list contents."""
    problems = []
    status = response.status_code
    if status != case.expected:
        problems.append(f"expected {case.expected}, got {status}: {response.text[:300]}")
    if status >= 400:
        if not isinstance(body, dict) or set(body) != {"code", "field", "message", "request_id"}:
            problems.append(f"error body {response.text[:200]}")
        elif status in ERROR_CODES and body["code"] != ERROR_CODES[status]:
            problems.append(f"error code {body['code']!r} for {status}")
    problems += [f"leaks {leak}" for leak in itertools.islice(secrets.find(body), 5)]
    if status == 200 == case.expected and case.items is not None:
        got = listed_ids(case.endpoint, body)
        if got != case.items:
            extra, missing = sorted(got - case.items), sorted(case.items - got)
            problems.append(f"lists extra ids {extra}, misses {missing}")
        if isinstance(body, dict) and body.get("total") != len(case.items):
            problems.append(f"total {body.get('total')}, expected {len(case.items)}")
    return problems


def walk(m: Matrix, c: Caller, cases: list[Case]) -> list[str]:
    """Send each case as ``c`` and return the problems; writes are bracketed by snapshots."""
    secrets = m.oracle.secrets(c)
    actor = (m.world.user[c.username], c.username)
    failures: list[str] = []
    with watcher(m.db) as connection:
        last = snapshot(connection) if any(x.write for x in cases) else []
        for case in cases:
            response = send(m, case)
            body = decode(response)
            problems = check(case, response, body, secrets)
            if case.write:
                now = snapshot(connection)
                if response.is_success and case.effect is not None:
                    problems += case.effect.problems(body, last, now, actor)
                elif now != last:
                    status = response.status_code
                    problems.append(f"answered {status} but changed {changed(last, now)}")
                last = now
            if response.is_success and case.verify is not None:
                problems += list(case.verify(response))
            failures += [f"{c} {case.endpoint} [{case.target}]: {p}" for p in problems]
    return failures


def build(m: Matrix, c: Caller) -> list[Case]:
    return [case for builder in ENDPOINTS.values() for case in builder(m, c)]


def report(failures: list[str], total: int) -> str:
    shown = "\n".join(failures[:60])
    more = f"\n… and {len(failures) - 60} more" if len(failures) > 60 else ""
    return f"{len(failures)} of {total} cases failed:\n{shown}{more}"


# --- known product defects --------------------------------------------------------------------


@dataclass(frozen=True)
class Defect:
    """A known deviation from the rules: the matrix leaves its cases out, and
    ``test_known_defect`` replays them under ``xfail(strict=True)``."""

    reason: str
    applies: Callable[[Caller, Case], bool]


KNOWN_DEFECTS: dict[str, Defect] = {}


def defect_of(c: Caller, case: Case) -> str | None:
    return next((name for name, d in KNOWN_DEFECTS.items() if d.applies(c, case)), None)


def matrix_cases(m: Matrix, c: Caller) -> list[Case]:
    """The caller's cases, those of known defects left out."""
    return [case for case in build(m, c) if defect_of(c, case) is None]


# --- tests ------------------------------------------------------------------------------------

#: Reads repeated with the read-only token (a read token reads what its user may read).
READ_ONLY_READS = (
    "GET /organizations",
    "GET /organizations/{org_id}",
    "GET /activity",
    "GET /users",
    "GET /users/{user_id}",
    "GET /auth/me",
    "GET /quarantine",
    "GET /jobs/{job_id}",
    "GET /verifications",
    "GET /verifications/{case_id}",
    "GET /evidence/{evidence_id}",
    "GET /audit",
)
ALL_CALLERS = [Caller(u, ro) for u in CALLERS for ro in (False, True)]


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users created here get the world's precomputed argon2 hash (of ``PASSWORD``)."""
    monkeypatch.setattr(repositories, "hash_password", lambda _password: _password_hash())


@pytest.fixture(autouse=True)
def _uploads_in_tmp(client: TestClient, tmp_path: Path) -> None:
    """Uploaded files and the key-encryption key of the signing keys go to the test's
    directory, not to ``var/`` of the working one."""
    state = client.app.state.shuangtan  # type: ignore[attr-defined]
    state.settings = dataclasses.replace(
        state.settings, upload_dir=tmp_path / "uploads", key_file=tmp_path / "keys" / "kek"
    )
    state._vault = None


def first_of_each(cases: Iterable[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for case in cases:
        seen.setdefault(case.endpoint, case)
    return list(seen.values())


@pytest.mark.parametrize("username", list(CALLERS))
def test_role_matrix(username: str, client: TestClient, world: World, db: Database) -> None:
    """Every endpoint × own and foreign targets, as one user.

    1. every read with the read-write token, then the main reads with the read-only token;
    2. with the read-only token, one write per write endpoint on a target the user can see;
    3. every write with the read-write token.
    """
    rw, ro = Caller(username), Caller(username, read_only=True)
    m = Matrix(client, world, db)
    m.setup([rw, ro])
    cases = {c: matrix_cases(m, c) for c in (rw, ro)}
    reads = [x for x in cases[rw] if not x.write]
    ro_reads = [x for x in cases[ro] if not x.write and x.endpoint in READ_ONLY_READS]
    # Self-service (/auth/…) writes all; one per other write endpoint on what the user can see.
    own_writes = [x for x in cases[ro] if x.write and x.own]
    self_service = [x for x in own_writes if x.endpoint.split()[1].startswith("/auth/")]
    ro_writes = first_of_each(x for x in own_writes if x not in self_service) + self_service
    writes = [x for x in cases[rw] if x.write]
    failures = walk(m, rw, reads) + walk(m, ro, first_of_each(ro_reads))
    failures += walk(m, ro, ro_writes) + walk(m, rw, writes)
    total = len(reads) + len(first_of_each(ro_reads)) + len(ro_writes) + len(writes)
    assert not failures, report(failures, total)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=defect.reason))
        for name, defect in KNOWN_DEFECTS.items()
    ]
    or [pytest.param(None, id="none-known")],
)
def test_known_defect(name: str | None, client: TestClient, world: World, db: Database) -> None:
    """The cases of one known defect, for every caller: they fail until the product is fixed."""
    if name is None:
        return  # no known defect today; the list is the place to record the next one
    m = Matrix(client, world, db)
    m.setup(ALL_CALLERS)
    failures: list[str] = []
    for c in ALL_CALLERS:
        failures += walk(m, c, [x for x in build(m, c) if defect_of(c, x) == name])
    assert not failures, report(failures, len(failures))


def test_every_route_is_in_the_matrix(client: TestClient, world: World, db: Database) -> None:
    """The table covers the OpenAPI schema exactly; every organisation-scoped endpoint has own
    and foreign targets; every known defect still names a case."""
    schema = client.get(API + "/openapi.json").json()
    routes = {
        f"{method.upper()} {path.removeprefix(API)}"
        for path, operations in schema["paths"].items()
        for method in operations
    }
    missing, stale = sorted(routes - set(ENDPOINTS)), sorted(set(ENDPOINTS) - routes)
    assert not missing, f"routes missing from the matrix (add them to ENDPOINTS): {missing}"
    assert not stale, f"matrix routes not in the API: {stale}"

    m = Matrix(client, world, db)
    m.setup(ALL_CALLERS)
    about_the_caller = {
        *PUBLIC,
        "GET /factors",
        "POST /calc",
        "GET /auth/me",
        "GET /auth/tokens",
        "POST /auth/tokens",
        "DELETE /auth/session",
        "GET /organizations/tree",  # one answer: its contents are checked
        "GET /users",  # idem
        "POST /readings/sync",  # platform admins only, on nothing in particular
        "POST /audit/verify",  # platform admins and regulators, on the whole trail
    }
    problems = []
    for c in (Caller("orgadmin"), Caller("foreign")):
        cases = build(m, c)
        for key in sorted(set(ENDPOINTS) - about_the_caller):
            owns = {x.own for x in cases if x.endpoint == key}
            if owns != {True, False}:
                problems.append(f"{key}: needs both an own and a foreign target for {c}")
    for c in (Caller("admin"), Caller("member")):  # every case asks its own endpoint
        for x in build(m, c):
            template = x.endpoint.split()[1]
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
            if not re.fullmatch(pattern, x.url.split("?")[0]):
                problems.append(f"{x.endpoint} [{x.target}]: its URL is {x.url}")
    used = {defect_of(c, x) for c in ALL_CALLERS for x in build(m, c)}
    problems += [f"known defect {n!r} matches no case" for n in KNOWN_DEFECTS if n not in used]
    assert not problems, "\n".join(problems)


def test_unauthenticated_and_login(client: TestClient, world: World, db: Database) -> None:
    """Without credentials or with a bad token: 401 everywhere but /health and the sign-in
    routes, changing nothing; signing in gives a token (or a cookie) scoped like the user."""
    m = Matrix(client, world, db)
    admin = Caller("admin")
    m.setup([admin])
    failures = []
    before = snap(db)
    for key, builder in ENDPOINTS.items():
        if key in PUBLIC:
            continue
        case = builder(m, admin)[0]
        for label, headers in (
            ("no credentials", {}),
            ("a bad token", {"Authorization": "Bearer x"}),
        ):
            r = client.request(case.method, API + case.url, headers=headers, **case.body())
            if r.status_code != 401 or r.json().get("code") != "unauthenticated":
                failures.append(f"{key} with {label}: {r.status_code} {r.text[:200]}")
            elif r.headers.get("www-authenticate") != "Bearer":
                failures.append(f"{key} with {label}: no WWW-Authenticate: Bearer")
    after = snap(db)
    if after != before:
        failures.append(f"unauthenticated requests changed {changed(before, after)}")
    assert client.get("/health").status_code == 200
    assert not failures, "\n".join(failures)

    def login(path: str, username: str, password: str, **extra: str) -> httpx.Response:
        return client.post(API + path, data={"username": username, "password": password, **extra})

    assert login("/auth/token", "viewer", "wrong-password-1").status_code == 401
    assert login("/auth/token", "nobody-at-all", PASSWORD).status_code == 401
    assert login("/auth/session", "viewer", "wrong-password-1").status_code == 401
    assert not client.cookies

    # A password token is its user's: own data readable, foreign data not found, no writes.
    r = login("/auth/token", "viewer", PASSWORD, scope="read")
    assert r.status_code == 200, r.text
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    me = client.get(API + "/auth/me", headers=bearer).json()
    assert (me["username"], me["scopes"]) == ("viewer", ["read"])
    assert client.get(API + f"/organizations/{world.org['A1']}", headers=bearer).status_code == 200
    r = client.get(API + f"/organizations/{world.org['C1']}", headers=bearer)
    assert r.status_code == 404 and "C1" not in r.text
    r = client.patch(
        API + f"/organizations/{world.org['A1']}", json={"address": "x"}, headers=bearer
    )
    assert r.status_code == 403

    # So is a session cookie; signing out ends it.
    r = login("/auth/session", "foreign", PASSWORD)
    assert r.status_code == 200 and r.json()["username"] == "foreign"
    assert client.cookies.get("shuangtan_session")
    assert client.get(API + f"/organizations/{world.org['C1']}").status_code == 200
    r = client.get(API + f"/organizations/{world.org['A1']}")
    assert r.status_code == 404 and "A1" not in r.text
    assert client.delete(API + "/auth/session").status_code == 204
    client.cookies.clear()
    assert client.get(API + "/auth/me").status_code == 401
    assert snap(db) != after  # the sign-ins stored their tokens


def test_activity_writes_recompute_own_ancestors_only(
    client: TestClient, world: World, db: Database
) -> None:
    """A datum corrected on A1 recomputes A1, P1 and R1 (even for data_entry, who cannot read P1
    or R1), never B1, C1 or R2; a refused write recomputes nothing."""
    admin = world.auth("admin")

    def versions() -> dict[str, int]:
        return {
            code: client.get(
                API + f"/organizations/{world.org[code]}/inventory?period=2025", headers=admin
            ).json()["version"]
            for code in INVENTORY_ORGS
        }

    def bumped(before: dict[str, int], codes: set[str]) -> dict[str, int]:
        return {k: v + (k in codes) for k, v in before.items()}

    entry = world.auth("dataentry")
    before = versions()
    datum = world.activity["A1-S-EL/03"]
    r = client.patch(API + f"/activity/{datum}", json={"amount": 777.0}, headers=entry)
    assert r.status_code == 200, r.text
    assert r.json()["activity"]["version"] == 2
    # The answer reports what data_entry may read (A1), not P1's or R1's figures.
    by_org = {x["org_id"]: x["version"] for x in r.json()["recomputed"]}
    assert by_org == {world.org["A1"]: before["A1"] + 1}, r.json()["recomputed"]
    after = versions()
    assert after == bumped(before, {"A1", "P1", "R1"})
    # The new P1 version used the corrected datum.
    p1 = client.get(
        API + f"/organizations/{world.org['P1']}/inventory/lineage?period=2025", headers=admin
    ).json()
    used = {(a["id"], a["version"]) for i in p1["items"] for a in i["activity"]}
    assert (datum, 2) in used

    # Refused writes recompute nothing: a foreign datum (404); a recompute by a viewer (403).
    r = client.patch(
        API + f"/activity/{world.activity['C1-S-EL/03']}", json={"amount": 1.0}, headers=entry
    )
    assert r.status_code == 404 and "C1" not in r.text
    r = client.post(
        API + f"/organizations/{world.org['A1']}/inventory/recompute",
        json={"period": "2025"},
        headers=world.auth("viewer"),
    )
    assert r.status_code == 403
    assert versions() == after

    # Deleting a 2025 datum is followed the same way; so is the foreign org admin on C1.
    r = client.delete(API + f"/activity/{world.activity['A1-S-EL/12']}", headers=entry)
    assert r.status_code == 200, r.text
    after = bumped(after, {"A1", "P1", "R1"})
    assert versions() == after
    r = client.patch(
        API + f"/activity/{world.activity['C1-S-EL/05']}",
        json={"amount": 1.0},
        headers=world.auth("foreign"),
    )
    assert r.status_code == 200, r.text
    assert versions() == bumped(after, {"C1", "R2"})


def dual_user_problems(
    client: TestClient, world: World, db: Database, usernames: list[str]
) -> list[str]:
    """A user with roles on A1 and on C1: what each caller sees of it beyond its own side."""
    m = Matrix(client, world, db)
    both = [("viewer", world.org["A1"]), ("viewer", world.org["C1"])]
    dual = m.as_admin("POST", "/users", user_body("dual", both))
    oracle = Oracle(Registry.load(db))
    problems = []
    for username in usernames:
        c = Caller(username)
        secrets = oracle.secrets(c)
        visible = {org for _, org in both if oracle.sees(c, org)}
        for path in ("/users?limit=1000", f"/users/{dual['id']}"):
            r = client.get(API + path, headers=world.auth(username))
            assert r.status_code == 200, r.text
            body = r.json()
            user = next(u for u in body.get("items", [body]) if u["id"] == dual["id"])
            if {g["org_id"] for g in user["grants"]} != visible:
                problems.append(f"{username} GET {path}: grants {user['grants']}")
            problems += [f"{username} GET {path}: leaks {x}" for x in secrets.find(body)]
    return problems


def test_user_with_roles_on_both_sides_admin(
    client: TestClient, world: World, db: Database
) -> None:
    """A platform admin sees both grants of a user with roles on A1 and on C1."""
    problems = dual_user_problems(client, world, db, ["admin"])
    assert not problems, "\n".join(problems)


def test_user_with_roles_on_both_sides_managers(
    client: TestClient, world: World, db: Database
) -> None:
    """The managers of either side (park, orgadmin; foreign) see only their side's grants."""
    problems = dual_user_problems(client, world, db, ["park", "orgadmin", "foreign"])
    assert not problems, "\n".join(problems)


# --- quarantine scenarios the matrix cannot stage ---------------------------------------------


def _quarantine_one(client: TestClient, world: World, username: str, meter: int) -> int:
    """A reading of ``meter`` without a time zone, sent by ``username``: its quarantine id."""
    reading = {"meter": meter, "ts": "2025-05-01T00:15:00", "value": 1.0}
    r = client.post(API + "/readings", json={"readings": [reading]}, headers=world.auth(username))
    assert r.status_code == 200 and r.json()["quarantined"] == 1, r.text
    return int(r.json()["quarantine"][0]["id"])


def test_quarantine_writes_follow_the_senders_current_roles(
    client: TestClient, world: World, db: Database
) -> None:
    """dataentry's reading quarantined on A1-F1; dataentry becomes a viewer of A1: it still sees
    the row (readers of A1 do), but correcting, re-processing and discarding it are refused (403)
    and change nothing."""
    qid = _quarantine_one(client, world, "dataentry", world.meter["A1-S-EL"])
    admin, uid = world.auth("admin"), world.user["dataentry"]
    user = client.get(API + f"/users/{uid}", headers=admin).json()
    body = {"role": "viewer", "org_id": world.org["A1"]}
    assert client.post(API + f"/users/{uid}/grants", json=body, headers=admin).status_code == 201
    for grant in user["grants"]:
        r = client.delete(API + f"/users/{uid}/grants/{grant['id']}", headers=admin)
        assert r.status_code == 204, r.text
    entry = world.auth("dataentry")
    listed = client.get(API + "/quarantine", headers=entry).json()["items"]
    assert [q["id"] for q in listed] == [qid]
    before = snap(db)
    statuses = [
        client.patch(API + f"/quarantine/{qid}", json={"value": 2.0}, headers=entry).status_code,
        client.post(API + f"/quarantine/{qid}/reprocess", headers=entry).status_code,
        client.post(API + f"/quarantine/{qid}/discard", headers=entry).status_code,
    ]
    assert statuses == [403, 403, 403]
    assert snap(db) == before


def test_a_reprocessed_row_goes_with_its_meter(
    client: TestClient, world: World, db: Database
) -> None:
    """The park corrects a reading quarantined on A1-F1 to name B1's meter; re-processed (still
    without a time zone) the row is B1-F1's: A1's viewer no longer sees it."""
    park, b1_meter = world.auth("park"), world.meter["B1-S-COAL"]
    qid = _quarantine_one(client, world, "park", world.meter["A1-S-EL"])
    r = client.patch(API + f"/quarantine/{qid}", json={"meter": str(b1_meter)}, headers=park)
    assert r.status_code == 200, r.text
    r = client.post(API + f"/quarantine/{qid}/reprocess", headers=park)
    assert r.status_code == 200, r.text
    row = r.json()["quarantine"]
    assert (row["status"], row["meter_id"]) == ("open", b1_meter)
    assert row["org_id"] == world.org["B1-F1"]
    seen = client.get(API + "/quarantine", headers=world.auth("viewer")).json()["items"]
    assert qid not in {q["id"] for q in seen}

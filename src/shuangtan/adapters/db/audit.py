"""The audit trail in the database: appending records, and checking the chain and the data.

:class:`AuditTrail` appends records for one session. The first record of a transaction locks
the single ``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer),
so transactions append one after another and the chain never forks; the head moves with the
records, in the same transaction, and a rollback takes both back.

:func:`verify` re-checks everything, streaming the log in chunks:

1. every record's link and hash, in sequence order, and that the head names the last one;
2. every audited entity's current state against the ``after_sha256`` of the last record
   naming it (a row changed, deleted or inserted behind the platform's back shows);
3. every verification statement's Ed25519 signature, and that the inventory and evidence it
   covers still hash to what was signed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import JSON, event, select
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import (
    ActivityDatum,
    AuditHead,
    AuditRecord,
    Base,
    EmissionSource,
    Evidence,
    Finding,
    FindingComment,
    Inventory,
    InventoryItem,
    Meter,
    Organization,
    OrgEconomics,
    RoleGrant,
    SigningKey,
    User,
    Verification,
)
from shuangtan.services.access import Principal
from shuangtan.services.audit import GENESIS, canonical, record_hash, state_hash

__all__ = [
    "AUDITED",
    "AuditReport",
    "AuditTrail",
    "Problem",
    "adopt",
    "content_hash",
    "entity_state",
    "inventory_content",
    "verify",
]

_HEAD_KEY: Final = "shuangtan.audit_head"

#: Audited entities: name → (model, columns left out of the state). Left out are columns the
#: platform changes on its own as a matter of course (a login time), never data.
AUDITED: Final[dict[str, tuple[type[Base], frozenset[str]]]] = {
    "organization": (Organization, frozenset()),
    "economics": (OrgEconomics, frozenset()),
    "source": (EmissionSource, frozenset()),
    "meter": (Meter, frozenset()),
    "activity": (ActivityDatum, frozenset()),
    "inventory": (Inventory, frozenset()),
    "verification": (Verification, frozenset()),
    "finding": (Finding, frozenset()),
    "finding_comment": (FindingComment, frozenset()),
    "evidence": (Evidence, frozenset()),
    "signing_key": (SigningKey, frozenset()),
    # Credentials change on their own (a login rehashes an old password hash); their changes
    # are recorded as events, the state covers who the user is and whether they may sign in.
    "user": (User, frozenset({"last_login_at", "password_hash"})),
    "grant": (RoleGrant, frozenset()),
}

#: How many rows :func:`verify` reads at a time.
CHUNK: Final = 5000


def _numbers_as_floats(value: Any) -> Any:
    """JSON numbers as floats: JSONB gives ``1e17`` back as the integer 100000000000000000."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    return value


def _columns(obj: Any, left_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    mapper = obj.__mapper__
    state = {}
    for attr in mapper.column_attrs:
        if attr.key in left_out:
            continue
        value = getattr(obj, attr.key)
        # A JSON column's numbers hash as floats on every backend (PostgreSQL's JSONB keeps
        # numerics, not floats: a whole number written in exponent form comes back an int).
        if isinstance(attr.columns[0].type, JSON):
            value = _numbers_as_floats(value)
        state[attr.key] = value
    return state


def _item_state(item: InventoryItem) -> dict[str, Any]:
    return _columns(item)


def inventory_content(inventory: Inventory) -> dict[str, Any]:
    """What a verification signs of an inventory: every column but ``status``, and its items.

    ``status`` is the version's place among its siblings (current or superseded); it changes
    when a recomputation adds a version beside a frozen one, and is audited on its own.
    """
    state = _columns(inventory, frozenset({"status"}))
    state["items"] = [_item_state(i) for i in sorted(inventory.items, key=lambda i: i.id)]
    return state


def content_hash(inventory: Inventory) -> str:
    """SHA-256 [hex] of :func:`inventory_content`."""
    return state_hash(inventory_content(inventory))


def entity_state(entity: str, obj: Any) -> dict[str, Any]:
    """The state of an audited entity, as its hashes cover it."""
    if entity == "inventory":
        state = inventory_content(obj)
        state["status"] = obj.status
        return state
    return _columns(obj, AUDITED[entity][1])


class AuditTrail:
    """Appends audit records within one session, as one principal.

    Parameters
    ----------
    session : Session
        The session whose transaction the records join.
    principal : Principal
        Who acts (``system`` for the platform's own work).
    """

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def state(self, entity: str, obj: Any) -> str | None:
        """The state hash of ``obj`` now (flush first so generated ids are in it)."""
        if obj is None:
            return None
        self.session.flush()
        return state_hash(entity_state(entity, obj))

    def _head(self) -> list[Any]:
        cached = self.session.info.get(_HEAD_KEY)
        if cached is None:
            head = self.session.execute(
                select(AuditHead).where(AuditHead.id == 1).with_for_update()
            ).scalar_one_or_none()
            if head is None:
                raise RuntimeError("the audit head is missing: run `shuangtan db upgrade`")
            cached = [head, head.seq, head.sha256]
            self.session.info[_HEAD_KEY] = cached
        return cached

    def record(
        self,
        action: str,
        entity: str,
        entity_id: int | None,
        *,
        org_id: int | None,
        before: str | None = None,
        after: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one record.

        Parameters
        ----------
        action : str
            What happened, ``<entity>.<verb>`` (``inventory.computed``, ``case.verify`` …).
        entity, entity_id : str, int
            What it happened to.
        org_id : int or None
            The organisation whose history it belongs to.
        before, after : str or None
            State hashes before and after (:meth:`state`); ``None`` where there was none.
        detail : Mapping
            What people need to read: changed fields, reasons, numbers.
        """
        cached = self._head()
        head, seq, prev = cached
        seq += 1
        fields = {
            "seq": seq,
            "at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            "actor_id": self.principal.user_id if self.principal.user_id > 0 else None,
            "actor": self.principal.username,
            "org_id": org_id,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "before_sha256": before,
            "after_sha256": after,
            "detail": canonical(dict(detail or {})).decode(),
        }
        digest = record_hash(prev, fields)
        row = AuditRecord(**fields, prev_sha256=prev, sha256=digest)
        self.session.add(row)
        head.seq = seq
        head.sha256 = digest
        cached[1], cached[2] = seq, digest
        return row


@event.listens_for(Session, "after_soft_rollback")
def _forget_head(session: Session, previous_transaction: Any) -> None:
    # The head row and the records went back with the transaction; read them again next time.
    session.info.pop(_HEAD_KEY, None)


@event.listens_for(Session, "after_commit")
def _release_head(session: Session) -> None:
    session.info.pop(_HEAD_KEY, None)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing :func:`verify` found wrong."""

    kind: str
    message: str
    seq: int | None = None
    entity: str | None = None
    entity_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "message": self.message,
            "seq": self.seq,
            "entity": self.entity,
            "entity_id": self.entity_id,
        }


@dataclass(slots=True)
class AuditReport:
    """What :func:`verify` checked and found."""

    records: int = 0
    entities: int = 0
    signatures: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: More problems than :attr:`problems` holds (it keeps the first 1,000).
    more: int = 0

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems

    @property
    def first_broken_link(self) -> Problem | None:
        """The first problem in the chain itself, if any."""
        return next((p for p in self.problems if p.kind == "chain"), None)

    def add(self, problem: Problem) -> None:
        """Keep a problem (the first 1,000; count the rest)."""
        if len(self.problems) < 1000:
            self.problems.append(problem)
        else:
            self.more += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        first = self.first_broken_link
        return {
            "ok": self.ok,
            "records": self.records,
            "entities": self.entities,
            "signatures": self.signatures,
            "first_broken_link": None if first is None else first.as_dict(),
            "problems": [p.as_dict() for p in self.problems],
            "more_problems": self.more,
        }


def _chunks(session: Session, stmt: Any) -> Iterator[Any]:
    yield from session.execute(stmt.execution_options(yield_per=CHUNK)).scalars()


def _check_chain(
    session: Session, report: AuditReport, progress: Callable[[int], None] | None
) -> dict[tuple[str, int], str | None]:
    """Walk the chain; return the last ``after_sha256`` of every entity it names."""
    last: dict[tuple[str, int], str | None] = {}
    prev = GENESIS
    expected_seq = 1
    for row in _chunks(session, select(AuditRecord).order_by(AuditRecord.seq)):
        report.records += 1
        fields = {name: getattr(row, name) for name in _RECORD_COLUMNS}
        if row.seq != expected_seq:
            report.add(
                Problem(
                    "chain",
                    f"record {expected_seq} is missing (the next is {row.seq})",
                    seq=expected_seq,
                )
            )
        if row.prev_sha256 != prev:
            report.add(
                Problem("chain", f"record {row.seq} does not link to the record before it", row.seq)
            )
        if record_hash(row.prev_sha256, fields) != row.sha256:
            report.add(
                Problem("chain", f"record {row.seq} was changed after it was written", row.seq)
            )
        prev = row.sha256
        expected_seq = row.seq + 1
        if row.entity_id is not None and row.entity in AUDITED:
            last[(row.entity, row.entity_id)] = row.after_sha256
        if progress is not None and report.records % CHUNK == 0:
            progress(report.records)
    head = session.get(AuditHead, 1)
    if head is None:
        report.add(Problem("chain", "the audit head row is missing"))
    elif head.seq != expected_seq - 1 or head.sha256 != prev:
        report.add(
            Problem(
                "chain",
                f"the head names record {head.seq}, the log ends at record {expected_seq - 1}"
                " (records were removed from its end, or it was rewritten)",
                seq=head.seq,
            )
        )
    return last


_RECORD_COLUMNS: Final = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "org_id",
    "action",
    "entity",
    "entity_id",
    "before_sha256",
    "after_sha256",
    "detail",
)


def _check_states(
    session: Session, report: AuditReport, last: dict[tuple[str, int], str | None]
) -> None:
    for entity, (model, _left_out) in AUDITED.items():
        pk = model.__mapper__.primary_key[0]
        assert pk.key is not None
        seen: set[int] = set()
        stmt = select(model).order_by(pk)
        if model is Inventory:
            # Items come in one query per chunk, not one per inventory.
            from sqlalchemy.orm import selectinload

            stmt = stmt.options(selectinload(Inventory.items))
        for obj in _chunks(session, stmt):
            ident = getattr(obj, pk.key)
            seen.add(ident)
            report.entities += 1
            key = (entity, ident)
            if key not in last:
                report.add(
                    Problem(
                        "state",
                        f"{entity} {ident} is not in the audit trail (written behind the"
                        " platform's back, or before the trail existed: `shuangtan audit adopt`)",
                        entity=entity,
                        entity_id=ident,
                    )
                )
                continue
            expected = last[key]
            if expected is None:
                report.add(
                    Problem(
                        "state",
                        f"{entity} {ident} was deleted according to the audit trail, but exists",
                        entity=entity,
                        entity_id=ident,
                    )
                )
            elif state_hash(entity_state(entity, obj)) != expected:
                report.add(
                    Problem(
                        "state",
                        f"{entity} {ident} differs from its last audited state",
                        entity=entity,
                        entity_id=ident,
                    )
                )
            session.expunge(obj)
        for (name, ident), expected in last.items():
            if name == entity and expected is not None and ident not in seen:
                report.add(
                    Problem(
                        "state",
                        f"{entity} {ident} is missing, but the audit trail has it",
                        entity=entity,
                        entity_id=ident,
                    )
                )


def _check_signatures(session: Session, report: AuditReport) -> None:
    cases = session.scalars(
        select(Verification).where(Verification.statement.is_not(None)).order_by(Verification.id)
    )
    for case in cases:
        report.signatures += 1

        def problem(message: str, case_id: int = case.id) -> None:
            report.add(Problem("signature", message, entity="verification", entity_id=case_id))

        key = session.get(SigningKey, case.key_id) if case.key_id is not None else None
        if key is None or case.signature is None or case.statement is None:
            problem(f"case {case.id} has no key or signature")
            continue
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key))
            public.verify(base64.b64decode(case.signature), case.statement.encode())
        except (InvalidSignature, ValueError):
            problem(f"the statement of case {case.id} fails its signature")
            continue
        statement = orjson.loads(case.statement)
        signed = statement.get("inventory", {})
        inventory = session.get(Inventory, signed.get("id"))
        if inventory is None:
            problem(f"the inventory case {case.id} signed is gone")
        elif content_hash(inventory) != signed.get("content_sha256"):
            problem(f"inventory {inventory.id} no longer matches what case {case.id} signed")
        for item in statement.get("evidence", []):
            evidence = session.get(Evidence, item.get("id"))
            digest = None if evidence is None else hashlib.sha256(evidence.content).hexdigest()
            if digest != item.get("sha256"):
                problem(f"evidence {item.get('id')} signed in case {case.id} is changed or gone")


def verify(session: Session, *, progress: Callable[[int], None] | None = None) -> AuditReport:
    """Check the chain, the audited data and the signatures (read-only).

    Parameters
    ----------
    session : Session
        A session on the platform database.
    progress : callable, optional
        Called with the number of records checked so far, every :data:`CHUNK` records.
    """
    report = AuditReport()
    last = _check_chain(session, report, progress)
    _check_states(session, report, last)
    _check_signatures(session, report)
    return report


def adopt(session: Session, trail: AuditTrail) -> int:
    """Record every audited row the trail does not know yet, as it is now; returns how many.

    For a database that had data before the audit trail existed (``shuangtan db upgrade``
    from an earlier version), once. What it adopts is trusted as found: run it only on data
    you trust, and keep its output.
    """
    known: set[tuple[str, int | None]] = set()
    for entity, entity_id in session.execute(
        select(AuditRecord.entity, AuditRecord.entity_id).where(AuditRecord.entity_id.is_not(None))
    ):
        known.add((entity, entity_id))
    adopted = 0
    for entity, (model, _left_out) in AUDITED.items():
        pk = model.__mapper__.primary_key[0]
        assert pk.key is not None
        for obj in session.scalars(select(model).order_by(pk)):
            ident = getattr(obj, pk.key)
            if (entity, ident) in known:
                continue
            org_id = getattr(obj, "org_id", None)
            if entity == "organization":
                org_id = ident
            trail.record(
                f"{entity}.adopt",
                entity,
                ident,
                org_id=org_id,
                after=state_hash(entity_state(entity, obj)),
                detail={"note": "recorded as found"},
            )
            adopted += 1
    session.flush()
    return adopted

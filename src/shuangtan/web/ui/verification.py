"""Dashboard pages of third-party verification: the queue, one case, findings, evidence files.

``GET /verifications`` lists the cases the caller can see — their organisations' and, for
members of a verifier organisation, the cases assigned to it (``?queue=1`` keeps only those) —
with a count per state, sorted and paged on the server. ``GET /verifications/{id}`` is one
case: its header, the lineage of the version under review (each source's result down to the
gases, the factors with their sources, the activity data used against today's, their evidence
files and the meters that feed the source), the findings with their comment threads, the
signed statement once verified, and the forms of the actions the caller may take. Every action
is a CSRF-checked ``POST`` to the services the API uses
(:class:`~shuangtan.adapters.db.verification.Cases`); a refused one shows why beside its form,
keeps what was typed and answers the status the API would (403, 409 or 422).

``POST /verifications`` submits an enterprise's current inventory (the form on the enterprise
page). ``GET /activity/{id}/evidence`` lists an activity datum's evidence files with the upload
form; ``POST /evidence`` uploads one (multipart, CSRF-checked). Downloads are the API's
(``GET /api/v1/evidence/{id}``, ``GET /api/v1/verifications/{id}/statement``), which take the
dashboard's session cookie.

:func:`review_of` gives the enterprise page (``enterprise.html``) its verification card, the
frozen versions and the evidence files of its activity data; the package registers it as a
template global.

A case or datum outside the caller's view answers 404 without naming it, as in the API.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final, cast

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select
from starlette.datastructures import UploadFile

from shuangtan.adapters.db.audit import content_hash
from shuangtan.adapters.db.models import (
    EmissionSource,
    Evidence,
    Finding,
    Inventory,
    Organization,
    SigningKey,
    User,
    Verification,
)
from shuangtan.adapters.db.verification import MAX_EVIDENCE_BYTES, Cases
from shuangtan.domain.platform import OrgKind, Role
from shuangtan.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    ShuangtanError,
)
from shuangtan.services.access import Action
from shuangtan.services.inventories import parse_period
from shuangtan.services.verification import OPEN_STATES, State
from shuangtan.web.ui.admin import ROLE_LABELS
from shuangtan.web.ui.core import (
    N_,
    Page,
    Table,
    UiPage,
    display_name,
    fmt_number,
    render,
    safe_next,
)
from shuangtan.web.ui.enterprises import CARRIERS, FACTOR_STATUS, GAS_NAMES, METHODS
from shuangtan.web.ui.overview import category_label, local_time

__all__ = ["SEVERITIES", "STATES", "file_size", "review_of", "router", "state_badge"]

router = APIRouter(include_in_schema=False)

PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]
OptId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
#: Cases per page of the queue.
PAGE_SIZE: Final = 25

#: States of a case: label and badge tone, in the workflow's order.
STATES: Final = {
    State.DRAFT.value: (N_("draft"), ""),
    State.SUBMITTED.value: (N_("submitted"), "warn"),
    State.IN_VERIFICATION.value: (N_("in verification"), "warn"),
    State.RETURNED.value: (N_("returned"), "bad"),
    State.VERIFIED.value: (N_("verified"), "ok"),
    State.PUBLISHED.value: (N_("published"), "ok"),
}
#: Severities of a finding: label and badge tone.
SEVERITIES: Final = {
    "major": (N_("major"), "bad"),
    "minor": (N_("minor"), "warn"),
    "observation": (N_("observation"), ""),
}
#: Where a finding stands: label and badge tone.
FINDING_STATUS: Final = {
    "open": (N_("not closed"), "bad"),
    "answered": (N_("answered"), "warn"),
    "closed": (N_("closed"), "ok"),
}
#: Who wrote a comment.
SIDES: Final = {
    "organization": N_("Reporting organisation"),
    "verifier": N_("Verifier organisation"),
}
#: Where an activity datum came from.
ORIGINS: Final = {
    "entered": N_("entered by hand"),
    "imported": N_("imported"),
    "meter": N_("from meters"),
}
#: Done notices after an action, by the ``done`` query value.
DONE: Final = {
    "submitted": N_("The inventory was submitted for verification."),
    "assigned": N_("The verifier organisation was assigned."),
    "finding": N_("The finding was raised."),
    "comment": N_("The comment was added."),
    "closed": N_("The finding was closed."),
    "returned": N_("The case was returned to the organisation."),
    "resubmitted": N_("The case was resubmitted with the current version."),
    "verified": N_("The case was verified and the statement signed."),
    "published": N_("The verified inventory was published."),
}
#: Roles that can change an organisation's data (and so may not sign its statement).
_INTERESTED: Final = (Role.PLATFORM_ADMIN, Role.ORG_ADMIN, Role.DATA_ENTRY)
#: States of a case whose version is frozen.
_FROZEN: Final = (State.VERIFIED.value, State.PUBLISHED.value)
#: How far along the workflow a state is (to pick the state a version shows).
_RANK: Final = {name: i for i, name in enumerate(STATES)}
_SORTS: Final = ("updated", "org", "period", "state", "submitted", "id")


def state_badge(page: Page, state: str) -> dict[str, str]:
    """A case state as a badge: ``{"state", "label", "tone"}``."""
    label, tone = STATES.get(state, (state, ""))
    return {"state": state, "label": page.gettext(label), "tone": tone}


def _label(page: Page, labels: Mapping[str, tuple[str, str]], key: str) -> tuple[str, str]:
    label, tone = labels.get(key, (key, ""))
    return page.gettext(label), tone


def _text(form: Mapping[str, Any], key: str, limit: int) -> str:
    value = form.get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


# --- the queue -------------------------------------------------------------------------------


def _visible(cases: Cases) -> Any:
    """Cases the caller may see, as :meth:`Cases.search` scopes them (``None``: all)."""
    condition = cases.store.where(Action.READ)
    bodies = cases.bodies()
    if condition is None:
        return None
    return or_(condition, Verification.verifier_org_id.in_(bodies)) if bodies else condition


def _sort_column(key: str) -> Any:
    return {
        "updated": Verification.updated_at,
        "org": Organization.code,
        "period": Verification.period,
        "state": Verification.state,
        "submitted": Verification.submitted_at,
        "id": Verification.id,
    }[key]


@router.get("/verifications")
def case_list(
    request: Request,
    page: UiPage,
    state: Annotated[str | None, Query(max_length=20)] = None,
    queue: Annotated[str | None, Query(max_length=5)] = None,
    org: OptId = None,
) -> Response:
    """The cases the caller can see, a count per state, sorted and paged on the server."""
    store = page.store
    cases = Cases(store, page.state.vault)
    bodies = cases.bodies()
    mine = bool(queue) and queue not in ("0", "false") and bool(bodies)
    table = Table.from_request(request, _SORTS, default="updated", direction="desc", size=PAGE_SIZE)
    within = store.get_org(org) if org is not None else None
    conditions = []
    scope = _visible(cases)
    if scope is not None:
        conditions.append(scope)
    if mine:
        conditions.append(Verification.verifier_org_id.in_(bodies))
    if within is not None:
        conditions.append(Organization.path.like(within.path + "%"))
    joined = select(Verification.state, func.count()).join(
        Organization, Organization.id == Verification.org_id
    )
    counts: dict[str, int] = dict(
        store.session.execute(joined.where(*conditions).group_by(Verification.state)).tuples().all()
    )
    chosen = state if state in STATES else None
    if chosen is not None:
        conditions.append(Verification.state == chosen)
    open_findings = (
        select(func.count())
        .select_from(Finding)
        .where(Finding.verification_id == Verification.id, Finding.status != "closed")
        .scalar_subquery()
    )
    base = (
        select(Verification, Organization, Inventory.version, open_findings)
        .join(Organization, Organization.id == Verification.org_id)
        .join(Inventory, Inventory.id == Verification.inventory_id)
        .where(*conditions)
    )
    table.total = (
        store.session.scalar(
            select(func.count())
            .select_from(Verification)
            .join(Organization, Organization.id == Verification.org_id)
            .where(*conditions)
        )
        or 0
    )
    column = _sort_column(table.sort)
    order = column.desc() if table.descending else column.asc()
    found = cast(
        list[tuple[Verification, Organization, int, int]],
        store.session.execute(
            base.order_by(order, Verification.id.desc()).limit(table.size).offset(table.offset)
        )
        .tuples()
        .all(),
    )
    bodies_named = cases.orgs_of([row[0] for row in found])
    rows = []
    for case, case_org, version, pending in found:
        body = bodies_named.get(case.verifier_org_id or 0)
        rows.append(
            {
                "id": case.id,
                "org_id": case_org.id,
                "org_code": case_org.code,
                "org_name": display_name(case_org, page.locale),
                "enterprise": case_org.kind == OrgKind.ENTERPRISE.value,
                "period": case.period,
                "version": version,
                "badge": state_badge(page, case.state),
                "verifier": (body.code, display_name(body, page.locale)) if body else None,
                "submitted": local_time(case.submitted_at),
                "updated": local_time(case.updated_at),
                "pending": pending,
                "mine": case.verifier_org_id in bodies,
            }
        )
    tabs = [
        {
            "state": None,
            "label": page.gettext(N_("All")),
            "count": sum(counts.values()),
            "href": table.url(state="", page=1),
        }
    ]
    for name in STATES:
        if name == State.DRAFT.value:
            continue
        tabs.append(
            {
                "state": name,
                "label": page.gettext(STATES[name][0]),
                "count": counts.get(name, 0),
                "href": table.url(state=name, page=1),
            }
        )
    context = {
        "rows": rows,
        "table": table,
        "tabs": tabs,
        "chosen": chosen,
        "member": bool(bodies),
        "mine": mine,
        "awaiting": counts.get(State.IN_VERIFICATION.value, 0),
        "submitted_count": counts.get(State.SUBMITTED.value, 0),
        "within": (within.id, display_name(within, page.locale)) if within else None,
        "all_href": table.url(queue="", page=1),
        "mine_href": table.url(queue="1", page=1),
    }
    return render(request, "verifications.html", context, page=page)


# --- one case --------------------------------------------------------------------------------


def _usernames(page: Page, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = page.store.session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return dict(rows.tuples().all())


def _verifier_choices(page: Page, org: Organization) -> list[tuple[int, str]]:
    """Verifier organisations independent of ``org`` (the service checks it again)."""
    bodies = page.store.session.scalars(
        select(Organization)
        .where(Organization.kind == OrgKind.VERIFIER.value)
        .order_by(Organization.code)
    )
    return [
        (b.id, f"{b.code} {display_name(b, page.locale)}")
        for b in bodies
        if not (org.path.startswith(b.path) or b.path.startswith(org.path))
    ]


def _lineage(page: Page, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:meth:`Cases.lineage`'s items with the labels of the page's language."""
    gettext = page.gettext
    out = []
    for item in sorted(doc["items"], key=lambda i: -float(i["co2e_t"] or 0.0)):
        name = {"name_zh": item["source_name_zh"], "name_en": item["source_name_en"]}
        activity = []
        for a in item["activity"]:
            origin = a.get("origin")
            activity.append(
                {
                    **a,
                    "origin_label": gettext(ORIGINS.get(origin, origin)) if origin else "–",
                    "amount_changed": a.get("current_amount") is not None
                    and a.get("current_amount") != a.get("amount"),
                }
            )
        out.append(
            {
                "code": item["source_code"],
                "name": display_name(name, page.locale),
                "scope": item["scope"],
                "category": category_label(item["category"], page.locale),
                "method": gettext(METHODS.get(item["method"], item["method"])),
                "co2e_t": item["co2e_t"],
                "energy_tce": item["energy_tce"],
                "gases": [
                    (gettext(GAS_NAMES.get(g, g)), mass)
                    for g, mass in sorted(item["gases_t"].items())
                ],
                "factors": [
                    {
                        **f,
                        "status_label": gettext(
                            FACTOR_STATUS.get(f.get("status", ""), (f.get("status", "–"), ""))[0]
                        ),
                        "tone": FACTOR_STATUS.get(f.get("status", ""), ("", ""))[1],
                    }
                    for f in item["factors"]
                ],
                "activity": activity,
                "changed": sum(1 for a in activity if a.get("changed_since")),
                "meters": [
                    {
                        **m,
                        "name": display_name(m, page.locale),
                        "carrier_label": gettext(CARRIERS.get(m["carrier"], m["carrier"])),
                    }
                    for m in item["meters"]
                ],
                "warnings": item["warnings"],
            }
        )
    return out


def _statement(page: Page, case: Verification) -> dict[str, Any] | None:
    """The signed statement, its key, and whether the signature and the content still hold."""
    if case.statement is None:
        return None
    doc = orjson.loads(case.statement)
    key = page.store.session.get(SigningKey, case.key_id) if case.key_id is not None else None
    signature_ok = False
    if key is not None and case.signature:
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key))
            public.verify(base64.b64decode(case.signature), case.statement.encode())
            signature_ok = True
        except (InvalidSignature, ValueError):
            signature_ok = False
    inventory = page.store.session.get(Inventory, doc.get("inventory", {}).get("id"))
    signed_hash = doc.get("inventory", {}).get("content_sha256")
    return {
        "doc": doc,
        "signature": case.signature,
        "key_id": case.key_id,
        "public_key": key.public_key if key else doc.get("public_key"),
        "signature_ok": signature_ok,
        "unchanged": inventory is not None and content_hash(inventory) == signed_hash,
        "signed_at": local_time(
            dt.datetime.fromisoformat(doc["signed_at"].rstrip("Z"))
            if doc.get("signed_at")
            else None
        ),
    }


def _case_response(
    request: Request,
    page: Page,
    case_id: int,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    """The case page (with a refused action's message and values, when there is one)."""
    store = page.store
    principal = page.principal
    cases = Cases(store, page.state.vault)
    case = cases.get(case_id)
    orgs = cases.orgs_of([case])
    org = orgs[case.org_id]
    body = orgs.get(case.verifier_org_id or 0)
    inventory = store.session.get(Inventory, case.inventory_id)
    assert inventory is not None
    member = case.verifier_org_id is not None and case.verifier_org_id in cases.bodies()
    active = case.state in (State.IN_VERIFICATION.value, State.RETURNED.value)
    reviewing = member and case.state == State.IN_VERIFICATION.value
    findings = cases.findings(case.id)
    authors = _usernames(
        page,
        {f.created_by for f, _ in findings if f.created_by}
        | {c.created_by for _, cs in findings for c in cs if c.created_by},
    )
    lineage_doc = cases.lineage(case.id)
    lineage = _lineage(page, lineage_doc)
    current_version = None
    try:
        current = store.current_inventory(org.id, case.period)
        current_version = current.version
    except NotFoundError:
        current = None
    can_respond = principal.allows(Action.RESPOND, org.path)
    finding_rows = []
    for finding, comments in findings:
        severity, severity_tone = _label(page, SEVERITIES, finding.severity)
        status, status_tone = _label(page, FINDING_STATUS, finding.status)
        open_ = finding.status != "closed"
        finding_rows.append(
            {
                "id": finding.id,
                "number": finding.number,
                "severity": severity,
                "severity_tone": severity_tone,
                "status": status,
                "status_tone": status_tone,
                "closed": not open_,
                "title": finding.title,
                "body": finding.body,
                "subject": finding.subject.get("source_code") if finding.subject else None,
                "created": local_time(finding.created_at),
                "author": authors.get(finding.created_by or 0, ""),
                "comments": [
                    {
                        "side": c.side,
                        "side_label": page.gettext(SIDES.get(c.side, c.side)),
                        "body": c.body,
                        "created": local_time(c.created_at),
                        "author": authors.get(c.created_by or 0, ""),
                    }
                    for c in comments
                ],
                "may_comment": open_ and active and (member or can_respond),
                "may_close": open_ and reviewing,
            }
        )
    may = {
        "assign": case.state == State.SUBMITTED.value
        and principal.allows(Action.ASSIGN_VERIFIER, org.path),
        "review": reviewing,
        "resubmit": case.state == State.RETURNED.value
        and principal.allows(Action.SUBMIT, org.path),
        "publish": case.state == State.VERIFIED.value and principal.allows(Action.SUBMIT, org.path),
    }
    done = request.query_params.get("done", "")
    context = {
        "case": case,
        "org": org,
        "org_label": display_name(org, page.locale),
        "enterprise": org.kind == OrgKind.ENTERPRISE.value,
        "body": (body.code, display_name(body, page.locale)) if body else None,
        "case_badge": state_badge(page, case.state),
        "inventory": inventory,
        "content_sha256": lineage_doc["inventory"]["content_sha256"],
        "current_version": current_version,
        "dates": [
            (page.gettext(N_("Submitted")), local_time(case.submitted_at)),
            (page.gettext(N_("Assigned")), local_time(case.assigned_at)),
            (page.gettext(N_("Decided")), local_time(case.decided_at)),
            (page.gettext(N_("Published")), local_time(case.published_at)),
            (page.gettext(N_("Last change")), local_time(case.updated_at)),
        ],
        "member": member,
        "may": may,
        "verifiers": _verifier_choices(page, org) if may["assign"] else [],
        "severities": [(k, page.gettext(v[0])) for k, v in SEVERITIES.items()],
        "source_codes": [(s["code"], s["name"]) for s in lineage],
        "findings": finding_rows,
        "open_findings": sum(1 for f in finding_rows if not f["closed"]),
        "lineage": lineage,
        "statement": _statement(page, case),
        "errors": errors or {},
        "values": values or {},
        "done": page.gettext(DONE[done]) if done in DONE else None,
    }
    return render(request, "verification.html", context, page=page, status_code=status_code)


@router.get("/verifications/{case_id}")
def case_page(request: Request, case_id: PathId, page: UiPage) -> Response:
    """One case: header, lineage, findings, statement, and the caller's actions."""
    return _case_response(request, page, case_id)


def _status(exc: ShuangtanError) -> int:
    """The status of a refused action, as the API answers it."""
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, ConflictError):
        return 409
    return 422


def _refusal(page: Page, case: Verification | None, exc: ShuangtanError) -> str:
    """Why an action was refused, in the page's language (the service's words if unknown)."""
    gettext = page.gettext
    field = exc.field or ""
    message = exc.message
    if isinstance(exc, PermissionDeniedError):
        if "cannot verify it" in message and case is not None:
            org = page.store.session.get(Organization, case.org_id)
            roles = page.principal.roles_on(org.path) if org is not None else frozenset()
            held = ", ".join(
                gettext(ROLE_LABELS[r.value]) for r in _INTERESTED if r in roles
            ) or gettext(N_("a role that can change its data"))
            return gettext(
                N_(
                    "You cannot sign this statement: you hold %(roles)s on %(org)s, a role"
                    " that can change its data. A verifier must be independent of the"
                    " organisation it verifies."
                )
            ) % {"roles": held, "org": org.code if org else ""}
        if "verifier organisation assigned" in message:
            return gettext(
                N_("Only a member of the verifier organisation assigned to this case may do that.")
            )
        return gettext(N_("Your roles do not allow this action."))
    if isinstance(exc, ConflictError):
        if field == "verifier_org_id":
            return gettext(N_("A verifier organisation cannot verify its own organisation."))
        if field == "findings" and message.startswith("findings"):
            numbers = message.removeprefix("findings ").removesuffix(" are not closed")
            return gettext(N_("Close every finding before verifying; still open: %(numbers)s.")) % {
                "numbers": numbers
            }
        if field == "findings":
            return gettext(N_("A case is returned with findings: raise at least one first."))
        if field == "state":
            return gettext(
                N_("The case has moved on since the page was loaded; reload it and try again.")
            )
        if field == "finding_id":
            return gettext(N_("This finding is closed."))
        if field == "period":
            return gettext(
                N_(
                    "This version is already verified; recalculate the inventory for a new"
                    " version to submit."
                )
            )
    if isinstance(exc, InputError):
        known = {
            "verifier_org_id": N_("Choose a verifier organisation."),
            "opinion": N_("State the verification opinion."),
            "severity": N_("Choose a severity."),
            "title": N_("Enter a title."),
            "body": N_("Write the comment."),
        }
        if field in known:
            return gettext(known[field])
    return message


async def _act(
    request: Request,
    page: Page,
    case_id: int,
    name: str,
    fields: Sequence[tuple[str, int]],
    work: Callable[[Cases, dict[str, str]], object],
    done: str,
    anchor: str,
) -> Response:
    """Run one action of the case page; the page again with the reason when it is refused."""
    form = await request.form()
    page.check_csrf(form)
    values = {key: _text(form, key, limit) for key, limit in fields}
    cases = Cases(page.store, page.state.vault)
    try:
        await run_in_threadpool(work, cases, values)
    except (InputError, ConflictError, PermissionDeniedError) as exc:
        page.store.session.rollback()  # nothing of a refused action is kept
        case = page.store.session.get(Verification, case_id)
        return _case_response(
            request,
            page,
            case_id,
            errors={name: _refusal(page, case, exc)},
            values={name: values},
            status_code=_status(exc),
        )
    return RedirectResponse(f"/verifications/{case_id}?done={done}#{anchor}", status_code=303)


def _case_finding(cases: Cases, case_id: int, finding_id: int) -> Finding:
    """A finding of a visible case (else not found)."""
    cases.get(case_id)
    finding = cases.session.get(Finding, finding_id)
    if finding is None or finding.verification_id != case_id:
        raise NotFoundError(f"finding {finding_id} not found", field="finding_id")
    return finding


def _int(text: str, field: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise InputError("choose one", field=field)
    return int(text)


@router.post("/verifications/{case_id}/assign")
async def assign(request: Request, case_id: PathId, page: UiPage) -> Response:
    """Assign a verifier organisation (regulators and organisation admins)."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        cases.assign(case_id, _int(values["verifier_org_id"], "verifier_org_id"))

    response = await _act(
        request,
        page,
        case_id,
        "assign",
        [("verifier_org_id", 12)],
        work,
        "assigned",
        "actions",
    )
    if response.status_code == 303:
        # Members of the body now read the organisation: no cached principal may miss it.
        page.state.forget_principals()
    return response


@router.post("/verifications/{case_id}/findings")
async def raise_finding(request: Request, case_id: PathId, page: UiPage) -> Response:
    """Raise a finding (the assigned verifier, while the case is in verification)."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        subject = {"source_code": values["subject"]} if values["subject"] else {}
        cases.add_finding(
            case_id,
            severity=values["severity"],
            title=values["title"],
            body=values["body"],
            subject=subject,
        )

    return await _act(
        request,
        page,
        case_id,
        "finding",
        [("severity", 20), ("title", 200), ("body", 8000), ("subject", 100)],
        work,
        "finding",
        "findings",
    )


@router.post("/verifications/{case_id}/findings/{finding_id}/comment")
async def comment(request: Request, case_id: PathId, finding_id: PathId, page: UiPage) -> Response:
    """Answer a finding (the organisation) or reply (the verifier)."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        _case_finding(cases, case_id, finding_id)
        cases.comment(finding_id, values["body"])

    return await _act(
        request,
        page,
        case_id,
        f"comment-{finding_id}",
        [("body", 8000)],
        work,
        "comment",
        f"finding-{finding_id}",
    )


@router.post("/verifications/{case_id}/findings/{finding_id}/close")
async def close_finding(
    request: Request, case_id: PathId, finding_id: PathId, page: UiPage
) -> Response:
    """Close a finding (the verifier)."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        _case_finding(cases, case_id, finding_id)
        cases.close_finding(finding_id)

    return await _act(
        request,
        page,
        case_id,
        f"close-{finding_id}",
        [],
        work,
        "closed",
        f"finding-{finding_id}",
    )


@router.post("/verifications/{case_id}/return")
async def return_case(request: Request, case_id: PathId, page: UiPage) -> Response:
    """Return the case to the organisation with its open findings."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        cases.return_case(case_id, values["note"])

    return await _act(
        request, page, case_id, "return", [("note", 4000)], work, "returned", "actions"
    )


@router.post("/verifications/{case_id}/verify")
async def verify(request: Request, case_id: PathId, page: UiPage) -> Response:
    """Sign off: the version is frozen and the statement signed with the body's key."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        cases.verify(case_id, values["opinion"])

    return await _act(
        request, page, case_id, "verify", [("opinion", 8000)], work, "verified", "statement"
    )


@router.post("/verifications/{case_id}/resubmit")
async def resubmit(request: Request, case_id: PathId, page: UiPage) -> Response:
    """Send a returned case back to its verifier with the current version."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        case = cases.get(case_id)
        cases.submit(case.org_id, case.period)

    return await _act(request, page, case_id, "resubmit", [], work, "resubmitted", "actions")


@router.post("/verifications/{case_id}/publish")
async def publish(request: Request, case_id: PathId, page: UiPage) -> Response:
    """Publish a verified case (the organisation)."""

    def work(cases: Cases, values: dict[str, str]) -> None:
        cases.publish(case_id)

    return await _act(request, page, case_id, "publish", [], work, "published", "actions")


@router.post("/verifications")
async def submit(request: Request, page: UiPage) -> Response:
    """Submit an enterprise's current inventory of a year (the enterprise page's form).

    A refusal (a case already under way, a version already verified) goes back to the
    enterprise page, which says why beside the form.
    """
    form = await request.form()
    page.check_csrf(form)
    org_id = _int(_text(form, "org_id", 12), "org_id")
    period = _text(form, "period", 10)
    cases = Cases(page.store, page.state.vault)
    try:
        case = await run_in_threadpool(cases.submit, org_id, period)
    except ConflictError as exc:
        page.store.session.rollback()
        reason = "frozen" if exc.field == "period" else "open"
        target = f"/enterprises/{org_id}?period={parse_period(period).label}&review={reason}"
        return RedirectResponse(target + "#review", status_code=303)
    return RedirectResponse(f"/verifications/{case.id}?done=submitted", status_code=303)


# --- evidence --------------------------------------------------------------------------------

#: Why an evidence file was refused, by what the service's message starts with.
_EVIDENCE_REFUSALS: Final = (
    ("files of type", N_("Files of this type are not accepted as evidence.")),
    ("the file is empty", N_("The file is empty.")),
    ("the file is", N_("The file is larger than 20 MB.")),
)
#: What evidence files may be (shown beside the upload).
EVIDENCE_HINT: Final = N_(
    "PDF, PNG or JPEG images, CSV or text files, Excel workbooks or ZIP archives, up to 20 MB."
)


def _evidence_message(page: Page, exc: ShuangtanError) -> str:
    for prefix, message in _EVIDENCE_REFUSALS:
        if exc.message.startswith(prefix):
            return page.gettext(message)
    return exc.message


def file_size(page: Page, size: int) -> str:
    """A file's size for people (B, KB, MB) in the page's number format."""
    number = fmt_number(page.locale)
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{number(size / 1024, 1)} KB"
    return f"{number(size / 1024 / 1024, 1)} MB"


def _evidence_rows(page: Page, files: Sequence[Evidence]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "filename": e.filename,
            "media_type": e.media_type,
            "size": file_size(page, e.size),
            "sha256": e.sha256,
            "note": e.note,
            "uploaded": local_time(e.uploaded_at),
        }
        for e in files
    ]


def _enterprise_of(page: Page, org: Organization) -> Organization | None:
    """The enterprise an organisation is or belongs to (a facility's), if any."""
    ids = [int(part) for part in org.path.strip("/").split("/") if part.isdigit()]
    return page.store.session.scalars(
        select(Organization).where(
            Organization.id.in_(ids or [-1]), Organization.kind == OrgKind.ENTERPRISE.value
        )
    ).first()


def _evidence_response(
    request: Request,
    page: Page,
    activity_id: int,
    *,
    error: str | None = None,
    note: str = "",
    status_code: int = 200,
) -> Response:
    store = page.store
    datum = store.get_activity(activity_id)
    source = store.session.get(EmissionSource, datum.source_id)
    assert source is not None
    org = store.session.get(Organization, source.org_id)
    assert org is not None
    enterprise = _enterprise_of(page, org)
    files = Cases(store).evidence_for([datum.id])
    added = request.query_params.get("added", "")
    context = {
        "datum": datum,
        "month": f"{datum.period_start:%Y-%m}",
        "source": (source.code, display_name(source, page.locale)),
        "org": (org.code, display_name(org, page.locale)),
        "enterprise": (enterprise.id, display_name(enterprise, page.locale))
        if enterprise
        else None,
        "origin": page.gettext(ORIGINS.get(datum.origin, datum.origin)),
        "files": _evidence_rows(page, files),
        "added": int(added) if added.isascii() and added.isdigit() and len(added) < 10 else None,
        "can_attach": page.principal.allows(Action.WRITE_ACTIVITY, org.path),
        "hint": page.gettext(EVIDENCE_HINT),
        "error": error,
        "note": note,
    }
    return render(request, "evidence.html", context, page=page, status_code=status_code)


@router.get("/activity/{activity_id}/evidence")
def evidence_page(request: Request, activity_id: PathId, page: UiPage) -> Response:
    """An activity datum's evidence files, with the upload form for those who may add one."""
    return _evidence_response(request, page, activity_id)


def _with_param(path: str, key: str, value: object) -> str:
    base, _, fragment = path.partition("#")
    base += ("&" if "?" in base else "?") + f"{key}={value}"
    return base + (f"#{fragment}" if fragment else "")


@router.post("/evidence")
async def evidence_upload(request: Request, page: UiPage) -> Response:
    """Attach an evidence file to an activity datum; refused files are said beside the form."""
    form = await request.form(max_files=1, max_fields=10)
    page.check_csrf(form)
    activity_id = _int(_text(form, "activity_id", 12), "activity_id")
    note = _text(form, "note", 2000)
    upload = form.get("file")
    back = form.get("next")
    if not isinstance(upload, UploadFile) or not upload.filename:
        page.store.get_activity(activity_id)
        return _evidence_response(
            request,
            page,
            activity_id,
            error=page.gettext(N_("Choose a file.")),
            note=note,
            status_code=422,
        )
    content = await upload.read(MAX_EVIDENCE_BYTES + 1)
    cases = Cases(page.store)
    try:
        evidence = await run_in_threadpool(
            lambda: cases.add_evidence(
                activity_id,
                filename=upload.filename or "evidence",
                media_type=upload.content_type or "",
                content=content,
                note=note,
            )
        )
    except InputError as exc:
        page.store.session.rollback()
        return _evidence_response(
            request,
            page,
            activity_id,
            error=_evidence_message(page, exc),
            note=note,
            status_code=422,
        )
    target = safe_next(back if isinstance(back, str) else None)
    if target == "/":
        target = f"/activity/{activity_id}/evidence"
    return RedirectResponse(_with_param(target, "added", evidence.id), status_code=303)


# --- the enterprise page's part --------------------------------------------------------------


def review_of(
    page: Page, org: Organization, year: str | None, inventory: Inventory | None
) -> dict[str, Any]:
    """What the enterprise page shows of verification and evidence for one year.

    Parameters
    ----------
    page : Page
        The enterprise page's request.
    org : Organization
        The enterprise.
    year : str or None
        The year shown (``None`` when there is no inventory).
    inventory : Inventory or None
        The current version of that year's inventory.

    Returns
    -------
    dict
        ``cases`` (this year's, newest first), ``open_case``, ``states`` (inventory id → the
        badge of the furthest case naming it), ``frozen`` (the current version's badge when it
        is verified or published), ``can_submit``, ``evidence`` (activity id → files),
        ``can_attach``, ``hint`` and ``refused`` (why a submission went back).
    """
    store = page.store
    principal = page.principal
    result: dict[str, Any] = {
        "cases": [],
        "open_case": None,
        "states": {},
        "frozen": None,
        "can_submit": False,
        "evidence": {},
        "can_attach": principal.allows(Action.WRITE_ACTIVITY, org.path),
        "hint": page.gettext(EVIDENCE_HINT),
        "refused": None,
        "added": None,
    }
    refusals = {
        "open": N_("A verification case of this year is already under way."),
        "frozen": N_(
            "This version is already verified; recalculate the inventory for a new version"
            " to submit."
        ),
    }
    refused = page.request.query_params.get("review", "")
    if refused in refusals:
        result["refused"] = page.gettext(refusals[refused])
    added = page.request.query_params.get("added", "")
    if added.isascii() and added.isdigit() and len(added) < 10:
        result["added"] = int(added)
    if year is None or inventory is None:
        return result
    label = parse_period(year).label
    rows = store.session.scalars(
        select(Verification)
        .where(Verification.org_id == org.id, Verification.period == label)
        .order_by(Verification.id.desc())
    ).all()
    cases = Cases(store, page.state.vault)
    for case in rows:
        badge = state_badge(page, case.state)
        result["cases"].append(
            {"id": case.id, "badge": badge, "updated": local_time(case.updated_at)}
        )
        known = result["states"].get(case.inventory_id)
        if known is None or _RANK[case.state] > _RANK[known["state"]]:
            result["states"][case.inventory_id] = badge
        if case.state in {s.value for s in OPEN_STATES} and result["open_case"] is None:
            result["open_case"] = {"id": case.id, "badge": badge}
    now = result["states"].get(inventory.id)
    if now is not None and now["state"] in _FROZEN:
        result["frozen"] = now
    result["can_submit"] = (
        principal.allows(Action.SUBMIT, org.path)
        and result["open_case"] is None
        and result["frozen"] is None
    )
    activity_ids = [a["id"] for item in inventory.items for a in item.activity if "id" in a]
    for e in cases.evidence_for(activity_ids):
        result["evidence"].setdefault(e.activity_id, []).append(
            {"id": e.id, "filename": e.filename, "size": file_size(page, e.size)}
        )
    return result

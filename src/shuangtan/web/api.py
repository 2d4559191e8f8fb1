"""REST API v1: thin handlers over the tenant-scoped store and the services.

Handlers parse and present; scoping lives in :class:`~shuangtan.adapters.db.repositories.Store`
and the rules in the services.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from shuangtan.adapters.db.models import ActivityDatum, ApiToken, Inventory, User
from shuangtan.adapters.db.repositories import SYSTEM, Accounts, Store
from shuangtan.errors import InputError, NotFoundError, ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import Action
from shuangtan.services.activity import check_datum, recompute_affected
from shuangtan.services.batch import BatchSummary
from shuangtan.services.calculation import calculate, present
from shuangtan.services.inventories import activity_record, energy_record, parse_period, recompute
from shuangtan.web import schemas as s
from shuangtan.web.deps import SESSION_COOKIE, AuthSession, DbSession, Me, ScopedStore, State
from shuangtan.web.errors import PayloadTooLargeError
from shuangtan.web.params import Limit, Offset, OptId, PathId

router = APIRouter()

PeriodQ = Annotated[
    str,
    Query(min_length=4, max_length=7, description="2025, 2025-Q1 or 2025-03", examples=["2025"]),
]
MAX_CALC_RECORDS = 100_000
MAX_CALC_BYTES = 64 * 1024 * 1024


def _page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# --- auth ----------------------------------------------------------------------------------


def _password_login(
    session: DbSession, state: State, username: str, password: str, scope: str, kind: str
) -> tuple[User, ApiToken, str]:
    accounts = Accounts(session)
    user = accounts.login(username, password)
    scopes = scope.split() or ["read", "write"]
    token, secret = accounts.issue_token(
        user, kind=kind, scopes=scopes, hours=state.settings.token_hours
    )
    return user, token, secret


@router.post("/auth/token", response_model=s.TokenOut, tags=["auth"])
def token(
    session: DbSession,
    state: State,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    scope: Annotated[str, Form(max_length=100)] = "",
) -> dict[str, Any]:
    """OAuth2 password flow: a bearer token for ``Authorization: Bearer …``.

    ``scope`` narrows the token (``read``, ``read write``); by default it has both.
    """
    _, row, secret = _password_login(session, state, username, password, scope, "access")
    return {
        "access_token": secret,
        "token_type": "bearer",
        "expires_in": int(state.settings.token_hours * 3600),
        "scope": row.scopes,
    }


@router.post("/auth/session", response_model=s.MeOut, tags=["auth"])
def login_session(
    request: Request,
    response: Response,
    session: DbSession,
    state: State,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> dict[str, Any]:
    """Sign in for the dashboard: sets an HttpOnly, SameSite=Strict session cookie."""
    user, row, secret = _password_login(session, state, username, password, "", "session")
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(state.settings.token_hours * 3600),
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
        path="/",
    )
    return _me(Store(session, Accounts(session).principal(secret)), user, row.scopes.split())


@router.delete("/auth/session", status_code=204, tags=["auth"])
def logout(session: AuthSession, me: Me, state: State) -> Response:
    """Sign out: revokes the token or session used for this request."""
    if me.token_id is not None:
        Accounts(session).revoke(me.user_id, me.token_id)
        state.forget_principals()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _grants(store: Store, user: User) -> list[dict[str, Any]]:
    return [
        {
            "id": g.id,
            "role": g.role,
            "org_id": g.org_id,
            "org_code": org.code if org is not None else None,
        }
        for g, org in store.grant_paths(user)
    ]


def _user_out(store: Store, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "active": user.active,
        "grants": _grants(store, user),
    }


def _me(store: Store, user: User, scopes: list[str]) -> dict[str, Any]:
    return {**_user_out(store, user), "scopes": sorted(scopes)}


@router.get("/auth/me", response_model=s.MeOut, tags=["auth"])
def me(store: ScopedStore, session: AuthSession, principal: Me) -> dict[str, Any]:
    """The caller, its roles and its token's scopes."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFoundError("user not found", field=None)
    return _me(store, user, sorted(principal.scopes))


def _token_out(token: ApiToken, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "kind": token.kind,
        "scopes": token.scopes.split(),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "token": secret,
    }


@router.get("/auth/tokens", response_model=list[s.ApiTokenOut], tags=["auth"])
def list_tokens(session: AuthSession, principal: Me) -> list[dict[str, Any]]:
    """The caller's live tokens (never their secrets)."""
    return [_token_out(t) for t in Accounts(session).tokens(principal.user_id)]


@router.post("/auth/tokens", response_model=s.ApiTokenOut, status_code=201, tags=["auth"])
def create_token(body: s.ApiTokenIn, session: AuthSession, principal: Me) -> dict[str, Any]:
    """A long-lived API token for a gateway or script; the secret is in this answer only.

    A token never has more scopes than the token that creates it.
    """
    wanted = set(body.scopes)
    if not wanted <= principal.scopes:
        raise InputError("cannot exceed the scopes of the token you are using", field="scopes")
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFoundError("user not found", field=None)
    hours = None if body.expires_days is None else body.expires_days * 24.0
    row, secret = Accounts(session).issue_token(
        user, kind="api", scopes=wanted, name=body.name, hours=hours
    )
    return _token_out(row, secret)


@router.delete("/auth/tokens/{token_id}", status_code=204, tags=["auth"])
def revoke_token(
    token_id: PathId,
    session: AuthSession,
    principal: Me,
    state: State,
) -> Response:
    """Revoke one of the caller's tokens."""
    Accounts(session).revoke(principal.user_id, token_id)
    state.forget_principals()
    return Response(status_code=204)


# --- organisations -------------------------------------------------------------------------


@router.get("/organizations", response_model=s.Page[s.OrganizationOut], tags=["organizations"])
def list_organizations(
    store: ScopedStore,
    limit: Limit = 100,
    offset: Offset = 0,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    parent_id: OptId = None,
    within: OptId = None,
    sector: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """The organisations the caller can see, in tree order (``path``).

    ``within`` restricts to a subtree; ``q`` searches code and names.
    """
    items, total = store.list_orgs(
        kind=kind,
        parent_id=parent_id,
        within=within,
        q=q,
        sector=sector,
        limit=limit,
        offset=offset,
    )
    return _page(items, total, limit, offset)


@router.get("/organizations/tree", response_model=list[s.OrganizationTree], tags=["organizations"])
def organization_tree(store: ScopedStore) -> list[dict[str, Any]]:
    """The caller's visible forest, nested."""
    out: list[dict[str, Any]] = []
    for root in store.visible_roots():
        nodes = store.subtree(root)
        by_id: dict[int, dict[str, Any]] = {}
        for org in nodes:
            node = {**s.OrganizationOut.model_validate(org).model_dump(), "children": []}
            by_id[org.id] = node
            parent = by_id.get(org.parent_id) if org.parent_id is not None else None
            if parent is not None and org.id != root.id:
                parent["children"].append(node)
        out.append(by_id[root.id])
    return out


@router.post(
    "/organizations", response_model=s.OrganizationOut, status_code=201, tags=["organizations"]
)
def create_organization(body: s.OrganizationIn, store: ScopedStore) -> Any:
    """Create an organisation (platform admins at the top level; org admins below theirs)."""
    return store.create_org(body.model_dump())


@router.get("/organizations/{org_id}", response_model=s.OrganizationOut, tags=["organizations"])
def get_organization(org_id: PathId, store: ScopedStore) -> Any:
    """One organisation."""
    return store.get_org(org_id)


@router.patch("/organizations/{org_id}", response_model=s.OrganizationOut, tags=["organizations"])
def update_organization(org_id: PathId, body: s.OrganizationPatch, store: ScopedStore) -> Any:
    """Change an organisation's names, codes, sector or address."""
    return store.update_org(org_id, body.model_dump(exclude_unset=True))


@router.delete("/organizations/{org_id}", status_code=204, tags=["organizations"])
def delete_organization(org_id: PathId, store: ScopedStore) -> Response:
    """Delete an empty organisation (no children, sources, meters or inventories)."""
    store.delete_org(org_id)
    return Response(status_code=204)


@router.get(
    "/organizations/{org_id}/economics",
    response_model=list[s.EconomicsOut],
    tags=["organizations"],
)
def get_economics(org_id: PathId, store: ScopedStore) -> Any:
    """Economic data by year (output value, value added, production)."""
    return store.economics(org_id)


@router.put(
    "/organizations/{org_id}/economics/{year}",
    response_model=s.EconomicsOut,
    tags=["organizations"],
)
def put_economics(
    org_id: PathId,
    year: Annotated[int, Path(ge=1990, le=2100)],
    body: s.EconomicsIn,
    store: ScopedStore,
) -> Any:
    """Create or replace one year's economic data."""
    return store.put_economics(org_id, year, body.model_dump())


# --- inventories ---------------------------------------------------------------------------


def _version_out(inv: Inventory) -> dict[str, Any]:
    return {
        "inventory_id": inv.id,
        "org_id": inv.org_id,
        "period": inv.period,
        "version": inv.version,
        "status": inv.status,
        "co2e_t": present(inv.co2e_t),
        "energy_tce": present(inv.energy_tce),
        "library_version": inv.library_version,
        "gwp_set": inv.gwp_set,
        "computed_at": inv.computed_at,
        "reason": inv.reason,
    }


def _inventory_body(inventory: Inventory) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(inventory.summary)
    return body


@router.get(
    "/organizations/{org_id}/inventory",
    response_model=s.InventoryOut,
    tags=["inventories"],
    responses={200: {"model": s.InventoryOut}},
)
async def get_inventory(
    org_id: PathId,
    period: PeriodQ,
    store: ScopedStore,
    state: State,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    """The current (or a given) version of an organisation's inventory for a period.

    Totals ``co2e_t`` [tCO2e] and ``energy_tce`` [tce]; breakdowns ``by_scope``, ``by_gas``,
    ``by_category``, ``by_source``; ``children`` rolled up over the tree.
    """
    # The document was frozen when computed; send it as stored, byte for byte. One indexed
    # read: it runs on the event loop (a worker-thread trip would cost more than the query).
    if version is None:
        # Versions never change, so a document cached by inventory id is never stale.
        inventory_id = store.current_inventory_id(org_id, period)
        body = state.documents.get(inventory_id)
        if body is None:
            body = store.document(inventory_id).encode()
        state.remember_document(inventory_id, body)
        return Response(body, media_type="application/json")
    inventory = store.inventory_version(org_id, period, version)
    return Response(inventory.summary, media_type="application/json")


@router.post(
    "/organizations/{org_id}/inventory/recompute",
    response_model=s.RecomputeOut,
    tags=["inventories"],
)
def recompute_inventory(
    org_id: PathId, body: s.RecomputeIn, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Compute a new version with today's factor library and data; answer with the diff."""
    period = parse_period(body.period)
    store.get_org(org_id, Action.RECOMPUTE)
    inventory_id, _, _, diff = recompute(
        store,
        state.library,
        org_id,
        period,
        gwp=body.gwp,
        user_id=store.principal.user_id,
        reason=body.reason or "requested",
    )
    inventory = store.session.get(Inventory, inventory_id)
    assert inventory is not None
    return {"inventory": _inventory_body(inventory), "diff": diff}


@router.get(
    "/organizations/{org_id}/inventory/versions",
    response_model=list[s.InventoryVersion],
    tags=["inventories"],
)
def inventory_versions(org_id: PathId, period: PeriodQ, store: ScopedStore) -> list[dict[str, Any]]:
    """Every version of the inventory for a period, newest first."""
    return [_version_out(inv) for inv in store.inventory_versions(org_id, period)]


@router.get(
    "/organizations/{org_id}/inventory/diff", response_model=dict[str, Any], tags=["inventories"]
)
def inventory_diff(
    org_id: PathId,
    period: PeriodQ,
    store: ScopedStore,
    from_version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    to_version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> dict[str, Any]:
    """What changed between two versions (by default the previous and the current), and why."""
    from shuangtan.services.inventories import diff_items

    new = (
        store.current_inventory(org_id, period)
        if to_version is None
        else store.inventory_version(org_id, period, to_version)
    )
    if from_version is None:
        if new.version == 1:
            raise NotFoundError(
                "this is the first version; nothing to compare", field="from_version"
            )
        from_version = new.version - 1
    old = store.inventory_version(org_id, period, from_version)
    return diff_items(
        store.inventory_meta(old),
        [store.item_dict(i) for i in old.items],
        store.inventory_meta(new),
        [store.item_dict(i) for i in new.items],
    )


@router.get(
    "/organizations/{org_id}/inventory/lineage",
    response_model=s.Page[s.InventoryLineage],
    tags=["inventories"],
)
def inventory_lineage(
    org_id: PathId,
    period: PeriodQ,
    store: ScopedStore,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Per source: the activity data and the factors (with sources) behind the figures."""
    inventory = (
        store.current_inventory(org_id, period)
        if version is None
        else store.inventory_version(org_id, period, version)
    )
    items = inventory.items
    chosen = items[offset : offset + limit]
    return _page(
        [
            {
                "source_id": i.source_id,
                "source_code": i.source_code,
                "co2e_t": present(i.co2e_t),
                "energy_tce": None if i.energy_tce is None else present(i.energy_tce),
                "gases_t": {gas: present(mass) for gas, mass in i.gases_t.items()},
                "factors": i.factors,
                "activity": i.activity,
                "warnings": i.warnings,
            }
            for i in chosen
        ],
        len(items),
        limit,
        offset,
    )


@router.get(
    "/organizations/{org_id}/calc-records",
    tags=["inventories"],
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
)
def calc_records(
    org_id: PathId,
    period: PeriodQ,
    store: ScopedStore,
    state: State,
    gwp: Annotated[Literal["SAR", "AR4", "AR5", "AR6"], Query()] = "AR6",
) -> Response:
    """The batch-contract records of the subtree's activity data in a period (JSON Lines).

    Piped into ``shuangtan calc`` (or ``POST /calc``) they give the inventory's figures:
    Σ ``co2e_t`` of the emission records and Σ ``tce_t`` of the ``energy_tce`` records. For
    steam bought by enthalpy (``tce_from_energy``) the ``energy_tce`` record carries the heat
    the emission record yields [GJ], as the inventory computes it.
    """
    span = parse_period(period)
    _, _, sources, activity, _ = store.inventory_inputs(org_id, span)
    by_id = {src.id: src for src in sources}
    inside = [r for r in activity if r.period_start >= span.start and r.period_end <= span.end]
    out = bytearray()
    for row in sorted(inside, key=lambda r: (by_id[r.source_id].code, r.period_start)):
        source = by_id[row.source_id]
        record = activity_record(source, row, gwp)
        out += orjson.dumps(record) + b"\n"
        energy_gj = None
        if source.tce_from_energy:
            energy_gj = calculate(record, state.library).energy_gj
        tce = energy_record(source, row, energy_gj)
        if tce is not None:
            out += orjson.dumps(tce) + b"\n"
    return Response(bytes(out), media_type="application/x-ndjson")


@router.get("/inventories", response_model=s.Page[s.InventoryVersion], tags=["inventories"])
def list_inventories(
    store: ScopedStore,
    state: State,
    org_id: OptId = None,
    period: Annotated[str | None, Query(min_length=4, max_length=7)] = None,
    stale: Annotated[
        bool, Query(description="Only those computed with another factor-library version")
    ] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Current inventories the caller can see."""
    items, total = store.list_inventories(
        org_id=org_id,
        period=period,
        stale_for=state.library.version if stale else None,
        limit=limit,
        offset=offset,
    )
    return _page(
        [_version_out(inv) for inv in items],
        total,
        limit,
        offset,
    )


# --- sources and meters --------------------------------------------------------------------


@router.get("/sources", response_model=s.Page[s.SourceOut], tags=["sources"])
def list_sources(
    store: ScopedStore,
    org_id: OptId = None,
    within: OptId = None,
    scope: Annotated[int | None, Query(ge=1, le=3)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    method: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Emission sources the caller can see."""
    items, total = store.list_sources(
        org_id=org_id,
        within=within,
        scope=scope,
        category=category,
        method=method,
        limit=limit,
        offset=offset,
    )
    return _page(items, total, limit, offset)


@router.post("/sources", response_model=s.SourceOut, status_code=201, tags=["sources"])
def create_source(body: s.SourceIn, store: ScopedStore) -> Any:
    """Create an emission source; its params must make valid calculation records."""
    return store.create_source(body.model_dump())


@router.get("/sources/{source_id}", response_model=s.SourceOut, tags=["sources"])
def get_source(source_id: PathId, store: ScopedStore) -> Any:
    """One emission source."""
    return store.get_source(source_id)


@router.patch("/sources/{source_id}", response_model=s.SourceOut, tags=["sources"])
def update_source(source_id: PathId, body: s.SourcePatch, store: ScopedStore) -> Any:
    """Change a source (recompute inventories afterwards to apply it)."""
    return store.update_source(source_id, body.model_dump(exclude_unset=True))


@router.delete("/sources/{source_id}", status_code=204, tags=["sources"])
def delete_source(source_id: PathId, store: ScopedStore) -> Response:
    """Delete a source without activity data."""
    store.delete_source(source_id)
    return Response(status_code=204)


@router.get("/meters", response_model=s.Page[s.MeterOut], tags=["meters"])
def list_meters(
    store: ScopedStore,
    org_id: OptId = None,
    within: OptId = None,
    source_id: OptId = None,
    carrier: Annotated[str | None, Query(max_length=20)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Meters the caller can see."""
    items, total = store.list_meters(
        org_id=org_id,
        within=within,
        source_id=source_id,
        carrier=carrier,
        limit=limit,
        offset=offset,
    )
    return _page(items, total, limit, offset)


@router.post("/meters", response_model=s.MeterOut, status_code=201, tags=["meters"])
def create_meter(body: s.MeterIn, store: ScopedStore) -> Any:
    """Create a meter."""
    return store.create_meter(body.model_dump())


@router.get("/meters/{meter_id}", response_model=s.MeterOut, tags=["meters"])
def get_meter(meter_id: PathId, store: ScopedStore) -> Any:
    """One meter."""
    return store.get_meter(meter_id)


@router.patch("/meters/{meter_id}", response_model=s.MeterOut, tags=["meters"])
def update_meter(meter_id: PathId, body: s.MeterPatch, store: ScopedStore) -> Any:
    """Change a meter."""
    return store.update_meter(meter_id, body.model_dump(exclude_unset=True))


@router.delete("/meters/{meter_id}", status_code=204, tags=["meters"])
def delete_meter(meter_id: PathId, store: ScopedStore) -> Response:
    """Delete a meter."""
    store.delete_meter(meter_id)
    return Response(status_code=204)


# --- activity data -------------------------------------------------------------------------


@router.get("/activity", response_model=s.Page[s.ActivityOut], tags=["activity"])
def list_activity(
    store: ScopedStore,
    source_id: OptId = None,
    org_id: OptId = None,
    within: OptId = None,
    start: Annotated[dt.date | None, Query(description="Periods starting on or after")] = None,
    end: Annotated[dt.date | None, Query(description="Periods ending on or before")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Activity data the caller can see."""
    items, total = store.list_activity(
        source_id=source_id,
        org_id=org_id,
        within=within,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    return _page(items, total, limit, offset)


def _follow(
    store: Store,
    library: FactorLibrary,
    org_id: int,
    spans: list[tuple[dt.date, dt.date]],
    why: str,
) -> list[Any]:
    """Recompute the current inventories a change touches; report those the caller may read.

    Inventories of ancestors follow the change even when the caller may only enter data:
    keeping derived figures current is the platform's job, attributed to the caller. Their
    figures are not the caller's to see, so the answer lists only what the caller can read.
    """
    system = Store(store.session, SYSTEM)
    done = recompute_affected(
        system, library, org_id, spans, user_id=store.principal.user_id, reason=why
    )
    readable = store.readable_org_ids({d["org_id"] for d in done})
    return [d for d in done if d["org_id"] in readable]


@router.post("/activity", response_model=s.ActivityWriteOut, status_code=201, tags=["activity"])
def create_activity(body: s.ActivityIn, store: ScopedStore, state: State) -> dict[str, Any]:
    """Enter an activity datum; it must compute. Current inventories covering it follow."""
    source = store.get_source(body.source_id, Action.WRITE_ACTIVITY, field="source_id")
    unit = body.unit or source.unit
    check_datum(
        store.source_row(source),
        period_start=body.period_start,
        period_end=body.period_end,
        amount=body.amount,
        unit=unit,
        library=state.library,
    )
    datum = store.create_activity({**body.model_dump(), "unit": unit, "origin": "entered"})
    why = f"activity {datum.id} entered ({source.code} {datum.period_start:%Y-%m})"
    followed = _follow(
        store, state.library, source.org_id, [(datum.period_start, datum.period_end)], why
    )
    return {"activity": datum, "recomputed": followed}


@router.get("/activity/{activity_id}", response_model=s.ActivityOut, tags=["activity"])
def get_activity(activity_id: PathId, store: ScopedStore) -> ActivityDatum:
    """One activity datum."""
    return store.get_activity(activity_id)


@router.patch("/activity/{activity_id}", response_model=s.ActivityWriteOut, tags=["activity"])
def update_activity(
    activity_id: PathId, body: s.ActivityPatch, store: ScopedStore, state: State
) -> dict[str, Any]:
    """Correct a datum (its version goes up); current inventories covering it follow."""
    datum = store.get_activity(activity_id, Action.WRITE_ACTIVITY)
    source = store.get_source(datum.source_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    check_datum(
        store.source_row(source),
        period_start=datum.period_start,
        period_end=datum.period_end,
        amount=changes.get("amount", datum.amount),
        unit=changes.get("unit", datum.unit),
        library=state.library,
    )
    old = datum.amount
    datum = store.update_activity(activity_id, changes)
    why = (
        f"activity {datum.id} corrected ({source.code} {datum.period_start:%Y-%m}:"
        f" {old!r} → {datum.amount!r} {datum.unit})"
    )
    followed = _follow(
        store, state.library, source.org_id, [(datum.period_start, datum.period_end)], why
    )
    return {"activity": datum, "recomputed": followed}


@router.delete("/activity/{activity_id}", response_model=s.ActivityWriteOut, tags=["activity"])
def delete_activity(activity_id: PathId, store: ScopedStore, state: State) -> dict[str, Any]:
    """Delete a datum; current inventories covering it follow."""
    datum = store.get_activity(activity_id, Action.WRITE_ACTIVITY)
    source = store.get_source(datum.source_id)
    span = (datum.period_start, datum.period_end)
    store.delete_activity(activity_id)
    why = f"activity {activity_id} deleted ({source.code} {span[0]:%Y-%m})"
    return {
        "activity": None,
        "recomputed": _follow(store, state.library, source.org_id, [span], why),
    }


# --- factors and calculation ---------------------------------------------------------------


@router.get("/factors", response_model=s.FactorPage, tags=["factors"])
def list_factors(
    state: State,
    _me: Me,
    q: Annotated[
        str | None, Query(max_length=100, description="Text in key, gas, region, source, notes")
    ] = None,
    key: Annotated[str | None, Query(max_length=100)] = None,
    gas: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    year: Annotated[int | None, Query(ge=1900, le=2100, description="Valid in this year")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Browse and search the factor library (each factor with its source and status).

    ``q`` also finds factors by the Chinese or English name of a fuel, region, species or
    carbonate (``柴油``, ``江苏``, ``杉木``); ``region`` takes a code or a name.
    """
    library = state.library
    needle = (q or "").casefold().strip()
    named = _named_keys(library, q.strip()) if q else set()
    if region is not None:
        region = _resolve_or_keep(library, "region", region)
    matches = []
    for f in library:
        if key is not None and f.key != key:
            continue
        if gas is not None and f.gas != gas:
            continue
        if region is not None and f.region != region:
            continue
        if status is not None and f.status.value != status:
            continue
        if year is not None:
            first, after = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
            if (f.valid_from is not None and f.valid_from >= after) or (
                f.valid_to is not None and f.valid_to <= first
            ):
                continue
        text = " ".join((f.key, f.gas, f.region, f.source_title, f.source_id, f.notes, f.clause))
        by_name = any(f".{k}." in f".{f.key}." or k in (f.region, f.gas) for k in named)
        if needle and needle not in text.casefold() and not by_name:
            continue
        matches.append(f)
    page = [
        {
            "key": f.key,
            "gas": f.gas,
            "region": f.region,
            "value": f.value,
            "unit": f.unit,
            "valid_from": f.valid_from,
            "valid_to": f.valid_to,
            "source_id": f.source_id,
            "source": f.source_title,
            "clause": f.clause,
            "status": f.status.value,
            "notes": f.notes,
        }
        for f in matches[offset : offset + limit]
    ]
    return {**_page(page, len(matches), limit, offset), "library_version": state.library.version}


def _resolve_or_keep(library: FactorLibrary, kind: str, name: str) -> str:
    try:
        return library.resolve(kind, name)
    except ShuangtanError:
        return name


def _named_keys(library: FactorLibrary, text: str) -> set[str]:
    """Keys of the names ``text`` stands for, in any kind of the names table."""
    keys: set[str] = set()
    for kind in ("energy", "region", "species", "carbonate", "gas"):
        try:
            keys.add(library.resolve(kind, text))
        except ShuangtanError:
            continue
    return keys


def _run_calc(lines: list[bytes], library: FactorLibrary) -> tuple[bytes, int]:
    from shuangtan.services.vectorised import VectorEngine

    summary = BatchSummary()
    out = VectorEngine(library).run_chunk(lines, 1, summary) if lines else b""
    return out, summary.failed


_CALC_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": s.CalcIn.model_json_schema()},
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "One JSON record per line"}
            },
        },
    }
}


@router.post(
    "/calc",
    response_model=s.CalcOut,
    tags=["calculation"],
    openapi_extra=_CALC_SCHEMA,
    responses={
        200: {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def calc(request: Request, state: State, _me: Me) -> Response:
    """The ``shuangtan calc`` contract over HTTP, up to 100,000 records.

    ``application/json`` ``{"records": [...]}`` answers ``{"results": [...], "failed": n}``;
    ``application/x-ndjson`` answers one JSON object per line, in order. A bad record gives an
    error object in its place (``{"id", "error": {"field", "message"}}``), never a failed request.
    """
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_CALC_BYTES:
        raise _too_large()
    body = await request.body()
    if len(body) > MAX_CALC_BYTES:
        raise _too_large()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
        lines = body.splitlines()
        if lines and not lines[-1].strip():
            lines.pop()
        if len(lines) > MAX_CALC_RECORDS:
            raise _too_many(len(lines))
        out, _ = await run_in_threadpool(_run_calc, lines, state.library)
        return Response(out, media_type="application/x-ndjson")
    if media not in ("application/json", ""):
        raise InputError(
            f"unsupported content type {media!r}; send application/json or application/x-ndjson",
            field="Content-Type",
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}", field="$") from None
    if not isinstance(document, dict) or set(document) != {"records"}:
        raise InputError('must be an object {"records": [...]}', field="$")
    records = document["records"]
    if not isinstance(records, list):
        raise InputError("must be a list of records", field="records")
    if len(records) > MAX_CALC_RECORDS:
        raise _too_many(len(records))
    lines = [orjson.dumps(r) for r in records]
    out, failed = await run_in_threadpool(_run_calc, lines, state.library)
    joined = b",".join(out.splitlines())
    payload = (
        b'{"results":['
        + joined
        + b'],"failed":'
        + str(failed).encode()
        + b',"library_version":'
        + orjson.dumps(state.library.version)
        + b"}"
    )
    return Response(payload, media_type="application/json")


def _too_many(count: int) -> Exception:
    return PayloadTooLargeError(
        f"{count} records; at most {MAX_CALC_RECORDS} per request (use shuangtan calc for more)",
        field="records",
    )


def _too_large() -> Exception:
    return PayloadTooLargeError(
        f"the body exceeds {MAX_CALC_BYTES // (1024 * 1024)} MiB", field="$"
    )


# --- users -------------------------------------------------------------------------------


@router.get("/users", response_model=s.Page[s.UserOut], tags=["users"])
def list_users(store: ScopedStore, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Users holding roles in the subtrees the caller manages."""
    items, total = store.list_users(limit=limit, offset=offset)
    return _page([_user_out(store, u) for u in items], total, limit, offset)


@router.post("/users", response_model=s.UserOut, status_code=201, tags=["users"])
def create_user(body: s.UserIn, store: ScopedStore) -> dict[str, Any]:
    """Create a user with roles on subtrees the caller manages."""
    user = store.create_user(
        body.username,
        body.password,
        display_name=body.display_name,
        grants=[(g.role.value, g.org_id) for g in body.grants],
    )
    return _user_out(store, user)


@router.get("/users/{user_id}", response_model=s.UserOut, tags=["users"])
def get_user(user_id: PathId, store: ScopedStore) -> dict[str, Any]:
    """One user."""
    return _user_out(store, store.get_user(user_id))


@router.post("/users/{user_id}/grants", response_model=s.GrantOut, status_code=201, tags=["users"])
def add_grant(user_id: PathId, body: s.GrantIn, store: ScopedStore, state: State) -> dict[str, Any]:
    """Give a user a role on a subtree the caller manages."""
    grant = store.grant(user_id, body.role.value, body.org_id)
    state.forget_principals()
    org = store.get_org(grant.org_id) if grant.org_id is not None else None
    return {
        "id": grant.id,
        "role": grant.role,
        "org_id": grant.org_id,
        "org_code": org.code if org else None,
    }


@router.delete("/users/{user_id}/grants/{grant_id}", status_code=204, tags=["users"])
def remove_grant(user_id: PathId, grant_id: PathId, store: ScopedStore, state: State) -> Response:
    """Take a role away."""
    store.revoke_grant(user_id, grant_id)
    state.forget_principals()
    return Response(status_code=204)


__all__ = ["router"]

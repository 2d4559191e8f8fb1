"""Dashboard pages: the users an administrator manages, their roles, and one's API tokens.

``/admin/users`` is for organisation and platform administrators (anyone else gets 403): the
users holding roles in the subtrees the caller manages, a form to create one, and per user
(``/admin/users/{id}``) the roles to revoke and a form to grant another inside the caller's
organisations. ``/admin/tokens`` is every signed-in user's own API tokens: create one (its
secret is shown once, in the answer) and revoke. The pages call the API's own handlers
(:mod:`shuangtan.web.api`), so the rules (who may grant what, a token's scopes never above the
session's) are the API's; the forms only turn their errors into messages beside the fields.
Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from shuangtan.domain.platform import Role
from shuangtan.errors import ConflictError, PermissionDeniedError, ShuangtanError
from shuangtan.services.access import Action
from shuangtan.services.credentials import MIN_PASSWORD_LENGTH
from shuangtan.web import api
from shuangtan.web import schemas as s
from shuangtan.web.params import PathId
from shuangtan.web.ui.core import N_, Page, Table, UiPage, render

router = APIRouter(include_in_schema=False)

#: Users per page of the list.
PAGE_SIZE = 25
#: Each role's name, in the order the forms offer them.
ROLE_LABELS = {
    Role.ORG_ADMIN.value: N_("Organisation administrator"),
    Role.DATA_ENTRY.value: N_("Data entry"),
    Role.VIEWER.value: N_("Viewer"),
    Role.VERIFIER.value: N_("Verifier"),
    Role.REGULATOR.value: N_("Regulator"),
    Role.PLATFORM_ADMIN.value: N_("Platform administrator"),
}
#: Token kinds as the tokens table names them.
KIND_LABELS = {"api": N_("API token"), "session": N_("Dashboard session")}
SCOPE_LABELS = {"read": N_("Read"), "write": N_("Read and write")}

# Messages beside the fields; the rules themselves are the API schemas' and the store's.
USERNAME_RULE = N_(
    "Use 2–64 characters: letters, digits and . _ @ -, starting with a letter or digit."
)
PASSWORD_RULE = N_("Use at least %(n)s characters (at most 1,024).")
DISPLAY_NAME_RULE = N_("Use at most 200 characters.")
CHOOSE_ROLE = N_("Choose a role.")
CHOOSE_ORG = N_("Choose an organisation.")
USERNAME_TAKEN = N_("This user name is taken.")
ORG_REFUSED = N_("You cannot give roles on this organisation.")
ROLE_REFUSED = N_("Only a platform administrator can grant this role.")
TOKEN_NAME_RULE = N_("Enter a name of 1–100 characters.")
SCOPES_RULE = N_("Choose at least one scope.")
SCOPES_ABOVE = N_("A token cannot have more scopes than your session.")
DAYS_RULE = N_("Enter a whole number of days from 1 to 3650, or leave it empty.")

M = TypeVar("M", bound=BaseModel)


def _require_admin(page: Page) -> None:
    """Refuse callers who administer no users (403)."""
    if not page.is_org_admin:
        raise PermissionDeniedError(
            "only organisation and platform administrators manage users", field=None
        )


def _when(value: dt.datetime | None) -> str:
    """A UTC timestamp to the minute, or '–'."""
    if value is None:
        return "–"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M") + " UTC"


def _org_choices(page: Page) -> list[tuple[int, str]]:
    """The organisations the caller may give roles on: (id, 'code · name')."""
    orgs, _ = page.store.list_orgs(limit=100_000)
    name = "name_zh" if page.locale == "zh_CN" else "name_en"
    return [
        (o.id, f"{o.code} · {getattr(o, name) or o.name_zh}")
        for o in orgs
        if page.principal.allows(Action.MANAGE_USERS, o.path)
    ]


def _role_choices(page: Page) -> list[tuple[str, str]]:
    """The roles the caller may grant: (value, English label); platform-wide only by its peers."""
    return [
        (role, label)
        for role, label in ROLE_LABELS.items()
        if role != Role.PLATFORM_ADMIN.value or page.principal.is_platform_admin
    ]


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _validate(
    model: type[M], data: dict[str, Any], messages: Callable[[tuple[Any, ...]], tuple[str, str]]
) -> tuple[M | None, dict[str, str]]:
    """``data`` as ``model``, or each field's message (``messages`` maps loc → (field, msg))."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field, message = messages(tuple(error.get("loc", ())))
            errors.setdefault(field, message)
        return None, errors


def _grant_fields(loc: tuple[Any, ...]) -> tuple[str, str]:
    if "org_id" in loc:
        return "org_id", CHOOSE_ORG
    return "role", CHOOSE_ROLE


def _user_fields(loc: tuple[Any, ...]) -> tuple[str, str]:
    head = loc[0] if loc else ""
    if head == "username":
        return "username", USERNAME_RULE
    if head == "password":
        return "password", PASSWORD_RULE
    if head == "display_name":
        return "display_name", DISPLAY_NAME_RULE
    return _grant_fields(loc)


def _grant_data(role: str, org: str, errors: dict[str, str]) -> dict[str, Any]:
    """The ``GrantIn`` body of the role and organisation fields (errors for missing ones)."""
    if not role:
        errors["role"] = CHOOSE_ROLE
    org_id: int | None = None
    if org.isascii() and org.isdigit():
        org_id = int(org)
    elif role != Role.PLATFORM_ADMIN.value:
        errors["org_id"] = CHOOSE_ORG
    return {"role": role, "org_id": None if role == Role.PLATFORM_ADMIN.value else org_id}


def _service_error(exc: ShuangtanError, errors: dict[str, str]) -> None:
    """A refusal of the store or the API, as the message beside its field (or of the form)."""
    if isinstance(exc, ConflictError) and exc.field == "username":
        errors["username"] = USERNAME_TAKEN
    elif exc.field == "org_id":
        errors["org_id"] = ORG_REFUSED
    elif exc.field == "role":
        errors["role"] = ROLE_REFUSED
    elif exc.field == "password":
        errors["password"] = PASSWORD_RULE
    elif exc.field == "grants":
        errors["org_id"] = CHOOSE_ORG
    elif exc.field == "scopes":
        errors["scopes"] = SCOPES_ABOVE
    else:
        errors["form"] = exc.message


# --- users -----------------------------------------------------------------------------------


def _users_page(
    request: Request,
    page: Page,
    *,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    table = Table.from_request(request, ("username",), size=PAGE_SIZE)
    found = api.list_users(page.store, limit=table.size, offset=table.offset)
    table.total = found["total"]
    return render(
        request,
        "admin_users.html",
        {
            "table": table,
            "users": found["items"],
            "form": form or {"username": "", "display_name": "", "role": "", "org_id": ""},
            "errors": errors or {},
            "roles": _role_choices(page),
            "role_labels": ROLE_LABELS,
            "orgs": _org_choices(page),
            "created": request.query_params.get("created", "")[:64],
            "min_password": MIN_PASSWORD_LENGTH,
            "tab": "users",
        },
        page=page,
        status_code=status_code,
    )


@router.get("/admin/users")
def users(request: Request, page: UiPage) -> Response:
    """The users the caller manages (paged) and the form to create one."""
    _require_admin(page)
    return _users_page(request, page)


@router.post("/admin/users")
async def create_user(request: Request, page: UiPage) -> Response:
    """Create a user with one role on an organisation the caller manages."""
    raw = await request.form()
    page.check_csrf(raw)
    _require_admin(page)
    form = {k: _text(raw, k) for k in ("username", "display_name", "password", "role", "org_id")}
    form["username"] = form["username"].strip()
    form["display_name"] = form["display_name"].strip()
    errors: dict[str, str] = {}
    grant = _grant_data(form["role"], form["org_id"], errors)
    body, invalid = _validate(
        s.UserIn,
        {
            "username": form["username"],
            "password": form["password"],
            "display_name": form["display_name"],
            "grants": [grant] if not errors else [],
        },
        _user_fields,
    )
    errors = {**invalid, **errors}
    if body is not None and not errors:
        try:
            await run_in_threadpool(api.create_user, body, page.store)
        except ShuangtanError as exc:
            page.store.session.rollback()  # nothing of a refused user is kept
            _service_error(exc, errors)
        else:
            created = urlencode({"created": form["username"]})
            return RedirectResponse(f"/admin/users?{created}", status_code=303)
    form.pop("password")
    return _users_page(request, page, form=form, errors=errors, status_code=422)


def _user_page(
    request: Request,
    page: Page,
    user_id: int,
    *,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user = api.get_user(user_id, page.store)
    manageable = {org_id for org_id, _ in _org_choices(page)}
    return render(
        request,
        "admin_user.html",
        {
            "user": user,
            "manageable": manageable,
            "form": form or {"role": "", "org_id": ""},
            "errors": errors or {},
            "roles": _role_choices(page),
            "role_labels": ROLE_LABELS,
            "orgs": _org_choices(page),
            "done": request.query_params.get("done", ""),
            "tab": "users",
        },
        page=page,
        status_code=status_code,
    )


@router.get("/admin/users/{user_id}")
def user(request: Request, page: UiPage, user_id: PathId) -> Response:
    """One user: the roles the caller sees, to revoke, and a form to grant another."""
    _require_admin(page)
    return _user_page(request, page, user_id)


@router.post("/admin/users/{user_id}/grants")
async def grant(request: Request, page: UiPage, user_id: PathId) -> Response:
    """Give the user a role on an organisation the caller manages."""
    raw = await request.form()
    page.check_csrf(raw)
    _require_admin(page)
    form = {k: _text(raw, k) for k in ("role", "org_id")}
    errors: dict[str, str] = {}
    data = _grant_data(form["role"], form["org_id"], errors)
    body, invalid = _validate(s.GrantIn, data, _grant_fields)
    errors = {**invalid, **errors}
    if body is not None and not errors:
        try:
            api.add_grant(user_id, body, page.store, page.state)
        except ShuangtanError as exc:
            page.store.session.rollback()
            _service_error(exc, errors)
        else:
            return RedirectResponse(f"/admin/users/{user_id}?done=granted", status_code=303)
    return _user_page(request, page, user_id, form=form, errors=errors, status_code=422)


@router.post("/admin/users/{user_id}/grants/{grant_id}/revoke")
async def revoke_grant(
    request: Request, page: UiPage, user_id: PathId, grant_id: PathId
) -> Response:
    """Take a role away from the user."""
    page.check_csrf(await request.form())
    _require_admin(page)
    api.remove_grant(user_id, grant_id, page.store, page.state)
    return RedirectResponse(f"/admin/users/{user_id}?done=revoked", status_code=303)


# --- API tokens ------------------------------------------------------------------------------


def _tokens_page(
    request: Request,
    page: Page,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    created: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    tokens = [
        {
            **t,
            "created": _when(t["created_at"]),
            "expires": _when(t["expires_at"]),
            "used": _when(t["last_used_at"]),
            "current": t["id"] == page.principal.token_id,
        }
        for t in api.list_tokens(page.store.session, page.principal)
    ]
    return render(
        request,
        "admin_tokens.html",
        {
            "tokens": tokens,
            "form": form or {"name": "", "scopes": ["read"], "expires_days": ""},
            "errors": errors or {},
            "created": created,
            "revoked": request.query_params.get("revoked") == "1",
            "kinds": KIND_LABELS,
            "scope_labels": SCOPE_LABELS,
            "tab": "tokens",
        },
        page=page,
        status_code=status_code,
    )


@router.get("/admin/tokens")
def tokens(request: Request, page: UiPage) -> Response:
    """The caller's live tokens and the form to create an API token."""
    return _tokens_page(request, page)


@router.post("/admin/tokens")
async def create_token(request: Request, page: UiPage) -> Response:
    """Create an API token for the caller; its secret is on this answer only."""
    raw = await request.form()
    page.check_csrf(raw)
    name = _text(raw, "name").strip()
    scopes = [v for v in raw.getlist("scopes") if isinstance(v, str)]
    days = _text(raw, "expires_days").strip()
    form = {"name": name, "scopes": scopes, "expires_days": days}
    errors: dict[str, str] = {}
    expires: int | None = None
    if days:
        if days.isascii() and days.isdigit() and len(days) < 6:
            expires = int(days)
        else:
            errors["expires_days"] = DAYS_RULE

    def fields(loc: tuple[Any, ...]) -> tuple[str, str]:
        head = loc[0] if loc else ""
        if head == "name":
            return "name", TOKEN_NAME_RULE
        if head == "expires_days":
            return "expires_days", DAYS_RULE
        return "scopes", SCOPES_RULE

    body, invalid = _validate(
        s.ApiTokenIn, {"name": name, "scopes": scopes, "expires_days": expires}, fields
    )
    errors = {**invalid, **errors}
    if body is not None and not errors:
        try:
            made = api.create_token(body, page.store.session, page.principal)
        except ShuangtanError as exc:
            page.store.session.rollback()
            _service_error(exc, errors)
        else:
            return _tokens_page(request, page, created=made, status_code=201)
    return _tokens_page(request, page, form=form, errors=errors, status_code=422)


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(request: Request, page: UiPage, token_id: PathId) -> Response:
    """Revoke one of the caller's tokens."""
    page.check_csrf(await request.form())
    api.revoke_token(token_id, page.store.session, page.principal, page.state)
    return RedirectResponse("/admin/tokens?revoked=1", status_code=303)


__all__ = ["router"]

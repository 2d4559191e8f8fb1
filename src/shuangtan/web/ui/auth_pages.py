"""Signing in and out, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from shuangtan.adapters.db.repositories import Accounts
from shuangtan.errors import AuthenticationError
from shuangtan.web.deps import SESSION_COOKIE, DbSession, State
from shuangtan.web.ui.core import LANG_COOKIE, LOCALES, N_, UiPage, render, safe_next

router = APIRouter(include_in_schema=False)

#: A year: the language is a preference, not a secret.
LANG_MAX_AGE_S = 365 * 24 * 3600


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render(request, "login.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    state: State,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password, set the session cookie and go where the user was going."""
    target = safe_next(next)
    error = None
    if not username.strip():
        error = ("username", N_("Enter your user name."))
    elif not password:
        error = ("password", N_("Enter your password."))
    if error is None:
        accounts = Accounts(session)
        try:
            user = accounts.login(username.strip(), password)
        except AuthenticationError:
            error = ("password", N_("The user name or the password is wrong."))
        else:
            _, secret = accounts.issue_token(
                user, kind="session", scopes=["read", "write"], hours=state.settings.token_hours
            )
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                secret,
                max_age=int(state.settings.token_hours * 3600),
                httponly=True,
                secure=request.url.scheme == "https",
                samesite="strict",
                path="/",
            )
            return response
    return render(
        request,
        "login.html",
        {"next": target, "error": error, "username": username},
        status_code=422,
    )


@router.post("/logout")
async def logout(request: Request, page: UiPage, state: State) -> Response:
    """Revoke this session's token and forget the cookie."""
    page.check_csrf(await request.form())
    me = page.principal
    if me.token_id is not None:
        Accounts(page.store.session).revoke(me.user_id, me.token_id)
        state.forget_principals()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    """Remember the language and go back to the page."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=LANG_MAX_AGE_S, samesite="lax", path="/")
    return response

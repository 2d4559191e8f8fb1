"""Request-scoped dependencies: the database session, the caller, the store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shuangtan.adapters.db.repositories import Accounts, Store
from shuangtan.adapters.settings import Settings
from shuangtan.errors import AuthenticationError
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import Principal

__all__ = ["SESSION_COOKIE", "AppState", "DbSession", "Me", "ScopedStore", "State"]

SESSION_COOKIE = "shuangtan_session"

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass
class AppState:
    """What the app holds for its lifetime."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    library: FactorLibrary


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.shuangtan
    return state


State = Annotated[AppState, Depends(_state)]


def _session(state: State) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, else rolled back."""
    session = state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(_session)]


def _principal(
    request: Request, session: DbSession, token: Annotated[str | None, Depends(oauth2)]
) -> Principal:
    secret = token or request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise AuthenticationError(
            "sign in: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token)",
            field="Authorization",
        )
    if len(secret) > 200:
        raise AuthenticationError("invalid token", field="Authorization")
    principal = Accounts(session).principal(secret)
    request.state.username = principal.username
    return principal


Me = Annotated[Principal, Depends(_principal)]


def _store(session: DbSession, principal: Me) -> Store:
    return Store(session, principal)


ScopedStore = Annotated[Store, Depends(_store)]

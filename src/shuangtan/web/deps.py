"""Request-scoped dependencies: the database session, the caller, the store."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shuangtan.adapters.db.readings import Syncer
from shuangtan.adapters.db.readings_queries import ReadingQueries
from shuangtan.adapters.db.repositories import Accounts, Store
from shuangtan.adapters.keys import KeyVault
from shuangtan.adapters.settings import Settings
from shuangtan.errors import AuthenticationError
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import Principal
from shuangtan.services.credentials import hash_token
from shuangtan.web.jobs import JobRunner

__all__ = [
    "SESSION_COOKIE",
    "AppState",
    "AuthSession",
    "DbSession",
    "Me",
    "ScopedReadings",
    "ScopedStore",
    "State",
]

SESSION_COOKIE = "shuangtan_session"

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


#: How long a verified token is trusted without asking the database again [s]. Revocations
#: and role changes made through this process apply at once; through another, within this.
PRINCIPAL_TTL_S = 2.0
#: Inventory documents kept in memory per process (a park's is ~70 KB).
DOCUMENTS_CACHED = 256


@dataclass
class AppState:
    """What the app holds for its lifetime."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    library: FactorLibrary
    principals: dict[str, tuple[float, Principal]] = field(default_factory=dict)
    #: Makes activity data follow the meters after readings arrive (set by the app).
    syncer: Syncer | None = None
    #: Background jobs (file imports) of this process.
    jobs: JobRunner | None = None

    documents: OrderedDict[int, bytes] = field(default_factory=OrderedDict)
    _vault: KeyVault | None = None

    @property
    def vault(self) -> KeyVault:
        """Signs verification statements with the verifier organisations' keys."""
        if self._vault is None:
            self._vault = KeyVault(self.settings.key_file)
        return self._vault

    def remember_document(self, inventory_id: int, body: bytes) -> bytes:
        """Keep an inventory version's document (immutable) in a small LRU; return it."""
        self.documents[inventory_id] = body
        self.documents.move_to_end(inventory_id)
        while len(self.documents) > DOCUMENTS_CACHED:
            self.documents.popitem(last=False)
        return body

    def forget_principals(self) -> None:
        """Drop every cached token check (after a revocation or a change of roles)."""
        self.principals.clear()

    def start_background(self) -> None:
        """Make the activity sync and the job runner, or a new runner after a stop."""
        if self.syncer is None or self.syncer.closed:
            self.syncer = Syncer(self.sessions, self.library, delay_s=self.settings.sync_delay_s)
        if self.jobs is None or self.jobs.closed:
            self.jobs = JobRunner(self.sessions, self.settings)

    def stop_background(self) -> None:
        """Stop the background work: jobs first (they wake the sync), then the sync.

        Returns when the job runner's thread has ended: a running import stops after its
        current chunk, queued ones end ``failed``; a pending sync pass is cancelled.
        """
        if self.jobs is not None:
            self.jobs.close()
        if self.syncer is not None:
            self.syncer.close()


async def _state(request: Request) -> AppState:
    state: AppState = request.app.state.shuangtan
    return state


State = Annotated[AppState, Depends(_state)]


@contextmanager
def _transaction(state: AppState) -> Iterator[Session]:
    """One transaction: committed when the block ends normally, else rolled back."""
    session = state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _session(state: State) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, else rolled back."""
    with _transaction(state) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a client that reads
# its own write (a token it was just given) always finds it.
DbSession = Annotated[Session, Depends(_session, scope="function")]


def _principal(state: AppState, session: Session, secret: str) -> Principal:
    """The caller behind a token, from the 2-second cache or the database."""
    key = hash_token(secret)
    cached = state.principals.get(key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    principal = Accounts(session).principal(secret)
    if len(state.principals) > 10_000:
        state.principals.clear()
    state.principals[key] = (now + PRINCIPAL_TTL_S, principal)
    return principal


async def _store(
    request: Request, state: State, token: Annotated[str | None, Depends(oauth2)]
) -> AsyncIterator[Store]:
    """Session and caller, on the event loop: no trip to a worker thread.

    The token check is one or two short indexed queries (none while cached), so it runs
    inline; handlers that compute or scan run in the thread pool. The transaction commits
    when the handler returns, before the response is sent, or rolls back on any error.
    """
    secret = token or request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise AuthenticationError(
            "sign in: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token)",
            field="Authorization",
        )
    if len(secret) > 200:
        raise AuthenticationError("invalid token", field="Authorization")
    with _transaction(state) as session:
        yield Store(session, _principal(state, session, secret))


ScopedStore = Annotated[Store, Depends(_store, scope="function")]


async def _readings(store: ScopedStore) -> ReadingQueries:
    return ReadingQueries(store.session, store.principal)


#: The readings API's queries, on the request's session, scoped to the caller.
ScopedReadings = Annotated[ReadingQueries, Depends(_readings)]


async def _me(store: ScopedStore) -> Principal:
    return store.principal


async def _store_session(store: ScopedStore) -> Session:
    return store.session


Me = Annotated[Principal, Depends(_me)]
#: The session of an authenticated request (the same one its ScopedStore uses).
AuthSession = Annotated[Session, Depends(_store_session)]

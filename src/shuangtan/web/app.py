"""The FastAPI application: REST API under ``/api/v1``, ``/health``, one error body everywhere.

Every response carries ``X-Request-ID`` (the caller's, if it sent a sane one, else a new one);
the same id is in every log line of the request and in error bodies.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shuangtan import __version__
from shuangtan.adapters.db.engine import make_engine, make_sessionmaker
from shuangtan.adapters.db.migrate import current_revision
from shuangtan.adapters.settings import Settings
from shuangtan.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ShuangtanError,
)
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import default_library
from shuangtan.web.deps import AppState
from shuangtan.web.errors import PayloadTooLargeError
from shuangtan.web.schemas import EXTRA_COMPONENTS, ErrorBody, Health, add_components
from shuangtan.web.ui.core import LoginRequiredError

__all__ = ["create_app", "request_id"]

log = logging.getLogger("shuangtan.web")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
}

#: Error responses every API route may give, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")}
    for status, code in _STATUS_CODES.items()
    if status in (401, 403, 404, 409, 413, 422)
}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def _error(
    status: int, field: str | None, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "code": _STATUS_CODES.get(status, "error"),
        "field": field,
        "message": message,
        "request_id": request_id.get(),
    }
    return JSONResponse(body, status_code=status, headers=headers)


class RequestContext:
    """Pure ASGI middleware: request id, one log line per request, the last-resort 500.

    (Starlette's ``BaseHTTPMiddleware`` costs about a millisecond per request; this does not.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text_id = incoming.decode("latin-1")
        rid = text_id if _SANE_ID.match(text_id) else _new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            query = scope.get("query_string", b"")
            bad = _nul_parameter(query) if b"%00" in query or b"\x00" in query else None
            if bad is not None:
                # No parameter may carry NUL; PostgreSQL could not even compare it.
                await _error(422, bad, "must not contain NUL characters")(
                    scope, receive, send_with_id
                )
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if status == 0:
                await _error(500, None, "internal error; the request id identifies it in the log")(
                    scope, receive, send_with_id
                )
        finally:
            log.info(
                "%s %s %s %.1fms request_id=%s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                rid,
            )
            request_id.reset(token)


_ID_PREFIX = f"{uuid.uuid4().hex[:12]}{os.getpid():x}-"
_ID_COUNTER = itertools.count(1)


def _new_request_id() -> str:
    """A request id unique across processes and restarts.

    A random prefix per process plus a counter: ``uuid4()`` per request reads the kernel's
    random source each time, which costs a millisecond on some virtual machines.
    """
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


def _nul_parameter(query: bytes) -> str | None:
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key + value:
            return key.replace("\x00", "") or "$"
    return None


def _validation_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "$"


def _validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "json_invalid":
        return f"the body is not valid JSON: {error.get('ctx', {}).get('error', '')}".rstrip(": ")
    message = str(error.get("msg", "is invalid"))
    return message[0].lower() + message[1:] if message else "is invalid"


def create_app(
    settings: Settings | None = None, *, library: FactorLibrary | None = None
) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings or None
        Database URL and token lifetime; read from the environment when omitted.
    library : FactorLibrary or None
        The factor library; the packaged one when omitted.

    Notes
    -----
    The activity sync and the import job runner stop when the server stops (the ASGI
    lifespan's shutdown): a running import ends after its current chunk, queued ones end
    ``failed``, a pending sync pass is cancelled.
    """
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        library=library or default_library(),
    )
    state.start_background()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Background work lives as long as the server: stopped when it stops.

        After a stop, a new start (a test client entered again) gets a new job runner.
        """
        state.start_background()
        try:
            yield
        finally:
            # Waits for the job thread to end: not on the event loop.
            await run_in_threadpool(state.stop_background)

    app = FastAPI(
        lifespan=lifespan,
        title="shuangtan API",
        version=__version__,
        summary="双碳 MRV platform: organisations, activity data, inventories, factors",
        openapi_url="/api/v1/openapi.json",
        # FastAPI's docs pages load Swagger UI from a CDN; shuangtan loads nothing from
        # another host (air-gapped installs), so they are off. The schema is served.
        docs_url=None,
        redoc_url=None,
    )
    app.state.shuangtan = state
    app.add_middleware(RequestContext)

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus the bodies that routes document by reference only."""
        if app.openapi_schema is None:
            add_components(FastAPI.openapi(app), EXTRA_COMPONENTS)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    def _is_page(request: Request) -> bool:
        """Whether the request is for a dashboard page (HTML errors) rather than the API."""
        path = request.url.path
        return not path.startswith(("/api/", "/health", "/static/"))

    def _answer(
        request: Request, status: int, field: str | None, message: str, headers: Any = None
    ) -> Response:
        if _is_page(request):
            from shuangtan.web.ui.pages import error_page

            return error_page(request, status, field, message)
        return _error(status, field, message, headers)

    @app.exception_handler(LoginRequiredError)
    async def _login(request: Request, exc: LoginRequiredError) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    @app.exception_handler(ShuangtanError)
    async def _domain_error(request: Request, exc: ShuangtanError) -> Response:
        if isinstance(exc, NotFoundError):
            return _answer(request, 404, exc.field, exc.message)
        if isinstance(exc, PermissionDeniedError):
            return _answer(request, 403, exc.field, exc.message)
        if isinstance(exc, AuthenticationError):
            return _answer(request, 401, exc.field, exc.message, {"WWW-Authenticate": "Bearer"})
        if isinstance(exc, ConflictError):
            return _answer(request, 409, exc.field, exc.message)
        if isinstance(exc, PayloadTooLargeError):
            return _answer(request, 413, exc.field, exc.message)
        return _answer(request, 422, exc.field, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        return _answer(
            request,
            422,
            _validation_field(tuple(first.get("loc", ()))),
            _validation_message(first),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return _answer(request, exc.status_code, None, message, dict(exc.headers or {}))

    revision: list[str | None] = []

    @app.get("/api", include_in_schema=False)
    async def api_root() -> dict[str, str]:
        """Where things are, for programs (people get the dashboard at ``/``)."""
        return {
            "name": "shuangtan",
            "version": __version__,
            "api": "/api/v1",
            "openapi": "/api/v1/openapi.json",
            "health": "/health",
            "dashboard": "/",
            "guide": "docs/platform/api.md",
        }

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness and versions: the database answers, the schema revision, the library."""
        # SELECT 1 is quicker than a trip to a worker thread: it runs on the event loop.
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if not revision:
            # Migrations run while the service is down; read the revision once per process.
            revision.append(current_revision(engine))
        return {
            "status": "ok",
            "version": __version__,
            "database": engine.dialect.name,
            "schema_revision": revision[0],
            "factor_library": state.library.version,
        }

    from shuangtan.web.api import router
    from shuangtan.web.readings_api import router as readings_router
    from shuangtan.web.reports_api import router as reports_router
    from shuangtan.web.ui import router as ui_router
    from shuangtan.web.verification_api import router as verification_router

    app.include_router(router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.include_router(readings_router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.include_router(verification_router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.include_router(reports_router, prefix="/api/v1", responses=ERROR_RESPONSES)
    app.include_router(ui_router)
    return app

"""What every dashboard page shares: templates, languages, the signed-in caller, CSRF, formats.

Pages are server-rendered Jinja2 on the same services as the API. Text goes through Babel
message catalogs (``locale/<lang>/LC_MESSAGES/*.po``, one file per area of the dashboard,
merged at start); zh-CN is the default, English the second language. The caller is the
dashboard session cookie the API's ``POST /api/v1/auth/session`` also sets; a form that
changes anything carries a CSRF token derived from that session.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from shuangtan import __version__
from shuangtan.adapters.db.repositories import Store
from shuangtan.domain.platform import Role
from shuangtan.errors import AuthenticationError, PermissionDeniedError
from shuangtan.services.access import Action, Principal
from shuangtan.web.deps import SESSION_COOKIE, AppState, State, _principal, _transaction

__all__ = [
    "LANG_COOKIE",
    "LOCALES",
    "N_",
    "LoginRequiredError",
    "Page",
    "Table",
    "UiPage",
    "csrf_token",
    "display_name",
    "render",
    "translations",
]

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
#: Languages of the dashboard, the first the default. Babel's names (``zh_CN``).
LOCALES = ("zh_CN", "en")
LANG_COOKIE = "shuangtan_lang"
#: Each language in its own words, for the switch.
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
#: The HTML ``lang`` attribute of each language.
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "mark, translate later")
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


class LoginRequiredError(Exception):
    """A page was asked for without a valid session: the app answers with the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """All of a language's catalogs merged into one (read from the ``.po`` files at start).

    Reading the ``.po`` text rather than compiled ``.mo`` files keeps one source of truth in
    the repository; compiling ~1,000 messages takes milliseconds, once per process.
    """
    merged = Translations()
    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        merged.merge(Translations(buffer))
    return merged


def pick_locale(request: Request) -> str:
    """The caller's language: the cookie, else the browser's first known one, else zh_CN."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return LOCALES[0]


def fmt_number(locale: str) -> Callable[..., str]:
    """A formatter of numbers for ``locale``: grouping, ``digits`` decimals, '–' for none."""

    def number(value: float | int | None, digits: int = 2) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return str(format_decimal(value, format=pattern, locale=locale))

    return number


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> jinja2.Environment:
    """The Jinja2 environment of one language (autoescaped; gettext from the catalogs)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["num"] = fmt_number(locale)
    env.filters["json_script"] = json_script
    env.globals["locale"] = locale
    env.globals["html_lang"] = HTML_LANG[locale]
    env.globals["locale_name"] = LOCALE_NAMES
    env.globals["version"] = __version__
    env.globals["asset_version"] = _asset_version()
    gettext = translations(locale).gettext
    env.globals["nav_items"] = lambda page: [(href, gettext(label)) for href, label in nav(page)]
    return env


def _asset_version() -> str:
    """A short hash of the static files, so browsers fetch them again after an upgrade."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted((HERE / "static").glob("*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def nav(page: Page) -> list[tuple[str, str]]:
    """The menu entries the caller may use: (path, English label, translated by the caller)."""
    items = [
        ("/", N_("Overview")),
        ("/enterprises", N_("Enterprises")),
        ("/meters", N_("Meters")),
    ]
    if page.can(Action.WRITE_ACTIVITY):
        items.append(("/entry", N_("Data entry")))
    items.append(("/factors", N_("Factor library")))
    items.append(("/verifications", N_("Verification")))
    items.append(("/reports", N_("Reports")))
    items.append(("/audit", N_("Audit trail")))
    if page.is_org_admin:
        items.append(("/admin/users", N_("Users and tokens")))
    else:
        # Everyone manages their own API tokens (the API allows it).
        items.append(("/admin/tokens", N_("API tokens")))
    return items


@dataclass
class Table:
    """Server-side paging and sorting of a table, from and back to the query string.

    Attributes
    ----------
    sort : str
        Column key sorted on (one of the table's allowed keys).
    direction : str
        ``asc`` or ``desc``.
    page : int
        1-based page number.
    size : int
        Rows per page.
    total : int
        Rows in all pages (set by the page once counted).
    """

    request: Request
    sort: str
    direction: str
    page: int
    size: int
    total: int = 0

    @classmethod
    def from_request(
        cls,
        request: Request,
        sorts: tuple[str, ...],
        default: str | None = None,
        direction: str = "asc",
        size: int = 25,
    ) -> Table:
        """Read ``sort``, ``direction`` and ``page`` from the query; unknown values → defaults."""
        q = request.query_params
        sort = q.get("sort") if q.get("sort") in sorts else (default or sorts[0])
        chosen = q.get("direction")
        page_text = q.get("page", "1")
        page_no = int(page_text) if page_text.isascii() and page_text.isdigit() else 1
        return cls(
            request,
            sort or sorts[0],
            chosen if chosen in ("asc", "desc") else direction,
            max(1, min(page_no, 100_000)),
            size,
        )

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int:
        """Pages in all (at least 1)."""
        return max(1, -(-self.total // self.size))

    @property
    def descending(self) -> bool:
        """Whether the sort is descending."""
        return self.direction == "desc"

    def url(self, **changes: Any) -> str:
        """The URL of the table's page with some query parameters changed."""
        params = dict(self.request.query_params)
        params.update({k: str(v) for k, v in changes.items()})
        return self.request.url.path + "?" + urlencode(params)


def display_name(node: Any, locale: str) -> str:
    """An organisation's (or source's, meter's) name in the page's language.

    ``node`` is a model or a mapping with ``name_zh`` and ``name_en``; English falls back to
    the Chinese name when there is none.
    """
    if isinstance(node, Mapping):
        zh, en = node.get("name_zh") or "", node.get("name_en") or ""
    else:
        zh, en = getattr(node, "name_zh", "") or "", getattr(node, "name_en", "") or ""
    return zh if locale == "zh_CN" or not en else en


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a dashboard session: an HMAC of the session secret (never stored).

    Only someone holding the session cookie can compute it, and a cross-site page can read
    neither the cookie nor a page that shows the token.
    """
    return hmac.new(session_secret.encode(), b"shuangtan-csrf", hashlib.sha256).hexdigest()[:40]


@dataclass
class Page:
    """A signed-in dashboard request: the scoped store, the caller, the language, the token."""

    request: Request
    store: Store
    state: AppState
    locale: str
    csrf: str

    @property
    def principal(self) -> Principal:
        """The signed-in user."""
        return self.store.principal

    def gettext(self, message: str) -> str:
        """``message`` in the page's language."""
        return str(translations(self.locale).gettext(message))

    def check_csrf(self, form: Mapping[str, Any]) -> None:
        """Refuse a form that does not carry this session's CSRF token."""
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, self.csrf):
            raise PermissionDeniedError(
                "the form is out of date or came from another site; reload the page", field="csrf"
            )

    def can(self, action: Action) -> bool:
        """Whether the caller may do ``action`` anywhere (to show or hide a menu entry)."""
        prefixes = self.principal.prefixes(action)
        return prefixes is None or bool(prefixes)

    @property
    def is_org_admin(self) -> bool:
        """Whether the caller administers users somewhere (an org or platform admin)."""
        return any(g.role in (Role.ORG_ADMIN, Role.PLATFORM_ADMIN) for g in self.principal.grants)


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


async def _page(request: Request, state: State) -> AsyncIterator[Page]:
    """The signed-in caller of a page, in one transaction; no session → the login page."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or len(secret) > 200:
        raise LoginRequiredError(_next_path(request))
    with _transaction(state) as session:
        try:
            principal = _principal(state, session, secret)
        except AuthenticationError:
            raise LoginRequiredError(_next_path(request)) from None
        yield Page(
            request, Store(session, principal), state, pick_locale(request), csrf_token(secret)
        )


UiPage = Annotated[Page, Depends(_page, scope="function")]


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in; anything else (another host) goes home."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    page: Page | None = None,
    locale: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` in the caller's language as an HTML response."""
    lang = page.locale if page is not None else (locale or pick_locale(request))
    env = environment(lang)
    body = env.get_template(template).render(
        request=request,
        page=page,
        path=request.url.path,
        next_here=quote(_next_path(request), safe="/?=&"),
        **(context or {}),
    )
    response = HTMLResponse(body, status_code=status_code)
    # Pages show one organisation's data to one user: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def json_script(value: Any) -> Markup:
    """``value`` as JSON safe inside ``<script type="application/json">``."""
    import orjson

    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))

"""Error pages of the dashboard (the API answers JSON for the same errors)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from shuangtan.web.ui.core import N_, pick_locale, render, translations

#: Title of each status, English msgids translated per page.
_TITLES = {
    400: N_("The request cannot be read"),
    401: N_("Please sign in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Conflict"),
    413: N_("Too large"),
    422: N_("Please check the input"),
}


def error_page(request: Request, status: int, field: str | None, message: str) -> HTMLResponse:
    """An error as a page in the caller's language; the detail is the service's own text."""
    locale = pick_locale(request)
    title = translations(locale).gettext(_TITLES.get(status, N_("Something went wrong")))
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "field": field},
        locale=locale,
        status_code=status,
    )

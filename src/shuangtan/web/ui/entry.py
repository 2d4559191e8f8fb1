"""Dashboard pages: data entry — a month's activity datum by hand, and files of readings.

``GET /entry`` shows the activity form (source, month, amount, unit, note) and the upload of
a CSV or Excel file of meter readings. ``POST /entry`` checks the datum on the server as the
API does (``POST /api/v1/activity``: it must compute) and answers with the form again, the
message beside the field and the values kept, or goes back to the page with a notice and the
new datum listed. The upload goes from the browser to ``POST /api/v1/imports`` and follows
the job at ``GET /api/v1/jobs/{id}`` (``static/entry.js``). Only callers who may enter
activity data somewhere see the page; others get 403.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, TypeVar, cast

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Select, select

from shuangtan.adapters.db.models import ActivityDatum, EmissionSource, Organization
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from shuangtan.services.access import Action
from shuangtan.services.activity import check_datum, recompute_affected
from shuangtan.web.ui.core import N_, Page, UiPage, display_name, render
from shuangtan.web.ui.meters import REASONS

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

S = TypeVar("S", bound=Select[Any, Any] | Select[Any])
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Data entered by the caller listed under the form.
RECENT = 10
#: Encodings offered for CSV files (``auto`` detects UTF-8, GBK and GB18030).
ENCODINGS = (
    ("auto", N_("Detect automatically")),
    ("utf-8", "UTF-8"),
    ("gbk", "GBK"),
    ("gb18030", "GB18030"),
)
#: Target fields of a file's columns, with their default header.
COLUMNS = (
    ("meter", N_("Meter (id or code)")),
    ("ts", N_("Time")),
    ("value", N_("Value")),
    ("unit", N_("Unit (optional)")),
)
#: Messages of the upload, for entry.js (translated into the page).
UPLOAD_MESSAGES = {
    "uploading": N_("Uploading the file…"),
    "uploaded": N_("Uploaded; waiting for the import to start…"),
    "checking": N_("Checking the file…"),
    "importing": N_("Importing: %(done)s of %(total)s rows"),
    "done": N_("Import finished."),
    "failed": N_("The import failed."),
    "refused": N_("The upload was refused."),
    "network": N_("The connection failed; try again."),
    "choose_file": N_("Choose a CSV or Excel file."),
    "choose_org": N_("Choose an organisation."),
    "mapping": N_("Check the column mapping."),
    "received": N_("Rows read"),
    "stored": N_("Stored"),
    "corrected": N_("Replaced earlier values"),
    "duplicates": N_("Already stored"),
    "quarantined": N_("Quarantined"),
    "quarantine_note": N_("Quarantined rows are listed on each meter's page for correction."),
    "row": N_("Row"),
    "line": N_("Line %(number)s"),
    "reason": N_("Reason"),
    "field": N_("Field"),
}
#: Messages of the checks that compute a datum, by the field they name.
_CHECK_MESSAGES = {
    "amount": N_("This amount cannot be computed for the source."),
    "unit": N_("This unit does not fit the source; leave it empty for the source's unit."),
    "period": N_("No emission factor covers this month."),
    "source_id": N_("This source cannot be computed; ask its administrator to check it."),
}


def _forbidden(page: Page, request: Request) -> Response:
    return render(
        request,
        "error.html",
        {
            "title": page.gettext(N_("Not allowed")),
            "message": page.gettext(N_("Your roles do not allow entering data.")),
            "field": None,
        },
        page=page,
        status_code=403,
    )


def _writable(page: Page, stmt: S) -> S:
    condition = page.store.where(Action.WRITE_ACTIVITY)
    return stmt if condition is None else cast(S, stmt.where(condition))


def _sources(page: Page) -> list[tuple[Organization, list[EmissionSource]]]:
    """Active sources the caller may enter data for, grouped by organisation (tree order)."""
    stmt = _writable(
        page,
        select(EmissionSource, Organization)
        .join(Organization, Organization.id == EmissionSource.org_id)
        .where(EmissionSource.active.is_(True)),
    ).order_by(Organization.path, EmissionSource.code)
    groups: dict[int, tuple[Organization, list[EmissionSource]]] = {}
    rows: list[tuple[EmissionSource, Organization]] = [
        (source, org) for source, org in page.store.session.execute(stmt)
    ]
    for source, org in rows:
        groups.setdefault(org.id, (org, []))[1].append(source)
    return list(groups.values())


def _orgs(page: Page) -> list[Organization]:
    """Organisations the caller may import readings for (enterprises and facilities)."""
    stmt = _writable(
        page, select(Organization).where(Organization.kind.in_(("enterprise", "facility")))
    )
    return list(page.store.session.scalars(stmt.order_by(Organization.path)))


def _recent(page: Page, created: int | None) -> list[dict[str, Any]]:
    """The data the caller entered last (and the one just made), newest first."""
    stmt = select(ActivityDatum, EmissionSource).join(
        EmissionSource, EmissionSource.id == ActivityDatum.source_id
    )
    stmt = stmt.join(Organization, Organization.id == EmissionSource.org_id)
    condition = page.store.where(Action.READ)
    if condition is not None:
        stmt = stmt.where(condition)
    mine = ActivityDatum.updated_by == page.principal.user_id
    if created is not None:
        mine = mine | (ActivityDatum.id == created)
    rows = page.store.session.execute(
        stmt.where(mine).order_by(ActivityDatum.updated_at.desc()).limit(RECENT)
    ).all()
    return [
        {
            "id": datum.id,
            "source_code": source.code,
            "source_name": display_name(source, page.locale),
            "month": f"{datum.period_start:%Y-%m}",
            "months": (datum.period_end.year - datum.period_start.year) * 12
            + datum.period_end.month
            - datum.period_start.month,
            "amount": datum.amount,
            "unit": datum.unit,
            "note": datum.note,
            "version": datum.version,
            "new": datum.id == created,
        }
        for datum, source in rows
    ]


def _render(
    page: Page,
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: int | None = None,
    status_code: int = 200,
) -> Response:
    groups = _sources(page)
    return render(
        request,
        "entry.html",
        {
            "groups": [
                (
                    f"{org.code} {display_name(org, page.locale)}",
                    [(s.id, s.code, display_name(s, page.locale), s.unit) for s in sources],
                )
                for org, sources in groups
            ],
            "values": values
            or {"source_id": "", "month": _last_month(), "amount": "", "unit": "", "note": ""},
            "errors": errors or {},
            "created": created,
            "recent": _recent(page, created),
            "orgs": [(o.id, o.code, display_name(o, page.locale)) for o in _orgs(page)],
            "encodings": [(k, page.gettext(v) if k == "auto" else v) for k, v in ENCODINGS],
            "columns": [(k, page.gettext(v)) for k, v in COLUMNS],
            "upload_messages": {
                **{k: page.gettext(v) for k, v in UPLOAD_MESSAGES.items()},
                "reasons": {k: page.gettext(v) for k, v in REASONS.items()},
            },
        },
        page=page,
        status_code=status_code,
    )


def _last_month() -> str:
    today = dt.date.today()
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first:%Y-%m}"


@router.get("/entry")
def entry_form(request: Request, page: UiPage) -> Response:
    """The activity form and the file upload."""
    if not page.can(Action.WRITE_ACTIVITY):
        return _forbidden(page, request)
    created_text = request.query_params.get("created", "")
    created = int(created_text) if created_text.isascii() and created_text.isdigit() else None
    return _render(page, request, created=created if created and created < 2**31 else None)


def _amount(text: str) -> float | None:
    try:
        value = float(text.replace(",", "").replace("，", "").replace(" ", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@router.post("/entry")
async def entry_submit(request: Request, page: UiPage) -> Response:
    """Check and store an activity datum; the form again with the messages, or the notice."""
    form = await request.form()
    page.check_csrf(form)
    if not page.can(Action.WRITE_ACTIVITY):
        return _forbidden(page, request)
    values = {
        key: str(form.get(key) or "").strip()[:limit]
        for key, limit in (
            ("source_id", 12),
            ("month", 10),
            ("amount", 40),
            ("unit", 60),
            ("note", 2100),
        )
    }
    errors: dict[str, str] = {}
    source: EmissionSource | None = None
    if not values["source_id"].isdigit():
        errors["source_id"] = N_("Choose a source.")
    else:
        try:
            source = page.store.get_source(
                int(values["source_id"]), Action.WRITE_ACTIVITY, field="source_id"
            )
        except (NotFoundError, PermissionDeniedError):
            errors["source_id"] = N_("Choose a source you may enter data for.")
    match = _MONTH.match(values["month"])
    start = end = None
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        errors["month"] = N_("Enter a month as YYYY-MM, between 2000 and 2100.")
    else:
        year, month = int(match.group(1)), int(match.group(2))
        start = dt.date(year, month, 1)
        end = dt.date(year + (month == 12), month % 12 + 1, 1)
    amount = _amount(values["amount"]) if values["amount"] else None
    if not values["amount"]:
        errors["amount"] = N_("Enter the amount.")
    elif amount is None or amount < 0:
        errors["amount"] = N_("Enter a number of zero or more.")
    if len(values["unit"]) > 40:
        errors["unit"] = N_("At most 40 characters.")
    if len(values["note"]) > 2000:
        errors["note"] = N_("At most 2000 characters.")
    if errors or source is None or start is None or end is None or amount is None:
        return _render(page, request, values=values, errors=errors, status_code=422)
    unit = values["unit"] or source.unit
    try:
        check_datum(
            page.store.source_row(source),
            period_start=start,
            period_end=end,
            amount=amount,
            unit=unit,
            library=page.state.library,
        )
        datum = page.store.create_activity(
            {
                "source_id": source.id,
                "period_start": start,
                "period_end": end,
                "amount": amount,
                "unit": unit,
                "note": values["note"],
                "origin": "entered",
            }
        )
    except ConflictError:  # the store rolled the flush back
        errors["month"] = N_("This source already has a datum for this month; correct it there.")
    except InputError as exc:
        field = {"period_start": "period", "period_end": "period"}.get(exc.field or "", exc.field)
        key = field if field in _CHECK_MESSAGES else "source_id"
        errors["month" if key == "period" else key] = _CHECK_MESSAGES[key]
    if errors:
        return _render(page, request, values=values, errors=errors, status_code=422)
    why = f"activity {datum.id} entered ({source.code} {datum.period_start:%Y-%m})"
    # As the API does: current inventories covering the datum follow it, by the platform.
    recompute_affected(
        Store(page.store.session, SYSTEM),
        page.state.library,
        source.org_id,
        [(datum.period_start, datum.period_end)],
        user_id=page.principal.user_id,
        reason=why,
    )
    return RedirectResponse(f"/entry?created={datum.id}#recent", status_code=303)

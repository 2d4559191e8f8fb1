"""Dashboard page of reports and of recalculating many inventories, both run as jobs.

``GET /reports`` offers the report form — kind, organisation (those the caller can read),
period, format and language — and lists the reports generated for the organisations the caller
can read (newest first, paged on the server; ``?org=`` keeps one organisation's subtree and
picks it in the form). The form starts a job through ``POST /api/v1/reports`` and follows it at
``GET /api/v1/jobs/{id}`` with a progress bar (``static/jobs.js``); when it is done the page
offers the file (``GET /api/v1/reports/{id}``) and lists it.

Callers who may recompute an organisation's inventories also get the form that recalculates
every inventory of an organisation's subtree for a year (``POST /api/v1/inventories/recompute``),
followed the same way. A recalculation never edits a version: it adds one beside it, so a
verified version stays as it was signed.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from shuangtan.adapters.db.models import Inventory, Organization
from shuangtan.adapters.db.records import report_files
from shuangtan.domain.platform import OrgKind
from shuangtan.services.access import Action
from shuangtan.web.ui.core import N_, Page, Table, UiPage, display_name, render
from shuangtan.web.ui.overview import local_time
from shuangtan.web.ui.verification import file_size

__all__ = ["FORMATS", "KINDS", "router"]

router = APIRouter(include_in_schema=False)

OptId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
#: Reports per page of the list.
PAGE_SIZE: Final = 20
#: Kinds of report (``shuangtan.reports.KINDS``) and the organisations each is made for.
KINDS: Final = {
    "inventory": (
        N_("Greenhouse gas inventory report (national accounting guidelines)"),
        (OrgKind.ENTERPRISE.value,),
    ),
    "inventory_iso": (
        N_("Greenhouse gas inventory report (ISO 14064-1)"),
        (OrgKind.ENTERPRISE.value,),
    ),
    "park": (N_("Park or region summary"), (OrgKind.PARK.value, OrgKind.REGION.value)),
    "monthly": (N_("Monthly energy and emissions statement"), (OrgKind.ENTERPRISE.value,)),
}
#: Output formats (``shuangtan.reports.FORMATS``).
FORMATS: Final = {
    "pdf": N_("PDF"),
    "html": N_("Web page (HTML)"),
    "xlsx": N_("Excel workbook"),
    "json": N_("JSON (for programs)"),
}
#: Languages of a report, each in its own words.
LANGUAGES: Final = (("zh_CN", "中文"), ("en", "English"))
#: Organisations a report or a recalculation can be about.
_KINDS_SHOWN: Final = (OrgKind.REGION.value, OrgKind.PARK.value, OrgKind.ENTERPRISE.value)
#: Texts of the job forms, for jobs.js (translated into the page).
JOB_MESSAGES: Final = {
    "starting": N_("Starting…"),
    "queued": N_("Waiting for the job to start…"),
    "running": N_("Working…"),
    "progress": N_("%(done)s of %(total)s done"),
    "report_done": N_("The report is ready."),
    "recompute_done": N_("Finished: %(done)s inventories recalculated."),
    "failed": N_("The job failed."),
    "refused": N_("The request was refused."),
    "network": N_("The connection failed; try again."),
    "download": N_("Download the report"),
    "missing": N_("This server does not offer it yet."),
    "org_id": N_("Choose an organisation this report can be made for."),
    "period": N_("Enter a year (2025) or, for the monthly statement, a month (2025-03)."),
    "reason": N_("Give a reason of at most 500 characters."),
}


def _orgs(page: Page, action: Action = Action.READ) -> list[Organization]:
    """Regions, parks and enterprises the caller may act on, in tree order."""
    stmt = select(Organization).where(Organization.kind.in_(_KINDS_SHOWN))
    condition = page.store.where(action)
    if condition is not None:
        stmt = stmt.where(condition)
    return list(page.store.session.scalars(stmt.order_by(Organization.path)))


def _years(page: Page) -> list[str]:
    """Years with a current inventory the caller can read, newest first."""
    stmt = (
        select(Inventory.period)
        .join(Organization, Organization.id == Inventory.org_id)
        .where(Inventory.status == "current")
        .distinct()
    )
    condition = page.store.where(Action.READ)
    if condition is not None:
        stmt = stmt.where(condition)
    periods = page.store.session.scalars(stmt)
    return sorted({p for p in periods if len(p) == 4 and p.isdigit()}, reverse=True)


def _indent(org: Organization, depth0: int) -> str:
    depth = org.path.strip("/").count("/") - depth0
    return "\u3000" * max(depth, 0)


@router.get("/reports")
def reports_page(request: Request, page: UiPage, org: OptId = None) -> Response:
    """The report form, the recalculation form, and the reports generated so far."""
    store = page.store
    gettext = page.gettext
    within = store.get_org(org) if org is not None else None
    table = Table.from_request(request, ("created",), default="created", direction="desc")
    table.size = PAGE_SIZE
    found, table.total = report_files(
        store,
        within=within,
        newest_first=table.descending,
        limit=table.size,
        offset=table.offset,
    )
    rows = [
        {
            "id": report.id,
            "created": local_time(report.created_at),
            "org": (report_org.code, display_name(report_org, page.locale)),
            "kind": gettext(KINDS[report.kind][0]) if report.kind in KINDS else report.kind,
            "period": report.period,
            "fmt": gettext(FORMATS[report.fmt]) if report.fmt in FORMATS else report.fmt,
            "lang": dict(LANGUAGES).get(report.lang, report.lang),
            "filename": report.filename,
            "size": file_size(page, report.size),
            "sha256": report.sha256,
        }
        for report, report_org in found
    ]
    readable = _orgs(page)
    depth0 = min((o.path.strip("/").count("/") for o in readable), default=0)
    recomputable = [o for o in _orgs(page, Action.RECOMPUTE) if o.kind != OrgKind.ENTERPRISE.value]
    years = _years(page)
    chosen = within.id if within is not None else None
    context = {
        "rows": rows,
        "table": table,
        "within": (within.id, display_name(within, page.locale)) if within else None,
        "kinds": [(k, gettext(label), " ".join(kinds)) for k, (label, kinds) in KINDS.items()],
        "formats": [(k, gettext(label)) for k, label in FORMATS.items()],
        "languages": LANGUAGES,
        "orgs": [
            (o.id, f"{_indent(o, depth0)}{o.code} {display_name(o, page.locale)}", o.kind)
            for o in readable
        ],
        "chosen": chosen,
        "chosen_kind": "inventory" if within is None or within.kind == "enterprise" else "park",
        "years": years,
        "year": years[0] if years else "",
        "recomputable": [(o.id, f"{o.code} {display_name(o, page.locale)}") for o in recomputable],
        "job_messages": {k: gettext(v) for k, v in JOB_MESSAGES.items()},
    }
    return render(request, "reports.html", context, page=page)

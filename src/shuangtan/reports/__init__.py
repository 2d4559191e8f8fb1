"""Reports: the enterprise GHG inventory report, the park summary, the monthly statement.

A front door beside ``web``: :mod:`~shuangtan.reports.data` gathers a report's document
through the caller's scoped store, :mod:`~shuangtan.reports.render` renders it as HTML, PDF,
Excel or JSON in Chinese or English, :mod:`~shuangtan.reports.workbook` reads an exported
workbook back (and re-imports its activity data). :func:`generate` does all of it for the job
runner, the API and the CLI (:mod:`~shuangtan.reports.commands`).

::

    from shuangtan.reports import ReportRequest, generate
    report = generate(store, ReportRequest("inventory", org_id=4, period="2025", fmt="pdf"))
    Path(report.filename).write_bytes(report.content)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from shuangtan.errors import InputError

if TYPE_CHECKING:
    from shuangtan.adapters.db.repositories import Store

__all__ = [
    "FORMATS",
    "KINDS",
    "GeneratedReport",
    "ReportRequest",
    "build_document",
    "filename",
    "generate",
]

#: The kinds of report: inventory (MEE/NDRC structure), inventory_iso (ISO 14064-1), park
#: (a park's or a region's summary), monthly (a month's energy and emissions statement).
KINDS: Final = ("inventory", "inventory_iso", "park", "monthly")
#: Output formats.
FORMATS: Final = ("html", "pdf", "xlsx", "json")
_LANGS: Final = ("zh_CN", "en")
_EXTENSIONS: Final = {"html": "html", "pdf": "pdf", "xlsx": "xlsx", "json": "json"}
_SAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What report to make.

    Attributes
    ----------
    kind : str
        ``inventory``, ``inventory_iso``, ``park`` or ``monthly``.
    org_id : int
        The organisation (an enterprise, or a park or region for ``park``).
    period : str
        ``2025`` (also ``2025-Q1`` or ``2025-03``); for ``monthly``, the month ``2025-03``.
    fmt : str
        ``html``, ``pdf``, ``xlsx`` or ``json``.
    lang : str
        ``zh_CN`` or ``en``.
    """

    kind: str
    org_id: int
    period: str
    fmt: str = "pdf"
    lang: str = "zh_CN"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"must be one of {', '.join(KINDS)}; got {self.kind!r}", field="kind")
        if self.fmt not in FORMATS:
            raise InputError(
                f"must be one of {', '.join(FORMATS)}; got {self.fmt!r}", field="format"
            )
        if self.lang not in _LANGS:
            raise InputError(f"must be one of {', '.join(_LANGS)}; got {self.lang!r}", field="lang")
        if isinstance(self.org_id, bool) or not isinstance(self.org_id, int) or self.org_id < 1:
            raise InputError("must be a positive integer", field="org_id")


@dataclass(frozen=True, slots=True)
class GeneratedReport:
    """A rendered report.

    Attributes
    ----------
    filename : str
        ASCII file name: ``JS-SGX-E01-2025-inventory-zh_CN.pdf``.
    media_type : str
        Its media type (``application/pdf`` …).
    content : bytes
        The file.
    sha256 : str
        SHA-256 of ``content``, hex.
    """

    filename: str
    media_type: str
    content: bytes
    sha256: str


def filename(code: str, period: str, kind: str, lang: str, fmt: str) -> str:
    """The ASCII file name of a report: ``<org code>-<period>-<kind>-<lang>.<ext>``."""
    stem = "-".join(
        _SAFE.sub("_", part).strip("_") or "x"
        for part in (code, period, kind.replace("_", "-"), lang)
    )
    return f"{stem}.{_EXTENSIONS[fmt]}"


def build_document(
    store: Store,
    request: ReportRequest,
    *,
    verification: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The document of a request (what :func:`generate` renders)."""
    from shuangtan.reports.data import inventory_report, monthly_statement, park_report

    if request.kind in ("inventory", "inventory_iso"):
        return inventory_report(
            store,
            request.org_id,
            request.period,
            variant="iso" if request.kind == "inventory_iso" else "mee",
            verification=verification,
        )
    if request.kind == "park":
        return park_report(store, request.org_id, request.period, on_progress=on_progress)
    return monthly_statement(store, request.org_id, request.period)


def generate(
    store: Store,
    request: ReportRequest,
    *,
    verification: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> GeneratedReport:
    """Make a report: gather its document through the caller's store and render it.

    Parameters
    ----------
    store : Store
        The caller's scoped store: the report shows what the caller may read.
    request : ReportRequest
        Kind, organisation, period, format and language.
    verification : mapping, optional
        The verification statement of an inventory report (see
        :func:`~shuangtan.reports.data.inventory_report`).
    on_progress : callable, optional
        ``on_progress(done, total)`` while a park report gathers its enterprises.

    Raises
    ------
    NotFoundError
        The organisation is not visible or has no current inventory for the period.
    InputError
        A bad period, or an organisation of the wrong kind for the report.
    """
    from shuangtan.reports.render import MEDIA_TYPES, render

    doc = build_document(store, request, verification=verification, on_progress=on_progress)
    content = render(doc, request.fmt, request.lang)
    return GeneratedReport(
        filename=filename(
            doc["organization"]["code"],
            doc["period"]["label"],
            request.kind,
            request.lang,
            request.fmt,
        ),
        media_type=MEDIA_TYPES[request.fmt],
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
    )

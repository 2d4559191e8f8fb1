"""Rendering of report documents: HTML, PDF, Excel and JSON, in Chinese or English.

One Jinja2 template per report (``templates/inventory.html``, ``park.html``,
``monthly.html``) renders the HTML; the PDF is that same HTML laid out by WeasyPrint with the
template's print stylesheet (A4, running header, page numbers, Noto Sans CJK SC). Charts are
SVG from :mod:`shuangtan.reports.charts`, inline in the HTML, so page and PDF show the same
drawing. Nothing is fetched from the network: the stylesheet is inline, fonts come from
fontconfig, and WeasyPrint's URL fetcher refuses anything but ``file:`` and ``data:``.

JSON is the document itself (keys sorted); Excel is
:func:`~shuangtan.reports.workbook.write_workbook`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import cache
from math import fsum
from pathlib import Path
from typing import Any, Final

import orjson
from markupsafe import Markup

from shuangtan.errors import InputError
from shuangtan.reports import charts
from shuangtan.reports.labels import (
    LANGS,
    carrier_label,
    category_label,
    clause_label,
    factor_source,
    fmt_number,
    fmt_percent,
    label,
    name,
    section_heading,
    sector_label,
    translate_warning,
)

__all__ = ["FORMATS", "MEDIA_TYPES", "render", "render_html", "to_pdf"]

HERE: Final = Path(__file__).resolve().parent
TEMPLATES: Final = HERE / "templates"
#: The formats of :func:`render`, with their media types and file extensions.
MEDIA_TYPES: Final[dict[str, str]] = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
FORMATS: Final[tuple[str, ...]] = tuple(MEDIA_TYPES)
_TEMPLATE_OF: Final = {
    "inventory": "inventory.html",
    "park": "park.html",
    "monthly": "monthly.html",
}
#: Parameters of a source shown as its details (values only: keys are codes).
_DETAIL_ORDER: Final = ("fuel", "region", "gas", "carbonate", "species", "carrier", "basis")


@cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def _stylesheet() -> str:
    return (TEMPLATES / "report.css").read_text(encoding="utf-8")


def _check(fmt: str, lang: str) -> None:
    if fmt not in MEDIA_TYPES:
        raise InputError(f"must be one of {', '.join(FORMATS)}; got {fmt!r}", field="format")
    if lang not in LANGS:
        raise InputError(f"must be one of {', '.join(LANGS)}; got {lang!r}", field="lang")


def render(doc: Mapping[str, Any], fmt: str, lang: str) -> bytes:
    """A report document rendered as ``html``, ``pdf``, ``xlsx`` or ``json``.

    Parameters
    ----------
    doc : mapping
        A document of :mod:`shuangtan.reports.data`.
    fmt : str
        ``html``, ``pdf``, ``xlsx`` or ``json``.
    lang : str
        ``zh_CN`` or ``en`` (JSON has no language: it is the document).

    Raises
    ------
    InputError
        An unknown format or language (``field`` ``format`` or ``lang``).
    """
    _check(fmt, lang)
    if fmt == "json":
        return orjson.dumps(
            doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
        )
    if fmt == "xlsx":
        from shuangtan.reports.workbook import write_workbook

        return write_workbook(doc, lang)
    html = render_html(doc, lang)
    if fmt == "html":
        return html.encode("utf-8")
    return to_pdf(html)


# --- HTML -----------------------------------------------------------------------------------


def _details(params: Mapping[str, Any]) -> str:
    ordered = [k for k in _DETAIL_ORDER if k in params] + sorted(
        k for k in params if k not in _DETAIL_ORDER
    )
    values = [params[k] for k in ordered]
    return " · ".join(
        str(v)
        for v in values
        if isinstance(v, str | int | float) and not isinstance(v, bool) and v != ""
    )


def _date(text: str | None) -> str:
    return text or "–"


def _time(text: str | None) -> str:
    """``2025-03-01T08:00:00.123Z`` → ``2025-03-01 08:00 UTC``."""
    if not text:
        return "–"
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(start: str, end: str) -> str:
    """A datum's period: ``2025-03`` for a calendar month, else its first and last day."""
    first = dt.date.fromisoformat(start)
    stop = dt.date.fromisoformat(end)
    nxt = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    if first.day == 1 and stop == nxt:
        return f"{first.year:04d}-{first.month:02d}"
    return f"{first.isoformat()} – {(stop - dt.timedelta(days=1)).isoformat()}"


def _compact(value: float | None, lang: str) -> str:
    """An amount in a narrow cell: fewer decimals the larger it is (the Excel has them all)."""
    if value is None:
        return ""
    size = abs(value)
    digits = 0 if size >= 100_000 else 1 if size >= 1_000 else 2 if size >= 1 else 4
    return fmt_number(value, digits, lang)


def activity_matrix(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The activity data of an inventory report arranged as the guideline tables have them.

    Per source: the amounts of the twelve calendar months of one year in a row (``months``,
    None where there is no datum), their total, the unit, the origins and the highest version;
    a source whose data are not calendar months of one year keeps its data as a list
    (``irregular``).
    """
    by_source: dict[str, list[Mapping[str, Any]]] = {}
    for row in doc["activity"]:
        by_source.setdefault(row["source_code"], []).append(row)
    out: list[dict[str, Any]] = []
    for source in doc["sources"]:
        rows = by_source.get(source["code"], [])
        if not rows:
            continue
        months: list[float | None] = [None] * 12
        regular = (
            len({r["unit"] for r in rows}) == 1 and len({r["period_start"][:4] for r in rows}) == 1
        )
        for r in rows:
            label_ = _span(r["period_start"], r["period_end"])
            if not regular or len(label_) != 7 or months[int(label_[5:]) - 1] is not None:
                regular = False
                break
            months[int(label_[5:]) - 1] = r["amount"]
        origins: dict[str, int] = {}
        for r in rows:
            origins[r["origin"] or "unknown"] = origins.get(r["origin"] or "unknown", 0) + 1
        out.append(
            {
                "source": source,
                "unit": rows[0]["unit"],
                "months": months if regular else None,
                "total": fsum(r["amount"] for r in rows) if regular else None,
                "origins": sorted(origins.items()),
                "version": max((r["version"] or 1) for r in rows),
                "irregular": [] if regular else rows,
            }
        )
    return out


def _page_strings(lang: str) -> tuple[str, str, str]:
    text = label("page", lang)
    before, rest = text.split("{page}", 1)
    middle, after = rest.split("{pages}", 1)
    return before, middle, after


def _helpers(lang: str) -> dict[str, Callable[..., Any]]:
    def num(value: float | int | None, digits: int = 2) -> str:
        return fmt_number(value, digits, lang)

    def pct(value: float | None, digits: int = 1) -> str:
        return fmt_percent(value, lang, digits)

    def t(key: str, **values: Any) -> str:
        return label(key, lang, **values)

    def heading(section: str, number: int) -> str:
        return section_heading(section, number, lang)

    def optional(key: str, fallback: str) -> str:
        try:
            return label(key, lang)
        except KeyError:
            return fallback

    return {
        "t": t,
        "num": num,
        "pct": pct,
        "heading": heading,
        "name": lambda node: name(node, lang),
        "category": lambda code: category_label(code, lang),
        "sector": lambda code: sector_label(code, lang),
        "carrier": lambda code: carrier_label(code, lang),
        "method": lambda code: optional(f"method.{code}", code),
        "origin": lambda code: optional(f"origin.{code or 'unknown'}", code or "–"),
        "status": lambda code: optional(f"status.{code}", code or "–"),
        "match": lambda code: optional(f"match.{code}", code) if code else "",
        "kind": lambda code: optional(f"kind.{code}", code),
        "quality_status": lambda code: optional(f"quality.status.{code}", code),
        "warning": lambda text: translate_warning(text, lang),
        "factor_source": lambda entry: factor_source(entry, lang),
        "clause": lambda text: clause_label(text, lang),
        "details": _details,
        "span": _span,
        "compact": lambda value: _compact(value, lang),
        "date": _date,
        "time": _time,
    }


def _svg(markup: str) -> Markup:
    return Markup(markup)  # our own matplotlib output


def _inventory_charts(doc: Mapping[str, Any], lang: str) -> dict[str, Markup]:
    totals = doc["totals"]
    out: dict[str, Markup] = {}
    months = totals["monthly"]
    if months:
        year = doc["period"]["start"][:4]
        within_year = len({m["month"][:4] for m in months}) == 1
        out["monthly"] = _svg(
            charts.monthly_chart(
                [m["month"][5:] if within_year else m["month"] for m in months],
                [m["co2e_t"] for m in months],
                [m["energy_tce"] for m in months] if totals["energy_tce"] else None,
                x_label=label("chart.month_axis", lang, year=year),
                co2e_label=label("chart.co2e", lang),
                energy_label=label("chart.tce", lang),
                salt="monthly",
            )
        )
    categories = totals["by_category"]
    if categories:
        out["category"] = _svg(
            charts.bar_chart(
                [category_label(c["category"], lang) for c in categories],
                [c["co2e_t"] for c in categories],
                unit=label("chart.co2e", lang),
                salt="category",
                horizontal=True,
            )
        )
    if doc["variant"] == "iso":
        out["iso"] = _svg(
            charts.bar_chart(
                [str(c["category"]) for c in totals["by_iso_category"]],
                [c["co2e_t"] for c in totals["by_iso_category"]],
                unit=label("chart.co2e", lang),
                salt="iso",
            )
        )
    elif totals["by_scope"]:
        out["scope"] = _scope_chart(totals, lang)
    return out


def _scope_chart(totals: Mapping[str, Any], lang: str) -> Markup:
    """Emissions by scope [tCO2e], the chart the inventory and park reports share."""
    return _svg(
        charts.bar_chart(
            [label(f"scope.{s['scope']}", lang) for s in totals["by_scope"]],
            [s["co2e_t"] for s in totals["by_scope"]],
            unit=label("chart.co2e", lang),
            salt="scope",
        )
    )


def _park_charts(doc: Mapping[str, Any], lang: str) -> dict[str, Markup]:
    totals = doc["totals"]
    out: dict[str, Markup] = {}
    if totals["by_sector"]:
        out["sectors"] = _svg(
            charts.bar_chart(
                [sector_label(s["sector"], lang) for s in totals["by_sector"]],
                [s["co2e_t"] for s in totals["by_sector"]],
                unit=label("chart.co2e", lang),
                salt="sectors",
                horizontal=True,
            )
        )
    if totals["top"]:
        out["top"] = _svg(
            charts.bar_chart(
                [name(r, lang) for r in totals["top"]],
                [r["co2e_t"] for r in totals["top"]],
                unit=label("chart.co2e", lang),
                salt="top",
                horizontal=True,
            )
        )
    with_intensity = sorted(
        (e for e in doc["enterprises"] if e["intensity_t_per_10k_cny"] is not None),
        key=lambda e: (-e["intensity_t_per_10k_cny"], e["code"]),
    )
    if with_intensity:
        out["intensity"] = _svg(
            charts.bar_chart(
                [name(e, lang) for e in with_intensity],
                [e["intensity_t_per_10k_cny"] for e in with_intensity],
                unit=label("chart.intensity", lang),
                salt="intensity",
                horizontal=True,
            )
        )
    if totals["by_scope"]:
        out["scope"] = _scope_chart(totals, lang)
    return out


def _monthly_charts(doc: Mapping[str, Any], lang: str) -> dict[str, Markup]:
    out: dict[str, Markup] = {}
    energy = [e for e in doc["energy"]["from_activity"] if e["energy_tce"]]
    if energy:
        out["energy"] = _svg(
            charts.bar_chart(
                [carrier_label(e["carrier"], lang) for e in energy],
                [e["energy_tce"] for e in energy],
                unit=label("chart.tce", lang),
                salt="energy",
                horizontal=True,
            )
        )
    categories = [c for c in doc["totals"]["by_category"] if c["co2e_t"]]
    if categories:
        out["category"] = _svg(
            charts.bar_chart(
                [category_label(c["category"], lang) for c in categories],
                [c["co2e_t"] for c in categories],
                unit=label("chart.co2e", lang),
                salt="category",
                horizontal=True,
            )
        )
    return out


_CHARTS: Final = {
    "inventory": _inventory_charts,
    "park": _park_charts,
    "monthly": _monthly_charts,
}


def render_html(doc: Mapping[str, Any], lang: str) -> str:
    """The report as one self-contained HTML page (inline stylesheet and charts).

    The same page is what :func:`to_pdf` lays out: its stylesheet carries the print rules.
    """
    _check("html", lang)
    kind = doc.get("report")
    if kind not in _TEMPLATE_OF:
        raise InputError(f"unknown report kind {kind!r}", field="report")
    template = _environment().get_template(_TEMPLATE_OF[kind])
    before, middle, after = _page_strings(lang)
    context = {
        "doc": doc,
        "lang": lang,
        "html_lang": "zh-CN" if lang == "zh_CN" else "en",
        "colon": "：" if lang == "zh_CN" else ": ",
        "stylesheet": Markup(_stylesheet()),  # our packaged file
        "page_before": before,
        "page_middle": middle,
        "page_after": after,
        "charts": _CHARTS[kind](doc, lang),
        "matrix": activity_matrix(doc) if kind == "inventory" else [],
        **_helpers(lang),
    }
    html: str = template.render(context)
    return html


# --- PDF ------------------------------------------------------------------------------------


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    # Reports need nothing from outside; anything else than file: and data: is refused, and a
    # refusal stops the rendering instead of leaving a hole.
    return URLFetcher(allowed_protocols=("file", "data"), fail_on_errors=True, timeout=1)


def to_pdf(html: str) -> bytes:
    """Lay an HTML report out as PDF (A4) with WeasyPrint; fonts are embedded (subsets).

    Raises
    ------
    InputError
        The page refers to something other than ``file:`` or ``data:`` (nothing is fetched).
    """
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import FatalURLFetchingError

    try:
        document = HTML(string=html, base_url=str(TEMPLATES) + "/", url_fetcher=_fetcher())
        pdf: bytes = document.write_pdf()
    except FatalURLFetchingError as exc:  # a BaseException: made an ordinary error here
        cause = exc.__cause__ or exc
        raise InputError(f"refused to fetch a resource: {cause}", field="html") from None
    return pdf

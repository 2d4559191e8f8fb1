"""Dashboard pages: the factor library, searched, sorted and paged on the server.

``GET /factors`` lists the library's factors (one row per vintage) with their value, unit,
gas, region, validity, source document and confirmation status; the search is the API's
(``GET /api/v1/factors``: text in key, gas, region, source and notes, or the Chinese or English
name of a fuel, region, species or carbonate), narrowed further by the category (the first two
parts of the key). ``GET /factors/{key}`` shows every vintage of one key, per gas and region,
and the sources they come from. Readable by every signed-in user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shuangtan.domain.factors import Factor, FactorStatus
from shuangtan.errors import NotFoundError
from shuangtan.factors import FactorLibrary
from shuangtan.web import api
from shuangtan.web.ui.core import N_, Table, UiPage, render

router = APIRouter(include_in_schema=False)

#: Columns the list sorts on (query ``sort=``).
SORTS = ("key", "gas", "region", "value", "unit", "valid_from", "valid_to", "source", "status")
#: Rows per page of the list.
PAGE_SIZE = 25
#: The confirmation statuses, in the order of trust, with their labels and badge styles.
STATUS_LABELS = {
    FactorStatus.CONFIRMED.value: N_("Confirmed"),
    FactorStatus.CORROBORATED.value: N_("Corroborated"),
    FactorStatus.UNCONFIRMED.value: N_("Unconfirmed"),
    FactorStatus.USER.value: N_("Given by the user"),
}
STATUS_HELP = {
    FactorStatus.CONFIRMED.value: N_("Seen in an official text."),
    FactorStatus.CORROBORATED.value: N_(
        "Seen in third-party material, checked by arithmetic or a second source."
    ),
    FactorStatus.UNCONFIRMED.value: N_("From one unchecked source: verify before relying on it."),
}
STATUS_BADGE = {"confirmed": "ok", "corroborated": "", "unconfirmed": "warn", "user": ""}
#: The gas filter's value for factors that are not per gas (parameters such as NCV).
NO_GAS = "-"

Text = Annotated[str, Query(max_length=100)]


def category_of(key: str) -> str:
    """The category of a library key: its first two parts (``cn.fuel``, ``gwp.ar6``)."""
    return ".".join(key.split(".")[:2])


def format_value(locale: str) -> Callable[[float], str]:
    """A formatter of factor values: grouping, up to 10 decimals, nothing rounded away."""

    def value(number: float) -> str:
        return str(format_decimal(number, format="#,##0.##########", locale=locale))

    return value


def region_label(library: FactorLibrary, code: str, locale: str) -> str:
    """A region's name in ``locale`` (the code itself when the names table lacks it)."""
    try:
        name = library.name("region", code)
    except KeyError:
        return code
    return name.name_zh if locale == "zh_CN" else name.name_en


def _source(library: FactorLibrary, source_id: str) -> dict[str, str]:
    doc = library.sources.get(source_id)
    if doc is None:
        return {"id": source_id, "title": "", "number": "", "url": "", "publisher": "", "date": ""}
    return {
        "id": doc.id,
        "title": doc.title,
        "number": doc.document_number,
        "url": doc.url,
        "publisher": doc.publisher,
        "date": doc.date,
    }


def _sort_key(column: str) -> Callable[[dict[str, Any]], Any]:
    if column == "valid_from":
        return lambda r: (r["valid_from"] or dt.date.min, r["key"])
    if column == "valid_to":
        return lambda r: (r["valid_to"] or dt.date.max, r["key"])
    if column == "value":
        return lambda r: (r["value"], r["key"])
    if column == "source":
        return lambda r: (r["source"], r["clause"], r["key"])
    return lambda r: (str(r[column]), r["key"], r["gas"], r["region"])


def _options(library: FactorLibrary, locale: str) -> dict[str, list[tuple[str, str]]]:
    """The choices of the search form's lists: (value, label)."""
    factors = list(library)
    regions = sorted({f.region for f in factors})
    gases = sorted({f.gas for f in factors if f.gas})
    return {
        "category": [(c, c) for c in sorted({category_of(f.key) for f in factors})],
        "region": [(r, f"{r} · {region_label(library, r, locale)}") for r in regions],
        "gas": [(g, g) for g in gases],
    }


@router.get("/factors")
def factor_list(
    request: Request,
    page: UiPage,
    q: Text = "",
    category: Text = "",
    region: Annotated[str, Query(max_length=40)] = "",
    gas: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    year: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The factor library: search, filters, server-side sorting and paging."""
    library = page.state.library
    table = Table.from_request(request, SORTS, size=PAGE_SIZE)
    errors: dict[str, str] = {}
    year_value = None
    if year.strip():
        text = year.strip()
        if text.isascii() and text.isdigit() and 1900 <= int(text) <= 2100:
            year_value = int(text)
        else:
            errors["year"] = N_("Enter a year between 1900 and 2100.")
    found = api.list_factors(
        page.state,
        page.principal,
        q=q.strip() or None,
        gas=None if not gas else ("" if gas == NO_GAS else gas),
        region=region or None,
        status=status if status in STATUS_LABELS else None,
        year=year_value,
        limit=max(1, len(library)),
        offset=0,
    )
    rows: list[dict[str, Any]] = found["items"]
    if category:
        rows = [r for r in rows if category_of(r["key"]) == category]
    rows.sort(key=_sort_key(table.sort), reverse=table.descending)
    table.total = len(rows)
    shown = rows[table.offset : table.offset + table.size]
    for row in shown:
        row["region_name"] = region_label(library, row["region"], page.locale)
        row["doc"] = _source(library, row["source_id"])
    filters = {
        "q": q,
        "category": category,
        "region": region,
        "gas": gas,
        "status": status,
        "year": year,
    }
    return render(
        request,
        "factors.html",
        {
            "table": table,
            "rows": shown,
            "filters": filters,
            "filtered": any(filters.values()),
            "errors": errors,
            "options": _options(library, page.locale),
            "statuses": STATUS_LABELS,
            "status_help": STATUS_HELP,
            "badge": STATUS_BADGE,
            "no_gas": NO_GAS,
            "library_version": library.version,
            "library_size": len(library),
            "value": format_value(page.locale),
        },
        page=page,
    )


def _vintages(library: FactorLibrary, key: str) -> list[tuple[str, str, tuple[Factor, ...]]]:
    """Every (gas, region, vintages) of a key, by region then gas."""
    return [
        (gas, region, library.vintages(key, gas=gas, region=region))
        for region in library.regions(key)
        for gas in library.gases(key, region=region)
    ]


@router.get("/factors/{key}")
def factor_detail(request: Request, page: UiPage, key: str) -> Response:
    """One key of the library: every vintage per gas and region, and the sources."""
    library = page.state.library
    groups = _vintages(library, key)
    if not groups:
        raise NotFoundError(f"no factor with key {key!r} in the library", field="key")
    used = sorted({f.source_id for _, _, vintages in groups for f in vintages})
    return render(
        request,
        "factor_detail.html",
        {
            "key": key,
            "category": category_of(key),
            "groups": [
                (gas, region, region_label(library, region, page.locale), vintages)
                for gas, region, vintages in groups
            ],
            "sources": [_source(library, s) | _citation(library, s) for s in used],
            "statuses": STATUS_LABELS,
            "badge": STATUS_BADGE,
            "library_version": library.version,
            "value": format_value(page.locale),
        },
        page=page,
    )


def _citation(library: FactorLibrary, source_id: str) -> dict[str, str]:
    doc = library.sources.get(source_id)
    return {"note": doc.citation_note if doc is not None else ""}


__all__ = ["category_of", "router"]

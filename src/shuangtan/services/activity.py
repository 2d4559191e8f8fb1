"""Activity data: validated against the calculation before storage, then inventories follow.

A datum is stored only if the record it makes computes (so a wrong unit or a missing factor is
refused at entry, naming the field, instead of breaking an inventory later). After a write, the
current inventories that cover the datum's period, of its organisation and every ancestor, are
recomputed, and their diffs say which datum changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shuangtan.errors import InputError, ShuangtanError
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate
from shuangtan.services.inventories import (
    ActivityRow,
    InventoryStore,
    SourceRow,
    activity_record,
    energy_record,
    parse_period,
    recompute,
)

__all__ = ["ActivityStore", "check_datum", "recompute_affected", "validate_period"]


class ActivityStore(InventoryStore, Protocol):
    """What activity writes need from storage."""

    def affected_inventories(
        self, source_org_id: int, start: dt.date, end: dt.date
    ) -> list[tuple[int, str, str]]:
        """Current inventories of the organisation and its ancestors overlapping the dates.

        ``(org id, period, GWP set)``, deepest organisation first.
        """
        ...


def validate_period(start: dt.date, end: dt.date) -> None:
    """A datum covers whole months: it starts on a 1st and ends (exclusive) on a later 1st.

    Raises
    ------
    InputError
        Naming ``period_start`` or ``period_end``.
    """
    if start.day != 1:
        raise InputError("must be the first day of a month", field="period_start")
    if end.day != 1:
        raise InputError(
            "must be the first day of the month after the period (exclusive end)",
            field="period_end",
        )
    if end <= start:
        raise InputError("must be after period_start", field="period_end")
    if (end.year - start.year) * 12 + end.month - start.month > 12:
        raise InputError("a datum covers at most 12 months", field="period_end")
    if start.year != (end - dt.timedelta(days=1)).year:
        raise InputError("a datum must not span two calendar years", field="period_end")


def check_datum(
    source: SourceRow,
    *,
    period_start: dt.date,
    period_end: dt.date,
    amount: float,
    unit: str,
    library: FactorLibrary,
) -> None:
    """Refuse a datum whose record does not compute; the error names the datum's field.

    Raises
    ------
    InputError
        ``amount``, ``unit``, ``period_start`` (no factor for that year) or ``source_id``.
    """
    validate_period(period_start, period_end)
    row = ActivityRow(0, source.id, period_start, period_end, amount, unit)
    try:
        result = calculate(activity_record(source, row), library)
        tce = energy_record(source, row, result.energy_gj)
        if tce is not None:
            calculate(tce, library)
    except ShuangtanError as exc:
        field = exc.field or "$"
        if field == source.amount_field:
            field = "amount"
        elif field in ("unit", "amount_unit"):
            field = "unit"
        elif field == "year":
            field = "period_start"
        else:
            field = "source_id"
            message = f"source {source.code} cannot be computed: {exc}"
            raise InputError(message, field=field) from None
        raise InputError(exc.message, field=field) from None


def recompute_affected(
    store: ActivityStore,
    library: FactorLibrary,
    source_org_id: int,
    spans: Sequence[tuple[dt.date, dt.date]],
    *,
    user_id: int | None,
    reason: str,
) -> list[Mapping[str, Any]]:
    """Recompute every current inventory a change to ``spans`` touches; return their diffs."""
    targets: dict[tuple[int, str, str], None] = {}
    for start, end in spans:
        for key in store.affected_inventories(source_org_id, start, end):
            targets.setdefault(key, None)
    out: list[Mapping[str, Any]] = []
    for org_id, label, gwp in targets:
        period = parse_period(label)
        # Each inventory keeps the GWP set it was computed with.
        inventory_id, version, computed, diff = recompute(
            store, library, org_id, period, gwp=gwp, user_id=user_id, reason=reason
        )
        out.append(
            {
                "inventory_id": inventory_id,
                "org_id": org_id,
                "period": label,
                "version": version,
                "co2e_t": computed.summary["co2e_t"],
                "diff": diff,
            }
        )
    return out

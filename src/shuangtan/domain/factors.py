"""Factors as the calculation sees them: a value with its unit, validity, source and status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

__all__ = ["INPUT_SOURCE", "Factor", "FactorStatus", "GwpSet", "MatchKind"]

#: Source id of values given in the input rather than taken from the library.
INPUT_SOURCE = "input"


class FactorStatus(StrEnum):
    """How well a factor value is confirmed (the tags of the project's standards reference)."""

    CONFIRMED = "confirmed"
    """Seen in an official text, or in news quoting the official notice."""
    CORROBORATED = "corroborated"
    """Seen only in third-party material, and checked by arithmetic or a second source."""
    UNCONFIRMED = "unconfirmed"
    """Known from domain knowledge or one unchecked source only: verify before relying on it."""
    USER = "user"
    """Given by the user in the input; the user answers for it."""


class MatchKind(StrEnum):
    """How a factor was found for a request."""

    EXACT = "exact"
    """A vintage whose validity covers the whole requested period."""
    LATEST = "latest"
    """No period was given: the newest vintage was used (reported as a warning)."""
    LATEST_PRIOR = "latest_prior"
    """The caller allowed it: the newest vintage that ended before the requested period."""
    INPUT = "input"
    """The value came from the input, overriding the library."""


@dataclass(frozen=True, slots=True)
class Factor:
    """One factor value with its provenance.

    Attributes
    ----------
    key : str
        Library key, such as ``"cn.electricity.grid_average"``; ``"input.<field>"`` for overrides.
    gas : str
        Gas the value is for (``"CO2"``), or ``""`` for a parameter that is not per gas.
    region : str
        Region code (``"CN-HE"``), ``"GLOBAL"``, or ``""`` for input values.
    value : float
        The value, in ``unit``.
    unit : str
        Unit string understood by :mod:`shuangtan.units` (``"tCO2/MWh"``, ``"GJ/t"``, ``"1"``).
    valid_from : datetime.date or None
        First day of the activity period the value applies to (inclusive).
    valid_to : datetime.date or None
        First day it no longer applies to (exclusive); ``None`` while still valid.
    source_id : str
        Id of the source document in the library's registry, or ``"input"``.
    source_title : str
        Title of the source document.
    clause : str
        Table, clause or page within the source.
    status : FactorStatus
        Confirmation status.
    match : MatchKind
        How this value was found for the request at hand.
    notes : str
        Caveats recorded with the value.
    """

    key: str
    gas: str
    region: str
    value: float
    unit: str
    valid_from: date | None
    valid_to: date | None
    source_id: str
    source_title: str
    clause: str
    status: FactorStatus
    match: MatchKind = MatchKind.EXACT
    notes: str = field(default="", compare=False)

    @classmethod
    def from_input(cls, name: str, value: float, unit: str, *, gas: str = "") -> Factor:
        """A value given in the input, overriding the library.

        Parameters
        ----------
        name : str
            Input field that carried it (``"ncv"``); the key becomes ``"input.<name>"``.
        value : float
            The value, in ``unit``.
        unit : str
            Its unit.
        gas : str, optional
            Gas the value is for.

        Returns
        -------
        Factor
        """
        return cls(
            key=f"input.{name}",
            gas=gas,
            region="",
            value=value,
            unit=unit,
            valid_from=None,
            valid_to=None,
            source_id=INPUT_SOURCE,
            source_title="given in the input",
            clause="",
            status=FactorStatus.USER,
            match=MatchKind.INPUT,
        )

    def with_match(self, match: MatchKind) -> Factor:
        """The same factor, recorded as found by ``match``."""
        if match is self.match:
            return self
        return replace(self, match=match)

    def lineage(self) -> dict[str, Any]:
        """The JSON-ready record of this factor for a result's lineage."""
        entry: dict[str, Any] = {"key": self.key}
        if self.gas:
            entry["gas"] = self.gas
        if self.region:
            entry["region"] = self.region
        entry["value"] = self.value
        entry["unit"] = self.unit
        entry["source"] = self.source_title
        entry["source_id"] = self.source_id
        if self.clause:
            entry["clause"] = self.clause
        entry["status"] = self.status.value
        if self.valid_from is not None:
            entry["valid_from"] = self.valid_from.isoformat()
        if self.valid_to is not None:
            entry["valid_to"] = self.valid_to.isoformat()
        if self.match is not MatchKind.EXACT:
            entry["match"] = self.match.value
        return entry


@dataclass(frozen=True, slots=True)
class GwpSet:
    """A named set of 100-year global warming potentials.

    Attributes
    ----------
    name : str
        ``"SAR"``, ``"AR4"``, ``"AR5"`` or ``"AR6"``.
    values : Mapping[str, Factor]
        GWP-100 per gas. [tCO2e/t gas]
    """

    name: str
    values: Mapping[str, Factor]

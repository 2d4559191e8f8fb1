"""Strict schemas of the packaged factor data.

Every file is parsed through these models (``extra="forbid"``): a misspelt column, an unknown
status, an unparsable unit or date stops the library from loading, with the file, the line and
the field in the message.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shuangtan.domain.factors import FactorStatus
from shuangtan.errors import UnknownUnitError
from shuangtan.units import is_unit, parse_emission_unit

__all__ = [
    "FACTOR_COLUMNS",
    "NAME_COLUMNS",
    "NAME_KINDS",
    "FactorRow",
    "NameRow",
    "SourceEntry",
    "unit_is_valid",
]

#: Columns of every factor CSV, in order.
FACTOR_COLUMNS: Final = (
    "key",
    "gas",
    "region",
    "value",
    "unit",
    "valid_from",
    "valid_to",
    "source",
    "clause",
    "status",
    "notes",
)
#: Columns of names.csv, in order.
NAME_COLUMNS: Final = ("kind", "key", "name_zh", "name_en", "aliases")
#: Kinds of names the library resolves.
NAME_KINDS: Final = ("region", "energy", "species", "gas", "carbonate")

_KEY = re.compile(r"^[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*$")
_SOURCE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


def unit_is_valid(unit: str) -> bool:
    """Whether a factor unit is ``"1"``, a physical unit, or an emission unit (``kgCO2e/kWh``)."""
    if unit == "1" or is_unit(unit):
        return True
    try:
        parse_emission_unit(unit)
    except UnknownUnitError:
        return False
    return True


class FactorRow(BaseModel):
    """One row of a factor CSV."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    key: NonEmpty
    gas: str
    region: NonEmpty
    value: float
    unit: NonEmpty
    valid_from: date
    valid_to: date | None
    source: NonEmpty
    clause: NonEmpty
    status: FactorStatus
    notes: str = ""

    @field_validator("key")
    @classmethod
    def _key_form(cls, key: str) -> str:
        if not _KEY.match(key):
            raise ValueError("keys are dotted ASCII: [A-Za-z0-9_] parts joined by . or -")
        return key

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, unit: str) -> str:
        if not unit_is_valid(unit):
            raise ValueError(f"unit {unit!r} is neither '1', a known unit nor an emission unit")
        return unit

    @field_validator("valid_to", mode="before")
    @classmethod
    def _open_end(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("source")
    @classmethod
    def _source_id(cls, source: str) -> str:
        if not _SOURCE_ID.match(source):
            raise ValueError("source ids are lowercase ASCII words joined by '-'")
        return source

    @field_validator("status")
    @classmethod
    def _not_user(cls, status: FactorStatus) -> FactorStatus:
        if status is FactorStatus.USER:
            raise ValueError("'user' is for input values, not for library rows")
        return status


class SourceEntry(BaseModel):
    """One source document in sources.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: NonEmpty
    publisher: NonEmpty
    document_number: str = ""
    date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    url: str = ""
    citation_note: str = ""


class NameRow(BaseModel):
    """One row of names.csv: a key of some kind with its Chinese and English names."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: NonEmpty
    key: NonEmpty
    name_zh: NonEmpty
    name_en: NonEmpty
    aliases: str = ""

    @field_validator("kind")
    @classmethod
    def _kind(cls, kind: str) -> str:
        if kind not in NAME_KINDS:
            raise ValueError(f"kind must be one of {', '.join(NAME_KINDS)}")
        return kind

    def spellings(self) -> list[str]:
        """The key, both names and every alias."""
        extra = [a.strip() for a in self.aliases.split("|") if a.strip()]
        return [self.key, self.name_zh, self.name_en, *extra]

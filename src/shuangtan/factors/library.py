"""The factor library: packaged, sourced, dated values and the names that point at them.

:meth:`FactorLibrary.load` reads the CSV files under ``factors/data/factors/``, the sources
registry ``sources.toml`` and ``names.csv``, validates all of it strictly and indexes it.
:meth:`FactorLibrary.select` finds the one value valid for a key, gas, region and year. A missing
factor raises :class:`~shuangtan.errors.FactorNotFoundError` naming what was asked and what
exists; a fallback to an older vintage happens only when the caller allows it, and is recorded in
the factor's :class:`~shuangtan.domain.MatchKind`.

Reads packaged files only: no network, no database, no clock.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tomllib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import pairwise
from pathlib import Path

from pydantic import ValidationError

from shuangtan.domain.factors import Factor, GwpSet, MatchKind
from shuangtan.errors import FactorDataError, FactorNotFoundError, UnknownNameError
from shuangtan.factors.schema import (
    FACTOR_COLUMNS,
    NAME_COLUMNS,
    FactorRow,
    NameRow,
    SourceEntry,
)

__all__ = ["FactorLibrary", "Name", "Source"]

_GWP_PREFIX = "gwp."


@dataclass(frozen=True, slots=True)
class Source:
    """A source document of the library."""

    id: str
    title: str
    publisher: str
    document_number: str
    date: str
    url: str
    citation_note: str


@dataclass(frozen=True, slots=True)
class Name:
    """A named thing (fuel, region, species, gas, carbonate) with its Chinese and English names."""

    kind: str
    key: str
    name_zh: str
    name_en: str
    aliases: tuple[str, ...]


def _normalise(text: str) -> str:
    # Full-width forms, case, spaces, '_' and '-' do not distinguish names.
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch not in " _-\t")


def _format_period(factor: Factor) -> str:
    start = factor.valid_from.isoformat() if factor.valid_from else "…"
    end = factor.valid_to.isoformat() if factor.valid_to else "open"
    return f"[{start}, {end})"


class FactorLibrary:
    """An immutable, indexed set of factors with their sources and names.

    Parameters
    ----------
    factors : Iterable[Factor]
        Every factor row.
    sources : Mapping[str, Source]
        Source documents by id.
    names : Iterable[Name]
        Named things by kind.
    version : str
        Library version recorded in every result's lineage.
    """

    def __init__(
        self,
        factors: Iterable[Factor],
        sources: Mapping[str, Source],
        names: Iterable[Name],
        version: str,
    ) -> None:
        self.version = version
        self.sources: Mapping[str, Source] = dict(sources)
        by_id: dict[tuple[str, str, str], list[Factor]] = defaultdict(list)
        for factor in factors:
            by_id[(factor.key, factor.gas, factor.region)].append(factor)
        self._vintages: dict[tuple[str, str, str], tuple[Factor, ...]] = {}
        for ident, rows in by_id.items():
            ordered = sorted(rows, key=lambda f: f.valid_from or date.min)
            for earlier, later in pairwise(ordered):
                if earlier.valid_to is None or (
                    later.valid_from is not None and earlier.valid_to > later.valid_from
                ):
                    raise FactorDataError(
                        f"overlapping validity for key {ident[0]!r} gas {ident[1]!r} region "
                        f"{ident[2]!r}: {_format_period(earlier)} and {_format_period(later)}"
                    )
            self._vintages[ident] = tuple(ordered)
        self._by_key: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, gas, region in self._vintages:
            self._by_key[key].append((gas, region))
        self._gwp_sets: dict[str, GwpSet] = {}
        self._names: dict[str, dict[str, Name]] = defaultdict(dict)
        self._lookup: dict[str, dict[str, str]] = defaultdict(dict)
        for name in names:
            if name.key in self._names[name.kind]:
                raise FactorDataError(f"names.csv: {name.kind} {name.key!r} is listed twice")
            self._names[name.kind][name.key] = name
        for kind, entries in self._names.items():
            table = self._lookup[kind]
            for name in entries.values():
                for spelling in (name.key, name.name_zh, name.name_en, *name.aliases):
                    norm = _normalise(spelling)
                    owner = table.setdefault(norm, name.key)
                    if owner != name.key:
                        raise FactorDataError(
                            f"names.csv: the {kind} spelling {spelling!r} names both "
                            f"{owner!r} and {name.key!r}"
                        )

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path | None = None) -> FactorLibrary:
        """Load and validate a factor library.

        Parameters
        ----------
        directory : pathlib.Path, optional
            A directory laid out like the packaged ``factors/data`` (``factors/*.csv``,
            ``sources.toml``, ``names.csv``, ``VERSION``). ``None`` loads the packaged library.

        Returns
        -------
        FactorLibrary

        Raises
        ------
        FactorDataError
            A file breaks the schema: the message names the file, line and field.
        """
        root: Traversable = (
            directory if directory is not None else resources.files("shuangtan.factors") / "data"
        )
        digest = hashlib.sha256()
        try:
            version_text = (root / "VERSION").read_text(encoding="utf-8").strip()
            sources_raw = (root / "sources.toml").read_bytes()
            names_raw = (root / "names.csv").read_bytes()
            factor_dir = list((root / "factors").iterdir())
        except OSError as exc:
            raise FactorDataError(
                f"factor library at {root}: {exc.strerror}: {exc.filename}"
            ) from None
        digest.update(sources_raw)
        digest.update(names_raw)
        sources = _parse_sources(sources_raw)
        names = _parse_names(names_raw)
        regions = {n.key for n in names if n.kind == "region"}
        gases = {n.key for n in names if n.kind == "gas"}
        factors: list[Factor] = []
        used_sources: set[str] = set()
        csv_files = sorted(
            (entry for entry in factor_dir if entry.name.endswith(".csv")),
            key=lambda entry: entry.name,
        )
        if not csv_files:
            raise FactorDataError(f"no factor CSV files under {root / 'factors'}")
        for entry in csv_files:
            raw = entry.read_bytes()
            digest.update(entry.name.encode())
            digest.update(raw)
            for row in _parse_factor_rows(entry.name, raw, sources, regions, gases):
                used_sources.add(row.source_id)
                factors.append(row)
        unused = sorted(set(sources) - used_sources)
        if unused:
            raise FactorDataError(f"sources.toml: sources never used: {', '.join(unused)}")
        version = f"{version_text}+{digest.hexdigest()[:12]}"
        return cls(factors, sources, names, version)

    # -- names -------------------------------------------------------------------------------

    def resolve(self, kind: str, name: str, *, field: str | None = None) -> str:
        """The key of a named thing, from its key, Chinese or English name or an alias.

        Parameters
        ----------
        kind : str
            ``"energy"``, ``"region"``, ``"species"``, ``"gas"`` or ``"carbonate"``.
        name : str
            What the user wrote (``"柴油"``, ``"diesel"``, ``"河北"``, ``"East"``).
        field : str, optional
            Input field, for the error.

        Returns
        -------
        str
            The library key (``"diesel"``, ``"CN-HE"``).

        Raises
        ------
        UnknownNameError
            Nothing of that kind has that name.
        """
        key = self._lookup.get(kind, {}).get(_normalise(name))
        if key is None:
            raise UnknownNameError(
                {"energy": "fuel or energy carrier"}.get(kind, kind),
                name,
                field=field,
                known=sorted(self._names.get(kind, {})),
            )
        return key

    def name(self, kind: str, key: str) -> Name:
        """The :class:`Name` of a key."""
        return self._names[kind][key]

    def names(self, kind: str) -> tuple[Name, ...]:
        """Every :class:`Name` of a kind, by key."""
        return tuple(self._names.get(kind, {})[k] for k in sorted(self._names.get(kind, {})))

    # -- factors -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Factor]:
        """Every factor, ordered by key, gas, region and validity."""
        for ident in sorted(self._vintages):
            yield from self._vintages[ident]

    def __len__(self) -> int:
        return sum(len(v) for v in self._vintages.values())

    def has(self, key: str, *, gas: str = "", region: str | None = None) -> bool:
        """Whether any vintage exists for the key (and gas and region, when given)."""
        if region is not None:
            return (key, gas, region) in self._vintages
        return any(g == gas for g, _ in self._by_key.get(key, ()))

    def regions(self, key: str) -> tuple[str, ...]:
        """The regions a key has rows for, sorted."""
        return tuple(sorted({r for _, r in self._by_key.get(key, ())}))

    def gases(self, key: str, *, region: str) -> tuple[str, ...]:
        """The gases a key has rows for in a region, sorted."""
        return tuple(sorted(g for g, r in self._by_key.get(key, ()) if r == region))

    def vintages(self, key: str, *, gas: str = "", region: str) -> tuple[Factor, ...]:
        """Every vintage of one factor, oldest first (empty when there is none)."""
        return self._vintages.get((key, gas, region), ())

    def select(
        self,
        key: str,
        *,
        region: str,
        gas: str = "",
        year: int | None = None,
        allow_prior: bool = False,
        field: str | None = None,
    ) -> Factor:
        """The value of one factor for a data year.

        Parameters
        ----------
        key : str
            Library key (``"cn.electricity.grid_average"``).
        region : str
            Region code (``"CN-HE"``); never widened to a parent region.
        gas : str, optional
            Gas, for per-gas factors.
        year : int, optional
            Calendar year of the activity data. A vintage must cover the whole year. ``None``
            takes the newest vintage, recorded as :attr:`MatchKind.LATEST`.
        allow_prior : bool, optional
            When no vintage covers ``year``, take the newest one that ended before it, recorded as
            :attr:`MatchKind.LATEST_PRIOR`.
        field : str, optional
            Input field to blame in the error.

        Returns
        -------
        Factor

        Raises
        ------
        FactorNotFoundError
            No vintage fits: the message names key, gas, region and year and lists what exists.
        """
        vintages = self._vintages.get((key, gas, region), ())
        what = f"{key}" + (f" ({gas})" if gas else "") + f" for region {region}"
        if not vintages:
            elsewhere = sorted(r for g, r in self._by_key.get(key, ()) if g == gas)
            hint = f"; it exists for {', '.join(elsewhere)}" if elsewhere else ""
            raise FactorNotFoundError(f"no factor {what}{hint}", field=field)
        if year is None:
            return vintages[-1].with_match(MatchKind.LATEST)
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
        for factor in vintages:
            begins = factor.valid_from or date.min
            if begins <= start and (factor.valid_to is None or factor.valid_to >= end):
                return factor
        partial = [
            f
            for f in vintages
            if (f.valid_from or date.min) < end and (f.valid_to is None or f.valid_to > start)
        ]
        periods = ", ".join(_format_period(f) for f in vintages)
        if partial:
            raise FactorNotFoundError(
                f"no single vintage of {what} covers all of {year} (vintages: {periods}); "
                "give the value explicitly",
                field=field,
            )
        if allow_prior:
            prior = [f for f in vintages if f.valid_to is not None and f.valid_to <= start]
            if prior:
                return prior[-1].with_match(MatchKind.LATEST_PRIOR)
        raise FactorNotFoundError(
            f"no factor {what} valid in {year} (vintages: {periods})", field=field
        )

    def gwp_set(self, name: str, *, field: str | None = "gwp") -> GwpSet:
        """A GWP-100 set by name (``"AR6"``).

        Raises
        ------
        UnknownNameError
            The library has no such set.
        """
        cached = self._gwp_sets.get(name)
        if cached is not None:
            return cached
        key = _GWP_PREFIX + name.lower()
        pairs = list(self._by_key.get(key, ()))
        if not pairs:
            raise UnknownNameError("GWP set", name, field=field, known=self.gwp_set_names())
        values = {gas: self._vintages[(key, gas, region)][-1] for gas, region in pairs}
        gwp = GwpSet(name=name.upper(), values=values)
        self._gwp_sets[name] = gwp  # the library is immutable, so a set never changes
        return gwp

    def gwp_set_names(self) -> tuple[str, ...]:
        """Names of the GWP sets in the library."""
        return tuple(
            sorted(
                k.removeprefix(_GWP_PREFIX).upper()
                for k in self._by_key
                if k.startswith(_GWP_PREFIX)
            )
        )


# -- parsing helpers ---------------------------------------------------------------------------


def _read_csv(
    name: str, raw: bytes, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FactorDataError(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise FactorDataError(f"{name}: starts with a byte-order mark; save as UTF-8 without BOM")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FactorDataError(f"{name}: empty file") from None
    if tuple(header) != columns:
        raise FactorDataError(
            f"{name}: header must be {','.join(columns)}; found {','.join(header)}"
        )
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise FactorDataError(
                    f"{name} line {reader.line_num}: {len(row)} cells, expected {len(columns)}"
                )
            yield reader.line_num, dict(zip(columns, row, strict=True))
    except csv.Error as exc:
        raise FactorDataError(f"{name} line {reader.line_num}: {exc}") from None


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"]) or "row"
    return loc, error["msg"]


def _parse_sources(raw: bytes) -> dict[str, Source]:
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FactorDataError(f"sources.toml: {exc}") from None
    sources: dict[str, Source] = {}
    for source_id, body in document.items():
        if not isinstance(body, dict):
            raise FactorDataError(f"sources.toml: [{source_id}] must be a table")
        try:
            entry = SourceEntry.model_validate(body)
        except ValidationError as exc:
            loc, msg = _first_error(exc)
            raise FactorDataError(f"sources.toml [{source_id}] {loc}: {msg}") from None
        sources[source_id] = Source(id=source_id, **entry.model_dump())
    return sources


def _parse_names(raw: bytes) -> list[Name]:
    names: list[Name] = []
    for line, cells in _read_csv("names.csv", raw, NAME_COLUMNS):
        try:
            row = NameRow.model_validate(cells)
        except ValidationError as exc:
            loc, msg = _first_error(exc)
            raise FactorDataError(f"names.csv line {line} {loc}: {msg}") from None
        spellings = row.spellings()
        names.append(
            Name(
                kind=row.kind,
                key=row.key,
                name_zh=row.name_zh,
                name_en=row.name_en,
                aliases=tuple(spellings[3:]),
            )
        )
    return names


def _parse_factor_rows(
    name: str,
    raw: bytes,
    sources: Mapping[str, Source],
    regions: set[str],
    gases: set[str],
) -> Iterator[Factor]:
    for line, cells in _read_csv(name, raw, FACTOR_COLUMNS):
        try:
            row = FactorRow.model_validate(cells)
        except ValidationError as exc:
            loc, msg = _first_error(exc)
            raise FactorDataError(f"{name} line {line} {loc}: {msg}") from None
        where = f"{name} line {line}"
        if row.source not in sources:
            raise FactorDataError(f"{where} source: {row.source!r} is not in sources.toml")
        if row.region not in regions:
            raise FactorDataError(f"{where} region: {row.region!r} is not a region in names.csv")
        if row.gas and row.gas not in gases:
            raise FactorDataError(f"{where} gas: {row.gas!r} is not a gas in names.csv")
        if row.valid_to is not None and row.valid_to <= row.valid_from:
            raise FactorDataError(f"{where} valid_to: must be after valid_from")
        source = sources[row.source]
        yield Factor(
            key=row.key,
            gas=row.gas,
            region=row.region,
            value=row.value,
            unit=row.unit,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            source_id=row.source,
            source_title=source.title,
            clause=row.clause,
            status=row.status,
            notes=row.notes,
        )

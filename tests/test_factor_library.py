"""The factor library: strict schema, no overlapping vintages, lookups by date, names."""

from __future__ import annotations

import itertools
import re
import shutil
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from shuangtan.domain.factors import FactorStatus, MatchKind
from shuangtan.errors import FactorDataError, FactorNotFoundError, UnknownNameError
from shuangtan.factors import FactorLibrary
from shuangtan.factors.schema import unit_is_valid

DATA = Path(str(resources.files("shuangtan.factors") / "data"))


def test_packaged_library_loads(library: FactorLibrary) -> None:
    assert len(library) > 400
    assert re.fullmatch(r"\d{4}\.\d+\.\d+\+[0-9a-f]{12}", library.version)
    assert {"SAR", "AR4", "AR5", "AR6"} <= set(library.gwp_set_names())


def test_every_row_is_sourced_dated_and_tagged(library: FactorLibrary) -> None:
    for factor in library:
        assert factor.source_id in library.sources
        assert factor.clause
        assert factor.valid_from is not None
        assert factor.status in (
            FactorStatus.CONFIRMED,
            FactorStatus.CORROBORATED,
            FactorStatus.UNCONFIRMED,
        )
        assert unit_is_valid(factor.unit), factor


# Units are fixed per kind of key, so the calculation methods can check them strictly.
UNITS_BY_KEY = [
    (r"cn\.fuel\..+\.ncv", {"GJ/t", "GJ/1e4Nm3"}),
    (r"(cn|ipcc2006)\.fuel\..+\.carbon_content", {"tC/GJ"}),
    (r"cn\.fuel\..+\.oxidation", {"1"}),
    (r"ipcc2006\.fuel\..+\.ncv", {"GJ/t"}),
    (r"ipcc2006\.stationary\..+", {"kgCO2/TJ", "kgCH4/TJ", "kgN2O/TJ"}),
    (r"cn\.electricity\..+", {"tCO2/MWh"}),
    (r"cn\.heat\.purchased", {"tCO2/GJ"}),
    (r"cn\.tce\..+", {"kgce/kg", "kgce/m3", "kgce/kWh", "kgce/MJ", "kgce/t"}),
    (r"gwp\..+", {"1"}),
    (r"carbonate\..+", {"tCO2/t"}),
    (r"forest\..+\.wood_density", {"t/m3"}),
    (r"forest\..+\.(bef|root_shoot|carbon_fraction)", {"1"}),
]


def test_units_are_fixed_per_key_kind(library: FactorLibrary) -> None:
    for factor in library:
        for pattern, units in UNITS_BY_KEY:
            if re.fullmatch(pattern, factor.key):
                assert factor.unit in units, factor


def test_validity_is_half_open_and_never_overlaps(library: FactorLibrary) -> None:
    seen: dict[tuple[str, str, str], list[tuple[date, date | None]]] = {}
    for f in library:
        assert f.valid_from is not None
        seen.setdefault((f.key, f.gas, f.region), []).append((f.valid_from, f.valid_to))
    for periods in seen.values():
        for (_, end), (start, _) in itertools.pairwise(periods):
            assert end is not None
            assert end <= start


# -- the strict schema, on broken copies of the packaged data --------------------------------


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "cn.heat.purchased,CO2,CN,0.12,tCO2/GJ,2020-01-01,,{source},x,confirmed,",
            "overlapping validity for key 'cn.heat.purchased'",
        ),
        ("test.key,,CN,1,1,2020-01-01,,no-such-source,x,confirmed,", "not in sources.toml"),
        ("test.key,,XX,1,1,2020-01-01,,{source},x,confirmed,", "not a region in names.csv"),
        ("test.key,CO3,CN,1,1,2020-01-01,,{source},x,confirmed,", "not a gas in names.csv"),
        ("test.key,,CN,1,furlongs of joy,2020-01-01,,{source},x,confirmed,", "unit"),
        ("test.key,,CN,1,1,2020-01-01,,{source},x,maybe,", "status"),
        ("test.key,,CN,nan,1,2020-01-01,,{source},x,confirmed,", "finite"),
        ("test.key,,CN,1,1,2020-13-01,,{source},x,confirmed,", "valid_from"),
        ("test.key,,CN,1,1,2020-01-01,2019-01-01,{source},x,confirmed,", "after valid_from"),
        ("Test Key,,CN,1,1,2020-01-01,,{source},x,confirmed,", "key"),
        ("test.key,,CN,1,1,2020-01-01,,{source},,confirmed,", "clause"),
        ("test.key,,CN,1,1,2020-01-01,,{source},x,user,", "input values"),
        ("test.key,,CN,1,1,2020-01-01", "cells"),
    ],
)
def test_schema_rejects(data_copy: Path, library: FactorLibrary, row: str, message: str) -> None:
    source = next(iter(library.sources))
    _append(data_copy / "factors" / "cn_heat.csv", row.format(source=source))
    with pytest.raises(FactorDataError, match=re.escape(message)) as caught:
        FactorLibrary.load(data_copy)
    assert "cn_heat.csv" in str(caught.value) or "overlapping" in str(caught.value)


def test_schema_rejects_header_bom_unused_source_and_shared_alias(data_copy: Path) -> None:
    heat = data_copy / "factors" / "cn_heat.csv"
    original = heat.read_text(encoding="utf-8")
    heat.write_text(original.replace("clause,status", "clause,state"), encoding="utf-8")
    with pytest.raises(FactorDataError, match="header must be"):
        FactorLibrary.load(data_copy)
    heat.write_text("\ufeff" + original, encoding="utf-8")
    with pytest.raises(FactorDataError, match="byte-order mark"):
        FactorLibrary.load(data_copy)
    heat.write_text(original, encoding="utf-8")
    sources = data_copy / "sources.toml"
    sources.write_text(
        sources.read_text(encoding="utf-8")
        + '\n[never-used]\ntitle = "x"\npublisher = "y"\ndate = "2020"\n',
        encoding="utf-8",
    )
    with pytest.raises(FactorDataError, match="never used: never-used"):
        FactorLibrary.load(data_copy)
    sources.write_text(
        sources.read_text(encoding="utf-8").split("\n[never-used]")[0], encoding="utf-8"
    )
    _append(data_copy / "names.csv", "energy,fake_fuel,假燃料,Fake fuel,柴油")
    with pytest.raises(FactorDataError, match="names both"):
        FactorLibrary.load(data_copy)


# -- lookups -------------------------------------------------------------------------------


def test_select_needs_a_vintage_covering_the_year(library: FactorLibrary) -> None:
    hebei = library.select("cn.electricity.grid_average", region="CN-HE", gas="CO2", year=2022)
    assert hebei.value == 0.7252
    assert hebei.match is MatchKind.EXACT
    assert hebei.status is FactorStatus.CONFIRMED
    with pytest.raises(FactorNotFoundError, match=r"valid in 2030 \(vintages: \[2021-01-01"):
        library.select("cn.electricity.grid_average", region="CN-HE", gas="CO2", year=2030)


def test_fallback_only_when_allowed_and_recorded(library: FactorLibrary) -> None:
    prior = library.select(
        "cn.electricity.grid_average", region="CN-HE", gas="CO2", year=2030, allow_prior=True
    )
    assert prior.match is MatchKind.LATEST_PRIOR
    assert prior.valid_to == date(2023, 1, 1)
    latest = library.select("cn.electricity.grid_average", region="CN-HE", gas="CO2")
    assert latest.match is MatchKind.LATEST


def test_no_widening_to_a_parent_region(library: FactorLibrary) -> None:
    # Tibet has no published provincial factor: the national one is never substituted.
    with pytest.raises(FactorNotFoundError, match="for region CN-XZ"):
        library.select("cn.electricity.grid_average", region="CN-XZ", gas="CO2", year=2022)


def test_ets_grid_factor_vintages(library: FactorLibrary) -> None:
    # standards-confirmations.md §1: 0.6101 before 2021 data, 0.5810 for 2021, 0.5703 from 2022.
    def ets(year: int) -> float:
        return library.select("cn.electricity.ets", region="CN", gas="CO2", year=year).value

    assert (ets(2020), ets(2021), ets(2022), ets(2025)) == (0.6101, 0.5810, 0.5703, 0.5703)


def test_names_resolve_in_chinese_english_and_aliases(library: FactorLibrary) -> None:
    assert library.resolve("energy", "柴油") == library.resolve("energy", "diesel") == "diesel"
    assert library.resolve("energy", "Natural Gas") == "natural_gas"
    assert library.resolve("region", "河北") == library.resolve("region", "河北省") == "CN-HE"
    assert library.resolve("region", "华东") == library.resolve("region", "East") == "CN-EAST"
    assert library.resolve("gas", "hfc-134a") == "HFC-134a"
    with pytest.raises(UnknownNameError, match="unknown fuel or energy carrier 'unobtainium'"):
        library.resolve("energy", "unobtainium", field="fuel")


def test_every_named_key_has_chinese_and_english_names(library: FactorLibrary) -> None:
    for kind in ("energy", "region", "species", "gas", "carbonate"):
        for name in library.names(kind):
            assert name.name_zh
            assert name.name_en


def test_every_resolved_factor_snapshot(library: FactorLibrary, snapshot) -> None:  # type: ignore[no-untyped-def]
    """Resolve every factor for every year 2019–2026 and for 'no year'; any change shows here."""
    resolved: dict[str, str] = {}
    for factor in library:
        ident = f"{factor.key}|{factor.gas}|{factor.region}"
        for year in [None, *range(2019, 2027)]:
            try:
                found = library.select(factor.key, region=factor.region, gas=factor.gas, year=year)
            except FactorNotFoundError:
                continue
            resolved[f"{ident}|{year}"] = (
                f"{found.value!r} {found.unit} {found.status.value} {found.source_id} "
                f"{found.match.value}"
            )
    assert resolved == snapshot

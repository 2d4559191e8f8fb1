"""Units: the only module that interprets unit strings.

Conversions are exact. One shared pint registry, built lazily in rational (``Fraction``) mode,
gives the exact ratio between two units (``kWh → GJ`` is 9/2500, not ``0.0036000000000000003``),
and :func:`convert` applies it with a single correctly rounded float operation whenever the
ratio or its inverse is an integer (t ↔ kg, MWh ↔ kWh, 10⁴ Nm³ ↔ Nm³), so no conversion adds
noise that exact arithmetic would not have.

Units the Chinese methods need and pint lacks are defined here: ``Nm3`` (normal cubic metre;
volumes of fuel gas are stated at 0 °C and 101.325 kPa, so they are volumes, not masses),
``1e4Nm3`` (万标立方米, written ``10^4 Nm3`` in the tables), ``kgce`` and ``tce`` (kilogram and
tonne of standard coal equivalent, 1 kgce = 29 307.6 kJ, GB/T 2589-2020 §3.6), ``mmBtu`` (one
million international-table Btu, as the US EPA uses) and ``scf`` (standard cubic foot).

Emission units carry a gas tag after the mass: ``kgCO2e/kWh``, ``tCO2/MWh``, ``gCH4/mmBtu``.
:func:`parse_emission_unit` splits them into the mass unit, the gas and the per-unit part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any, Final

from shuangtan.errors import UnitMismatchError, UnknownUnitError

__all__ = [
    "C_TO_CO2",
    "KJ_PER_KGCE",
    "EmissionUnit",
    "conversion_ratio",
    "convert",
    "dimension_of",
    "is_unit",
    "parse_emission_unit",
]

#: Ratio of the molar masses of CO2 and C used by the Chinese guidelines and IPCC 2006. [tCO2/tC]
C_TO_CO2: Final[float] = 44 / 12

#: Heat content of one kilogram of standard coal equivalent, GB/T 2589-2020. [kJ/kgce]
KJ_PER_KGCE: Final[Fraction] = Fraction(293076, 10)

# Spellings accepted at the edges, mapped to pint expressions. Keys are matched exactly first,
# then case-insensitively.
_ALIASES: Final[dict[str, str]] = {
    "t": "tonne",
    "tonne": "tonne",
    "kt": "kilotonne",
    "Gg": "kilotonne",
    "Mt": "megatonne",
    "1e4Nm3": "wan_Nm3",
    "10^4Nm3": "wan_Nm3",
    "10^4 Nm3": "wan_Nm3",
    "10000Nm3": "wan_Nm3",
    "万Nm3": "wan_Nm3",
    "万m3": "wan_Nm3",
    "Nm3": "Nm3",
    "Nm³": "Nm3",
    "m3": "meter**3",
    "m³": "meter**3",
    "L": "liter",
    "l": "liter",
    "gal": "gallon",
    "mmBtu": "mmBtu",
    "MMBtu": "mmBtu",
    "MMBTU": "mmBtu",
    "Btu": "Btu_it",
    "BTU": "Btu_it",
    "therm": "therm_us",
    "scf": "scf",
    "ccf": "ccf",
    "Mcf": "Mcf",
    "kgce": "kgce",
    "tce": "tce",
    "MWh": "megawatt_hour",
    "kWh": "kilowatt_hour",
    "GWh": "gigawatt_hour",
    "Wh": "watt_hour",
    "GJ": "gigajoule",
    "TJ": "terajoule",
    "MJ": "megajoule",
    "kJ": "kilojoule",
    "J": "joule",
    "kg": "kilogram",
    "g": "gram",
    "lb": "pound",
    "short_ton": "short_ton",
    "ha": "hectare",
    "m2": "meter**2",
    "km": "kilometer",
    "passenger_km": "passenger_km",
    "tkm": "tonne_km",
}

_DEFINITIONS: Final[tuple[str, ...]] = (
    "Nm3 = meter ** 3",
    "wan_Nm3 = 10000 * Nm3",
    "kgce = 29307.6 * kilojoule",
    "tce = 1000 * kgce",
    "mmBtu = 1000000 * Btu_it",
    "scf = foot ** 3",
    "ccf = 100 * scf",
    "Mcf = 1000 * scf",
    "passenger_km = kilometer",
    "tonne_km = tonne * kilometer",
)

_EMISSION_UNIT = re.compile(
    r"^(?P<mass>kg|g|t|kt|Mt|lb)(?P<gas>CO2e|CO2|CH4|N2O|C)?(?:/(?P<per>.+))?$"
)


@cache
def _registry() -> Any:
    # Imported here: building the registry costs ~0.4 s, paid once and only when needed.
    import pint

    ureg: Any = pint.UnitRegistry(non_int_type=Fraction, autoconvert_offset_to_baseunit=False)
    for definition in _DEFINITIONS:
        ureg.define(definition)
    return ureg


def _expression(unit: str) -> str:
    text = unit.strip()
    if text in _ALIASES:
        return _ALIASES[text]
    lowered = {k.lower(): v for k, v in _ALIASES.items()}
    if text.lower() in lowered:
        return lowered[text.lower()]
    # Compound units ("kg/mmBtu", "mmBtu/scf"): alias each factor separately.
    parts = re.split(r"([/*])", text)
    if len(parts) > 1:
        return "".join(p if p in "/*" else f"({_expression(p)})" for p in parts)
    return text


@cache
def _parse(unit: str) -> Any:
    if not unit or not unit.strip():
        raise UnknownUnitError(unit, hint="a unit is required")
    ureg = _registry()
    try:
        quantity = ureg.Quantity(Fraction(1), _expression(unit))
    except Exception:  # pint raises several unrelated types for unparsable text
        raise UnknownUnitError(unit) from None
    return quantity


def _dimension_text(dimensionality: Any) -> str:
    # pint cannot format Fraction exponents, so write "[length] ** 3 / [time]" here.
    parts = []
    for name, power in sorted(dict(dimensionality).items()):
        exponent = int(power) if Fraction(power).denominator == 1 else power
        parts.append(name if exponent == 1 else f"{name} ** {exponent}")
    return " * ".join(parts) or "dimensionless"


def is_unit(unit: str) -> bool:
    """Whether ``unit`` parses to a known unit.

    Parameters
    ----------
    unit : str
        A unit string such as ``"t"``, ``"1e4Nm3"`` or ``"mmBtu/scf"``.

    Returns
    -------
    bool
    """
    try:
        _parse(unit)
    except UnknownUnitError:
        return False
    return True


@cache
def dimension_of(unit: str) -> str:
    """The physical dimension of a unit, as text (``"[mass]"``, ``"[length] ** 3"``).

    Parameters
    ----------
    unit : str
        A unit string.

    Returns
    -------
    str
        pint's dimensionality, stable for equal dimensions.
    """
    return _dimension_text(_parse(unit).dimensionality)


@cache
def conversion_ratio(from_unit: str, to_unit: str) -> Fraction:
    """Exact ratio that turns an amount in ``from_unit`` into ``to_unit``.

    Parameters
    ----------
    from_unit, to_unit : str
        Unit strings of the same dimension.

    Returns
    -------
    fractions.Fraction
        ``amount_in_to_unit = amount_in_from_unit * ratio``. [to_unit/from_unit]

    Raises
    ------
    UnknownUnitError
        A unit is not defined.
    UnitMismatchError
        The units measure different things.

    Examples
    --------
    >>> conversion_ratio("kWh", "GJ")
    Fraction(9, 2500)
    >>> conversion_ratio("1e4Nm3", "Nm3")
    Fraction(10000, 1)
    """
    source = _parse(from_unit)
    target = _parse(to_unit)
    if source.dimensionality != target.dimensionality:
        raise UnitMismatchError(
            f"cannot convert {from_unit!r} to {to_unit!r}: "
            f"{_dimension_text(source.dimensionality)} is not "
            f"{_dimension_text(target.dimensionality)}"
        )
    ratio = source.to(target.units).magnitude
    return Fraction(ratio)


@cache
def _operation(from_unit: str, to_unit: str) -> tuple[bool, float]:
    """(multiply?, operand): the single float operation that applies the exact ratio."""
    ratio = conversion_ratio(from_unit, to_unit)
    if ratio.denominator == 1:
        return True, float(ratio.numerator)
    if ratio.numerator == 1:
        return False, float(ratio.denominator)
    return True, float(ratio)


def convert(value: Any, from_unit: str, to_unit: str) -> Any:
    """Convert an amount (a float or a NumPy array) between units of one dimension.

    Where the exact ratio or its inverse is an integer the result is the correctly rounded
    value of the exact conversion; otherwise it is within one ulp of it.

    Parameters
    ----------
    value : float or numpy.ndarray
        Amount in ``from_unit``.
    from_unit, to_unit : str
        Unit strings.

    Returns
    -------
    float or numpy.ndarray
        Amount in ``to_unit``.

    Examples
    --------
    >>> convert(1500.0, "kg", "t")
    1.5
    >>> convert(2.5, "1e4Nm3", "Nm3")
    25000.0
    """
    if from_unit == to_unit:
        return value
    multiply, operand = _operation(from_unit, to_unit)
    return value * operand if multiply else value / operand


@dataclass(frozen=True, slots=True)
class EmissionUnit:
    """A parsed emission unit such as ``kgCO2e/kWh``.

    Attributes
    ----------
    mass_unit : str
        Unit of the emitted mass (``"kg"``).
    gas : str or None
        Gas tag written in the unit (``"CO2e"``), or ``None`` when the unit names no gas.
    per_unit : str or None
        Unit of the activity the factor applies to (``"kWh"``), or ``None`` for a plain mass.
    """

    mass_unit: str
    gas: str | None
    per_unit: str | None

    @property
    def mass_to_t(self) -> Fraction:
        """Exact ratio from ``mass_unit`` to tonnes. [t/mass_unit]"""
        return conversion_ratio(self.mass_unit, "t")


@cache
def parse_emission_unit(unit: str) -> EmissionUnit:
    """Split an emission unit into mass, gas and per-activity unit.

    Parameters
    ----------
    unit : str
        ``"<mass>[<gas>][/<activity unit>]"``: ``"tCO2/MWh"``, ``"gCH4/mmBtu"``, ``"kg/GJ"``.

    Returns
    -------
    EmissionUnit

    Raises
    ------
    UnknownUnitError
        The text is not of that form, or its parts are not units.

    Examples
    --------
    >>> parse_emission_unit("kgCO2e/kWh")
    EmissionUnit(mass_unit='kg', gas='CO2e', per_unit='kWh')
    """
    match = _EMISSION_UNIT.match(unit.strip()) if unit else None
    if match is None:
        raise UnknownUnitError(
            unit,
            hint="an emission unit is a mass, an optional gas and '/activity unit', "
            "such as kgCO2e/kWh or tCO2/MWh",
        )
    per = match.group("per")
    if per is not None:
        _parse(per)
    return EmissionUnit(mass_unit=match.group("mass"), gas=match.group("gas"), per_unit=per)

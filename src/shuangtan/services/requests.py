"""Strict models of the ``shuangtan calc`` input, one per method.

Every record is validated once, here, at the boundary: JSON numbers only (text in a number
field is an error, not a guess), no unknown fields, ranges checked. Errors name the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shuangtan.errors import InputError

__all__ = ["METHODS", "RecordIn", "parse_record"]

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Fraction01 = Annotated[float, Field(ge=0, le=1)]
GwpName = Literal["SAR", "AR4", "AR5", "AR6"]
RecordId = Annotated[str, StringConstraints(max_length=200)] | int


class RecordIn(BaseModel):
    """Fields every record has."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: RecordId
    method: str
    gwp: GwpName = "AR6"
    year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    fallback: Literal["latest_prior"] | None = None


class FuelCombustionIn(RecordIn):
    """``fuel_combustion``."""

    method: Literal["fuel_combustion"]
    fuel: Text
    amount: NonNegative
    unit: Text
    defaults: Literal["cn", "ipcc2006"] = "cn"
    ncv: Positive | None = None
    carbon_content: NonNegative | None = None
    oxidation: Fraction01 | None = None
    carbon_per_unit: NonNegative | None = None
    ef_co2_kg_per_tj: NonNegative | None = None
    ef_ch4_kg_per_tj: NonNegative | None = None
    ef_n2o_kg_per_tj: NonNegative | None = None


class ElectricityIn(RecordIn):
    """``electricity``."""

    method: Literal["electricity"]
    amount: NonNegative
    unit: Text
    region: Text | None = None
    basis: Literal["location", "market"] = "location"
    factor_kind: Literal["average", "residual", "fossil", "ets"] = "average"
    green_amount: NonNegative | None = None
    factor: NonNegative | None = None
    residual_factor: NonNegative | None = None
    exported: bool = False


class HeatIn(RecordIn):
    """``heat``."""

    method: Literal["heat"]
    amount: NonNegative | None = None
    unit: Text = "GJ"
    steam_t: NonNegative | None = None
    steam_enthalpy_kj_per_kg: NonNegative | None = None
    feedwater_enthalpy_kj_per_kg: NonNegative | None = None
    hot_water_t: NonNegative | None = None
    water_temperature_c: Annotated[float, Field(ge=-50, le=400)] | None = None
    region: Text = "CN"
    factor: NonNegative | None = None
    exported: bool = False


class CarbonateIn(RecordIn):
    """``carbonate``."""

    method: Literal["carbonate"]
    carbonate: Text
    amount_t: NonNegative
    purity: Fraction01 = 1.0
    calcination: Fraction01 = 1.0
    region: Text = "GLOBAL"
    factor: NonNegative | None = None


class GasReleaseIn(RecordIn):
    """``gas_release``."""

    method: Literal["gas_release"]
    gas: Text
    amount: NonNegative
    unit: Text
    gwp_value: NonNegative | None = None


class EnergyTceIn(RecordIn):
    """``energy_tce``."""

    method: Literal["energy_tce"]
    carrier: Text
    amount: NonNegative
    unit: Text
    basis: Literal["equivalent", "equal_value"] = "equivalent"
    coefficient: NonNegative | None = None


class ForestStockChangeIn(RecordIn):
    """``forest_stock_change``."""

    method: Literal["forest_stock_change"]
    volume_change_m3: float | None = None
    volume_start_m3: NonNegative | None = None
    volume_end_m3: NonNegative | None = None
    years: Positive | None = None
    species: Text | None = None
    wood_density: Positive | None = None
    bef: Positive | None = None
    root_shoot: NonNegative | None = None
    carbon_fraction: Fraction01 | None = None


class GrasslandSocIn(RecordIn):
    """``grassland_soc``."""

    method: Literal["grassland_soc"]
    area_ha: NonNegative
    soc_ref_tc_per_ha: NonNegative
    f_lu_before: NonNegative = 1.0
    f_mg_before: NonNegative = 1.0
    f_i_before: NonNegative = 1.0
    f_lu_after: NonNegative = 1.0
    f_mg_after: NonNegative = 1.0
    f_i_after: NonNegative = 1.0
    years: Positive = 20.0


class FactorIn(RecordIn):
    """``factor``: a generic amount × factor."""

    method: Literal["factor"]
    amount: NonNegative
    amount_unit: Text
    factor: NonNegative | None = None
    factor_unit: Text | None = None
    gas_factors: dict[Text, NonNegative] | None = None
    gas_factor_units: dict[Text, Text] | None = None
    factor_key: Text | None = None
    region: Text | None = None
    energy_per_unit: Positive | None = None
    energy_per_unit_unit: Text | None = None


METHODS: Final[dict[str, type[RecordIn]]] = {
    "fuel_combustion": FuelCombustionIn,
    "electricity": ElectricityIn,
    "heat": HeatIn,
    "carbonate": CarbonateIn,
    "gas_release": GasReleaseIn,
    "energy_tce": EnergyTceIn,
    "forest_stock_change": ForestStockChangeIn,
    "grassland_soc": GrasslandSocIn,
    "factor": FactorIn,
}

_MESSAGES: Final[dict[str, str]] = {
    "missing": "is required",
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
}


def _message(error: Any, method: str) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"is not a field of method {method!r}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected} (got {error.get('input')!r})"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ctx = error.get("ctx", {})
        bound = {
            "greater_than_equal": "≥",
            "greater_than": ">",
            "less_than_equal": "≤",
            "less_than": "<",
        }[kind]
        limit = next(iter(ctx.values()), "")
        return f"must be {bound} {limit} (got {error.get('input')!r})"
    if kind == "int_from_float" or (kind == "int_type" and isinstance(error.get("input"), float)):
        return "must be a whole number"
    return _MESSAGES.get(kind, str(error.get("msg", "is invalid")))


def parse_record(record: Any) -> RecordIn:
    """Validate one decoded JSON record into its method's model.

    Parameters
    ----------
    record : Any
        The decoded JSON value of one input line.

    Returns
    -------
    RecordIn
        An instance of the method's model.

    Raises
    ------
    InputError
        With the dotted field path and the reason.
    """
    if not isinstance(record, dict):
        raise InputError("each line must be a JSON object", field="$")
    method = record.get("method")
    if method is None:
        raise InputError("is required", field="method")
    model = METHODS.get(method) if isinstance(method, str) else None
    if model is None:
        raise InputError(f"unknown method {method!r} (known: {', '.join(METHODS)})", field="method")
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        errors = exc.errors()
        # Report the error of the earliest field in the record, as a person reads it.
        order = {name: i for i, name in enumerate(record)}
        error = min(errors, key=lambda e: order.get(e["loc"][0] if e["loc"] else "", -1))
        loc = error["loc"]
        if loc and loc[0] == "id" and error["type"] != "missing":
            raise InputError(
                "must be text (at most 200 characters) or a whole number", field="id"
            ) from None
        field = ".".join(str(part) for part in loc) or "$"
        raise InputError(_message(error, method), field=field) from None

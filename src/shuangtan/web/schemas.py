"""Request and response bodies of the REST API (Pydantic 2), the OpenAPI schema's source.

Inputs are strict where a guess would be dangerous (no unknown fields, bounded lengths and
numbers); outputs say their units in field names (``co2e_t``, ``energy_tce``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticCustomError

from shuangtan.domain.platform import SECTORS, Carrier, Category, MeterKind, OrgKind, Role

T = TypeVar("T")

Code = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
OptText = Annotated[str, StringConstraints(max_length=400)]
UnitText = Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]


def _sector(value: str) -> str:
    if value not in SECTORS:
        raise ValueError(f"unknown sector {value!r} (known: {', '.join(SECTORS)})")
    return value


SectorCode = Annotated[
    str, AfterValidator(_sector), Field(json_schema_extra={"enum": list(SECTORS)})
]


def _whole(value: object) -> object:
    # JSON Schema counts 3.0 as an integer; text and booleans stay errors (strict below).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = BeforeValidator(_whole)
Id = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1), Whole]
NonNegative = Annotated[float, Field(strict=True, ge=0, le=1e15, allow_inf_nan=False)]


def _utc(value: dt.datetime) -> dt.datetime:
    # Storage keeps naive UTC; the API says so (RFC 3339 needs the offset).
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


UtcDateTime = Annotated[dt.datetime, AfterValidator(_utc)]


def _find_nul(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_nul(key, path) or _find_nul(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _find_nul(item, f"{path}.{i}")
            if found:
                return found
    return None


class Strict(BaseModel):
    """Base of request bodies: unknown fields are errors; text never holds NUL characters.

    PostgreSQL cannot store NUL in text or JSON, and no person types one: it is refused at the
    door, naming the field, on every backend alike.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                found = _find_nul(value, str(key))
                if found:
                    raise PydanticCustomError(
                        "nul_character",
                        "must not contain NUL characters ({field})",
                        {"field": found},
                    )
        return data


class ErrorBody(BaseModel):
    """The one error body of every endpoint."""

    code: str = Field(description="Machine-readable: invalid_input, not_found, unauthenticated…")
    field: str | None = Field(description="Dotted path of the field at fault, if one is")
    message: str = Field(description="What went wrong, for a person")
    request_id: str | None = Field(default=None, description="Quote it when reporting a problem")


class Page(BaseModel, Generic[T]):
    """A page of results."""

    items: list[T]
    total: int = Field(description="Matching items over all pages")
    limit: int
    offset: int


class Health(BaseModel):
    """``GET /health``."""

    status: Literal["ok"]
    version: str
    database: str
    schema_revision: str | None
    factor_library: str


class TokenOut(BaseModel):
    """OAuth2 token response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int | None = Field(default=None, description="[s]")
    scope: str


# --- organisations --------------------------------------------------------------------------


class OrganizationIn(Strict):
    """A new organisation."""

    parent_id: Id | None = None
    kind: OrgKind
    code: Code
    name_zh: Name
    name_en: Annotated[str, StringConstraints(max_length=200)] = ""
    sector: SectorCode | None = None
    region: Annotated[str, StringConstraints(max_length=40)] | None = None
    address: OptText = ""
    credit_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")] | None = (
        None
    )


class OrganizationPatch(Strict):
    """Changes to an organisation (its place in the tree cannot change)."""

    code: Code | None = None
    name_zh: Name | None = None
    name_en: Annotated[str, StringConstraints(max_length=200)] | None = None
    sector: SectorCode | None = None
    region: Annotated[str, StringConstraints(max_length=40)] | None = None
    address: OptText | None = None
    credit_code: Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")] | None = (
        None
    )


class OrganizationOut(BaseModel):
    """An organisation."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    parent_id: int | None
    kind: str
    code: str
    name_zh: str
    name_en: str
    sector: str | None
    region: str | None
    address: str
    credit_code: str | None
    path: str = Field(description="Ids from the root: /1/5/12/")


class OrganizationTree(OrganizationOut):
    """An organisation with its visible descendants."""

    children: list[OrganizationTree] = Field(default_factory=list)


class Product(Strict):
    """Production of one product."""

    product_zh: Name
    product_en: Annotated[str, StringConstraints(max_length=200)] = ""
    amount: NonNegative
    unit: UnitText


class EconomicsIn(Strict):
    """Economic data of one year."""

    output_value_10k_cny: NonNegative | None = Field(default=None, description="[10^4 CNY]")
    value_added_10k_cny: (
        Annotated[float, Field(strict=True, ge=-1e15, le=1e15, allow_inf_nan=False)] | None
    ) = Field(default=None, description="[10^4 CNY]")
    employees: Annotated[int, Field(strict=True, ge=0, le=10_000_000), Whole] | None = None
    floor_area_m2: NonNegative | None = Field(default=None, description="[m2]")
    production: list[Product] = Field(default_factory=list, max_length=200)


class EconomicsOut(BaseModel):
    """Economic data of one year."""

    model_config = ConfigDict(from_attributes=True)

    year: int
    output_value_10k_cny: float | None
    value_added_10k_cny: float | None
    employees: int | None
    floor_area_m2: float | None
    production: list[dict[str, Any]]


# --- sources, meters, activity --------------------------------------------------------------


class SourceIn(Strict):
    """A new emission source."""

    org_id: Id
    code: Code
    name_zh: Name
    name_en: Annotated[str, StringConstraints(max_length=200)] = ""
    category: Category
    method: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields of the calculation record other than id, method, year, gwp, amount",
    )
    amount_field: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "amount"
    unit: UnitText
    tce_carrier: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    tce_from_energy: bool = False
    active: bool = True


class SourcePatch(Strict):
    """Changes to a source."""

    code: Code | None = None
    name_zh: Name | None = None
    name_en: Annotated[str, StringConstraints(max_length=200)] | None = None
    category: Category | None = None
    method: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    params: dict[str, Any] | None = None
    amount_field: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    unit: UnitText | None = None
    tce_carrier: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    tce_from_energy: bool | None = None
    active: bool | None = None


class SourceOut(BaseModel):
    """An emission source."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    org_id: int
    code: str
    name_zh: str
    name_en: str
    scope: int
    category: str
    method: str
    params: dict[str, Any]
    amount_field: str
    unit: str
    tce_carrier: str | None
    tce_from_energy: bool
    active: bool


class MeterIn(Strict):
    """A new meter."""

    org_id: Id
    source_id: Id | None = None
    code: Code
    name_zh: Name
    name_en: Annotated[str, StringConstraints(max_length=200)] = ""
    carrier: Carrier
    unit: UnitText
    kind: MeterKind = MeterKind.INTERVAL
    multiplier: Annotated[float, Field(strict=True, gt=0, le=1e9, allow_inf_nan=False)] = 1.0
    interval_s: Annotated[int, Field(strict=True, ge=60, le=86_400), Whole] = 900
    rollover_at: Annotated[float, Field(strict=True, gt=0, le=1e15, allow_inf_nan=False)] | None = (
        None
    )
    max_per_hour: (
        Annotated[float, Field(strict=True, gt=0, le=1e15, allow_inf_nan=False)] | None
    ) = None
    active: bool = True


class MeterPatch(Strict):
    """Changes to a meter."""

    source_id: Id | None = None
    code: Code | None = None
    name_zh: Name | None = None
    name_en: Annotated[str, StringConstraints(max_length=200)] | None = None
    carrier: Carrier | None = None
    unit: UnitText | None = None
    kind: MeterKind | None = None
    multiplier: Annotated[float, Field(strict=True, gt=0, le=1e9, allow_inf_nan=False)] | None = (
        None
    )
    interval_s: Annotated[int, Field(strict=True, ge=60, le=86_400), Whole] | None = None
    rollover_at: Annotated[float, Field(strict=True, gt=0, le=1e15, allow_inf_nan=False)] | None = (
        None
    )
    max_per_hour: (
        Annotated[float, Field(strict=True, gt=0, le=1e15, allow_inf_nan=False)] | None
    ) = None
    active: bool | None = None


class MeterOut(BaseModel):
    """A meter."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    org_id: int
    source_id: int | None
    code: str
    name_zh: str
    name_en: str
    carrier: str
    unit: str
    kind: str
    multiplier: float
    interval_s: int
    rollover_at: float | None = None
    max_per_hour: float | None = None
    active: bool


Day = Annotated[dt.date, Field(ge=dt.date(1990, 1, 1), le=dt.date(2101, 1, 1))]


class ActivityIn(Strict):
    """A new activity datum: the amount of a source over whole months."""

    source_id: Id
    period_start: Day = Field(description="First day of the first month")
    period_end: Day = Field(description="First day of the month after the last (exclusive)")
    amount: NonNegative
    unit: UnitText | None = Field(default=None, description="Defaults to the source's unit")
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


class ActivityPatch(Strict):
    """A correction of an activity datum."""

    amount: NonNegative | None = None
    unit: UnitText | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ActivityOut(BaseModel):
    """An activity datum."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    period_start: dt.date
    period_end: dt.date
    amount: float
    unit: str
    origin: str
    note: str
    version: int
    updated_at: UtcDateTime


class RecomputedOut(BaseModel):
    """An inventory recomputed because of a change."""

    inventory_id: int
    org_id: int
    period: str
    version: int
    co2e_t: float
    diff: dict[str, Any] | None


class ActivityWriteOut(BaseModel):
    """The stored datum and the inventories that followed it."""

    activity: ActivityOut | None
    recomputed: list[RecomputedOut]


# --- inventories ----------------------------------------------------------------------------


class InventoryNode(BaseModel):
    """A subtree's totals."""

    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    sector: str | None
    co2e_t: float = Field(description="[tCO2e]")
    energy_tce: float = Field(description="[tce]")
    by_scope: dict[str, float]
    children: list[InventoryNode]


class InventorySource(BaseModel):
    """One source's result."""

    source_id: int | None
    code: str
    name_zh: str
    name_en: str
    org_id: int
    org_code: str | None
    scope: int
    category: str
    method: str
    co2e_t: float = Field(description="[tCO2e]")
    energy_tce: float | None = Field(description="[tce]")
    gases_t: dict[str, float] = Field(description="[t] per gas")
    months: int = Field(description="Activity data used")


class InventoryOut(BaseModel):
    """An organisation's inventory for a period: totals, breakdowns and the rolled-up tree."""

    inventory_id: int
    version: int
    organization: dict[str, Any]
    period: str
    period_start: str
    period_end: str
    gwp_set: str
    library_version: str
    computed_at: str
    reason: str
    co2e_t: float = Field(description="[tCO2e]")
    energy_tce: float = Field(description="[tce], equivalent value (GB/T 2589)")
    by_scope: dict[str, float]
    by_gas: dict[str, float] = Field(description="[t] per gas")
    by_category: dict[str, float]
    intensity: dict[str, float]
    by_source: list[InventorySource]
    children: list[InventoryNode]
    warnings: list[str]


class RecomputeIn(Strict):
    """Options of a recomputation."""

    period: Annotated[str, StringConstraints(min_length=4, max_length=7)]
    gwp: Literal["SAR", "AR4", "AR5", "AR6"] = "AR6"
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class RecomputeOut(BaseModel):
    """A recomputation: the new version and what changed since the previous one."""

    inventory: InventoryOut
    diff: dict[str, Any] | None = Field(description="null for a first version")


class InventoryVersion(BaseModel):
    """One version's header."""

    inventory_id: int
    org_id: int
    period: str
    version: int
    status: str
    co2e_t: float
    energy_tce: float
    library_version: str
    gwp_set: str
    computed_at: UtcDateTime
    reason: str


class InventoryLineage(BaseModel):
    """One source's inputs and factors in an inventory version."""

    source_id: int | None
    source_code: str
    co2e_t: float
    energy_tce: float | None
    gases_t: dict[str, float]
    factors: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    warnings: list[str]


# --- factors, calc --------------------------------------------------------------------------


class FactorOut(BaseModel):
    """A factor of the library."""

    key: str
    gas: str
    region: str
    value: float
    unit: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    source_id: str
    source: str
    clause: str
    status: str
    notes: str


class FactorPage(Page[FactorOut]):
    """A page of factors, with the library version."""

    library_version: str


class CalcIn(Strict):
    """Records of the batch contract (``docs/methodology/batch-contract.md``)."""

    records: list[Any] = Field(max_length=100_000)


class CalcOut(BaseModel):
    """One result or error object per record, in order."""

    results: list[dict[str, Any]]
    failed: int
    library_version: str


# --- users ----------------------------------------------------------------------------------


class GrantIn(Strict):
    """A role on an organisation subtree."""

    role: Role
    org_id: Id | None = None


class GrantOut(BaseModel):
    """A role grant."""

    id: int
    role: str
    org_id: int | None
    org_code: str | None


class UserIn(Strict):
    """A new user."""

    username: Annotated[
        str,
        StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"),
    ]
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    grants: list[GrantIn] = Field(default_factory=list, max_length=100)


class UserOut(BaseModel):
    """A user (never the password hash)."""

    id: int
    username: str
    display_name: str
    active: bool
    grants: list[GrantOut]


class ApiTokenIn(Strict):
    """A new API token for the caller."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    scopes: list[Literal["read", "write"]] = Field(default=["read"], min_length=1)
    expires_days: Annotated[int, Field(strict=True, ge=1, le=3650), Whole] | None = None


class ApiTokenOut(BaseModel):
    """An API token's metadata; ``token`` only in the answer that created it."""

    id: int
    name: str
    kind: str
    scopes: list[str]
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None
    token: str | None = None


class MeOut(UserOut):
    """The caller."""

    scopes: list[str]


# --- readings ------------------------------------------------------------------------------


class ReadingIn(BaseModel):
    """One reading as sent (checked by the ingestion, not here, so bad rows are quarantined)."""

    meter: str | int = Field(description="Meter id or code")
    ts: str = Field(description="ISO 8601 with a zone: 2026-01-01T00:15:00+08:00")
    value: float | str = Field(description="Interval consumption, or the counter [meter unit]")
    unit: str | None = Field(default=None, description="Unit of value, if not the meter's")


class ReadingsIn(BaseModel):
    """A batch of readings (at most 100,000)."""

    readings: list[ReadingIn]


#: Where the OpenAPI document keeps its schemas.
COMPONENTS_REF = "#/components/schemas/{model}"
#: Bodies a handler reads itself (so FastAPI does not see them), documented through the
#: route's ``openapi_extra`` with :func:`component_ref`: the app adds them to the components.
EXTRA_COMPONENTS: tuple[type[BaseModel], ...] = (ReadingsIn,)


def component_ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to ``model``'s schema among the OpenAPI document's components."""
    return {"$ref": COMPONENTS_REF.format(model=model.__name__)}


def add_components(document: dict[str, Any], models: Sequence[type[BaseModel]]) -> None:
    """Add the request schemas of ``models`` (and of the models they use) to the components.

    Raises
    ------
    ValueError
        A component of the same name but another schema is already there.
    """
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=COMPONENTS_REF)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in top.get("$defs", {}).items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are named {name!r} in the OpenAPI document")


class QuarantineRef(BaseModel):
    """A refused reading, as reported in an ingestion answer."""

    id: int
    ref: str = Field(description="readings[i], line N …")
    reason: str
    field: str
    message: str


class IngestOut(BaseModel):
    """What happened to a batch."""

    received: int
    stored: int
    corrected: int
    duplicates: int
    quarantined: int
    quarantine: list[QuarantineRef] = Field(description="The first 100 refused readings")


class SyncOut(BaseModel):
    """What a sync of activity data with the meters did."""

    months: int
    created: int
    updated: int
    unchanged: int
    kept_entered: int
    failed: list[str]
    recomputed: list[dict[str, Any]]


class FactorRef(BaseModel):
    """A factor used."""

    key: str
    value: float
    unit: str
    source: str
    clause: str
    status: str


class SeriesPoint(BaseModel):
    """A reading (15 min) or a bucket (hour, day, month)."""

    ts: str = Field(description="Reading end or bucket start, Asia/Shanghai time")
    value: float = Field(description="Consumption [meter unit]")
    raw: float | None = Field(default=None, description="As sent (15 min only)")
    flags: list[str] | None = None
    n: int | None = Field(default=None, description="Readings in the bucket")
    gj: float | None = Field(description="[GJ]")
    tce: float | None = Field(description="[tce], GB/T 2589 equivalent value")


class SeriesOut(BaseModel):
    """A meter's series."""

    meter_id: int
    code: str
    unit: str
    resolution: str
    start: dt.date
    end: dt.date
    tce_per_unit: float | None = Field(description="[tce per meter unit]")
    gj_per_tce: float
    factors: list[FactorRef]
    note: str | None
    points: list[SeriesPoint]


class MonthlyIn(Strict):
    """A month's consumption entered by hand."""

    value: NonNegative = Field(description="[meter unit]")
    note: OptText = ""


class MonthlyOut(BaseModel):
    """A monthly entry."""

    meter_id: int
    month: str
    value: float
    unit: str
    note: str


class ReplacementIn(Strict):
    """A cumulative meter's device swap."""

    ts: UtcDateTime = Field(description="When the swap happened (with a zone)")
    old_final: NonNegative = Field(description="Old device's last counter")
    new_initial: NonNegative = Field(description="New device's first counter")
    note: OptText = ""


class ReplacementOut(BaseModel):
    """A recorded swap."""

    id: int
    meter_id: int
    ts: dt.datetime
    old_final: float
    new_initial: float
    note: str


class QuarantineOut(BaseModel):
    """A quarantined reading."""

    id: int
    meter_id: int | None
    org_id: int | None
    channel: str
    ref: str
    reason: str
    field: str
    message: str
    raw: dict[str, Any]
    job_id: int | None
    received_at: dt.datetime
    status: str
    resolved_at: dt.datetime | None


class QuarantinePatch(Strict):
    """Corrections to a quarantined reading."""

    meter: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    ts: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    value: Annotated[float, Field(strict=True, allow_inf_nan=False)] | None = None
    unit: Annotated[str, StringConstraints(max_length=40)] | None = None


class ReprocessOut(BaseModel):
    """The outcome of re-processing a quarantined reading."""

    quarantine: QuarantineOut
    stored: int
    corrected: int
    duplicates: int


class MeterDayQuality(BaseModel):
    """One meter's day."""

    meter_id: int
    code: str
    unit: str
    quarantined: int = Field(
        description="Open quarantined readings of the day: by their own timestamp, or by the "
        "day they were received when the timestamp is what was refused"
    )
    expected: int
    received: int
    completeness: float
    complete: bool
    missing: int
    longest_gap_min: float
    total: float
    spikes: int
    counter_events: int
    corrected: int
    stale: bool
    status: str


class DailyQualityOut(BaseModel):
    """GB/T 37947 quality of a day across an organisation's meters."""

    org_id: int
    date: dt.date
    meters: int
    meters_complete: int
    completeness: float | None
    threshold: float
    items: list[MeterDayQuality]


class MeterMonthQuality(BaseModel):
    """One meter's month: Σ daily against the monthly figure."""

    meter_id: int
    code: str
    unit: str
    days_with_data: int
    daily_total: float
    monthly: float | None
    deviation: float | None
    consistent: bool | None


class MonthlyQualityOut(BaseModel):
    """GB/T 37947 day/month consistency across an organisation's meters."""

    org_id: int
    month: str
    threshold: float
    items: list[MeterMonthQuality]


class JobOut(BaseModel):
    """A background job."""

    id: int
    kind: str
    status: str
    org_id: int | None
    filename: str | None
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

"""A deterministic demo high-tech industrial park, for ``shuangtan demo load``.

The park is 江苏省 ▸ 苏州示范高新技术产业开发区 ▸ 25 enterprises ▸ their facilities, plus one
verification body. Every name, address and credit code is fictitious ("示范", demonstration).
Each enterprise has emission sources with 24 months of activity data (2024-01 to 2025-12),
meters and yearly economic figures, at magnitudes typical of a Chinese high-tech park: a
coal-fired CHP plant of about 0.5 Mt coal a year, a 4,500 t/d cement clinker line, a 300 mm
wafer fab of about 280 GWh a year, a data centre of about 110 GWh a year; the park emits about
3 MtCO2e a year.

Pure data: no I/O, no clock, no database. The enterprises are a table of templates
(:data:`_ENTERPRISES`: sector, names, sources with their annual amounts and seasonal profile,
economics); :func:`build_demo_park` turns them into organisations, sources, meters and monthly
activity, with the variation drawn from ``random.Random`` seeded per source, so the same seed
always gives the same park and a different seed changes the amounts only, never the codes.

A source and a month give one record of the batch contract::

    {"id": f"{source.code}-{year}-{month:02d}", "method": source.method, "year": year,
     "gwp": "AR6", **source.params, source.amount_field: amount}

and, for energy accounting, ``energy_tce`` of ``source.tce_carrier`` over the same amount in
``source.unit`` (or, with ``tce_from_energy``, over the emission result's ``energy_gj`` as
``heat`` in GJ).
"""

from __future__ import annotations

import calendar
import math
import random
from dataclasses import dataclass, replace
from typing import Final

from shuangtan.domain.platform import Carrier, Category, MeterKind, OrgKind

__all__ = [
    "PARK_CODE",
    "REGION_CODE",
    "VERIFIER_CODE",
    "YEARS",
    "DemoActivity",
    "DemoEconomics",
    "DemoMeter",
    "DemoOrg",
    "DemoPark",
    "DemoSource",
    "build_demo_park",
    "credit_code",
]

#: The years of activity data.
YEARS: Final[tuple[int, ...]] = (2024, 2025)


# --- the public model ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoEconomics:
    """An enterprise's economic figures for one year.

    Attributes
    ----------
    year : int
        Calendar year.
    output_value_10k_cny : float
        工业总产值 (or 营业收入 for services). [10^4 CNY]
    value_added_10k_cny : float
        增加值. [10^4 CNY]
    employees : int
        Average number of employees. [person]
    floor_area_m2 : float
        Building floor area. [m2]
    production : tuple[tuple[str, str, float, str], ...]
        Main products: (name in Chinese, name in English, amount, unit), e.g.
        ``("水泥熟料", "Clinker", 1.3e6, "t")``.
    """

    year: int
    output_value_10k_cny: float
    value_added_10k_cny: float
    employees: int
    floor_area_m2: float
    production: tuple[tuple[str, str, float, str], ...]


@dataclass(frozen=True, slots=True)
class DemoOrg:
    """An organisation of the demo tree.

    Attributes
    ----------
    code : str
        Unique ASCII code: ``JS``, ``JS-SGX``, ``JS-SGX-E01``, ``JS-SGX-E01-F1``, ``VB-01``.
    kind : str
        An :class:`~shuangtan.domain.platform.OrgKind` value.
    name_zh, name_en : str
        Names in Chinese and English.
    parent_code : str or None
        Code of the parent organisation; ``None`` at the top.
    sector : str or None
        A ``SECTORS`` code for enterprises and facilities, else ``None``.
    region : str
        Factor-library region name (``江苏``).
    address_zh : str
        Postal address in Chinese.
    credit_code : str or None
        统一社会信用代码 of an enterprise (18 characters, fictitious, valid check digits).
    economics : tuple[DemoEconomics, ...]
        One entry per year for enterprises; empty otherwise.
    """

    code: str
    kind: str
    name_zh: str
    name_en: str
    parent_code: str | None
    sector: str | None
    region: str
    address_zh: str
    credit_code: str | None
    economics: tuple[DemoEconomics, ...]


@dataclass(frozen=True, slots=True)
class DemoSource:
    """An emission source and how its monthly records are built.

    Attributes
    ----------
    code : str
        Unique code, e.g. ``JS-SGX-E01-S1``.
    org_code : str
        The facility the source belongs to.
    name_zh, name_en : str
        Names in Chinese and English.
    category : str
        A :class:`~shuangtan.domain.platform.Category` value; the scope is
        ``CATEGORY_SCOPE[category]``.
    method : str
        Calculation method of the batch contract.
    params : dict[str, object]
        The record's fields other than ``id``, ``method``, ``year``, ``gwp`` and the amount.
    amount_field : str
        The record field that takes the monthly amount: ``amount``, ``amount_t`` (carbonate)
        or ``steam_t`` (steam by enthalpy).
    unit : str
        Unit of the monthly amount (also ``params["unit"]`` where the method has one).
    tce_carrier : str or None
        GB/T 2589 carrier (``cn.tce.<carrier>.equivalent``) for energy accounting; ``None``
        for non-energy sources and exports.
    tce_from_energy : bool
        The tce comes from the emission result's ``energy_gj`` as ``heat`` (steam by enthalpy).
    """

    code: str
    org_code: str
    name_zh: str
    name_en: str
    category: str
    method: str
    params: dict[str, object]
    amount_field: str
    unit: str
    tce_carrier: str | None
    tce_from_energy: bool


@dataclass(frozen=True, slots=True)
class DemoMeter:
    """A meter.

    Attributes
    ----------
    code : str
        Unique code, e.g. ``JS-SGX-E01-M1``.
    org_code : str
        The facility the meter is installed in.
    source_code : str or None
        The source whose activity it measures; ``None`` for water meters.
    name_zh, name_en : str
        Names in Chinese and English.
    carrier : str
        A :class:`~shuangtan.domain.platform.Carrier` value.
    unit : str
        Physical unit of the consumption: ``kWh``, ``t``, ``Nm3``, ``GJ``, ``m3``.
    kind : str
        A :class:`~shuangtan.domain.platform.MeterKind` value.
    multiplier : float
        CT × PT ratio and the like: reading × multiplier = consumption in ``unit``. [1]
    """

    code: str
    org_code: str
    source_code: str | None
    name_zh: str
    name_en: str
    carrier: str
    unit: str
    kind: str
    multiplier: float


@dataclass(frozen=True, slots=True)
class DemoActivity:
    """One month of activity of a source.

    Attributes
    ----------
    source_code : str
        The source.
    year : int
        Calendar year.
    month : int
        Month, 1–12.
    amount : float
        Activity in the source's ``unit``. [unit]
    """

    source_code: str
    year: int
    month: int
    amount: float


@dataclass(frozen=True, slots=True)
class DemoPark:
    """The whole demo park.

    Attributes
    ----------
    orgs : tuple[DemoOrg, ...]
        Organisations, parents before children.
    sources : tuple[DemoSource, ...]
        Emission sources.
    meters : tuple[DemoMeter, ...]
        Meters.
    activity : tuple[DemoActivity, ...]
        Monthly activity, 24 months per source.
    years : tuple[int, ...]
        The years covered, ``(2024, 2025)``.
    """

    orgs: tuple[DemoOrg, ...]
    sources: tuple[DemoSource, ...]
    meters: tuple[DemoMeter, ...]
    activity: tuple[DemoActivity, ...]
    years: tuple[int, ...]


# --- source kinds ----------------------------------------------------------------------------

Params = tuple[tuple[str, object], ...]


@dataclass(frozen=True, slots=True)
class _Kind:
    """How a kind of source is calculated and metered."""

    category: Category
    method: str
    params: Params
    unit: str
    amount_field: str = "amount"
    tce_carrier: str | None = None
    tce_from_energy: bool = False
    #: Carrier, unit and kind of the meters of such a source, if it is metered.
    meter: tuple[Carrier, str, MeterKind] | None = None


_ELECTRICITY: Final[Params] = (("unit", "MWh"), ("region", "江苏"), ("fallback", "latest_prior"))
_FUEL = Category.STATIONARY_COMBUSTION
_MOBILE = Category.MOBILE_COMBUSTION
_CUM, _INT = MeterKind.CUMULATIVE, MeterKind.INTERVAL

# fmt: off
_KINDS: Final[dict[str, _Kind]] = {
    "coal": _Kind(
        _FUEL, "fuel_combustion", (("fuel", "烟煤"), ("unit", "t")), "t", tce_carrier="raw_coal",
        meter=(Carrier.COAL, "t", _INT),
    ),
    "ng": _Kind(
        _FUEL, "fuel_combustion", (("fuel", "天然气"), ("unit", "1e4Nm3")), "1e4Nm3",
        tce_carrier="natural_gas", meter=(Carrier.NATURAL_GAS, "Nm3", _CUM),
    ),
    "diesel": _Kind(
        _FUEL, "fuel_combustion", (("fuel", "柴油"), ("unit", "t")), "t", tce_carrier="diesel",
        meter=(Carrier.OIL, "t", _INT),
    ),
    "diesel_mobile": _Kind(
        _MOBILE, "fuel_combustion", (("fuel", "柴油"), ("unit", "t")), "t", tce_carrier="diesel",
        meter=(Carrier.OIL, "t", _INT),
    ),
    "gasoline_mobile": _Kind(
        _MOBILE, "fuel_combustion", (("fuel", "汽油"), ("unit", "t")), "t",
        tce_carrier="gasoline", meter=(Carrier.OIL, "t", _INT),
    ),
    "elec": _Kind(
        Category.PURCHASED_ELECTRICITY, "electricity", _ELECTRICITY, "MWh",
        tce_carrier="electricity", meter=(Carrier.ELECTRICITY, "kWh", _CUM),
    ),
    # Market-based: the template's green_share sets a fixed monthly green_amount.
    "elec_green": _Kind(
        Category.PURCHASED_ELECTRICITY, "electricity", (*_ELECTRICITY, ("basis", "market")),
        "MWh", tce_carrier="electricity", meter=(Carrier.ELECTRICITY, "kWh", _CUM),
    ),
    "heat": _Kind(
        Category.PURCHASED_HEAT, "heat", (("unit", "GJ"),), "GJ", tce_carrier="heat",
        meter=(Carrier.HEAT, "GJ", _CUM),
    ),
    # Steam by enthalpy: the template gives steam_enthalpy_kj_per_kg (and feedwater).
    "steam": _Kind(
        Category.PURCHASED_HEAT, "heat", (), "t", amount_field="steam_t", tce_carrier="heat",
        tce_from_energy=True, meter=(Carrier.STEAM, "t", _CUM),
    ),
    "heat_export": _Kind(
        Category.EXPORTED_ENERGY, "heat", (("unit", "GJ"), ("exported", True)), "GJ",
        meter=(Carrier.HEAT, "GJ", _CUM),
    ),
    "limestone": _Kind(
        Category.PROCESS, "carbonate", (("carbonate", "CaCO3"),), "t", amount_field="amount_t",
        meter=(Carrier.OTHER, "t", _INT),
    ),
    "dolomite": _Kind(
        Category.PROCESS, "carbonate", (("carbonate", "CaMg(CO3)2"),), "t",
        amount_field="amount_t", meter=(Carrier.OTHER, "t", _INT),
    ),
    "soda": _Kind(
        Category.PROCESS, "carbonate", (("carbonate", "Na2CO3"),), "t", amount_field="amount_t",
        meter=(Carrier.OTHER, "t", _INT),
    ),
    # Gas releases: the template gives the gas; amounts in kg unless it gives a unit.
    "leak": _Kind(Category.FUGITIVE, "gas_release", (("unit", "kg"),), "kg"),
    "release": _Kind(Category.PROCESS, "gas_release", (("unit", "kg"),), "kg"),
}
# fmt: on

#: Decimals kept for monthly amounts, by unit.
_DECIMALS: Final[dict[str, int]] = {"MWh": 3, "1e4Nm3": 3, "GJ": 1, "t": 1, "kg": 2}

# Meter labels by carrier: (Chinese, English).
_METER_LABELS: Final[dict[Carrier, tuple[str, str]]] = {
    Carrier.ELECTRICITY: ("电能表", "electricity meter"),
    Carrier.COAL: ("皮带秤", "belt scale"),
    Carrier.NATURAL_GAS: ("天然气流量计", "gas flow meter"),
    Carrier.OIL: ("油品计量表", "fuel meter"),
    Carrier.HEAT: ("热量表", "heat meter"),
    Carrier.STEAM: ("蒸汽流量计", "steam flow meter"),
    Carrier.OTHER: ("计量秤", "weigh scale"),
}


# --- seasonal profiles -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Profile:
    """Monthly shape of a source's activity.

    ``weights`` are relative monthly levels (January first), before the number of days in the
    month; ``holiday`` is the fraction of a month's activity lost when the whole Spring
    Festival falls in it; ``noise`` the standard deviation of the monthly log-normal noise.
    """

    weights: tuple[float, ...]
    holiday: float
    noise: float = 0.025


# fmt: off
_PROFILES: Final[dict[str, _Profile]] = {
    # Continuous processes (glass furnace, fab gases): only the days of the month matter.
    "flat": _Profile((1.0,) * 12, 0.0, 0.015),
    "manufacturing": _Profile(
        (0.98, 1.0, 1.0, 1.0, 1.0, 1.01, 1.0, 0.99, 1.01, 1.0, 1.02, 1.03), 0.3),
    # 错峰生产: winter stoppage of Jiangsu clinker lines; rainy season in July.
    "cement": _Profile(
        (0.72, 0.6, 1.05, 1.1, 1.1, 1.0, 0.86, 0.92, 1.05, 1.1, 1.1, 1.0), 0.1),
    # CHP: heat load in winter, power load in summer.
    "chp": _Profile(
        (1.18, 1.1, 1.0, 0.9, 0.85, 0.92, 1.08, 1.1, 0.95, 0.88, 0.97, 1.12), 0.05),
    # Industrial steam and gas: process load plus winter heating and cold feedwater.
    "process_heat": _Profile(
        (1.12, 1.05, 1.02, 0.98, 0.95, 0.93, 0.92, 0.92, 0.95, 0.98, 1.04, 1.12), 0.25),
    # Space heating (offices); some hot water all year.
    "heating": _Profile(
        (2.1, 1.8, 1.2, 0.6, 0.35, 0.25, 0.2, 0.2, 0.3, 0.55, 1.1, 1.9), 0.1),
    # Hot water all year plus space heating (hospitals, hotels).
    "heating_mild": _Profile(
        (1.5, 1.35, 1.1, 0.9, 0.8, 0.75, 0.75, 0.75, 0.8, 0.9, 1.1, 1.4), 0.05),
    # Air-conditioned buildings: summer cooling peak, heat pumps in winter.
    "cooling": _Profile(
        (1.05, 0.95, 0.85, 0.82, 0.9, 1.1, 1.35, 1.4, 1.12, 0.88, 0.85, 0.98), 0.2),
    "hotel": _Profile(
        (0.95, 0.9, 0.88, 0.9, 0.98, 1.1, 1.3, 1.32, 1.08, 0.98, 0.85, 0.95), 0.1),
    "hospital": _Profile(
        (1.05, 0.98, 0.92, 0.9, 0.95, 1.08, 1.2, 1.22, 1.05, 0.92, 0.9, 1.02), 0.08),
    # Data centre: IT load flat, chillers in summer.
    "datacentre": _Profile(
        (0.95, 0.93, 0.95, 0.97, 1.0, 1.04, 1.08, 1.09, 1.04, 0.99, 0.96, 0.96), 0.0, 0.015),
    # Fabs run through the holiday; cleanroom HVAC adds a little in summer.
    "fab": _Profile(
        (0.98, 0.97, 0.98, 0.99, 1.0, 1.02, 1.04, 1.05, 1.02, 1.0, 0.98, 0.98), 0.02, 0.015),
    # Logistics: the "Double 11" peak in November.
    "logistics": _Profile(
        (1.0, 1.0, 0.95, 0.97, 1.0, 1.02, 0.98, 1.0, 1.02, 1.05, 1.28, 1.12), 0.35),
    # Wastewater: more inflow in the plum-rain and typhoon season.
    "wastewater": _Profile(
        (0.92, 0.9, 0.98, 1.0, 1.02, 1.1, 1.12, 1.1, 1.02, 0.98, 0.94, 0.92), 0.05),
    # Refrigerant top-ups before and during the cooling season, irregular.
    "leak": _Profile(
        (0.3, 0.3, 0.5, 0.8, 1.6, 2.2, 1.8, 1.2, 0.9, 0.6, 0.4, 0.4), 0.0, 0.3),
    # Monthly test runs of standby generators, irregular.
    "gensets": _Profile((1.0,) * 12, 0.0, 0.2),
}
# fmt: on

#: Share of the Spring Festival holiday in each month (2024-02-10; 2025-01-29).
_SPRING_FESTIVAL: Final[dict[int, dict[int, float]]] = {2024: {2: 1.0}, 2025: {1: 0.5, 2: 0.5}}


# --- enterprise templates --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _S:
    """Template of a source; ``annual`` is its 2024 amount in the kind's unit. [unit/a]"""

    facility: int
    kind: str
    name_zh: str
    name_en: str
    annual: float
    profile: str
    growth: float | None = None  # 2025 / 2024; the enterprise's when None
    meters: int | None = None  # 1 for energy sources, 0 otherwise, when None
    green_share: float = 0.0  # market-based: green_amount / average monthly amount
    params: Params = ()


def _s(
    facility: int,
    kind: str,
    name_zh: str,
    name_en: str,
    annual: float,
    profile: str,
    *,
    growth: float | None = None,
    meters: int | None = None,
    green_share: float = 0.0,
    **params: object,
) -> _S:
    return _S(
        facility,
        kind,
        name_zh,
        name_en,
        annual,
        profile,
        growth,
        meters,
        green_share,
        tuple(params.items()),
    )


@dataclass(frozen=True, slots=True)
class _Econ:
    """Template of an enterprise's economics in 2024; ``growth`` of output value to 2025."""

    output: float  # [10^4 CNY]
    va_ratio: float  # value added / output [1]
    employees: int
    floor_area: float  # [m2]
    production: tuple[tuple[str, str, float, str], ...]
    growth: float = 1.04


@dataclass(frozen=True, slots=True)
class _E:
    """Template of an enterprise; ``growth`` is its activity 2025 / 2024."""

    sector: str
    name_zh: str
    name_en: str
    street: str
    facilities: tuple[tuple[str, str], ...]
    growth: float
    econ: _Econ
    sources: tuple[_S, ...]


_R410A_32 = ("R-410A泄漏（HFC-32组分）", "R-410A leak (HFC-32 component)")
_R410A_125 = ("R-410A泄漏（HFC-125组分）", "R-410A leak (HFC-125 component)")

# fmt: off
_ENTERPRISES: Final[tuple[_E, ...]] = (
    _E(
        "power", "江苏示范热电有限公司", "Jiangsu Demonstration Thermal Power Co., Ltd.",
        "示范大道1号", (("热电主厂区", "Main CHP plant"), ("燃料储运区", "Fuel handling yard")),
        0.97,
        _Econ(72_000, 0.26, 420, 86_000, (
            ("供电量", "Electricity supplied", 1_120_000, "MWh"),
            ("供热量", "Heat supplied", 3_000_000, "GJ"),
        ), growth=0.99),
        (
            _s(1, "coal", "1#—3#燃煤锅炉", "Coal-fired boilers No. 1–3", 470_000, "chp", meters=2),
            _s(1, "diesel", "锅炉点火及助燃柴油", "Boiler ignition and support diesel", 380, "chp"),
            _s(1, "limestone", "石灰石-石膏法脱硫", "Limestone-gypsum FGD", 9_800, "chp",
               meters=0, purity=0.9),
            _s(1, "leak", "GIS开关站SF6泄漏", "SF6 leakage from GIS switchgear", 9.0, "flat",
               gas="SF6"),
            _s(1, "elec", "停机备用外购电力", "Standby grid electricity", 2_400, "chp"),
            _s(1, "heat_export", "对外供热（园区蒸汽管网）", "Heat exported (park steam network)",
               3_000_000, "chp"),
            _s(2, "diesel_mobile", "输煤装载机与推土机", "Coal-yard loaders and bulldozers", 210,
               "flat"),
        ),
    ),
    _E(
        "cement", "苏州示范水泥有限公司", "Suzhou Demonstration Cement Co., Ltd.", "示范港路8号",
        (("4500t/d熟料生产线", "4,500 t/d clinker line"),
         ("水泥粉磨及混凝土站", "Cement grinding and ready-mix plant")),
        0.96,
        _Econ(155_000, 0.28, 680, 210_000, (
            ("水泥熟料", "Clinker", 1_300_000, "t"),
            ("水泥", "Cement", 1_700_000, "t"),
            ("商品混凝土", "Ready-mix concrete", 1_200_000, "m3"),
        ), growth=0.93),
        (
            _s(1, "limestone", "生料碳酸盐分解（石灰石）", "Raw-meal calcination (limestone)",
               1_650_000, "cement", purity=0.88),
            _s(1, "coal", "回转窑及分解炉燃煤", "Kiln and precalciner coal", 195_000, "cement",
               meters=2),
            _s(1, "elec", "熟料线用电", "Clinker line electricity", 72_000, "cement"),
            _s(2, "elec", "粉磨站及搅拌站用电", "Grinding and batching electricity", 58_000,
               "cement"),
            _s(1, "diesel_mobile", "矿山及厂内运输车辆", "Quarry and on-site vehicles", 1_150,
               "cement"),
        ),
    ),
    _E(
        "chemicals", "江苏示范精细化工有限公司", "Jiangsu Demonstration Fine Chemicals Co., Ltd.",
        "绿源路6号", (("合成车间", "Synthesis plant"), ("公用工程站", "Utilities station")),
        1.02,
        _Econ(185_000, 0.27, 860, 95_000, (("精细化学品", "Fine chemicals", 82_000, "t"),)),
        (
            _s(2, "ng", "燃气蒸汽锅炉", "Gas-fired steam boiler", 1_200, "process_heat"),
            _s(1, "ng", "天然气导热油炉", "Natural-gas thermal-oil heater", 385, "process_heat"),
            _s(1, "diesel_mobile", "厂内叉车与运输车辆", "On-site forklifts and trucks", 126,
               "manufacturing"),
            _s(1, "leak", "制冷设备HFC-134a补充", "Chiller refrigerant top-up (HFC-134a)", 40,
               "leak", gas="HFC-134a"),
            _s(2, "leak", "开关柜SF6补气", "Switchgear SF6 top-up", 1.2, "flat", gas="SF6"),
            _s(1, "elec", "外购电力", "Purchased electricity", 38_500, "manufacturing"),
            _s(1, "steam", "外购蒸汽（园区热电厂）", "Purchased steam (park CHP plant)", 18_000,
               "process_heat", steam_enthalpy_kj_per_kg=2780.0),
        ),
    ),
    _E(
        "nonferrous", "江苏示范铝业有限公司", "Jiangsu Demonstration Aluminium Co., Ltd.",
        "智造路18号", (("熔铸车间", "Melting and casting shop"),
                     ("热轧冷轧车间", "Hot and cold rolling mill")),
        1.04,
        _Econ(640_000, 0.11, 1_750, 230_000, (
            ("铝板带箔", "Aluminium sheet, strip and foil", 285_000, "t"),
        )),
        (
            _s(1, "ng", "熔炼炉与保温炉", "Melting and holding furnaces", 1_150, "manufacturing"),
            _s(2, "ng", "退火炉", "Annealing furnaces", 520, "manufacturing"),
            _s(1, "elec", "熔铸车间用电", "Casting shop electricity", 38_000, "manufacturing"),
            _s(2, "elec", "轧机用电", "Rolling mill electricity", 118_000, "manufacturing",
               meters=2),
            _s(1, "diesel_mobile", "叉车与铝锭转运车", "Forklifts and ingot carriers", 260,
               "manufacturing"),
            _s(2, "leak", "开关柜SF6补气", "Switchgear SF6 top-up", 2.0, "flat", gas="SF6"),
        ),
    ),
    _E(
        "steel", "苏州示范特钢有限公司", "Suzhou Demonstration Special Steel Co., Ltd.",
        "智造路66号", (("电炉炼钢车间", "EAF steelmaking shop"), ("轧钢车间", "Rolling mill")),
        0.98,
        _Econ(360_000, 0.16, 1_500, 260_000, (
            ("粗钢（电炉）", "Crude steel (EAF)", 620_000, "t"),
            ("特殊钢材", "Special steel products", 590_000, "t"),
        ), growth=0.97),
        (
            _s(1, "elec", "电弧炉及精炼炉用电", "EAF and ladle furnace electricity", 235_000,
               "manufacturing", meters=2),
            _s(2, "elec", "轧钢用电", "Rolling mill electricity", 62_000, "manufacturing"),
            _s(2, "ng", "轧钢加热炉", "Reheating furnaces", 1_650, "manufacturing"),
            _s(1, "ng", "钢包烘烤", "Ladle preheating", 180, "manufacturing"),
            _s(1, "dolomite", "造渣熔剂（白云石）", "Slag flux (dolomite)", 9_500,
               "manufacturing", meters=0, purity=0.92),
            _s(1, "limestone", "造渣熔剂（石灰石）", "Slag flux (limestone)", 14_000,
               "manufacturing", meters=0, purity=0.93),
            _s(1, "diesel_mobile", "废钢装卸与厂内运输", "Scrap handling and internal transport",
               640, "manufacturing"),
        ),
    ),
    _E(
        "glass", "江苏示范玻璃有限公司", "Jiangsu Demonstration Glass Co., Ltd.", "绿源路28号",
        (("600t/d浮法玻璃生产线", "600 t/d float glass line"),
         ("玻璃深加工车间", "Glass processing shop")),
        1.0,
        _Econ(52_000, 0.22, 650, 120_000, (
            ("浮法玻璃", "Float glass", 205_000, "t"),
            ("钢化及中空玻璃", "Tempered and insulating glass", 1_800_000, "m2"),
        )),
        (
            _s(1, "ng", "浮法玻璃熔窑", "Float glass furnace", 3_250, "flat"),
            _s(1, "soda", "纯碱分解", "Soda ash decomposition", 42_000, "flat", purity=0.99),
            _s(1, "dolomite", "白云石分解", "Dolomite decomposition", 36_000, "flat", meters=0,
               purity=0.95),
            _s(1, "limestone", "石灰石分解", "Limestone decomposition", 11_000, "flat",
               meters=0, purity=0.96),
            _s(1, "elec", "熔窑及成型用电", "Furnace and forming electricity", 19_500, "flat"),
            _s(2, "elec", "深加工用电", "Processing shop electricity", 8_200, "manufacturing"),
            _s(2, "ng", "钢化炉", "Tempering furnaces", 95, "manufacturing"),
        ),
    ),
    _E(
        "semiconductors", "示范集成电路制造（苏州）有限公司",
        "Demonstration IC Manufacturing (Suzhou) Co., Ltd.", "科创大道100号",
        (("12英寸晶圆厂Fab 1", "300 mm wafer fab (Fab 1)"),
         ("动力厂房CUB", "Central utility building")),
        1.06,
        _Econ(520_000, 0.42, 3_300, 380_000, (
            ("12英寸晶圆", "300 mm wafers", 420_000, "wafer"),
        ), growth=1.08),
        (
            _s(1, "elec", "晶圆厂工艺设备用电", "Fab process tool electricity", 165_000, "fab",
               meters=2),
            _s(2, "elec", "动力厂房用电（冷冻机、空压、纯水）",
               "CUB electricity (chillers, compressed air, ultrapure water)", 118_000, "fab"),
            _s(2, "ng", "热水锅炉", "Hot-water boilers", 310, "process_heat"),
            _s(1, "release", "CVD腔体清洗NF3排放", "NF3 from CVD chamber cleaning", 2_100, "flat",
               gas="NF3"),
            _s(1, "release", "等离子刻蚀CF4排放", "CF4 from plasma etching", 950, "flat",
               gas="CF4"),
            _s(1, "release", "CVD工艺N2O排放", "N2O from CVD deposition", 3_500, "flat",
               gas="N2O"),
            _s(2, "diesel", "应急柴油发电机", "Emergency diesel generators", 22, "gensets"),
        ),
    ),
    _E(
        "electronics", "示范光电显示（苏州）有限公司",
        "Demonstration Optoelectronic Display (Suzhou) Co., Ltd.", "科创大道200号",
        (("阵列厂", "Array fab"), ("彩膜及成盒厂", "Colour filter and cell fab"),
         ("模组厂", "Module plant")),
        1.03,
        _Econ(880_000, 0.25, 5_600, 520_000, (
            ("液晶显示面板", "TFT-LCD panels", 9_600_000, "m2"),
        )),
        (
            _s(1, "elec", "阵列厂用电", "Array fab electricity", 98_000, "fab"),
            _s(2, "elec", "彩膜及成盒厂用电", "Colour filter and cell fab electricity", 56_000,
               "fab"),
            _s(3, "elec", "模组厂用电", "Module plant electricity", 22_000, "manufacturing"),
            _s(1, "release", "干法刻蚀SF6排放", "SF6 from dry etching", 1_350, "flat", gas="SF6"),
            _s(1, "release", "CVD清洗NF3排放", "NF3 from CVD cleaning", 420, "flat", gas="NF3"),
            _s(2, "ng", "工艺及空调锅炉", "Process and HVAC boilers", 260, "process_heat"),
        ),
    ),
    _E(
        "electronics", "示范电子科技（苏州）有限公司",
        "Demonstration Electronics Technology (Suzhou) Co., Ltd.", "创新路9号",
        (("印制电路板厂", "PCB plant"), ("SMT组装车间", "SMT assembly shop")),
        1.05,
        _Econ(610_000, 0.14, 8_200, 310_000, (
            ("印制电路板", "Printed circuit boards", 2_300_000, "m2"),
            ("电子组件", "Electronic assemblies", 18_000_000, "pcs"),
        ), growth=1.06),
        (
            _s(1, "elec", "印制电路板厂用电", "PCB plant electricity", 46_000, "manufacturing"),
            _s(2, "elec", "SMT组装用电", "SMT assembly electricity", 21_000, "manufacturing"),
            _s(1, "ng", "烘干及废气焚烧", "Dryers and thermal oxidiser", 140, "manufacturing"),
            _s(2, "leak", "冷水机组HFC-134a补充", "Chiller HFC-134a top-up", 85, "leak",
               gas="HFC-134a"),
        ),
    ),
    _E(
        "data_centre", "示范云计算数据中心（苏州）有限公司",
        "Demonstration Cloud Data Centre (Suzhou) Co., Ltd.", "创新路88号",
        (("A栋数据机房楼", "Data hall building A"), ("B栋数据机房楼", "Data hall building B")),
        1.12,
        _Econ(92_000, 0.45, 180, 62_000, (
            ("IT设备用电量", "IT equipment electricity", 76_000, "MWh"),
            ("在用机柜", "Racks in service", 7_800, "rack"),
        ), growth=1.12),
        (
            _s(1, "elec", "A栋用电（IT及制冷）", "Building A electricity (IT and cooling)",
               62_000, "datacentre", meters=2),
            _s(2, "elec", "B栋用电（IT及制冷）", "Building B electricity (IT and cooling)",
               44_000, "datacentre", meters=2),
            _s(1, "diesel", "A栋柴油发电机组", "Building A diesel generators", 21, "gensets"),
            _s(2, "diesel", "B栋柴油发电机组", "Building B diesel generators", 16, "gensets"),
            _s(1, "leak", "精密空调" + _R410A_32[0], "CRAC " + _R410A_32[1], 60, "leak",
               gas="HFC-32"),
            _s(1, "leak", "精密空调" + _R410A_125[0], "CRAC " + _R410A_125[1], 60, "leak",
               gas="HFC-125"),
        ),
    ),
    _E(
        "logistics", "示范智慧物流有限公司", "Demonstration Smart Logistics Co., Ltd.",
        "物流园路1号", (("综合物流仓储中心", "Logistics and warehousing centre"),
                      ("冷链仓库", "Cold-chain warehouse")),
        1.04,
        _Econ(128_000, 0.22, 1_150, 145_000, (
            ("货物周转量", "Freight turnover", 380_000_000, "t·km"),
            ("仓储吞吐量", "Warehouse throughput", 1_450_000, "t"),
        ), growth=1.05),
        (
            _s(1, "diesel_mobile", "重型柴油货车", "Heavy diesel trucks", 3_100, "logistics"),
            _s(1, "gasoline_mobile", "城配汽油货车", "Urban gasoline delivery vans", 280,
               "logistics"),
            _s(1, "elec", "仓库用电", "Warehouse electricity", 5_200, "logistics"),
            _s(2, "elec", "冷库用电", "Cold store electricity", 7_400, "cooling"),
            _s(1, "elec", "电动叉车充电桩用电", "Electric forklift chargers", 420, "logistics"),
            _s(2, "leak", "冷库制冷剂HFC-134a补充", "Cold store HFC-134a top-up", 70, "leak",
               gas="HFC-134a"),
        ),
    ),
    _E(
        "offices", "苏州示范科创中心运营管理有限公司",
        "Suzhou Demonstration Innovation Centre Management Co., Ltd.", "科创大道1号",
        (("科创中心A座", "Innovation Centre Tower A"),
         ("科创中心B座", "Innovation Centre Tower B")),
        0.95,
        _Econ(36_000, 0.55, 140, 68_000, (("出租面积", "Leased floor area", 61_000, "m2"),)),
        (
            _s(1, "elec", "A座用电", "Tower A electricity", 2_450, "cooling", growth=0.93),
            _s(2, "elec", "B座用电", "Tower B electricity", 1_650, "cooling"),
            _s(1, "ng", "燃气热水锅炉（冬季供暖）", "Gas hot-water boilers (winter heating)", 22,
               "heating", growth=0.9),
            _s(1, "leak", "多联机" + _R410A_32[0], "VRF " + _R410A_32[1], 18, "leak",
               gas="HFC-32"),
            _s(1, "leak", "多联机" + _R410A_125[0], "VRF " + _R410A_125[1], 18, "leak",
               gas="HFC-125"),
        ),
    ),
    _E(
        "offices", "示范软件信息技术有限公司", "Demonstration Software and IT Co., Ltd.",
        "创新路20号", (("研发办公楼", "R&D office building"),),
        1.03,
        _Econ(265_000, 0.48, 2_600, 31_000, (
            ("软件项目交付", "Software projects delivered", 420, "project"),
        ), growth=1.07),
        (
            _s(1, "elec", "办公楼用电", "Office building electricity", 2_300, "cooling",
               meters=2),
            _s(1, "heat", "外购热水（园区热网）", "Purchased hot-water heat (park network)",
               8_500, "heating"),
            _s(1, "leak", "机房空调HFC-134a补充", "Server room HFC-134a top-up", 12, "leak",
               gas="HFC-134a"),
        ),
    ),
    _E(
        "photovoltaics", "示范光伏科技（苏州）有限公司",
        "Demonstration PV Technology (Suzhou) Co., Ltd.", "绿源路58号",
        (("电池片车间", "Cell plant"), ("组件车间", "Module plant")),
        0.92,
        _Econ(235_000, 0.15, 2_200, 160_000, (
            ("太阳能电池片", "Solar cells", 3_200, "MW"),
            ("光伏组件", "PV modules", 2_600, "MW"),
        ), growth=0.85),
        (
            _s(1, "elec_green", "电池片车间用电（含绿证）",
               "Cell plant electricity (with green certificates)", 98_000, "manufacturing",
               meters=2, green_share=0.4),
            _s(2, "elec", "组件车间用电", "Module plant electricity", 28_000, "manufacturing"),
            _s(1, "ng", "扩散及烧结炉辅助加热", "Diffusion and firing furnace heating", 75,
               "manufacturing"),
            _s(1, "release", "PECVD清洗NF3排放", "NF3 from PECVD cleaning", 260, "flat",
               gas="NF3"),
        ),
    ),
    _E(
        "batteries", "示范动力电池（苏州）有限公司",
        "Demonstration Power Battery (Suzhou) Co., Ltd.", "绿源路99号",
        (("电芯工厂", "Cell plant"), ("模组与PACK工厂", "Module and pack plant")),
        1.10,
        _Econ(410_000, 0.18, 3_900, 280_000, (
            ("动力电池电芯", "Battery cells", 8_000_000, "kWh"),
        ), growth=1.08),
        (
            _s(1, "elec_green", "电芯工厂用电（绿电交易）",
               "Cell plant electricity (green-power trading)", 152_000, "manufacturing",
               meters=2, green_share=0.35),
            _s(2, "elec", "PACK工厂用电", "Pack plant electricity", 18_000, "manufacturing"),
            _s(1, "ng", "NMP回收及涂布烘干", "NMP recovery and coating dryers", 460,
               "manufacturing"),
            _s(1, "leak", "干燥房冷水机组HFC-134a补充", "Dry-room chiller HFC-134a top-up", 110,
               "leak", gas="HFC-134a"),
            _s(2, "diesel_mobile", "厂内物流车辆", "In-plant logistics vehicles", 45,
               "manufacturing"),
        ),
    ),
    _E(
        "automotive", "示范汽车零部件（苏州）有限公司",
        "Demonstration Auto Parts (Suzhou) Co., Ltd.", "智造路120号",
        (("压铸车间", "Die-casting shop"), ("机加工及涂装车间", "Machining and painting shop")),
        1.03,
        _Econ(285_000, 0.2, 2_400, 150_000, (
            ("铝合金压铸件", "Aluminium die-castings", 42_000, "t"),
            ("汽车零部件", "Auto parts", 6_500_000, "pcs"),
        )),
        (
            _s(1, "ng", "铝合金熔化炉", "Aluminium melting furnaces", 380, "manufacturing"),
            _s(2, "ng", "涂装烘房及RTO", "Paint ovens and RTO", 210, "process_heat"),
            _s(1, "elec", "压铸车间用电", "Die-casting shop electricity", 21_000,
               "manufacturing"),
            _s(2, "elec", "机加工及涂装用电", "Machining and painting electricity", 24_000,
               "manufacturing"),
            _s(2, "diesel_mobile", "叉车及厂内运输", "Forklifts and internal transport", 70,
               "manufacturing"),
        ),
    ),
    _E(
        "pharma", "示范生物医药（苏州）有限公司", "Demonstration Biopharma (Suzhou) Co., Ltd.",
        "健康路16号",
        (("原料药车间", "API plant"), ("制剂车间", "Formulation plant"),
         ("研发及质检楼", "R&D and QC building")),
        1.05,
        _Econ(330_000, 0.38, 1_650, 120_000, (
            ("原料药", "Active pharmaceutical ingredients", 850, "t"),
            ("固体制剂", "Solid dosage forms", 1_200_000_000, "tablet"),
        ), growth=1.07),
        (
            _s(1, "steam", "外购蒸汽（园区热电厂）", "Purchased steam (park CHP plant)", 62_000,
               "process_heat", steam_enthalpy_kj_per_kg=2777.1,
               feedwater_enthalpy_kj_per_kg=83.74),
            _s(1, "elec", "原料药车间用电", "API plant electricity", 21_000, "manufacturing"),
            _s(2, "elec", "制剂车间用电（洁净空调）", "Formulation electricity (cleanroom HVAC)",
               14_500, "fab"),
            _s(3, "elec", "研发质检楼用电", "R&D and QC building electricity", 3_200, "cooling"),
            _s(1, "ng", "RTO废气焚烧", "Regenerative thermal oxidiser", 48, "manufacturing"),
            _s(2, "leak", "冷库及空调HFC-134a补充", "Cold store and HVAC HFC-134a top-up", 55,
               "leak", gas="HFC-134a"),
        ),
    ),
    _E(
        "food", "示范食品饮料（苏州）有限公司",
        "Demonstration Food and Beverage (Suzhou) Co., Ltd.", "健康路58号",
        (("饮料灌装车间", "Beverage bottling plant"), ("烘焙食品车间", "Bakery plant")),
        1.02,
        _Econ(152_000, 0.3, 950, 88_000, (
            ("饮料", "Beverages", 320_000, "t"),
            ("烘焙食品", "Bakery products", 26_000, "t"),
        )),
        (
            _s(1, "ng", "燃气蒸汽锅炉", "Gas-fired steam boiler", 240, "process_heat"),
            _s(2, "ng", "烘焙隧道炉", "Tunnel baking ovens", 135, "manufacturing"),
            _s(1, "elec", "灌装车间用电", "Bottling plant electricity", 11_500, "cooling"),
            _s(2, "elec", "烘焙车间用电", "Bakery electricity", 6_200, "manufacturing"),
            _s(1, "diesel_mobile", "配送货车", "Delivery trucks", 340, "logistics"),
            _s(1, "leak", "冷库HFC-134a补充", "Cold store HFC-134a top-up", 48, "leak",
               gas="HFC-134a"),
        ),
    ),
    _E(
        "textiles", "示范纺织印染有限公司", "Demonstration Textile Printing and Dyeing Co., Ltd.",
        "绿源路120号", (("印染车间", "Dyeing and finishing shop"), ("织造车间", "Weaving shop")),
        0.94,
        _Econ(118_000, 0.2, 1_320, 105_000, (("印染布", "Dyed fabric", 115_000_000, "m"),),
              growth=1.01),
        (
            _s(1, "steam", "外购蒸汽（园区热电厂）", "Purchased steam (park CHP plant)", 148_000,
               "process_heat", growth=0.91, steam_enthalpy_kj_per_kg=2800.0),
            _s(1, "ng", "定型机燃气", "Stenter gas burners", 330, "manufacturing"),
            _s(1, "elec", "印染车间用电", "Dyeing shop electricity", 16_500, "manufacturing"),
            _s(2, "elec", "织造车间用电", "Weaving shop electricity", 12_800, "manufacturing"),
        ),
    ),
    _E(
        "paper", "示范纸业（苏州）有限公司", "Demonstration Paper (Suzhou) Co., Ltd.",
        "示范港路36号", (("PM1纸机车间", "Paper machine PM1"),
                       ("废纸制浆车间", "Recycled-fibre pulping")),
        0.97,
        _Econ(92_000, 0.2, 720, 135_000, (
            ("瓦楞原纸及箱板纸", "Corrugating medium and linerboard", 205_000, "t"),
        ), growth=0.98),
        (
            _s(1, "ng", "燃气蒸汽锅炉（纸机烘缸）", "Gas-fired steam boilers (dryer section)",
               2_350, "process_heat"),
            _s(1, "elec", "纸机用电", "Paper machine electricity", 58_000, "manufacturing"),
            _s(2, "elec", "制浆用电", "Pulping electricity", 29_000, "manufacturing"),
            _s(1, "diesel_mobile", "叉车及原料转运", "Forklifts and bale handling", 150,
               "manufacturing"),
        ),
    ),
    _E(
        "water", "苏州示范水务有限公司", "Suzhou Demonstration Water Co., Ltd.", "清源路2号",
        (("污水处理厂（20万m3/d）", "Wastewater treatment plant (200,000 m3/d)"),),
        1.02,
        _Econ(12_500, 0.45, 135, 28_000, (
            ("污水处理量", "Wastewater treated", 72_000_000, "m3"),
        ), growth=1.03),
        (
            _s(1, "elec", "污水处理用电", "Treatment electricity", 25_500, "wastewater",
               meters=2),
            _s(1, "release", "生化处理N2O排放", "N2O from biological treatment", 11_500,
               "wastewater", gas="N2O"),
            _s(1, "release", "厌氧处理CH4排放", "CH4 from anaerobic treatment", 38_000,
               "wastewater", gas="CH4_non_fossil"),
            _s(1, "diesel_mobile", "污泥转运车辆", "Sludge haulage trucks", 85, "flat"),
        ),
    ),
    _E(
        "hospital", "示范高新区总医院", "Demonstration Zone General Hospital", "健康路1号",
        (("门急诊及住院楼", "Outpatient and inpatient buildings"),
         ("后勤动力中心", "Utilities centre")),
        1.02,
        _Econ(185_000, 0.4, 2_650, 210_000, (
            ("门急诊人次", "Outpatient visits", 1_850_000, "visit"),
            ("出院人次", "Inpatient discharges", 62_000, "discharge"),
        ), growth=1.05),
        (
            _s(1, "elec", "医疗楼用电", "Hospital buildings electricity", 15_200, "hospital"),
            _s(2, "elec", "动力中心用电", "Utilities centre electricity", 4_600, "hospital"),
            _s(2, "ng", "燃气蒸汽锅炉（消毒、供暖、热水）",
               "Gas steam boilers (sterilisation, heating, hot water)", 125, "heating_mild"),
            _s(2, "diesel", "应急柴油发电机", "Emergency diesel generators", 6, "gensets"),
            _s(1, "release", "麻醉废气N2O", "Anaesthetic N2O", 420, "flat", gas="N2O"),
            _s(2, "leak", "冷水机组HFC-134a补充", "Chiller HFC-134a top-up", 35, "leak",
               gas="HFC-134a"),
        ),
    ),
    _E(
        "hotel", "苏州示范国际酒店有限公司", "Suzhou Demonstration International Hotel Co., Ltd.",
        "科创大道8号", (("酒店主楼", "Hotel tower"),),
        1.02,
        _Econ(26_000, 0.45, 480, 52_000, (
            ("客房出租", "Room nights sold", 142_000, "room-night"),
        )),
        (
            _s(1, "elec", "酒店用电", "Hotel electricity", 5_600, "hotel", meters=2),
            _s(1, "ng", "燃气锅炉（热水、供暖）", "Gas boilers (hot water and heating)", 48,
               "heating_mild"),
            _s(1, "ng", "厨房燃气", "Kitchen gas", 22, "hotel"),
            _s(1, "leak", "多联机" + _R410A_32[0], "VRF " + _R410A_32[1], 14, "leak",
               gas="HFC-32"),
            _s(1, "leak", "多联机" + _R410A_125[0], "VRF " + _R410A_125[1], 14, "leak",
               gas="HFC-125"),
        ),
    ),
    _E(
        "machinery", "示范重型装备制造（苏州）有限公司",
        "Demonstration Heavy Equipment Manufacturing (Suzhou) Co., Ltd.", "智造路200号",
        (("结构件焊接车间", "Structural welding shop"),
         ("热处理及涂装车间", "Heat-treatment and painting shop"),
         ("总装试验车间", "Assembly and test shop")),
        1.01,
        _Econ(345_000, 0.22, 2_100, 175_000, (
            ("工程机械", "Construction machinery", 3_600, "unit"),
        )),
        (
            _s(1, "elec", "焊接车间用电", "Welding shop electricity", 12_500, "manufacturing"),
            _s(1, "release", "CO2焊接保护气", "CO2 welding shielding gas", 135, "manufacturing",
               gas="CO2", unit="t"),
            _s(2, "ng", "热处理炉及烘干室", "Heat-treatment furnaces and drying ovens", 240,
               "manufacturing"),
            _s(2, "elec", "热处理及涂装用电", "Heat-treatment and painting electricity", 9_800,
               "manufacturing"),
            _s(3, "elec", "总装试验用电", "Assembly and test electricity", 6_900,
               "manufacturing"),
            _s(3, "diesel", "整机试车柴油", "Diesel for machine test runs", 210, "manufacturing"),
        ),
    ),
    _E(
        "retail", "苏州示范商业广场管理有限公司",
        "Suzhou Demonstration Shopping Plaza Management Co., Ltd.", "科创大道18号",
        (("购物中心", "Shopping mall"),),
        1.03,
        _Econ(48_000, 0.35, 320, 95_000, (("商品销售额", "Retail sales", 210_000, "10^4 CNY"),)),
        (
            _s(1, "elec", "购物中心用电", "Shopping mall electricity", 8_800, "cooling",
               meters=2),
            _s(1, "ng", "餐饮燃气", "Restaurant gas", 36, "hotel"),
            _s(1, "leak", "冷水机组HFC-134a补充", "Chiller HFC-134a top-up", 30, "leak",
               gas="HFC-134a"),
        ),
    ),
)


# fmt: on

# --- codes and names -------------------------------------------------------------------------

REGION_CODE: Final = "JS"
PARK_CODE: Final = "JS-SGX"
VERIFIER_CODE: Final = "VB-01"
_REGION = "江苏"
_PARK_ADDRESS = "江苏省苏州市示范高新区"

# 统一社会信用代码 (GB 32100-2015) alphabet and weights; organisation code (GB 11714-1997).
_USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code(division: str, serial: int) -> str:
    """A well-formed 统一社会信用代码 of an enterprise registered with 市场监管 (``91``).

    Parameters
    ----------
    division : str
        Six-digit administrative division code (``320505``).
    serial : int
        Serial number, 0–999 999; the organisation code is ``MA`` + six digits.

    Returns
    -------
    str
        18 characters with valid GB 11714 and GB 32100 check digits.
    """
    body = f"MA{serial % 1_000_000:06d}"
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    organisation = body + {10: "X", 11: "0"}.get(check, str(check))
    code = "91" + division + organisation
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code, _USCC_WEIGHTS, strict=True))
    return code + _USCC_ALPHABET[(31 - total % 31) % 31]


def _multiplier(carrier: Carrier, annual_per_meter: float) -> float:
    """CT × PT ratio of an electricity meter for its annual consumption [MWh]; 1 otherwise."""
    if carrier is not Carrier.ELECTRICITY:
        return 1.0
    # Direct-connected; 0.4 kV with CT 200/5 or 1000/5; 10 kV with CT 200/5 (PT 100);
    # 110 kV with CT 300/5 (PT 1100).
    for limit, ratio in ((500, 1), (3_000, 40), (12_000, 200), (60_000, 4_000)):
        if annual_per_meter < limit:
            return float(ratio)
    return 66_000.0


# --- generation ------------------------------------------------------------------------------


def _months(template: _S, code: str, unit: str, growth: float, seed: int) -> list[DemoActivity]:
    """24 months of a source: profile × days × Spring Festival × noise, scaled per year."""
    rng = random.Random(f"{seed}/{code}")
    profile = _PROFILES[template.profile]
    decimals = _DECIMALS.get(unit, 3)
    smallest = 10.0**-decimals
    out = []
    for i, year in enumerate(YEARS):
        level = template.annual * growth**i * rng.lognormvariate(0.0, 0.01)
        weights = [
            profile.weights[month - 1]
            * calendar.monthrange(year, month)[1]
            * (1.0 - profile.holiday * _SPRING_FESTIVAL[year].get(month, 0.0))
            * rng.lognormvariate(0.0, profile.noise)
            for month in range(1, 13)
        ]
        total = math.fsum(weights)
        for month, weight in enumerate(weights, start=1):
            amount = max(round(level * weight / total, decimals), smallest)
            out.append(DemoActivity(code, year, month, amount))
    return out


def _economics(template: _E) -> tuple[DemoEconomics, ...]:
    """Economic figures per year (output at the template's rate, production with activity)."""
    econ = template.econ
    out = []
    for i, year in enumerate(YEARS):
        output = round(econ.output * econ.growth**i, 1)
        out.append(
            DemoEconomics(
                year=year,
                output_value_10k_cny=output,
                value_added_10k_cny=round(output * econ.va_ratio, 1),
                employees=round(econ.employees * (1 + (econ.growth - 1) / 3) ** i),
                floor_area_m2=float(econ.floor_area),
                production=tuple(
                    (zh, en, float(f"{amount * template.growth**i:.4g}"), unit)
                    for zh, en, amount, unit in econ.production
                ),
            )
        )
    return tuple(out)


def _top_orgs() -> list[DemoOrg]:
    """The region, the park and the verification body."""
    return [
        DemoOrg(
            code=REGION_CODE,
            kind=OrgKind.REGION.value,
            name_zh="江苏省",
            name_en="Jiangsu Province",
            parent_code=None,
            sector=None,
            region=_REGION,
            address_zh="江苏省南京市",
            credit_code=None,
            economics=(),
        ),
        DemoOrg(
            code=PARK_CODE,
            kind=OrgKind.PARK.value,
            name_zh="苏州示范高新技术产业开发区",
            name_en="Suzhou Demonstration High-tech Industrial Development Zone",
            parent_code=REGION_CODE,
            sector=None,
            region=_REGION,
            address_zh=_PARK_ADDRESS + "科创大道1号（管委会）",
            credit_code=None,
            economics=(),
        ),
        DemoOrg(
            code=VERIFIER_CODE,
            kind=OrgKind.VERIFIER.value,
            name_zh="江苏示范低碳认证中心有限公司",
            name_en="Jiangsu Demonstration Low-Carbon Certification Centre Co., Ltd.",
            parent_code=None,
            sector=None,
            region=_REGION,
            address_zh="江苏省南京市示范路88号",
            credit_code=None,
            economics=(),
        ),
    ]


def _source(code: str, org_code: str, template: _S) -> DemoSource:
    """The source of a template, its parameters completed from its kind."""
    kind = _KINDS[template.kind]
    params: dict[str, object] = dict(kind.params)
    params.update(template.params)
    if template.green_share:
        # A fixed monthly volume of green certificates, below any month's consumption.
        params["green_amount"] = round(template.green_share * template.annual / 12, 1)
    return DemoSource(
        code=code,
        org_code=org_code,
        name_zh=template.name_zh,
        name_en=template.name_en,
        category=kind.category.value,
        method=kind.method,
        params=params,
        amount_field=kind.amount_field,
        unit=str(params.get("unit", kind.unit)),
        tce_carrier=kind.tce_carrier,
        tce_from_energy=kind.tce_from_energy,
    )


def _source_meters(source: DemoSource, template: _S) -> list[DemoMeter]:
    """The meters of a source, with placeholder codes (numbered by the caller)."""
    kind = _KINDS[template.kind]
    count = template.meters
    if count is None:
        count = 1 if kind.tce_carrier or kind.category is Category.EXPORTED_ENERGY else 0
    if not count or kind.meter is None:
        return []
    carrier, unit, first_kind = kind.meter
    label_zh, label_en = _METER_LABELS[carrier]
    return [
        DemoMeter(
            code="",
            org_code=source.org_code,
            source_code=source.code,
            name_zh=f"{source.name_zh}（{f'{k}#' if count > 1 else ''}{label_zh}）",
            name_en=f"{source.name_en}, {label_en}{f' {k}' if count > 1 else ''}",
            carrier=carrier.value,
            unit=unit,
            # Further meters of a source (second incoming line …) report interval data.
            kind=(first_kind if k == 1 else MeterKind.INTERVAL).value,
            multiplier=_multiplier(carrier, template.annual / count),
        )
        for k in range(1, count + 1)
    ]


def _water_meter(org_code: str, name_zh: str, name_en: str) -> DemoMeter:
    """The mains water meter of a facility (placeholder code)."""
    return DemoMeter(
        code="",
        org_code=org_code,
        source_code=None,
        name_zh=f"{name_zh}自来水总表",
        name_en=f"{name_en}, mains water meter",
        carrier=Carrier.WATER.value,
        unit="m3",
        kind=MeterKind.CUMULATIVE.value,
        multiplier=1.0,
    )


def _enterprise(
    number: int, template: _E, seed: int
) -> tuple[list[DemoOrg], list[DemoSource], list[DemoMeter], list[DemoActivity]]:
    """Organisations, sources, meters and activity of the enterprise numbered ``number``."""
    code = f"{PARK_CODE}-E{number:02d}"
    address = _PARK_ADDRESS + template.street
    orgs = [
        DemoOrg(
            code=code,
            kind=OrgKind.ENTERPRISE.value,
            name_zh=template.name_zh,
            name_en=template.name_en,
            parent_code=PARK_CODE,
            sector=template.sector,
            region=_REGION,
            address_zh=address,
            credit_code=credit_code("320505", 270_000 + 7_919 * number),
            economics=_economics(template),
        )
    ]
    orgs.extend(
        DemoOrg(
            code=f"{code}-F{i}",
            kind=OrgKind.FACILITY.value,
            name_zh=zh,
            name_en=en,
            parent_code=code,
            sector=template.sector,
            region=_REGION,
            address_zh=f"{address}（{zh}）",
            credit_code=None,
            economics=(),
        )
        for i, (zh, en) in enumerate(template.facilities, start=1)
    )
    sources: list[DemoSource] = []
    activity: list[DemoActivity] = []
    meters: list[DemoMeter] = []
    for i, tpl in enumerate(template.sources, start=1):
        source = _source(f"{code}-S{i}", orgs[tpl.facility].code, tpl)
        sources.append(source)
        growth = tpl.growth if tpl.growth is not None else template.growth
        activity.extend(_months(tpl, source.code, source.unit, growth, seed))
        meters.extend(_source_meters(source, tpl))
    # One mains water meter per facility, at most two per enterprise.
    meters.extend(_water_meter(f.code, f.name_zh, f.name_en) for f in orgs[1:3])
    meters = [replace(m, code=f"{code}-M{i}") for i, m in enumerate(meters, start=1)]
    return orgs, sources, meters, activity


def build_demo_park(seed: int = 2026) -> DemoPark:
    """Build the demo park.

    Parameters
    ----------
    seed : int, optional
        Seed of the monthly variation. The same seed gives an equal park; another seed changes
        the activity amounts only (codes, sources, meters and economics stay the same).

    Returns
    -------
    DemoPark
        Organisations (parents first), sources, meters and 24 months of activity per source.
    """
    orgs = _top_orgs()
    sources: list[DemoSource] = []
    meters: list[DemoMeter] = []
    activity: list[DemoActivity] = []
    for number, template in enumerate(_ENTERPRISES, start=1):
        e_orgs, e_sources, e_meters, e_activity = _enterprise(number, template, seed)
        orgs.extend(e_orgs)
        sources.extend(e_sources)
        meters.extend(e_meters)
        activity.extend(e_activity)
    return DemoPark(
        orgs=tuple(orgs),
        sources=tuple(sources),
        meters=tuple(meters),
        activity=tuple(activity),
        years=YEARS,
    )

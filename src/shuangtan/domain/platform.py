"""The platform's vocabulary: organisations, emission sources, meters, roles.

Codes are stable English identifiers (stored in the database, used in the API); each has a
Chinese and an English label for people.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final

__all__ = [
    "ALLOWED_PARENTS",
    "CARRIERS",
    "CATEGORIES",
    "CATEGORY_SCOPE",
    "ISO_CATEGORY",
    "SECTORS",
    "Carrier",
    "Category",
    "MeterKind",
    "OrgKind",
    "Origin",
    "Role",
    "Scope",
]


class OrgKind(StrEnum):
    """Levels of the organisation tree (region ▸ park ▸ enterprise ▸ facility)."""

    REGION = "region"
    PARK = "park"
    ENTERPRISE = "enterprise"
    FACILITY = "facility"
    #: A third-party verification body (核查机构); it stands outside the reporting tree.
    VERIFIER = "verifier"


#: Which kinds may sit directly under which. ``None`` is the top of the tree.
ALLOWED_PARENTS: Final[dict[OrgKind, frozenset[OrgKind | None]]] = {
    OrgKind.REGION: frozenset({None, OrgKind.REGION}),
    OrgKind.PARK: frozenset({None, OrgKind.REGION}),
    OrgKind.ENTERPRISE: frozenset({None, OrgKind.REGION, OrgKind.PARK}),
    OrgKind.FACILITY: frozenset({OrgKind.ENTERPRISE}),
    OrgKind.VERIFIER: frozenset({None, OrgKind.REGION}),
}


class Role(StrEnum):
    """Roles, each held on an organisation subtree."""

    PLATFORM_ADMIN = "platform_admin"
    REGULATOR = "regulator"
    ORG_ADMIN = "org_admin"
    DATA_ENTRY = "data_entry"
    VERIFIER = "verifier"
    VIEWER = "viewer"


class Scope(IntEnum):
    """GHG Protocol scopes."""

    DIRECT = 1
    INDIRECT_ENERGY = 2
    OTHER_INDIRECT = 3


class Category(StrEnum):
    """Emission-source categories (MEE/NDRC guidelines and GHG Protocol scope 3)."""

    STATIONARY_COMBUSTION = "stationary_combustion"
    MOBILE_COMBUSTION = "mobile_combustion"
    PROCESS = "process"
    FUGITIVE = "fugitive"
    LAND_USE = "land_use"
    PURCHASED_ELECTRICITY = "purchased_electricity"
    PURCHASED_HEAT = "purchased_heat"
    EXPORTED_ENERGY = "exported_energy"
    PURCHASED_GOODS = "purchased_goods"
    CAPITAL_GOODS = "capital_goods"
    FUEL_ENERGY_RELATED = "fuel_energy_related"
    UPSTREAM_TRANSPORT = "upstream_transport"
    WASTE = "waste"
    BUSINESS_TRAVEL = "business_travel"
    EMPLOYEE_COMMUTING = "employee_commuting"
    DOWNSTREAM_TRANSPORT = "downstream_transport"
    USE_OF_PRODUCTS = "use_of_products"
    END_OF_LIFE = "end_of_life"


#: Scope each category belongs to.
CATEGORY_SCOPE: Final[dict[Category, int]] = {
    Category.STATIONARY_COMBUSTION: 1,
    Category.MOBILE_COMBUSTION: 1,
    Category.PROCESS: 1,
    Category.FUGITIVE: 1,
    Category.LAND_USE: 1,
    Category.PURCHASED_ELECTRICITY: 2,
    Category.PURCHASED_HEAT: 2,
    Category.EXPORTED_ENERGY: 2,
    Category.PURCHASED_GOODS: 3,
    Category.CAPITAL_GOODS: 3,
    Category.FUEL_ENERGY_RELATED: 3,
    Category.UPSTREAM_TRANSPORT: 3,
    Category.WASTE: 3,
    Category.BUSINESS_TRAVEL: 3,
    Category.EMPLOYEE_COMMUTING: 3,
    Category.DOWNSTREAM_TRANSPORT: 3,
    Category.USE_OF_PRODUCTS: 3,
    Category.END_OF_LIFE: 3,
}

#: ISO 14064-1:2018 category (1–6) of each source category.
ISO_CATEGORY: Final[dict[Category, int]] = {
    Category.STATIONARY_COMBUSTION: 1,
    Category.MOBILE_COMBUSTION: 1,
    Category.PROCESS: 1,
    Category.FUGITIVE: 1,
    Category.LAND_USE: 1,
    Category.PURCHASED_ELECTRICITY: 2,
    Category.PURCHASED_HEAT: 2,
    Category.EXPORTED_ENERGY: 2,
    Category.UPSTREAM_TRANSPORT: 3,
    Category.DOWNSTREAM_TRANSPORT: 3,
    Category.BUSINESS_TRAVEL: 3,
    Category.EMPLOYEE_COMMUTING: 3,
    Category.PURCHASED_GOODS: 4,
    Category.CAPITAL_GOODS: 4,
    Category.FUEL_ENERGY_RELATED: 4,
    Category.WASTE: 4,
    Category.USE_OF_PRODUCTS: 5,
    Category.END_OF_LIFE: 5,
}

#: Labels of each category: (Chinese, English).
CATEGORIES: Final[dict[Category, tuple[str, str]]] = {
    Category.STATIONARY_COMBUSTION: ("固定燃烧", "Stationary combustion"),
    Category.MOBILE_COMBUSTION: ("移动燃烧", "Mobile combustion"),
    Category.PROCESS: ("工业过程", "Industrial processes"),
    Category.FUGITIVE: ("逸散排放", "Fugitive emissions"),
    Category.LAND_USE: ("土地利用与碳汇", "Land use and sinks"),
    Category.PURCHASED_ELECTRICITY: ("外购电力", "Purchased electricity"),
    Category.PURCHASED_HEAT: ("外购热力", "Purchased heat"),
    Category.EXPORTED_ENERGY: ("输出电力与热力", "Exported electricity and heat"),
    Category.PURCHASED_GOODS: ("外购商品和服务", "Purchased goods and services"),
    Category.CAPITAL_GOODS: ("资本货物", "Capital goods"),
    Category.FUEL_ENERGY_RELATED: ("燃料和能源相关活动", "Fuel- and energy-related activities"),
    Category.UPSTREAM_TRANSPORT: ("上游运输", "Upstream transport"),
    Category.WASTE: ("运营废弃物", "Waste generated in operations"),
    Category.BUSINESS_TRAVEL: ("商务差旅", "Business travel"),
    Category.EMPLOYEE_COMMUTING: ("员工通勤", "Employee commuting"),
    Category.DOWNSTREAM_TRANSPORT: ("下游运输", "Downstream transport"),
    Category.USE_OF_PRODUCTS: ("产品使用", "Use of sold products"),
    Category.END_OF_LIFE: ("产品寿命终结处理", "End-of-life treatment of sold products"),
}

#: Industry sectors: code → (Chinese, English).
SECTORS: Final[dict[str, tuple[str, str]]] = {
    "power": ("电力热力生产", "Power and heat generation"),
    "cement": ("水泥", "Cement"),
    "glass": ("平板玻璃", "Flat glass"),
    "chemicals": ("化工", "Chemicals"),
    "petrochemicals": ("石化", "Petrochemicals"),
    "steel": ("钢铁", "Iron and steel"),
    "nonferrous": ("有色金属", "Non-ferrous metals"),
    "paper": ("造纸", "Pulp and paper"),
    "textiles": ("纺织印染", "Textiles and dyeing"),
    "food": ("食品饮料", "Food and beverages"),
    "pharma": ("医药", "Pharmaceuticals"),
    "electronics": ("电子信息制造", "Electronics manufacturing"),
    "semiconductors": ("集成电路", "Semiconductors"),
    "photovoltaics": ("光伏制造", "Photovoltaic manufacturing"),
    "batteries": ("动力电池", "Batteries"),
    "automotive": ("汽车及零部件", "Automotive and parts"),
    "machinery": ("装备制造", "Machinery"),
    "data_centre": ("数据中心", "Data centres"),
    "logistics": ("物流仓储", "Logistics and warehousing"),
    "offices": ("商务办公", "Offices"),
    "hospital": ("医疗卫生", "Healthcare"),
    "hotel": ("酒店餐饮", "Hotels and catering"),
    "retail": ("商业零售", "Retail"),
    "water": ("供排水与污水处理", "Water supply and wastewater"),
    "public": ("公共机构", "Public institutions"),
}


class Carrier(StrEnum):
    """What a meter measures."""

    ELECTRICITY = "electricity"
    COAL = "coal"
    NATURAL_GAS = "natural_gas"
    OIL = "oil"
    HEAT = "heat"
    STEAM = "steam"
    WATER = "water"
    OTHER = "other"


#: Labels of each carrier: (Chinese, English).
CARRIERS: Final[dict[Carrier, tuple[str, str]]] = {
    Carrier.ELECTRICITY: ("电", "Electricity"),
    Carrier.COAL: ("煤", "Coal"),
    Carrier.NATURAL_GAS: ("天然气", "Natural gas"),
    Carrier.OIL: ("油品", "Oil products"),
    Carrier.HEAT: ("热力", "Heat"),
    Carrier.STEAM: ("蒸汽", "Steam"),
    Carrier.WATER: ("水", "Water"),
    Carrier.OTHER: ("其他", "Other"),
}


class MeterKind(StrEnum):
    """How a meter reports: consumption per interval, or a running counter."""

    INTERVAL = "interval"
    CUMULATIVE = "cumulative"


class Origin(StrEnum):
    """Where an activity datum came from."""

    ENTERED = "entered"
    IMPORTED = "imported"
    METER = "meter"

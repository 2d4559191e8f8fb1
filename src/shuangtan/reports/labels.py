"""The words of the reports in Chinese and English, and how numbers are shown.

A small table instead of Babel catalogs: the reports have a fixed vocabulary (section headings,
column headers, category and sector names), every entry carries both languages side by side,
and a test checks that each has both. A Chinese report carries no English besides codes and
units; an English report no Chinese besides the names an organisation has only in Chinese.

Numbers are formatted with Babel's CLDR data for the language (grouping and decimal signs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from babel.numbers import format_decimal

from shuangtan.domain.platform import CARRIERS, CATEGORIES, SECTORS, Carrier, Category

__all__ = [
    "LABELS",
    "LANGS",
    "SECTIONS",
    "SOURCE_TITLES_ZH",
    "Lang",
    "carrier_label",
    "category_label",
    "clause_label",
    "factor_source",
    "fmt_number",
    "fmt_percent",
    "label",
    "name",
    "section_heading",
    "sector_label",
    "translate_warning",
]

Lang = Literal["zh_CN", "en"]
#: The languages of the reports.
LANGS: Final[tuple[Lang, ...]] = ("zh_CN", "en")

#: The sections of the enterprise inventory report, in order (MEE/NDRC guideline structure),
#: then the verification statement when there is one.
SECTIONS: Final[tuple[str, ...]] = (
    "basic",
    "boundary",
    "sources",
    "activity",
    "factors",
    "totals",
    "quality",
    "verification",
)

_ZH_NUMERALS: Final = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")

#: key → (Chinese, English)
LABELS: Final[dict[str, tuple[str, str]]] = {
    # titles
    "title.inventory": ("温室气体排放报告", "Greenhouse gas emissions report"),
    "title.inventory_iso": (
        "温室气体清单报告（ISO 14064-1）",
        "Greenhouse gas inventory report (ISO 14064-1)",
    ),
    "title.park.park": ("园区温室气体排放汇总报告", "Park greenhouse gas emissions summary"),
    "title.park.region": ("区域温室气体排放汇总报告", "Regional greenhouse gas emissions summary"),
    "title.monthly": ("月度能源与排放报表", "Monthly energy and emissions statement"),
    "subtitle.inventory": (
        "依据国家发展改革委、生态环境部温室气体排放核算方法与报告指南编制",
        "Following the structure of the NDRC/MEE GHG accounting and reporting guidelines",
    ),
    "subtitle.inventory_iso": (
        "依据 ISO 14064-1:2018 组织层面温室气体排放和清除的量化和报告",
        "Quantified and reported according to ISO 14064-1:2018 at the organisation level",
    ),
    "page": ("第 {page} 页 / 共 {pages} 页", "Page {page} of {pages}"),
    # inventory sections
    "section.basic": ("基本情况", "Basic information"),
    "section.boundary": ("核算边界", "Accounting boundary"),
    "section.sources": ("排放源识别", "Emission sources"),
    "section.activity": ("活动数据及来源", "Activity data and their sources"),
    "section.factors": ("排放因子及来源", "Emission factors and their sources"),
    "section.totals": ("排放量汇总", "Emissions summary"),
    "section.quality": ("数据质量管理", "Data quality management"),
    "section.verification": ("核查声明", "Verification statement"),
    # park and monthly sections
    "section.overview": ("概况", "Overview"),
    "section.enterprises": ("企业排放情况", "Enterprises"),
    "section.sectors": ("分行业排放", "Emissions by sector"),
    "section.top": ("重点排放企业", "Largest emitters"),
    "section.intensity": ("排放强度", "Emission intensity"),
    "section.no_inventory": ("尚无排放清单的企业", "Enterprises without an inventory"),
    "section.energy": ("能源消费", "Energy consumption"),
    "section.meters": ("计量器具读数", "Meter readings"),
    "section.emissions": ("当月排放", "Emissions of the month"),
    # organisation and period
    "org.name": ("单位名称", "Name"),
    "org.name_en": ("英文名称", "Name in English"),
    "org.code": ("单位代码", "Code"),
    "org.credit_code": ("统一社会信用代码", "Unified social credit code"),
    "org.sector": ("所属行业", "Sector"),
    "org.region": ("所在地区", "Region"),
    "org.address": ("地址", "Address"),
    "org.parent": ("上级单位", "Part of"),
    "org.kind": ("类型", "Kind"),
    "kind.region": ("区域", "Region"),
    "kind.park": ("园区", "Park"),
    "kind.enterprise": ("企业", "Enterprise"),
    "kind.facility": ("设施", "Facility"),
    "kind.verifier": ("核查机构", "Verification body"),
    "period": ("报告期", "Reporting period"),
    "period.range": ("{start} 至 {end}", "{start} to {end}"),
    "month": ("月份", "Month"),
    "econ.year": ("统计年度", "Year"),
    "econ.output": ("工业总产值（万元）", "Output value (10,000 CNY)"),
    "econ.value_added": ("工业增加值（万元）", "Value added (10,000 CNY)"),
    "econ.employees": ("从业人员（人）", "Employees"),
    "econ.floor_area": ("建筑面积（m2）", "Floor area (m2)"),
    "econ.production": ("主要产品产量", "Main products"),
    "econ.none": ("本年度无经济数据。", "No economic data for the year."),
    "product": ("产品", "Product"),
    "amount": ("数量", "Amount"),
    "unit": ("单位", "Unit"),
    "intensity.co2e_output": (
        "单位产值碳排放（tCO2e/万元）",
        "Emissions per output value (tCO2e per 10,000 CNY)",
    ),
    "intensity.tce_output": (
        "单位产值能耗（tce/万元）",
        "Energy per output value (tce per 10,000 CNY)",
    ),
    "intensity.co2e_value_added": (
        "单位增加值碳排放（tCO2e/万元）",
        "Emissions per value added (tCO2e per 10,000 CNY)",
    ),
    "intensity.tce_value_added": (
        "单位增加值能耗（tce/万元）",
        "Energy per value added (tce per 10,000 CNY)",
    ),
    # boundary
    "boundary.facilities": ("纳入核算的设施", "Facilities within the boundary"),
    "boundary.gwp": ("全球变暖潜势（GWP）取值", "Global warming potentials (GWP)"),
    "boundary.library": ("排放因子库版本", "Factor library version"),
    "boundary.inventory": ("排放清单版本", "Inventory version"),
    "boundary.inventory_id": ("清单编号", "Inventory id"),
    "boundary.computed_at": ("计算时间（UTC）", "Computed at (UTC)"),
    "boundary.reason": ("计算原因", "Reason"),
    "boundary.scopes": ("覆盖范围", "Scopes covered"),
    "boundary.gases": ("核算气体", "Gases accounted"),
    "boundary.none": ("边界内无下属设施。", "No facilities below the organisation."),
    # sources
    "source.code": ("排放源编号", "Source"),
    "source.name": ("排放源名称", "Name"),
    "source.facility": ("所属设施", "Facility"),
    "source.category": ("排放类别", "Category"),
    "source.scope": ("范围", "Scope"),
    "source.iso_category": ("ISO 类别", "ISO category"),
    "source.method": ("核算方法", "Method"),
    "source.details": ("参数", "Parameters"),
    "source.months": ("数据月数", "Months"),
    # activity
    "activity.period": ("期间", "Period"),
    "activity.amount": ("活动数据", "Amount"),
    "activity.origin": ("数据来源", "Origin"),
    "activity.version": ("数据版本", "Version"),
    "activity.note": ("备注", "Note"),
    "activity.total": ("合计", "Total"),
    "activity.origin_count": ("{origin}（{n} 条）", "{origin} ({n})"),
    "activity.matrix_note": (
        "各月活动数据为清单计算所用的数值（按数值大小取整显示，完整数值见 Excel 导出）。",
        "Monthly amounts as the inventory used them (rounded for display; the Excel export "
        "holds every digit).",
    ),
    "activity.none": ("报告期内无活动数据。", "No activity data in the period."),
    "origin.entered": ("手工录入", "Entered"),
    "origin.imported": ("文件导入", "Imported"),
    "origin.meter": ("计量器具", "Meters"),
    "origin.unknown": ("已删除", "Deleted since"),
    # factors
    "factor.key": ("因子代码", "Factor"),
    "factor.gas": ("气体", "Gas"),
    "factor.region": ("地区", "Region"),
    "factor.value": ("数值", "Value"),
    "factor.source": ("数据来源", "Source"),
    "factor.clause": ("条款", "Clause"),
    "factor.status": ("确认状态", "Status"),
    "factor.valid": ("有效期", "Valid"),
    "status.confirmed": ("已确认", "confirmed"),
    "status.corroborated": ("已佐证", "corroborated"),
    "status.unconfirmed": ("待确认", "unconfirmed"),
    "status.user": ("用户提供", "user-supplied"),
    "match.latest_prior": ("沿用上一版本", "latest prior vintage"),
    "match.latest": ("最新版本", "newest vintage"),
    "match.input": ("输入值", "input value"),
    # totals
    "totals.total": ("排放总量（tCO2e）", "Total emissions (tCO2e)"),
    "totals.energy": (
        "综合能源消费量（tce，当量值）",
        "Energy consumption (tce, equivalent value)",
    ),
    "totals.by_gas": ("按温室气体", "By gas"),
    "totals.by_scope": ("按范围", "By scope"),
    "totals.by_category": ("按排放类别", "By category"),
    "totals.by_iso": ("按 ISO 14064-1 类别", "By ISO 14064-1 category"),
    "totals.by_facility": ("按设施", "By facility"),
    "totals.monthly": ("逐月排放与能耗", "By month"),
    "totals.gas": ("气体", "Gas"),
    "totals.mass": ("排放量（t）", "Mass (t)"),
    "totals.gwp": ("GWP", "GWP"),
    "totals.co2e": ("二氧化碳当量（tCO2e）", "CO2e (tCO2e)"),
    "totals.energy_tce": ("能耗（tce）", "Energy (tce)"),
    "totals.share": ("占比", "Share"),
    "totals.sum": ("合计", "Total"),
    "scope.short.1": ("范围一", "Scope 1"),
    "scope.short.2": ("范围二", "Scope 2"),
    "scope.short.3": ("范围三", "Scope 3"),
    "scope.1": ("范围一（直接排放）", "Scope 1 (direct)"),
    "scope.2": ("范围二（外购能源间接排放）", "Scope 2 (indirect, energy)"),
    "scope.3": ("范围三（其他间接排放）", "Scope 3 (other indirect)"),
    "iso.1": ("类别 1：直接温室气体排放和清除", "Category 1: direct GHG emissions and removals"),
    "iso.2": (
        "类别 2：输入能源的间接温室气体排放",
        "Category 2: indirect GHG emissions from imported energy",
    ),
    "iso.3": (
        "类别 3：运输产生的间接温室气体排放",
        "Category 3: indirect GHG emissions from transportation",
    ),
    "iso.4": (
        "类别 4：组织使用的产品产生的间接温室气体排放",
        "Category 4: indirect GHG emissions from products used by the organisation",
    ),
    "iso.5": (
        "类别 5：与使用组织产品相关的间接温室气体排放",
        "Category 5: indirect GHG emissions associated with the use of products from the "
        "organisation",
    ),
    "iso.6": (
        "类别 6：其他来源的间接温室气体排放",
        "Category 6: indirect GHG emissions from other sources",
    ),
    "chart.co2e": ("排放量（tCO2e）", "Emissions (tCO2e)"),
    "chart.month_axis": ("月份（{year} 年）", "Month ({year})"),
    "chart.tce": ("能耗（tce）", "Energy (tce)"),
    "chart.intensity": ("tCO2e/万元", "tCO2e per 10,000 CNY"),
    "chart.monthly": ("逐月排放量与能耗", "Emissions and energy by month"),
    "chart.category": ("各排放类别排放量", "Emissions by category"),
    "chart.scope": ("各范围排放量", "Emissions by scope"),
    "chart.iso": ("各 ISO 类别排放量", "Emissions by ISO category"),
    "chart.sectors": ("分行业排放量", "Emissions by sector"),
    "chart.top": ("排放量前十的企业", "The ten largest emitters"),
    "chart.intensity_title": ("企业单位产值碳排放", "Emission intensity by enterprise"),
    "chart.energy": ("分能源品种能耗", "Energy by carrier"),
    # quality
    "quality.completeness": ("计量数据完整率", "Meter data completeness"),
    "quality.threshold": (
        "完整率以不低于 {threshold} 为合格（GB/T 37947）。",
        "Completeness passes at {threshold} or more (GB/T 37947).",
    ),
    "quality.meter": ("计量器具", "Meter"),
    "quality.carrier": ("能源品种", "Carrier"),
    "quality.expected": ("应采集数", "Expected"),
    "quality.received": ("实采集数", "Received"),
    "quality.rate": ("完整率", "Completeness"),
    "quality.status": ("状态", "Status"),
    "quality.overall": ("总体", "Overall"),
    "quality.by_month": ("逐月完整率", "Completeness by month"),
    "quality.origins": ("活动数据来源构成", "Where the activity data come from"),
    "quality.count": ("条数", "Data"),
    "quality.warnings": ("计算提示", "Calculation notes"),
    "quality.no_warnings": ("无计算提示。", "No calculation notes."),
    "quality.no_meters": ("边界内无在用计量器具。", "No active meters within the boundary."),
    "quality.stale": ("清单计算后被修改的活动数据", "Activity data changed since the inventory"),
    "quality.stale_none": (
        "清单计算后活动数据未被修改。",
        "No activity datum was changed after the inventory was computed.",
    ),
    "quality.used_version": ("清单所用版本", "Version used"),
    "quality.current_version": ("当前版本", "Current version"),
    "quality.status.ok": ("合格", "complete"),
    "quality.status.incomplete": ("不足", "incomplete"),
    "quality.status.no_data": ("无数据", "no data"),
    "quality.status.pending": ("未开始", "not started"),
    "quality.park_difference": (
        "园区清单与各企业清单之和的差值（tCO2e）",
        "Park inventory less the sum of the enterprises (tCO2e)",
    ),
    # verification
    "verification.state": ("核查状态", "State"),
    "verification.state.verified": ("已核查", "verified"),
    "verification.state.published": ("已发布", "published"),
    "verification.verifier": ("核查机构", "Verification body"),
    "verification.signed_at": ("签署时间", "Signed at"),
    "verification.key_id": ("签名密钥", "Signing key"),
    "verification.sha256": ("内容摘要（SHA-256）", "Content digest (SHA-256)"),
    "verification.signature": ("数字签名（Ed25519）", "Signature (Ed25519)"),
    "verification.opinion": ("核查意见", "Opinion"),
    "verification.findings": ("核查发现", "Findings"),
    "verification.finding": ("发现", "Finding"),
    "verification.finding_status": ("处理状态", "Status"),
    "verification.no_findings": ("无核查发现。", "No findings."),
    # park
    "park.enterprises": ("企业数", "Enterprises"),
    "park.with_inventory": ("已有清单的企业数", "Enterprises with an inventory"),
    "park.rank": ("排名", "Rank"),
    "park.inventory": ("清单版本", "Inventory"),
    "park.no_inventory": ("无清单", "no inventory"),
    "park.own_inventory": ("园区清单", "Park inventory"),
    "park.sum": ("各企业合计", "Sum of the enterprises"),
    "park.intensity_overall": (
        "有产值数据企业的单位产值碳排放（tCO2e/万元）",
        "Emissions per output value of the enterprises with economic data (tCO2e per 10,000 CNY)",
    ),
    "park.none_missing": ("所有企业均已有清单。", "Every enterprise has an inventory."),
    # monthly
    "monthly.basis": ("排放量口径", "Emissions basis"),
    "monthly.basis.month_inventory": (
        "当月排放清单",
        "The month's own inventory",
    ),
    "monthly.basis.annual_share": (
        "年度清单按活动数据分摊至当月",
        "The year's inventory apportioned to the month by activity data",
    ),
    "monthly.energy_activity": ("按活动数据（tce）", "From activity data (tce)"),
    "monthly.energy_meters": ("按计量器具（tce）", "From meters (tce)"),
    "monthly.value": ("当月用量", "Consumption"),
    "monthly.intervals": ("采集数", "Intervals"),
    "monthly.no_meter_data": ("当月无计量数据。", "No meter data in the month."),
    "monthly.tce_carrier": ("折标品种", "GB/T 2589 carrier"),
    # workbook sheets and machine columns
    "sheet.info": ("基本信息", "Information"),
    "sheet.organizations": ("核算边界", "Boundary"),
    "sheet.sources": ("排放源", "Sources"),
    "sheet.activity": ("活动数据", "Activity data"),
    "sheet.factors": ("排放因子", "Emission factors"),
    "sheet.by_gas": ("分气体排放", "By gas"),
    "sheet.totals": ("排放量汇总", "Totals"),
    "sheet.monthly": ("逐月排放", "By month"),
    "sheet.meters": ("计量完整率", "Meter completeness"),
    "sheet.origins": ("数据来源构成", "Data origins"),
    "sheet.findings": ("核查发现", "Findings"),
    "sheet.enterprises": ("企业", "Enterprises"),
    "sheet.sectors": ("分行业", "By sector"),
    "sheet.top": ("重点排放企业", "Largest emitters"),
    "sheet.month_sources": ("当月排放", "Emissions"),
    "sheet.month_meters": ("计量器具", "Meters"),
    "sheet.energy": ("能源消费", "Energy"),
    "sheet.col.key": ("字段", "Field"),
    "sheet.col.name_zh": ("中文名称", "Name (Chinese)"),
    "sheet.col.name_en": ("英文名称", "Name (English)"),
    "sheet.col.period_start": ("起始日期", "Start"),
    "sheet.col.period_end": ("截止日期（不含）", "End (exclusive)"),
    "sheet.col.activity_id": ("数据编号", "Datum id"),
    "sheet.col.source_id": ("来源代码", "Source id"),
    "sheet.col.valid_from": ("生效日期", "Valid from"),
    "sheet.col.valid_to": ("失效日期", "Valid to"),
    "sheet.col.match": ("匹配方式", "Match"),
    "sheet.col.dimension": ("维度", "Dimension"),
    "sheet.col.interval_s": ("采集间隔（s）", "Interval (s)"),
    "sheet.col.id": ("编号", "Id"),
    "sheet.col.basis": ("口径", "Basis"),
    "sheet.info.report": ("报告类型", "Report"),
    "sheet.info.schema": ("格式版本", "Layout version"),
    "sheet.info.lang": ("语言", "Language"),
    "sheet.info.variant": ("报告格式", "Variant"),
    "sheet.keys_note": (
        "第 2 行为字段代码，重新导入时按其识别各列，请勿修改。",
        "Row 2 holds the field codes that a re-import reads: leave it as it is.",
    ),
    # generic
    "generated_by": (
        "本报告由 shuangtan 双碳平台生成。",
        "Generated by the shuangtan MRV platform.",
    ),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "none": ("无", "none"),
    "label": ("项目", "Item"),
    "value": ("数值", "Value"),
    "total": ("合计", "Total"),
    "other": ("其他", "Other"),
    # methods
    "method.fuel_combustion": ("化石燃料燃烧", "Fuel combustion"),
    "method.electricity": ("电力消费", "Electricity"),
    "method.heat": ("热力", "Heat"),
    "method.carbonate": ("碳酸盐分解", "Carbonate decomposition"),
    "method.gas_release": ("温室气体逸散", "Gas release"),
    "method.energy_tce": ("能源折标", "Energy in tce"),
    "method.factor": ("排放因子法", "Emission factor"),
    "method.forest_stock_change": ("森林蓄积量变化", "Forest stock change"),
    "method.grassland_soc": ("草地土壤有机碳", "Grassland soil organic carbon"),
    # GB/T 2589 carriers (the tce coefficients' keys)
    "tce.raw_coal": ("原煤", "Raw coal"),
    "tce.cleaned_coal": ("洗精煤", "Cleaned coal"),
    "tce.coke": ("焦炭", "Coke"),
    "tce.crude_oil": ("原油", "Crude oil"),
    "tce.fuel_oil": ("燃料油", "Fuel oil"),
    "tce.gasoline": ("汽油", "Gasoline"),
    "tce.kerosene": ("煤油", "Kerosene"),
    "tce.diesel": ("柴油", "Diesel"),
    "tce.lpg": ("液化石油气", "LPG"),
    "tce.lng": ("液化天然气", "LNG"),
    "tce.natural_gas": ("天然气", "Natural gas"),
    "tce.electricity": ("电力", "Electricity"),
    "tce.heat": ("热力", "Heat"),
    "tce.steam": ("蒸汽", "Steam"),
    "tce.fresh_water": ("新水", "Fresh water"),
}

#: Chinese titles of the factor sources whose title is not Chinese, by source id.
SOURCE_TITLES_ZH: Final[dict[str, str]] = {
    "ipcc-2006-v2": "2006年IPCC国家温室气体清单指南 第2卷：能源",
    "ipcc-2006-v3": "2006年IPCC国家温室气体清单指南 第3卷：工业过程和产品使用",
    "ipcc-2006-v4": "2006年IPCC国家温室气体清单指南 第4卷：农业、林业和其他土地利用",
    "ipcc-ar5-wg1": "IPCC第五次评估报告第一工作组报告《气候变化2013：自然科学基础》",
    "ipcc-ar6-wg1": "IPCC第六次评估报告第一工作组报告《气候变化2021：自然科学基础》",
    "shuangtan-carbonate-stoichiometry": "碳酸盐化学计量排放因子（计算值）",
    "us-epa-ghg-hub-2024": "美国环保署温室气体排放因子中心（2024年版）",
    "us-epa-ghg-hub-2018": "美国环保署温室气体排放因子中心（2018年版）",
    "uk-ghg-conversion-factors-2019": "英国政府温室气体报告转换因子（2019年）",
    "uk-ghg-conversion-factors-2020": "英国政府温室气体报告转换因子（2020年）",
    "uk-ghg-conversion-factors-2024": "英国政府温室气体报告转换因子（2024年）",
    "uk-ghg-conversion-factors-2025": "英国政府温室气体报告转换因子（2025年）",
    "thirdparty-js-cn-electricity-factors": (
        "第三方代码转录的生态环境部、国家统计局电力二氧化碳排放因子（2021—2022年）"
    ),
    "thirdparty-test-cn-electricity-2023": "第三方测试文件转录的2023年省级电力二氧化碳排放因子",
    "tothetick-ndrc-coal-power-2021": "关于煤电机组改造升级的新闻报道（2021年）",
    "chemlinked-2022-ghg-reporting": "关于企业温室气体排放报告要求修订的新闻报道（2022年）",
    "openclimatedata-gwp": "温室气体全球增温潜势数据集",
}

_CJK = re.compile(r"[\u3400-\u9fff]")

#: Locators of foreign documents' clauses, in Chinese.
_CLAUSE_ZH: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\bVol\.\s*(\d+)"), r"第\1卷"),
    (re.compile(r"\b(?:Ch\.|Chapter)\s*(\d+),?"), r"第\1章"),
    (re.compile(r"\bTables?\s+([\w.\-/]+)"), r"表\1"),
    (re.compile(r", column (\S+), species (\S+)"), r"，\1 列，\2"),
    (re.compile(r"\(energy industries\)"), "（能源工业）"),
    (re.compile(r"\(fossil methane\)"), "（化石甲烷）"),
    (re.compile(r"\(Steam and Heat\)"), "（蒸汽和热力）"),
)

#: Machine warnings of the calculation, as patterns, with their Chinese wording.
_WARNINGS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (
        re.compile(
            r"^no vintage of (?P<key>\S+) covers (?P<year>\d{4}): used the one valid until "
            r"(?P<until>\S+) \(fallback latest_prior\)$"
        ),
        "因子 {key} 无覆盖 {year} 年的版本：沿用有效期至 {until} 的版本（latest_prior）",
    ),
    (
        re.compile(
            r"^no year given: (?P<key>\S+) is the newest vintage \(valid from (?P<d>\S+)\)$"
        ),
        "未给出年份：因子 {key} 采用最新版本（自 {d} 起有效）",
    ),
    (
        re.compile(r"^uncovered consumption is valued at the grid average.*$"),
        "未被绿电覆盖的用电量按电网平均排放因子计算（与全国碳市场做法一致）；"
        "GHG Protocol 市场法应采用剩余组合因子（factor_kind residual）",
    ),
    (
        re.compile(r"^ncv is not used: the amount is already energy \((?P<unit>[^)]*)\)$"),
        "活动数据已是能量单位（{unit}），未使用低位发热量",
    ),
    (
        re.compile(
            r"^(?P<carrier>\S+) is primary energy: its equal value is its equivalent value "
            r"\(GB/T 2589\)$"
        ),
        "{carrier} 为一次能源：等价值即当量值（GB/T 2589）",
    ),
    (
        re.compile(r"^(?P<key>\S+) is already in CO2e on its publisher's GWP basis.*$"),
        "因子 {key} 已按发布方的 GWP 取值折算为 CO2e，未必与本报告的 GWP 一致",
    ),
    (
        re.compile(
            r"^(?P<n>\d+) activity data straddle (?P<period>\S+) and were left out: (?P<rest>.*)$"
        ),
        "{n} 条活动数据跨越报告期 {period} 的边界，未计入：{rest}",
    ),
)


def label(key: str, lang: str, **values: Any) -> str:
    """The word for ``key`` in ``lang``, with ``{name}`` fields filled from ``values``.

    Raises
    ------
    KeyError
        An unknown key (a bug: the table is complete for every key the reports use).
    """
    zh, en = LABELS[key]
    text = zh if lang == "zh_CN" else en
    return text.format(**values) if values else text


def section_heading(section: str, number: int, lang: str) -> str:
    """A numbered section heading: ``一、基本情况`` or ``1. Basic information``."""
    title = label(f"section.{section}", lang)
    if lang == "zh_CN":
        return f"{_ZH_NUMERALS[number - 1]}、{title}"
    return f"{number}. {title}"


def name(node: Mapping[str, Any] | None, lang: str) -> str:
    """An organisation's or a source's name in ``lang`` (English falls back to Chinese)."""
    if not node:
        return "–"
    zh, en = node.get("name_zh") or "", node.get("name_en") or ""
    return zh if lang == "zh_CN" or not en else en


def category_label(code: str | None, lang: str) -> str:
    """A source category's name (the code when unknown)."""
    if not code:
        return "–"
    try:
        zh, en = CATEGORIES[Category(code)]
    except (ValueError, KeyError):
        return code or "–"
    return zh if lang == "zh_CN" else en


def sector_label(code: str | None, lang: str) -> str:
    """An industry sector's name (the code when unknown, '–' for none)."""
    if not code:
        return "–"
    zh, en = SECTORS.get(code, (code, code))
    return zh if lang == "zh_CN" else en


def carrier_label(code: str | None, lang: str) -> str:
    """A meter carrier's or a GB/T 2589 carrier's name (the code when unknown)."""
    if not code:
        return "–"
    try:
        zh, en = CARRIERS[Carrier(code)]
        return zh if lang == "zh_CN" else en
    except ValueError:
        pass
    if f"tce.{code}" in LABELS:
        return label(f"tce.{code}", lang)
    return code


def fmt_number(value: float | int | None, digits: int = 2, lang: str = "zh_CN") -> str:
    """A number as the reports show it: grouped, ``digits`` decimals, '–' for none.

    Parameters
    ----------
    value : float, int or None
        The number (full precision).
    digits : int
        Decimals shown.
    lang : str
        ``zh_CN`` or ``en``.
    """
    if value is None or isinstance(value, bool):
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    text = str(format_decimal(value, format=pattern, locale=lang))
    # A value that rounds to zero is shown without a sign.
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def fmt_percent(share: float | None, lang: str = "zh_CN", digits: int = 1) -> str:
    """A share [1] as a percentage (``93.5%``), '–' for none."""
    if share is None or not math.isfinite(share):
        return "–"
    return fmt_number(share * 100.0, digits, lang) + "%"


def factor_source(entry: Mapping[str, Any], lang: str) -> str:
    """The title of a factor's source document in ``lang``.

    Chinese reports give a Chinese title: the document's own when it has one, else a Chinese
    rendering of a known foreign one, else the source's id (a code).
    """
    title = str(entry.get("source") or "")
    source_id = str(entry.get("source_id") or "")
    if lang != "zh_CN":
        return title or source_id or "–"
    if source_id in SOURCE_TITLES_ZH:
        return SOURCE_TITLES_ZH[source_id]
    return title if _CJK.search(title) else (source_id or "–")


def clause_label(clause: str | None, lang: str) -> str:
    """Where in its source a factor stands, with the usual locators in Chinese for Chinese.

    ``Vol.3 Ch.2 Table 2.1`` becomes ``第3卷 第2章 表2.1``; file names and codes stay.
    """
    if not clause:
        return ""
    if lang != "zh_CN" or _CJK.search(clause):
        return clause
    text = clause
    for pattern, replacement in _CLAUSE_ZH:
        text = pattern.sub(replacement, text)
    return text


def translate_warning(text: str, lang: str) -> str:
    """A calculation warning in ``lang``: known ones get Chinese wording, others stay as sent."""
    if lang != "zh_CN":
        return text
    for pattern, wording in _WARNINGS:
        match = pattern.match(text)
        if match is not None:
            return wording.format(**match.groupdict())
    return text

"""Load the demo park (``services.demo_park``) into the database, with its demo accounts.

The demo accounts share one published password and exist for trying the platform on a laptop;
``shuangtan demo load`` says so every time it runs, and the README repeats it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import ActivityDatum, Meter, Organization
from shuangtan.adapters.db.repositories import SYSTEM, Store, utcnow
from shuangtan.adapters.keys import KeyVault
from shuangtan.domain.platform import OrgKind, Role
from shuangtan.factors import FactorLibrary
from shuangtan.services.access import SCOPES, Grant, Principal
from shuangtan.services.demo_park import DemoPark, build_demo_park
from shuangtan.services.inventories import month_bounds, parse_period, recompute

__all__ = ["DEMO_PASSWORD", "DemoLoad", "demo_users", "is_loaded", "load_demo"]

#: Published on purpose: demo accounts only, never for real data.
DEMO_PASSWORD = "shuangtan-demo"


@dataclass(frozen=True, slots=True)
class DemoLoad:
    """What a load created."""

    organizations: int
    sources: int
    meters: int
    activity: int
    inventories: int
    cases: int
    park_id: int
    park_code: str
    users: tuple[tuple[str, str, str], ...]  # (username, role, organisation code)


def is_loaded(session: Session, park: DemoPark | None = None) -> bool:
    """Whether the demo park's organisations are already in the database."""
    park = park or build_demo_park()
    first = park.orgs[0].code
    return bool(
        session.scalar(
            select(func.count()).select_from(Organization).where(Organization.code == first)
        )
    )


def _verifier(park: DemoPark) -> Any:
    return next(o for o in park.orgs if o.kind == OrgKind.VERIFIER)


def demo_users(park: DemoPark) -> tuple[tuple[str, str, str | None], ...]:
    """The demo accounts: (username, role, organisation code or None for platform-wide)."""
    region = next(o for o in park.orgs if o.kind == OrgKind.REGION)
    park_org = next(o for o in park.orgs if o.kind == OrgKind.PARK)
    enterprises = [o for o in park.orgs if o.kind == OrgKind.ENTERPRISE]
    verifier = _verifier(park)
    return (
        ("admin", Role.PLATFORM_ADMIN.value, None),
        ("regulator", Role.REGULATOR.value, region.code),
        ("park", Role.ORG_ADMIN.value, park_org.code),
        ("enterprise", Role.ORG_ADMIN.value, enterprises[0].code),
        ("verifier", Role.VERIFIER.value, enterprises[1].code),
        ("verifier", Role.VERIFIER.value, enterprises[2].code),
        # Membership of the verification body: the cases assigned to it are this user's work.
        ("verifier", Role.VERIFIER.value, verifier.code),
    )


def load_demo(
    session: Session,
    library: FactorLibrary,
    *,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
    vault: KeyVault | None = None,
) -> DemoLoad:
    """Create the demo park, its accounts and its annual inventories in one transaction.

    The caller commits. Every activity datum is stored as ``imported``; every inventory is
    computed with ``library`` and stored as version 1. With a ``vault``, three enterprises'
    latest inventories go into verification with the verifier body (:func:`_demo_cases`).
    """
    say = progress or (lambda _message: None)
    park = build_demo_park(seed)
    store = Store(session, SYSTEM)
    ids: dict[str, int] = {}
    say(f"organizations: {len(park.orgs)}")
    for org in park.orgs:
        created = store.create_org(
            {
                "parent_id": ids[org.parent_code] if org.parent_code else None,
                "kind": org.kind,
                "code": org.code,
                "name_zh": org.name_zh,
                "name_en": org.name_en,
                "sector": org.sector,
                "region": org.region,
                "address": org.address_zh,
                "credit_code": org.credit_code,
            }
        )
        ids[org.code] = created.id
        for econ in org.economics:
            store.put_economics(
                created.id,
                econ.year,
                {
                    "output_value_10k_cny": econ.output_value_10k_cny,
                    "value_added_10k_cny": econ.value_added_10k_cny,
                    "employees": econ.employees,
                    "floor_area_m2": econ.floor_area_m2,
                    "production": [
                        {"product_zh": zh, "product_en": en, "amount": amount, "unit": unit}
                        for zh, en, amount, unit in econ.production
                    ],
                },
            )
    say(f"emission sources: {len(park.sources)}")
    source_ids: dict[str, int] = {}
    source_org_ids: dict[int, int] = {}
    source_units: dict[str, str] = {}
    for src in park.sources:
        created_source = store.create_source(
            {
                "org_id": ids[src.org_code],
                "code": src.code,
                "name_zh": src.name_zh,
                "name_en": src.name_en,
                "category": src.category,
                "method": src.method,
                "params": dict(src.params),
                "amount_field": src.amount_field,
                "unit": src.unit,
                "tce_carrier": src.tce_carrier,
                "tce_from_energy": src.tce_from_energy,
                "active": True,
            }
        )
        source_ids[src.code] = created_source.id
        source_org_ids[created_source.id] = created_source.org_id
        source_units[src.code] = src.unit
    say(f"meters: {len(park.meters)}")
    for meter in park.meters:
        store.create_meter(
            {
                "org_id": ids[meter.org_code],
                "source_id": source_ids[meter.source_code] if meter.source_code else None,
                "code": meter.code,
                "name_zh": meter.name_zh,
                "name_en": meter.name_en,
                "carrier": meter.carrier,
                "unit": meter.unit,
                "kind": meter.kind,
                "multiplier": meter.multiplier,
            }
        )
    say(f"activity data: {len(park.activity)} monthly values")
    now = utcnow()
    rows = []
    for act in park.activity:
        start, end = month_bounds(act.year, act.month)
        rows.append(
            ActivityDatum(
                source_id=source_ids[act.source_code],
                period_start=start,
                period_end=end,
                amount=act.amount,
                unit=source_units[act.source_code],
                origin="imported",
                note="demo data",
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
    session.add_all(rows)
    session.flush()
    for row in rows:
        store.log(
            "import",
            "activity",
            row.id,
            org_id=source_org_ids[row.source_id],
            before=None,
            after=row,
            detail={
                "source_id": row.source_id,
                "period_start": row.period_start,
                "amount": row.amount,
            },
        )
    say("accounts: " + ", ".join(sorted({u for u, _, _ in demo_users(park)})))
    users: dict[str, int] = {}
    created_users: list[tuple[str, str, str]] = []
    for username, role, org_code in demo_users(park):
        if username not in users:
            user = store.create_user(
                username, DEMO_PASSWORD, display_name=f"demo {username}", grants=()
            )
            users[username] = user.id
        store.grant(users[username], role, ids[org_code] if org_code else None)
        created_users.append((username, role, org_code or "*"))
    targets = [
        o.code for o in park.orgs if o.kind in (OrgKind.REGION, OrgKind.PARK, OrgKind.ENTERPRISE)
    ]
    count = 0
    for year in park.years:
        period = parse_period(str(year))
        say(f"inventories {year}: {len(targets)} organizations")
        for code in targets:
            recompute(store, library, ids[code], period, reason="demo load")
            count += 1
    cases = 0
    if vault is not None:
        say("verification: three cases with verifier body " + _verifier(park).code)
        cases = _demo_cases(session, store, vault, park, ids, users)
    park_org = next(o for o in park.orgs if o.kind == OrgKind.PARK)
    return DemoLoad(
        organizations=len(park.orgs),
        sources=len(park.sources),
        meters=len(park.meters),
        activity=len(rows),
        inventories=count,
        cases=cases,
        park_id=ids[park_org.code],
        park_code=park_org.code,
        users=tuple(created_users),
    )


def _demo_cases(
    session: Session,
    store: Store,
    vault: KeyVault,
    park: DemoPark,
    ids: dict[str, int],
    users: dict[str, int],
) -> int:
    """Verification cases of the latest year, one in each state a visitor should see.

    The second enterprise's inventory is verified by the demo ``verifier`` (a member of the
    verifier body) and published; the third's is in verification with an open finding; the
    first's is submitted and waits for the regulator to assign a verifier.
    """
    from shuangtan.adapters.db.verification import Cases

    year = str(max(park.years))
    body = _verifier(park)
    enterprises = [o for o in park.orgs if o.kind == OrgKind.ENTERPRISE]
    body_org = store.get_org(ids[body.code])
    member = Principal(
        users["verifier"],
        "verifier",
        (Grant(Role.VERIFIER, body_org.id, body_org.path),),
        frozenset(SCOPES),
    )
    cases = Cases(store, vault)
    as_verifier = Cases(Store(session, member), vault)
    published = cases.submit(ids[enterprises[1].code], year)
    cases.assign(published.id, body_org.id)
    finding = as_verifier.add_finding(
        published.id,
        severity="minor",
        title="外购电力月度数据缺少供电公司结算单",
        body="请补充 3 月份供电公司电费结算单作为活动数据证据。",
    )
    cases.comment(finding.id, "已补充结算单扫描件,见证据文件。")
    as_verifier.close_finding(finding.id)
    as_verifier.verify(
        published.id,
        "经核查,该企业温室气体排放报告符合核算指南要求,排放量数据真实、准确、完整。",
    )
    cases.publish(published.id)
    open_case = cases.submit(ids[enterprises[2].code], year)
    cases.assign(open_case.id, body_org.id)
    as_verifier.add_finding(
        open_case.id,
        severity="major",
        title="燃煤低位发热量未实测,采用缺省值",
        body="请提供入炉煤低位发热量的月度检测报告,或说明采用缺省值的依据。",
    )
    cases.submit(ids[enterprises[0].code], year)
    return 3


def load_demo_readings(
    sessions: Callable[[], Session],
    *,
    year: int = 2025,
    months: Sequence[int] | None = None,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Store a year of 15-minute readings of the demo meters (see ``meter_profiles``).

    One transaction per meter-month batch; readings are idempotent, so loading twice
    stores nothing new. Returns the readings received.
    """
    import numpy as np

    from shuangtan.adapters.db.readings import ReadingsWriter
    from shuangtan.domain.readings import Channel
    from shuangtan.services.demo_park import build_demo_park
    from shuangtan.services.meter_profiles import demo_year_readings

    park = build_demo_park(seed=seed)
    chosen = list(months) if months else list(range(1, 13))
    with sessions() as session:
        ids = dict(session.execute(select(Meter.code, Meter.id)).all())
    total = len(park.meters) * len(chosen)
    done = 0
    received = 0
    pending: list[Any] = []
    now = dt.datetime.now(dt.UTC)

    def flush() -> int:
        if not pending:
            return 0
        meter = np.concatenate([np.full(len(s.ts_us), ids[s.meter_code]) for s in pending])
        stamps = np.concatenate([s.ts_us for s in pending])
        values = np.concatenate([s.values for s in pending])
        with sessions() as session:
            ReadingsWriter(session).ingest_arrays(
                meter, stamps, values, now=now, channel=Channel.DEMO
            )
            session.commit()
        pending.clear()
        return len(stamps)

    size = 0
    for series in demo_year_readings(park, year, seed=seed, months=chosen):
        pending.append(series)
        size += len(series.ts_us)
        done += 1
        if size >= 60_000:
            received += flush()
            size = 0
            if progress:
                progress(done, total)
    received += flush()
    if progress:
        progress(done, total)
    return received

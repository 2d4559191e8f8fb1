"""A small organisation world for API and authorisation tests.

::

    R1 region ▸ P1 park ▸ A1 enterprise ▸ A1-F1 facility   source A1-S-EL (electricity), A1-S-GAS
                        ▸ B1 enterprise ▸ B1-F1 facility   source B1-S-COAL
    R2 region ▸ C1 enterprise ▸ C1-F1 facility             source C1-S-EL          (foreign)
    V1 verifier body

One user per role, each holding it on A1's side of the tree (``regulator`` on R1, ``park`` admin
on P1, the rest on A1), plus ``foreign`` (org admin of C1). Tokens are issued directly (no
password hashing per test); every user's password is ``PASSWORD``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import ActivityDatum, RoleGrant, User
from shuangtan.adapters.db.repositories import SYSTEM, Accounts, Store, utcnow
from shuangtan.services.calculation import default_library
from shuangtan.services.credentials import hash_password
from shuangtan.services.inventories import month_bounds, parse_period, recompute

PASSWORD = "world-password-1"

#: username → (role, org code or None)
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("platform_admin", None),
    "regulator": ("regulator", "R1"),
    "park": ("org_admin", "P1"),
    "orgadmin": ("org_admin", "A1"),
    "dataentry": ("data_entry", "A1"),
    "verifier": ("verifier", "A1"),
    "viewer": ("viewer", "A1"),
    "foreign": ("org_admin", "C1"),
}


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class World:
    """Ids by code, and a bearer token per username (scopes read and write)."""

    org: dict[str, int] = field(default_factory=dict)
    source: dict[str, int] = field(default_factory=dict)
    meter: dict[str, int] = field(default_factory=dict)
    activity: dict[str, int] = field(default_factory=dict)
    user: dict[str, int] = field(default_factory=dict)
    token: dict[str, str] = field(default_factory=dict)
    read_token: dict[str, str] = field(default_factory=dict)

    def auth(self, username: str, *, read_only: bool = False) -> dict[str, str]:
        """Authorization header of a user."""
        secret = (self.read_token if read_only else self.token)[username]
        return {"Authorization": f"Bearer {secret}"}


ORGS = [
    ("R1", "region", None, None, "江苏"),
    ("P1", "park", "R1", None, "江苏"),
    ("A1", "enterprise", "P1", "electronics", "江苏"),
    ("A1-F1", "facility", "A1", "electronics", "江苏"),
    ("B1", "enterprise", "P1", "power", "江苏"),
    ("B1-F1", "facility", "B1", "power", "江苏"),
    ("R2", "region", None, None, "浙江"),
    ("C1", "enterprise", "R2", "cement", "浙江"),
    ("C1-F1", "facility", "C1", "cement", "浙江"),
    ("V1", "verifier", None, None, "江苏"),
]

SOURCES = [
    # code, org, category, method, params, unit, tce carrier, monthly amount
    (
        "A1-S-EL",
        "A1-F1",
        "purchased_electricity",
        "electricity",
        {"region": "江苏", "fallback": "latest_prior"},
        "MWh",
        "electricity",
        1000.0,
    ),
    (
        "A1-S-GAS",
        "A1-F1",
        "stationary_combustion",
        "fuel_combustion",
        {"fuel": "天然气"},
        "1e4Nm3",
        "natural_gas",
        12.5,
    ),
    (
        "B1-S-COAL",
        "B1-F1",
        "stationary_combustion",
        "fuel_combustion",
        {"fuel": "烟煤"},
        "t",
        "raw_coal",
        2000.0,
    ),
    (
        "C1-S-EL",
        "C1-F1",
        "purchased_electricity",
        "electricity",
        {"region": "浙江", "fallback": "latest_prior"},
        "MWh",
        "electricity",
        500.0,
    ),
]


def build_world(engine: Engine, *, year: int = 2025, inventories: bool = True) -> World:
    """Create the world in an empty database."""
    world = World()
    library = default_library()
    with Session(engine) as session:
        store = Store(session, SYSTEM)
        for code, kind, parent, sector, region in ORGS:
            org = store.create_org(
                {
                    "parent_id": world.org[parent] if parent else None,
                    "kind": kind,
                    "code": code,
                    "name_zh": f"测试{code}",
                    "name_en": f"Test {code}",
                    "sector": sector,
                    "region": region,
                }
            )
            world.org[code] = org.id
        now = utcnow()
        for code, org_code, category, method, params, unit, carrier, monthly in SOURCES:
            source = store.create_source(
                {
                    "org_id": world.org[org_code],
                    "code": code,
                    "name_zh": f"排放源{code}",
                    "name_en": f"Source {code}",
                    "category": category,
                    "method": method,
                    "params": params,
                    "amount_field": "amount",
                    "unit": unit,
                    "tce_carrier": carrier,
                }
            )
            world.source[code] = source.id
            meter = store.create_meter(
                {
                    "org_id": world.org[org_code],
                    "source_id": source.id,
                    "code": f"{code}-M",
                    "name_zh": f"计量表{code}",
                    "carrier": "electricity" if method == "electricity" else "natural_gas",
                    "unit": unit,
                    "kind": "interval",
                }
            )
            world.meter[code] = meter.id
            for month in range(1, 13):
                start, end = month_bounds(year, month)
                datum = ActivityDatum(
                    source_id=source.id,
                    period_start=start,
                    period_end=end,
                    amount=monthly * (1 + month / 100),
                    unit=unit,
                    origin="entered",
                    note="",
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(datum)
                session.flush()
                world.activity[f"{code}/{month:02d}"] = datum.id
        accounts = Accounts(session)
        for username, (role, org_code) in USERS.items():
            user = User(
                username=username,
                display_name=username,
                password_hash=_password_hash(),
                active=True,
                created_at=now,
            )
            session.add(user)
            session.flush()
            session.add(
                RoleGrant(
                    user_id=user.id, org_id=world.org[org_code] if org_code else None, role=role
                )
            )
            session.flush()
            world.user[username] = user.id
            world.token[username] = accounts.issue_token(user, kind="api", name="rw")[1]
            world.read_token[username] = accounts.issue_token(
                user, kind="api", scopes=["read"], name="ro"
            )[1]
        if inventories:
            period = parse_period(str(year))
            for code in ("R1", "P1", "A1", "B1", "R2", "C1"):
                recompute(store, library, world.org[code], period, reason="world")
        session.commit()
    return world

"""Tenant-scoped repositories: every read and write goes through the caller's roles.

:class:`Store` wraps one SQLAlchemy session and one :class:`~shuangtan.services.access.Principal`.
Each query is filtered by the subtrees where the principal may perform the action at hand
(:meth:`Principal.prefixes`), here, in the repository layer, never in the routers. A thing
outside the caller's subtrees is *not found*; a thing inside them that the caller may read but
not change is *permission denied*.

:class:`Accounts` handles what comes before a principal exists: passwords and tokens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar, cast

import orjson
from sqlalchemy import Select, bindparam, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shuangtan.adapters.db.audit import AuditTrail, entity_state
from shuangtan.adapters.db.models import (
    ActivityDatum,
    ApiToken,
    EmissionSource,
    Evidence,
    Inventory,
    InventoryItem,
    Meter,
    Organization,
    OrgEconomics,
    Reading,
    RoleGrant,
    SigningKey,
    User,
    Verification,
)
from shuangtan.adapters.db.readings import meter_info
from shuangtan.domain.platform import ALLOWED_PARENTS, CATEGORY_SCOPE, Category, OrgKind, Role
from shuangtan.domain.readings import Reason, Rejected
from shuangtan.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from shuangtan.services.access import SCOPES, Action, Grant, Principal
from shuangtan.services.audit import state_hash
from shuangtan.services.credentials import (
    check_password_strength,
    hash_password,
    hash_token,
    new_token,
    password_needs_rehash,
    verify_password,
)
from shuangtan.services.inventories import (
    ActivityRow,
    ComputedInventory,
    OrgNode,
    Period,
    SourceRow,
    diff_items,
    parse_period,
    validate_source,
)
from shuangtan.services.readings import MeterInfo

__all__ = ["SYSTEM", "Accounts", "MeterResolver", "Store", "utcnow"]

S = TypeVar("S", bound=Select[Any, Any] | Select[Any])

#: The principal of trusted local tools (``shuangtan demo load``, migrations, the CLI).
SYSTEM = Principal(
    user_id=0,
    username="system",
    grants=(Grant(Role.PLATFORM_ADMIN, None, None),),
    scopes=frozenset(SCOPES),
)

#: How often a token's ``last_used_at`` is brought up to date.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

_ORG_FIELDS = ("code", "name_zh", "name_en", "sector", "region", "address", "credit_code")
_SOURCE_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "category",
    "method",
    "params",
    "amount_field",
    "unit",
    "tce_carrier",
    "tce_from_energy",
    "active",
)
_METER_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "carrier",
    "unit",
    "kind",
    "multiplier",
    "interval_s",
    "active",
    "source_id",
)


def _refuse_nulls(data: Mapping[str, Any], nullable: Iterable[str]) -> None:
    """A change may set only nullable fields to null."""
    allowed = set(nullable)
    for key, value in data.items():
        if value is None and key not in allowed:
            raise InputError("must not be null", field=key)


def utcnow() -> dt.datetime:
    """Now, as naive UTC (the storage convention)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _like_prefix(prefix: str) -> str:
    # Paths hold only digits and slashes, so no LIKE wildcard can appear in them.
    return prefix + "%"


# The hottest read (the inventory document's id), built once: constructing a statement costs
# more than running this one on SQLite.
_CURRENT_INVENTORY_ID = (
    select(Inventory.id, Organization.path)
    .join(Organization, Organization.id == Inventory.org_id)
    .where(
        Inventory.org_id == bindparam("org_id"),
        Inventory.period == bindparam("period"),
        Inventory.status == "current",
    )
)


class Store:
    """Repositories for one request, scoped to one principal.

    Parameters
    ----------
    session : Session
        The SQLAlchemy session (the caller commits or rolls back).
    principal : Principal
        Who is asking.
    """

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self._trail: AuditTrail | None = None

    # --- audit ------------------------------------------------------------------------------

    @property
    def trail(self) -> AuditTrail:
        """The audit trail, appended to as this principal."""
        if self._trail is None:
            self._trail = AuditTrail(self.session, self.principal)
        return self._trail

    def snapshot(self, entity: str, obj: Any) -> dict[str, Any]:
        """The audited state of ``obj`` now (before a change)."""
        self.session.flush()
        return entity_state(entity, obj)

    def log(
        self,
        verb: str,
        entity: str,
        ident: int,
        *,
        org_id: int | None,
        before: Mapping[str, Any] | None,
        after: Any = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append the audit record of a change.

        ``before`` is a :meth:`snapshot` taken before it (``None`` for a creation), ``after``
        the object (``None`` once deleted); ``detail`` defaults to the fields that changed.
        """
        after_state = None if after is None else self.snapshot(entity, after)
        if detail is None:
            if before is None and after_state is not None:
                detail = {k: v for k, v in after_state.items() if k != "items"}
            elif after_state is None and before is not None:
                detail = {k: v for k, v in before.items() if k != "items"}
            else:
                assert before is not None
                assert after_state is not None
                detail = {
                    k: [before.get(k), v]
                    for k, v in after_state.items()
                    if k != "items" and before.get(k) != v
                }
        self.trail.record(
            f"{entity}.{verb}",
            entity,
            ident,
            org_id=org_id,
            before=None if before is None else state_hash(before),
            after=None if after_state is None else state_hash(after_state),
            detail=detail,
        )

    # --- scoping ----------------------------------------------------------------------------

    @property
    def user_id(self) -> int | None:
        """The acting user's id; None for the system (demo loader, ingest workers)."""
        return self.principal.user_id if self.principal.user_id > 0 else None

    def where(self, action: Action) -> Any:
        """SQL condition on ``Organization.path`` for the subtrees where ``action`` is allowed."""
        prefixes = self.principal.prefixes(action)
        if prefixes is None:
            return None
        if not prefixes:
            return false()
        return or_(*(Organization.path.like(_like_prefix(p)) for p in prefixes))

    def _scoped(self, stmt: S, action: Action = Action.READ) -> S:
        condition = self.where(action)
        return stmt if condition is None else cast(S, stmt.where(condition))

    def _check(self, org: Organization, action: Action, what: str, field: str = "id") -> None:
        if not self.principal.allows(Action.READ, org.path):
            raise NotFoundError(f"{what} not found", field=field)
        if not self.principal.allows(action, org.path):
            raise PermissionDeniedError(
                f"your roles on {org.code} do not allow {action.value}"
                + ("" if self.principal.scope_allows(action) else " with this token's scopes"),
                field=None,
            )

    # --- organisations ----------------------------------------------------------------------

    def get_org(
        self, org_id: int, action: Action = Action.READ, *, field: str = "id"
    ) -> Organization:
        """An organisation the caller may act on.

        Raises
        ------
        NotFoundError
            Not there or not visible.
        PermissionDeniedError
            Visible, but ``action`` is not allowed.
        """
        org = self.session.get(Organization, org_id)
        if org is None:
            raise NotFoundError(f"organization {org_id} not found", field=field)
        self._check(org, action, f"organization {org_id}", field)
        return org

    def readable_org_ids(self, org_ids: Iterable[int]) -> set[int]:
        """The ids among ``org_ids`` that the caller may read."""
        wanted = list(org_ids)
        if not wanted:
            return set()
        stmt = self._scoped(select(Organization.id).where(Organization.id.in_(wanted)))
        return set(self.session.scalars(stmt))

    def org_by_code(self, code: str) -> Organization:
        """An organisation by its code (visible to the caller)."""
        stmt = self._scoped(select(Organization).where(Organization.code == code))
        org: Organization | None = self.session.scalars(stmt).first()
        if org is None:
            raise NotFoundError(f"organization {code!r} not found", field="code")
        return org

    def list_orgs(
        self,
        *,
        kind: str | None = None,
        parent_id: int | None = None,
        within: int | None = None,
        q: str | None = None,
        sector: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Organization], int]:
        """Visible organisations, in tree order (by path), with the total count."""
        stmt = self._scoped(select(Organization))
        if kind is not None:
            stmt = stmt.where(Organization.kind == kind)
        if parent_id is not None:
            stmt = stmt.where(Organization.parent_id == parent_id)
        if within is not None:
            root = self.get_org(within)
            stmt = stmt.where(Organization.path.like(_like_prefix(root.path)))
        if sector is not None:
            stmt = stmt.where(Organization.sector == sector)
        if q:
            needle = f"%{q.strip()}%"
            stmt = stmt.where(
                or_(
                    Organization.code.ilike(needle),
                    Organization.name_zh.ilike(needle),
                    Organization.name_en.ilike(needle),
                )
            )
        return self._page(stmt.order_by(Organization.path), limit, offset)

    def visible_roots(self) -> list[Organization]:
        """The tops of the caller's visible forest (for ``GET /organizations?tree``)."""
        prefixes = self.principal.prefixes(Action.READ)
        if prefixes is None:
            stmt = select(Organization).where(Organization.parent_id.is_(None))
        else:
            if not prefixes:
                return []
            stmt = select(Organization).where(Organization.path.in_(prefixes))
        return list(self.session.scalars(stmt.order_by(Organization.path)))

    def subtree(self, org: Organization) -> list[Organization]:
        """The organisation and everything below it, in tree order."""
        stmt = select(Organization).where(Organization.path.like(_like_prefix(org.path)))
        return list(self.session.scalars(stmt.order_by(Organization.path)))

    def create_org(self, data: Mapping[str, Any]) -> Organization:
        """Create an organisation under ``data["parent_id"]`` (top level for ``None``).

        Raises
        ------
        InputError, ConflictError, NotFoundError, PermissionDeniedError
        """
        kind = OrgKind(data["kind"])
        parent_id = data.get("parent_id")
        parent: Organization | None = None
        if parent_id is None:
            if not self.principal.is_platform_admin or not self.principal.scope_allows(
                Action.WRITE_ORGANIZATION
            ):
                raise PermissionDeniedError(
                    "only a platform admin may create a top-level organization", field="parent_id"
                )
        else:
            parent = self.get_org(parent_id, Action.WRITE_ORGANIZATION, field="parent_id")
        parent_kind = OrgKind(parent.kind) if parent is not None else None
        if parent_kind not in ALLOWED_PARENTS[kind]:
            allowed = sorted(k.value if k else "top level" for k in ALLOWED_PARENTS[kind])
            raise InputError(
                f"a {kind.value} cannot sit under "
                f"{parent_kind.value if parent_kind else 'the top level'}"
                f" (allowed: {', '.join(allowed)})",
                field="parent_id",
            )
        now = utcnow()
        org = Organization(
            parent_id=parent_id,
            kind=kind.value,
            path=f"tmp-{data['code']}",
            created_at=now,
            updated_at=now,
            **{k: data.get(k) for k in _ORG_FIELDS if k in data},
        )
        org.name_en = org.name_en or ""
        org.address = org.address or ""
        self.session.add(org)
        self._flush(f"organization code {data['code']!r} is taken", "code")
        org.path = f"{parent.path if parent else '/'}{org.id}/"
        self._flush("organization path conflict", "parent_id")
        self.log("create", "organization", org.id, org_id=org.id, before=None, after=org)
        return org

    def update_org(self, org_id: int, data: Mapping[str, Any]) -> Organization:
        """Change an organisation's descriptive fields (not its place in the tree)."""
        org = self.get_org(org_id, Action.WRITE_ORGANIZATION)
        _refuse_nulls(data, ("sector", "region", "credit_code"))
        before = self.snapshot("organization", org)
        for key in _ORG_FIELDS:
            if key in data:
                setattr(org, key, data[key])
        org.updated_at = utcnow()
        self._flush(f"organization code {data.get('code')!r} is taken", "code")
        self.log("update", "organization", org.id, org_id=org.id, before=before, after=org)
        return org

    def delete_org(self, org_id: int) -> None:
        """Delete an empty organisation; the caller must administer its parent."""
        org = self.get_org(org_id)
        if org.parent_id is None:
            if not (
                self.principal.is_platform_admin
                and self.principal.scope_allows(Action.WRITE_ORGANIZATION)
            ):
                raise PermissionDeniedError(
                    "only a platform admin may delete a top-level organization", field=None
                )
        else:
            parent = self.session.get(Organization, org.parent_id)
            assert parent is not None
            if not self.principal.allows(Action.WRITE_ORGANIZATION, parent.path):
                raise PermissionDeniedError(
                    f"deleting {org.code} needs write access to its parent", field=None
                )
        for column, label in (
            (Organization.parent_id, "child organizations"),
            (EmissionSource.org_id, "emission sources"),
            (Meter.org_id, "meters"),
            (Inventory.org_id, "inventories"),
            (Verification.org_id, "verification cases"),
            (Verification.verifier_org_id, "verification cases it verifies"),
            (SigningKey.org_id, "signing keys"),
            (Evidence.org_id, "evidence files"),
        ):
            if self.session.scalar(select(func.count()).where(column == org.id)):
                raise ConflictError(f"organization {org.code} still has {label}", field="id")
        for grant in self.session.scalars(select(RoleGrant).where(RoleGrant.org_id == org.id)):
            before_grant = self.snapshot("grant", grant)
            self.session.delete(grant)
            self.session.flush()
            self.log("delete", "grant", before_grant["id"], org_id=org.id, before=before_grant)
        before = self.snapshot("organization", org)
        self.session.delete(org)
        self.session.flush()
        self.log("delete", "organization", org.id, org_id=org.parent_id, before=before)

    def economics(self, org_id: int) -> list[OrgEconomics]:
        """Economic data of an organisation, by year."""
        org = self.get_org(org_id)
        return list(org.economics)

    def put_economics(self, org_id: int, year: int, data: Mapping[str, Any]) -> OrgEconomics:
        """Create or replace an organisation's economic data for one year."""
        org = self.get_org(org_id, Action.WRITE_ORGANIZATION)
        row = self.session.scalars(
            select(OrgEconomics).where(OrgEconomics.org_id == org.id, OrgEconomics.year == year)
        ).first()
        before = None
        if row is None:
            row = OrgEconomics(org_id=org.id, year=year)
            self.session.add(row)
        else:
            before = self.snapshot("economics", row)
        for key in ("output_value_10k_cny", "value_added_10k_cny", "employees", "floor_area_m2"):
            setattr(row, key, data.get(key))
        row.production = [dict(p) for p in data.get("production") or []]
        self.session.flush()
        self.log(
            "create" if before is None else "update",
            "economics",
            row.id,
            org_id=org.id,
            before=before,
            after=row,
        )
        return row

    # --- emission sources -------------------------------------------------------------------

    def _source_org(self, org_id: int, action: Action) -> Organization:
        org = self.get_org(org_id, action, field="org_id")
        if org.kind not in (OrgKind.ENTERPRISE, OrgKind.FACILITY):
            raise InputError(
                f"sources and meters belong to an enterprise or a facility, not a {org.kind}",
                field="org_id",
            )
        return org

    def get_source(
        self, source_id: int, action: Action = Action.READ, *, field: str = "id"
    ) -> EmissionSource:
        """An emission source the caller may act on."""
        row = self.session.execute(
            select(EmissionSource, Organization)
            .join(Organization, Organization.id == EmissionSource.org_id)
            .where(EmissionSource.id == source_id)
        ).first()
        if row is None:
            raise NotFoundError(f"source {source_id} not found", field=field)
        source, org = row
        self._check(org, action, f"source {source_id}", field)
        return source

    def list_sources(
        self,
        *,
        org_id: int | None = None,
        within: int | None = None,
        scope: int | None = None,
        category: str | None = None,
        method: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[EmissionSource], int]:
        """Visible sources, filtered."""
        stmt = self._scoped(
            select(EmissionSource).join(Organization, Organization.id == EmissionSource.org_id)
        )
        if org_id is not None:
            stmt = stmt.where(EmissionSource.org_id == org_id)
        if within is not None:
            root = self.get_org(within)
            stmt = stmt.where(Organization.path.like(_like_prefix(root.path)))
        if scope is not None:
            stmt = stmt.where(EmissionSource.scope == scope)
        if category is not None:
            stmt = stmt.where(EmissionSource.category == category)
        if method is not None:
            stmt = stmt.where(EmissionSource.method == method)
        return self._page(stmt.order_by(EmissionSource.code), limit, offset)

    def _source_values(
        self, data: Mapping[str, Any], base: EmissionSource | None
    ) -> dict[str, Any]:
        _refuse_nulls(data, ("tce_carrier",))
        merged = {k: getattr(base, k) for k in _SOURCE_FIELDS} if base is not None else {}
        merged.update({k: v for k, v in data.items() if k in _SOURCE_FIELDS})
        category = Category(merged["category"])
        merged["scope"] = CATEGORY_SCOPE[category]
        merged["params"] = validate_source(
            merged["method"], merged.get("params") or {}, merged["amount_field"], merged["unit"]
        )
        return merged

    def create_source(self, data: Mapping[str, Any]) -> EmissionSource:
        """Create an emission source on an enterprise or facility."""
        org = self._source_org(data["org_id"], Action.WRITE_CONFIGURATION)
        values = self._source_values(data, None)
        now = utcnow()
        source = EmissionSource(org_id=org.id, created_at=now, updated_at=now, **values)
        source.name_en = source.name_en or ""
        self.session.add(source)
        self._flush(f"source code {data['code']!r} is taken", "code")
        self.log("create", "source", source.id, org_id=org.id, before=None, after=source)
        return source

    def update_source(self, source_id: int, data: Mapping[str, Any]) -> EmissionSource:
        """Change a source; the scope follows its category."""
        source = self.get_source(source_id, Action.WRITE_CONFIGURATION)
        values = self._source_values(data, source)
        before = self.snapshot("source", source)
        for key, value in values.items():
            setattr(source, key, value)
        source.updated_at = utcnow()
        self._flush(f"source code {data.get('code')!r} is taken", "code")
        self.log("update", "source", source.id, org_id=source.org_id, before=before, after=source)
        return source

    def delete_source(self, source_id: int) -> None:
        """Delete a source that has no activity data."""
        source = self.get_source(source_id, Action.WRITE_CONFIGURATION)
        count = self.session.scalar(
            select(func.count())
            .select_from(ActivityDatum)
            .where(ActivityDatum.source_id == source.id)
        )
        if count:
            raise ConflictError(
                f"source {source.code} has {count} activity data; delete them or set active=false",
                field="id",
            )
        # Results that name the source keep its code; their link to it goes, audited. A version
        # under verification or verified is never edited: its sources stay (inactive).
        named = list(
            self.session.scalars(
                select(Inventory)
                .where(
                    Inventory.id.in_(
                        select(InventoryItem.inventory_id).where(
                            InventoryItem.source_id == source.id
                        )
                    )
                )
                .order_by(Inventory.id)
            )
        )
        reviewed = self.session.scalar(
            select(func.count())
            .select_from(Verification)
            .where(Verification.inventory_id.in_([i.id for i in named] or [-1]))
        )
        if reviewed:
            raise ConflictError(
                f"source {source.code} is in an inventory under verification or verified;"
                " set active=false instead",
                field="id",
            )
        for inventory in named:
            before_inventory = self.snapshot("inventory", inventory)
            for item in inventory.items:
                if item.source_id == source.id:
                    item.source_id = None
            self.log(
                "unlink_source",
                "inventory",
                inventory.id,
                org_id=inventory.org_id,
                before=before_inventory,
                after=inventory,
                detail={"source_code": source.code},
            )
        for meter in self.session.scalars(select(Meter).where(Meter.source_id == source.id)):
            before_meter = self.snapshot("meter", meter)
            meter.source_id = None
            self.log(
                "update", "meter", meter.id, org_id=meter.org_id, before=before_meter, after=meter
            )
        before = self.snapshot("source", source)
        self.session.delete(source)
        self.session.flush()
        self.log("delete", "source", before["id"], org_id=source.org_id, before=before)

    # --- meters -----------------------------------------------------------------------------

    def get_meter(self, meter_id: int, action: Action = Action.READ) -> Meter:
        """A meter the caller may act on."""
        row = self.session.execute(
            select(Meter, Organization)
            .join(Organization, Organization.id == Meter.org_id)
            .where(Meter.id == meter_id)
        ).first()
        if row is None:
            raise NotFoundError(f"meter {meter_id} not found", field="id")
        meter, org = row
        self._check(org, action, f"meter {meter_id}")
        return meter

    def list_meters(
        self,
        *,
        org_id: int | None = None,
        within: int | None = None,
        source_id: int | None = None,
        carrier: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Meter], int]:
        """Visible meters, filtered."""
        stmt = self._scoped(select(Meter).join(Organization, Organization.id == Meter.org_id))
        if org_id is not None:
            stmt = stmt.where(Meter.org_id == org_id)
        if within is not None:
            root = self.get_org(within)
            stmt = stmt.where(Organization.path.like(_like_prefix(root.path)))
        if source_id is not None:
            stmt = stmt.where(Meter.source_id == source_id)
        if carrier is not None:
            stmt = stmt.where(Meter.carrier == carrier)
        return self._page(stmt.order_by(Meter.code), limit, offset)

    @staticmethod
    def _enterprise_path(org: Organization) -> str:
        # A facility always sits directly under its enterprise.
        return org.path if org.kind == OrgKind.ENTERPRISE else org.path.rsplit("/", 2)[0] + "/"

    def _meter_source(self, org: Organization, source_id: int | None) -> None:
        if source_id is None:
            return
        row = self.session.execute(
            select(Organization)
            .join(EmissionSource, EmissionSource.org_id == Organization.id)
            .where(EmissionSource.id == source_id)
        ).first()
        if row is None or not self.principal.allows(Action.READ, row[0].path):
            raise NotFoundError(f"source {source_id} not found", field="source_id")
        if self._enterprise_path(row[0]) != self._enterprise_path(org):
            raise InputError("must be a source of the meter's own enterprise", field="source_id")

    def create_meter(self, data: Mapping[str, Any]) -> Meter:
        """Create a meter on an enterprise or facility."""
        org = self._source_org(data["org_id"], Action.WRITE_CONFIGURATION)
        self._meter_source(org, data.get("source_id"))
        now = utcnow()
        meter = Meter(
            org_id=org.id,
            created_at=now,
            updated_at=now,
            **{k: data[k] for k in _METER_FIELDS if k in data},
        )
        meter.name_en = meter.name_en or ""
        self.session.add(meter)
        self._flush(f"meter code {data['code']!r} is taken", "code")
        self.log("create", "meter", meter.id, org_id=org.id, before=None, after=meter)
        return meter

    def update_meter(self, meter_id: int, data: Mapping[str, Any]) -> Meter:
        """Change a meter."""
        meter = self.get_meter(meter_id, Action.WRITE_CONFIGURATION)
        _refuse_nulls(data, ("source_id",))
        org = self.session.get(Organization, meter.org_id)
        assert org is not None
        if "source_id" in data:
            self._meter_source(org, data["source_id"])
        before = self.snapshot("meter", meter)
        for key in _METER_FIELDS:
            if key in data:
                setattr(meter, key, data[key])
        meter.updated_at = utcnow()
        self._flush(f"meter code {data.get('code')!r} is taken", "code")
        self.log("update", "meter", meter.id, org_id=meter.org_id, before=before, after=meter)
        return meter

    def delete_meter(self, meter_id: int) -> None:
        """Delete a meter that has no readings (one with readings is deactivated instead)."""
        meter = self.get_meter(meter_id, Action.WRITE_CONFIGURATION)
        has_readings = self.session.execute(
            select(Reading.meter_id).where(Reading.meter_id == meter_id).limit(1)
        ).first()
        if has_readings is not None:
            raise ConflictError(
                f"meter {meter.code} has readings: set active=false instead of deleting it",
                field="id",
            )
        before = self.snapshot("meter", meter)
        self.session.delete(meter)
        self.session.flush()
        self.log("delete", "meter", meter_id, org_id=meter.org_id, before=before)

    def meter_resolver(
        self, *, within: Organization | None = None, action: Action = Action.WRITE_ACTIVITY
    ) -> MeterResolver:
        """Meter reference (id or code) → the meter, if the caller may ``action`` on it.

        A meter the caller cannot see is *unknown* (its existence is not revealed); with
        ``within`` (an MQTT topic's organisation), a meter outside that subtree is refused.
        """
        return MeterResolver(self.session, self.principal, within, action)

    # --- activity data ----------------------------------------------------------------------

    def get_activity(self, activity_id: int, action: Action = Action.READ) -> ActivityDatum:
        """An activity datum the caller may act on."""
        row = self.session.execute(
            select(ActivityDatum, Organization)
            .join(EmissionSource, EmissionSource.id == ActivityDatum.source_id)
            .join(Organization, Organization.id == EmissionSource.org_id)
            .where(ActivityDatum.id == activity_id)
        ).first()
        if row is None:
            raise NotFoundError(f"activity datum {activity_id} not found", field="id")
        datum, org = row
        self._check(org, action, f"activity datum {activity_id}")
        return datum

    def list_activity(
        self,
        *,
        source_id: int | None = None,
        org_id: int | None = None,
        within: int | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[ActivityDatum], int]:
        """Visible activity data, filtered; ``start``/``end`` bound the periods."""
        stmt = self._scoped(
            select(ActivityDatum)
            .join(EmissionSource, EmissionSource.id == ActivityDatum.source_id)
            .join(Organization, Organization.id == EmissionSource.org_id)
        )
        if source_id is not None:
            stmt = stmt.where(ActivityDatum.source_id == source_id)
        if org_id is not None:
            stmt = stmt.where(EmissionSource.org_id == org_id)
        if within is not None:
            root = self.get_org(within)
            stmt = stmt.where(Organization.path.like(_like_prefix(root.path)))
        if start is not None:
            stmt = stmt.where(ActivityDatum.period_start >= start)
        if end is not None:
            stmt = stmt.where(ActivityDatum.period_end <= end)
        return self._page(
            stmt.order_by(ActivityDatum.source_id, ActivityDatum.period_start), limit, offset
        )

    def create_activity(self, data: Mapping[str, Any]) -> ActivityDatum:
        """Store one activity datum (the caller validates it against the calculation)."""
        source = self.get_source(data["source_id"], Action.WRITE_ACTIVITY, field="source_id")
        now = utcnow()
        datum = ActivityDatum(
            source_id=source.id,
            period_start=data["period_start"],
            period_end=data["period_end"],
            amount=data["amount"],
            unit=data.get("unit") or source.unit,
            origin=data.get("origin", "entered"),
            note=data.get("note") or "",
            version=1,
            created_at=now,
            updated_at=now,
            updated_by=self.user_id,
        )
        self.session.add(datum)
        self._flush(
            f"source {source.code} already has a datum for "
            f"{data['period_start']}…{data['period_end']};"
            " correct it with PATCH /api/v1/activity/{id}",
            "period_start",
        )
        self.log("create", "activity", datum.id, org_id=source.org_id, before=None, after=datum)
        return datum

    def update_activity(self, activity_id: int, data: Mapping[str, Any]) -> ActivityDatum:
        """Correct an activity datum; its version goes up by one."""
        datum = self.get_activity(activity_id, Action.WRITE_ACTIVITY)
        before = self.snapshot("activity", datum)
        changed = False
        for key in ("amount", "unit", "note", "period_start", "period_end"):
            if key in data and data[key] is not None and getattr(datum, key) != data[key]:
                setattr(datum, key, data[key])
                changed = True
        if changed:
            datum.version += 1
            datum.updated_at = utcnow()
            datum.updated_by = self.user_id
        self._flush("another datum covers that period", "period_start")
        if changed:
            self.log(
                "update",
                "activity",
                datum.id,
                org_id=self._activity_org(datum),
                before=before,
                after=datum,
            )
        return datum

    def _activity_org(self, datum: ActivityDatum) -> int:
        org_id = self.session.scalar(
            select(EmissionSource.org_id).where(EmissionSource.id == datum.source_id)
        )
        assert org_id is not None
        return org_id

    def delete_activity(self, activity_id: int) -> ActivityDatum:
        """Delete an activity datum; returns it (detached) so callers can recompute."""
        datum = self.get_activity(activity_id, Action.WRITE_ACTIVITY)
        evidence = self.session.scalar(
            select(func.count()).select_from(Evidence).where(Evidence.activity_id == datum.id)
        )
        if evidence:
            raise ConflictError(
                f"activity datum {datum.id} has {evidence} evidence files; correct it instead",
                field="id",
            )
        before = self.snapshot("activity", datum)
        org_id = self._activity_org(datum)
        self.session.delete(datum)
        self.session.flush()
        self.log("delete", "activity", activity_id, org_id=org_id, before=before)
        return datum

    # --- inventories ------------------------------------------------------------------------

    @staticmethod
    def org_node(org: Organization) -> OrgNode:
        """The calculation's view of an organisation."""
        return OrgNode(
            id=org.id,
            parent_id=org.parent_id,
            path=org.path,
            code=org.code,
            kind=org.kind,
            name_zh=org.name_zh,
            name_en=org.name_en,
            sector=org.sector,
        )

    @staticmethod
    def source_row(source: EmissionSource) -> SourceRow:
        """The calculation's view of a source."""
        return SourceRow(
            id=source.id,
            code=source.code,
            org_id=source.org_id,
            name_zh=source.name_zh,
            name_en=source.name_en,
            scope=source.scope,
            category=source.category,
            method=source.method,
            params=dict(source.params),
            amount_field=source.amount_field,
            unit=source.unit,
            tce_carrier=source.tce_carrier,
            tce_from_energy=source.tce_from_energy,
        )

    def inventory_inputs(
        self, org_id: int, period: Period
    ) -> tuple[
        OrgNode, list[OrgNode], list[SourceRow], list[ActivityRow], dict[int, dict[str, Any]]
    ]:
        """Everything an inventory of ``org_id`` over ``period`` needs (port of the service)."""
        org = self.get_org(org_id, Action.READ)
        subtree = self.subtree(org)
        sources = list(
            self.session.scalars(
                select(EmissionSource)
                .join(Organization, Organization.id == EmissionSource.org_id)
                .where(
                    Organization.path.like(_like_prefix(org.path)), EmissionSource.active.is_(True)
                )
            )
        )
        rows = self.session.execute(
            select(
                ActivityDatum.id,
                ActivityDatum.source_id,
                ActivityDatum.period_start,
                ActivityDatum.period_end,
                ActivityDatum.amount,
                ActivityDatum.unit,
                ActivityDatum.version,
            )
            .join(EmissionSource, EmissionSource.id == ActivityDatum.source_id)
            .join(Organization, Organization.id == EmissionSource.org_id)
            .where(
                Organization.path.like(_like_prefix(org.path)),
                EmissionSource.active.is_(True),
                # Overlapping, not only contained: the calculation warns about the rest.
                ActivityDatum.period_start < period.end,
                ActivityDatum.period_end > period.start,
            )
        )
        activity = [ActivityRow(*row) for row in rows]
        econ = self.session.scalars(
            select(OrgEconomics).where(
                OrgEconomics.org_id == org.id, OrgEconomics.year == period.year
            )
        ).first()
        economics: dict[int, dict[str, Any]] = {}
        if econ is not None and period.label == str(period.year):
            economics[org.id] = {
                "output_value_10k_cny": econ.output_value_10k_cny,
                "value_added_10k_cny": econ.value_added_10k_cny,
            }
        return (
            self.org_node(org),
            [self.org_node(o) for o in subtree],
            [self.source_row(s) for s in sources],
            activity,
            economics,
        )

    def current_inventory(self, org_id: int, period: str) -> Inventory:
        """The current version of an organisation's inventory for a period (one query)."""
        label = parse_period(period).label
        row = self.session.execute(
            select(Inventory, Organization)
            .join(Organization, Organization.id == Inventory.org_id)
            .where(Inventory.org_id == org_id, Inventory.period == label)
            .where(Inventory.status == "current")
        ).first()
        if row is None:
            org = self.get_org(org_id)
            raise NotFoundError(
                f"no inventory of {org.code} for {label}; "
                "compute it with POST …/inventory/recompute",
                field="period",
            )
        inventory, org = row
        self._check(org, Action.READ, f"organization {org_id}")
        return inventory

    def current_inventory_id(self, org_id: int, period: str) -> int:
        """The id of the current inventory of an organisation and period (a light query)."""
        label = parse_period(period).label
        row = self.session.execute(
            _CURRENT_INVENTORY_ID, {"org_id": org_id, "period": label}
        ).first()
        if row is None or not self.principal.allows(Action.READ, row[1]):
            self.current_inventory(org_id, period)  # raises the precise not-found error
            raise NotFoundError(f"organization {org_id} not found", field="id")
        inventory_id: int = row[0]
        return inventory_id

    def document(self, inventory_id: int) -> str:
        """The stored API document of an inventory version the caller has already reached."""
        text: str | None = self.session.scalar(
            select(Inventory.summary).where(Inventory.id == inventory_id)
        )
        if text is None:
            raise NotFoundError(f"inventory {inventory_id} not found", field="id")
        return text

    def inventory_version(self, org_id: int, period: str, version: int) -> Inventory:
        """One version of an organisation's inventory for a period."""
        org = self.get_org(org_id)
        label = parse_period(period).label
        inventory = self.session.scalars(
            select(Inventory).where(
                Inventory.org_id == org.id, Inventory.period == label, Inventory.version == version
            )
        ).first()
        if inventory is None:
            raise NotFoundError(
                f"no version {version} of {org.code}'s {label} inventory", field="version"
            )
        return inventory

    def inventory_versions(self, org_id: int, period: str) -> list[Inventory]:
        """Every version of an organisation's inventory for a period, newest first."""
        org = self.get_org(org_id)
        label = parse_period(period).label
        return list(
            self.session.scalars(
                select(Inventory)
                .where(Inventory.org_id == org.id, Inventory.period == label)
                .order_by(Inventory.version.desc())
            )
        )

    def list_inventories(
        self,
        *,
        org_id: int | None = None,
        period: str | None = None,
        stale_for: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Inventory], int]:
        """Current inventories visible to the caller.

        ``stale_for`` keeps only those computed with another factor-library version.
        """
        stmt = self._scoped(
            select(Inventory)
            .join(Organization, Organization.id == Inventory.org_id)
            .where(Inventory.status == "current")
        )
        if org_id is not None:
            stmt = stmt.where(Inventory.org_id == org_id)
        if period is not None:
            stmt = stmt.where(Inventory.period == parse_period(period).label)
        if stale_for is not None:
            stmt = stmt.where(Inventory.library_version != stale_for)
        return self._page(stmt.order_by(Organization.path, Inventory.period), limit, offset)

    @staticmethod
    def item_dict(item: InventoryItem) -> dict[str, Any]:
        """An item as :func:`~shuangtan.services.inventories.diff_items` takes it."""
        return {
            "source_id": item.source_id,
            "source_code": item.source_code,
            "co2e_t": item.co2e_t,
            "energy_tce": item.energy_tce,
            "factors": item.factors,
            "activity": item.activity,
            "method": item.method,
            "scope": item.scope,
            "category": item.category,
        }

    @staticmethod
    def inventory_meta(inventory: Inventory) -> dict[str, Any]:
        """Version metadata for diffs."""
        return {
            "version": inventory.version,
            "library_version": inventory.library_version,
            "gwp_set": inventory.gwp_set,
        }

    def save_inventory(
        self, computed: ComputedInventory, *, user_id: int | None, reason: str
    ) -> tuple[int, int, dict[str, Any] | None]:
        """Store a computed inventory as a new version (port of the service)."""
        org = self.get_org(computed.org.id, Action.RECOMPUTE)
        label = computed.period.label
        # Serialise recomputations of one organisation (PostgreSQL row lock; SQLite has one
        # writer anyway); the partial unique index on current versions is the last guard.
        self.session.execute(
            select(Organization.id).where(Organization.id == org.id).with_for_update()
        )
        previous = self.session.scalars(
            select(Inventory).where(
                Inventory.org_id == org.id, Inventory.period == label, Inventory.status == "current"
            )
        ).first()
        last_version = self.session.scalar(
            select(func.max(Inventory.version)).where(
                Inventory.org_id == org.id, Inventory.period == label
            )
        )
        version = (last_version or 0) + 1
        if previous is not None:
            before_previous = self.snapshot("inventory", previous)
            previous.status = "superseded"
            self.log(
                "supersede",
                "inventory",
                previous.id,
                org_id=org.id,
                before=before_previous,
                after=previous,
                detail={"period": label, "version": previous.version, "by_version": version},
            )
        inventory = Inventory(
            org_id=org.id,
            period=label,
            period_start=computed.period.start,
            period_end=computed.period.end,
            version=version,
            status="current",
            library_version=computed.library_version,
            gwp_set=computed.gwp_set,
            co2e_t=computed.co2e_t,
            energy_tce=computed.energy_tce,
            summary="{}",
            reason=reason,
            computed_at=utcnow(),
            computed_by=user_id if user_id and user_id > 0 else None,
        )
        for item in computed.items:
            inventory.items.append(
                InventoryItem(
                    source_id=item.source.id,
                    source_code=item.source.code,
                    org_id=item.source.org_id,
                    scope=item.source.scope,
                    category=item.source.category,
                    method=item.source.method,
                    co2e_t=item.co2e_t,
                    energy_tce=item.energy_tce,
                    gases_t=item.gases_t,
                    factors=item.factors,
                    activity=item.activity,
                    warnings=item.warnings,
                )
            )
        self.session.add(inventory)
        self._flush("a concurrent recomputation stored this version first; retry", "period")
        diff = None
        if previous is not None:
            diff = diff_items(
                self.inventory_meta(previous),
                [self.item_dict(i) for i in previous.items],
                self.inventory_meta(inventory),
                [self.item_dict(i) for i in inventory.items],
            )
        inventory.summary = orjson.dumps(
            {
                **computed.summary,
                "inventory_id": inventory.id,
                "version": version,
                "computed_at": inventory.computed_at.isoformat() + "Z",
                "reason": reason,
            }
        ).decode()
        self.session.flush()
        self.log(
            "compute",
            "inventory",
            inventory.id,
            org_id=org.id,
            before=None,
            after=inventory,
            detail={
                "period": label,
                "version": version,
                "co2e_t": inventory.co2e_t,
                "energy_tce": inventory.energy_tce,
                "library_version": inventory.library_version,
                "gwp_set": inventory.gwp_set,
                "reason": reason,
            },
        )
        return inventory.id, version, diff

    def affected_inventories(
        self, source_org_id: int, start: dt.date, end: dt.date
    ) -> list[tuple[int, str, str]]:
        """Current inventories of the organisation and its ancestors overlapping the dates.

        ``(org id, period, GWP set)``, deepest organisation first, then by period.
        """
        org = self.session.get(Organization, source_org_id)
        if org is None:
            return []
        ancestors = [int(part) for part in org.path.strip("/").split("/") if part]
        rows = self.session.execute(
            select(Inventory.org_id, Inventory.period, Inventory.gwp_set)
            .join(Organization, Organization.id == Inventory.org_id)
            .where(
                Inventory.org_id.in_(ancestors),
                Inventory.status == "current",
                Inventory.period_start < end,
                Inventory.period_end > start,
            )
            .order_by(func.length(Organization.path).desc(), Inventory.period)
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def stale_inventories(self, library_version: str) -> list[tuple[int, str]]:
        """Current inventories computed with a different factor-library version."""
        rows = self.session.execute(
            self._scoped(
                select(Inventory.org_id, Inventory.period)
                .join(Organization, Organization.id == Inventory.org_id)
                .where(Inventory.status == "current", Inventory.library_version != library_version)
                .order_by(Organization.path, Inventory.period),
                Action.RECOMPUTE,
            )
        )
        return [(r[0], r[1]) for r in rows]

    # --- users and roles --------------------------------------------------------------------

    def list_users(self, *, limit: int = 100, offset: int = 0) -> tuple[list[User], int]:
        """Users holding a role inside the subtrees the caller manages (all for platform admins)."""
        # Seeing whom one manages is a read: a read-only token of an org admin sees them too.
        prefixes = self.principal.prefixes(Action.MANAGE_USERS, roles_only=True)
        if prefixes is None:
            stmt = select(User)
        else:
            condition = (
                or_(*(Organization.path.like(_like_prefix(p)) for p in prefixes))
                if prefixes
                else false()
            )
            stmt = select(User).where(
                User.id.in_(
                    select(RoleGrant.user_id)
                    .join(Organization, Organization.id == RoleGrant.org_id)
                    .where(condition)
                )
            )
        return self._page(stmt.order_by(User.username), limit, offset)

    def get_user(self, user_id: int) -> User:
        """A user the caller manages, or the caller."""
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found", field="id")
        if user.id == self.principal.user_id:
            return user
        users, _ = self.list_users(limit=1_000_000)
        if user not in users:
            raise NotFoundError(f"user {user_id} not found", field="id")
        return user

    def create_user(
        self,
        username: str,
        password: str,
        *,
        display_name: str = "",
        grants: Iterable[tuple[str, int | None]] = (),
    ) -> User:
        """Create a user with role grants; the caller must manage every granted subtree."""
        grants = list(grants)
        if not self.principal.scope_allows(Action.MANAGE_USERS):
            raise PermissionDeniedError("this token's scopes do not allow managing users")
        if not grants and not self.principal.is_platform_admin:
            raise InputError(
                "a new user needs at least one role on your organizations", field="grants"
            )
        check_password_strength(password)
        user = User(
            username=username,
            display_name=display_name,
            password_hash=hash_password(password),
            active=True,
            created_at=utcnow(),
        )
        self.session.add(user)
        self._flush(f"username {username!r} is taken", "username")
        self.log("create", "user", user.id, org_id=None, before=None, after=user)
        for role, org_id in grants:
            self.grant(user.id, role, org_id, _user=user)
        return user

    def grant(
        self, user_id: int, role: str, org_id: int | None, *, _user: User | None = None
    ) -> RoleGrant:
        """Give ``user_id`` a role on a subtree (platform-wide for ``org_id=None``)."""
        user = _user or self.get_user(user_id)
        parsed = Role(role)
        if parsed is Role.PLATFORM_ADMIN or org_id is None:
            if parsed is not Role.PLATFORM_ADMIN:
                raise InputError(f"role {role} needs an organization", field="org_id")
            if not (
                self.principal.is_platform_admin
                and self.principal.scope_allows(Action.MANAGE_USERS)
            ):
                raise PermissionDeniedError(
                    "only a platform admin may grant platform_admin", field="role"
                )
            org_id = None
        else:
            self.get_org(org_id, Action.MANAGE_USERS, field="org_id")
        existing = self.session.scalars(
            select(RoleGrant).where(
                RoleGrant.user_id == user.id,
                RoleGrant.role == parsed.value,
                RoleGrant.org_id.is_(None) if org_id is None else RoleGrant.org_id == org_id,
            )
        ).first()
        if existing is not None:
            return existing
        grant = RoleGrant(user_id=user.id, org_id=org_id, role=parsed.value)
        self.session.add(grant)
        self.session.flush()
        self.log(
            "create",
            "grant",
            grant.id,
            org_id=org_id,
            before=None,
            after=grant,
            detail={"user": user.username, "role": parsed.value, "org_id": org_id},
        )
        return grant

    def revoke_grant(self, user_id: int, grant_id: int) -> None:
        """Take a role grant away."""
        grant = self.session.get(RoleGrant, grant_id)
        if grant is None or grant.user_id != user_id:
            raise NotFoundError(f"grant {grant_id} not found", field="grant_id")
        if grant.org_id is None:
            if not self.principal.is_platform_admin:
                raise NotFoundError(f"grant {grant_id} not found", field="grant_id")
            if not self.principal.scope_allows(Action.MANAGE_USERS):
                raise PermissionDeniedError("this token's scopes do not allow managing users")
        else:
            self.get_org(grant.org_id, Action.MANAGE_USERS)
        before = self.snapshot("grant", grant)
        self.session.delete(grant)
        self.session.flush()
        self.log("delete", "grant", grant_id, org_id=grant.org_id, before=before)

    def grant_paths(self, user: User) -> list[tuple[RoleGrant, Organization | None]]:
        """A user's grants with their organisations."""
        out: list[tuple[RoleGrant, Organization | None]] = []
        for g in user.grants:
            org = self.session.get(Organization, g.org_id) if g.org_id is not None else None
            # A user may hold roles elsewhere; the caller sees only grants on what it can see.
            if org is None or self.principal.allows(Action.READ, org.path):
                out.append((g, org))
        return out

    # --- helpers ----------------------------------------------------------------------------

    def _page(self, stmt: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
        total = self.session.scalar(
            select(func.count()).select_from(stmt.order_by(None).subquery())
        )
        items = list(self.session.scalars(stmt.limit(limit).offset(offset)))
        return items, int(total or 0)

    def _flush(self, message: str, field: str) -> None:
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError(message, field=field) from None


class Accounts:
    """Login and tokens: what happens before a :class:`Principal` exists.

    Parameters
    ----------
    session : Session
        The SQLAlchemy session.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def login(self, username: str, password: str) -> User:
        """The user with these credentials.

        Raises
        ------
        AuthenticationError
            Unknown user, wrong password or inactive account (one message for all).
        """
        found = "\x00" not in username
        user = (
            self.session.scalars(select(User).where(User.username == username)).first()
            if found
            else None
        )
        if user is None:
            # Spend the same time as a real check, so timing does not reveal usernames.
            verify_password(_DUMMY_HASH(), password)
            raise AuthenticationError("wrong username or password", field="username")
        if not verify_password(user.password_hash, password) or not user.active:
            raise AuthenticationError("wrong username or password", field="username")
        if password_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
        return user

    def issue_token(
        self,
        user: User,
        *,
        kind: str,
        scopes: Iterable[str] = ("read", "write"),
        name: str = "",
        hours: float | None = None,
    ) -> tuple[ApiToken, str]:
        """Issue a token; returns the stored row and the secret (shown once)."""
        scopes = sorted(set(scopes))
        for scope in scopes:
            if scope not in SCOPES:
                raise InputError(
                    f"unknown scope {scope!r} (known: {', '.join(SCOPES)})", field="scopes"
                )
        if not scopes:
            raise InputError("at least one scope is needed", field="scopes")
        secret = new_token()
        now = utcnow()
        token = ApiToken(
            user_id=user.id,
            kind=kind,
            name=name,
            token_hash=hash_token(secret),
            scopes=" ".join(scopes),
            created_at=now,
            expires_at=None if hours is None else now + dt.timedelta(hours=hours),
        )
        self.session.add(token)
        self.session.flush()
        return token, secret

    def principal(self, secret: str) -> Principal:
        """The principal a bearer token stands for.

        Raises
        ------
        AuthenticationError
            Unknown, expired or revoked token, or inactive user.
        """
        row = self.session.execute(
            select(
                ApiToken.id,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
                ApiToken.scopes,
                User.id,
                User.username,
                User.active,
            )
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(secret))
        ).first()
        if row is None:
            raise AuthenticationError("invalid token", field="Authorization")
        token_id, expires_at, revoked_at, last_used, scopes, user_id, username, active = row
        now = utcnow()
        if revoked_at is not None:
            raise AuthenticationError("token revoked", field="Authorization")
        if expires_at is not None and expires_at <= now:
            raise AuthenticationError("token expired", field="Authorization")
        if not active:
            raise AuthenticationError("account disabled", field="Authorization")
        if last_used is None or now - last_used > LAST_USED_RESOLUTION:
            # Recorded to the minute: an audit aid, not a write on every request.
            self.session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
        rows = self.session.execute(
            select(RoleGrant.role, RoleGrant.org_id, Organization.path, Organization.kind)
            .outerjoin(Organization, Organization.id == RoleGrant.org_id)
            .where(RoleGrant.user_id == user_id)
        ).all()
        grants = [Grant(Role(r), o, p) for r, o, p, _ in rows]
        bodies = [o for r, o, _, k in rows if r == Role.VERIFIER.value and k == "verifier" and o]
        if bodies:
            grants.extend(self._case_grants(bodies))
        return Principal(
            user_id=user_id,
            username=username,
            grants=tuple(grants),
            scopes=frozenset(scopes.split()),
            token_id=token_id,
        )

    def _case_grants(self, bodies: list[int]) -> list[Grant]:
        """Read access (as ``viewer``) to the organisations whose cases the bodies verify.

        A verifier sees an organisation's lineage (readings, factors, evidence) while the case
        is assigned to its body, and keeps seeing what it signed.
        """
        rows = self.session.execute(
            select(Verification.org_id, Organization.path)
            .join(Organization, Organization.id == Verification.org_id)
            .where(
                Verification.verifier_org_id.in_(bodies),
                Verification.state.in_(("in_verification", "returned", "verified", "published")),
            )
            .distinct()
        )
        return [Grant(Role.VIEWER, org_id, path) for org_id, path in rows]

    def tokens(self, user_id: int) -> list[ApiToken]:
        """A user's tokens that are neither revoked nor expired."""
        now = utcnow()
        return list(
            self.session.scalars(
                select(ApiToken)
                .where(
                    ApiToken.user_id == user_id,
                    ApiToken.revoked_at.is_(None),
                    or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
                )
                .order_by(ApiToken.id)
            )
        )

    def revoke(self, user_id: int, token_id: int) -> None:
        """Revoke one of a user's tokens."""
        token = self.session.get(ApiToken, token_id)
        if token is None or token.user_id != user_id:
            raise NotFoundError(f"token {token_id} not found", field="token_id")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
        self.session.flush()


_DUMMY: list[str] = []


def _DUMMY_HASH() -> str:  # noqa: N802 (a lazily built constant)
    if not _DUMMY:
        _DUMMY.append(hash_password("not-a-real-password"))
    return _DUMMY[0]


#: Most references looked up in one query (a bound on the IN lists).
_RESOLVE_CHUNK: Final = 1000


def _is_meter_id(ref: str) -> bool:
    # A reference of ASCII digits only is an id (codes are compared as text otherwise);
    # str.isdigit alone also accepts '²' or '①', which int() refuses.
    return ref.isascii() and ref.isdigit() and len(ref) < 10


class MeterResolver:
    """Meter references (ids or codes) → meters the caller may act on, or why not.

    Called with one reference, or with :meth:`many` for a whole batch in one query per
    thousand references (what :func:`~shuangtan.services.readings.parse_readings` uses).
    Nothing is cached across calls: a meter edited between batches is read afresh.
    """

    def __init__(
        self,
        session: Session,
        principal: Principal,
        within: Organization | None,
        action: Action,
    ) -> None:
        self.session = session
        self.principal = principal
        self.within = within
        self.action = action

    def __call__(self, ref: str) -> MeterInfo | Rejected:
        """One reference's meter, or why not."""
        return self.many([ref])[ref]

    def many(self, refs: Iterable[str]) -> dict[str, MeterInfo | Rejected]:
        """Each reference's meter, or a :class:`Rejected` saying why not."""
        wanted = list(dict.fromkeys(refs))
        by_id: dict[int, tuple[Meter, Organization]] = {}
        by_code: dict[str, tuple[Meter, Organization]] = {}
        ids = [int(r) for r in wanted if _is_meter_id(r)]
        codes = [r for r in wanted if not _is_meter_id(r)]
        for column, keys in ((Meter.id, ids), (Meter.code, codes)):
            for i in range(0, len(keys), _RESOLVE_CHUNK):
                rows = self.session.execute(
                    select(Meter, Organization)
                    .join(Organization, Organization.id == Meter.org_id)
                    .where(column.in_(keys[i : i + _RESOLVE_CHUNK]))
                )
                for meter, org in rows:
                    by_id[meter.id] = by_code[meter.code] = (meter, org)
        return {
            ref: self._judge(ref, by_id.get(int(ref)) if _is_meter_id(ref) else by_code.get(ref))
            for ref in wanted
        }

    def _judge(self, ref: str, row: tuple[Meter, Organization] | None) -> MeterInfo | Rejected:
        if row is None or not self.principal.allows(Action.READ, row[1].path):
            return Rejected("", Reason.UNKNOWN_METER, "meter", f"no meter {ref!r} known to you")
        meter, org = row
        if self.within is not None and not org.path.startswith(self.within.path):
            return Rejected(
                "",
                Reason.METER_NOT_IN_ORG,
                "meter",
                f"meter {meter.code} does not belong to {self.within.code}",
                meter_id=meter.id,
            )
        if not self.principal.allows(self.action, org.path):
            return Rejected(
                "",
                Reason.UNKNOWN_METER,
                "meter",
                f"your roles on {org.code} do not allow sending readings of meter {meter.code}",
                meter_id=meter.id,
            )
        if not meter.active:
            return Rejected(
                "",
                Reason.INACTIVE_METER,
                "meter",
                f"meter {meter.code} is inactive",
                meter_id=meter.id,
            )
        return meter_info(meter)

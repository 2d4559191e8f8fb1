"""The platform's tables, as SQLAlchemy 2 declarative models.

Conventions
-----------
- Timestamps are naive UTC (``DateTime`` without a zone), as the architecture fixes; front
  doors add the zone when presenting.
- Masses are ``*_t`` [t], energies ``*_tce`` [tce]; floats are double precision on every backend.
- JSON columns are ``JSONB`` on PostgreSQL and JSON text on SQLite.
- ``organizations.path`` is the materialised path ``/1/5/12/`` of ids from the root: a subtree
  is a prefix, which is how every query is scoped to the caller's organisations.

Every schema change is an Alembic migration in ``migrations/versions``; a test checks that the
models and the migrations agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ActivityDatum",
    "ApiToken",
    "AuditHead",
    "AuditRecord",
    "Base",
    "EmissionSource",
    "Evidence",
    "Finding",
    "FindingComment",
    "Inventory",
    "InventoryItem",
    "Job",
    "Meter",
    "MeterMonthly",
    "MeterReplacement",
    "MeterRollup",
    "OrgEconomics",
    "Organization",
    "QuarantinedReading",
    "Reading",
    "ReadingChange",
    "ReportFile",
    "RoleGrant",
    "SigningKey",
    "SyncQueue",
    "User",
    "Verification",
]

# Deterministic constraint names, so migrations can drop them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        dict[str, Any]: JsonType,
        list[Any]: JsonType,
        float: Double(),
        dt.datetime: DateTime(),
    }


class Organization(Base):
    """A node of the organisation tree: region, park, enterprise, facility, or a verifier body."""

    __tablename__ = "organizations"
    # Subtree queries are prefix matches on the path; PostgreSQL needs pattern ops for them to
    # use an index under a non-C collation.
    __table_args__ = (
        Index("ix_organizations_path_prefix", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    path: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    sector: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(400), default="")
    credit_code: Mapped[str | None] = mapped_column(String(18))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    economics: Mapped[list[OrgEconomics]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", order_by="OrgEconomics.year"
    )


class OrgEconomics(Base):
    """Economic data of an organisation for one year, for intensity metrics."""

    __tablename__ = "org_economics"
    __table_args__ = (UniqueConstraint("org_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    output_value_10k_cny: Mapped[float | None]
    value_added_10k_cny: Mapped[float | None]
    employees: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[float | None]
    #: ``[{"product_zh", "product_en", "amount", "unit"}]``
    production: Mapped[list[Any]] = mapped_column(default=list)

    organization: Mapped[Organization] = relationship(back_populates="economics")


class EmissionSource(Base):
    """An emission source (or sink) of a facility or enterprise, and how to compute it."""

    __tablename__ = "emission_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(40))
    scope: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(40))
    #: The calculation record's fields other than id, method, year, gwp and the amount.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    amount_field: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(40))
    tce_carrier: Mapped[str | None] = mapped_column(String(40))
    tce_from_energy: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Meter(Base):
    """A meter: what it measures, in which unit, and which source it feeds."""

    __tablename__ = "meters"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("emission_sources.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    carrier: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    multiplier: Mapped[float] = mapped_column(default=1.0)
    interval_s: Mapped[int] = mapped_column(Integer, default=900)
    #: Counter capacity of a cumulative meter (it wraps to zero past it). [unit / multiplier]
    rollover_at: Mapped[float | None]
    #: Largest plausible consumption in an hour; more is quarantined. [unit/h]
    max_per_hour: Mapped[float | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class ActivityDatum(Base):
    """The activity of one source over one period (normally a calendar month)."""

    __tablename__ = "activity_data"
    __table_args__ = (
        UniqueConstraint("source_id", "period_start", "period_end"),
        Index("ix_activity_data_period", "period_start", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("emission_sources.id", ondelete="RESTRICT"), index=True
    )
    period_start: Mapped[dt.date] = mapped_column(Date)
    #: Exclusive end: a month is ``[2025-03-01, 2025-04-01)``.
    period_end: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[float]
    unit: Mapped[str] = mapped_column(String(40))
    origin: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    #: Incremented on every correction; inventories record the version they used.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Inventory(Base):
    """One computed version of an organisation's inventory for one period.

    A recomputation adds a version and marks the previous one superseded; versions are never
    edited, so any two can be compared.
    """

    __tablename__ = "inventories"
    __table_args__ = (
        UniqueConstraint("org_id", "period", "version"),
        # At most one current version per organisation and period, on both backends.
        Index(
            "uq_inventories_current",
            "org_id",
            "period",
            unique=True,
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    library_version: Mapped[str] = mapped_column(String(40))
    gwp_set: Mapped[str] = mapped_column(String(10))
    co2e_t: Mapped[float]
    energy_tce: Mapped[float]
    #: The whole API document (totals, breakdowns, the rolled-up tree) as JSON text, frozen
    #: at compute time and served byte for byte (no decode and re-encode per read).
    summary: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    computed_at: Mapped[dt.datetime]
    computed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    items: Mapped[list[InventoryItem]] = relationship(
        back_populates="inventory", cascade="all, delete-orphan", order_by="InventoryItem.id"
    )


class InventoryItem(Base):
    """One source's result within an inventory version, with its inputs and lineage."""

    __tablename__ = "inventory_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    inventory_id: Mapped[int] = mapped_column(
        ForeignKey("inventories.id", ondelete="CASCADE"), index=True
    )
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("emission_sources.id", ondelete="SET NULL")
    )
    source_code: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(Integer)
    scope: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(40))
    method: Mapped[str] = mapped_column(String(40))
    co2e_t: Mapped[float]
    energy_tce: Mapped[float | None]
    gases_t: Mapped[dict[str, Any]]
    #: The factors used, each once: the lineage.
    factors: Mapped[list[Any]]
    #: The activity data used: ``[{"id", "period_start", "amount", "unit", "version"}]``.
    activity: Mapped[list[Any]]
    warnings: Mapped[list[Any]]

    inventory: Mapped[Inventory] = relationship(back_populates="items")


class User(Base):
    """A person or a service account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    #: argon2id hash (PHC string); never the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    last_login_at: Mapped[dt.datetime | None]

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleGrant.id"
    )


class RoleGrant(Base):
    """A role held by a user on an organisation subtree (platform admins hold it everywhere)."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))

    user: Mapped[User] = relationship(back_populates="grants")


class ApiToken(Base):
    """A bearer token: a login (``access``, ``session``) or a long-lived API token (``api``).

    Only the SHA-256 of the secret is stored; the secret is shown once, when issued.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Space-separated scopes: ``read``, ``write``.
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class Reading(Base):
    """One reading of one meter (see :mod:`shuangtan.services.readings`).

    On PostgreSQL the table is partitioned by month of ``ts`` (partitions are created as data
    arrives); on SQLite it is a table clustered on its key. There is no foreign key to
    ``meters``: at hundreds of thousands of rows a second the check costs more than it
    protects, and a meter with readings cannot be deleted (the repository refuses).
    """

    __tablename__ = "readings"
    __table_args__ = {  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)
        "postgresql_partition_by": "RANGE (ts)",
        "sqlite_with_rowid": False,
    }

    meter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: End of the interval the reading covers. [UTC, naive]
    ts: Mapped[dt.datetime] = mapped_column(primary_key=True)
    #: As sent: interval consumption or counter, before the multiplier. [unit / multiplier]
    raw: Mapped[float]
    #: Consumption of the interval ending at ``ts``. [unit]
    value: Mapped[float]
    #: :class:`shuangtan.domain.readings.Flag` bits.
    flags: Mapped[int] = mapped_column(Integer, default=0)


class ReadingChange(Base):
    """A stored reading replaced by another value: the correction is kept, not lost."""

    __tablename__ = "reading_changes"
    __table_args__ = (Index("ix_reading_changes_meter_ts", "meter_id", "ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(Integer)
    ts: Mapped[dt.datetime]
    old_raw: Mapped[float]
    new_raw: Mapped[float]
    channel: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[dt.datetime]
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class MeterRollup(Base):
    """Sum and count of a meter's readings per hour, day or month.

    Days and months are those of Asia/Shanghai; every batch adds its increments (never a
    rescan).
    """

    __tablename__ = "meter_rollups"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    meter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resolution: Mapped[str] = mapped_column(String(5), primary_key=True)
    #: Start of the bucket. [UTC, naive]
    bucket: Mapped[dt.datetime] = mapped_column(primary_key=True)
    #: Consumption in the bucket. [meter unit]
    value: Mapped[float]
    #: Measured intervals in the bucket: its readings, less counters' baseline readings
    #: (flag FIRST), whose interval is unknown. A bucket with n = 0 has no consumption data.
    n: Mapped[int] = mapped_column(Integer)


class MeterReplacement(Base):
    """A cumulative meter's device swapped: the counters either side of the swap."""

    __tablename__ = "meter_replacements"

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"), index=True)
    ts: Mapped[dt.datetime]
    old_final: Mapped[float]
    new_initial: Mapped[float]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class MeterMonthly(Base):
    """A month's consumption of a meter entered by hand.

    For a meter read by hand it is the whole record; for a metered one it is the bill the
    readings are checked against (GB/T 37947 day/month consistency).
    """

    __tablename__ = "meter_monthly"
    __table_args__ = (UniqueConstraint("meter_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"))
    #: First day of the month.
    month: Mapped[dt.date] = mapped_column(Date)
    #: Consumption in the month. [meter unit]
    value: Mapped[float]
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class QuarantinedReading(Base):
    """A reading refused by a check, kept with the reason until corrected or discarded."""

    __tablename__ = "quarantine"
    __table_args__ = (
        Index("ix_quarantine_org_status", "org_id", "status"),
        Index("ix_quarantine_submitter", "submitted_by", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter_id: Mapped[int | None] = mapped_column(
        ForeignKey("meters.id", ondelete="SET NULL"), index=True
    )
    #: The meter's organisation, or the one the sender wrote to (an MQTT topic's); scopes who
    #: sees the row. ``None`` when neither is known: then only the sender and admins see it.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(10))
    ref: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(30))
    field: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    #: The row as received (meter, ts, value, unit), to correct and re-process.
    raw: Mapped[dict[str, Any]]
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    received_at: Mapped[dt.datetime]
    #: ``open``, ``reprocessed`` or ``discarded``.
    status: Mapped[str] = mapped_column(String(12), default="open")
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SyncQueue(Base):
    """Months of sources whose meter totals changed and whose activity data must follow."""

    __tablename__ = "activity_sync_queue"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("emission_sources.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    queued_at: Mapped[dt.datetime]
    #: Why the last attempt failed (the activity would not compute), if it did.
    error: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """A long task (a file import …) run in the background, with its progress."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    #: ``queued``, ``running``, ``done`` or ``failed``.
    status: Mapped[str] = mapped_column(String(10))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class AuditHead(Base):
    """The end of the audit chain: one row, locked by every transaction that appends to it.

    The lock serialises appenders, so sequence numbers and links never fork; ``audit verify``
    checks that the head names the last record (a cut-off tail shows).
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class AuditRecord(Base):
    """One append-only audit record, linked to the one before it by SHA-256.

    ``sha256`` is the hash of ``prev_sha256`` and the canonical JSON of the other columns
    (:func:`shuangtan.services.audit.record_hash`); ``before_sha256`` and ``after_sha256`` are
    the hashes of the entity's state before and after the change (``None`` when it did not
    exist). Database triggers refuse ``UPDATE`` and ``DELETE`` on this table.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity", "entity_id", "seq"),
        Index("ix_audit_log_org", "org_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    #: No foreign keys: a record outlives what it names.
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before_sha256: Mapped[str | None] = mapped_column(String(64))
    after_sha256: Mapped[str | None] = mapped_column(String(64))
    #: Canonical JSON text of what changed (field names and values people need to read).
    detail: Mapped[str] = mapped_column(Text)
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)


class Verification(Base):
    """A verification case: one organisation's inventory for one period, under review.

    ``state`` runs ``submitted`` → ``in_verification`` → ``verified`` → ``published``, or
    ``in_verification`` → ``returned`` → ``submitted`` again (with a new version, if it was
    recomputed). A current inventory with no open case is a draft.
    """

    __tablename__ = "verifications"
    __table_args__ = (
        Index("ix_verifications_org_period", "org_id", "period"),
        Index("ix_verifications_verifier", "verifier_org_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(10))
    inventory_id: Mapped[int] = mapped_column(ForeignKey("inventories.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(20))
    verifier_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    submitted_at: Mapped[dt.datetime]
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[dt.datetime | None]
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[dt.datetime | None]
    #: The signed verification statement: canonical JSON text, exactly the bytes signed.
    statement: Mapped[str | None] = mapped_column(Text)
    #: Ed25519 signature of ``statement`` [base64].
    signature: Mapped[str | None] = mapped_column(String(100))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("signing_keys.id", ondelete="RESTRICT"))
    updated_at: Mapped[dt.datetime]


class Finding(Base):
    """A verifier's finding on a case, answered by the organisation, closed by the verifier."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("verification_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    verification_id: Mapped[int] = mapped_column(
        ForeignKey("verifications.id", ondelete="RESTRICT"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    #: ``major`` (must be corrected), ``minor`` or ``observation``.
    severity: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    #: What the finding is about, e.g. ``{"source_code": "E01-BOILER", "month": "2025-03"}``.
    subject: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ``open``, ``answered`` or ``closed``.
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[dt.datetime | None]


class FindingComment(Base):
    """A comment on a finding: the organisation's response or the verifier's reply."""

    __tablename__ = "finding_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("findings.id", ondelete="RESTRICT"), index=True
    )
    #: ``verifier`` or ``organization``: which side wrote it.
    side: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Evidence(Base):
    """A file that backs an activity datum (an invoice, a reading sheet, a weighbridge log)."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activity_data.id", ondelete="RESTRICT"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of ``content`` [hex].
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text, default="")
    uploaded_at: Mapped[dt.datetime]
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SigningKey(Base):
    """A verifier organisation's Ed25519 key; the private half is stored wrapped (AES-GCM)."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    #: Raw 32-byte Ed25519 public key [base64].
    public_key: Mapped[str] = mapped_column(String(64))
    #: The private key, encrypted under the platform's key-encryption key [base64].
    wrapped_private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class ReportFile(Base):
    """A generated report file, kept for download (made by a report job)."""

    __tablename__ = "report_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(10))
    fmt: Mapped[str] = mapped_column(String(10))
    lang: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

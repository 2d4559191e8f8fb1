"""Tamper tests: any change made straight in the database shows in ``audit verify``.

On SQLite and on PostgreSQL, every column of a verified inventory, of one of its line items and
of an audit record is changed in turn (the smallest change the column's type allows: one
microsecond, the last bit of a float, one character) inside a transaction that is rolled back;
``verify`` must find each one, and for the audit log name the changed record as the first
broken link. The log's own triggers refuse UPDATE and DELETE; the tests lift them the way a
database owner could, which is exactly what the chain is for.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shuangtan.adapters.db.audit import adopt, verify
from shuangtan.adapters.db.models import AuditRecord, Inventory, InventoryItem
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.adapters.db.verification import Cases
from shuangtan.adapters.keys import KeyVault
from shuangtan.domain.platform import Role
from shuangtan.services.access import SCOPES, Grant, Principal
from tests.platform_fixtures import Database
from tests.world import World, build_world


def _member(world: World, session: Session) -> Principal:
    store = Store(session, SYSTEM)
    user = store.create_user(
        "auditor", "correct horse battery staple", grants=[("verifier", world.org["V1"])]
    )
    v1 = store.get_org(world.org["V1"])
    return Principal(user.id, "auditor", (Grant(Role.VERIFIER, v1.id, v1.path),), frozenset(SCOPES))


@pytest.fixture
def verified(db: Database, tmp_path: Path) -> dict[str, Any]:
    """The small world with A1's 2025 inventory verified and signed."""
    world = build_world(db.engine)
    vault = KeyVault(tmp_path / "kek")
    with Session(db.engine) as session:
        store = Store(session, SYSTEM)
        adopt(session, store.trail)
        case = Cases(store, vault).submit(world.org["A1"], "2025")
        Cases(store, vault).assign(case.id, world.org["V1"])
        member = _member(world, session)
        signed = Cases(Store(session, member), vault).verify(case.id, "真实、准确、完整")
        inventory = session.get(Inventory, signed.inventory_id)
        assert inventory is not None
        item_id = inventory.items[0].id
        session.commit()
        head = session.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1))
        assert verify(session).ok
    return {"inventory": signed.inventory_id, "item": item_id, "middle": head // 2, "last": head}


def _lift_triggers(conn: Connection) -> None:
    """Lift the log's triggers in the connection's transaction (see :func:`_restore_triggers`)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    else:
        for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")):
            conn.execute(text(f"DROP TRIGGER {name}"))


def _restore_triggers(db: Database) -> None:
    """Put the triggers back: pysqlite runs DDL outside the transaction, so a rollback won't."""
    if db.backend == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        return
    with db.engine.begin() as conn:
        for event in ("UPDATE", "DELETE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{event.lower()} BEFORE {event}"
                    " ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
                )
            )


def _changed(value: Any, column: Any) -> Any:
    """The smallest change of ``value`` its column's type allows."""
    if value is None:
        python = column.type.python_type
        return {int: 1, float: 1.0, str: "x", dt.datetime: dt.datetime(2025, 1, 1)}[python]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * (1 + 2**-52) if value else 5e-324
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=1)
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    if isinstance(value, list):
        return [*value, "x"]
    if isinstance(value, dict):
        return {**value, "x": 1}
    raise AssertionError(f"no change for {type(value).__name__}")


def _tamper(db: Database, model: Any, key: int, column: str) -> Any:
    """Change one column of one row, run verify, roll back; the report (None if refused)."""
    table = model.__table__
    pk = next(iter(table.primary_key.columns))
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            _lift_triggers(conn)
            current = conn.execute(select(table.c[column]).where(pk == key)).scalar_one()
            new = _changed(current, table.c[column])
            try:
                conn.execute(update(table).where(pk == key).values({column: new}))
            except DBAPIError:
                return None  # the database itself refused (a key another row holds)
            with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                return verify(session)
        finally:
            trans.rollback()
            _restore_triggers(db)


def test_every_column_of_a_verified_inventory_is_covered(
    db: Database, verified: dict[str, Any]
) -> None:
    columns = [c.name for c in Inventory.__table__.columns]
    refused = []
    for column in columns:
        report = _tamper(db, Inventory, verified["inventory"], column)
        if report is None:
            refused.append(column)
            continue
        assert not report.ok, f"inventories.{column} changed unnoticed"
        kinds = {p.kind for p in report.problems}
        assert "state" in kinds, column
        if column != "status":
            assert "signature" in kinds, f"inventories.{column}: the statement still matched"
    assert refused in ([], ["id"]), refused


def test_every_column_of_its_line_items_is_covered(db: Database, verified: dict[str, Any]) -> None:
    for column in [c.name for c in InventoryItem.__table__.columns]:
        report = _tamper(db, InventoryItem, verified["item"], column)
        if report is None:
            continue
        assert not report.ok, f"inventory_items.{column} changed unnoticed"
        assert {"state", "signature"} <= {p.kind for p in report.problems}, column


def test_every_column_of_an_audit_record_breaks_the_chain_there(
    db: Database, verified: dict[str, Any]
) -> None:
    seq = verified["middle"]
    for column in [c.name for c in AuditRecord.__table__.columns]:
        report = _tamper(db, AuditRecord, seq, column)
        if report is None:
            assert column == "seq", f"audit_log.{column} could not be changed"
            continue
        first = report.first_broken_link
        assert first is not None, f"audit_log.{column} changed unnoticed"
        assert first.seq == seq, (column, first)


def test_the_log_refuses_changes_and_a_cut_tail_shows(
    db: Database, verified: dict[str, Any]
) -> None:
    with db.engine.connect() as conn:
        for statement in (
            update(AuditRecord).where(AuditRecord.seq == 1).values(actor="mallory"),
            AuditRecord.__table__.delete().where(AuditRecord.seq == verified["last"]),
        ):
            trans = conn.begin()
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(statement)
            trans.rollback()
        # A database owner can lift the triggers and cut the tail: the head still names it.
        trans = conn.begin()
        _lift_triggers(conn)
        conn.execute(AuditRecord.__table__.delete().where(AuditRecord.seq == verified["last"]))
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            report = verify(session)
        trans.rollback()
    _restore_triggers(db)
    assert report.first_broken_link is not None
    assert "head" in report.first_broken_link.message


def test_cli_audit_verify_names_the_first_broken_link(
    db: Database, verified: dict[str, Any], tmp_path: Path
) -> None:
    env = {**os.environ, "SHUANGTAN_DATABASE_URL": db.url}
    command = [sys.executable, "-m", "shuangtan", "audit", "verify"]
    clean = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip().endswith("ok")
    seq = verified["middle"]
    with db.engine.begin() as conn:
        _lift_triggers(conn)
        conn.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(actor="mallory"))
    _restore_triggers(db)
    broken = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert broken.returncode == 1
    assert f"first broken link: record {seq}:" in broken.stdout
    assert "Traceback" not in broken.stderr
    # The tampered row stays in the log; the test database is dropped or wiped after.


def test_activity_that_follows_the_meters_stays_audited(db: Database, library: Any) -> None:
    """The activity sync writes data too: created and corrected data keep the trail whole."""
    from shuangtan.adapters.db.readings import ReadingsWriter, sync_activity
    from shuangtan.domain.readings import Channel, RawReading

    world = build_world(db.engine)
    cst = dt.timezone(dt.timedelta(hours=8))
    with Session(db.engine) as session:
        store = Store(session, SYSTEM)
        adopt(session, store.trail)
        # March 2025's coal is given to the meters (its entered datum goes, audited).
        store.delete_activity(world.activity["B1-S-COAL/03"])
        session.commit()
    march = [
        RawReading(
            "B1-S-COAL-M",
            (dt.datetime(2025, 3, 1, tzinfo=cst) + dt.timedelta(minutes=15 * k)).isoformat(),
            2.5,
        )
        for k in range(1, 96 * 31 + 1)
    ]
    for batch in (march, [RawReading("B1-S-COAL-M", march[10].ts, 12.5)]):
        with Session(db.engine) as session:
            store = Store(session, SYSTEM)
            ReadingsWriter(session).ingest(
                batch,
                resolve=store.meter_resolver(),
                now=dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
                channel=Channel.HTTP,
            )
            session.commit()
        with Session(db.engine) as session:
            done = sync_activity(session, library)
            session.commit()
        assert done.created + done.updated == 1
        with Session(db.engine) as session:
            report = verify(session)
            assert report.ok, report.problems
    with Session(db.engine) as session:
        actions = session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.entity == "activity")
            .order_by(AuditRecord.seq)
        ).all()
    assert actions[-2:] == ["activity.sync", "activity.sync"]

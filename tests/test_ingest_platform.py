"""MQTT ingestion through the platform, against the real Mosquitto and PostgreSQL.

The worker is the real command line, ``shuangtan ingest mqtt --broker … --client-id …
--group …``, run as a subprocess on a fresh migrated PostgreSQL database
(``SHUANGTAN_DATABASE_URL``) holding one enterprise, its facility, an electricity source and
fourteen meters: twelve interval meters and two cumulative counters, one sent on the
organisation's topic (multiplier 2), one on its own meter topic (six readings a message). A
:class:`~shuangtan.adapters.mqtt.Publisher` streams batched JSON payloads
(``{"readings": [{"meter": …, "ts": …, "value": …}]}``) over five local days that cross a
month boundary, and every test then checks in PostgreSQL (:func:`check_stored`):

* every reading stored exactly once: the count per meter, the sum of values per meter and
  every single raw and value as expected (a counter's first reading is 0, flagged FIRST; its
  later ones are the increments times the multiplier, whatever order they arrived in);
* the rollups (hour, Asia/Shanghai day and month) equal to the stored readings, bucket by bucket
  (sum of values, count of measured intervals), recomputed here independently of the writer;
* nothing of the stream quarantined, no corrections recorded, the activity sync queue drained and
  each month's meter activity equal to the month rollups;
* from the worker's own summary (printed when it stops): what it stored, and readings sent again
  counted as duplicates, never stored twice.

Each test has its own organisation code, group and client ids (a uuid), pre-creates the
workers' broker sessions with the group's subscriptions (so no message can go to a group that
does not exist yet), and removes its sessions and its database at the end. Messages of other
organisations reaching the group (other tests on the same broker) are quarantined as "no
organisation" and ignored by the checks.

Under ``CI=true`` a missing broker or database server fails the tests; elsewhere they skip and
say why. The last two tests restart Mosquitto and PostgreSQL: they disturb anything else using
those servers at the time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import upgrade
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.adapters.mqtt import Publisher, readings_topic, topic_filters
from shuangtan.domain.readings import Flag
from tests.mqtt_fixtures import HOST, PORT, end_session, require_mqtt, restart_mosquitto
from tests.platform_fixtures import PG_ADMIN_URL, new_database, pg_unavailable, require_pg

# --- the stream -----------------------------------------------------------------------------------

CST = dt.timezone(dt.timedelta(hours=8))
#: First reading: 2026-03-29 00:15 in Shanghai; 480 slots of 15 minutes end on 2026-04-03, so the
#: stream crosses a local month (and a UTC month partition of ``readings``).
BASE = dt.datetime(2026, 3, 29, 0, 15, tzinfo=CST)
STEP = dt.timedelta(minutes=15)
SLOTS = 480
INTERVAL_METERS = tuple(f"iv-{i:02d}" for i in range(12))
ORG_COUNTER = "cu-org"  # cumulative, sent on the organisation's topic, multiplier 2
OWN_COUNTER = "cu-own"  # cumulative, sent on its own topic, OWN_EVERY readings a message
OWN_EVERY = 6
MULTIPLIER = {ORG_COUNTER: 2.0, OWN_COUNTER: 1.0}
METERS = (*INTERVAL_METERS, ORG_COUNTER, OWN_COUNTER)

#: How soon activity data follows the meters in the worker (SHUANGTAN_SYNC_DELAY_S). [s]
SYNC_DELAY_S = "0.2"
#: Longest wait for a stream to land. [s]
LAND_S = 90.0


def _stamp(slot: int) -> str:
    return (BASE + slot * STEP).isoformat()


@dataclass
class Stream:
    """The messages of one test stream, in publishing order, and what they must leave behind.

    Slot ``k`` (``BASE + k × 15 min``) has one reading of every meter. Its message on the
    organisation's topic holds the interval meters and :data:`ORG_COUNTER`; every
    :data:`OWN_EVERY` slots, one message on :data:`OWN_COUNTER`'s topic holds its last readings.
    Values are multiples of 0.5, so every sum is exact in floating point.
    """

    org: str
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    #: meter → slot → value sent (interval consumption, or counter)
    raw: dict[str, list[float]] = field(default_factory=dict)
    #: meter → slot → consumption the platform must store
    value: dict[str, list[float]] = field(default_factory=dict)
    #: readings in each message
    sizes: list[int] = field(default_factory=list)

    @property
    def readings(self) -> int:
        return SLOTS * len(METERS)

    def count(self, messages: Sequence[int] | range) -> int:
        """Readings in the messages of these indices."""
        return sum(self.sizes[i] for i in messages)


def make_stream(org: str) -> Stream:
    stream = Stream(org)
    for i, code in enumerate(INTERVAL_METERS):
        values = [((k * 7 + i * 13) % 40) / 2 for k in range(SLOTS)]
        stream.raw[code] = values
        stream.value[code] = list(values)
    for code, start, step in ((ORG_COUNTER, 1000.0, 5), (OWN_COUNTER, 50.0, 3)):
        counter, counters = start, []
        for k in range(SLOTS):
            counter += ((k * step) % 7) / 2  # sometimes 0: the counter stands still
            counters.append(counter)
        stream.raw[code] = counters
        stream.value[code] = [0.0] + [
            (counters[k] - counters[k - 1]) * MULTIPLIER[code] for k in range(1, SLOTS)
        ]

    def add(topic: str, readings: list[dict[str, object]]) -> None:
        stream.messages.append((topic, json.dumps({"readings": readings}).encode()))
        stream.sizes.append(len(readings))

    for k in range(SLOTS):
        add(
            readings_topic(org),
            [
                {"meter": code, "ts": _stamp(k), "value": stream.raw[code][k]}
                for code in (*INTERVAL_METERS, ORG_COUNTER)
            ],
        )
        if k % OWN_EVERY == OWN_EVERY - 1:
            add(
                readings_topic(org, OWN_COUNTER),
                [
                    {"ts": _stamp(j), "value": stream.raw[OWN_COUNTER][j]}
                    for j in range(k - OWN_EVERY + 1, k + 1)
                ],
            )
    assert sum(stream.sizes) == stream.readings
    return stream


class Feed(threading.Thread):
    """Publishes messages from a thread, at most ``rate`` a second (``None``: as fast as it can)."""

    def __init__(self, pub: Publisher, messages: Sequence[tuple[str, bytes]], rate: float | None):
        super().__init__(name="feed", daemon=True)
        self.pub, self.messages, self.rate = pub, messages, rate
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        start = time.monotonic()
        try:
            for topic, payload in self.messages:
                self.pub.publish(topic, payload, timeout_s=60)
                self.sent += 1
                if self.rate is not None:
                    ahead = start + self.sent / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout_s: float = 60) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), f"the publisher is stuck after {self.sent} messages"
        if self.error is not None:
            raise self.error


# --- servers --------------------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _skip_or_fail(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI needs this: {reason}")
    pytest.skip(reason)


def pg_cluster() -> tuple[str, str] | str:
    """``(version, cluster)`` of the local PostgreSQL for ``pg_ctlcluster``, or why not."""
    host = make_url(PG_ADMIN_URL).host
    if host not in (None, "", "127.0.0.1", "localhost", "::1"):
        return f"PostgreSQL at {host} is not local"
    if shutil.which("pg_ctlcluster") is None:
        return "no pg_ctlcluster on PATH"
    if os.geteuid() != 0:
        return "restarting PostgreSQL with pg_ctlcluster needs root"
    etc = Path("/etc/postgresql")
    versions = (
        sorted(p.name for p in etc.iterdir() if (p / "main").is_dir()) if etc.is_dir() else []
    )
    if len(versions) != 1:
        return f"expected one cluster 'main' under {etc}, found versions {versions}"
    return versions[0], "main"


def restart_postgres(timeout_s: float = 60) -> float:
    """``pg_ctlcluster --skip-systemctl-redirect <version> main restart``; its duration. [s]"""
    cluster = pg_cluster()
    assert isinstance(cluster, tuple), cluster
    started = time.monotonic()
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart"],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, f"pg_ctlcluster restart failed: {done.stdout}{done.stderr}"
    deadline = time.monotonic() + timeout_s
    while (reason := pg_unavailable()) is not None:
        assert time.monotonic() < deadline, f"PostgreSQL not back after the restart: {reason}"
        time.sleep(0.2)
    return time.monotonic() - started


def seed_session(client_id: str, group: str, expiry_s: int = 3600) -> None:
    """Create the broker session of a worker, subscribed to the group, before the worker runs.

    The command line's worker connects with ``clean_start=False`` and finds the session:
    messages published before it has subscribed are queued for it instead of going to
    whatever else subscribes to ``shuangtan/v1/…`` on the broker (other tests' groups).
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    granted: list[list[Any]] = []
    client.on_subscribe = lambda _c, _u, _mid, reasons, _p: granted.append(list(reasons))
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = expiry_s
    client.connect(HOST, PORT, keepalive=10, clean_start=True, properties=properties)
    client.loop_start()
    try:
        deadline = time.monotonic() + 10
        while not client.is_connected():
            assert time.monotonic() < deadline, f"no CONNACK for {client_id}"
            time.sleep(0.01)
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in topic_filters(group)])
        while not granted:
            assert time.monotonic() < deadline, f"no SUBACK for {client_id}"
            time.sleep(0.01)
        assert not any(r.is_failure for r in granted[0]), granted
    finally:
        client.disconnect()
        client.loop_stop()


# --- the platform: a database, a world, worker processes ------------------------------------------


def _shuangtan() -> list[str]:
    script = Path(sys.executable).with_name("shuangtan")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "shuangtan"]


@dataclass
class Worker:
    """One ``shuangtan ingest mqtt`` process."""

    name: str
    client_id: str
    proc: subprocess.Popen[bytes]
    log: Path
    out: Path
    summary: dict[str, Any] | None = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def connections(self) -> int:
        """Connections the worker logged (the first and every reconnection)."""
        return self.log_text().count("mqtt: connected to")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        text_ = self.log_text().splitlines()[-lines:]
        out = self.out.read_text(errors="replace").strip() if self.out.exists() else ""
        state = "running" if self.alive() else f"exited {self.proc.returncode}"
        return f"--- worker {self.name} ({self.client_id}, {state}) ---\n" + "\n".join(
            [*text_, f"stdout: {out}"]
        )


class Platform:
    """A migrated PostgreSQL database with one organisation, and the workers on it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.uid = uuid.uuid4().hex[:10]
        self.org = f"t-{self.uid}"
        self.group = f"g-{self.uid}"
        self.client_ids: list[str] = []
        self.workers: list[Worker] = []
        self.notes: list[str] = []
        self.url, self._drop = new_database("postgresql", tmp_path)
        upgrade(self.url)
        # No pool: every poll connects afresh, so a PostgreSQL restart leaves nothing stale.
        self.engine: Engine = make_engine(self.url, poolclass=NullPool)
        self.meter_ids, self.org_ids = self._build_world()
        self.stream = make_stream(self.org)

    def _build_world(self) -> tuple[dict[str, int], list[int]]:
        with Session(self.engine) as session:
            store = Store(session, SYSTEM)
            enterprise = store.create_org(
                {
                    "parent_id": None,
                    "kind": "enterprise",
                    "code": self.org,
                    "name_zh": "MQTT测试企业",
                    "sector": "electronics",
                    "region": "江苏",
                }
            )
            facility = store.create_org(
                {
                    "parent_id": enterprise.id,
                    "kind": "facility",
                    "code": f"{self.org}-F1",
                    "name_zh": "一号厂区",
                    "sector": "electronics",
                    "region": "江苏",
                }
            )
            source = store.create_source(
                {
                    "org_id": facility.id,
                    "code": f"{self.org}-S-EL",
                    "name_zh": "外购电力",
                    "category": "purchased_electricity",
                    "method": "electricity",
                    "params": {"region": "江苏", "fallback": "latest_prior"},
                    "amount_field": "amount",
                    "unit": "MWh",
                    "tce_carrier": "electricity",
                }
            )
            meters = {}
            for code in METERS:
                cumulative = code in MULTIPLIER
                meter = store.create_meter(
                    {
                        "org_id": facility.id,
                        "source_id": source.id,
                        "code": code,
                        "name_zh": f"电表{code}",
                        "carrier": "electricity",
                        "unit": "kWh",
                        "kind": "cumulative" if cumulative else "interval",
                        "multiplier": MULTIPLIER.get(code, 1.0),
                    }
                )
                meters[code] = meter.id
            session.commit()
            return meters, [enterprise.id, facility.id]

    # -- names and processes --

    def client(self, role: str) -> str:
        client_id = f"{role}-{self.uid}"
        self.client_ids.append(client_id)
        return client_id

    def start(self, client_id: str, name: str) -> Worker:
        """Start a worker and wait until it is connected to the broker."""
        n = len(self.workers)
        log, out = self.tmp / f"worker{n}-{name}.log", self.tmp / f"worker{n}-{name}.out"
        # application_name tells this process's database sessions apart (pg_stat_activity).
        url = make_url(self.url).update_query_dict({"application_name": f"ingest-{name}-{n}"})
        env = {
            **os.environ,
            "SHUANGTAN_DATABASE_URL": url.render_as_string(hide_password=False),
            "SHUANGTAN_SYNC_DELAY_S": SYNC_DELAY_S,
            "PYTHONUNBUFFERED": "1",
        }
        command = [*_shuangtan(), "ingest", "mqtt", "--broker", f"{HOST}:{PORT}"]
        command += ["--client-id", client_id, "--group", self.group]
        with log.open("wb") as stderr, out.open("wb") as stdout:
            proc = subprocess.Popen(command, cwd=self.tmp, env=env, stdout=stdout, stderr=stderr)
        worker = Worker(f"{name}-{n}", client_id, proc, log, out)
        self.workers.append(worker)
        self.wait(
            lambda: worker.connections() >= 1 or not worker.alive(), f"{name} never connected", 30
        )
        if not worker.alive():
            self.fail(f"worker {name} exited at start")
        return worker

    def kill(self, worker: Worker, *, in_transaction: bool = True) -> str:
        """SIGKILL, then wait until PostgreSQL has ended the process's sessions.

        With ``in_transaction``, first wait (up to 10 s) for the moment the worker is inside a
        batch's transaction (its session has one open and is on the readings), so that it dies
        holding uncommitted readings and unacknowledged messages. Returns what it was doing.
        """
        caught = "not caught inside a transaction"
        if in_transaction:
            deadline = time.monotonic() + 10
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                while time.monotonic() < deadline:
                    row = conn.execute(
                        text(
                            "SELECT state, left(regexp_replace(query, '\\s+', ' ', 'g'), 70)"
                            " FROM pg_stat_activity WHERE application_name = :a"
                            " AND xact_start IS NOT NULL AND query ILIKE '%readings%'"
                        ),
                        {"a": f"ingest-{worker.name}"},
                    ).first()
                    if row is not None:
                        worker.proc.send_signal(signal.SIGKILL)
                        caught = f"in a transaction, {row[0]}: {row[1]}"
                        break
                    time.sleep(0.002)
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(10)
        self.wait(
            lambda: self.backends(f"ingest-{worker.name}") == 0,
            f"the database sessions of the killed {worker.name} stay",
            20,
        )
        self.notes.append(f"{worker.name} killed {caught}")
        return caught

    def stop(self, worker: Worker) -> dict[str, Any]:
        """SIGTERM; the worker's own summary (received, stored, duplicates …)."""
        worker.proc.send_signal(signal.SIGTERM)
        try:
            worker.proc.wait(30)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait(10)
            self.fail(f"{worker.name} did not stop on SIGTERM")
        if worker.proc.returncode != 0:
            self.fail(f"{worker.name} exited with {worker.proc.returncode}")
        lines = [line for line in worker.out.read_text().splitlines() if "ingest stopped: " in line]
        if not lines:
            self.fail(f"{worker.name} printed no summary")
        worker.summary = json.loads(lines[-1].split("ingest stopped: ", 1)[1])
        assert worker.summary is not None
        return worker.summary

    def close(self) -> None:
        problems = []
        for worker in self.workers:
            if worker.alive():
                worker.proc.kill()
                worker.proc.wait(10)
        for client_id in self.client_ids:
            end_session(client_id)
        self.engine.dispose()
        for attempt in range(3):
            try:
                self._drop()
                break
            except SQLAlchemyError as exc:
                # After a restart the admin engine of new_database hands out a dead pooled
                # connection once (no pool_pre_ping); the next attempt gets a fresh one.
                problems.append(f"dropping the database, attempt {attempt + 1}: {exc!r}")
                time.sleep(0.5)
        if problems:
            print("\n".join(problems))

    # -- observing --

    def backends(self, application_name: str) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name LIKE :a"
                    ),
                    {"a": f"{application_name}%"},
                ).scalar_one()
            )

    def landed(self) -> int | None:
        """Readings stored, or None while the database cannot be reached."""
        try:
            with self.engine.connect() as connection:
                return int(connection.execute(text("SELECT count(*) FROM readings")).scalar_one())
        except SQLAlchemyError:
            return None

    def diagnostics(self) -> str:
        parts = [f"org {self.org}, group {self.group}, database {self.url}"]
        parts.append(f"readings stored: {self.landed()} of {self.stream.readings}")
        parts += self.notes
        parts += [w.tail() for w in self.workers]
        return "\n".join(parts)

    def fail(self, what: str) -> None:
        pytest.fail(f"{what}\n{self.diagnostics()}")

    def wait(self, condition: Callable[[], bool], what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                self.fail(f"{what} (after {timeout_s:g} s)")
            time.sleep(0.05)

    def wait_landed(self, at_least: int, what: str, timeout_s: float = LAND_S) -> int:
        """Wait until ``at_least`` readings are stored; fail early if every worker died."""

        def ready() -> bool:
            if self.workers and not any(w.alive() for w in self.workers):
                self.fail(f"{what}: every worker has exited")
            count = self.landed()
            return count is not None and count >= at_least

        self.wait(ready, what, timeout_s)
        count = self.landed()
        assert count is not None
        return count

    def wait_synced(self, timeout_s: float = 30) -> None:
        """Wait until the workers' activity sync has emptied its queue."""

        def empty() -> bool:
            with self.engine.connect() as connection:
                return not connection.execute(
                    text("SELECT count(*) FROM activity_sync_queue")
                ).scalar_one()

        self.wait(empty, "the activity sync queue was not drained", timeout_s)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    require_mqtt()
    require_pg()
    made = Platform(tmp_path)
    try:
        yield made
    finally:
        # Shown by pytest only when the test failed.
        print(made.diagnostics())
        made.close()


# --- the checks -----------------------------------------------------------------------------------

_US = dt.timedelta(microseconds=1)
_OFFSET = dt.timedelta(hours=8)


def _buckets(ts: dt.datetime) -> dict[str, dt.datetime]:
    """Rollup buckets of an end-stamped reading (naive UTC): the hour, local day and month."""
    end = ts - _US  # a reading at 01:00 closes 00:00-01:00
    local = end + _OFFSET
    return {
        "hour": end.replace(minute=0, second=0, microsecond=0),
        "day": local.replace(hour=0, minute=0, second=0, microsecond=0) - _OFFSET,
        "month": local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - _OFFSET,
    }


def check_stored(platform: Platform) -> None:
    """Readings, rollups, quarantine, corrections and activity are exactly the stream's."""
    stream, problems = platform.stream, []
    code_of = {v: k for k, v in platform.meter_ids.items()}
    with platform.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT meter_id, ts, raw, value, flags FROM readings ORDER BY meter_id, ts")
        ).all()
        rollups = connection.execute(
            text("SELECT meter_id, resolution, bucket, value, n FROM meter_rollups")
        ).all()
        ours = connection.execute(
            text(
                "SELECT reason, ref, message FROM quarantine WHERE org_id = ANY(:orgs) "
                "OR meter_id IS NOT NULL OR message LIKE :org OR ref LIKE :org"
            ),
            {"orgs": platform.org_ids, "org": f"%{platform.org}%"},
        ).all()
        foreign: int = connection.execute(text("SELECT count(*) FROM quarantine")).scalar_one()
        changes: int = connection.execute(text("SELECT count(*) FROM reading_changes")).scalar_one()
        activity = connection.execute(
            text("SELECT period_start, amount, origin FROM activity_data ORDER BY period_start")
        ).all()

    # 1. readings: count and sum per meter, and every value
    by_meter: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_meter[code_of.get(row.meter_id, f"#{row.meter_id}")].append(row)
    for code in METERS:
        got = by_meter.pop(code, [])
        want = sum(stream.value[code])
        total = sum(r.value for r in got)
        if len(got) != SLOTS or total != want:
            problems.append(f"{code}: {len(got)} readings summing to {total}, want {SLOTS}, {want}")
        expected = {
            (BASE + k * STEP).astimezone(dt.UTC).replace(tzinfo=None): (
                stream.raw[code][k],
                stream.value[code][k],
            )
            for k in range(SLOTS)
        }
        wrong = [
            (r.ts, r.raw, r.value, "want", expected.get(r.ts))
            for r in got
            if expected.get(r.ts) != (r.raw, r.value)
        ]
        if wrong:
            problems.append(f"{code}: {len(wrong)} readings differ, e.g. {wrong[:3]}")
        corrected = [r.ts for r in got if r.flags & Flag.CORRECTED]
        first = [r.ts for r in got if r.flags & Flag.FIRST]
        if corrected:
            problems.append(f"{code}: readings flagged CORRECTED: {corrected[:3]}")
        want_first = [min(expected)] if code in MULTIPLIER else []
        if first != want_first:
            problems.append(f"{code}: FIRST on {first[:3]}, want {want_first}")
    if by_meter:
        problems.append(f"readings of unknown meters: {sorted(by_meter)}")
    if len(rows) != stream.readings:
        problems.append(f"{len(rows)} readings stored, want {stream.readings}")

    # 2. rollups: every bucket holds the sum of the stored readings in it and their count, less
    #    a counter's baseline reading (flag FIRST: its interval is unknown, see MeterRollup.n)
    want_rollups: dict[tuple[int, str, dt.datetime], list[float]] = defaultdict(lambda: [0.0, 0])
    for row in rows:
        for resolution, bucket in _buckets(row.ts).items():
            cell = want_rollups[(row.meter_id, resolution, bucket)]
            cell[0] += row.value
            cell[1] += 0 if row.flags & Flag.FIRST else 1
    got_rollups = {(r.meter_id, r.resolution, r.bucket): [r.value, r.n] for r in rollups}
    if got_rollups != want_rollups:
        keys = sorted(set(got_rollups) | set(want_rollups))
        diff = [
            (code_of.get(k[0]), k[1], k[2], got_rollups.get(k), want_rollups.get(k))
            for k in keys
            if got_rollups.get(k) != want_rollups.get(k)
        ]
        problems.append(f"{len(diff)} rollup buckets differ (got, want), e.g. {diff[:4]}")
    months = {k[2] for k in want_rollups if k[1] == "month"}
    if len(months) != 2:
        problems.append(f"the stream should cover two local months, covers {sorted(months)}")

    # 3. nothing of ours quarantined (foreign organisations' messages may be), no corrections
    if ours:
        problems.append(f"{len(ours)} quarantined readings of the stream, e.g. {ours[:3]}")
    platform.notes.append(f"quarantined from other organisations on the broker: {foreign}")
    if changes:
        problems.append(f"{changes} corrections recorded (reading_changes)")

    # 4. activity of each local month = the month rollups of the source's meters [kWh → MWh]
    month_kwh: dict[dt.date, float] = defaultdict(float)
    for (_meter, resolution, bucket), (value, _n) in want_rollups.items():
        if resolution == "month":
            month_kwh[(bucket + _OFFSET).date()] += value
    got_activity = {r.period_start: (r.amount, r.origin) for r in activity}
    for month, kwh in sorted(month_kwh.items()):
        amount, origin = got_activity.get(month, (None, None))
        if origin != "meter" or amount != pytest.approx(kwh / 1000, rel=1e-12):
            problems.append(f"activity of {month}: {amount} MWh ({origin}), want {kwh / 1000}")

    if problems:
        platform.fail("what landed is not the stream:\n  " + "\n  ".join(problems))


def check_summary(
    platform: Platform, summary: dict[str, Any], *, stored: int, duplicates: int | None = None
) -> None:
    """A stopped worker's own counts: ``stored`` new readings; the rest duplicates.

    ``received`` also counts other organisations' readings reaching the group: those are
    quarantined (and checked not to be ours by :func:`check_stored`).
    """
    problems = []
    if summary["stored"] != stored:
        problems.append(f"stored {summary['stored']}, want {stored}")
    if summary["corrected"] != 0:
        problems.append(f"corrected {summary['corrected']}")
    ours = summary["received"] - summary["quarantined"]
    if ours != summary["stored"] + summary["duplicates"]:
        problems.append("received - quarantined != stored + duplicates")
    if duplicates is not None and summary["duplicates"] != duplicates:
        problems.append(f"duplicates {summary['duplicates']}, want {duplicates}")
    if problems:
        platform.fail(f"worker summary {summary}: " + "; ".join(problems))


# --- 1. a stream lands exactly once; a slice sent again counts as duplicates ----------------------


def test_stream_lands_exactly_once_and_a_resent_slice_counts_as_duplicates(
    platform: Platform,
) -> None:
    """The whole stream stored once; 100 messages sent twice are duplicates, not rows."""
    stream = platform.stream
    worker_id = platform.client("w")
    seed_session(worker_id, platform.group)
    worker = platform.start(worker_id, "w")
    half = len(stream.messages) // 2
    again = range(half - 150, half - 50)  # sent a second time, between the two halves
    started = time.monotonic()
    with Publisher(HOST, PORT, client_id=platform.client("pub")) as pub:
        for topic, payload in stream.messages[:half]:
            pub.publish(topic, payload, timeout_s=60)
        for i in again:
            pub.publish(*stream.messages[i], timeout_s=60)
        for topic, payload in stream.messages[half:]:
            pub.publish(topic, payload, timeout_s=60)
        pub.flush(60)
    # One worker receives in order: once the second half is stored, the resent slice is handled.
    platform.wait_landed(stream.readings, "the stream did not land")
    took = time.monotonic() - started
    platform.wait_synced()
    check_stored(platform)
    reconnected = worker.connections() > 1
    summary = platform.stop(worker)
    # A reconnection (a broker hiccup) may deliver messages again: more duplicates, never more rows.
    check_summary(
        platform,
        summary,
        stored=stream.readings,
        duplicates=None if reconnected else stream.count(again),
    )
    assert summary["duplicates"] >= stream.count(again)
    print(f"{len(stream.messages)} messages, {stream.readings} readings in {took:.1f} s; {summary}")


# --- 2. the worker SIGKILLed mid-stream, restarted with the same client id ------------------------


def test_killed_worker_restarted_with_its_client_id_loses_nothing(platform: Platform) -> None:
    """SIGKILL inside a batch's transaction; the successor stores exactly what was missing."""
    stream = platform.stream
    worker_id = platform.client("w")
    seed_session(worker_id, platform.group)
    first = platform.start(worker_id, "w")
    with Publisher(HOST, PORT, client_id=platform.client("pub")) as pub:
        feed = Feed(pub, stream.messages, rate=150)
        feed.start()
        platform.wait_landed(stream.readings // 4, "the first worker stored too little", 30)
        caught = platform.kill(first)
        killed_at, sent = platform.landed(), feed.sent
        assert killed_at is not None
        platform.notes.append(f"killed after {killed_at} readings stored, {sent} messages sent")
        assert 0 < killed_at < stream.readings and sent < len(stream.messages), "not mid-stream"
        second = platform.start(worker_id, "w")
        feed.finish()
        pub.flush(60)
    platform.wait_landed(stream.readings, "the stream did not land after the restart")
    platform.wait_synced()
    check_stored(platform)
    summary = platform.stop(second)
    # What the killed worker had committed is exactly what its successor did not store again.
    check_summary(platform, summary, stored=stream.readings - killed_at)
    print(f"killed {caught} at {killed_at}/{stream.readings} readings; successor {summary}")


# --- 3. two workers share the group; one is SIGKILLed mid-stream and restarted --------------------


def test_shared_group_member_killed_and_restarted_loses_nothing(platform: Platform) -> None:
    """Two workers split the stream; one dies mid-transaction and comes back for its share."""
    stream = platform.stream
    ids = {name: platform.client(f"w{name}") for name in ("a", "b")}
    for client_id in ids.values():
        seed_session(client_id, platform.group)
    a = platform.start(ids["a"], "a")
    b = platform.start(ids["b"], "b")
    with Publisher(HOST, PORT, client_id=platform.client("pub")) as pub:
        feed = Feed(pub, stream.messages, rate=150)
        feed.start()
        platform.wait_landed(stream.readings // 4, "the group stored too little", 30)
        caught = platform.kill(a)
        killed_at, sent = platform.landed(), feed.sent
        assert killed_at is not None
        platform.notes.append(f"a killed after {killed_at} readings stored, {sent} messages sent")
        assert 0 < killed_at < stream.readings and sent < len(stream.messages), "not mid-stream"
        # While a is away, the broker keeps dealing it its share (queued in its session).
        time.sleep(0.5)
        a2 = platform.start(ids["a"], "a")
        feed.finish()
        pub.flush(60)
    platform.wait_landed(stream.readings, "the stream did not land")
    platform.wait_synced()
    check_stored(platform)
    summaries = {w.name: platform.stop(w) for w in (b, a2)}
    for worker in (b, a2):
        assert worker.summary is not None
        check_summary(platform, worker.summary, stored=worker.summary["stored"])
    # Both kept working: b all along, the restarted a on the share queued for it.
    assert summaries[b.name]["stored"] > 0 and summaries[a2.name]["received"] > 0, summaries
    # The survivors stored at least what was missing at the kill, and never more than the stream.
    survivors = summaries[b.name]["stored"] + summaries[a2.name]["stored"]
    assert stream.readings - killed_at <= survivors <= stream.readings, summaries
    print(f"a killed {caught} at {killed_at}/{stream.readings} readings; after: {summaries}")


# --- 4. Mosquitto restarted mid-stream ------------------------------------------------------------


def test_broker_restart_mid_stream_loses_nothing(platform: Platform) -> None:
    """Mosquitto stops with a backlog in flight and queued; redeliveries are only duplicates."""
    require_mqtt(restartable=True)
    stream = platform.stream
    worker_id = platform.client("w")
    seed_session(worker_id, platform.group)
    worker = platform.start(worker_id, "w")
    first = len(stream.messages) * 2 // 3
    with Publisher(HOST, PORT, client_id=platform.client("pub")) as pub:
        # A burst: the worker is still working through it (messages in flight to it and
        # queued in its session) when the broker goes down.
        for topic, payload in stream.messages[:first]:
            pub.publish(topic, payload, timeout_s=60)
        pub.flush(60)
        at_restart = platform.landed()
        restart_mosquitto(down_s=0.5)
        platform.notes.append(
            f"broker restarted with {at_restart} of {stream.count(range(first))} burst readings"
            " stored"
        )
        # Mosquitto 2.0 does not restore shared subscriptions: publish the rest only once the
        # worker has reconnected (and subscribed again, in the same callback), so that no other
        # subscriber on the broker takes the group's messages (docs/platform/mqtt.md).
        platform.wait(lambda: worker.connections() >= 2, "the worker did not reconnect", 60)
        time.sleep(0.5)
        for topic, payload in stream.messages[first:]:
            pub.publish(topic, payload, timeout_s=60)
        pub.flush(60)
    platform.wait_landed(stream.readings, "the stream did not land after the broker restart")
    platform.wait_synced()
    check_stored(platform)
    log = worker.log_text()
    assert "had no session" not in log, "the broker lost the worker's session"
    summary = platform.stop(worker)
    # One process stored everything: redeliveries after the restart are duplicates only.
    check_summary(platform, summary, stored=stream.readings)
    print(f"broker restart at {at_restart}/{stream.readings} readings; {summary}")


# --- 5. PostgreSQL restarted mid-stream -----------------------------------------------------------


def _wait_for_a_blocked_batch(platform: Platform, timeout_s: float = 30) -> None:
    """Wait until a session of the platform's database waits on a lock (the worker's batch)."""
    name = make_url(platform.url).database
    deadline = time.monotonic() + timeout_s
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with platform.engine.connect() as connection:
            if connection.execute(query, {"d": name}).scalar_one():
                return
        time.sleep(0.05)
    platform.fail("no batch of the worker waited on the held rollups")


def test_database_restart_mid_stream_loses_nothing(platform: Platform) -> None:
    """PostgreSQL restarts under a paced stream; the worker retries, survives, stores it once."""
    cluster = pg_cluster()
    if isinstance(cluster, str):
        _skip_or_fail(cluster)
    stream = platform.stream
    worker_id = platform.client("w")
    seed_session(worker_id, platform.group)
    worker = platform.start(worker_id, "w")
    with Publisher(HOST, PORT, client_id=platform.client("pub")) as pub:
        feed = Feed(pub, stream.messages, rate=150)
        feed.start()
        platform.wait_landed(stream.readings // 4, "the worker stored too little", 30)
        # Hold the rollups so the worker's next batch waits inside its transaction: the restart
        # then surely cuts a batch in flight (a fast worker is otherwise mostly between batches).
        blocker = platform.engine.connect()
        blocker.execute(text("LOCK TABLE meter_rollups IN ACCESS EXCLUSIVE MODE"))
        _wait_for_a_blocked_batch(platform)
        sent = feed.sent
        took = restart_postgres()
        with contextlib.suppress(SQLAlchemyError):
            blocker.close()
        platform.notes.append(f"PostgreSQL restarted ({took:.1f} s) after {sent} messages sent")
        assert sent < len(stream.messages), "not mid-stream"
        feed.finish()
        pub.flush(60)
    platform.wait_landed(stream.readings, "the stream did not land after the database restart")
    platform.wait_synced()
    assert worker.alive(), "the worker died with the database"
    check_stored(platform)
    log = worker.log_text()
    assert "failed; retrying" in log, "the restart never hit a batch: nothing was tested"
    summary = platform.stop(worker)
    # One process; a batch whose transaction failed was retried, unacknowledged, and none was
    # stored twice (the database holds exactly the stream, checked above). Its own count of new
    # readings is exact unless a COMMIT succeeded but its answer was lost in the restart: then
    # the retry finds those readings stored and counts them as duplicates.
    check_summary(platform, summary, stored=summary["stored"])
    if not summary["stored"] <= stream.readings <= summary["stored"] + summary["duplicates"]:
        platform.fail(f"the worker's counts {summary} do not add up to {stream.readings}")
    print(f"PostgreSQL restart after {sent} messages ({took:.1f} s); {summary}")


# --- the fixtures survive a server restart ----------------------------------------------------


def test_new_database_drop_survives_the_server_ending_its_connection(tmp_path: Path) -> None:
    require_pg()
    url, drop = new_database("postgresql", tmp_path)
    cells = [c.cell_contents for c in drop.__closure__ or ()]
    admin = next(c for c in cells if isinstance(c, Engine))
    with admin.connect() as connection:  # the connection the pool keeps
        pid: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # What a restart does to it, without restarting: end that one session from another.
    other = make_engine(PG_ADMIN_URL, poolclass=NullPool)
    with other.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    try:
        drop()
    finally:
        with other.connect() as connection:  # drop it anyway
            name = make_url(url).database
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )
        other.dispose()

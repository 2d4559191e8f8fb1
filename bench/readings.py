"""Benchmark meter-reading ingestion: the writer path, MQTT end to end, SQLite; each vs a floor.

``run.py --only readings`` runs this section (so does ``python bench/readings.py``). Cases, each
measured in its own fresh process (``--worker``) so that its peak RSS is its own:

* ``pg-copy`` — the PostgreSQL floor: binary ``COPY`` of the same rows (meter_id int4,
  ts timestamp, value float8) into an unindexed scratch table, one commit per batch; the COPY
  buffer is built with NumPy inside the clock;
* ``pg-writer`` — the platform path: ``ReadingsWriter(session).ingest(raws, …)`` with
  ``RawReading`` objects carrying ISO text with ``+08:00`` (as after JSON decoding), batches of
  50,000, one commit per batch (dedupe, rollups, partitions). The ``RawReading`` objects of a
  batch are built outside the clock;
* ``mqtt`` — ``shuangtan ingest mqtt`` as a subprocess; the readings published with
  ``Publisher`` (QoS 1), 500 per message on ``shuangtan/v1/<org>/readings``; timed from the first
  publish until ``SELECT count(*) FROM readings`` reaches the total. Memory: the ingest worker's
  peak RSS (sampled from /proc);
* ``http`` — ``shuangtan serve`` as a subprocess; ``POST /api/v1/readings`` with JSON bodies of
  50,000 readings (``{"readings": [{"meter", "ts", "value"}, …]}``, built outside the clock),
  one request after the other on a keep-alive connection with an API token; timed from the
  first request to the last answer. Memory: the server's peak RSS (sampled from /proc);
* ``http-2`` — as ``http`` with two clients at once, each on its own connection sending its own
  half of the meters (client k the meters m ≡ k mod 2), as two data concentrators of a site do.
  A lone client waits for each answer, so the server's Python sits idle while PostgreSQL writes
  (about half of each request); with two, one request's decoding and planning overlap the
  other's writes. Both rows carry the issue's target;
* ``mqtt-2`` — as ``mqtt`` with two ingest workers in one shared subscription group; memory is
  the larger RSS. Informative, no target: the broker deals messages round-robin, so each
  worker's batch holds every other instant of every meter, and each batch re-plans the
  neighbours the other stored (counters' intervals, gap flags) — about twice the writes, and
  the two contend for the same meters' locks;
* ``sqlite-insert`` and ``sqlite-writer`` — the SQLite floor (``executemany`` INSERT into an
  unindexed table in the same file) and the writer path into that file.

``--cases`` runs some of them (with their floors); ``--history-months N`` first stores one reading
per meter in each of N earlier months (outside the clock), so that ``readings`` has the month
partitions of a platform that has run that long.

Every PostgreSQL case gets its own uniquely named database on the ``--postgres`` server, dropped
at the end. After each writer case the readings table must hold exactly the rows sent, and one
batch sent again must come back as duplicates (stored 0); otherwise the exit code is 1. A missed
target is reported, never failed. Figures go to ``bench/out/results-readings.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from report import table  # bench/report.py, beside this file (sys.path[0])

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = OUT / "results-readings.json"
FULL, QUICK = 1_000_000, 200_000
BATCH = 50_000
PER_MESSAGE = 500
INTERVAL_METERS = CUMULATIVE_METERS = 200
FACILITY = "BENCH-F1"
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
#: The series' readings (not those of --history-months, which are older).
COUNT_SQL = (
    "SELECT count(*) FROM readings WHERE ts >= "
    f"'{START.astimezone(dt.UTC).replace(tzinfo=None).isoformat(' ')}'"
)
STEP = dt.timedelta(minutes=15)
#: The issue's targets: HTTP batch ingest into PostgreSQL, MQTT end to end, the SQLite default.
TARGETS = {"http": 150_000, "http-2": 150_000, "mqtt": 100_000, "sqlite-writer": 50_000}
BASELINE_OF = {
    "pg-writer": "pg-copy",
    "http": "pg-copy",
    "http-2": "pg-copy",
    "mqtt": "pg-copy",
    "mqtt-2": "pg-copy",
    "sqlite-writer": "sqlite-insert",
}
LABELS = {
    "pg-copy": "PostgreSQL binary COPY (floor)",
    "pg-writer": "PostgreSQL ReadingsWriter (in process)",
    "http": "HTTP POST /readings → PostgreSQL",
    "http-2": "HTTP, 2 clients → PostgreSQL",
    "mqtt": "MQTT → 1 ingest worker → PostgreSQL",
    "mqtt-2": "MQTT → 2 ingest workers → PostgreSQL",
    "sqlite-insert": "SQLite executemany (floor)",
    "sqlite-writer": "SQLite ReadingsWriter",
}


# --- the readings ----------------------------------------------------------------------------


def meter_codes() -> list[str]:
    return [f"BM-I{i:03d}" for i in range(INTERVAL_METERS)] + [
        f"BM-C{i:03d}" for i in range(CUMULATIVE_METERS)
    ]


def rows(total: int, start: int = 0, stop: int | None = None) -> Any:
    """Rows ``start:stop`` of the series, time-major (every meter at one instant, then the next).

    Yields (meter index, step index, value): interval meters send 1.0–2.0 per 15 min;
    cumulative meters a rising counter.
    """
    n_meters = INTERVAL_METERS + CUMULATIVE_METERS
    for k in range(start, min(stop if stop is not None else total, total)):
        step, m = divmod(k, n_meters)
        # Interval meters vary per step; cumulative ones count up steadily.
        interval = 1.0 + ((step * 7 + m) % 100) / 100
        value = interval if m < INTERVAL_METERS else 1000.0 + step * 1.5 + m
        yield m, step, value


def iso(step: int) -> str:
    return (START + step * STEP).isoformat()


def raw_batch(total: int, start: int, codes: list[str]) -> list[Any]:
    from shuangtan.domain.readings import RawReading

    isos: dict[int, str] = {}
    out = []
    for i, (m, step, value) in enumerate(rows(total, start, start + BATCH)):
        ts = isos.get(step) or isos.setdefault(step, iso(step))
        out.append(RawReading(meter=codes[m], ts=ts, value=value, ref=f"readings[{i}]"))
    return out


# --- helpers ---------------------------------------------------------------------------------


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _unreachable_pg(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


def _port_open(address: str) -> bool:
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def setup_platform(url: str) -> dict[str, Any]:
    """Schema, an org tree (region ▸ enterprise ▸ facility) and the meters."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.db.migrate import upgrade
    from shuangtan.adapters.db.repositories import SYSTEM, Accounts, Store

    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        store = Store(session, SYSTEM)
        parent = None
        for code, kind in (
            ("BENCH-R", "region"),
            ("BENCH-E", "enterprise"),
            (FACILITY, "facility"),
        ):
            org = store.create_org(
                {
                    "parent_id": parent,
                    "kind": kind,
                    "code": code,
                    "name_zh": code,
                    "name_en": code,
                    "sector": None if kind == "region" else "power",
                    "region": "江苏",
                }
            )
            parent = org.id
        for code in meter_codes():
            store.create_meter(
                {
                    "org_id": parent,
                    "code": code,
                    "name_zh": code,
                    "carrier": "electricity",
                    "unit": "kWh",
                    "kind": "cumulative" if "-C" in code else "interval",
                }
            )
        # A data-entry account on the enterprise and its API token (the HTTP case).
        user = store.create_user(
            "bench-gateway",
            uuid.uuid4().hex,
            display_name="bench",
            grants=[("data_entry", store.org_by_code("BENCH-E").id)],
        )
        _row, token = Accounts(session).issue_token(
            user, kind="api", scopes=("read", "write"), name="bench"
        )
        session.commit()
    engine.dispose()
    return {"org_id": parent, "token": token}


def seed_history(url: str, months: int) -> None:
    """One reading per meter in each of the ``months`` months before the series (unclocked).

    A platform that has run for a while has a month partition of ``readings`` for each of
    them; some query plans grow with their number (the writer's neighbour lookup did, until
    JIT compilation was turned off for it). Counters are small, so the series continues them.
    """
    import numpy as np
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.db.models import Meter
    from shuangtan.adapters.db.readings import ReadingsWriter, naive_to_us
    from shuangtan.domain.readings import Channel

    if months <= 0:
        return
    engine = make_engine(url)
    start = START.astimezone(dt.UTC).replace(tzinfo=None)
    with Session(engine) as session:
        query = select(Meter.id).where(Meter.code.like("BM-%")).order_by(Meter.id)
        ids = np.array(session.scalars(query).all(), np.int64)
        writer = ReadingsWriter(session)
        for k in range(months, 0, -1):
            year, month = divmod(start.year * 12 + start.month - 1 - k, 12)
            ts_us = naive_to_us(dt.datetime(year, month + 1, 2))
            stamps = np.full(len(ids), ts_us, np.int64)
            writer.ensure_partitions(stamps)
            writer.ingest_arrays(
                ids,
                stamps,
                np.full(len(ids), float(months - k)),
                now=dt.datetime.now(dt.UTC),
                channel=Channel.HTTP,
            )
            session.commit()
    engine.dispose()


def count_readings(url: str) -> int:
    from sqlalchemy import text

    from shuangtan.adapters.db.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text(COUNT_SQL)).scalar_one())
    engine.dispose()
    return n


# --- workers (one fresh process each) ---------------------------------------------------------


def work_writer(url: str, total: int) -> dict[str, Any]:
    """The platform path: ReadingsWriter.ingest per batch, one commit each."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.db.readings import IngestResult, ReadingsWriter
    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.domain.readings import Channel

    codes = meter_codes()
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    total_result = IngestResult()
    seconds = 0.0
    startup_mib = _peak_mib()
    with Session(engine) as session:
        resolve = Store(session, SYSTEM).meter_resolver()
        writer = ReadingsWriter(session)
        for start in range(0, total, BATCH):
            raws = raw_batch(total, start, codes)  # outside the clock: what JSON decoding gives
            t0 = time.perf_counter()
            result = writer.ingest(raws, resolve=resolve, now=now, channel=Channel.HTTP)
            session.commit()
            seconds += time.perf_counter() - t0
            total_result.add(result)
            del raws
        again = writer.ingest(
            raw_batch(total, 0, codes), resolve=resolve, now=now, channel=Channel.HTTP
        )
        session.commit()
    engine.dispose()
    return {
        "records": total,
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "startup_mib": startup_mib,
        "summary": {k: v for k, v in total_result.summary().items() if k != "quarantine"},
        "again": {k: v for k, v in again.summary().items() if k != "quarantine"},
    }


def _arrays(total: int, start: int) -> tuple[Any, Any, Any]:
    import numpy as np

    batch = list(rows(total, start, start + BATCH))
    m = np.fromiter((r[0] + 1 for r in batch), np.int32, len(batch))
    step = np.fromiter((r[1] for r in batch), np.int64, len(batch))
    value = np.fromiter((r[2] for r in batch), np.float64, len(batch))
    base_us = (
        int(
            (
                START.astimezone(dt.UTC).replace(tzinfo=None) - dt.datetime(1970, 1, 1)
            ).total_seconds()
        )
        * 1_000_000
    )
    return m, base_us + step * 900_000_000, value


def work_pg_copy(url: str, total: int) -> dict[str, Any]:
    import numpy as np
    import psycopg

    dtype = np.dtype(
        [
            ("nf", ">i2"),
            ("l1", ">i4"),
            ("m", ">i4"),
            ("l2", ">i4"),
            ("ts", ">i8"),
            ("l3", ">i4"),
            ("v", ">f8"),
        ]
    )
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") * 2
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    seconds = 0.0
    startup_mib = _peak_mib()
    with psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE scratch (meter_id int4, ts timestamp, value float8)")
        conn.commit()
        for start in range(0, total, BATCH):
            m, ts_us, value = _arrays(total, start)  # outside the clock, like the RawReadings
            t0 = time.perf_counter()
            buf = np.empty(len(m), dtype)
            buf["nf"], buf["l1"], buf["l2"], buf["l3"] = 3, 4, 8, 8
            buf["m"], buf["ts"], buf["v"] = m, ts_us - 946_684_800_000_000, value
            with conn.cursor().copy("COPY scratch FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(header + buf.tobytes() + b"\xff\xff")
            conn.commit()
            seconds += time.perf_counter() - t0
        n = conn.execute("SELECT count(*) FROM scratch").fetchone()[0]
    return {
        "records": total,
        "stored": n,
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "startup_mib": startup_mib,
    }


def work_sqlite_insert(path: str, total: int) -> dict[str, Any]:
    import sqlite3

    seconds = 0.0
    startup_mib = _peak_mib()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as make_engine's pragmas
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE scratch (meter_id INTEGER, ts DATETIME, value FLOAT)")
    conn.commit()
    for start in range(0, total, BATCH):
        m, ts_us, value = _arrays(total, start)
        batch = list(zip(m.tolist(), ts_us.tolist(), value.tolist(), strict=True))
        t0 = time.perf_counter()
        text_ts = [
            (mm, (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=t)).isoformat(" "), v)
            for mm, t, v in batch
        ]
        conn.executemany("INSERT INTO scratch VALUES (?, ?, ?)", text_ts)
        conn.commit()
        seconds += time.perf_counter() - t0
    n = conn.execute("SELECT count(*) FROM scratch").fetchone()[0]
    conn.close()
    return {
        "records": total,
        "stored": n,
        "seconds": seconds,
        "peak_mib": _peak_mib(),
        "startup_mib": startup_mib,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_bodies(total: int, clients: int) -> list[list[bytes]]:
    """JSON bodies of BATCH readings for each client; client k sends the meters m ≡ k (mod n).

    Each client stands for a data concentrator sending its own meters, as on a real site: two
    clients never send the same meter, so neither waits on the other's meter locks.
    """
    import orjson

    codes = meter_codes()
    per_client: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
    for m, step, value in rows(total):
        per_client[m % clients].append({"meter": codes[m], "ts": iso(step), "value": value})
    return [
        [
            orjson.dumps({"readings": readings[start : start + BATCH]})
            for start in range(0, len(readings), BATCH)
        ]
        for readings in per_client
    ]


def work_http(url: str, total: int, clients: int = 1) -> dict[str, Any]:
    """``shuangtan serve`` subprocess; ``clients`` connections POST bodies of BATCH; time it."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    import orjson

    token = os.environ["BENCH_TOKEN"]
    bodies = http_bodies(total, clients)
    port = _free_port()
    log = Path(tempfile.gettempdir()) / f"bench-http-{uuid.uuid4().hex[:10]}.log"
    script = Path(sys.executable).with_name("shuangtan")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--log-level", "warning"],
            env={**os.environ, "SHUANGTAN_DATABASE_URL": url},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], _rss_mib(proc.pid))

    threading.Thread(target=sample, daemon=True).start()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                conn.request("GET", "/health")
                conn.getresponse().read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = log.read_text()
                    raise SystemExit(f"bench readings: the server did not start:\n{why}") from None
                time.sleep(0.2)

        conn.close()

        def post(conn: http.client.HTTPConnection, body: bytes) -> dict[str, Any]:
            conn.request("POST", "/api/v1/readings", body=body, headers=headers)
            answer = conn.getresponse()
            payload = answer.read()
            if answer.status != 200:
                raise SystemExit(f"bench readings: HTTP {answer.status}: {payload[:500]!r}")
            return dict(orjson.loads(payload))

        keys = ("received", "stored", "corrected", "duplicates", "quarantined")

        def send(mine: list[bytes]) -> dict[str, int]:
            total_k = dict.fromkeys(keys, 0)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            for body in mine:
                answer = post(conn, body)
                for key in keys:
                    total_k[key] += answer[key]
            conn.close()
            return total_k

        with ThreadPoolExecutor(clients) as pool:
            t0 = time.perf_counter()
            parts = list(pool.map(send, bodies))
            seconds = time.perf_counter() - t0
        summary = {key: sum(part[key] for part in parts) for key in keys}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        again = post(conn, bodies[0][0])
        conn.close()
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "records": total,
        "seconds": seconds,
        "peak_mib": peak[0],
        "summary": summary,
        "again": {k: again[k] for k in summary},
    }


def work_mqtt(url: str, total: int, broker: str, workers: int = 1) -> dict[str, Any]:
    """Ingest worker subprocesses; publish; wait until every reading is in the table."""
    import orjson
    from sqlalchemy import text

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.mqtt import Publisher

    codes = meter_codes()
    topic = f"shuangtan/v1/{FACILITY}/readings"
    payloads = []
    chunk: list[dict[str, Any]] = []
    for m, step, value in rows(total):
        chunk.append({"meter": codes[m], "ts": iso(step), "value": value})
        if len(chunk) == PER_MESSAGE:
            payloads.append(orjson.dumps({"readings": chunk}))
            chunk = []
    if chunk:
        payloads.append(orjson.dumps({"readings": chunk}))
    tag = uuid.uuid4().hex[:10]
    script = Path(sys.executable).with_name("shuangtan")
    log = Path(tempfile.gettempdir()) / f"bench-mqtt-{tag}.log"
    with log.open("wb") as out:
        procs = [
            subprocess.Popen(
                [
                    str(script),
                    "ingest",
                    "mqtt",
                    "--broker",
                    broker,
                    "--client-id",
                    f"bench-{tag}-{k}",
                    "--group",
                    f"bench-{tag}",
                ],
                env={**os.environ, "SHUANGTAN_DATABASE_URL": url},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            for k in range(workers)
        ]
    engine = make_engine(url)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], *(_rss_mib(p.pid) for p in procs))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    host, port = broker.rsplit(":", 1)
    try:
        time.sleep(3.0)  # let the workers connect and subscribe (unrouted messages are retried)
        if any(p.poll() is not None for p in procs):
            raise SystemExit("bench readings: an ingest worker exited:\n" + log.read_text())
        with Publisher(host, int(port), client_id=f"bench-pub-{tag}", window=200) as pub:
            t0 = time.perf_counter()
            for payload in payloads:
                pub.publish(topic, payload)
            pub.flush(timeout_s=600)
            published_s = time.perf_counter() - t0
            n = 0
            with engine.connect() as conn:
                deadline = time.monotonic() + 900
                while time.monotonic() < deadline:
                    n = int(conn.execute(text(COUNT_SQL)).scalar_one())
                    conn.commit()
                    if n >= total:
                        break
                    time.sleep(0.05)
            seconds = time.perf_counter() - t0
            # one message again: must change nothing
            pub.publish(topic, payloads[0])
            pub.flush(timeout_s=60)
        time.sleep(3.0)
        with engine.connect() as conn:
            after = int(conn.execute(text(COUNT_SQL)).scalar_one())
            dup = conn.execute(text("SELECT count(*) FROM quarantine")).scalar_one()
    finally:
        stop.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()
    return {
        "records": total,
        "stored": n,
        "seconds": seconds,
        "published_s": published_s,
        "peak_mib": peak[0],
        "after_resend": after,
        "quarantined": int(dup),
        "messages": len(payloads),
        "log": str(log),
    }


def worker(case: str, target: str, total: int, broker: str) -> dict[str, Any]:
    if case == "pg-copy":
        return work_pg_copy(target, total)
    if case == "sqlite-insert":
        return work_sqlite_insert(target, total)
    if case == "mqtt":
        return work_mqtt(target, total, broker)
    if case == "mqtt-2":
        return work_mqtt(target, total, broker, workers=2)
    if case == "http":
        return work_http(target, total)
    if case == "http-2":
        return work_http(target, total, clients=2)
    return work_writer(target, total)


# --- parent ----------------------------------------------------------------------------------


def spawn(
    case: str, target: str, total: int, broker: str, token: str | None = None
) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", case, target, str(total), "--broker", broker]
    env = {**os.environ, **({"BENCH_TOKEN": token} if token else {})}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench readings: the {case} worker failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["case"] = case
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "SHUANGTAN_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="server URL (a scratch database is created on it; '' for none)",
    )
    parser.add_argument("--broker", default="127.0.0.1:1883")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} readings")
    parser.add_argument("--readings", type=int, help=f"readings per case ({FULL:,})")
    parser.add_argument("--no-mqtt", action="store_true")
    parser.add_argument(
        "--history-months",
        type=int,
        default=0,
        help="PostgreSQL writer cases: first store one reading per meter in each of this many "
        "months before the series (outside the clock), as on a platform that has run that long",
    )
    parser.add_argument(
        "--cases",
        help="comma-separated cases to run, of " + ", ".join(LABELS) + " (default: all); "
        "a case's floor runs too, so that its ratio is of the same run",
    )
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args(argv)  # the api section's options are ignored

    if args.worker:
        case, target, total = args.worker
        print(json.dumps(worker(case, target, int(total), args.broker)))
        return 0

    total = args.readings or (QUICK if args.quick else FULL)
    wanted = set(LABELS)
    if args.cases:
        wanted = {c.strip() for c in args.cases.split(",") if c.strip()}
        if unknown := wanted - set(LABELS):
            parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
        # A case's floor always runs with it: the ratio compares within one run.
        wanted |= {BASELINE_OF[c] for c in wanted if c in BASELINE_OF}
    if args.postgres and (why := _unreachable_pg(args.postgres)):
        print(f"bench readings: PostgreSQL cases skipped: {why}")
        args.postgres = None
    if args.postgres and not args.no_mqtt and not _port_open(args.broker):
        print(f"bench readings: MQTT cases skipped: no broker at {args.broker}")
        args.no_mqtt = True
    tag = uuid.uuid4().hex[:8]
    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    created: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="bench-readings-"))
    wall = time.perf_counter()
    try:
        if args.postgres:
            cases = (
                "pg-copy",
                "pg-writer",
                "http",
                "http-2",
                *(() if args.no_mqtt else ("mqtt", "mqtt-2")),
            )
            for case in (c for c in cases if c in wanted):
                name = f"bench_readings_{tag}_{case.replace('-', '_')}"
                _admin(args.postgres, f'CREATE DATABASE "{name}"')
                created.append(name)
                url = _with_db(args.postgres, name)
                token = None
                if case != "pg-copy":
                    token = setup_platform(url)["token"]
                    seed_history(url, args.history_months)
                results[case] = spawn(case, url, total, args.broker, token)
                if case != "pg-copy":
                    results[case]["count"] = count_readings(url)
        sqlite_path = scratch / "readings.sqlite"
        if "sqlite-insert" in wanted:
            results["sqlite-insert"] = spawn("sqlite-insert", str(sqlite_path), total, args.broker)
        if "sqlite-writer" in wanted:
            url = f"sqlite:///{sqlite_path}"
            setup_platform(url)
            results["sqlite-writer"] = spawn("sqlite-writer", url, total, args.broker)
            results["sqlite-writer"]["count"] = count_readings(url)
    finally:
        for name in created:
            try:
                _admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:
                print(f"bench readings: could not drop {name}: {exc}", file=sys.stderr)
    wall = time.perf_counter() - wall

    for case, r in results.items():
        r["readings_per_s"] = r["records"] / r["seconds"]
        stored = r.get("count", r.get("stored"))
        if stored != total:
            problems.append(f"{case}: {stored} rows stored, {total} sent")
        if "again" in r and (r["again"]["stored"] != 0 or r["again"]["duplicates"] != BATCH):
            problems.append(f"{case}: a batch sent again gave {r['again']}")
        if case.startswith("mqtt") and r["after_resend"] != total:
            problems.append(f"{case}: {r['after_resend']} rows after a message was sent again")
    for case, r in results.items():
        base = results.get(BASELINE_OF.get(case, case))
        r["ratio"] = r["readings_per_s"] / base["readings_per_s"] if base else None
        target = TARGETS.get(case)
        r["target"] = target
        r["verdict"] = ("met" if r["readings_per_s"] >= target else "missed") if target else "-"

    header = [
        "case",
        "readings",
        "s",
        "readings/s",
        "ratio",
        "peak MiB",
        "re-sent batch",
        "target",
        "verdict",
    ]
    table_rows = [header]
    for case, r in results.items():
        if "again" in r:
            resent = f"stored {r['again']['stored']}, dup {r['again']['duplicates']:,}"
        elif case.startswith("mqtt"):
            resent = f"count {r['after_resend']:,} after"
        else:
            resent = "-"
        table_rows.append(
            [
                LABELS[case],
                f"{r['records']:,}",
                f"{r['seconds']:.2f}",
                f"{r['readings_per_s']:,.0f}",
                f"{r['ratio']:.3f}" if r["ratio"] else "-",
                f"{r['peak_mib']:.1f}",
                resent,
                f"≥ {r['target']:,}/s" if r["target"] else "-",
                r["verdict"],
            ]
        )
    print(
        f"Readings ingestion: {total:,} readings, batches of {BATCH:,} "
        f"({INTERVAL_METERS} interval + {CUMULATIVE_METERS} cumulative meters, 15 min, 2025); "
        f"ratio = readings/s ÷ the floor of the same store"
        + (
            f"; {args.history_months} earlier months of partitions"
            if args.history_months and args.postgres
            else ""
        )
    )
    print(table(table_rows, right={1, 2, 3, 4, 5}))
    for case in ("mqtt", "mqtt-2"):
        if case in results:
            r = results[case]
            print(
                f"{case}: {r['messages']:,} messages of {PER_MESSAGE}, all acknowledged by the "
                f"broker after {r['published_s']:.2f} s; peak MiB is the ingest worker's RSS"
            )
    if "http" in results:
        print(f"http: bodies of {BATCH:,} readings; peak MiB is the server's RSS")
    print(f"wall {wall:.1f} s; load average now {os.getloadavg()[0]:.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "total": total,
                "history_months": args.history_months,
                "results": results,
                "problems": problems,
                "date": dt.datetime.now(dt.UTC).isoformat(),
            },
            indent=2,
        )
    )
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

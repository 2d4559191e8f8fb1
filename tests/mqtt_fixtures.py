"""The MQTT broker of the tests: a real Mosquitto, and a way to restart it.

The broker is the system Mosquitto on 127.0.0.1:1883 (override with ``SHUANGTAN_TEST_MQTT``,
``host:port``). Under ``CI=true`` a missing broker fails the tests; on a laptop they skip and
say why. Restarting uses the pid file and configuration of the system broker
(``SHUANGTAN_TEST_MOSQUITTO_PID``, ``SHUANGTAN_TEST_MOSQUITTO_CONF``): SIGTERM (Mosquitto saves
its persistence file), wait until the process is gone, ``mosquitto -d -c CONF``, wait until the
port answers. The broker is always left running.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from shuangtan.adapters.mqtt import IngestWorker, Message, parse_topic, readings_topic

HOST, _, _PORT = os.environ.get("SHUANGTAN_TEST_MQTT", "127.0.0.1:1883").partition(":")
PORT = int(_PORT or 1883)
PID_FILE = Path(os.environ.get("SHUANGTAN_TEST_MOSQUITTO_PID", "/run/mosquitto/mosquitto.pid"))
CONF = Path(os.environ.get("SHUANGTAN_TEST_MOSQUITTO_CONF", "/etc/mosquitto/mosquitto.conf"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _port_open(timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=timeout_s):
            return True
    except OSError:
        return False


def mqtt_unavailable() -> str | None:
    """Why the MQTT broker cannot be used, or None (an MQTT 5 CONNECT must get a CONNACK)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="", protocol=MQTTProtocolVersion.MQTTv5
    )
    try:
        client.connect(HOST, PORT, keepalive=10)
        deadline = time.monotonic() + 3
        while not client.is_connected() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        if not client.is_connected():
            return f"MQTT broker at {HOST}:{PORT} sent no CONNACK within 3 s"
        client.disconnect()
    except OSError as exc:
        return f"MQTT broker at {HOST}:{PORT} unavailable: {exc}"
    return None


def mosquitto_unrestartable() -> str | None:
    """Why the tests cannot restart the broker, or None."""
    if HOST not in ("127.0.0.1", "localhost", "::1"):
        return f"the broker at {HOST} is not local"
    if shutil.which("mosquitto") is None:
        return "no mosquitto executable on PATH"
    if not PID_FILE.is_file() or not CONF.is_file():
        return f"no pid file {PID_FILE} or configuration {CONF}"
    try:
        os.kill(_pid(), 0)
    except (OSError, ValueError) as exc:
        return f"cannot signal the broker of {PID_FILE}: {exc}"
    return None


def _skip_or_fail(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI needs the MQTT broker: {reason}")
    pytest.skip(reason)


def require_mqtt(*, restartable: bool = False) -> None:
    """Fail under CI, skip elsewhere, when the broker is missing (or cannot be restarted)."""
    reason = mqtt_unavailable()
    if reason is None and restartable:
        reason = mosquitto_unrestartable()
    if reason is not None:
        _skip_or_fail(reason)


def _pid() -> int:
    return int(PID_FILE.read_text().strip())


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state != "Z"


def _wait(condition: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout_s:g} s")
        time.sleep(0.02)


def stop_mosquitto(timeout_s: float = 30) -> None:
    """SIGTERM the system broker and wait until it has saved its state and exited."""
    pid = _pid()
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: not _alive(pid), f"mosquitto (pid {pid}) still running", timeout_s)
    _wait(lambda: not _port_open(0.2), f"port {PORT} still open", timeout_s)


def start_mosquitto(timeout_s: float = 30) -> None:
    """Start the system broker (daemonised) unless it runs, and wait until it answers."""
    if _port_open(0.2):
        return
    subprocess.run(["mosquitto", "-d", "-c", str(CONF)], check=True, timeout=timeout_s)
    _wait(lambda: _port_open(0.2), f"mosquitto not listening on {PORT}", timeout_s)


@contextmanager
def restarted_mosquitto(timeout_s: float = 30) -> Iterator[None]:
    """Stop the broker for the duration of the block; start it again on the way out, always."""
    try:
        stop_mosquitto(timeout_s)
        yield
    finally:
        start_mosquitto(timeout_s)


def restart_mosquitto(down_s: float = 0.0, timeout_s: float = 30) -> None:
    """Stop the broker, wait ``down_s``, start it again."""
    with restarted_mosquitto(timeout_s):
        time.sleep(down_s)


# --- sessions, payloads and an honest sink ---------------------------------------------------


def end_session(client_id: str) -> None:
    """Remove the broker's session of ``client_id`` (connect with clean start, expiry 0)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    try:
        client.connect(HOST, PORT, keepalive=10, clean_start=True)
        deadline = time.monotonic() + 3
        while not client.is_connected() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        client.disconnect()
    except OSError:
        pass


BASE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
STEP = dt.timedelta(minutes=15)


def value_of(seq: int, j: int) -> float:
    """The value of reading ``j`` of message ``seq``: a multiple of 0.5, so sums are exact."""
    return ((seq * 7 + j) % 100) / 2


def message(org: str, seq: int, per: int) -> tuple[str, bytes]:
    """Message ``seq`` of a test stream: ``per`` readings, each (meter, ts) unique in the stream.

    Even messages go to the organisation's topic (``per`` meters at one instant), odd ones to
    a meter's topic (one meter, ``per`` instants).
    """
    if seq % 2 == 0:
        ts = (BASE + seq * STEP).isoformat()
        readings: list[dict[str, object]] = [
            {"meter": f"m-{j}", "ts": ts, "value": value_of(seq, j), "unit": "kWh"}
            for j in range(per)
        ]
        topic = readings_topic(org)
    else:
        readings = [
            {"ts": (BASE + j * STEP).isoformat(), "value": value_of(seq, j)} for j in range(per)
        ]
        topic = readings_topic(org, f"solo-{seq}")
    return topic, json.dumps({"seq": seq, "readings": readings}).encode()


def expected(n: int, per: int) -> tuple[int, float]:
    """Readings and their sum in a stream of ``n`` messages."""
    return n * per, sum(value_of(seq, j) for seq in range(n) for j in range(per))


class SqliteSink:
    """A ``handle`` that commits to SQLite before returning: readings ``INSERT OR IGNORE`` on
    (meter, ts), and one row per delivered message (so duplicate deliveries can be counted).

    Messages of other organisations (other tests' streams) are left out.
    """

    def __init__(self, path: Path, org: str, name: str = "w") -> None:
        self.path, self.org, self.name = path, org, name
        self.connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
        with self.connection:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS readings (meter TEXT, ts TEXT, value REAL,"
                " PRIMARY KEY (meter, ts)) WITHOUT ROWID"
            )
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS deliveries (seq INTEGER, worker TEXT, dup INTEGER)"
            )
        self.calls = 0

    def __call__(self, batch: Sequence[Message]) -> None:
        self.calls += 1
        rows: list[tuple[str, str, float]] = []
        seen: list[tuple[int, str, int]] = []
        for m in batch:
            org, meter = parse_topic(m.topic)
            if org != self.org:
                continue
            body = json.loads(m.payload)
            rows.extend((meter or r["meter"], r["ts"], r["value"]) for r in body["readings"])
            seen.append((body["seq"], self.name, int(m.dup)))
        with self.connection:
            self.connection.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?)", rows)
            self.connection.executemany("INSERT INTO deliveries VALUES (?, ?, ?)", seen)

    def close(self) -> None:
        self.connection.close()


@dataclass
class Landed:
    """What a stream left in one or more sink files."""

    readings: int
    total: float
    messages: int
    deliveries: int
    per_worker: dict[str, int]

    @property
    def duplicates(self) -> int:
        """Deliveries beyond the first of each message."""
        return self.deliveries - self.messages


def landed(*paths: Path) -> Landed:
    """Count the union of sink files (readings deduplicated on (meter, ts) across files)."""
    connection = sqlite3.connect(":memory:")
    unions_r, unions_d = [], []
    for i, path in enumerate(paths):
        connection.execute(f"ATTACH DATABASE ? AS s{i}", (str(path),))
        unions_r.append(f"SELECT meter, ts, value FROM s{i}.readings")
        unions_d.append(f"SELECT seq, worker FROM s{i}.deliveries")
    readings, total = connection.execute(
        f"SELECT count(*), coalesce(sum(value), 0) FROM ({' UNION '.join(unions_r)})"
    ).fetchone()
    d = " UNION ALL ".join(unions_d)
    messages, deliveries = connection.execute(
        f"SELECT count(DISTINCT seq), count(*) FROM ({d})"
    ).fetchone()
    per_worker = dict(connection.execute(f"SELECT worker, count(*) FROM ({d}) GROUP BY worker"))
    connection.close()
    return Landed(readings, total, messages, deliveries, per_worker)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Poll ``condition`` every 50 ms; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} (after {timeout_s:g} s)")
        time.sleep(0.05)


# --- a worker in its own process (``python -m tests.mqtt_fixtures DB CLIENT GROUP ORG``) -----


def _worker_main(argv: list[str]) -> None:
    import threading

    db, client_id, group, org = argv
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sink = SqliteSink(Path(db), org, name=f"{client_id}@{os.getpid()}")
    worker = IngestWorker(
        HOST, PORT, handle=sink, client_id=client_id, group=group, session_expiry_s=120
    )

    def ready() -> None:
        if worker.subscribed.wait(30):
            print("ready", flush=True)

    threading.Thread(target=ready, daemon=True).start()
    worker.run(stop)
    print(f"stats {worker.stats}", flush=True)


if __name__ == "__main__":
    import sys

    _worker_main(sys.argv[1:])

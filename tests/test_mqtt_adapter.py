"""The MQTT adapter against a real Mosquitto: streams land exactly once after dedupe.

Each test uses its own organisation code, group and client ids (a uuid), so tests do not see
each other's messages, and removes its sessions from the broker at the end. The ``handle`` of
the workers is :class:`tests.mqtt_fixtures.SqliteSink`: it commits to a SQLite file before it
returns, with ``INSERT OR IGNORE`` on (meter, ts), so "nothing lost" is checked on what reached
durable storage, and redeliveries show up as extra rows in its ``deliveries`` table.

Stream sizes stay under what the broker's default configuration can hold for one client
(``max_queued_messages 1000`` plus the messages in flight; see docs/platform/mqtt.md).
"""

from __future__ import annotations

import logging
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from shuangtan.adapters.mqtt import (
    IngestWorker,
    Message,
    Publisher,
    parse_topic,
    readings_topic,
    topic_filters,
)
from shuangtan.errors import InputError
from tests.mqtt_fixtures import (
    HOST,
    PORT,
    SqliteSink,
    end_session,
    expected,
    landed,
    message,
    require_mqtt,
    restart_mosquitto,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("test_mqtt")


# --- helpers -------------------------------------------------------------------------------


class Names:
    """Unique organisation, group and client ids for one test; sessions removed at the end."""

    def __init__(self) -> None:
        self.uid = uuid.uuid4().hex[:10]
        self.org = f"t-{self.uid}"
        self.group = f"g-{self.uid}"
        self.used: list[str] = []

    @property
    def pair(self) -> tuple[str, str]:
        """Group and organisation, as the worker process takes them."""
        return self.group, self.org

    def client(self, role: str) -> str:
        client_id = f"{role}-{self.uid}"
        self.used.append(client_id)
        return client_id

    def end(self) -> None:
        for client_id in self.used:
            end_session(client_id)


@pytest.fixture
def names() -> Iterator[Names]:
    require_mqtt()
    made = Names()
    yield made
    made.end()


@contextmanager
def running(worker: IngestWorker) -> Iterator[IngestWorker]:
    """Run the worker in a thread until the block ends; fail if it dies or never subscribes."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run(stop)
        except BaseException as exc:  # shown by the test
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"worker-{worker.client_id}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: worker.subscribed.is_set() or bool(errors), "worker never subscribed", 20)
        assert not errors, errors
        yield worker
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop"
        assert not errors, errors


def publish_stream(
    pub: Publisher, org: str, n: int, per: int, *, pace_per_s: float | None = None
) -> None:
    """Publish messages 0..n-1; with ``pace_per_s``, no faster than that (in chunks of 50)."""
    start = time.monotonic()
    for seq in range(n):
        pub.publish(*message(org, seq, per))
        if pace_per_s and seq % 50 == 49:
            ahead = start + (seq + 1) / pace_per_s - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def drain(names: Names, client_id: str, seconds: float = 1.0) -> list[Message]:
    """Connect as ``client_id`` for a while and return what the broker still had for it."""
    got: list[Message] = []
    worker = IngestWorker(
        HOST,
        PORT,
        handle=got.extend,
        client_id=client_id,
        group=names.group,
        session_expiry_s=60,
    )
    with running(worker):
        time.sleep(seconds)
    return [m for m in got if parse_topic(m.topic)[0] == names.org]


# --- 6. topics (no broker) ---------------------------------------------------------------------


def test_topics_round_trip() -> None:
    assert readings_topic("park-01") == "shuangtan/v1/park-01/readings"
    assert readings_topic("park-01", "m_17.a") == "shuangtan/v1/park-01/m_17.a/readings"
    for org, meter in [("park-01", None), ("A.b_c-9", "M-1"), ("x" * 64, "y" * 64)]:
        assert parse_topic(readings_topic(org, meter)) == (org, meter)
    assert topic_filters("ingest") == (
        "$share/ingest/shuangtan/v1/+/readings",
        "$share/ingest/shuangtan/v1/+/+/readings",
    )
    assert topic_filters("ingest", shared=False) == (
        "shuangtan/v1/+/readings",
        "shuangtan/v1/+/+/readings",
    )


def test_topic_filters_of_chosen_organisations() -> None:
    assert topic_filters("g", orgs=["A1", "B-2"]) == (
        "$share/g/shuangtan/v1/A1/readings",
        "$share/g/shuangtan/v1/A1/+/readings",
        "$share/g/shuangtan/v1/B-2/readings",
        "$share/g/shuangtan/v1/B-2/+/readings",
    )
    assert topic_filters("g", shared=False, orgs=["A1"]) == (
        "shuangtan/v1/A1/readings",
        "shuangtan/v1/A1/+/readings",
    )
    for bad in ("+", "a/b", "#", ""):
        with pytest.raises(InputError, match="org code"):
            topic_filters("g", orgs=[bad])


@pytest.mark.parametrize(
    ("org", "meter"),
    [("", None), ("a/b", None), ("a+", None), ("#", None), ("park", "m/1"), ("park", "m#"),
     ("park", ""), ("$SYS", None), ("园区", None), ("x" * 65, None)],
)  # fmt: skip
def test_readings_topic_refuses_bad_codes(org: str, meter: str | None) -> None:
    with pytest.raises(InputError) as caught:
        readings_topic(org, meter)
    assert caught.value.field == "topic"


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "shuangtan/v1/park/readings/",
        "shuangtan/v1/readings",
        "shuangtan/v2/park/readings",
        "/shuangtan/v1/park/readings",
        "shuangtan/v1/park/m1/m2/readings",
        "shuangtan/v1/park/m1/reading",
        "shuangtan/v1/+/readings",
        "shuangtan/v1/park//readings",
        "$share/g/shuangtan/v1/park/readings",
    ],
)
def test_parse_topic_refuses_other_topics(topic: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_topic(topic)
    assert caught.value.field == "topic"


# --- 1. a stream lands exactly once ------------------------------------------------------------


def test_stream_lands_exactly_once(names: Names, tmp_path: Path) -> None:
    n, per = 2000, 50
    sink = SqliteSink(tmp_path / "sink.db", names.org)
    client_id = names.client("w")
    worker = IngestWorker(
        HOST, PORT, handle=sink, client_id=client_id, group=names.group, session_expiry_s=60
    )
    start = time.monotonic()
    with running(worker), Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
        publish_stream(pub, names.org, n, per)
        pub.flush()
        wait_for(lambda: landed(sink.path).messages == n, "not every message landed")
    took = time.monotonic() - start

    got = landed(sink.path)
    assert (got.readings, got.total) == expected(n, per)
    log.warning(
        "stream of %d messages x %d readings: %.2f s end to end, %d duplicates, stats %s",
        n,
        per,
        took,
        got.duplicates,
        worker.stats,
    )
    assert worker.stats.handle_failures == 0
    if worker.stats.reconnects == 0:
        assert got.duplicates == 0
        assert worker.stats.acked == worker.stats.received >= n
    # Everything was acknowledged: the broker has nothing left for this client id.
    assert drain(names, client_id) == []


# --- 2. a shared group splits the load ---------------------------------------------------------


def test_shared_group_splits_the_load(names: Names, tmp_path: Path) -> None:
    n, per = 2000, 50
    sinks = [SqliteSink(tmp_path / f"{w}.db", names.org, name=w) for w in ("a", "b")]
    workers = [
        IngestWorker(
            HOST,
            PORT,
            handle=sink,
            client_id=names.client(f"w{sink.name}"),
            group=names.group,
            max_messages=200,
            session_expiry_s=60,
        )
        for sink in sinks
    ]
    paths = [s.path for s in sinks]
    with running(workers[0]), running(workers[1]):
        with Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
            publish_stream(pub, names.org, n, per)
        wait_for(lambda: landed(*paths).messages == n, "not every message landed")

    got = landed(*paths)
    assert (got.readings, got.total) == expected(n, per)
    log.warning(
        "shared group: per worker %s, %d duplicates from QoS 1", got.per_worker, got.duplicates
    )
    assert len(got.per_worker) == 2 and min(got.per_worker.values()) > 0, got.per_worker
    if all(w.stats.reconnects == 0 for w in workers):
        assert got.duplicates == 0


# --- 3. a failing handle: nothing acknowledged before it succeeds -------------------------------


class Flaky:
    """Fails the first ``failures`` calls; records each batch and the acks sent before it."""

    def __init__(self, sink: SqliteSink, failures: int) -> None:
        self.sink, self.failures = sink, failures
        self.worker: IngestWorker | None = None
        self.calls: list[tuple[list[tuple[str, int]], int]] = []

    def __call__(self, batch: Sequence[Message]) -> None:
        assert self.worker is not None
        self.calls.append(([(m.topic, m.mid) for m in batch], self.worker.stats.acked))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the database is away")
        self.sink(batch)


def test_failing_handle_is_retried_and_nothing_is_acked_before(
    names: Names, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n, per = 300, 20
    flaky = Flaky(SqliteSink(tmp_path / "sink.db", names.org), failures=2)
    worker = IngestWorker(
        HOST,
        PORT,
        handle=flaky,
        client_id=names.client("w"),
        group=names.group,
        retry_min_s=0.1,
        session_expiry_s=60,
    )
    flaky.worker = worker
    with running(worker), Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
        publish_stream(pub, names.org, n, per)
        pub.flush()
        wait_for(lambda: landed(flaky.sink.path).messages == n, "not every message landed")

    (first, acked0), (second, acked1), (third, acked2) = flaky.calls[:3]
    assert acked0 == acked1 == acked2 == 0  # nothing acknowledged while handle failed
    assert first == second == third  # the same batch, retried
    assert worker.stats.handle_failures == 2
    got = landed(flaky.sink.path)
    assert (got.readings, got.total) == expected(n, per)
    assert "retrying in" in caplog.text


def test_worker_stopped_while_handle_fails_leaves_everything_to_its_successor(
    names: Names, tmp_path: Path
) -> None:
    n, per = 300, 20
    client_id = names.client("w")
    calls: list[int] = []

    def broken(batch: Sequence[Message]) -> None:
        calls.append(len(batch))
        raise RuntimeError("the database is away")

    first = IngestWorker(
        HOST,
        PORT,
        handle=broken,
        client_id=client_id,
        group=names.group,
        retry_min_s=0.1,
        session_expiry_s=60,
    )
    with running(first), Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
        publish_stream(pub, names.org, n, per)
        pub.flush()
        wait_for(lambda: len(calls) >= 3, "handle was not retried")
    assert first.stats.acked == 0

    sink = SqliteSink(tmp_path / "sink.db", names.org)
    second = IngestWorker(
        HOST, PORT, handle=sink, client_id=client_id, group=names.group, session_expiry_s=60
    )
    with running(second):
        wait_for(lambda: landed(sink.path).messages == n, "the successor did not get everything")
    got = landed(sink.path)
    assert (got.readings, got.total) == expected(n, per)
    assert second.stats.redelivered > 0  # the broker resent what the first had in hand


# --- 4. SIGKILL the worker process mid-stream, start it again ----------------------------------


def spawn_worker(db: Path, client_id: str, names: Names, log_path: Path) -> subprocess.Popen[str]:
    """``python -m tests.mqtt_fixtures`` as a worker process; returns once it has subscribed."""
    with log_path.open("a") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mqtt_fixtures", str(db), client_id, *names.pair],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "ready":
        proc.kill()
        proc.communicate()
        pytest.fail(f"worker process not ready: {line!r}; see {log_path}")
    return proc


def test_killed_worker_restarted_with_same_client_id_loses_nothing(
    names: Names, tmp_path: Path
) -> None:
    n, per = 3000, 20
    db, errors = tmp_path / "sink.db", tmp_path / "worker.log"
    SqliteSink(db, names.org).close()  # create the tables before two processes race to
    client_id = names.client("w")
    proc = spawn_worker(db, client_id, names, errors)
    with Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
        publisher = threading.Thread(
            target=publish_stream, args=(pub, names.org, n, per), kwargs={"pace_per_s": 1000}
        )
        publisher.start()
        wait_for(lambda: landed(db).messages >= 600, "the first worker ingested nothing", 20)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        killed_at = landed(db).messages
        proc = spawn_worker(db, client_id, names, errors)
        publisher.join(60)
        pub.flush()
    try:
        wait_for(lambda: landed(db).messages == n, "not every message landed")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, errors.read_text()

    got = landed(db)
    assert (got.readings, got.total) == expected(n, per)
    assert 0 < killed_at < n  # the kill was mid-stream
    log.warning(
        "killed after %d of %d messages; %d delivered twice; successor: %s",
        killed_at,
        n,
        got.duplicates,
        out.strip(),
    )


# --- 5. restart Mosquitto mid-stream ------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "plain"])
def test_broker_restart_mid_stream_loses_nothing(
    names: Names, tmp_path: Path, shared: bool
) -> None:
    require_mqtt(restartable=True)
    n, per = 3000, 20
    sink = SqliteSink(tmp_path / "sink.db", names.org)
    worker = IngestWorker(
        HOST,
        PORT,
        handle=sink,
        client_id=names.client("w"),
        group=names.group,
        shared=shared,
        session_expiry_s=60,
    )
    with running(worker), Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
        publisher = threading.Thread(
            target=publish_stream, args=(pub, names.org, n, per), kwargs={"pace_per_s": 1000}
        )
        publisher.start()
        wait_for(lambda: landed(sink.path).messages >= 600, "nothing ingested", 20)
        restart_mosquitto(down_s=0.5)
        restarted_at = landed(sink.path).messages
        publisher.join(60)
        pub.flush(60)
        wait_for(lambda: landed(sink.path).messages == n, "not every message landed")

    got = landed(sink.path)
    assert (got.readings, got.total) == expected(n, per)
    assert restarted_at < n  # the restart was mid-stream
    assert worker.stats.reconnects >= 1
    assert worker.stats.sessions_lost == 0  # the broker's persistence kept the session
    log.warning(
        "broker restarted after %d of %d messages (%s): %d duplicates, publisher %s, worker %s",
        restarted_at,
        n,
        "shared" if shared else "plain",
        got.duplicates,
        pub.stats,
        worker.stats,
    )


# --- the publisher alone ------------------------------------------------------------------------


def test_publisher_retries_unrouted_messages_and_flush_says_so(names: Names) -> None:
    topic = f"shuangtan-test/{names.uid}/nobody"  # outside the scheme: no worker subscribes
    with Publisher(HOST, PORT, client_id=names.client("pub"), unrouted_retry_s=0.2) as pub:
        pub.publish(topic, b"{}")
        with pytest.raises(TimeoutError, match=r"1 messages .* \(1 of them answered 'no matching"):
            pub.flush(timeout_s=1.0)
        assert pub.stats.unrouted >= 2  # published again
        pub.close()  # drops it; __exit__ does not flush a closed publisher
    with Publisher(HOST, PORT, client_id=names.client("pub2"), retry_unrouted=False) as pub:
        pub.publish(topic, b"{}")
        pub.flush(timeout_s=5)
        assert (pub.stats.unrouted, pub.stats.acked, pub.outstanding) == (1, 1, 0)


def test_publisher_window_bounds_messages_in_flight(names: Names) -> None:
    worst = 0
    with Publisher(
        HOST, PORT, client_id=names.client("pub"), window=10, retry_unrouted=False
    ) as pub:
        for seq in range(500):
            pub.publish(*message(names.org, seq, 1))
            worst = max(worst, pub.outstanding)
    assert 0 < worst <= 10


def test_publisher_needs_a_broker() -> None:
    with pytest.raises(ConnectionError, match="no MQTT connection"):
        Publisher("127.0.0.1", 1, client_id=f"nobody-{uuid.uuid4().hex}", connect_timeout_s=0.5)


# --- what the design relies on: Mosquitto keeps an offline member's share for it -----------------


def test_broker_keeps_an_offline_members_share_for_it(names: Names, tmp_path: Path) -> None:
    """A member of a shared group that went away keeps receiving its share (queued in its
    session) and gets it when it comes back with its client id; the other member never does."""
    n, per = 200, 5
    sinks = {w: SqliteSink(tmp_path / f"{w}.db", names.org, name=w) for w in ("a", "b")}
    make = {
        w: (
            lambda w=w: IngestWorker(
                HOST,
                PORT,
                handle=sinks[w],
                client_id=f"w{w}-{names.uid}",
                group=names.group,
                session_expiry_s=60,
            )
        )
        for w in sinks
    }
    names.used += [f"wa-{names.uid}", f"wb-{names.uid}"]
    with running(make["a"]()):
        with running(make["b"]()):
            pass  # b joined the group, and left
        with Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
            publish_stream(pub, names.org, n, per)
        time.sleep(1.0)
        alone = landed(sinks["a"].path).messages
        with running(make["b"]()):
            wait_for(
                lambda: landed(*(s.path for s in sinks.values())).messages == n,
                "b did not get its share back",
            )
    log.warning("a, alone in the group, got %d of %d; b got the rest on its return", alone, n)
    assert 0 < alone < n
    assert landed(sinks["b"].path).messages == n - alone


def test_broker_queue_overflow_is_reported(names: Names, tmp_path: Path) -> None:
    """A stalled worker: what the broker cannot queue for it is lost, and the worker says so.

    With Mosquitto's default ``max_queued_messages 1000`` the broker holds ``receive_maximum``
    messages in flight plus 1000 queued per client and drops the rest (the publisher still
    gets PUBACK success). Whatever the broker's limits, every message that did not arrive
    must be counted in ``stats.broker_dropped``.
    """
    n = 1500
    release = threading.Event()
    sink = SqliteSink(tmp_path / "sink.db", names.org)

    def stalled(batch: Sequence[Message]) -> None:
        release.wait(30)
        sink(batch)

    worker = IngestWorker(
        HOST,
        PORT,
        handle=stalled,
        client_id=names.client("w"),
        group=names.group,
        receive_maximum=10,
        max_messages=10,
        session_expiry_s=60,
    )
    with running(worker):
        with Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
            publish_stream(pub, names.org, n, 1)
        release.set()

        def settled() -> bool:
            before = worker.stats.acked
            time.sleep(0.5)
            return worker.stats.acked == worker.stats.received == before

        wait_for(settled, "the worker did not settle", 30)
        lost = n - landed(sink.path).messages
        if lost:  # Mosquitto publishes $SYS counters every 10 s (sys_interval)
            wait_for(lambda: worker.stats.broker_dropped >= lost, "drops not reported", 25)
    log.warning("stalled worker: %d of %d lost, %s", lost, n, worker.stats)
    assert worker.stats.broker_dropped >= lost


def test_idle_worker_reconnects_and_keeps_working(names: Names, tmp_path: Path) -> None:
    """The watchdog against a broker that stops sending: reconnect when idle, lose nothing."""
    sink = SqliteSink(tmp_path / "sink.db", names.org)
    worker = IngestWorker(
        HOST,
        PORT,
        handle=sink,
        client_id=names.client("w"),
        group=names.group,
        idle_reconnect_s=0.5,
        session_expiry_s=60,
    )
    with running(worker):
        wait_for(lambda: worker.stats.idle_reconnects >= 2, "no idle reconnection", 10)
        wait_for(worker.subscribed.is_set, "not subscribed again", 10)
        with Publisher(HOST, PORT, client_id=names.client("pub")) as pub:
            publish_stream(pub, names.org, 200, 5)
        wait_for(lambda: landed(sink.path).messages == 200, "not every message landed")
    assert worker.stats.sessions_lost == 0
    assert (landed(sink.path).readings, landed(sink.path).total) == expected(200, 5)

"""MQTT 5 transport for meter readings: topics, an at-least-once ingest worker, a publisher.

Transport only: this module moves bytes between an MQTT broker and a ``handle`` callable; it
does not decode payloads, resolve meters or store anything. The topic scheme, the delivery
guarantees and what Mosquitto does with shared subscriptions are in ``docs/platform/mqtt.md``.

Topics::

    shuangtan/v1/<org code>/readings               {"readings": [{"meter": …, "ts": …, "value": …}]}
    shuangtan/v1/<org code>/<meter code>/readings  {"readings": [{"ts": …, "value": …}]}

Delivery is *at least once*: :class:`IngestWorker` acknowledges a message (PUBACK) only after
``handle`` returned for the batch that holds it, so ``handle`` must be idempotent (store readings
keyed on meter and timestamp). :class:`Publisher` keeps every QoS 1 message until the broker
acknowledged it and resends it after a reconnect.

Threads. Both classes run paho's network loop in its own thread (``loop_start``). The worker's
``on_message`` only appends to a queue; batching, ``handle`` and acknowledgements run in the
thread that called :meth:`IngestWorker.run`. ``Client.ack`` from that thread is safe in paho
2.2: it appends one PUBACK packet to a ``collections.deque`` (atomic under the GIL) and writes a
byte to the socket pair that wakes the network thread; it takes no lock and touches no other
state. What is *not* safe is acknowledging, on a new connection, a message received on an older
one (the broker resends it with the same packet id, and a second PUBACK for that id could
acknowledge an unrelated later message), so every :class:`Message` carries the number of the
connection it came on and only messages of the current connection are acknowledged; the others
are handled anyway (they are in hand) and acknowledged when their resent copy comes back.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from shuangtan.errors import InputError

__all__ = [
    "CODE_PATTERN",
    "TOPIC_ROOT",
    "DeliveryError",
    "IngestStats",
    "IngestWorker",
    "Message",
    "Publisher",
    "PublisherStats",
    "parse_topic",
    "readings_topic",
    "topic_filters",
]

#: First two levels of every shuangtan topic; ``v1`` changes with an incompatible payload.
TOPIC_ROOT: Final = "shuangtan/v1"

#: Organisation and meter codes in topics: letters, digits, ``-``, ``_`` and ``.``, 1–64 long.
CODE_PATTERN: Final = r"[A-Za-z0-9._-]{1,64}"

_CODE = re.compile(CODE_PATTERN)
_LEAF: Final = "readings"

#: Mosquitto's broker-wide count of messages dropped because a queue was full.
_DROPPED: Final = "$SYS/broker/publish/messages/dropped"

#: PUBACK reason code "No matching subscribers" (MQTT 5, 0x10).
_NO_MATCHING_SUBSCRIBERS: Final = 0x10


# --- topics --------------------------------------------------------------------------------


def _check_code(code: str, what: str) -> str:
    if not isinstance(code, str) or _CODE.fullmatch(code) is None:
        raise InputError(
            f"{what} code {code!r} cannot be a topic level: use 1 to 64 letters, digits, "
            "'-', '_' or '.'",
            field="topic",
        )
    return code


def readings_topic(org_code: str, meter_code: str | None = None) -> str:
    """The topic readings of an organisation, or of one of its meters, are published on.

    Parameters
    ----------
    org_code : str
        Code of the organisation the readings belong to.
    meter_code : str or None
        Code of the meter when every reading of the message is of that meter; ``None`` for the
        organisation's topic, where each reading names its meter.

    Returns
    -------
    str
        ``shuangtan/v1/<org>/readings`` or ``shuangtan/v1/<org>/<meter>/readings``.

    Raises
    ------
    InputError
        A code that is not a valid topic level (field ``topic``).
    """
    levels = [TOPIC_ROOT, _check_code(org_code, "organisation")]
    if meter_code is not None:
        levels.append(_check_code(meter_code, "meter"))
    levels.append(_LEAF)
    return "/".join(levels)


def parse_topic(topic: str) -> tuple[str, str | None]:
    """The organisation code and meter code (or ``None``) a readings topic names.

    Parameters
    ----------
    topic : str
        A topic as received, e.g. ``shuangtan/v1/park-01/m-17/readings``.

    Returns
    -------
    tuple of (str, str or None)
        ``(org_code, meter_code)``; ``meter_code`` is ``None`` on the organisation's topic.

    Raises
    ------
    InputError
        Anything other than the two readings topics of :func:`readings_topic` (field ``topic``).
    """
    levels = topic.split("/") if isinstance(topic, str) else []
    if (
        len(levels) in (4, 5)
        and "/".join(levels[:2]) == TOPIC_ROOT
        and levels[-1] == _LEAF
        and all(_CODE.fullmatch(level) for level in levels[2:-1])
    ):
        return levels[2], (levels[3] if len(levels) == 5 else None)
    raise InputError(
        f"{topic!r} is not a readings topic ({TOPIC_ROOT}/<org>/readings or "
        f"{TOPIC_ROOT}/<org>/<meter>/readings)",
        field="topic",
    )


def topic_filters(
    group: str = "shuangtan-ingest", *, shared: bool = True, orgs: Sequence[str] = ()
) -> tuple[str, ...]:
    """The subscriptions of an ingest worker.

    Parameters
    ----------
    group : str
        Shared-subscription group: the members of one group split the messages between them.
    shared : bool
        ``False`` for plain subscriptions (every worker gets every message).
    orgs : sequence of str
        Organisation codes to take readings of; empty for all. Workers given disjoint
        organisations each see whole meter streams (see docs/platform/mqtt.md, scaling out).

    Returns
    -------
    tuple of str
        ``$share/<group>/shuangtan/v1/+/readings`` and ``$share/<group>/shuangtan/v1/+/+/readings``
        (without the ``$share/<group>/`` prefix when not shared), or the two filters of each
        organisation in ``orgs`` with ``+`` replaced by its code.
    """
    for org in orgs:
        _check_code(org, "org")
    levels = [(f"{org}", f"{org}/+") for org in orgs] or [("+", "+/+")]
    plain = tuple(f"{TOPIC_ROOT}/{level}/{_LEAF}" for pair in levels for level in pair)
    if not shared:
        return plain
    _check_code(group, "group")
    return tuple(f"$share/{group}/{f}" for f in plain)


# --- the ingest worker -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """One received MQTT message, as handed to ``handle``.

    Attributes
    ----------
    topic : str
        Topic it was published on (see :func:`parse_topic`).
    payload : bytes
        Payload, undecoded.
    mid : int
        Packet id the broker gave it on this connection; acknowledged after ``handle``.
    qos : int
        QoS it was delivered with (1 unless the publisher used 0).
    dup : bool
        The broker's DUP flag: a resend of a message it had sent before (after a reconnect).
    received_at : float
        When it arrived, Unix time. [s]
    connection : int
        Number of the worker's connection it arrived on (it changes on every connection and
        disconnection); only messages of the current connection are acknowledged.
    """

    topic: str
    payload: bytes
    mid: int
    qos: int = 1
    dup: bool = False
    received_at: float = 0.0
    connection: int = 0


@dataclass(slots=True)
class IngestStats:
    """Counters of an :class:`IngestWorker`; each is written by one thread, read by any.

    Attributes
    ----------
    received : int
        Messages received (resends included).
    redelivered : int
        Of those, resends flagged DUP by the broker.
    acked : int
        Messages acknowledged after ``handle`` succeeded.
    not_acked : int
        Messages handled but not acknowledged because the connection they came on was gone (the
        broker resends them; ``handle`` sees them twice).
    batches : int
        Batches handled successfully.
    handle_failures : int
        Calls of ``handle`` that raised.
    connects : int
        Successful connections (CONNACK success).
    reconnects : int
        Connections after the first.
    sessions_lost : int
        Reconnections on which the broker had no session for the worker (queued messages gone).
    subscribe_failures : int
        Subscriptions the broker refused.
    broker_dropped : int
        Messages the broker reported dropping (``$SYS/broker/publish/messages/dropped``) since
        the worker started, for any client: a broker-wide alarm that queues overflowed.
    idle_reconnects : int
        Reconnections made because nothing arrived for ``idle_reconnect_s``.
    """

    received: int = 0
    redelivered: int = 0
    acked: int = 0
    not_acked: int = 0
    batches: int = 0
    handle_failures: int = 0
    connects: int = 0
    reconnects: int = 0
    sessions_lost: int = 0
    subscribe_failures: int = 0
    broker_dropped: int = 0
    idle_reconnects: int = 0


def _connect_properties(session_expiry_s: int, receive_maximum: int | None) -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    return properties


def _reason_value(reason: ReasonCode | int | None) -> int:
    if reason is None:
        return 0
    if isinstance(reason, ReasonCode):
        return int(reason.value)
    return int(reason)


class IngestWorker:
    """Receive readings messages and hand them over in batches; acknowledge after handling.

    Parameters
    ----------
    host, port : str, int
        The broker.
    handle : callable
        Called with each batch (a sequence of :class:`Message`), in the thread of :meth:`run`.
        It must be idempotent: after a crash, a reconnection or its own failure the same
        messages come again. A message is acknowledged only after ``handle`` returned for its
        batch; if it raises, the batch is retried after a back-off, unacknowledged.
    client_id : str
        MQTT client id. Keep it stable across restarts of the same worker: the broker keeps its
        session (its subscriptions and the messages queued for it) under this id for
        ``session_expiry_s``, and only a worker with this id gets them.
    group : str
        Shared-subscription group.
    shared : bool
        Subscribe ``$share/<group>/…`` (the members of the group split the messages) or the
        plain filters (every worker gets every message).
    orgs : sequence of str
        Only these organisations' topics (see :func:`topic_filters`); empty for all.
    max_messages : int
        Largest batch. Keep it at most ``receive_maximum``: the broker sends no more than that
        many unacknowledged messages.
    max_wait_s : float
        Longest wait for a batch to fill after its first message. [s]
    receive_maximum : int
        MQTT 5 Receive Maximum: unacknowledged messages the broker may have in flight to us.
    session_expiry_s : int
        How long the broker keeps the session after a disconnection. [s]
    keepalive_s : int
        MQTT keep-alive. [s]
    logger : logging.Logger or None
        Where to log; ``shuangtan.adapters.mqtt`` by default.
    retry_min_s, retry_max_s : float
        Back-off between attempts of a failed ``handle`` (doubling). [s]
    reconnect_min_s, reconnect_max_s : int
        Back-off between connection attempts (doubling, paho's). [s]
    watch_broker_drops : bool
        Also subscribe to Mosquitto's ``$SYS/broker/publish/messages/dropped`` and log an error
        (and count ``stats.broker_dropped``) when it grows: Mosquitto drops QoS 1 messages for a
        client whose queue is full and tells the publisher nothing.
    idle_reconnect_s : float or None
        Reconnect (same session) after this long without a message while nothing is in hand.
        Mosquitto 2.0.11 sometimes stops sending to a connected client after a burst and
        resumes only on reconnection (see docs/platform/mqtt.md); ``None`` never does. [s]

    Attributes
    ----------
    stats : IngestStats
        Counters.
    subscribed : threading.Event
        Set once the broker accepted both subscriptions on the current connection; cleared on
        disconnection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        handle: Callable[[Sequence[Message]], None],
        client_id: str,
        group: str = "shuangtan-ingest",
        shared: bool = True,
        orgs: Sequence[str] = (),
        max_messages: int = 500,
        max_wait_s: float = 0.2,
        receive_maximum: int = 1000,
        session_expiry_s: int = 3600,
        keepalive_s: int = 30,
        logger: logging.Logger | None = None,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        watch_broker_drops: bool = True,
        idle_reconnect_s: float | None = 30.0,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is required: the broker keeps the session under it")
        if max_messages < 1 or max_wait_s < 0:
            raise ValueError("max_messages must be at least 1 and max_wait_s at least 0")
        if not 1 <= receive_maximum <= 65535:
            raise ValueError("receive_maximum must be in 1..65535")
        self.host = host
        self.port = port
        self.handle = handle
        self.client_id = client_id
        self.filters = topic_filters(group, shared=shared, orgs=orgs)
        self.max_messages = max_messages
        self.max_wait_s = max_wait_s
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.log = logger or logging.getLogger(__name__)
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.watch_broker_drops = watch_broker_drops
        self.idle_reconnect_s = idle_reconnect_s
        self.stats = IngestStats()
        self.subscribed = threading.Event()
        self._inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        # The connection number changes under this lock, and acknowledgements are sent under it,
        # so no PUBACK of an older connection goes out on a newer one.
        self._connection_lock = threading.Lock()
        self._connection = 0
        self._running = False
        self._subscribe_mid: int | None = None
        self._dropped_seen: int | None = None
        self._last_received = time.monotonic()
        self._quiet_disconnect = False
        self._idle_restart = False

    # -- paho callbacks (network thread) --

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.log.error("mqtt: %s refused the connection: %s", self._where(), reason)
            return
        with self._connection_lock:
            self._connection += 1
            number = self._connection
        self.stats.connects += 1
        if number > 1:
            self.stats.reconnects += 1
            if not flags.session_present:
                self.stats.sessions_lost += 1
                self.log.warning(
                    "mqtt: %s had no session for %s on reconnection; messages queued for it "
                    "while it was away are lost",
                    self._where(),
                    self.client_id,
                )
        quiet, self._idle_restart = self._idle_restart, False
        self.log.log(
            logging.DEBUG if quiet and flags.session_present else logging.INFO,
            "mqtt: connected to %s as %s (connection %d, session present: %s)",
            self._where(),
            self.client_id,
            number,
            flags.session_present,
        )
        # Subscribe on every connection: Mosquitto 2.0 does not restore shared subscriptions
        # from its persistence file, and a lost session has none.
        _, self._subscribe_mid = client.subscribe(
            [(f, SubscribeOptions(qos=1)) for f in self.filters]
        )
        if self.watch_broker_drops:
            client.subscribe(_DROPPED, qos=0)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return  # the $SYS subscription: brokers without it or denying it are fine
        refused = [(f, str(r)) for f, r in zip(self.filters, reasons, strict=False) if r.is_failure]
        if refused:
            self.stats.subscribe_failures += len(refused)
            self.log.error("mqtt: %s refused subscriptions %s", self._where(), refused)
            return
        self.log.info("mqtt: subscribed to %s (QoS 1)", ", ".join(self.filters))
        self.subscribed.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._connection_lock:
            self._connection += 1  # no connection has this number: nothing in hand gets acked
        self.subscribed.clear()
        if self._running and not self._quiet_disconnect:
            self.log.warning("mqtt: disconnected from %s: %s; reconnecting", self._where(), reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse such topics; keep it visible to handle
            topic = bytes(message._topic).decode("utf-8", "replace")
        self._last_received = time.monotonic()
        self.stats.received += 1
        if message.dup:
            self.stats.redelivered += 1
        self._inbox.put(
            Message(
                topic=topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                dup=bool(message.dup),
                received_at=time.time(),
                connection=self._connection,
            )
        )

    def _on_dropped(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        """Mosquitto's count of dropped messages (every 10 s by default, retained)."""
        try:
            value = int(message.payload)
        except ValueError:
            return
        last, self._dropped_seen = self._dropped_seen, value
        if last is None:
            return  # the first value is the baseline
        new = value if value < last else value - last  # smaller: the broker restarted
        if new > 0:
            self.stats.broker_dropped += new
            self.log.error(
                "mqtt: %s dropped %d messages (broker-wide count; a client's queue is full: "
                "max_queued_messages, see docs/platform/mqtt.md)",
                self._where(),
                new,
            )

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self.log.warning("mqtt: cannot connect to %s; retrying", self._where())

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the run thread --

    def _client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_connect_fail = self._on_connect_fail
        client.message_callback_add(_DROPPED, self._on_dropped)
        client.reconnect_delay_set(self.reconnect_min_s, self.reconnect_max_s)
        return client

    def run(self, stop: threading.Event | None = None) -> None:
        """Receive, batch, handle and acknowledge until ``stop`` is set.

        Connects with MQTT 5, ``clean_start=False`` and the session expiry, subscribes QoS 1 to
        both readings filters on every connection, and reconnects with back-off for ever when
        the broker goes away. Returns when ``stop`` is set, after finishing the batch in hand
        (or abandoning it unacknowledged when ``handle`` keeps failing); messages still queued
        locally are not acknowledged and come again on the next run with this ``client_id``.

        Parameters
        ----------
        stop : threading.Event or None
            Set it (from another thread or a signal handler) to stop. ``None`` runs for ever.
        """
        if self._running:
            raise RuntimeError("this IngestWorker is already running")
        stop = stop if stop is not None else threading.Event()
        self._running = True
        client = self._start()
        try:
            while not stop.is_set():
                batch = self._collect(stop)
                if batch:
                    self._deliver(client, batch, stop)
                elif self._stalled():
                    self.stats.idle_reconnects += 1
                    self.log.debug(
                        "mqtt: nothing received for %g s; reconnecting %s (a stalled broker "
                        "delivers what it held back)",
                        self.idle_reconnect_s,
                        self.client_id,
                    )
                    self._stop(client)
                    self._idle_restart = True
                    client = self._start()
        finally:
            self._running = False
            self._stop(client)

    def _start(self) -> paho.Client:
        client = self._client()
        self._last_received = time.monotonic()
        client.connect_async(
            self.host,
            self.port,
            keepalive=self.keepalive_s,
            clean_start=False,
            properties=_connect_properties(self.session_expiry_s, self.receive_maximum),
        )
        client.loop_start()
        return client

    def _stop(self, client: paho.Client) -> None:
        self._quiet_disconnect = True
        try:
            client.disconnect()
            client.loop_stop()
        finally:
            self._quiet_disconnect = False
            self.subscribed.clear()

    def _stalled(self) -> bool:
        """Subscribed, nothing in hand, and nothing received for ``idle_reconnect_s``."""
        return (
            self.idle_reconnect_s is not None
            and self.subscribed.is_set()
            and self._inbox.empty()
            and time.monotonic() - self._last_received > self.idle_reconnect_s
        )

    def _collect(self, stop: threading.Event) -> list[Message]:
        """Up to ``max_messages``, waiting at most ``max_wait_s`` after the first one."""
        batch: list[Message] = []
        try:
            batch.append(self._inbox.get(timeout=0.2))
        except queue.Empty:
            return batch  # let run() check stop and idleness
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_messages:
            try:
                batch.append(self._inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop.is_set():
                break
            try:
                batch.append(self._inbox.get(timeout=min(remaining, 0.05)))
            except queue.Empty:
                continue
        return batch

    def _deliver(self, client: paho.Client, batch: list[Message], stop: threading.Event) -> None:
        """``handle(batch)`` until it succeeds (then acknowledge) or ``stop`` is set."""
        delay = self.retry_min_s
        while True:
            try:
                self.handle(batch)
                break
            except Exception:
                self.stats.handle_failures += 1
                self.log.exception(
                    "mqtt: handling a batch of %d messages failed; retrying in %.1f s "
                    "(nothing acknowledged)",
                    len(batch),
                    delay,
                )
                if stop.wait(delay):
                    self.log.warning(
                        "mqtt: stopping with %d unhandled messages (not acknowledged; they "
                        "come again to %s)",
                        len(batch),
                        self.client_id,
                    )
                    return
                delay = min(delay * 2, self.retry_max_s)
        self.stats.batches += 1
        acked = 0
        with self._connection_lock:
            current = self._connection
            for message in batch:
                if message.connection == current:
                    client.ack(message.mid, message.qos)
                    acked += 1
        self.stats.acked += acked
        self.stats.not_acked += len(batch) - acked


# --- the publisher ---------------------------------------------------------------------------


class DeliveryError(RuntimeError):
    """The broker refused messages (a PUBACK with an error reason code)."""


@dataclass(slots=True)
class PublisherStats:
    """Counters of a :class:`Publisher`.

    Attributes
    ----------
    published : int
        Messages given to :meth:`Publisher.publish`.
    acked : int
        Messages the broker accepted (PUBACK success, or "no matching subscribers" when not
        retried).
    unrouted : int
        PUBACKs "no matching subscribers" received (each retry counts).
    rejected : int
        Messages the broker refused (PUBACK reason code 0x80 or above).
    connects : int
        Successful connections.
    """

    published: int = 0
    acked: int = 0
    unrouted: int = 0
    rejected: int = 0
    connects: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class Publisher:
    """QoS 1 publisher with a window of unacknowledged messages; a context manager.

    At most ``window`` messages are unacknowledged at any time: :meth:`publish` blocks while
    the window is full (paho alone queues without limit, slows down with a long queue and fails
    with ``MQTT_ERR_QUEUE_SIZE`` beyond 65,535 outstanding). Connects with MQTT 5,
    ``clean_start=False`` and a session expiry, and reconnects with back-off; messages not yet
    acknowledged are kept in memory and resent on the next connection (with DUP set), so a
    broker restart loses nothing that :meth:`flush` reported delivered.

    Parameters
    ----------
    host, port : str, int
        The broker.
    client_id : str
        MQTT client id.
    window : int
        Most messages in flight (published, not yet acknowledged).
    session_expiry_s : int
        Session expiry. [s]
    keepalive_s : int
        MQTT keep-alive. [s]
    connect_timeout_s : float
        How long the constructor waits for the first connection before raising
        :class:`ConnectionError`. [s]
    retry_unrouted : bool
        A PUBACK "no matching subscribers" (0x10) means the broker dropped the message because
        nobody subscribes to its topic, e.g. after a broker restart before the ingest workers
        re-subscribed. With ``True`` (the default) the message stays outstanding and is
        published again after ``unrouted_retry_s``; :meth:`flush` waits for it.
    unrouted_retry_s : float
        Delay before publishing an unrouted message again. [s]
    logger : logging.Logger or None
        Where to log.

    Attributes
    ----------
    stats : PublisherStats
        Counters.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        window: int = 100,
        session_expiry_s: int = 300,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        retry_unrouted: bool = True,
        unrouted_retry_s: float = 0.5,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 1 <= window <= 65535:
            raise ValueError("window must be in 1..65535")
        self.host = host
        self.port = port
        self.client_id = client_id
        self.window = window
        self.retry_unrouted = retry_unrouted
        self.unrouted_retry_s = unrouted_retry_s
        self.log = logger or logging.getLogger(__name__)
        self.stats = PublisherStats()
        self._cond = threading.Condition()
        self._outstanding = 0  # published and not acknowledged, unrouted ones included
        # paho mid -> (topic, payload, answered "no matching subscribers" before)
        self._pending: dict[int, tuple[str, bytes, bool]] = {}
        self._early: dict[int, ReasonCode] = {}  # PUBACKs that came before _send recorded the mid
        self._unrouted: list[tuple[float, str, bytes]] = []  # (due, topic, payload)
        self._waiting_for_subscriber = 0
        self._rejected: list[str] = []
        self._closed = False
        self._connected = threading.Event()

        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        client.max_inflight_messages_set(window)
        client.max_queued_messages_set(0)  # the window bounds it
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(
            host,
            port,
            keepalive=keepalive_s,
            clean_start=False,
            properties=_connect_properties(session_expiry_s, None),
        )
        client.loop_start()
        if not self._connected.wait(connect_timeout_s):
            client.disconnect()
            client.loop_stop()
            raise ConnectionError(
                f"no MQTT connection to {host}:{port} within {connect_timeout_s:g} s"
            )
        self._retrier = threading.Thread(
            target=self._retry_loop, name=f"mqtt-unrouted-{client_id}", daemon=True
        )
        self._retrier.start()

    # -- paho callbacks (network thread; paho holds its message lock while calling them) --

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.log.error("mqtt: %s:%s refused the publisher: %s", self.host, self.port, reason)
            return
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.log.info("mqtt: publisher %s reconnected", self.client_id)
        self._connected.set()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._closed:
            self.log.warning(
                "mqtt: publisher %s disconnected: %s; %d messages outstanding, to be resent",
                self.client_id,
                reason,
                self._outstanding,
            )

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            message = self._pending.pop(mid, None)
            if message is None:
                self._early[mid] = reason
                return
            self._settle(message, reason)

    def _settle(self, message: tuple[str, bytes, bool], reason: ReasonCode) -> None:
        """Account for one PUBACK; called holding ``_cond``."""
        topic, payload, unrouted_before = message
        code, text = _reason_value(reason), str(reason)
        self.stats.reasons[text] = self.stats.reasons.get(text, 0) + 1
        if code == _NO_MATCHING_SUBSCRIBERS:
            self.stats.unrouted += 1
            if self.retry_unrouted and not self._closed:
                if not unrouted_before:
                    self._waiting_for_subscriber += 1
                self._unrouted.append((time.monotonic() + self.unrouted_retry_s, topic, payload))
                self._cond.notify_all()
                return
        if unrouted_before:
            self._waiting_for_subscriber -= 1
        if code >= 0x80:
            self.stats.rejected += 1
            self._rejected.append(f"{topic}: {text}")
            self.log.error("mqtt: broker refused a message on %s: %s", topic, text)
        else:
            self.stats.acked += 1
        self._outstanding -= 1
        self._cond.notify_all()

    # -- the caller's threads --

    def _send(self, topic: str, payload: bytes, unrouted_before: bool = False) -> None:
        """Hand one message to paho; the caller has counted it in ``_outstanding``."""
        try:
            info = self._client.publish(topic, payload, qos=1)
        except Exception:
            with self._cond:
                self._outstanding -= 1
                self._cond.notify_all()
            raise
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            with self._cond:
                self._outstanding -= 1
                self._cond.notify_all()
            raise RuntimeError(f"paho refused to publish on {topic}: {paho.error_string(info.rc)}")
        # NO_CONN: paho keeps the message and sends it on the next connection.
        with self._cond:
            reason = self._early.pop(info.mid, None)
            if reason is None:
                self._pending[info.mid] = (topic, payload, unrouted_before)
            else:
                self._settle((topic, payload, unrouted_before), reason)

    def publish(self, topic: str, payload: bytes, *, timeout_s: float | None = None) -> None:
        """Publish one message at QoS 1; blocks while ``window`` messages are unacknowledged.

        Parameters
        ----------
        topic : str
            Topic, e.g. from :func:`readings_topic`.
        payload : bytes
            Payload.
        timeout_s : float or None
            Longest wait for room in the window; ``None`` waits for ever. [s]

        Raises
        ------
        TimeoutError
            The window stayed full for ``timeout_s``.
        RuntimeError
            The publisher is closed, or paho refused the message.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while self._outstanding >= self.window:
                if self._closed:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"window of {self.window} still full after {timeout_s:g} s")
                self._cond.wait(0.5 if left is None else min(left, 0.5))
            if self._closed:
                raise RuntimeError("publisher is closed")
            self._outstanding += 1
            self.stats.published += 1
        self._send(topic, payload)

    def _retry_loop(self) -> None:
        """Publish unrouted messages again when they are due."""
        while True:
            with self._cond:
                while not self._closed:
                    now = time.monotonic()
                    due = [m for m in self._unrouted if m[0] <= now]
                    if due:
                        self._unrouted = [m for m in self._unrouted if m[0] > now]
                        break
                    wait = min((m[0] for m in self._unrouted), default=now + 0.5) - now
                    self._cond.wait(max(wait, 0.01))
                if self._closed:
                    return
            for _, topic, payload in due:
                self._send(topic, payload, unrouted_before=True)

    def flush(self, timeout_s: float = 60) -> None:
        """Wait until every message published so far is acknowledged.

        Parameters
        ----------
        timeout_s : float
            Longest wait. [s]

        Raises
        ------
        TimeoutError
            Messages still unacknowledged after ``timeout_s`` (the message says how many, and
            how many of them wait for a subscriber).
        DeliveryError
            The broker refused messages since the last flush.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._outstanding > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self._outstanding} messages not acknowledged by {self.host}:"
                        f"{self.port} after {timeout_s:g} s ({self._waiting_for_subscriber} "
                        "of them answered 'no matching subscribers')"
                    )
                self._cond.wait(min(left, 0.5))
            rejected, self._rejected = self._rejected, []
        if rejected:
            raise DeliveryError(
                f"the broker refused {len(rejected)} messages: " + "; ".join(rejected[:5])
            )

    @property
    def outstanding(self) -> int:
        """Messages published and not yet acknowledged."""
        return self._outstanding

    def close(self) -> None:
        """Disconnect. Messages not yet acknowledged are dropped (with a warning): flush first."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            left = self._outstanding
            self._cond.notify_all()
        if left:
            self.log.warning(
                "mqtt: publisher %s closed with %d messages unacknowledged", self.client_id, left
            )
        self._client.disconnect()
        self._client.loop_stop()
        self._retrier.join(timeout=5)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None and not self._closed:
                self.flush()
        finally:
            self.close()

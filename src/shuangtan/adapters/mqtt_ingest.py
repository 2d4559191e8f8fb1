"""MQTT messages of readings into the database: the ``handle`` of an ingest worker.

One batch of messages is one transaction: every reading of every message is stored,
counted as a duplicate or quarantined (a payload that cannot be read is quarantined whole,
with the topic), and only then does the worker acknowledge the messages. A crash before the
commit leaves the messages unacknowledged; the broker sends them again and the readings,
being idempotent, count once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Organization
from shuangtan.adapters.db.readings import IngestResult, ReadingsWriter, Syncer
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.adapters.gcpause import gc_paused
from shuangtan.adapters.mqtt import Message, parse_topic
from shuangtan.domain.readings import Channel, RawReading, Reason, Rejected
from shuangtan.errors import InputError
from shuangtan.services.readings import MeterInfo, plausible_stamps

__all__ = ["MqttIngest", "decode_message"]

_log = logging.getLogger("shuangtan.mqtt.ingest")
#: Tries of a message alone, after its batch failed, before it is quarantined whole.
ATTEMPTS = 3
#: Most characters of an unreadable payload kept in the quarantine.
PAYLOAD_KEPT = 2000


def decode_message(message: Message) -> tuple[str | None, list[RawReading], list[Rejected]]:
    """The organisation code and readings of a message, and what cannot be read.

    A payload that cannot be read at all (not JSON, not ``{"readings": [...]}``, a bad topic)
    is one refusal with no readings; an element of ``readings`` that is not an object is a
    refusal of its own, beside the readable ones.
    """
    ref = f"{message.topic}#{message.mid}"
    try:
        org_code, meter_code = parse_topic(message.topic)
    except InputError as exc:
        return None, [], [_malformed(message, ref, "topic", exc.message)]
    try:
        document = orjson.loads(message.payload)
    except orjson.JSONDecodeError as exc:
        return org_code, [], [_malformed(message, ref, "$", f"the payload is not JSON: {exc}")]
    if not isinstance(document, dict) or not isinstance(document.get("readings"), list):
        return org_code, [], [_malformed(message, ref, "$", 'must be {"readings": [...]}')]
    if b"\\u0000" in message.payload:
        # PostgreSQL text cannot hold NUL: no meter code, timestamp or unit has one.
        return org_code, [], [_malformed(message, ref, "$", "the payload holds NUL (\\u0000)")]
    raws: list[RawReading] = []
    refused: list[Rejected] = []
    # Once per reading: exact type tests and no calls in the common case.
    for i, item in enumerate(document["readings"]):
        if type(item) is not dict:
            refused.append(
                Rejected(
                    f"{ref}[{i}]",
                    Reason.MALFORMED,
                    "$",
                    "must be an object {meter, ts, value}",
                    {"topic": message.topic, "item": _cut(orjson.dumps(item))},
                )
            )
            continue
        meter = meter_code if meter_code is not None else item.get("meter")
        if type(meter) is not str:
            meter = "" if meter is None or isinstance(meter, bool) else str(meter)
        unit = item.get("unit")
        raws.append(
            RawReading(
                meter,
                item.get("ts"),
                item.get("value"),
                unit if unit is None or type(unit) is str else None,
                f"{ref}[{i}]",
            )
        )
    return org_code, raws, refused


def _refuse_all(refused: Rejected) -> Callable[[str], MeterInfo | Rejected]:
    def resolve(_ref: str) -> MeterInfo | Rejected:
        return refused

    return resolve


def _cut(payload: bytes) -> str:
    """At most :data:`PAYLOAD_KEPT` characters of a payload, as text."""
    text = payload[: PAYLOAD_KEPT * 4].decode("utf-8", "replace")[:PAYLOAD_KEPT]
    return text.replace("\x00", "\ufffd")  # JSONB cannot hold NUL


def _malformed(message: Message, ref: str, fieldname: str, why: str) -> Rejected:
    return Rejected(
        ref,
        Reason.MALFORMED,
        fieldname,
        why,
        {"topic": message.topic, "payload": _cut(message.payload)},
    )


@dataclass
class MqttIngest:
    """The ``handle`` of an :class:`~shuangtan.adapters.mqtt.IngestWorker`.

    Parameters
    ----------
    sessions : callable
        Makes sessions on the platform database.
    syncer : Syncer, optional
        Poked after each batch that changed a month of a metered source.
    """

    sessions: Callable[[], Session]
    syncer: Syncer | None = None
    total: IngestResult = field(default_factory=IngestResult)
    batches: int = 0

    def __call__(self, messages: Sequence[Message]) -> None:
        """Store one batch of messages in one transaction (raises if it cannot commit).

        If the batch fails while the database answers, one message is at fault (a case no
        check foresaw): the messages are stored one by one, each tried :data:`ATTEMPTS`
        times, and one that still fails is quarantined whole (``malformed``, with the error)
        so that it cannot stall the worker for ever. While the database does not answer, the
        batch fails and the worker retries it, unacknowledged.
        """
        with gc_paused():
            try:
                self._store(messages)
                return
            except Exception:
                if not self._database_answers():
                    raise
                _log.exception("mqtt: a batch of %d failed; one by one", len(messages))
            for message in messages:
                self._store_alone(message)

    def _store_alone(self, message: Message) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._store([message])
                return
            except Exception as exc:
                if not self._database_answers():
                    raise
                if attempt == ATTEMPTS:
                    _log.exception("mqtt: %s#%s quarantined", message.topic, message.mid)
                    self._quarantine_whole(message, exc)

    def _database_answers(self) -> bool:
        try:
            with self.sessions() as session:
                session.execute(select(1))
            return True
        except Exception:
            return False

    def _quarantine_whole(self, message: Message, exc: Exception) -> None:
        org_code: str | None
        try:
            org_code, _meter = parse_topic(message.topic)
        except InputError:
            org_code = None
        why = f"could not be stored ({type(exc).__name__}: {str(exc)[:200]})"
        rejected = _malformed(message, f"{message.topic}#{message.mid}", "$", why)
        now = dt.datetime.now(dt.UTC)
        with self.sessions() as session:
            org = (
                session.scalars(select(Organization).where(Organization.code == org_code)).first()
                if org_code
                else None
            )
            ReadingsWriter(session).quarantine(
                [rejected],
                channel=Channel.MQTT,
                user_id=None,
                org_id=org.id if org is not None else None,
                job_id=None,
                now=now,
            )
            session.commit()
        self.total.quarantined += 1

    def _store(self, messages: Sequence[Message]) -> None:
        now = dt.datetime.now(dt.UTC)
        by_org: dict[str, list[RawReading]] = {}
        unreadable: list[tuple[str | None, Rejected]] = []
        for message in messages:
            org_code, raws, refused = decode_message(message)
            unreadable.extend((org_code, rejected) for rejected in refused)
            if raws and org_code is not None:
                by_org.setdefault(org_code, []).extend(raws)
        batch_result = IngestResult()
        with self.sessions() as session:
            store = Store(session, SYSTEM)
            writer = ReadingsWriter(session)
            # Months first, in their own transaction: the batch's may store several
            # organisations, and a later one must not need a partition the earlier hold up.
            writer.ensure_partitions(
                plausible_stamps((raw.ts for raws in by_org.values() for raw in raws), now=now)
            )
            orgs = {
                org.code: org
                for org in session.scalars(
                    select(Organization).where(
                        Organization.code.in_(list(by_org) + [c for c, _ in unreadable if c])
                    )
                )
            }
            # Organisations in code order: every worker locks meters in one global order.
            for org_code, raws in sorted(by_org.items()):
                org = orgs.get(org_code)
                resolve: Callable[[str], MeterInfo | Rejected]
                if org is None:
                    no_org = Rejected(
                        "", Reason.UNKNOWN_METER, "meter", f"no organisation {org_code!r} (topic)"
                    )
                    resolve = _refuse_all(no_org)
                else:
                    resolve = store.meter_resolver(within=org)
                result = writer.ingest(
                    raws,
                    resolve=resolve,
                    now=now,
                    channel=Channel.MQTT,
                    org_id=org.id if org is not None else None,
                )
                batch_result.add(result)
            by_org_id: dict[int | None, list[Rejected]] = {}
            for org_code, rejected in unreadable:
                org = orgs.get(org_code) if org_code else None
                by_org_id.setdefault(org.id if org is not None else None, []).append(rejected)
            for org_id, refused in by_org_id.items():
                writer.quarantine(
                    refused, channel=Channel.MQTT, user_id=None, org_id=org_id, job_id=None, now=now
                )
            batch_result.quarantined += len(unreadable)
            session.commit()
        self.total.add(batch_result)
        self.batches += 1
        if batch_result.months and self.syncer is not None:
            self.syncer.poke()

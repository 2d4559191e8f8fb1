"""MQTT messages of readings into the database: the ``handle`` of an ingest worker.

One batch of messages is one transaction: every reading of every message is stored,
counted as a duplicate or quarantined (a payload that cannot be read is quarantined whole,
with the topic), and only then does the worker acknowledge the messages. A crash before the
commit leaves the messages unacknowledged; the broker sends them again and the readings,
being idempotent, count once.
"""

from __future__ import annotations

import datetime as dt
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
from shuangtan.services.readings import MeterInfo

__all__ = ["MqttIngest", "decode_message"]

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
    return payload[: PAYLOAD_KEPT * 4].decode("utf-8", "replace")[:PAYLOAD_KEPT]


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
        """Store one batch of messages in one transaction (raises if it cannot commit)."""
        with gc_paused():
            self._store(messages)

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
            orgs = {
                org.code: org
                for org in session.scalars(
                    select(Organization).where(
                        Organization.code.in_(list(by_org) + [c for c, _ in unreadable if c])
                    )
                )
            }
            for org_code, raws in by_org.items():
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

"""The MQTT handle: a bad-input corpus of messages ends in the quarantine, never half-applied.

``MqttIngest`` is called as the worker calls it (one batch of messages, one transaction), on
SQLite and PostgreSQL. The broker itself is exercised in test_mqtt_adapter.py and, through the
platform, in test_ingest_platform.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shuangtan.adapters.db.models import QuarantinedReading, Reading
from shuangtan.adapters.mqtt import Message
from shuangtan.adapters.mqtt_ingest import PAYLOAD_KEPT, MqttIngest, decode_message
from tests.platform_fixtures import Database
from tests.world import World

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
ORG_TOPIC = "shuangtan/v1/A1-F1/readings"


def at(n: int) -> str:
    """End of the n-th 15-minute interval of 2025-03-01 (local)."""
    return (dt.datetime(2025, 3, 1, tzinfo=SHANGHAI) + dt.timedelta(minutes=15 * n)).isoformat()


def message(topic: str, payload: Any, mid: int = 1) -> Message:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Message(topic, body, mid)


def quarantined(db: Database) -> list[QuarantinedReading]:
    with Session(db.engine) as session:
        return list(session.scalars(select(QuarantinedReading).order_by(QuarantinedReading.id)))


def stored(db: Database) -> int:
    with Session(db.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Reading)) or 0)


def handle(db: Database) -> MqttIngest:
    return MqttIngest(sessionmaker(db.engine, expire_on_commit=False))


def test_a_corpus_of_bad_messages_is_quarantined_with_reasons(db: Database, world: World) -> None:
    """Each unreadable payload is one quarantine row naming the topic; each bad reading of a
    readable payload is one row with its reason; the good readings of the batch are stored."""
    good = {"readings": [{"meter": "A1-S-EL-M", "ts": at(1), "value": 1.5}]}
    batch = [
        message(ORG_TOPIC, b"{not json", 1),
        message(ORG_TOPIC, [1, 2, 3], 2),
        message(ORG_TOPIC, {"readings": "many"}, 3),
        message("shuangtan/v1/NO-SUCH-ORG/readings", good, 4),
        message(
            ORG_TOPIC,
            {
                "readings": [
                    {"meter": "A1-S-EL-M", "ts": at(2), "value": 2.0},  # good
                    {"meter": "NO-SUCH-METER", "ts": at(3), "value": 1.0},
                    {"meter": "C1-S-EL-M", "ts": at(3), "value": 1.0},  # another org's
                    {"meter": "A1-S-EL-M", "ts": at(4), "value": "十二"},
                    {"meter": "A1-S-EL-M", "ts": at(5).removesuffix("+08:00"), "value": 1.0},
                    {"meter": "A1-S-EL-M", "ts": "2999-01-01T00:15:00+08:00", "value": 1.0},
                    {"meter": "A1-S-EL-M", "ts": at(6), "value": 1.0, "unit": "t"},
                    {"meter": "A1-S-EL-M", "ts": at(7), "value": -3.0},
                    "not an object",
                ]
            },
            5,
        ),
        message("shuangtan/v1/A1-F1/A1-S-EL-M/readings", {"readings": [{"ts": at(8), "value": 4}]}),
    ]
    ingest = handle(db)
    ingest(batch)
    assert stored(db) == 2  # at(2) on the org topic, at(8) on the meter topic
    rows = quarantined(db)
    got = [(r.reason, r.field) for r in rows]
    assert sorted(got) == sorted(
        [
            ("malformed", "$"),
            ("malformed", "$"),
            ("malformed", "$"),
            ("unknown_meter", "meter"),  # NO-SUCH-ORG: its reading has no organisation
            ("unknown_meter", "meter"),
            ("meter_not_in_org", "meter"),
            ("bad_value", "value"),
            ("no_timezone", "ts"),
            ("future_timestamp", "ts"),
            ("wrong_unit", "unit"),
            ("negative", "value"),
            ("malformed", "$"),  # the element that is not an object
        ]
    )
    assert all(r.message for r in rows) and {r.channel for r in rows} == {"mqtt"}
    malformed = [r for r in rows if r.reason == "malformed"]
    assert {r.raw["topic"] for r in malformed} == {ORG_TOPIC}
    assert any(r.raw.get("payload") == "{not json" for r in malformed)
    assert any(r.raw.get("item") == '"not an object"' for r in malformed)
    # Rows refused for access stay with the topic's organisation, never the meter's.
    foreign = next(r for r in rows if r.reason == "meter_not_in_org")
    assert (foreign.org_id, foreign.meter_id) == (world.org["A1-F1"], None)
    assert ingest.total.quarantined == len(rows) and ingest.total.stored == 2


def test_the_readings_of_the_org_less_topic_are_not_stored(db: Database, world: World) -> None:
    ingest = handle(db)
    ingest(
        [
            message(
                "shuangtan/v1/NO-SUCH-ORG/readings",
                {"readings": [{"meter": "A1-S-EL-M", "ts": at(1), "value": 1.0}]},
            )
        ]
    )
    assert stored(db) == 0
    (row,) = quarantined(db)
    assert (row.reason, row.org_id) == ("unknown_meter", None)
    assert "NO-SUCH-ORG" in row.message


def test_a_long_unreadable_payload_is_kept_cut(db: Database, world: World) -> None:
    payload = b"[" + b"x" * (PAYLOAD_KEPT * 10)
    handle(db)([message(ORG_TOPIC, payload)])
    (row,) = quarantined(db)
    assert len(row.raw["payload"]) == PAYLOAD_KEPT


def test_a_batch_that_cannot_commit_leaves_nothing(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after some readings were written (the quarantine insert here) rolls the
    whole batch back: the worker does not acknowledge it and it comes again."""
    from shuangtan.adapters.db import readings as readings_module

    def broken(*args: Any, **kwargs: Any) -> list[int]:
        raise RuntimeError("database went away")

    monkeypatch.setattr(readings_module.ReadingsWriter, "quarantine", broken)
    ingest = handle(db)
    batch = [
        message(
            ORG_TOPIC,
            {
                "readings": [
                    {"meter": "A1-S-EL-M", "ts": at(1), "value": 1.0},
                    {"meter": "A1-S-EL-M", "ts": at(2), "value": "bad"},
                ]
            },
        )
    ]
    with pytest.raises(RuntimeError):
        ingest(batch)
    assert stored(db) == 0 and quarantined(db) == []
    monkeypatch.undo()
    ingest(batch)  # the redelivery
    assert stored(db) == 1 and len(quarantined(db)) == 1


def test_decode_keeps_references_and_types() -> None:
    org, raws, refused = decode_message(
        message(
            ORG_TOPIC,
            {"readings": [{"meter": 7, "ts": at(1), "value": 1, "unit": 5}, {"meter": True}]},
            mid=42,
        )
    )
    assert (org, refused) == ("A1-F1", [])
    assert raws[0].meter == "7" and raws[0].unit is None and raws[0].ref.endswith("#42[0]")
    assert raws[1].meter == ""  # a boolean is not a meter reference


def test_a_message_that_always_fails_is_quarantined_not_retried_for_ever(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the database answering, a message no check foresaw failing is stored alone, tried
    three times, then quarantined whole with the error; the other messages are stored."""
    import shuangtan.adapters.mqtt_ingest as mqtt_ingest

    real = mqtt_ingest.decode_message

    def decode(message: Message) -> Any:
        if message.mid == 2:
            raise RuntimeError("unforeseen")
        return real(message)

    monkeypatch.setattr(mqtt_ingest, "decode_message", decode)
    good = [{"meter": "A1-S-EL-M", "ts": at(k), "value": 1.0} for k in (1, 2)]
    ingest = handle(db)
    ingest(
        [
            message(ORG_TOPIC, {"readings": good[:1]}, 1),
            message(ORG_TOPIC, {"readings": good[1:]}, 2),
        ]
    )
    assert stored(db) == 1
    (row,) = quarantined(db)
    assert (row.reason, row.org_id) == ("malformed", world.org["A1-F1"])
    assert "RuntimeError: unforeseen" in row.message


def test_odd_references_and_nul_are_refused_not_crashes(db: Database, world: World) -> None:
    """'²' passes str.isdigit but is no id; NUL cannot go into PostgreSQL text."""
    handle(db)(
        [
            message(ORG_TOPIC, {"readings": [{"meter": "²", "ts": at(1), "value": 1.0}]}, 1),
            message(ORG_TOPIC, {"readings": [{"meter": "A1\u0000", "ts": at(1), "value": 1}]}, 2),
            message(ORG_TOPIC, b"\x00\x01binary", 3),
        ]
    )
    assert stored(db) == 0
    reasons = sorted(r.reason for r in quarantined(db))
    assert reasons == ["malformed", "malformed", "unknown_meter"]

"""Readings through the REST API on both backends: batches in, series, quarantine, quality,
monthly entries, meter swaps and file imports.

The authorisation of these operations is in ``test_authz_matrix.py``; this file checks what
they do. Readings are of 2025 (in the past of the server clock); days are Asia/Shanghai days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import pathlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Job, QuarantinedReading, Reading
from shuangtan.adapters.settings import Settings
from shuangtan.services.quality import quarantine_day
from shuangtan.web import jobs as jobs_module
from shuangtan.web.app import create_app
from tests.platform_fixtures import Database
from tests.world import World

API = "/api/v1"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
GJ_PER_TCE = 29.3076


@pytest.fixture
def api(client: TestClient, tmp_path: Path) -> Iterator[TestClient]:
    """The API client, with uploads in the test's directory and the background activity sync
    held back until the end of the test; then the sync is cancelled and the job runner closed
    (the app does both when it stops, too: see test_stopping_the_app_stops_its_threads)."""
    state = client.app.state.shuangtan  # type: ignore[attr-defined]
    state.settings = dataclasses.replace(state.settings, upload_dir=tmp_path / "uploads")
    state.syncer.delay_s = 3600.0
    yield client
    state.syncer.close()
    state.jobs.close()


def at(day: str, n: int, *, zone: bool = True) -> str:
    """End of the ``n``-th 15-minute interval of a local day (``n`` = 96: the next midnight)."""
    ts = dt.datetime.fromisoformat(day).replace(tzinfo=SHANGHAI) + dt.timedelta(minutes=15 * n)
    text = ts.isoformat()
    return text if zone else text.removesuffix("+08:00")


def day_of(meter: int, day: str, values: list[float]) -> list[dict[str, Any]]:
    """Readings of ``meter``: ``values[i]`` for the interval ending at :func:`at` ``i + 1``."""
    return [{"meter": meter, "ts": at(day, i + 1), "value": v} for i, v in enumerate(values)]


def send(
    api: TestClient, world: World, readings: list[dict[str, Any]], user: str = "dataentry"
) -> dict[str, Any]:
    r = api.post(f"{API}/readings", json={"readings": readings}, headers=world.auth(user))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def counts(body: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """``(received, stored, corrected, duplicates, quarantined)`` of an ingestion answer."""
    keys = ("received", "stored", "corrected", "duplicates", "quarantined")
    return tuple(body[k] for k in keys)  # type: ignore[return-value]


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "field", "message", "request_id"}, body
    return body


def series(
    api: TestClient, world: World, meter: int, start: str, end: str, resolution: str
) -> dict[str, Any]:
    r = api.get(
        f"{API}/meters/{meter}/series",
        params={"start": start, "end": end, "resolution": resolution},
        headers=world.auth("viewer"),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def stored_rows(db: Database) -> int:
    with Session(db.engine) as s:
        return int(s.scalar(select(func.count()).select_from(Reading)) or 0)


def quarantine_rows(db: Database) -> int:
    with Session(db.engine) as s:
        return int(s.scalar(select(func.count()).select_from(QuarantinedReading)) or 0)


def quarantine(api: TestClient, world: World, **params: Any) -> list[dict[str, Any]]:
    r = api.get(
        f"{API}/quarantine", params={"limit": 1000, **params}, headers=world.auth("dataentry")
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def new_meter(api: TestClient, world: World, code: str, **extra: Any) -> int:
    body = {
        "org_id": world.org["A1-F1"],
        "code": code,
        "name_zh": f"表{code}",
        "carrier": "electricity",
        "unit": "MWh",
        **extra,
    }
    r = api.post(f"{API}/meters", json=body, headers=world.auth("orgadmin"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def upload(
    api: TestClient, world: World, content: bytes, user: str = "dataentry", **form: str
) -> dict[str, Any]:
    """``POST /imports`` of a CSV file into A1 (``form`` adds fields); the job as queued."""
    r = api.post(
        f"{API}/imports",
        files={"file": ("r.csv", content, "text/csv")},
        data={"org_id": str(world.org["A1"]), **form},
        headers=world.auth(user),
    )
    assert r.status_code == 202, r.text
    job: dict[str, Any] = r.json()
    return job


def uploads(api: TestClient) -> list[Path]:
    """The files waiting in the upload directory."""
    directory: Path = api.app.state.shuangtan.settings.upload_dir  # type: ignore[attr-defined]
    return sorted(directory.glob("*")) if directory.exists() else []


def wait_for_job(api: TestClient, world: World, job_id: int, user: str = "dataentry") -> Any:
    """Follow ``GET /jobs/{id}`` until the job ends (at most ~20 s)."""
    deadline = time.monotonic() + 20
    while True:
        r = api.get(f"{API}/jobs/{job_id}", headers=world.auth(user))
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after 20 s: {job}"
        time.sleep(0.05)


# --- batches in ----------------------------------------------------------------------------


def test_a_batch_is_stored_then_duplicates_then_a_correction(
    api: TestClient, world: World, db: Database
) -> None:
    meter = world.meter["A1-S-EL"]
    readings = day_of(meter, "2025-03-01", [1.0, 2.0, 3.0, 4.0])
    assert counts(send(api, world, readings)) == (4, 4, 0, 0, 0)
    # The same batch again changes nothing.
    assert counts(send(api, world, readings)) == (4, 0, 0, 4, 0)
    # Another value for a stored instant replaces it, and is said to.
    fixed = [{**readings[1], "value": 2.5}]
    assert counts(send(api, world, fixed)) == (1, 0, 1, 0, 0)
    assert stored_rows(db) == 4
    points = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")["points"]
    assert [p["value"] for p in points] == [1.0, 2.5, 3.0, 4.0]
    assert [p["ts"] for p in points[:2]] == [
        "2025-03-01T00:15:00+08:00",
        "2025-03-01T00:30:00+08:00",
    ]
    assert points[1]["flags"] == ["corrected"] and points[0]["flags"] == []
    # The rollups follow the correction.
    (day,) = series(api, world, meter, "2025-03-01", "2025-03-02", "day")["points"]
    assert (day["value"], day["n"]) == (10.5, 4)


def test_a_csv_body_is_stored_with_its_units(api: TestClient, world: World, db: Database) -> None:
    meter = world.meter["A1-S-EL"]
    body = (
        "meter,ts,value,unit\n"
        f"A1-S-EL-M,{at('2025-03-01', 1)},1.5,\n"
        f"{meter},{at('2025-03-01', 2)},2000,kWh\n"
        f"A1-S-EL-M,{at('2025-03-01', 3)},0.5,MWh\n"
    ).encode()
    r = api.post(
        f"{API}/readings",
        content=body,
        headers={**world.auth("dataentry"), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (3, 3, 0, 0, 0)
    points = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")["points"]
    assert [p["value"] for p in points] == pytest.approx([1.5, 2.0, 0.5])


@pytest.mark.parametrize(
    "body",
    [
        b'{"readings": [{"meter": 1, "ts": "2025-03-01T00:15:00+08:00", "value": 1}',
        b"not json at all",
        b'{"readings": [], "extra": 1}',
        b"[]",
        b"",
    ],
    ids=["truncated", "text", "unknown-member", "array", "empty"],
)
def test_a_malformed_json_body_is_refused_whole(
    api: TestClient, world: World, db: Database, body: bytes
) -> None:
    before = quarantine_rows(db)
    r = api.post(
        f"{API}/readings",
        content=body,
        headers={**world.auth("dataentry"), "Content-Type": "application/json"},
    )
    error = error_of(r, 422)
    assert (error["code"], error["field"]) == ("invalid_input", "$")
    assert stored_rows(db) == 0 and quarantine_rows(db) == before


def test_bad_readings_are_quarantined_with_reasons_and_good_ones_stored(
    api: TestClient, world: World, db: Database
) -> None:
    meter = world.meter["A1-S-EL"]
    good = day_of(meter, "2025-03-01", [1.0, 2.0])
    bad = [
        {"meter": "NO-SUCH-METER", "ts": at("2025-03-01", 3), "value": 1.0},
        {"meter": meter, "ts": at("2025-03-01", 4), "value": "12,5"},
        {"meter": meter, "ts": at("2025-03-01", 5, zone=False), "value": 1.0},
        {"meter": meter, "ts": "2099-01-01T00:15:00+08:00", "value": 1.0},
        {"meter": meter, "ts": at("2025-03-01", 6), "value": 1.0, "unit": "t"},
    ]
    body = send(api, world, [good[0], *bad, good[1]])
    assert counts(body) == (7, 2, 0, 0, 5)
    reasons = [(q["ref"], q["reason"], q["field"]) for q in body["quarantine"]]
    assert reasons == [
        ("readings[1]", "unknown_meter", "meter"),
        ("readings[2]", "bad_value", "value"),
        ("readings[3]", "no_timezone", "ts"),
        ("readings[4]", "future_timestamp", "ts"),
        ("readings[5]", "wrong_unit", "unit"),
    ]
    assert all(q["message"] for q in body["quarantine"])
    assert stored_rows(db) == 2
    # The quarantine keeps each row as sent, with the reason; newest first.
    listed = quarantine(api, world)
    assert [q["id"] for q in listed] == sorted((q["id"] for q in body["quarantine"]), reverse=True)
    by_reason = {q["reason"]: q for q in listed}
    assert by_reason["bad_value"]["raw"] == {
        "meter": str(meter),
        "ts": bad[1]["ts"],
        "value": "12,5",
    }
    assert by_reason["wrong_unit"]["raw"]["unit"] == "t"
    assert by_reason["no_timezone"]["meter_id"] == meter
    assert by_reason["no_timezone"]["org_id"] == world.org["A1-F1"]
    assert by_reason["unknown_meter"]["meter_id"] is None
    assert {q["status"] for q in listed} == {"open"} and {q["channel"] for q in listed} == {"http"}
    only = quarantine(api, world, reason="wrong_unit", meter_id=meter)
    assert [q["reason"] for q in only] == ["wrong_unit"]


def test_more_than_100000_readings_are_refused_whole(
    api: TestClient, world: World, db: Database
) -> None:
    meter = world.meter["A1-S-EL"]
    one = {"meter": meter, "ts": at("2025-03-01", 1), "value": 1.0}
    r = api.post(
        f"{API}/readings",
        content=orjson.dumps({"readings": [one] * 100_001}),
        headers={**world.auth("dataentry"), "Content-Type": "application/json"},
    )
    error = error_of(r, 413)
    assert (error["code"], error["field"]) == ("payload_too_large", "readings")
    assert "100000" in error["message"].replace(",", "")
    line = f"{meter},{at('2025-03-01', 1)},1.0\n"
    r = api.post(
        f"{API}/readings",
        content=("meter,ts,value\n" + line * 100_001).encode(),
        headers={**world.auth("dataentry"), "Content-Type": "text/csv"},
    )
    assert error_of(r, 413)["field"] == "readings"
    assert stored_rows(db) == 0 and quarantine_rows(db) == 0
    # Exactly 100,000 is accepted (all duplicates of one reading but the first).
    r = api.post(
        f"{API}/readings",
        content=orjson.dumps({"readings": [one] * 100_000}),
        headers={**world.auth("dataentry"), "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert counts(r.json()) == (100_000, 1, 0, 99_999, 0)


def test_a_gbk_csv_body_is_refused_naming_the_encoding(
    api: TestClient, world: World, db: Database
) -> None:
    body = f"meter,ts,value,unit\nA1-S-EL-M,{at('2025-03-01', 1)},1.0,兆瓦时\n".encode("gbk")
    r = api.post(
        f"{API}/readings",
        content=body,
        headers={**world.auth("dataentry"), "Content-Type": "text/csv"},
    )
    error = error_of(r, 422)
    assert error["field"] == "body"
    assert "UTF-8" in error["message"] and "line 2" in error["message"]
    assert "encoding=gbk" in error["message"]
    assert stored_rows(db) == 0 and quarantine_rows(db) == 0


@pytest.mark.parametrize(
    "body",
    [
        "meter,ts,value\nA1-S-EL-M,2025-03-01T00:15:00+08:00,1\r0\n",
        "meter,ts,value\n" + "x" * 200_000,
    ],
    ids=["bare-cr", "huge-field"],
)
def test_an_unreadable_csv_body_is_refused_not_a_server_error(
    api: TestClient, world: World, db: Database, body: str
) -> None:
    r = api.post(
        f"{API}/readings",
        content=body.encode(),
        headers={**world.auth("dataentry"), "Content-Type": "text/csv"},
    )
    assert error_of(r, 422)["field"] in ("body", "header")


def test_other_media_types_are_refused(api: TestClient, world: World) -> None:
    r = api.post(
        f"{API}/readings",
        content=b"<readings/>",
        headers={**world.auth("dataentry"), "Content-Type": "application/xml"},
    )
    assert error_of(r, 422)["field"] == "Content-Type"


# --- series --------------------------------------------------------------------------------


def test_series_at_every_resolution_in_the_unit_tce_and_gj(
    api: TestClient, world: World, db: Database
) -> None:
    meter = world.meter["A1-S-EL"]
    values = [0.25 + (i % 4) * 0.25 for i in range(96)]  # 0.25, 0.5, 0.75, 1.0, …
    send(api, world, day_of(meter, "2025-03-01", values) + day_of(meter, "2025-03-02", [2.0]))
    total = sum(values)

    raw = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")
    tce_per_unit = raw["tce_per_unit"]
    # GB/T 2589-2020: electricity, equivalent value 0.1229 kgce/kWh = 0.1229 tce/MWh.
    assert tce_per_unit == pytest.approx(0.1229)
    assert raw["gj_per_tce"] == GJ_PER_TCE and raw["unit"] == "MWh" and raw["note"] is None
    assert raw["factors"] and all(f["value"] > 0 for f in raw["factors"])
    assert len(raw["points"]) == 96
    assert raw["points"][0]["ts"] == "2025-03-01T00:15:00+08:00"
    assert raw["points"][-1]["ts"] == "2025-03-02T00:00:00+08:00"
    hour = series(api, world, meter, "2025-03-01", "2025-03-02", "hour")["points"]
    assert len(hour) == 24 and hour[0]["ts"] == "2025-03-01T00:00:00+08:00"
    assert [(p["value"], p["n"]) for p in hour] == [(2.5, 4)] * 24
    day = series(api, world, meter, "2025-03-01", "2025-03-03", "day")["points"]
    assert [(p["ts"], p["value"], p["n"]) for p in day] == [
        ("2025-03-01T00:00:00+08:00", total, 96),
        ("2025-03-02T00:00:00+08:00", 2.0, 1),
    ]
    (month,) = series(api, world, meter, "2025-03-01", "2025-04-01", "month")["points"]
    assert (month["ts"], month["value"], month["n"]) == ("2025-03-01T00:00:00+08:00", total + 2, 97)
    for points in (raw["points"], hour, day, [month]):
        for p in points:
            assert p["tce"] == pytest.approx(p["value"] * tce_per_unit, rel=1e-12)
            assert p["gj"] == pytest.approx(p["tce"] * GJ_PER_TCE, rel=1e-12)
    # Bounds: an empty or inverted range, and too many points, name the parameter.
    r = api.get(
        f"{API}/meters/{meter}/series",
        params={"start": "2025-03-02", "end": "2025-03-01"},
        headers=world.auth("viewer"),
    )
    assert error_of(r, 422)["field"] == "end"
    r = api.get(
        f"{API}/meters/{meter}/series",
        params={"start": "2020-01-01", "end": "2025-01-01", "resolution": "15min"},
        headers=world.auth("viewer"),
    )
    assert error_of(r, 422)["field"] == "resolution"


# --- quarantine ----------------------------------------------------------------------------


def test_a_quarantined_reading_is_corrected_reprocessed_and_stored(
    api: TestClient, world: World, db: Database
) -> None:
    meter, entry = world.meter["A1-S-EL"], world.auth("dataentry")
    body = send(api, world, [{"meter": meter, "ts": at("2025-03-01", 1, zone=False), "value": 7}])
    (qid,) = [q["id"] for q in body["quarantine"]]
    assert [q["id"] for q in quarantine(api, world)] == [qid]

    # Corrected but still wrong: re-processing keeps the row open with the new reason.
    r = api.patch(
        f"{API}/quarantine/{qid}", json={"ts": "2099-01-01T00:15:00+08:00"}, headers=entry
    )
    assert r.status_code == 200, r.text
    r = api.post(f"{API}/quarantine/{qid}/reprocess", headers=entry)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 0
    assert (r.json()["quarantine"]["status"], r.json()["quarantine"]["reason"]) == (
        "open",
        "future_timestamp",
    )
    assert quarantine_rows(db) == 1 and stored_rows(db) == 0

    r = api.patch(
        f"{API}/quarantine/{qid}", json={"ts": at("2025-03-01", 1), "value": 7.5}, headers=entry
    )
    assert r.status_code == 200, r.text
    assert r.json()["raw"] == {"meter": str(meter), "ts": at("2025-03-01", 1), "value": 7.5}
    r = api.post(f"{API}/quarantine/{qid}/reprocess", headers=entry)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["stored"], out["corrected"], out["duplicates"]) == (1, 0, 0)
    assert out["quarantine"]["status"] == "reprocessed" and out["quarantine"]["resolved_at"]
    points = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")["points"]
    assert [(p["ts"], p["value"]) for p in points] == [("2025-03-01T00:15:00+08:00", 7.5)]
    assert quarantine(api, world) == []
    assert [q["id"] for q in quarantine(api, world, status="reprocessed")] == [qid]
    # Only open rows can be corrected, re-processed or discarded.
    for method, suffix, kw in (
        ("POST", "/reprocess", {}),
        ("POST", "/discard", {}),
        ("PATCH", "", {"json": {"value": 1.0}}),
    ):
        r = api.request(method, f"{API}/quarantine/{qid}{suffix}", headers=entry, **kw)
        assert error_of(r, 422)["field"] == "id"


def test_a_quarantined_reading_is_discarded(api: TestClient, world: World, db: Database) -> None:
    entry = world.auth("dataentry")
    body = send(api, world, [{"meter": "NO-SUCH-METER", "ts": at("2025-03-01", 1), "value": 1}])
    (qid,) = [q["id"] for q in body["quarantine"]]
    r = api.post(f"{API}/quarantine/{qid}/discard", headers=entry)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "discarded" and r.json()["resolved_at"]
    assert quarantine(api, world) == []
    assert [q["id"] for q in quarantine(api, world, status="discarded")] == [qid]
    assert error_of(api.post(f"{API}/quarantine/{qid}/discard", headers=entry), 422)
    assert stored_rows(db) == 0
    r = api.post(f"{API}/quarantine/{qid + 1000}/discard", headers=entry)
    assert error_of(r, 404)["code"] == "not_found"


# --- monthly entries and quality ----------------------------------------------------------


def test_a_monthly_entry_is_made_listed_and_replaced(api: TestClient, world: World) -> None:
    meter, entry = world.meter["A1-S-GAS"], world.auth("dataentry")
    url = f"{API}/meters/{meter}/monthly"
    r = api.put(f"{url}/2025-03", json={"value": 12.5, "note": "燃气账单"}, headers=entry)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "meter_id": meter,
        "month": "2025-03",
        "value": 12.5,
        "unit": "1e4Nm3",
        "note": "燃气账单",
    }
    r = api.put(f"{url}/2025-03", json={"value": 13.0}, headers=entry)
    assert r.status_code == 200, r.text
    api.put(f"{url}/2025-01", json={"value": 11.0}, headers=entry)
    listed = api.get(url, headers=world.auth("viewer")).json()
    assert [(m["month"], m["value"], m["note"]) for m in listed] == [
        ("2025-01", 11.0, ""),
        ("2025-03", 13.0, ""),
    ]
    assert error_of(api.put(f"{url}/2025-13", json={"value": 1.0}, headers=entry), 422)
    assert error_of(api.put(f"{url}/2025-04", json={"value": -1.0}, headers=entry), 422)


def test_daily_quality_counts_completeness(api: TestClient, world: World, db: Database) -> None:
    el, gas = world.meter["A1-S-EL"], world.meter["A1-S-GAS"]
    send(api, world, day_of(el, "2025-03-01", [1.0] * 96) + day_of(gas, "2025-03-01", [0.01] * 80))
    r = api.get(
        f"{API}/quality/daily",
        params={"org_id": world.org["A1"], "date": "2025-03-01"},
        headers=world.auth("viewer"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["meters"], body["meters_complete"], body["threshold"]) == (2, 1, 0.9)
    by_meter = {m["meter_id"]: m for m in body["items"]}
    full, part = by_meter[el], by_meter[gas]
    assert (full["expected"], full["received"], full["completeness"]) == (96, 96, 1.0)
    assert (full["complete"], full["status"], full["missing"]) == (True, "ok", 0)
    assert full["total"] == 96.0 and full["longest_gap_min"] == 15.0
    assert (part["expected"], part["received"], part["missing"]) == (96, 80, 16)
    assert part["completeness"] == pytest.approx(80 / 96) and part["completeness"] < 0.9
    assert (part["complete"], part["status"]) == (False, "incomplete")
    assert part["longest_gap_min"] == 16 * 15
    assert body["completeness"] == pytest.approx((1 + 80 / 96) / 2)
    # B1's meter is not A1's; a day without readings has none.
    r = api.get(
        f"{API}/quality/daily",
        params={"org_id": world.org["A1"], "date": "2025-03-02"},
        headers=world.auth("viewer"),
    )
    assert {m["status"] for m in r.json()["items"]} == {"no_data"}
    assert {m["completeness"] for m in r.json()["items"]} == {0.0}


def test_monthly_consistency_against_the_monthly_entry(
    api: TestClient, world: World, db: Database
) -> None:
    el, gas = world.meter["A1-S-EL"], world.meter["A1-S-GAS"]
    readings = day_of(el, "2025-04-01", [1.0] * 96) + day_of(el, "2025-04-02", [1.0] * 4)
    readings += day_of(gas, "2025-04-01", [0.5] * 10)
    send(api, world, readings)
    entry = world.auth("dataentry")
    # Σ daily = 100 MWh: the bill says 110 (10 % off); the gas meter's 5.1 is within 5 %.
    for meter, value in ((el, 110.0), (gas, 5.1)):
        r = api.put(f"{API}/meters/{meter}/monthly/2025-04", json={"value": value}, headers=entry)
        assert r.status_code == 200, r.text
    r = api.get(
        f"{API}/quality/monthly",
        params={"org_id": world.org["A1"], "month": "2025-04"},
        headers=world.auth("viewer"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["month"], body["threshold"]) == ("2025-04", 0.05)
    by_meter = {m["meter_id"]: m for m in body["items"]}
    assert set(by_meter) == {el, gas}
    bill = by_meter[el]
    assert (bill["days_with_data"], bill["daily_total"], bill["monthly"]) == (2, 100.0, 110.0)
    assert bill["deviation"] == pytest.approx(10 / 110) and bill["consistent"] is False
    assert by_meter[gas]["deviation"] == pytest.approx(0.1 / 5.1)
    assert by_meter[gas]["consistent"] is True
    # Without a monthly figure there is nothing to judge.
    r = api.get(
        f"{API}/quality/monthly",
        params={"org_id": world.org["A1"], "month": "2025-05"},
        headers=world.auth("viewer"),
    )
    assert {(m["monthly"], m["consistent"]) for m in r.json()["items"]} == {(None, None)}


# --- imports -------------------------------------------------------------------------------


def test_a_csv_upload_is_imported_as_a_job(api: TestClient, world: World, db: Database) -> None:
    meter = world.meter["A1-S-EL"]
    rows = [f"A1-S-EL-M,{at('2025-03-01', n, zone=False)},{n / 10}" for n in range(1, 5)]
    rows.append(f"A1-S-EL-M,{at('2025-03-01', 5, zone=False)},坏值")
    content = ("表计编号,时间,读数\n" + "\n".join(rows) + "\n").encode("gbk")
    r = api.post(
        f"{API}/imports",
        files={"file": ("抄表.csv", content, "text/csv")},
        data={
            "org_id": str(world.org["A1"]),
            "encoding": "gbk",
            "mapping": '{"meter": "表计编号", "ts": "时间", "value": "读数"}',
            "timezone": "Asia/Shanghai",
        },
        headers=world.auth("dataentry"),
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "readings_import" and job["filename"] == "抄表.csv"
    assert job["status"] in ("queued", "running", "done") and job["org_id"] == world.org["A1"]
    done = wait_for_job(api, world, job["id"])
    assert done["status"] == "done" and done["error"] is None, done
    assert (done["done"], done["total"]) == (5, 5)
    assert (done["result"]["stored"], done["result"]["quarantined"]) == (4, 1)
    assert done["finished_at"] is not None
    points = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")["points"]
    assert [(p["ts"], p["value"]) for p in points] == [
        (at("2025-03-01", n), pytest.approx(n / 10)) for n in range(1, 5)
    ]
    (bad,) = quarantine(api, world, job_id=job["id"])
    assert (bad["reason"], bad["channel"], bad["job_id"]) == ("bad_value", "file", job["id"])
    # Readers of the organisation follow the job too; others do not find it.
    assert api.get(f"{API}/jobs/{job['id']}", headers=world.auth("viewer")).status_code == 200
    r = api.get(f"{API}/jobs/{job['id']}", headers=world.auth("foreign"))
    assert error_of(r, 404)["code"] == "not_found"


def test_uploads_are_checked_before_a_job_is_made(
    api: TestClient, world: World, db: Database, tmp_path: Path
) -> None:
    entry, org = world.auth("dataentry"), str(world.org["A1"])
    csv = ("file", ("r.csv", b"meter,ts,value\n", "text/csv"))
    for files, data, field in (
        ({"file": ("r.pdf", b"%PDF", "application/pdf")}, {"org_id": org}, "file"),
        (dict([csv]), {"org_id": org, "mapping": "{not json"}, "mapping"),
        (dict([csv]), {"org_id": org, "mapping": '["meter"]'}, "mapping"),
        (dict([csv]), {"org_id": org, "timezone": "Mars/Olympus"}, "timezone"),
    ):
        r = api.post(f"{API}/imports", files=files, data=data, headers=entry)
        assert error_of(r, 422)["field"] == field, r.text
    with Session(db.engine) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    assert not list((tmp_path / "uploads").glob("*"))  # nothing was kept of the refused files


def test_an_upload_in_the_wrong_encoding_fails_whole(
    api: TestClient, world: World, db: Database
) -> None:
    content = f"meter,ts,value,备注\nA1-S-EL-M,{at('2025-03-01', 1)},1.0,抄表\n".encode("gbk")
    r = api.post(
        f"{API}/imports",
        files={"file": ("r.csv", content, "text/csv")},
        data={"org_id": str(world.org["A1"]), "encoding": "utf-8"},
        headers=world.auth("dataentry"),
    )
    assert r.status_code == 202, r.text
    done = wait_for_job(api, world, r.json()["id"])
    assert done["status"] == "failed" and done["error"].startswith("encoding:"), done
    assert "gbk" in done["error"].lower()
    assert stored_rows(db) == 0


# --- meter swaps ---------------------------------------------------------------------------


def test_a_meter_replacement_makes_a_counter_drop_valid(
    api: TestClient, world: World, db: Database
) -> None:
    meter = new_meter(api, world, "A1-CUM-1", kind="cumulative")
    counters = [
        {"meter": meter, "ts": at("2025-03-01", n), "value": v}
        for n, v in ((1, 100.0), (2, 101.0), (3, 102.0))
    ]
    assert counts(send(api, world, counters)) == (3, 3, 0, 0, 0)
    drop = {"meter": meter, "ts": at("2025-03-01", 4), "value": 5.0}
    body = send(api, world, [drop])
    assert counts(body) == (1, 0, 0, 0, 1)
    (refused,) = body["quarantine"]
    assert refused["reason"] == "counter_backwards"

    # The device was swapped at 00:50: the old one ended at 102.5, the new one began at 4.
    swap = {"ts": "2025-03-01T00:50:00+08:00", "old_final": 102.5, "new_initial": 4.0}
    r = api.post(f"{API}/meters/{meter}/replacements", json=swap, headers=world.auth("orgadmin"))
    assert r.status_code == 201, r.text
    assert (r.json()["meter_id"], r.json()["old_final"], r.json()["new_initial"]) == (
        meter,
        102.5,
        4.0,
    )
    r = api.post(f"{API}/quarantine/{refused['id']}/reprocess", headers=world.auth("dataentry"))
    assert r.status_code == 200, r.text
    assert (r.json()["stored"], r.json()["quarantine"]["status"]) == (1, "reprocessed")
    points = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")["points"]
    assert [p["raw"] for p in points] == [100.0, 101.0, 102.0, 5.0]
    # The interval across the swap: the old device's last 0.5 plus the new one's first 1.
    # (The intervals before it, sent in another batch, are test_counters_sent_batch_by_batch….)
    assert points[3]["value"] == pytest.approx(1.5) and points[3]["flags"] == ["replacement"]
    assert "first" in points[0]["flags"]

    # A swap before stored readings, and one of an interval meter, are refused.
    late = {**swap, "ts": "2025-03-01T00:20:00+08:00"}
    r = api.post(f"{API}/meters/{meter}/replacements", json=late, headers=world.auth("orgadmin"))
    assert error_of(r, 422)["field"] == "ts"
    r = api.post(
        f"{API}/meters/{world.meter['A1-S-EL']}/replacements",
        json=swap,
        headers=world.auth("orgadmin"),
    )
    assert error_of(r, 422)["field"] == "meter_id"


def test_counters_sent_batch_by_batch_keep_every_interval(
    api: TestClient, world: World, db: Database
) -> None:
    """A cumulative meter streaming one counter per request (a gateway, MQTT) gives the same
    intervals as the counters sent in one batch."""
    streamed = new_meter(api, world, "A1-CUM-S", kind="cumulative")
    batched = new_meter(api, world, "A1-CUM-B", kind="cumulative")
    counters = [(n, 100.0 + 2 * n) for n in range(1, 6)]
    for n, counter in counters:
        send(api, world, [{"meter": streamed, "ts": at("2025-03-01", n), "value": counter}])
    send(
        api, world, [{"meter": batched, "ts": at("2025-03-01", n), "value": c} for n, c in counters]
    )
    values = {}
    for meter in (streamed, batched):
        points = series(api, world, meter, "2025-03-01", "2025-03-02", "15min")["points"]
        (day,) = series(api, world, meter, "2025-03-01", "2025-03-02", "day")["points"]
        values[meter] = ([p["value"] for p in points], [p["flags"] for p in points], day["value"])
    assert values[batched] == ([0.0, 2.0, 2.0, 2.0, 2.0], [["first"], [], [], [], []], 8.0)
    assert values[streamed] == values[batched]


# --- activity follows the meters -------------------------------------------------------------


def test_the_sync_makes_activity_follow_the_meters(
    api: TestClient, world: World, db: Database
) -> None:
    """2024-06 has no activity datum for A1's electricity: readings make one (origin meter);
    2025-03 was entered by hand: it is kept."""
    meter, source = world.meter["A1-S-EL"], world.source["A1-S-EL"]
    send(api, world, day_of(meter, "2024-06-10", [0.5] * 8) + day_of(meter, "2025-03-01", [1.0]))
    assert error_of(api.post(f"{API}/readings/sync", headers=world.auth("orgadmin")), 403)
    r = api.post(f"{API}/readings/sync", headers=world.auth("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["months"], body["created"], body["kept_entered"], body["failed"]) == (2, 1, 1, [])
    assert body["recomputed"] == []  # the world has no 2024 inventory; 2025-03 is unchanged
    r = api.get(
        f"{API}/activity",
        params={"source_id": source, "limit": 100},
        headers=world.auth("viewer"),
    )
    june = [a for a in r.json()["items"] if a["period_start"] == "2024-06-01"]
    assert [(a["amount"], a["origin"]) for a in june] == [(4.0, "meter")]
    march = [a for a in r.json()["items"] if a["period_start"] == "2025-03-01"]
    assert [a["origin"] for a in march] == ["entered"]
    # Nothing is left to do.
    again = api.post(f"{API}/readings/sync", headers=world.auth("admin")).json()
    assert again["months"] == 0


def test_amounts_are_finite(api: TestClient, world: World, db: Database) -> None:
    """Non-finite numbers never reach storage: NaN and infinities are quarantined."""
    meter = world.meter["A1-S-EL"]
    body = send(
        api,
        world,
        [
            {"meter": meter, "ts": at("2025-03-01", 1), "value": "NaN"},
            {"meter": meter, "ts": at("2025-03-01", 2), "value": "inf"},
            {"meter": meter, "ts": at("2025-03-01", 3), "value": -1.0},
        ],
    )
    assert counts(body) == (3, 0, 0, 0, 3)
    assert [q["reason"] for q in body["quarantine"]] == ["bad_value", "bad_value", "negative"]
    assert stored_rows(db) == 0


# --- daily quality: the day of a quarantined reading ---------------------------------------


def test_daily_quality_counts_quarantined_readings_on_their_own_day(
    api: TestClient, world: World, db: Database
) -> None:
    """Refused for its value, a reading of 1 March counts on 1 March (even received later);
    refused for its timestamp, it counts on the day it was received."""
    meter = world.meter["A1-S-EL"]
    bad = [
        {"meter": meter, "ts": at("2025-03-01", 4), "value": "n/a"},
        # 24:00 closes 1 March (readings are end-stamped).
        {"meter": meter, "ts": at("2025-03-01", 96), "value": -1.0},
        {"meter": meter, "ts": at("2025-03-01", 5, zone=False), "value": 1.0},
    ]
    assert counts(send(api, world, day_of(meter, "2025-03-01", [1.0] * 3) + bad))[-1] == 3
    # A file whose times are local: its zone places a row refused for the value.
    csv = f"meter,ts,value\n{meter},{at('2025-03-01', 6, zone=False)},坏值\n".encode()
    job = upload(api, world, csv, timezone="Asia/Shanghai")
    assert wait_for_job(api, world, job["id"])["result"]["quarantined"] == 1
    (no_zone,) = quarantine(api, world, reason="no_timezone")
    received = dt.datetime.fromisoformat(no_zone["received_at"])
    received_day = (received - dt.timedelta(microseconds=1)).astimezone(SHANGHAI).date()

    def quarantined_on(day: dt.date) -> int:
        r = api.get(
            f"{API}/quality/daily",
            params={"org_id": world.org["A1"], "date": day.isoformat()},
            headers=world.auth("viewer"),
        )
        assert r.status_code == 200, r.text
        (item,) = [m for m in r.json()["items"] if m["meter_id"] == meter]
        return int(item["quarantined"])

    assert quarantined_on(dt.date(2025, 3, 1)) == 3
    assert quarantined_on(dt.date(2025, 3, 2)) == 0
    assert quarantined_on(received_day) == 1
    # Resolved rows no longer count.
    for q in quarantine(api, world, reason="bad_value"):
        r = api.post(f"{API}/quarantine/{q['id']}/discard", headers=world.auth("dataentry"))
        assert r.status_code == 200, r.text
    assert quarantined_on(dt.date(2025, 3, 1)) == 1


RECEIVED = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)  # 18:00 in Shanghai


@pytest.mark.parametrize(
    ("ts", "field", "zone", "day"),
    [
        ("2025-03-01T00:15:00+08:00", "value", None, "2025-03-01"),
        ("2025-03-02T00:00:00+08:00", "value", None, "2025-03-01"),  # closes 1 March
        ("2025-02-28T16:15:00Z", "unit", None, "2025-03-01"),
        ("2025-03-01T00:15:00", "value", SHANGHAI, "2025-03-01"),
        ("2025-03-01T00:15:00+08:00", "ts", None, "2025-03-03"),  # the ts was refused
        ("2025-03-01T00:15:00", "meter", None, "2025-03-03"),  # no zone to place it
        ("not a time", "meter", None, "2025-03-03"),
        (17, "value", None, "2025-03-03"),
        (None, "value", None, "2025-03-03"),
        ("2099-01-01T00:15:00+08:00", "meter", None, "2025-03-03"),  # after its receipt
        ("1999-12-31T00:15:00+08:00", "meter", None, "2025-03-03"),
    ],
)
def test_the_day_of_a_quarantined_reading(
    ts: object, field: str, zone: dt.tzinfo | None, day: str
) -> None:
    received_us = int(RECEIVED.timestamp()) * 1_000_000
    assert quarantine_day(ts, field, received_us, zone) == dt.date.fromisoformat(day)


# --- imports: organisation, uploads, stopping ------------------------------------------------


def test_quarantined_rows_of_an_import_go_with_its_organisation(
    api: TestClient, world: World, db: Database
) -> None:
    """A row of an unknown meter goes with the job's organisation: its readers see it."""
    job = upload(api, world, f"meter,ts,value\nNO-SUCH-METER,{at('2025-03-01', 1)},1.0\n".encode())
    assert wait_for_job(api, world, job["id"])["result"]["quarantined"] == 1
    r = api.get(f"{API}/quarantine", params={"job_id": job["id"]}, headers=world.auth("viewer"))
    assert r.status_code == 200, r.text
    (row,) = r.json()["items"]
    assert (row["reason"], row["meter_id"], row["org_id"]) == (
        "unknown_meter",
        None,
        world.org["A1"],
    )
    r = api.get(f"{API}/quarantine", params={"job_id": job["id"]}, headers=world.auth("foreign"))
    assert r.json()["items"] == []


def test_uploads_are_deleted_when_their_job_ends(
    api: TestClient, world: World, db: Database
) -> None:
    good = f"meter,ts,value\nA1-S-EL-M,{at('2025-03-01', 1)},1.0\n".encode()
    job = upload(api, world, good)
    assert wait_for_job(api, world, job["id"])["status"] == "done"
    assert uploads_gone(api)
    job = upload(api, world, "meter,ts,value\n表,1,2\n".encode("gbk"), encoding="utf-8")
    assert wait_for_job(api, world, job["id"])["status"] == "failed"
    assert uploads_gone(api)


def uploads_gone(api: TestClient) -> bool:
    """The upload directory empties (the file goes just after the job's end is recorded)."""
    deadline = time.monotonic() + 5
    while uploads(api) and time.monotonic() < deadline:
        time.sleep(0.02)
    return uploads(api) == []


def test_a_failure_to_delete_an_upload_is_logged_not_raised(
    api: TestClient,
    world: World,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = api.app.state.shuangtan.settings.upload_dir  # type: ignore[attr-defined]
    unlink = pathlib.Path.unlink

    def refuse(self: Path, missing_ok: bool = False) -> None:
        if self.parent == directory:
            raise PermissionError(13, "Permission denied", str(self))
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(pathlib.Path, "unlink", refuse)
    caplog.set_level(logging.WARNING, logger="shuangtan.imports")
    job = upload(api, world, f"meter,ts,value\nA1-S-EL-M,{at('2025-03-01', 1)},1.0\n".encode())
    done = wait_for_job(api, world, job["id"])
    assert (done["status"], done["result"]["stored"]) == ("done", 1)
    (kept,) = uploads(api)
    messages = [r.getMessage() for r in caplog.records if r.name == "shuangtan.imports"]
    assert any("could not delete" in m and str(kept) in m for m in messages), messages


def test_closing_the_job_runner_stops_the_running_job_and_fails_queued_ones(
    api: TestClient, world: World, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    run_import = jobs_module.run_import

    def held(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(20)
        return run_import(*args, **kwargs)

    monkeypatch.setattr(jobs_module, "run_import", held)
    content = f"meter,ts,value\nA1-S-EL-M,{at('2025-03-01', 1)},1.0\n".encode()
    running, queued = upload(api, world, content), upload(api, world, content)
    assert started.wait(20)
    runner = api.app.state.shuangtan.jobs  # type: ignore[attr-defined]
    closer = threading.Thread(target=runner.close)
    closer.start()
    deadline = time.monotonic() + 20
    while not runner.closed:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    release.set()
    closer.join(20)
    assert not closer.is_alive()
    first = wait_for_job(api, world, running["id"])
    assert first["status"] == "failed" and first["error"].startswith("stopped after 0 of 1 rows")
    second = wait_for_job(api, world, queued["id"])
    assert (second["status"], second["error"]) == ("failed", jobs_module.NOT_STARTED)
    assert stored_rows(db) == 0 and uploads(api) == []


# --- the app's lifetime ------------------------------------------------------------------------


def test_stopping_the_app_stops_its_threads(db: Database, world: World, tmp_path: Path) -> None:
    """Leaving the client (a server stopping) ends the job runner's thread and the pending
    activity sync; entered again, the app runs imports again."""
    before = set(threading.enumerate())
    settings = Settings(database_url=db.url, upload_dir=tmp_path / "uploads", sync_delay_s=3600)
    app = create_app(settings)
    try:
        for _ in range(2):
            with TestClient(app) as client:
                meter = world.meter["A1-S-EL"]
                send(client, world, day_of(meter, "2025-03-01", [1.0]))  # pokes the sync
                content = f"meter,ts,value\n{meter},{at('2025-03-01', 2)},1.0\n".encode()
                job = upload(client, world, content)
                assert wait_for_job(client, world, job["id"])["status"] == "done"
                names = {t.name for t in threading.enumerate()}
                assert any(n.startswith("shuangtan-job") for n in names), names
                # The sync is alive too (a stopped app's syncer is made anew on the next start).
                syncer = app.state.shuangtan.syncer
                assert syncer is not None and not syncer.closed
            deadline = time.monotonic() + 5
            for thread in set(threading.enumerate()) - before:
                thread.join(max(0.0, deadline - time.monotonic()))
            left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
            assert left == [], f"threads left running: {left}"
    finally:
        app.state.shuangtan.stop_background()
        app.state.shuangtan.engine.dispose()

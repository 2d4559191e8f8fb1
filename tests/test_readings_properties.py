"""Meter readings ingestion, by Hypothesis: counters become intervals whatever the arrival order,
re-ingestion is idempotent, every rollup is the sum of its readings, and tce is the GB/T 2589
conversion of the energy.

Each property runs twice: on the pure planning functions of :mod:`shuangtan.services.readings`
applied to an in-memory store (:class:`MemoryStore`, a model of the writer's read-plan-write
step; many examples), and on the real :class:`~shuangtan.adapters.db.readings.ReadingsWriter`
on SQLite and PostgreSQL (few examples; fresh meters per example, since the ``db`` fixture only
empties the database after the test).

The oracles are independent of the product: a counter series is generated from the consumption
of each interval (so the expected intervals are known before anything is ingested), and rollup
buckets are computed with the zone database (``zoneinfo``), not with ``bucket_starts``. Values
are multiples of 1/4, exact in binary floating point, so sums do not drift.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from shuangtan.adapters.db.models import Meter, MeterReplacement
from shuangtan.adapters.db.readings import ReadingsWriter, meter_info, naive_to_us
from shuangtan.adapters.db.repositories import SYSTEM, Store
from shuangtan.domain.readings import Channel, Flag, RawReading, Reason, Rejected
from shuangtan.factors import FactorLibrary
from shuangtan.services.calculation import calculate
from shuangtan.services.readings import (
    GJ_PER_TCE,
    Existing,
    MeterInfo,
    Plan,
    Replacement,
    parse_readings,
    plan_batch,
    to_us,
)
from tests import test_readings_store as store_tests
from tests.platform_fixtures import Database
from tests.world import World

NOW = store_tests.NOW
CST = store_tests.CST
SHANGHAI = ZoneInfo("Asia/Shanghai")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
RESOLUTIONS = ("hour", "day", "month")
#: 1 kgce = 29 307.6 kJ, so 1 tce = 29.3076 GJ (GB/T 2589-2020 via the reference note
#: ../shared/reference/standards.md §3).
GJ_PER_TCE_GBT2589 = 29.3076

#: Local first instants chosen so the series cross hour, day, month and year ends.
BASES = (
    dt.datetime(2025, 12, 31, 21, 0, tzinfo=CST),
    dt.datetime(2026, 2, 28, 22, 30, tzinfo=CST),
    dt.datetime(2026, 6, 30, 23, 15, tzinfo=CST),
    dt.datetime(2026, 3, 15, 7, 0, tzinfo=CST),
)
#: Most series sit on the 15-minute grid (readings on bucket boundaries), some off it. [s]
OFFSETS_S = (0, 0, 0, 1, 450)
#: Time between readings: mostly the meter's 15 minutes, sometimes shorter or a gap. [min]
STEPS_MIN = (15, 15, 15, 5, 30, 60, 90)

#: Settings of the database properties: few examples (each is several transactions), the
#: fixtures kept across examples (fresh meters per example), and no shrinking (a failure is
#: reported as found; the in-memory twin of each property shrinks quickly).
DB_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture],
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
}

Readings = dict[tuple[int, int], tuple[float, float, int]]
Rollups = dict[tuple[int, str, int], tuple[float, int]]


# --- the independent oracle: buckets by the zone database ------------------------------------


def us_of(ts: dt.datetime) -> int:
    """µs since the epoch of an aware datetime (any zone)."""
    return (ts - EPOCH) // US


def local_buckets(ts_us: int) -> dict[str, int]:
    """Start of the Asia/Shanghai hour, day and month holding a reading stamped ``ts_us``.

    Readings are end-stamped: a reading covers the interval ending at its timestamp, so it
    belongs to the bucket of the instant just before it (00:00 local closes the previous day).
    """
    local = (EPOCH + dt.timedelta(microseconds=ts_us - 1)).astimezone(SHANGHAI)
    hour = local.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    month = day.replace(day=1)
    return {"hour": us_of(hour), "day": us_of(day), "month": us_of(month)}


def expected_rollups(readings: Readings) -> Rollups:
    """Sum of the stored readings per (meter, resolution, bucket), and their count less the
    counters' baseline readings (flag FIRST: no known interval; ``MeterRollup.n``)."""
    members: dict[tuple[int, str, int], list[tuple[float, int]]] = defaultdict(list)
    for (meter, ts_us), (_raw, value, flags) in readings.items():
        for resolution, bucket in local_buckets(ts_us).items():
            members[(meter, resolution, bucket)].append((value, flags))
    return {
        key: (math.fsum(v for v, _ in rows), sum(1 for _, f in rows if not f & Flag.FIRST))
        for key, rows in members.items()
    }


def assert_rollups_are_sums(readings: Readings, rollups: Rollups) -> None:
    """Every rollup is the sum (and count) of its stored readings; no rollup without them."""
    expected = expected_rollups(readings)
    assert set(rollups) == set(expected)
    for key, (value, n) in rollups.items():
        want, count = expected[key]
        assert n == count, key
        # ADR 0012: increments may drift from a fresh sum by ~1e-12 relative; tests allow 1e-9.
        assert math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-9), (key, value, want)


# --- the in-memory model of the writer --------------------------------------------------------


@dataclass
class Outcome:
    """Counts of one batch, as the writer reports them."""

    stored: int = 0
    corrected: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    written: int = 0


@dataclass
class MemoryStore:
    """Readings and rollups in dictionaries, written as the writer writes them.

    For each batch: read per meter the stored readings from the one before the batch to the one
    after it, :func:`plan_batch`, upsert the plan's rows and add its rollup increments.
    """

    meters: dict[int, MeterInfo]
    replacements: list[Replacement] = field(default_factory=list)
    readings: Readings = field(default_factory=dict)
    rollups: Rollups = field(default_factory=dict)

    def resolve(self, ref: str) -> MeterInfo | Rejected:
        for info in self.meters.values():
            if info.code == ref:
                return info
        return Rejected("", Reason.UNKNOWN_METER, "meter", f"no meter {ref!r}")

    def _existing(self, bounds: Iterable[tuple[int, int, int]]) -> Existing:
        rows = []
        for meter, lo, hi in bounds:
            stamps = sorted(t for m, t in self.readings if m == meter)
            before = [t for t in stamps if t < lo][-1:]
            inside = [t for t in stamps if lo <= t <= hi]
            after = [t for t in stamps if t > hi][:1]
            rows += [(meter, t, *self.readings[(meter, t)]) for t in before + inside + after]
        return Existing.from_rows(rows)

    def ingest(self, raws: Sequence[RawReading]) -> Outcome:
        batch, rejected = parse_readings(raws, self.resolve, now=NOW)
        if not len(batch):
            return Outcome(rejected=rejected)
        plan: Plan = plan_batch(
            batch, self._existing(batch.bounds()), self.meters, self.replacements
        )
        for m, t, r, v, f in zip(
            plan.meter_id.tolist(),
            plan.ts_us.tolist(),
            plan.raw.tolist(),
            plan.value.tolist(),
            plan.flags.tolist(),
            strict=True,
        ):
            self.readings[(m, t)] = (r, v, f)
        for resolution, (mm, bb, dv, dn) in plan.rollups.items():
            for m, b, v, n in zip(mm.tolist(), bb.tolist(), dv.tolist(), dn.tolist(), strict=True):
                old_value, old_n = self.rollups.get((m, resolution.value, b), (0.0, 0))
                self.rollups[(m, resolution.value, b)] = (old_value + v, old_n + n)
        return Outcome(
            plan.inserted, plan.corrected, plan.duplicates, rejected + plan.rejected, len(plan)
        )


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A meter to create."""

    kind: str
    multiplier: float = 1.0
    rollover_at: float | None = None
    max_per_hour: float | None = None
    #: A device swap: (instant, old device's last counter, new device's first counter).
    replacement: tuple[dt.datetime, float, float] | None = None


@dataclass(frozen=True)
class Truth:
    """A meter's readings as sent, and the consumption each one closes (known beforehand)."""

    spec: Spec
    stamps: tuple[dt.datetime, ...]
    sent: tuple[float, ...]
    #: Consumption of the interval each reading closes, after the multiplier; a counter's first
    #: reading closes no known interval: 0. [meter unit]
    consumption: tuple[float, ...]
    #: last − first, adjusted for the rollover or the swap, times the multiplier. [meter unit]
    total: float
    wrapped: int | None = None
    swapped: int | None = None


def quarters(lo: int, hi: int) -> st.SearchStrategy[float]:
    """Multiples of 1/4 in ``[lo/4, hi/4]`` (exact in binary floating point)."""
    return st.integers(lo, hi).map(lambda q: q / 4)


@st.composite
def stamp_series(draw: st.DrawFn, n: int) -> tuple[dt.datetime, ...]:
    """``n`` increasing timestamps near a day, month or year end."""
    first = draw(st.sampled_from(BASES)) + dt.timedelta(seconds=draw(st.sampled_from(OFFSETS_S)))
    steps = draw(st.lists(st.sampled_from(STEPS_MIN), min_size=n - 1, max_size=n - 1))
    out = [first]
    for minutes in steps:
        out.append(out[-1] + dt.timedelta(minutes=minutes))
    return tuple(out)


@st.composite
def counters(draw: st.DrawFn) -> Truth:
    """A cumulative meter read as it runs: plainly, across one rollover, or across a swap.

    Plausible by construction: with a rollover, the whole series consumes less than half the
    capacity (the writer reads a fall of more than half the capacity as a wrap, so any two
    readings around the wrap, whichever arrive first, are read correctly); with a swap, neither
    device wraps.
    """
    scenario = draw(st.sampled_from(["plain", "rollover", "replacement"]))
    n = draw(st.integers(2, 14))
    stamps = draw(stamp_series(n))
    multiplier = draw(st.sampled_from([1.0, 2.0, 0.5, 10.0]))
    if scenario == "plain":
        first = draw(quarters(0, 4_000_000))
        steps = draw(st.lists(quarters(0, 4000), min_size=n - 1, max_size=n - 1))
        sent = [first]
        for step in steps:
            sent.append(sent[-1] + step)
        return Truth(
            Spec("cumulative", multiplier),
            stamps,
            tuple(sent),
            (0.0, *(s * multiplier for s in steps)),
            (sent[-1] - sent[0]) * multiplier,
        )
    if scenario == "rollover":
        capacity = 1000.0  # 4000 quarters
        steps_q = draw(st.lists(st.integers(0, 1999 // (n - 1)), min_size=n - 1, max_size=n - 1))
        total_q = sum(steps_q)  # < 2000: less than half the capacity
        # Start near the top of the counter half of the time, so that it wraps.
        first_q = draw(
            st.one_of(st.integers(min(3999, 4000 - total_q), 3999), st.integers(0, 3999))
        )
        sent_q, wrapped = [first_q], None
        for i, step in enumerate(steps_q, start=1):
            if sent_q[-1] + step >= 4000:
                wrapped = i
            sent_q.append((sent_q[-1] + step) % 4000)
        last_minus_first = (sent_q[-1] - sent_q[0] + (4000 if wrapped else 0)) / 4
        return Truth(
            Spec("cumulative", multiplier, rollover_at=capacity),
            stamps,
            tuple(q / 4 for q in sent_q),
            (0.0, *(q / 4 * multiplier for q in steps_q)),
            last_minus_first * multiplier,
            wrapped=wrapped,
        )
    # A swap between reading j − 1 and reading j; the meter may have a capacity (never reached)
    # so that a new counter far below the old one is read as a swap, not as a wrap.
    capacity_or_none = draw(st.sampled_from([None, 1000.0]))
    j = draw(st.integers(1, n - 1))
    steps_q = draw(st.lists(st.integers(0, 100), min_size=n - 1, max_size=n - 1))
    old_part_q = draw(st.integers(0, steps_q[j - 1]))
    sent_q = [draw(st.integers(0, 1000))]
    for i, step in enumerate(steps_q, start=1):
        if i == j:
            old_final_q = sent_q[-1] + old_part_q
            new_initial_q = draw(st.integers(0, 1000))
            sent_q.append(new_initial_q + step - old_part_q)
        else:
            sent_q.append(sent_q[-1] + step)
    swap_at = draw(
        st.sampled_from(
            [
                stamps[j],
                stamps[j - 1] + dt.timedelta(seconds=1),
                stamps[j - 1] + (stamps[j] - stamps[j - 1]) / 2,
            ]
        )
    )
    total = ((old_final_q - sent_q[0]) + (sent_q[-1] - new_initial_q)) / 4 * multiplier
    return Truth(
        Spec(
            "cumulative",
            multiplier,
            rollover_at=capacity_or_none,
            replacement=(swap_at, old_final_q / 4, new_initial_q / 4),
        ),
        stamps,
        tuple(q / 4 for q in sent_q),
        (0.0, *(q / 4 * multiplier for q in steps_q)),
        total,
        swapped=j,
    )


@st.composite
def intervals(draw: st.DrawFn) -> Truth:
    """An interval meter: each reading is its interval's consumption (times the multiplier)."""
    n = draw(st.integers(1, 14))
    multiplier = draw(st.sampled_from([1.0, 2.0, 0.5]))
    sent = draw(st.lists(quarters(0, 40_000), min_size=n, max_size=n))
    consumption = tuple(v * multiplier for v in sent)
    return Truth(
        Spec("interval", multiplier),
        draw(stamp_series(n)),
        tuple(sent),
        consumption,
        math.fsum(consumption),
    )


@st.composite
def deliveries(draw: st.DrawFn, n: int, *, repeats: str = "none") -> list[list[int]]:
    """Readings ``0..n-1`` in any order, cut into batches.

    ``repeats``: ``"none"``; ``"in_batch"``, some sent twice within their batch; ``"anywhere"``,
    some sent again in any batch, also after they were stored (a device re-sending its buffer).
    """
    extra = [] if repeats == "none" else draw(st.lists(st.integers(0, n - 1), max_size=n))
    order = draw(st.permutations(list(range(n)) + (extra if repeats == "anywhere" else [])))
    cuts = draw(st.lists(st.booleans(), min_size=len(order) - 1, max_size=len(order) - 1))
    batches = [[order[0]]]
    for item, cut in zip(order[1:], cuts, strict=True):
        if cut:
            batches.append([item])
        else:
            batches[-1].append(item)
    if repeats == "in_batch":
        for item in extra:
            batch = next(b for b in batches if item in b)
            batch.insert(draw(st.integers(0, len(batch))), item)
    return batches


# --- meters and readings, in memory and in the database ---------------------------------------


def stamp_text(ts: dt.datetime, k: int) -> str:
    """ISO 8601 with a zone: local (+08:00) for even ``k``, UTC (Z) for odd ``k``."""
    if k % 2:
        return ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return ts.astimezone(CST).isoformat()


def raws_of(
    truths: Sequence[Truth], codes: Sequence[str], picks: Iterable[tuple[int, int]]
) -> list[RawReading]:
    """RawReadings of (meter position, reading index) picks; an instant is written in either
    zone depending on where it falls in the batch, so a re-send may spell it differently."""
    return [
        RawReading(
            codes[i], stamp_text(truths[i].stamps[k], pos + k), truths[i].sent[k], ref=f"{i}/{k}"
        )
        for pos, (i, k) in enumerate(picks)
    ]


def memory_meters(specs: Sequence[Spec]) -> tuple[dict[int, MeterInfo], list[str]]:
    """Meter infos by id (1, 2, …) and their codes, for the in-memory store."""
    infos = {
        i + 1: MeterInfo(
            id=i + 1,
            org_id=1,
            code=f"M{i + 1}",
            kind=spec.kind,
            unit="kWh",
            multiplier=spec.multiplier,
            rollover_at=spec.rollover_at,
            max_per_hour=spec.max_per_hour,
        )
        for i, spec in enumerate(specs)
    }
    return infos, [info.code for info in infos.values()]


def replacements_of(specs: Sequence[Spec], ids: Sequence[int]) -> list[Replacement]:
    return [
        Replacement(mid, to_us(spec.replacement[0]), spec.replacement[1], spec.replacement[2])
        for spec, mid in zip(specs, ids, strict=True)
        if spec.replacement is not None
    ]


def create_meters(db: Database, world: World, specs: Sequence[Spec]) -> dict[int, MeterInfo]:
    """Fresh meters in the world's A1-F1 facility (one set per example), with their swaps."""
    ids = []
    with Session(db.engine) as session:
        store = Store(session, SYSTEM)
        for spec in specs:
            meter = store.create_meter(
                {
                    "org_id": world.org["A1-F1"],
                    "code": f"PROP-{uuid.uuid4().hex[:12]}",
                    "name_zh": "性质测试表",
                    "carrier": "electricity",
                    "unit": "kWh",
                    "kind": "interval",
                    "multiplier": spec.multiplier,
                }
            )
            ids.append(meter.id)
        session.commit()
    for spec, mid in zip(specs, ids, strict=True):
        if spec.kind == "cumulative":
            store_tests.make_cumulative(
                db, mid, multiplier=spec.multiplier, rollover_at=spec.rollover_at
            )
    with Session(db.engine) as session:
        for spec, mid in zip(specs, ids, strict=True):
            # Neither the rate limit nor the swaps are taken by create_meter.
            row = session.get(Meter, mid)
            assert row is not None
            row.max_per_hour = spec.max_per_hour
            if spec.replacement is not None:
                swap_at, old_final, new_initial = spec.replacement
                session.add(
                    MeterReplacement(
                        meter_id=mid,
                        ts=swap_at.astimezone(dt.UTC).replace(tzinfo=None),
                        old_final=old_final,
                        new_initial=new_initial,
                        note="property test",
                        created_at=NOW.replace(tzinfo=None),
                    )
                )
        session.commit()
        reader = Store(session, SYSTEM)
        return {mid: meter_info(reader.get_meter(mid)) for mid in ids}


def db_state(db: Database, meter_ids: Iterable[int]) -> tuple[Readings, Rollups]:
    """The stored readings and rollups of some meters, keyed as in :class:`MemoryStore`."""
    readings: Readings = {}
    rollups: Rollups = {}
    for meter in meter_ids:
        for ts, raw, value, flags in store_tests.rows(db, meter):
            readings[(meter, naive_to_us(ts))] = (raw, value, flags)
        for resolution in RESOLUTIONS:
            for bucket, total in store_tests.rollups(db, meter, resolution).items():
                rollups[(meter, resolution, naive_to_us(bucket))] = total
    return readings, rollups


def assert_same_rollups(got: Rollups, want: Rollups) -> None:
    assert set(got) == set(want)
    for key, (value, n) in got.items():
        assert n == want[key][1], key
        assert math.isclose(value, want[key][0], rel_tol=1e-9, abs_tol=1e-9), key


def check_counters(truths: Sequence[Truth], ids: Sequence[int], readings: Readings) -> None:
    """Each meter's stored intervals are the consumption its counters were generated from."""
    for truth, mid in zip(truths, ids, strict=True):
        stored = sorted((t, row) for (m, t), row in readings.items() if m == mid)
        assert [t for t, _ in stored] == [us_of(ts) for ts in truth.stamps]
        assert [row[0] for _, row in stored] == list(truth.sent)
        values = [row[1] for _, row in stored]
        flags = [row[2] for _, row in stored]
        assert all(v >= 0 for v in values), values
        for got, want in zip(values, truth.consumption, strict=True):
            assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9), (values, truth)
        assert math.isclose(math.fsum(values), truth.total, rel_tol=1e-12, abs_tol=1e-9)
        assert [i for i, f in enumerate(flags) if f & Flag.FIRST] == [0]
        wrapped = [i for i, f in enumerate(flags) if f & Flag.ROLLOVER]
        assert wrapped == ([] if truth.wrapped is None else [truth.wrapped])
        swapped = [i for i, f in enumerate(flags) if f & Flag.REPLACEMENT]
        assert swapped == ([] if truth.swapped is None else [truth.swapped])
        assert not any(f & Flag.CORRECTED for f in flags)


def flat(truths: Sequence[Truth]) -> list[tuple[int, int]]:
    """Every reading of the meters, as (meter position, reading index)."""
    return [(i, k) for i, t in enumerate(truths) for k in range(len(t.stamps))]


def in_time_order(truths: Sequence[Truth]) -> list[tuple[int, int]]:
    return sorted(flat(truths), key=lambda p: truths[p[0]].stamps[p[1]])


# --- 1. cumulative → interval -----------------------------------------------------------------


@given(truths=st.lists(counters(), min_size=1, max_size=3), data=st.data())
@settings(max_examples=300, deadline=None)
def test_counters_become_intervals_in_any_order_and_batching(
    truths: list[Truth], data: st.DataObject
) -> None:
    """Cumulative → interval (pure plan): for plausible non-decreasing counters, with a rollover
    at the meter's ``rollover_at`` or a device swap, delivered in any order and batch split (and
    several meters in a batch), each stored interval is the consumption the counters were
    generated from (≥ 0, the first reading flagged FIRST and 0), the intervals sum to
    last − first (adjusted for the wrap or the swap), nothing is refused, and the stored state
    is exactly that of sending everything at once in time order."""
    note(repr(truths))  # Hypothesis shows dataclass arguments empty
    specs = [t.spec for t in truths]
    meters, codes = memory_meters(specs)
    ids = list(meters)
    picks = flat(truths)
    store = MemoryStore(meters, replacements_of(specs, ids))
    for batch in data.draw(deliveries(len(picks)), label="batches"):
        outcome = store.ingest(raws_of(truths, codes, [picks[k] for k in batch]))
        assert outcome.rejected == []
        assert outcome.corrected == 0
    check_counters(truths, ids, store.readings)
    at_once = MemoryStore(meters, replacements_of(specs, ids))
    assert at_once.ingest(raws_of(truths, codes, in_time_order(truths))).rejected == []
    assert store.readings == at_once.readings
    assert_rollups_are_sums(store.readings, store.rollups)


@given(truths=st.lists(counters(), min_size=1, max_size=2), data=st.data())
@settings(max_examples=20, **DB_SETTINGS)
def test_the_writer_turns_counters_into_intervals_in_any_order(
    db: Database, world: World, truths: list[Truth], data: st.DataObject
) -> None:
    """Cumulative → interval (writer, SQLite and PostgreSQL): the same property through
    ``ReadingsWriter.ingest``: stored intervals are the generated consumption, whatever the
    arrival order and batching, identical to the pure plan applied at once, and the rollups in
    ``meter_rollups`` are the sums of the stored readings."""
    note(repr(truths))
    specs = [t.spec for t in truths]
    meters = create_meters(db, world, specs)
    ids = list(meters)
    codes = [meters[m].code for m in ids]
    picks = flat(truths)
    for batch in data.draw(deliveries(len(picks)), label="batches"):
        result = store_tests.ingest(db, raws_of(truths, codes, [picks[k] for k in batch]))
        assert (result.quarantined, result.corrected) == (0, 0), result.rejected
    readings, rollups = db_state(db, ids)
    check_counters(truths, ids, readings)
    at_once = MemoryStore(meters, replacements_of(specs, ids))
    at_once.ingest(raws_of(truths, codes, in_time_order(truths)))
    assert readings == at_once.readings
    assert_rollups_are_sums(readings, rollups)
    assert_same_rollups(rollups, at_once.rollups)


# --- 2. idempotent re-ingestion ---------------------------------------------------------------

mixed = st.lists(st.one_of(counters(), intervals()), min_size=1, max_size=3)
#: Any batches of already-sent readings: overlapping, repeating, partial.
resends = st.lists(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=30), min_size=1, max_size=4
)


@given(truths=mixed, data=st.data())
@settings(max_examples=300, deadline=None)
def test_reingestion_changes_nothing(truths: list[Truth], data: st.DataObject) -> None:
    """Idempotent re-ingestion (pure plan): once a set of readings (interval and cumulative
    meters) is stored, sending any of them again, in any permutation and batching, with
    overlapping batches and repeats inside a batch, writes no row, counts every reading as a
    duplicate (none stored, corrected or refused), and leaves readings and rollups identical.
    The first pass, with repeats inside its batches, stores each distinct reading once."""
    note(repr(truths))
    specs = [t.spec for t in truths]
    meters, codes = memory_meters(specs)
    picks = flat(truths)
    store = MemoryStore(meters, replacements_of(specs, list(meters)))
    first = data.draw(deliveries(len(picks), repeats="in_batch"), label="first pass")
    totals = [0, 0, 0]
    for batch in first:
        outcome = store.ingest(raws_of(truths, codes, [picks[k] for k in batch]))
        assert outcome.rejected == []
        totals = [
            totals[0] + outcome.stored,
            totals[1] + outcome.corrected,
            totals[2] + outcome.duplicates,
        ]
    sent = sum(len(b) for b in first)
    assert totals == [len(picks), 0, sent - len(picks)]
    readings, rollups = dict(store.readings), dict(store.rollups)
    for batch in data.draw(resends, label="second pass"):
        again = [picks[k % len(picks)] for k in batch]
        outcome = store.ingest(raws_of(truths, codes, again))
        assert outcome.rejected == []
        assert (outcome.stored, outcome.corrected, outcome.duplicates) == (0, 0, len(again))
        assert outcome.written == 0
    assert store.readings == readings
    assert store.rollups == rollups


@given(truths=mixed, data=st.data())
@settings(max_examples=15, **DB_SETTINGS)
def test_the_writer_reingests_idempotently(
    db: Database, world: World, truths: list[Truth], data: st.DataObject
) -> None:
    """Idempotent re-ingestion (writer, SQLite and PostgreSQL): after a first pass with repeats
    inside batches, any overlapping re-sends through ``ingest``, then everything again through
    ``ingest_arrays`` (the demo loader's path), count only duplicates and leave the readings
    and the rollups exactly as they were."""
    note(repr(truths))
    specs = [t.spec for t in truths]
    meters = create_meters(db, world, specs)
    ids = list(meters)
    codes = [meters[m].code for m in ids]
    picks = flat(truths)
    first = data.draw(deliveries(len(picks), repeats="in_batch"), label="first pass")
    stored = duplicates = 0
    for batch in first:
        result = store_tests.ingest(db, raws_of(truths, codes, [picks[k] for k in batch]))
        assert (result.quarantined, result.corrected) == (0, 0), result.rejected
        stored, duplicates = stored + result.stored, duplicates + result.duplicates
    assert (stored, duplicates) == (len(picks), sum(len(b) for b in first) - len(picks))
    before = db_state(db, ids)
    for batch in data.draw(resends, label="second pass"):
        again = [picks[k % len(picks)] for k in batch]
        result = store_tests.ingest(db, raws_of(truths, codes, again))
        assert (result.stored, result.corrected, result.duplicates, result.quarantined) == (
            0,
            0,
            len(again),
            0,
        )
    order = data.draw(st.permutations(picks), label="arrays")
    with Session(db.engine) as session:
        result = ReadingsWriter(session).ingest_arrays(
            np.asarray([ids[i] for i, _ in order], np.int64),
            np.asarray([us_of(truths[i].stamps[k]) for i, k in order], np.int64),
            np.asarray([truths[i].sent[k] for i, k in order], np.float64),
            now=NOW,
            channel=Channel.DEMO,
        )
        session.commit()
    assert (result.stored, result.corrected, result.duplicates, result.quarantined) == (
        0,
        0,
        len(order),
        0,
    )
    assert db_state(db, ids) == before


# --- 3. each rollup is the sum of its readings ------------------------------------------------


@dataclass(frozen=True)
class Messy:
    """Meters, a pool of instants per meter, and batches of (meter, instant, value) to send."""

    specs: tuple[Spec, ...]
    pools: tuple[tuple[dt.datetime, ...], ...]
    batches: tuple[tuple[tuple[int, int, float], ...], ...]


@st.composite
def messy(draw: st.DrawFn, *, max_batches: int = 6) -> Messy:
    """Anything a field could send: repeats, corrections (another value for a stored instant,
    in a later batch or the same one), counters running backwards, wrapping at random, jumping
    implausibly, across device swaps; interval values above the meter's maximum.

    A value is mostly the meter's "true" one (a counter rising by 25 per instant), otherwise
    any, so that exact re-sends and corrections are both frequent.
    """
    specs, pools = [], []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["interval", "cumulative"]))
        pool = draw(stamp_series(draw(st.integers(2, 8))))
        multiplier = draw(st.sampled_from([1.0, 2.0, 0.5]))
        max_per_hour = draw(st.sampled_from([None, None, 2000.0]))
        rollover_at = replacement = None
        if kind == "cumulative":
            rollover_at = draw(st.sampled_from([None, 1000.0]))
            if draw(st.booleans()):
                replacement = (
                    draw(st.sampled_from(pool)) - dt.timedelta(minutes=1),
                    draw(quarters(0, 3999)),
                    draw(quarters(0, 3999)),
                )
        specs.append(Spec(kind, multiplier, rollover_at, max_per_hour, replacement))
        pools.append(pool)

    # (meter, instant, value): any meter and instant (by remainder), the true value or any.
    reading = st.tuples(
        st.integers(0, 2), st.integers(0, 7), st.one_of(st.none(), quarters(0, 3999))
    ).map(
        lambda r: (
            r[0] % len(specs),
            r[1] % len(pools[r[0] % len(specs)]),
            500.0 + 25 * (r[1] % len(pools[r[0] % len(specs)])) if r[2] is None else r[2],
        )
    )
    batch = st.lists(reading, min_size=1, max_size=12)
    batches = draw(st.lists(batch.map(tuple), min_size=1, max_size=max_batches))
    return Messy(tuple(specs), tuple(pools), tuple(batches))


def messy_raws(
    scenario: Messy, codes: Sequence[str], batch: Sequence[tuple[int, int, float]]
) -> list[RawReading]:
    return [
        RawReading(codes[i], stamp_text(scenario.pools[i][k], pos + k), value, ref=f"{i}/{k}")
        for pos, (i, k, value) in enumerate(batch)
    ]


def check_messy_state(
    scenario: Messy,
    meters: dict[int, MeterInfo],
    sent: Sequence[tuple[int, int, float]],
    readings: Readings,
    *,
    recompute: bool,
) -> None:
    """What must hold of the stored readings after any batches.

    Interval meters: each instant ever accepted holds the last accepted value (a correction
    replaces, an in-batch repeat's last value wins), times the multiplier. Cumulative meters:
    no interval is negative. With ``recompute``: every stored interval value and flag is what
    the stored counters and instants give when planned at once (incremental planning equals
    planning from scratch).
    """
    ids = list(meters)
    last: dict[tuple[int, int], float] = {}
    for i, k, value in sent:
        spec, interval_s = scenario.specs[i], meters[ids[i]].interval_s
        limit = None if spec.max_per_hour is None else spec.max_per_hour * interval_s / 3600
        if spec.kind == "interval" and (limit is None or value * spec.multiplier <= limit):
            last[(ids[i], us_of(scenario.pools[i][k]))] = value
    for (mid, ts_us), (raw, value, _flags) in readings.items():
        info = meters[mid]
        if info.kind == "interval":
            assert raw == last[(mid, ts_us)]
            assert value == raw * info.multiplier
        else:
            assert value >= 0, (mid, ts_us, raw, value)
    assert {key for key in readings if meters[key[0]].kind == "interval"} == set(last)
    if not recompute:
        return
    # From scratch, without the rate check (it judges only readings as they arrive).
    recomputed = MemoryStore(
        {m: replace(info, max_per_hour=None) for m, info in meters.items()},
        replacements_of(scenario.specs, ids),
    )
    rows = sorted((t, m, raw) for (m, t), (raw, _, _) in readings.items())
    outcome = recomputed.ingest(
        [
            RawReading(meters[m].code, (EPOCH + dt.timedelta(microseconds=t)).isoformat(), raw)
            for t, m, raw in rows
        ]
    )
    assert outcome.rejected == []
    assert set(recomputed.readings) == set(readings)
    for key, (raw, value, flags) in recomputed.readings.items():
        got_raw, got_value, got_flags = readings[key]
        assert (got_raw, got_value) == (raw, value), key
        assert got_flags & ~Flag.CORRECTED == flags, key


@given(scenario=messy())
@settings(max_examples=150, deadline=None)
def test_each_rollup_is_the_sum_of_its_readings(scenario: Messy) -> None:
    """Rollups (pure plan): after every batch of any sequence (repeats, corrections replacing
    stored values, refused counters, wraps, swaps, several meters), each hour, day and month
    rollup equals the sum and count of its stored readings, with buckets of Asia/Shanghai
    computed by the zone database for end-stamped readings (00:00 local closes the previous
    day); interval meters hold the last value sent, counters no negative interval; and the
    stored intervals and flags are those of planning the stored counters from scratch (this
    found defect D1, below)."""
    note(repr(scenario))
    meters, codes = memory_meters(scenario.specs)
    ids = list(meters)
    store = MemoryStore(meters, replacements_of(scenario.specs, ids))
    sent: list[tuple[int, int, float]] = []
    recompute = True
    for batch in scenario.batches:
        store.ingest(messy_raws(scenario, codes, batch))
        sent += batch
        assert_rollups_are_sums(store.readings, store.rollups)
        check_messy_state(scenario, meters, sent, store.readings, recompute=recompute)


@given(scenario=messy(max_batches=4))
@settings(max_examples=20, **DB_SETTINGS)
def test_the_writer_keeps_each_rollup_the_sum_of_its_readings(
    db: Database, world: World, scenario: Messy
) -> None:
    """Rollups (writer, SQLite and PostgreSQL): after any batches with repeats, corrections,
    refusals, wraps and swaps, each row of ``meter_rollups`` equals the sum and count of the
    stored readings of its Asia/Shanghai bucket (recomputed from ``readings`` in the test), the
    counts of every batch and the stored rows are exactly those of the pure plan in memory, and
    the checks of ``check_messy_state`` hold."""
    note(repr(scenario))
    meters = create_meters(db, world, scenario.specs)
    ids = list(meters)
    codes = [meters[m].code for m in ids]
    model = MemoryStore(meters, replacements_of(scenario.specs, ids))
    sent: list[tuple[int, int, float]] = []
    recompute = True
    for batch in scenario.batches:
        raws = messy_raws(scenario, codes, batch)
        result = store_tests.ingest(db, raws)
        outcome = model.ingest(raws)
        assert (result.stored, result.corrected, result.duplicates, result.quarantined) == (
            outcome.stored,
            outcome.corrected,
            outcome.duplicates,
            len(outcome.rejected),
        )
        sent += batch
    readings, rollups = db_state(db, ids)
    assert_rollups_are_sums(readings, rollups)
    check_messy_state(scenario, meters, sent, readings, recompute=recompute)
    assert readings == model.readings
    assert_same_rollups(rollups, model.rollups)


# --- 4. tce is the GB/T 2589 conversion of the energy -----------------------------------------

#: GB/T 2589-2020 Appendix A/B equivalent-value coefficients, as printed in
#: ../shared/reference/standards.md §3: (platform carrier, coefficient, its unit).
GBT2589 = {
    "electricity": (0.1229, "kgce/kWh"),  # 电力(当量值) 3600 kJ/kWh (860 kcal)
    "heat": (0.03412, "kgce/MJ"),  # 热力(当量值) 0.03412 kgce/MJ = 34.12 kgce/GJ
    "raw_coal": (0.7143, "kgce/kg"),  # 原煤 20 908 kJ/kg (5000 kcal)
    "natural_gas": (1.3300, "kgce/m3"),  # 油田天然气 38 931 kJ/m3 (9310 kcal) [unconfirmed row]
    "fresh_water": (0.0857, "kgce/t"),  # 新水 2.51 MJ/t (Appendix B)
}
#: Meter carrier and unit → (GB/T 2589 carrier, units of the coefficient's per-unit in one meter
#: unit). The carrier mapping is CARRIER_TCE of the series endpoint.
CASES = {
    ("electricity", "kWh"): ("electricity", 1.0),
    ("electricity", "MWh"): ("electricity", 1000.0),
    ("heat", "GJ"): ("heat", 1000.0),
    ("heat", "MJ"): ("heat", 1.0),
    ("coal", "t"): ("raw_coal", 1000.0),
    ("coal", "kg"): ("raw_coal", 1.0),
    ("natural_gas", "m3"): ("natural_gas", 1.0),
    ("natural_gas", "Nm3"): ("natural_gas", 1.0),
    ("natural_gas", "1e4Nm3"): ("natural_gas", 1e4),
    ("water", "t"): ("fresh_water", 1.0),
}


def tce_per_unit(carrier: str, unit: str) -> float:
    """Standard coal per meter unit from the standard's table. [tce/unit]"""
    gbt_carrier, per_unit = CASES[(carrier, unit)]
    return GBT2589[gbt_carrier][0] * per_unit / 1000


@given(
    case=st.sampled_from(sorted(CASES)),
    amount=st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
    year=st.integers(2020, 2026),
)
@settings(max_examples=300, deadline=None)
def test_tce_is_the_gbt2589_conversion_of_the_amount(
    library: FactorLibrary, case: tuple[str, str], amount: float, year: int
) -> None:
    """tce (calc function used by the series endpoint): ``energy_tce`` of an amount of a carrier
    is amount × the GB/T 2589-2020 equivalent-value coefficient of standards.md §3 (converted to
    the amount's unit) / 1000, to 1e-12, with that coefficient (and its source) in the
    lineage."""
    carrier, unit = case
    gbt_carrier, _ = CASES[case]
    result = calculate(
        {
            "id": "tce",
            "method": "energy_tce",
            "carrier": gbt_carrier,
            "year": year,
            "amount": amount,
            "unit": unit,
        },
        library,
    )
    assert result.tce_t is not None
    assert math.isclose(result.tce_t, amount * tce_per_unit(carrier, unit), rel_tol=1e-12)
    (factor,) = result.factors
    assert (factor.key, factor.value, factor.unit) == (
        f"cn.tce.{gbt_carrier}.equivalent",
        GBT2589[gbt_carrier][0],
        GBT2589[gbt_carrier][1],
    )
    assert factor.source_id == "gbt-2589-2020"


@given(
    case=st.sampled_from(sorted(CASES)),
    values=st.lists(quarters(0, 40_000), min_size=1, max_size=10),
    stamps=st.integers(1, 10).flatmap(stamp_series),
)
@settings(max_examples=10, **DB_SETTINGS)
def test_the_series_gives_tce_as_the_gbt2589_conversion_of_gj(
    db: Database,
    world: World,
    client: TestClient,
    case: tuple[str, str],
    values: list[float],
    stamps: tuple[dt.datetime, ...],
) -> None:
    """tce (series endpoint, SQLite and PostgreSQL): for a meter of any carrier and unit, at
    every resolution, each point's tce is its value × the meter's GB/T 2589 coefficient
    (standards.md §3), ``tce_per_unit`` is that coefficient, and tce == gj / 29.3076 (1 tce =
    29.3076 GJ, GB/T 2589-2020) to 1e-12; the day points are the sums of the readings."""
    carrier, unit = case
    with Session(db.engine) as session:
        meter = Store(session, SYSTEM).create_meter(
            {
                "org_id": world.org["A1-F1"],
                "code": f"TCE-{uuid.uuid4().hex[:12]}",
                "name_zh": "折标测试表",
                "carrier": carrier,
                "unit": unit,
                "kind": "interval",
            }
        )
        session.commit()
        meter_id, code = meter.id, meter.code
    raws = [
        RawReading(code, stamp_text(ts, k), v)
        for k, (ts, v) in enumerate(zip(stamps, values, strict=False))
    ]
    assert store_tests.ingest(db, raws).stored == len(raws)
    days = [local_buckets(us_of(ts))["day"] for ts in stamps[: len(raws)]]
    start = (EPOCH + dt.timedelta(microseconds=days[0])).astimezone(CST).date()
    end = (EPOCH + dt.timedelta(microseconds=days[-1])).astimezone(CST).date() + dt.timedelta(1)
    expected = tce_per_unit(carrier, unit)
    day_totals: dict[str, float] = defaultdict(float)
    for raw in raws:
        bucket = local_buckets(to_us(dt.datetime.fromisoformat(str(raw.ts))))["day"]
        local = (EPOCH + dt.timedelta(microseconds=bucket)).astimezone(CST)
        day_totals[local.isoformat()] += float(raw.value)
    for resolution in ("15min", "hour", "day", "month"):
        r = client.get(
            f"/api/v1/meters/{meter_id}/series",
            params={"start": str(start), "end": str(end), "resolution": resolution},
            headers=world.auth("viewer"),
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["gj_per_tce"] == GJ_PER_TCE_GBT2589 == GJ_PER_TCE
        assert math.isclose(body["tce_per_unit"], expected, rel_tol=1e-12)
        gbt_carrier = CASES[case][0]
        assert [(f["key"], f["value"]) for f in body["factors"]] == [
            (f"cn.tce.{gbt_carrier}.equivalent", GBT2589[gbt_carrier][0])
        ]
        assert body["points"]
        for point in body["points"]:
            assert math.isclose(point["tce"], point["value"] * expected, rel_tol=1e-12)
            assert math.isclose(point["tce"], point["gj"] / GJ_PER_TCE_GBT2589, rel_tol=1e-12)
        if resolution == "day":
            got = {p["ts"]: p["value"] for p in body["points"]}
            assert got == pytest.approx(dict(day_totals), rel=1e-12)


# --- defects found by these properties, fixed -------------------------------------------------

#: D1 (fixed): plan_batch did not re-plan a re-sent reading equal to the stored one (a
#: 'duplicate'), so when the same batch filled the gap before it, its interval value and flags
#: went stale. The smallest case: counters 100, 150, 300 every 15 minutes; the first batch
#: brings the 1st and 3rd, the second the 2nd and the 3rd again. The 3rd kept 200 (300 − 100)
#: instead of 150 (300 − 150): the meter showed 250 consumed instead of 200.
D1_STAMPS = tuple(dt.datetime(2026, 1, 5, 8, 15 * k, tzinfo=CST) for k in range(3))
D1_TRUTH = Truth(Spec("cumulative"), D1_STAMPS, (100.0, 150.0, 300.0), (0.0, 50.0, 150.0), 200.0)


def redelivered() -> st.SearchStrategy[tuple[list[Truth], list[list[int]]]]:
    """Counter meters and a delivery that re-sends some readings in later batches."""
    return st.lists(counters(), min_size=1, max_size=2).flatmap(
        lambda truths: st.tuples(st.just(truths), deliveries(len(flat(truths)), repeats="anywhere"))
    )


@given(case=redelivered())
@example(case=([D1_TRUTH], [[0, 2], [1, 2]]))
@settings(max_examples=50, deadline=None)
def test_redelivered_counters_become_intervals(case: tuple[list[Truth], list[list[int]]]) -> None:
    """Cumulative → interval with re-deliveries (pure plan): as property 1, with some readings
    sent again in later batches (a device re-sending its buffer after a reconnection): the
    stored intervals are the generated consumption and equal sending everything at once."""
    truths, batches = case
    note(repr(truths))
    specs = [t.spec for t in truths]
    meters, codes = memory_meters(specs)
    ids = list(meters)
    picks = flat(truths)
    store = MemoryStore(meters, replacements_of(specs, ids))
    for batch in batches:
        assert store.ingest(raws_of(truths, codes, [picks[k] for k in batch])).rejected == []
    check_counters(truths, ids, store.readings)
    at_once = MemoryStore(meters, replacements_of(specs, ids))
    at_once.ingest(raws_of(truths, codes, in_time_order(truths)))
    assert store.readings == at_once.readings


def test_the_writer_counts_a_filled_gap_once(db: Database, world: World) -> None:
    """D1 through the writer (SQLite and PostgreSQL): counters 100 and 300 stored, then a batch
    with the missing 150 and the 300 again: the month consumed 200 (300 − 100), in 50 + 150."""
    meters = create_meters(db, world, [D1_TRUTH.spec])
    (meter_id,) = meters
    code = meters[meter_id].code
    for batch in ([0, 2], [1, 2]):
        store_tests.ingest(db, raws_of([D1_TRUTH], [code], [(0, k) for k in batch]))
    readings, rollups = db_state(db, [meter_id])
    assert [value for _, value, _ in readings.values()] == [0.0, 50.0, 150.0]
    assert [value for (_, res, _), (value, _) in rollups.items() if res == "month"] == [200.0]


# D2 (fixed): ingest_arrays skipped deduplication: a (meter, ts) repeated in the arrays over a
# stored reading was planned as a new key (PostgreSQL: unique violation; SQLite: its value added
# to the rollups again).
def test_ingest_arrays_with_a_repeated_instant_keeps_rollups_the_sums(
    db: Database, world: World
) -> None:
    """Idempotent re-ingestion through ``ingest_arrays`` (documented as still deduplicating):
    arrays holding the same (meter, ts) twice, sent twice, store it once and keep each rollup
    the sum of its readings; the second pass counts only duplicates (both repeats)."""
    (meter_id,) = create_meters(db, world, [Spec("interval")])
    ts_us = us_of(dt.datetime(2026, 1, 5, 0, 15, tzinfo=CST))
    arrays = (
        np.asarray([meter_id, meter_id], np.int64),
        np.asarray([ts_us, ts_us], np.int64),
        np.asarray([5.0, 5.0], np.float64),
    )
    results = []
    for _ in range(2):
        with Session(db.engine) as session:
            results.append(
                ReadingsWriter(session).ingest_arrays(*arrays, now=NOW, channel=Channel.DEMO)
            )
            session.commit()
    readings, rollups = db_state(db, [meter_id])
    assert readings == {(meter_id, ts_us): (5.0, 5.0, 0)}
    assert_rollups_are_sums(readings, rollups)
    assert (results[1].stored, results[1].duplicates) == (0, 2)

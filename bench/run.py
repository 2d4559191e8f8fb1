"""Benchmark the batch calculation contract (``shuangtan calc``): throughput and peak memory.

``make bench`` runs this script. It generates (or reuses) the seeded input of ``bench/gen.py``
under ``bench/out/`` and measures, each in its own fresh subprocess:

* ``baseline`` — the I/O + JSON floor: every line decoded with ``orjson.loads`` and a small
  ``{"id": …, "co2e_t": 0.0}`` written with ``orjson.dumps``, chunk by chunk like the engines;
* ``vector`` — ``run_batch(engine="vector")`` (target ≥ 200,000 records/s);
* ``record`` — ``run_batch(engine="record")``, on a smaller prefix of the same input;
* ``vector`` once more on the record engine's input, to check that both engines write
  byte-identical output (sha256). A mismatch makes the script exit 1.

Each worker loads the factor library before starting the clock and reports that start-up
separately; it times the batch loop with ``time.perf_counter()``, and reads its CPU time and its
peak RSS (and those of the vector engine's process pool, if it used one) from ``getrusage``.
The best of ``--repeat`` runs is kept, and every engine is also reported as a ratio to the
baseline of the same run, which stays comparable when the machine is noisy. A missed target is
reported, never failed: benchmarks report, tests assert.

The table goes to standard output and the same figures to ``bench/out/results.json``.

A second section, ``api``, benchmarks the HTTP server (``shuangtan serve``): ``POST /api/v1/calc``
and the park inventory read under concurrent clients. It lives in ``bench/api.py`` and runs in
its own process after this one; options this script does not know are passed to it.
A third section, ``readings``, benchmarks meter-reading ingestion (HTTP and MQTT into
PostgreSQL, SQLite) against plain COPY / INSERT floors; it lives in ``bench/readings.py`` and
uses the PostgreSQL server of ``SHUANGTAN_BENCH_PG`` (default the local one) and the broker on
127.0.0.1:1883, skipping (and saying so) the cases whose service is missing.
A fourth section, ``pages``, measures the server time of every dashboard page on the demo park
(in process, signed in as ``park``) against ``GET /api/v1/auth/me``; it lives in
``bench/pages.py`` and writes ``bench/out/results-pages.json``.
A fifth section, ``reports``, measures the reports on the demo park (an enterprise's annual
inventory report as PDF, HTML, Excel; the park summary over its 25 enterprises as PDF), each
against the same report's JSON; it lives in ``bench/reports.py`` and writes
``bench/out/results-reports.json``.
``--only calc``, ``--only api``, ``--only readings``, ``--only pages`` or ``--only reports``
runs one section.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path
from typing import Any, BinaryIO

from report import table  # bench/report.py, beside this file (sys.path[0])

_T0 = time.perf_counter()  # worker start-up is measured from here (stdlib already imported)

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = OUT / "results.json"
GEN = BENCH / "gen.py"
API = BENCH / "api.py"
READINGS = BENCH / "readings.py"
PAGES = BENCH / "pages.py"
REPORTS = BENCH / "reports.py"
SECTIONS = ("calc", "api", "readings", "pages", "reports")
TARGET_RPS = 200_000  # vector engine on the 2-core reference machine
CHUNK_LINES = 32_768  # as shuangtan.services.batch.CHUNK_LINES
FULL = (1_000_000, 200_000)  # records for the vector engine and baseline, for the record engine
QUICK = (100_000, 20_000)
CASES = ("baseline", "vector", "record")
LABELS = {
    "baseline": "baseline (orjson I/O)",
    "vector": "vector engine",
    "record": "record engine",
    "vector-check": "vector (check input)",
}


# --- worker: one measurement, in a fresh process ----------------------------------------------


def _peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """CPU time of this process and of its children that have ended (a process pool's)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _vm_hwm_mib() -> float | None:
    """Peak RSS of this process image, from /proc (Linux), as a check on ``ru_maxrss``.

    Linux keeps ``ru_maxrss`` across ``execve``, so a worker's figure can never be below the peak
    RSS of the parent that spawned it; ``VmHWM`` starts afresh with the new image. The two agree
    as long as the parent stays smaller than its workers, which is why it imports so little.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _baseline(source: BinaryIO, sink: BinaryIO) -> tuple[int, int]:
    """Decode every line and write a small object per line: the floor of any engine.

    Output is gathered in a ``bytearray`` and written every ``CHUNK_LINES`` lines, as the record
    engine does (holding the ``bytes`` of ``orjson.dumps`` instead would cost 4 KiB per line).
    """
    import orjson

    loads, dumps, decode_error = orjson.loads, orjson.dumps, orjson.JSONDecodeError
    records = failed = 0
    out = bytearray()
    for raw in source:
        try:
            rec = loads(raw)
            record_id = rec["id"] if isinstance(rec, dict) else None
        except decode_error:
            record_id = None
            failed += 1
        out += dumps({"id": record_id, "co2e_t": 0.0})
        out += b"\n"
        records += 1
        if records % CHUNK_LINES == 0:
            sink.write(out)
            out.clear()
    sink.write(out)
    sink.flush()
    return records, failed


def worker(
    case: str, source_path: Path, sink_path: Path, pool: int | None = None
) -> dict[str, Any]:
    """Measure one case: start-up (imports, factor library), then the timed batch loop."""
    run: Any
    if case == "baseline":
        import orjson  # noqa: F401  (imported before the clock, as the engines' modules are)

        run = _baseline
    else:
        from shuangtan.services.batch import run_batch
        from shuangtan.services.calculation import default_library

        default_library()  # ~0.5 s, once per process: start-up, not throughput
        if case == "vector":
            import shuangtan.services.vectorised  # noqa: F401  (run_batch imports it lazily)
        options: dict[str, Any] = {"engine": case}
        if pool is not None and case == "vector":
            options["workers"] = pool  # run_batch's process pool (vector engine only)

        def run(source: BinaryIO, sink: BinaryIO) -> tuple[int, int]:
            summary = run_batch(source, sink, **options)
            return summary.records, summary.failed

    startup_s = time.perf_counter() - _T0
    startup_mib = _peak_mib()
    with source_path.open("rb") as source, sink_path.open("wb") as sink:
        cpu = _cpu_s()
        start = time.perf_counter()
        records, failed = run(source, sink)
        seconds = time.perf_counter() - start
        cpu = _cpu_s() - cpu
    children_mib = _peak_mib(resource.RUSAGE_CHILDREN)
    return {
        "case": case,
        "records": records,
        "failed": failed,
        "seconds": seconds,
        "cpu_s": cpu,
        "startup_s": startup_s,
        "startup_mib": startup_mib,
        "peak_mib": _peak_mib(),
        "vm_hwm_mib": _vm_hwm_mib(),
        "pool_peak_mib": children_mib or None,
    }


# --- parent: inputs, runs, report -------------------------------------------------------------


@dataclass
class Input:
    """One generated input file and what the generator says about it."""

    path: Path
    records: int
    bad: int
    seed: int


@dataclass
class Result:
    """The best of the repeated runs of one case."""

    case: str
    label: str
    input: str
    records: int
    failed: int
    expected_failed: int
    seconds: float
    records_per_s: float
    cpu_s: float
    startup_s: float
    startup_mib: float
    peak_mib: float
    vm_hwm_mib: float | None
    pool_peak_mib: float | None
    all_seconds: list[float] = field(default_factory=list)
    ratio_to_baseline: float | None = None
    target_rps: int | None = None
    verdict: str | None = None


def _sha256(path: Path, *, lines: int | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        if lines is None:
            while block := stream.read(1 << 20):
                digest.update(block)
        else:
            for _, line in zip(range(lines), stream, strict=False):
                digest.update(line)
    return digest.hexdigest()


def _json_from(argv: list[str], what: str) -> dict[str, Any]:
    """Run a helper process and return the JSON object on the last line of its stdout."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"bench: {what} failed with exit code {done.returncode}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def ensure_input(records: int, seed: int | None) -> Input:
    """The seeded input of ``records`` lines: reused when gen.py, seed and size are unchanged.

    Generated by ``bench/gen.py`` in its own process, so that the parent stays small.
    """
    path = OUT / f"input-{records}.jsonl"
    meta_path = path.with_suffix(".meta.json")
    want = {"records": records, "seed_arg": seed, "gen_sha256": _sha256(GEN)}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in want} == want:
            return Input(path, records, meta["bad"], meta["seed"])
    argv = [sys.executable, str(GEN), "--records", str(records), "--out", str(path), "--json"]
    if seed is not None:
        argv += ["--seed", str(seed)]
    made = _json_from(argv, "bench/gen.py")
    meta_path.write_text(json.dumps({**want, **made}, indent=2) + "\n")
    print(
        f"generated {path.relative_to(BENCH.parent)}: {records:,} lines, {made['bad']:,} "
        f"deliberately bad, in {made['seconds']:.1f} s",
        file=sys.stderr,
    )
    return Input(path, records, made["bad"], made["seed"])


def _spawn(case: str, source: Path, sink: Path, pool: int | None) -> dict[str, Any]:
    engine = "vector" if case == "vector-check" else case
    argv = [sys.executable, __file__, "--worker", engine, str(source), str(sink)]
    if pool is not None:
        argv += ["--workers", str(pool)]
    return _json_from(argv, f"the {case} worker")


def _best(case: str, inp: Input, runs: list[dict[str, Any]]) -> Result:
    best = min(runs, key=lambda r: r["seconds"])
    return Result(
        case=case,
        label=LABELS[case],
        input=str(inp.path.relative_to(BENCH.parent)),
        records=best["records"],
        failed=best["failed"],
        expected_failed=inp.bad,
        seconds=best["seconds"],
        records_per_s=best["records"] / best["seconds"],
        cpu_s=best["cpu_s"],
        startup_s=min(r["startup_s"] for r in runs),
        startup_mib=max(r["startup_mib"] for r in runs),
        peak_mib=max(r["peak_mib"] for r in runs),  # memory: the worst run, not the best
        vm_hwm_mib=max((r["vm_hwm_mib"] or 0.0 for r in runs), default=None) or None,
        pool_peak_mib=max((r["pool_peak_mib"] or 0.0 for r in runs), default=None) or None,
        all_seconds=[round(r["seconds"], 4) for r in runs],
    )


def _first_difference(a: Path, b: Path) -> int | None:
    with a.open("rb") as fa, b.open("rb") as fb:
        for number, (la, lb) in enumerate(zip_longest(fa, fb), start=1):
            if la != lb:
                return number
    return None


def _row(r: Result) -> list[str]:
    return [
        r.label,
        f"{r.records:,}",
        f"{r.startup_s:.2f}",
        f"{r.seconds:.2f}",
        f"{r.records_per_s:,.0f}",
        f"{r.ratio_to_baseline or 0:.3f}",
        f"{r.cpu_s:.2f}",
        f"{r.peak_mib:.1f}",
        f"{r.pool_peak_mib:.1f}" if r.pool_peak_mib else "-",
        f"≥ {r.target_rps:,}/s" if r.target_rps else "-",
        r.verdict or "-",
    ]


def machine_info() -> dict[str, Any]:
    """The machine and the versions measured (run in a worker: importing costs the parent RSS)."""
    import numpy
    import orjson

    import shuangtan
    from shuangtan.services.calculation import default_library

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "shuangtan": shuangtan.__version__,
        "factor_library": default_library().version,
        "numpy": numpy.__version__,
        "orjson": orjson.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark (and, with ``--worker``, of one measurement)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Options not listed here go to the api section: see bench/api.py --help.",
    )
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        action="append",
        help="run only this section, repeatable (default: calc, api, readings, pages, reports)",
    )
    parser.add_argument("--records", type=int, help="lines for the vector engine and baseline")
    parser.add_argument(
        "--record-engine-records", type=int, help="lines for the record engine (a prefix)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 / 20,000 records")
    parser.add_argument("--repeat", type=int, help="runs per case, best kept (1; 3 with --quick)")
    parser.add_argument("--seed", type=int, help="input seed (bench/gen.py's default)")
    parser.add_argument(
        "--workers", type=int, help="processes of the vector engine (run_batch's default: cores)"
    )
    parser.add_argument("--keep-outputs", action="store_true", help="keep bench/out/out-*.jsonl")
    parser.add_argument("--info", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--worker", nargs=3, metavar=("CASE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS
    )
    args, api_args = parser.parse_known_args(argv)

    if args.worker:
        case, source, sink = args.worker
        if case not in CASES:
            parser.error(f"--worker: the case must be one of {', '.join(CASES)}, not {case!r}")
        print(json.dumps(worker(case, Path(source), Path(sink), args.workers)))
        return 0
    if args.info:
        print(json.dumps(machine_info()))
        return 0
    sections = args.only or list(SECTIONS)
    if api_args and not {"api", "readings", "pages", "reports"} & set(sections):
        parser.error(f"unrecognized arguments: {' '.join(api_args)}")

    code = 0
    if "calc" in sections:
        code = max(code, run_calc(args, parser))
    if "api" in sections:
        if "calc" in sections:
            print()
        sys.stdout.flush()
        shared = (["--quick"] if args.quick else []) + (
            ["--seed", str(args.seed)] if args.seed is not None else []
        )
        code = max(code, subprocess.run([sys.executable, str(API), *shared, *api_args]).returncode)
    if "readings" in sections:
        if "calc" in sections or "api" in sections:
            print()
        sys.stdout.flush()
        shared = ["--quick"] if args.quick else []
        argv = [sys.executable, str(READINGS), *shared, *api_args]
        code = max(code, subprocess.run(argv).returncode)
    if "pages" in sections:
        if {"calc", "api", "readings"} & set(sections):
            print()
        sys.stdout.flush()
        shared = ["--quick"] if args.quick else []
        argv = [sys.executable, str(PAGES), *shared, *api_args]
        code = max(code, subprocess.run(argv).returncode)
    if "reports" in sections:
        if {"calc", "api", "readings", "pages"} & set(sections):
            print()
        sys.stdout.flush()
        shared = ["--quick"] if args.quick else []
        argv = [sys.executable, str(REPORTS), *shared, *api_args]
        code = max(code, subprocess.run(argv).returncode)
    return code


def run_calc(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The calc section: both engines and the baseline, the table, ``results.json``."""
    big_n, small_n = QUICK if args.quick else FULL
    big_n = args.records or big_n
    small_n = args.record_engine_records or small_n
    repeat = args.repeat or (3 if args.quick else 1)
    seed = args.seed
    if min(big_n, small_n, repeat, args.workers or 1) < 1:
        parser.error("--records, --record-engine-records, --repeat and --workers must be ≥ 1")

    machine = _json_from([sys.executable, __file__, "--info"], "machine information")
    OUT.mkdir(parents=True, exist_ok=True)
    inputs = {"big": ensure_input(big_n, seed), "small": ensure_input(small_n, seed)}
    plan = {
        "baseline": inputs["big"],
        "vector": inputs["big"],
        "record": inputs["small"],
        "vector-check": inputs["small"],
    }
    sinks = {case: OUT / f"out-{case}.jsonl" for case in plan}
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in plan}
    started = time.perf_counter()
    for _ in range(repeat):  # interleaved, so a burst of load hits every case alike
        for case, inp in plan.items():
            runs[case].append(_spawn(case, inp.path, sinks[case], args.workers))
    wall = time.perf_counter() - started

    results = {case: _best(case, plan[case], runs[case]) for case in plan}
    base_rps = results["baseline"].records_per_s
    for result in results.values():
        result.ratio_to_baseline = result.records_per_s / base_rps
    vec = results["vector"]
    vec.target_rps = TARGET_RPS
    vec.verdict = "meets target" if vec.records_per_s >= TARGET_RPS else "below target"

    digest_record = _sha256(sinks["record"])
    digest_vector = _sha256(sinks["vector-check"])
    identical = digest_record == digest_vector
    # The big vector output starts with the same lines (the small input is a prefix of the big).
    prefix_identical = (
        _sha256(sinks["vector"], lines=small_n) == digest_record if small_n <= big_n else None
    )
    first_diff = None if identical else _first_difference(sinks["record"], sinks["vector-check"])

    shown = [results[c] for c in CASES]
    header = [
        "case", "records", "startup s", "seconds", "records/s", "× baseline", "cpu s",
        "peak MiB", "pool MiB", "target", "verdict",
    ]  # fmt: skip
    rows = [header, *(_row(r) for r in shown)]
    print(f"shuangtan calc benchmark — best of {repeat} run(s) per case")
    print(table(rows, right={1, 2, 3, 4, 5, 6, 7, 8}))
    print()
    speedup = results["vector-check"].records_per_s / results["record"].records_per_s
    print(
        f"vector / record engine on the same {small_n:,} lines: {speedup:.1f}× "
        f"({results['vector-check'].records_per_s:,.0f} vs {results['record'].records_per_s:,.0f} "
        "records/s)"
    )
    if identical:
        print(
            f"identical output: yes — record and vector engines, {small_n:,} lines, "
            f"sha256 {digest_record[:16]}…"
            + ("" if prefix_identical is not False else " (but the big vector output differs!)")
        )
    else:
        print(
            f"identical output: NO — record {digest_record[:16]}… vs vector {digest_vector[:16]}…, "
            f"first different line {first_diff}; outputs kept in {OUT.relative_to(BENCH.parent)}/"
        )
    for r in shown:
        if r.vm_hwm_mib is not None and r.peak_mib > r.vm_hwm_mib + 2:
            print(
                f"warning: {r.label}: ru_maxrss {r.peak_mib:.1f} MiB but VmHWM {r.vm_hwm_mib:.1f} "
                "MiB; the figure includes the parent's memory (see _vm_hwm_mib)"
            )
    for r in (results["vector"], results["record"]):
        if r.failed != r.expected_failed:
            print(
                f"warning: {r.label} failed {r.failed:,} lines, but the input has "
                f"{r.expected_failed:,} deliberately bad ones"
            )
    print(
        f"failed lines (deliberately bad): vector {vec.failed:,} of {vec.records:,}, "
        f"record {results['record'].failed:,} of {results['record'].records:,}"
    )
    print(
        f"machine: {machine['cores']} cores (os.cpu_count), Python {machine['python']}, "
        f"{machine['platform']}, load average at start {machine['load_average_at_start'][0]}"
    )
    print(f"total measuring time {wall:.0f} s; figures in {RESULTS.relative_to(BENCH.parent)}")

    ok = identical and prefix_identical is not False
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "records": big_n,
            "record_engine_records": small_n,
            "repeat": repeat,
            "seed": inputs["big"].seed,
            "chunk_lines": CHUNK_LINES,
            "target_rps": TARGET_RPS,
            "vector_workers": args.workers,
        },
        "cases": {case: asdict(r) for case, r in results.items()},
        "vector_over_record_same_input": speedup,
        "identical_output": {
            "identical": identical,
            "records": small_n,
            "sha256_record": digest_record,
            "sha256_vector": digest_vector,
            "vector_big_output_prefix_identical": prefix_identical,
            "first_different_line": first_diff,
        },
        "measuring_wall_s": wall,
        "parent_peak_mib": _peak_mib(),
    }
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if ok and not args.keep_outputs:
        for sink in sinks.values():
            sink.unlink(missing_ok=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

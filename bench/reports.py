"""Benchmark the reports: an enterprise's annual report and the park summary, against JSON.

``run.py --only reports`` runs this section (so does ``python bench/reports.py``). It migrates
a fresh SQLite database in a temporary directory and loads the demo park with one month of
meter readings (``shuangtan db upgrade``, ``shuangtan demo load --months 1``, subprocesses,
outside the clock): 25 enterprises, more than the 20 the target is set for.

Each case runs in its own fresh process (``reports.py --worker CASE URL``), as the system
principal, through :func:`shuangtan.reports.generate` (document gathered from the database,
then rendered):

* ``enterprise json`` — JS-SGX-E01's 2025 inventory report as JSON: the baseline of the
  enterprise cases (the same data gathering, no rendering);
* ``enterprise html``, ``enterprise xlsx``, ``enterprise pdf`` (target < 2 s);
* ``park json`` — the park summary over its 25 enterprises as JSON: the park cases' baseline;
* ``park pdf`` (target < 10 s).

A worker imports everything and makes the report once untimed (``first s``: what a fresh
process pays, fonts and matplotlib loaded on first use), then ``--reports-runs`` more times
(5; 3 with ``--quick``); the table gives the median, the ratio of the median to its baseline's
median, and the peak RSS of the worker (VmHWM) and its growth over the worker's start-up.
The verdict is on the median wall time; on a loaded machine a miss says whether the CPU time
would have met it. A missed target is reported, never failed. Figures go to
``bench/out/results-reports.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import table  # bench/report.py, beside this file (sys.path[0])

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = OUT / "results-reports.json"
FULL, QUICK = 5, 3
ENTERPRISE, PARK, PERIOD = "JS-SGX-E01", "JS-SGX", "2025"
#: case → (report kind, organisation, format, baseline case, target [s] or None)
CASES: dict[str, tuple[str, str, str, str, float | None]] = {
    "enterprise json": ("inventory", ENTERPRISE, "json", "enterprise json", None),
    "enterprise html": ("inventory", ENTERPRISE, "html", "enterprise json", None),
    "enterprise xlsx": ("inventory", ENTERPRISE, "xlsx", "enterprise json", None),
    "enterprise pdf": ("inventory", ENTERPRISE, "pdf", "enterprise json", 2.0),
    "park json": ("park", PARK, "json", "park json", None),
    "park pdf": ("park", PARK, "pdf", "park json", 10.0),
}


def _vm_hwm_mib() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(case: str, url: str, runs: int) -> dict[str, Any]:
    """Measure one case in this (fresh) process."""
    from sqlalchemy.orm import Session

    from shuangtan.adapters.db.engine import make_engine
    from shuangtan.adapters.db.repositories import SYSTEM, Store
    from shuangtan.reports import ReportRequest, generate
    from shuangtan.services.calculation import default_library

    kind, code, fmt, _baseline, _target = CASES[case]
    default_library()  # start-up, as the server and the CLI load it once
    engine = make_engine(url)
    startup_mib = _rss_mib()
    times: list[float] = []
    cpu: list[float] = []
    enterprises = 0
    with Session(engine) as session:
        store = Store(session, SYSTEM)
        request = ReportRequest(kind, store.org_by_code(code).id, PERIOD, fmt, "zh_CN")
        progress: list[int] = []
        for n in range(runs + 1):
            progress.clear()
            session.expire_all()  # every run reads the database afresh
            c0, t0 = time.process_time(), time.perf_counter()
            report = generate(
                store, request, on_progress=lambda _done, total: progress.append(total)
            )
            seconds, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            if n == 0:
                first, size = seconds, len(report.content)
            else:
                times.append(seconds)
                cpu.append(cpu_s)
            enterprises = progress[-1] if progress else 0
    engine.dispose()
    return {
        "case": case,
        "kind": kind,
        "format": fmt,
        "org": code,
        "enterprises": enterprises,
        "bytes": size,
        "first_s": first,
        "seconds": [round(t, 4) for t in times],
        "median_s": statistics.median(times),
        "cpu_median_s": statistics.median(cpu),
        "startup_mib": startup_mib,
        "peak_mib": _vm_hwm_mib(),
    }


def load_demo(directory: Path) -> str:
    """A migrated SQLite database with the demo park (one month of readings); its URL."""
    url = f"sqlite:///{directory / 'reports.sqlite'}"
    env = {**os.environ, "SHUANGTAN_DATABASE_URL": url, "SHUANGTAN_UPLOAD_DIR": str(directory)}
    cli = [sys.executable, "-m", "shuangtan"]
    for args in (["db", "upgrade"], ["demo", "load", "--months", "1"]):
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"bench reports: shuangtan {' '.join(args)} failed")
    return url


def _spawn(case: str, url: str, runs: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", case, url, "--reports-runs", str(runs)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"bench reports: the {case!r} worker failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _row(r: dict[str, Any]) -> list[str]:
    target = r["target_s"]
    return [
        r["case"],
        str(r["enterprises"] or 1),
        f"{r['bytes'] / 1024:,.0f}",
        f"{r['first_s']:.2f}",
        f"{r['median_s']:.3f}",
        f"{r['cpu_median_s']:.3f}",
        f"{r['ratio']:.1f}",
        f"{r['peak_mib']:.0f}" if r["peak_mib"] else "-",
        f"{r['peak_mib'] - r['startup_mib']:.0f}" if r["peak_mib"] else "-",
        f"< {target:.0f}" if target else "-",
        r["verdict"],
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line of the reports benchmark (and, with ``--worker``, of one measurement)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} timed runs a case")
    parser.add_argument("--reports-runs", type=int, help=f"timed runs a case ({FULL})")
    parser.add_argument(
        "--reports-database-url", help="an already loaded demo database (else a fresh one)"
    )
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "URL"), help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args(argv)  # the other sections' options are ignored
    runs = args.reports_runs or (QUICK if args.quick else FULL)
    if runs < 1:
        parser.error("--reports-runs must be ≥ 1")
    if args.worker:
        case, url = args.worker
        if case not in CASES:
            parser.error(f"--worker: unknown case {case!r}")
        print(json.dumps(worker(case, url, runs)))
        return 0

    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as scratch:
        t0 = time.perf_counter()
        url = args.reports_database_url or load_demo(Path(scratch))
        load_s = time.perf_counter() - t0
        results = {case: _spawn(case, url, runs) for case in CASES}
    wall = time.perf_counter() - wall
    for case, r in results.items():
        _kind, _code, _fmt, baseline, target = CASES[case]
        r["baseline"] = baseline
        r["ratio"] = r["median_s"] / results[baseline]["median_s"]
        r["target_s"] = target
        if target is None:
            r["verdict"] = "-"
        elif r["median_s"] < target:
            r["verdict"] = "met"
        else:  # a loaded machine: say whether the work itself fits
            r["verdict"] = "missed" + (" (cpu met)" if r["cpu_median_s"] < target else "")

    header = [
        "case", "enterprises", "KiB", "first s", "median s", "cpu s", "× json", "peak MiB",
        "+MiB", "target s", "verdict",
    ]  # fmt: skip
    print(
        f"Reports: the demo park (SQLite, 1 month of readings), {PERIOD}, zh_CN, system "
        f"principal; each case in a fresh process, first run untimed then {runs} timed"
    )
    print(table([header, *(_row(r) for r in results.values())], right=set(range(1, 10))))
    print(
        "× json: median over the same report's JSON (same data gathering, no rendering); "
        "+MiB: peak RSS over the worker's RSS after start-up; the verdict is on the median "
        "wall time (cpu s: the worker's CPU time, what an unloaded machine's wall time would be)"
    )
    print(
        f"demo load {load_s:.1f} s (outside the clock); wall {wall:.1f} s; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "runs": runs,
                "period": PERIOD,
                "machine": {
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "cases": results,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

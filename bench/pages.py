"""Benchmark the dashboard pages: server time of each page on the demo park, against a baseline.

``run.py --only pages`` runs this section (so does ``python bench/pages.py``). It migrates a
fresh SQLite database in a temporary directory and loads the demo park with one month of meter
readings (``shuangtan db upgrade``, ``shuangtan demo load --months 1``, subprocesses, outside
the clock), then, in this process, drives the app with ``fastapi.testclient.TestClient`` signed
in as the demo account ``park`` (``POST /login``): no network, so the time is the server's
(routing, the page's queries, rendering) plus the in-process ASGI hop that every case, the
baseline included, pays alike.

Pages: ``/``, ``/enterprises``, ``/enterprises/<id>``, ``/meters``, ``/meters/<id>``, ``/entry``,
``/factors``, ``/admin/users``, ``/verifications``, ``/verifications/<id>``, ``/audit``,
``/reports``; the ids are the first enterprise, meter and verification case the API lists to
``park``. Each page is requested twice to warm up, then ``--pages-requests`` times (30; 10 with
``--quick``) one after the other; the table gives the median and the 95th percentile [ms] and
the ratio of the median to the baseline's median, where the baseline is ``GET /api/v1/auth/me``
in the same run (the same session lookup and transaction, a tiny JSON answer). A page that
answers 404 is reported as ``missing`` (not built yet); any other status than 200 as ``error``
(exit code 1). The target is a median below 300 ms; a missed target is reported, never failed.
Figures go to ``bench/out/results-pages.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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
RESULTS = OUT / "results-pages.json"
TARGET_MS = 300.0
FULL, QUICK = 30, 10
WARMUP = 2
BASELINE = "/api/v1/auth/me"
USER, PASSWORD = "park", "shuangtan-demo"


def load_demo(directory: Path) -> str:
    """A migrated SQLite database with the demo park (one month of readings); its URL."""
    url = f"sqlite:///{directory / 'pages.sqlite'}"
    env = {**os.environ, "SHUANGTAN_DATABASE_URL": url, "SHUANGTAN_UPLOAD_DIR": str(directory)}
    cli = [sys.executable, "-m", "shuangtan"]
    for args in (["db", "upgrade"], ["demo", "load", "--months", "1"]):
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"bench pages: shuangtan {' '.join(args)} failed")
    return url


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, linearly interpolated."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def first_id(client: Any, path: str) -> int | None:
    """The id of the first item the API lists at ``path`` (None when there is none)."""
    answer = client.get(path)
    if answer.status_code != 200:
        return None
    items = answer.json().get("items", [])
    return int(items[0]["id"]) if items else None


def measure(client: Any, path: str, n: int) -> dict[str, Any]:
    """Warm up, then time ``n`` GETs of ``path`` one after the other [ms]."""
    first = client.get(path)
    status = first.status_code
    if status == 404:
        return {"path": path, "status": status, "state": "missing", "ms": []}
    if status != 200:
        return {"path": path, "status": status, "state": "error", "ms": []}
    for _ in range(WARMUP - 1):
        client.get(path)
    times = []
    sizes = set()
    for _ in range(n):
        t0 = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        if answer.status_code != 200:
            return {"path": path, "status": answer.status_code, "state": "error", "ms": times}
        sizes.add(len(answer.content))
    return {
        "path": path,
        "status": status,
        "state": "ok",
        "ms": [round(t, 3) for t in times],
        "median_ms": statistics.median(times),
        "p95_ms": percentile(times, 0.95),
        "bytes": max(sizes),
    }


def run(url: str, n: int) -> dict[str, Any]:
    """Sign in as ``park`` and measure the baseline and every page."""
    from fastapi.testclient import TestClient

    from shuangtan.adapters.settings import Settings
    from shuangtan.web.app import create_app

    app = create_app(Settings(database_url=url))
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        signed = client.post(
            "/login", data={"username": USER, "password": PASSWORD}, follow_redirects=False
        )
        if signed.status_code != 303:
            raise SystemExit(f"bench pages: signing in as {USER} answered {signed.status_code}")
        enterprise = first_id(client, "/api/v1/organizations?kind=enterprise&limit=1")
        meter = first_id(client, "/api/v1/meters?limit=1")
        case = first_id(client, "/api/v1/verifications?limit=1")
        paths = [
            "/",
            "/enterprises",
            f"/enterprises/{enterprise}" if enterprise else None,
            "/meters",
            f"/meters/{meter}" if meter else None,
            "/entry",
            "/factors",
            "/admin/users",
            "/verifications",
            f"/verifications/{case}" if case else None,
            "/audit",
            "/reports",
        ]
        baseline = measure(client, BASELINE, n)
        if baseline["state"] != "ok":
            raise SystemExit(f"bench pages: the baseline {BASELINE} answered {baseline['status']}")
        pages = [measure(client, p, n) for p in paths if p is not None]
    for page in pages:
        if page["state"] == "ok":
            page["ratio"] = page["median_ms"] / baseline["median_ms"]
            page["verdict"] = "met" if page["median_ms"] < TARGET_MS else "missed"
        else:
            page["ratio"] = None
            page["verdict"] = page["state"]
    return {
        "baseline": baseline,
        "pages": pages,
        "ids": {"enterprise": enterprise, "meter": meter, "case": case},
    }


def _row(r: dict[str, Any], label: str | None = None) -> list[str]:
    if r["state"] != "ok":
        return [
            label or r["path"],
            str(r["status"]),
            "-",
            "-",
            "-",
            "-",
            f"< {TARGET_MS:.0f}",
            r["state"],
        ]
    return [
        label or r["path"],
        str(r["status"]),
        f"{r['median_ms']:.1f}",
        f"{r['p95_ms']:.1f}",
        f"{r['ratio']:.1f}" if r.get("ratio") else "1.0",
        f"{r['bytes'] / 1024:.1f}",
        f"< {TARGET_MS:.0f}" if label is None else "-",
        r.get("verdict", "-") if label is None else "-",
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line of the pages benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} requests a page")
    parser.add_argument("--pages-requests", type=int, help=f"timed requests a page ({FULL})")
    parser.add_argument(
        "--pages-database-url", help="an already loaded demo database (else a fresh one)"
    )
    args, _unknown = parser.parse_known_args(argv)  # the other sections' options are ignored
    n = args.pages_requests or (QUICK if args.quick else FULL)
    if n < 1:
        parser.error("--pages-requests must be ≥ 1")
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as scratch:
        t0 = time.perf_counter()
        url = args.pages_database_url or load_demo(Path(scratch))
        load_s = time.perf_counter() - t0
        figures = run(url, n)
    wall = time.perf_counter() - wall

    rows = [["page", "status", "median ms", "p95 ms", "× baseline", "KiB", "target ms", "verdict"]]
    rows.append(_row(figures["baseline"], f"baseline GET {BASELINE}"))
    rows.extend(_row(p) for p in figures["pages"])
    print(
        f"Dashboard pages: demo park (1 month of readings, SQLite), signed in as {USER}; "
        f"{n} requests a page after {WARMUP} warm-up, in process (TestClient)"
    )
    print(table(rows, right={1, 2, 3, 4, 5}))
    missing = [p["path"] for p in figures["pages"] if p["state"] == "missing"]
    if missing:
        print(f"missing (404, not built yet): {', '.join(missing)}")
    print(
        f"demo load {load_s:.1f} s (outside the clock); wall {wall:.1f} s; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "requests": n,
                "warmup": WARMUP,
                "target_ms": TARGET_MS,
                "user": USER,
                "machine": {
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                **figures,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    errors = [p["path"] for p in figures["pages"] if p["state"] == "error"]
    for path in errors:
        print(f"PROBLEM: {path} did not answer 200", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

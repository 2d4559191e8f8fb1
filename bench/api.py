"""Benchmark the HTTP API of ``shuangtan serve``: the batch endpoint and the park inventory read.

``make bench`` runs this section after the calculation benchmarks (``run.py --only api`` runs it
alone; so does ``python bench/api.py``). For each database (a scratch SQLite file; optionally a
scratch PostgreSQL database, ``--postgres``) it runs ``shuangtan db upgrade`` and
``shuangtan demo load``, then for each ``--api-workers`` count starts ``shuangtan serve`` as a
subprocess on a free port, waits for ``/health`` and for the workers to go idle, and measures:

* ``POST /api/v1/calc`` with N varied records from ``bench/gen.py`` (10,000 by default), as a JSON
  body and as an NDJSON body: wall time per request (median of ``--api-repeat``, after one
  warm-up request), records/s, and the ratio to the baseline: the same lines computed in-process
  by ``VectorEngine.run_chunk`` (what the endpoint calls), in the client process right after
  each request, so that both see the same load. Every response must hold N results equal to the
  in-process output. Target: < 1 s per request.
* ``GET /health`` then ``GET /api/v1/organizations/{park}/inventory?period=2025`` (bearer token of
  the demo park user) under ``--api-clients`` concurrent keep-alive connections (20) for
  ``--api-duration`` seconds (10) after a warm-up: requests/s, p50/p95/p99 latency, errors, the
  server's CPU time per request, and the inventory's ratio to ``/health`` under the same load.
  Target: inventory p95 < 50 ms.
* the server's peak memory: the sum of RSS over its processes (uvicorn's supervisor and
  workers), sampled every 0.1 s from ``/proc``, per phase; and each process's own ``VmHWM``.

The load client is pure Python (asyncio, with uvloop when installed) in its own process, so it
can run anywhere the project runs; ``--load-client wrk`` uses wrk instead (when on ``PATH``), to
check that the Python client is not the bottleneck. Either way the client shares the machine's
cores with the server: its CPU share is reported. A missed target is reported, never failed; a
wrong answer (a result count, an output that differs from the in-process one, an HTTP error
under load) makes the exit code 1.

The tables go to standard output and the figures to ``bench/out/results-api.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from report import table  # bench/report.py, beside this file (sys.path[0])

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = OUT / "results-api.json"
CALC_TARGET_S = 1.0  # POST /api/v1/calc with 10,000 records
P95_TARGET_MS = 50.0  # park inventory under 20 concurrent clients
DEMO_USER = "park"  # the demo park's manager: reads the park inventory
DEMO_PASSWORD = "shuangtan-demo"
PARK_CODE = "JS-SGX"
PERIOD = "2025"
HOST = "127.0.0.1"
SAMPLE_S = 0.1  # RSS sampling interval
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_SEED = 20_260_401  # bench/gen.py's


# --- /proc: the server's processes, their memory and CPU time ---------------------------------


def _status_mib(pid: int, key: str) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (field 3, the state, first)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (scanning ``/proc``: ``task/*/children`` is optional)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores, all processes), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLK_TCK  # user … steal (guest time is already in user)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes, so far."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


class MemoryMonitor(threading.Thread):
    """Samples the summed RSS of a process tree; keeps the peak of each phase."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.phase = "start-up"
        self.peaks: dict[str, float] = {}
        self.processes = 1
        self._stop_event = threading.Event()

    def sample(self) -> None:
        pids = process_tree(self.root)
        rss = sum(_status_mib(pid, "VmRSS") or 0.0 for pid in pids)
        self.processes = max(self.processes, len(pids))
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_S):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()


# --- the server ---------------------------------------------------------------------------


def _shuangtan() -> list[str]:
    script = Path(sys.executable).with_name("shuangtan")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from shuangtan.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _cli(args: list[str], database_url: str, cwd: Path, what: str) -> float:
    """Run a ``shuangtan`` command against the scratch database; return its wall time."""
    start = time.perf_counter()
    done = subprocess.run(
        [*_shuangtan(), *args],
        env={**os.environ, "SHUANGTAN_DATABASE_URL": database_url},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench api: {what} failed with exit code {done.returncode}")
    return time.perf_counter() - start


def _get(base: str, path: str, token: str | None = None) -> Any:
    request = urllib.request.Request(base + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Server:
    """``shuangtan serve`` in its own session (process group), on a free port."""

    def __init__(self, database_url: str, workers: int, scratch: Path, log_level: str) -> None:
        self.database_url = database_url
        self.workers = workers
        self.port = _free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = scratch / f"serve-{workers}w-{self.port}.log"
        self.log_level = log_level
        self.scratch = scratch
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120.0) -> None:
        argv = [*_shuangtan(), "serve", "--host", HOST, "--port", str(self.port)]
        argv += ["--workers", str(self.workers), "--log-level", self.log_level]
        env = {**os.environ, "SHUANGTAN_DATABASE_URL": self.database_url}
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.scratch,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"bench api: the server exited with code {self.proc.returncode}:\n"
                    + _tail(self.log_path)
                )
            with suppress(OSError, ValueError):
                if _get(self.base, "/health").get("status") == "ok":
                    break
            if time.perf_counter() > deadline:
                self.stop()
                raise SystemExit(f"bench api: no /health after {timeout:.0f} s")
            time.sleep(0.1)
        self._wait_idle(deadline)
        self.startup_s = time.perf_counter() - started

    def _wait_idle(self, deadline: float) -> None:
        """Wait until every worker process exists and the server has been idle for 0.5 s.

        ``/health`` answers as soon as one worker listens; the others may still be importing.
        Start-up is CPU-bound, so a tree with all its workers that uses no CPU is ready.
        """
        wanted = 1 if self.workers == 1 else self.workers + 1
        before = None
        while time.perf_counter() < deadline:
            pids = process_tree(self.pid)
            now = cpu_seconds(pids)
            if len(pids) >= wanted and before is not None and now - before < 0.05:
                return
            before = now if len(pids) >= wanted else None
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # uvicorn's supervisor stops its workers
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server's own process group
            self.proc.wait()

    def login(self) -> tuple[str, int]:
        """A bearer token of the demo park user, once the server accepts it; and the 401s seen.

        ``POST /auth/token`` answers before its transaction commits (the session dependency
        commits after the response is sent), so the token may be unknown for a few
        milliseconds: the first use is retried on 401 and the retries are reported.
        """
        form = urllib.parse.urlencode({"username": DEMO_USER, "password": DEMO_PASSWORD}).encode()
        request = urllib.request.Request(self.base + "/api/v1/auth/token", data=form)
        with urllib.request.urlopen(request, timeout=30) as response:
            token: str = json.loads(response.read())["access_token"]
        for retries in range(50):
            try:
                _get(self.base, "/api/v1/auth/me", token)
            except urllib.error.HTTPError as exc:
                if exc.code != 401:
                    raise
                time.sleep(0.02)
                continue
            return token, retries
        raise SystemExit("bench api: the login token is still refused after 1 s")


# --- databases ----------------------------------------------------------------------------


@dataclass
class Database:
    """A scratch database loaded with the demo park."""

    name: str  # "sqlite" or "postgresql"
    label: str
    url: str
    upgrade_s: float = 0.0
    demo_load_s: float = 0.0
    drop: Any = None


def _admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def scratch_database(kind: str, scratch: Path, postgres: str | None) -> Iterator[Database]:
    """Create, migrate and load a scratch database; drop it afterwards."""
    if kind == "sqlite":
        path = scratch / "bench.db"
        db = Database("sqlite", "SQLite (scratch file)", f"sqlite:///{path}")
    else:
        import psycopg  # only with --postgres; a dependency of the project

        assert postgres is not None
        admin = _admin_url(postgres)
        name = f"shuangtan_bench_{os.getpid()}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urllib.parse.urlsplit(admin)
        url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
        db = Database("postgresql", f"PostgreSQL (scratch database {name})", url)

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        db.drop = drop
    try:
        db.upgrade_s = _cli(["db", "upgrade"], db.url, scratch, "shuangtan db upgrade")
        db.demo_load_s = _cli(["demo", "load"], db.url, scratch, "shuangtan demo load")
        yield db
    finally:
        if db.drop is not None:
            db.drop()


# --- workers: the in-process baseline and the HTTP clients, each in a fresh process ----------


def prepare_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the two request bodies and the expected output (computed in-process)."""
    import orjson

    from gen import generate  # bench/gen.py, beside this file (sys.path[0])

    scratch, records = Path(spec["scratch"]), spec["records"]
    raw = scratch / "gen.jsonl"
    generate(raw, records + records // 10 + 100, spec["seed"])
    decoded: list[Any] = []
    for line in raw.read_bytes().splitlines():  # the lines a JSON body can carry
        with suppress(orjson.JSONDecodeError):
            decoded.append(orjson.loads(line))
        if len(decoded) == records:
            break
    raw.unlink()
    lines = [orjson.dumps(r) for r in decoded]  # as the endpoint re-encodes a JSON body
    paths = {"json": scratch / "calc.json", "ndjson": scratch / "calc.ndjson"}
    paths["json"].write_bytes(orjson.dumps({"records": decoded}))
    paths["ndjson"].write_bytes(b"\n".join(lines) + b"\n")

    import fastapi
    import sqlalchemy
    import uvicorn

    import shuangtan
    from shuangtan.services.batch import BatchSummary
    from shuangtan.services.calculation import default_library
    from shuangtan.services.vectorised import VectorEngine

    library = default_library()
    summary = BatchSummary()
    expected = scratch / "expected.ndjson"
    expected.write_bytes(VectorEngine(library).run_chunk(lines, 1, summary))
    return {
        "records": len(lines),
        "failed": summary.failed,
        "bodies": {kind: str(path) for kind, path in paths.items()},
        "body_bytes": {kind: path.stat().st_size for kind, path in paths.items()},
        "lines": str(paths["ndjson"]),
        "expected": str(expected),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "shuangtan": shuangtan.__version__,
            "factor_library": library.version,
            "fastapi": fastapi.__version__,
            "uvicorn": uvicorn.__version__,
            "sqlalchemy": sqlalchemy.__version__,
        },
    }


def _check(data: bytes, status: int, spec: dict[str, Any], expected: Any) -> str | None:
    """What is wrong with one answer of ``POST /calc``, if anything."""
    import orjson

    records = spec["records"]
    if status != 200:
        return f"HTTP {status}: {data[:300]!r}"
    if spec["kind"] == "ndjson":
        count = data.count(b"\n")
        if count != records:
            return f"{count:,} NDJSON lines, not {records:,}"
        return None if data == expected else "the NDJSON output differs from the in-process one"
    document = orjson.loads(data)
    results = document.get("results", [])
    if len(results) != records:
        return f"{len(results):,} results, not {records:,}"
    if results != expected:
        return "the results differ from the in-process output"
    if document.get("failed") != spec["failed"]:
        return f"failed {document.get('failed')}, not {spec['failed']}"
    return None


def calc_client(spec: dict[str, Any]) -> dict[str, Any]:
    """POST one body ``repeat + 1`` times on a keep-alive connection, checking every answer;
    after each request, compute the same lines in this process (the interleaved baseline).
    """
    import orjson

    from shuangtan.services.batch import BatchSummary
    from shuangtan.services.calculation import default_library
    from shuangtan.services.vectorised import VectorEngine

    library = default_library()
    lines = Path(spec["lines"]).read_bytes().splitlines()
    body = Path(spec["body"]).read_bytes()
    expected_raw = Path(spec["expected"]).read_bytes()
    ndjson = spec["kind"] == "ndjson"
    expected = expected_raw if ndjson else [orjson.loads(x) for x in expected_raw.splitlines()]
    content_type = "application/x-ndjson" if ndjson else "application/json"
    headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": content_type}
    connection = http.client.HTTPConnection(HOST, spec["port"], timeout=120)
    seconds, inprocess, problems, down = [], [], [], 0
    for n in range(spec["repeat"] + 1):  # the first of each is a warm-up
        start = time.perf_counter()
        connection.request("POST", "/api/v1/calc", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        seconds.append(time.perf_counter() - start)
        down = len(data)
        if problem := _check(data, response.status, spec, expected):
            problems.append(f"request {n}: {problem}")
        start = time.perf_counter()
        VectorEngine(library).run_chunk(lines, 1, BatchSummary())  # what POST /calc runs
        inprocess.append(time.perf_counter() - start)
    connection.close()
    return {
        "first_s": seconds[0],
        "seconds": seconds[1:],
        "inprocess_first_s": inprocess[0],
        "inprocess_seconds": inprocess[1:],
        "bytes_up": len(body),
        "bytes_down": down,
        "problems": problems,
    }


async def _read_response(reader: Any) -> tuple[int, int, bool]:
    """Status, body size and whether the server closes: a minimal HTTP/1.1 response reader."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        length = 0
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
            length += size
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
    elif length is not None:
        await reader.readexactly(length)
    else:
        raise ValueError("a response without Content-Length")
    return status, length, close


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    port, clients = spec["port"], spec["clients"]
    request = (
        f"GET {spec['path']} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {spec['token']}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    start = time.perf_counter()
    measure_from = start + spec["warmup"]
    stop_at = measure_from + spec["duration"]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sizes: Counter[int] = Counter()
    failures: Counter[str] = Counter()

    async def client() -> None:
        reader = writer = None
        while (sent := time.perf_counter()) < stop_at:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
                writer.write(request)
                status, size, close = await asyncio.wait_for(_read_response(reader), 30)
            except (OSError, EOFError, ValueError, TimeoutError, asyncio.IncompleteReadError) as e:
                if sent >= measure_from:
                    failures[type(e).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            if sent >= measure_from:
                latencies.append(time.perf_counter() - sent)
                statuses[status] += 1
                sizes[size] += 1
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - measure_from
    after = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
        "statuses": {str(k): v for k, v in statuses.items()},
        "failures": dict(failures),
        "body_bytes": sizes.most_common(1)[0][0] if sizes else 0,
        "client_cpu_s": (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime),
    }


def load_client(spec: dict[str, Any]) -> dict[str, Any]:
    """The Python load client: ``clients`` keep-alive connections, each one request at a time."""
    try:
        import uvloop

        result = uvloop.run(_load(spec))
        result["client"] = "python-asyncio+uvloop"
    except ImportError:
        import asyncio

        result = asyncio.run(_load(spec))
        result["client"] = "python-asyncio"
    return result


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max))
end
"""


def wrk_load(spec: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """The same load with wrk (one thread): a warm-up run, then the measured one."""
    script = scratch / "report.lua"
    script.write_text(WRK_SCRIPT)
    url = f"http://{HOST}:{spec['port']}{spec['path']}"
    argv = ["wrk", "-t1", f"-c{spec['clients']}", "--timeout", "30s", "-s", str(script)]
    argv += ["-H", f"Authorization: Bearer {spec['token']}"]

    def wrk(seconds: float) -> str:
        done = subprocess.run(
            [*argv, "-d", f"{max(1, round(seconds))}s", url], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"bench api: wrk failed: {done.stderr or done.stdout}")
        return done.stdout

    if spec["warmup"] > 0:
        wrk(spec["warmup"])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = wrk(spec["duration"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = json.loads(next(x for x in out.splitlines() if x.startswith("WRK "))[4:])
    errors = {k: w[k] for k in ("connect", "read", "write", "status", "timeout") if w[k]}
    return {
        "client": "wrk",
        "requests": w["requests"],
        "seconds": w["duration_us"] / 1e6,
        "percentiles_ms": {q: w[f"p{q}"] / 1000 for q in (50, 95, 99)} | {"max": w["max"] / 1000},
        "statuses": {},
        "failures": errors,
        "body_bytes": w["bytes"] // max(w["requests"], 1),
        "client_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def _spawn(role: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run a worker of this file in a fresh process; return the JSON on its last stdout line."""
    argv = [sys.executable, __file__, "--role", role, json.dumps(spec)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"bench api: the {role} worker failed with exit code {done.returncode}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- the measurements -----------------------------------------------------------------------


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class LoadResult:
    """One path under the concurrent load."""

    path: str
    label: str
    client: str
    clients: int
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, Any]
    body_bytes: int
    client_cpu_s: float
    client_cpu_share: float
    server_cpu_s: float
    server_cpu_ms_per_request: float
    other_cores: float
    ratio_to_health: float | None = None
    target_p95_ms: float | None = None
    verdict: str | None = None


@dataclass
class CalcResult:
    """``POST /api/v1/calc`` with one kind of body, and the in-process runs interleaved."""

    body: str
    records: int
    median_s: float
    min_s: float
    max_s: float
    first_s: float
    all_seconds: list[float]
    records_per_s: float
    inprocess_median_s: float
    inprocess_seconds: list[float]
    ratio_to_baseline: float
    bytes_up: int
    bytes_down: int
    server_cpu_s_per_request: float
    target_s: float = CALC_TARGET_S
    verdict: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class ServerRun:
    """Everything measured on one server (one database, one worker count)."""

    database: str
    workers: int
    startup_s: float
    calc: list[CalcResult]
    load: list[LoadResult]
    peak_rss_mib: dict[str, float]
    vm_hwm_mib: list[float]
    processes: int
    login_401s: int = 0


def measure_calc(
    server: Server, token: str, prepared: dict[str, Any], repeat: int
) -> list[CalcResult]:
    results = []
    records = prepared["records"]
    for kind in ("json", "ndjson"):
        pids = process_tree(server.pid)
        cpu = cpu_seconds(pids)
        spec = {
            "port": server.port,
            "token": token,
            "kind": kind,
            "body": prepared["bodies"][kind],
            "lines": prepared["lines"],
            "expected": prepared["expected"],
            "records": records,
            "failed": prepared["failed"],
            "repeat": repeat,
        }
        got = _spawn("calc", spec)
        cpu = cpu_seconds(pids) - cpu
        median = statistics.median(got["seconds"])
        inprocess = statistics.median(got["inprocess_seconds"])
        results.append(
            CalcResult(
                body="JSON" if kind == "json" else "NDJSON",
                records=records,
                median_s=median,
                min_s=min(got["seconds"]),
                max_s=max(got["seconds"]),
                first_s=got["first_s"],
                all_seconds=[round(x, 4) for x in got["seconds"]],
                records_per_s=records / median,
                inprocess_median_s=inprocess,
                inprocess_seconds=[round(x, 4) for x in got["inprocess_seconds"]],
                ratio_to_baseline=inprocess / median,  # records/s over in-process records/s
                bytes_up=got["bytes_up"],
                bytes_down=got["bytes_down"],
                server_cpu_s_per_request=cpu / (repeat + 1),
                verdict="meets target" if median < CALC_TARGET_S else "misses target",
                problems=got["problems"],
            )
        )
    return results


def measure_load(
    server: Server, token: str, path: str, label: str, args: argparse.Namespace, scratch: Path
) -> LoadResult:
    spec = {
        "port": server.port,
        "token": token,
        "path": path,
        "clients": args.api_clients,
        "duration": args.api_duration,
        "warmup": args.api_warmup,
    }
    pids = process_tree(server.pid)
    cpu, busy, start = cpu_seconds(pids), machine_busy_seconds(), time.perf_counter()
    if args.load_client == "wrk":
        got = wrk_load(spec, scratch)
        pct = got["percentiles_ms"]
    else:
        got = _spawn("load", spec)
        ordered = got["latencies_ms"]
        pct = {q: _percentile(ordered, q) for q in (50, 95, 99)} | {
            "max": ordered[-1] if ordered else float("nan")
        }
    cpu = cpu_seconds(pids) - cpu
    busy = machine_busy_seconds() - busy
    elapsed = time.perf_counter() - start  # with the warm-up and the client's start-up
    bad_status = {k: v for k, v in got["statuses"].items() if k != "200"}
    errors = sum(got["failures"].values()) + sum(bad_status.values())
    measured = args.api_duration / (args.api_warmup + args.api_duration)
    return LoadResult(
        path=path,
        label=label,
        client=got["client"],
        clients=args.api_clients,
        requests=got["requests"],
        seconds=got["seconds"],
        requests_per_s=got["requests"] / got["seconds"],
        p50_ms=pct[50],
        p95_ms=pct[95],
        p99_ms=pct[99],
        max_ms=pct["max"],
        errors=errors,
        error_detail={**got["failures"], **{f"HTTP {k}": v for k, v in bad_status.items()}},
        body_bytes=got["body_bytes"],
        client_cpu_s=got["client_cpu_s"],
        # the Python client's CPU time includes its warm-up; wrk's, the measured run only
        client_cpu_share=got["client_cpu_s"]
        / (got["seconds"] + (args.api_warmup if args.load_client == "python" else 0)),
        server_cpu_s=cpu,
        # the CPU time includes the warm-up, whose requests are not counted: scale it
        server_cpu_ms_per_request=cpu * measured / max(got["requests"], 1) * 1000,
        # what the rest of the machine used meanwhile: noise, if well above 0
        other_cores=max(0.0, busy - cpu - got["client_cpu_s"]) / elapsed,
    )


def measure_server(
    db: Database, workers: int, prepared: dict[str, Any], args: argparse.Namespace, scratch: Path
) -> ServerRun:
    server = Server(db.url, workers, scratch, args.api_log_level)
    print(f"  {db.name}, {workers} worker(s): starting on port {server.port} …", file=sys.stderr)
    monitor = None
    try:
        server.start()
        monitor = MemoryMonitor(server.pid)
        monitor.sample()
        monitor.phase = "idle"
        monitor.start()
        token, login_401s = server.login()
        parks = _get(server.base, "/api/v1/organizations?kind=park", token)["items"]
        park_id = next(p["id"] for p in parks if p["code"] == PARK_CODE)
        monitor.phase = "calc"
        calc = measure_calc(server, token, prepared, args.api_repeat)
        load = []
        targets = (
            ("/health", "GET /health"),
            (f"/api/v1/organizations/{park_id}/inventory?period={PERIOD}", "park inventory"),
        )
        for path, label in targets:
            monitor.phase = "health" if path == "/health" else "inventory"
            load.append(measure_load(server, token, path, label, args, scratch))
        monitor.stop()
        hwm = [_status_mib(pid, "VmHWM") or 0.0 for pid in process_tree(server.pid)]
    finally:
        if monitor is not None and monitor.is_alive():
            monitor.stop()
        server.stop()
    health, inventory = load
    inventory.ratio_to_health = inventory.requests_per_s / health.requests_per_s
    inventory.target_p95_ms = P95_TARGET_MS
    inventory.verdict = "meets target" if inventory.p95_ms < P95_TARGET_MS else "misses target"
    return ServerRun(
        database=db.name,
        workers=workers,
        startup_s=server.startup_s,
        calc=calc,
        load=load,
        peak_rss_mib={k: round(v, 1) for k, v in monitor.peaks.items()} if monitor else {},
        vm_hwm_mib=[round(x, 1) for x in hwm],
        processes=monitor.processes if monitor else 0,
        login_401s=login_401s,
    )


# --- report -------------------------------------------------------------------------------


CALC_HEADER = [
    "database", "workers", "body", "median s", "min s", "max s", "first s", "records/s",
    "in-process s", "× baseline", "server cpu s", "MB up", "MB down", "target", "verdict",
]  # fmt: skip
LOAD_HEADER = [
    "database", "workers", "path", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
    "errors", "× /health", "server cpu ms/req", "client cpu %", "other cores", "target",
    "verdict",
]  # fmt: skip
MEMORY_HEADER = [
    "database", "workers", "processes", "start s", "idle", "calc", "health", "inventory",
    "VmHWM per process",
]  # fmt: skip


def _calc_row(run: ServerRun, c: CalcResult) -> list[str]:
    return [
        run.database, str(run.workers), c.body, f"{c.median_s:.3f}", f"{c.min_s:.3f}",
        f"{c.max_s:.3f}", f"{c.first_s:.3f}", f"{c.records_per_s:,.0f}",
        f"{c.inprocess_median_s:.3f}", f"{c.ratio_to_baseline:.3f}",
        f"{c.server_cpu_s_per_request:.3f}", f"{c.bytes_up / 1e6:.2f}",
        f"{c.bytes_down / 1e6:.2f}", f"< {c.target_s:g} s", c.verdict,
    ]  # fmt: skip


def _load_row(run: ServerRun, r: LoadResult) -> list[str]:
    return [
        run.database, str(run.workers), r.label, f"{r.requests:,}", f"{r.requests_per_s:,.0f}",
        f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.max_ms:.1f}",
        str(r.errors), f"{r.ratio_to_health:.3f}" if r.ratio_to_health else "-",
        f"{r.server_cpu_ms_per_request:.2f}", f"{100 * r.client_cpu_share:.0f}",
        f"{r.other_cores:.2f}",
        f"p95 < {r.target_p95_ms:g} ms" if r.target_p95_ms else "-", r.verdict or "-",
    ]  # fmt: skip


def _memory_row(run: ServerRun) -> list[str]:
    peaks = [f"{run.peak_rss_mib.get(k, 0):.0f}" for k in ("idle", "calc", "health", "inventory")]
    return [
        run.database, str(run.workers), str(run.processes), f"{run.startup_s:.1f}", *peaks,
        " + ".join(f"{x:.0f}" for x in run.vm_hwm_mib),
    ]  # fmt: skip


def report(runs: list[ServerRun], prepared: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the three tables."""
    n = prepared["records"]
    print(f"POST /api/v1/calc, {n:,} records — median of {args.api_repeat} after a warm-up")
    calc_rows = [_calc_row(run, c) for run in runs for c in run.calc]
    print(table([CALC_HEADER, *calc_rows], right=set(range(1, 13)) - {2}))
    print(
        f"baseline (in-process s): VectorEngine.run_chunk on the same {n:,} lines in the client "
        f"process, after each request; {prepared['failed']:,} records fail by design"
    )
    print()
    client = runs[0].load[0].client if runs else args.load_client
    print(
        f"GET under {args.api_clients} concurrent keep-alive clients, {args.api_duration:g} s "
        f"after {args.api_warmup:g} s of warm-up — load client: {client}"
    )
    load_rows = [_load_row(run, r) for run in runs for r in run.load]
    print(table([LOAD_HEADER, *load_rows], right={1} | set(range(3, 14))))
    print()
    print("server memory: peak of the summed RSS of its processes, per phase (MiB)")
    print(table([MEMORY_HEADER, *map(_memory_row, runs)], right=set(range(1, 8))))


# --- command line -------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the API section (shared by ``run.py`` and this script)."""
    group = parser.add_argument_group("API section (bench/api.py)")
    group.add_argument(
        "--api-records", type=int, default=10_000, help="records per POST /calc (10,000)"
    )
    group.add_argument(
        "--api-repeat", type=int, help="timed POST /calc requests per body (5; 3 with --quick)"
    )
    group.add_argument("--api-clients", type=int, default=20, help="concurrent clients (20)")
    group.add_argument(
        "--api-duration", type=float, help="seconds of load per path (10; 3 with --quick)"
    )
    group.add_argument(
        "--api-warmup", type=float, default=1.0, help="seconds of load before measuring (1)"
    )
    group.add_argument(
        "--api-workers", default="1,2", help="server worker counts, comma-separated (1,2)"
    )
    group.add_argument(
        "--api-log-level", default="info", help="the server's --log-level (info, its default)"
    )
    group.add_argument(
        "--load-client",
        choices=("python", "wrk", "auto"),
        default="python",
        help="load generator: the pure-Python one (default), wrk, or wrk when on PATH",
    )
    group.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("SHUANGTAN_BENCH_POSTGRES"),
        help="also measure on PostgreSQL: a URL whose user may CREATE DATABASE (a scratch "
        "database is made and dropped); default $SHUANGTAN_BENCH_POSTGRES",
    )
    group.add_argument("--api-keep", action="store_true", help="keep the scratch folder")


def _measure(
    args: argparse.Namespace, prepared: dict[str, Any], workers: list[int], scratch: Path
) -> tuple[list[ServerRun], list[dict[str, Any]]]:
    """Every database, every worker count: a fresh server each."""
    runs: list[ServerRun] = []
    databases = []
    for kind in ["sqlite"] + (["postgresql"] if args.postgres else []):
        with scratch_database(kind, scratch, args.postgres) as db:
            print(
                f"  {db.label}: migrated in {db.upgrade_s:.1f} s, demo loaded in "
                f"{db.demo_load_s:.1f} s",
                file=sys.stderr,
            )
            databases.append(
                {"name": db.name, "label": db.label, "upgrade_s": db.upgrade_s,
                 "demo_load_s": db.demo_load_s}
            )  # fmt: skip
            runs.extend(measure_server(db, w, prepared, args, scratch) for w in workers)
    return runs, databases


def _footer(runs: list[ServerRun], prepared: dict[str, Any], wall: float) -> bool:
    """Print the checks and the machine below the tables; whether every check passed."""
    problems = [p for r in runs for c in r.calc for p in c.problems]
    errors = sum(x.errors for r in runs for x in r.load)
    for problem in problems:
        print(f"error: POST /calc: {problem}")
    if errors:
        print(f"error: {errors:,} failed requests under load (see results-api.json)")
    if not problems:
        n = prepared["records"]
        print(f"checked: every POST /calc answer has {n:,} results, equal to the in-process ones")
    raced = sum(r.login_401s for r in runs)
    if raced:
        print(
            f"note: a fresh login token was refused (401) {raced} time(s) before it worked: "
            "POST /auth/token answers before its transaction commits"
        )
    machine = prepared["machine"]
    print(
        f"machine: {machine['cores']} cores, Python {machine['python']}, {machine['platform']}, "
        f"load average at start {machine['load_average_at_start'][0]}, at end "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(f"total measuring time {wall:.0f} s; figures in {RESULTS.relative_to(BENCH.parent)}")
    return not problems and not errors


def _write_json(
    runs: list[ServerRun],
    databases: list[dict[str, Any]],
    prepared: dict[str, Any],
    args: argparse.Namespace,
    wall: float,
) -> None:
    report_json = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": prepared["machine"],
        "settings": {
            "records": args.api_records,
            "repeat": args.api_repeat,
            "clients": args.api_clients,
            "duration_s": args.api_duration,
            "warmup_s": args.api_warmup,
            "workers": args.api_workers,
            "server_log_level": args.api_log_level,
            "load_client": runs[0].load[0].client if runs else args.load_client,
            "targets": {"calc_s": CALC_TARGET_S, "inventory_p95_ms": P95_TARGET_MS},
        },
        "databases": databases,
        "input": {k: v for k, v in prepared.items() if k in ("records", "failed", "body_bytes")},
        "runs": [
            {
                "database": r.database,
                "workers": r.workers,
                "startup_s": r.startup_s,
                "calc": [vars(c) for c in r.calc],
                "load": [vars(x) for x in r.load],
                "peak_rss_mib": r.peak_rss_mib,
                "vm_hwm_mib": r.vm_hwm_mib,
                "processes": r.processes,
                "login_401s": r.login_401s,
            }
            for r in runs
        ],
        "measuring_wall_s": wall,
    }
    RESULTS.write_text(json.dumps(report_json, indent=2, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace) -> int:
    """Run the API section; print the tables; write ``results-api.json``. The exit code."""
    quick = getattr(args, "quick", False)
    args.api_repeat = args.api_repeat or (3 if quick else 5)
    args.api_duration = args.api_duration or (3.0 if quick else 10.0)
    args.api_workers = [int(w) for w in str(args.api_workers).split(",") if w.strip()]
    if min([args.api_records, args.api_repeat, args.api_clients, *args.api_workers]) < 1:
        raise SystemExit("bench api: records, repeat, clients and workers must be ≥ 1")
    if args.load_client == "auto":
        args.load_client = "wrk" if shutil.which("wrk") else "python"
    elif args.load_client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("bench api: --load-client wrk, but wrk is not on PATH")
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="api-", dir=OUT))
    started = time.perf_counter()
    ok = False
    try:
        seed = getattr(args, "seed", None) or DEFAULT_SEED
        spec = {"scratch": str(scratch), "records": args.api_records, "seed": seed}
        prepared = _spawn("prepare", spec)
        runs, databases = _measure(args, prepared, args.api_workers, scratch)
        wall = time.perf_counter() - started
        labels = ", ".join(d["label"] for d in databases)
        print(f"shuangtan API benchmark — shuangtan serve on {labels}")
        report(runs, prepared, args)
        print()
        ok = _footer(runs, prepared, wall)
        _write_json(runs, databases, prepared, args, wall)
        return 0 if ok else 1
    finally:
        if ok and not args.api_keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"scratch folder kept: {scratch}", file=sys.stderr)


ROLES = {"prepare": prepare_worker, "calc": calc_client, "load": load_client}


def main(argv: list[str] | None = None) -> int:
    """Command line: the API section alone (``run.py --only api`` does the same)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 3 s of load per path")
    parser.add_argument("--seed", type=int, help="input seed (bench/gen.py's default)")
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.role:
        print(json.dumps(ROLES[args.role](json.loads(args.spec))))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

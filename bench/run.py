"""Load benchmarks of Piazza as users run it (`make bench`; not part of the tests).

For each size it creates a fresh database (SQLite, or PostgreSQL when PIAZZA_BENCH_DATABASE_URL names
a database to create), seeds it (bench/seed.py), starts `piazza serve` with 2 workers, drives each
endpoint with wrk for a fixed time, and prints one table: requests/s, p50 and p99 latency, errors and
the RSS of each worker after that endpoint's run. On SQLite it also measures the floor app
(bench/floor.py: the listing's SQL through bare sqlite3 and Starlette) just before and just after
Piazza's listing, on the same data, and keeps the faster run, so figures read as a ratio.

    .venv/bin/python bench/run.py [--events 100000] [--duration 10] [--connections 32]
                                  [--only user,events] [--json results.json]

`--events 1000,1000000` runs both sizes and prints the concurrency-1 median ratio of the listing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from piazza.config import Config
from piazza.db import Database
from piazza.db.migrate import upgrade

sys.path.insert(0, str(Path(__file__).parent))
from seed import Seeded, analyze, seed  # noqa: E402  (bench/ is a folder of scripts, not a package)

BENCH_DIR = Path(__file__).parent
LUA_DIR = BENCH_DIR / "lua"
WRK_THREADS = 2
WORKERS = 2
console = Console(width=150)


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    method: str
    path: str
    script: str | None = None  # a file in bench/lua
    items: str | None = None  # which list of Seeded feeds the script
    warm_up: bool = True  # writes that consume seeded tokens are not warmed up
    target: str = ""


ENDPOINTS = (
    Endpoint("events", "GET /api/events?max=50", "GET", "/api/events?max=50", target=">=50% floor, p99<50ms"),
    Endpoint("tags", "GET /api/events?tags=...", "GET", "/api/events?tags={tags}"),
    Endpoint("detail", "GET /api/event/detail/{slug}", "GET", "", "detail.lua", "slugs"),
    Endpoint("ics", "GET /feed/ics", "GET", "/feed/ics", target=">=300 req/s"),
    Endpoint("rss", "GET /feed/rss", "GET", "/feed/rss"),
    Endpoint("home", "GET /", "GET", "/"),
    Endpoint("user", "GET /api/user (bearer)", "GET", "", "user.lua", "user_token", target=">=3000 req/s"),
    Endpoint(
        "post", "POST /api/event (token)", "POST", "", "post_event.lua", "write_tokens", False, ">=400 req/s"
    ),
    Endpoint(
        "refresh",
        "POST /oauth/token (refresh)",
        "POST",
        "",
        "refresh.lua",
        "refresh_tokens",
        False,
        ">=500 req/s",
    ),
    Endpoint("login", "POST /oauth/login", "POST", "", "login.lua", "logins", False),
)
C1_KEY = "events@c1"


@dataclass
class Row:
    key: str
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # Server CPU per request (all workers): unlike req/s, it barely moves when other jobs share the cores.
    cpu_ms: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    target: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        console.print(
            "[red]wrk is not installed.[/red] On Debian or Ubuntu: [bold]sudo apt-get install wrk[/bold]"
        )
        raise SystemExit(2)
    return wrk


@contextmanager
def fresh_database(folder: Path) -> Iterator[str]:
    """An empty database: a SQLite file in `folder`, or the PostgreSQL database named by
    PIAZZA_BENCH_DATABASE_URL, created here (it must not exist) and dropped afterwards."""
    wanted = os.environ.get("PIAZZA_BENCH_DATABASE_URL")
    if not wanted:
        yield f"sqlite:///{folder / 'piazza.sqlite3'}"
        return
    url = make_url(Config(database_url=wanted).database_url)
    name = url.database or f"piazza_bench_{secrets.token_hex(4)}"
    if not re.fullmatch(r"\w+", name):
        raise SystemExit(f"PIAZZA_BENCH_DATABASE_URL: use a plain database name, not {name!r}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_database(url: str, n_events: int, n_refresh: int, now: int, *, upcoming: int = 100) -> Seeded:
    upgrade(url)
    database = Database(url, pool_size=1)
    try:
        columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("events", total=n_events)
            seeded = seed(
                database,
                n_events,
                now=now,
                upcoming=upcoming,
                n_refresh=n_refresh,
                progress=lambda n: bar.advance(task, n),
            )
        analyze(database)
    finally:
        database.dispose()
    return seeded


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes under `parent` (multiprocessing children, not its helpers)."""
    pids = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                pids.append(int(child))
    return sorted(pids)


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pids: list[int], timeout: float = 60) -> None:
    """Until the workers use under 2% of a core for half a second: done with the requests in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if cpu_seconds(pids) - before < 0.01:
            return


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def server(
    command: list[str], env: dict[str, str], port: int, probe: str
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 300  # slow to start on a busy machine
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {' '.join(command)}")
            time.sleep(0.2)
        while len(worker_pids(process.pid)) < WORKERS:
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=40)


def wrk_run(
    wrk: str, url: str, duration: float, connections: int, script: Path, args: list[str], pids: list[int]
) -> dict[str, Any]:
    threads = min(WRK_THREADS, connections)
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    command += ["-s", str(script), url, "--", *args]
    cpu_before = cpu_seconds(pids)
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    out = done.stdout
    for line in out.splitlines():
        if line.startswith("BENCHJSON "):
            result = json.loads(line.removeprefix("BENCHJSON "))
            result["cpu_seconds"] = cpu_seconds(pids) - cpu_before
            return result
    raise RuntimeError(f"wrk gave no summary:\n{out}")


def to_row(endpoint_key: str, label: str, result: dict[str, Any], pids: list[int], target: str) -> Row:
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Row(
        key=endpoint_key,
        label=label,
        rps=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=errors,
        cpu_ms=1000 * result["cpu_seconds"] / max(result["requests"], 1),
        rss_mb=[round(rss_mb(pid), 1) for pid in pids],
        target=target,
    )


def script_for(folder: Path, endpoint_script: str | None) -> Path:
    """common.lua followed by the endpoint's own request function."""
    path = folder / f"{endpoint_script or 'static'}.lua"
    body = (LUA_DIR / "common.lua").read_text()
    if endpoint_script:
        body += "\n" + (LUA_DIR / endpoint_script).read_text()
    path.write_text(body)
    return path


def item_files(folder: Path, seeded: Seeded) -> dict[str, Path]:
    login = f"username={quote_plus(seeded.login_email)}&password={quote_plus(seeded.login_password)}"
    lists = {
        "slugs": seeded.slugs,
        "user_token": [seeded.user_token],
        "write_tokens": seeded.write_tokens,
        "refresh_tokens": seeded.refresh_tokens,
        "logins": [login],
    }
    files = {}
    for name, values in lists.items():
        files[name] = folder / f"{name}.txt"
        files[name].write_text("\n".join(values) + "\n")
    return files


def measure_piazza(
    url: str,
    folder: Path,
    seeded: Seeded,
    args: argparse.Namespace,
    wrk: str,
    now: int,
    after_listing: Callable[[], None] = lambda: None,
) -> list[Row]:
    """Every endpoint in ENDPOINTS order; `after_listing` runs once the listing is measured, before any
    endpoint writes."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PIAZZA_DATA_DIR": str(folder),
        "PIAZZA_DATABASE_URL": url,
        "PIAZZA_PORT": str(port),
        "PIAZZA_BASE_URL": base,
        "PIAZZA_LOG_LEVEL": "WARNING",
        "PIAZZA_WORKERS": str(WORKERS),
        "PIAZZA_RATE_LIMITS": args.rate_limits,
    }
    env.pop("PIAZZA_CONFIG", None)
    files = item_files(folder, seeded)
    tags = ",".join(quote_plus(tag) for tag in dict.fromkeys(seeded.tags[:2]))
    piazza = Path(sys.executable).with_name("piazza")
    rows = []
    with server([str(piazza), "serve"], env, port, "/api/ping") as process:
        pids = worker_pids(process.pid)
        for endpoint in ENDPOINTS:
            if args.only and endpoint.key not in args.only:
                continue
            script = script_for(folder, endpoint.script)
            items = str(files[endpoint.items]) if endpoint.items else "-"
            wrk_args = [items, str(min(WRK_THREADS, args.connections)), str(now)]
            if endpoint.key == "refresh":
                wrk_args += [seeded.client_id, seeded.client_secret]
            target_url = base + (endpoint.path.format(tags=tags) or "/")
            if endpoint.warm_up:
                wrk_run(wrk, target_url, 1, args.connections, script, wrk_args, pids)
            result = wrk_run(wrk, target_url, args.duration, args.connections, script, wrk_args, pids)
            rows.append(to_row(endpoint.key, endpoint.label, result, pids, endpoint.target))
            console.print(f"  {endpoint.label}: {rows[-1].rps:,.0f} req/s", highlight=False)
            if endpoint.key == "events":
                # What one user waiting alone feels; this is the figure compared across sizes.
                result = wrk_run(wrk, target_url, args.duration, 1, script, wrk_args, pids)
                rows.append(to_row(C1_KEY, "GET /api/events?max=50 (1 conn)", result, pids, ""))
                after_listing()
        wait_until_idle(pids)  # requests wrk left queued (slow logins) are still being answered
        final_rss = [round(rss_mb(pid), 1) for pid in pids]
    rows.append(
        Row("rss-after-run", "RSS after the run", 0, 0, 0, 0, rss_mb=final_rss, target="<150 MB each")
    )
    return rows


@contextmanager
def floor_server(url: str, folder: Path, args: argparse.Namespace, wrk: str) -> Iterator[Callable[[], Row]]:
    """The floor app, served while Piazza is measured; yields the function that measures it once."""
    port = free_port()
    env = {**os.environ, "FLOOR_DATABASE": make_url(url).database or ""}
    uvicorn = Path(sys.executable).with_name("uvicorn")
    command = [str(uvicorn), "floor:app", "--app-dir", str(BENCH_DIR), "--port", str(port)]
    command += ["--workers", str(WORKERS), "--log-level", "warning", "--no-access-log"]
    script = script_for(folder, None)
    target_url = f"http://127.0.0.1:{port}/api/events?max=50"
    with server(command, env, port, "/api/events?max=1") as process:
        pids = worker_pids(process.pid)
        wrk_args = ["-", "1", "0"]

        def measure() -> Row:
            wrk_run(wrk, target_url, 1, args.connections, script, wrk_args, pids)
            result = wrk_run(wrk, target_url, args.duration, args.connections, script, wrk_args, pids)
            return to_row("floor", "floor: bare sqlite3 + Starlette", result, pids, "")

        yield measure


def print_table(title: str, rows: list[Row]) -> None:
    floor = next((row.rps for row in rows if row.key == "floor"), None)
    table = Table(title=title)
    columns = (
        "endpoint",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "CPU ms/req",
        "RSS MB/worker",
        "vs floor",
        "target",
    )
    for name in columns:
        table.add_column(name, justify="left" if name in ("endpoint", "target") else "right")
    for row in rows:
        # The floor answers the listing at the same concurrency only, so only that row gets a ratio.
        ratio = f"{row.rps / floor:.0%}" if floor and row.key == "events" else ""
        rss = " / ".join(f"{mb:.0f}" for mb in row.rss_mb)
        if row.key == "rss-after-run":
            table.add_row(row.label, "", "", "", "", "", rss, "", row.target)
            continue
        table.add_row(
            row.label,
            f"{row.rps:,.0f}",
            f"{row.p50_ms:.1f}",
            f"{row.p99_ms:.1f}",
            str(row.errors),
            f"{row.cpu_ms:.2f}",
            rss,
            ratio,
            row.target,
        )
    console.print(table)


def run_size(n_events: int, args: argparse.Namespace, wrk: str) -> list[Row]:
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="piazza-bench-") as tmp:
        folder = Path(tmp)
        with fresh_database(folder) as url:
            started = time.perf_counter()
            n_refresh = int(args.duration * 3000) + 1000
            seeded = seed_database(url, n_events, n_refresh, now)
            console.print(
                f"seeded {n_events:,} events (+{seeded.occurrences:,} occurrences), "
                f"{len(seeded.slugs)} upcoming, {n_refresh:,} refresh tokens "
                f"in {time.perf_counter() - started:.0f} s",
                highlight=False,
            )
            if not url.startswith("sqlite") or (args.only and "events" not in args.only):
                rows = measure_piazza(url, folder, seeded, args, wrk, now)
            else:
                # The floor runs just before and just after Piazza's listing, on the same data (the
                # write endpoints come later and add events); the faster run is the one compared, so
                # that a run slowed by something else on the machine does not flatter the ratio.
                with floor_server(url, folder, args, wrk) as measure_floor:
                    floors = [measure_floor()]
                    rows = measure_piazza(
                        url,
                        folder,
                        seeded,
                        args,
                        wrk,
                        now,
                        after_listing=lambda: floors.append(measure_floor()),
                    )
                console.print(
                    f"  floor, before and after the listing: {floors[0].rps:,.0f} and "
                    f"{floors[-1].rps:,.0f} req/s",
                    highlight=False,
                )
                rows.insert(0, max(floors, key=lambda row: row.rps))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", default="100000", help="events to seed; comma-separated for several sizes"
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds of wrk per endpoint")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(e.key for e in ENDPOINTS)}")
    parser.add_argument(
        "--rate-limits",
        choices=("off", "on"),
        default="off",
        help="off by default, to measure the endpoints themselves; with on, every POST /api/event also "
        "counts against its token's limit (a database write, or Redis with PIAZZA_REDIS_URL)",
    )
    parser.add_argument("--json", type=Path, help="write the results here, for comparisons between commits")
    args = parser.parse_args()
    args.only = {key.strip() for key in args.only.split(",") if key.strip()}
    unknown = args.only - {e.key for e in ENDPOINTS}
    if unknown:
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    wrk = require_wrk()
    sizes = [int(part) for part in args.events.split(",")]
    backend = "PostgreSQL" if os.environ.get("PIAZZA_BENCH_DATABASE_URL") else "SQLite"
    load = os.getloadavg()
    console.print(
        f"Piazza bench: {backend}, {WORKERS} workers (piazza serve: uvicorn, httptools), "
        f"PIAZZA_RATE_LIMITS={args.rate_limits} (POST /api/event rotates 256 tokens), "
        f"wrk -t{WRK_THREADS} -c{args.connections} "
        f"-d{args.duration:g}s, load average before {load[0]:.2f}",
        highlight=False,
    )
    results: dict[str, Any] = {"backend": backend, "connections": args.connections, "duration": args.duration}
    results["sizes"] = {}
    for n in sizes:
        rows = run_size(n, args, wrk)
        print_table(f"{backend}, {n:,} events, load average {os.getloadavg()[0]:.2f}", rows)
        results["sizes"][str(n)] = [asdict(row) for row in rows]
    medians = {
        n: next((r["p50_ms"] for r in rows if r["key"] == C1_KEY), None)
        for n, rows in results["sizes"].items()
    }
    if len(sizes) > 1 and all(medians.values()):
        small, large = medians[str(min(sizes))], medians[str(max(sizes))]
        results["c1_median_ratio"] = large / small
        console.print(
            f"GET /api/events?max=50 median at concurrency 1: {large:.2f} ms at {max(sizes):,} events, "
            f"{small:.2f} ms at {min(sizes):,}: ratio {large / small:.2f} (target <= 1.5)",
            highlight=False,
        )
    results["load_average_after"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"results written to {args.json}")


if __name__ == "__main__":
    main()

"""What the big answers cost (`make bench-big`; not part of the tests): the full listing and the feeds.

For each size it seeds an agenda whose events are all upcoming (bench/seed.py), starts `piazza serve`
with 2 workers, and for each endpoint measures, from the workers' own CPU time:

- first: a request right after a write (an admin setting changed through the API), so nothing kept from
  before can be served; the mean of `--repeat` such requests;
- repeated: the mean of `--repeated` requests of the unchanged agenda, each on a new connection (so both
  workers answer them);
- 304: a conditional request with the validator of the last answer;
- the bytes of the answer and the peak RSS of each worker (VmHWM) after the endpoint's requests.

`ping` (`GET /api/ping`) is the floor: what any request on a new connection costs the workers.

    .venv/bin/python bench/big_answers.py [--events 1000,20000] [--repeat 3] [--only listing,ics]

Short on purpose: a few requests per figure, CPU milliseconds per request (which survive a loaded
machine better than wall time).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from run import (  # noqa: E402  (bench/ is a folder of scripts, not a package)
    WORKERS,
    console,
    cpu_seconds,
    free_port,
    fresh_database,
    seed_database,
    server,
    wait_until_idle,
    worker_pids,
)

ENDPOINTS = {
    "ping": "/api/ping",  # the floor: what any request on a new connection costs
    "listing": "/api/events",
    "ics": "/feed/ics",
    "json": "/feed/json",
    "rss": "/feed/rss",
    "tag-ics": "/feed/ics/tag/{tag}",
}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def admin_token(base: str, email: str, password: str) -> str:
    answer = httpx.post(
        f"{base}/oauth/login",
        data={"grant_type": "password", "client_id": "self", "username": email, "password": password},
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def fetch(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    # A new connection each time, so that both workers take their share.
    answer = httpx.get(url, headers=headers or {}, timeout=120)
    if answer.status_code not in (200, 304):
        raise SystemExit(f"{url}: {answer.status_code} {answer.text[:200]}")
    return answer


def measure(base: str, path: str, token: str, pids: list[int], repeat: int, repeated: int) -> dict[str, Any]:
    url = base + path
    change = 0

    def write() -> None:
        nonlocal change
        change += 1
        httpx.post(
            f"{base}/api/settings",
            json={"key": "bench_marker", "value": f"{time.time()}-{change}"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).raise_for_status()

    firsts = []
    for _ in range(repeat):
        write()
        wait_until_idle(pids)
        before = cpu_seconds(pids)
        answer = fetch(url)
        firsts.append(cpu_seconds(pids) - before)
    wait_until_idle(pids)
    before = cpu_seconds(pids)
    for _ in range(repeated):
        answer = fetch(url)
    repeated_cpu = (cpu_seconds(pids) - before) / repeated
    validators = {}
    if "etag" in answer.headers:
        validators["If-None-Match"] = answer.headers["etag"]
    if "last-modified" in answer.headers:
        validators["If-Modified-Since"] = answer.headers["last-modified"]
    not_modified = None
    status = None
    if validators:
        wait_until_idle(pids)
        before = cpu_seconds(pids)
        for _ in range(repeated):
            status = fetch(url, validators).status_code
        not_modified = (cpu_seconds(pids) - before) / repeated
    return {
        "bytes": len(answer.content),
        "first_ms": 1000 * sum(firsts) / len(firsts),
        "repeated_ms": 1000 * repeated_cpu,
        "conditional_ms": None if not_modified is None else 1000 * not_modified,
        "conditional_status": status,
        "peak_rss_mb": [round(peak_rss_mb(pid)) for pid in pids],
    }


def run_size(n_events: int, args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    now = int(time.time())
    rows = []
    with tempfile.TemporaryDirectory(prefix="piazza-bench-big-") as tmp:
        folder = Path(tmp)
        with fresh_database(folder) as url:
            seeded = seed_database(url, n_events, 1, now, upcoming=n_events)
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
                "PIAZZA_RATE_LIMITS": "off",
            }
            env.pop("PIAZZA_CONFIG", None)
            piazza = Path(sys.executable).with_name("piazza")
            with server([str(piazza), "serve"], env, port, "/api/ping") as process:
                pids = worker_pids(process.pid)
                token = admin_token(base, seeded.login_email, seeded.login_password)
                for key, path in ENDPOINTS.items():
                    if args.only and key not in args.only:
                        continue
                    # uvicorn replaces a worker that misses its health check (a loaded machine): ask again.
                    pids = worker_pids(process.pid)
                    result = measure(
                        base, path.format(tag=seeded.tags[0]), token, pids, args.repeat, args.repeated
                    )
                    console.print(f"  {key}: {result}", highlight=False)
                    rows.append((key, result))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000,20000", help="comma-separated sizes (all upcoming)")
    parser.add_argument("--repeat", type=int, default=3, help="first requests (each after a write)")
    parser.add_argument(
        "--repeated",
        type=int,
        default=30,
        help="repeated and conditional requests (CPU time is in 10 ms ticks)",
    )
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(ENDPOINTS)}")
    args = parser.parse_args()
    args.only = {key.strip() for key in args.only.split(",") if key.strip()}
    backend = "PostgreSQL" if os.environ.get("PIAZZA_BENCH_DATABASE_URL") else "SQLite"
    console.print(
        f"Piazza big answers: {backend}, {WORKERS} workers, load average {os.getloadavg()[0]:.2f}",
        highlight=False,
    )
    for n in [int(part) for part in args.events.split(",")]:
        table = Table(title=f"{backend}, {n:,} upcoming events, load average {os.getloadavg()[0]:.2f}")
        for name in ("endpoint", "bytes", "first CPU ms", "repeated CPU ms", "304 CPU ms", "peak RSS MB"):
            table.add_column(name, justify="left" if name == "endpoint" else "right")
        for key, result in run_size(n, args):
            conditional = result["conditional_ms"]
            table.add_row(
                key,
                f"{result['bytes']:,}",
                f"{result['first_ms']:.1f}",
                f"{result['repeated_ms']:.1f}",
                "-" if conditional is None else f"{conditional:.2f} ({result['conditional_status']})",
                " / ".join(str(mb) for mb in result["peak_rss_mb"]),
            )
        console.print(table)


if __name__ == "__main__":
    main()

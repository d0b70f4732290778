"""Latency of `GET /api/events?max=50` against a large SQLite agenda (a script, not a test).

    .venv/bin/python bench/events_list.py [--events 100000] [--small 1000] [--requests 400]

For each size it seeds a fresh SQLite database in bulk (events spread over the past ten years and the
next one, as an agenda that has been used for a while; 1 to 3 tags each, 200 places), starts
`piazza serve` on a free port, and times sequential requests (concurrency 1, keep-alive) after a
warm-up. It prints the median and p99 for each size and their ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert

from piazza.db.migrate import upgrade
from piazza.events.models import Event, EventTag, Place, Tag

YEAR = 365 * 86400
N_PLACES = 200
N_TAGS = 60
BATCH = 5000


def seed(url: str, n_events: int, now: int) -> None:
    rng = random.Random(42)  # noqa: S311  (reproducible test data, not secrets)
    created = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(Place),
            [
                {"name": f"Place {i}", "address": f"Street {i}", "created_at": created, "updated_at": created}
                for i in range(1, N_PLACES + 1)
            ],
        )
        tags = [f"tag{i}" for i in range(N_TAGS)]
        conn.execute(
            insert(Tag), [{"tag": t, "folded": t, "created_at": created, "updated_at": created} for t in tags]
        )
        for first in range(1, n_events + 1, BATCH):
            ids = range(first, min(first + BATCH, n_events + 1))
            rows, links = [], []
            for event_id in ids:
                start = now - 10 * YEAR + rng.randrange(11 * YEAR)
                rows.append(
                    {
                        "id": event_id,
                        "title": f"Event number {event_id}",
                        "slug": f"event-number-{event_id}",
                        "description": "<p>A description long enough to be realistic, with a link.</p>",
                        "multidate": rng.random() < 0.05,
                        "start_datetime": start,
                        "end_datetime": start + rng.choice((3600, 7200, 10800)),
                        "media": [],
                        "is_visible": rng.random() < 0.97,
                        "likes": [],
                        "boost": [],
                        "online_locations": [],
                        "place_id": rng.randrange(1, N_PLACES + 1),
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                for tag in rng.sample(tags, rng.randrange(1, 4)):
                    links.append({"event_id": event_id, "tag": tag, "created_at": created})
            conn.execute(insert(Event), rows)
            conn.execute(insert(EventTag), links)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(n_events: int, n_requests: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="piazza-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        upgrade(url)
        now = int(time.time())
        started = time.perf_counter()
        seed(url, n_events, now)
        print(f"  seeded {n_events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
        port = free_port()
        env = {
            **os.environ,
            "PIAZZA_DATA_DIR": folder,
            "PIAZZA_DATABASE_URL": url,
            "PIAZZA_PORT": str(port),
            "PIAZZA_BASE_URL": f"http://127.0.0.1:{port}",
            "PIAZZA_LOG_LEVEL": "WARNING",
            "PIAZZA_WORKERS": "1",
        }
        piazza = Path(sys.executable).with_name("piazza")
        server = subprocess.Popen([str(piazza), "serve"], env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=10) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if client.get("/api/ping").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("piazza serve did not start")
                    time.sleep(0.1)
                for _ in range(30):  # warm-up: connections, statement cache, page cache
                    client.get("/api/events", params={"max": 50})
                timings = []
                count = 0
                for _ in range(n_requests):
                    t0 = time.perf_counter()
                    response = client.get("/api/events", params={"max": 50})
                    timings.append((time.perf_counter() - t0) * 1000)
                    response.raise_for_status()
                    count = len(response.json())
        finally:
            server.terminate()
            server.wait(timeout=10)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    results = {}
    for n in (args.small, args.events):
        print(f"{n:,} events:", flush=True)
        results[n] = measure(n, args.requests)
        median, p99, count = results[n]
        print(f"  GET /api/events?max=50 ({count} events returned): median {median:.2f} ms, p99 {p99:.2f} ms")
    small, large = results[args.small][0], results[args.events][0]
    print(f"median ratio {args.events:,} / {args.small:,} events: {large / small:.2f}")


if __name__ == "__main__":
    main()

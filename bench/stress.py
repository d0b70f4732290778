"""Stress benchmark: the attacks of issue 15 (items 1-3) against `piazza serve`, with a latency probe.

Each attack gets a fresh `piazza serve` (2 workers, SQLite in a temporary folder, the default rate
limits and request limits), so one attack's damage (a frozen worker, memory never given back) does not
blur the next. Everything stays on this machine: the server listens on 127.0.0.1 and every attack is
bounded in count and time.

1. json: hostile JSON bodies (one quote then escaped quotes, 1 MiB, the largest allowed) sent again
   and again from several connections to `PUT /api/user`, unauthenticated.
2. images: 16 concurrent `POST /api/event` uploads of the worst image allowed: a PNG of the largest
   pixel count the server accepts, in one colour, so it compresses to a few hundred KB.
3. heads: 2,000 connections (the 1,000-connection budget of each worker) that send half a request head
   and wait, re-opened when the server closes them (after 10 s when answered 429). 3a sends them all
   from 127.0.0.1, where the per-address cap holds; 3b spreads them over 127.0.0.3-127.0.0.42 (50
   each, under the cap), where only closing waiting connections to make room keeps the budget for
   real requests.

During each attack a probe sends `GET /api/ping` every 50 ms, each on a fresh connection from 127.0.0.2
(another client: the per-address cap does not concern it), and the script prints whether every ping
was answered within 100 ms, their p99 and maximum, and the peak memory of each worker (VmHWM of
/proc/<pid>/status, and the largest VmRSS seen while sampling every 50 ms).

A first run without attack shows the probe's latency on this machine as it is.

    .venv/bin/python bench/stress.py [--duration 10] [--only baseline,json,images,heads]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import httpx
from PIL import Image

from piazza.imaging import MAX_PIXELS as MAX_IMAGE_PIXELS

PROBE_ADDRESS = "127.0.0.2"
PROBE_INTERVAL = 0.05
PROBE_BUDGET_MS = 100.0
PROBE_TIMEOUT = 5.0
PASSWORD = "stress-benchmark-password"  # noqa: S105  (a throwaway account in a temporary database)
EMAIL = "stress@example.org"
WORKERS = 2
HEADS_PER_WORKER = 1000  # uvicorn's limit_concurrency in `piazza serve`
MiB = 1024 * 1024
Stop = threading.Event | multiprocessing.synchronize.Event
IMAGE_ATTACK_LIMIT = 300  # seconds the 16 uploads may take in all
MEMORY_GUARD_MB = 12 * 1024  # the workers together; past it the server is killed and the attack ends


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes under `parent` (multiprocessing children, not its helpers)."""
    pids = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    pids.append(int(child))
    return sorted(pids)


def memory_mb(pid: int, field_name: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    workers: list[int]


@contextlib.contextmanager
def piazza_serve() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="piazza-stress-") as folder:
        port = free_port()
        env = {name: value for name, value in os.environ.items() if not name.startswith("PIAZZA_")}
        env.update(
            PIAZZA_DATA_DIR=str(Path(folder) / "data"),
            PIAZZA_PORT=str(port),
            PIAZZA_BASE_URL=f"http://127.0.0.1:{port}",
            PIAZZA_WORKERS=str(WORKERS),
            PIAZZA_LOG_LEVEL="ERROR",
        )
        command = [sys.executable, "-m", "piazza"]
        process = subprocess.Popen(  # noqa: S603  (our own command)
            [*command, "serve"], env=env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300  # slow to start on a busy machine
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/api/ping", timeout=5).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("piazza serve did not start")
                time.sleep(0.2)
            while len(worker_pids(process.pid)) < WORKERS:
                time.sleep(0.1)
            subprocess.run(  # noqa: S603
                [*command, "users", "create", EMAIL, "--password-stdin"],
                input=PASSWORD.encode() + b"\n",
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            yield Server(url, port, process, worker_pids(process.pid))
        finally:
            # SIGTERM first; a worker frozen on the event loop never handles it, so SIGKILL after 10 s.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass
class Probe:
    """Pings from a fresh connection every PROBE_INTERVAL, and samples the workers' memory."""

    server: Server
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    hwm_mb: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    killed: bool = False
    started: float = field(default_factory=time.monotonic)
    slow_at: list[float] = field(default_factory=list)  # seconds into the attack of each slow ping

    def ping_once(self) -> float | None:
        started = time.perf_counter()
        try:
            with socket.socket() as sock:
                sock.settimeout(PROBE_TIMEOUT)
                sock.bind((PROBE_ADDRESS, 0))
                sock.connect(("127.0.0.1", self.server.port))
                sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: piazza\r\nConnection: close\r\n\r\n")
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
        except OSError:
            return None
        if not answer.startswith(b"HTTP/1.1 200"):
            return None
        return (time.perf_counter() - started) * 1000

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            latency = self.ping_once()
            if latency is None:
                self.failures += 1
            else:
                self.latencies_ms.append(latency)
                if latency > PROBE_BUDGET_MS:
                    self.slow_at.append(started - self.started)
            total = 0.0
            for pid in self.server.workers:
                rss = memory_mb(pid, "VmRSS")
                total += rss
                self.peak_rss_mb[pid] = max(self.peak_rss_mb.get(pid, 0.0), rss)
                self.hwm_mb[pid] = max(self.hwm_mb.get(pid, 0.0), memory_mb(pid, "VmHWM"))
            if total > MEMORY_GUARD_MB and not self.killed:
                # Shared machine: never let an attack take it down. The figures so far are printed.
                self.killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.server.process.pid, signal.SIGKILL)
            self.stop.wait(max(0.0, PROBE_INTERVAL - (time.monotonic() - started)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


def run_attack(
    name: str, attack: Callable[[Server, Stop], str], duration: float, finite: bool = False
) -> None:
    """Run `attack` for `duration` seconds; a `finite` one (a fixed set of requests) runs until it is
    done, for at most IMAGE_ATTACK_LIMIT seconds."""
    with piazza_serve() as server:
        probe = Probe(server)
        prober = threading.Thread(target=probe.run, daemon=True)
        # The attack runs in a child process, so its threads never make the probe wait for the GIL.
        context = multiprocessing.get_context("fork")
        stop = context.Event()
        outcomes: multiprocessing.queues.SimpleQueue[str] = context.SimpleQueue()
        attacker = context.Process(target=lambda: outcomes.put(attack(server, stop)), daemon=True)
        started = time.monotonic()
        attacker.start()  # forked before the probe thread starts: a fork copies only the calling thread
        prober.start()
        attacker.join(timeout=IMAGE_ATTACK_LIMIT if finite else duration)
        stop.set()
        attacker.join(timeout=60)
        if attacker.is_alive():
            attacker.kill()
        probe.stop.set()
        prober.join(timeout=PROBE_TIMEOUT + 5)
        outcome = [] if outcomes.empty() else [outcomes.get()]
        elapsed = time.monotonic() - started
        latencies = probe.latencies_ms
        within = not probe.failures and bool(latencies) and max(latencies) <= PROBE_BUDGET_MS
        print(f"== {name} ({elapsed:.0f} s)")
        print(f"   attack: {outcome[0] if outcome else 'still running when stopped'}")
        print(
            f"   /api/ping: {len(latencies) + probe.failures} probes, {probe.failures} failed or over "
            f"{PROBE_TIMEOUT:.0f} s; max {max(latencies, default=math.nan):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms, p50 {percentile(latencies, 0.5):.1f} ms; "
            f"every ping within {PROBE_BUDGET_MS:.0f} ms: {'yes' if within else 'NO'}"
        )
        if probe.slow_at:
            print(
                f"   {len(probe.slow_at)} pings over {PROBE_BUDGET_MS:.0f} ms, sent between "
                f"{min(probe.slow_at):.1f} s and {max(probe.slow_at):.1f} s into the attack"
            )
        if probe.killed:
            print(f"   the workers passed {MEMORY_GUARD_MB} MB together: the server was killed")
        for pid in server.workers:
            hwm = max(probe.hwm_mb.get(pid, 0.0), memory_mb(pid, "VmHWM"))
            print(
                f"   worker {pid}: peak RSS {hwm:.0f} MB (VmHWM), "
                f"largest sampled VmRSS {probe.peak_rss_mb.get(pid, 0.0):.0f} MB"
            )
        sys.stdout.flush()


def no_attack(server: Server, stop: Stop) -> str:
    stop.wait()
    return "none"


def hostile_json(server: Server, stop: Stop) -> str:
    body = b'"' + b'\\"' * (MiB // 2 - 1)  # one quote, then escaped quotes: a string never closed
    request = (
        b"PUT /api/user HTTP/1.1\r\nHost: piazza\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    ) + body
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    max_requests = 400

    def one_connection() -> None:
        while not stop.is_set():
            with lock:
                if sum(statuses.values()) >= max_requests:
                    return
            status = "no answer"
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                    sock.sendall(request)
                    answer = sock.recv(64)
                    status = answer.split(b" ", 2)[1].decode() if answer else "closed"
            except OSError:
                pass
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=one_connection, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    return f"{sum(statuses.values())} bodies of 1 MiB from 4 connections: {answers}"


def worst_image() -> bytes:
    width = math.isqrt(MAX_IMAGE_PIXELS)
    height = MAX_IMAGE_PIXELS // width
    out = BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def image_uploads(server: Server, stop: Stop) -> str:
    image = worst_image()
    login = httpx.post(
        f"{server.url}/oauth/login",
        data={"username": EMAIL, "password": PASSWORD, "client_id": "self", "grant_type": "password"},
        timeout=60,
    )
    login.raise_for_status()
    token = login.json()["access_token"]
    statuses: list[str] = []
    start = int(time.time()) + 86400

    def upload(n: int) -> None:
        try:
            response = httpx.post(
                f"{server.url}/api/event",
                data={
                    "title": f"Stress {n}",
                    "start_datetime": str(start),
                    "place_name": "Stress",
                    "place_address": "Nowhere",
                },
                files={"image": ("worst.png", image, "image/png")},
                headers={"Authorization": f"Bearer {token}"},
                timeout=300,
            )
            statuses.append(str(response.status_code))
        except httpx.HTTPError as exc:
            statuses.append(type(exc).__name__)

    threads = [threading.Thread(target=upload, args=(n,), daemon=True) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    width = math.isqrt(MAX_IMAGE_PIXELS)
    answers = ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))
    return (
        f"16 concurrent uploads of a {width} x {MAX_IMAGE_PIXELS // width} PNG "
        f"({len(image) // 1024} KB): {answers}"
    )


def half_sent_heads(sources: list[str]) -> Callable[[Server, Stop], str]:
    def attack(server: Server, stop: Stop) -> str:
        opened = refused = 0
        max_opens = 20 * len(sources)
        open_sockets: dict[int, socket.socket] = {}

        def open_one(slot: int) -> None:
            nonlocal opened
            sock = socket.socket()
            sock.settimeout(2)
            try:
                sock.bind((sources[slot], 0))
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(b"GET /api/ping HTTP/1.1\r\nHost: pia")
                sock.setblocking(False)
            except OSError:
                sock.close()
                return
            opened += 1
            open_sockets[slot] = sock

        for slot in range(len(sources)):
            open_one(slot)
        retry_at: dict[int, float] = {}
        while not stop.is_set():
            # Re-open what the server closed (a 408, or closed to make room) on the next pass, once a
            # second; a slot answered 429 (the per-address cap) after its Retry-After of 10 s. Holding
            # connections, not flooding the accept queue with new ones.
            now = time.monotonic()
            for slot in range(len(sources)):
                sock = open_sockets.get(slot)
                if sock is not None:
                    try:
                        if sock.recv(64, socket.MSG_PEEK) == b"":
                            raise ConnectionResetError
                        if sock.recv(64).startswith(b"HTTP/1.1 429"):
                            refused += 1
                            retry_at[slot] = now + 10
                        raise ConnectionResetError
                    except BlockingIOError:
                        continue
                    except OSError:
                        sock.close()
                        del open_sockets[slot]
                if stop.is_set() or opened >= max_opens:
                    break
                if retry_at.get(slot, 0) <= now:
                    open_one(slot)
            stop.wait(1.0)
        still_open = len(open_sockets)
        for sock in open_sockets.values():
            sock.close()
        addresses = len(set(sources))
        return (
            f"{len(sources)} half-sent heads at a time from {addresses} address(es): {opened} connections "
            f"opened in all, {refused} answered 429 (per-address cap), {still_open} open at the end"
        )

    return attack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per attack (default 10)")
    parser.add_argument(
        "--only", default="baseline,json,images,heads", help="comma-separated attacks to run (default all)"
    )
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    total = WORKERS * HEADS_PER_WORKER
    load = os.getloadavg()
    print(f"piazza serve, {WORKERS} workers, SQLite; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if "baseline" in chosen:
        run_attack("0. no attack (the machine's own noise)", no_attack, args.duration)
    if "json" in chosen:
        run_attack("1. hostile JSON bodies", hostile_json, args.duration)
    if "images" in chosen:
        run_attack("2. worst-case image uploads", image_uploads, args.duration, finite=True)
    if "heads" in chosen:
        run_attack("3a. half-sent heads, one address", half_sent_heads(["127.0.0.1"] * total), args.duration)
        spread = [f"127.0.0.{3 + n // 50}" for n in range(total)]
        run_attack("3b. half-sent heads, 40 addresses", half_sent_heads(spread), args.duration)


if __name__ == "__main__":
    main()

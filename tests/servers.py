"""`piazza serve` as a child process, for the suites that kill, restart or double it.

Each server runs in its own process group (uvicorn's workers included), so a test can SIGKILL all of it
at once, as a power cut or the OOM killer would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET_KEY, free_port


class PiazzaProcess:
    def __init__(self, database_url: str, data_dir: Path, *, port: int | None = None, **env: str) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{name: value for name, value in os.environ.items() if not name.startswith("PIAZZA_")},
            "PIAZZA_DATABASE_URL": database_url,
            "PIAZZA_DATA_DIR": str(data_dir),
            "PIAZZA_SECRET_KEY": TEST_SECRET_KEY,
            "PIAZZA_PORT": str(self.port),
            "PIAZZA_BASE_URL": self.url,
            "PIAZZA_RATE_LIMITS": "off",
            "PIAZZA_LOG_LEVEL": "WARNING",
            **env,
        }
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> PiazzaProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603  (our own command, fixed arguments)
            [sys.executable, "-m", "piazza", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches every worker
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/api/ping", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"piazza serve did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler, no flush, no goodbye."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

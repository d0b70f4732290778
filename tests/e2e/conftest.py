"""Browser tests: Debian's chromium driven by Playwright against `piazza serve` in a subprocess.

Playwright's own browser download cannot work here, so the browser is the system one, started with the
flags design.md lists. When a test fails, a screenshot of its page goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


class Server:
    def __init__(self, url: str, process: subprocess.Popen[bytes], data_dir: Path) -> None:
        self.url = url
        self.process = process
        self.data_dir = data_dir


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """`piazza serve` as users run it, on a free port, on this test run's database."""
    from piazza.db import Database
    from tests.conftest import empty_database

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PIAZZA_DATABASE_URL": database_url,
        "PIAZZA_DATA_DIR": str(tmp_path / "data"),
        "PIAZZA_SECRET_KEY": TEST_SECRET_KEY,
        "PIAZZA_PORT": str(port),
        "PIAZZA_BASE_URL": url,
        "PIAZZA_RATE_LIMITS": "off",
        "PIAZZA_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "piazza", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/ping", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((tmp_path / "server.log").read_text())
        time.sleep(0.1)
    try:
        yield Server(url, process, tmp_path / "data")
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        database = Database(database_url)
        empty_database(database)
        database.dispose()


# Module scope, not session: while Playwright's sync API is open, its event loop runs in this thread, and
# every later test that calls asyncio.run() (tests/events, ...) would fail with "a running event loop".
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash.setdefault(_failed_key, report.failed)
    return report


_failed_key = pytest.StashKey[bool]()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Rome")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    if request.node.stash.get(_failed_key, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()

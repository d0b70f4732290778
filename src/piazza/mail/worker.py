"""The background task that empties the outbox, started by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from starlette.concurrency import run_in_threadpool

from piazza.config import Config
from piazza.db import Database
from piazza.mail.outbox import deliver_pending, purge_done

log = logging.getLogger("piazza.mail")

PURGE_EVERY_SECONDS = 3600


class MailWorker:
    """Delivers due mails every `mail_poll_seconds`, or at once when `wake()` is called."""

    def __init__(self, database: Database, config: Config) -> None:
        self.database = database
        self.config = config
        self._wake = asyncio.Event()
        self._stopping = threading.Event()  # read by the delivery thread between two mails
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="piazza-mail-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Finish the mail being sent, then stop. Cancelling instead would leave the delivery thread
        holding a database connection while the app disposes of its engines."""
        if self._task is None:
            return
        self._stopping.set()
        self._wake.set()
        await self._task
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await run_in_threadpool(deliver_pending, self.database, self.config, stop=self._stopping)
                if loop.time() >= next_purge:
                    next_purge = loop.time() + PURGE_EVERY_SECONDS
                    await self.database.write(purge_done)
            except Exception:  # a database hiccup must not end the worker; try again next round
                log.exception("mail delivery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.mail_poll_seconds)


def wake_mail_worker(state: object) -> None:
    """Ask this node's worker to send now (after a request queued a mail); a no-op without one."""
    worker = getattr(state, "mail_worker", None)
    if worker is not None:
        worker.wake()

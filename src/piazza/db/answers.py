"""Big answers (the full listing, the feeds) built once, kept on disk and served again (issue 21).

An answer is written, while it is built, to a file in `<data>/cache/answers/`, and sent from that file
in chunks: no worker ever holds a whole answer in memory, however many events it carries. The file is
named by the answer's key (route and parameters) and the data version (`piazza.db.versions`) it was
built under, so a write anywhere (this worker, another worker, another node on the same database)
makes every kept answer unreachable at once; the next request builds a fresh one. Workers of one node
share the folder, so an answer is built once per node and data version.

Answers that depend on the time ("upcoming events") also carry the last second they are valid: the
builder reports the earliest moment one of its events would drop out (an event that ends), and after
that the answer is built again. Events never enter such an answer as time passes, only leave it, so
until then the kept answer is exactly what a fresh build would give.

Each file starts with a fixed-size header (JSON: body length, validity, build time, ETag) followed by
the body. A file is written under a temporary name and renamed into place; one whose length does not
match its header (a crash while the disk was catching up) is ignored and rebuilt. The folder is bounded
in bytes (`PIAZZA_ANSWER_CACHE_SIZE`): after each build, files of older data versions are removed, and
then the oldest ones until the rest fit. An answer larger than the bound is still built to a file and
sent from it, then forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from piazza.db.engine import Database
from piazza.db.versions import read_data_version

log = logging.getLogger("piazza.answers")

HEADER_SIZE = 256
CHUNK_SIZE = 512 * 1024
MAX_FILES = 4096
SUFFIX = ".answer"
# The time answers are built and checked at; tests move it forward.
clock = time.time
STALE_BUILD_SECONDS = 3600  # a temporary file this old was left by a process that died while building

# The builder's sink: it writes bytes and returns the last second the answer is valid (None: until
# the data changes).
Builder = Callable[[BinaryIO], int | None]


@dataclass
class Answer:
    """An open answer file, positioned at its body."""

    file: BinaryIO
    length: int
    etag: str
    built: int  # unix seconds

    @property
    def last_modified(self) -> str:
        return formatdate(self.built, usegmt=True)

    def close(self) -> None:
        self.file.close()


class AnswerCache:
    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def building(self, key: str) -> AsyncIterator[None]:
        """One build of `key` at a time in this worker: requests that arrive meanwhile wait for it and
        are then served what it built."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    def _path(self, key: str, version: int) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.folder / f"{digest}-{version}{SUFFIX}"

    def open(self, key: str, version: int, now: int) -> Answer | None:
        """The kept answer for `key` under `version` if it is still valid at `now`, else None."""
        if self.max_bytes <= 0:
            return None
        try:
            file = self._path(key, version).open("rb")
        except FileNotFoundError:
            return None
        try:
            meta = json.loads(file.read(HEADER_SIZE))
            complete = os.fstat(file.fileno()).st_size == HEADER_SIZE + meta["length"]
            fresh = meta["valid_until"] is None or now <= meta["valid_until"]
            if complete and fresh and meta["key"] == key:
                return Answer(file, meta["length"], meta["etag"], meta["built"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged header: built again
        file.close()
        return None

    def build(self, key: str, version: int, now: int, builder: Builder, *, keep: bool = True) -> Answer:
        """Run `builder` into a new file and return it open; kept for the next requests when `keep`."""
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".build-")
        file = os.fdopen(fd, "w+b")
        try:
            file.write(b" " * HEADER_SIZE)
            valid_until = builder(file)
            length = file.tell() - HEADER_SIZE
            etag = f'"{version}-{secrets.token_hex(6)}"'
            header = json.dumps(
                {"key": key, "length": length, "valid_until": valid_until, "built": now, "etag": etag}
            ).encode()
            if len(header) >= HEADER_SIZE:  # a very long key: serve it, but do not keep it
                keep = False
            else:
                file.seek(0)
                file.write(header.ljust(HEADER_SIZE - 1) + b"\n")
            file.flush()
            keep = keep and self.max_bytes > 0 and HEADER_SIZE + length <= self.max_bytes
            if keep:
                os.replace(temporary, self._path(key, version))
            else:
                os.unlink(temporary)  # the open file stays readable until it is closed
            file.seek(HEADER_SIZE)
        except BaseException:
            file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        if keep:
            self._trim(version)
        return Answer(file, length, etag, now)

    def _trim(self, version: int) -> None:
        """Remove answers of other data versions, dead builds, then the oldest files beyond the bound."""
        kept: list[tuple[float, int, Path]] = []
        now = time.time()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue  # removed by another worker meanwhile
                path = Path(entry.path)
                if entry.name.startswith(".build-"):
                    if now - stat.st_mtime > STALE_BUILD_SECONDS:
                        _remove(path)
                elif entry.name.endswith(SUFFIX):
                    if not entry.name.endswith(f"-{version}{SUFFIX}"):
                        _remove(path)  # no request can reach it any more
                    else:
                        kept.append((stat.st_mtime, stat.st_size, path))
        kept.sort()
        total = sum(size for _, size, _ in kept)
        while kept and (total > self.max_bytes or len(kept) > MAX_FILES):
            _, size, path = kept.pop(0)
            _remove(path)
            total -= size


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def is_not_modified(request_headers: Headers, answer: Answer) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present; otherwise If-Modified-Since."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or answer.etag in tags
    if_modified_since = request_headers.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False
        return answer.built <= since.timestamp()
    return False


class AnswerResponse(Response):
    """An answer sent from its file in chunks (read in the thread pool), or 304 when not modified."""

    def __init__(
        self, answer: Answer, *, media_type: str, headers: Mapping[str, str], not_modified: bool = False
    ) -> None:
        self.answer = answer
        self.status_code = 304 if not_modified else 200
        self.background = None
        self.body = b""
        values = {**headers, "etag": answer.etag, "last-modified": answer.last_modified}
        if not not_modified:
            values["content-type"] = media_type
            values["content-length"] = str(answer.length)
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in values.items()]
        if not_modified:
            answer.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            remaining = 0 if self.status_code == 304 else self.answer.length
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(self.answer.file.read, min(CHUNK_SIZE, remaining))
                if not chunk:  # the file is shorter than its header said: end the answer short
                    log.warning("an answer file ended %d bytes early", remaining)
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            if remaining != 0 or self.status_code == 304 or self.answer.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.answer.close()


# A route's builder: writes the answer from a read session to the file and returns the last second
# (unix time) the answer is valid, or None when only a change of the data makes it stale.
AnswerBuilder = Callable[[Session, BinaryIO, int], int | None]


async def serve_answer(
    request: Request,
    key: str,
    build: AnswerBuilder,
    *,
    media_type: str,
    headers: Mapping[str, str],
    keep: bool = True,
) -> Response:
    """The answer `key`: the kept one if the data and the time allow, else built by `build` (once per
    worker at a time), in the thread pool either way; 304 when the request's validators match.

    `keep=False` for answers that cannot be kept (they would grow as time passes): built to a file
    and sent from it all the same.
    """
    cache: AnswerCache = request.app.state.answers
    db: Database = request.app.state.db
    key = f"{request.app.state.config.base_url} {key}"
    now = int(clock())

    def kept(session: Session) -> Answer | None:
        return cache.open(key, read_data_version(session), now)

    def obtain(session: Session) -> Answer:
        version = read_data_version(session)
        found = cache.open(key, version, now) if keep else None
        return found or cache.build(key, version, now, lambda file: build(session, file, now), keep=keep)

    answer = await db.read(kept) if keep else None
    if answer is None:
        async with cache.building(key):
            answer = await db.read(obtain)
    not_modified = is_not_modified(request.headers, answer)
    return AnswerResponse(answer, media_type=media_type, headers=headers, not_modified=not_modified)

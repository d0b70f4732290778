"""How long `piazza import-gancio` takes for a big Gancio database (issue 18: under 60 s).

Builds a Gancio-shaped SQLite file from the fixture's own schema (the fixture file with its events and
tag links replaced) holding 100,000 events with 300,000 tag links, then imports it into a fresh,
migrated Piazza database and prints the time. Run:

    PYTHONPATH=src .venv/bin/python bench/import_gancio.py [--events 100000] [--database-url URL]

Without --database-url the target is a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from piazza.config import Config
from piazza.db import Database
from piazza.db.migrate import upgrade
from piazza.importer.service import ImportOptions, import_gancio
from piazza.importer.source import open_source

FIXTURE = Path("/work/shared/fixtures/gancio/sqlite")
TAGS_PER_EVENT = 3
TAG_COUNT = 2000
STAMP = "2026-12-01 19:09:57.123 +00:00"


def build_source(path: Path, events: int) -> None:
    shutil.copyfile(FIXTURE / "gancio.sqlite", path)
    conn = sqlite3.connect(path)
    rng = random.Random(18)  # noqa: S311  (test data)
    with conn:
        for table in ("event_tags", "messages", "resources", "events", "tags"):
            conn.execute(f"DELETE FROM {table}")  # noqa: S608
        conn.executemany(
            "INSERT INTO tags (tag, createdAt, updatedAt) VALUES (?, ?, ?)",
            [(f"tag {n}", STAMP, STAMP) for n in range(TAG_COUNT)],
        )
        places = [row[0] for row in conn.execute("SELECT id FROM places")]
        users = [row[0] for row in conn.execute("SELECT id FROM users")]
        start = 1796511600
        conn.executemany(
            "INSERT INTO events (id, title, slug, description, multidate, start_datetime, end_datetime,"
            " is_visible, likes, boost, placeId, userId, createdAt, updatedAt, media, online_locations)"
            " VALUES (?, ?, ?, ?, 0, ?, ?, 1, '[]', '[]', ?, ?, ?, ?, '[]', '[]')",
            (
                (
                    n,
                    f"Evento número {n}",
                    f"evento-numero-{n}",
                    f"<p>Descripción del evento {n}, con <b>algo</b> de HTML y https://example.org/{n}</p>",
                    start + n * 600,
                    start + n * 600 + 7200,
                    rng.choice(places),
                    rng.choice(users),
                    STAMP,
                    STAMP,
                )
                for n in range(1, events + 1)
            ),
        )
        conn.executemany(
            'INSERT INTO event_tags ("eventId", "tagTag", createdAt, updatedAt) VALUES (?, ?, ?, ?)',
            (
                (n, f"tag {tag}", STAMP, STAMP)
                for n in range(1, events + 1)
                for tag in rng.sample(range(TAG_COUNT), TAGS_PER_EVENT)
            ),
        )
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source_path = folder / "gancio.sqlite"
        began = time.perf_counter()
        build_source(source_path, args.events)
        print(f"built a Gancio database of {args.events} events in {time.perf_counter() - began:.1f} s")
        url = args.database_url or f"sqlite:///{folder / 'piazza.sqlite3'}"
        upgrade(url)
        config = Config(
            database_url=url,
            data_dir=folder / "data",
            secret_key="b" * 40,
            base_url=json.loads((FIXTURE / "config.json").read_text())["baseurl"],
        )
        database = Database(config.sqlalchemy_url, pool_size=1)
        source = open_source(str(source_path))
        options = ImportOptions(media_dir=FIXTURE / "uploads", force=True, gancio_base_url=config.base_url)
        try:
            began, cpu_began = time.perf_counter(), time.process_time()
            report = import_gancio(source, database, config, options)
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        finally:
            source.close()
            database.dispose()
        events, links = report.tables["events"], report.tables["event_tags"]
        print(
            f"imported {events.imported} events and {links.imported} tag links in {elapsed:.1f} s "
            f"({cpu:.1f} s of CPU in this process; load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()

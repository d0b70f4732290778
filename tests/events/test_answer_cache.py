"""Big answers kept and served again (piazza/db/answers.py, issue 21; issue 15 "feeds are unbounded").

A repeated answer comes from its file without reading the agenda; any write, through any app on the
same database, makes the next answer fresh; conditional requests answer 304; time passing drops the
events that ended; and answers are written and sent in pieces, never held whole.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy import select, update

from piazza.app import create_app
from piazza.db import answers
from piazza.events import queries
from piazza.events.models import Event, Place, Tag
from piazza.instance.settings import set_setting
from tests.conftest import empty_database
from tests.factories import make_collection, make_event, make_user

NOW = int(time.time())
DAY = 86400


@pytest.fixture(autouse=True)
def answers_built_at_now(monkeypatch):
    """Answers are built at NOW, whenever the test runs (the suite may reach it minutes after NOW was
    taken at import, when events made relative to NOW have ended)."""
    monkeypatch.setattr(answers, "clock", lambda: NOW)


BIG_ROUTES = (
    "/api/events",
    "/feed/ics",
    "/feed/json",
    "/feed/rss",
    "/api/export/ics",
    "/feed/ics/tag/music",
    "/feed/json/place/Club",
    "/feed/ics/collection/Music",
    "/api/collections/Music",
)


@contextmanager
def statements(db) -> Iterator[list[str]]:
    """The SQL statements the app's read connections run meanwhile."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    sa_event.listen(db.read_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(db.read_engine, "before_cursor_execute", record)


@pytest.fixture
def agenda(db):
    author = make_user(db)
    jazz = make_event(
        db, author, title="Jazz", start=NOW + DAY, end=NOW + DAY + 7200, tags=["music"], place_name="Club"
    )
    make_event(db, author, title="Talk", start=NOW + 2 * DAY, tags=["talk"], place_name="Library")
    make_collection(db, "Music", {"tags": ["music"]})
    return jazz


@pytest.mark.parametrize("path", BIG_ROUTES)
def test_a_repeated_answer_comes_from_the_cache_without_reading_the_agenda(client, db, agenda, path):
    first = client.get(path)
    assert first.status_code == 200
    with statements(db) as seen:
        again = client.get(path)
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["access-control-allow-origin"] == "*"
    # Only the data version is read: no event, place, tag or setting.
    assert len(seen) == 1 and "data_versions" in seen[0], seen


def _rename_place(db, agenda) -> None:
    with db.session() as s:
        s.execute(update(Place).where(Place.id == agenda["place"]["id"]).values(address="Elsewhere 2"))


def _retitle(db, agenda) -> None:
    with db.session() as s:
        s.get(Event, agenda["id"]).title = "Jazz night"


def _delete(db, agenda) -> None:
    with db.session() as s:
        s.delete(s.get(Event, agenda["id"]))


def _add(db, agenda) -> None:
    make_event(db, make_user(db), title="New", start=NOW + 3 * DAY, tags=["music"], place_name="Club")


def _rename_tag(db, agenda) -> None:
    with db.session() as s:
        tag = s.scalars(select(Tag).where(Tag.tag == "music")).one()
        tag.folded = "musica"  # any change to the tags table
    with db.session() as s:
        s.execute(update(Event).where(Event.id == agenda["id"]).values(title=Event.title))


def _setting(db, agenda) -> None:
    with db.session() as s:
        set_setting(s, "title", "Another agenda")


WRITES = {
    "event created": _add,
    "event updated": _retitle,
    "event deleted": _delete,
    "place changed": _rename_place,
    "tag changed": _rename_tag,
    "setting changed": _setting,
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_any_write_makes_the_next_answer_fresh(client, db, agenda, write):
    before = {path: client.get(path) for path in ("/api/events", "/feed/ics", "/feed/rss")}
    write(db, agenda)
    for path, old in before.items():
        new = client.get(path)
        assert new.status_code == 200
        assert new.headers["etag"] != old.headers["etag"], path
        # Served again unchanged until the next write.
        assert client.get(path).content == new.content


def test_what_changed_is_in_the_next_answer(client, db, agenda):
    assert [e["title"] for e in client.get("/api/events").json()] == ["Jazz", "Talk"]
    _retitle(db, agenda)
    assert [e["title"] for e in client.get("/api/events").json()] == ["Jazz night", "Talk"]
    _delete(db, agenda)
    assert [e["title"] for e in client.get("/api/events").json()] == ["Talk"]
    assert "Jazz" not in client.get("/feed/ics").text


def test_a_collection_filter_change_makes_its_feed_fresh(client, db, agenda):
    assert "Jazz" in client.get("/feed/ics/collection/Music").text
    from piazza.instance.models import Filter

    with db.session() as s:
        s.execute(update(Filter).values(tags=["talk"]))
    feed = client.get("/feed/ics/collection/Music").text
    assert "Talk" in feed and "Jazz" not in feed


@pytest.mark.parametrize("shared_data_dir", [True, False], ids=["same node", "two nodes"])
def test_a_write_through_another_app_on_the_same_database_is_seen_at_once(
    make_config, tmp_path, agenda, shared_data_dir
):
    """Two apps on one database (a SQLite file, or PostgreSQL with PIAZZA_TEST_DATABASE_URL): workers of
    one node share the kept answers' folder; nodes have their own. A write through either is seen."""
    one = create_app(make_config(data_dir=tmp_path / "one"))
    two = create_app(make_config(data_dir=tmp_path / ("one" if shared_data_dir else "two")))
    try:
        with TestClient(one) as a, TestClient(two) as b:
            assert [e["title"] for e in a.get("/api/events").json()] == ["Jazz", "Talk"]
            with statements(two.state.db) as seen:
                assert [e["title"] for e in b.get("/api/events").json()] == ["Jazz", "Talk"]
            if shared_data_dir:  # built by the first app, served by the second from the same file
                assert len(seen) == 1, seen
            make_event(two.state.db, None, title="From two", start=NOW + DAY // 2, visible=True)
            assert [e["title"] for e in a.get("/api/events").json()] == ["From two", "Jazz", "Talk"]
            assert "From two" in a.get("/feed/ics").text
            with one.state.db.session() as s:
                set_setting(s, "title", "Renamed on one")
            assert "X-WR-CALNAME:Renamed on one" in b.get("/feed/ics").text
    finally:
        empty_database(one.state.db)
        one.state.db.dispose()
        two.state.db.dispose()


@pytest.mark.parametrize("path", ["/api/events", "/feed/ics", "/feed/json/place/Club"])
def test_conditional_requests_answer_304_with_the_same_validators(client, db, agenda, path):
    first = client.get(path)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = client.get(path, headers={"If-None-Match": etag})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag.headers["etag"] == etag and by_etag.headers["last-modified"] == last_modified
    assert by_etag.headers["access-control-allow-origin"] == "*"
    assert client.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": last_modified}).status_code == 304
    # If-None-Match decides when both are sent (RFC 9110 §13.1.3).
    both = {"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    assert client.get(path, headers=both).status_code == 200
    assert client.get(path, headers={"If-Modified-Since": "yesterday"}).status_code == 200
    _retitle(db, agenda)
    fresh = client.get(path, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag


def test_time_passing_drops_the_events_that_ended(client, db, monkeypatch):
    author = make_user(db)
    make_event(db, author, title="Ending", start=NOW - 3600, end=NOW + 60, tags=["music"])
    make_event(db, author, title="Later", start=NOW + DAY, tags=["music"])
    make_event(db, author, title="Started", start=NOW - 600, tags=["music"])  # no end: over once begun
    # Started ten minutes ago without an end: already out of the listing (Gancio's rule).
    assert [e["title"] for e in client.get("/api/events").json()] == ["Ending", "Later"]
    assert "SUMMARY:Ending" in client.get("/feed/ics/tag/music").text
    first_etag = client.get("/api/events").headers["etag"]
    monkeypatch.setattr(answers, "clock", lambda: NOW + 30)
    assert client.get("/api/events").headers["etag"] == first_etag  # nothing ended yet: kept
    monkeypatch.setattr(answers, "clock", lambda: NOW + 61)
    assert [e["title"] for e in client.get("/api/events").json()] == ["Later"]
    assert "SUMMARY:Ending" not in client.get("/feed/ics/tag/music").text
    # /feed keeps a day of past events: "Started" leaves it a day after it began.
    assert "SUMMARY:Started" in client.get("/feed/ics").text
    monkeypatch.setattr(answers, "clock", lambda: NOW - 600 + DAY + 1)
    assert "SUMMARY:Started" not in client.get("/feed/ics").text


def test_an_explicit_start_does_not_age(client, db, monkeypatch):
    author = make_user(db)
    make_event(db, author, title="Ending", start=NOW - 3600, end=NOW + 60)
    first = client.get("/api/events", params={"start": NOW})
    monkeypatch.setattr(answers, "clock", lambda: NOW + DAY)
    again = client.get("/api/events", params={"start": NOW})
    assert again.headers["etag"] == first.headers["etag"]
    assert [e["title"] for e in again.json()] == ["Ending"]


def test_older_events_before_now_are_never_kept(client, db, monkeypatch):
    """`older=true` lists events that began before now: the list grows as time passes."""
    make_event(db, make_user(db), title="Soon", start=NOW + 60)
    assert client.get("/api/events", params={"older": "true"}).json() == []
    monkeypatch.setattr(answers, "clock", lambda: NOW + 120)
    assert [e["title"] for e in client.get("/api/events", params={"older": "true"}).json()] == ["Soon"]


def test_a_failed_build_keeps_nothing(client, app):
    assert client.get("/feed/ics/tag/nothing").status_code == 404
    folder = app.state.config.answer_cache_dir
    assert list(folder.iterdir()) == []


def test_the_kept_answers_stay_within_their_bytes(tmp_path):
    cache = answers.AnswerCache(tmp_path, max_bytes=3 * (answers.HEADER_SIZE + 1000))

    def body(size: int):
        def build(file) -> None:  # noqa: ANN001
            file.write(b"x" * size)

        return build

    for n in range(5):
        cache.build(f"key {n}", 1, NOW, body(1000)).close()
    kept = sorted(path.stat().st_size for path in tmp_path.iterdir())
    assert len(kept) == 3 and sum(kept) <= cache.max_bytes
    too_big = cache.build("big", 1, NOW, body(10_000))
    assert too_big.file.read() == b"x" * 10_000  # served all the same
    too_big.close()
    assert cache.open("big", 1, NOW) is None
    # A new data version makes the older files unreachable, and the next build removes them.
    cache.build("key 0", 2, NOW, body(10)).close()
    assert [path.name.endswith("-2.answer") for path in tmp_path.iterdir()] == [True]


def test_a_truncated_file_is_built_again(tmp_path):
    cache = answers.AnswerCache(tmp_path, max_bytes=10**6)
    cache.build("key", 1, NOW, lambda file: file.write(b"y" * 100) and None).close()
    (path,) = tmp_path.iterdir()
    with path.open("r+b") as file:
        file.truncate(answers.HEADER_SIZE + 50)
    assert cache.open("key", 1, NOW) is None


def _receive_nothing():
    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    return receive


def test_a_big_feed_is_written_and_sent_in_pieces(app, db, monkeypatch):
    """A feed of many events is built batch by batch into its file and sent from the file in chunks: the
    worker never holds the whole document (measured with tracemalloc around the request)."""
    monkeypatch.setattr(queries, "EXPORT_BATCH", 10)
    author = make_user(db)
    # 5 kB, twice in a VEVENT (text and HTML): beyond the per-event text caches' bound, which would
    # otherwise count here.
    long_text = "<p>" + "A long description. " * 250 + "</p>"
    for n in range(300):
        make_event(db, author, title=f"Event {n}", start=NOW + DAY + n * 60, description=long_text)
    chunks: list[int] = []

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        if message["type"] == "http.response.body":
            chunks.append(len(message["body"]))  # type: ignore[arg-type]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/feed/ics",
        "raw_path": b"/feed/ics",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, _receive_nothing(), send))  # the first request of a process imports more
    _setting(db, None)  # the next request builds the feed again
    chunks.clear()
    tracemalloc.start()
    try:
        asyncio.run(app(scope, _receive_nothing(), send))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = sum(chunks)
    assert total > 2_000_000
    assert len(chunks) > 2 and max(chunks) <= answers.CHUNK_SIZE
    # A fraction of the document: a batch of events and a chunk, not the whole answer.
    assert peak < total / 2, (peak, total)


def test_searches_run_in_the_thread_pool(client, db, agenda, monkeypatch):
    """A search scans titles, places and tags: never on the event loop, even for a small page."""
    where: list[bool] = []
    real = queries.list_events_or_home_collection

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003
        try:
            asyncio.get_running_loop()
            where.append(True)
        except RuntimeError:
            where.append(False)
        return real(*args, **kwargs)

    monkeypatch.setattr(queries, "list_events_or_home_collection", spy)
    found = client.get("/api/events", params={"query": "jazz", "max": "10"}).json()
    assert [e["title"] for e in found] == ["Jazz"]
    assert where == [False]

"""The outbox: queued in the transaction, delivered after commit, claimed once, retried, given up."""

import threading
import time
from datetime import timedelta

import pytest

from piazza.app import create_app
from piazza.db import Database
from piazza.db.base import utcnow
from piazza.errors import Invalid
from piazza.mail import deliver_pending, enqueue
from piazza.mail.messages import Mail
from piazza.mail.models import OutboxStatus
from piazza.mail.outbox import retry_delay
from piazza.mail.senders import LogSender, SmtpSender, resolve_sender
from tests.factories import outbox, set_setting


def queue(db, count=1, body="hello"):
    with db.session() as s:
        for i in range(count):
            enqueue(s, Mail("test", f"to{i}@example.org", f"Subject {i}", body))


def test_a_mail_queued_in_a_rolled_back_transaction_is_never_sent(db, config, smtp_server):
    set_setting(db, "smtp", smtp_server.setting())

    def change_that_fails(session):
        enqueue(session, Mail("test", "x@example.org", "Subject", "body"))
        raise Invalid("the change failed")

    with pytest.raises(Invalid):
        db.run(change_that_fails)
    assert outbox(db) == []
    assert deliver_pending(db, config) == 0


def test_a_committed_mail_is_delivered_and_its_body_erased(db, config, smtp_server):
    set_setting(db, "smtp", smtp_server.setting(**{"from": "agenda@example.org"}))
    queue(db, body="the secret link")
    assert deliver_pending(db, config) == 1
    [message] = smtp_server.inbox.wait_for(1)
    assert message["From"] == "agenda@example.org" and message["To"] == "to0@example.org"
    assert message.get_content().strip() == "the secret link"
    [row] = outbox(db)
    assert row["status"] == OutboxStatus.SENT and row["body"] == "" and row["sent_at"] is not None
    assert deliver_pending(db, config) == 0  # nothing is sent twice


def test_a_failed_delivery_is_retried_later_then_succeeds(db, config, smtp_server):
    set_setting(db, "smtp", smtp_server.setting())
    smtp_server.inbox.refuse = 1
    queue(db)
    assert deliver_pending(db, config) == 0
    [row] = outbox(db)
    assert row["status"] == OutboxStatus.PENDING and row["attempts"] == 1
    assert "451" in row["last_error"]
    assert row["next_attempt_at"] > utcnow()
    assert deliver_pending(db, config) == 0  # not due yet: backoff
    assert deliver_pending(db, config, now=row["next_attempt_at"] + timedelta(seconds=1)) == 1
    assert len(smtp_server.inbox.wait_for(1)) == 1


def test_delivery_gives_up_after_the_last_attempt_and_keeps_the_error(db, make_config, smtp_server):
    config = make_config(mail_max_attempts=2)
    set_setting(db, "smtp", smtp_server.setting())
    smtp_server.inbox.refuse = 10
    queue(db)
    later = utcnow()
    for _ in range(3):
        deliver_pending(db, config, now=later)
        later += timedelta(hours=2)
    [row] = outbox(db)
    assert row["status"] == OutboxStatus.FAILED and row["attempts"] == 2
    assert "451" in row["last_error"] and row["body"] == ""
    assert smtp_server.inbox.messages == []


def test_an_unreachable_server_is_a_retry_not_a_crash(db, config):
    set_setting(db, "smtp", {"host": "127.0.0.1", "port": 1})
    queue(db)
    assert deliver_pending(db, config) == 0
    [row] = outbox(db)
    assert row["status"] == OutboxStatus.PENDING and "Error" in row["last_error"]


def test_backoff_doubles_and_is_capped():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(50) == timedelta(hours=1)


def test_two_nodes_delivering_at_once_send_each_mail_once(db, make_config, smtp_server):
    config = make_config()
    set_setting(db, "smtp", smtp_server.setting())
    queue(db, count=12)
    other = Database(config.sqlalchemy_url)
    barrier = threading.Barrier(2)
    sent = []

    def run(database):
        barrier.wait()
        sent.append(deliver_pending(database, config))

    threads = [threading.Thread(target=run, args=(d,)) for d in (db, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.dispose()
    assert sum(sent) == 12
    smtp_server.inbox.wait_for(12)
    time.sleep(0.2)  # a duplicate, if any, would arrive now
    assert sorted(m["To"] for m in smtp_server.inbox.messages) == sorted(
        f"to{i}@example.org" for i in range(12)
    )


def test_the_worker_in_the_app_delivers_without_being_asked(make_config, smtp_server):
    from fastapi.testclient import TestClient

    from tests.conftest import empty_database

    app = create_app(make_config(mail_poll_seconds=0.1))
    try:
        set_setting(app.state.db, "smtp", smtp_server.setting())
        with TestClient(app):
            queue(app.state.db)
            assert smtp_server.inbox.wait_for(1)[0]["To"] == "to0@example.org"
    finally:
        empty_database(app.state.db)
        app.state.db.dispose()


def test_without_smtp_host_mails_go_to_the_log_without_their_body(db, config, caplog):
    queue(db, body="do-not-log-me")
    with db.session(write=False) as s:
        sender, _ = resolve_sender(s, config)
    assert isinstance(sender, LogSender)
    assert deliver_pending(db, config) == 1
    assert "Subject 0" in caplog.text and "do-not-log-me" not in caplog.text


def test_environment_overrides_the_smtp_setting(db, make_config, smtp_server):
    set_setting(db, "smtp", {"host": "smtp.invalid", "port": 25, "auth": {"user": "a", "pass": "b"}})
    config = make_config(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_from="env@example.org")
    with db.session(write=False) as s:
        sender, from_address = resolve_sender(s, config)
    assert isinstance(sender, SmtpSender)
    assert (sender.settings.host, sender.settings.port, from_address) == (
        "127.0.0.1",
        smtp_server.port,
        "env@example.org",
    )
    assert "b" not in repr(sender.settings).replace("bool", "")


def test_smtp_login_uses_the_stored_credentials(db, config, smtp_server_with_auth):
    from tests.smtp_server import SMTP_PASSWORD, SMTP_USER

    server = smtp_server_with_auth
    set_setting(db, "smtp", server.setting(auth={"user": SMTP_USER, "pass": SMTP_PASSWORD}))
    queue(db)
    assert deliver_pending(db, config) == 1
    assert server.inbox.logins == [SMTP_USER]


def test_a_malformed_recipient_fails_like_a_refusal_and_is_given_up(db, make_config, smtp_server):
    config = make_config(mail_max_attempts=1)
    set_setting(db, "smtp", smtp_server.setting())
    with db.session() as s:
        enqueue(s, Mail("test", "a@example.org\nBcc: victim@example.org", "Line\nBreak", "body"))
    assert deliver_pending(db, config) == 0
    [row] = outbox(db)
    assert row["status"] == OutboxStatus.FAILED and row["last_error"]
    assert row["subject"] == "Line Break"
    assert smtp_server.inbox.messages == []


def test_old_sent_and_failed_mails_are_purged_but_pending_ones_stay(db, config):
    from piazza.mail.outbox import KEEP_DONE_MAILS, purge_done

    queue(db, count=3)
    deliver_pending(db, config)  # the log sender: all three done
    queue(db)
    with db.session() as s:
        assert purge_done(s) == 0
        assert purge_done(s, now=utcnow() + KEEP_DONE_MAILS + timedelta(minutes=1)) == 3
    assert [row["status"] for row in outbox(db)] == [OutboxStatus.PENDING]

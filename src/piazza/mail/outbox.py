"""Queue mails inside a transaction; deliver them after it commits.

A mail is a row of `outbox` written in the same transaction as the change it reports, so a rolled-back
change sends nothing and a committed one is not lost if the process dies. `deliver_pending` sends what
is due: it claims each row with one conditional UPDATE (so two app nodes never send the same mail),
sends outside any transaction, then records the outcome; a failure is retried with exponential backoff
until `mail_max_attempts`, after which the row is marked failed with the error kept.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from piazza.config import Config
from piazza.db import Database
from piazza.db.base import affected_rows, utcnow
from piazza.mail.messages import Mail
from piazza.mail.models import OutboxMail, OutboxStatus
from piazza.mail.senders import MailSender, resolve_sender

log = logging.getLogger("piazza.mail")

CLAIM_LEASE = timedelta(minutes=5)  # longer than any SMTP conversation (timeouts are 20 s per step)
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
BATCH_SIZE = 50
MAX_ERROR_LENGTH = 2000
KEEP_DONE_MAILS = timedelta(days=30)  # sent and failed rows stay this long, for the admin to look into


def enqueue(db: Session, mail: Mail) -> OutboxMail:
    """Queue a mail in the caller's transaction."""
    row = OutboxMail(
        kind=mail.kind,
        recipient=mail.recipient,
        subject=" ".join(mail.subject.split())[:255],  # a line break in a header would be an injection
        body=mail.body,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.add(row)
    db.flush()
    return row


def purge_done(db: Session, now: datetime | None = None) -> int:
    """Delete sent and given-up mails older than KEEP_DONE_MAILS; returns how many."""
    cutoff = (now or utcnow()) - KEEP_DONE_MAILS
    done = OutboxMail.status.in_((OutboxStatus.SENT, OutboxStatus.FAILED))
    return affected_rows(db.execute(delete(OutboxMail).where(done, OutboxMail.created_at < cutoff)))


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def _due_ids(db: Session, now: datetime) -> list[int]:
    return list(
        db.scalars(
            select(OutboxMail.id)
            .where(
                OutboxMail.status == OutboxStatus.PENDING,
                OutboxMail.next_attempt_at <= now,
                or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
            )
            .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
            .limit(BATCH_SIZE)
        )
    )


def _claim(db: Session, mail_id: int, now: datetime) -> OutboxMail | None:
    """Lease one due mail for this node, or None when another node got it first."""
    claimed = affected_rows(
        db.execute(
            update(OutboxMail)
            .where(
                OutboxMail.id == mail_id,
                OutboxMail.status == OutboxStatus.PENDING,
                or_(OutboxMail.claimed_until.is_(None), OutboxMail.claimed_until < now),
            )
            .values(claimed_until=now + CLAIM_LEASE, attempts=OutboxMail.attempts + 1)
        )
    )
    if claimed != 1:
        return None
    return db.get(OutboxMail, mail_id)


def _record_sent(db: Session, mail_id: int) -> None:
    # The body may hold a recovery or invitation link: keep it no longer than needed.
    db.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail_id)
        .values(status=OutboxStatus.SENT, sent_at=utcnow(), claimed_until=None, body="")
    )


def _record_failure(db: Session, mail_id: int, attempts: int, error: str, max_attempts: int) -> bool:
    """Schedule a retry, or give up; returns True when the mail is given up."""
    give_up = attempts >= max_attempts
    values: dict[str, object] = {"claimed_until": None, "last_error": error[:MAX_ERROR_LENGTH]}
    if give_up:
        values.update(status=OutboxStatus.FAILED, body="")
    else:
        values["next_attempt_at"] = utcnow() + retry_delay(attempts)
    db.execute(update(OutboxMail).where(OutboxMail.id == mail_id).values(**values))
    return give_up


def _message(recipient: str, subject: str, body: str, sender: str, hostname: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=hostname or None)
    message.set_content(body)
    return message


def deliver_pending(
    database: Database,
    config: Config,
    *,
    sender: MailSender | None = None,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Send every mail due now; returns how many were sent. Blocking: run it in a thread.

    `sender` defaults to the one the settings name at this moment (SMTP, or the log without a host);
    `stop`, when set, ends the round after the mail being sent.
    """
    now = now or utcnow()
    with database.session(write=False) as db:
        due = _due_ids(db, now)
        if not due:
            return 0
        chosen, from_address = resolve_sender(db, config)
    sender = sender or chosen
    hostname = from_address.rpartition("@")[2]
    sent = 0
    for mail_id in due:
        if stop is not None and stop.is_set():
            break
        with database.session() as db:
            row = _claim(db, mail_id, now)
            if row is None:
                continue
            attempts, kind = row.attempts, row.kind
            recipient, subject, body = row.recipient, row.subject, row.body
        try:
            # Building the message is part of the attempt: a malformed address fails like a refused one.
            sender.send(_message(recipient, subject, body, from_address, hostname))
        except Exception as exc:  # any failure of the mail system is retried, never raised
            error = f"{type(exc).__name__}: {exc}"
            with database.session() as db:
                gave_up = _record_failure(db, mail_id, attempts, error, config.mail_max_attempts)
            log.warning(
                "mail %s (%s) attempt %d failed%s: %s",
                mail_id,
                kind,
                attempts,
                ", giving up" if gave_up else "",
                error,
            )
            continue
        with database.session() as db:
            _record_sent(db, mail_id)
        log.info("mail %s (%s) sent", mail_id, kind)
        sent += 1
    return sent

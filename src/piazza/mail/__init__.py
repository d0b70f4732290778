"""E-mail: an outbox filled inside transactions, and a worker that delivers it (SMTP or log)."""

from piazza.mail.messages import Mail
from piazza.mail.outbox import deliver_pending, enqueue
from piazza.mail.worker import MailWorker, wake_mail_worker

__all__ = ["Mail", "MailWorker", "deliver_pending", "enqueue", "wake_mail_worker"]

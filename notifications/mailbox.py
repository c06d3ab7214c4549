"""The local mailbox of embedded mode: e-mails kept as files that staff read on the Outbox page.

``make run`` sends no e-mail anywhere: printed to the console, a day's e-mails buried the
terminal (whole HTML bodies, ≈ 1 500 in ten minutes), and a newcomer had no way to see
one as the customer would. ``EMAIL_URL=mailbox://`` (embedded mode's default) selects
:class:`MailboxBackend`, which writes each message as one RFC 5322 ``.eml`` file under
``MAILBOX_PATH``; the Outbox page (``notifications.views``) lists them and shows one,
text and HTML parts. Only the newest ``MAILBOX_KEEP`` files are kept, so a simulator
left running does not fill the disk.

Files, not a table: the web process, the scheduler and ``manage.py`` commands all send
(each their own process), and a file per message needs no migration, no transaction and
no purge task; ``ls var/mailbox`` and any mail reader open them too.
"""

import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

SUFFIX = ".eml"
#: a message's name: nanoseconds since the epoch and a random tag (sorts by time)
NAME = re.compile(r"\A\d{19,20}-[0-9a-f]{8}\Z")


def mailbox_path() -> Path:
    return Path(settings.MAILBOX_PATH)


class MailboxBackend(BaseEmailBackend):
    """Write each message to ``MAILBOX_PATH/<time>-<tag>.eml``; keep the newest MAILBOX_KEEP."""

    def send_messages(self, email_messages) -> int:
        if not email_messages:
            return 0
        directory = mailbox_path()
        directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            name = f"{time.time_ns()}-{secrets.token_hex(4)}"
            temporary = directory / f".{name}.tmp"
            temporary.write_bytes(message.message().as_bytes(linesep="\n"))
            # a reader never sees half a message: the name appears once the file is whole
            temporary.replace(directory / f"{name}{SUFFIX}")
            sent += 1
        _prune(directory, keep=settings.MAILBOX_KEEP)
        return sent


def _prune(directory: Path, *, keep: int) -> None:
    names = sorted(_names(directory), reverse=True)
    for name in names[keep:]:
        # another process may be pruning the same file at the same time
        (directory / f"{name}{SUFFIX}").unlink(missing_ok=True)


def _names(directory: Path) -> list[str]:
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [
        entry.removesuffix(SUFFIX)
        for entry in entries
        if entry.endswith(SUFFIX) and NAME.match(entry.removesuffix(SUFFIX))
    ]


@dataclass(frozen=True)
class MailboxMessage:
    name: str
    sent_at: datetime
    subject: str
    from_email: str
    to: str
    reply_to: str
    text: str
    html: str


def mailbox_count() -> int:
    return len(_names(mailbox_path()))


def mailbox_list(*, limit: int) -> list[MailboxMessage]:
    """The newest ``limit`` messages, newest first."""
    directory = mailbox_path()
    found = []
    for name in sorted(_names(directory), reverse=True)[:limit]:
        message = _read(directory, name)
        if message is not None:
            found.append(message)
    return found


def mailbox_get(name: str) -> MailboxMessage | None:
    """The message called ``name``, or None (also for a name that is not a message's)."""
    if not NAME.match(name):
        return None
    return _read(mailbox_path(), name)


def _read(directory: Path, name: str) -> MailboxMessage | None:
    try:
        raw = (directory / f"{name}{SUFFIX}").read_bytes()
    except FileNotFoundError:  # pruned meanwhile
        return None
    message: EmailMessage = message_from_bytes(raw, policy=policy.default)
    return MailboxMessage(
        name=name,
        sent_at=_sent_at(message, name),
        subject=str(message.get("Subject", "")),
        from_email=str(message.get("From", "")),
        to=str(message.get("To", "")),
        reply_to=str(message.get("Reply-To", "")),
        text=_part(message, "plain"),
        html=_part(message, "html"),
    )


def _sent_at(message: EmailMessage, name: str) -> datetime:
    try:
        return parsedate_to_datetime(message["Date"])
    except (TypeError, ValueError):
        return datetime.fromtimestamp(int(name.split("-")[0]) / 1e9, tz=UTC)


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_subtype() != subtype:
        return ""
    return body.get_content()

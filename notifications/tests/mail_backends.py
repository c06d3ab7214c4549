"""E-mail backends standing in for mail servers in tests (``settings.EMAIL_BACKEND``)."""

import smtplib

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

PATH = __name__


class FailingBackend(BaseEmailBackend):
    """A server that drops every message, as an SMTP server that is down."""

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class CountingBackend(LocmemBackend):
    """locmem, counting the connections opened (one per batch, not one per message)."""

    opened = 0

    def open(self):
        CountingBackend.opened += 1
        return True


class UnreachableBackend(LocmemBackend):
    """A mail server that refuses the connection, whoever opens it."""

    def open(self):
        raise ConnectionRefusedError("Connection refused")

    def send_messages(self, messages):
        self.open()

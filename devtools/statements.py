"""The SQL statements a block sends, for the measurement tools (``devtools.*_cpu``)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def sent_statements() -> Iterator[list[str]]:
    """Note every statement sent on the default connection inside the block, in order.

    Django's own and the prepared ones (``execute_prepared`` honours execute wrappers).
    """
    sent: list[str] = []

    def note(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        yield sent

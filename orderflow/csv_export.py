"""CSV downloads of the staff pages' lists, safe in a spreadsheet and streamed.

Safe: a cell a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+1``, ``@SUM``)
is kept as text with a leading apostrophe; a customer's name or a handler's error is
anyone's input. Streamed: the rows are read from the database ``CHUNK`` at a time and each
chunk is sent as it is written, so a queue of 100 000 rows never sits whole in memory.
Under ASGI (daphne) the body is an asynchronous iterator that reads each chunk in the
request's database thread; Django would otherwise read a synchronous stream whole before
sending it. Under WSGI (granian) it is the plain iterator.
"""

import csv
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone

#: rows read from the database, and written to the response, at a time
CHUNK = 1000
#: what a spreadsheet reads as the start of a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def cell(value) -> str:
    """``value`` as a CSV cell: ISO for times, empty for None, a formula kept as text."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """Yield the header line, then the rows' lines ``CHUNK`` rows at a time."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    lines = []
    for row in rows:
        lines.append(writer.writerow([cell(value) for value in row]))
        if len(lines) == CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


async def _each_in_thread(chunks: Iterator[str]) -> AsyncIterator[str]:
    # thread_sensitive: every chunk is read in the request's own thread, on its connection
    step = sync_to_async(next, thread_sensitive=True)
    while (chunk := await step(chunks, None)) is not None:
        yield chunk


def csv_download(request, *, name: str, chunks: Iterator[str]) -> StreamingHttpResponse:
    """Stream ``chunks`` as the attachment ``<name>-<YYYYmmdd-HHMM>.csv``."""
    body = _each_in_thread(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response

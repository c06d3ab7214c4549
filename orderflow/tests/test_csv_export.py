"""CSV downloads: formulas kept as text, rows written a chunk at a time, and streamed under
both servers (WSGI's plain iterator; ASGI's asynchronous one, reading in the request's
thread) instead of built whole in memory."""

import csv
import io
import threading
from datetime import UTC, datetime
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.test import AsyncRequestFactory, RequestFactory

from orderflow import csv_export


def _read(lines: list[str]) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines))))


def test_a_cell_a_spreadsheet_would_run_is_kept_as_text():
    cells = ["=1+1", "+33 1", "-2", "@SUM(A1)", "\tx", "\rx", "a=b", "", None, Decimal("1.50")]

    assert [csv_export.cell(value) for value in cells] == [
        "'=1+1",
        "'+33 1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "a=b",
        "",
        "",
        "1.50",
    ]
    at = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert csv_export.cell(at) == "2026-12-04T18:00:00+00:00"


def test_rows_are_written_a_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr(csv_export, "CHUNK", 2)
    rows = [(n, f"name {n}") for n in range(5)]

    chunks = list(csv_export.csv_chunks(["n", "name"], rows))

    assert len(chunks) == 1 + 3  # the header, then 2 + 2 + 1 rows
    assert _read(chunks) == [["n", "name"]] + [[str(n), f"name {n}"] for n in range(5)]


def _counted(chunks: list[str], read: list[int]):
    for chunk in chunks:
        read.append(threading.get_ident())
        yield chunk


def test_under_wsgi_the_download_is_the_plain_stream():
    read: list[int] = []
    request = RequestFactory().get("/staff/orders.csv")

    response = csv_export.csv_download(request, name="orders", chunks=_counted(["a\r\n"] * 3, read))

    assert response.streaming
    assert not response.is_async
    assert read == []  # nothing is read before the server sends it
    assert b"".join(response.streaming_content) == b"a\r\n" * 3
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    assert response["Content-Disposition"].endswith('.csv"')


def test_under_asgi_the_download_streams_reading_in_the_requests_thread():
    read: list[int] = []
    request = AsyncRequestFactory().get("/staff/orders.csv")

    response = csv_export.csv_download(request, name="orders", chunks=_counted(["a\r\n"] * 3, read))

    assert response.streaming
    assert response.is_async  # Django would read a synchronous stream whole
    assert read == []

    async def receive() -> list[bytes]:
        return [part async for part in response.streaming_content]

    assert b"".join(async_to_sync(receive)()) == b"a\r\n" * 3
    # each chunk was read by the thread that holds the request's database connection
    assert read == [threading.get_ident()] * 3

"""jsonb read in binary is decoded by orjson, as the standard library would decode it."""

import orjson
import psycopg
import pytest
from django.db import connection
from psycopg.types.json import JsonbBinaryLoader

from orderflow.apps import json_loads

pytestmark = pytest.mark.django_db

BIG = 123456789012345678901234567890


def _binary_jsonb(text: str):
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("SELECT %s::jsonb", [text], binary=True)
        return cursor.fetchone()[0]


def test_psycopg_decodes_jsonb_with_orjson():
    assert JsonbBinaryLoader._loads is json_loads


def test_a_binary_jsonb_is_decoded_whole_even_past_64_bit_integers():
    document = f'{{"amount": "12.30", "n": 7, "x": 0.1, "big": {BIG}, "s": "é ✓"}}'

    assert _binary_jsonb(document) == {"amount": "12.30", "n": 7, "x": 0.1, "big": BIG, "s": "é ✓"}
    assert orjson.loads(f'{{"big": {BIG}}}') != {"big": BIG}  # why it did not read this one


def test_what_orjson_refuses_is_read_as_the_standard_library_reads_it():
    assert json_loads(b'{"x": NaN}')["x"] != json_loads(b'{"x": NaN}')["x"]  # a float NaN
    assert json_loads(b'{"n": 18446744073709551615}') == {"n": 2**64 - 1}

"""The PostgreSQL backend: django-prometheus's counting, its cursor class made once."""

import pytest
from django.db import connection
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db


def _executed() -> float:
    labels = {"alias": "default", "vendor": "postgresql"}
    return REGISTRY.get_sample_value("django_db_execute_total", labels) or 0.0


def test_every_connect_counts_through_one_cursor_class():
    first = connection.get_connection_params()["cursor_factory"]
    second = connection.get_connection_params()["cursor_factory"]

    assert first is second
    assert issubclass(first, connection.Database.Cursor)


def test_django_queries_are_still_counted():
    before = _executed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")

    assert _executed() - before == 2

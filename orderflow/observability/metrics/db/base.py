"""django-prometheus's PostgreSQL backend, with its counting cursor class made once per process.

django-prometheus builds a new cursor class (``ExportingCursorWrapper``) in every
``get_connection_params()``, and Django calls that on every ``connect()``: with the psycopg
pool that is once per request, and the class built was then thrown away (the pool made its
connections with the parameters it was created with). Making the class was ≈ 2.5 % of a new
order's CPU on the intake (docs/performance.md). Same counting, same metrics, one class.
"""

from functools import cache

from django.db.backends.postgresql import base as postgresql
from django_prometheus.db.backends.postgresql import base as prometheus
from django_prometheus.db.common import ExportingCursorWrapper

#: one counting cursor class per (cursor class, alias, vendor)
counting_cursor_class = cache(ExportingCursorWrapper)


class DatabaseWrapper(prometheus.DatabaseWrapper):
    def get_connection_params(self):
        # Django's parameters, then the counting cursor (what django-prometheus's override
        # does, with the class made once)
        conn_params = postgresql.DatabaseWrapper.get_connection_params(self)
        conn_params["cursor_factory"] = counting_cursor_class(
            conn_params["cursor_factory"], self.alias, self.vendor
        )
        return conn_params

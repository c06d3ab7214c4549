"""django-prometheus's PostgreSQL backend, its cursor class made once (see ``base``)."""

"""Test environment defaults, loaded as a pytest plugin before Django reads its settings.

``make test`` sets the environment; these defaults let a bare ``pytest`` do the same
thing against the local PostgreSQL and Redis instead of silently testing on SQLite.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orderflow")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECRET_KEY", "orderflow-test-secret-key-not-for-production-0123456789abcdef")

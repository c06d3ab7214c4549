"""Negative control: the idempotency store is skipped, so a retried POST places again.

Test-only, and only through this module: never an environment variable.
"""

from .settings import *  # noqa: F403

FAULTS_UNSAFE_NO_IDEMPOTENCY = True

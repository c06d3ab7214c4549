"""Negative control: no on-commit kick, so only beat's sweep moves the outbox.

Test-only, and only through this module: never an environment variable.
"""

from .settings import *  # noqa: F403

FAULTS_UNSAFE_NO_KICK = True

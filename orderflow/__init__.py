"""OrderFlow's project package and shared kernel.

The Celery app is imported here so that ``@shared_task`` binds to it in every process.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]

"""WSGI entry point: plain HTTP is served through WSGI in full mode (see DESIGN, run modes)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

application = get_wsgi_application()

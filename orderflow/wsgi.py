"""WSGI entry point: plain HTTP is served through WSGI in full mode (see DESIGN, run modes).

Django's handler with the contexts' fast routes ahead of it (``orderflow/api/fast_routes.py``).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

from orderflow.api.fast_routes import application as fast_routes_application

application = fast_routes_application()

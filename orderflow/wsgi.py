"""WSGI entry point: plain HTTP is served through WSGI in full mode (see DESIGN, run modes).

Django's handler with the contexts' fast routes ahead of it (``orderflow/api/fast_routes.py``).
A process that imports this module before its settings load is a WSGI server: each thread
keeps its database connection between requests (``DB_PERSISTENT_CONNECTIONS``, settings).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

from orderflow.api.fast_routes import application as fast_routes_application

application = fast_routes_application()

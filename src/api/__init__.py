"""Spectare's REST API, metrics and web UI (``spectare api``, and inside ``spectare up``).

``create_app(settings, store=None)`` builds the Flask app; ``ApiServer`` serves it with
waitress on a background thread; ``serve(settings)`` serves it until SIGTERM.
"""

from spectare.api.app import create_app
from spectare.api.server import ApiServer, serve

__all__ = ["ApiServer", "create_app", "serve"]

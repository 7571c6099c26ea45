"""The tracking server: the REST API of a store (``mltracker server``).

Needs the ``server`` extra: ``pip install 'mltracker[server]'``.
"""

from mltracker.server.app import STATUS_OF_ERROR, create_app

__all__ = ["STATUS_OF_ERROR", "create_app"]

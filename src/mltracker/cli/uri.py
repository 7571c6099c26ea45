"""Checks of the store URI that the CLI makes before opening it."""

from __future__ import annotations

import os

from mltracker.cli.context import CliError
from mltracker.connect import ENVIRONMENT_VARIABLE


def check_postgres_driver(uri: str | None) -> None:
    """Refuse a PostgreSQL URL that names a driver other than psycopg 3.

    SQLAlchemy would look for that driver (``psycopg2``, ``asyncpg``, ...) and the message
    would suggest an install that does not help: MLTracker talks to PostgreSQL through
    psycopg 3 only.

    Raises:
        CliError: The URL (from ``--uri`` or ``$MLTRACKER_URI``) names another driver.
    """
    uri = uri if uri is not None else os.environ.get(ENVIRONMENT_VARIABLE)
    if not uri:
        return
    scheme, separator, _rest = uri.partition("://")
    dialect, plus, driver = scheme.lower().partition("+")
    if not separator or not plus or dialect not in ("postgresql", "postgres"):
        return
    if driver != "psycopg":
        raise CliError(
            f"{scheme}:// asks for the {driver} driver, but MLTracker talks to PostgreSQL "
            "through psycopg 3 (pip install 'mltracker[postgresql]'): "
            "write postgresql://... or postgresql+psycopg://..."
        )

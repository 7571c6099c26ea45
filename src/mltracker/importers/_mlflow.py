"""Loading MLflow and naming its tracking stores, for the MLflow importer and exporter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mltracker.errors import BackendUnavailableError, InvalidArgumentError, MLTrackerError


class MLflowSourceError(BackendUnavailableError):
    """An MLflow tracking store cannot be reached, read or written; the message names it."""


def load_mlflow() -> Any:
    """The ``mlflow`` module, or an error that names the extra to install."""
    # MLflow refuses its own file store (./mlruns) unless told otherwise: it is read here.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    # A server that is down is retried for minutes by default: a few tries are enough here.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    try:
        import mlflow
        from mlflow.tracking import MlflowClient  # noqa: F401 - loads the client too
    except ModuleNotFoundError as error:
        module = error.name or "mlflow"
        raise MLTrackerError(
            f"importing from or exporting to MLflow needs {module}, which is not installed: "
            "pip install 'mltracker[mlflow]'"
        ) from None
    return mlflow


def tracking_uri(location: str, *, must_exist: bool = True) -> str:
    """The MLflow tracking URI of ``location``: a URI (``sqlite:///mlflow.db``,
    ``postgresql://...``, ``http://host:5000``, ``file:///.../mlruns``) or a path (an
    ``mlruns`` folder, or a SQLite file).

    ``postgresql://`` (and ``postgres://``) use psycopg 3, the driver of MLTracker's
    ``postgresql`` extra.

    Raises:
        InvalidArgumentError: A path or SQLite file that does not exist (when
            ``must_exist``): MLflow would create an empty store there.
    """
    if "://" not in location:
        path = Path(location).expanduser().resolve()
        if path.is_dir():
            return path.as_uri()
        if path.exists() or not must_exist:
            return f"sqlite:///{path}"
        raise InvalidArgumentError(f"no MLflow store at {location}: no such file or folder")
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg" + location[len(scheme) :]
    if scheme == "sqlite" and must_exist:
        path_text = location[len("sqlite:///") :] if location.startswith("sqlite:///") else ""
        if path_text and path_text != ":memory:" and not Path(path_text).exists():
            raise InvalidArgumentError(f"no MLflow store at {location}: no such file")
    if scheme == "file" and must_exist:
        path = Path(urlsplit(location).path)
        if not path.is_dir():
            raise InvalidArgumentError(f"no MLflow store at {location}: no such folder")
    return location


#: The tables every MLflow SQL tracking store has (``runs`` with its ``run_uuid``).
_MLFLOW_TABLES = frozenset({"alembic_version", "experiments", "runs", "metrics", "params", "tags"})
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def check_sql_store(uri: str, *, empty_ok: bool = False) -> None:
    """Refuse a SQL database that is not an MLflow tracking store, before MLflow opens it:
    MLflow would create its tables in an empty one, and try to migrate another application's
    (an MLTracker store given by mistake, say).

    Raises:
        MLflowFormatError: The database holds no MLflow store (nothing was read or changed);
            with ``empty_ok`` (an export, which may make one), only when it holds tables.
        MLflowSourceError: The database cannot be reached or read.
    """
    scheme = urlsplit(uri).scheme.lower().split("+")[0]
    if scheme not in _SQL_SCHEMES:
        return
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(uri)
    except Exception as error:  # noqa: BLE001 - a driver that is missing, a bad URL
        raise source_error(uri, error) from None
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables = set(inspector.get_table_names())
            columns = (
                {column["name"] for column in inspector.get_columns("runs")}
                if "runs" in tables
                else set()
            )
    except Exception as error:  # noqa: BLE001
        raise source_error(uri, error) from None
    finally:
        engine.dispose()
    if empty_ok and not tables:
        return
    if not _MLFLOW_TABLES <= tables or "run_uuid" not in columns:
        what = "an empty database" if not tables else "a database of another application"
        raise MLflowFormatError(
            f"{shown(uri)} is not an MLflow tracking store ({what}: it has no MLflow "
            "tables); nothing was read or changed"
        )


class MLflowFormatError(InvalidArgumentError):
    """A database given as an MLflow tracking store holds none."""


def shown(uri: str) -> str:
    """A tracking URI for messages: its password, if any, hidden."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def source_error(uri: str, error: BaseException) -> MLflowSourceError:
    """The error of a store that cannot be read, naming it and saying what happened."""
    text = str(error).strip()
    message = text.splitlines()[0] if text else type(error).__name__
    parts = urlsplit(uri)
    if parts.password:
        message = message.replace(parts.password, "***")
    return MLflowSourceError(f"cannot use the MLflow store at {shown(uri)}: {message[:500]}")

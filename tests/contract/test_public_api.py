"""What ``import mltracker`` offers: exactly ``__all__``, and the installed version."""

from __future__ import annotations

import abc
import importlib.metadata
import types
from typing import Protocol

import mltracker

#: Every documented name (README, SPEC): entry points in both spellings, the connection,
#: the error tree, ``NO_PHASE`` and the ports' types.
DOCUMENTED = {
    "get_experiment",
    "getExperiment",
    "get_all_experiments",
    "getallExperiments",
    "connect",
    "Connection",
    "MLTrackerError",
    "NotFoundError",
    "AccessDeniedError",
    "AlreadyExistsError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "PayloadTooLargeError",
    "BackendError",
    "SchemaVersionError",
    "ForeignStoreError",
    "ReadOnlyStoreError",
    "BackendUnavailableError",
    "RemoteError",
    "CertificateError",
    "NO_PHASE",
    "Experiment",
    "Experiments",
    "Model",
    "Models",
    "Module",
    "Run",
    "RunsView",
    "ExperimentRunsView",
    "Summary",
    "Modules",
    "Iteration",
    "Iterations",
    "Metric",
    "Metrics",
    "__version__",
}
PORTS = {"Experiment", "Experiments", "Model", "Models", "Module", "Modules"}
PORTS |= {"Iteration", "Iterations", "Metric", "Metrics"}


def public_names() -> set[str]:
    return {
        name
        for name in dir(mltracker)
        if not name.startswith("_")
        and not isinstance(getattr(mltracker, name), types.ModuleType)  # submodules
    }


def test_public_names_are_exactly_all() -> None:
    assert public_names() == set(mltracker.__all__) - {"__version__"}


def test_all_is_exactly_the_documented_names() -> None:
    assert sorted(mltracker.__all__) == sorted(set(mltracker.__all__))
    assert set(mltracker.__all__) == DOCUMENTED


def test_every_name_in_all_resolves() -> None:
    for name in mltracker.__all__:
        assert getattr(mltracker, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from mltracker import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(mltracker.__all__)


def test_internals_do_not_leak() -> None:
    for name in ("ExperimentsView", "open_session", "os", "annotations"):
        assert not hasattr(mltracker, name), name


def test_ports_are_protocols_or_abstract_classes() -> None:
    for name in PORTS:
        port = getattr(mltracker, name)
        assert isinstance(port, type)
        assert issubclass(port, Protocol) or isinstance(port, abc.ABCMeta), name  # type: ignore[arg-type]


def test_errors_form_one_tree() -> None:
    for name in mltracker.__all__:
        if name.endswith("Error"):
            assert issubclass(getattr(mltracker, name), mltracker.MLTrackerError), name


def test_version_is_the_installed_distribution_version() -> None:
    assert mltracker.__version__ == importlib.metadata.version("mltracker")


def test_the_cli_reports_the_same_version() -> None:
    from click.testing import CliRunner

    from mltracker.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.split() == ["mltracker,", "version", mltracker.__version__]

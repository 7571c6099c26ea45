"""``mltracker --help`` and ``--version`` import no command module, hence no SQLAlchemy; a
command's module is imported when that command is used."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import click
import pytest

from mltracker.cli import COMMANDS, cli

PROBE = textwrap.dedent(
    """
    import json, sys
    from mltracker.cli import cli
    try:
        cli.main(sys.argv[1:], prog_name="mltracker")
    except SystemExit as end:
        code = end.code
    loaded = sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("sqlalchemy", "pandas", "pyarrow", "numpy")
        or name.startswith("mltracker.cli.") or name.startswith("mltracker.backends")
        or name.startswith("mltracker.importers")
    )
    print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
    """
)


def shortened(summary: str, limit: int) -> str:
    return click.Command("name", help=summary).get_short_help_str(limit)


LIGHT = {
    "mltracker.cli.context",
    "mltracker.cli.output",
    "mltracker.cli.pipes",
    "mltracker.cli.uri",
}


def probe(*arguments: str) -> tuple[str, int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, report["code"], set(report["loaded"])


@pytest.mark.parametrize("option", ["--help", "-h", "--version"])
def test_help_and_version_import_no_command_and_no_sqlalchemy(option: str) -> None:
    stdout, code, loaded = probe(option)

    assert code == 0
    assert stdout
    assert loaded <= LIGHT, loaded - LIGHT
    assert not any(name.startswith("sqlalchemy") for name in loaded)


def test_help_lists_every_command_with_its_own_summary() -> None:
    stdout, code, _ = probe("--help")

    assert code == 0
    listed = stdout.split("Commands:")[1].strip().splitlines()
    assert [line.split()[0] for line in listed] == sorted(COMMANDS)
    for line in listed:
        name, summary = line.split(maxsplit=1)
        assert summary in {shortened(COMMANDS[name].summary, n) for n in range(20, 120)}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_registered_summary_is_the_command_help(name: str) -> None:
    command = cli.commands[name]

    assert isinstance(command, click.Command)
    assert command.name == name
    for limit in range(20, 120):
        expected = command.get_short_help_str(limit)
        assert shortened(COMMANDS[name].summary, limit) == expected, limit


def test_a_command_imports_its_module_when_used() -> None:
    _, code, loaded = probe("db", "--help")

    assert code == 0
    assert "mltracker.cli.db" in loaded
    assert "mltracker.cli.export" not in loaded


def test_python_dash_m_answers_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mltracker", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Commands:" in done.stdout

"""The flags of ``mltracker server`` for a shared machine, on real server processes:
``--max-body-mb`` (the limit of a body, 32 MiB by default, above the client's batches),
``--header-timeout`` and ``--body-timeout``, ``--access-log`` (a line per request on stderr,
none without it); each of them reaches the workers of ``--workers N``. And the parsing of a
batch body a key at a time gives what parsing it whole gives."""

from __future__ import annotations

import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mltracker import wire
from mltracker.server.app import DEFAULT_MAX_BODY_BYTES
from mltracker.server.bodies import loads_object
from mltracker.writer.batches import DEFAULT_MAX_BATCH_BYTES

from .helpers import ServerProcess, assert_envelope, call, row_counts
from .test_security import fill, point_batch
from .test_serving import free_port, mltracker
from .test_slow_clients import assert_timed_out, read_all

MIB = 1024 * 1024


def test_the_body_limit_is_32_mib_above_the_client_s_batches() -> None:
    from mltracker.cli.serving import server_command

    defaults = {param.name: param.default for param in server_command.params}
    assert DEFAULT_MAX_BODY_BYTES == defaults["max_body_mb"] * MIB == 32 * MIB
    assert DEFAULT_MAX_BATCH_BYTES <= DEFAULT_MAX_BODY_BYTES // 2


def padded_batch(model_id: str, size: int) -> bytes:
    """A valid batch body of ``size`` bytes (blanks after the JSON)."""
    raw = orjson.dumps(point_batch(model_id, range(10)))
    return raw + b" " * (size - len(raw))


def test_max_body_mb_sets_the_limit(tmp_path: Path) -> None:
    with ServerProcess(
        str(tmp_path / "store.db"), "--max-body-mb", "1", log=tmp_path / "server.log"
    ) as server:
        ids = fill(server.url)
        before = row_counts(tmp_path / "store.db")
        api = server.url + "/api/v1"
        refused = call("POST", api + "/points", raw=padded_batch(ids["m"], MIB + 1))
        error = assert_envelope(refused, 413, "invalid_argument.too_large")
        assert f"larger than {MIB} bytes" in error["message"]
        assert "--max-body-mb" in error["message"]
        assert row_counts(tmp_path / "store.db") == before
        taken = call("POST", api + "/points", raw=padded_batch(ids["m"], MIB))
        assert taken.status == 200, taken.body[:300]


@pytest.mark.parametrize(
    "flag", ["--max-body-mb=0", "--header-timeout=0", "--body-timeout=-1", "--body-timeout=x"]
)
def test_a_flag_out_of_its_range_is_refused(tmp_path: Path, flag: str) -> None:
    done = mltracker("--uri", str(tmp_path / "s.db"), "server", "--port", "0", flag)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert flag.split("=")[0] in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_help_names_the_flags() -> None:
    done = mltracker("server", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--max-body-mb", "--header-timeout", "--body-timeout", "--access-log"):
        assert flag in done.stdout


# The access log -----------------------------------------------------------------------------
def requests_made(url: str) -> None:
    assert call("GET", url + "/api/v1/health").status == 200
    assert call("GET", url + "/api/v1/experiments").status == 200
    assert call("GET", url + "/api/v1/nothing").status == 404


def test_the_access_log_prints_a_line_per_request_on_stderr(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with ServerProcess(str(tmp_path / "store.db"), "--access-log", log=log) as server:
        requests_made(server.url)
        assert server.stop() in (0, -signal.SIGTERM)
        assert server.lines.get(timeout=30) is None  # stdout: nothing after the URL
    lines = [line for line in log.read_text().splitlines() if ' - "' in line]
    assert len(lines) == 3, log.read_text()
    assert lines[0].endswith('"GET /api/v1/health HTTP/1.1" 200 OK'), lines
    assert lines[1].endswith('"GET /api/v1/experiments HTTP/1.1" 200 OK'), lines
    assert lines[2].endswith('"GET /api/v1/nothing HTTP/1.1" 404 Not Found'), lines
    assert "127.0.0.1:" in lines[0]


def test_without_the_flag_no_request_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with ServerProcess(str(tmp_path / "store.db"), log=log) as server:
        requests_made(server.url)
        assert server.stop() in (0, -signal.SIGTERM)
    assert "HTTP/1.1" not in log.read_text(), log.read_text()


# --workers ----------------------------------------------------------------------------------
def wait_for_health(url: str) -> None:
    """Until a worker answers (the URL is printed before the workers start)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=10) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_the_workers_take_the_flags(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with ServerProcess(
        str(tmp_path / "store.db"),
        "--workers",
        "2",
        "--max-body-mb",
        "1",
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--access-log",
        port=port,
        log=log,
    ) as server:
        wait_for_health(server.url)
        ids = fill(server.url)
        api = server.url + "/api/v1"
        refused = call("POST", api + "/points", raw=padded_batch(ids["m"], MIB + 1))
        assert_envelope(refused, 413, "invalid_argument.too_large")
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            assert_timed_out(read_all(sock), "headers did not come within 1 s")
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(
                b"POST /api/v1/points HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                b"content-type: application/json\r\ncontent-length: 10\r\n\r\n{"
            )
            assert_timed_out(read_all(sock), "body stalled for 1 s")
        assert server.stop() in (0, -signal.SIGTERM)
    assert '"POST /api/v1/points HTTP/1.1" 413' in log.read_text()


# A body parsed a key at a time --------------------------------------------------------------
KEYS = wire.POINTS_KEYS
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    # strings that hold what the cuts look for
    | st.sampled_from(['],"s":[', ',"step":', '"}', "{", ',"exact":{}}', '\\"', "é"])
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*KEYS, "x"]), children, max_size=3)
    ),
    max_leaves=12,
)


def same(body: bytes) -> None:
    """``loads_object`` gives what ``orjson.loads`` gives, or raises as it does."""
    try:
        expected = orjson.loads(body)
    except orjson.JSONDecodeError:
        with pytest.raises(orjson.JSONDecodeError):
            loads_object(bytearray(body), KEYS)
        return
    assert loads_object(bytearray(body), KEYS) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=len(KEYS), max_size=len(KEYS)))
def test_a_body_of_the_client_s_layout_parses_as_a_whole(values: list[object]) -> None:
    body = orjson.dumps(dict(zip(KEYS, values, strict=True)))
    same(body)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(json_values, min_size=len(KEYS), max_size=len(KEYS)),
    st.data(),
)
def test_a_body_cut_or_spliced_anywhere_parses_as_a_whole(
    values: list[object], data: st.DataObject
) -> None:
    body = orjson.dumps(dict(zip(KEYS, values, strict=True)))
    start = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(start, len(body)))
    inserted = data.draw(st.sampled_from([b"", b",", b" ", b'"', b',"s":', b"}", b"]", b"1"]))
    same(body[:start] + inserted + body[end:])


def test_a_body_of_other_keys_or_order_parses_as_a_whole() -> None:
    same(b'{"series":[],"batch_id":null,"s":[],"step":[],"value":[],"timestamp":[],"exact":{}}')
    same(b'{"batch_id": null, "series": []}')
    same(b'{"batch_id":null,"series":[],"s":[1],"s":[2],"step":[],"value":[],"timestamp":[]}')
    same(
        b'{"batch_id":"],\\"series\\":","series":[],"s":[],"step":[],"value":[],'
        b'"timestamp":[],"exact":{}}'
    )
    same(b"[]")
    same(b"")

"""``mltracker token new``: a random token on stdout, its hash appended to a tokens file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mltracker.tokens import MIN_LENGTH, TokenSet, read_tokens

from .helpers import invoke


def test_a_new_token_is_random_long_and_printed_alone() -> None:
    first, second = invoke("token", "new"), invoke("token", "new")
    assert first.exit_code == 0 and second.exit_code == 0
    token = first.stdout.strip()
    assert first.stdout == token + "\n" and first.stderr == ""
    assert len(token) == 43 and len(token) >= MIN_LENGTH
    assert token.replace("-", "").replace("_", "").isalnum() and token.isascii()
    assert token != second.stdout.strip()


def test_with_a_file_its_hash_is_appended_and_the_file_is_private(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.jsonl"
    made = invoke("token", "new", "--name", "ci runner", "--scope", "read", "--file", str(tokens))
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert "token 'ci runner' (scope read) added to" in made.stderr
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert secret not in tokens.read_text()
    [line] = tokens.read_text().splitlines()
    entry = json.loads(line)
    assert (entry["name"], entry["scope"]) == ("ci runner", "read")
    assert entry["hash"].startswith("sha256:") and entry["created"].endswith("Z")
    [token] = read_tokens(tokens)
    assert TokenSet([token]).by_secret(secret.encode()) == token
    assert TokenSet([token]).by_secret(secret[:-1].encode()) is None


def test_names_are_given_in_turn_and_never_twice(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.jsonl"
    for _ in range(2):
        assert invoke("token", "new", "--file", str(tokens)).exit_code == 0
    assert [token.name for token in read_tokens(tokens)] == ["token-1", "token-2"]
    again = invoke("token", "new", "--name", "token-1", "--file", str(tokens))
    assert again.exit_code == 1
    assert "has a token named 'token-1' already" in again.stderr and again.stdout == ""
    assert len(read_tokens(tokens)) == 2


def test_json_names_the_token_its_scope_and_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.jsonl"
    made = invoke("--json", "token", "new", "--name", "bob", "--file", str(tokens))
    document = json.loads(made.stdout)
    assert document["name"] == "bob" and document["scope"] == "write"
    assert document["file"] == str(tokens) and len(document["token"]) == 43
    assert made.stderr == ""


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param(["--name", ""], "non-empty", id="empty-name"),
        pytest.param(["--name", "two\nlines"], "printable", id="line-break"),
        pytest.param(["--scope", "admin"], "'admin' is not one of", id="scope"),
    ],
)
def test_what_a_tokens_file_cannot_hold_is_refused(
    tmp_path: Path, options: list[str], match: str
) -> None:
    tokens = tmp_path / "tokens.jsonl"
    made = invoke("token", "new", "--file", str(tokens), *options)
    assert made.exit_code in (1, 2) and match in made.stderr, made.stderr
    assert not tokens.exists()

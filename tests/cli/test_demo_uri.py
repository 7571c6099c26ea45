"""``mltracker demo`` never prints the password of the store's URL."""

from __future__ import annotations

import pytest

from .helpers import invoke, parse_json


@pytest.fixture
def uri_with_password(postgres_uri: str) -> str:
    """The test PostgreSQL (trust authentication) with a password in its URL."""
    assert "://postgres@" in postgres_uri, "the test URL has changed: adapt this fixture"
    return postgres_uri.replace("://postgres@", "://postgres:s3cret-word@", 1)


def test_demo_json_masks_the_password(uri_with_password: str) -> None:
    result = invoke("--uri", uri_with_password, "--json", "demo", "--epochs", "1")

    assert result.exit_code == 0, result.output
    assert "s3cret-word" not in result.output
    assert parse_json(result.stdout)["uri"].startswith("postgresql://postgres:***@")


def test_demo_table_and_next_steps_mask_the_password(uri_with_password: str) -> None:
    result = invoke("--uri", uri_with_password, "demo", "--epochs", "1")

    assert result.exit_code == 0, result.output
    assert "s3cret-word" not in result.output
    assert "mltracker --uri 'postgresql://postgres:***@" in result.stdout

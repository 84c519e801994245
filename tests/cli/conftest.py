"""Fixtures of the command-line tests: a fresh data directory (SQLite) per test and the runner over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cli import Run, as_json, runner_for


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data_dir: Path) -> Run:
    return runner_for(data_dir)


@pytest.fixture
def contoso(cli: Run) -> str:
    """A tenant "Contoso" (contoso.example), made through the CLI; its id."""
    return str(as_json(cli("tenant", "create", "Contoso", "--domain", "contoso.example", "--json"))["id"])

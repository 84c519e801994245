"""Running the ``consentry`` command line in tests (Typer's CliRunner) and reading its results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from consentry.cli import app

Run = Callable[..., Result]
# Settings a developer's environment might hold: each run sees only what the test gives it.
_CLEARED = ("CONSENTRY_DB", "CONSENTRY_DATA_DIR", "CONSENTRY_PUBLIC_URL", "CONSENTRY_PORT", "CONSENTRY_SMTP_URL",
            "CONSENTRY_SMTP_FROM", "CONSENTRY_SMTP_CA_FILE")


def runner_for(data_dir: Path) -> Run:
    """Run ``consentry ARGS… --data-dir <data_dir>`` (SQLite in the data directory); ``input`` feeds stdin,
    ``env`` adds environment variables."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=input,
                             env={**dict.fromkeys(_CLEARED), **(env or {})})

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def assert_one_error_line(result: Result, starts_with: str) -> str:
    """A failure: a non-zero exit, nothing on stdout, one line on stderr starting so, no traceback."""
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts_with), lines[0]
    assert "Traceback" not in result.output
    return lines[0]

"""What every ``consentry`` command shares: the common options, one ``error:`` line for any failure, the
runtime built from settings and flags, tenant lookup, and rendering as a table or JSON."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from consentry import runtime
from consentry.config import Settings
from consentry.errors import INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.services import directory
from consentry.services.context import ServiceContext

Db = Annotated[str | None, typer.Option(
    "--db", show_default=False, help="Database URL, sqlite:///FILE or postgresql://… [env: CONSENTRY_DB; "
                                     "default: SQLite in the data directory]")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", show_default=False, help="Data directory [env: CONSENTRY_DATA_DIR; default: ./.consentry]")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TenantRef = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id or verified domain.")]

P = ParamSpec("P")
R = TypeVar("R")


# --- errors, settings, runtime -------------------------------------------------------------------

def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every failure into one ``error:`` line and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
            raise
        except ConsentryError as exc:
            fail(exc.description)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem.get("loc", ())) or "settings"
            fail(f"invalid setting CONSENTRY_{field.upper()}: {problem.get('msg', 'invalid value')}")
        except Exception as exc:
            if os.environ.get("CONSENTRY_DEBUG"):
                raise
            origin = type(exc).__module__.split(".")[0]
            detail = first_line(str(getattr(exc, "orig", None) or exc)) or type(exc).__name__
            fail(f"database error: {detail}" if origin in ("sqlalchemy", "psycopg", "sqlite3", "alembic")
                  else f"{type(exc).__name__}: {detail}")

    return wrapper


def command(group: typer.Typer, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def register(fn: Callable[P, R]) -> Callable[P, R]:
        group.command(name)(reports_errors(fn))
        return fn

    return register


def build_settings(**flags: Any) -> Settings:
    """Settings from ``CONSENTRY_*`` with the flags that were given on top (None/False: not given)."""
    given = {name: value for name, value in flags.items() if value is not None and value is not False}
    return Settings(**given)


@contextmanager
def open_runtime(db: str | None, data_dir: Path | None) -> Iterator[runtime.Runtime]:
    rt = runtime.build(build_settings(db=db, data_dir=data_dir))
    try:
        runtime.prepare(rt)  # a no-op when the schema is current and a signing key exists
        yield rt
    finally:
        rt.close()


def resolve_tenant_id(ctx: ServiceContext, segment: str) -> str:
    """A tenant's id from its id or one of its verified domains (AADSTS90002 when there is none)."""
    with ctx.uow.read() as tx:
        return directory.get_tenant(tx, segment.strip()).id


@contextmanager
def not_found_means(message: str) -> Iterator[None]:
    try:
        yield
    except ConsentryError as exc:
        if exc.entry is NOT_FOUND:
            raise ConsentryError(INVALID_VALUE, reason=message) from exc
        raise


# --- rendering -----------------------------------------------------------------------------------

def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())

"""The ASGI factory uvicorn's workers call: settings from the environment, then :func:`create_app`."""

from __future__ import annotations

from starlette.applications import Starlette

from consentry.config import Settings
from consentry.runtime import build, configure_logging
from consentry.web.app import create_app


def create_app_from_environment() -> Starlette:
    settings = Settings()
    configure_logging(settings)
    return create_app(build(settings))

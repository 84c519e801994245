"""Shared helpers for the portal's HTTP tests: a browser-like client signed in to the portal, and form posts
with the page's anti-forgery token."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from tests.protocol.helpers import PASSWORD, form_action, hidden_inputs
from tests.support.server import RunningServer


@contextmanager
def portal_client(server: RunningServer, upn: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A client whose session is ``upn``'s, signed in through the portal's own redirect to the sign-in page."""
    with server.client() as client:
        first = client.get("/portal")
        assert first.status_code == 302 and "/login?interaction=" in first.headers["location"], first.text[:300]
        page = client.get(first.headers["location"])
        signed_in = client.post(form_action(page.text), data={**hidden_inputs(page.text), "username": upn,
                                                              "password": password})
        assert signed_in.status_code == 302 and signed_in.headers["location"] == "/portal", signed_in.text[:300]
        yield client


def csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def post_form(client: httpx.Client, page_path: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Open ``page_path`` (for its anti-forgery token) and post ``data`` to ``action`` as its form would."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text[:500]
    return client.post(action, data={"csrf_token": csrf(page), **data})


def text_of(page: httpx.Response) -> str:
    """The page's visible text, roughly: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())

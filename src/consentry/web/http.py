"""Request and response plumbing shared by the identity endpoints and the pages: building the neutral
protocol request, trace and correlation ids, cookies, anti-forgery tokens and rendering outcomes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from consentry.errors import FORM_TOKEN_INVALID, MALFORMED_REQUEST, ConsentryError
from consentry.protocol.messages import Answer, ProtocolRequest
from consentry.runtime import Runtime
from consentry.web import metrics

MAX_FORM_BYTES = 64 * 1024
SESSION_COOKIE = "consentry_session"
CSRF_COOKIE = "consentry_csrf"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def templates_of(request: Request) -> Jinja2Templates:
    return request.app.state.templates


def _guid_or_new(value: str | None) -> str:
    try:
        return str(uuid.UUID(value)) if value else str(uuid.uuid4())
    except ValueError:
        return str(uuid.uuid4())


def request_ids(request: Request) -> tuple[str, str]:
    """(trace id, correlation id): the client's ``client-request-id`` becomes the correlation id."""
    ids = getattr(request.state, "ids", None)
    if ids is None:
        correlation = request.headers.get("client-request-id") or request.query_params.get("client-request-id")
        ids = (str(uuid.uuid4()), _guid_or_new(correlation))
        request.state.ids = ids
    return ids


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded body, first value per name. Anything else is AADSTS9002313, not a crash."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _read_capped(request)
    if content_type != FORM_CONTENT_TYPE:
        if not body:
            return {}
        raise ConsentryError(MALFORMED_REQUEST, reason="The body must be application/x-www-form-urlencoded.")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConsentryError(MALFORMED_REQUEST, reason="The request body could not be parsed.") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise ConsentryError(MALFORMED_REQUEST, reason="The request body contains a NUL character.")
        form.setdefault(name, value)
    return form


async def _read_capped(request: Request) -> bytes:
    """The body, refusing (without buffering it) anything over :data:`MAX_FORM_BYTES`."""
    too_large = ConsentryError(MALFORMED_REQUEST, reason="The request body is too large.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def protocol_request(request: Request, form: dict[str, str], segment: str) -> ProtocolRequest:
    rt = runtime_of(request)
    trace_id, correlation_id = request_ids(request)
    base = rt.base_url
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {k: v for k, v in reversed(request.query_params.multi_items())}
    return ProtocolRequest(method=request.method, url=url, base_url=base, tenant_segment=segment, query=query,
                           form=form, headers={k.lower(): v for k, v in request.headers.items()},
                           client_ip=client_ip(request), trace_id=trace_id, correlation_id=correlation_id,
                           path=request.url.path)


def to_response(answer: Answer, request: Request) -> Response:
    if answer.error_code is not None:
        metrics.ERRORS.labels(str(answer.error_code)).inc()
    trace_id, correlation_id = request_ids(request)
    headers = dict(answer.headers)
    headers.setdefault("x-ms-request-id", trace_id)
    headers.setdefault("client-request-id", correlation_id)
    media = headers.pop("content-type", None)
    return Response(answer.body, status_code=answer.status, headers=headers, media_type=media)


# --- cookies ---------------------------------------------------------------------------------------
def secure_cookies(request: Request) -> bool:
    return runtime_of(request).base_url.startswith("https://")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=secure_cookies(request), samesite="lax",
                        path="/", max_age=runtime_of(request).settings.session_lifetime)


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure_cookies(request), httponly=True,
                           samesite="lax")


# --- anti-forgery tokens (double submit, bound to a secret) ---------------------------------------
def _csrf_secret(request: Request) -> bytes:
    return hashlib.sha256(b"csrf|" + runtime_of(request).kek.encode()).digest()


def csrf_token(request: Request, response_cookies: dict[str, str]) -> str:
    """The hidden-field value for a form; sets the cookie it is bound to when the browser has none."""
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(24)
        response_cookies[CSRF_COOKIE] = seed
    return hmac.new(_csrf_secret(request), seed.encode(), hashlib.sha256).hexdigest()


def signed(request: Request, value: str) -> str:
    """``value`` with a MAC, for text that travels through the browser and must come back unchanged."""
    mac = hmac.new(_csrf_secret(request), b"signed|" + value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{mac}.{value}"


def unsigned(request: Request, token: str | None) -> str | None:
    """The value of a :func:`signed` token, or None when it was altered."""
    mac, _, value = (token or "").partition(".")
    expected = hmac.new(_csrf_secret(request), b"signed|" + value.encode(), hashlib.sha256).hexdigest()[:32]
    return value if mac and hmac.compare_digest(mac, expected) else None


def apply_cookies(response: Response, request: Request, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        response.set_cookie(name, value, httponly=True, secure=secure_cookies(request), samesite="strict", path="/")


def ensure_csrf(request: Request, form: dict[str, str]) -> None:
    seed = request.cookies.get(CSRF_COOKIE) or ""
    sent = form.get("csrf_token") or ""
    expected = hmac.new(_csrf_secret(request), seed.encode(), hashlib.sha256).hexdigest()
    if not seed or not hmac.compare_digest(sent, expected):
        raise ConsentryError(FORM_TOKEN_INVALID)


# --- going back to the client ----------------------------------------------------------------------
def redirect_to_client(request: Request, redirect_uri: str, mode: str, params: dict[str, str]) -> Response:
    if mode == "form_post":
        html = templates_of(request).get_template("form_post.html").render(action=redirect_uri, params=params)
        return HTMLResponse(html, headers={"cache-control": "no-store"})
    encoded = urlencode(params)
    if mode == "fragment":
        location = f"{redirect_uri.split('#')[0]}#{encoded}"
    else:
        separator = "&" if urlsplit(redirect_uri).query else "?"
        location = f"{redirect_uri.split('#')[0]}{separator}{encoded}"
    return RedirectResponse(location, status_code=302, headers={"cache-control": "no-store"})

"""Request-size guard and latency measurement, as plain ASGI middleware.

Starlette's ``@app.middleware("http")`` (``BaseHTTPMiddleware``) runs every request
through an extra task and memory streams; at a few hundred requests a second that cost
as much as answering a request from a kept list.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

Observe = Callable[[str, str, int, float], None]


class GuardAndMeasure:
    """Refuses bodies without a Content-Length (411) or over ``max_body_bytes`` (413)
    before they are read, and calls ``observe(method, route template, status, seconds)``
    for every answered request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, observe: Observe) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        method = scope["method"]
        if method in _BODY_METHODS:
            size = dict(scope["headers"]).get(b"content-length", b"")
            refusal = None
            if not size.isdigit():
                refusal = JSONResponse({"detail": "a Content-Length header is required"}, 411)
            elif int(size) > self.max_body_bytes:
                detail = f"request body over {self.max_body_bytes} bytes"
                refusal = JSONResponse({"detail": detail}, 413)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # the router put the matched route in the (shared) scope
            route = getattr(scope.get("route"), "path", "unmatched").replace(":id}", "}")
            self.observe(method, route, status, perf_counter() - started)


# Every page and script comes from this origin: nothing inline, no framing, no sniffing.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """Adds ``Content-Security-Policy`` (``DEFAULT_CSP`` unless the response sets its own),
    ``X-Frame-Options``, ``X-Content-Type-Options`` and ``Referrer-Policy`` to every
    response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                headers += [h for h in _SECURITY_HEADERS if h[0] not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

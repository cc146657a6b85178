"""The HTTP server around the app: uvicorn, with a deadline on reading each request.

uvicorn times out idle keep-alive connections, but not a connection that opens and sends
nothing, or sends its headers a byte at a time: 2,000 such connections were all still
held after 60 s. :class:`HeaderDeadlineProtocol` closes a connection whose request line
and headers have not all arrived within ``serve.header_timeout_s`` of the connection
opening or of the request's first byte.
"""

from __future__ import annotations

from asyncio import TimerHandle, Transport

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llmrec.config import ServeSettings


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers."""

    header_timeout_s = 10.0

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        self._deadline: TimerHandle | None = None
        super().connection_made(transport)
        self._start_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._start_deadline()

    def on_headers_complete(self) -> None:
        self._stop_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _start_deadline(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def server_config(app: FastAPI, settings: ServeSettings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: the header deadline, keep-alive and a bound on
    connections (past it new ones get 503 instead of queueing without end)."""
    protocol = type(
        "ConfiguredHeaderDeadline",
        (HeaderDeadlineProtocol,),
        {"header_timeout_s": settings.header_timeout_s},
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_connections,
        log_level="warning",
    )

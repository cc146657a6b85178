"""Request bodies parsed strictly, and validation errors that can always be sent back.

Python's ``json`` accepts ``NaN``, ``Infinity``, numbers that overflow to infinity
(``1e400``) and lone surrogates (``"\\ud800"``); each then failed deep inside a handler or
in FastAPI's own 422 response, which echoes the offending value and cannot serialise a
NaN: a 500. Bodies are parsed with orjson instead, which refuses all four as invalid
JSON, and every 422 is made JSON-safe before it is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed by orjson (see the module docstring)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError is a json.JSONDecodeError: FastAPI answers it with
            # its usual 422 "json_invalid" naming the position and the problem.
            self._json = orjson.loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """Routes whose handlers receive :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body, with values JSON cannot hold written out as text."""
    return JSONResponse(
        status_code=422,
        content={
            "detail": _json_safe(
                jsonable_encoder(
                    exc.errors(), custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")}
                )
            )
        },
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value

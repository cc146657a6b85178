"""What the endpoints answer besides their models: documented errors, and JSON already
in a response model's shape."""

import orjson
from fastapi import Response

from llmrec.app import Written
from llmrec.serve import schemas as s

ERRORS = {
    400: {"model": s.ErrorOut, "description": "the body is not parseable JSON"},
    401: {"model": s.ErrorOut, "description": "missing or invalid API key"},
    403: {"model": s.ErrorOut, "description": "the key lacks the scope"},
    413: {"model": s.ErrorOut, "description": "request body over `serve.max_body_bytes`"},
    422: {"model": s.ErrorOut, "description": "invalid input: the field and the reason"},
    429: {"model": s.ErrorOut, "description": "rate limit of the key exceeded"},
}
NOT_READY = {503: {"model": s.ErrorOut, "description": "no model yet (`llmrec train`)"}}
NOT_FOUND = {404: {"model": s.ErrorOut, "description": "unknown id"}}


def json_response(content: dict) -> Response:
    """A JSON answer already in the endpoint's response model's shape (FastAPI would
    validate and serialise it through pydantic again)."""
    return Response(orjson.dumps(content), media_type="application/json")


def write_out(written: Written) -> s.WriteOut:
    return s.WriteOut(
        received=written.received,
        stored=written.stored,
        rejected=[s.RejectedRow(index=i, reason=r) for i, r in written.rejected],
        replayed=written.replayed,
    )

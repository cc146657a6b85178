"""Recommendations asked for in words (scope ``read``)."""

from fastapi import APIRouter, Request

from llmrec.serve import schemas as s
from llmrec.serve.dependencies import ServiceDep, read
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS, NOT_FOUND, NOT_READY

router = APIRouter(route_class=StrictJSONRoute, tags=["read"], dependencies=[read])


@router.post("/chat", response_model=s.ChatOut, responses={**ERRORS, **NOT_READY, **NOT_FOUND})
def chat(request: Request, service: ServiceDep, body: s.ChatIn) -> s.ChatOut:
    """A request in a person's own words; give ``conversation_id`` back to refine it
    ("not that one", "more recent ones"). ``parse`` shows how it was understood."""
    answer = service.chat(body.message, body.conversation_id, body.user_id, body.k)
    if answer.fallback:
        request.app.state.metrics.chat_fallbacks.inc()
    return s.ChatOut(
        conversation_id=answer.conversation_id,
        fallback=answer.fallback,
        parse=answer.parse,
        items=[s.ChatItem(**item) for item in answer.items],
    )

"""Behaviour events in (scope ``write``): stored durably, then applied to the model."""

import time
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Header, Request

from llmrec.serve import schemas as s
from llmrec.serve.dependencies import ServiceDep, check_batch, write
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS

router = APIRouter(route_class=StrictJSONRoute, tags=["write"])


@router.post("/events", response_model=s.WriteOut, responses=ERRORS)
def post_events(
    request: Request,
    service: ServiceDep,
    body: s.EventsIn,
    key_id: Annotated[str, write],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="any unique token per request: a retry with the same token "
            "stores nothing twice and gets the first attempt's answer",
        ),
    ] = None,
) -> s.WriteOut:
    """Store events durably (committed before the answer), then update the user's
    history and feedback in the served model: the next list reflects them. Send an
    ``Idempotency-Key`` header to make a retry safe (events without a timestamp get
    the server's clock, so a resent request would otherwise store them twice)."""
    check_batch(body.events, "events", service.settings.serve)
    frame = pd.DataFrame([e.model_dump() for e in body.events])
    frame["timestamp"] = frame["timestamp"].fillna(time.time())
    receipt = f"{key_id}:{idempotency_key}" if idempotency_key is not None else None
    # concurrent requests' events go through one validation, one transaction, one update
    return request.app.state.events_commit.submit((frame, receipt))

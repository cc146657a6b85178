"""Users: who they are (scope ``write``), what they like (``read``), forgetting them
(``admin``)."""

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from llmrec.serve import schemas as s
from llmrec.serve.dependencies import PathId, ServiceDep, admin, check_batch, read, write
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS, NOT_FOUND, NOT_READY, write_out

router = APIRouter(route_class=StrictJSONRoute)


@router.post("/users", response_model=s.WriteOut, tags=["write"], responses=ERRORS,
             dependencies=[write])  # fmt: skip
def post_users(service: ServiceDep, body: s.UsersIn) -> s.WriteOut:
    """Insert or update users; stated ``interests`` drive a new user's first lists."""
    check_batch(body.users, "users", service.settings.serve)
    rows = []
    for user in body.users:
        attributes = dict(user.attributes)
        if user.interests:
            attributes["interests"] = user.interests
        rows.append({"user_id": user.user_id, "attributes": attributes})
    return write_out(service.add_users(pd.DataFrame(rows)))


@router.get(
    "/users/{user_id:id}/profile",
    response_model=s.ProfileOut,
    tags=["read"],
    responses={**ERRORS, **NOT_READY},
    dependencies=[read],
)
def profile(
    service: ServiceDep, user_id: PathId, top: Annotated[int, Query(ge=1, le=100)] = 10
) -> s.ProfileOut:
    """Interest keywords: the LLM's extraction when `llmrec enrich users` ran, else
    the tags of the user's items, weighted by how often they occur."""
    found = service.profile(user_id, top)
    return s.ProfileOut(
        user_id=user_id,
        events=found.events,
        keywords=[s.KeywordOut(keyword=k, weight=w) for k, w in found.keywords],
        summary=found.summary,
    )


@router.delete(
    "/users/{user_id:id}",
    response_model=s.DeletedOut,
    tags=["admin"],
    responses={**ERRORS, **NOT_FOUND},
    dependencies=[admin],
)
def delete_user(service: ServiceDep, user_id: PathId) -> s.DeletedOut:
    """Forget a user: events, links, interests, cached LLM answers and user row go
    now; their own lists stop at once; what the model learned from them goes at the
    next retrain."""
    return s.DeletedOut(user_id=user_id, removed=service.forget(user_id))

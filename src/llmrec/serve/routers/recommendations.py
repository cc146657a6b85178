"""A user's list, similar items and text search (scope ``read``)."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from llmrec.app import Service, UserList
from llmrec.rank.filters import FilterError
from llmrec.serve import schemas as s
from llmrec.serve.dependencies import (
    ItemIdList,
    ListLength,
    PathId,
    ServiceDep,
    bounded,
    read,
)
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS, NOT_FOUND, NOT_READY, json_response

router = APIRouter(route_class=StrictJSONRoute, tags=["read"], dependencies=[read])

_QUERY_NAMES = {"include_tags": "include_tag", "exclude_tags": "exclude_tag"}


def _answer(found: UserList) -> Response:
    answer = {"user_id": found.user_id, "strategy": found.strategy, "items": found.items}
    if found.experiment is not None:
        answer |= {"experiment": found.experiment, "variant": found.variant,
                   "request_id": found.request_id}  # fmt: skip
    return json_response(answer)


@router.get(
    "/users/{user_id:id}/recommendations",
    response_model=s.RecommendationsOut,
    responses={**ERRORS, **NOT_READY},
)
async def recommendations(
    request: Request,
    user_id: PathId,
    k: ListLength = 10,
    diversity: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    include_tag: Annotated[list[str] | None, Query(max_length=50)] = None,
    exclude_tag: Annotated[list[str] | None, Query(max_length=50)] = None,
    available: bool | None = None,
    brand: Annotated[list[str] | None, Query(max_length=50)] = None,
    min_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    max_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    interests: Annotated[str | None, Query(max_length=1_000)] = None,
    explain: bool = False,
    exclude: ItemIdList = None,
    candidates: ItemIdList = None,
) -> Response:
    """Top-k for a user, seen items excluded (but repeat items: consumables). A user
    without history gets items matching their stated interests (``?interests=`` or
    ``POST /users``), else their friends' tastes, else the popular ones: never an
    error. ``brand`` matches case-insensitively; a price bound leaves out items without
    a price. ``exclude``: never these items; ``candidates``: rank only these (unknown
    ids in either are ignored)."""
    service: Service = request.app.state.service  # (no dependency: this is the hot path)
    k = bounded(k, service.settings.serve)
    filters = {
        "include_tags": include_tag,
        "exclude_tags": exclude_tag,
        "available": available,
        "brand": brand,
        "min_price": min_price,
        "max_price": max_price,
    }
    filters = {name: value for name, value in filters.items() if value is not None}
    if not (filters or interests or explain or exclude or candidates is not None):
        # A known user's kept list is answered here, on the event loop: no thread-pool
        # round trip and no wait behind requests that score.
        kept = service.kept_list(user_id, k, diversity)
        if kept is not None:
            return _answer(kept)

    def scored() -> Response:
        try:
            found = service.for_user(user_id, k, diversity=diversity, filters=filters,
                                     interests=interests, explain_items=explain,
                                     candidates=candidates, exclude=exclude)  # fmt: skip
        except FilterError as exc:  # a range upside down: no schema can say it
            problem = {"loc": ["query", _QUERY_NAMES.get(exc.name, exc.name)], "msg": str(exc)}
            raise HTTPException(422, [problem]) from None
        return _answer(found)

    if not explain:
        return await run_in_threadpool(scored)
    # Explanations score each item again with and without every history item: a few
    # clients asking for them took every worker thread. They take turns here, on the
    # event loop, holding no thread while they wait.
    explaining: asyncio.Semaphore = request.app.state.explaining
    async with explaining:
        return await run_in_threadpool(scored)


@router.get(
    "/items/{item_id:id}/similar",
    response_model=s.SimilarOut,
    responses={**ERRORS, **NOT_READY, **NOT_FOUND},
)
def similar(
    service: ServiceDep,
    item_id: PathId,
    k: ListLength = 10,
    exclude: ItemIdList = None,
    candidates: ItemIdList = None,
) -> Response:
    """Items most like this one; ``exclude`` and ``candidates`` as for a user's list."""
    k = bounded(k, service.settings.serve)
    items = service.similar(item_id, k, candidates=candidates, exclude=exclude)
    return json_response({"item_id": item_id, "items": items})


@router.post("/search", response_model=s.SearchOut, responses={**ERRORS, **NOT_READY})
def search(service: ServiceDep, body: s.SearchIn) -> Response:
    """Natural-language search over item text, optionally leaning to a user."""
    items = service.search(body.query, body.k, body.user_id, body.candidates, body.exclude)
    return json_response({"query": body.query, "items": items})

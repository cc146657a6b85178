"""The catalogue: items in (scope ``write``)."""

import pandas as pd
from fastapi import APIRouter

from llmrec.serve import schemas as s
from llmrec.serve.dependencies import ServiceDep, check_batch, write
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS, write_out

router = APIRouter(route_class=StrictJSONRoute, tags=["write"], dependencies=[write])


@router.post("/items", response_model=s.WriteOut, responses=ERRORS)
def post_items(service: ServiceDep, body: s.ItemsIn) -> s.WriteOut:
    """Insert or update items; a new item is recommendable by content at once."""
    check_batch(body.items, "items", service.settings.serve)
    return write_out(service.add_items(pd.DataFrame([i.model_dump() for i in body.items])))

"""Liveness and readiness (no key)."""

import time

from fastapi import APIRouter, Request, Response

from llmrec.serve import schemas as s
from llmrec.serve.dependencies import ServiceDep
from llmrec.serve.json_bodies import StrictJSONRoute

router = APIRouter(route_class=StrictJSONRoute, tags=["health"])


@router.get("/healthz", response_model=s.HealthOut)
def healthz() -> s.HealthOut:
    return s.HealthOut(status="ok")


@router.get("/readyz", response_model=s.ReadyOut, responses={503: {"model": s.ReadyOut}})
def readyz(service: ServiceDep, request: Request, response: Response) -> s.ReadyOut:
    state = service.state
    store = service.store.ping()
    ready = state.model is not None and store
    replication = request.app.state.replication
    if not ready:
        response.status_code = 503
    return s.ReadyOut(
        ready=ready,
        model_age_s=time.time() - state.loaded_at if state.loaded_at else None,
        training=state.training is not None and state.training.is_alive(),
        last_error=state.last_error,
        warming=state.warming is not None and state.warming.is_alive(),
        lists_kept=state.lists_kept,
        fallback=state.fallback,
        store=store,
        model_version=state.version,
        following_changes=replication.listening if replication is not None else None,
    )

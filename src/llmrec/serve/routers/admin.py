"""Operating the service (scope ``admin``): metrics, the dashboard's data, retraining."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from llmrec.app import dashboard
from llmrec.serve import schemas as s
from llmrec.serve.dependencies import ServiceDep, admin
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS, json_response

router = APIRouter(route_class=StrictJSONRoute, tags=["admin"], dependencies=[admin])


@router.get(
    "/metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}, **ERRORS},
)
def metrics(request: Request) -> Response:
    """Prometheus text format: request latency, events ingested, model age, ranked
    lists kept."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)  # fmt: skip


@router.post("/admin/retrain", response_model=s.RetrainOut, status_code=202, responses=ERRORS)
def retrain(service: ServiceDep) -> s.RetrainOut:
    """Retrain on the whole store in the background; the new model replaces the
    served one atomically when ready (see /readyz)."""
    started = service.state.retrain()
    return s.RetrainOut(status="started" if started else "already running")


@router.get("/admin/overview", responses=ERRORS)
def overview(service: ServiceDep, request: Request) -> Response:
    """What the dashboard (``/admin``) draws: counts, events per day and type, the
    quarantine with reasons, model versions and the served model, experiments with the
    running one's report, and the request latency histogram per route."""
    answer = dashboard.overview(service) | {"traffic": request.app.state.metrics.traffic()}
    return json_response(answer)

"""Online experiments (scope ``admin``): create, list, pause, resume, stop, report."""

from fastapi import APIRouter, HTTPException, Response

from llmrec.app import Service
from llmrec.app.experiments import ExperimentConflictError, ExperimentError
from llmrec.experiments.design import Experiment
from llmrec.serve import schemas as s
from llmrec.serve.dependencies import PathId, ServiceDep, admin
from llmrec.serve.json_bodies import StrictJSONRoute
from llmrec.serve.responses import ERRORS, NOT_FOUND, json_response

router = APIRouter(route_class=StrictJSONRoute, tags=["admin"], dependencies=[admin])
CONFLICT = {
    409: {"model": s.ErrorOut, "description": "another experiment runs, the name is taken, "
          "or the experiment is stopped"},
}  # fmt: skip


def _refused(exc: ExperimentError) -> HTTPException:
    return HTTPException(409 if isinstance(exc, ExperimentConflictError) else 422, str(exc))


@router.post(
    "/admin/experiments", response_model=s.ExperimentOut, status_code=201,
    responses={**ERRORS, **CONFLICT},
)  # fmt: skip
def create(service: ServiceDep, body: Experiment, start: bool = True) -> Response:
    """Create an experiment, running unless ``start=false``; users are split by a salted
    hash of their id (drawn when ``salt`` is not given)."""
    try:
        service.create_experiment(body.model_dump(), start=start)
    except ExperimentError as exc:
        raise _refused(exc) from None
    answer = json_response(_listed(service, body.name))
    answer.status_code = 201
    return answer


@router.get("/admin/experiments", response_model=list[s.ExperimentOut], responses=ERRORS)
def listed(service: ServiceDep) -> Response:
    return json_response(service.experiments.listed())


@router.post(
    "/admin/experiments/{name}/status", response_model=s.ExperimentOut,
    responses={**ERRORS, **NOT_FOUND, **CONFLICT},
)  # fmt: skip
def set_status(service: ServiceDep, name: PathId, body: s.ExperimentStatusIn) -> Response:
    """Pause, resume (``running``) or stop (final) an experiment."""
    try:
        service.experiments.set_status(name, body.status)
    except ExperimentError as exc:
        if isinstance(exc, LookupError):
            raise
        raise _refused(exc) from None
    return json_response(_listed(service, name))


@router.get("/admin/experiments/{name}/report", responses={**ERRORS, **NOT_FOUND})
def report(service: ServiceDep, name: PathId) -> Response:
    """Users, impressions, click-through and conversion per variant with 95% intervals,
    the lift and its p-value, the sample-ratio check; interleaving: the wins."""
    found = service.experiments.report(name, service.settings.event_weights)
    return json_response(found.to_dict())


def _listed(service: Service, name: str) -> dict:
    return next(e for e in service.experiments.listed() if e["name"] == name)

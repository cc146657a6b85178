"""The HTTP API (FastAPI): writes to the store, reads from the served model.

Every endpoint but ``/``, ``/healthz`` and ``/readyz`` needs an API key (``Authorization:
Bearer llmrec_…``) with a scope: ``read`` for recommendations, search and profiles,
``write`` for items, users and events, ``admin`` for retrain, deletion and metrics. Bad
input gets 4xx with the field and the reason (422), never a 500: rows that fail the
ingest rules are reported one by one and the good rows are stored.

This module assembles the application: the service (:class:`llmrec.app.Service`) and
the key guard on ``app.state``, the lifespan that loads the model, the middleware, the
error translations and the routers (``serve/routers/``, one per concern). Handlers hold
no business logic: they translate HTTP to the service and back.
"""

import asyncio
import base64
import hashlib
import itertools
import re
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from threadpoolctl import threadpool_limits

from llmrec.app import NotReadyError, Service
from llmrec.app.replication import Replication
from llmrec.config import Settings
from llmrec.errors import StoreUnavailableError, UnknownIdError
from llmrec.serve import schemas as s
from llmrec.serve.batching import GroupCommit
from llmrec.serve.dependencies import KeyGuard
from llmrec.serve.json_bodies import StrictJSONRoute, validation_error
from llmrec.serve.middleware import DEFAULT_CSP, GuardAndMeasure, SecurityHeaders
from llmrec.serve.responses import write_out
from llmrec.serve.routers import (
    admin,
    catalogue,
    chat,
    events,
    experiments,
    health,
    recommendations,
    users,
)
from llmrec.store import Store

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)  # seconds


@dataclass(frozen=True)
class Metrics:
    """The service's Prometheus metrics (``GET /metrics``)."""

    registry: CollectorRegistry
    latency: Histogram
    ingested: Counter
    chat_fallbacks: Counter

    @classmethod
    def of(cls, service: Service) -> "Metrics":
        registry = CollectorRegistry()
        state = service.state
        model_age = Gauge("llmrec_model_age_seconds", "age of the served model",
                          registry=registry)  # fmt: skip
        model_age.set_function(lambda: time.time() - state.loaded_at if state.loaded_at else -1)
        kept = Gauge("llmrec_ranked_lists_kept", "users whose ranked list is kept",
                     registry=registry)  # fmt: skip
        kept.set_function(lambda: state.lists_kept)
        return cls(
            registry=registry,
            latency=Histogram(
                "llmrec_request_seconds",
                "request latency",
                ["method", "route", "status"],
                registry=registry,
                buckets=LATENCY_BUCKETS,
            ),
            ingested=Counter("llmrec_events_ingested", "events stored", registry=registry),
            chat_fallbacks=Counter(
                "llmrec_chat_fallbacks",
                "chat turns answered by raw-text search (no usable parse)",
                registry=registry,
            ),
        )


    def traffic(self) -> dict:
        """The latency histogram per method, route and status since the start: its
        upper bounds (seconds), and per series the count, the total seconds and the
        count in each bucket (not cumulative)."""
        series: dict[tuple, dict] = {}
        for metric in self.latency.collect():
            for sample in metric.samples:
                labels = dict(sample.labels)
                le = labels.pop("le", None)
                key = (labels["method"], labels["route"], labels["status"])
                entry = series.setdefault(key, {"method": key[0], "route": key[1],
                                                "status": int(key[2]), "buckets": []})  # fmt: skip
                if sample.name.endswith("_bucket") and le is not None:
                    entry["buckets"].append(sample.value)
                elif sample.name.endswith("_count"):
                    entry["count"] = int(sample.value)
                elif sample.name.endswith("_sum"):
                    entry["seconds"] = sample.value
        for entry in series.values():
            cumulative = [0.0, *entry["buckets"]]
            entry["buckets"] = [int(b - a) for a, b in itertools.pairwise(cumulative)]
        return {"bounds": [*LATENCY_BUCKETS, "+Inf"], "series": list(series.values())}


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The service over ``store`` (default: the configured one) and the trained model."""
    limits = settings.serve
    own_store = store is None
    store = store or Store.open(settings.effective_database_url, limits.sqlite_cache_mib)
    service = Service(settings, store)
    metrics = Metrics.of(service)
    guard = KeyGuard(store, limits)
    replication = None
    if limits.share_changes and store.shares_changes:
        replication = Replication(service, guard.verify.forget_keys)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # Requests already run in parallel: a BLAS pool per request fights them for the
        # cores (one user's scores took 8 ms with 2 BLAS threads under load, 1.5 with 1).
        blas = threadpool_limits(limits.blas_threads or None, user_api="blas")
        if replication is not None:
            replication.start()  # before the load: no change between the two is missed
        service.state.load()
        yield
        if replication is not None:
            replication.stop()
        service.close()
        blas.restore_original_limits()
        if own_store:
            store.close()

    app = FastAPI(
        title="llmrec",
        summary="Personalised, explained, diverse recommendations.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copy of Swagger UI
        redoc_url=None,
    )
    app.state.service = service
    app.state.model = service.state  # the served model's state (tests and tools read it)
    app.state.guard = guard
    app.state.replication = replication
    app.state.metrics = metrics
    app.state.explaining = asyncio.Semaphore(limits.max_explaining)

    def write_events(requests: Sequence[tuple[pd.DataFrame, str | None]]) -> list[s.WriteOut]:
        done = service.record_events([f for f, _ in requests], [r for _, r in requests])
        metrics.ingested.inc(sum(new for _, new in done))
        return [write_out(written) for written, _ in done]

    app.state.events_commit = GroupCommit(write_events, wait_s=limits.group_commit_wait_ms / 1000)

    app.router.route_class = StrictJSONRoute
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(NotReadyError, _status(503))
    app.add_exception_handler(UnknownIdError, _status(404))
    app.add_exception_handler(StoreUnavailableError, _status(503))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        GuardAndMeasure,
        max_body_bytes=limits.max_body_bytes,
        observe=lambda method, route, status, seconds: metrics.latency.labels(
            method, route, str(status)
        ).observe(seconds),
    )
    _add_pages(app)
    # The busiest first: a request is matched against the routers in this order, and
    # each router it passes costs a few µs (the lists' route was last but one: 55 µs a
    # request, 6 µs first; docs/decisions/service.md).
    routers = (recommendations, events, catalogue, users, chat, health, admin, experiments)
    for router in routers:
        app.include_router(router.router)
    _document_list_length(app, limits.max_k)
    return app


def _document_list_length(app: FastAPI, max_k: int) -> None:
    """The schema's bound of every ``k`` query parameter is ``serve.max_k``, a setting
    the routers check (``dependencies.list_length``) but cannot write into their
    signatures."""
    schema_of = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            for operation in (op for path in schema_of()["paths"].values() for op in path.values()):
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "query" and parameter["name"] == "k":
                        parameter["schema"]["maximum"] = max_k
        return app.openapi_schema

    app.openapi = openapi


def _status(code: int):
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    return handler


def _add_pages(app: FastAPI) -> None:
    """The web page, its files, and Swagger UI from the package (offline, same origin)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("llmrec.serve").joinpath("static/index.html").read_text()

    # The dashboard's page is public like the page above; everything on it comes from
    # GET /admin/overview, which needs an admin key.
    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_page() -> str:
        return resources.files("llmrec.serve").joinpath("static/admin.html").read_text()

    app.mount("/static", StaticFiles(packages=[("llmrec.serve", "static")]), name="static")
    app.mount("/docs-assets", StaticFiles(packages=[("fastapi_offline", "static")]),
              name="docs-assets")  # fmt: skip
    docs = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title="llmrec API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )
    docs_policy = _policy_allowing_inline_script(docs.body.decode())

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI from the package (works offline, no third-party origin)."""
        return HTMLResponse(docs.body, headers={"Content-Security-Policy": docs_policy})


def _policy_allowing_inline_script(html: str) -> str:
    """The default CSP plus the hashes of ``html``'s inline scripts (Swagger UI starts
    from one), with the inline styles its renderer sets."""
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()}'"
        for code in inline
    )
    return DEFAULT_CSP.replace("script-src 'self'", f"script-src 'self' {hashes}").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )

"""The HTTP API (FastAPI): writes to the store, reads from the served model.

Every endpoint but ``/``, ``/healthz`` and ``/readyz`` needs an API key (``Authorization:
Bearer llmrec_…``) with a scope: ``read`` for recommendations, search and profiles,
``write`` for items, users and events, ``admin`` for retrain, deletion and metrics. Bad
input gets 4xx with the field and the reason (422), never a 500: rows that fail the
ingest rules are reported one by one and the good rows are stored.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations,
# and those name values local to ``create_app`` (the auth scheme, the limits).
import asyncio
import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from typing import Annotated

import numpy as np
import orjson
import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.concurrency import run_in_threadpool
from starlette.convertors import PathConvertor, register_url_convertor
from threadpoolctl import threadpool_limits

from llmrec.config import Settings
from llmrec.data.records import RecordKind
from llmrec.data.validate import validate_frame, validate_frames
from llmrec.errors import UnknownIdError
from llmrec.explain import explain as reasons_for
from llmrec.presentation import distinct_titles
from llmrec.rank.filters import FilterError, item_filters
from llmrec.recommender import Recommender
from llmrec.serve import schemas as s
from llmrec.serve.batching import GroupCommit
from llmrec.serve.json_bodies import StrictJSONRoute, validation_error
from llmrec.serve.keys import KeyVerifier
from llmrec.serve.middleware import DEFAULT_CSP, GuardAndMeasure, SecurityHeaders
from llmrec.serve.state import ModelState
from llmrec.store import Store

ERRORS = {
    400: {"model": s.ErrorOut, "description": "the body is not parseable JSON"},
    401: {"model": s.ErrorOut, "description": "missing or invalid API key"},
    403: {"model": s.ErrorOut, "description": "the key lacks the scope"},
    413: {"model": s.ErrorOut, "description": "request body over `serve.max_body_bytes`"},
    422: {"model": s.ErrorOut, "description": "invalid input: the field and the reason"},
    429: {"model": s.ErrorOut, "description": "rate limit of the key exceeded"},
}
# Ids in the path: any stored id, "/" included (the path converter), so every id the
# store accepts can be read and deleted; control characters are never stored.
PathId = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _IdConvertor(PathConvertor):
    """Starlette's path converter, newlines included: an id with a newline matched no route
    (an undocumented 404) instead of failing ``PathId``'s check (a 422 that names it)."""

    regex = "(?s:.*)"


register_url_convertor("id", _IdConvertor())
NOT_READY = {503: {"model": s.ErrorOut, "description": "no model yet (`llmrec train`)"}}
NOT_FOUND = {404: {"model": s.ErrorOut, "description": "unknown id"}}


_MAX_BUCKETS = 100_000


class RateLimiter:
    """A token bucket per API key."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second, self.burst = per_second, burst
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def exhausted(self, key: str) -> bool:
        """Whether ``key`` has no request left now (nothing is spent)."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(key, (float(self.burst), now))
        return min(self.burst, tokens + (now - last) * self.per_second) < 1

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.per_second)
            allowed = tokens >= 1
            self.buckets[key] = (tokens - 1 if allowed else tokens, now)
            if len(self.buckets) > _MAX_BUCKETS:  # a refilled bucket is the same as none
                refill = self.per_second
                self.buckets = {k: (t, at) for k, (t, at) in self.buckets.items()
                                if t + (now - at) * refill < self.burst}  # fmt: skip
        return allowed


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The service over ``store`` (default: the configured one) and the trained model."""
    limits = settings.serve
    own_store = store is None
    store = store or Store.open(settings.effective_database_url, limits.sqlite_cache_mib)
    state = ModelState(settings, store)
    limiter = RateLimiter(limits.rate_limit_per_s, limits.rate_limit_burst)
    # Per client address, for requests without a valid key: a flood of bad keys is
    # refused before the store is asked about them.
    refused = RateLimiter(limits.refused_per_s, limits.refused_burst)
    explaining = asyncio.Semaphore(limits.max_explaining)
    registry = CollectorRegistry()
    latency = Histogram(
        "llmrec_request_seconds", "request latency", ["method", "route", "status"],
        registry=registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
    )  # fmt: skip
    ingested = Counter("llmrec_events_ingested", "events stored", registry=registry)
    chat_fallbacks = Counter(
        "llmrec_chat_fallbacks", "chat turns answered by raw-text search (no usable parse)",
        registry=registry,
    )  # fmt: skip
    model_age = Gauge("llmrec_model_age_seconds", "age of the served model", registry=registry)
    model_age.set_function(lambda: time.time() - state.loaded_at if state.loaded_at else -1)
    kept = Gauge("llmrec_ranked_lists_kept", "users whose ranked list is kept", registry=registry)
    kept.set_function(lambda: state.lists_kept)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # Requests already run in parallel: a BLAS pool per request fights them for the
        # cores (one user's scores took 8 ms with 2 BLAS threads under load, 1.5 with 1).
        blas = threadpool_limits(limits.blas_threads or None, user_api="blas")
        state.load()
        yield
        state.close()
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
    app.state.model = state
    app.router.route_class = StrictJSONRoute
    app.add_exception_handler(RequestValidationError, validation_error)
    bearer = HTTPBearer(auto_error=False, description="an API key from `llmrec keys create`")

    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        GuardAndMeasure,
        max_body_bytes=limits.max_body_bytes,
        observe=lambda method, route, status, seconds: latency.labels(
            method, route, str(status)
        ).observe(seconds),
    )
    verify = KeyVerifier(store, limits.key_check_s)

    def scope(needed: str) -> Callable:
        # async: a sync dependency costs a thread-pool round trip per request
        async def check(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> str:
            token = credentials.credentials if credentials is not None else None
            address = request.client.host if request.client else "unknown"
            trusted = token is not None and verify.remembers(token)
            if not trusted and refused.exhausted(address):
                raise HTTPException(429, "too many requests without a valid API key from "
                                    "this address", {"Retry-After": "1"})  # fmt: skip
            found = verify(token) if token is not None else None
            if found is None:
                refused.allow(address)
                problem = "missing API key" if token is None else "invalid API key"
                raise HTTPException(401, problem, {"WWW-Authenticate": "Bearer"})
            key_id, scopes = found
            if needed not in scopes:
                raise HTTPException(403, f"this key lacks the {needed!r} scope")
            if not limiter.allow(key_id):
                raise HTTPException(429, "rate limit exceeded", {"Retry-After": "1"})
            return key_id

        return check

    read, write, admin = (Depends(scope(n)) for n in ("read", "write", "admin"))

    def model() -> Recommender:
        if state.model is None:
            raise HTTPException(503, "no model yet: run `llmrec train` or POST /admin/retrain")
        return state.model

    def check_batch(rows: list, what: str) -> None:
        if len(rows) > limits.max_batch:
            raise HTTPException(
                422, [{"loc": ["body", what], "msg": f"at most {limits.max_batch} per request"}]
            )

    def rejected(rejections) -> list[s.RejectedRow]:
        return [s.RejectedRow(index=r.line - 1, reason=r.reason) for r in rejections]

    # -- pages and health ----------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("llmrec.serve").joinpath("static/index.html").read_text()

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

    @app.get("/healthz", response_model=s.HealthOut, tags=["health"])
    def healthz() -> s.HealthOut:
        return s.HealthOut(status="ok")

    @app.get(
        "/readyz",
        response_model=s.ReadyOut,
        tags=["health"],
        responses={503: {"model": s.ReadyOut}},
    )
    def readyz(response: Response) -> s.ReadyOut:
        ready = state.model is not None
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
        )

    @app.get(
        "/metrics",
        tags=["admin"],
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            **ERRORS,
        },
        dependencies=[admin],
    )
    def metrics() -> Response:
        """Prometheus text format: request latency, events ingested, model age, ranked
        lists kept."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # -- writes --------------------------------------------------------------------

    @app.post(
        "/items", response_model=s.WriteOut, tags=["write"], responses=ERRORS, dependencies=[write]
    )
    def post_items(body: s.ItemsIn) -> s.WriteOut:
        """Insert or update items; a new item is recommendable by content at once."""
        check_batch(body.items, "items")
        frame = pd.DataFrame([i.model_dump() for i in body.items])
        good, bad = validate_frame(frame, RecordKind.ITEMS, "items", settings.ingest)
        written = store.upsert_items(good).written if len(good) else 0
        if len(good):
            vectors = (
                state.item_vectors(good)
                if state.model and state.model.vectors_ is not None
                else None
            )
            state.apply(lambda m: add_items(m, good, vectors))
        return s.WriteOut(received=len(frame), stored=written, rejected=rejected(bad))

    @app.post(
        "/users", response_model=s.WriteOut, tags=["write"], responses=ERRORS, dependencies=[write]
    )
    def post_users(body: s.UsersIn) -> s.WriteOut:
        """Insert or update users; stated ``interests`` drive a new user's first lists."""
        check_batch(body.users, "users")
        rows = []
        for user in body.users:
            attributes = dict(user.attributes)
            if user.interests:
                attributes["interests"] = user.interests
            rows.append({"user_id": user.user_id, "attributes": attributes})
        good, bad = validate_frame(pd.DataFrame(rows), RecordKind.USERS, "users", settings.ingest)
        written = store.upsert_users(good).written if len(good) else 0
        return s.WriteOut(received=len(rows), stored=written, rejected=rejected(bad))

    @app.post("/events", response_model=s.WriteOut, tags=["write"], responses=ERRORS)
    def post_events(
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
        check_batch(body.events, "events")
        frame = pd.DataFrame([e.model_dump() for e in body.events])
        frame["timestamp"] = frame["timestamp"].fillna(time.time())
        receipt = f"{key_id}:{idempotency_key}" if idempotency_key is not None else None
        return events_commit.submit((frame, receipt))

    def write_events(requests: Sequence[tuple[pd.DataFrame, str | None]]) -> list[s.WriteOut]:
        # Concurrent requests' events: one validation, one transaction, one model update.
        frames = [frame for frame, _ in requests]
        checked = validate_frames(frames, RecordKind.EVENTS, "events", settings.ingest)
        results = store.add_event_groups(
            [good for good, _ in checked], [receipt for _, receipt in requests]
        )
        ingested.inc(sum(r.written for r in results if not r.replayed))
        new = [good for (good, _), r in zip(checked, results, strict=True) if not r.replayed]
        good = pd.concat(new, ignore_index=True) if new else pd.DataFrame()
        with_items = good[good["item_id"].notna()] if len(good) else good
        if len(with_items):
            known = state.model.item_ids_ if state.model is not None else None
            if known is not None:
                # get_indexer reuses the index's hash table; Series.isin rebuilt it for
                # every request (120 ms at 100k items)
                ids = pd.Index(with_items["item_id"].astype(str))
                with_items = with_items[known.get_indexer(ids) >= 0]
            if len(with_items):
                state.apply(lambda m: m.update(with_items, validate=False))
        return [
            s.WriteOut(
                received=len(frame),
                stored=result.written,
                rejected=rejected(bad),
                replayed=result.replayed,
            )
            for frame, (_, bad), result in zip(frames, checked, results, strict=True)
        ]

    events_commit = GroupCommit(write_events, wait_s=limits.group_commit_wait_ms / 1000)

    # -- reads ---------------------------------------------------------------------

    def titled(
        rec: Recommender, columns: Sequence[int], scores: Sequence[float], sources: Sequence[str]
    ) -> list[dict]:
        """A list's items (the model's item columns) as :class:`s.RecommendedItem` dicts,
        ranked as given. Plain dicts serialised by orjson: pydantic models for every item
        of every list cost more than answering from a kept list."""
        generated = state_generated()
        ids, titles, descriptions = item_text(rec)
        shown = distinct_titles([titles[c] for c in columns], [ids[c] for c in columns])
        return [
            {
                "item_id": ids[c],
                "title": title,
                "description": descriptions[c],
                "generated_description": generated.get(ids[c]),
                "score": float(score) if np.isfinite(score) else 0.0,
                "rank": rank,
                "sources": [x for x in source.split(",") if x],
            }
            for rank, (c, title, score, source) in enumerate(
                zip(columns, shown, scores, sources, strict=True), start=1
            )
        ]

    def framed(rec: Recommender, frame: pd.DataFrame) -> list[dict]:
        columns = rec.item_ids_.get_indexer(frame["item_id"].astype(str)).tolist()
        sources = frame["sources"] if "sources" in frame.columns else [""] * len(frame)
        return titled(rec, columns, frame["score"].tolist(), list(sources))

    # The model's item ids, titles and descriptions by item column, as Python lists:
    # looking a list's ten items up in the catalogue frame (Arrow strings) cost more than
    # the rest of answering from a kept list. Made on first use per model, forgotten
    # under the write lock when items change.
    text_of: list = [None, None]

    def item_text(rec: Recommender) -> tuple[list[str], list[str], list[str]]:
        if text_of[0] is not rec:
            at = rec.items_.index.get_indexer(rec.item_ids_)
            found = at >= 0
            text = [rec.item_ids_.tolist()]
            for column in ("title", "description"):
                values = rec.items_[column].take(np.where(found, at, 0)).tolist()
                text.append([_text(v) if f else "" for v, f in zip(values, found, strict=True)])
            text_of[:] = [rec, tuple(text)]
        return text_of[1]

    def add_items(rec: Recommender, items: pd.DataFrame, vectors) -> None:
        try:
            rec.add_items(items, vectors)
        finally:  # even half-done, the catalogue may have changed
            text_of[:] = [None, None]

    generated_cache: dict[str, object] = {}

    def state_generated() -> dict[str, str]:
        # The LLM's descriptions, read once per model load (they change with `enrich`).
        if generated_cache.get("at") != state.loaded_at:
            texts = store.item_texts_frame()
            usable = texts[texts["verdict"] != "rejected"] if len(texts) else texts
            generated_cache["texts"] = dict(
                zip(usable.get("item_id", []), usable.get("description", []), strict=True)
            )
            generated_cache["at"] = state.loaded_at
        return generated_cache["texts"]  # type: ignore[return-value]

    @app.get(
        "/users/{user_id:id}/recommendations",
        response_model=s.RecommendationsOut,
        tags=["read"],
        responses={**ERRORS, **NOT_READY},
        dependencies=[read],
    )
    async def recommendations(
        user_id: PathId,
        k: Annotated[int, Query(ge=1, le=limits.max_k)] = 10,
        diversity: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
        include_tag: Annotated[list[str] | None, Query(max_length=50)] = None,
        exclude_tag: Annotated[list[str] | None, Query(max_length=50)] = None,
        available: bool | None = None,
        brand: Annotated[list[str] | None, Query(max_length=50)] = None,
        min_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
        max_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
        interests: Annotated[str | None, Query(max_length=1_000)] = None,
        explain: bool = False,
    ) -> Response:
        """Top-k for a user, seen items excluded (but repeat items: consumables). A user
        without history gets items matching their stated interests (``?interests=`` or
        ``POST /users``), else the popular ones: never an error. ``brand`` matches
        case-insensitively; a price bound leaves out items without a price."""
        rec = model()
        given = {
            "include_tags": include_tag,
            "exclude_tags": exclude_tag,
            "available": available,
            "brand": brand,
            "min_price": min_price,
            "max_price": max_price,
        }
        filters = {name: value for name, value in given.items() if value is not None}
        try:
            item_filters(filters)
        except FilterError as exc:  # a range upside down: no schema can say it
            parameter = {"include_tags": "include_tag", "exclude_tags": "exclude_tag"}
            problem = {"loc": ["query", parameter.get(exc.name, exc.name)], "msg": str(exc)}
            raise HTTPException(422, [problem]) from None
        if not (filters or interests or explain):
            # A known user's kept list is answered here, on the event loop: no thread-pool
            # round trip and no wait behind requests that score.
            with state.lock.reading_if_free() as free:
                known = free and rec.knows_user(user_id)
                top = rec.kept_top(user_id, k, diversity) if known else None
                if top is not None:
                    items = titled(
                        rec, top.items.tolist(), top.scores.tolist(), rec.source_labels(top.sources)
                    )
                    return _json({"user_id": user_id, "strategy": "model", "items": items})
        arguments = (rec, user_id, k, diversity, filters, interests, explain)
        if not explain:
            return await run_in_threadpool(scored, *arguments)
        # Explanations score each item again with and without every history item: a few
        # clients asking for them took every worker thread. They take turns here, on the
        # event loop, holding no thread while they wait.
        async with explaining:
            return await run_in_threadpool(scored, *arguments)

    def scored(
        rec: Recommender,
        user_id: str,
        k: int,
        diversity: float | None,
        filters: dict[str, object],
        interests: str | None,
        explain: bool,
    ) -> Response:
        with state.lock.reading():
            if not rec.knows_user(user_id):
                stated = interests or _stated_interests(store, user_id)
                if stated and rec.vectors_ is not None:
                    found = _by_text(rec, state.encode(stated), k, filters, None)
                    items = framed(rec, found)
                    return _json({"user_id": user_id, "strategy": "interests", "items": items})
            frame = rec.recommend([user_id], k=k, filters=filters or None, diversity=diversity)
            items = framed(rec, frame)
            if explain and rec.knows_user(user_id):
                for item in items:
                    why = reasons_for(rec, user_id, item["item_id"])
                    item["reasons"] = s.ReasonsOut(
                        sources=why.sources,
                        history=[s.HistoryReasonOut(**asdict(h)) for h in why.history],
                        keywords=why.keywords,
                        features=[s.FeatureReasonOut(**asdict(f)) for f in why.features],
                    ).model_dump()
            strategy = "model" if rec.knows_user(user_id) else "popular"
        return _json({"user_id": user_id, "strategy": strategy, "items": items})

    @app.get(
        "/items/{item_id:id}/similar",
        response_model=s.SimilarOut,
        tags=["read"],
        responses={**ERRORS, **NOT_READY, **NOT_FOUND},
        dependencies=[read],
    )
    def similar(
        item_id: PathId,
        k: Annotated[int, Query(ge=1, le=limits.max_k)] = 10,
    ) -> Response:
        rec = model()
        with state.lock.reading():
            try:
                frame = rec.similar_items([item_id], k=k)
            except UnknownIdError as exc:
                raise HTTPException(404, str(exc)) from None
            frame = frame.rename(columns={"item_id": "of", "similar_item_id": "item_id"})
            return _json({"item_id": item_id, "items": framed(rec, frame)})

    @app.post(
        "/search",
        response_model=s.SearchOut,
        tags=["read"],
        responses={**ERRORS, **NOT_READY},
        dependencies=[read],
    )
    def search(body: s.SearchIn) -> Response:
        """Natural-language search over item text, optionally leaning to a user."""
        rec = model()
        if rec.vectors_ is None:
            raise HTTPException(503, "the model has no item text vectors to search")
        with state.lock.reading():
            found = _by_text(rec, state.encode(body.query), body.k, None, body.user_id)
            return _json({"query": body.query, "items": framed(rec, found)})

    @app.post(
        "/chat",
        response_model=s.ChatOut,
        tags=["read"],
        responses={**ERRORS, **NOT_READY, **NOT_FOUND},
        dependencies=[read],
    )
    def chat(body: s.ChatIn) -> s.ChatOut:
        """A request in a person's own words; give ``conversation_id`` back to refine it
        ("not that one", "more recent ones"). ``parse`` shows how it was understood."""
        rec = model()
        if rec.vectors_ is None:
            raise HTTPException(503, "the model has no item text vectors to search")
        known = body.conversation_id is None or body.conversation_id in state.conversations
        if not known:
            raise HTTPException(404, f"unknown conversation id: {body.conversation_id}")
        conversation_id, session = state.conversation(body.conversation_id, body.user_id)
        session.k = body.k
        with state.chat_lock:
            turn = session.ask(body.message)
        if turn.fallback:
            chat_fallbacks.inc()
        found = turn.results
        titles = distinct_titles(list(found["title"]), list(found["item_id"]))
        items = [
            s.ChatItem(
                item_id=r.item_id, title=title, score=float(r.score), rank=i, reason=r.reason
            )
            for i, (r, title) in enumerate(
                zip(found.itertuples(index=False), titles, strict=True), start=1
            )
        ]
        return s.ChatOut(
            conversation_id=conversation_id, fallback=turn.fallback, parse=turn.log(), items=items
        )

    @app.get(
        "/users/{user_id:id}/profile",
        response_model=s.ProfileOut,
        tags=["read"],
        responses={**ERRORS, **NOT_READY},
        dependencies=[read],
    )
    def profile(
        user_id: PathId,
        top: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> s.ProfileOut:
        """Interest keywords: the LLM's extraction when `llmrec enrich users` ran, else
        the tags of the user's items, weighted by how often they occur."""
        rec = model()
        with state.lock.reading():
            keywords, summary, count = _profile(rec, store, user_id, top)
        return s.ProfileOut(user_id=user_id, events=count, keywords=keywords, summary=summary)

    @app.delete(
        "/users/{user_id:id}",
        response_model=s.DeletedOut,
        tags=["admin"],
        responses={**ERRORS, **NOT_FOUND},
        dependencies=[admin],
    )
    def delete_user(user_id: PathId) -> s.DeletedOut:
        """Forget a user: events, links, interests, cached LLM answers and user row go
        now; their own lists stop at once; what the model learned from them goes at the
        next retrain."""
        removed = store.delete_user(user_id)
        known = state.model is not None and state.model.knows_user(user_id)
        if not any(removed.values()) and not known:
            raise HTTPException(404, f"unknown user id: {user_id}")
        state.apply(lambda m: m.forget(user_id) if user_id in m.histories_.user_ids else None)
        return s.DeletedOut(user_id=user_id, removed=removed)

    @app.post(
        "/admin/retrain",
        response_model=s.RetrainOut,
        status_code=202,
        tags=["admin"],
        responses=ERRORS,
        dependencies=[admin],
    )
    def retrain() -> s.RetrainOut:
        """Retrain on the whole store in the background; the new model replaces the
        served one atomically when ready (see /readyz)."""
        started = state.retrain()
        return s.RetrainOut(status="started" if started else "already running")

    return app


def _json(content: dict) -> Response:
    """A JSON answer already in the endpoint's response model's shape (FastAPI would
    validate and serialise it through pydantic again)."""
    return Response(orjson.dumps(content), media_type="application/json")


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _stated_interests(store: Store, user_id: str) -> str | None:
    stated = (store.user_attributes(user_id) or {}).get("interests")
    return stated if isinstance(stated, str) and stated.strip() else None


def _by_text(
    rec: Recommender, query: np.ndarray, k: int, filters: dict | None, user_id: str | None
) -> pd.DataFrame:
    """Items by cosine to a text vector (leaning to the user's content vector, when a
    known user is given, and leaving out their items)."""
    scores = rec.vectors_ @ query
    allowed = rec.item_mask(filters=filters)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    if user_id is not None:
        taste, seen = rec.taste(user_id)
        if taste is not None:
            scores = scores + 0.3 * (rec.vectors_ @ taste)
        scores[rec.item_ids_.get_indexer(list(seen))] = -np.inf
    top = np.argsort(-scores, kind="stable")[:k]
    top = top[np.isfinite(scores[top])]
    return pd.DataFrame(
        {
            "item_id": rec.item_ids_[top],
            "score": scores[top],
            "rank": np.arange(1, len(top) + 1),
            "sources": "text",
        }
    )


def _profile(rec: Recommender, store: Store, user_id: str, top: int):
    mine = store.user_interests_of(user_id)
    sequence = rec.histories_.items_of(user_id)
    count = len(sequence)
    if len(mine):
        keywords = [s.KeywordOut(keyword=k, weight=float(w)) for k, w in mine["keywords"].iloc[0]]
        return keywords[:top], _text(mine["summary"].iloc[0]), count
    weights: dict[str, float] = {}
    if count and "tags" in rec.items_.columns:
        for tags in rec.items_["tags"].iloc[sequence]:
            for tag in tags if isinstance(tags, list) else []:
                weights[tag] = weights.get(tag, 0.0) + 1.0 / count
    ordered = sorted(weights.items(), key=lambda kv: -kv[1])[:top]
    return [s.KeywordOut(keyword=k, weight=w) for k, w in ordered], "", count


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

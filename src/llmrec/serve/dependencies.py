"""What the routers depend on: the service, the limits, and the API key check with its
rate limits (FastAPI dependencies, as in its "bigger applications" layout)."""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations.

import threading
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints
from starlette.convertors import PathConvertor, register_url_convertor

from llmrec.app import Service
from llmrec.config import ServeSettings
from llmrec.serve.keys import KeyVerifier
from llmrec.serve.schemas import MAX_ITEM_LIST
from llmrec.store import Store


class _IdConvertor(PathConvertor):
    """Starlette's path converter, newlines included: an id with a newline matched no route
    (an undocumented 404) instead of failing ``PathId``'s check (a 422 that names it)."""

    regex = "(?s:.*)"


register_url_convertor("id", _IdConvertor())  # before any router names a path with {…:id}

# Ids in the path: any stored id, "/" included (the path converter), so every id the
# store accepts can be read and deleted; control characters are never stored.
PathId = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]

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


class KeyGuard:
    """API keys and their scopes, a rate limit per key, and one per client address for
    requests without a valid key: a flood of bad keys is refused before the store is
    asked about them."""

    def __init__(self, store: Store, limits: ServeSettings) -> None:
        self.verify = KeyVerifier(store, limits.key_check_s)
        self.per_key = RateLimiter(limits.rate_limit_per_s, limits.rate_limit_burst)
        self.refused = RateLimiter(limits.refused_per_s, limits.refused_burst)

    def check(self, request: Request, token: str | None, needed: str) -> str:
        """The key's id, or the HTTPException that refuses the request."""
        address = request.client.host if request.client else "unknown"
        trusted = token is not None and self.verify.remembers(token)
        if not trusted and self.refused.exhausted(address):
            raise HTTPException(429, "too many requests without a valid API key from "
                                "this address", {"Retry-After": "1"})  # fmt: skip
        found = self.verify(token) if token is not None else None
        if found is None:
            self.refused.allow(address)
            problem = "missing API key" if token is None else "invalid API key"
            raise HTTPException(401, problem, {"WWW-Authenticate": "Bearer"})
        key_id, scopes = found
        if needed not in scopes:
            raise HTTPException(403, f"this key lacks the {needed!r} scope")
        if not self.per_key.allow(key_id):
            raise HTTPException(429, "rate limit exceeded", {"Retry-After": "1"})
        return key_id


bearer = HTTPBearer(auto_error=False, description="an API key from `llmrec keys create`")


def _scope(needed: str):
    # async: a sync dependency costs a thread-pool round trip per request
    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        token = credentials.credentials if credentials is not None else None
        return request.app.state.guard.check(request, token, needed)

    return Depends(check)


read, write, admin = _scope("read"), _scope("write"), _scope("admin")


# The dependencies are async: a sync one costs a thread-pool round trip per request,
# and a kept list is answered in a fraction of that (1,364 → 823 requests/s when these
# two were sync).
async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def check_batch(rows: list, what: str, limits: ServeSettings) -> None:
    if len(rows) > limits.max_batch:
        raise HTTPException(
            422, [{"loc": ["body", what], "msg": f"at most {limits.max_batch} per request"}]
        )


# The ``k`` query parameter: its upper bound is the setting ``serve.max_k``, so the
# handlers check it (``bounded``) and ``create_app`` writes it into the schema. A
# dependency would cost each request more than answering from a kept list does.
ListLength = Annotated[
    int, Query(ge=1, description="how many items (at most `serve.max_k`, 200 by default)")
]


ItemIdList = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] | None,
    Query(max_length=MAX_ITEM_LIST, description=f"item ids, repeated (at most {MAX_ITEM_LIST})"),
]


def bounded(k: int, limits: ServeSettings) -> int:
    """``k``, or the 422 FastAPI gives a value above a bound: ``serve.max_k``."""
    top = limits.max_k
    if k > top:
        raise RequestValidationError([{
            "type": "less_than_equal", "loc": ("query", "k"), "input": k, "ctx": {"le": top},
            "msg": f"Input should be less than or equal to {top}",
        }])  # fmt: skip
    return k

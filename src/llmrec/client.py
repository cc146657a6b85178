"""A Python client of the HTTP API: :class:`Client` and its async twin :class:`AsyncClient`.

    from llmrec.client import Client

    with Client("http://127.0.0.1:8000", api_key="llmrec_...") as client:
        client.add_events([{"user_id": "ana", "item_id": "mug", "event_type": "purchase"}])
        for item in client.recommendations("ana", k=5, exclude=["kettle"]).items:
            print(item.item_id, item.title)

Every endpoint is a typed method answering the response model the server documents
(:mod:`llmrec.serve.schemas`). Answers of 429 and 5xx, and connections that fail, are
retried with exponential backoff and jitter, waiting at least what ``Retry-After`` says;
every write is safe to retry (items and users are upserts, events carry an
``Idempotency-Key``). Uploads larger than the server takes in one request are sent in
batches, each under its record and byte limits. Errors are raised as :class:`ApiError`
subclasses carrying the server's message.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel

from llmrec.errors import LlmrecError
from llmrec.serve import schemas as s

# The server's defaults (serve.max_batch, serve.max_body_bytes), with room for the
# request's own JSON around the records.
MAX_RECORDS = 1_000
MAX_BYTES = 3_500_000
_RETRIED = frozenset({429, 500, 502, 503, 504})


class ApiError(LlmrecError):
    """The server refused a request: ``status`` and its message (``detail``: the
    server's text, or its list of field problems for a 422)."""

    def __init__(self, status: int, detail: object, method: str, path: str) -> None:
        self.status, self.detail, self.method, self.path = status, detail, method, path
        super().__init__(f"{method} {path}: {status} {_message(detail)}")


class BadRequestError(ApiError):
    """400, 413 or 422: the request itself is wrong (``detail`` names the field)."""


class AuthenticationError(ApiError):
    """401 or 403: no key, an invalid or revoked key, or a key without the scope."""


class NotFoundError(ApiError):
    """404: an unknown user or item id."""


class RateLimitedError(ApiError):
    """429 after every retry."""


class UnavailableError(ApiError):
    """5xx after every retry: no model yet, the database down, a restart."""


class ConnectionFailedError(LlmrecError):
    """The server could not be reached (or did not answer in time) after every retry."""


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str
    answer: type[BaseModel] | None  # None: the body as text
    params: list[tuple[str, str]] = field(default_factory=list)
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    answered: frozenset[int] = frozenset()  # statuses whose body is the answer, not an error
    as_json: bool = False  # without a response model: the parsed JSON (else the text)


class _Endpoints:
    """Each endpoint as a :class:`_Call`; the two clients send them."""

    @staticmethod
    def recommendations(
        user_id: str,
        k: int,
        *,
        diversity: float | None,
        include_tags: Iterable[str],
        exclude_tags: Iterable[str],
        available: bool | None,
        brands: Iterable[str],
        min_price: float | None,
        max_price: float | None,
        interests: str | None,
        explain: bool,
        exclude: Iterable[str] | None,
        candidates: Iterable[str] | None,
    ) -> _Call:
        params = [("k", str(k))]
        params += _flags(diversity=diversity, available=available, min_price=min_price,
                         max_price=max_price, interests=interests)  # fmt: skip
        params += [("explain", "true")] if explain else []
        params += _repeated("include_tag", include_tags) + _repeated("exclude_tag", exclude_tags)
        params += _repeated("brand", brands) + _item_lists(exclude, candidates)
        return _Call("GET", f"/users/{_quoted(user_id)}/recommendations", s.RecommendationsOut,
                     params)  # fmt: skip

    @staticmethod
    def similar(
        item_id: str, k: int, exclude: Iterable[str] | None, candidates: Iterable[str] | None
    ) -> _Call:
        params = [("k", str(k)), *_item_lists(exclude, candidates)]
        return _Call("GET", f"/items/{_quoted(item_id)}/similar", s.SimilarOut, params)

    @staticmethod
    def search(
        query: str,
        k: int,
        user_id: str | None,
        exclude: Iterable[str] | None,
        candidates: Iterable[str] | None,
    ) -> _Call:
        body = {"query": query, "k": k, "user_id": user_id}
        body |= {"exclude": list(exclude)} if exclude is not None else {}
        body |= {"candidates": list(candidates)} if candidates is not None else {}
        return _Call("POST", "/search", s.SearchOut, body=body)

    @staticmethod
    def chat(message: str, conversation_id: str | None, user_id: str | None, k: int) -> _Call:
        body = {"message": message, "conversation_id": conversation_id, "user_id": user_id, "k": k}
        return _Call("POST", "/chat", s.ChatOut, body=body)

    @staticmethod
    def profile(user_id: str, top: int) -> _Call:
        return _Call("GET", f"/users/{_quoted(user_id)}/profile", s.ProfileOut, [("top", str(top))])

    @staticmethod
    def forget(user_id: str) -> _Call:
        return _Call("DELETE", f"/users/{_quoted(user_id)}", s.DeletedOut)

    @staticmethod
    def write(kind: str, rows: list[dict]) -> _Call:
        # A retried batch of events must not be stored twice: the server keeps the
        # first answer under this key.
        headers = {"Idempotency-Key": uuid.uuid4().hex} if kind == "events" else {}
        return _Call("POST", f"/{kind}", s.WriteOut, body={kind: rows}, headers=headers)

    @staticmethod
    def create_experiment(spec: dict, start: bool) -> _Call:
        params = [] if start else [("start", "false")]
        return _Call("POST", "/admin/experiments", s.ExperimentOut, params, body=spec)

    @staticmethod
    def experiment_status(name: str, status: str) -> _Call:
        return _Call("POST", f"/admin/experiments/{_quoted(name)}/status", s.ExperimentOut,
                     body={"status": status})  # fmt: skip

    @staticmethod
    def experiment_report(name: str) -> _Call:
        return _Call("GET", f"/admin/experiments/{_quoted(name)}/report", None, as_json=True)

    health = staticmethod(lambda: _Call("GET", "/healthz", s.HealthOut))
    experiments = staticmethod(lambda: _Call("GET", "/admin/experiments", None, as_json=True))
    overview = staticmethod(lambda: _Call("GET", "/admin/overview", None, as_json=True))
    ready = staticmethod(lambda: _Call("GET", "/readyz", s.ReadyOut, answered=frozenset({503})))
    metrics = staticmethod(lambda: _Call("GET", "/metrics", None))
    retrain = staticmethod(lambda: _Call("POST", "/admin/retrain", s.RetrainOut))


class _Base:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        batch_records: int = MAX_RECORDS,
        batch_bytes: int = MAX_BYTES,
    ) -> None:
        if retries < 0 or backoff < 0 or batch_records < 1 or batch_bytes < 1_000:
            raise ValueError(
                "retries and backoff must be ≥ 0, batch_records ≥ 1 and batch_bytes ≥ 1000"
            )
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes

    def _headers(self, call: _Call) -> dict[str, str]:
        key = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        json = {"Content-Type": "application/json"} if call.body is not None else {}
        return key | json | call.headers

    def _wait(
        self,
        call: _Call,
        attempt: int,
        response: httpx.Response | None,
        failure: httpx.TransportError | None = None,
    ) -> float | None:
        """Seconds to wait before trying ``call`` again after ``attempt`` (from 1) got
        ``response`` or ``failure``; None: the response is the answer. Exponential with
        full jitter, never less than the server's ``Retry-After``."""
        if response is not None and (
            response.status_code not in _RETRIED or response.status_code in call.answered
        ):
            return None
        if attempt > self.retries:
            if failure is not None:
                raise ConnectionFailedError(f"{call.method} {call.path}: {failure!r}") from failure
            return None  # the last answer is the error raised
        wait = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        if response is not None:
            wait = max(wait, _retry_after(response.headers.get("Retry-After")))
        return wait

    def _batches(self, rows: Iterable[Mapping | BaseModel]) -> Iterator[tuple[int, list[dict]]]:
        """(offset of the batch's first row, rows) under the record and byte limits."""
        batch: list[dict] = []
        size, offset = 0, 0
        for row in rows:
            record = row.model_dump(exclude_none=True) if isinstance(row, BaseModel) else dict(row)
            length = len(orjson.dumps(record)) + 1
            if batch and (len(batch) >= self.batch_records or size + length > self.batch_bytes):
                yield offset, batch
                offset, batch, size = offset + len(batch), [], 0
            batch.append(record)
            size += length
        if batch:
            yield offset, batch


class Client(_Base):
    """A blocking client (``httpx.Client``); use it as a context manager or ``close()``."""

    def __init__(self, base_url: str, api_key: str | None = None, **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Any:
        for attempt in itertools.count(1):
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, content=_body(call),
                    headers=self._headers(call),
                )  # fmt: skip
            except httpx.TransportError as failure:
                time.sleep(self._wait(call, attempt, None, failure) or 0.0)
                continue
            wait = self._wait(call, attempt, response)
            if wait is None:
                return _answer(call, response)
            time.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _write(self, kind: str, rows: Iterable[Mapping | BaseModel]) -> s.WriteOut:
        answers = [(offset, self._send(_Endpoints.write(kind, batch)))
                   for offset, batch in self._batches(rows)]  # fmt: skip
        return _merged(answers)

    def health(self) -> s.HealthOut:
        """``GET /healthz``: the process answers."""
        return self._send(_Endpoints.health())

    def ready(self) -> s.ReadyOut:
        """``GET /readyz``: whether a model serves (``ready`` false is an answer here)."""
        return self._send(_Endpoints.ready())

    def recommendations(
        self,
        user_id: str,
        k: int = 10,
        *,
        diversity: float | None = None,
        include_tags: Iterable[str] = (),
        exclude_tags: Iterable[str] = (),
        available: bool | None = None,
        brands: Iterable[str] = (),
        min_price: float | None = None,
        max_price: float | None = None,
        interests: str | None = None,
        explain: bool = False,
        exclude: Iterable[str] | None = None,
        candidates: Iterable[str] | None = None,
    ) -> s.RecommendationsOut:
        """``GET /users/{id}/recommendations``: a user's top ``k``."""
        return self._send(_Endpoints.recommendations(
            user_id, k, diversity=diversity, include_tags=include_tags,
            exclude_tags=exclude_tags, available=available, brands=brands,
            min_price=min_price, max_price=max_price, interests=interests, explain=explain,
            exclude=exclude, candidates=candidates,
        ))  # fmt: skip

    def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        exclude: Iterable[str] | None = None,
        candidates: Iterable[str] | None = None,
    ) -> s.SimilarOut:
        """``GET /items/{id}/similar``."""
        return self._send(_Endpoints.similar(item_id, k, exclude, candidates))

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        user_id: str | None = None,
        exclude: Iterable[str] | None = None,
        candidates: Iterable[str] | None = None,
    ) -> s.SearchOut:
        """``POST /search``: natural-language search over item text."""
        return self._send(_Endpoints.search(query, k, user_id, exclude, candidates))

    def chat(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        user_id: str | None = None,
        k: int = 5,
    ) -> s.ChatOut:
        """``POST /chat``: a request in a person's own words."""
        return self._send(_Endpoints.chat(message, conversation_id, user_id, k))

    def profile(self, user_id: str, top: int = 10) -> s.ProfileOut:
        """``GET /users/{id}/profile``: interest keywords."""
        return self._send(_Endpoints.profile(user_id, top))

    def add_items(self, items: Iterable[Mapping | s.ItemIn]) -> s.WriteOut:
        """``POST /items`` in batches: new items, or new attributes of known ones."""
        return self._write("items", items)

    def add_users(self, users: Iterable[Mapping | s.UserIn]) -> s.WriteOut:
        """``POST /users`` in batches."""
        return self._write("users", users)

    def add_events(self, events: Iterable[Mapping | s.EventIn]) -> s.WriteOut:
        """``POST /events`` in batches, each with its own ``Idempotency-Key``."""
        return self._write("events", events)

    def forget(self, user_id: str) -> s.DeletedOut:
        """``DELETE /users/{id}`` (admin): forget a user."""
        return self._send(_Endpoints.forget(user_id))

    def retrain(self) -> s.RetrainOut:
        """``POST /admin/retrain`` (admin)."""
        return self._send(_Endpoints.retrain())

    def metrics(self) -> str:
        """``GET /metrics``: Prometheus text."""
        return self._send(_Endpoints.metrics())

    def create_experiment(self, spec: dict, start: bool = True) -> s.ExperimentOut:
        """``POST /admin/experiments``: ``spec`` as ``llmrec.experiments.Experiment``."""
        return self._send(_Endpoints.create_experiment(spec, start))

    def experiments(self) -> list[dict]:
        """``GET /admin/experiments``."""
        return self._send(_Endpoints.experiments())

    def set_experiment_status(self, name: str, status: str) -> s.ExperimentOut:
        """Pause (``paused``), resume (``running``) or stop (``stopped``) one."""
        return self._send(_Endpoints.experiment_status(name, status))

    def experiment_report(self, name: str) -> dict:
        """``GET /admin/experiments/{name}/report`` (JSON)."""
        return self._send(_Endpoints.experiment_report(name))

    def overview(self) -> dict:
        """``GET /admin/overview``: what the dashboard draws."""
        return self._send(_Endpoints.overview())


class AsyncClient(_Base):
    """The same methods as :class:`Client`, awaited (``httpx.AsyncClient``)."""

    def __init__(self, base_url: str, api_key: str | None = None, **options: Any) -> None:
        super().__init__(base_url, api_key, **options)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Any:
        for attempt in itertools.count(1):
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, content=_body(call),
                    headers=self._headers(call),
                )  # fmt: skip
            except httpx.TransportError as failure:
                await asyncio.sleep(self._wait(call, attempt, None, failure) or 0.0)
                continue
            wait = self._wait(call, attempt, response)
            if wait is None:
                return _answer(call, response)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _write(self, kind: str, rows: Iterable[Mapping | BaseModel]) -> s.WriteOut:
        answers = [(offset, await self._send(_Endpoints.write(kind, batch)))
                   for offset, batch in self._batches(rows)]  # fmt: skip
        return _merged(answers)

    async def health(self) -> s.HealthOut:
        return await self._send(_Endpoints.health())

    async def ready(self) -> s.ReadyOut:
        return await self._send(_Endpoints.ready())

    async def recommendations(
        self,
        user_id: str,
        k: int = 10,
        *,
        diversity: float | None = None,
        include_tags: Iterable[str] = (),
        exclude_tags: Iterable[str] = (),
        available: bool | None = None,
        brands: Iterable[str] = (),
        min_price: float | None = None,
        max_price: float | None = None,
        interests: str | None = None,
        explain: bool = False,
        exclude: Iterable[str] | None = None,
        candidates: Iterable[str] | None = None,
    ) -> s.RecommendationsOut:
        return await self._send(_Endpoints.recommendations(
            user_id, k, diversity=diversity, include_tags=include_tags,
            exclude_tags=exclude_tags, available=available, brands=brands,
            min_price=min_price, max_price=max_price, interests=interests, explain=explain,
            exclude=exclude, candidates=candidates,
        ))  # fmt: skip

    async def similar(
        self,
        item_id: str,
        k: int = 10,
        *,
        exclude: Iterable[str] | None = None,
        candidates: Iterable[str] | None = None,
    ) -> s.SimilarOut:
        return await self._send(_Endpoints.similar(item_id, k, exclude, candidates))

    async def search(
        self,
        query: str,
        k: int = 10,
        *,
        user_id: str | None = None,
        exclude: Iterable[str] | None = None,
        candidates: Iterable[str] | None = None,
    ) -> s.SearchOut:
        return await self._send(_Endpoints.search(query, k, user_id, exclude, candidates))

    async def chat(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        user_id: str | None = None,
        k: int = 5,
    ) -> s.ChatOut:
        return await self._send(_Endpoints.chat(message, conversation_id, user_id, k))

    async def profile(self, user_id: str, top: int = 10) -> s.ProfileOut:
        return await self._send(_Endpoints.profile(user_id, top))

    async def add_items(self, items: Iterable[Mapping | s.ItemIn]) -> s.WriteOut:
        return await self._write("items", items)

    async def add_users(self, users: Iterable[Mapping | s.UserIn]) -> s.WriteOut:
        return await self._write("users", users)

    async def add_events(self, events: Iterable[Mapping | s.EventIn]) -> s.WriteOut:
        return await self._write("events", events)

    async def forget(self, user_id: str) -> s.DeletedOut:
        return await self._send(_Endpoints.forget(user_id))

    async def retrain(self) -> s.RetrainOut:
        return await self._send(_Endpoints.retrain())

    async def metrics(self) -> str:
        return await self._send(_Endpoints.metrics())

    async def create_experiment(self, spec: dict, start: bool = True) -> s.ExperimentOut:
        return await self._send(_Endpoints.create_experiment(spec, start))

    async def experiments(self) -> list[dict]:
        return await self._send(_Endpoints.experiments())

    async def set_experiment_status(self, name: str, status: str) -> s.ExperimentOut:
        return await self._send(_Endpoints.experiment_status(name, status))

    async def experiment_report(self, name: str) -> dict:
        return await self._send(_Endpoints.experiment_report(name))

    async def overview(self) -> dict:
        return await self._send(_Endpoints.overview())


_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError, 413: BadRequestError, 422: BadRequestError,
    401: AuthenticationError, 403: AuthenticationError, 404: NotFoundError,
    429: RateLimitedError,
}  # fmt: skip


def _answer(call: _Call, response: httpx.Response) -> Any:
    if response.is_success or response.status_code in call.answered:
        if call.answer is None:
            return response.json() if call.as_json else response.text
        return call.answer.model_validate(response.json())
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    status = response.status_code
    error = _ERRORS.get(status, UnavailableError if status >= 500 else ApiError)
    raise error(status, detail, call.method, call.path)


def _merged(answers: list[tuple[int, s.WriteOut]]) -> s.WriteOut:
    """One answer for a batched upload: counts summed, rejected rows at their position in
    the whole upload."""
    return s.WriteOut(
        received=sum(a.received for _, a in answers),
        stored=sum(a.stored for _, a in answers),
        rejected=[
            s.RejectedRow(index=offset + r.index, reason=r.reason)
            for offset, a in answers
            for r in a.rejected
        ],
        replayed=bool(answers) and all(a.replayed for _, a in answers),
    )


def _body(call: _Call) -> bytes | None:
    return orjson.dumps(call.body) if call.body is not None else None


def _quoted(identifier: str) -> str:
    return quote(str(identifier), safe="")


def _flags(**values: object) -> list[tuple[str, str]]:
    return [(name, _text(value)) for name, value in values.items() if value is not None]


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _repeated(name: str, values: Iterable[str]) -> list[tuple[str, str]]:
    return [(name, str(v)) for v in values]


def _item_lists(
    exclude: Iterable[str] | None, candidates: Iterable[str] | None
) -> list[tuple[str, str]]:
    return _repeated("exclude", exclude or ()) + _repeated("candidates", candidates or ())


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date)."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


def _message(detail: object) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg', d)}"
            if isinstance(d, dict) else str(d)
            for d in detail
        )  # fmt: skip
    return str(detail)

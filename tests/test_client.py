"""The Python client against a live ``llmrec serve`` on 127.0.0.1 (the small shop of
tests/conftest.py), and its retry rules against a scripted transport."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

import llmrec.client as client_module
from llmrec.client import (
    ApiError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConnectionFailedError,
    NotFoundError,
    UnavailableError,
)
from llmrec.config import load_settings
from llmrec.serve import schemas as s
from llmrec.serve.keys import create_key
from llmrec.store import Store
from tests.conftest import SHOP_TOML, free_port, stock_shop, time_limit, wait_until_healthy


@dataclass
class Live:
    base: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("client")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env |= {"LLMREC_HOME": str(home), "LLMREC_SERVE__RATE_LIMIT_PER_S": "20",
            "LLMREC_SERVE__RATE_LIMIT_BURST": "20"}  # fmt: skip
    settings = stock_shop(load_settings(home=home))
    (home / "llmrec.toml").write_text(SHOP_TOML)  # the settings the shop was trained with
    with Store.open(settings.effective_database_url) as store:
        keys = {scope: create_key(store, [scope], scope)[1] for scope in ("read", "write", "admin")}
        keys["all"] = create_key(store, ["read", "write", "admin"], "all")[1]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "--config", str(home / "llmrec.toml"), "--home",
         str(home), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", 60)
        yield Live(f"http://127.0.0.1:{port}", keys)
    finally:
        process.terminate()
        process.wait(timeout=time_limit(30))


def test_every_read_answers_its_typed_model(live):
    with Client(live.base, live.keys["read"]) as client:
        assert client.health().status == "ok"
        ready = client.ready()
        assert isinstance(ready, s.ReadyOut) and ready.ready
        found = client.recommendations("ana", k=3)
        assert isinstance(found, s.RecommendationsOut) and found.strategy == "model"
        top = [i.item_id for i in found.items]
        assert len(top) == 3
        fewer = client.recommendations("ana", k=2, exclude=[top[0]])
        assert [i.item_id for i in fewer.items] == top[1:]
        only = client.recommendations("someone-new", k=5, candidates=["sugar", "press"])
        assert sorted(i.item_id for i in only.items) == ["press", "sugar"]
        cheap = client.recommendations("ana", k=12, max_price=20, brands=["acme"], available=True)
        assert {i.item_id for i in cheap.items} == {"tea-acme", "coffee-acme", "paper-filters"}
        like = client.similar("mug", k=2)
        assert isinstance(like, s.SimilarOut) and len(like.items) == 2
        assert client.profile("ana").user_id == "ana"


def test_writes_go_in_batches_under_the_limits_with_rejections_at_their_place(live):
    events = [{"user_id": f"shopper-{n % 40}", "item_id": "mug", "event_type": "view",
               "timestamp": 1_700_000_000 + n} for n in range(2_300)]  # fmt: skip
    events[1_500] |= {"event_type": "rating"}  # a rating without a value is set aside
    sent = []
    with Client(live.base, live.keys["write"], batch_records=1_000) as client:
        original = client._http.request

        def counting(method, path, **kwargs):
            sent.append((path, kwargs["headers"].get("Idempotency-Key")))
            return original(method, path, **kwargs)

        client._http.request = counting
        written = client.add_events(events)
        assert isinstance(written, s.WriteOut) and written.received == 2_300
        assert [r.index for r in written.rejected] == [1_500]
        assert "rating event without a value" in written.rejected[0].reason
        assert [p for p, _ in sent] == ["/events"] * 3
        assert len({key for _, key in sent}) == 3  # each batch its own Idempotency-Key
        items = client.add_items([s.ItemIn(item_id="grinder", title="Burr grinder",
                                           tags=["Coffee"], attributes={"price": 45})])  # fmt: skip
        assert items.stored == 1 and items.rejected == []


def test_refusals_are_raised_with_the_servers_message(live):
    with Client(live.base, live.keys["read"]) as client:
        with pytest.raises(NotFoundError, match="unknown item id") as missing:
            client.similar("no-such-item")
        assert missing.value.status == 404
        with pytest.raises(BadRequestError, match=r"query\.k") as bad:
            client.recommendations("ana", k=0)
        assert bad.value.status == 422 and isinstance(bad.value.detail, list)
        with pytest.raises(BadRequestError, match="exclude"):
            client.recommendations("ana", exclude=[f"i{n}" for n in range(201)])
        with pytest.raises(AuthenticationError, match="lacks the 'admin' scope"):
            client.retrain()
    with Client(live.base, "llmrec_wrong_key") as stranger, pytest.raises(
        AuthenticationError, match="invalid API key"
    ):
        stranger.recommendations("ana")
    nowhere = Client(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    with nowhere, pytest.raises(ConnectionFailedError, match="GET /healthz"):
        nowhere.health()


def test_rate_limited_requests_are_retried_after_what_the_server_says(live, monkeypatch):
    waits = []
    real_sleep = client_module.time.sleep
    monkeypatch.setattr(client_module.time, "sleep", lambda t: (waits.append(t), real_sleep(t)))
    with Client(live.base, live.keys["read"]) as client:
        answers = [client.recommendations("ana", k=2) for _ in range(45)]  # burst 20, 20/s
    assert len(answers) == 45 and all(len(a.items) == 2 for a in answers)
    assert waits and min(waits) >= 1.0  # the server's Retry-After: 1


def test_the_async_twin_answers_the_same(live):
    async def ask() -> tuple:
        async with AsyncClient(live.base, live.keys["all"]) as client:
            listed = await client.recommendations("ana", k=3)
            forgotten = await client.forget("shopper-7")
            metrics = await client.metrics()
            retrain = await client.retrain()
            return listed, forgotten, metrics, retrain

    with Client(live.base, live.keys["read"]) as client:
        expected = [i.item_id for i in client.recommendations("ana", k=3).items]
    listed, forgotten, metrics, retrain = asyncio.run(ask())
    assert [i.item_id for i in listed.items] == expected
    assert forgotten.user_id == "shopper-7" and "llmrec" in metrics
    assert retrain.status in ("started", "already running")


# -- the retry rules, against a scripted transport ---------------------------------------


def _scripted(answers: list[httpx.Response | Exception], seen: list[httpx.Request]):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


def _client_over(transport: httpx.MockTransport, **options) -> Client:
    client = Client("http://llmrec.test", "key", backoff=0.0, **options)
    client._http = httpx.Client(base_url="http://llmrec.test", transport=transport)
    return client


def test_a_retried_upload_keeps_its_idempotency_key_and_5xx_ends_as_unavailable():
    seen: list[httpx.Request] = []
    ok = {"received": 1, "stored": 1, "rejected": [], "replayed": True}
    transport = _scripted([httpx.ConnectError("refused"), httpx.Response(503, json={"detail": "store"}),
                           httpx.Response(200, json=ok)], seen)  # fmt: skip
    with _client_over(transport) as client:
        written = client.add_events([{"user_id": "a", "item_id": "b"}])
    assert written.replayed and len(seen) == 3
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1
    down = [httpx.Response(503, json={"detail": "the database cannot be reached"})] * 3
    with _client_over(_scripted(down, []), retries=2) as client, pytest.raises(
        UnavailableError, match="503 the database cannot be reached"
    ):
        client.add_events([{"user_id": "a", "item_id": "b"}])
    # readiness answers 503 with its body: an answer, not an error, and not retried
    not_ready = {"ready": False, "model_age_s": None, "training": True, "last_error": None,
                 "warming": False, "lists_kept": 0}  # fmt: skip
    seen.clear()
    with _client_over(_scripted([httpx.Response(503, json=not_ready)], seen)) as client:
        assert client.ready().ready is False and len(seen) == 1


def test_retry_after_as_an_http_date_and_bad_options():
    assert client_module._retry_after("2") == 2.0
    assert client_module._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past
    assert client_module._retry_after("soon") == 0.0
    with pytest.raises(ValueError, match="batch_records"):
        Client("http://x", batch_records=0)
    error = ApiError(422, [{"loc": ["query", "k"], "msg": "too small"}], "GET", "/u")
    assert str(error) == "GET /u: 422 query.k: too small"


def test_a_large_upload_is_split_by_bytes_too():
    client = Client("http://x", batch_records=1_000, batch_bytes=10_000)
    rows = [{"item_id": f"i{n}", "title": "x" * 900} for n in range(30)]
    batches = list(client._batches(rows))
    client.close()
    assert [offset for offset, _ in batches] == [0, 10, 20]
    assert all(len(str(b)) < 12_000 for _, b in batches)


def test_experiments_and_the_overview_from_the_client(live):
    arms = [{"name": "model", "share": 0.5}, {"name": "pop", "share": 0.5, "strategy": "popular"}]
    with Client(live.base, live.keys["all"]) as client:
        made = client.create_experiment({"name": "from-client", "variants": arms}, start=False)
        assert isinstance(made, s.ExperimentOut) and made.status == "paused"
        half = [{"name": "a", "share": 0.25}, {"name": "b", "share": 0.25}]
        with pytest.raises(BadRequestError, match=r"sum to 0\.5"):
            client.create_experiment({"name": "bad", "variants": half})
        assert client.set_experiment_status("from-client", "running").status == "running"
        listed = client.recommendations("ana", k=2)
        assert listed.experiment == "from-client" and listed.request_id
        report = client.experiment_report("from-client")
        assert report["impressions"] == 1
        assert [e["name"] for e in client.experiments()] == ["from-client"]
        assert client.overview()["experiments"]["shown"] == "from-client"
        assert client.set_experiment_status("from-client", "stopped").status == "stopped"
        with pytest.raises(ApiError) as gone:
            client.experiment_report("nope")
        assert gone.value.status == 404

"""The LLM re-ranking short histories' lists in the service: through a real llama.cpp
server (the remote path), only below the history length, cached per user state, and the
ranker's list with a warning when the server cannot be reached."""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from llmrec.app import Service
from llmrec.config import LLMRerankSettings, LLMSettings, Settings
from llmrec.serve import create_app
from llmrec.store import schema
from llmrec.store.local_postgres import free_port


def reranking(settings: Settings, base_url: str, key: str, **options) -> Settings:
    llm = LLMSettings(backend="openai", base_url=base_url, api_key=key, max_retries=0)
    rerank = LLMRerankSettings(enabled=True, candidates=10, picks=5, weight=1.0, **options)
    return settings.model_copy(update={"llm": llm, "llm_rerank": rerank})


def answers_for(service: Service, user_id: str) -> int:
    table = schema.llm_cache
    query = select(func.count()).where(
        (table.c.prompt == "rerank-candidates") & (table.c.subject == user_id)
    )
    with service.store.engine.connect() as conn:
        return conn.execute(query).scalar_one()


def ids(found) -> list[str]:
    return [item["item_id"] for item in found.items]


@pytest.fixture(scope="module")
def plain(trained_settings, service):
    opened = Service.open(trained_settings, service.store)
    yield opened
    opened.close()


def test_short_histories_are_reordered_by_the_model_within_the_rankers_top(
    trained_settings, service, plain, llama_server
):
    model = plain.model()
    lengths = {u: len(model.histories_.items_of(u)) for u in model.histories_.user_ids[:300]}
    short = min(lengths, key=lengths.get)
    long = max(lengths, key=lengths.get)
    settings = reranking(trained_settings, *llama_server, max_history=lengths[short])
    reranked = Service.open(settings, service.store)
    try:
        found = reranked.for_user(short, 5)
        assert found.strategy == "model"
        assert [i["rank"] for i in found.items] == [1, 2, 3, 4, 5]
        assert set(ids(found)) <= set(ids(plain.for_user(short, 10)))
        assert answers_for(reranked, short) == 1
        # the same user state and candidates: the cached answer, the same list
        assert ids(reranked.for_user(short, 5)) == ids(found)
        assert answers_for(reranked, short) == 1
        # never answered from the kept lists, which are the ranker's own
        assert reranked.kept_list(short, 5) is None
        # a history longer than max_history: the ranker's list, the model never asked
        assert ids(reranked.for_user(long, 5)) == ids(plain.for_user(long, 5))
        assert answers_for(reranked, long) == 0
    finally:
        reranked.close()


def test_an_unreachable_model_serves_the_rankers_list_with_a_warning(
    trained_settings, service, plain, caplog
):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    settings = reranking(trained_settings, closed, "key", max_history=100_000)
    expected = ids(plain.for_user("1", 5))
    with (
        caplog.at_level(logging.WARNING, logger="llmrec.serve"),
        TestClient(create_app(settings, service.store)) as client,
    ):
        answer = client.get("/users/1/recommendations?k=5", headers=service.headers("read"))
    assert answer.status_code == 200, answer.text
    assert [item["item_id"] for item in answer.json()["items"]] == expected
    assert "LLM re-ranking failed, the ranker's list served" in caplog.text
    assert "127.0.0.1" in caplog.text  # the server named in the warning


class _Stuck(BaseHTTPRequestHandler):
    """Reads the request and answers nothing for a while (a model on a busy machine)."""

    def do_GET(self):  # the model list the client reads first
        body = b'{"object": "list", "data": [{"id": "m", "object": "model"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(2)

    def log_message(self, *args):
        pass


def test_a_slow_model_never_holds_a_list_longer_than_its_wait(
    trained_settings, service, plain, caplog
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stuck)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        settings = reranking(trained_settings, url, "key", max_history=100_000, timeout_s=0.3)
        reranked = Service.open(settings, service.store)
        with caplog.at_level(logging.WARNING, logger="llmrec.serve"):
            started = time.perf_counter()
            found = reranked.for_user("1", 5)
            waited = time.perf_counter() - started
        reranked.close()
    finally:
        server.shutdown()
    assert ids(found) == ids(plain.for_user("1", 5))
    assert waited < 1.5  # the 0.3 s wait and the scoring, not the model's 2 s
    assert "did not re-rank within 0.3 s (llm_rerank.timeout_s)" in caplog.text


def test_picks_beyond_candidates_are_refused():
    with pytest.raises(ValueError, match="picks"):
        LLMRerankSettings(candidates=5, picks=6)

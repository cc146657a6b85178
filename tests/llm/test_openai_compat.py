"""The remote backend against a real llama.cpp server on 127.0.0.1 (``llmrec llm serve``),
plus a deliberately flaky upstream for the retry rules."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import orjson
import pytest

from llmrec.config import load_settings
from llmrec.errors import LLMError
from llmrec.llm import ChatRequest, Message, OpenAICompatibleLLM, load_llm

HELLO = ChatRequest((Message("user", "Say hello."),), max_tokens=8)


def test_chat_against_a_real_llama_cpp_server(llama_server):
    base_url, key = llama_server
    with OpenAICompatibleLLM(base_url, api_key=key, concurrency=2) as llm:
        answers = llm.generate([HELLO, HELLO, HELLO])
        assert len(answers) == 3
        assert all(a.text.strip() and a.completion_tokens > 0 for a in answers)
        # The served model's own name identifies it (asked from /models once).
        assert llm.model_id == "openai:SmolLM2-135M-Instruct.Q4_1"


def test_remote_and_embedded_give_the_same_answer(llama_server, embedded_llm):
    base_url, key = llama_server
    request = ChatRequest((Message("user", "Name three fruits."),), max_tokens=20)
    with OpenAICompatibleLLM(base_url, api_key=key) as remote:
        assert remote.generate([request])[0].text == embedded_llm.generate([request])[0].text


def test_structured_output_through_the_server(llama_server):
    base_url, key = llama_server
    schema = {
        "type": "object",
        "properties": {
            "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4}
        },
        "required": ["keywords"],
    }
    request = ChatRequest(
        (Message("user", "Keywords for a space adventure film."),),
        max_tokens=48,
        json_schema=schema,
    )
    with OpenAICompatibleLLM(base_url, api_key=key) as llm:
        answer = orjson.loads(llm.generate([request])[0].text)
    assert 2 <= len(answer["keywords"]) <= 4


def test_load_llm_builds_the_remote_backend_from_settings(llama_server):
    base_url, key = llama_server
    settings = load_settings(
        llm={"backend": "openai", "base_url": base_url, "api_key": key, "model": "smol"}
    )
    with load_llm(settings.llm) as llm:
        assert llm.model_id == "openai:smol"
        assert llm.generate([HELLO])[0].text


def test_a_wrong_key_fails_at_once_with_the_status(llama_server):
    base_url, _ = llama_server
    with OpenAICompatibleLLM(base_url, api_key="wrong", model="m") as llm:
        started = time.monotonic()
        with pytest.raises(LLMError, match="HTTP 401"):
            llm.generate([HELLO])
        assert time.monotonic() - started < 5  # 401 is not retried


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket closes
    with (
        OpenAICompatibleLLM(
            f"http://127.0.0.1:{port}/v1", model="m", max_retries=2, backoff_s=0.01
        ) as llm,
        pytest.raises(LLMError, match=r"cannot reach the server .* after 3 attempt"),
    ):
        llm.generate([HELLO])


def test_backend_openai_without_a_url_is_a_config_error():
    with pytest.raises(LLMError, match="base_url"):
        load_llm(load_settings(llm={"backend": "openai"}).llm)
    with pytest.raises(LLMError, match="http"):
        OpenAICompatibleLLM("127.0.0.1:8080")


class _Flaky(BaseHTTPRequestHandler):
    """Answers 429 (with Retry-After), then 503, then a valid completion."""

    statuses: ClassVar[list[int]] = []
    seen: ClassVar[list[float]] = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        _Flaky.seen.append(time.monotonic())
        status = _Flaky.statuses.pop(0) if _Flaky.statuses else 200
        body = {"error": {"message": "busy"}}
        if status == 200:
            body = {
                "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
        payload = json.dumps(body).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0.2")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_429_and_5xx_are_retried_with_backoff(flaky_server):
    _Flaky.statuses, _Flaky.seen = [429, 503], []
    with OpenAICompatibleLLM(flaky_server, model="m", max_retries=3, backoff_s=0.01) as llm:
        [answer] = llm.generate([HELLO])
    assert answer.text == "ok" and answer.completion_tokens == 1
    assert len(_Flaky.seen) == 3
    assert _Flaky.seen[1] - _Flaky.seen[0] >= 0.2  # Retry-After was honoured


def test_retries_give_up_with_the_last_status(flaky_server):
    _Flaky.statuses, _Flaky.seen = [503, 503, 503], []
    llm = OpenAICompatibleLLM(flaky_server, model="m", max_retries=2, backoff_s=0.01)
    with llm, pytest.raises(LLMError, match="HTTP 503: busy"):
        llm.generate([HELLO])
    assert len(_Flaky.seen) == 3


class _Silent(BaseHTTPRequestHandler):
    """Reads the request and never answers (a server stuck on a busy machine)."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(3)

    def log_message(self, *args):
        pass


@pytest.fixture
def silent_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_a_server_that_times_out_is_named_with_the_wait(silent_server):
    llm = OpenAICompatibleLLM(
        silent_server, model="m", timeout_s=0.3, max_retries=1, backoff_s=0.01
    )
    with llm, pytest.raises(LLMError) as err:
        llm.generate([HELLO])
    message = str(err.value)
    assert silent_server in message and "within 0.3 s" in message and "2 attempt(s)" in message
    assert "llm.timeout_s" in message


def test_the_embedded_model_timing_out_says_it_is_the_embedded_model(silent_server):
    # The embedded backend's client, as EmbeddedLLM builds it, over a server that hangs.
    from llmrec.llm.embedded import EmbeddedLLM

    embedded = EmbeddedLLM(threads=2, timeout_s=0.3)
    embedded._server = object()  # started: skip llama.cpp, talk to the hanging server
    embedded._client = OpenAICompatibleLLM(silent_server, model="m", timeout_s=0.3,
                                           max_retries=0, **embedded.client_naming())  # fmt: skip
    with pytest.raises(LLMError) as err:
        embedded.generate([HELLO])
    message = str(err.value)
    assert message.startswith("the embedded model") and "within 0.3 s" in message
    assert "llm.timeout_s" in message and "llm.threads (now 2)" in message
    assert "127.0.0.1" not in message

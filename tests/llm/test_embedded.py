"""The embedded backend: the bundled GGUF model run by llama.cpp in this process."""

from __future__ import annotations

import orjson
import pytest

from llmrec.config import LLMSettings
from llmrec.errors import LLMError
from llmrec.llm import ChatRequest, EmbeddedLLM, Message, bundled_model_path, load_llm


def test_the_bundled_model_is_found_inside_the_installed_package():
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "site-packages" in str(path) or "dist-packages" in str(path)


def test_generates_text_with_token_counts(embedded_llm):
    request = ChatRequest((Message("user", "Name a colour."),), max_tokens=8)
    [completion] = embedded_llm.generate([request])
    assert completion.text.strip()
    assert 0 < completion.completion_tokens <= 8
    assert completion.prompt_tokens > 0
    assert completion.seconds > 0
    assert embedded_llm.model_id.startswith("llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf:")


def test_json_schema_constrains_the_answer(embedded_llm):
    schema = {
        "type": "object",
        "properties": {
            "colour": {"type": "string", "enum": ["red", "green", "blue"]},
            "count": {"type": "integer", "minimum": 1, "maximum": 9},
        },
        "required": ["colour", "count"],
        "additionalProperties": False,
    }
    requests = [
        ChatRequest(
            (Message("user", f"Pick a colour and a number ({i})."),),
            max_tokens=40,
            seed=i,
            json_schema=schema,
        )
        for i in range(3)
    ]
    for completion in embedded_llm.generate(requests):
        answer = orjson.loads(completion.text)
        assert answer["colour"] in {"red", "green", "blue"}
        assert 1 <= answer["count"] <= 9


def test_same_request_same_answer_at_temperature_zero(embedded_llm):
    request = ChatRequest((Message("user", "Describe rain in five words."),), max_tokens=16)
    first, second = embedded_llm.generate([request, request])
    assert first.text == second.text


def test_one_slot_answers_a_prompt_alike_whatever_else_is_asked():
    """The default (one request decoded at a time): an answer depends on its prompt only,
    so enrichment reruns give the same text (with several slots sharing a batch, the guard's
    Amazon pass rate varied 94.0–96.7% between runs)."""
    settings = LLMSettings()
    assert settings.embedded_slots == 1
    requests = [
        ChatRequest((Message("user", f"Describe a {thing} in one sentence."),), max_tokens=24)
        for thing in ("kettle", "bicycle", "violin")
    ]
    with load_llm(settings) as llm:
        assert llm.parallelism == 1
        together = [c.text for c in llm.generate(requests)]
        alone = [llm.generate([r])[0].text for r in reversed(requests)][::-1]
    assert together == alone


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    llm = EmbeddedLLM(model_path=tmp_path / "nope.gguf")
    with pytest.raises(LLMError, match=r"nope\.gguf"):
        llm.generate([ChatRequest((Message("user", "hi"),))])


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all" * 100)
    llm = EmbeddedLLM(model_path=bogus)
    with pytest.raises(LLMError, match="could not load"):
        llm.generate([ChatRequest((Message("user", "hi"),))])

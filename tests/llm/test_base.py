from __future__ import annotations

import pytest

from llmrec.llm import ChatRequest, Message


def _request(**kwargs) -> ChatRequest:
    return ChatRequest((Message("system", "be brief"), Message("user", "hi")), **kwargs)


def test_body_is_the_openai_chat_format():
    body = _request(max_tokens=12, temperature=0.5, seed=3, stop=("\n",)).body("m")
    assert body == {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 12,
        "temperature": 0.5,
        "seed": 3,
        "stream": False,
        "model": "m",
        "stop": ["\n"],
    }


def test_json_schema_becomes_response_format_and_grammar_a_llama_cpp_field():
    schema = {"type": "object"}
    body = _request(json_schema=schema).body(None)
    assert "model" not in body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert _request(grammar='root ::= "x"').body(None)["grammar"] == 'root ::= "x"'


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"json_schema": {}, "grammar": "root ::= x"}, "not both"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_requests_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _request(**kwargs)
    with pytest.raises(ValueError, match="at least one message"):
        ChatRequest(())

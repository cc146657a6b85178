"""The language-model interface every backend implements, and its request/result types.

A request is a chat (system + few-shot + user messages) with sampling settings and an
optional constraint on the output: a JSON schema or a GBNF grammar, which llama.cpp turns
into constrained decoding. Backends speak the OpenAI chat-completions wire format, so one
request type serves the embedded model and any remote server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One generation: the conversation and how to sample the answer."""

    messages: tuple[Message, ...]
    max_tokens: int = 128
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    # OpenAI's penalty on tokens by how often they already appeared: small models loop.
    frequency_penalty: float = 0.0
    json_schema: dict[str, Any] | None = None
    grammar: str | None = None

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a chat request needs at least one message")
        if self.json_schema is not None and self.grammar is not None:
            raise ValueError("give a JSON schema or a grammar, not both")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")

    def body(self, model: str | None) -> dict[str, Any]:
        """The OpenAI-compatible ``/chat/completions`` body for this request."""
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stream": False,
        }
        if model:
            body["model"] = model
        if self.stop:
            body["stop"] = list(self.stop)
        if self.frequency_penalty:
            body["frequency_penalty"] = self.frequency_penalty
        if self.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": self.json_schema, "strict": True},
            }
        if self.grammar is not None:
            # A llama.cpp extension of the OpenAI body; other servers ignore or refuse it.
            body["grammar"] = self.grammar
        return body


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer with its cost."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cached: bool = field(default=False, compare=False)


ProgressCallback = Callable[[int], None]


class LLM(ABC):
    """A chat model. ``model_id`` names the weights exactly; caches are keyed by it."""

    @property
    @abstractmethod
    def model_id(self) -> str: ...

    @property
    def parallelism(self) -> int:
        """Requests answered at once (turns summed request time into wall time)."""
        return 1

    @abstractmethod
    def generate(
        self, requests: Sequence[ChatRequest], progress: ProgressCallback | None = None
    ) -> list[Completion]:
        """Answer every request, in order; ``progress(n)`` is told as answers arrive."""

    @abstractmethod
    def close(self) -> None:
        """Release the model or connections; the object may not be used afterwards."""

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

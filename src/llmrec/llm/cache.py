"""Every model answer, cached in the store by (model id, prompt, prompt version, request).

The key hashes the whole request body, which holds the normalised input: a rerun makes no
call already made, a changed input or sampling setting misses, and a new prompt version
misses only that prompt's entries. Answers are written as soon as a batch returns, so a
killed job keeps everything it was told.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from llmrec.llm.base import LLM, ChatRequest, Completion, ProgressCallback
from llmrec.store import Store


@dataclass(frozen=True, slots=True)
class PromptId:
    """A prompt template's name and version; bump the version when the template changes."""

    name: str
    version: int


def cache_key(model_id: str, prompt: PromptId, request: ChatRequest) -> str:
    body = orjson.dumps(request.body(None), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(digest_size=16)
    for part in (model_id.encode(), prompt.name.encode(), str(prompt.version).encode(), body):
        digest.update(part)
        digest.update(b"\x1f")
    return digest.hexdigest()


class CachedLLM:
    """``llm`` in front of the store's answer cache."""

    def __init__(self, llm: LLM, store: Store) -> None:
        self.llm = llm
        self.store = store
        self.calls = 0
        self.hits = 0

    def generate(
        self,
        prompt: PromptId,
        requests: Sequence[ChatRequest],
        progress: ProgressCallback | None = None,
        subjects: Sequence[str] | None = None,
    ) -> list[Completion]:
        """Answers for ``requests`` in order, from the cache where present. ``subjects``
        names whose data each request holds (e.g. the user id), so it can be forgotten."""
        model_id = self.llm.model_id
        keys = [cache_key(model_id, prompt, r) for r in requests]
        stored = self.store.llm_outputs(keys)
        answers: dict[str, Completion] = {
            key: Completion(*row, cached=True) for key, row in stored.items()
        }
        missing = list(dict.fromkeys(k for k in keys if k not in answers))
        self.hits += len(keys) - len(missing)
        if missing:
            request_of = dict(zip(keys, requests, strict=True))
            subject_of = dict(zip(keys, subjects, strict=True)) if subjects else {}
            fresh = self.llm.generate([request_of[k] for k in missing], progress)
            self.calls += len(missing)
            now = int(time.time())
            self.store.put_llm_outputs(
                [
                    (
                        key,
                        model_id,
                        prompt.name,
                        prompt.version,
                        c.text,
                        c.finish_reason,
                        c.prompt_tokens,
                        c.completion_tokens,
                        c.seconds,
                        now,
                        subject_of.get(key),
                    )
                    for key, c in zip(missing, fresh, strict=True)
                ]
            )
            answers.update(zip(missing, fresh, strict=True))
        return [answers[k] for k in keys]

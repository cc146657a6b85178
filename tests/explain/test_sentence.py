"""The LLM's one-sentence explanation: grounded in the reasons, cached, never ungrounded."""

from __future__ import annotations

import re

import pytest

from llmrec.explain import explain
from llmrec.explain.reasons import Explanation, HistoryReason
from llmrec.explain.sentence import (
    explanation_sentences,
    reasons_block,
    template_sentence,
)
from llmrec.llm.cache import CachedLLM

_NAME = re.compile(r"\b[A-Z][a-z]+\b")


def _names(text: str) -> set[str]:
    return set(_NAME.findall(text)) - {"Because", "Recommended", "This", "The", "You", "If", "It"}


def test_sentences_name_only_what_the_reasons_hold(fitted_recommender, embedded_llm, store):
    model = fitted_recommender
    tops = model.recommend(["1", "2", "3", "4", "5", "6"], k=1)
    reasons = [explain(model, u, i) for u, i in zip(tops["user_id"], tops["item_id"], strict=True)]
    cached = CachedLLM(embedded_llm, store)
    sentences = explanation_sentences(reasons, cached)
    assert cached.calls == 6
    for why, sentence in zip(reasons, sentences, strict=True):
        assert sentence.text and len(sentence.text) <= 240
        grounded = reasons_block(why) + " " + template_sentence(why)
        assert _names(sentence.text) <= _names(grounded) | {"Recommended"}, sentence
    # A second call is answered from the cache.
    again = explanation_sentences(reasons, cached)
    assert cached.calls == 6 and [s.text for s in again] == [s.text for s in sentences]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("A Christopher Nolan film from 2010.", "dropped a sentence"),
        ("Because you loved Kolya (1996); Kolya (1996); Kolya (1996", "repeats itself"),
    ],
)
def test_an_ungrounded_or_broken_answer_falls_back_to_the_reasons(answer, problem):
    why = Explanation(
        user_id="1",
        item_id="286",
        title="English Patient, The (1996)",
        score=0.4,
        sources=["ease"],
        history=[HistoryReason("242", "Kolya (1996)", 0.6)],
        keywords=["Drama", "War"],
    )

    class Inventing:
        """Stands in for a model that invents a director or loops (what the guard is for)."""

        calls = 0

        def generate(self, prompt, requests, subjects=None):
            return [type("Answer", (), {"text": answer})() for _ in requests]

    [sentence] = explanation_sentences([why], Inventing())
    assert not sentence.generated and problem in " ".join(sentence.problems)
    assert sentence.text == (
        "Recommended because you liked Kolya (1996), and English Patient, The (1996) "
        "shares Drama, War with what you watch."
    )

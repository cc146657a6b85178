"""The grounding guard: generated text may say only what the item's own text says.

The bundled model is small and invents facts about items it does not know (it once called
"Sense and Sensibility (1995)" a Christopher Nolan film). The guard checks a generated
description against the text the model was shown: sentences that name a year, decade,
century or capitalised name absent from that text are removed (a repair); an answer with
nothing left, in another script than the item's, that only restates the title or that
says nothing about the item (only common words) is rejected. Keywords are deduplicated,
checked the same way and completed from the item's tags and title words when fewer than
three survive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from llmrec.enrich.text import CJK_CHARACTER as _CJK
from llmrec.enrich.text import script_of, strip_markup, truncate

Verdict = Literal["pass", "repaired", "rejected"]

MIN_KEYWORDS = 3
MAX_KEYWORDS = 8
MIN_WORDS = 3
_MONTHS = {
    m[:3]: m
    for m in [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
}

_SENTENCE = re.compile(r"[^.!?。！？]+(?:[.!?。！？]+|$)")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d|['’]?s\b)")
_DECADE = re.compile(r"(?<![\w])'?(1[0-9]|20)?(\d)0['’]?s\b")
_CENTURY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)[- ]century\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![\w'’])([A-Z][\w'’-]*)")
_POSSESSIVE = re.compile(r"['’]s$")
_CONTRACTION = re.compile(r"['’](?:m|re|ve|ll|d)$")  # "I'm", "We've": the pronoun counts
_CAMEL_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")

# Words a grounded sentence may start with or use in capitals without naming anything.
_COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "it's",
        "they",
        "their",
        "there",
        "here",
        "he",
        "she",
        "his",
        "her",
        "we",
        "you",
        "your",
        "our",
        "in",
        "on",
        "at",
        "of",
        "for",
        "from",
        "with",
        "by",
        "as",
        "to",
        "into",
        "about",
        "after",
        "before",
        "during",
        "when",
        "while",
        "where",
        "which",
        "who",
        "whose",
        "what",
        "how",
        "one",
        "two",
        "three",
        "first",
        "some",
        "many",
        "most",
        "all",
        "both",
        "each",
        "set",
        "based",
        "featuring",
        "follows",
        "follow",
        "told",
        "tells",
        "telling",
        "i",
        "made",
        "available",
        "perfect",
        "great",
        "ideal",
        "give",
        "gift",
        "use",
    ]
)


_ARTICLES = frozenset(["a", "an", "the"])


@dataclass(frozen=True, slots=True)
class GuardResult:
    description: str
    keywords: tuple[str, ...]
    verdict: Verdict
    problems: tuple[str, ...] = field(default=())


def check_description(
    description: str,
    keywords: Sequence[str],
    source: str,
    title: str,
    tags: Sequence[str],
    max_chars: int,
) -> GuardResult:
    """Check a generated ``description`` and ``keywords`` against the item's ``source``
    text (everything the model was shown)."""
    facts = _Facts(source)
    checked = _check_text(description, facts, source, title, max_chars)
    words, keyword_problems = _checked_keywords(keywords, facts, [*tags, *_title_words(title)])
    verdict = checked.verdict
    if keyword_problems and verdict == "pass":
        verdict = "repaired"
    return GuardResult(checked.description, words, verdict, (*checked.problems, *keyword_problems))


def check_text(text: str, source: str, title: str, max_chars: int) -> GuardResult:
    """Check generated prose alone (no keywords) against the ``source`` it was made from."""
    return _check_text(text, _Facts(source), source, title, max_chars)


def _check_text(description: str, facts: _Facts, source: str, title: str, max_chars: int):
    problems: list[str] = []
    text = strip_markup(description)

    kept: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE.findall(text)):
        if not sentence:
            continue
        invented = facts.invented(sentence)
        if invented:
            problems.append(f"dropped a sentence adding {', '.join(invented)}")
        else:
            kept.append(sentence)
    text = " ".join(kept)
    if len(text) > max_chars:
        problems.append(f"cut to {max_chars} characters")
        text = _cut_to_sentences(text, max_chars)

    verdict: Verdict = "repaired" if problems else "pass"
    source_script = script_of(source)
    if not text:
        problems.append("nothing grounded left" if kept or problems else "empty answer")
        verdict = "rejected"
    elif source_script is not None and script_of(text) not in (None, source_script):
        problems.append(f"not in the item's language (expected {source_script} script)")
        verdict, text = "rejected", ""
    elif _digit_soup(text):
        problems.append("mostly digits and punctuation")
        verdict, text = "rejected", ""
    elif _word_count(text) < MIN_WORDS:
        problems.append(f"fewer than {MIN_WORDS} words")
        verdict, text = "rejected", ""
    elif _restates(text, title):
        problems.append("only restates the title")
        verdict, text = "rejected", ""
    elif set(_normalised(text).split()) <= _COMMON:
        problems.append("says nothing about the item")
        verdict, text = "rejected", ""
    return GuardResult(text, (), verdict, tuple(problems))


class _Facts:
    """What the source text states: its words (lowercased) and numbers."""

    def __init__(self, source: str) -> None:
        words = _WORD.findall(source)
        # "GiftCard" and "eGift" ground "card" and "gift".
        words += [part for w in words for part in _CAMEL_PART.findall(w)]
        self.words = {_POSSESSIVE.sub("", w.lower()) for w in words}
        # A date written "01-Jan-1995" grounds "January".
        self.words |= {_MONTHS[w[:3]] for w in self.words if w[:3] in _MONTHS}
        self.forms = {_keyword_form(w) for w in self.words}
        self.text = source.lower()

    def invented(self, sentence: str) -> list[str]:
        found = [f"year {y}" for y in _YEAR.findall(sentence) if y not in self.text]
        found += [
            f"decade {m.group(0)}"
            for m in _DECADE.finditer(sentence)
            if not self._has_decade(m.group(1), m.group(2))
        ]
        found += [
            f"{m.group(0)}"
            for m in _CENTURY.finditer(sentence)
            if m.group(0).lower() not in self.text
        ]
        starts = {len(sentence) - len(sentence.lstrip())}
        for match in _NAME.finditer(sentence):
            name = _POSSESSIVE.sub("", match.group(1)).strip("-'’")
            lower = name.lower()
            if (
                not name
                or lower in self.words
                or _keyword_form(lower) in self.forms  # "Gifts" is grounded by "gift"
                or _CONTRACTION.sub("", lower) in _COMMON
            ):
                continue
            parts = [p for p in lower.split("-") if p and not p.isdigit()]
            if parts and all(p in self.words for p in parts):
                continue
            # A sentence's first word is capitalised by grammar, not because it is a name
            # ("Enjoys ...", "Romantic ..."); a name there is caught by its second word.
            if match.start() in starts:
                continue
            found.append(f"name {name!r}")
        return found

    def _has_decade(self, century: str | None, decade: str) -> bool:
        # "1990s" or "90s" is grounded by any year of that decade in the source.
        return any(
            y[2] == decade and (not century or y[:2] == century)
            for y in re.findall(r"(?<!\d)(?:1[0-9]|20)\d\d(?!\d)", self.text)
        )


def _title_words(title: str) -> list[str]:
    return [
        w
        for w in _WORD.findall(strip_markup(title).lower())
        if len(w) >= 4 and not w.isdigit() and w not in _COMMON
    ]


def _checked_keywords(
    keywords: Sequence[str], facts: _Facts, grounded: Sequence[str]
) -> tuple[tuple[str, ...], list[str]]:
    problems: list[str] = []
    kept: dict[str, str] = {}
    for raw in keywords:
        word = strip_markup(str(raw)).lower().strip(" .,;:-'\"")
        if not word or len(word) > 40 or len(word.split()) > 3:
            continue
        invented = [f"year {y}" for y in _YEAR.findall(word) if y not in facts.text]
        if invented:
            problems.append(f"dropped keyword {word!r} ({', '.join(invented)})")
            continue
        kept.setdefault(_keyword_form(word), word)
    if len(kept) < MIN_KEYWORDS:
        added = 0
        for term in grounded:
            word = strip_markup(str(term)).lower()
            if word and _keyword_form(word) not in kept and len(kept) < MIN_KEYWORDS:
                kept[_keyword_form(word)] = word
                added += 1
        if added:
            problems.append(f"added {added} keyword(s) from the item's tags and title")
    return tuple(list(kept.values())[:MAX_KEYWORDS]), problems


def _keyword_form(word: str) -> str:
    """ "Children's", "childrens" and "children" count as one keyword."""
    letters = re.sub(r"[^\w]+", "", word)
    if letters.endswith("ies") and len(letters) > 4:
        return letters[:-3] + "y"
    return letters[:-1] if letters.endswith("s") and len(letters) > 3 else letters


def _restates(text: str, title: str) -> bool:
    """``text`` says nothing but the title: its words are the title's (whole, in part or
    shuffled; articles aside), or the whole title in order with only common words added
    ("I shot Andy Warhol (1996) in 1996."). A sentence relating parts of the title passes:
    "A gift card for a wedding." says what "Gift Card - Print - Wedding Butterflies" is
    for, and on an item whose only fact is its title that is all there is to say."""
    title_words = _normalised(title).split()
    words = _normalised(text).split()
    if not title_words or not set(words) <= set(title_words) | _COMMON:
        return False
    remaining = iter(words)
    whole_title = all(word in remaining for word in title_words)  # in order
    return whole_title or set(words) <= set(title_words) | _ARTICLES


def _digit_soup(text: str) -> bool:
    """Whether fewer than half of the text's visible characters are letters (a model
    echoing a part number: "The 87-100H60G-1. 8. 1 211. 1. 8. 1. 0. 1. 1")."""
    visible = [c for c in text if not c.isspace()]
    return bool(visible) and sum(c.isalpha() for c in visible) < len(visible) / 2


def _word_count(text: str) -> int:
    # Chinese has no spaces: about two characters make a word.
    cjk = len(_CJK.findall(text))
    return len(_CJK.sub(" ", _normalised(text)).split()) + cjk // 2


def _normalised(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().lower()


def _cut_to_sentences(text: str, max_chars: int) -> str:
    out = ""
    for sentence in _SENTENCE.findall(text):
        if len(out) + len(sentence) + 1 > max_chars:
            break
        out = f"{out} {sentence.strip()}".strip()
    return out or truncate(text, max_chars)

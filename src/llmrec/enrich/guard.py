"""The grounding guard: generated text may say only what the item's own text says.

The bundled model is small and invents facts about items it does not know (it once called
"Sense and Sensibility (1995)" a Christopher Nolan film). The guard checks a generated
description against the text the model was shown: sentences that name a year, decade,
century, number or capitalised name absent from that text, or copy a title in catalogue
order, are removed, and so are Chinese clauses sharing no character pair with it (a
repair); an answer with nothing left, in another script than the item's, mostly digits,
looping, that only restates the title, says nothing about the item (only common words) or
shares no content word with its text (another product) is rejected. Keywords are
deduplicated, checked the same way and completed from the item's tags and title words when
fewer than three survive.
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

# A point between digits ("1.8") does not end a sentence.
_SENTENCE = re.compile(r"(?:[^.!?。！？]|(?<=\d)\.(?=\d))+(?:[.!?。！？]+|$)")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d|['’]?s\b)")
_DECADE = re.compile(r"(?<![\w])'?(1[0-9]|20)?(\d)0['’]?s\b")
_CENTURY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)[- ]century\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![\w'’])([A-Z][\w'’-]*)")
_POSSESSIVE = re.compile(r"['’]s$")
_CONTRACTION = re.compile(r"['’](?:m|re|ve|ll|d)$")  # "I'm", "We've": the pronoun counts
_CAMEL_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
# A title in catalogue order copied into prose: "A comedy, The (1996)".
_TRAILING_ARTICLE = re.compile(r",\s+(?:The|An|A)\s*(?:\(|[.!?]|$)")
_CJK_RUN = re.compile(f"{_CJK.pattern}+")
# Decades ("90s") and ordinals ("20th") have checks of their own.
_CLAUSE = re.compile(r"[^,，、;；:：]+[,，、;；:：]*")
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?(?!\d|['’]?s\b|st\b|nd\b|rd\b|th\b)")
STEM_CHARS = 5  # "animated" and "animation" share a content word; "liners" and "linen" not

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
    if script_of(source) == "cjk":
        kept = [s for s in (_grounded_clauses(s, facts, problems) for s in kept) if s]
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
    elif _repetitive(text):
        problems.append("repeats itself")
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
    elif facts.content and not facts.content & _content_words(text):
        # "Linen Bed Sheets" described as "Lawn liners set.": another product.
        problems.append("shares no content word with the item's text")
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
        self.content = _content_words(source)
        self.numbers = {_number(n) for n in _NUMBER.findall(source)}

    def invented(self, sentence: str) -> list[str]:
        found = [f"year {y}" for y in _YEAR.findall(sentence) if y not in self.text]
        # A number is a fact too ("size 10" on sheets of no stated size); years above.
        found += [
            f"number {n}"
            for n in _NUMBER.findall(sentence)
            if _number(n) not in self.numbers and not _YEAR.fullmatch(n)
        ]
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
        if _TRAILING_ARTICLE.search(sentence):
            found.append("a title in catalogue order")
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
            # ("Enjoys ...", "Romantic ..."), unless a capitalised word follows it: then it
            # starts a name ("Lightspring Jack is ..." on an item called "Jack").
            if match.start() in starts and not _NAME.match(sentence, match.end() + 1):
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
        if not _cjk_grounded(word, facts.text):
            problems.append(f"dropped keyword {word!r} (characters not in the item's text)")
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


def _cjk_grounded(word: str, source: str) -> bool:
    """Whether two thirds of a Chinese keyword's characters are in the item's text: the
    model's Chinese keywords drift into characters of no meaning here ("不粘粎糖系系")."""
    characters = _CJK.findall(word)
    return not characters or sum(c in source for c in characters) * 3 >= len(characters) * 2


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


def _repetitive(text: str) -> bool:
    """Whether one word (for Chinese, one character pair) makes up a third of a text of six
    or more: the small model loops ("全棉四件套, 家纺, 说家纺, 说家纺, 家纺, 说家纺 …")."""
    units = _CJK.sub(" ", _normalised(text)).split()
    for run in _CJK_RUN.findall(text):
        units += _pairs(run)
    units = [u for u in units if u not in _COMMON]
    if len(units) < 6:
        return False
    return max(units.count(u) for u in set(units)) >= max(3, len(units) / 3)


def _word_count(text: str) -> int:
    # Chinese has no spaces: about two characters make a word.
    cjk = len(_CJK.findall(text))
    return len(_CJK.sub(" ", _normalised(text)).split()) + cjk // 2


def _grounded_clauses(sentence: str, facts: _Facts, problems: list[str]) -> str:
    """``sentence`` without its Chinese clauses of three characters or more that share no
    character pair with the item's text: the model copies its worked example's product
    ("不锈钢保温杯" on a bed-sheet set) or writes characters of no meaning ("福制福韩")."""
    if not _CJK.search(sentence):
        return sentence  # the language check rejects it
    clauses = _CLAUSE.findall(sentence)
    kept = []
    for clause in clauses:
        pairs = [p for run in _CJK_RUN.findall(clause) for p in _pairs(run)]
        if len(pairs) >= 2 and not any(p in facts.text for p in pairs):
            problems.append(f"dropped a clause not from the item's text: {clause.strip()!r}")
        else:
            kept.append(clause)
    text = "".join(kept).strip(" ,，、;；:：")
    if kept and kept[-1] is not clauses[-1]:
        text += "。"  # the sentence's end went with its last clause
    return text if _CJK.search(text) else ""


def _pairs(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _content_words(text: str) -> set[str]:
    """The stems of ``text``'s words that say something (common words aside), and for
    Chinese its character pairs (a word is about two characters)."""
    words = _CJK.sub(" ", _normalised(text)).split()
    stems = {
        _keyword_form(w)[:STEM_CHARS]
        for w in words
        if len(w) >= 3 and not w.isdigit() and w not in _COMMON
    }
    for run in _CJK_RUN.findall(text):
        stems |= set(_pairs(run)) if len(run) > 1 else {run}
    return stems


def _normalised(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text).strip().lower()


def _cut_to_sentences(text: str, max_chars: int) -> str:
    out = ""
    for sentence in _SENTENCE.findall(text):
        if len(out) + len(sentence) + 1 > max_chars:
            break
        out = f"{out} {sentence.strip()}".strip()
    return out or truncate(text, max_chars)

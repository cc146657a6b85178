"""The rules in code that read a request: the tags it names and whether a negation
governs them, the titles it refers to, its bounds (``bounds``) and the cue words of a
follow-up; and ``grounded``, the same rules applied to the model's parse."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from llmrec.chat.bounds import _blank, parse_bounds
from llmrec.chat.catalogue import _BOOK_TITLE, _STOP, _WORD, Catalogue, _title_key, _words
from llmrec.chat.query import ChatQuery, _union
from llmrec.embed.encoders import TextEncoder

# Encoder closeness for a tag named in another script (or in Chinese, which has no word
# spaces to match on). Measured with the bundled encoder: coffee/咖啡 0.94, child/儿童
# 0.84, 孩子/Children's 0.82, while 电影 ("film") is 0.73 from Film-Noir; a negated
# phrase is short and chosen by the negation, so it may be looser (恐怖片/Horror 0.74).
WANTED_CLOSENESS = 0.8
UNWANTED_CLOSENESS = 0.65
MAX_BRIDGE_TERMS = 64  # encoder lookups per request (Chinese n-grams), bounded
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_NOT_THAT = re.compile(r"\b(not (that|this) one|something else)\b|不要这个|换一个", re.IGNORECASE)
_RECENT = re.compile(
    r"\b(more recent|newer|recent ones|latest)\b|新一点|新一些|更新的|最近的?", re.IGNORECASE
)
_CHEAPER = re.compile(
    r"\b(cheaper|less expensive|more affordable|lower priced)\b|便宜一?[点些]|更便宜", re.IGNORECASE
)
# A turn that refers back to the list refines the previous query; others start afresh
# (a turn with nothing but constraints, "不要书", refines it too: see ``ChatSession.ask``).
_FOLLOW_UP = re.compile(
    r"^\s*(more|less|also|but|and|only|not|without|instead|same|another|other)\b|\bones?\b"
    r"|\b(cheaper|newer)\b|^\s*(还|再|换|不要这|只要)",
    re.IGNORECASE,
)
# Negations and the end of what they govern: "no horror, a comedy" wants the comedy.
_NEGATOR = re.compile(
    r"\b(?:no|not|without|except|excluding|exclude|avoid|never|nothing|none|minus"
    r"|anything but|everything but|other than|rather than|instead of"
    r"|(?:don't|do not|doesn't|does not)(?: want| like| need)?)\b"
    # 特别 ("especially") and 有没有 ("is there") are no negations.
    r"|不要|不想要|不想看|不想买|不喜欢|不需要|不买|不看|(?<![特分区告级类性个识差辨])别(?!的|人|处)"
    r"|(?<!有)没有|除了|除去|排除|不含|不带",
    re.IGNORECASE,
)
_SCOPE_END = re.compile(
    r"[,.;:!?。\n]|\b(?:but|however|though|although|instead|rather|yet|prefer|want|just"
    r"|only|like|something|please)\b|想|喜欢|但|而是|只要|就要|最好|还要|推荐",
    re.IGNORECASE,
)
_SCOPE_WORDS = 5  # a negation governs at most this many words...
_SCOPE_CJK_CHARS = 12  # ...or characters of a script without spaces
_PIECES = re.compile(
    r"\s*(?:\bor\b|\band\b|\bnor\b|\bno\b|\bnot\b|/|、|和|或者|或|与|以及|及|跟|也不要|也不)\s*",
    re.IGNORECASE,
)
_PIECE_FILLER = re.compile(
    r"^(?:(?:a|an|the|any|more|too|much|many|so|very|those|these|that|this|some)\s+)+"
    r"|(?:\s+(?:ones?|stuff|things?|please|at all))+$"
    r"|^(?:要|买|看|太|那种|这种)+|[的了吧啊呢哦么]+$",
    re.IGNORECASE,
)
_FILLER_WORDS = frozenset({
    "please", "ones", "one", "some", "something", "anything", "stuff", "things", "thing",
    "just", "only", "then", "ok", "okay", "also", "too", "maybe", "instead", "but", "and",
    "or", "with", "for", "me", "i", "want", "need", "show", "give", "find", "any",
    "那", "就", "那就", "吧", "的", "了", "呢", "啊", "吗", "也", "还", "再", "请", "要",
    "给我", "推荐", "一些", "一点",
})  # fmt: skip
# Words after a title that end it: "like Toy Story but no musical".
_AFTER_TITLE = frozenset({
    "but", "and", "or", "with", "without", "no", "not", "from", "after", "before", "under",
    "below", "over", "above", "in", "that", "which", "please", "except", "for", "only",
    "yet", "though", "more", "less", "than", "so", "then", "also", "too", "is", "was",
    "made", "set", "one", "ones",
})  # fmt: skip
_LIKE = re.compile(
    r"\b(?:like|similar to|such as|same as|as good as|in the vein of|along the lines of"
    r"|reminds? me of|fans? of|(?:i|we) (?:liked|loved|enjoyed))\s+",
    re.IGNORECASE,
)
_LIKE_CJK = re.compile(r"像|类似于?|和|跟|比如|好比")


@dataclass
class _Reading:
    """What the rules read in one request."""

    query: ChatQuery
    text: str  # the request without negated phrases, bounds and cue words
    removed: set[str]  # words only in what was taken out (a model keyword of these is dropped)
    notes: list[str]
    # A year is written outside the titles named: "like Star Wars (1977)" asks for no 1977.
    dated: bool = True


class Reader:
    """The rules in code over one catalogue's tags and titles (``read``); it keeps the
    encoder's vectors of tags and request terms for the whole conversation."""

    def __init__(self, catalogue: Catalogue, encoder: TextEncoder, vocabulary: list[str]) -> None:
        self.catalogue = catalogue
        self.encoder = encoder
        self.vocabulary = vocabulary
        self._tag_words = [(t, _tag_words(t), bool(_CJK.search(t))) for t in self.vocabulary]
        self._tag_vectors: np.ndarray | None = None
        self._term_vectors: dict[str, np.ndarray] = {}

    def read(self, request: str) -> _Reading:
        original = _normal(request)
        bounds = parse_bounds(original, bare_prices=self.catalogue.has_prices)
        text = _blank(original, bounds.spans)
        text = _blank(text, [m.span() for r in (_RECENT, _CHEAPER, _NOT_THAT)
                             for m in r.finditer(text)])  # fmt: skip
        titles, title_spans = self._titles(text)
        unwanted: list[str] = []
        scopes = _negations(text)
        for _, scope_start, end in scopes:
            for piece in _pieces(text[scope_start:end]):
                unwanted += self._tags_named(piece, negated=True)
        positive = _blank(text, [(start, end) for start, _, end in scopes])
        wanted = [t for t in self._tags_named(_blank(positive, title_spans), negated=False)
                  if t not in unwanted]  # fmt: skip
        query = ChatQuery(
            _union([], wanted), _union([], unwanted), [], titles,
            bounds.year_min, bounds.year_max, bounds.price_min, bounds.price_max,
        )  # fmt: skip
        notes = list(bounds.notes)
        if bounds.price_min is not None or bounds.price_max is not None:
            notes.append(f"price {_range(bounds.price_min, bounds.price_max)}")
            if not self.catalogue.has_prices:
                notes.append("no item in the catalogue has a price: a price bound leaves none")
        if bounds.year_min is not None or bounds.year_max is not None:
            notes.append(f"year {_range(bounds.year_min, bounds.year_max)}")
        removed = set(_words(original)) - set(_words(positive))
        kept = _tidy(positive) if _content_words(positive) else ""  # "more recent ones": ""
        dated = bool(re.search(r"\d{4}", _blank(text, title_spans)))
        return _Reading(query, kept, removed, notes, dated)

    def _titles(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """Catalogue titles the request refers to ("like Toy Story", 《三体》), longest
        match first, and where they are written."""
        cat = self.catalogue
        found: list[int] = []
        spans: list[tuple[int, int]] = []
        tokens = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
        for like in _LIKE.finditer(text):
            after = [t for t in tokens if t[1] >= like.end()][:10]
            for n in range(len(after), 0, -1):
                words = [w for w, _, _ in after[:n]]
                year = int(words[-1]) if re.fullmatch(r"\d{4}", words[-1]) else None
                key = " ".join(w for w in words[: -1 if year else None] if w not in _STOP)
                rows = cat.title_index.get(key)
                if rows and _ends_title(text, after[n - 1][2]):
                    dated = [r for r in rows if year is not None and cat.years[r] == year]
                    found += dated or rows
                    spans.append((after[0][1], after[n - 1][2]))
                    break
        marked = [(m.group(1), m.span()) for m in _BOOK_TITLE.finditer(text)]
        if _CJK.search(text):
            for like in _LIKE_CJK.finditer(text):
                rest = text[like.end() :]
                for key in self._cjk_titles:
                    if rest.startswith(key):
                        marked.append((key, (like.end(), like.end() + len(key))))
        for name, span in marked:
            rows = cat.title_index.get(_title_key(name))
            if rows:
                found += rows
                spans.append(span)
        return list(dict.fromkeys(str(cat.titles[r]) for r in found)), spans

    @cached_property
    def _cjk_titles(self) -> list[str]:
        return [k for k in self.catalogue.title_index if len(k) >= 2 and _CJK.search(k)]

    def _tags_named(self, text: str, negated: bool) -> list[str]:
        """Catalogue tags that ``text`` names: by word, by substring (Chinese tags), and
        across scripts by the encoder (see ``WANTED_CLOSENESS``)."""
        lowered = text.lower()
        tokens = [w for w in _words(text) if len(w) > 1]
        found = []
        for tag, words, cjk in self._tag_words:
            if cjk:
                core = tag.lower()
                if core in lowered or (negated and len(text) >= 2 and lowered in core):
                    found.append(tag)
            elif words and sum(any(_same(w, t) for t in tokens) for w in words) >= 0.6 * len(words):
                found.append(tag)
        if (negated and found) or not text.strip():
            return found
        if negated:
            terms = [text.strip()] if len(text.strip()) <= 40 else []
            threshold = UNWANTED_CLOSENESS
        else:
            terms = _bridge_terms(text, any(cjk for _, _, cjk in self._tag_words))
            threshold = WANTED_CLOSENESS
        if not terms:
            return found
        closeness = self.vectors(terms) @ self.all_tag_vectors().T
        for term, row in zip(terms, closeness, strict=True):
            term_cjk = bool(_CJK.search(term))
            for (tag, _, cjk), value in zip(self._tag_words, row, strict=True):
                # The encoder bridges scripts only: within Latin text, "film" is close to
                # Film-Noir (0.71) without naming it.
                if value >= threshold and (term_cjk or cjk) and tag not in found:
                    found.append(tag)
        return found

    def all_tag_vectors(self) -> np.ndarray:
        if self._tag_vectors is None:
            self._tag_vectors = self.encoder.encode(self.vocabulary)
        return self._tag_vectors

    def vectors(self, terms: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(terms) if t not in self._term_vectors]
        if missing:
            if len(self._term_vectors) > 10_000:  # a long-lived conversation stays bounded
                self._term_vectors.clear()
            self._term_vectors.update(zip(missing, self.encoder.encode(missing), strict=True))
        return np.stack([self._term_vectors[t] for t in terms])


def grounded(query: ChatQuery, request: str, tag_support) -> ChatQuery:
    """Keep only what the request supports: a small model copies its example or invents
    constraints. A tag must be named in the request (or, in a script with no spaces
    between words, be close to it in the encoder's space: ``tag_support``) and is
    unwanted exactly when a negation governs it; a title or keyword must share its words
    with the request, and a year must be written in it."""
    text = _normal(request).lower()
    words = set(_words(text))

    def named(term: str) -> bool:
        own = _words(term)
        return bool(own) and sum(w in words or w[:5] in text for w in own) / len(own) >= 0.6

    latin = bool(re.search(r"[a-z]", text))
    digits = set(re.findall(r"\d{3,4}", text))
    tokens = list(_WORD.finditer(text))
    scopes = [(start, end) for start, _, end in _negations(text)]

    def negated(tag: str) -> bool | None:
        """Whether the request negates the tag (None: the tag is not in the request)."""
        if not latin:  # no word positions to read: the model's side stands
            return (tag in query.unwanted_tags) if tag_support(tag) else None
        own = _tag_words(tag) or _words(tag)
        for token in tokens:
            if own and _same(own[0], token.group()):
                return any(start <= token.start() < end for start, end in scopes)
        return None

    # The request decides the polarity: a tag the model put on the wrong side is moved.
    tags = list(dict.fromkeys([*query.wanted_tags, *query.unwanted_tags]))
    polarity = {t: negated(t) for t in tags}

    def year_ok(year: int | None) -> int | None:
        # "1980s" supports 1980–1989; "after 1990" supports 1990 (same decade: lenient).
        return year if year is not None and str(year)[:3] in {d[:3] for d in digits} else None

    return ChatQuery(
        [t for t in tags if polarity[t] is False],
        [t for t in tags if polarity[t] is True],
        [k for k in query.keywords if named(k)],
        [t for t in query.like_titles if named(t)],
        year_ok(query.year_min),
        year_ok(query.year_max),
    )


# -- text helpers -------------------------------------------------------------------------


def _negations(text: str) -> list[tuple[int, int, int]]:
    """(negation start, scope start, scope end) for every negation in ``text``: the scope
    runs to the clause's end, a contrast ("but", "想") or a few words."""
    found = []
    for match in _NEGATOR.finditer(text):
        start = match.end()
        end = _SCOPE_END.search(text, start)
        stop = end.start() if end else len(text)
        words = list(_WORD.finditer(text, start, stop))
        if len(words) > _SCOPE_WORDS:
            stop = words[_SCOPE_WORDS - 1].end()
        if _CJK.search(text[start:stop]):
            stop = min(stop, start + _SCOPE_CJK_CHARS)
        found.append((match.start(), start, stop))
    return found


def _pieces(scope: str) -> list[str]:
    """The things one negation lists: "books or toys", "书和玩具"."""
    pieces = []
    for piece in _PIECES.split(scope):
        previous = None
        while piece != previous:
            previous, piece = piece, _PIECE_FILLER.sub("", piece.strip()).strip()
        if piece:
            pieces.append(piece)
    return pieces


def _bridge_terms(text: str, cjk_tags: bool) -> list[str]:
    """What the encoder compares with tags of another script: Latin words when the
    catalogue has Chinese tags, and the 2–4 character runs of Chinese text."""
    terms = []
    if cjk_tags:
        terms += [w for w in _words(text) if len(w) >= 3 and w not in _FILLER_WORDS
                  and not _CJK.search(w) and not w.isdigit()]  # fmt: skip
    for run in _CJK_RUN.findall(text):
        terms += [run[i : i + n] for n in (2, 3, 4) for i in range(len(run) - n + 1)]
    return list(dict.fromkeys(terms))[:MAX_BRIDGE_TERMS]


def _content_words(text: str) -> list[str]:
    return [w for w in _words(text) if w not in _FILLER_WORDS]


def _ends_title(text: str, end: int) -> bool:
    """Whether a title may end at ``end``: "like Big explosions" does not name Big."""
    rest = text[end:].lstrip()
    if not rest or not (rest[0].isalnum() or rest[0] == "'"):
        return True
    following = _WORD.match(rest)
    return following is not None and following.group().lower() in _AFTER_TITLE


def _normal(text: str) -> str:
    # Full-width digits, commas and currency signs become ASCII; curly quotes straight.
    return unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")


_DANGLING = re.compile(
    r"(^|\s)(but|and|or|with|for|that|which)\s*$|^[\s,;:、的]+|[\s,;:、]+$", re.IGNORECASE
)


def _tidy(text: str) -> str:
    """``text`` without the joints its cut phrases left ("Toy Story but" → "Toy Story")."""
    text = re.sub(r"\s+", " ", text).strip()
    previous = None
    while text != previous:
        previous, text = text, _DANGLING.sub("", text).strip()
    return text


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f"{low:g}–{high:g}" if low != high else f"{low:g}"
    return f"≥ {low:g}" if low is not None else f"≤ {high:g}"


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "ch", "sh")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def _same(tag_word: str, token: str) -> bool:
    """A request word names a tag word: equal, the same stem, or (for long words) the same
    first five letters ("animated" names Animation)."""
    token = token.lower()
    if token == tag_word or _stem(token) == _stem(tag_word):
        return True
    return len(tag_word) >= 5 and len(token) >= 5 and token[:5] == tag_word[:5]


def _tag_words(tag: str) -> list[str]:
    # One-letter parts ("Children's" → children, s) would have to be in the request too.
    return [w for w in _words(tag) if len(w) > 1 and not _CJK.search(w)]

"""Recommendations asked for in a person's own words, over several turns.

1. **Read.** Rules in code read what the request states plainly, because the embedded
   model is too small to be relied on: the catalogue tags it names (by word; by
   substring in a script without spaces; across scripts, "coffee" for 咖啡, by the
   encoder) and whether a negation ("no", "without", "不要", "别") governs them; the
   titles it refers to ("like Toy Story"); price and year bounds ("under 50 dollars",
   "100元以内", "after 1990", "90年代"), checked against the items' years and their
   ``price`` attribute as the shop filters read it (``llmrec.rank.filters.parse_price``).
2. **Parse.** The LLM turns the request into the same structured query — tags from the
   catalogue's own tags by a JSON schema enum, keywords, titles, a year range — with
   schema-constrained decoding; `grounded` keeps only what the request supports. The
   rules decide a tag's polarity and the bounds; the model may add to the rest. When
   neither yields anything the turn is a raw-text search and says so.
3. **Follow up.** A turn with a cue word ("more recent ones", "不要...") or with nothing
   but constraints refines the previous query: its constraints carry over and the new
   ones add to them; "not that one", "more recent ones" and "cheaper" are applied from
   the previous results.
4. **Retrieve.** Items by cosine to a query vector — the request with its negated
   phrases and bounds taken out (a vector of "no books" is close to books), the wanted
   terms and the reference items' vectors, leaning to a user's taste vector when given
   — wanted tags as a boost; unwanted tags, year and price bounds as filters; the
   referenced items themselves and "not that one" items left out. Each result carries a
   one-line reason.

Every turn keeps its raw answer, parsed query, notes on what the rules did, the text
searched and the results, so a parse can be inspected.

The modules, lower ones first (none imports ``session``): ``bounds`` (price and year
bounds), ``catalogue`` (what is searched, its title index), ``query`` (``ChatQuery``
and the JSON schema the model answers in), ``reading`` (the rules, and ``grounded``),
``session`` (``ChatSession``: the turns, the model's parse, follow-ups, retrieval).
"""

from llmrec.chat.bounds import Bounds, parse_bounds
from llmrec.chat.catalogue import Catalogue
from llmrec.chat.query import ChatQuery
from llmrec.chat.reading import grounded
from llmrec.chat.session import ChatSession, ChatTurn

__all__ = [
    "Bounds",
    "Catalogue",
    "ChatQuery",
    "ChatSession",
    "ChatTurn",
    "grounded",
    "parse_bounds",
]

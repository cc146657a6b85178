"""Item and user text made safe to show a model, and to store what a model wrote.

Text from the catalogue is data: markup and control characters are removed, the angle
brackets that delimit data blocks in prompts are dropped so that text cannot close its
block, whitespace is collapsed and the length is bounded.
"""

from __future__ import annotations

import html
import re
import unicodedata

_TAG = re.compile(r"<[^<>]{0,300}>")
_URL = re.compile(r"https?://\S+|www\.\S+")
_MARKDOWN = re.compile(r"[*_`#>|~]+|\[([^\]]*)\]\([^)]*\)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_SPACE = re.compile(r"\s+")
CJK_CHARACTER = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Catalogue order puts a title's article last: "Birdcage, The (1996)", "Misérables, Les".
_TRAILING_ARTICLE = re.compile(
    r"^(?P<name>.+?), (?P<article>The|An|A|Les|La|Le|L'|Il|Die|Der|Das|El|Los|Las)"
    r"(?P<rest>(?: \([^()]*\))*)$"
)


def clean_text(text: object, max_chars: int) -> str:
    """``text`` as one line of plain text of at most ``max_chars`` characters."""
    if text is None:
        return ""
    value = unicodedata.normalize("NFC", html.unescape(str(text)))
    value = _TAG.sub(" ", value)
    value = _CONTROL.sub(" ", value).replace("<", " ").replace(">", " ")
    value = _SPACE.sub(" ", value).strip()
    return truncate(value, max_chars)


def natural_title(title: str) -> str:
    """``title`` with a trailing article put back in front ("Birdcage, The (1996)" → "The
    Birdcage (1996)"): shown the catalogue's order, the model wrote "A comedy, The (1996)"."""
    match = _TRAILING_ARTICLE.match(title)
    if match is None:
        return title
    article = match["article"]
    space = "" if article.endswith("'") else " "
    return f"{article}{space}{match['name']}{match['rest']}"


def strip_markup(text: str) -> str:
    """A model's answer without HTML, Markdown, links or line breaks."""
    value = _TAG.sub(" ", html.unescape(text))
    value = _MARKDOWN.sub(lambda m: m.group(1) or " ", value)
    value = _URL.sub(" ", value)
    value = _CONTROL.sub(" ", value).replace("<", " ").replace(">", " ")
    return _SPACE.sub(" ", value).strip()


def truncate(text: str, max_chars: int) -> str:
    """Cut at a word boundary, marking the cut with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def script_of(text: str) -> str | None:
    """``"cjk"`` or ``"latin"`` by the letters that dominate ``text``; None if neither."""
    cjk = len(CJK_CHARACTER.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return None
    # One CJK character carries about as much as a short Latin word.
    return "cjk" if cjk * 3 >= latin else "latin"

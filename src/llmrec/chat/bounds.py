"""Price and year bounds stated in a request, in English or Chinese (``parse_bounds``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field


@dataclass
class Bounds:
    """Price and year bounds stated in a request, the spans that stated them, and notes on
    numbers that were refused."""

    price_min: float | None = None
    price_max: float | None = None
    year_min: int | None = None
    year_max: int | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_NUMBER = (
    r"[-−]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:e[-+]?\d+)?(?![\d.])|[零一二两三四五六七八九十百千万]+"
)
_CURRENCY_BEFORE = r"us\$|\$|€|£|¥|(?:usd|eur|rmb|cny)\s?"
_CURRENCY_AFTER = (
    r"dollars?|bucks?|usd|euros?|eur|pounds?|gbp|quid|yuan|rmb|cny|块钱|块|元|美元|美金|欧元"
    r"|英镑|人民币"
)


def _amount(name: str) -> str:
    return (
        rf"(?P<{name}_pre>{_CURRENCY_BEFORE})?\s?(?P<{name}>{_NUMBER})"
        rf"(?:\s*(?P<{name}_post>{_CURRENCY_AFTER})(?![a-z]))?"
    )


_MAX_WORDS = (
    r"under|below|less than|cheaper than|at most|no more than|not more than|up to|within"
    r"|max(?:imum)?(?: of)?|for less than|lower than|no higher than|not over|budget(?: of| is)?"
)
_MIN_WORDS = (
    r"over|above|more than|at least|no less than|not less than|min(?:imum)?(?: of)?"
    r"|pricier than|more expensive than|higher than|starting at"
)
_PRICE = re.compile(
    rf"(?P<range>\b(?P<range_cmp>between|from)\s+{_amount('r1')}\s*(?:and|to|-|–)\s*{_amount('r2')})"
    rf"|(?P<dash>(?<![\d.A-Za-z]){_amount('d1')}\s*(?:-|–|—|~|to|到|至)\s*{_amount('d2')})"
    rf"|(?P<max>(?P<max_cmp>\b(?:{_MAX_WORDS})\b|<=?|≤)\s*{_amount('x')})"
    rf"|(?P<min>(?P<min_cmp>\b(?:{_MIN_WORDS})\b|>=?|≥)\s*{_amount('n')})"
    rf"|(?P<zmax>(?P<zmax_cmp>便宜于|低于|少于|不超过|不高于|不到|小于|最多|顶多|预算(?:是|为|在)?)"
    rf"\s*{_amount('zx')})"
    rf"|(?P<zmin>(?P<zmin_cmp>高于|超过|多于|大于|至少|不低于|不少于|贵于)\s*{_amount('zn')})"
    rf"|(?P<post>{_amount('p')}\s*(?P<post_cmp>以内|以下|之内|之下|以上|之上|内))",
    re.IGNORECASE,
)
_PRICE_AMOUNTS = {"range": ("r1", "r2"), "dash": ("d1", "d2"), "max": ("x",), "min": ("n",),
                  "zmax": ("zx",), "zmin": ("zn",), "post": ("p",)}  # fmt: skip
# Comparators that may bound a year as well: "up to 2000" is a year, "under 2000" a price.
_YEAR_COMPARATORS = frozenset(["between", "from", "up to", "-", "–", "—", "~", "to", "到", "至"])
# A bare number followed by one of these is not a price ("under 90 minutes").
_UNIT = re.compile(
    r"\s*(?:%|percent|minutes?|mins?|hours?|hrs?|h\b|pages?|kg|g\b|grams?|lbs?|cm|mm|m\b"
    r"|inch(?:es)?|years?|yrs?|days?|weeks?|months?|items?|pieces?|pcs|stars?|episodes?"
    r"|songs?|tracks?|players?|people|persons?|ml|l\b|oz|分钟|小时|页|克|公斤|千克|斤|岁|年"
    r"|天|周|个月|月|个|件|张|片|集|首|人|毫升|升|英寸|寸|厘米|米|星|本|部|套|只|台|双|份|盒|包|瓶"
    r"|杯|条|支|把)",
    re.IGNORECASE,
)
_YEARS = re.compile(
    r"(?P<range>\b(?:between|from)\s+(?P<ra>\d{4})s?\s*(?:and|to|until|till|-|–)\s*(?P<rb>\d{4})s?\b"
    r"|(?<!\d)(?P<rc>\d{4})\s*(?:-|–|—|~|到|至)\s*(?P<rd>\d{4})(?!\d)\s*年?)"
    r"|(?P<decade>(?:\b(?P<dc>after|since|before|until|till|from|in|of|during|pre|post)[- ]+)?"
    r"(?:the\s+)?(?<![\w'])'?(?P<dd>(?:1\d|20)?\d0)'?s\b)"
    r"|(?P<words>\b(?P<wc>after|since|before|from|in|of|during)?\s*(?:the\s+)?"
    r"(?P<wd>twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)\b)"
    r"|(?P<zdecade>(?P<zd>\d{2,4}|[一二三四五六七八九零]十)年代(?P<zdc>以后|之后|以来|以前|之前)?)"
    r"|(?P<single>\b(?P<sc>after|since|newer than|later than|post|before|earlier than|older than"
    r"|pre|until|till|through|up to|in|of|from|made in|released in)[- ]+(?P<sy>\d{4})\b"
    r"(?P<son>\s+(?:on|onwards?|and later|or later|or newer|and after)\b)?)"
    r"|(?P<zsingle>(?<!\d)(?P<zy>\d{4})\s*年?\s*(?P<zc>以后|之后|以来|后|起|以前|之前|前))"
    r"|(?P<zexact>(?<!\d)(?P<ze>\d{4})\s*年(?!代))",
    re.IGNORECASE,
)
_DECADES = ["twenties", "thirties", "forties", "fifties", "sixties", "seventies", "eighties"]
_DECADE_WORDS = {word: 1920 + 10 * i for i, word in enumerate([*_DECADES, "nineties"])}


def parse_bounds(text: str, bare_prices: bool = True) -> Bounds:
    """The price and year bounds ``text`` states, in English or Chinese: "under 50
    dollars", "below $20", "between 10 and 20 euros", "便宜于100元", "100元以内", "after
    1990", "from the 1980s", "90年代", "1990年以后". A number without a currency bounds
    a price only with ``bare_prices`` (the catalogue has prices), when no unit follows
    ("under 90 minutes") and it is no year after a comparator that also takes years
    ("up to 2000"). A negative or non-finite price, or a year outside 1000–2100, is
    refused with a note, never applied."""
    found = Bounds()
    taken: list[tuple[int, int]] = []
    for match in _PRICE.finditer(text):
        kind = next(k for k in _PRICE_AMOUNTS if match.group(k) is not None)
        names = _PRICE_AMOUNTS[kind]
        raw = [match.group(n) for n in names]
        currency = any(match.group(f"{n}_pre") or match.group(f"{n}_post") for n in names)
        comparator = (match.group(f"{kind}_cmp") or "").lower() if kind != "dash" else "-"
        if not currency:
            yearlike = all(re.fullmatch(r"\d{4}", r) and 1000 <= int(r) <= 2100 for r in raw)
            if (not bare_prices or kind == "dash" or _UNIT.match(text, match.end())
                    or (yearlike and comparator in _YEAR_COMPARATORS)):  # fmt: skip
                continue
        taken.append(match.span())
        values = [_number(r) for r in raw]
        bad = [r for r, v in zip(raw, values, strict=True) if v is None or v < 0]
        if bad:
            found.notes.append(f"ignored {match.group().strip()!r}: a price must be a finite "
                               "number ≥ 0")  # fmt: skip
            continue
        if kind in ("range", "dash"):
            low, high = sorted(values)
            _tighten(found, "price", low, high)
        elif kind in ("max", "zmax") or (kind == "post" and comparator not in ("以上", "之上")):
            _tighten(found, "price", None, values[0])
        else:
            _tighten(found, "price", values[0], None)
    rest = _blank(text, taken)
    for match in _YEARS.finditer(rest):
        low, high = _year_bounds(match)
        if low is None and high is None:
            continue
        taken.append(match.span())
        if any(y is not None and not 1000 <= y <= 2100 for y in (low, high)):
            found.notes.append(f"ignored {match.group().strip()!r}: not a year from 1000 to 2100")
            continue
        _tighten(found, "year", low, high)
    for kind in ("price", "year"):
        low, high = getattr(found, f"{kind}_min"), getattr(found, f"{kind}_max")
        if low is not None and high is not None and low > high:
            found.notes.append(f"{kind} ≥ {low:g} and ≤ {high:g}: no item can be both")
    found.spans = sorted(taken)
    return found


def _year_bounds(match: re.Match) -> tuple[int | None, int | None]:
    group = match.group
    if group("range"):
        years = sorted(int(y) for y in (group("ra") or group("rc"), group("rb") or group("rd")))
        return years[0], years[1] + (9 if group().rstrip().lower().endswith("s") else 0)
    if group("decade") or group("words") or group("zdecade"):
        if group("decade"):
            digits, comparator = group("dd"), (group("dc") or "").lower()
            start = int(digits) if len(digits) == 4 else _two_digit_decade(int(digits))
        elif group("words"):
            start, comparator = _DECADE_WORDS[group("wd").lower()], (group("wc") or "").lower()
        else:
            raw = group("zd")
            value = int(raw) if raw.isdigit() else _chinese_number(raw)
            if value is None:
                return None, None
            start = value if value >= 1000 else _two_digit_decade(value)
            comparator = {"以后": "after", "之后": "after", "以来": "since", "以前": "before",
                          "之前": "before"}.get(group("zdc") or "", "")  # fmt: skip
        if comparator in ("after", "post"):
            return start + 10, None
        if comparator == "since":
            return start, None
        if comparator in ("before", "pre"):
            return None, start - 1
        if comparator in ("until", "till"):
            return None, start + 9
        return start, start + 9
    if group("single"):
        year, comparator = int(group("sy")), group("sc").lower()
        if comparator in ("after", "newer than", "later than", "post"):
            return year + 1, None
        if comparator == "since" or group("son"):
            return year, None
        if comparator in ("before", "earlier than", "older than", "pre"):
            return None, year - 1
        if comparator in ("until", "till", "through", "up to"):
            return None, year
        return year, year
    if group("zsingle"):
        year, comparator = int(group("zy")), group("zc")
        if comparator in ("以后", "之后", "以来", "后", "起"):
            return year, None
        return None, year - 1
    if group("zexact"):
        return int(group("ze")), int(group("ze"))
    return None, None


def _two_digit_decade(value: int) -> int:
    # "80s" and "90年代" are the 1900s; "00s" and "10年代", with nothing older to mean, 2000s.
    return 1900 + value if value >= 30 else 2000 + value


def _tighten(found: Bounds, kind: str, low, high) -> None:
    if low is not None:
        current = getattr(found, f"{kind}_min")
        setattr(found, f"{kind}_min", low if current is None else max(current, low))
    if high is not None:
        current = getattr(found, f"{kind}_max")
        setattr(found, f"{kind}_max", high if current is None else min(current, high))


def _number(raw: str) -> float | None:
    """A written amount as a number (None: not a finite one): 1,299.50, 12,5, 1e3, 五十."""
    raw = raw.replace("−", "-").replace(" ", "").rstrip(",")
    if re.fullmatch(r"[零一二两三四五六七八九十百千万]+", raw):
        return _chinese_number(raw)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", raw):
        raw = raw.replace(",", "")
    elif raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")  # a decimal comma: 12,5
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _chinese_number(raw: str) -> float | None:
    digits = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}  # fmt: skip
    units = {"十": 10, "百": 100, "千": 1_000}
    total, section, number = 0, 0, 0
    for char in raw:
        if char in digits:
            number = digits[char]
        elif char == "万":
            total += (section + number) * 10_000
            section, number = 0, 0
        elif char in units:
            section += (number or 1) * units[char]
            number = 0
        else:
            return None
    return float(total + section + number)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)

"""What people read: lists whose titles are told apart, and tables in the form asked for —
a terminal table, Markdown, JSON or CSV.

JSON and CSV keep the values as they are (every digit, numbers as numbers); the table and
Markdown show them rounded. JSON of one table is a list of row objects; of several, an
object of such lists by the tables' keys. CSV of several tables puts a blank line between
them.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from rich.console import Console


def distinct_titles(titles: Sequence[str], ids: Sequence[str]) -> list[str]:
    """The titles of one list's items, each title that several of them share (any case)
    followed by the item's id: "Solaris (123)", "Solaris (456)". Empty titles stay empty."""
    keys = [title.strip().casefold() for title in titles]
    if len(set(keys)) == len(keys):
        return list(titles)
    shared = Counter(key for key in keys if key)
    return [
        f"{title} ({item})" if shared[key] > 1 else title
        for title, item, key in zip(titles, ids, keys, strict=True)
    ]


class OutputFormat(StrEnum):
    TABLE = "table"
    MARKDOWN = "markdown"
    JSON = "json"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class Listing:
    """One table of raw values. ``formats`` (a format spec or a function, by column) says
    how the table and Markdown show a column's values; others as :func:`_shown` does."""

    key: str  # its name in the JSON of several tables
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    formats: Mapping[str, str | Callable[[object], str]] = field(default_factory=dict)
    caption: str | None = None

    def shown(self) -> list[list[str]]:
        """The rows as the table and Markdown show them."""
        specs = [self.formats.get(column) for column in self.columns]
        return [
            [_shown(_plain(value), spec) for value, spec in zip(row, specs, strict=True)]
            for row in self.rows
        ]

    def numeric(self) -> list[bool]:
        """Which columns hold numbers (aligned right)."""
        return [
            any(_is_number(_plain(row[n])) for row in self.rows) for n in range(len(self.columns))
        ]


def show(console: Console, listings: Sequence[Listing], fmt: OutputFormat) -> None:
    """Print ``listings`` on ``console`` as ``fmt`` says; only the table form is styled."""
    if fmt is not OutputFormat.TABLE:
        console.out(render(listings, fmt), highlight=False)
        return
    from rich.markup import escape
    from rich.table import Table

    for listing in listings:
        caption = escape(listing.caption) if listing.caption else None
        table = Table(title=escape(listing.title), caption=caption)
        for column, numeric in zip(listing.columns, listing.numeric(), strict=True):
            table.add_column(
                escape(column), justify="right" if numeric else "left", overflow="fold"
            )
        for row in listing.shown():
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)


def render(listings: Sequence[Listing], fmt: OutputFormat) -> str:
    """The Markdown, JSON or CSV text of ``listings`` (no trailing newline)."""
    if fmt is OutputFormat.JSON:
        records = {
            listing.key: [
                dict(zip(listing.columns, map(_plain, row), strict=True)) for row in listing.rows
            ]
            for listing in listings
        }
        data = next(iter(records.values())) if len(listings) == 1 else records
        return orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode()
    if fmt is OutputFormat.CSV:
        return "\n".join(_csv(listing) for listing in listings).rstrip("\n")
    if fmt is OutputFormat.MARKDOWN:
        return "\n\n".join(_markdown(listing) for listing in listings)
    raise ValueError(f"no text form for {fmt}")


def _markdown(listing: Listing) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    rule = ["---:" if numeric else "---" for numeric in listing.numeric()]
    lines = [f"**{cell(listing.title)}**", ""] if listing.title else []
    for row in ([str(c) for c in listing.columns], rule, *listing.shown()):
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    if listing.caption:
        lines += ["", cell(listing.caption)]
    return "\n".join(lines)


def _csv(listing: Listing) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(listing.columns)
    for row in listing.rows:
        writer.writerow("" if v is None else v for v in map(_plain, row))
    return out.getvalue()


def _plain(value: object) -> object:
    """A Python value for JSON and CSV: numpy scalars unwrapped, NaN as None."""
    numpy = sys.modules.get("numpy")  # not imported for it: `llmrec --help` stays quick
    if numpy is not None and isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: object, spec: str | Callable[[object], str] | None) -> str:
    if value is None:
        return ""
    if callable(spec):
        return spec(value)
    if spec is not None:
        return format(value, spec)
    if isinstance(value, bool) or not _is_number(value):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"

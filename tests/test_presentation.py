"""Lists as people read them: titles told apart, tables as a terminal table, Markdown,
JSON or CSV."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from rich.console import Console

from llmrec.presentation import Listing, OutputFormat, distinct_titles, render, show


def test_repeated_titles_get_their_ids():
    titles = ["Chasing Amy (1997)", "Solaris", "chasing amy (1997) ", "", "", "Heat"]
    ids = ["246", "7", "268", "1", "2", "3"]
    assert distinct_titles(titles, ids) == [
        "Chasing Amy (1997) (246)", "Solaris", "chasing amy (1997)  (268)", "", "", "Heat",
    ]  # fmt: skip
    # Titles already distinct come back as they are.
    assert distinct_titles(["A", "B"], ["1", "2"]) == ["A", "B"]
    assert distinct_titles([], []) == []


def _listings() -> list[Listing]:
    items = Listing(
        "items", "for user 1", ("rank", "item", "title", "score"),
        [(1, "50", "Star | Wars", np.float32(0.5)), (2, "181", "Return", float("nan"))],
        formats={"score": ".3f"},
    )  # fmt: skip
    counts = Listing("counts", "Counts", ("measure", "value"), [("events", np.int64(100_000))])
    return [items, counts]


def test_json_keeps_numbers_and_names_several_tables():
    items, counts = _listings()
    one = json.loads(render([items], OutputFormat.JSON))
    assert one == [
        {"rank": 1, "item": "50", "title": "Star | Wars", "score": 0.5},
        {"rank": 2, "item": "181", "title": "Return", "score": None},
    ]
    both = json.loads(render([items, counts], OutputFormat.JSON))
    assert both["counts"] == [{"measure": "events", "value": 100000}]


def test_csv_and_markdown():
    items, counts = _listings()
    rows = list(csv.DictReader(io.StringIO(render([items], OutputFormat.CSV))))
    assert rows[0] == {"rank": "1", "item": "50", "title": "Star | Wars", "score": "0.5"}
    assert rows[1]["score"] == ""
    assert render([items, counts], OutputFormat.CSV).count("\n\n") == 1
    markdown = render([items, counts], OutputFormat.MARKDOWN).splitlines()
    assert markdown[:4] == [
        "**for user 1**", "", "| rank | item | title | score |", "| ---: | --- | --- | ---: |"
    ]  # fmt: skip
    assert markdown[4] == "| 1 | 50 | Star \\| Wars | 0.500 |"
    assert "| events | 100,000 |" in markdown


def test_terminal_table_folds_and_escapes():
    console = Console(file=io.StringIO(), width=40)
    wide = Listing("x", "[bold]t[/]", ("name",), [("[red]" + "w" * 60,)])
    show(console, [wide], OutputFormat.TABLE)
    text = console.file.getvalue()
    assert "[red]" in text and "[bold]t[/]" in text  # shown, not read as markup
    assert text.count("w") == 60 and "…" not in text  # folded over lines, never cut

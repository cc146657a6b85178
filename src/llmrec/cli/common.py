"""What every command shares: the consoles, the --format option, one-line errors, the
settings and the store, progress displays, and the service over the trained model."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from llmrec.config import (
    Settings,
)
from llmrec.errors import LlmrecError
from llmrec.presentation import Listing, OutputFormat, distinct_titles, show
from llmrec.progress import progress_display

if TYPE_CHECKING:
    from llmrec.app import Service
    from llmrec.retrieve.matcher import ContentMatcher
    from llmrec.store import Store


def _console(stderr: bool = False) -> Console:
    # Rich assumes 80 columns when output is not a terminal and cuts table cells to fit:
    # a log or a pipe gets room instead (COLUMNS still wins), and cells fold, never cut.
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=160 if wide else None)


console = _console()
err_console = _console(stderr=True)

# One option for every command that prints tables; notes beside a table in another form
# go to stderr, so that JSON or CSV on stdout is nothing else.
_FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        help="table (for the terminal), markdown, json or csv (these two keep every digit)",
    ),
]
# Where a batch job runs (llmrec.engine).
_EngineOption = Annotated[str, typer.Option(help="in-process or ray")]
_RayAddressOption = Annotated[
    str | None, typer.Option(help="a Ray cluster (ray://host:10001); default: a local one")
]
# Item lists the answer must leave out or keep to, as on the HTTP API.
_ExcludeOption = Annotated[
    list[str] | None, typer.Option("--exclude", help="never this item id (repeatable)")
]
_CandidatesOption = Annotated[
    list[str] | None,
    typer.Option("--candidate", help="only among these item ids (repeatable)"),
]


@contextmanager
def _user_errors() -> Iterator[None]:
    """Errors the user can act on end the command with one line and exit status 2."""
    try:
        yield
    except LlmrecError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj["settings"]


def _open_store(settings: Settings) -> Store:
    from llmrec.store import Store

    return Store.open(settings.effective_database_url)


def _print_measures(title: str, rows: list[tuple[str, object]]) -> None:
    """A two-column table of what a job did (values escaped: they may hold user text)."""
    table = Table(title=title)
    table.add_column("measure", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    console.print(table)


@contextmanager
def _answering(settings: Settings, store: Store) -> Iterator[Service | None]:
    """The service over the trained model (the one the HTTP service answers through), or
    None before `llmrec train`."""
    if not settings.effective_model_file.is_file():
        yield None
        return
    from llmrec.app import Service

    service = Service.open(settings, store)
    try:
        yield service
    finally:
        service.close()


def _item_frame(items: list[dict]):
    """The service's items as the table `_print_items` shows."""
    import pandas as pd

    return pd.DataFrame({
        "item_id": [i["item_id"] for i in items],
        "title": [i["title"] for i in items],
        "score": [i["score"] for i in items],
        "source": [",".join(i["sources"]) or "popularity" for i in items],
    })  # fmt: skip


@contextmanager
def _matcher(ctx: typer.Context) -> Iterator[ContentMatcher]:
    from llmrec.embed import load_encoder
    from llmrec.retrieve.matcher import ContentMatcher

    settings = _settings(ctx)
    with _open_store(settings) as store, load_encoder(settings.embed) as encoder:
        with _count_progress("items", len(store.item_ids())) as advance:
            matcher = ContentMatcher.from_store(store, encoder, settings, progress=advance)
        yield matcher


@contextmanager
def _stage_progress() -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """Stages one after another: a bar where the count is known, a spinner where not."""
    with progress_display(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        current: list[TaskID] = []

        def stage(name: str, total: int | None) -> Callable[[int], None]:
            if current:
                progress.remove_task(current.pop())
            current.append(progress.add_task(name, total=total))
            return lambda n: progress.advance(current[0], n)

        yield stage


@contextmanager
def _count_progress(what: str, total: int) -> Iterator[Callable[[int], None]]:
    with progress_display(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(show_speed=True),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _print_items(frame, title: str, fmt: OutputFormat = OutputFormat.TABLE) -> None:
    ids = [str(i) for i in frame["item_id"]]
    titles = distinct_titles([str(t) for t in frame["title"]], ids)
    rows = [
        (rank, item, shown, score, source)
        for rank, (item, shown, score, source) in enumerate(
            zip(ids, titles, frame["score"], frame["source"], strict=True), start=1
        )
    ]
    columns = ("rank", "item", "title", "score", "source")
    show(console, [Listing("items", title, columns, rows, formats={"score": ".3f"})], fmt)

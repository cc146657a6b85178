"""Data in: `ingest`, `datasets list/load`, `stats`, `quarantine`, `config show`."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from llmrec.config import (
    Settings,
    config_file_path,
    setting_sources,
)
from llmrec.data.formats import FORMATS
from llmrec.data.records import DEFAULT_EVENT_TYPE, RecordKind
from llmrec.errors import ConfigError
from llmrec.presentation import Listing, OutputFormat, distinct_titles, show
from llmrec.progress import progress_display

if TYPE_CHECKING:
    from llmrec.data.ingest import IngestReport, ProgressCallback
    from llmrec.data.readers import TableSpec
    from llmrec.store import StoreSummary
from llmrec.cli.apps import app, config_app, datasets_app
from llmrec.cli.common import (
    _FormatOption,
    _open_store,
    _settings,
    _stage_progress,
    _user_errors,
    console,
    err_console,
)

# -- ingest -------------------------------------------------------------------------------


@app.command()
def ingest(
    ctx: typer.Context,
    kind: Annotated[RecordKind, typer.Argument(help="what the file holds")],
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSON Lines or Parquet (.gz allowed)")],
    format: Annotated[
        str | None, typer.Option("--format", help=f"one of {', '.join(FORMATS)}; default: by name")
    ] = None,
    delimiter: Annotated[str | None, typer.Option(help="field delimiter of CSV/TSV")] = None,
    encoding: Annotated[str, typer.Option(help="text encoding, e.g. latin-1")] = "utf-8",
    no_header: Annotated[
        bool, typer.Option("--no-header", help="the file has no header line (give --names)")
    ] = False,
    names: Annotated[
        str | None, typer.Option(help="comma-separated column names for a headerless file")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="NAME=COLUMN: read field NAME from the file's COLUMN"),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="TOML file with [columns] and [constants] tables")
    ] = None,
    event_type: Annotated[
        str, typer.Option(help="type of events that have no event_type column")
    ] = DEFAULT_EVENT_TYPE,
    require_known_items: Annotated[
        bool | None,
        typer.Option(
            "--require-known-items/--allow-unknown-items",
            help="reject events whose item is not in the catalogue",
        ),
    ] = None,
) -> None:
    """Load items, users, links (user,friend) or events from a file into the store."""
    from llmrec.data.ingest import ingest_file

    settings = _settings(ctx)
    with _user_errors():
        spec = _table_spec(file, format, delimiter, encoding, no_header, names, map_, mapping)
        with _open_store(settings) as store, _progress() as progress:
            report = ingest_file(
                store,
                spec,
                kind,
                settings,
                default_event_type=event_type,
                require_known_items=require_known_items,
                progress=progress(file.name),
            )
        _print_reports([report])


def _table_spec(
    file: Path,
    format: str | None,
    delimiter: str | None,
    encoding: str,
    no_header: bool,
    names: str | None,
    map_: list[str] | None,
    mapping_file: Path | None,
) -> TableSpec:
    from llmrec.data.readers import TableSpec

    options: dict = {}
    if mapping_file is not None:
        try:
            options = tomllib.loads(mapping_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{mapping_file}: cannot read the mapping: {exc}") from None
    columns = dict(options.get("columns", {}))
    for item in map_ or []:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ConfigError(f"--map {item!r}: expected NAME=COLUMN, e.g. item_id=movieId")
        columns[name.strip()] = column.strip()
    if format is not None and format not in FORMATS:
        raise ConfigError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    header = not no_header and options.get("header", True)
    column_names = names.split(",") if names else options.get("names")
    return TableSpec(
        path=file,
        format=format or options.get("format"),
        delimiter=_unescape(delimiter) if delimiter else options.get("delimiter"),
        encoding=options.get("encoding", encoding),
        header=bool(header),
        names=tuple(column_names) if column_names else None,
        mapping=columns,
        constants=dict(options.get("constants", {})),
    )


def _unescape(delimiter: str) -> str:
    return {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)


@contextmanager
def _progress() -> Iterator[Callable[[str], ProgressCallback]]:
    """A Rich progress display; yields a factory of per-file byte-progress callbacks."""
    with progress_display(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        in_bytes=True,
    ) as progress:

        def for_file(name: str) -> ProgressCallback:
            task = None  # added on the first update: a file that fails at once shows no bar

            def update(done: int, total: int) -> None:
                nonlocal task
                if task is None:
                    task = progress.add_task(name, total=total)
                progress.update(task, completed=done, total=total)

            return update

        yield for_file


def _print_reports(reports: list[IngestReport]) -> None:
    table = Table(title="Ingest summary")
    for column in ("file", "kind", "rows read", "stored", "duplicates", "quarantined", "rows/s"):
        table.add_column(
            column, justify="left" if column in ("file", "kind") else "right", overflow="fold"
        )
    for r in reports:
        table.add_row(
            escape(Path(r.source).name),
            str(r.kind),
            f"{r.rows_read:,}",
            f"{r.stored:,}",
            f"{r.duplicates:,}",
            f"{r.quarantined:,}",
            f"{r.rows_per_second:,.0f}",
        )
    console.print(table)
    for r in reports:
        if r.quarantine_file is not None:
            console.print(
                f"{r.quarantined:,} rejected row(s) of {escape(Path(r.source).name)} with line "
                f"and reason: {escape(str(r.quarantine_file))}"
            )


# -- datasets -----------------------------------------------------------------------------


@datasets_app.command("list")
def datasets_list(fmt: _FormatOption = OutputFormat.TABLE) -> None:
    """The public datasets llmrec reads in their official formats."""
    from llmrec.data.datasets import DATASETS

    rows = [(d.name, d.domain, d.description, d.licence) for d in DATASETS.values()]
    show(console, [Listing("datasets", "Datasets", ("name", "domain", "description", "licence"),
                           rows)], fmt)  # fmt: skip


@datasets_app.command("load")
def datasets_load(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="a name from `llmrec datasets list`")],
    path: Annotated[
        Path | None,
        typer.Option(help="a local copy of the dataset's files (default: download once)"),
    ] = None,
) -> None:
    """Ingest a public dataset (downloaded from its official address unless --path)."""
    _load_dataset(_settings(ctx), name, path)


def _load_dataset(settings: Settings, name: str, path: Path | None) -> None:
    from llmrec.data.datasets import load_dataset

    with _user_errors(), _open_store(settings) as store:
        with _progress() as progress:
            reports = load_dataset(name, store, settings, path, progress=progress)
        # `llmrec stats` usually comes next (quickstart shows it at once): its summary is
        # computed here, so that the first call answers as fast as the later ones.
        with _stage_progress() as stage:
            stage("summarising the store for `llmrec stats`", None)
            store.summary()
        _print_reports(reports)


# -- stats --------------------------------------------------------------------------------


@app.command()
def stats(
    ctx: typer.Context,
    top: Annotated[int, typer.Option(help="how many of the most active items to list")] = 10,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Counts, sparsity, events per type, top items, cold users and items."""
    from llmrec.store.summary import read_sqlite

    settings = _settings(ctx)
    with _user_errors():
        # A SQLite store's current summary is read without opening the Store, whose
        # import of SQLAlchemy would be a third of what this command takes.
        summary = read_sqlite(settings.effective_database_url, top)
        if summary is None:
            with _open_store(settings) as store:
                summary = store.summary(top)
    _print_stats(summary, top, fmt)


def _print_stats(summary: StoreSummary, top: int, fmt: OutputFormat = OutputFormat.TABLE) -> None:
    counts, activity = summary.counts, summary.activity
    n_items = max(counts["items"], activity["active_items"])
    cells = activity["active_users"] * n_items
    sparsity = 1.0 - activity["user_item_pairs"] / cells if cells else 1.0
    rows = [
        ("items in catalogue", counts["items"]),
        ("users stored", counts["users"]),
        ("social links", counts["user_links"]),
        ("events", counts["events"]),
        ("users with events", activity["active_users"]),
        ("items with events", activity["active_items"]),
        ("user-item pairs", activity["user_item_pairs"]),
        ("cold items (no events)", activity["cold_items"]),
        ("cold users (stored, no events)", activity["cold_users"]),
        ("quarantined rows", counts["quarantine"]),
        ("sparsity", sparsity),
    ]
    titles = [title or "" for _, title, _ in summary.top_items]
    ids = [item_id for item_id, _, _ in summary.top_items]
    events = [n for _, _, n in summary.top_items]
    show(console, [
        Listing("store", "Store", ("measure", "value"), rows,
                formats={"value": lambda v: f"{v:.4%}" if isinstance(v, float) else f"{v:,}"}),
        Listing("events_per_type", "Events per type", ("event type", "events"),
                summary.events_per_type),
        Listing("top_items", f"Top {top} items by events", ("item_id", "title", "events"),
                list(zip(ids, distinct_titles(titles, ids), events, strict=True))),
    ], fmt)  # fmt: skip


@app.command()
def quarantine(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="most rows to show")] = 20,
) -> None:
    """Rejected rows: source file, line, reason and the start of the raw row."""
    with _user_errors(), _open_store(_settings(ctx)) as store:
        frame = store.quarantine_frame(limit)
    table = Table(title="Quarantine")
    for column in ("source", "line", "reason", "raw"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(escape(row.source), str(row.line), escape(row.reason), escape(row.raw[:80]))
    console.print(table)


# -- config -------------------------------------------------------------------------------


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings (defaults < llmrec.toml < LLMREC_* variables <
    command-line options) and where each value that is not a default came from."""
    settings = _settings(ctx)
    path = config_file_path()
    source = f"{path} ({'found' if path.is_file() else 'not found, defaults used'})"
    console.print(f"# settings file: {escape(source)}")
    data = settings.model_dump(mode="json")
    data["effective_database_url"] = settings.effective_database_url
    data["effective_datasets_dir"] = str(settings.effective_datasets_dir)
    console.print_json(orjson.dumps(data).decode())
    sources = setting_sources(ctx.obj.get("overrides"))
    table = Table(title="not defaults: where each came from")
    for column in ("setting", "value", "from"):
        table.add_column(column, overflow="fold")
    for key, origin in sources.items():
        value: object = data
        for part in key.split("."):
            value = value.get(part, "?") if isinstance(value, dict) else "?"
        table.add_row(escape(key), escape(orjson.dumps(value).decode()), escape(origin))
    if sources:
        console.print(table)
    else:
        console.print("# every setting is a default")

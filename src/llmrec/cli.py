"""The ``llmrec`` command line: one command per step of the pipeline."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from llmrec.config import (
    CONFIG_ENV_VAR,
    Settings,
    config_file_path,
    load_settings,
    setting_sources,
)
from llmrec.data.formats import FORMATS
from llmrec.data.records import DEFAULT_EVENT_TYPE, RecordKind
from llmrec.errors import ConfigError, LlmrecError
from llmrec.presentation import Listing, OutputFormat, distinct_titles, show
from llmrec.progress import progress_display

if TYPE_CHECKING:
    from llmrec.app import Service
    from llmrec.data.ingest import IngestReport, ProgressCallback
    from llmrec.data.readers import TableSpec
    from llmrec.enrich.batches import EnrichReport
    from llmrec.retrieve.matcher import ContentMatcher
    from llmrec.store import Store, StoreSummary

# Each command imports what it uses inside its body: `llmrec --help` and `llmrec stats`
# must not wait for torch, LightGBM, faiss and the service stack.

app = typer.Typer(
    help="llmrec: an LLM-powered recommender system.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
datasets_app = typer.Typer(help="Public datasets: list them, load one into the store.")
config_app = typer.Typer(help="Show the effective configuration.")
enrich_app = typer.Typer(
    help="LLM enrichment: item descriptions and keywords, user interest keywords."
)
llm_app = typer.Typer(help="The language model: serve the embedded model over HTTP.")
keys_app = typer.Typer(help="API keys of the HTTP service.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(enrich_app, name="enrich")
app.add_typer(llm_app, name="llm")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")


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


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (default ./llmrec.toml)")
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="folder for the store and caches (default .llmrec)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite in home)")
    ] = None,
) -> None:
    if config is not None:
        os.environ[CONFIG_ENV_VAR] = str(config)
    overrides: dict[str, object] = {}
    if home is not None:
        overrides["home"] = home
    if database_url is not None:
        overrides["database_url"] = database_url
    with _user_errors():
        ctx.obj = {"settings": load_settings(**overrides), "overrides": overrides}


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


# -- enrich -------------------------------------------------------------------------------

_LIMIT = typer.Option(min=1, help="stop after this many")


@enrich_app.command("items")
def enrich_items_command(
    ctx: typer.Context,
    items: Annotated[
        list[str] | None, typer.Option("--items", help="only these item ids (repeatable)")
    ] = None,
    limit: Annotated[int | None, _LIMIT] = None,
) -> None:
    """Write a grounded description and 3–8 keywords per item (cached; resumable)."""
    from llmrec.enrich.descriptions import enrich_items
    from llmrec.llm import load_llm

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, load_llm(settings.llm) as llm:
        total = _count_of(len(store.item_ids()), items, limit)
        report = _run_enrichment(
            "items",
            lambda p: enrich_items(store, llm, settings, item_ids=items, limit=limit, progress=p),
            total,
        )
        _print_enrich_report(report)


@enrich_app.command("users")
def enrich_users_command(
    ctx: typer.Context,
    users: Annotated[
        list[str] | None, typer.Option("--users", help="only these user ids (repeatable)")
    ] = None,
    limit: Annotated[int | None, _LIMIT] = None,
) -> None:
    """Extract 3–10 weighted interest keywords and a summary per user (cached; resumable)."""
    from llmrec.enrich.interests import enrich_users
    from llmrec.llm import load_llm

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, load_llm(settings.llm) as llm:
        total = _count_of(store.activity_summary()["active_users"], users, limit)
        report = _run_enrichment(
            "users",
            lambda p: enrich_users(store, llm, settings, user_ids=users, limit=limit, progress=p),
            total,
        )
        _print_enrich_report(report)


def _count_of(available: int, ids: list[str] | None, limit: int | None) -> int:
    total = len(ids) if ids else available
    return min(total, limit) if limit else total


def _run_enrichment(
    what: str, job: Callable[[Callable[[int], None]], EnrichReport], total: int
) -> EnrichReport:
    with _count_progress(what, total) as advance:
        return job(advance)


def _print_enrich_report(report: EnrichReport) -> None:
    _print_measures(f"enrich {report.kind}: {escape(report.model_id)}", [
        ("done", report.total),
        ("model calls", report.llm_calls),
        ("answers from the cache", report.cache_hits),
        ("rows written", report.written),
        *((f"{report.kind}: {k}", v) for k, v in sorted(report.outcomes.items())),
        ("generated tokens", report.completion_tokens),
        ("tokens/s", f"{report.tokens_per_second:.1f}"),
        ("seconds", f"{report.seconds:.1f}"),
    ])  # fmt: skip


def _print_measures(title: str, rows: list[tuple[str, object]]) -> None:
    """A two-column table of what a job did (values escaped: they may hold user text)."""
    table = Table(title=title)
    table.add_column("measure", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    console.print(table)


def _print_item_texts(store: Store, limit: int) -> None:
    texts = store.item_texts_frame().head(limit)
    titles = store.items_frame().set_index("item_id")["title"]
    table = Table(title="generated descriptions (original text kept beside them)")
    for column in ("item", "title", "description", "keywords", "guard"):
        table.add_column(column, overflow="fold")
    for row in texts.itertuples(index=False):
        table.add_row(
            escape(row.item_id),
            escape(str(titles.get(row.item_id, ""))),
            escape(row.description),
            escape(", ".join(row.keywords)),
            row.verdict,
        )
    console.print(table)


# -- embeddings and matching ---------------------------------------------------------------


@app.command()
def embed(ctx: typer.Context) -> None:
    """Encode every item's text (title, tags, description and the LLM's text) into the
    embedding cache; only new or changed texts are encoded."""
    from llmrec.embed import load_encoder
    from llmrec.embed.vectors import embed_items

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, load_encoder(settings.embed) as encoder:
        total = len(store.item_ids())
        with _count_progress("items", total) as advance:
            _, report = embed_items(store, encoder, settings.embed, progress=advance)
    _print_measures(f"embed items: {escape(report.encoder_id)}", [
        ("items", report.items),
        ("encoded now", report.encoded),
        ("from the cache", report.cache_hits),
        ("seconds", f"{report.seconds:.1f}"),
    ])  # fmt: skip


@app.command()
def train(ctx: typer.Context) -> None:
    """Fit the hybrid recommender (candidate sources + LambdaRank ranker) on the whole
    store and save it; `recommend` and the service use it from then on."""
    from llmrec.training import train_from_store

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, _stage_progress() as progress:
        report = train_from_store(store, settings, progress=progress)
    _print_measures("train", [
        ("users", report.users),
        ("items", report.items),
        ("events", report.events),
        ("sources", ", ".join(report.sources)),
        ("ranker trained on (users' held-out items)", report.ranker_groups),
        ("seconds", f"{report.seconds:.1f}"),
        ("model file", str(report.path)),
    ])  # fmt: skip


@app.command()
def recommend(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="user id (a new id gets cold start)")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="how many items")] = 10,
    interests: Annotated[
        str | None, typer.Option(help="stated interests in free text (new users)")
    ] = None,
    max_price: Annotated[
        float | None, typer.Option(min=0, help="only items with a price at most this")
    ] = None,
    min_price: Annotated[
        float | None, typer.Option(min=0, help="only items with a price at least this")
    ] = None,
    brand: Annotated[
        list[str] | None, typer.Option(help="only this brand (repeatable; any case)")
    ] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="only available items")] = False,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Recommend items to a user, as the HTTP service would: the trained model (`llmrec
    train`) for users with a history; for a newcomer, items close to their stated
    interests, else to their friends' tastes, else the popular ones. Optionally only items
    of a price range, of some brands or in stock. Before `llmrec train`, the text matcher
    answers (interest vectors and cold start)."""
    from llmrec.rank.filters import Filters, ItemAttributes, item_filters

    settings = _settings(ctx)
    filters = {"max_price": max_price, "min_price": min_price, "brand": brand,
               "available": True if in_stock else None}  # fmt: skip
    with _user_errors():
        checked = item_filters(filters)  # before anything is loaded
    allowed = None
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        if service is not None:
            found = service.for_user(user, k, filters=filters, interests=interests)
            if found.strategy == "popular":
                err_console.print(
                    f"unknown user {escape(user)} (no history, no stated interests): "
                    "showing popular items"
                )
            _print_items(_item_frame(found.items), f"for user {user}", fmt)
            return
        if checked != Filters():  # the text matcher knows no attributes: the store does
            items = store.items_frame().set_index("item_id")
            allowed = items.index[ItemAttributes.from_items(items).mask(checked)].tolist()
    with _user_errors(), _matcher(ctx) as matcher:
        found = matcher.recommend(user, k, interests=interests, allowed=allowed)
    if len(found) and (found["source"] == "popularity").all():
        err_console.print(
            f"unknown user {escape(user)} (no history, no stated interests): showing popular items"
        )
    _print_items(found, f"for user {user}", fmt)


@app.command()
def explain(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="user id")],
    item: Annotated[str, typer.Option("--item", help="item id")],
    sentence: Annotated[
        bool, typer.Option("--sentence", help="also a one-sentence explanation by the LLM")
    ] = False,
) -> None:
    """Why the trained model scores an item for a user: the history items whose removal
    lowers the score most, the proposing sources, shared tags and the ranker's features."""
    from llmrec.explain import explain as reasons_for
    from llmrec.explain.sentence import explanation_sentences
    from llmrec.llm import load_llm
    from llmrec.llm.cache import CachedLLM
    from llmrec.training import load_trained

    settings = _settings(ctx)
    with _user_errors():
        with _open_store(settings) as store:
            model = load_trained(settings, store)
        if model is None:
            raise LlmrecError("no trained model: run `llmrec train` first")
        why = reasons_for(model, user, item)
        if sentence:
            with _open_store(settings) as store, load_llm(settings.llm) as llm:
                [said] = explanation_sentences([why], CachedLLM(llm, store))
            origin = "LLM" if said.generated else "from the reasons: the LLM's answer failed"
            console.print(f"{escape(said.text)} [dim]({origin})[/]")
    console.print(
        f"[bold]{escape(why.title or why.item_id)}[/] for user {escape(why.user_id)}: "
        f"score {why.score:.3f}; proposed by {escape(', '.join(why.sources) or 'no source')}"
        + (f"; shared tags: {escape(', '.join(why.keywords))}" if why.keywords else "")
    )
    history = Table(title="because of (score lost if removed from the history)")
    history.add_column("item", overflow="fold")
    history.add_column("title", overflow="fold")
    history.add_column("contribution", justify="right", overflow="fold")
    for reason in why.history:
        history.add_row(escape(reason.item_id), escape(reason.title), f"{reason.contribution:+.3f}")
    console.print(history)
    features = Table(title="ranker features (SHAP)")
    for column in ("feature", "value", "contribution"):
        features.add_column(
            column, justify="left" if column == "feature" else "right", overflow="fold"
        )
    for reason in why.features:
        value = "missing" if reason.value is None else f"{reason.value:.3g}"
        features.add_row(reason.feature, value, f"{reason.contribution:+.3f}")
    console.print(features)


@app.command()
def similar(
    ctx: typer.Context,
    item: Annotated[str, typer.Option("--item", help="item id")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="how many items")] = 10,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Items most like an item: the trained model's item neighbours and text (before
    `llmrec train`: text alone)."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        if service is not None:
            _print_items(_item_frame(service.similar(item, k)), f"similar to {item}", fmt)
            return
    with _user_errors(), _matcher(ctx) as matcher:
        _print_items(matcher.similar_items(item, k), f"similar to {item}", fmt)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='what to find, e.g. "animated film for kids"')],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="how many items")] = 10,
    user: Annotated[str | None, typer.Option("--user", help="personalise for this user")] = None,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Natural-language search over the catalogue (any language the encoder knows)."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        try:
            if service is not None:
                found = _item_frame(service.search(query, k, user_id=user))
            else:
                with _matcher(ctx) as matcher:
                    found = matcher.search(query, k, user_id=user)
        except ValueError as exc:
            raise LlmrecError(str(exc)) from None
        _print_items(found, f"search: {query}", fmt)


@app.command()
def profile(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="user id")],
    top: Annotated[int, typer.Option(min=1, max=100, help="how many keywords")] = 10,
) -> None:
    """A user's interest keywords (the LLM's extraction when `llmrec enrich users` ran,
    else the tags of their items) and summary."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        if service is not None:
            found = service.profile(user, top)
            keywords, summary = found.keywords, found.summary
            if not found.events and not keywords:
                err_console.print(f"no behaviour or interests known for user {escape(user)}")
    if service is None:
        with _user_errors(), _matcher(ctx) as matcher:
            keywords, summary = matcher.interest_keywords(user, top)
    table = Table(title=f"interests of user {escape(user)}", caption=escape(summary) or None)
    table.add_column("keyword", overflow="fold")
    table.add_column("weight", justify="right", overflow="fold")
    for keyword, weight in keywords:
        table.add_row(escape(keyword), f"{weight:.3f}")
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


@app.command()
def chat(
    ctx: typer.Context,
    message: Annotated[
        list[str] | None,
        typer.Option("--message", "-m", help="a turn (repeatable); without it, read stdin lines"),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="lean to this user's taste")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="items per answer")] = 5,
    raw: Annotated[bool, typer.Option("--raw", help="no parse at all: raw-text search")] = False,
    show_parse: Annotated[bool, typer.Option("--show-parse", help="print each parse")] = False,
) -> None:
    """Ask for recommendations in your own words; follow-ups ("more recent ones", "not
    that one") refine the previous turn."""
    from llmrec.chat import Catalogue, ChatSession
    from llmrec.embed import load_encoder
    from llmrec.llm import load_llm
    from llmrec.llm.cache import CachedLLM
    from llmrec.training import item_vector_frame, load_trained

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        items = store.items_frame()
        if items.empty:
            raise LlmrecError("the store has no items: ingest a catalogue first")
        with _count_progress("items", len(items)) as advance:
            vectors = item_vector_frame(store, settings, progress=advance)
        catalogue = Catalogue.from_frames(items, vectors)
        taste, seen = None, set()
        model = load_trained(settings, store) if user else None
        if model is not None:
            taste, seen = model.taste(user)
            if taste is not None and len(taste) != catalogue.vectors.shape[1]:
                taste = None  # the model was trained on another encoder's vectors
        turns = message if message else (line for line in sys.stdin if line.strip())
        with contextlib.ExitStack() as stack:
            encoder = stack.enter_context(load_encoder(settings.embed))
            llm = None if raw else CachedLLM(stack.enter_context(load_llm(settings.llm)), store)
            session = ChatSession(catalogue, encoder, llm, taste=taste, seen=seen, k=k,
                                  user_id=user, rules=not raw)  # fmt: skip
            for text in turns:
                try:
                    turn = session.ask(text)
                except ValueError as exc:
                    raise LlmrecError(str(exc)) from None
                note = " (the parse was not usable: raw-text search)" if turn.fallback else ""
                table = Table(title=escape(f"> {turn.request}{note}"))
                for column in ("item", "title", "reason"):
                    table.add_column(column, overflow="fold")
                found = turn.results
                titles = distinct_titles(list(found["title"]), list(found["item_id"]))
                for row, title in zip(found.itertuples(index=False), titles, strict=True):
                    table.add_row(escape(row.item_id), escape(title), escape(row.reason))
                console.print(table)
                if show_parse:
                    console.print_json(orjson.dumps(turn.log()).decode())


# -- service ------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address (default serve.host)")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default serve.port)")
    ] = None,
) -> None:
    """Run the HTTP service (OpenAPI at /docs, web page at /) over the store and the
    trained model."""
    settings = _settings(ctx)
    host, port = host or settings.serve.host, port or settings.serve.port
    _service(settings, host, port).run()


def _service(settings: Settings, host: str, port: int):
    """The configured uvicorn server over a new app (not started)."""
    import uvicorn

    from llmrec.serve import create_app
    from llmrec.serve.allocator import bound_malloc
    from llmrec.serve.server import server_config

    if settings.serve.malloc_arenas:
        bound_malloc(settings.serve.malloc_arenas, settings.serve.malloc_mmap_threshold_kib << 10)
    with _user_errors():
        app_ = create_app(settings)
    err_console.print(f"llmrec service on http://{host}:{port}/ (API docs: /docs)")
    return uvicorn.Server(server_config(app_, settings.serve, host, port))


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: Annotated[
        list[str], typer.Option("--scope", help="read, write or admin (repeatable)")
    ] = ["read"],  # noqa: B006 - typer reads the default, nothing mutates it
    name: Annotated[str, typer.Option(help="what the key is for")] = "",
) -> None:
    """Create an API key; it is printed once (only a hash is kept)."""
    from llmrec.serve.keys import create_key

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        try:
            key_id, key = create_key(store, scope, name)
        except ValueError as exc:
            raise LlmrecError(str(exc)) from None
    err_console.print(f"key {key_id} ({', '.join(scope)}); keep it, it is not shown again:")
    console.print(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """The API keys (ids, names, scopes; never the secrets)."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        frame = store.api_keys_frame()
    table = Table(title="API keys")
    for column in ("key id", "name", "scopes", "revoked"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(row.key_id, escape(row.name), row.scopes, "yes" if row.revoked else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke an API key at once."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        if not store.revoke_api_key(key_id):
            raise LlmrecError(f"unknown key id: {key_id}")
    console.print(f"revoked {key_id}")


# -- llm ----------------------------------------------------------------------------------


@llm_app.command("serve")
def llm_serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8080,
    api_key: Annotated[
        str | None, typer.Option(envvar="LLMREC_LLM_SERVE_KEY", help="bearer token clients need")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="serve /v1/embeddings instead of chat")
    ] = False,
) -> None:
    """Serve the embedded model as an OpenAI-compatible server (llama.cpp) until Ctrl-C."""
    from llmrec.llm import bundled_model_path
    from llmrec.llm.embedded import start_llama_server

    settings = _settings(ctx)
    with _user_errors():
        path = settings.llm.model_path or bundled_model_path()
        server = start_llama_server(
            path,
            settings.llm.threads,
            settings.llm.concurrency,
            settings.llm.context_per_slot,
            host=host,
            port=port,
            api_key=api_key,
            embeddings=embeddings,
        )
    console.print(f"serving {escape(path.name)} at {server.listening_address}/v1", highlight=False)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    del server  # stops llama.cpp's server


# -- quickstart ---------------------------------------------------------------------------


@app.command()
def quickstart(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Option(help="a local copy of MovieLens-100K (default: download it once)"),
    ] = None,
    enrich: Annotated[
        str,
        typer.Option(
            help="items the embedded LLM describes (the most rated first): a number, or "
            "'all' (about 15 min for ML-100K's 1,682; the generated text is shown, and "
            "measured not to lift accuracy there)"
        ),
    ] = "20",
    evaluate_: Annotated[
        bool,
        typer.Option(
            "--evaluate/--no-evaluate",
            help="compare llmrec with three baselines (while the service already answers)",
        ),
    ] = True,
    serve_: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the service at the end")
    ] = True,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="service port")] = None,
) -> None:
    """The main job on the embedded defaults: load MovieLens-100K, let the bundled LLM
    describe a few items, embed, train, show three users' recommendations with reasons,
    serve them (web page and API key printed) and, while the service answers, compare
    llmrec with baselines. Every step is cached: a rerun reaches the service quickly."""
    from llmrec.enrich.descriptions import enrich_items
    from llmrec.explain import explain as reasons_for
    from llmrec.llm import load_llm
    from llmrec.training import load_trained, train_from_store

    settings = _settings(ctx)
    if enrich != "all" and not (enrich.isdigit()):
        raise typer.BadParameter("a number or 'all'", param_hint="--enrich")
    _load_dataset(settings, "movielens-100k", path)
    with _user_errors(), _open_store(settings) as store:
        _print_stats(store.summary(10), top=10)
        limit = None if enrich == "all" else int(enrich)
        total = len(store.item_ids()) if limit is None else limit
        if total:
            with load_llm(settings.llm) as llm:
                done = _run_enrichment(
                    "items",
                    lambda p: enrich_items(store, llm, settings, limit=limit, progress=p),
                    total,
                )
            _print_enrich_report(done)
            _print_item_texts(store, min(total, 5))
        model = load_trained(settings, store)
        if model is None:
            with _stage_progress() as progress:
                report = train_from_store(store, settings, progress=progress)
            console.print(f"trained in {report.seconds:.0f} s: {', '.join(report.sources)}")
            model = load_trained(settings, store)
        users = list(model.histories_.user_ids[:3])
        for user, frame in model.recommend(users, k=5).groupby("user_id", sort=False):
            table = Table(title=f"user {escape(user)}: top 5 and why")
            for column in ("rank", "title", "because you liked", "sources"):
                table.add_column(column, overflow="fold")
            whys = [reasons_for(model, user, item, top=2) for item in frame["item_id"]]
            titles = distinct_titles([w.title for w in whys], [w.item_id for w in whys])
            for row, why, title in zip(frame.itertuples(index=False), whys, titles, strict=True):
                liked = "; ".join(h.title for h in why.history)
                table.add_row(str(row.rank), escape(title), escape(liked), row.sources)
            console.print(table)
        if not serve_:
            if evaluate_:
                _print_quick_evaluation(store, settings)
            return
        key = _quickstart_key(store)
    host, port = settings.serve.host, port or settings.serve.port
    server = _service(settings, host, port)
    running = threading.Thread(target=server.run, name="service", daemon=True)
    running.start()
    try:
        while not server.started and running.is_alive():
            running.join(0.1)
        console.print(f"web page: http://{host}:{port}/  API key: {key}")
        if evaluate_ and running.is_alive():
            with _open_store(settings) as store:
                _print_quick_evaluation(store, settings)
        err_console.print("serving until Ctrl-C")
        while running.is_alive():
            running.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        running.join(10)


def _quickstart_key(store: Store) -> str:
    """A fresh all-scope key for this run; the keys of earlier quickstarts are revoked,
    so reruns do not pile up live keys."""
    from llmrec.serve.keys import create_key

    keys = store.api_keys_frame()
    for key_id in keys.loc[(keys["name"] == "quickstart") & ~keys["revoked"], "key_id"]:
        store.revoke_api_key(key_id)
    return create_key(store, ["read", "write", "admin"], "quickstart")[1]


def _print_quick_evaluation(store: Store, settings: Settings) -> None:
    """llmrec against three baselines on leave-last-one-out (results kept in `home`)."""
    from llmrec.eval.pipeline import run_evaluation

    out = settings.home / "quickstart-evaluation"
    results_file = out / "results.json"
    counts = store.counts()
    stamp = f"{counts.get('events', 0)}-{counts.get('items', 0)}-{settings.recommender!r}"
    stamp_file = out / "data.stamp"
    if not (results_file.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp):
        with _stage_progress() as progress:
            progress("evaluating llmrec and baselines (leave-last-one-out)", None)
            run_evaluation(store, settings, out, ["leave_last_one_out"],
                           ["MostPop", "EASE", "CoVisit", "llmrec"], diversities=(),
                           tune_sources=False)  # fmt: skip
        stamp_file.write_text(stamp)
    rows = orjson.loads(results_file.read_bytes())
    table = Table(title="leave-last-one-out, full ranking (report: " + escape(str(out)) + ")")
    for column in ("system", "NDCG@10", "Recall@10", "fit s"):
        table.add_column(column, justify="left" if column == "system" else "right", overflow="fold")
    for row in rows:
        if row.get("diversity") is None:
            table.add_row(escape(row["system"]), f"{row['ndcg@10']:.4f}",
                          f"{row['recall@10']:.4f}", f"{row['fit_seconds']:.0f}")  # fmt: skip
    console.print(table)


@app.command()
def evaluate(
    ctx: typer.Context,
    split: Annotated[
        list[str] | None,
        typer.Option(
            help="leave_last_one_out, temporal_user, global_time, cold_items or "
            "random_user (for undated events) (repeatable)"
        ),
    ] = None,
    system: Annotated[
        list[str] | None, typer.Option(help="evaluate only these systems (repeatable)")
    ] = None,
    out: Annotated[Path, typer.Option(help="report folder")] = Path("reports/evaluation"),
    seed: Annotated[int, typer.Option(help="seed of the random splits")] = 0,
    event_type: Annotated[
        list[str] | None,
        typer.Option(help="evaluate on events of this type only (repeatable; default all)"),
    ] = None,
    tune: Annotated[
        bool,
        typer.Option(help="tune each source's hyper-parameters on a validation split first"),
    ] = True,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Offline evaluation on the stored events: llmrec, its ablations and the baselines
    on the same splits, each source tuned on a validation split of the training events;
    writes report.md, PNG plots, results.json and tuning.json to OUT."""
    from llmrec.eval.evaluate import results_table
    from llmrec.eval.pipeline import run_evaluation
    from llmrec.eval.report import TABLE_COLUMNS, few_users_warning, users_scored

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, progress_display(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=err_console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("evaluating", total=None)

        def step(label: str, total: int) -> None:
            if progress.tasks[task].total is not None:
                progress.advance(task)
            progress.update(task, description=label, total=total)

        try:
            results, report = run_evaluation(
                store, settings, out, split or ["leave_last_one_out"], system or None,
                seed=seed, progress=step, tune_sources=tune, event_types=event_type,
            )  # fmt: skip
        except ValueError as exc:
            raise LlmrecError(str(exc)) from None
    plain = [r for r in results if r.diversity is None]
    frame = results_table(plain, TABLE_COLUMNS)
    rows = list(frame.itertuples(index=False, name=None))
    title = "offline evaluation (full ranking)"
    show(console, [Listing("results", title, tuple(frame.columns), rows,
                           formats={"fit_s": ".1f"})], fmt)  # fmt: skip
    notes = console if fmt is OutputFormat.TABLE else err_console
    for split_name in dict.fromkeys(r.split for r in plain):
        warning = few_users_warning(results, split_name)
        scored = users_scored(results, split_name)
        if warning is None:
            notes.print(f"{split_name}: {scored:,} test users scored")
        else:
            err_console.print(f"[bold yellow]warning:[/] {escape(warning)}")
    notes.print(f"report: {escape(str(report))}")

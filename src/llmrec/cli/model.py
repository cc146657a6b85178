"""The model: `embed` (the item vectors it reads), `train`, `evaluate`, `models list/use`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeRemainingColumn,
)

from llmrec.cli.apps import app, models_app
from llmrec.cli.common import (
    _count_progress,
    _EngineOption,
    _FormatOption,
    _open_store,
    _print_measures,
    _RayAddressOption,
    _settings,
    _stage_progress,
    _user_errors,
    console,
    err_console,
)
from llmrec.errors import LlmrecError
from llmrec.presentation import Listing, OutputFormat, show
from llmrec.progress import progress_display

# -- embeddings and matching ---------------------------------------------------------------


@app.command()
def embed(
    ctx: typer.Context, engine: _EngineOption = "in-process", ray_address: _RayAddressOption = None
) -> None:
    """Encode every item's text (title, tags, description and the LLM's text) into the
    embedding cache; only new or changed texts are encoded, and each batch is kept as it
    is done (a rerun after a kill goes on). `--engine ray`: the batches on Ray workers."""
    from llmrec.embed import load_encoder
    from llmrec.embed.vectors import embed_items
    from llmrec.engine import make_engine

    settings = _settings(ctx)
    with _user_errors():
        chosen = make_engine(engine, ray_address)
    with _user_errors(), _open_store(settings) as store, load_encoder(settings.embed) as encoder:
        total = len(store.item_ids())
        with _count_progress("items", total) as advance:
            _, report = embed_items(store, encoder, settings.embed, progress=advance,
                                    engine=chosen)  # fmt: skip
    _print_measures(f"embed items: {escape(report.encoder_id)}", [
        ("items", report.items),
        ("encoded now", report.encoded),
        ("from the cache", report.cache_hits),
        ("seconds", f"{report.seconds:.1f}"),
        ("engine", chosen.name),
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
        ("of which fitting each source", ", ".join(
            f"{name} {seconds:.1f}" for name, seconds in report.source_seconds.items())),
        ("model file", str(report.path)),
        *([("published as version", report.version)] if report.version is not None else []),
    ])  # fmt: skip


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """The published model versions, newest first; the served one is marked."""
    import time

    from rich.table import Table

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        frame = store.model_versions_frame()
        current = store.model_version()
    served = current["version"] if current else None
    table = Table(title="model versions")
    for column in ("version", "served", "published", "trainer", "MB", "artifact"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(
            str(row.version),
            "yes" if row.version == served else "",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.published_at)),
            escape(row.trainer),
            f"{row.bytes / 1e6:.1f}",
            escape(row.artifact),
        )
    console.print(table)


@models_app.command("use")
def models_use(
    ctx: typer.Context, version: Annotated[int, typer.Argument(help="a published version")]
) -> None:
    """Serve a published version from now on (a rollback, or forward again): every
    replica following the store loads it within seconds."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        store.use_model_version(version)
    console.print(f"serving model version {version}")


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
    engine: _EngineOption = "in-process",
    ray_address: _RayAddressOption = None,
) -> None:
    """Offline evaluation on the stored events: llmrec, its ablations and the baselines
    on the same splits, each source tuned on a validation split of the training events;
    writes report.md, PNG plots, results.json and tuning.json to OUT. `--engine ray`:
    the tuning trials as Ray tasks."""
    from llmrec.engine import make_engine
    from llmrec.eval.evaluate import results_table
    from llmrec.eval.pipeline import run_evaluation
    from llmrec.eval.report import TABLE_COLUMNS, few_users_warning, users_scored

    settings = _settings(ctx)
    with _user_errors():
        chosen = make_engine(engine, ray_address)
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
                engine=chosen,
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

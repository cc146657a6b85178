"""LLM enrichment: `enrich items`, `enrich users`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from llmrec.enrich.batches import EnrichReport
    from llmrec.store import Store
from llmrec.cli.apps import enrich_app
from llmrec.cli.common import (
    _count_progress,
    _EngineOption,
    _open_store,
    _print_measures,
    _RayAddressOption,
    _settings,
    _user_errors,
    console,
)

# -- enrich -------------------------------------------------------------------------------

_LIMIT = typer.Option(min=1, help="stop after this many")


@enrich_app.command("items")
def enrich_items_command(
    ctx: typer.Context,
    items: Annotated[
        list[str] | None, typer.Option("--items", help="only these item ids (repeatable)")
    ] = None,
    limit: Annotated[int | None, _LIMIT] = None,
    engine: _EngineOption = "in-process",
    ray_address: _RayAddressOption = None,
) -> None:
    """Write a grounded description and 3–8 keywords per item (cached; resumable).
    `--engine ray`: the model calls on Ray workers, each loading the configured model."""
    from llmrec.engine import make_engine
    from llmrec.enrich.descriptions import enrich_items
    from llmrec.llm import load_llm

    settings = _settings(ctx)
    with _user_errors():
        chosen = make_engine(engine, ray_address)
    with _user_errors(), _open_store(settings) as store, load_llm(settings.llm) as llm:
        total = _count_of(len(store.item_ids()), items, limit)
        def run(progress):
            return enrich_items(store, llm, settings, item_ids=items, limit=limit,
                                progress=progress, engine=chosen)  # fmt: skip

        report = _run_enrichment("items", run, total)
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

"""`quickstart`: the main job on the embedded defaults."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from llmrec.config import (
    Settings,
)
from llmrec.presentation import distinct_titles

if TYPE_CHECKING:
    from llmrec.store import Store
from llmrec.cli.apps import app
from llmrec.cli.common import (
    _open_store,
    _settings,
    _stage_progress,
    _user_errors,
    console,
    err_console,
)
from llmrec.cli.data import _load_dataset, _print_stats
from llmrec.cli.enrich import _print_enrich_report, _print_item_texts, _run_enrichment
from llmrec.cli.service import _service

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

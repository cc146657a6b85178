"""Answers: `recommend`, `explain`, `similar`, `search`, `profile`, `chat` (through the
application service once a model is trained)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from llmrec.cli.apps import app
from llmrec.cli.common import (
    _answering,
    _CandidatesOption,
    _count_progress,
    _EngineOption,
    _ExcludeOption,
    _FormatOption,
    _item_frame,
    _matcher,
    _open_store,
    _print_items,
    _print_measures,
    _RayAddressOption,
    _settings,
    _user_errors,
    console,
    err_console,
)
from llmrec.errors import LlmrecError
from llmrec.presentation import OutputFormat, distinct_titles


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
    exclude: _ExcludeOption = None,
    candidates: _CandidatesOption = None,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Recommend items to a user, as the HTTP service would: the trained model (`llmrec
    train`) for users with a history; for a newcomer, items close to their stated
    interests, else to their friends' tastes, else the popular ones. Optionally only items
    of a price range, of some brands or in stock, only some items (`--candidate`) or
    never some (`--exclude`). Before `llmrec train`, the text matcher answers (interest
    vectors and cold start)."""
    from llmrec.rank.filters import Filters, ItemAttributes, item_filters

    settings = _settings(ctx)
    filters = {"max_price": max_price, "min_price": min_price, "brand": brand,
               "available": True if in_stock else None}  # fmt: skip
    with _user_errors():
        checked = item_filters(filters)  # before anything is loaded
    allowed = None
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        if service is not None:
            found = service.for_user(user, k, filters=filters, interests=interests,
                                     candidates=candidates, exclude=exclude)  # fmt: skip
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
    if candidates is not None:
        allowed = candidates if allowed is None else sorted(set(allowed) & set(candidates))
    with _user_errors(), _matcher(ctx) as matcher:
        found = matcher.recommend(user, k, interests=interests, allowed=allowed,
                                  exclude=exclude or ())  # fmt: skip
    if len(found) and (found["source"] == "popularity").all():
        err_console.print(
            f"unknown user {escape(user)} (no history, no stated interests): showing popular items"
        )
    _print_items(found, f"for user {user}", fmt)


@app.command("recommend-all")
def recommend_all(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="folder of the Parquet files")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="items per user")] = 10,
    chunk_users: Annotated[int, typer.Option(min=1, help="users per file")] = 2_000,
    engine: _EngineOption = "in-process",
    ray_address: _RayAddressOption = None,
) -> None:
    """Every known user's list from the trained model, into Parquet files under OUT (an
    offline cache); a rerun after a kill keeps the files already written."""
    from llmrec.app import Service
    from llmrec.app.batch import recommend_all as run
    from llmrec.engine import make_engine
    from llmrec.store.artifacts import file_sha256

    settings = _settings(ctx)
    with _user_errors():
        chosen = make_engine(engine, ray_address)
    with _user_errors(), _open_store(settings) as store:
        service = Service.open(settings, store)
        model = service.model()
        version = service.state.version
        source = f"v{version}" if version is not None else file_sha256(
            settings.effective_model_file)  # fmt: skip
        key = f"{source}:{store.counts().get('events', 0)}"
        users = sum(1 for u in model.histories_.user_ids if model.histories_.knows(u))
        with _count_progress("users", users) as advance:
            report = run(model, out, key, k=k, chunk_users=chunk_users, engine=chosen,
                         progress=advance)  # fmt: skip
    _print_measures("recommend-all", [
        ("users", report.users),
        ("files written now", report.written),
        ("files kept from an earlier run", report.kept),
        ("engine", report.engine),
        ("seconds", f"{report.seconds:.1f}"),
        ("folder", str(report.out)),
    ])  # fmt: skip


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
    exclude: _ExcludeOption = None,
    candidates: _CandidatesOption = None,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Items most like an item: the trained model's item neighbours and text (before
    `llmrec train`: text alone)."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        if service is not None:
            found = service.similar(item, k, candidates=candidates, exclude=exclude)
            _print_items(_item_frame(found), f"similar to {item}", fmt)
            return
    with _user_errors(), _matcher(ctx) as matcher:
        found = matcher.similar_items(item, k, allowed=candidates, exclude=exclude or ())
        _print_items(found, f"similar to {item}", fmt)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='what to find, e.g. "animated film for kids"')],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="how many items")] = 10,
    user: Annotated[str | None, typer.Option("--user", help="personalise for this user")] = None,
    exclude: _ExcludeOption = None,
    candidates: _CandidatesOption = None,
    fmt: _FormatOption = OutputFormat.TABLE,
) -> None:
    """Natural-language search over the catalogue (any language the encoder knows)."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        try:
            if service is not None:
                found = service.search(query, k, user, candidates=candidates, exclude=exclude)
                found = _item_frame(found)
            else:
                with _matcher(ctx) as matcher:
                    found = matcher.search(query, k, user_id=user, allowed=candidates,
                                           exclude=exclude or ())  # fmt: skip
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
    turns = message if message else (line for line in sys.stdin if line.strip())
    with _user_errors(), _open_store(settings) as store, _answering(settings, store) as service:
        if service is not None and not raw:  # the conversation POST /chat would have
            conversation = None
            for text in turns:
                try:
                    answer = service.chat(text, conversation, user, k)
                except ValueError as exc:
                    raise LlmrecError(str(exc)) from None
                conversation = answer.conversation_id
                rows = [(i["item_id"], i["title"], i["reason"]) for i in answer.items]
                _print_turn(text, answer.fallback, rows, answer.parse if show_parse else None)
            return
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
                found = turn.results
                titles = distinct_titles(list(found["title"]), list(found["item_id"]))
                rows = [(r.item_id, title, r.reason) for r, title in
                        zip(found.itertuples(index=False), titles, strict=True)]  # fmt: skip
                _print_turn(turn.request, turn.fallback, rows, turn.log() if show_parse else None)


def _print_turn(request: str, fallback: bool, rows: list[tuple[str, str, str]], parse) -> None:
    """One turn of a conversation: the items with the reason each was chosen (and how the
    request was understood, when asked)."""
    note = " (the parse was not usable: raw-text search)" if fallback else ""
    table = Table(title=escape(f"> {request}{note}"))
    for column in ("item", "title", "reason"):
        table.add_column(column, overflow="fold")
    for item_id, title, reason in rows:
        table.add_row(escape(item_id), escape(title), escape(reason))
    console.print(table)
    if parse is not None:
        console.print_json(orjson.dumps(parse).decode())

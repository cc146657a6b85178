"""Train the hybrid recommender on everything in the store and keep it on disk.

``train_from_store`` reads the store's events and catalogue, takes the item vectors from
the embedding cache (only new or changed item texts are encoded), fits a
:class:`~llmrec.recommender.Recommender` configured by ``settings.recommender`` and writes
it atomically to ``settings.effective_model_file``: a reader (the CLI, the service) sees
the previous model or the new one, never half of one. With ``registry.artifacts`` set it
also publishes the file as a new model version (:func:`publish_model`), which every
replica serving from the store then loads (:func:`load_version`).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from llmrec.config import Settings
from llmrec.embed import load_encoder
from llmrec.embed.vectors import embed_items
from llmrec.errors import ConfigError, LlmrecError, ModelFileError
from llmrec.models import source_configs
from llmrec.recommender import CONTENT_SOURCES, GENERATED_TEXT_SOURCES, Recommender
from llmrec.store import Store
from llmrec.store.artifacts import ArtifactStore


@dataclass(frozen=True)
class TrainReport:
    path: Path
    users: int
    items: int
    events: int
    sources: tuple[str, ...]
    ranker_groups: int
    seconds: float
    source_seconds: dict[str, float]  # each source's fits summed (Recommender.source_seconds_)
    version: int | None = None  # the published model version (registry.artifacts set)


def item_vector_frame(
    store: Store,
    settings: Settings,
    template: str | None = None,
    progress: Callable[[int], None] | None = None,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Unit text vectors of the catalogue's ``items`` (default: all; rows indexed by item
    id), from the cache; ``template`` instead of ``embed.item_template``."""
    embed = settings.embed
    if template is not None:
        embed = embed.model_copy(update={"item_template": template})
    with load_encoder(settings.embed) as encoder:
        vectors, _ = embed_items(store, encoder, embed, items=items, progress=progress)
    return pd.DataFrame(vectors.vectors, index=vectors.item_ids)


def generated_vector_frame(
    store: Store, settings: Settings, progress: Callable[[int], None] | None = None
) -> pd.DataFrame | None:
    """Unit vectors of what the LLM wrote about each item (``embed.generated_template``),
    for the items whose description the guard did not reject; None when there are none
    (``llmrec enrich items`` has not run)."""
    texts = store.item_texts_frame()
    if texts.empty:
        return None
    usable = texts.loc[texts["verdict"] != "rejected", "item_id"]
    items = store.items_frame()
    items = items[items["item_id"].isin(usable)]
    if items.empty:
        return None
    return item_vector_frame(store, settings, settings.embed.generated_template, progress, items)


def build_recommender(
    settings: Settings, vectors: pd.DataFrame | None, generated: pd.DataFrame | None = None
) -> Recommender:
    """The recommender ``settings.recommender`` configures (unfitted), with the item text
    ``vectors`` and the LLM's text vectors ``generated``. A source or source option the
    settings got wrong raises :class:`~llmrec.errors.ConfigError` naming it, before any
    work."""
    config = settings.recommender
    try:
        sources = source_configs(config.sources)
    except ValueError as exc:
        raise ConfigError(f"recommender.sources: {exc}") from None
    return Recommender(
        sources=sources,
        ranker=config.ranker,
        candidates_per_source=config.candidates_per_source,
        diversity=config.diversity,
        feedback_penalty=config.feedback_penalty,
        event_weights=settings.event_weights,
        ranker_holdout=config.ranker_holdout,
        cold_views=config.cold_views,
        ranker_max_users=config.ranker_max_users,
        item_vectors=vectors,
        generated_vectors=generated,
        seed=config.seed,
        repeat_tags=tuple(config.repeat_tags),
    )


def train_from_store(
    store: Store,
    settings: Settings,
    progress: Callable[[str, int | None], Callable[[int], None]] | None = None,
) -> TrainReport:
    """Fit on the whole store and save; ``progress(stage, total)`` returns an advance
    callback for that stage (total None: no count known)."""
    started = time.perf_counter()
    model = build_recommender(settings, None)  # a wrong setting fails before any work
    events, items = store.events_frame(), store.items_frame()
    if events.empty:
        raise LlmrecError("the store has no events: ingest some before training")
    if CONTENT_SOURCES & set(settings.recommender.sources) and not items.empty:
        advance = progress("embedding items", len(items)) if progress else None
        model.set_params(item_vectors=item_vector_frame(store, settings, progress=advance))
    if GENERATED_TEXT_SOURCES & set(settings.recommender.sources):
        advance = progress("embedding the LLM's item texts", None) if progress else None
        model.set_params(generated_vectors=generated_vector_frame(store, settings, advance))
    model.fit(events, items if not items.empty else None, progress=progress)
    path = model.save(settings.effective_model_file)
    report = TrainReport(
        path=path,
        users=len(model.histories_),
        items=len(model.item_ids_),
        events=len(events),
        sources=model.active_sources_,
        ranker_groups=model.ranker_.groups_trained_ if model.ranker_ is not None else 0,
        seconds=time.perf_counter() - started,
        source_seconds=dict(model.source_seconds_),
    )
    if settings.registry.artifacts is None:
        return report
    return dataclasses.replace(report, version=publish_model(store, settings, report))


def publish_model(store: Store, settings: Settings, report: TrainReport) -> int:
    """Upload the trained model file to ``registry.artifacts`` and make it the version
    every replica serves; returns the version. Trainers racing each get their own
    version and file: the last to publish is served, none is corrupted."""
    artifacts = ArtifactStore(settings.registry.artifacts, settings.registry.storage_options)
    version = store.reserve_model_version(f"{socket.gethostname()}:{os.getpid()}")
    address, sha256, size = artifacts.put(report.path, f"model-{version:06d}.llmrec")
    summary = {
        "users": report.users,
        "items": report.items,
        "events": report.events,
        "sources": list(report.sources),
        "fit_seconds": round(report.seconds, 1),
    }
    store.publish_model_version(version, address, sha256, size, summary)
    return version


def load_trained(settings: Settings, store: Store, path: Path | None = None) -> Recommender | None:
    """The saved model (``path``, default the model file) with every user's history
    built from the store's events (and the configured ``recommender.repeat_tags``), or
    None when ``llmrec train`` has not been run. The model file holds no user state, so
    a user deleted from the store is gone from the model too, whenever the file was
    written."""
    path = path or settings.effective_model_file
    if not path.is_file():
        return None
    return _read(settings, path).set_histories(store.events_frame(), validate=False)


def _read(settings: Settings, path: Path) -> Recommender:
    """The saved model without users."""
    model = Recommender.load(path)
    # A serving policy, not something learned: the settings of now apply.
    return model.set_params(repeat_tags=tuple(settings.recommender.repeat_tags))


def load_version(
    settings: Settings, store: Store, version: dict, with_users: bool = True
) -> Recommender:
    """The published model ``version`` (a row of :meth:`Store.model_version`), fetched
    into ``effective_versions_dir`` and checked, with the store's users (or none: the
    caller gives it a served model's, :meth:`Recommender.take_histories`).
    :class:`~llmrec.errors.ModelFileError` names the version and what is wrong."""
    artifacts = ArtifactStore(settings.registry.artifacts or "", settings.registry.storage_options)
    number = version["version"]
    local = settings.effective_versions_dir / f"model-{number:06d}.llmrec"
    try:
        artifacts.fetch(version["artifact"], version["sha256"], local)
        model = _read(settings, local)
    except ModelFileError as exc:
        raise ModelFileError(f"model version {number} ({exc.path})", exc.problem) from None
    return model.set_histories(store.events_frame(), validate=False) if with_users else model

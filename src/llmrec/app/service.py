"""The one place that answers: the CLI, the Python API and the HTTP service ask the same
questions of :class:`Service` and get the same answers.

It holds the served model (:class:`~llmrec.app.state.ModelState`: load, swap, retrain,
the read-write lock) and the store, and owns what used to sit in the HTTP handlers: who
gets which list (the model for a user with a history; stated interests, then friends'
tastes, for a newcomer; popular items otherwise), similar items, text search, profiles,
forgetting a user, and applying writes to the model after the store has them. What it
returns is plain data (items as dicts with titles), ready for JSON or a table.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from llmrec.app.experiments import Experiments
from llmrec.app.reranking import LLMReranking
from llmrec.app.state import ModelState
from llmrec.config import Settings
from llmrec.data.readers import Rejection
from llmrec.data.records import RecordKind
from llmrec.data.validate import validate_frame, validate_frames
from llmrec.errors import LlmrecError, UnknownIdError
from llmrec.experiments import Experiment, Variant, team_draft
from llmrec.explain import explain
from llmrec.presentation import distinct_titles
from llmrec.rank.filters import item_filters
from llmrec.recommender import Recommender
from llmrec.retrieve.index import VectorIndex
from llmrec.store import Store
from llmrec.store.store import WriteResult

PERSONAL_WEIGHT = 0.3  # how far a search leans to the user's taste
INTERLEAVED = "interleaved"  # the variant recorded for a list drafted from both variants


class NotReadyError(LlmrecError):
    """No model to answer with yet (``llmrec train``), or it lacks what the question needs."""


@dataclass(frozen=True, slots=True)
class UserList:
    """A user's list: ``strategy`` says where it came from ("model", "interests",
    "friends" or "popular"); each item a dict: item_id, title, description,
    generated_description, score, rank, sources (and reasons when explained)."""

    user_id: str
    strategy: str
    items: list[dict]
    experiment: str | None = None  # the running experiment that served it, its variant
    variant: str | None = None  # ("interleaved": both variants drafted into one list)
    request_id: str | None = None  # the impression's id


@dataclass(frozen=True, slots=True)
class _Ask:
    """What a list request asks besides the user and k (see :meth:`Service.for_user`)."""

    diversity: float | None
    filters: dict[str, object]
    interests: str | None
    explain_items: bool
    candidates: list[str] | None
    exclude: list[str] | None


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    events: int  # items in the user's history
    keywords: list[tuple[str, float]]
    summary: str


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """One turn of a conversation: ``fallback`` when no usable parse (raw-text search),
    ``parse`` how the request was understood, items with the reason each was chosen."""

    conversation_id: str
    fallback: bool
    parse: dict
    items: list[dict]


@dataclass(frozen=True, slots=True)
class Written:
    """What a write did: rows received, stored, rejected (index in the batch, reason)."""

    received: int
    stored: int
    rejected: list[tuple[int, str]]
    replayed: bool = False


class Service:
    """Answers over the store and the model ``state`` serves (see the module docstring).

    ``Service.open(settings, store)`` loads the trained model (a CLI command or a script);
    the HTTP service builds its own :class:`ModelState` and loads it in its lifespan.
    """

    def __init__(self, settings: Settings, store: Store, state: ModelState | None = None) -> None:
        self.settings = settings
        self.store = store
        self.state = state if state is not None else ModelState(settings, store)
        self.experiments = Experiments(store, settings)
        self.reranking = LLMReranking(settings.llm_rerank, self.state, store)
        self._texts: tuple[Recommender | None, tuple] = (None, ())
        self._generated: tuple[float | None, dict[str, str]] = (None, {})
        self._presenting = threading.Lock()
        # the model's approximate item index (large catalogues): (model, index or None
        # while it is built)
        self._index: tuple[Recommender | None, VectorIndex | None] = (None, None)
        self._indexing = threading.Lock()
        self._index_builder: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, store: Store) -> Service:
        """A service over the trained model (``llmrec train``), without the background
        ranking of lists a long-running service does."""
        service = cls(settings, store)
        service.state.load(warm=False)
        return service

    def close(self) -> None:
        self.experiments.close()
        self.reranking.close()
        self.state.close()

    def model(self) -> Recommender:
        model = self.state.model
        if model is None:
            raise NotReadyError("no model yet: run `llmrec train` or POST /admin/retrain")
        return model

    # -- lists ---------------------------------------------------------------------------

    def kept_list(
        self, user_id: str, k: int = 10, diversity: float | None = None
    ) -> UserList | None:
        """A known user's list from the kept ranked lists, or None (then :meth:`for_user`).
        Never waits: None too while a write holds or waits for the model, and when a
        running experiment serves this user something else than the model's own list."""
        rec = self.model()
        running = self._experiment_of(user_id)
        variant = running.variant_of(user_id) if running is not None else None
        if running is not None and (running.kind != "ab" or not variant.plain_model):
            return None
        with self.state.lock.reading_if_free() as free:
            kept = free and rec.knows_user(user_id) and not self._reranks(rec, user_id)
            top = rec.kept_top(user_id, k, diversity) if kept else None
            if top is None:
                return None
            items = self._titled(
                rec, top.items.tolist(), top.scores.tolist(), rec.source_labels(top.sources)
            )
        found = UserList(user_id, "model", items)
        return found if running is None else self._recorded(running, variant.name, found)

    def for_user(
        self,
        user_id: str,
        k: int = 10,
        *,
        diversity: float | None = None,
        filters: dict[str, object] | None = None,
        interests: str | None = None,
        explain_items: bool = False,
        candidates: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> UserList:
        """Top ``k`` for a user, seen items left out (but repeat items). A user without a
        history gets the items closest to their stated interests (``interests`` or the
        store's user attributes), else to their friends' tastes, else the popular ones.
        ``filters``, ``candidates`` and ``exclude`` as :meth:`Recommender.recommend`'s (a
        wrong filter raises :class:`~llmrec.rank.filters.FilterError`); ``explain_items``
        adds each item's reasons. While an experiment runs, the user's variant serves
        the list (interleaving: both variants, drafted into one) and the list is
        recorded as an impression; ``experiment``, ``variant`` and ``request_id`` say so."""
        rec = self.model()
        filters = {name: value for name, value in (filters or {}).items() if value is not None}
        item_filters(filters)
        ask = _Ask(diversity, filters, interests, explain_items, candidates, exclude)
        running = self._experiment_of(user_id)
        if running is None:
            with self.state.lock.reading():
                if not self._reranks(rec, user_id):
                    return self._list(rec, user_id, k, ask)
                depth = max(k, self.settings.llm_rerank.candidates)
                found = self._list(rec, user_id, depth, ask)
                history = self._history_titles(rec, user_id)
            # the model's answer takes seconds: asked without holding the model's lock
            return replace(found, items=self.reranking.reorder(user_id, history, found.items)[:k])
        with self.state.lock.reading():
            if running.kind == "ab":
                variant = running.variant_of(user_id)
                found = self._variant_list(rec, variant, user_id, k, ask)
                return self._recorded(running, variant.name, found)
            first, second = (self._variant_list(rec, v, user_id, k, ask) for v in running.variants)
        ids, teams = team_draft([i["item_id"] for i in first.items],
                                [i["item_id"] for i in second.items], k,
                                np.random.default_rng())  # fmt: skip
        by_id = {i["item_id"]: i for i in [*second.items, *first.items]}
        items = [by_id[i] | {"rank": rank} for rank, i in enumerate(ids, 1)]
        return self._recorded(running, INTERLEAVED, UserList(user_id, first.strategy, items), teams)

    def create_experiment(self, spec: dict, start: bool = True) -> Experiment:
        """Create an experiment (see :class:`~llmrec.app.experiments.Experiments`); a
        variant's model version must be able to serve the served model's users."""
        return self.experiments.create(spec, start=start, served=self.state.model)

    def _experiment_of(self, user_id: str) -> Experiment | None:
        """The running experiment if ``user_id`` is in it (its traffic share)."""
        running = self.experiments.running()
        return running if running is not None and running.includes(user_id) else None

    def _list(self, rec: Recommender, user_id: str, k: int, ask: _Ask) -> UserList:
        """The list :meth:`for_user` describes, outside experiments (the lock held)."""
        if not rec.knows_user(user_id):
            vector, strategy = self._newcomer_taste(rec, user_id, ask.interests)
            if vector is not None:
                allowed = rec.item_mask(ask.candidates, ask.filters or None)
                found = _by_vector(rec, vector, k, allowed, set(ask.exclude or ()),
                                   self._item_index(rec))  # fmt: skip
                return UserList(user_id, strategy, self._framed(rec, found))
        frame = rec.recommend([user_id], k=k, filters=ask.filters or None,
                              diversity=ask.diversity, candidates=ask.candidates,
                              exclude=ask.exclude)  # fmt: skip
        items = self._framed(rec, frame)
        known = rec.knows_user(user_id)
        if ask.explain_items and known:
            for item in items:
                item["reasons"] = _reasons(rec, user_id, item["item_id"])
        return UserList(user_id, "model" if known else "popular", items)

    def _reranks(self, rec: Recommender, user_id: str) -> bool:
        """Whether the LLM re-orders this user's list: on, and a short known history."""
        rerank = self.settings.llm_rerank
        if not rerank.enabled or not rec.knows_user(user_id):
            return False
        return len(rec.histories_.items_of(str(user_id))) <= rerank.max_history

    def _history_titles(self, rec: Recommender, user_id: str) -> list[str]:
        _, titles, _ = self._item_text(rec)
        return [titles[c] for c in rec.histories_.items_of(str(user_id))]

    def _variant_list(
        self, rec: Recommender, variant: Variant, user_id: str, k: int, ask: _Ask
    ) -> UserList:
        if variant.strategy == "popular":
            frame = rec.popular_items(user_id, k, ask.candidates, ask.filters or None, ask.exclude)
            return UserList(user_id, "popular", self._framed(rec, frame))
        if variant.diversity is not None:
            ask = replace(ask, diversity=variant.diversity)
        return self._list(self.experiments.model_for(variant, rec), user_id, k, ask)

    def _recorded(
        self, running: Experiment, variant: str, found: UserList, teams: list[int] | None = None
    ) -> UserList:
        items = [i["item_id"] for i in found.items]
        request_id = self.experiments.record(running, variant, found.user_id, items, teams)
        return replace(found, experiment=running.name, variant=variant, request_id=request_id)

    def _newcomer_taste(
        self, rec: Recommender, user_id: str, interests: str | None
    ) -> tuple[np.ndarray | None, str]:
        """The text-space vector a user without history is matched by, and its name."""
        if rec.vectors_ is None:
            return None, "popular"
        stated = interests or _stated_interests(self.store, user_id)
        if stated:
            return self.state.encode(stated), "interests"
        tastes = [rec.taste(friend)[0] for friend in self.store.friends_of(user_id)]
        tastes = [t for t in tastes if t is not None and np.linalg.norm(t) > 0]
        if tastes:
            mean = np.mean(tastes, axis=0)
            return (mean / np.linalg.norm(mean)).astype(np.float32), "friends"
        return None, "popular"

    def similar(
        self,
        item_id: str,
        k: int = 10,
        candidates: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> list[dict]:
        """Items most like ``item_id`` (the model's item neighbours and text), only among
        ``candidates`` and never ``exclude`` when given."""
        rec = self.model()
        with self.state.lock.reading():
            # UnknownIdError for an unknown item_id
            frame = rec.similar_items([item_id], k=k, candidates=candidates, exclude=exclude)
            frame = frame.rename(columns={"item_id": "of", "similar_item_id": "item_id"})
            return self._framed(rec, frame)

    def search(
        self,
        query: str,
        k: int = 10,
        user_id: str | None = None,
        candidates: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> list[dict]:
        """Items whose text is closest to ``query`` (any language the encoder reads),
        leaning to a known user's taste and leaving out their items; only among
        ``candidates`` and never ``exclude`` when given."""
        if not query or not query.strip():
            raise ValueError("the search query is empty")
        rec = self.model()
        if rec.vectors_ is None:
            raise NotReadyError("the model has no item text vectors to search")
        vector = self.state.encode(query)
        with self.state.lock.reading():
            seen: set[str] = set()
            if user_id is not None:
                taste, seen = rec.taste(user_id)
                if taste is not None:
                    vector = vector + PERSONAL_WEIGHT * taste
            allowed = rec.item_mask(candidates)
            found = _by_vector(rec, vector, k, allowed, seen | set(exclude or ()),
                               self._item_index(rec))  # fmt: skip
            return self._framed(rec, found)

    def chat(
        self,
        message: str,
        conversation_id: str | None = None,
        user_id: str | None = None,
        k: int = 10,
    ) -> ChatAnswer:
        """A request in a person's own words; give the answer's ``conversation_id`` back
        to refine it ("not that one", "more recent ones")."""
        if self.model().vectors_ is None:
            raise NotReadyError("the model has no item text vectors to search")
        if conversation_id is not None and conversation_id not in self.state.conversations:
            raise UnknownIdError(f"unknown conversation id: {conversation_id}")
        conversation_id, session = self.state.conversation(conversation_id, user_id)
        session.k = k
        with self.state.chat_lock:
            turn = session.ask(message)
        found = turn.results
        titles = distinct_titles(list(found["title"]), list(found["item_id"]))
        items = [
            {"item_id": r.item_id, "title": title, "score": float(r.score), "rank": rank,
             "reason": r.reason}
            for rank, (r, title) in enumerate(
                zip(found.itertuples(index=False), titles, strict=True), start=1
            )
        ]  # fmt: skip
        return ChatAnswer(conversation_id, turn.fallback, turn.log(), items)

    def profile(self, user_id: str, top: int = 10) -> Profile:
        """Interest keywords: the LLM's extraction when ``llmrec enrich users`` ran, else
        the tags of the user's items weighted by how often they occur."""
        rec = self.model()
        with self.state.lock.reading():
            sequence = rec.histories_.items_of(user_id)
            count = len(sequence)
            mine = self.store.user_interests_of(user_id)
            if len(mine):
                keywords = [(str(k), float(w)) for k, w in mine["keywords"].iloc[0]][:top]
                return Profile(user_id, count, keywords, _text(mine["summary"].iloc[0]))
            weights: dict[str, float] = {}
            if count and "tags" in rec.items_.columns:
                for tags in rec.items_["tags"].iloc[sequence]:
                    for tag in tags if isinstance(tags, list) else []:
                        weights[tag] = weights.get(tag, 0.0) + 1.0 / count
        ordered = sorted(weights.items(), key=lambda kv: -kv[1])[:top]
        return Profile(user_id, count, ordered, "")

    # -- writes --------------------------------------------------------------------------

    def forget(self, user_id: str) -> dict[str, int]:
        """Forget a user now: their rows in the store and their history in the model
        (what the model learned from them goes at the next retrain). Returns the rows
        removed per table; :class:`UnknownIdError` when nothing of theirs was held."""
        removed = self.store.delete_user(user_id)
        known = self.state.model is not None and self.state.model.knows_user(user_id)
        if not any(removed.values()) and not known:
            raise UnknownIdError(f"unknown user id: {user_id}")
        self.apply_forget(user_id)
        return removed

    def apply_forget(self, user_id: str) -> None:
        """Forget a user the store has forgotten in the served model (their kept list
        included)."""
        self.state.apply(lambda m: m.forget(user_id) if user_id in m.histories_.user_ids else None)

    def record_events(
        self, frames: Sequence[pd.DataFrame], receipts: Sequence[str | None]
    ) -> list[tuple[Written, int]]:
        """Validate and store batches of events in one transaction (a receipt makes a
        batch's retry a no-op), then apply the new ones to the model. Returns, per batch,
        what was written and how many events were new."""
        checked = validate_frames(list(frames), RecordKind.EVENTS, "events", self.settings.ingest)
        results = self.store.add_event_groups([good for good, _ in checked], list(receipts))
        new = [good for (good, _), r in zip(checked, results, strict=True) if not r.replayed]
        if new:
            self.apply_events(pd.concat(new, ignore_index=True))
        return [
            (_written(len(frame), result, bad), 0 if result.replayed else result.written)
            for frame, (_, bad), result in zip(frames, checked, results, strict=True)
        ]

    def add_items(self, frame: pd.DataFrame) -> Written:
        """Insert or update items; a new item is recommendable by content at once."""
        good, bad = validate_frame(frame, RecordKind.ITEMS, "items", self.settings.ingest)
        result = self.store.upsert_items(good) if len(good) else None
        if len(good):
            self.apply_items(good)
        return _written(len(frame), result, bad)

    def apply_events(self, events: pd.DataFrame) -> None:
        """Apply stored events to the served model (users' histories and kept lists);
        events without an item, or of an item the model does not hold, are left out.
        Applying an event twice changes nothing."""
        with_items = events[events["item_id"].notna()]
        known = self.state.model.item_ids_ if self.state.model is not None else None
        if known is not None and len(with_items):
            # get_indexer reuses the index's hash table; Series.isin rebuilt it for
            # every request (120 ms at 100k items)
            ids = pd.Index(with_items["item_id"].astype(str))
            with_items = with_items[known.get_indexer(ids) >= 0]
        if len(with_items):
            self.state.apply(lambda m: m.update(with_items, validate=False))

    def apply_items(self, items: pd.DataFrame) -> None:
        """Apply stored items (new ones, changed ones) to the served model: a new item is
        recommendable by content at once (its text vector from the embedding cache)."""
        model = self.state.model
        vectors = self.state.item_vectors(items) if model and model.vectors_ is not None else None
        self.state.apply(lambda m: self._add_items(m, items, vectors))

    def resync(self) -> None:
        """Rebuild what the served model keeps of the store — every user's history (kept
        lists dropped), items it lacks and the model version it serves — after changes it
        may not have been told of."""
        if self.settings.registry.artifacts:
            self.state.follow()
        if self.state.model is None:
            return
        items = self.store.items_frame()
        if len(items):
            new = items[self.model().item_ids_.get_indexer(items["item_id"].astype(str)) < 0]
            if len(new):
                self.apply_items(new)
        events = self.store.events_frame()
        self.state.apply(lambda m: m.set_histories(events, validate=False))

    def add_users(self, frame: pd.DataFrame) -> Written:
        """Insert or update users (stated ``interests`` in their attributes drive a new
        user's first lists)."""
        good, bad = validate_frame(frame, RecordKind.USERS, "users", self.settings.ingest)
        result = self.store.upsert_users(good) if len(good) else None
        return _written(len(frame), result, bad)

    def _add_items(self, rec: Recommender, items: pd.DataFrame, vectors) -> None:
        before = len(rec.item_ids_)
        try:
            rec.add_items(items, vectors)
        finally:  # even half-done, the catalogue may have changed
            self._texts = (None, ())
            with self._indexing:
                model, index = self._index
                if model is rec and index is not None and rec.vectors_ is not None:
                    index.add(rec.item_ids_[before:].tolist(), rec.vectors_[before:])
                elif model is rec:  # still being built from the old catalogue: again
                    self._index = (None, None)

    # -- the approximate index -------------------------------------------------------------

    def _item_index(self, rec: Recommender) -> VectorIndex | None:
        """The HNSW index of the model's item vectors once the catalogue has
        ``serve.ann_threshold`` items and the index is built (in the background, started
        by the first call); None means exact search."""
        threshold = self.settings.serve.ann_threshold
        if rec.vectors_ is None or len(rec.item_ids_) < threshold:
            return None
        with self._indexing:
            model, index = self._index
            if model is rec:
                return index
            self._index = (rec, None)
            self._index_builder = threading.Thread(
                target=self._build_index, args=(rec, threshold), name="ann-index", daemon=True
            )
            self._index_builder.start()
        return None

    def _build_index(self, rec: Recommender, threshold: int) -> None:
        with self.state.lock.reading():  # the catalogue as one write left it
            ids, vectors = rec.item_ids_.tolist(), rec.vectors_
        index = VectorIndex(ann_threshold=threshold).fit(ids, vectors)
        with self._indexing:
            if self._index[0] is rec and len(index.ids_) == len(rec.item_ids_):
                self._index = (rec, index)
            elif self._index[0] is rec:  # items were added meanwhile: build again
                self._index = (None, None)

    def wait_for_index(self, timeout: float = 600.0) -> bool:
        """Block until this service's index is built, if one is being built (for tools
        and tests); whether one is ready."""
        if self._index_builder is not None:
            self._index_builder.join(timeout)
        return self._index[1] is not None

    # -- presentation --------------------------------------------------------------------

    def _framed(self, rec: Recommender, frame: pd.DataFrame) -> list[dict]:
        columns = rec.item_ids_.get_indexer(frame["item_id"].astype(str)).tolist()
        sources = frame["sources"] if "sources" in frame.columns else [""] * len(frame)
        return self._titled(rec, columns, frame["score"].tolist(), list(sources))

    def _titled(
        self,
        rec: Recommender,
        columns: Sequence[int],
        scores: Sequence[float],
        sources: Sequence[str],
    ) -> list[dict]:
        """A list's items (the model's item columns) as dicts, ranked as given: plain
        dicts, since a pydantic model per item cost more than answering from a kept list."""
        generated = self._generated_descriptions()
        ids, titles, descriptions = self._item_text(rec)
        shown = distinct_titles([titles[c] for c in columns], [ids[c] for c in columns])
        return [
            {
                "item_id": ids[c],
                "title": title,
                "description": descriptions[c],
                "generated_description": generated.get(ids[c]),
                "score": float(score) if np.isfinite(score) else 0.0,
                "rank": rank,
                "sources": [x for x in source.split(",") if x],
            }
            for rank, (c, title, score, source) in enumerate(
                zip(columns, shown, scores, sources, strict=True), start=1
            )
        ]

    def _item_text(self, rec: Recommender) -> tuple[list[str], list[str], list[str]]:
        """The model's item ids, titles and descriptions by item column, as Python lists:
        looking a list's ten items up in the catalogue frame (Arrow strings) cost more
        than the rest of answering from a kept list. Made once per model and catalogue."""
        model, text = self._texts
        if model is not rec:
            at = rec.items_.index.get_indexer(rec.item_ids_)
            found = at >= 0
            columns = [rec.item_ids_.tolist()]
            for column in ("title", "description"):
                if column not in rec.items_.columns:
                    columns.append([""] * len(found))
                    continue
                values = rec.items_[column].take(np.where(found, at, 0)).tolist()
                columns.append([_text(v) if f else "" for v, f in zip(values, found, strict=True)])
            text = tuple(columns)
            self._texts = (rec, text)
        return text

    def _generated_descriptions(self) -> dict[str, str]:
        """The LLM's descriptions, read once per model load (they change with `enrich`)."""
        loaded_at, texts = self._generated
        if loaded_at != self.state.loaded_at:
            with self._presenting:
                frame = self.store.item_texts_frame()
                usable = frame[frame["verdict"] != "rejected"] if len(frame) else frame
                texts = dict(
                    zip(usable.get("item_id", []), usable.get("description", []), strict=True)
                )
                self._generated = (self.state.loaded_at, texts)
        return texts


def _by_vector(
    rec: Recommender,
    vector: np.ndarray,
    k: int,
    allowed: np.ndarray | None,
    seen: set[str],
    index: VectorIndex | None = None,
) -> pd.DataFrame:
    """Items by cosine to a text-space vector among the ``allowed`` ones (a mask over the
    model's items; None: all), the ``seen`` ones (ids) left out: through the approximate
    ``index`` when given, else exactly. Exclusions belong in ``seen``: as a mask they
    would hand the index every other id."""
    if index is not None:
        only = rec.item_ids_[np.flatnonzero(allowed)].tolist() if allowed is not None else None
        found = index.search(vector, k, exclude=[seen], allowed=only)
        return pd.DataFrame({"item_id": found.ids[0], "score": found.scores[0], "sources": "text"})
    scores = rec.vectors_ @ vector
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    if seen:
        cols = rec.item_ids_.get_indexer(list(seen))
        scores[cols[cols >= 0]] = -np.inf  # an unknown id (-1) is no item, not the last
    top = np.argsort(-scores, kind="stable")[:k]
    top = top[np.isfinite(scores[top])]
    return pd.DataFrame({"item_id": rec.item_ids_[top], "score": scores[top], "sources": "text"})


def _reasons(rec: Recommender, user_id: str, item_id: str) -> dict:
    why = explain(rec, user_id, item_id)
    return {
        "sources": why.sources,
        "history": [asdict(h) for h in why.history],
        "keywords": why.keywords,
        "features": [asdict(f) for f in why.features],
    }


def _stated_interests(store: Store, user_id: str) -> str | None:
    stated = (store.user_attributes(user_id) or {}).get("interests")
    return stated if isinstance(stated, str) and stated.strip() else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _written(received: int, result: WriteResult | None, bad: list[Rejection]) -> Written:
    return Written(
        received=received,
        stored=result.written if result is not None else 0,
        rejected=[(r.line - 1, r.reason) for r in bad],
        replayed=result.replayed if result is not None else False,
    )

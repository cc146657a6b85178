"""The served model and everything that changes it (the CLI, the Python API and the HTTP
service share it through :class:`llmrec.app.service.Service`).

A read-write lock orders reads and writes of the model: recommendations run side by
side (numpy, torch and LightGBM release the GIL, so two cores serve two at once), a
change waits for the reads in progress and goes before new ones, so an event applied by
``POST /events`` is visible to the next recommendation. A retrain, or a model version
published elsewhere, is loaded in a background thread on a snapshot of the store; what
arrives meanwhile is applied to the live model and also recorded, then replayed on the
new model before it replaces the old one under the lock — serving never stops and never
sees a half-loaded model.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from llmrec.chat import Catalogue, ChatSession
from llmrec.config import Settings
from llmrec.embed import load_encoder
from llmrec.embed.encoders import TextEncoder
from llmrec.embed.vectors import embed_items
from llmrec.errors import ModelFileError
from llmrec.llm import load_llm
from llmrec.llm.base import LLM
from llmrec.llm.cache import CachedLLM
from llmrec.recommender import Recommender
from llmrec.store import Store
from llmrec.training import load_trained, load_version, train_from_store

_log = logging.getLogger("llmrec.serve")

MAX_CONVERSATIONS = 1_000


class ReadWriteLock:
    """Up to ``max_readers`` readers at once, or one writer; a waiting writer goes before
    new readers (so a stream of reads cannot starve an event). Not re-entrant.

    The reader cap is the number of cores: more concurrent recommendations than cores
    only thrash (32 clients without it: 9 requests/s instead of 54)."""

    def __init__(self, max_readers: int | None = None) -> None:
        self.max_readers = max_readers or len(os.sched_getaffinity(0))
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(
                lambda: (
                    not self._writing
                    and not self._writers_waiting
                    and self._readers < self.max_readers
                )
            )
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def reading_if_free(self) -> Iterator[bool]:
        """Read now if no writer holds or waits for the lock (yields True), else yield
        False at once. For short reads on the event loop, which must not block: they do
        not count against ``max_readers``, which is there for scoring threads."""
        with self._condition:
            free = not self._writing and not self._writers_waiting
            self._readers += free
        try:
            yield free
        finally:
            if free:
                with self._condition:
                    self._readers -= 1
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            self._condition.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


class ModelState:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.model: Recommender | None = None
        self.loaded_at: float | None = None
        self.lock = ReadWriteLock()  # the model and the changes pending for the next one
        self._loading = threading.Lock()  # lazy encoder / LLM loading, the catalogue cache
        self._encoding = threading.Lock()
        self.training: threading.Thread | None = None
        self.last_error: str | None = None
        self.fallback: str | None = None  # what is served instead of a trained model, and why
        self.version: int | None = None  # the published model version served (registry)
        # changes applied since each model being loaded read the store, replayed on it
        self._recordings: list[list[Callable[[Recommender], None]]] = []
        self._following = threading.Lock()
        self._encoder: TextEncoder | None = None
        self._llm: LLM | None = None
        self.chat_lock = threading.Lock()
        self.conversations: OrderedDict[str, ChatSession] = OrderedDict()
        self._catalogue: tuple[tuple, Catalogue] | None = None
        self.warming: threading.Thread | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    def load(self, warm: bool = True) -> bool:
        """Serve the saved model. One that cannot be used (corrupt, foreign, of an older
        llmrec) is refused with one logged line, and popular items are served from the
        store's events until a retrain; ``/readyz`` says so. ``warm``: rank the most
        recently active users' lists ahead, in the background (a service; not a CLI
        command that answers one question).

        With ``registry.artifacts`` set, the model is the published version the store
        names (:meth:`follow` keeps it so), else the model file. Changes applied while
        the store is read (another replica's events) are replayed on the loaded model,
        as during a retrain."""
        recorded = self._record()
        version = None
        try:
            current = self.store.model_version() if self.settings.registry.artifacts else None
            if current is not None:
                version = current["version"]
                model = load_version(self.settings, self.store, current)
            else:
                model = load_trained(self.settings, self.store)
        except ModelFileError as exc:
            self.last_error = str(exc)
            _log.error("llmrec: %s; serving popular items until a retrain", exc)
            model, version = self._popularity_fallback(), None
            if model is not None:
                self.fallback = f"popular items: the model file cannot be used ({exc})"
        except BaseException:
            self._stop_recording(recorded)
            raise
        if model is None:
            self._stop_recording(recorded)
            return False
        self._swap(model, warm, recorded, version)
        return True

    def follow(self) -> None:
        """Serve the model version the store names now (another process published or
        rolled back), loaded in the background; serving goes on meanwhile. A version
        that cannot be used (artifact missing, checksum wrong) is refused with one
        logged line and ``last_error``, and the served model stays."""
        threading.Thread(target=self._follow, name="model-version", daemon=True).start()

    def _follow(self) -> None:
        with self._following:  # one at a time: each loads whatever is current then
            current = self.store.model_version()
            if current is None or current["version"] == self.version:
                return
            recorded = self._record()
            started = time.perf_counter()
            try:
                model = load_version(self.settings, self.store, current, with_users=False)
                loaded = time.perf_counter()
                # the served model's users, up to date: no read of every stored event
                with self.lock.reading():
                    took = self.model is not None and model.take_histories(self.model)
                if not took:
                    model.set_histories(self.store.events_frame(), validate=False)
            except ModelFileError as exc:
                self._stop_recording(recorded)
                self.last_error = str(exc)
                _log.error("llmrec: %s; still serving version %s", exc, self.version)
                return
            except BaseException:
                self._stop_recording(recorded)
                raise
            users = time.perf_counter()
            self._swap(model, recorded=recorded, version=current["version"])
            self.fallback = None
            _log.info(
                "llmrec: serving model version %s (fetched and read in %.2f s, users %s in "
                "%.2f s, swapped in %.2f s)", current["version"], loaded - started,
                "taken" if took else "read from the store", users - loaded,
                time.perf_counter() - users,
            )  # fmt: skip

    def _record(self) -> list[Callable[[Recommender], None]]:
        """Start recording the changes applied from now on, for a model being loaded."""
        recorded: list[Callable[[Recommender], None]] = []
        with self.lock.writing():
            self._recordings.append(recorded)
        return recorded

    def _stop_recording(self, recorded: list) -> None:
        with self.lock.writing():
            self._recordings = [r for r in self._recordings if r is not recorded]

    def _popularity_fallback(self) -> Recommender | None:
        events = self.store.events_frame()
        if events.empty:
            return None
        items = self.store.items_frame()
        model = Recommender(sources=("popular",), ranker=False,
                            event_weights=self.settings.event_weights,
                            repeat_tags=tuple(self.settings.recommender.repeat_tags))  # fmt: skip
        return model.fit(events, items if not items.empty else None)

    def _swap(
        self,
        model: Recommender,
        warm: bool = True,
        recorded: list[Callable[[Recommender], None]] | None = None,
        version: int | None = None,
    ) -> None:
        """Serve ``model``, after replaying on it the changes ``recorded`` since it read
        the store."""
        model.set_params(list_cache_size=self.settings.serve.list_cache_users)
        with self.lock.writing():
            for change in recorded or ():
                change(model)
            self._recordings = [r for r in self._recordings if r is not recorded]
            self.model, self.loaded_at, self.version = model, time.time(), version
        wanted = min(self.settings.serve.warm_users, self.settings.serve.list_cache_users)
        if wanted and warm:
            self.warming = threading.Thread(
                target=self._warm, args=(model, wanted), name="warm-lists", daemon=True
            )
            self.warming.start()

    def _warm(self, model: Recommender, wanted: int, batch: int = 32) -> None:
        """Rank the ``wanted`` most recently active users' lists, a small batch per read
        lock so that writes wait little, unless another model is served meanwhile."""
        users = model.histories_.most_recent(wanted)
        for start in range(0, len(users), batch):
            with self.lock.reading():
                if self.model is not model or self._closed:
                    return
                model.recommend(users[start : start + batch], k=1)

    @property
    def lists_kept(self) -> int:
        return len(self.model.list_cache_) if self.model is not None else 0

    def retrain(self) -> bool:
        """Start a background retrain; False when one is already running."""
        with self.lock.writing():
            if self.training is not None and self.training.is_alive():
                return False
            recorded: list[Callable[[Recommender], None]] = []
            self._recordings.append(recorded)
            self.training = threading.Thread(
                target=self._train, args=(recorded,), name="retrain", daemon=True
            )
            self.training.start()
        return True

    def _train(self, recorded: list[Callable[[Recommender], None]]) -> None:
        """Fit, save (and publish, with a registry: the other replicas follow), serve."""
        try:
            report = train_from_store(self.store, self.settings)
            model = load_trained(self.settings, self.store, report.path)
            if model is not None:
                self._swap(model, recorded=recorded, version=report.version)
                self.fallback = None
            self.last_error = None
        except Exception as exc:  # reported by /readyz and the next retrain call
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._stop_recording(recorded)

    def close(self) -> None:
        self._closed = True
        if self._encoder is not None:
            self._encoder.close()
        if self._llm is not None:
            self._llm.close()

    # -- changes ---------------------------------------------------------------------

    def apply(self, change: Callable[[Recommender], None]) -> None:
        """Apply a change to the live model, and to the model being trained, if any."""
        with self.lock.writing():
            if self.model is not None:
                change(self.model)
            for recorded in self._recordings:
                recorded.append(change)

    @property
    def encoder(self) -> TextEncoder:
        with self._loading:
            if self._encoder is None:
                self._encoder = load_encoder(self.settings.embed)
            return self._encoder

    def item_vectors(self, items: pd.DataFrame) -> pd.DataFrame:
        """Text vectors of catalogue rows (cached in the store like ``llmrec embed``)."""
        vectors, _ = embed_items(self.store, self.encoder, self.settings.embed, items=items)
        return pd.DataFrame(vectors.vectors, index=vectors.item_ids)

    def encode(self, text: str) -> np.ndarray:
        encoder = self.encoder
        with self._encoding:  # one text at a time through the encoder
            return encoder.encode([text])[0]

    def llm(self) -> LLM:
        """The configured language model, loaded on first use."""
        with self._loading:
            if self._llm is None:
                self._llm = load_llm(self.settings.llm)
            return self._llm

    # -- chat ------------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        """The served items as chat searches them (rebuilt when the model or the
        catalogue changed)."""
        with self.lock.reading(), self._loading:
            model = self.model
            version = (id(model), len(model.item_ids_))
            if self._catalogue is None or self._catalogue[0] != version:
                items = model.items_.reset_index(names="item_id")
                vectors = pd.DataFrame(model.vectors_, index=model.item_ids_)
                self._catalogue = (version, Catalogue.from_frames(items, vectors))
            return self._catalogue[1]

    def conversation(
        self, conversation_id: str | None, user_id: str | None
    ) -> tuple[str, ChatSession]:
        """The conversation to continue, or a new one (the oldest of more than
        ``MAX_CONVERSATIONS`` is dropped)."""
        with self.chat_lock:
            if conversation_id in self.conversations:
                self.conversations.move_to_end(conversation_id)
                return conversation_id, self.conversations[conversation_id]
        llm = self.llm()
        taste, seen = None, set()
        if user_id is not None:
            with self.lock.reading():
                taste, seen = self.model.taste(user_id)
        session = ChatSession(self.catalogue(), self.encoder, CachedLLM(llm, self.store),
                              taste=taste, seen=seen, user_id=user_id)  # fmt: skip
        new_id = uuid.uuid4().hex
        with self.chat_lock:
            self.conversations[new_id] = session
            while len(self.conversations) > MAX_CONVERSATIONS:
                self.conversations.popitem(last=False)
        return new_id, session

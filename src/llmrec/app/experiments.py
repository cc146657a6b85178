"""Experiments as the service runs them: which one is running, each served list recorded as
an impression (in batches, off the request path), and the reports.

One experiment runs at a time: a list is served by one variant, and two experiments over
the same lists would each see the other's variants as noise. Every replica reads the
running experiment from the store (at most ``refresh_s`` old) and assigns users by the
experiment's salted hash, so a user sees the same variant on every replica.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
import uuid

from pydantic import ValidationError

from llmrec.config import Settings
from llmrec.errors import LlmrecError, StoreError, UnknownIdError
from llmrec.experiments import Experiment, Report, Variant, report
from llmrec.recommender import Recommender
from llmrec.store import Store
from llmrec.training import load_version

log = logging.getLogger(__name__)


class ExperimentError(LlmrecError):
    """An experiment spec that is not valid (the reason names the field)."""


class ExperimentConflictError(ExperimentError):
    """Not possible now: the name is taken, another experiment runs, or it is stopped."""


class UnknownExperimentError(ExperimentError, UnknownIdError):
    """No experiment of that name."""


class Experiments:
    """The store's experiments for one service; ``record`` queues an impression and a
    background thread writes them in batches of at most ``batch`` rows, at least every
    ``flush_s``; serving a list never waits for the record. Impressions not stored (the
    queue of ``max_queued`` full, the database away) are counted per experiment and the
    count is stored once the database answers again: the report says how many it misses."""

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        refresh_s: float = 2.0,
        batch: int = 500,
        flush_s: float = 0.5,
        max_queued: int = 100_000,
    ) -> None:
        self.store = store
        self.settings = settings
        self.refresh_s = refresh_s
        self.batch = batch
        self.flush_s = flush_s
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=max_queued)
        self._running: Experiment | None = None
        self._refresher: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._starting = threading.Lock()
        self._stopping = threading.Event()
        self._settled = threading.Condition()  # notified when queued rows are written
        self._pending = 0  # queued or being written
        self._lost: collections.Counter[str] = collections.Counter()  # not stored, not yet told
        self.written = 0
        # published versions the running experiment serves: version → (model, when its
        # users were last taken from the served model)
        self._versions: dict[int, tuple[Recommender, float]] = {}
        self._loading = threading.Lock()

    # -- what runs -------------------------------------------------------------------

    def running(self) -> Experiment | None:
        """The running experiment as last read from the store: read on the first call,
        then every ``refresh_s`` by a background thread, so that a request never waits
        for the database (lists are answered on the event loop)."""
        if self._refresher is None:
            with self._starting:
                if self._refresher is None:
                    self._refresh()
                    self._refresher = threading.Thread(target=self._refresh_loop, daemon=True,
                                                       name="llmrec-experiments")  # fmt: skip
                    self._refresher.start()
        return self._running

    def _refresh(self) -> None:
        try:
            rows = [r for r in self.store.experiments_list() if r["status"] == "running"]
        except StoreError:
            return  # the database is away: keep serving what was running
        running = Experiment.model_validate(rows[0]["spec"]) if rows else None
        self._running = running
        # a version no running variant serves need not stay in memory
        serving = {v.model_version for v in running.variants} if running else set()
        self._versions = {v: m for v, m in self._versions.items() if v in serving}

    def _refresh_loop(self) -> None:
        while not self._stopping.wait(self.refresh_s):
            self._refresh()

    def create(
        self, spec: dict, start: bool = True, served: Recommender | None = None
    ) -> Experiment:
        """Validate and record an experiment (running unless ``start`` is false);
        :class:`ExperimentError` naming what is wrong. A variant's ``model_version`` is
        loaded now: an unknown, missing or corrupt version is refused, and so is one that
        cannot share the users of the ``served`` model (when given)."""
        try:
            experiment = Experiment.model_validate(spec)
        except ValidationError as exc:
            raise ExperimentError(_problems(exc)) from None
        if self.store.experiment(experiment.name) is not None:
            raise ExperimentConflictError(f"an experiment named {experiment.name!r} exists")
        if start:
            self._none_running_but(experiment.name)
        for variant in experiment.variants:  # the slow check last: it loads each version
            if variant.model_version is not None:
                self._check_version(variant, served)
        try:
            self.store.create_experiment(experiment.name, experiment.model_dump(),
                                         "running" if start else "paused")  # fmt: skip
        except StoreError as exc:  # created meanwhile by another replica
            raise ExperimentConflictError(str(exc)) from None
        self._refresh()  # this replica at once; the others within refresh_s
        return experiment

    def set_status(self, name: str, status: str) -> None:
        """``running`` (resume), ``paused`` or ``stopped`` (final: the report stays)."""
        found = self._row(name)
        if found["status"] == "stopped" and status != "stopped":
            raise ExperimentConflictError(f"experiment {name!r} is stopped: it cannot run again")
        if status == "running":
            self._none_running_but(name)
        try:
            self.store.set_experiment_status(name, status)
        except ValueError as exc:
            raise ExperimentError(str(exc)) from None
        self._refresh()  # this replica at once; the others within refresh_s

    def listed(self) -> list[dict]:
        """Every experiment: name, kind, status, variants, created_at."""
        fields = ("kind", "variants", "window_s")
        return [
            {"name": r["name"], "status": r["status"], "created_at": r["created_at"]}
            | {f: r["spec"][f] for f in fields}
            for r in self.store.experiments_list()
        ]

    def report(self, name: str, event_weights: dict[str, float]) -> Report:
        """The experiment's report over what is stored now (queued impressions first)."""
        found = self._row(name)
        self.flush()
        experiment = Experiment.model_validate(found["spec"])
        shown = self.store.impressions_frame(name)
        since = float(shown["shown_at"].min()) - 1 if len(shown) else time.time()
        outcomes = self.store.events_of_users(shown["user_id"].unique().tolist(), since)
        return report(experiment, shown, outcomes, event_weights,
                      lost=self.store.lost_impressions(name))  # fmt: skip

    def model_for(self, variant: Variant, served: Recommender) -> Recommender:
        """The model that serves ``variant``: the ``served`` one, or its published
        version holding the served model's users (the same histories when the two
        catalogues are the same, else a copy taken again after ``refresh_s``)."""
        if variant.model_version is None:
            return served
        model, taken = self._versions.get(variant.model_version, (None, 0.0))
        if model is None:
            with self._loading:
                model, taken = self._versions.get(variant.model_version, (None, 0.0))
                if model is None:
                    model = self._load(variant)
        if model.histories_ is served.histories_:
            return model
        if model.item_ids_.equals(served.item_ids_):
            model.histories_ = served.histories_  # the served model's own, always current
        elif time.monotonic() - taken > self.refresh_s:
            if not model.take_histories(served):
                raise ExperimentError(f"variant {variant.name}: model version "
                                      f"{variant.model_version} cannot share the served "
                                      "model's users")  # fmt: skip
            taken = time.monotonic()
        self._versions[variant.model_version] = (model, taken)
        return model

    def _check_version(self, variant: Variant, served: Recommender | None) -> None:
        model = self._load(variant)
        if served is not None and not model.take_histories(served):
            raise ExperimentError(
                f"variant {variant.name}: model version {variant.model_version} reads events "
                "differently from the served model or knows items it does not: it cannot "
                "serve the same users"
            )
        self._versions[variant.model_version] = (model, time.monotonic())

    def _load(self, variant: Variant) -> Recommender:
        if self.settings is None:
            raise ExperimentError("model versions need the settings (registry.artifacts)")
        row = self.store.model_version(variant.model_version)
        if row is None:
            published = self.store.model_versions_frame()["version"].tolist() or "none"
            raise ExperimentError(f"variant {variant.name}: no published model version "
                                  f"{variant.model_version} (published: {published})")  # fmt: skip
        try:
            return load_version(self.settings, self.store, row, with_users=False)
        except LlmrecError as exc:
            raise ExperimentError(f"variant {variant.name}: {exc}") from None

    def _row(self, name: str) -> dict:
        found = self.store.experiment(name)
        if found is None:
            raise UnknownExperimentError(f"no experiment named {name!r} (llmrec experiments list)")
        return found

    def _none_running_but(self, name: str) -> None:
        others = [r["name"] for r in self.store.experiments_list()
                  if r["status"] == "running" and r["name"] != name]  # fmt: skip
        if others:
            raise ExperimentConflictError(
                f"experiment {others[0]!r} is running: pause or stop it first (one "
                "experiment runs at a time)"
            )

    # -- impressions ----------------------------------------------------------------

    def record(
        self,
        experiment: Experiment,
        variant: str,
        user_id: str,
        items: list[str],
        teams: list[int] | None = None,
    ) -> str:
        """Queue the impression of a served list; its request id (in the response)."""
        request_id = uuid.uuid4().hex
        row = {"experiment": experiment.name, "variant": variant, "user_id": user_id,
               "request_id": request_id, "items": items, "teams": teams,
               "shown_at": time.time()}  # fmt: skip
        self._start_writer()
        with self._settled:
            try:
                self._queue.put_nowait(row)
                self._pending += 1
            except queue.Full:
                self._lost[experiment.name] += 1
        return request_id

    def flush(self, timeout: float = 30.0) -> None:
        """Write every impression queued so far, the batch being written included, and
        the count of those lost (the report and shutdown call it)."""
        while rows := self._take(self.batch):
            self._write(rows)
        with self._settled:
            self._settled.wait_for(lambda: self._pending == 0, timeout=timeout)
        with contextlib.suppress(StoreError):  # still away: told with the next write
            self._tell_lost()

    @property
    def lost(self) -> int:
        """Impressions this process could not store and has not yet counted in the store."""
        return sum(self._lost.values())

    def _tell_lost(self) -> None:
        with self._settled:
            lost, self._lost = dict(self._lost), collections.Counter()
        try:
            self.store.add_lost_impressions(lost)
        except StoreError:
            with self._settled:
                self._lost.update(lost)
            raise

    def close(self) -> None:
        self._stopping.set()
        for thread in (self._writer, self._refresher):
            if thread is not None:
                thread.join(timeout=10)
        self.flush()

    def _start_writer(self) -> None:
        if self._writer is not None:
            return
        with self._starting:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, daemon=True,
                                                name="llmrec-impressions")  # fmt: skip
                self._writer.start()

    def _write_loop(self) -> None:
        while not self._stopping.is_set():
            rows = self._take(self.batch, wait=self.flush_s)
            if rows:
                self._write(rows)

    def _take(self, limit: int, wait: float = 0.0) -> list[dict]:
        rows = []
        deadline = time.monotonic() + wait
        while len(rows) < limit:
            remaining = deadline - time.monotonic()
            try:
                rows.append(self._queue.get(timeout=remaining) if remaining > 0
                            else self._queue.get_nowait())  # fmt: skip
            except queue.Empty:
                break
        return rows

    def _write(self, rows: list[dict]) -> None:
        try:
            self.written += self.store.add_impressions(rows)
        except StoreError as exc:
            # the database is away: these impressions are lost, the lists were served
            with self._settled:
                self._lost.update(row["experiment"] for row in rows)
            log.warning("%d impressions not stored: %s", len(rows), exc)
        else:
            with contextlib.suppress(StoreError):  # still away: told with the next write
                self._tell_lost()
        finally:
            with self._settled:
                self._pending -= len(rows)
                self._settled.notify_all()


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'experiment'}: {e['msg']}" for e in exc.errors()
    )

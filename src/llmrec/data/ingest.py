"""Ingestion: read a file in chunks, validate each chunk, store the good rows, quarantine
the bad ones (in the store and in a file under the llmrec home), and report what happened.

Each chunk is committed on its own, so an interrupted ingest keeps what it stored and a
rerun stores only what is missing (events are keyed by content, items and users by id).
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import TypeVar

import orjson
import pandas as pd

from llmrec.config import Settings
from llmrec.data.readers import Rejection, TableSpec, read_table
from llmrec.data.records import DEFAULT_EVENT_TYPE, RecordKind
from llmrec.data.validate import Validated, Validator
from llmrec.errors import LlmrecError
from llmrec.store import Store, WriteResult

# Files at least this large are parsed and validated in a worker process; below it the
# process start costs more than it saves.
WORKER_MIN_BYTES = 16 * 2**20
_WORKER_POLL_S = 1.0
_PR_SET_PDEATHSIG = 1
T = TypeVar("T")

# Called with (bytes done, bytes in all) after each chunk.
ProgressCallback = Callable[[int, int], None]
# Reshapes a chunk's frame before validation (public dataset formats use it).
FrameTransform = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(slots=True)
class IngestReport:
    """What one ingest of one file did."""

    source: str
    kind: RecordKind
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    quarantine_file: Path | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def ingest_file(
    store: Store,
    spec: TableSpec,
    kind: RecordKind,
    settings: Settings,
    *,
    default_event_type: str = DEFAULT_EVENT_TYPE,
    require_known_items: bool | None = None,
    transform: FrameTransform | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest one file of ``kind`` records into ``store``; see the module docstring."""
    started = time.perf_counter()
    source = str(spec.path)
    report = IngestReport(source=source, kind=kind)
    require = require_known_items
    if require is None:
        require = settings.ingest.require_known_items
    known_items = store.item_ids() if require and kind is RecordKind.EVENTS else None
    validator = Validator(kind, settings.ingest, known_items, default_event_type)
    quarantine = _QuarantineFile(spec.path, settings.home, settings.ingest.quarantine_beside_input)
    total_bytes = spec.path.stat().st_size if spec.path.exists() else 0

    def store_chunk(validated: Validated, rows_read: int, bytes_done: int) -> None:
        written = _write(store, kind, validated)
        if validated.rejections:
            store.add_quarantine(source, str(kind), validated.rejections)
            quarantine.write(validated.rejections)
        report.rows_read += rows_read
        report.stored += written.written
        report.duplicates += validated.duplicates + written.unchanged
        report.quarantined += len(validated.rejections)
        if progress is not None:
            progress(min(bytes_done, total_bytes), total_bytes)

    def validated_chunks() -> Iterator[tuple[Validated, int, int]]:
        checked = False
        limits = settings.ingest
        for chunk in read_table(
            spec,
            limits.chunk_rows,
            max_row_lines=limits.max_row_lines,
            max_field_chars=limits.max_text_length,
        ):
            if transform is not None and len(chunk.frame):
                chunk.frame = transform(chunk.frame)
            if not checked and len(chunk.frame.columns):
                validator.check_columns(list(chunk.frame.columns), source)
                checked = True
            rows_read = len(chunk.frame) + len(chunk.rejections)
            yield validator.validate(chunk), rows_read, chunk.bytes_done

    # Parsing and validation run in a worker process for large files (both cores busy);
    # a writer thread stores chunk k while the next one is received or parsed (the
    # database releases the GIL while it writes). At most one chunk waits on each side:
    # memory stays bounded, and chunks are committed in file order.
    big = total_bytes >= WORKER_MIN_BYTES and _can_fork()
    chunks = _in_worker(validated_chunks) if big else validated_chunks()
    pending: Future[None] | None = None
    with _few_gc_pauses(), ThreadPoolExecutor(1, thread_name_prefix="llmrec-ingest") as writer:
        try:
            for validated, rows_read, bytes_done in chunks:
                if pending is not None:
                    pending.result()
                pending = writer.submit(store_chunk, validated, rows_read, bytes_done)
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                pending.exception()  # the writer finishes (or fails) before the file closes
            if big:
                chunks.close()  # type: ignore[union-attr]  # stops the worker
            quarantine.close()
    report.quarantine_file = quarantine.path if report.quarantined else None
    report.seconds = time.perf_counter() - started
    return report


def _can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def _in_worker(produce: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Run the generator ``produce()`` in a forked process and yield what it yields.

    Fork (not spawn) lets the worker inherit the validator and any transform closure; the
    worker touches neither the store nor the terminal. Its exceptions are re-raised here.
    """
    context = mp.get_context("fork")
    queue = context.Queue(maxsize=1)
    worker = context.Process(target=_relay, args=(produce, queue), daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=_WORKER_POLL_S)
            except Empty:
                if not worker.is_alive():
                    raise LlmrecError(
                        f"the ingest worker stopped unexpectedly (exit code {worker.exitcode})"
                    ) from None
                continue
            if kind == "error":
                raise payload
            if kind == "done":
                return
            yield payload
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()


def _relay(produce: Callable[[], Iterator[T]], queue) -> None:
    _die_with_parent()
    try:
        for item in produce():
            queue.put(("item", item))
        queue.put(("done", None))
    except BaseException as exc:
        queue.put(("error", exc))


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (a ``kill -9`` of the ingest
    would otherwise leave it blocked on a full queue forever)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


@contextmanager
def _few_gc_pauses() -> Iterator[None]:
    """Ingest allocates millions of short-lived tuples; a generation-0 threshold of 700
    would trigger thousands of collections that find nothing (measured: ~30% of the time)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _write(store: Store, kind: RecordKind, validated: Validated) -> WriteResult:
    frame = validated.frame
    if frame.empty:
        return WriteResult(0, 0)
    if kind is RecordKind.EVENTS:
        return store.add_events(frame)
    if kind is RecordKind.ITEMS:
        return store.upsert_items(frame)
    if kind is RecordKind.USERS:
        return store.upsert_users(frame)
    return store.add_links(frame)


class _QuarantineFile:
    """The run's rejected rows as JSON Lines: under ``home``/quarantine by default (a tool
    does not write next to its inputs unless asked), or ``<input>.quarantine.jsonl``
    beside the input with ``beside_input`` where that folder is writable. Rewritten by
    each ingest of the input, so it lists that run's rejections."""

    def __init__(self, source: Path, home: Path, beside_input: bool = False) -> None:
        if beside_input and _writable(source.parent):
            self.path = source.parent / f"{source.name}.quarantine.jsonl"
        else:
            # The folder's hash keeps two inputs of the same name apart.
            folder = hashlib.sha256(str(source.resolve().parent).encode()).hexdigest()[:8]
            self.path = home / "quarantine" / f"{source.name}-{folder}.quarantine.jsonl"
        self._fh = None
        # A quarantine left by an earlier run of this input no longer describes it.
        self.path.unlink(missing_ok=True)

    def write(self, rejections: list[Rejection]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("wb")
        for r in rejections:
            self._fh.write(orjson.dumps({"line": r.line, "reason": r.reason, "raw": r.raw}))
            self._fh.write(b"\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _writable(folder: Path) -> bool:
    # Mode bits as well as access(): root may write anywhere, but a folder without write
    # bits (a shared, read-only copy of a dataset) is not ours to write into.
    try:
        return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False

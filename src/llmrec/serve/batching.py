"""Group commit: requests that arrive while a write is in progress are written together.

A write of events costs mostly fixed overhead — the vectorised validation, the commit, the
model's write lock — so concurrent requests share one: the first request writes at once;
those arriving meanwhile queue, and when it is done the oldest of them writes the whole
queue (up to ``max_group`` requests) for everyone. Each request still returns only after
its own rows are committed, and gets its own result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Job(Generic[T, R]):
    __slots__ = ("error", "finished", "item", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.wake = threading.Event()  # set when finished, or when it is to lead


class GroupCommit(Generic[T, R]):
    """``submit(item)`` returns ``process(group)[i]`` for the group its item joined;
    ``process`` must return one result per item, in order, and is never run twice at
    once. If it raises, every request of that group gets the exception."""

    def __init__(self, process: Callable[[Sequence[T]], Sequence[R]], max_group: int = 16):
        self.process = process
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Job[T, R]] = []
        self._busy = False
        self.groups = 0  # how many groups were written, for tests and metrics

    def submit(self, item: T) -> R:
        job: _Job[T, R] = _Job(item)
        with self._lock:
            self._queue.append(job)
            lead = not self._busy
            self._busy = True
        if not lead:
            job.wake.wait()
        if not job.finished:  # first in, or handed the lead: the job heads the queue
            self._run()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _run(self) -> None:
        with self._lock:
            group = self._queue[: self.max_group]
            del self._queue[: self.max_group]
        try:
            results = self.process([job.item for job in group])
            if len(results) != len(group):
                raise RuntimeError(f"{len(results)} results for a group of {len(group)}")
            for job, result in zip(group, results, strict=True):
                job.result = result
        except BaseException as exc:
            for job in group:
                job.error = exc
        finally:
            with self._lock:
                self.groups += 1
                for job in group:
                    job.finished = True
                    job.wake.set()
                if self._queue:
                    self._queue[0].wake.set()  # the oldest waiting request leads next
                else:
                    self._busy = False

"""Group commit: requests that arrive while a write is in progress are written together.

A write of events costs mostly fixed overhead — the vectorised validation, the commit, the
model's write lock — so concurrent requests share one: the first request writes at once;
those arriving meanwhile queue, and when it is done the oldest of them writes the whole
queue (up to ``max_group`` requests) for everyone. Each request still returns only after
its own rows are committed, and gets its own result.

Writers that came together tend to come back together (each sends its next batch when
its answer arrives), but one of them is always first: without waiting it would write
alone and the rest after it, paying the fixed cost twice. So a leader waits up to
``wait_s`` for as many requests as were about during the previous write (its group and
those that queued meanwhile: PostgreSQL's commit_delay and commit_siblings, adapted); a
lone writer had no company, so it never waits twice.
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

    def __init__(
        self,
        process: Callable[[Sequence[T]], Sequence[R]],
        max_group: int = 16,
        wait_s: float = 0.0,
    ) -> None:
        self.process = process
        self.max_group = max_group
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: list[_Job[T, R]] = []
        self._busy = False
        self._siblings = 1  # requests about during the last write
        self.groups = 0  # how many groups were written, for tests and metrics

    def submit(self, item: T) -> R:
        job: _Job[T, R] = _Job(item)
        with self._lock:
            self._queue.append(job)
            self._arrived.notify()
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
            expected = min(self.max_group, self._siblings)
            if self.wait_s > 0 and expected > 1:
                self._arrived.wait_for(lambda: len(self._queue) >= expected, self.wait_s)
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
                self._siblings = len(group) + len(self._queue)
                for job in group:
                    job.finished = True
                    job.wake.set()
                if self._queue:
                    self._queue[0].wake.set()  # the oldest waiting request leads next
                else:
                    self._busy = False

"""Group commit: concurrent requests share writes, each gets its own answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from llmrec.serve.batching import GroupCommit


def test_concurrent_requests_are_written_in_groups_with_their_own_results():
    written: list[list[int]] = []
    running = threading.Lock()

    def process(items):
        assert running.acquire(blocking=False), "two groups written at once"
        try:
            time.sleep(0.02)  # a commit's worth of work: others queue meanwhile
            written.append(list(items))
            return [item * 10 for item in items]
        finally:
            running.release()

    commit = GroupCommit(process, max_group=8)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(commit.submit, range(64)))
    assert results == [i * 10 for i in range(64)]
    assert sorted(i for group in written for i in group) == list(range(64))
    assert commit.groups == len(written) < 64  # shared writes
    assert max(len(group) for group in written) <= 8
    assert commit.submit(7) == 70  # alone, it writes at once


def test_a_failed_write_fails_its_group_and_not_the_next():
    def process(items):
        if "bad" in items:
            raise ValueError("the store is gone")
        return items

    commit = GroupCommit(process)
    with pytest.raises(ValueError, match="the store is gone"):
        commit.submit("bad")
    assert commit.submit("good") == "good"


def test_writers_that_came_together_are_waited_for():
    written: list[int] = []

    def process(items):
        time.sleep(0.01)
        written.append(len(items))
        return items

    def writer(commit: GroupCommit, delay: float) -> None:
        for i in range(8):
            commit.submit(i)
            time.sleep(delay)  # each writer comes back a little later than the others

    commit = GroupCommit(process, wait_s=0.5)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda d: writer(commit, d), (0.0, 0.002, 0.004, 0.006)))
    assert sum(written) == 32
    assert len(written) <= 8 + 2  # groups of 4 once the writers came together
    started = time.perf_counter()
    assert commit.submit("alone") == "alone"  # waits once for the four, then writes
    assert commit.submit("alone") == "alone" and time.perf_counter() - started < 0.75
    assert written[-1] == 1

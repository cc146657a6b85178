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

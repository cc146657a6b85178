"""The model's read-write lock: reads overlap, a write is alone, a waiting write goes
before new reads."""

from __future__ import annotations

import threading
import time

from llmrec.app.state import ReadWriteLock


def test_reads_overlap_and_a_write_waits_for_them():
    lock, inside, order = ReadWriteLock(max_readers=2), threading.Barrier(2, timeout=5), []

    def read(name: str) -> None:
        with lock.reading():
            inside.wait()  # both readers are in at once, or this times out
            order.append(name)

    readers = [threading.Thread(target=read, args=(n,)) for n in ("r1", "r2")]
    for t in readers:
        t.start()
    for t in readers:
        t.join(5)
    with lock.writing():
        order.append("w")
    assert sorted(order[:2]) == ["r1", "r2"] and order[2] == "w"


def test_reads_beyond_the_cap_wait_their_turn():
    lock, inside, peak, count = ReadWriteLock(max_readers=2), threading.Lock(), [0], [0]

    def read() -> None:
        with lock.reading():
            with inside:
                count[0] += 1
                peak[0] = max(peak[0], count[0])
            time.sleep(0.05)
            with inside:
                count[0] -= 1

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert peak[0] == 2


def test_a_waiting_write_goes_before_new_reads():
    lock, events = ReadWriteLock(), []
    first_in, release = threading.Event(), threading.Event()

    def long_read() -> None:
        with lock.reading():
            first_in.set()
            release.wait(5)
            events.append("read 1 done")

    def write() -> None:
        with lock.writing():
            events.append("write")

    def late_read() -> None:
        with lock.reading():
            events.append("read 2")

    threads = [threading.Thread(target=long_read)]
    threads[0].start()
    first_in.wait(5)
    threads.append(threading.Thread(target=write))
    threads[1].start()
    time.sleep(0.1)  # the writer is now waiting for read 1
    threads.append(threading.Thread(target=late_read))
    threads[2].start()
    time.sleep(0.1)
    assert events == []  # read 2 queues behind the waiting write
    release.set()
    for t in threads:
        t.join(5)
    assert events == ["read 1 done", "write", "read 2"]


def test_a_read_on_the_event_loop_never_waits():
    lock = ReadWriteLock(max_readers=1)
    with lock.reading(), lock.reading_if_free() as free:  # the scoring cap does not apply
        assert free
    started, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with lock.writing():
            started.set()
            release.wait(5)

    writer = threading.Thread(target=long_write)
    writer.start()
    started.wait(5)
    t = time.perf_counter()
    with lock.reading_if_free() as free:
        assert not free and time.perf_counter() - t < 0.05
    release.set()
    writer.join(5)
    with lock.reading_if_free() as free:
        assert free
    with lock.writing():  # the free read was counted and released
        pass

"""Where batch work runs: in this process (the default), or on a Ray cluster
(``llmrec[ray]``; ``--engine ray [--ray-address ADDR]``).

A batch job is a function applied to chunks of work with one large object every call
shares (the model): ``engine.map(function, shared, chunks)`` yields ``(index, result)``
as chunks finish, in any order. The job writes each result as it comes, so a job killed
midway keeps what it wrote; the function must be importable (Ray ships it by reference).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from llmrec.errors import ConfigError

ENGINES = ("in-process", "ray")


class Engine(Protocol):
    name: str

    def map(
        self, function: Callable[[Any, Any], Any], shared: Any, chunks: Sequence[tuple[int, Any]]
    ) -> Iterator[tuple[int, Any]]: ...


class InProcess:
    """One chunk after another, here."""

    name = "in-process"

    def map(self, function, shared, chunks):
        for index, chunk in chunks:
            yield index, function(shared, chunk)


class RayEngine:
    """Chunks as Ray tasks; ``shared`` is put in Ray's object store once. ``address``:
    an existing cluster (``ray://host:10001`` or ``auto``); None starts a local one with
    ``num_cpus`` (all cores when None). At most ``in_flight`` tasks are pending, so a
    large job does not hold every result in memory at once."""

    name = "ray"

    def __init__(
        self, address: str | None = None, num_cpus: int | None = None, in_flight: int = 8
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.in_flight = in_flight

    def map(self, function, shared, chunks):
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray engine needs Ray: pip install 'llmrec[ray]'") from None
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, num_cpus=self.num_cpus, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)  # fmt: skip
        try:
            task = ray.remote(function)
            reference = ray.put(shared)
            pending: dict = {}
            waiting = iter(chunks)
            while True:
                for index, chunk in itertools.islice(waiting, self.in_flight - len(pending)):
                    pending[task.remote(reference, chunk)] = index
                if not pending:
                    return
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), ray.get(ref)
        finally:
            if started_here:
                ray.shutdown()


def make_engine(name: str, address: str | None = None, num_cpus: int | None = None) -> Engine:
    """The engine called ``name`` (one of ``ENGINES``)."""
    if name == "in-process":
        if address is not None:
            raise ConfigError("--ray-address needs --engine ray")
        return InProcess()
    if name == "ray":
        return RayEngine(address, num_cpus)
    raise ConfigError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")

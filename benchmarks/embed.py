"""Encoder throughput and vector-index speed and recall on this machine.

    python benchmarks/embed.py [--data ../shared/data] [--sizes 100000,1000000] [--queries 200]

1. The bundled encoder (multilingual USE) on the MovieLens-100K item texts: a full
   re-embed into an empty cache (texts/s), then the cached rerun of ``embed_items``.
2. The index at each size, on synthetic vectors made from the real ML-100K item vectors
   (mixtures of two items plus noise: text-like, unlike uniform noise):
   build time, single-query latency p50/p99 for exact search and for the HNSW graph
   (M=32, each efSearch of ``--ef``), and the graph's recall@10 against exact search.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.embed import UniversalSentenceEncoder
from llmrec.embed.vectors import embed_items
from llmrec.retrieve.index import VectorIndex
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
console = Console()


def _text_like(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors spread like text embeddings: mixtures of two real item vectors
    plus a little noise (uniform noise in 512 dimensions has no neighbours to find)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # bounded temporaries at 1M × 512
        size = min(100_000, n - start)
        first, second = rng.integers(0, len(base), (2, size))
        mix = rng.uniform(0.2, 0.8, size)[:, None].astype(np.float32)
        rows = mix * base[first] + (1 - mix) * base[second]
        rows += 0.05 * rng.standard_normal(rows.shape, dtype=np.float32)
        out[start : start + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def encoder_rows(data: Path, table: Table) -> np.ndarray:
    """Encoder rows of the table; returns the ML-100K item vectors."""
    threads = load_settings().embed.threads
    encoder = UniversalSentenceEncoder(threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=tmp)
        store = Store.open(settings.effective_database_url)
        load_dataset("movielens-100k", store, settings, data / "ml-100k")
        encoder.encode(["warm up"])  # loads the weights: not part of the throughput
        started = time.perf_counter()
        vectors, first = embed_items(store, encoder, settings.embed)
        full = time.perf_counter() - started
        reruns = []
        for _ in range(3):
            started = time.perf_counter()
            _, again = embed_items(store, encoder, settings.embed)
            reruns.append(time.perf_counter() - started)
        store.close()
    table.add_row(
        f"USE encoder, {threads} threads: full embed of ML-100K items",
        f"{first.items} items ({first.encoded} distinct texts)",
        f"{full:.1f} s",
        f"{first.encoded / full:.0f} texts/s",
    )
    table.add_row(
        "cached rerun (median of 3)",
        f"{again.items} items, {again.encoded} encoded",
        f"{statistics.median(reruns):.2f} s",
        "-",
    )
    return vectors.vectors


def _timed_search(index: VectorIndex, probe: np.ndarray) -> tuple[list[set[str]], list[float]]:
    """The top-10 ids of each probe query, and each query's latency in seconds."""
    found, latencies = [], []
    for query in probe:
        started = time.perf_counter()
        found.append(set(index.search(query, k=10).ids[0]))
        latencies.append(time.perf_counter() - started)
    return found, latencies


def index_rows(
    base: np.ndarray,
    size: int,
    queries: int,
    ef_values: list[int],
    nprobe_values: list[int],
    table: Table,
) -> None:
    vectors = _text_like(base, size, seed=size)
    ids = [str(i) for i in range(size)]
    probe = _text_like(base, queries, seed=size + 1)
    dim = base.shape[1]
    exact = VectorIndex(ann_threshold=10**12).fit(ids, vectors)
    truth, latencies = _timed_search(exact, probe)
    p50, p99 = _percentiles(latencies)
    table.add_row(
        f"exact search, {size:,} × {dim}", "build: none", f"p50 {p50:.1f} ms", f"p99 {p99:.1f} ms"
    )

    # Each approximate index is built once; its search breadth is then varied.
    approximate = [
        ("HNSW M=32 efSearch", VectorIndex(ann_threshold=0), "ef_search", ef_values),
        ("IVF nprobe", VectorIndex(ann_threshold=0, ann="ivf"), "ivf_nprobe", nprobe_values),
    ]
    for name, index, breadth, values in approximate:
        if not values:
            continue
        started = time.perf_counter()
        index.fit(ids, vectors)
        build = time.perf_counter() - started
        for value in values:
            setattr(index, breadth, value)
            found, latencies = _timed_search(index, probe)
            p50, p99 = _percentiles(latencies)
            recall = np.mean([len(f & t) / 10 for f, t in zip(found, truth, strict=True)])
            table.add_row(
                f"{name}={value}, {size:,} × {dim}",
                f"build {build:.0f} s, recall@10 {recall:.3f}",
                f"p50 {p50:.2f} ms",
                f"p99 {p99:.2f} ms",
            )
    console.print(f"done: {size:,} items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", default="128,512", help="HNSW efSearch values to try")
    parser.add_argument("--nprobe", default="16,32,64", help="IVF cells searched, to try")
    args = parser.parse_args()
    table = Table(title="embeddings and vector index")
    for column in ("what", "size / build", "time", "rate / p99"):
        table.add_column(column)
    base = encoder_rows(args.data, table)
    for size in (int(s) for s in args.sizes.split(",") if s):
        index_rows(
            base,
            size,
            args.queries,
            [int(e) for e in args.ef.split(",") if e],
            [int(n) for n in args.nprobe.split(",") if n],
            table,
        )
    console.print(table)


if __name__ == "__main__":
    main()

"""Encoder throughput and vector-index speed and recall on this machine.

    python benchmarks/embed.py [--data ../shared/data] [--sizes 100000,1000000] [--queries 200]

1. The bundled encoder (multilingual USE) on the MovieLens-100K item texts: a full
   re-embed into an empty cache (texts/s), then the cached rerun of ``embed_items``.
2. The real catalogue: every item of the five datasets with item text in ``--data``
   (movies, artists, gift cards, magazines; about 32,000 items) embedded the same way.
3. Calibration: the synthetic vectors the index is measured on, against that real
   catalogue at the same size — local intrinsic dimensionality (how hard a set is for any
   nearest-neighbour index) and the HNSW graph's recall@10.
4. The index at each size, on synthetic vectors made from the real catalogue's vectors
   (mixtures of two items plus a little noise): build time, single-query latency p50/p99
   for exact search, the HNSW graph (M=32, each efSearch of ``--ef``) and the IVF index
   (each nprobe of ``--nprobe``), and their recall@10 against exact search.
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


# Datasets with item text, and their folders under --data.
CATALOGUES = {
    "movielens-100k": "ml-100k",
    "movielens-latest-small": "ml-latest-small",
    "lastfm-2k": "hetrec2011-lastfm-2k",
    "amazon-2018-gift-cards": "amazon-2018-gift-cards",
    "amazon-2018-magazine-subscriptions": "amazon-2018-magazine-subscriptions",
}
# Norm of the noise added to each synthetic vector. 0.2 gives the real catalogue's
# intrinsic dimensionality and nearest-neighbour cosine (the calibration rows); an earlier
# 0.05 per dimension (norm 1.1 in 512 dimensions) drowned the items in noise, a set about
# five times harder than real item text.
NOISE = 0.2


def _text_like(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors spread like a catalogue's text embeddings: mixtures of two real
    item vectors plus noise of norm ``NOISE`` (uniform noise has no neighbours to find)."""
    rng = np.random.default_rng(seed)
    scale = np.float32(NOISE / np.sqrt(base.shape[1]))
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):  # bounded temporaries at 1M × 512
        size = min(100_000, n - start)
        first, second = rng.integers(0, len(base), (2, size))
        mix = rng.uniform(0.2, 0.8, size)[:, None].astype(np.float32)
        rows = mix * base[first] + (1 - mix) * base[second]
        rows += scale * rng.standard_normal(rows.shape, dtype=np.float32)
        out[start : start + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def intrinsic_dimension(vectors: np.ndarray, queries: np.ndarray, k: int = 20) -> float:
    """Median local intrinsic dimensionality around ``queries`` (the maximum-likelihood
    estimate from the distances to the k nearest unit ``vectors``, Levina & Bickel)."""
    similarity = np.sort(queries @ vectors.T, axis=1)[:, ::-1][:, :k]
    distance = np.sqrt(np.maximum(2 - 2 * similarity, 1e-12))
    return float(np.median(-1 / np.mean(np.log(distance[:, :-1] / distance[:, -1:]), axis=1)))


def catalogue_vectors(data: Path, encoder: UniversalSentenceEncoder, table: Table) -> np.ndarray:
    """Distinct unit vectors of the items of :data:`CATALOGUES`, by ``embed_items``."""
    parts, started = [], time.perf_counter()
    for name, folder in CATALOGUES.items():
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(home=tmp)
            store = Store.open(settings.effective_database_url)
            load_dataset(name, store, settings, data / folder)
            parts.append(embed_items(store, encoder, settings.embed)[0].vectors)
            store.close()
    vectors = np.unique(np.vstack(parts), axis=0)
    table.add_row(
        "real catalogue: items of the 5 datasets with text, embedded",
        f"{len(vectors):,} distinct vectors",
        f"{time.perf_counter() - started:.0f} s",
        "-",
    )
    return vectors


def calibration_rows(real: np.ndarray, queries: int, table: Table) -> None:
    """The synthetic vectors against the real catalogue at the same size: intrinsic
    dimensionality, nearest-neighbour cosine, and the HNSW graph's recall@10 at efSearch 64."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    sets = {
        "real catalogue": (real[order[queries:]], real[order[:queries]]),
        "synthetic": (
            _text_like(real, len(real) - queries, seed=1),
            _text_like(real, queries, seed=2),
        ),
    }
    for name, (vectors, probe) in sets.items():
        ids = [str(i) for i in range(len(vectors))]
        truth, _ = _timed_search(VectorIndex(ann_threshold=10**12).fit(ids, vectors), probe)
        graph = VectorIndex(ann_threshold=0, ef_search=64).fit(ids, vectors)
        found, _ = _timed_search(graph, probe)
        nearest = np.median((probe @ vectors.T).max(axis=1))
        table.add_row(
            f"calibration: {name}, {len(vectors):,} × {vectors.shape[1]}",
            f"intrinsic dim {intrinsic_dimension(vectors, probe):.1f}",
            f"nearest cosine {nearest:.3f}",
            f"HNSW ef 64 recall@10 {_recall(found, truth):.3f}",
        )


def _recall(found: list[set[str]], truth: list[set[str]]) -> float:
    return float(np.mean([len(f & t) / len(t) for f, t in zip(found, truth, strict=True)]))


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def encoder_rows(data: Path, encoder: UniversalSentenceEncoder, table: Table) -> None:
    """Encoder rows of the table: ML-100K item texts, full embed then cached reruns."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=tmp)
        store = Store.open(settings.effective_database_url)
        load_dataset("movielens-100k", store, settings, data / "ml-100k")
        encoder.encode(["warm up"])  # loads the weights: not part of the throughput
        started = time.perf_counter()
        _, first = embed_items(store, encoder, settings.embed)
        full = time.perf_counter() - started
        reruns = []
        for _ in range(3):
            started = time.perf_counter()
            _, again = embed_items(store, encoder, settings.embed)
            reruns.append(time.perf_counter() - started)
        store.close()
    table.add_row(
        f"USE encoder, {encoder.threads} threads: full embed of ML-100K items",
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
            recall = _recall(found, truth)
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
    encoder = UniversalSentenceEncoder(threads=load_settings().embed.threads)
    encoder_rows(args.data, encoder, table)
    base = catalogue_vectors(args.data, encoder, table)
    calibration_rows(base, args.queries, table)
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

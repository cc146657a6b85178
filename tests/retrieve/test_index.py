"""The vector index: exact and HNSW answers, filters, incremental changes, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from llmrec.retrieve.index import VectorIndex


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _data(n: int = 2000, d: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [f"i{j}" for j in range(n)], _unit(rng.normal(size=(n, d)))


def test_exact_search_by_hand():
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    index = VectorIndex().fit(["a", "b", "c"], vectors)
    result = index.search(np.array([[1, 0]], dtype=np.float32), k=2)
    assert result.ids == [["a", "c"]]
    np.testing.assert_allclose(result.scores[0], [1.0, 0.6])
    euclid = VectorIndex(metric="euclidean").fit(["a", "b", "c"], vectors)
    result = euclid.search(np.array([[0, 1]], dtype=np.float32), k=3)
    assert result.ids == [["b", "c", "a"]]
    np.testing.assert_allclose(
        result.scores[0], [0.0, -np.sqrt(0.6**2 + 0.2**2), -np.sqrt(2)], rtol=1e-5
    )


def test_exclusions_and_allowed_ids_filter_per_query():
    ids, vectors = _data(50, 8)
    index = VectorIndex().fit(ids, vectors)
    queries = vectors[:2]
    result = index.search(queries, k=5, exclude=[{"i0"}, set()])
    assert "i0" not in result.ids[0] and result.ids[1][0] == "i1"
    only = index.search(queries, k=5, allowed=["i3", "i4", "i0"])
    assert all(set(r) <= {"i3", "i4", "i0"} for r in only.ids)
    assert len(only.ids[0]) == 3  # fewer than k exist
    # Filters apply to their own search only: the next one sees every item again.
    assert index.size == 50
    assert index.search(queries, k=5, exclude=[{"i0"}, set()]).ids == result.ids


def test_add_replace_and_remove():
    ids, vectors = _data(20, 8)
    index = VectorIndex().fit(ids[:10], vectors[:10])
    index.add(ids[10:], vectors[10:])
    assert index.size == 20 and index.search(vectors[15], k=1).ids == [["i15"]]
    index.add(["i15"], vectors[3:4])  # replaced: now equal to i3's vector
    assert index.size == 20
    assert set(index.search(vectors[3], k=2).ids[0]) == {"i3", "i15"}
    index.remove(["i3", "nope"])
    assert index.search(vectors[3], k=1).ids == [["i15"]] and "i3" not in index


@pytest.mark.parametrize(("ann", "options"), [("hnsw", {}), ("ivf", {"ivf_nprobe": 96})])
def test_approximate_recall_against_exact(ann, options):
    ids, vectors = _data(5000, 32)
    rng = np.random.default_rng(1)
    queries = _unit(rng.normal(size=(100, 32)))
    exact = VectorIndex(ann_threshold=10**9).fit(ids, vectors).search(queries, k=10)
    ann_index = VectorIndex(ann_threshold=1000, ann=ann, **options).fit(ids, vectors)
    assert ann_index.is_approximate
    ann = ann_index.search(queries, k=10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ann.ids, exact.ids, strict=True)])
    assert recall >= 0.95
    # The same filters work on the graph.
    filtered = ann_index.search(
        queries[:3], k=10, exclude=[set(exact.ids[q][:5]) for q in range(3)]
    )
    for q in range(3):
        assert not set(filtered.ids[q]) & set(exact.ids[q][:5])
        assert len(filtered.ids[q]) == 10


def test_hnsw_removal_and_compaction():
    ids, vectors = _data(2000, 16)
    index = VectorIndex(ann_threshold=1000).fit(ids, vectors)
    index.remove(ids[:300])
    assert index.search(vectors[0], k=1).ids[0][0] != "i0"
    index.remove(ids[300:600])  # over a quarter dead: the graph is rebuilt from live rows
    assert index.size == 1400 and len(index.ids_) == 1400
    assert index.search(vectors[700], k=1).ids == [["i700"]]


@pytest.mark.parametrize(("threshold", "ann"), [(10**9, "hnsw"), (100, "hnsw"), (100, "ivf")])
def test_save_and_load_give_the_same_answers(tmp_path, threshold, ann):
    ids, vectors = _data(500, 16)
    index = VectorIndex(ann_threshold=threshold, ann=ann).fit(ids, vectors)
    index.remove(["i1"])
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.is_approximate == index.is_approximate and "i1" not in loaded
    assert loaded.search(vectors[:5], k=7).ids == index.search(vectors[:5], k=7).ids


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: VectorIndex().fit(["a", "a"], np.ones((2, 2))), "unique"),
        (lambda: VectorIndex().fit(["a"], np.ones((2, 2))), "1 ids but 2 vectors"),
        (lambda: VectorIndex().fit(["a"], np.array([[np.nan, 1.0]])), "NaN"),
        (lambda: VectorIndex(metric="manhattan").fit(["a"], np.ones((1, 2))), "metric"),
        (lambda: VectorIndex(ann="lsh").fit(["a"], np.ones((1, 2))), "ann must"),
        (
            lambda: VectorIndex().fit(["a"], np.ones((1, 2))).add(["b"], np.ones((1, 3))),
            "dimensions",
        ),
        (lambda: VectorIndex().fit(["a"], np.ones((1, 2))).search(np.ones(2), k=0), "k must"),
    ],
)
def test_bad_input_is_refused_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()

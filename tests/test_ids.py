"""GrowingIndex: the lookups of a pandas Index, appends in place."""

from __future__ import annotations

import numpy as np
import pytest

from llmrec.ids import GrowingIndex


def test_lookups_match_a_pandas_index_and_appends_keep_positions():
    import pandas as pd

    ids = GrowingIndex(["u1", "u2", "u3"])
    reference = pd.Index(["u1", "u2", "u3"])
    asked = ["u3", "nope", "u1", "u1"]
    np.testing.assert_array_equal(ids.get_indexer(asked), reference.get_indexer(asked))
    assert ids.get_loc("u2") == 1 and "u2" in ids and "nope" not in ids
    with pytest.raises(KeyError):
        ids.get_loc("nope")
    ids.append(["u4", "u2", "u5"])  # present ids are skipped, order kept
    assert ids.tolist() == ["u1", "u2", "u3", "u4", "u5"] and len(ids) == 5
    assert ids[3] == "u4" and ids[np.array([4, 0])].tolist() == ["u5", "u1"]
    assert ids[:2].tolist() == ["u1", "u2"]
    np.testing.assert_array_equal(ids.get_indexer(pd.Index(["u5", "x"])), [4, -1])


def test_ids_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        GrowingIndex(["a", "b", "a"])

"""The stable hashes against the published FNV-1a test vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmrec.data.hashing import combine, fnv1a_64, mix64


def test_fnv1a_64_matches_the_reference_vectors():
    strings = pd.Series(["", "a", "foobar", None, "foobar", "东京"], dtype=object)
    got = fnv1a_64(strings)
    assert got[0] == 0xCBF29CE484222325  # the offset basis: nothing hashed
    assert got[1] == 0xAF63DC4C8601EC8C
    assert got[2] == 0x85944171F73967E8
    assert got[3] == got[0] and got[4] == got[2]
    expected = 0xCBF29CE484222325
    for byte in "东京".encode():
        expected = ((expected ^ byte) * 0x100000001B3) % 2**64
    assert got[5] == expected


def test_long_and_sliced_inputs():
    long_text = "x" * 5000
    series = pd.Series(["b", long_text, "ab"], dtype="string[pyarrow]")
    sliced = series.iloc[1:]
    assert fnv1a_64(sliced).tolist() == fnv1a_64(series).tolist()[1:]
    assert fnv1a_64(pd.Series([], dtype=object)).shape == (0,)


def test_combine_depends_on_every_part_and_its_order():
    a, b = np.array([1, 2], dtype=np.uint64), np.array([3, 3], dtype=np.uint64)
    assert combine([a, b])[0] != combine([b, a])[0]
    assert combine([a, b])[0] != combine([a, b])[1]
    assert mix64(np.array([0], dtype=np.uint64))[0] == 0

"""Cold start: scoring items nobody has touched and users nobody knows.

- New items are recommendable by content at once (their text vector is in the index).
  To score them in the collaborative space as well, :class:`ContentToCF` learns a ridge
  regression from text vectors to collaborative item factors on warm items and maps a
  cold item's text vector to a factor vector.
- New users: stated interests (free text or keywords) and search queries are encoded into
  the item space; friends' interest vectors (a social graph such as Last.fm's) and users
  with the same attributes (age band, occupation, locale...) stand in for a history.
  Popularity is the last resort.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import svds


def cf_factors(
    matrix: sp.csr_matrix, dim: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """User and item factors of a truncated SVD of the (binary) interaction matrix:
    ``users @ items.T`` approximates it. The collaborative space the mapping targets."""
    binary = matrix.copy().astype(np.float64)
    binary.data[:] = 1.0
    k = max(1, min(dim, min(binary.shape) - 1))
    rng = np.random.default_rng(seed)
    u, s, vt = svds(binary, k=k, v0=rng.standard_normal(min(binary.shape)))
    order = np.argsort(-s)
    root = np.sqrt(s[order])
    return (u[:, order] * root).astype(np.float32), (vt[order].T * root).astype(np.float32)


class ContentToCF:
    """Ridge regression from item text vectors to collaborative item factors."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, text_vectors: np.ndarray, factors: np.ndarray) -> ContentToCF:
        x = np.asarray(text_vectors, dtype=np.float64)
        y = np.asarray(factors, dtype=np.float64)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} text vectors but {len(y)} factor rows")
        self.x_mean_, self.y_mean_ = x.mean(0), y.mean(0)
        xc, yc = x - self.x_mean_, y - self.y_mean_
        gram = xc.T @ xc + self.alpha * np.eye(x.shape[1])
        self.coef_ = np.linalg.solve(gram, xc.T @ yc)
        return self

    def transform(self, text_vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(text_vectors, dtype=np.float64)
        return ((x - self.x_mean_) @ self.coef_ + self.y_mean_).astype(np.float32)


def friends_vector(
    friend_ids: Sequence[str], vectors_of: Mapping[str, np.ndarray]
) -> np.ndarray | None:
    """The mean of the friends' interest vectors that exist, or None."""
    found = [vectors_of[f] for f in friend_ids if f in vectors_of]
    if not found:
        return None
    mean = np.mean(found, axis=0)
    norm = np.linalg.norm(mean)
    return (mean / norm).astype(np.float32) if norm > 0 else None


def similar_users_vector(
    attributes: Mapping[str, object],
    users: pd.DataFrame,
    vectors_of: Mapping[str, np.ndarray],
    age_band: int = 10,
) -> np.ndarray | None:
    """The mean interest vector of known users who share the given attributes (ages
    compare by ``age_band``-year band); the attributes matching most users first."""
    if not attributes or users.empty:
        return None
    table = pd.DataFrame(
        [{"user_id": u, **(a if isinstance(a, dict) else {})} for u, a in
         zip(users["user_id"], users["attributes"], strict=True)]
    )  # fmt: skip
    match = pd.Series(True, index=table.index)
    for key, value in attributes.items():
        if key not in table.columns:
            continue
        column = table[key]
        if key == "age":
            band = int(float(value)) // age_band
            same = pd.to_numeric(column, errors="coerce") // age_band == band
        else:
            same = column.astype(str).str.lower() == str(value).lower()
        if (match & same).any():
            match &= same
    if match.all():
        return None  # nothing matched: the attributes told us nothing
    return friends_vector(list(table.loc[match, "user_id"].astype(str)), vectors_of)

"""Lists for every known user, written to Parquet: an offline cache (as Gorse's workers
keep) for a shop's e-mails, a search index or a slow client.

The users are cut into chunks of ``chunk_users``; each chunk's lists are scored by the
engine (in this process or on Ray) and written as ``part-NNNNN.parquet`` atomically. A
``_manifest.json`` names the model and the settings the parts were made with: a rerun
with the same ones keeps the parts already written (a killed job resumes), a rerun with
another model or ``k`` starts over. Read the folder with ``pandas.read_parquet(out)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from llmrec.engine import Engine, InProcess
from llmrec.recommender import Recommender
from llmrec.users import UserHistories

MANIFEST = "_manifest.json"  # "_" and "." files are not data to Parquet readers


@dataclass(frozen=True)
class BatchReport:
    out: Path
    users: int
    chunks: int
    written: int  # chunks written by this run
    kept: int  # chunks a previous run had written
    seconds: float
    engine: str


def _lists(shared: tuple[Recommender, UserHistories], job: tuple[list[str], int]) -> pd.DataFrame:
    model, histories = shared
    if "histories_" not in model.__dict__:
        # shipped to another process: a pickled model leaves user state out on purpose
        model.histories_ = histories
    users, k = job
    # One thread per task on every engine: the same sums in the same order, so the same
    # lists here and on Ray (whose workers run one thread), and chunks run side by side.
    with threadpool_limits(1):
        return model.recommend(users, k=k)


def recommend_all(
    model: Recommender,
    out: Path,
    model_key: str,
    k: int = 10,
    chunk_users: int = 2_000,
    engine: Engine | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchReport:
    """Every known user's top-``k`` (user_id, item_id, score, rank, sources) under
    ``out``; ``model_key`` identifies the model and the users' state it was run on
    (a rerun with another key starts over). ``progress(n)`` is told each finished
    chunk's users."""
    started = time.perf_counter()
    engine = engine or InProcess()
    histories = model.histories_
    users = sorted(u for u in histories.user_ids if histories.knows(u))
    chunks = [users[i : i + chunk_users] for i in range(0, len(users), chunk_users)]
    manifest = {
        "model": model_key,
        "k": k,
        "chunk_users": chunk_users,
        "users": hashlib.sha256("\n".join(users).encode()).hexdigest(),
        "chunks": len(chunks),
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    if not path.is_file() or json.loads(path.read_text()) != manifest:
        for old in out.glob("part-*.parquet"):
            old.unlink()
        _write_atomic(path, json.dumps(manifest, indent=2).encode())
    todo = [(i, (chunk, k)) for i, chunk in enumerate(chunks) if not _part(out, i).is_file()]
    kept = len(chunks) - len(todo)
    if progress is not None and kept:
        progress(sum(len(c) for i, c in enumerate(chunks) if _part(out, i).is_file()))
    for index, frame in engine.map(_lists, (model, histories), todo):
        temporary = out / f".{_part(out, index).name}.tmp"
        frame.to_parquet(temporary, index=False)
        os.replace(temporary, _part(out, index))
        if progress is not None:
            progress(len(chunks[index]))
    return BatchReport(out, len(users), len(chunks), len(todo), kept,
                       time.perf_counter() - started, engine.name)  # fmt: skip


def _part(out: Path, index: int) -> Path:
    return out / f"part-{index:05d}.parquet"


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.parent / f".{path.name}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, path)

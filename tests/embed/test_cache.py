"""The embedding cache: a rerun encodes only what is not stored, here or on Ray workers,
and the workers store the vectors this process would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.data.hashing import text_hash
from llmrec.embed import load_encoder
from llmrec.embed.cache import CachedEncoder
from llmrec.engine import RayEngine
from llmrec.store import Store, schema
from tests.conftest import shared_dataset, time_limit

TEXTS = [f"a film about {topic}, number {n}" for n in range(40)
         for topic in ("space", "love")]  # fmt: skip


def _measure(table: str, name: str) -> int | str:
    """A value of a printed measures table."""
    line = next(line for line in table.splitlines() if f" {name} " in line)
    value = line.split("│")[2].strip()
    return int(value.replace(",", "")) if value.replace(",", "").isdigit() else value


def _stored(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.embeddings)).scalar())


def test_a_rerun_encodes_only_what_is_not_stored(store, settings):
    with load_encoder(settings.embed) as encoder:
        first = CachedEncoder(encoder, store, batch_size=16)
        half = first.encode(TEXTS[:40])  # as a run killed after 40 texts leaves the store
        again = CachedEncoder(encoder, store, batch_size=16)
        vectors = again.encode(TEXTS)
    assert (again.hits, again.encoded) == (40, 40) and _stored(store) == 80
    np.testing.assert_array_equal(vectors[:40], half)
    with pytest.raises(ValueError, match="need the encoder settings"):
        CachedEncoder(encoder, store, engine=RayEngine())


@pytest.mark.slow
def test_ray_workers_store_the_vectors_this_process_would(settings, tmp_path):
    pytest.importorskip("ray")
    with load_encoder(settings.embed) as encoder, Store.open(
        f"sqlite:///{tmp_path / 'here.db'}"
    ) as here, Store.open(f"sqlite:///{tmp_path / 'ray.db'}") as there:
        local = CachedEncoder(encoder, here, batch_size=16).encode(TEXTS)
        on_ray = CachedEncoder(encoder, there, batch_size=16, engine=RayEngine(num_cpus=2),
                               settings=settings.embed)  # fmt: skip
        remote = on_ray.encode(TEXTS)
        assert on_ray.encoded == len(TEXTS)
        hashes = [text_hash(t) for t in TEXTS]
        stored = there.embeddings(encoder.encoder_id, hashes, encoder.dim)
    np.testing.assert_allclose(remote, local, atol=1e-5)
    np.testing.assert_allclose(np.stack([stored[h] for h in hashes]), local, atol=1e-5)


@pytest.mark.slow
def test_a_killed_ray_embedding_resumes_from_the_cache(tmp_path):
    pytest.importorskip("ray")
    home = tmp_path / "home"
    settings = load_settings(home=home)
    with Store.open(settings.effective_database_url) as store:
        load_dataset("movielens-100k", store, settings, shared_dataset("ml-100k"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env |= {"LLMREC_HOME": str(home), "LLMREC_EMBED__BATCH_SIZE": "32"}
    command = [sys.executable, "-m", "llmrec", "embed", "--engine", "ray"]
    running = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + time_limit(300)
    with Store.open(settings.effective_database_url) as store:
        while _stored(store) < 3 * 32 and time.time() < deadline:
            time.sleep(0.2)
        running.send_signal(signal.SIGKILL)
        running.wait()
        kept = _stored(store)
    assert 3 * 32 <= kept < 1_663  # killed midway: 1,663 distinct texts
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _measure(done.stdout, "encoded now") == 1_663 - kept  # only what was not kept
    assert _measure(done.stdout, "engine") == "ray"
    with Store.open(settings.effective_database_url) as store:
        assert _stored(store) == 1_663

"""Kill ``llmrec enrich items`` with SIGKILL mid-run: a rerun loses nothing it wrote and
asks the model nothing it already answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.enrich.descriptions import enrich_items
from llmrec.store import Store
from tests.conftest import time_limit

LIMIT = 40


@pytest.mark.slow
def test_sigkill_then_rerun_resumes(tmp_path: Path, ml100k: Path, embedded_llm):
    home = tmp_path / "home"
    settings = load_settings(home=home, enrich={"batch_size": 4})
    with Store.open(settings.effective_database_url) as store:
        load_dataset("movielens-100k", store, settings, ml100k)

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    # One test at a time: llama.cpp may have every core.
    env.update(
        {
            "LLMREC_HOME": str(home),
            "LLMREC_ENRICH__BATCH_SIZE": "4",
            "LLMREC_LLM__THREADS": str(len(os.sched_getaffinity(0))),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "enrich", "items", "--limit", str(LIMIT)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = Store.open(settings.effective_database_url)
    deadline = time.monotonic() + time_limit(240)
    while len(store.item_texts_frame()) < 8:
        assert process.poll() is None, "enrich ended before it could be killed"
        assert time.monotonic() < deadline, "enrich wrote nothing in 240 s"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()

    written = store.item_texts_frame()
    cached = int(store.llm_cache_summary()["answers"].sum())
    assert LIMIT > len(written) >= 8 and cached >= len(written)

    report = enrich_items(store, embedded_llm, settings, limit=LIMIT)
    assert report.cache_hits == cached  # everything answered before the kill is reused
    # ... and nothing is asked twice: every call of the rerun added a new answer.
    assert int(store.llm_cache_summary()["answers"].sum()) == cached + report.llm_calls
    after = store.item_texts_frame().set_index("item_id")
    assert len(after) == LIMIT
    for row in written.itertuples(index=False):
        assert after.loc[row.item_id, "description"] == row.description
    store.close()

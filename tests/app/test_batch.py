"""Every user's list into Parquet: the same lists the model gives one by one, resumable,
and the same on a local Ray instance as in this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from llmrec.app.batch import MANIFEST, recommend_all
from llmrec.config import load_settings
from llmrec.data.datasets import load_dataset
from llmrec.engine import InProcess, RayEngine, make_engine
from llmrec.errors import ConfigError
from llmrec.store import Store
from llmrec.training import train_from_store
from tests.conftest import shared_dataset, time_limit


def _read(out) -> pd.DataFrame:
    frame = pd.read_parquet(out)
    return frame.sort_values(["user_id", "rank"], ignore_index=True)


def test_every_known_user_gets_the_list_the_model_gives(fitted_recommender, tmp_path) -> None:
    report = recommend_all(fitted_recommender, tmp_path / "lists", "model-a", k=5,
                           chunk_users=200)  # fmt: skip
    assert (report.users, report.chunks, report.written, report.kept) == (943, 5, 5, 0)
    lists = _read(tmp_path / "lists")
    assert lists["user_id"].nunique() == 943 and (lists.groupby("user_id").size() == 5).all()
    one_by_one = fitted_recommender.recommend(["1", "500", "943"], k=5)
    mine = lists[lists["user_id"].isin(["1", "500", "943"])]
    assert (
        mine["item_id"].tolist() == one_by_one.sort_values(["user_id", "rank"])["item_id"].tolist()
    )


def test_a_rerun_keeps_what_was_written_and_a_new_model_starts_over(
    fitted_recommender, tmp_path
) -> None:
    out = tmp_path / "lists"
    recommend_all(fitted_recommender, out, "model-a", k=5, chunk_users=300)
    first = _read(out)
    (out / "part-00002.parquet").unlink()  # as if killed before the third file
    again = recommend_all(fitted_recommender, out, "model-a", k=5, chunk_users=300)
    assert (again.written, again.kept) == (1, 3)
    pd.testing.assert_frame_equal(_read(out), first)
    other = recommend_all(fitted_recommender, out, "model-b", k=3, chunk_users=300)
    assert (other.written, other.kept) == (4, 0)
    assert json.loads((out / MANIFEST).read_text())["model"] == "model-b"
    assert (_read(out).groupby("user_id").size() == 3).all()


def test_engines_are_named_and_checked() -> None:
    assert isinstance(make_engine("in-process"), InProcess)
    assert isinstance(make_engine("ray", "auto"), RayEngine)
    with pytest.raises(ConfigError, match="unknown engine 'spark'; known: in-process, ray"):
        make_engine("spark")
    with pytest.raises(ConfigError, match="--ray-address needs --engine ray"):
        make_engine("in-process", "ray://cluster:10001")


@pytest.mark.slow
def test_ray_gives_the_same_lists_as_this_process(fitted_recommender, tmp_path) -> None:
    pytest.importorskip("ray")
    here = recommend_all(fitted_recommender, tmp_path / "here", "m", k=10, chunk_users=250)
    on_ray = recommend_all(fitted_recommender, tmp_path / "ray", "m", k=10, chunk_users=250,
                           engine=RayEngine(num_cpus=2))  # fmt: skip
    assert (on_ray.engine, on_ray.written) == ("ray", here.written)
    pd.testing.assert_frame_equal(_read(tmp_path / "ray"), _read(tmp_path / "here"))


@pytest.mark.slow
def test_a_killed_command_resumes(tmp_path) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    settings = settings.model_copy(update={"recommender": settings.recommender.model_copy(
        update={"sources": ["covisit", "popular"], "ranker": False})})  # fmt: skip
    with Store.open(settings.effective_database_url) as store:
        load_dataset("movielens-100k", store, settings, shared_dataset("ml-100k"))
        train_from_store(store, settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env["LLMREC_HOME"] = str(home)
    out = tmp_path / "lists"
    command = [sys.executable, "-m", "llmrec", "recommend-all", "--out", str(out),
               "--chunk-users", "20"]  # fmt: skip
    running = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + time_limit(120)
    while len(list(out.glob("part-*.parquet"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    running.send_signal(signal.SIGKILL)
    running.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 3 <= len(kept) < 48  # killed midway
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert len(after) == 48 and all(after[name] == kept[name] for name in kept)
    lists = pd.read_parquet(out)
    assert lists["user_id"].nunique() == 943 and not list(out.glob(".*.tmp"))

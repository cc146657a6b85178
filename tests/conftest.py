"""Shared fixtures: settings in a temporary home, a fresh SQLite store, the shared datasets,
and a real PostgreSQL server on 127.0.0.1 for the tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from llmrec.config import Settings, load_settings
from llmrec.errors import StoreError
from llmrec.llm import EmbeddedLLM
from llmrec.store import Store
from llmrec.store.local_postgres import LocalPostgres, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LLMREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# A time limit in a test catches a hang; it does not time the work. Each is set for a busy
# 2-core machine; a slower one sets LLMREC_TEST_TIME_SCALE (e.g. 3) for slow passes, not
# failures.
TIME_SCALE = float(os.environ.get("LLMREC_TEST_TIME_SCALE", "1"))


def time_limit(seconds: float) -> float:
    """``seconds`` scaled by ``LLMREC_TEST_TIME_SCALE``."""
    return seconds * TIME_SCALE


def wait_until_healthy(base: str, seconds: float) -> None:
    """Wait (at most ``seconds``, scaled) until the service at ``base`` answers /healthz."""
    deadline = time.time() + time_limit(seconds)
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)


@contextmanager
def served_in_thread(app) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 in a thread until the block ends; yields
    its base URL once /readyz answers 200 (a minute at most, scaled)."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + time_limit(60)
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def shared_dataset(folder: str) -> Path:
    path = SHARED_DATA / folder
    if not path.is_dir():
        pytest.skip(f"{path} is missing: the shared datasets are not beside the repository")
    return path


@pytest.fixture
def ml100k() -> Path:
    return shared_dataset("ml-100k")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray llmrec.toml from the caller's folder
    for name in list(os.environ):
        if name.startswith("LLMREC_") and name != "LLMREC_SHARED_DATA":
            monkeypatch.delenv(name)
    return load_settings(home=tmp_path / "home")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings.effective_database_url) as opened:
        yield opened


def local_postgres() -> LocalPostgres:
    """A throw-away PostgreSQL server (skips the test where none can be started)."""
    try:
        return LocalPostgres()
    except StoreError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1, stopped after the session."""
    server = local_postgres()
    try:
        yield server.url
    finally:
        server.remove()


@pytest.fixture(scope="session")
def embedded_llm() -> Iterator[EmbeddedLLM]:
    """The bundled SmolLM2 in llama.cpp, loaded once for the whole session."""
    # The suite runs one test at a time, so every core is free for llama.cpp here.
    llm = EmbeddedLLM(threads=len(os.sched_getaffinity(0)), parallel=4)
    yield llm
    llm.close()


@pytest.fixture(scope="session")
def llama_server() -> Iterator[tuple[str, str]]:
    """A real llama.cpp OpenAI-compatible server with the bundled model, started by
    ``llmrec llm serve`` on 127.0.0.1; yields (base URL, API key)."""
    yield from _serve_llm()


@pytest.fixture(scope="session")
def llama_embedding_server() -> Iterator[tuple[str, str]]:
    """The same server in embedding mode (``/v1/embeddings``)."""
    yield from _serve_llm("--embeddings")


def _serve_llm(*options: str) -> Iterator[tuple[str, str]]:
    port, key = free_port(), "test-key-123"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    command = ["llm", "serve", "--port", str(port), "--api-key", key, *options]
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrec", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + time_limit(60)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llmrec llm serve exited: {process.stderr.read().decode()}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llmrec llm serve did not become healthy in 60 s")
            time.sleep(0.2)
        yield f"{base_url}/v1", key
    finally:
        process.terminate()
        try:
            process.wait(timeout=time_limit(20))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def ml100k_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """ML-100K events (all ratings) and items (title, genres as tags), read directly."""
    folder = shared_dataset("ml-100k")
    events = pd.read_csv(folder / "u.data", sep="\t",
                         names=["user_id", "item_id", "value", "timestamp"])  # fmt: skip
    events["event_type"] = "rating"
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text().splitlines() if line]
    # one line of the shared copy has a stray field: skipped, as the ingester rejects it
    raw = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1",
                      on_bad_lines="skip")  # fmt: skip
    flags = raw.iloc[:, 5 : 5 + len(genres)].to_numpy(bool)
    items = pd.DataFrame({
        "item_id": raw[0],
        "title": raw[1],
        "tags": [[g for g, on in zip(genres, row, strict=True) if on] for row in flags],
    })  # fmt: skip
    return events, items


FAST_SOURCES = ("ease", "covisit", "itemknn", "content", "content_cf", "popular")


@pytest.fixture(scope="session")
def genre_vectors(ml100k_frames) -> pd.DataFrame:
    """Genre vectors stand in for text vectors: deterministic and instant."""
    _, items = ml100k_frames
    genres = sorted({g for tags in items["tags"] for g in tags})
    vectors = np.array([[g in tags for g in genres] for tags in items["tags"]], np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1)
    return pd.DataFrame(vectors, index=items["item_id"].astype(str))


@pytest.fixture(scope="session")
def fitted_recommender(ml100k_frames, genre_vectors):
    """The hybrid recommender on all of ML-100K with the fast sources (SASRec is covered
    by tests/models and the accuracy benchmark). Tests must not change it."""
    from llmrec.recommender import Recommender

    events, items = ml100k_frames
    return Recommender(sources=FAST_SOURCES, item_vectors=genre_vectors).fit(events, items)


# A small shop: prices as Amazon's text ("$12.99", a range) and as numbers, one without a
# price and one with a price no one can read, brands in mixed case, one item out of stock
# and one repeatable by its own attribute. Coffee is the consumable of SHOP_REPEAT_TAGS.
SHOP_ITEMS = [
    ("coffee-acme", "Acme House Coffee", ["Coffee", "Grocery"], {"brand": "Acme", "price": "$12.99"}),
    ("coffee-bean", "Bean Co Espresso Beans", ["Coffee", "Grocery"], {"brand": "Bean Co", "price": "$18.50"}),
    ("tea-acme", "Acme Green Tea", ["Tea", "Grocery"], {"brand": "acme", "price": 6.5}),
    ("paper-filters", "Paper Coffee Filters", ["Accessories"], {"brand": "ACME", "price": "$3.99", "repeatable": True}),
    ("grinder", "Burr Grinder", ["Appliances"], {"brand": "Grindwell", "price": "$89.00"}),
    ("kettle", "Steel Kettle", ["Appliances"], {"brand": "Acme", "price": "$19.00"}),
    ("mug", "Ceramic Mug", ["Kitchen"], {"brand": "Bean Co", "price": "$9.99 - $14.99"}),
    ("press", "French Press", ["Kitchen"], {"price": 25}),
    ("scale", "Kitchen Scale", ["Kitchen"], {"brand": "Acme"}),
    ("descaler", "Descaler", ["Cleaning"], {"brand": "Acme", "price": "call us"}),
    ("machine", "Espresso Machine", ["Appliances"], {"brand": "Bean Co", "price": "$1,349.00"}),
    ("sugar", "Cane Sugar", ["Grocery"], {"brand": "Acme", "price": "$2.49"}),
]  # fmt: skip
SHOP_OUT_OF_STOCK = {"kettle"}
SHOP_PURCHASES = {
    "ana": ["coffee-acme", "paper-filters", "mug", "sugar"],
    "ben": ["coffee-acme", "coffee-bean", "grinder", "tea-acme", "kettle"],
    "cleo": ["coffee-bean", "press", "sugar", "machine", "descaler", "mug"],
    "dev": ["tea-acme", "mug", "scale", "sugar", "kettle", "paper-filters"],
    "eve": ["coffee-acme", "grinder", "press", "scale", "machine", "descaler", "tea-acme"],
}
SHOP_REPEAT_TAGS = ["Coffee"]
SHOP_TOML = (
    '[recommender]\nsources = ["ease", "popular"]\nranker = false\nrepeat_tags = ["Coffee"]\n'
)


def shop_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shop's purchase events and items, as ``Recommender.fit`` takes them."""
    items = pd.DataFrame(SHOP_ITEMS, columns=["item_id", "title", "tags", "attributes"])
    items["available"] = ~items["item_id"].isin(SHOP_OUT_OF_STOCK)
    rows = [(user, item) for user, bought in SHOP_PURCHASES.items() for item in bought]
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    events["event_type"] = "purchase"
    events["timestamp"] = 1_700_000_000 + np.arange(len(events)) * 3_600
    return events, items


def stock_shop(settings: Settings) -> Settings:
    """The shop in the store of ``settings`` and a model trained on it in seconds (EASE
    and popularity, no ranker, Coffee repeatable); returns the settings it was trained
    with (as ``SHOP_TOML`` says)."""
    from llmrec.data.records import RecordKind
    from llmrec.data.validate import validate_frame
    from llmrec.training import train_from_store

    shop = {"sources": ["ease", "popular"], "ranker": False, "repeat_tags": SHOP_REPEAT_TAGS}
    settings = settings.model_copy(
        update={"recommender": settings.recommender.model_copy(update=shop)}
    )
    events, items = shop_frames()
    with Store.open(settings.effective_database_url) as store:
        store.upsert_items(validate_frame(items, RecordKind.ITEMS, "items")[0])
        store.add_events(validate_frame(events, RecordKind.EVENTS, "events")[0])
        train_from_store(store, settings)
    return settings

"""A service over ML-100K: the store, a trained model (fast sources, the bundled text
encoder's vectors) and one API key per scope, shared by the module's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llmrec.config import Settings, load_settings
from llmrec.data.datasets import load_dataset
from llmrec.serve import create_app
from llmrec.serve.keys import create_key
from llmrec.store import Store
from llmrec.training import train_from_store
from tests.conftest import FAST_SOURCES, shared_dataset


@dataclass
class Service:
    client: TestClient
    settings: Settings
    store: Store
    keys: dict[str, str]  # scope (and "all") → key

    def headers(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def trained_home(home: Path) -> Settings:
    """ML-100K in a store under ``home`` and a model trained on it."""
    for name in list(os.environ):
        if name.startswith("LLMREC_") and name != "LLMREC_SHARED_DATA":
            del os.environ[name]
    settings = load_settings(home=home)
    settings = settings.model_copy(
        update={
            "recommender": settings.recommender.model_copy(
                update={"sources": list(FAST_SOURCES), "cold_views": 2}
            ),
            # Every test client comes from one address and many send bad keys on purpose
            # (the fuzzer too): the per-address limit has its own test.
            "serve": settings.serve.model_copy(update={"refused_burst": 1_000_000}),
        }
    )
    with Store.open(settings.effective_database_url) as store:
        load_dataset("movielens-100k", store, settings, shared_dataset("ml-100k"))
        train_from_store(store, settings)
    return settings


@pytest.fixture(scope="package")
def trained_settings(tmp_path_factory) -> Settings:
    return trained_home(tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="package")
def service(trained_settings) -> Iterator[Service]:
    store = Store.open(trained_settings.effective_database_url)
    keys = {scope: create_key(store, [scope], scope)[1] for scope in ("read", "write", "admin")}
    keys["all"] = create_key(store, ["read", "write", "admin"], "all")[1]
    with TestClient(create_app(trained_settings, store)) as client:
        yield Service(client, trained_settings, store, keys)
    store.close()

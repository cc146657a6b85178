"""Published model files: uploaded whole, fetched and checked, refused when they are not
what was published — in a folder, an fsspec memory filesystem and a local S3-compatible
server (moto, on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from llmrec.errors import ModelFileError, StoreError
from llmrec.store import Store
from llmrec.store.artifacts import ArtifactStore, file_sha256
from tests.conftest import free_port, time_limit


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "trained.llmrec"
    path.write_bytes(os.urandom(300_000))
    return path


def test_a_file_put_in_a_folder_is_fetched_whole_and_checked(tmp_path, model_file) -> None:
    artifacts = ArtifactStore(str(tmp_path / "published"))
    address, sha256, size = artifacts.put(model_file, "model-000001.llmrec")
    assert size == 300_000 and sha256 == file_sha256(model_file)
    assert [p.name for p in (tmp_path / "published").iterdir()] == ["model-000001.llmrec"]
    fetched = artifacts.fetch(address, sha256, tmp_path / "cache" / "v1.llmrec")
    assert fetched.read_bytes() == model_file.read_bytes()
    # kept: a second fetch reads nothing from the artifact store
    (tmp_path / "published" / "model-000001.llmrec").unlink()
    assert artifacts.fetch(address, sha256, fetched) == fetched


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path, model_file) -> None:
    artifacts = ArtifactStore(str(tmp_path / "published"))
    address, sha256, _ = artifacts.put(model_file, "model-000002.llmrec")
    published = tmp_path / "published" / "model-000002.llmrec"
    published.write_bytes(published.read_bytes()[:-1] + b"\0")
    destination = tmp_path / "cache" / "v2.llmrec"
    with pytest.raises(ModelFileError, match="not the published"):
        artifacts.fetch(address, sha256, destination)
    assert not destination.exists() and list(destination.parent.iterdir()) == []
    published.unlink()
    with pytest.raises(ModelFileError, match="missing from the artifact store"):
        artifacts.fetch(address, sha256, destination)


def test_any_fsspec_filesystem_holds_artifacts(tmp_path, model_file) -> None:
    artifacts = ArtifactStore("memory://llmrec-test/models")
    address, sha256, _ = artifacts.put(model_file, "model-000003.llmrec")
    assert address.startswith("memory://")
    assert address.endswith("/llmrec-test/models/model-000003.llmrec")
    fetched = artifacts.fetch(address, sha256, tmp_path / "v3.llmrec")
    assert file_sha256(fetched) == sha256


@pytest.fixture(scope="module")
def s3_endpoint() -> str:
    """A local S3-compatible server (moto) on 127.0.0.1 with one bucket."""
    pytest.importorskip("s3fs")
    if shutil.which("moto_server", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("moto's server is not installed (pip install 'moto[server]')")
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + time_limit(30)
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        httpx.put(f"{endpoint}/models")  # the bucket
        yield endpoint
    finally:
        server.terminate()
        server.wait()


def test_an_s3_compatible_store_holds_artifacts(tmp_path, model_file, s3_endpoint) -> None:
    options = {"key": "test", "secret": "test", "endpoint_url": s3_endpoint}
    artifacts = ArtifactStore("s3://models/llmrec", options)
    address, sha256, _ = artifacts.put(model_file, "model-000004.llmrec")
    assert address == "s3://models/llmrec/model-000004.llmrec"
    fetched = artifacts.fetch(address, sha256, tmp_path / "v4.llmrec")
    assert fetched.read_bytes() == model_file.read_bytes()
    with pytest.raises(ModelFileError, match="missing"):
        artifacts.fetch("s3://models/llmrec/model-000099.llmrec", sha256, tmp_path / "v99")


def test_model_versions_are_reserved_published_and_rolled_back(store: Store) -> None:
    assert store.model_version() is None
    first = store.reserve_model_version("trainer-a")
    store.publish_model_version(first, "file:///m1", "a" * 64, 10, {"users": 1})
    second = store.reserve_model_version("trainer-b")
    assert store.model_version()["version"] == first  # reserved is not published
    store.publish_model_version(second, "file:///m2", "b" * 64, 20, {"users": 2})
    assert store.model_version()["version"] == second
    assert store.model_version(first)["artifact"] == "file:///m1"
    store.use_model_version(first)
    assert store.model_version()["version"] == first
    assert store.model_versions_frame()["version"].tolist() == [second, first]
    with pytest.raises(StoreError, match="already published"):
        store.publish_model_version(second, "file:///again", "c" * 64, 1, {})
    unpublished = store.reserve_model_version("trainer-c")
    with pytest.raises(StoreError, match=f"no published model version {unpublished}"):
        store.use_model_version(unpublished)


@pytest.mark.postgres
def test_trainers_racing_each_publish_their_own_version(postgres_url: str) -> None:
    with Store.open(postgres_url) as store:
        versions: list[int] = []

        def publish(n: int) -> None:
            for _ in range(5):
                version = store.reserve_model_version(f"trainer-{n}")
                store.publish_model_version(version, f"file:///{version}", f"{version:064d}",
                                            version, {})  # fmt: skip
                versions.append(version)

        racers = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert len(set(versions)) == 20
        for version in versions:
            assert store.model_version(version)["artifact"] == f"file:///{version}"
        assert store.model_version()["version"] in versions

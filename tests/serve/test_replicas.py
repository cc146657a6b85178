"""Two ``llmrec serve`` replicas over one PostgreSQL store, as separate processes on
127.0.0.1: a write to one changes what the other serves; a killed replica loses no
acknowledged event and comes back up to date; a database that goes away is answered
with 503 until it returns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from llmrec.config import Settings, load_settings
from llmrec.data.datasets import load_dataset
from llmrec.serve.keys import create_key
from llmrec.store import Store
from llmrec.store.local_postgres import LocalPostgres
from llmrec.training import train_from_store
from tests.conftest import (
    free_port,
    local_postgres,
    shared_dataset,
    time_limit,
    wait_until_healthy,
)

pytestmark = pytest.mark.postgres

SOURCES = ("ease", "covisit", "popular")  # no text: no encoder to load in each replica


@dataclass
class Replica:
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llmrec", "serve", "--port", str(self.port)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_until_healthy(self.base, 120)
        wait_for(lambda: httpx.get(f"{self.base}/readyz").status_code == 200, 60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    database: LocalPostgres
    settings: Settings
    a: Replica
    b: Replica
    headers: dict[str, str]

    def top(self, replica: Replica, user: str, k: int = 10) -> tuple[str, list[str]]:
        response = httpx.get(
            f"{replica.base}/users/{user}/recommendations", params={"k": k}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return body["strategy"], [item["item_id"] for item in body["items"]]

    def post(self, replica: Replica, path: str, body: dict) -> httpx.Response:
        return httpx.post(f"{replica.base}{path}", json=body, headers=self.headers, timeout=10)


def wait_for(condition, seconds: float) -> float:
    """Seconds until ``condition()`` held (fails after ``seconds``, scaled)."""
    started = time.perf_counter()
    deadline = started + time_limit(seconds)
    while time.perf_counter() < deadline:
        try:
            if condition():
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    database = local_postgres()
    home = tmp_path_factory.mktemp("replicas")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env |= {
        "LLMREC_HOME": str(home),
        "LLMREC_DATABASE_URL": database.url,
        # a key is trusted this long between store checks: revocations must not wait for it
        "LLMREC_SERVE__KEY_CHECK_S": "600",
        "LLMREC_SERVE__WARM_USERS": "0",
        "LLMREC_REGISTRY__ARTIFACTS": str(home / "artifacts"),
    }
    settings = load_settings(
        home=home, database_url=database.url, registry={"artifacts": str(home / "artifacts")}
    )
    settings = settings.model_copy(
        update={"recommender": settings.recommender.model_copy(
            update={"sources": list(SOURCES), "cold_views": 1})}
    )  # fmt: skip
    replicas = [Replica(env), Replica(env)]
    try:
        with Store.open(database.url) as store:
            load_dataset("movielens-100k", store, settings, shared_dataset("ml-100k"))
            assert train_from_store(store, settings).version == 1
            key = create_key(store, ["read", "write", "admin"], "replicas")[1]
        for replica in replicas:
            replica.start()
        yield Cluster(database, settings, *replicas, {"Authorization": f"Bearer {key}"})
    finally:
        for replica in replicas:
            replica.stop()
        database.remove()


def test_an_event_on_one_replica_changes_the_others_list(cluster: Cluster) -> None:
    _, before = cluster.top(cluster.b, "1")
    watched = before[0]
    response = cluster.post(cluster.a, "/events", {"events": [
        {"user_id": "1", "item_id": watched, "event_type": "rating", "value": 5},
    ]})  # fmt: skip
    assert response.status_code == 200 and response.json()["stored"] == 1
    # B left the seen item out of its kept list for user 1
    seconds = wait_for(lambda: watched not in cluster.top(cluster.b, "1")[1], 5)
    assert seconds < time_limit(2)


def test_a_new_user_on_one_replica_is_known_to_the_other(cluster: Cluster) -> None:
    assert cluster.top(cluster.b, "newcomer-1")[0] == "popular"
    _, popular = cluster.top(cluster.a, "newcomer-1")
    cluster.post(cluster.a, "/events", {"events": [
        {"user_id": "newcomer-1", "item_id": item, "event_type": "view"} for item in popular[:3]
    ]})  # fmt: skip
    wait_for(lambda: cluster.top(cluster.b, "newcomer-1")[0] == "model", 5)


def test_a_forget_on_one_replica_is_honoured_by_the_other(cluster: Cluster) -> None:
    assert cluster.top(cluster.b, "2")[0] == "model"  # a kept list on B
    response = httpx.delete(f"{cluster.a.base}/users/2", headers=cluster.headers)
    assert response.status_code == 200, response.text
    wait_for(lambda: cluster.top(cluster.b, "2")[0] != "model", 5)


def test_a_new_item_on_one_replica_is_known_to_the_other(cluster: Cluster) -> None:
    similar = f"{cluster.b.base}/items/brand-new/similar"
    assert httpx.get(similar, headers=cluster.headers).status_code == 404
    item = {"item_id": "brand-new", "title": "Brand New (2026)", "tags": ["Drama"]}
    assert cluster.post(cluster.a, "/items", {"items": [item]}).status_code == 200
    wait_for(lambda: httpx.get(similar, headers=cluster.headers).status_code == 200, 5)


def test_a_key_revoked_elsewhere_is_refused_by_every_replica_at_once(cluster: Cluster) -> None:
    with Store.open(cluster.database.url) as store:
        key_id, key = create_key(store, ["read"], "short-lived")
        headers = {"Authorization": f"Bearer {key}"}
        url = "/users/1/recommendations"
        for replica in (cluster.a, cluster.b):  # trusted for key_check_s = 600 s from now on
            assert httpx.get(f"{replica.base}{url}", headers=headers).status_code == 200
        store.revoke_api_key(key_id)  # as `llmrec keys revoke` does, from another process
    for replica in (cluster.a, cluster.b):
        wait_for(
            lambda r=replica: httpx.get(f"{r.base}{url}", headers=headers).status_code == 401, 5
        )


def served_versions(cluster: Cluster) -> list[int | None]:
    return [httpx.get(f"{r.base}/readyz").json()["model_version"] for r in (cluster.a, cluster.b)]


def test_a_published_version_is_served_by_every_replica_without_a_failed_request(
    cluster: Cluster,
) -> None:
    assert served_versions(cluster) == [1, 1]
    failures: list[int] = []
    stop = threading.Event()

    def read() -> None:
        with httpx.Client(timeout=10, headers=cluster.headers) as client:
            while not stop.is_set():
                for replica in (cluster.a, cluster.b):
                    status = client.get(f"{replica.base}/users/3/recommendations").status_code
                    if status != 200:
                        failures.append(status)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        settings = cluster.settings.model_copy(update={"recommender": cluster.settings.recommender
                                               .model_copy(update={"sources": ["covisit", "popular"]})})  # fmt: skip
        with Store.open(cluster.database.url) as store:
            published = time.perf_counter()
            assert train_from_store(store, settings).version == 2
            published = time.perf_counter() - published
        seconds = wait_for(lambda: served_versions(cluster) == [2, 2], 10)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert seconds < time_limit(5), f"{seconds:.1f} s after publishing ({published:.1f} s)"


def test_a_rollback_is_one_command(cluster: Cluster) -> None:
    before = served_versions(cluster)[0]
    assert before is not None and before > 1
    done = subprocess.run([sys.executable, "-m", "llmrec", "models", "use", "1"],
                          env=cluster.a.env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "serving model version 1" in done.stdout
    wait_for(lambda: served_versions(cluster) == [1, 1], 10)
    listed = subprocess.run([sys.executable, "-m", "llmrec", "models", "list"],
                            env=cluster.a.env, capture_output=True, text=True)  # fmt: skip
    assert listed.returncode == 0 and "model-000002.llmrec" in listed.stdout


def test_a_corrupt_version_is_refused_and_the_served_one_kept(cluster: Cluster) -> None:
    served = served_versions(cluster)
    with Store.open(cluster.database.url) as store:
        good = store.model_version()
        version = store.reserve_model_version("a trainer with a bad disk")
        store.publish_model_version(version, good["artifact"], "0" * 64, good["bytes"], {})

    def refused() -> bool:
        states = [httpx.get(f"{r.base}/readyz").json() for r in (cluster.a, cluster.b)]
        return all(f"model version {version}" in (s["last_error"] or "") for s in states)

    wait_for(refused, 10)
    assert served_versions(cluster) == served
    assert cluster.top(cluster.a, "1")[0] == "model"
    with Store.open(cluster.database.url) as store:
        store.use_model_version(served[0])  # the next tests start from a usable version


def test_kill_9_of_a_replica_loses_no_acknowledged_event(cluster: Cluster) -> None:
    acknowledged: list[str] = []
    errors_on_b: list[int] = []
    stop = threading.Event()

    def write(replica: Replica, name: str) -> None:
        batch = 0
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                users = [f"{name}-{batch}-{i}" for i in range(20)]
                body = {"events": [{"user_id": u, "item_id": "50", "event_type": "view"}
                                   for u in users]}  # fmt: skip
                try:
                    response = client.post(f"{replica.base}/events", json=body,
                                           headers=cluster.headers)  # fmt: skip
                except httpx.TransportError:
                    continue  # the killed replica
                if response.status_code == 200:
                    acknowledged.extend(users)
                elif replica is cluster.b:
                    errors_on_b.append(response.status_code)
                batch += 1

    writers = [threading.Thread(target=write, args=(r, n)) for r, n in
               ((cluster.a, "to-a"), (cluster.b, "to-b"))]  # fmt: skip
    for thread in writers:
        thread.start()
    time.sleep(2)
    cluster.a.kill()
    time.sleep(1)
    assert cluster.top(cluster.b, "1")[0] == "model"  # B answers on
    stop.set()
    for thread in writers:
        thread.join()
    assert errors_on_b == []
    assert sum(u.startswith("to-a") for u in acknowledged) >= 20
    with Store.open(cluster.database.url) as store:
        stored = set(store.events_frame()["user_id"])
    assert set(acknowledged) <= stored
    # written while A was down, through B: A catches up when it comes back
    cluster.post(cluster.b, "/events", {"events": [
        {"user_id": "while-a-was-down", "item_id": "50", "event_type": "view"}]})  # fmt: skip
    cluster.a.start()
    assert cluster.top(cluster.a, "while-a-was-down")[0] == "model"
    assert cluster.top(cluster.a, acknowledged[-1])[0] == "model"


def test_a_database_that_goes_away_is_answered_with_503_until_it_returns(
    cluster: Cluster,
) -> None:
    event = {"events": [{"user_id": "db-down", "item_id": "50", "event_type": "view"}]}
    cluster.database.stop()
    try:
        for replica in (cluster.a, cluster.b):
            ready = httpx.get(f"{replica.base}/readyz", timeout=20)
            assert ready.status_code == 503 and ready.json()["store"] is False
            refused = cluster.post(replica, "/events", event)
            assert refused.status_code == 503, refused.text
            assert "cannot be reached" in refused.json()["detail"]
            # what needs no write is still answered from memory
            assert cluster.top(replica, "1")[0] == "model"
    finally:
        cluster.database.start()
    for replica in (cluster.a, cluster.b):
        wait_for(lambda r=replica: httpx.get(f"{r.base}/readyz").json()["following_changes"], 30)
    assert cluster.post(cluster.a, "/events", event).status_code == 200
    wait_for(lambda: cluster.top(cluster.b, "db-down")[0] == "model", 5)

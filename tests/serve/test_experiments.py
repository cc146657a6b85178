"""The experiments' admin API over the small shop: create, list, pause, report; lists
say which variant served them; bad specs and conflicts are refused naming why."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from llmrec.serve import create_app
from llmrec.serve.keys import create_key
from llmrec.store import Store
from tests.conftest import SHOP_PURCHASES, stock_shop

ARMS = [{"name": "model", "share": 0.5}, {"name": "popular", "share": 0.5, "strategy": "popular"}]


@pytest.fixture
def api(settings):
    settings = stock_shop(settings)
    with Store.open(settings.effective_database_url) as store:
        admin = {"Authorization": f"Bearer {create_key(store, ['admin'], 'a')[1]}"}
        read = {"Authorization": f"Bearer {create_key(store, ['read', 'write'], 'r')[1]}"}
        with TestClient(create_app(settings, store)) as client:
            yield client, admin, read


def test_an_experiment_from_creation_to_its_report(api):
    client, admin, read = api
    made = client.post("/admin/experiments", json={"name": "floor", "variants": ARMS,
                                                   "salt": "1111111111111111"}, headers=admin)  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "running" and made.json()["kind"] == "ab"
    served = {}
    for user in SHOP_PURCHASES:
        answer = client.get(f"/users/{user}/recommendations?k=2", headers=read).json()
        assert answer["experiment"] == "floor" and len(answer["request_id"]) == 32
        served[user] = answer
    clicks = [{"user_id": u, "item_id": a["items"][0]["item_id"], "event_type": "click",
               "timestamp": time.time() + 1} for u, a in served.items()]  # fmt: skip
    assert client.post("/events", json={"events": clicks}, headers=read).status_code == 200
    report = client.get("/admin/experiments/floor/report", headers=admin)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["impressions"] == len(SHOP_PURCHASES)
    assert {v["variant"]: v["click_through"] for v in body["variants"]} == {"model": 1.0,
                                                                          "popular": 1.0}  # fmt: skip
    assert body["sample_ratio_mismatch"] is False
    paused = client.post("/admin/experiments/floor/status", json={"status": "paused"},
                         headers=admin)  # fmt: skip
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    plain = client.get("/users/ana/recommendations?k=2", headers=read).json()
    assert "experiment" not in plain
    listed = client.get("/admin/experiments", headers=admin).json()
    assert [(e["name"], e["status"]) for e in listed] == [("floor", "paused")]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "x", "variants": [{"name": "a", "share": 0.7}, {"name": "b", "share": 0.7}]},
     422, "sum to 1.4"),
    ({"name": "x", "variants": [{"name": "a", "share": 1}]}, 422, "at least 2"),
    ({"name": "x y", "variants": ARMS}, 422, "pattern"),
    ({"name": "x", "variants": ARMS, "unknown": 1}, 422, "Extra inputs"),
])  # fmt: skip
def test_a_bad_experiment_is_refused_naming_the_field(api, body, status, message):
    client, admin, _ = api
    refused = client.post("/admin/experiments", json=body, headers=admin)
    assert refused.status_code == status and message in refused.text


def test_conflicts_unknown_names_and_scopes(api):
    client, admin, read = api
    assert client.post("/admin/experiments", json={"name": "one", "variants": ARMS},
                       headers=admin).status_code == 201  # fmt: skip
    second = client.post("/admin/experiments", json={"name": "two", "variants": ARMS},
                         headers=admin)  # fmt: skip
    assert second.status_code == 409 and "'one' is running" in second.json()["detail"]
    again = client.post("/admin/experiments?start=false", json={"name": "one", "variants": ARMS},
                        headers=admin)  # fmt: skip
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    missing = client.get("/admin/experiments/nope/report", headers=admin)
    assert missing.status_code == 404 and "no experiment named 'nope'" in missing.text
    status = client.post("/admin/experiments/nope/status", json={"status": "paused"},
                         headers=admin)  # fmt: skip
    assert status.status_code == 404
    wrong = client.post("/admin/experiments/one/status", json={"status": "finished"},
                        headers=admin)  # fmt: skip
    assert wrong.status_code == 422
    assert client.get("/admin/experiments", headers=read).status_code == 403

"""The HTTP API as clients use it: scopes, online updates, cold start, bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from llmrec.serve import create_app
from llmrec.serve.keys import create_key
from llmrec.store import Store
from tests.conftest import stock_shop, time_limit

# (method, path, body, scope needed)
ENDPOINTS = [
    ("GET", "/users/1/recommendations", None, "read"),
    ("GET", "/items/1/similar", None, "read"),
    ("POST", "/search", {"query": "space adventure"}, "read"),
    ("GET", "/users/1/profile", None, "read"),
    ("POST", "/chat", {"message": "a funny comedy"}, "read"),
    ("POST", "/items", {"items": [{"item_id": "scope-test", "title": "Scope test"}]}, "write"),
    ("POST", "/users", {"users": [{"user_id": "scope-user"}]}, "write"),
    ("POST", "/events", {"events": [{"user_id": "scope-user", "item_id": "1"}]}, "write"),
    ("GET", "/metrics", None, "admin"),
    ("DELETE", "/users/scope-user", None, "admin"),
]


@pytest.mark.parametrize(("method", "path", "body", "needed"), ENDPOINTS)
def test_every_endpoint_needs_a_key_with_its_scope(service, method, path, body, needed):
    call = lambda headers: service.client.request(method, path, json=body, headers=headers)  # noqa: E731
    missing = call({})
    assert missing.status_code == 401 and missing.json()["detail"] == "missing API key"
    assert call({"Authorization": "Bearer llmrec_0123456789abcdef_wrong"}).status_code == 401
    assert call({"Authorization": "Bearer not-a-key"}).status_code == 401
    for scope in ("read", "write", "admin"):
        response = call(service.headers(scope))
        if scope == needed:
            assert response.status_code in (200, 202), response.text
        else:
            assert response.status_code == 403 and needed in response.json()["detail"]


def test_health_needs_no_key(service):
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz").json()
    assert ready["ready"] and ready["model_age_s"] >= 0 and not ready["training"]


def test_recommendations_with_reasons(service):
    response = service.client.get(
        "/users/1/recommendations?k=5&explain=true", headers=service.headers("read")
    )
    body = response.json()
    assert response.status_code == 200 and body["strategy"] == "model"
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    first = body["items"][0]
    assert first["title"] and first["sources"] and first["reasons"]["features"]
    seen = set(service.store.events_frame().query("user_id == '1'")["item_id"])
    assert not {i["item_id"] for i in body["items"]} & seen


def test_a_like_and_a_dislike_change_the_next_list_at_once(service):
    read, write = service.headers("read"), service.headers("write")
    before = service.client.get("/users/7/recommendations?k=10", headers=read).json()["items"]
    top = before[0]["item_id"]
    sent = service.client.post(
        "/events", json={"events": [{"user_id": "7", "item_id": top, "event_type": "dislike"}]},
        headers=write,
    )  # fmt: skip
    assert sent.status_code == 200 and sent.json()["stored"] == 1
    after = service.client.get("/users/7/recommendations?k=10", headers=read).json()["items"]
    assert top not in {i["item_id"] for i in after}
    # durable: in the store when the call returned
    stored = service.store.events_frame().query("user_id == '7' and event_type == 'dislike'")
    assert top in set(stored["item_id"])


def test_not_interested_moves_the_item_and_its_look_alikes_down_never_up(service):
    """The page's "Not interested" button posts this event: the item leaves the list,
    the items whose text is closest to it lose score, none gains, and the item is not
    in the user's positive history (it once was: the type had no weight, so +1)."""
    read, write = service.headers("read"), service.headers("write")
    url = "/users/42/recommendations?k=30"
    listed = service.client.get(url, headers=read).json()
    assert listed["strategy"] == "model"
    before = {i["item_id"]: i["score"] for i in listed["items"]}
    hidden = listed["items"][0]["item_id"]
    sent = service.client.post(
        "/events",
        json={"events": [{"user_id": "42", "item_id": hidden, "event_type": "not_interested"}]},
        headers=write,
    )
    assert sent.status_code == 200 and sent.json()["stored"] == 1
    relisted = service.client.get(url, headers=read).json()["items"]
    after = {i["item_id"]: i["score"] for i in relisted}
    assert hidden not in after
    assert all(after[i] <= before[i] + 1e-6 for i in before.keys() & after.keys())
    model = service.client.app.state.model.model
    vectors = model.vectors_[model.item_ids_.get_indexer([hidden, *before])]
    closeness = dict(zip(before, (vectors[1:] @ vectors[0]).tolist(), strict=True))
    del closeness[hidden]
    closest = sorted(closeness, key=closeness.get, reverse=True)[:5]
    assert all(closeness[i] > 0 for i in closest)
    assert all(i not in after or after[i] < before[i] for i in closest)
    assert hidden not in set(model.item_ids_[model.histories_.items_of("42")])


def test_a_new_item_is_recommendable_as_soon_as_it_is_posted(service):
    item = {
        "item_id": "new-space-opera",
        "title": "Galactic Rebels Strike Again",
        "description": "A space opera with starships, rebels and an evil empire.",
        "tags": ["Sci-Fi", "Adventure", "brand-new"],
    }
    posted = service.client.post("/items", json={"items": [item]}, headers=service.headers("write"))
    assert posted.status_code == 200 and posted.json()["stored"] == 1
    read = service.headers("read")
    listed = service.client.get(
        "/users/1/recommendations?k=3&include_tag=brand-new", headers=read
    ).json()
    assert [i["item_id"] for i in listed["items"]] == ["new-space-opera"]
    found = service.client.post(
        "/search", json={"query": "starships and an evil empire"}, headers=read
    )
    assert "new-space-opera" in [i["item_id"] for i in found.json()["items"]]
    similar = service.client.get("/items/new-space-opera/similar?k=5", headers=read).json()
    assert len(similar["items"]) == 5


def test_new_users_get_their_stated_interests_or_popular_items(service):
    read = service.headers("read")
    unknown = service.client.get("/users/nobody-yet/recommendations?k=5", headers=read).json()
    assert unknown["strategy"] == "popular" and len(unknown["items"]) == 5
    service.client.post(
        "/users", json={"users": [{"user_id": "kid-fan", "interests": "animated films for children"}]},
        headers=service.headers("write"),
    )  # fmt: skip
    stated = service.client.get("/users/kid-fan/recommendations?k=5", headers=read).json()
    assert stated["strategy"] == "interests"
    tags = service.client.app.state.model.model.items_["tags"]
    assert (
        sum(
            "Animation" in tags[i["item_id"]] or "Children's" in tags[i["item_id"]]
            for i in stated["items"]
        )
        >= 3
    )


def test_bad_rows_are_reported_and_good_rows_kept(service):
    events = [
        {"user_id": "bad-input-user", "item_id": "1", "event_type": "view"},
        {"user_id": "bad-input-user", "event_type": "search"},  # a search needs a query
        {"user_id": "bad-input-user", "item_id": "2", "event_type": "rating"},  # needs a value
    ]
    response = service.client.post(
        "/events", json={"events": events}, headers=service.headers("write")
    )
    body = response.json()
    assert response.status_code == 200 and body["received"] == 3 and body["stored"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "query" in body["rejected"][0]["reason"] and "value" in body["rejected"][1]["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [{"item_id": "1"}]}, "user_id"),
        ({"events": [{"user_id": "u", "timestamp": "yesterday"}]}, "timestamp"),
        ({"events": [{"user_id": "u", "event_type": "DROP TABLE"}]}, "event_type"),
        ({"events": []}, "events"),
        ({"events": [{"user_id": "u", "extra": 1}]}, "extra"),
        ({"events": [{"user_id": "u", "item_id": "1"}] * 1001}, "events"),
    ],
)
def test_invalid_payloads_get_422_naming_the_field(service, body, field):
    response = service.client.post("/events", json=body, headers=service.headers("write"))
    assert response.status_code == 422
    assert field in str(response.json()["detail"])


@pytest.mark.parametrize(
    ("path", "body", "problem"),
    [
        (
            "/events",
            '{"events": [{"user_id": "u", "item_id": "1", "value": NaN}]}',
            "expected a JSON value",
        ),
        (
            "/events",
            '{"events": [{"user_id": "u", "item_id": "1", "value": Infinity}]}',
            "expected a JSON value",
        ),
        ("/events", '{"events": [{"user_id": "u", "item_id": "1", "value": 1e400}]}', "infinity"),
        ("/events", '{"events": [{"user_id": "\\ud800", "item_id": "1"}]}', "surrogate"),
        ("/items", '{"items": [{"item_id": "x", "title": "\\udcff"}]}', "surrogate"),
        ("/search", '{"query": "\\ud800 space"}', "surrogate"),
        ("/chat", '{"message": "\\u200b\\u200b<>"}', "empty once control characters"),
        ("/chat", '{"message": "\\u0001\\u0002"}', "empty once control characters"),
    ],
)
def test_hostile_json_gets_422_not_500(service, path, body, problem):
    headers = {**service.headers("all"), "Content-Type": "application/json"}
    response = service.client.post(path, content=body.encode(), headers=headers)
    assert response.status_code == 422, response.text
    assert problem in str(response.json()["detail"])


def test_a_validation_error_echoing_nan_is_still_sent(service):
    # A NaN reaches pydantic through a query string and is echoed back in the 422.
    response = service.client.get(
        "/users/1/recommendations?diversity=nan", headers=service.headers("read")
    )
    assert response.status_code == 422 and "diversity" in response.text


def test_an_id_with_a_slash_is_reachable_by_every_endpoint(service):
    user = "shop/customer 7"
    stored = service.client.post(
        "/events", json={"events": [{"user_id": user, "item_id": "50", "event_type": "like"}]},
        headers=service.headers("write"),
    )  # fmt: skip
    assert stored.json()["stored"] == 1
    quoted = "shop%2Fcustomer%207"
    profile = service.client.get(f"/users/{quoted}/profile", headers=service.headers("read"))
    assert profile.status_code == 200 and profile.json()["events"] == 1
    listed = service.client.get(f"/users/{quoted}/recommendations", headers=service.headers("read"))
    assert listed.status_code == 200 and listed.json()["user_id"] == user
    gone = service.client.delete(f"/users/{quoted}", headers=service.headers("admin"))
    assert gone.status_code == 200 and gone.json()["removed"]["events"] == 1
    for control in ("%00", "9%0A", "%0Ax%0D"):  # a newline matched no route: a 404 before
        bad = service.client.get(
            f"/users/{control}/recommendations", headers=service.headers("read")
        )
        assert bad.status_code == 422, control
        assert (
            service.client.get(
                f"/items/{control}/similar", headers=service.headers("read")
            ).status_code
            == 422
        )


def test_oversized_bodies_and_unknown_ids(service):
    huge = {"items": [{"item_id": "x", "title": "y" * 5_000_000}]}
    assert (
        service.client.post("/items", json=huge, headers=service.headers("write")).status_code
        == 413
    )
    missing = service.client.get("/items/no-such-item/similar", headers=service.headers("read"))
    assert missing.status_code == 404 and "no-such-item" in missing.json()["detail"]
    assert (
        service.client.get(
            "/users/1/recommendations?k=0", headers=service.headers("read")
        ).status_code
        == 422
    )


def test_forgetting_a_user(service):
    write, admin = service.headers("write"), service.headers("admin")
    service.client.post(
        "/events", json={"events": [{"user_id": "leaver", "item_id": "50", "event_type": "like"}]},
        headers=write,
    )  # fmt: skip
    gone = service.client.delete("/users/leaver", headers=admin)
    assert gone.status_code == 200 and gone.json()["removed"]["events"] == 1
    assert service.store.events_frame().query("user_id == 'leaver'").empty
    profile = service.client.get("/users/leaver/profile", headers=service.headers("read")).json()
    assert profile["events"] == 0
    assert service.client.delete("/users/leaver", headers=admin).status_code == 404


def test_metrics_count_requests_and_events(service):
    text = service.client.get("/metrics", headers=service.headers("admin")).text
    assert (
        'llmrec_request_seconds_count{method="GET",route="/users/{user_id}/recommendations"' in text
    )
    assert "llmrec_events_ingested_total" in text and "llmrec_model_age_seconds" in text


def test_known_users_lists_are_ranked_ahead_in_the_background(service, trained_settings):
    # a service of its own: the shared one's item upserts drop every kept list
    with TestClient(create_app(trained_settings, service.store)) as client:
        deadline = time.time() + time_limit(300)
        while (ready := client.get("/readyz").json())["warming"] and time.time() < deadline:
            time.sleep(0.5)
        assert not ready["warming"]
        # every user with a history in the store: ML-100K's and those other tests posted
        known = len(client.app.state.model.model.histories_)
        assert ready["lists_kept"] == known >= 943
        metrics = client.get("/metrics", headers=service.headers("admin")).text
        assert f"llmrec_ranked_lists_kept {known}.0" in metrics


def test_rate_limit_per_key(trained_settings):
    from fastapi.testclient import TestClient

    from llmrec.serve import create_app
    from llmrec.serve.keys import create_key
    from llmrec.store import Store

    settings = trained_settings.model_copy(
        update={
            "serve": trained_settings.serve.model_copy(
                update={"rate_limit_per_s": 1, "rate_limit_burst": 3}
            )
        }
    )
    with Store.open(settings.effective_database_url) as store:
        key = create_key(store, ["read"])[1]
        with TestClient(create_app(settings, store)) as client:
            codes = [
                client.get(
                    "/users/1/profile", headers={"Authorization": f"Bearer {key}"}
                ).status_code
                for _ in range(5)
            ]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


@pytest.mark.slow
def test_retrain_swaps_the_model_without_stopping(service):
    state = service.client.app.state.model
    old = state.model
    started = service.client.post("/admin/retrain", headers=service.headers("admin"))
    assert started.status_code == 202 and started.json()["status"] == "started"
    again = service.client.post("/admin/retrain", headers=service.headers("admin")).json()
    assert again["status"] == "already running"
    deadline = time.time() + time_limit(300)
    while state.model is old and time.time() < deadline:
        # serving goes on while the model trains
        assert (
            service.client.get(
                "/users/1/recommendations", headers=service.headers("read")
            ).status_code
            == 200
        )
        time.sleep(1)
    assert state.model is not old and state.last_error is None


def test_chat_turns_refine_a_conversation(service):
    read = service.headers("read")
    first = service.client.post(
        "/chat", json={"message": "something like Toy Story (1995)"}, headers=read
    )
    body = first.json()
    assert first.status_code == 200 and len(body["items"]) == 5
    assert "Toy Story" in str(body["parse"]["query"]["like_titles"]) or body["fallback"]
    top = body["items"][0]["item_id"]
    follow = service.client.post(
        "/chat",
        json={"message": "not that one", "conversation_id": body["conversation_id"]},
        headers=read,
    ).json()
    assert follow["conversation_id"] == body["conversation_id"] and top not in {
        i["item_id"] for i in follow["items"]
    }
    unknown = service.client.post(
        "/chat", json={"message": "more", "conversation_id": "0" * 32}, headers=read
    )
    assert unknown.status_code == 404
    blank = service.client.post("/chat", json={"message": "   "}, headers=read)
    assert blank.status_code == 422 and "message" in str(blank.json()["detail"])


def test_a_kept_list_is_answered_as_a_scored_one(service):
    from llmrec.serve.schemas import RecommendationsOut

    read = service.headers("read")
    model = service.client.app.state.model.model
    service.client.get("/users/21/recommendations?k=8", headers=read)  # scored or kept
    hits = model.list_cache_.hits
    kept = service.client.get("/users/21/recommendations?k=8", headers=read)
    assert model.list_cache_.hits == hits + 1  # the event-loop path answered
    explained = service.client.get("/users/21/recommendations?k=8&explain=true", headers=read)
    assert kept.status_code == explained.status_code == 200
    kept, explained = (RecommendationsOut.model_validate_json(r.content) for r in (kept, explained))
    assert kept.strategy == "model" and len(kept.items) == 8
    assert [i.model_dump(exclude={"reasons"}) for i in explained.items] == [
        i.model_dump(exclude={"reasons"}) for i in kept.items
    ]
    assert all(i.title and i.sources and i.reasons is None for i in kept.items)


def test_a_corrupt_model_file_is_refused_and_popular_items_are_served(trained_settings, tmp_path):
    from llmrec.serve.keys import create_key
    from llmrec.store import Store

    broken = tmp_path / "recommender.pkl"
    broken.write_bytes(trained_settings.effective_model_file.read_bytes()[:100_000])
    settings = trained_settings.model_copy(
        update={"recommender": trained_settings.recommender.model_copy(
            update={"model_file": broken})}
    )  # fmt: skip
    with Store.open(settings.effective_database_url) as store:
        key = create_key(store, ["read"], "corrupt-model")[1]
        with TestClient(create_app(settings, store)) as client:
            ready = client.get("/readyz").json()
            assert ready["ready"] and "cut short" in ready["last_error"]
            assert ready["fallback"].startswith("popular items: the model file cannot be used")
            listed = client.get("/users/1/recommendations?k=5",
                                headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            assert listed.status_code == 200 and len(listed.json()["items"]) == 5


def test_a_forgotten_user_stays_forgotten_after_a_restart(service, trained_settings):
    user = "942"  # in the model file on disk, used by no other test
    read = service.headers("read")
    assert service.client.get(f"/users/{user}/profile", headers=read).json()["events"] > 0
    assert (
        service.client.delete(f"/users/{user}", headers=service.headers("admin")).status_code == 200
    )
    with TestClient(create_app(trained_settings, service.store)) as restarted:
        profile = restarted.get(f"/users/{user}/profile", headers=read).json()
        assert profile["events"] == 0
        listed = restarted.get(f"/users/{user}/recommendations?k=5", headers=read).json()
        assert listed["strategy"] == "popular"


def test_requests_without_a_valid_key_are_limited_per_address(trained_settings):
    from llmrec.serve.keys import create_key
    from llmrec.store import Store

    serve = trained_settings.serve.model_copy(update={"refused_per_s": 0.001, "refused_burst": 5})
    settings = trained_settings.model_copy(update={"serve": serve})
    with Store.open(settings.effective_database_url) as store:
        key = create_key(store, ["read"], "beside-a-flood")[1]
        good = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(settings, store)) as client:
            assert client.get("/users/1/profile", headers=good).status_code == 200
            bad = {"Authorization": "Bearer llmrec_0123456789abcdef_flood"}
            codes = [client.get("/users/1/profile", headers=bad).status_code for _ in range(8)]
            assert codes == [401] * 5 + [429] * 3
            assert client.get("/users/1/profile").status_code == 429  # no key at all
            # A key already verified still works from the same address.
            assert client.get("/users/1/profile", headers=good).status_code == 200


def test_a_retry_with_the_same_idempotency_key_stores_nothing_twice(service):
    events = {"events": [{"user_id": "retrier", "item_id": "50", "event_type": "play"},
                         {"user_id": "retrier", "item_id": "51", "event_type": "play"}]}  # fmt: skip
    headers = {**service.headers("write"), "Idempotency-Key": "order-7f3a-attempt"}
    first = service.client.post("/events", json=events, headers=headers).json()
    time.sleep(1.1)  # the server's clock moves on: without the key the retry is new events
    again = service.client.post("/events", json=events, headers=headers).json()
    assert first["stored"] == 2 and not first["replayed"]
    assert again == {**first, "replayed": True}
    stored = service.store.events_frame().query("user_id == 'retrier'")
    assert len(stored) == 2
    unkeyed = service.client.post("/events", json=events, headers=service.headers("write")).json()
    assert unkeyed["stored"] == 2 and not unkeyed["replayed"]  # what the key is there for
    bad = service.client.post("/events", json=events,
                              headers={**service.headers("write"), "Idempotency-Key": "a b"})  # fmt: skip
    assert bad.status_code == 422 and "idempotency-key" in bad.text.lower()


# -- shop filters and repeat items (the shop of tests/conftest.py) ----------------------


@pytest.fixture
def shop(settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A service over the small shop (Coffee repeatable) and a read+write key."""
    settings = stock_shop(settings)
    with Store.open(settings.effective_database_url) as store:
        key = create_key(store, ["read", "write"], "shop")[1]
        with TestClient(create_app(settings, store)) as client:
            yield client, {"Authorization": f"Bearer {key}"}


def shown(client: TestClient, headers: dict[str, str], query: str) -> set[str]:
    response = client.get(f"/users/{query}", headers=headers)
    assert response.status_code == 200, response.text
    return {item["item_id"] for item in response.json()["items"]}


def test_price_brand_and_stock_filters_over_http(shop):
    client, headers = shop
    # ana bought coffee-acme (Coffee: repeatable), paper-filters (repeatable), mug, sugar
    acme_to_20 = "k=12&max_price=20&brand=ACME&available=true"
    assert shown(client, headers, f"ana/recommendations?{acme_to_20}") == {
        "coffee-acme", "tea-acme", "paper-filters"
    }  # fmt: skip
    assert shown(client, headers, f"someone-new/recommendations?{acme_to_20}") == {
        "coffee-acme", "tea-acme", "paper-filters", "sugar"
    }  # fmt: skip
    # the mug (Bean Co) is from $9.99: under the bound
    several = "k=12&brand=bean%20co&brand=Grindwell&min_price=10"
    assert shown(client, headers, f"someone-new/recommendations?{several}") == {
        "coffee-bean", "grinder", "machine"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("min_price=30&max_price=20", "min_price", "'min_price' 30 is above 'max_price' 20"),
        ("max_price=cheap", "max_price", "valid number"),
        ("max_price=-1", "max_price", "greater than or equal to 0"),
        ("max_price=nan", "max_price", "finite number"),
        ("min_price=inf", "min_price", "finite number"),
    ],
)
def test_bad_filters_get_422_naming_the_parameter(shop, query, field, message):
    client, headers = shop
    response = client.get(f"/users/ana/recommendations?{query}", headers=headers)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", field] and message in problem["msg"]


def test_a_repeat_item_stays_in_the_kept_list_after_another_purchase(shop):
    client, headers = shop
    before = shown(client, headers, "ana/recommendations?k=12")
    assert {"coffee-acme", "paper-filters"} <= before and not before & {"mug", "sugar"}
    bought = {"events": [{"user_id": "ana", "item_id": "coffee-acme", "event_type": "purchase"},
                         {"user_id": "ana", "item_id": "press", "event_type": "purchase"}]}  # fmt: skip
    assert client.post("/events", json=bought, headers=headers).status_code == 200
    after = shown(client, headers, "ana/recommendations?k=12")
    assert "coffee-acme" in after and "press" not in after


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_exclude_and_candidates_on_every_list_endpoint(service):
    read, get = service.headers("read"), service.client.get
    top = _ids(get("/users/1/recommendations?k=10", headers=read))
    query = "&".join(f"exclude={i}" for i in top[:4])
    assert _ids(get(f"/users/1/recommendations?k=6&{query}", headers=read)) == top[4:]
    only = ["1", "50", "181", "no-such-item"]
    picked = _ids(get("/users/2/recommendations?k=5&" + "&".join(f"candidates={i}" for i in only),
                      headers=read))  # fmt: skip
    assert picked and set(picked) <= set(only[:3])
    # a newcomer's list (stated interests, by text) honours them too
    fresh = _ids(get("/users/newcomer-x/recommendations?k=5&interests=space%20adventure",
                     headers=read))  # fmt: skip
    rest = _ids(get("/users/newcomer-x/recommendations?k=5&interests=space%20adventure&"
                    + "&".join(f"exclude={i}" for i in fresh), headers=read))  # fmt: skip
    assert rest and not set(rest) & set(fresh)
    similar = _ids(get("/items/50/similar?k=5", headers=read))
    fewer = _ids(get("/items/50/similar?k=5&" + "&".join(f"exclude={i}" for i in similar[:2]),
                     headers=read))  # fmt: skip
    assert fewer[:3] == similar[2:]
    assert _ids(get("/items/50/similar?k=5&candidates=1&candidates=2", headers=read)) in (
        ["1", "2"], ["2", "1"]
    )  # fmt: skip
    body = {"query": "space adventure", "k": 5}
    found = _ids(service.client.post("/search", json=body, headers=read))
    again = service.client.post("/search", json=body | {"exclude": found[:2]}, headers=read)
    assert not set(_ids(again)) & set(found[:2])
    kept = service.client.post("/search", json=body | {"candidates": ["1", "2"]}, headers=read)
    assert set(_ids(kept)) <= {"1", "2"}
    # an unknown id excludes nothing (not the model's last item either)
    last = str(service.client.app.state.service.model().item_ids_[-1])
    only_last = body | {"candidates": [last], "exclude": ["no-such-item"]}
    assert _ids(service.client.post("/search", json=only_last, headers=read)) == [last]


def test_an_item_list_beyond_the_limit_is_refused_naming_it(service):
    read = service.headers("read")
    many = "&".join(f"exclude=i{n}" for n in range(201))
    refused = service.client.get(f"/users/1/recommendations?{many}", headers=read)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "exclude"]
    body = {"query": "space", "candidates": [f"i{n}" for n in range(201)]}
    refused = service.client.post("/search", json=body, headers=read)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "candidates"]
    bad = service.client.get("/items/50/similar?exclude=", headers=read)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["query", "exclude"]

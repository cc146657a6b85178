"""Experiments as the service runs them, over the small shop of tests/conftest.py: each
user's variant serves their list, the list is recorded, outcomes in the store make the
report, and a second service over the same store (another replica) agrees."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from llmrec.app import Service
from llmrec.app.experiments import (
    ExperimentConflictError,
    ExperimentError,
    Experiments,
    UnknownExperimentError,
)
from llmrec.store import Store
from tests.conftest import SHOP_PURCHASES, stock_shop

ARMS = [{"name": "model", "share": 0.5}, {"name": "popular", "share": 0.5, "strategy": "popular"}]
SHOP_USERS = list(SHOP_PURCHASES)
SALT = "0123456789abcdef"  # fixed: ana, ben and dev get the model, cleo and eve popularity


@pytest.fixture
def service(settings):
    settings = stock_shop(settings)
    with Store.open(settings.effective_database_url) as store:
        opened = Service.open(settings, store)
        yield opened
        opened.close()


def test_each_users_variant_serves_and_every_list_is_recorded(service):
    made = service.experiments.create({"name": "pop-floor", "variants": ARMS, "salt": SALT})
    users = [*SHOP_USERS, "someone-new"]
    lists = {u: service.for_user(u, k=3) for u in users}
    for user, found in lists.items():
        variant = made.variant_of(user)
        assert found.experiment == "pop-floor" and found.variant == variant.name
        if variant.strategy == "popular":
            expected = service.model().popular_items(user, 3)["item_id"].tolist()
            assert [i["item_id"] for i in found.items] == expected
    assert {f.variant for f in lists.values()} == {"model", "popular"}  # both arms in use
    # the kept-list path answers a model-arm user too, and records it
    model_user = next(u for u in SHOP_USERS if made.variant_of(u).name == "model")
    service.model().set_params(list_cache_size=100)
    service.for_user(model_user, k=3)
    kept = service.kept_list(model_user, k=3)
    assert kept is not None and kept.variant == "model"
    service.experiments.flush()
    shown = service.store.impressions_frame("pop-floor")
    assert len(shown) == len(users) + 2
    assert set(shown["request_id"]) >= {f.request_id for f in lists.values()}
    first = shown.set_index("request_id").loc[lists[users[0]].request_id]
    assert first["items"] == [i["item_id"] for i in lists[users[0]].items]


def test_the_report_counts_clicks_on_shown_items_per_variant(service):
    service.experiments.create({"name": "clicks", "variants": ARMS, "window_s": 3600, "salt": SALT})
    served = {u: service.for_user(u, k=3) for u in SHOP_USERS}
    service.experiments.flush()
    now = int(time.time()) + 1
    clicked = [(u, f.items[0]["item_id"]) for u, f in served.items() if f.variant == "model"]
    events = pd.DataFrame({"user_id": [u for u, _ in clicked], "item_id": [i for _, i in clicked],
                           "event_type": "click", "timestamp": now})  # fmt: skip
    service.record_events([events], [None])
    found = service.experiments.report("clicks", service.settings.event_weights)
    by = {v.variant: v for v in found.variants}
    assert by["model"].click_through == 1.0 and by["popular"].click_through == 0.0
    assert by["model"].users + by["popular"].users == len(SHOP_USERS)
    assert found.to_dict()["variants"][0]["user_click_through"]["mean"] == 1.0


def test_an_interleaved_list_drafts_both_variants_and_records_the_teams(service):
    service.experiments.create({"name": "mix", "kind": "interleave", "variants": ARMS})
    found = service.for_user(SHOP_USERS[0], k=4)
    assert found.variant == "interleaved" and [i["rank"] for i in found.items] == [1, 2, 3, 4]
    service.experiments.flush()
    [teams] = service.store.impressions_frame("mix")["teams"]
    assert sorted(set(teams)) == [0, 1] and len(teams) == 4


def test_one_experiment_runs_at_a_time_and_a_stopped_one_stays_stopped(service):
    experiments = service.experiments
    experiments.create({"name": "first", "variants": ARMS})
    with pytest.raises(ExperimentConflictError, match="'first' is running"):
        experiments.create({"name": "second", "variants": ARMS})
    experiments.create({"name": "second", "variants": ARMS}, start=False)
    with pytest.raises(ExperimentConflictError, match="exists"):
        experiments.create({"name": "second", "variants": ARMS}, start=False)
    experiments.set_status("first", "paused")
    assert service.for_user(SHOP_USERS[0]).experiment is None  # the model's own list again
    experiments.set_status("second", "running")
    assert service.for_user(SHOP_USERS[0]).experiment == "second"
    experiments.set_status("second", "stopped")
    with pytest.raises(ExperimentConflictError, match="stopped"):
        experiments.set_status("second", "running")
    with pytest.raises(UnknownExperimentError, match="no experiment named 'third'"):
        experiments.set_status("third", "paused")
    with pytest.raises(ExperimentError, match=r"sum to 0\.6"):
        experiments.create({"name": "bad", "variants": [{"name": "a", "share": 0.3},
                                                        {"name": "b", "share": 0.3}]})  # fmt: skip
    assert [e["status"] for e in experiments.listed()] == ["paused", "stopped"]


def test_another_replica_serves_the_same_variant_and_forgetting_removes_impressions(service):
    made = service.experiments.create({"name": "shared", "variants": ARMS})
    other = Experiments(service.store)  # a second replica's view of the store
    assert other.running() == made
    user = SHOP_USERS[1]
    service.for_user(user)
    service.experiments.flush()
    assert user in set(service.store.impressions_frame("shared")["user_id"])
    service.forget(user)
    assert user not in set(service.store.impressions_frame("shared")["user_id"])


def test_users_outside_the_traffic_share_get_the_default_and_no_impression(service):
    before = {u: service.for_user(u, k=3) for u in SHOP_USERS}
    made = service.experiments.create({"name": "some", "variants": ARMS, "traffic": 0.5,
                                       "salt": "3" * 16})  # fmt: skip
    outside = [u for u in SHOP_USERS if not made.includes(u)]
    assert outside and len(outside) < len(SHOP_USERS)
    for user in outside:
        found = service.for_user(user, k=3)
        assert found.experiment is None and found.items == before[user].items
    service.experiments.set_status("some", "stopped")
    assert all(service.for_user(u, k=3).experiment is None for u in SHOP_USERS)
    service.experiments.flush()
    assert set(service.store.impressions_frame("some")["user_id"]).isdisjoint(outside)


@pytest.mark.postgres
def test_impressions_lost_while_the_database_is_away_are_counted_in_the_report():
    from llmrec.experiments import Experiment
    from tests.conftest import local_postgres

    server = local_postgres()
    try:
        with Store.open(server.url) as store:
            experiments = Experiments(store, flush_s=0.05)
            made = experiments.create({"name": "outage", "variants": ARMS})
            running = experiments.running()
            assert isinstance(running, Experiment) and running == made
            for user in ("a", "b"):
                experiments.record(made, made.variant_of(user).name, user, ["x"])
            experiments.flush()
            server.stop()
            for user in ("c", "d", "e"):
                experiments.record(made, made.variant_of(user).name, user, ["x"])
            experiments.flush(timeout=10)
            assert experiments.lost == 3  # not yet told: the store is away
            server.start()
            found = experiments.report("outage", {"click": 1.0})
            assert found.impressions == 2 and found.lost_impressions == 3
            assert any("3 impressions were served but not stored" in n for n in found.notes)
            assert experiments.lost == 0
            experiments.close()
    finally:
        server.remove()


def test_a_published_model_version_serves_its_variant_and_a_bad_one_is_refused(settings, tmp_path):
    from llmrec.recommender import Recommender
    from llmrec.training import train_from_store

    published = settings.model_copy(update={"registry": settings.registry.model_copy(
        update={"artifacts": str(tmp_path / "artifacts")})})  # fmt: skip
    shop = stock_shop(published)  # trains and publishes version 1 (ease, popular)
    popular_only = shop.model_copy(update={"recommender": shop.recommender.model_copy(
        update={"sources": {"popular": {}}})})  # fmt: skip
    with Store.open(shop.effective_database_url) as store:
        train_from_store(store, popular_only)  # version 2, served now
        service = Service.open(shop, store)
        try:
            arms = [{"name": "v1", "share": 0.5, "model_version": 1},
                    {"name": "v2", "share": 0.5, "model_version": 2}]  # fmt: skip
            made = service.experiments.create({"name": "versions", "variants": arms,
                                               "salt": SALT}, served=service.model())  # fmt: skip
            events = store.events_frame()
            for user in SHOP_USERS:
                version = made.variant_of(user).model_version
                found = service.for_user(user, k=3)
                local = tmp_path / "copy.llmrec"
                local.write_bytes((tmp_path / "artifacts" / f"model-{version:06d}.llmrec").read_bytes())
                expected = Recommender.load(local, events).recommend([user], k=3)
                assert found.variant == f"v{version}"
                assert [i["item_id"] for i in found.items] == expected["item_id"].tolist()
            service.experiments.set_status("versions", "stopped")
            unknown = [{"name": "a", "share": 0.5, "model_version": 9}, {"name": "b", "share": 0.5}]
            with pytest.raises(ExperimentError, match=r"no published model version 9 \(published: \[2, 1\]\)"):
                service.experiments.create({"name": "bad", "variants": unknown})
            (tmp_path / "artifacts" / "model-000001.llmrec").write_bytes(b"not a model")
            for cached in (shop.effective_versions_dir).glob("model-000001*"):
                cached.unlink()
            broken = [{"name": "a", "share": 0.5, "model_version": 1}, {"name": "b", "share": 0.5}]
            with pytest.raises(ExperimentError, match="variant a: model version 1"):
                service.experiments.create({"name": "broken", "variants": broken})
        finally:
            service.close()

"""One service answers (llmrec.app.Service): the same question asked through the Python
API, the command line and HTTP gets the same answer."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmrec.app import Service
from llmrec.cli import app as cli_app
from llmrec.serve import create_app


def test_the_same_question_gets_the_same_answer_through_python_cli_and_http(
    service, trained_settings
):
    python = Service.open(trained_settings, service.store)
    read = service.headers("read")

    def cli(*args: str) -> list[str]:
        done = CliRunner().invoke(
            cli_app, ["--home", str(trained_settings.home), *args, "--format", "json"]
        )
        assert done.exit_code == 0, done.output
        return [row["item"] for row in json.loads(done.stdout)]

    def ids(items: list[dict]) -> list[str]:
        return [item["item_id"] for item in items]

    # a service started now, from the model file and the store, as the CLI's and Python's
    with TestClient(create_app(trained_settings, service.store)) as client:

        def http(path: str, **body) -> list[str]:
            answer = (
                client.post(path, json=body, headers=read)
                if body
                else client.get(path, headers=read)
            )
            assert answer.status_code == 200, answer.text
            return ids(answer.json()["items"])

        known = ids(python.for_user("1", 5).items)
        assert len(known) == 5
        assert (
            http("/users/1/recommendations?k=5")
            == known
            == cli("recommend", "--user", "1", "-k", "5")
        )

        stated = python.for_user("newcomer-9", 5, interests="space adventure with robots")
        assert stated.strategy == "interests"
        assert (
            http("/users/newcomer-9/recommendations?k=5&interests=space adventure with robots")
            == ids(stated.items)
            == cli(
                "recommend",
                "--user",
                "newcomer-9",
                "-k",
                "5",
                "--interests",
                "space adventure with robots",
            )
        )

        nobody = python.for_user("nobody-at-all", 5)
        assert nobody.strategy == "popular"
        assert (
            http("/users/nobody-at-all/recommendations?k=5")
            == ids(nobody.items)
            == cli("recommend", "--user", "nobody-at-all", "-k", "5")
        )

        similar = ids(python.similar("50", 5))
        assert http("/items/50/similar?k=5") == similar == cli("similar", "--item", "50", "-k", "5")

        found = ids(python.search("animated film for children", 5))
        assert (
            http("/search", query="animated film for children", k=5)
            == found
            == cli("search", "animated film for children", "-k", "5")
        )
        mine = ids(python.search("animated film for children", 5, user_id="1"))
        had = set(python.model().item_ids_[python.model().histories_.items_of("1")])
        assert len(mine) == 5 and not set(mine) & had  # user 1's own films are left out
        assert (
            http("/search", query="animated film for children", k=5, user_id="1")
            == mine
            == cli("search", "animated film for children", "-k", "5", "--user", "1")
        )

        asked = "a funny animated film for kids"  # the LLM's parse is cached in the store
        said = python.chat(asked, k=5)
        answer = client.post("/chat", json={"message": asked, "k": 5}, headers=read).json()
        assert [i["item_id"] for i in answer["items"]] == ids(said.items) and len(said.items) == 5
        shown = CliRunner().invoke(
            cli_app, ["--home", str(trained_settings.home), "chat", "-m", asked, "-k", "5"]
        )
        assert shown.exit_code == 0, shown.output
        assert all(item["title"][:20] in shown.stdout for item in said.items)

        profile = python.profile("1", 5)
        answer = client.get("/users/1/profile?top=5", headers=read).json()
        assert [(k["keyword"], k["weight"]) for k in answer["keywords"]] == profile.keywords
        assert answer["events"] == profile.events > 0
        shown = CliRunner().invoke(
            cli_app, ["--home", str(trained_settings.home), "profile", "--user", "1", "--top", "5"]
        )
        assert all(keyword in shown.stdout for keyword, _ in profile.keywords)
    python.close()


def test_a_newcomer_with_friends_gets_their_tastes(service, trained_settings):
    """Social cold start is on the served path: a user without history or stated
    interests is matched by the mean of their friends' content vectors."""
    import pandas as pd

    service.store.add_links(
        pd.DataFrame({"user_id": ["friendly-new"] * 2, "friend_id": ["1", "2"]})
    )
    python = Service.open(trained_settings, service.store)
    found = python.for_user("friendly-new", 5)
    assert found.strategy == "friends" and len(found.items) == 5
    answer = service.client.get(
        "/users/friendly-new/recommendations?k=5", headers=service.headers("read")
    ).json()
    assert answer["strategy"] == "friends" and [i["item_id"] for i in answer["items"]] == [
        i["item_id"] for i in found.items
    ]
    python.close()


def test_a_large_catalogue_is_searched_through_the_hnsw_index(service, trained_settings):
    """From ``serve.ann_threshold`` items, search and newcomers go through an HNSW index
    built in the background (exact search until it is ready), and items added later are
    added to it."""
    import pandas as pd

    serve = trained_settings.serve.model_copy(update={"ann_threshold": 1_000})  # ML-100K: 1,682
    settings = trained_settings.model_copy(update={"serve": serve})
    python = Service.open(settings, service.store)
    query = "a science fiction film about space travel"
    exact = [i["item_id"] for i in python.search(query, 10)]  # while the index is built
    assert python.wait_for_index()
    model, index = python._index
    # the shared store's catalogue: ML-100K's 1,682 and what other tests added to it
    catalogue = len(model.item_ids_)
    assert model is python.model() and index.graph_ is not None and index.size == catalogue
    approximate = [i["item_id"] for i in python.search(query, 10)]
    assert len(set(approximate) & set(exact)) >= 9  # HNSW at efSearch 128: (near) exact
    python.add_items(pd.DataFrame({"item_id": ["space-odyssey-new"], "title": ["Voyage to the Stars"],
                                   "description": ["a science fiction film about space travel"]}))  # fmt: skip
    assert index.size == catalogue + 1
    assert "space-odyssey-new" in [i["item_id"] for i in python.search(query, 10)]
    python.close()

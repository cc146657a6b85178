"""Settings: defaults < llmrec.toml < LLMREC_* environment < explicit arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmrec.config import load_settings, setting_sources
from llmrec.errors import ConfigError


def test_defaults(settings):
    assert settings.event_weights["purchase"] > settings.event_weights["cart"]
    assert settings.event_weights["cart"] > settings.event_weights["click"]
    assert settings.event_weights["click"] > settings.event_weights["view"]
    assert settings.event_weights["dislike"] < 0 and settings.event_weights["skip"] < 0
    assert settings.effective_database_url.endswith("home/llmrec.db")


def test_toml_then_environment_then_arguments(settings, tmp_path: Path, monkeypatch):
    (tmp_path / "llmrec.toml").write_text(
        'home = "from-toml"\n[ingest]\nchunk_rows = 123\n[event_weights]\npurchase = 9\n'
    )
    loaded = load_settings()
    assert loaded.home == Path("from-toml") and loaded.ingest.chunk_rows == 123
    assert loaded.event_weights["purchase"] == 9 and loaded.event_weights["view"] == 1.0
    monkeypatch.setenv("LLMREC_INGEST__CHUNK_ROWS", "456")
    monkeypatch.setenv("LLMREC_DATABASE_URL", "postgresql://db/x")
    loaded = load_settings()
    assert loaded.ingest.chunk_rows == 456 and loaded.effective_database_url == "postgresql://db/x"
    assert load_settings(home=Path("arg")).home == Path("arg")


def test_invalid_settings_are_config_errors(settings, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LLMREC_INGEST__CHUNK_ROWS", "zero")
    with pytest.raises(ConfigError, match=r"ingest\.chunk_rows"):
        load_settings()
    monkeypatch.delenv("LLMREC_INGEST__CHUNK_ROWS")
    (tmp_path / "llmrec.toml").write_text("home = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
    monkeypatch.setenv("LLMREC_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="which is not a file"):
        load_settings()


def test_each_value_that_is_not_a_default_names_where_it_came_from(
    settings, tmp_path: Path, monkeypatch
):
    (tmp_path / "llmrec.toml").write_text("[ingest]\nchunk_rows = 123\n[event_weights]\nlike = 5\n")
    monkeypatch.setenv("LLMREC_EVENT_WEIGHTS__PURCHASE", "8")
    monkeypatch.setenv("LLMREC_INGEST__CHUNK_ROWS", "456")
    monkeypatch.setenv("LLMREC_NOT_A_SETTING", "x")
    sources = setting_sources({"home": Path("h")})
    assert sources["event_weights.purchase"] == "$LLMREC_EVENT_WEIGHTS__PURCHASE"
    assert sources["ingest.chunk_rows"] == "$LLMREC_INGEST__CHUNK_ROWS"  # the variable wins
    assert sources["event_weights.like"] == "llmrec.toml" and sources["home"] == "command line"
    assert "not_a_setting" not in sources


def test_each_source_is_configured_in_its_own_table(settings, tmp_path: Path, monkeypatch):
    from llmrec.training import build_recommender

    (tmp_path / "llmrec.toml").write_text(
        "[recommender.sources.ease]\nl2 = 250\n[recommender.sources.sasrec]\n"
        "max_epochs = 20\ndropout = 0.2\n[recommender.sources.popular]\n"
    )
    loaded = load_settings()
    assert loaded.recommender.sources == {
        "ease": {"l2": 250},
        "sasrec": {"max_epochs": 20, "dropout": 0.2},
        "popular": {},
    }
    configs = build_recommender(loaded, None).sources  # validated, in the file's order
    assert list(configs) == ["ease", "sasrec", "popular"]
    assert (
        configs["ease"].l2 == 250.0
        and configs["sasrec"].max_epochs == 20
        and configs["sasrec"].max_len == 50
    )
    # a list of names is every source at its defaults (as LLMREC_RECOMMENDER__SOURCES='[...]')
    monkeypatch.setenv("LLMREC_RECOMMENDER__SOURCES", '["ease", "covisit"]')
    assert load_settings().recommender.sources == {"ease": {}, "covisit": {}}


def test_a_wrong_source_option_names_the_source_and_the_option(settings, tmp_path: Path):
    from llmrec.training import build_recommender

    for table, wanted in [
        (
            "[recommender.sources.ease]\nl2 = -1\n",
            r"recommender\.sources: source 'ease': l2: Input should be greater than 0",
        ),
        (
            "[recommender.sources.ease]\nlambda = 5\n",
            r"source 'ease': lambda: Extra inputs are not permitted",
        ),
        ("[recommender.sources.easy]\n", r"unknown source 'easy'; known: ease, itemknn"),
    ]:
        (tmp_path / "llmrec.toml").write_text(table)
        with pytest.raises(ConfigError, match=wanted):
            build_recommender(load_settings(), None)


def test_the_flat_source_settings_of_an_older_release_still_apply(settings, tmp_path: Path):
    (tmp_path / "llmrec.toml").write_text(
        '[recommender]\nsources = ["ease", "sasrec"]\nease_l2 = 100\nsasrec_max_epochs = 7\n'
    )
    with pytest.warns(FutureWarning) as warned:
        loaded = load_settings()
    assert [str(w.message) for w in warned] == [
        "recommender.ease_l2 is deprecated: set l2 in [recommender.sources.ease]",
        "recommender.sasrec_max_epochs is deprecated: set max_epochs in [recommender.sources.sasrec]",
    ]
    assert loaded.recommender.sources == {"ease": {"l2": 100.0}, "sasrec": {"max_epochs": 7}}

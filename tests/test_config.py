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


def test_each_value_that_is_not_a_default_names_where_it_came_from(settings, tmp_path: Path, monkeypatch):
    (tmp_path / "llmrec.toml").write_text("[ingest]\nchunk_rows = 123\n[event_weights]\nlike = 5\n")
    monkeypatch.setenv("LLMREC_EVENT_WEIGHTS__PURCHASE", "8")
    monkeypatch.setenv("LLMREC_INGEST__CHUNK_ROWS", "456")
    monkeypatch.setenv("LLMREC_NOT_A_SETTING", "x")
    sources = setting_sources({"home": Path("h")})
    assert sources["event_weights.purchase"] == "$LLMREC_EVENT_WEIGHTS__PURCHASE"
    assert sources["ingest.chunk_rows"] == "$LLMREC_INGEST__CHUNK_ROWS"  # the variable wins
    assert sources["event_weights.like"] == "llmrec.toml" and sources["home"] == "command line"
    assert "not_a_setting" not in sources

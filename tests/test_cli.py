"""The command line as a user runs it: a real process, real files, exit codes, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmrec import Recommender, Store
from llmrec.explain import explain
from tests.conftest import SHOP_TOML, stock_shop, time_limit

_ALL_CORES = str(len(os.sched_getaffinity(0)))


def llmrec(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    return subprocess.run(
        [sys.executable, "-m", "llmrec", *args],
        cwd=cwd,
        # The suite runs one test at a time: llama.cpp may have every core.
        env={**base, "COLUMNS": "200", "LLMREC_LLM__THREADS": _ALL_CORES, **(env or {})},
        capture_output=True,
        text=True,
        timeout=time_limit(1200),  # quickstart took 8 min on a busy machine
    )


@pytest.mark.slow
def test_quickstart_loads_movielens_and_prints_stats(tmp_path: Path, ml100k: Path):
    # The fast sources keep the test short; the default adds SASRec (minutes).
    fast = {"LLMREC_RECOMMENDER__SOURCES": '["ease", "covisit", "content", "popular"]'}
    result = llmrec(
        "quickstart", "--path", str(ml100k), "--enrich", "3", "--no-serve", cwd=tmp_path, env=fast
    )
    assert result.returncode == 0, result.stderr
    assert "u.data" in result.stdout and "100,000" in result.stdout
    assert "Star Wars (1977)" in result.stdout  # the most rated movie
    assert "sparsity" in result.stdout and "93.69" in result.stdout
    assert (tmp_path / ".llmrec" / "llmrec.db").is_file()
    # The bundled LLM described the three most rated movies (Star Wars, Contact, Fargo).
    assert "generated descriptions" in result.stdout
    assert "Contact (1997)" in result.stdout and "Fargo (1996)" in result.stdout
    # trained, compared with baselines, and three users' lists with reasons
    assert (tmp_path / ".llmrec" / "model" / "recommender.pkl").is_file()
    assert "leave-last-one-out" in result.stdout and "CoVisit" in result.stdout
    assert result.stdout.count("top 5 and why") == 3
    # A rerun reuses every cache: no enrichment call, no training, no evaluation.
    again = llmrec(
        "quickstart", "--path", str(ml100k), "--enrich", "3", "--no-serve", cwd=tmp_path, env=fast
    )
    assert again.returncode == 0 and "trained in" not in again.stdout
    assert _table_value(again.stdout, "model calls") == "0"


def _table_value(output: str, name: str) -> str:
    line = next(line for line in output.splitlines() if f"│ {name} " in line)
    return line.strip(" │┃|").split("│")[-1].strip()


@pytest.mark.slow
def test_enrich_items_and_users_from_the_command_line(tmp_path: Path, ml100k: Path):
    assert (
        llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path).returncode
        == 0
    )
    result = llmrec("enrich", "items", "--items", "50", "--items", "181", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model calls" in result.stdout and "items: " in result.stdout
    # Return of the Jedi's greedy answer loops ("sci-fi sci-fi …"): rejected, asked again
    calls = _table_value(result.stdout, "model calls")
    assert calls == "3"
    rerun = llmrec("enrich", "items", "--items", "50", "--items", "181", cwd=tmp_path)
    assert _table_value(rerun.stdout, "answers from the cache") == calls
    assert _table_value(rerun.stdout, "model calls") == "0"
    users = llmrec("enrich", "users", "--limit", "2", cwd=tmp_path)
    assert users.returncode == 0, users.stderr
    assert "enrich users" in users.stdout


def test_enrich_unknown_ids_and_unreachable_servers_are_one_line_errors(
    tmp_path: Path, ml100k: Path
):
    llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path)
    unknown = llmrec("enrich", "items", "--items", "no-such-item", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["error: unknown item id(s): no-such-item"]
    remote = llmrec(
        "enrich", "items", "--limit", "1", cwd=tmp_path,
        env={"LLMREC_LLM__BACKEND": "openai", "LLMREC_LLM__BASE_URL": "http://127.0.0.1:9/v1",
             "LLMREC_LLM__MAX_RETRIES": "0", "LLMREC_LLM__MODEL": "m"},
    )  # fmt: skip
    assert remote.returncode == 2
    assert "cannot reach the server at http://127.0.0.1:9/v1" in remote.stderr
    assert "Traceback" not in remote.stderr


def test_ingest_with_mapping_reports_and_quarantines(tmp_path: Path):
    path = tmp_path / "plays.csv"
    path.write_text("listener;track;plays\nanna;t1;3\nben;t2;lots\n")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('delimiter = ";"\n[columns]\nuser_id = "listener"\n[constants]\n'
                       'event_type = "play"\n')  # fmt: skip
    result = llmrec(
        "ingest", "events", str(path), "--mapping", str(mapping), "--map", "item_id=track",
        "--map", "value=plays", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(
        line for line in result.stdout.splitlines() if "plays.csv" in line and "events" in line
    )
    assert [c.strip() for c in row.strip("│ ").split("│")][1:6] == ["events", "2", "1", "0", "1"]
    assert re.search(r"quarantine/plays\.csv-[0-9a-f]{8}\.quarantine\.jsonl",
                     result.stdout.replace("\n", ""))  # fmt: skip
    assert not (tmp_path / "plays.csv.quarantine.jsonl").exists()
    shown = llmrec("quarantine", cwd=tmp_path)
    assert "non-numeric value 'lots'" in shown.stdout
    stats = llmrec("stats", cwd=tmp_path)
    assert stats.returncode == 0 and "play" in stats.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "events", "missing.csv"], "missing.csv: no such file"),
        (["ingest", "events", "semi.csv"], "wrong delimiter? it contains ';'"),
        (["ingest", "events", "semi.csv", "--map", "user"], "expected NAME=COLUMN"),
        (
            ["ingest", "items", "semi.csv", "--delimiter", ";"],
            "missing required column(s) for items",
        ),
        (["ingest", "events", "semi.csv", "--format", "xml"], "--format 'xml'"),
        (["datasets", "load", "nope"], "unknown dataset 'nope'"),
        (["--database-url", "mysql://x/y", "stats"], "unsupported database 'mysql'"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str):
    (tmp_path / "semi.csv").write_text("user_id;item_id\nu;i\n")
    result = llmrec(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error:") and message in " ".join(lines)


def test_bad_settings_are_reported_without_traceback(tmp_path: Path):
    result = llmrec("stats", cwd=tmp_path, env={"LLMREC_INGEST__CHUNK_ROWS": "-1"})
    assert result.returncode == 2 and "ingest.chunk_rows" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_reflects_file_and_environment(tmp_path: Path):
    (tmp_path / "llmrec.toml").write_text("[ingest]\nmax_id_length = 64\n")
    result = llmrec("config", "show", cwd=tmp_path, env={"LLMREC_HOME": str(tmp_path / "h")})
    assert result.returncode == 0, result.stderr
    assert '"max_id_length": 64' in result.stdout
    assert str(tmp_path / "h" / "llmrec.db") in result.stdout


def test_datasets_list_names_every_dataset(tmp_path: Path):
    result = llmrec("datasets", "list", cwd=tmp_path)
    for name in ("movielens-100k", "movielens-latest-small", "lastfm-2k",
                 "amazon-2018-gift-cards"):  # fmt: skip
        assert name in result.stdout


@pytest.mark.slow
def test_embed_recommend_similar_search_from_the_command_line(tmp_path: Path, ml100k: Path):
    assert (
        llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path).returncode
        == 0
    )
    first = llmrec("embed", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert _table_value(first.stdout, "items") == "1681"
    # 18 movies are in the catalogue twice under two ids, with the same text.
    assert _table_value(first.stdout, "encoded now") == "1663"
    again = llmrec("embed", cwd=tmp_path)
    assert _table_value(again.stdout, "encoded now") == "0"
    assert _table_value(again.stdout, "from the cache") == "1681"

    rec = llmrec("recommend", "--user", "1", "-k", "5", cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    assert "interest vectors" in rec.stdout and rec.stdout.count("│") > 20
    cold = llmrec(
        "recommend", "--user", "new-person", "--interests", "space battles and robots", cwd=tmp_path
    )
    assert "stated interests" in cold.stdout
    sim = llmrec("similar", "--item", "50", "-k", "3", cwd=tmp_path)
    assert "Empire Strikes Back" in sim.stdout
    found = llmrec("search", "animated film for kids", "--user", "1", cwd=tmp_path)
    assert found.returncode == 0 and "query + interest vector" in found.stdout

    interests = llmrec("profile", "--user", "1", "--top", "3", cwd=tmp_path)
    assert interests.returncode == 0 and "interests of user 1" in interests.stdout
    assert interests.stdout.count("│") >= 9  # three keyword rows

    missing = llmrec("similar", "--item", "no-such-item", cwd=tmp_path)
    assert (
        missing.returncode == 2 and missing.stderr.strip() == "error: unknown item id: no-such-item"
    )
    empty = llmrec("search", "   ", cwd=tmp_path)
    assert empty.returncode == 2 and "empty" in empty.stderr


@pytest.mark.slow
def test_evaluate_writes_a_report_with_plots(tmp_path: Path, ml100k: Path):
    assert (
        llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path).returncode
        == 0
    )
    result = llmrec(
        "evaluate", "--system", "MostPop", "--system", "EASE", "--out", "report", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "MostPop" in result.stdout and "EASE" in result.stdout
    report = tmp_path / "report"
    text = (report / "report.md").read_text()
    assert "| leave_last_one_out | EASE |" in text
    for plot in ("leave_last_one_out-ndcg-at-k.png", "leave_last_one_out-activity.png"):
        assert (report / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = {
        r["system"]: r for r in __import__("json").loads((report / "results.json").read_text())
    }
    # EASE beats popularity by a wide margin on leave-last-one-out
    assert results["EASE"]["ndcg@10"] > 1.3 * results["MostPop"]["ndcg@10"] > 0.03
    # EASE's l2 was chosen on a validation split: every value tried is on record
    tuning = __import__("json").loads((report / "tuning.json").read_text())
    assert [t["source"] for t in tuning] == ["ease"]
    assert tuning[0]["chosen"]["l2"] in [t["l2"] for t in tuning[0]["trials"]]
    assert "| ease | l2=" in text
    bad = llmrec("evaluate", "--split", "random", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown split" in bad.stderr
    elsewhere = llmrec("evaluate", "--ray-address", "ray://cluster:10001", cwd=tmp_path)
    assert elsewhere.returncode == 2 and "--ray-address needs --engine ray" in elsewhere.stderr


@pytest.mark.slow
def test_train_then_recommend_uses_the_hybrid_model(tmp_path: Path, ml100k: Path):
    empty = llmrec("train", cwd=tmp_path)
    assert empty.returncode == 2 and "no events" in empty.stderr
    assert (
        llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path).returncode
        == 0
    )
    env = {"LLMREC_RECOMMENDER__SOURCES": '["ease", "covisit", "content", "popular"]'}
    trained = llmrec("train", cwd=tmp_path, env=env)
    assert trained.returncode == 0, trained.stderr
    assert "ease, covisit, content, popular" in trained.stdout
    assert int(_table_value(trained.stdout, "users")) == 943
    assert _table_value(trained.stdout, "of which fitting each source").startswith("ease ")
    assert (tmp_path / ".llmrec" / "model" / "recommender.pkl").is_file()
    known = llmrec("recommend", "--user", "1", "-k", "5", cwd=tmp_path, env=env)
    assert known.returncode == 0, known.stderr
    # The printed list is the saved model's list, with titles and the proposing sources.
    with Store.open(f"sqlite:///{tmp_path / '.llmrec' / 'llmrec.db'}") as store:
        events = store.events_frame()
    model = Recommender.load(tmp_path / ".llmrec" / "model" / "recommender.pkl", events)
    expected = model.recommend(["1"], k=5)
    for item_id, sources in zip(expected["item_id"], expected["sources"], strict=True):
        title = model.items_.loc[item_id, "title"]
        assert title[:20] in known.stdout and sources.split(",")[0] in known.stdout
    new = llmrec("recommend", "--user", "someone-new", "-k", "3", cwd=tmp_path, env=env)
    assert new.returncode == 0 and "popular" in new.stdout
    assert "unknown user someone-new" in new.stderr and "showing popular items" in new.stderr
    first = expected.iloc[0]
    why = llmrec(
        "explain", "--user", "1", "--item", first["item_id"], "--sentence", cwd=tmp_path, env=env
    )
    assert why.returncode == 0, why.stderr
    assert "(LLM)" in why.stdout or "failed" in why.stdout
    reasons = explain(model, "1", first["item_id"])
    assert f"score {reasons.score:.3f}" in why.stdout
    assert reasons.history[0].title[:20] in why.stdout and reasons.features[0].feature in why.stdout
    unknown = llmrec("explain", "--user", "1", "--item", "nope", cwd=tmp_path, env=env)
    assert unknown.returncode == 2 and "unknown item id: nope" in unknown.stderr
    nobody = llmrec(
        "explain", "--user", "nobody", "--item", first["item_id"], cwd=tmp_path, env=env
    )
    assert nobody.returncode == 2 and "unknown user id: nobody" in nobody.stderr
    assert "score" not in nobody.stdout


@pytest.mark.slow
def test_chat_from_the_command_line(tmp_path: Path, ml100k: Path):
    assert (
        llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path).returncode
        == 0
    )
    result = llmrec(
        "chat",
        "-m",
        "something like Toy Story (1995)",
        "-m",
        "not that one",
        "--show-parse",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "> something like Toy Story (1995)" in result.stdout and "> not that one" in result.stdout
    )
    assert "like Toy Story (1995)" in result.stdout and '"like_titles"' in result.stdout
    raw = subprocess.run(
        [sys.executable, "-m", "llmrec", "chat", "--raw"], input="an animated film for kids\n",
        cwd=tmp_path, env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=time_limit(600),
    )  # fmt: skip
    assert raw.returncode == 0 and "parse was not usable" in raw.stdout


@pytest.mark.slow
def test_ctrl_c_stops_enrichment_within_seconds(tmp_path: Path):
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,tags\n" + "".join(
        f"i{i},Handmade ceramic mug number {i},kitchen|coffee\n" for i in range(60)))  # fmt: skip
    assert llmrec("ingest", "items", str(items), cwd=tmp_path).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "enrich", "items"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    for line in proc.stdout:  # plain progress lines: the output is not a terminal
        lines.append(line)
        if " of 60 " in line:
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=time_limit(60))
    assert time.monotonic() - started < 10 and proc.returncode != 0
    assert any(line.startswith("items: ") and " of 60 " in line for line in lines)


def test_each_quickstart_revokes_the_key_of_the_one_before(store):
    from llmrec.cli.quickstart import _quickstart_key
    from llmrec.serve.keys import verify_key

    first, second = _quickstart_key(store), _quickstart_key(store)
    assert verify_key(store, first) is None and verify_key(store, second) is not None
    keys = store.api_keys_frame().set_index("key_id")
    assert keys["revoked"].to_dict() == {first.split("_")[1]: True, second.split("_")[1]: False}


# -- --format, in this process (Typer's runner) over the small shop of tests/conftest.py ----


def _run(*args: str) -> Result:
    from llmrec.cli import app

    return CliRunner().invoke(app, list(args))


def test_tables_as_json_csv_and_markdown(settings):
    home = ["--home", str(stock_shop(settings).home)]
    rec = _run(*home, "recommend", "--user", "ana", "-k", "3", "--format", "json")
    assert rec.exit_code == 0, rec.output
    items = json.loads(rec.stdout)  # stdout is the JSON and nothing else
    assert [i["rank"] for i in items] == [1, 2, 3]
    assert set(items[0]) == {"rank", "item", "title", "score", "source"}
    assert all(isinstance(i["score"], float) for i in items)
    as_csv = _run(*home, "recommend", "--user", "ana", "-k", "3", "--format", "csv")
    assert [r["item"] for r in csv.DictReader(io.StringIO(as_csv.stdout))] == [
        i["item"] for i in items
    ]
    as_markdown = _run(*home, "recommend", "--user", "ana", "-k", "3", "--format", "markdown")
    assert as_markdown.stdout.startswith("**for user ana**\n\n| rank | item | title |")

    counts = json.loads(_run(*home, "stats", "--format", "json").stdout)
    assert set(counts) == {"store", "events_per_type", "top_items"}
    assert {"measure": "events", "value": 28} in counts["store"]
    assert counts["events_per_type"] == [{"event type": "purchase", "events": 28}]

    report = settings.home.parent / "report"
    evaluated = _run(*home, "evaluate", "--system", "MostPop", "--no-tune", "--out",
                     str(report), "--format", "json")  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    [row] = json.loads(evaluated.stdout)
    assert row["system"] == "MostPop" and 0 <= row["ndcg@10"] <= 1
    assert f"report: {report}" in evaluated.stderr

    listed = json.loads(_run("datasets", "list", "--format", "json").stdout)
    assert "amazon-2018-magazine-subscriptions" in [d["name"] for d in listed]
    wrong = _run("datasets", "list", "--format", "yaml")
    assert wrong.exit_code == 2 and "yaml" in wrong.output


def test_recommend_with_price_brand_and_stock_filters(settings):
    home = ["--home", str(stock_shop(settings).home)]
    Path("llmrec.toml").write_text(SHOP_TOML)  # the CLI's own settings: Coffee repeatable
    acme_to_20 = ["-k", "12", "--max-price", "20", "--brand", "acme", "--in-stock"]
    # ana bought coffee-acme (Coffee), paper-filters (repeatable), mug and sugar; the kettle
    # is out of stock
    known = _run(*home, "recommend", "--user", "ana", *acme_to_20)
    assert known.exit_code == 0, known.output
    assert _listed(known.stdout) == ["tea-acme", "coffee-acme", "paper-filters"]
    # a new user is matched by text: the store's items are filtered the same way
    new = _run(*home, "recommend", "--user", "someone-new", *acme_to_20)
    assert new.exit_code == 0, new.output
    assert set(_listed(new.stdout)) == {"coffee-acme", "sugar", "tea-acme", "paper-filters"}
    for bad, message in [
        (["--min-price", "30", "--max-price", "20"], "error: filter 'min_price' 30 is above"),
        (["--max-price", "-1"], "Invalid value for '--max-price'"),
        (["--max-price", "cheap"], "Invalid value for '--max-price'"),
    ]:
        refused = _run(*home, "recommend", "--user", "ana", *bad)
        assert refused.exit_code == 2 and message in refused.output, refused.output
        assert "Traceback" not in refused.output and "rank" not in refused.output


def test_recommend_and_similar_leave_out_or_keep_to_named_items(settings):
    home = ["--home", str(stock_shop(settings).home)]
    full = _listed(_run(*home, "recommend", "--user", "ana", "-k", "4").stdout)
    fewer = _run(*home, "recommend", "--user", "ana", "-k", "3", "--exclude", full[0])
    assert fewer.exit_code == 0, fewer.output
    assert _listed(fewer.stdout) == full[1:]
    kept = _run(*home, "recommend", "--user", "someone-new", "--candidate", "sugar",
                "--candidate", "press", "--candidate", "no-such-item")  # fmt: skip
    assert kept.exit_code == 0 and sorted(_listed(kept.stdout)) == ["press", "sugar"]
    like = _listed(_run(*home, "similar", "--item", "mug", "-k", "3").stdout)
    unlike = _run(*home, "similar", "--item", "mug", "-k", "2", "--exclude", like[0])
    assert _listed(unlike.stdout) == like[1:]


def _listed(table: str) -> list[str]:
    """The item ids of a printed recommendation table, in rank order."""
    return [line.split("│")[2].strip() for line in table.splitlines() if line.startswith("│")]


def test_a_list_tells_apart_items_of_one_title(settings, monkeypatch):
    import tests.conftest as shop

    same = {"tea-acme", "press"}
    items = [(i, "Same Title" if i in same else t, *rest) for i, t, *rest in shop.SHOP_ITEMS]
    monkeypatch.setattr(shop, "SHOP_ITEMS", items)
    home = ["--home", str(stock_shop(settings).home)]
    listed = _run(*home, "recommend", "--user", "ana", "-k", "12", "--format", "json")
    titles = {i["item"]: i["title"] for i in json.loads(listed.stdout)}
    assert {titles[i] for i in same} == {"Same Title (tea-acme)", "Same Title (press)"}


def test_a_loaded_dataset_is_summarised_for_the_first_stats(tmp_path: Path, ml100k: Path):
    from llmrec.store.summary import read_sqlite

    assert (
        llmrec("datasets", "load", "movielens-100k", "--path", str(ml100k), cwd=tmp_path).returncode
        == 0
    )
    kept = read_sqlite(f"sqlite:///{tmp_path / '.llmrec' / 'llmrec.db'}", 10)
    assert kept is not None and kept.counts["events"] == 100_000
    assert kept.top_items[0] == ("50", "Star Wars (1977)", 583)
    shown = llmrec("stats", "--format", "json", cwd=tmp_path)
    assert {"measure": "user-item pairs", "value": 100_000} in json.loads(shown.stdout)["store"]


def test_experiments_from_the_command_line(settings):
    home = ["--home", str(stock_shop(settings).home)]
    made = _run(*home, "experiments", "create", "floor", "--variant", "model=0.5",
                "--variant", "pop=0.5,strategy=popular", "--window-hours", "2")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "experiment floor (ab: model 0.5, pop 0.5) running" in made.output
    clash = _run(*home, "experiments", "create", "second", "--variant", "a=0.5", "--variant", "b=0.5")
    assert clash.exit_code == 2 and "'floor' is running" in clash.output
    bad = _run(*home, "experiments", "create", "bad", "--paused", "--variant", "a=0.5",
               "--variant", "b=0.4")  # fmt: skip
    assert bad.exit_code == 2 and "sum to 0.9" in bad.output
    odd = _run(*home, "experiments", "create", "odd", "--variant", "a=half", "--variant", "b=0.5")
    assert odd.exit_code == 2 and "'half' is not a number" in odd.output
    listed = json.loads(_run(*home, "experiments", "list", "--format", "json").stdout)
    assert [(e["name"], e["status"]) for e in listed] == [("floor", "running")]
    assert _run(*home, "recommend", "--user", "ana").exit_code == 0  # an impression
    report = _run(*home, "experiments", "report", "floor", "--format", "json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["impressions"] == 1
    table = _run(*home, "experiments", "report", "floor")
    assert "floor (1 impressions)" in table.stdout and "sample ratio" in table.stdout
    assert _run(*home, "experiments", "stop", "floor").exit_code == 0
    resumed = _run(*home, "experiments", "resume", "floor")
    assert resumed.exit_code == 2 and "stopped" in resumed.output
    missing = _run(*home, "experiments", "pause", "nope")
    assert missing.exit_code == 2 and "no experiment named 'nope'" in missing.output

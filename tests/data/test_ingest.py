"""Ingestion end to end: good rows stored, bad rows quarantined, reruns store nothing new."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from llmrec.config import Settings
from llmrec.data import ingest
from llmrec.data.ingest import ingest_file
from llmrec.data.readers import TableSpec
from llmrec.data.records import RecordKind
from llmrec.errors import InputFileError
from llmrec.store import Store
from tests.conftest import time_limit

MESSY_EVENTS = (
    "user_id,item_id,event_type,value,timestamp\n"
    "u1,i1,view,,1700000000\n"
    "u1,i2,rating,4,1700000100\n"
    "u2,i1,rating,abc,1700000200\n"  # non-numeric rating
    "u2,i3,click\n"  # truncated
    "u3,i1,purchase,,not-a-time\n"  # bad timestamp
    "u1,i2,rating,4,1700000100\n"  # the rating of line 3 again: one statement
    "u4,你好,like,,2023-11-14T22:13:20Z\n"
)


def test_messy_file_stores_good_rows_and_quarantines_bad_ones(
    tmp_path: Path, settings: Settings, store: Store
):
    path = tmp_path / "events.csv"
    path.write_text(MESSY_EVENTS, encoding="utf-8")
    report = ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert (report.rows_read, report.stored, report.duplicates, report.quarantined) == (7, 3, 1, 3)
    events = store.events_frame().sort_values(["user_id", "item_id"])
    assert events[["user_id", "item_id", "event_type"]].values.tolist() == [
        ["u1", "i1", "view"],
        ["u1", "i2", "rating"],
        ["u4", "你好", "like"],
    ]
    assert events["timestamp"].tolist() == [1700000000, 1700000100, 1700000000]

    assert report.quarantine_file.parent == settings.home / "quarantine"
    assert report.quarantine_file.name.startswith("events.csv-")
    assert not (tmp_path / "events.csv.quarantine.jsonl").exists()  # nothing beside the input
    lines = [orjson.loads(x) for x in report.quarantine_file.read_bytes().splitlines()]
    assert sorted((r["line"], r["reason"]) for r in lines) == [
        (4, "non-numeric value 'abc'"),
        (5, "expected 5 fields, found 3 (truncated or malformed row)"),
        (6, "unparseable timestamp 'not-a-time'"),
    ]
    stored = store.quarantine_frame()
    assert sorted(stored["line"].tolist()) == [4, 5, 6]
    assert set(stored["source"]) == {str(path)}
    assert "u2,i1,rating,abc,1700000200" in stored["raw"].tolist()


def test_a_stray_quote_loses_one_row_and_every_later_row_is_stored(
    tmp_path: Path, settings: Settings, store: Store
):
    path = tmp_path / "q.csv"
    path.write_text(
        "user_id,item_id,event_type,value,timestamp\nu1,i1,view,1,1600000000\n"
        'u2,"i2,view,1,1600000001\nu3,i3,view,1,1600000002\nu4,i4,view,1,1600000003\n'
    )
    report = ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert (report.rows_read, report.stored, report.quarantined) == (4, 3, 1)
    assert sorted(store.events_frame()["user_id"]) == ["u1", "u3", "u4"]
    assert store.quarantine_frame()["line"].tolist() == [3]


def test_hostile_values_cost_their_own_rows_only(tmp_path: Path, settings: Settings, store: Store):
    path = tmp_path / "events.csv"
    hostile = ["1e25", "-1e25", "9.3e21", "1e309", "inf", "nan"]
    path.write_text(
        "user_id,item_id,timestamp\n"
        + "".join(f"bad{i},i,{t}\n" for i, t in enumerate(hostile))
        + "".join(f"good{i},i,{1_600_000_000 + i}\n" for i in range(5))
        + " padded,i,1600000000\n"
    )
    report = ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert (report.stored, report.quarantined) == (5, len(hostile) + 1)
    reasons = store.quarantine_frame()["reason"].tolist()
    assert sum("out of range" in r or "unparseable" in r for r in reasons) == len(hostile)
    assert any("leading or trailing whitespace" in r for r in reasons)


def test_items_with_deep_nul_or_invalid_text_are_quarantined_and_the_rest_stored(
    tmp_path: Path, settings: Settings, store: Store
):
    path = tmp_path / "items.jsonl"
    deep = '{"a": ' * 600 + "1" + "}" * 600
    path.write_text(
        f'{{"item_id": "deep", "title": "Deep", "attributes": {deep}}}\n'
        '{"item_id": "nul", "title": "Nul", "attributes": {"k": "a\\u0000b"}}\n'
        '{"item_id": "tag", "title": "Tag", "tags": ["a\\u0000b"]}\n'
        '{"item_id": "ok", "title": "Fine"}\n'
    )
    report = ingest_file(store, TableSpec(path), RecordKind.ITEMS, settings)
    assert (report.stored, report.quarantined) == (1, 3)
    assert store.items_frame()["item_id"].tolist() == ["ok"]


def test_plays_repeated_in_one_second_are_kept_and_a_rerun_adds_none(
    tmp_path: Path, settings: Settings, store: Store
):
    path = tmp_path / "plays.csv"
    path.write_text("user_id,item_id,event_type,timestamp\n" + "u,song,play,1600000000\n" * 3)
    assert ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings).stored == 3
    again = ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert (again.stored, again.duplicates) == (0, 3) and store.counts()["events"] == 3


def test_large_files_are_parsed_in_a_worker_process_with_the_same_result(
    tmp_path: Path, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ingest, "WORKER_MIN_BYTES", 0)
    spawned: list[object] = []
    real_in_worker = ingest._in_worker
    monkeypatch.setattr(ingest, "_in_worker", lambda p: spawned.append(p) or real_in_worker(p))
    path = tmp_path / "events.csv"
    path.write_text(MESSY_EVENTS, encoding="utf-8")
    report = ingest.ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert spawned, "the worker path should have been taken"
    assert (report.rows_read, report.stored, report.duplicates, report.quarantined) == (7, 3, 1, 3)
    assert sorted(store.quarantine_frame()["line"].tolist()) == [4, 5, 6]


def test_errors_in_the_worker_process_reach_the_caller(
    tmp_path: Path, settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ingest, "WORKER_MIN_BYTES", 0)
    path = tmp_path / "events.csv"
    path.write_text("user_id;item_id\nu;i\n")
    with pytest.raises(InputFileError, match="wrong delimiter") as err:
        ingest.ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert err.value.path == str(path)
    assert store.counts()["events"] == 0


def test_ingesting_the_same_file_twice_stores_nothing_new(
    tmp_path: Path, settings: Settings, store: Store
):
    path = tmp_path / "events.csv"
    path.write_text(MESSY_EVENTS, encoding="utf-8")
    ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    before = store.counts()
    again = ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
    assert again.stored == 0 and again.duplicates == 4 and again.quarantined == 3
    assert store.counts() == before


def test_items_update_when_changed_and_stay_when_identical(
    tmp_path: Path, settings: Settings, store: Store
):
    path = tmp_path / "items.jsonl"
    path.write_text(
        '{"item_id": "a", "title": "Alpha", "tags": ["x"], "price": 3}\n'
        '{"item_id": "b", "title": "Beta"}\n'
    )
    first = ingest_file(store, TableSpec(path), RecordKind.ITEMS, settings)
    assert (first.stored, first.duplicates) == (2, 0)
    path.write_text(
        '{"item_id": "a", "title": "Alpha v2", "tags": ["x"], "price": 3}\n'
        '{"item_id": "b", "title": "Beta"}\n'
    )
    second = ingest_file(store, TableSpec(path), RecordKind.ITEMS, settings)
    assert (second.stored, second.duplicates) == (1, 1)
    items = store.items_frame().set_index("item_id")
    assert items.loc["a", "title"] == "Alpha v2"
    assert items.loc["a", "attributes"] == {"price": 3} and items.loc["a", "tags"] == ["x"]


def test_unknown_items_quarantined_when_required(tmp_path: Path, settings: Settings, store: Store):
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\ni1,One\n")
    ingest_file(store, TableSpec(items), RecordKind.ITEMS, settings)
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id\nu,i1\nu,i2\n")
    report = ingest_file(
        store, TableSpec(events), RecordKind.EVENTS, settings, require_known_items=True
    )
    assert (report.stored, report.quarantined) == (1, 1)


def test_quarantine_beside_the_input_only_when_asked_and_writable(
    tmp_path: Path, settings: Settings, store: Store
):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "events.csv"
    path.write_text("user_id,item_id,value\nu,i,x\n")
    beside = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"quarantine_beside_input": True})}
    )
    report = ingest_file(store, TableSpec(path), RecordKind.EVENTS, beside)
    assert report.quarantine_file == folder / "events.csv.quarantine.jsonl"
    report.quarantine_file.unlink()
    folder.chmod(0o555)
    try:
        report = ingest_file(store, TableSpec(path), RecordKind.EVENTS, beside)
    finally:
        folder.chmod(0o755)
    assert report.quarantine_file.parent == settings.home / "quarantine"
    assert not (folder / "events.csv.quarantine.jsonl").exists()


def test_inputs_of_the_same_name_get_their_own_quarantine_files(
    tmp_path: Path, settings: Settings, store: Store
):
    files = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        files.append(tmp_path / name / "events.csv")
        files[-1].write_text("user_id,item_id,value\nu,i,x\n")
    paths = [ingest_file(store, TableSpec(f), RecordKind.EVENTS, settings).quarantine_file
             for f in files]  # fmt: skip
    assert paths[0] != paths[1] and all(p.is_file() for p in paths)


@pytest.mark.slow
def test_killed_ingest_loses_nothing_acknowledged_and_rerun_completes(tmp_path: Path):
    """SIGKILL an ingest midway; every committed chunk stays, a rerun adds the rest once."""
    n_rows = 400_000
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write("user_id,item_id,timestamp\n")
        for i in range(n_rows):
            fh.write(f"u{i % 5000},i{i % 7919},{1_600_000_000 + i}\n")
    env = {**os.environ, "LLMREC_HOME": str(tmp_path / "home"),
           "LLMREC_INGEST__CHUNK_ROWS": "20000"}  # fmt: skip
    command = [sys.executable, "-m", "llmrec", "ingest", "events", str(path)]
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"sqlite:///{tmp_path / 'home' / 'llmrec.db'}"
    deadline = time.monotonic() + time_limit(60)
    stored_at_kill = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if (tmp_path / "home" / "llmrec.db").exists():
            with Store.open(url) as store:
                stored_at_kill = store.counts()["events"]
            if stored_at_kill >= 40_000:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < stored_at_kill < n_rows, "the ingest should be killed midway"
    with Store.open(url) as store:
        survived = store.counts()["events"]
    assert survived >= stored_at_kill and survived % 20_000 == 0  # whole chunks only
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    with Store.open(url) as store:
        assert store.counts()["events"] == n_rows


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_the_parse_worker_dies_with_a_killed_ingest(tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id\n" + "".join(f"u{i},i{i}\n" for i in range(200_000)))
    # The parent stops consuming after the first chunk, so the worker blocks on its queue.
    script = (
        "import sys, time\nfrom pathlib import Path\n"
        "from llmrec.config import Settings\n"
        "from llmrec.data import ingest\n"
        "from llmrec.data.readers import TableSpec\n"
        "from llmrec.data.records import RecordKind\n"
        "from llmrec.store import Store\n"
        "ingest.WORKER_MIN_BYTES = 0\n"
        "settings = Settings(home=sys.argv[2], ingest={'chunk_rows': 1000})\n"
        "store = Store.open(settings.effective_database_url)\n"
        "ingest.ingest_file(store, TableSpec(Path(sys.argv[1])), RecordKind.EVENTS, settings,\n"
        "                   progress=lambda done, total: time.sleep(3600))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(tmp_path / "home")])
    children: list[int] = []
    deadline = time.monotonic() + time_limit(60)
    while not children and time.monotonic() < deadline:
        time.sleep(0.2)
        found = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        children = [int(c) for c in found.read_text().split()] if found.exists() else []
    assert children, "the ingest should have forked its parse worker"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + time_limit(10)
    while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [c for c in children if Path(f"/proc/{c}/status").exists()
             and "State:\tZ" not in Path(f"/proc/{c}/status").read_text()]  # fmt: skip
    assert not alive, f"orphaned parse worker(s): {alive}"

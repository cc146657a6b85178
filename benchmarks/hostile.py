"""Hostile input against llmrec: HTTP requests, ingest files and concurrent model saves.

    python benchmarks/hostile.py

- HTTP: hostile bodies, paths and headers against a real server on 127.0.0.1 (ML-100K,
  fast sources): how many answered 5xx, how many connections were reset.
- Ingest: files of known good rows with hostile rows mixed in (stray quotes, huge and
  nested values, bad bytes, cut archives...): good rows lost, and rows unaccounted for
  (read but neither stored, quarantined nor counted as duplicates).
- Model saves: two processes saving at once, then a load: unreadable files.
- ``kill -9``: the service (its own process) killed while writers post events, five
  times: acknowledged events missing from the store, and processes it left behind.
- Reads under explanations: p99 of plain reads alone and while 8 clients ask for
  explained lists.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import _free_port, wait_until_healthy  # noqa: E402
from tests.serve.conftest import trained_home  # noqa: E402

from llmrec.config import Settings  # noqa: E402
from llmrec.data.ingest import ingest_file  # noqa: E402
from llmrec.data.readers import TableSpec  # noqa: E402
from llmrec.data.records import RecordKind  # noqa: E402
from llmrec.errors import InputFileError  # noqa: E402
from llmrec.model_file import read_model  # noqa: E402
from llmrec.serve import create_app  # noqa: E402
from llmrec.serve.keys import create_key  # noqa: E402
from llmrec.serve.server import server_config  # noqa: E402
from llmrec.store import Store  # noqa: E402

GOOD_ROWS = 200


# -- HTTP -------------------------------------------------------------------------------

_VALUES = ["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', '"\\udfff x"', '"a\\u0000b"',
           '"' + "x" * 300_000 + '"', "[" * 5_000 + "]" * 5_000, '{"a":' * 300 + "1" + "}" * 300,
           "null", "true", "[]", "{}", '"<script>alert(1)</script>"', "-1", "1e308", '""',
           '" "', '"\\u200b"']  # fmt: skip
_FIELDS = {
    "/events": ("events", ["user_id", "item_id", "event_type", "value", "timestamp", "query"]),
    "/items": ("items", ["item_id", "title", "description", "tags", "attributes"]),
    "/users": ("users", ["user_id", "attributes", "interests"]),
}


def hostile_requests() -> Iterator[tuple[str, str, bytes | None, dict]]:
    json_type = {"Content-Type": "application/json"}
    for path, (wrapper, fields) in _FIELDS.items():
        for field in fields:
            for value in _VALUES:
                body = f'{{"{wrapper}": [{{"{field}": {value}}}]}}'
                yield "POST", path, body.encode(), json_type
    for path in ("/search", "/chat"):
        name = "query" if path == "/search" else "message"
        for value in _VALUES:
            yield "POST", path, f'{{"{name}": {value}}}'.encode(), json_type
    for raw in (b"", b"{", b"\xff\xfe\x00", b"[1,2", b'{"events": 5}', b"\x00" * 1000):
        yield "POST", "/events", raw, json_type
        yield "POST", "/events", raw, {"Content-Type": "text/plain"}
    for user in ("%00", "..%2F..%2Fetc", "a" * 5_000, "%F0%9F%98%80", "%ff%fe", "x%2Fy", " "):
        for tail in ("/recommendations", "/profile", "/recommendations?k=-1",
                     "/recommendations?k=1e9", "/recommendations?diversity=nan"):  # fmt: skip
            yield "GET", f"/users/{user}{tail}", None, {}
        yield "DELETE", f"/users/{user}", None, {}
    for item in ("%00", "a" * 5_000, "x%2Fy"):
        yield "GET", f"/items/{item}/similar?k=5", None, {}


def http_run(settings: Settings) -> tuple[int, int, int]:
    tried = errors = resets = 0
    with serving(settings, ["read", "write", "admin"]) as (base, key), httpx.Client(
        base_url=base, timeout=60
    ) as client:
        for method, path, body, headers in hostile_requests():
            tried += 1
            try:
                answer = client.request(method, path, content=body,
                                        headers={"Authorization": f"Bearer {key}", **headers})
                errors += answer.status_code >= 500
            except httpx.TransportError:
                resets += 1
    return tried, errors, resets


@contextmanager
def serving(settings: Settings, scopes: list[str]) -> Iterator[tuple[str, str]]:
    """The service on 127.0.0.1 in a thread; yields (base URL, a key with ``scopes``)."""
    store = Store.open(settings.effective_database_url)
    key = create_key(store, scopes, "hostile")[1]
    port = _free_port()
    app = create_app(settings, store)
    server = uvicorn.Server(server_config(app, settings.serve, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


# -- ingest -----------------------------------------------------------------------------

def _good(i: int) -> str:
    return f"u{i},i{i % 50},view,1,{1_600_000_000 + i}\n"


def hostile_files() -> Iterator[tuple[str, bytes]]:
    header = "user_id,item_id,event_type,value,timestamp\n"
    rows = [_good(i) for i in range(GOOD_ROWS)]
    bad_rows = [
        'u,"i,view,1,1600000000\n', "u,i,view,1,1e25\n", "u,i,view,1,-1e25\n",
        "u,i,view,1,9.3e21\n", "u,i,view,1,1e309\n", "u,i,view,NaN,1600000000\n",
        "u,i,view,inf,1600000000\n", " u,i,view,1,1600000000\n", "u\x00,i,view,1,1\n",
        "u,i,view\n", "u,i,view,1,1,1,1\n", "," * 10 + "\n", "u," + "x" * 200_000 + ",view,1,1\n",
        '"u","i","view","1"\n', "u,i,DROP TABLE,1,1\n", "u,i,rating,,1\n", ",i,view,1,1\n",
        "u,,view,1,1\n", "u,i,view,abc,1\n", "u,i,view,1,yesterday\n", '"' * 50 + "\n",
        "\ufeffu,i,view,1,1\n", "u,i,view,1,1\r\n", "u\ti\tview\t1\t1\n",
        "u,i,search,1,1\n", "\x1bu,i,view,1,1\n", "u,i\u202e,view,1,1\n",
    ]  # fmt: skip
    for n, bad in enumerate(bad_rows):
        for where in (0, GOOD_ROWS // 2):
            text = header + "".join(rows[:where]) + bad + "".join(rows[where:])
            yield f"bad{n}-at{where}.csv", text.encode("utf-8", "surrogateescape")
    latin = header + "".join(rows[:100]) + "u,caf\xe9,view,1,1\n" + "".join(rows[100:])
    yield "latin1.csv", latin.encode("latin-1")
    whole = gzip.compress((header + "".join(rows)).encode())
    yield "cut.csv.gz", whole[: len(whole) * 2 // 3]
    lines = [json.dumps({"user_id": f"u{i}", "item_id": f"i{i % 50}", "event_type": "view",
                         "timestamp": 1_600_000_000 + i}) for i in range(GOOD_ROWS)]  # fmt: skip
    for bad in ('{"user_id": "u", "user_id": "v", "item_id": "i"}', "[1,2]", "{", "null",
                '{"user_id": "u", "item_id": "i", "timestamp": 1e999}',
                '{"user_id": ' + "[" * 2000 + "]" * 2000 + "}"):  # fmt: skip
        text = "\n".join([*lines[:100], bad, *lines[100:]]) + "\n"
        yield f"bad-{len(bad)}.jsonl", text.encode()


def ingest_run(folder: Path) -> tuple[int, int, int]:
    tried = lost = unaccounted = 0
    for name, content in hostile_files():
        tried += 1
        path = folder / name
        path.write_bytes(content)
        home = folder / f"home-{tried}"
        settings = Settings(home=home)
        with Store.open(settings.effective_database_url) as store:
            try:
                report = ingest_file(store, TableSpec(path), RecordKind.EVENTS, settings)
                accounted = report.stored + report.quarantined + report.duplicates
                unaccounted += report.rows_read - accounted
            except InputFileError:
                pass  # a cut file: what was readable is stored, checked below
            stored = store.events_frame()["user_id"]
            good = {f"u{i}" for i in range(GOOD_ROWS)}
            expected = good if not name.startswith("cut") else good & set(stored)
            lost += len(expected - set(stored))
    return tried, lost, unaccounted


# -- model saves ------------------------------------------------------------------------

_SAVER = """
import sys
from pathlib import Path
from llmrec.model_file import write_model
for round in range(10):
    write_model(Path(sys.argv[1]), 4, bytes([round]) * 20_000_000)
"""


def saves_run(folder: Path) -> tuple[int, int]:
    path = folder / "model.pkl"
    rounds, unreadable = 5, 0
    for _ in range(rounds):
        savers = [subprocess.Popen([sys.executable, "-c", _SAVER, str(path)]) for _ in range(2)]
        for saver in savers:
            saver.wait()
        try:
            read_model(path)
        except ValueError:
            unreadable += 1
    return rounds * 2 * 10, unreadable


# -- kill -9 ------------------------------------------------------------------------------

def kill9_run(settings: Settings, runs: int = 5) -> tuple[int, int, int]:
    """``runs`` kills of ``llmrec serve`` under a writer; (runs, acknowledged events not
    stored, processes left running)."""
    with Store.open(settings.effective_database_url) as store:
        key = create_key(store, ["write"], "kill-9")[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env["LLMREC_HOME"] = str(settings.home)
    lost = left = 0
    for run in range(runs):
        port = _free_port()
        command = [sys.executable, "-m", "llmrec", "serve", "--port", str(port)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        server = subprocess.Popen(command, env=env, **quiet)
        children: list[int] = []
        acknowledged = _write_until_killed(server, f"http://127.0.0.1:{port}", key, run, children)
        server.wait()
        time.sleep(1)
        left += sum(Path(f"/proc/{pid}").exists() for pid in children)
        with Store.open(settings.effective_database_url) as store:
            stored = set(store.events_frame()["user_id"])
        lost += len(set(acknowledged) - stored)
    return runs, lost, left


def _write_until_killed(
    server: subprocess.Popen, base: str, key: str, run: int, children: list[int]
) -> list[str]:
    """Post events until the server, killed after 2–4 s, is gone; ``children`` gets its
    descendants as they were just before the kill."""
    headers = {"Authorization": f"Bearer {key}"}
    wait_until_healthy(base, 300)
    acknowledged: list[str] = []
    kill_at, batch = time.time() + 2 + run % 3, 0
    with httpx.Client(timeout=10) as client:
        while True:
            if time.time() > kill_at and server.poll() is None:
                children += _descendants(server.pid)
                server.send_signal(signal.SIGKILL)
            users = [f"kill9-{run}-{batch}-{i}" for i in range(100)]
            body = {"events": [{"user_id": u, "item_id": "1", "event_type": "view"} for u in users]}
            try:
                answer = client.post(f"{base}/events", json=body, headers=headers)
            except httpx.TransportError:
                return acknowledged  # the server is gone
            if answer.status_code == 200:
                acknowledged += users
            batch += 1


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if task.exists() else []
            found += [int(c) for c in children]
            todo += [int(c) for c in children]
    return found


# -- reads under explanations -------------------------------------------------------------

def reads_p99(settings: Settings, explainers: int, seconds: float = 15.0) -> float:
    with serving(settings, ["read"]) as (base, key):
        return _p99_beside(base, {"Authorization": f"Bearer {key}"}, explainers, seconds)


def _p99_beside(base: str, headers: dict, explainers: int, seconds: float) -> float:
    stop = time.monotonic() + seconds

    def explain_loop(worker: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            user = 100 + worker
            while time.monotonic() < stop:
                client.get(f"/users/{user}/recommendations?k=10&explain=true")

    workers = [threading.Thread(target=explain_loop, args=(w,)) for w in range(explainers)]
    for worker in workers:
        worker.start()
    latencies = []
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        while time.monotonic() < stop:
            started = time.perf_counter()
            client.get(f"/users/{1 + len(latencies) % 50}/recommendations?k=10")
            latencies.append(time.perf_counter() - started)
    for worker in workers:
        worker.join()
    return statistics.quantiles(latencies, n=100)[98] * 1000


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = trained_home(folder / "service")
        tried, errors, resets = http_run(settings)
        rows += [("hostile HTTP requests tried", tried, "≥ 200"), ("answered 5xx", errors, "0"),
                 ("connections reset", resets, "0")]  # fmt: skip
        tried, lost, unaccounted = ingest_run(folder)
        rows += [("hostile ingest files tried", tried, "≥ 50"), ("good rows lost", lost, "0"),
                 ("rows unaccounted for", unaccounted, "0")]  # fmt: skip
        saves, unreadable = saves_run(folder)
        rows += [("concurrent model saves", saves, ""), ("unreadable model files", unreadable, "0")]
        runs, lost, left = kill9_run(settings)
        rows += [("kill -9 runs under a writer", runs, "≥ 5"),
                 ("acknowledged events lost", lost, "0"),
                 ("processes left behind", left, "0")]  # fmt: skip
        alone, loaded = reads_p99(settings, 0), reads_p99(settings, 8)
        rows += [("plain reads p99 alone (ms)", f"{alone:.1f}", ""),
                 ("plain reads p99, 8 clients explaining (ms)", f"{loaded:.1f}", "≤ 3× alone"),
                 ("ratio", f"{loaded / alone:.1f}×", "≤ 3")]  # fmt: skip
    table = Table(title="hostile input")
    for column in ("measure", "value", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, value, target in rows:
        table.add_row(name, str(value), target)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

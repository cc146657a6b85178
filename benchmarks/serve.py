"""Load figures of the HTTP service on 127.0.0.1, bounded in time.

    python benchmarks/serve.py [--items 100000] [--events 1000000] [--seconds 10]
        [--soak 300] [--home .llmrec-bench/serve]

Generates a catalogue and events (users with a Zipf taste for items, so that
co-visitation and ALS have structure to learn), stores them, fits the hybrid recommender
(ALS, co-visitation, content, popularity and the ranker; item text vectors are random unit
vectors: the encoder's cost is not what is measured here), starts ``llmrec serve`` in its
own process, waits while it ranks the known users' lists in the background, and measures
``GET /users/{id}/recommendations?k=10`` at 1, 8 and 32 concurrent clients, the same
right after an event of the user (their kept list dropped: scored afresh), ``POST /events``
in batches of 100 (each event a new user's), and a soak of mixed reads and writes of
the known users (latency, errors, memory growth of the server). Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
from rich.console import Console
from rich.table import Table

from llmrec.config import load_settings
from llmrec.data.validate import event_keys
from llmrec.recommender import Recommender
from llmrec.serve.keys import create_key
from llmrec.store import Store

REPO = Path(__file__).resolve().parents[1]
console = Console(width=120)


def generate(n_items: int, n_events: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_users = max(n_events // 50, 10)
    items = pd.DataFrame({
        "item_id": [f"i{i}" for i in range(n_items)],
        "title": [f"Item {i}" for i in range(n_items)],
        "description": "", "tags": [[f"t{i % 50}"] for i in range(n_items)],
        "attributes": [{} for _ in range(n_items)], "created_at": None, "available": True,
    })  # fmt: skip
    # Each user draws from a few of 200 taste clusters; item popularity is Zipf-like.
    cluster_of_user = rng.integers(0, 200, size=n_users)
    users = rng.integers(0, n_users, size=n_events)
    offsets = (rng.zipf(1.3, size=n_events) - 1) % (n_items // 200)
    chosen = (cluster_of_user[users] + offsets * 200) % n_items
    events = pd.DataFrame({
        "user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in chosen],
        "event_type": "view", "value": np.nan, "query": None,
        "timestamp": pd.array(1_600_000_000 + np.sort(rng.integers(0, 3e7, n_events)), "Int64"),
    })  # fmt: skip
    events.insert(0, "event_key", event_keys(events))
    return items, events


def fit_model(store: Store, path: Path) -> Path:
    """Fit the hybrid recommender on the store (item text vectors: random unit vectors)
    and save it at ``path``."""
    items, events = store.items_frame(), store.events_frame()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(items), 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    model = Recommender(
        sources=("als", "covisit", "content", "popular"),
        item_vectors=pd.DataFrame(vectors, index=items["item_id"]),
        cold_views=1,
        ranker_max_users=2_000,
    ).fit(events, items)
    return model.save(path)


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.median(ms)), float(np.percentile(ms, 99))


class Connection:
    """A bare keep-alive HTTP/1.1 connection on asyncio streams: the load generator shares
    the two cores with the server, and httpx spent more CPU per request than the server
    did."""

    def __init__(self, base: str, key: str) -> None:
        self.host, self.port = base.removeprefix("http://").split(":")
        self.auth = f"Authorization: Bearer {key}\r\n"

    async def __aenter__(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        return self

    async def __aexit__(self, *_) -> None:
        self.writer.close()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """(status, body) of one request."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        answer = await self.reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in answer.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))  # fmt: skip
        return int(answer.split(b" ", 2)[1]), await self.reader.readexactly(length)


async def hammer(base: str, key: str, clients: int, seconds: float, users: list[str]):
    """``clients`` connections asking for random users' lists for ``seconds``."""
    latencies, errors = [], 0
    stop = time.perf_counter() + seconds
    rng = np.random.default_rng(clients)

    async def client() -> None:
        nonlocal errors
        async with Connection(base, key) as http:
            while time.perf_counter() < stop:
                user = users[rng.integers(len(users))]
                t = time.perf_counter()
                status, _ = await http.request("GET", f"/users/{user}/recommendations?k=10")
                latencies.append(time.perf_counter() - t)
                errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors, len(latencies) / (time.perf_counter() - started)


async def ingest(
    base: str,
    key: str,
    seconds: float,
    items: int,
    users: list[str] | None = None,
    tag: str = "load",
) -> tuple[float, int]:
    """4 writers posting batches of 100 events for ``seconds``: each event of a new user
    (named after ``tag``: loads run side by side need their own), or, given ``users``, of
    one of them (as a service's traffic mostly is)."""
    stored, errors, batch = 0, 0, 0
    stop = time.perf_counter() + seconds
    rng = np.random.default_rng(2)
    started = time.perf_counter()

    async def writer(w: int) -> None:
        nonlocal stored, errors, batch
        async with Connection(base, key) as http:
            while time.perf_counter() < stop:
                batch += 1
                who = [users[u] for u in rng.integers(len(users), size=100)] if users else [
                    f"{tag}-{w}-{batch}-{i}" for i in range(100)]  # fmt: skip
                body = orjson.dumps({"events": [
                    {"user_id": user, "item_id": f"i{(batch * 100 + i) % items}",
                     "event_type": "click"} for i, user in enumerate(who)
                ]})  # fmt: skip
                status, answer = await http.request("POST", "/events", body)
                if status == 200:
                    stored += orjson.loads(answer)["stored"]
                else:
                    errors += 1

    await asyncio.gather(*(writer(w) for w in range(4)))
    return stored / (time.perf_counter() - started), errors


async def after_event(base: str, key: str, seconds: float, users: list[str]):
    """Latencies of a user's list asked right after one of their events (1 client)."""
    headers = {"Authorization": f"Bearer {key}"}
    latencies, errors = [], 0
    stop = time.perf_counter() + seconds
    rng = np.random.default_rng(1)
    async with httpx.AsyncClient(timeout=30) as http:
        while time.perf_counter() < stop:
            user = users[rng.integers(len(users))]
            event = {"user_id": user, "item_id": f"i{rng.integers(1000)}", "event_type": "click"}
            sent = await http.post(f"{base}/events", json={"events": [event]}, headers=headers)
            t = time.perf_counter()
            response = await http.get(f"{base}/users/{user}/recommendations?k=10", headers=headers)
            latencies.append(time.perf_counter() - t)
            errors += sent.status_code != 200 or response.status_code != 200
    return latencies, errors


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--soak", type=float, default=300.0)
    parser.add_argument("--home", type=Path, default=REPO / ".llmrec-bench" / "serve")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    home = args.home / f"{args.items}-{args.events}"
    settings = load_settings(home=home)
    rows = []
    with Store.open(settings.effective_database_url) as store:
        if store.counts().get("events", 0) == 0:
            t = time.perf_counter()
            items, events = generate(args.items, args.events)
            store.upsert_items(items)
            for start in range(0, len(events), 200_000):
                store.add_events(events.iloc[start : start + 200_000])
            rows.append(("generate and store (s)", f"{time.perf_counter() - t:.0f}"))
        key = create_key(store, ["read", "write"], "bench")[1]
        if not settings.effective_model_file.is_file():
            t = time.perf_counter()
            fit_model(store, settings.effective_model_file)
            rows.append(("fit (s)", f"{time.perf_counter() - t:.0f}"))
        users = list(pd.unique(store.events_frame(["user_id"])["user_id"]))[:5_000]

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env |= {"LLMREC_HOME": str(home), "LLMREC_SERVE__RATE_LIMIT_PER_S": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "serve", "--port", str(args.port)], env=env,
        stdout=subprocess.DEVNULL, stderr=(home / "server.log").open("w"),  # for post-mortems
    )  # fmt: skip
    base = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        t = time.perf_counter()
        while (ready := httpx.get(f"{base}/readyz", timeout=5).json())["warming"]:
            time.sleep(1)
        rows.append(("lists ranked ahead at start: users, seconds",
                     f"{ready['lists_kept']:,}, {time.perf_counter() - t:.0f}"))  # fmt: skip
        asyncio.run(hammer(base, key, 4, 3, users))  # warm up
        for clients in (1, 8, 32):
            latencies, errors, rate = asyncio.run(hammer(base, key, clients, args.seconds, users))
            p50, p99 = percentiles(latencies)
            rows.append((f"recommendations, {clients} clients: p50 / p99 ms, req/s, errors",
                         f"{p50:.1f} / {p99:.1f}, {rate:.0f}, {errors}"))  # fmt: skip
        latencies, errors = asyncio.run(after_event(base, key, args.seconds, users))
        p50, p99 = percentiles(latencies)
        rows.append(("recommendations right after the user's event, 1 client: p50 / p99 ms, "
                     "errors", f"{p50:.1f} / {p99:.1f}, {errors}"))  # fmt: skip
        per_second, errors = asyncio.run(ingest(base, key, args.seconds, args.items))
        rows.append(("events stored/s (batches of 100), errors", f"{per_second:.0f}, {errors}"))
        if args.soak > 0:
            before = rss_mb(server.pid)

            async def soak():
                return await asyncio.gather(
                    hammer(base, key, 8, args.soak, users),
                    ingest(base, key, args.soak, args.items, users),
                )

            (latencies, read_errors, rate), (per_second, write_errors) = asyncio.run(soak())
            after = rss_mb(server.pid)
            growth = f"{before:.0f} → {after:.0f} ({after / before - 1:+.1%})"
            p50, p99 = percentiles(latencies)
            rows.append((f"soak {args.soak:.0f} s, 8 readers + 4 writers (known users' events): "
                         "reads p50 / p99 ms, req/s; events/s; errors (reads, writes)",
                         f"{p50:.1f} / {p99:.1f}, {rate:.0f}; {per_second:.0f}; "
                         f"{read_errors}, {write_errors}"))  # fmt: skip
            rows.append(("soak: server memory before → after (MB)", growth))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print_measures(f"llmrec serve: {args.items:,} items, {args.events:,} events, 127.0.0.1", rows)


def print_measures(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


if __name__ == "__main__":
    main()

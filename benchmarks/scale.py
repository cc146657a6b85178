"""Two ``llmrec serve`` replicas over one PostgreSQL store, on 127.0.0.1, bounded in time.

    python benchmarks/scale.py [--items 20000] [--events 200000] [--seconds 5]
        [--samples 200]

Starts a throw-away PostgreSQL server with fsync on (acknowledged means on disk), stores
generated data (``serve.py``'s generator), fits the hybrid recommender, publishes it as
a model version (artifacts in a temporary folder), starts two replicas and measures:

- cross-replica staleness: from an event acknowledged by replica A to a list from
  replica B that reflects it (the item leaves the user's list), p50 / p99;
- events stored per second through both replicas (4 writers each, batches of 100), and
  through one replica alone, on the same database;
- ``GET /users/{id}/recommendations`` with 8 clients spread over the two replicas;
- a model swap: a new version published while 4 clients read; seconds until both
  replicas serve it, and the requests that failed meanwhile.

Both replicas, the database and the load share this machine's cores: the figures are
overheads and ratios on one machine, not the throughput of several.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from llmrec.config import load_settings
from llmrec.serve.keys import create_key
from llmrec.store import Store
from llmrec.store.local_postgres import LocalPostgres, free_port
from llmrec.training import TrainReport, publish_model
from serve import fit_model, generate, hammer, ingest, percentiles, print_measures


def start_replica(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"replica did not become ready; see {log}")


def wait_warm(bases: list[str]) -> float:
    """Seconds until every replica has ranked its known users' lists ahead (what a
    replica does after it loads a model), so that the figures are of a steady state."""
    started = time.perf_counter()
    while any(httpx.get(f"{b}/readyz", timeout=10).json()["warming"] for b in bases):
        time.sleep(0.5)
    return time.perf_counter() - started


def staleness(a: str, b: str, key: str, users: list[str], samples: int) -> list[float]:
    """Seconds from an event acknowledged by ``a`` to a list from ``b`` without the item."""
    headers = {"Authorization": f"Bearer {key}"}
    rng = np.random.default_rng(3)
    found = []
    with httpx.Client(headers=headers, timeout=10) as client:
        for user in rng.choice(users, size=samples, replace=False):
            url = f"{b}/users/{user}/recommendations?k=10"
            top = client.get(url).json()["items"][0]["item_id"]
            event = {"user_id": user, "item_id": top, "event_type": "purchase"}
            assert client.post(f"{a}/events", json={"events": [event]}).status_code == 200
            acknowledged = time.perf_counter()
            while top in [i["item_id"] for i in client.get(url).json()["items"]]:
                if time.perf_counter() - acknowledged > 10:
                    raise RuntimeError(f"replica B never reflected {user}'s event")
            found.append(time.perf_counter() - acknowledged)
    return found


async def spread(bases: list[str], key: str, clients: int, seconds: float, users: list[str]):
    """``hammer`` with ``clients`` split over ``bases``: (latencies, errors, req/s)."""
    each = await asyncio.gather(*(hammer(b, key, clients // len(bases), seconds, users)
                                  for b in bases))  # fmt: skip
    return [x for e in each for x in e[0]], sum(e[1] for e in each), sum(e[2] for e in each)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    database = LocalPostgres(fsync=True)
    home = Path(tempfile.mkdtemp(prefix="llmrec-scale-"))
    artifacts = home / "artifacts"
    settings = load_settings(home=home, database_url=database.url,
                             registry={"artifacts": str(artifacts)})  # fmt: skip
    replicas: list[subprocess.Popen] = []
    try:
        with Store.open(database.url) as store:
            t = time.perf_counter()
            items, events = generate(args.items, args.events)
            store.upsert_items(items)
            for start in range(0, len(events), 100_000):
                store.add_events(events.iloc[start : start + 100_000])
            rows.append(("store generated data in PostgreSQL (s)",
                         f"{time.perf_counter() - t:.0f}"))  # fmt: skip
            t = time.perf_counter()
            path = fit_model(store, settings.effective_model_file)
            rows.append(("fit (s)", f"{time.perf_counter() - t:.0f}"))
            report = TrainReport(path, 0, args.items, args.events, (), 0, 0.0)
            publish_model(store, settings, report)
            key = create_key(store, ["read", "write"], "scale")[1]
            users = list(pd.unique(store.events_frame(["user_id"])["user_id"]))[:5_000]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
        env |= {"LLMREC_HOME": str(home), "LLMREC_DATABASE_URL": database.url,
                "LLMREC_REGISTRY__ARTIFACTS": str(artifacts),
                "LLMREC_SERVE__RATE_LIMIT_PER_S": "1000000"}  # fmt: skip
        started = [start_replica(env, home / f"replica-{n}.log") for n in "ab"]
        replicas = [process for process, _ in started]
        a, b = (base for _, base in started)
        rows.append(("both replicas ready, then lists ranked ahead (s)",
                     f"{wait_warm([a, b]):.0f}"))  # fmt: skip

        asyncio.run(spread([a, b], key, 4, 2, users))  # warm up
        p50, p99 = percentiles(staleness(a, b, key, users, args.samples))
        rows.append((f"staleness A → B ({args.samples} events): p50 / p99 ms",
                     f"{p50:.1f} / {p99:.1f}"))  # fmt: skip

        async def both():
            return await asyncio.gather(*(ingest(base, key, args.seconds, args.items, tag=tag)
                                          for base, tag in ((a, "a"), (b, "b"))))  # fmt: skip

        through_both = asyncio.run(both())
        rows.append(("events stored/s through 2 replicas (4 writers each), errors",
                     f"{sum(r[0] for r in through_both):,.0f}, "
                     f"{sum(r[1] for r in through_both)}"))  # fmt: skip
        one, errors = asyncio.run(ingest(a, key, args.seconds, args.items, tag="one"))
        rows.append(("events stored/s through 1 replica (4 writers), errors",
                     f"{one:,.0f}, {errors}"))  # fmt: skip

        latencies, errors, rate = asyncio.run(spread([a, b], key, 8, args.seconds, users))
        p50, p99 = percentiles(latencies)
        rows.append(("recommendations, 8 clients over 2 replicas: p50 / p99 ms, req/s, errors",
                     f"{p50:.1f} / {p99:.1f}, {rate:,.0f}, {errors}"))  # fmt: skip

        reading: dict = {}
        reader = threading.Thread(target=lambda: reading.update(
            result=asyncio.run(spread([a, b], key, 4, 20, users))))  # fmt: skip
        reader.start()
        time.sleep(2)
        with Store.open(database.url) as store:
            version = publish_model(store, settings, report)
        published = time.perf_counter()
        while any(httpx.get(f"{base}/readyz").json()["model_version"] != version
                  for base in (a, b)):  # fmt: skip
            time.sleep(0.05)
        swap = time.perf_counter() - published
        reader.join()
        _, failed, _ = reading["result"]
        rows.append(("model swap: s from publish to both replicas serving it; failed requests",
                     f"{swap:.2f}; {failed}"))  # fmt: skip
    finally:
        for process in replicas:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        database.remove()
    print_measures(f"2 replicas over PostgreSQL: {args.items:,} items, {args.events:,} events, "
                   "127.0.0.1", rows)  # fmt: skip


if __name__ == "__main__":
    main()

"""``kill -9`` of the service during event ingestion loses no acknowledged event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from llmrec.serve.keys import create_key
from llmrec.store import Store
from tests.conftest import free_port, wait_until_healthy


@pytest.mark.slow
def test_every_acknowledged_event_survives_kill_9(trained_settings):
    with Store.open(trained_settings.effective_database_url) as store:
        key = create_key(store, ["write"], "durability")[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMREC_")}
    env["LLMREC_HOME"] = str(trained_settings.home)
    server = subprocess.Popen(
        [sys.executable, "-m", "llmrec", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    acknowledged: list[str] = []
    try:
        wait_until_healthy(base, 120)
        killed_at = time.time() + 3
        batch = 0
        with httpx.Client(timeout=5) as client:
            while True:
                if time.time() > killed_at and server.poll() is None:
                    os.kill(server.pid, signal.SIGKILL)
                users = [f"durable-{batch}-{i}" for i in range(100)]
                body = {
                    "events": [{"user_id": u, "item_id": "1", "event_type": "view"} for u in users]
                }
                try:
                    response = client.post(f"{base}/events", json=body, headers=headers)
                except httpx.TransportError:
                    break  # the server is gone
                if response.status_code == 200:
                    acknowledged += users
                batch += 1
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    assert len(acknowledged) >= 500, server.stderr.read().decode()[-2000:]
    with Store.open(trained_settings.effective_database_url) as store:
        stored = set(store.events_frame()["user_id"])
    assert set(acknowledged) <= stored

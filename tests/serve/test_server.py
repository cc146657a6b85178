"""The HTTP server: slow or silent clients are cut off, and others are still served."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI

from llmrec.config import ServeSettings
from llmrec.serve.server import server_config
from tests.conftest import free_port, time_limit


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_silent_and_slow_connections_are_closed_and_others_served():
    app = FastAPI()
    app.get("/ping")(lambda: {"ok": True})
    port = free_port()
    config = server_config(app, ServeSettings(header_timeout_s=0.5), "127.0.0.1", port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + time_limit(20)
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # headers never finish
        assert httpx.get(f"http://127.0.0.1:{port}/ping").json() == {"ok": True}
        time.sleep(1.5)
        assert all(_closed_by_server(s) for s in [*silent, slow])
        assert httpx.get(f"http://127.0.0.1:{port}/ping").json() == {"ok": True}
        for s in [*silent, slow]:
            s.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)

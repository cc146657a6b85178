"""A throw-away PostgreSQL server on 127.0.0.1, from the machine's own PostgreSQL
binaries (Debian's ``postgresql`` package): for tests, benchmarks and trying several
replicas on one machine. Not a way to run production databases.

    >>> server = LocalPostgres()   # initdb in a temporary folder, started
    >>> server.url                 # postgresql+psycopg://llmrec@127.0.0.1:<port>/postgres
    >>> server.stop(); server.start()   # the database goes away and comes back
    >>> server.remove()
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from llmrec.errors import StoreError


def postgres_binaries() -> Path | None:
    """The folder of ``pg_ctl`` and ``initdb``, or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """A new database cluster in a temporary folder, started on a free port of
    127.0.0.1 with trust authentication for user ``llmrec`` (``url``); :class:`StoreError`
    when the binaries are missing or the server does not start. As root, the server runs
    as the ``postgres`` system user (it refuses to run as root). ``fsync`` False (tests)
    skips flushing to disk; a benchmark of durable writes wants True."""

    def __init__(self, fsync: bool = False) -> None:
        self.fsync = fsync
        bindir = postgres_binaries()
        if bindir is None:
            raise StoreError("PostgreSQL server binaries not found (Debian package: postgresql)")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise StoreError("running as root without runuser: cannot start PostgreSQL")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="llmrec-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        if self.as_user:
            shutil.chown(self.root, "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://llmrec@127.0.0.1:{self.port}/postgres"
        try:
            self._run("initdb", "-D", self.data, "-U", "llmrec", "--auth=trust", "-E", "UTF8")
            self.start()
        except StoreError:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _run(self, program: str, *args: object) -> None:
        try:
            subprocess.run([*self.as_user, str(self.bindir / program), *map(str, args)],
                           check=True, capture_output=True, text=True)  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise StoreError(f"PostgreSQL {program} failed: {exc.stderr.strip()}") from None

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.root}" + ("" if self.fsync else " -F")
        self._run("pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server (if running) and delete its folder."""
        with contextlib.suppress(StoreError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

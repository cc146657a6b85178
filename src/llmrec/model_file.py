"""The model file: a checked header, then the pickled model, written by one writer at a
time and replaced atomically.

Layout: ``MAGIC`` (8 bytes), the format version (4 bytes, little-endian), the payload's
length (8 bytes) and SHA-256 (32 bytes), then the payload. The header is checked before
anything is unpickled, so a file cut short, overwritten or not ours is refused with one
line instead of failing somewhere inside pickle. Files written before the header existed
(a bare pickle of ``(version, model)``) still load.

Writes go to a temporary file unique to the writer, are fsynced, and replace the target
with ``os.replace`` under an exclusive lock on ``<file>.lock``: two saves at once (``llmrec
train`` beside ``POST /admin/retrain``) leave one whole model, never a mix, and the
temporary files of writers that were killed are removed by the next one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmrec.errors import ModelFileError

MAGIC = b"LLMRECM\n"
_HEADER = struct.Struct("<8sIQ32s")
_LEGACY_PICKLE_START = b"\x80"  # a pickle of protocol 2 or newer


def write_model(path: Path, version: int, model: object) -> Path:
    """Write ``model`` to ``path`` atomically (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps((version, model), protocol=pickle.HIGHEST_PROTOCOL)
    header = _HEADER.pack(MAGIC, version, len(payload), hashlib.sha256(payload).digest())
    with _exclusive(path):
        _remove_stale_temporaries(path)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_folder(path.parent)
    return path


def read_model(path: Path) -> tuple[int, object]:
    """``(version, model)`` from a model file; :class:`ModelFileError` if it is not one."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEADER.size)
            if head.startswith(_LEGACY_PICKLE_START):
                handle.seek(0)
                return _unpickle(path, handle.read())
            if len(head) < _HEADER.size or not head.startswith(MAGIC):
                raise ModelFileError(path, "not a llmrec model file (no llmrec header)")
            _, version, length, digest = _HEADER.unpack(head)
            payload = handle.read(length + 1)
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(payload) != length:
        raise ModelFileError(
            path, f"cut short or padded: {len(payload):,} bytes of model, {length:,} expected"
        )
    if hashlib.sha256(payload).digest() != digest:
        raise ModelFileError(path, "corrupt: its checksum does not match")
    stored_version, model = _unpickle(path, payload)
    if stored_version != version:
        raise ModelFileError(path, "corrupt: the header and the model disagree on the format")
    return version, model


def _unpickle(path: Path, payload: bytes) -> tuple[int, object]:
    try:
        loaded = pickle.loads(payload)
    except Exception as exc:  # a damaged pickle can fail in many ways
        raise ModelFileError(path, f"cannot unpickle: {type(exc).__name__}: {exc}") from None
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], int)):
        raise ModelFileError(path, "not a llmrec model file")
    return loaded


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _remove_stale_temporaries(path: Path) -> None:
    # Under the lock no other writer is running: every temporary file left is a dead one's.
    for stale in path.parent.glob(f"{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)  # older llmrec's fixed name


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Where published model files live: a local or shared folder, or any object store
fsspec reaches (``s3://bucket/prefix`` with ``s3fs`` installed; MinIO and other
S3-compatible servers through its ``endpoint_url``). Bytes only: what a file holds is
:mod:`llmrec.model_file`'s business.

A file is uploaded under a temporary name and then moved to its own name, so a reader
never finds half of one; it is fetched into a local folder through a temporary file
and kept only when its SHA-256 is the one the registry recorded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from llmrec.errors import ModelFileError

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """Files under ``root`` (a folder or an fsspec URL); ``storage_options`` go to the
    filesystem (credentials, ``endpoint_url``...)."""

    def __init__(self, root: str, storage_options: dict | None = None) -> None:
        self.root = root
        self.storage_options = storage_options or {}

    def _fs(self):
        from fsspec.core import url_to_fs

        return url_to_fs(self.root, **self.storage_options)

    def put(self, source: Path, name: str) -> tuple[str, str, int]:
        """Upload ``source`` as ``name``; returns (its address, SHA-256, size in bytes)."""
        fs, base = self._fs()
        fs.makedirs(base, exist_ok=True)
        target = f"{base.rstrip('/')}/{name}"
        partial = f"{target}.partial-{os.getpid()}"
        fs.put_file(str(source), partial)
        fs.mv(partial, target)
        address = fs.unstrip_protocol(target)
        return address, file_sha256(source), source.stat().st_size

    def fetch(self, address: str, sha256: str, destination: Path) -> Path:
        """The file at ``address`` as ``destination`` (kept there: a second fetch reads
        nothing), checked against ``sha256``. :class:`ModelFileError` names the address
        and the problem: missing, unreadable, or not the file that was published."""
        if destination.is_file() and file_sha256(destination) == sha256:
            return destination
        from fsspec.core import url_to_fs

        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".partial")
        os.close(fd)
        try:
            fs, path = url_to_fs(address, **self.storage_options)
            fs.get_file(path, temporary)
            found = file_sha256(Path(temporary))
            if found != sha256:
                raise ModelFileError(
                    address, f"its SHA-256 is {found[:12]}…, not the published {sha256[:12]}…"
                )
            os.replace(temporary, destination)
        except FileNotFoundError:
            raise ModelFileError(address, "missing from the artifact store") from None
        except OSError as exc:
            raise ModelFileError(address, f"cannot be fetched: {exc}") from None
        finally:
            Path(temporary).unlink(missing_ok=True)
        return destination

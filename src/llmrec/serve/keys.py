"""API keys: ``llmrec_<key id>_<secret>``, shown once; the store keeps a hash of the secret.

The secret is 32 random bytes, so a plain SHA-256 is enough (slow password hashes exist for
low-entropy human passwords); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence

from llmrec.store import Store

SCOPES = ("read", "write", "admin")
_PREFIX = "llmrec"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(store: Store, scopes: Sequence[str], name: str = "") -> tuple[str, str]:
    """A new key with ``scopes``; returns (key id, the key to give the client)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {list(scopes)}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    store.add_api_key(key_id, _hash(secret), sorted(set(scopes), key=SCOPES.index), name)
    return key_id, f"{_PREFIX}_{key_id}_{secret}"


def verify_key(store: Store, token: str) -> tuple[str, tuple[str, ...]] | None:
    """(key id, scopes) of a valid, unrevoked key; None otherwise."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or len(parts[1]) != 16:
        return None
    found = store.api_key(parts[1])
    if found is None or not hmac.compare_digest(found[0], _hash(parts[2])):
        return None
    return parts[1], found[1]


class KeyVerifier:
    """:func:`verify_key` that trusts a key it verified for ``ttl_s`` seconds before
    asking the store again: a store read per request cost more than answering from a
    kept list. So a key revoked with ``llmrec keys revoke`` (another process) stops
    working within ``ttl_s`` seconds; ``ttl_s`` 0 checks every request. Only valid keys
    are remembered (at most ``max_keys``), so random tokens cannot fill the memory."""

    def __init__(self, store: Store, ttl_s: float, max_keys: int = 10_000) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._verified: dict[str, tuple[float, tuple[str, tuple[str, ...]]]] = {}
        self._lock = threading.Lock()

    def remembers(self, token: str) -> bool:
        """Whether ``token`` was verified within the last ``ttl_s`` seconds."""
        remembered = self._verified.get(token)
        return remembered is not None and time.monotonic() - remembered[0] < self.ttl_s

    def __call__(self, token: str) -> tuple[str, tuple[str, ...]] | None:
        now = time.monotonic()
        remembered = self._verified.get(token)
        if remembered is not None and now - remembered[0] < self.ttl_s:
            return remembered[1]
        found = verify_key(self.store, token)
        with self._lock:
            if found is None or self.ttl_s <= 0:
                self._verified.pop(token, None)
                return found
            if len(self._verified) >= self.max_keys:
                self._verified.clear()  # rare: as many live keys as the bound
            self._verified[token] = (now, found)
        return found

    def forget_keys(self, key_ids: Sequence[str]) -> None:
        """Stop trusting the keys ``key_ids`` at once (revoked by another process)."""
        revoked = set(key_ids)
        with self._lock:
            for token in [t for t, (_, found) in self._verified.items() if found[0] in revoked]:
                del self._verified[token]

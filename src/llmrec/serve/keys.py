"""API keys: ``llmrec_<key id>_<secret>``, shown once; the store keeps a hash of the secret.

The secret is 32 random bytes, so a plain SHA-256 is enough (slow password hashes exist for
low-entropy human passwords); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
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

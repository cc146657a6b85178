"""API keys: only a hash is stored, a verified key is trusted for a bounded time."""

from __future__ import annotations

import time

from llmrec.serve.keys import KeyVerifier, create_key, verify_key
from llmrec.store import Store


def test_a_key_verifies_only_whole_and_unrevoked(store: Store):
    key_id, key = create_key(store, ["read", "write"], "ci")
    assert verify_key(store, key) == (key_id, ("read", "write"))
    assert key.split("_")[-1] not in str(store.api_keys_frame().to_dict())
    for wrong in (key[:-1] + ("a" if key[-1] != "a" else "b"), key.replace("llmrec", "other"), ""):
        assert verify_key(store, wrong) is None
    store.revoke_api_key(key_id)
    assert verify_key(store, key) is None


def test_a_revoked_key_stops_working_within_the_trust_time(store: Store):
    key_id, key = create_key(store, ["read"])
    trusting, strict = KeyVerifier(store, ttl_s=0.3), KeyVerifier(store, ttl_s=0)
    assert trusting(key) == strict(key) == (key_id, ("read",))
    store.revoke_api_key(key_id)  # as `llmrec keys revoke` does from another process
    assert strict(key) is None
    assert trusting(key) == (key_id, ("read",))  # still within the 0.3 s it trusts a key
    time.sleep(0.35)
    assert trusting(key) is None


def test_invalid_tokens_are_not_remembered(store: Store):
    verifier = KeyVerifier(store, ttl_s=60, max_keys=2)
    for i in range(100):
        assert verifier(f"llmrec_{i:016d}_secret") is None
    assert not verifier._verified
    keys = [create_key(store, ["read"])[1] for _ in range(3)]
    assert all(verifier(k) is not None for k in keys)
    assert len(verifier._verified) <= 2

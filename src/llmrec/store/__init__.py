"""Persistence of items, users, links, events and quarantined rows."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["EVENT_COLUMNS", "Store", "StoreSummary", "WriteResult"]


# Names are imported on first use (PEP 562): importing the submodule llmrec.store.summary,
# which `llmrec stats` reads a SQLite store with, runs this file, and must not import
# SQLAlchemy with llmrec.store.store.
def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'llmrec.store' has no attribute {name!r}")
    value = getattr(importlib.import_module("llmrec.store.store"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


if TYPE_CHECKING:
    from llmrec.store.store import EVENT_COLUMNS, Store, StoreSummary, WriteResult

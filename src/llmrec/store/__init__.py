"""Persistence of items, users, links, events and quarantined rows."""

from llmrec.store.store import EVENT_COLUMNS, Store, WriteResult

__all__ = ["EVENT_COLUMNS", "Store", "WriteResult"]

"""The data model: items, users, social links and behaviour events.

Records travel through ingestion as pandas frames whose columns are the field names
below; the dataclasses are the same model for single records (API payloads, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RecordKind(StrEnum):
    """What a table of input rows describes."""

    ITEMS = "items"
    USERS = "users"
    EVENTS = "events"
    LINKS = "links"


# Built-in behaviour types; any other lower-case name is accepted as a custom type.
EVENT_TYPES: tuple[str, ...] = (
    "view",
    "click",
    "search",
    "cart",
    "purchase",
    "rating",
    "like",
    "dislike",
    "skip",
    "play",
)
DEFAULT_EVENT_TYPE = "interaction"
# Events that state something (a rating, a like) rather than count something (a play, a
# view): the same one twice in one second is one statement, not two.
STATE_EVENT_TYPES = frozenset({"rating", "like", "dislike", "not_interested"})


@dataclass(frozen=True, slots=True)
class Item:
    """A catalogue entry. ``attributes`` holds anything else (brand, price, year, language)."""

    item_id: str
    title: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    available: bool = True


@dataclass(frozen=True, slots=True)
class User:
    """A user; ``attributes`` holds demographics or locale when known."""

    user_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserLink:
    """A directed social link (user -> friend), used for social cold start."""

    user_id: str
    friend_id: str


@dataclass(frozen=True, slots=True)
class Event:
    """One piece of behaviour.

    ``item_id`` is None for a search; ``value`` is a rating, a play count or dwell
    seconds; ``query`` is the text of a search (or of a free-text tag).
    """

    user_id: str
    item_id: str | None
    event_type: str = DEFAULT_EVENT_TYPE
    value: float | None = None
    query: str | None = None
    timestamp: datetime | None = None


# Canonical frame columns per kind, in storage order. REQUIRED_COLUMNS must be present
# in every input table (after column mapping); the rest are optional.
COLUMNS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.ITEMS: (
        "item_id",
        "title",
        "description",
        "tags",
        "attributes",
        "created_at",
        "available",
    ),
    RecordKind.USERS: ("user_id", "attributes"),
    RecordKind.EVENTS: ("user_id", "item_id", "event_type", "value", "query", "timestamp"),
    RecordKind.LINKS: ("user_id", "friend_id"),
}
REQUIRED_COLUMNS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.ITEMS: ("item_id", "title"),
    RecordKind.USERS: ("user_id",),
    RecordKind.EVENTS: ("user_id",),
    RecordKind.LINKS: ("user_id", "friend_id"),
}

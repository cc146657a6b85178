"""Typed request and response bodies of the HTTP API (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from llmrec.enrich.text import clean_text
from llmrec.experiments.design import Variant

# Ids: printable, bounded; the store and the model take them as they are.
Id = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
# ``exclude`` / ``candidates`` item lists; as query parameters (``?exclude=a&exclude=b``)
# bounded so that a URL stays under the server's 16 KiB request line with 60-character ids.
MAX_ITEM_LIST = 200
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
AttributeValue = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ItemIn(_Strict):
    item_id: Id
    title: Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    attributes: dict[Annotated[str, StringConstraints(max_length=100)], AttributeValue] = Field(
        default_factory=dict, max_length=100
    )
    available: bool = True


class UserIn(_Strict):
    user_id: Id
    attributes: dict[Annotated[str, StringConstraints(max_length=100)], AttributeValue] = Field(
        default_factory=dict, max_length=100
    )
    interests: Annotated[str, StringConstraints(max_length=1_000)] | None = Field(
        None, description="stated interests in free text, used until the user has history"
    )


class EventIn(_Strict):
    user_id: Id
    item_id: Id | None = Field(None, description="null for a search (give `query`)")
    event_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,31}$")] = (
        "interaction"
    )
    value: float | None = None
    query: Annotated[str, StringConstraints(max_length=1_000)] | None = None
    timestamp: float | None = Field(
        None, ge=0, le=4_102_444_800, description="epoch seconds; default: now"
    )


class ItemsIn(_Strict):
    items: list[ItemIn] = Field(min_length=1)


class UsersIn(_Strict):
    users: list[UserIn] = Field(min_length=1)


class EventsIn(_Strict):
    events: list[EventIn] = Field(min_length=1)


class RejectedRow(BaseModel):
    index: int = Field(description="position in the request's list, from 0")
    reason: str


class WriteOut(BaseModel):
    received: int
    stored: int = Field(description="rows written now (identical rows already stored: 0)")
    rejected: list[RejectedRow]
    replayed: bool = Field(
        False,
        description="this Idempotency-Key was seen before: nothing was written now, and "
        "`stored` is what the first attempt stored",
    )


class HistoryReasonOut(BaseModel):
    item_id: str
    title: str
    contribution: float


class FeatureReasonOut(BaseModel):
    feature: str
    value: float | None
    contribution: float


class ReasonsOut(BaseModel):
    sources: list[str]
    history: list[HistoryReasonOut]
    keywords: list[str]
    features: list[FeatureReasonOut]


class RecommendedItem(BaseModel):
    item_id: str
    title: str
    description: str
    generated_description: str | None = None
    score: float
    rank: int
    sources: list[str]
    reasons: ReasonsOut | None = None


class RecommendationsOut(BaseModel):
    user_id: str
    strategy: Literal["model", "interests", "friends", "popular"] = Field(
        description="model: the hybrid model on the user's history; interests: stated "
        "interests (new user); friends: the tastes of the users they link to (new user); "
        "popular: nothing known yet"
    )
    items: list[RecommendedItem]
    experiment: str | None = Field(None, description="the running experiment that served it")
    variant: str | None = Field(
        None, description="its variant (`interleaved`: both variants drafted into one list)"
    )
    request_id: str | None = Field(None, description="the impression's id in the experiment")


class SimilarOut(BaseModel):
    item_id: str
    items: list[RecommendedItem]


class SearchIn(_Strict):
    # Something other than white space (the schema says so, not only the handler).
    query: Annotated[str, StringConstraints(min_length=1, max_length=1_000, pattern=r"\S")]
    k: int = Field(10, ge=1, le=200)
    user_id: Id | None = Field(None, description="lean to this user's taste, skip their items")
    exclude: list[Id] | None = Field(
        None, max_length=MAX_ITEM_LIST, description="item ids never to return"
    )
    candidates: list[Id] | None = Field(
        None, max_length=MAX_ITEM_LIST, description="rank only these item ids"
    )


class SearchOut(BaseModel):
    query: str
    items: list[RecommendedItem]


class ChatIn(_Strict):
    message: Annotated[str, StringConstraints(min_length=1, max_length=1_000, pattern=r"\S")]

    @field_validator("message")
    @classmethod
    def _has_words(cls, message: str) -> str:
        if not clean_text(message, 1_000):
            raise ValueError(
                "empty once control characters, zero-width characters and markup are removed"
            )
        return message

    conversation_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        None, description="continue this conversation (from a previous answer)"
    )
    user_id: Id | None = Field(None, description="lean to this user's taste, skip their items")
    k: int = Field(5, ge=1, le=50)


class ChatItem(BaseModel):
    item_id: str
    title: str
    score: float
    rank: int
    reason: str


class ChatOut(BaseModel):
    conversation_id: str
    fallback: bool = Field(description="the parse was not usable: raw-text search")
    parse: dict = Field(description="the turn's log: the model's answer and the query")
    items: list[ChatItem]


class KeywordOut(BaseModel):
    keyword: str
    weight: float


class ProfileOut(BaseModel):
    user_id: str
    events: int
    keywords: list[KeywordOut]
    summary: str


class ExperimentStatusIn(_Strict):
    status: Literal["running", "paused", "stopped"]


class ExperimentOut(BaseModel):
    name: str
    kind: str
    status: str
    variants: list[Variant]
    window_s: float
    created_at: float


class DeletedOut(BaseModel):
    user_id: str
    removed: dict[str, int]


class RetrainOut(BaseModel):
    status: Literal["started", "already running"]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    ready: bool
    model_age_s: float | None
    training: bool
    last_error: str | None
    warming: bool = Field(description="users' ranked lists are being made in the background")
    lists_kept: int = Field(description="users whose ranked list is kept for the next request")
    fallback: str | None = Field(
        None, description="what is served instead of the trained model, and why (None: the model)"
    )
    store: bool = Field(True, description="the database answers (if not: not ready, writes 503)")
    model_version: int | None = Field(
        None, description="the published model version served (None: the model file)"
    )
    following_changes: bool | None = Field(
        None,
        description="listening for other replicas' writes (PostgreSQL; None: not shared)",
    )


class ErrorOut(BaseModel):
    detail: str | list

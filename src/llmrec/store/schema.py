"""Tables of the store and the migrations that create and evolve them.

Each migration is applied once, in order, and recorded in ``schema_migrations``; a store
whose recorded version is newer than this code refuses to open rather than guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

_json = JSON().with_variant(JSONB(), "postgresql")
# SQLite makes an INTEGER PRIMARY KEY the rowid itself: one B-tree instead of two.
_key = BigInteger().with_variant(Integer(), "sqlite")

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(256), primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", _json, nullable=False),
    Column("attributes", _json, nullable=False),
    Column("created_at", BigInteger, nullable=True),
    Column("available", Boolean, nullable=False, default=True),
    # Hash of the fields above: an upsert of unchanged content writes nothing.
    Column("content_hash", String(32), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(256), primary_key=True),
    Column("attributes", _json, nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

user_links = Table(
    "user_links",
    metadata,
    Column("user_id", String(256), primary_key=True),
    Column("friend_id", String(256), primary_key=True),
)

events = Table(
    "events",
    metadata,
    # Rows are appended in arrival order; identity is the unique index below.
    Column("event_id", _key, primary_key=True, autoincrement=True),
    # A hash of every field (see llmrec.data.validate.event_keys).
    Column("event_key", BigInteger, nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("item_id", String(256), nullable=True),
    Column("event_type", String(32), nullable=False),
    Column("value", Float, nullable=True),
    Column("query", Text, nullable=True),
    Column("timestamp", BigInteger, nullable=True),
)

# An event is stored once: a second copy conflicts here and is ignored. Time comes first
# so that logs ingested in time order insert at the right edge of the index instead of
# rewriting pages all over it (with the hash alone, a 5M-event ingest slowed to a crawl
# as every chunk dirtied nearly every page). Unknown times sort first (as -1).
_event_identity = Index(
    "ux_events_identity",
    func.coalesce(events.c.timestamp, -1),
    events.c.event_key,
    unique=True,
)

quarantine = Table(
    "quarantine",
    metadata,
    # Hash of (source, line, reason, raw): re-ingesting a bad file adds no copies.
    Column("quarantine_key", _key, primary_key=True, autoincrement=False),
    Column("source", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("line", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


llm_cache = Table(
    "llm_cache",
    metadata,
    # Hash of (model id, prompt name, prompt version, request body): see llmrec.llm.cache.
    Column("cache_key", String(32), primary_key=True),
    Column("model_id", Text, nullable=False),
    Column("prompt", String(64), nullable=False),
    Column("prompt_version", Integer, nullable=False),
    Column("output", Text, nullable=False),
    Column("finish_reason", String(32), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Whose data the prompt held (a user id for interest prompts): forgetting a user
    # deletes their cached answers.
    Column("subject", String(256), nullable=True),
)
_llm_cache_subject = Index("ix_llm_cache_subject", llm_cache.c.subject)

# Generated text lives beside the item's own text, never over it.
item_texts = Table(
    "item_texts",
    metadata,
    Column("item_id", String(256), primary_key=True),
    Column("description", Text, nullable=False),
    Column("keywords", _json, nullable=False),
    # pass | repaired | rejected (then description is empty and keywords come from tags)
    Column("verdict", String(16), nullable=False),
    Column("problems", _json, nullable=False),
    Column("model_id", Text, nullable=False),
    Column("prompt_version", Integer, nullable=False),
    Column("source_hash", String(32), nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

user_interests = Table(
    "user_interests",
    metadata,
    Column("user_id", String(256), primary_key=True),
    # [[keyword, weight], ...], heaviest first
    Column("keywords", _json, nullable=False),
    Column("summary", Text, nullable=False),
    # llm | fallback (the deterministic extractor, when the model's answer was invalid)
    Column("source", String(16), nullable=False),
    Column("model_id", Text, nullable=False),
    Column("prompt_version", Integer, nullable=False),
    Column("source_hash", String(32), nullable=False),
    Column("content_hash", String(32), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)


# Text vectors by (encoder, hash of the exact text): a text is encoded once per encoder.
embeddings = Table(
    "embeddings",
    metadata,
    Column("encoder_id", String(128), primary_key=True),
    Column("text_hash", String(32), primary_key=True),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
    Column("created_at", BigInteger, nullable=False),
)


# API keys of the service: only a hash of the secret is kept (the key is shown once).
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(64), nullable=False),  # comma-joined: read, write, admin
    Column("name", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


# Users forgotten by DELETE /users/{id}: the record that a deletion happened and when
# (model files of format 4 and older held histories and read it to forget them again).
# Only a hash of the id is kept (llmrec.store.forgotten_user_hash), not the id itself.
forgotten_users = Table(
    "forgotten_users",
    metadata,
    Column("user_hash", String(64), primary_key=True),
    Column("forgotten_at", Float, nullable=False),
)


# A write that carried an Idempotency-Key: committed in the same transaction as its
# events, so a client retrying a request whose answer it never got stores nothing twice
# and is told what the first attempt stored.
event_receipts = Table(
    "event_receipts",
    metadata,
    Column("receipt", String(320), primary_key=True),  # API key id + ":" + the client's key
    Column("stored", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


# What the store derives from its data and keeps, by name: the summary `llmrec stats`
# shows costs seconds to compute on a large store, so it is kept with a fingerprint of
# the data it was computed from (see Store.summary).
store_meta = Table(
    "store_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", _json, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)


# Trained models published for every replica (llmrec.training.publish_model): a version
# is reserved first (its number names its artifact, so two trainers never write the same
# file), then published with the artifact's address and checksum. Which version is served
# is ``store_meta``'s "model_version": a rollback changes that row, nothing else.
model_versions = Table(
    "model_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("trainer", String(256), nullable=False),  # host and process that fitted it
    Column("created_at", Float, nullable=False),
    Column("published_at", Float, nullable=True),  # NULL: reserved, not (yet) published
    Column("artifact", Text, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("summary", _json, nullable=True),
)


# Online experiments (llmrec.experiments): the spec as created (variants, shares, window,
# salt) and its status; one row per list served inside one, written in batches off the
# request path. Outcomes are not copied: the report joins the events table.
experiments = Table(
    "experiments",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("spec", _json, nullable=False),
    Column("status", String(16), nullable=False),  # running, paused, stopped
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
impressions = Table(
    "impressions",
    metadata,
    Column("impression_id", _key, primary_key=True, autoincrement=True),
    Column("experiment", String(64), nullable=False),
    Column("variant", String(64), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("request_id", String(32), nullable=False),
    Column("items", _json, nullable=False),  # item ids in rank order
    Column("teams", _json, nullable=True),  # interleaving: each item's team (0 or 1)
    Column("shown_at", Float, nullable=False),
    Index("ix_impressions_experiment_user", "experiment", "user_id"),
)
# Impressions a replica could not store (the database away, its queue full), counted
# when it can write again: the report says how many it is missing.
impressions_lost = Table(
    "impressions_lost",
    metadata,
    Column("row_id", _key, primary_key=True, autoincrement=True),
    Column("experiment", String(64), nullable=False),
    Column("lost", Integer, nullable=False),
    Column("counted_at", Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_initial_tables(conn: Connection) -> None:
    metadata.create_all(
        conn, tables=[items, users, user_links, events, quarantine], checkfirst=True
    )


def _create_llm_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=[llm_cache, item_texts, user_interests], checkfirst=True)


def _create_embedding_table(conn: Connection) -> None:
    metadata.create_all(conn, tables=[embeddings], checkfirst=True)


def _create_api_keys_table(conn: Connection) -> None:
    metadata.create_all(conn, tables=[api_keys], checkfirst=True)
    # Stores made before the subject column existed get it (new ones have it already).
    if "subject" not in {c["name"] for c in inspect(conn).get_columns("llm_cache")}:
        conn.execute(text("ALTER TABLE llm_cache ADD COLUMN subject VARCHAR(256)"))
        _llm_cache_subject.create(conn)


def _create_forgotten_users_table(conn: Connection) -> None:
    metadata.create_all(conn, tables=[forgotten_users], checkfirst=True)


def _create_event_receipts_table(conn: Connection) -> None:
    metadata.create_all(conn, tables=[event_receipts], checkfirst=True)


def _create_store_meta_table(conn: Connection) -> None:
    metadata.create_all(conn, tables=[store_meta], checkfirst=True)


def _create_model_versions_table(conn: Connection) -> None:
    metadata.create_all(conn, tables=[model_versions], checkfirst=True)


def _create_experiment_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=[experiments, impressions, impressions_lost], checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "items, users, user_links, events, quarantine", _create_initial_tables),
    Migration(2, "llm_cache, item_texts, user_interests", _create_llm_tables),
    Migration(3, "embeddings", _create_embedding_table),
    Migration(4, "api_keys; llm_cache.subject", _create_api_keys_table),
    Migration(5, "forgotten_users", _create_forgotten_users_table),
    Migration(6, "event_receipts", _create_event_receipts_table),
    Migration(7, "store_meta", _create_store_meta_table),
    Migration(8, "model_versions", _create_model_versions_table),
    Migration(9, "experiments, impressions, impressions_lost", _create_experiment_tables),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

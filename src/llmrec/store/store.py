"""Persistence: the only module that knows SQL.

A SQLite file in WAL mode is the embedded default; any SQLAlchemy URL works by
configuration (PostgreSQL through psycopg is tested). Writes take frames produced by
:mod:`llmrec.data.validate` and go in one transaction per chunk, so an interrupted ingest
keeps every chunk it acknowledged and a rerun adds only what is missing.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, false, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from llmrec.data.records import COLUMNS, RecordKind
from llmrec.errors import StoreError, StoreUnavailableError
from llmrec.store import changes, schema
from llmrec.store.experiments import ExperimentRecords
from llmrec.store.schema import MIGRATIONS, SCHEMA_VERSION
from llmrec.store.summary import FORMAT, NAME, State, StoreSummary, assemble, read_state

# numpy, pandas and pyarrow are imported where they are used: `llmrec stats` opens the
# store and would otherwise wait most of a second for them.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from llmrec.data.readers import Rejection

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_MIGRATION_LOCK_ID = 0x6C6C6D726563  # "llmrec": the PostgreSQL advisory lock of migrations
_JSON_COLUMNS = frozenset({"tags", "attributes", "keywords", "problems"})
T = TypeVar("T")
_TRANSIENT_TRIES = 5  # runs of a write transaction PostgreSQL fails as a deadlock
_KEYS_PER_QUERY = 900  # below SQLite's smallest limit on bound parameters
_MODEL_VERSION = "model_version"  # the store_meta row naming the served model version
LAST_EVALUATION = "last_evaluation"  # the store_meta row of the last `llmrec evaluate`
_SUMMARY_TOP = 100  # top items kept with the summary: a larger --top recomputes it
ITEM_TEXT_COLUMNS: tuple[str, ...] = (
    "item_id",
    "description",
    "keywords",
    "verdict",
    "problems",
    "model_id",
    "prompt_version",
    "source_hash",
)
USER_INTEREST_COLUMNS: tuple[str, ...] = (
    "user_id",
    "keywords",
    "summary",
    "source",
    "model_id",
    "prompt_version",
    "source_hash",
)
LLM_CACHE_COLUMNS: tuple[str, ...] = (
    "cache_key",
    "model_id",
    "prompt",
    "prompt_version",
    "output",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
    "created_at",
    "subject",
)
EVENT_COLUMNS: tuple[str, ...] = COLUMNS[RecordKind.EVENTS]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """How many rows a write stored, and how many it found already stored as they are."""

    written: int
    unchanged: int
    replayed: bool = False  # a retry of a write already stored: ``written`` is the first's


class Store(ExperimentRecords):
    """A connection to the llmrec database.

    >>> store = Store.open("sqlite:///example.db")  # creates and migrates the schema

    On PostgreSQL, writes that change what a served model keeps (events, items, forgotten
    users, revoked keys) also notify the other processes serving from the database
    (:mod:`llmrec.store.changes`; :meth:`listen`). ``origin`` tells this store's own
    notifications apart.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.origin = secrets.token_hex(8)

    @classmethod
    def open(cls, url: str, sqlite_cache_mib: int = 128) -> Store:
        """Connect to ``url``, creating the database file and schema when needed.

        ``sqlite_cache_mib``: SQLite's page cache, per connection — large for bulk
        ingest; a long-running service with several pooled connections wants less."""
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StoreError(f"invalid database URL {url!r}: {exc}") from None
        backend = parsed.get_backend_name()
        if backend not in _INSERTS:
            raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql")
        if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if backend == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(
            parsed,
            json_serializer=lambda obj: orjson.dumps(obj, default=str).decode(),
            json_deserializer=orjson.loads,
            pool_pre_ping=backend == "postgresql",
            # an unreachable server fails a request in seconds instead of hanging it
            connect_args={"connect_timeout": 5} if backend == "postgresql" else {},
        )
        if backend == "sqlite":
            event.listen(engine, "connect", partial(_sqlite_pragmas, cache_mib=sqlite_cache_mib))
        event.listen(engine, "handle_error", partial(_unavailable, where=repr(parsed)))
        store = cls(engine)
        try:
            store.migrate()
        except StoreUnavailableError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the store at {parsed!r}: {exc.__cause__}") from None
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the store at {parsed!r}: {exc.orig}") from None
        return store

    def ping(self) -> bool:
        """Whether the database answers now."""
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except StoreUnavailableError:
            return False
        return True

    @property
    def shares_changes(self) -> bool:
        """Whether writes notify other processes (PostgreSQL) — see :meth:`listen`."""
        return self.backend == "postgresql"

    def listen(
        self,
        on_change: Callable[[changes.Change], None],
        on_reconnect: Callable[[], None],
        retry_s: float = 1.0,
    ) -> changes.ChangeListener:
        """A started listener calling ``on_change`` with the changes other processes write
        (PostgreSQL only; ``on_reconnect`` after a lost connection is back)."""
        if not self.shares_changes:
            raise StoreError(f"changes are shared through PostgreSQL, not {self.backend}")
        url = self.engine.url
        cargs, cparams = self.engine.dialect.create_connect_args(url)

        def connect():
            conn = self.engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
            conn.autocommit = True
            return conn

        listener = changes.ChangeListener(
            connect, self.origin, on_change, on_reconnect, retry_s=retry_s
        )
        listener.start()
        return listener

    def _publish(self, conn: Connection, kind: str, data: Sequence) -> None:
        """Tell the other processes of a change, when ``conn``'s transaction commits."""
        if not self.shares_changes:
            return
        for payload in changes.payloads(self.origin, kind, data):
            conn.execute(select(func.pg_notify(changes.CHANNEL, payload)))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    # -- schema ------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations this database lacks; return the schema version.

        Processes that open a new store at the same moment (a CLI beside the service)
        take turns: the migration runs under the database's write lock.
        """
        with self.engine.begin() as conn:
            if self.backend == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK_ID)))
            schema.schema_migrations.create(conn, checkfirst=True)
            current = conn.execute(select(func.max(schema.schema_migrations.c.version))).scalar()
            current = current or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the store has schema version {current}, newer than this llmrec "
                    f"({SCHEMA_VERSION}); upgrade llmrec"
                )
            for migration in MIGRATIONS:
                if migration.version > current:
                    migration.apply(conn)
                    conn.execute(
                        schema.schema_migrations.insert().values(
                            version=migration.version,
                            description=migration.description,
                            applied_at=int(time.time()),
                        )
                    )
        return SCHEMA_VERSION

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(schema.schema_migrations.c.version))).scalar())

    # -- writes ------------------------------------------------------------------------

    def upsert_items(self, items: pd.DataFrame) -> WriteResult:
        """Insert new items and update changed ones; identical items are left alone."""
        return self._upsert(
            schema.items, "item_id", items, list(COLUMNS[RecordKind.ITEMS]), changed="items"
        )

    def upsert_users(self, users: pd.DataFrame) -> WriteResult:
        return self._upsert(schema.users, "user_id", users, list(COLUMNS[RecordKind.USERS]))

    def add_links(self, links: pd.DataFrame) -> WriteResult:
        rows = _records(links, list(COLUMNS[RecordKind.LINKS]))
        written = self._insert_ignore(schema.user_links, rows)
        return WriteResult(written, len(rows) - written)

    def add_events(self, events: pd.DataFrame) -> WriteResult:
        """Store events; one equal to a stored event (same ``event_key``) is skipped."""
        return self.add_event_groups([events])[0]

    def add_event_groups(
        self, groups: Sequence[pd.DataFrame], receipts: Sequence[str | None] | None = None
    ) -> list[WriteResult]:
        """Store several batches of events in one transaction (one commit: what a durable
        write costs most), with what each batch wrote.

        ``receipts`` names each batch (None: unnamed). A named batch is stored once: its
        receipt is committed with its events, and a batch whose receipt is already
        stored writes nothing and gets the first write's result back (``replayed``).
        """
        return self._transaction(partial(self._write_event_groups, groups=groups,
                                         receipts=receipts))  # fmt: skip

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in one transaction. One that PostgreSQL fails as a deadlock or a
        serialization failure (two replicas writing the same rows in another order: a
        client's retry sent to the other replica) is run again, up to
        ``_TRANSIENT_TRIES`` times, after a short random pause."""
        attempt = 1
        while True:
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except Exception as exc:
                if attempt == _TRANSIENT_TRIES or not _transient(exc):
                    raise
            time.sleep(random.uniform(0, 0.02 * attempt))
            attempt += 1

    def _write_event_groups(
        self,
        conn: Connection,
        groups: Sequence[pd.DataFrame],
        receipts: Sequence[str | None] | None,
    ) -> list[WriteResult]:
        columns = ["event_key", *EVENT_COLUMNS]
        table = schema.event_receipts
        # RETURNING says whether the row went in: rowcount is -1 on PostgreSQL (psycopg)
        receipt_stmt = (
            _INSERTS[self.backend](table).on_conflict_do_nothing().returning(table.c.receipt)
        )
        results, published = [], []
        now = int(time.time())
        for events, receipt in zip(groups, receipts or [None] * len(groups), strict=True):
            if receipt is not None:
                claimed = conn.execute(
                    receipt_stmt.values(receipt=receipt, stored=0, created_at=now)
                ).first()
                if claimed is None:  # an earlier attempt of this request was committed
                    first = conn.execute(
                        select(table.c.stored).where(table.c.receipt == receipt)
                    ).scalar_one()
                    results.append(WriteResult(int(first), len(events), replayed=True))
                    continue
            # Index order gives page locality in the identity index.
            ordered = events.sort_values(["timestamp", "event_key"], na_position="first")
            rows = _records(ordered, columns)
            written = _insert_new(conn, schema.events, rows, columns) if rows else 0
            if receipt is not None:
                conn.execute(
                    table.update().where(table.c.receipt == receipt).values(stored=written)
                )
            results.append(WriteResult(written, len(events) - written))
            published.append(ordered)
        self._publish_events(conn, published)
        return results

    def _publish_events(self, conn: Connection, frames: list[pd.DataFrame]) -> None:
        if not self.shares_changes or not frames:
            return
        import pandas as pd

        events = pd.concat(frames, ignore_index=True)
        events = events[events["item_id"].notna()]
        if len(events) > changes.BULK_EVENTS:
            self._publish(conn, "resync", [])
        elif len(events):
            rows = _records(events, ["user_id", "item_id", "event_type", "value", "timestamp"])
            self._publish(conn, "events", rows)

    def add_quarantine(self, source: str, kind: str, rejections: Sequence[Rejection]) -> int:
        """Record rejected rows; the same rejection recorded twice is kept once."""
        now = int(time.time())
        rows = [
            (
                _stable_key(source, str(r.line), r.reason, r.raw),
                source,
                kind,
                r.line,
                r.reason,
                r.raw,
                now,
            )
            for r in rejections
        ]
        return self._insert_ignore(schema.quarantine, rows)

    def upsert_item_texts(self, texts: pd.DataFrame) -> WriteResult:
        """Store generated descriptions (``ITEM_TEXT_COLUMNS``); unchanged rows are kept."""
        return self._upsert(schema.item_texts, "item_id", texts, list(ITEM_TEXT_COLUMNS))

    def upsert_user_interests(self, interests: pd.DataFrame) -> WriteResult:
        """Store interest keywords (``USER_INTEREST_COLUMNS``); unchanged rows are kept."""
        return self._upsert(
            schema.user_interests, "user_id", interests, list(USER_INTEREST_COLUMNS)
        )

    def put_llm_outputs(self, rows: Sequence[tuple]) -> int:
        """Cache model answers, rows in ``LLM_CACHE_COLUMNS`` order; a key stored twice
        keeps its first answer."""
        return self._insert_ignore(schema.llm_cache, list(rows))

    def put_embeddings(self, encoder_id: str, hashes: Sequence[str], vectors: np.ndarray) -> int:
        """Cache text vectors under (encoder, text hash); a stored pair is kept as it is."""
        import numpy as np

        now = int(time.time())
        data = np.ascontiguousarray(vectors, dtype="<f4")
        rows = [(encoder_id, h, data[i].tobytes(), now) for i, h in enumerate(hashes)]
        return self._insert_ignore(schema.embeddings, rows)

    def _insert_ignore(self, table, rows: list[tuple], columns: list[str] | None = None) -> int:
        if not rows:
            return 0
        return self._transaction(lambda conn: _insert_new(conn, table, rows, columns))

    def _upsert(
        self, table, key: str, frame: pd.DataFrame, columns: list[str], changed: str = ""
    ) -> WriteResult:
        """Insert or update rows by ``key``; with ``changed``, other processes are told
        the keys of the rows (a change of that kind) when any was written."""
        now = int(time.time())
        # JSON arrives serialised, so the hash sees exactly what is stored.
        rows = [(*row, _content_hash(row), now) for row in _records(frame, columns)]
        if not rows:
            return WriteResult(0, 0)
        insert = _INSERTS[self.backend](table)
        updated = {
            c: insert.excluded[c] for c in [*columns, "content_hash", "updated_at"] if c != key
        }
        stmt = insert.on_conflict_do_update(
            index_elements=[key],
            set_=updated,
            where=table.c.content_hash != insert.excluded.content_hash,
        )

        def write(conn: Connection) -> int:
            written = _executemany(conn, stmt, rows)
            if changed and written:
                self._publish(conn, changed, frame[key].astype(str).tolist())
            return written

        written = self._transaction(write)
        return WriteResult(written, len(rows) - written)

    def add_api_key(self, key_id: str, secret_hash: str, scopes: Sequence[str], name: str) -> None:
        row = (key_id, secret_hash, ",".join(scopes), name, int(time.time()), False)
        with self.engine.begin() as conn:
            _executemany(conn, _INSERTS[self.backend](schema.api_keys), [row])

    def api_key(self, key_id: str) -> tuple[str, tuple[str, ...]] | None:
        """(secret hash, scopes) of a key that is not revoked, or None."""
        t = schema.api_keys
        stmt = select(t.c.secret_hash, t.c.scopes).where(t.c.key_id == key_id, ~t.c.revoked)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (row[0], tuple(row[1].split(",")))

    def api_keys_frame(self) -> pd.DataFrame:
        t = schema.api_keys
        return self._frame(
            select(t.c.key_id, t.c.name, t.c.scopes, t.c.created_at, t.c.revoked).order_by(
                t.c.created_at, t.c.key_id
            )
        )

    def revoke_api_key(self, key_id: str) -> bool:
        t = schema.api_keys
        with self.engine.begin() as conn:
            done = conn.execute(t.update().where(t.c.key_id == key_id).values(revoked=True))
            if done.rowcount:
                self._publish(conn, "keys", [key_id])
        return done.rowcount > 0

    # -- model versions ----------------------------------------------------------------

    def reserve_model_version(self, trainer: str) -> int:
        """A new version number for a model about to be published (unique even when
        trainers race: the database numbers them)."""
        t = schema.model_versions
        with self.engine.begin() as conn:
            found = conn.execute(
                t.insert().values(trainer=trainer, created_at=time.time()).returning(t.c.version)
            )
            return int(found.scalar_one())

    def publish_model_version(
        self, version: int, artifact: str, sha256: str, size: int, summary: dict
    ) -> None:
        """Record the reserved ``version``'s artifact and make it the served version;
        the other processes are told (a ``model`` change)."""
        t = schema.model_versions
        with self.engine.begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.version == version, t.c.published_at.is_(None))
                .values(
                    published_at=time.time(),
                    artifact=artifact,
                    sha256=sha256,
                    bytes=size,
                    summary=summary,
                )
            )
            if done.rowcount != 1:
                raise StoreError(f"model version {version} is not reserved or already published")
            self._set_model_version(conn, version)

    def use_model_version(self, version: int) -> None:
        """Serve the published ``version`` (a rollback, or a roll forward); the other
        processes are told. :class:`StoreError` for a version never published."""
        t = schema.model_versions
        with self.engine.begin() as conn:
            published = conn.execute(
                select(t.c.version).where(t.c.version == version, t.c.published_at.is_not(None))
            ).first()
            if published is None:
                raise StoreError(f"no published model version {version} (llmrec models list)")
            self._set_model_version(conn, version)

    def _set_model_version(self, conn: Connection, version: int) -> None:
        self._put_meta(conn, _MODEL_VERSION, {"version": version})
        self._publish(conn, "model", [version])

    def set_meta(self, name: str, value: dict) -> None:
        """Keep a small JSON value under ``name`` (e.g. the last offline evaluation)."""
        with self.engine.begin() as conn:
            self._put_meta(conn, name, value)

    def meta(self, name: str) -> dict | None:
        """The value kept under ``name``, or None."""
        table = schema.store_meta
        with self.engine.connect() as conn:
            return conn.execute(select(table.c.value).where(table.c.name == name)).scalar()

    def _put_meta(self, conn: Connection, name: str, value: dict) -> None:
        table = schema.store_meta
        upsert = _INSERTS[self.backend](table).values(
            name=name, value=value, updated_at=int(time.time())
        )
        conn.execute(upsert.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": upsert.excluded.value, "updated_at": upsert.excluded.updated_at},
        ))  # fmt: skip

    def model_version(self, version: int | None = None) -> dict | None:
        """The served model version (or ``version``) as a dict of its columns, None when
        there is none. Only published versions are returned."""
        t = schema.model_versions
        with self.engine.connect() as conn:
            if version is None:
                meta = schema.store_meta
                found = conn.execute(
                    select(meta.c.value).where(meta.c.name == _MODEL_VERSION)
                ).scalar()
                if found is None:
                    return None
                version = int(found["version"])
            row = conn.execute(
                select(t).where(t.c.version == version, t.c.published_at.is_not(None))
            ).first()
        return None if row is None else dict(row._mapping)

    def model_versions_frame(self) -> pd.DataFrame:
        """Every published version, newest first."""
        t = schema.model_versions
        return self._frame(
            select(t.c.version, t.c.published_at, t.c.trainer, t.c.bytes, t.c.sha256, t.c.artifact)
            .where(t.c.published_at.is_not(None))
            .order_by(t.c.version.desc())
        )

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Forget a user in one transaction: their events, links (both ways), interests,
        cached LLM answers about them, quarantined rows naming them and the user row; the
        user is recorded (a hash of the id, the time) in ``forgotten_users``, a record
        that the deletion happened. Returns the rows removed per table."""
        removed = {}
        with self.engine.begin() as conn:
            for name, table, where in [
                ("events", schema.events, schema.events.c.user_id == user_id),
                (
                    "user_links",
                    schema.user_links,
                    (schema.user_links.c.user_id == user_id)
                    | (schema.user_links.c.friend_id == user_id),
                ),
                ("user_interests", schema.user_interests,
                 schema.user_interests.c.user_id == user_id),
                ("users", schema.users, schema.users.c.user_id == user_id),
                ("llm_cache", schema.llm_cache, schema.llm_cache.c.subject == user_id),
                ("impressions", schema.impressions, schema.impressions.c.user_id == user_id),
            ]:  # fmt: skip
                removed[name] = conn.execute(table.delete().where(where)).rowcount
            removed["quarantine"] = _delete_quarantine_naming(conn, user_id)
            table, user_hash = schema.forgotten_users, forgotten_user_hash(user_id)
            conn.execute(table.delete().where(table.c.user_hash == user_hash))
            conn.execute(table.insert().values(user_hash=user_hash, forgotten_at=time.time()))
            self._publish(conn, "forget", [user_id])
        return removed

    def forgotten_user_hashes(self, since: float = 0.0) -> set[str]:
        """:func:`forgotten_user_hash` of the users forgotten after ``since`` (epoch s)."""
        table = schema.forgotten_users
        with self.engine.connect() as conn:
            found = conn.execute(select(table.c.user_hash).where(table.c.forgotten_at > since))
            return set(found.scalars())

    # -- reads -------------------------------------------------------------------------

    def item_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(schema.items.c.item_id)).scalars())

    def items_frame(self, item_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Every item, or those of ``item_ids`` (unknown ids are left out)."""
        import pandas as pd

        cols = [c for c in schema.items.c if c.name not in ("content_hash", "updated_at")]
        stmt = select(*cols).order_by(schema.items.c.item_id)
        if item_ids is None:
            return self._frame(stmt)
        ids = list(dict.fromkeys(str(i) for i in item_ids))
        parts = [
            self._frame(stmt.where(schema.items.c.item_id.in_(ids[i : i + _KEYS_PER_QUERY])))
            for i in range(0, len(ids), _KEYS_PER_QUERY)
        ]
        return pd.concat(parts, ignore_index=True) if parts else self._frame(stmt.where(false()))

    def users_frame(self) -> pd.DataFrame:
        t = schema.users
        return self._frame(select(t.c.user_id, t.c.attributes).order_by(t.c.user_id))

    def user_attributes(self, user_id: str) -> dict | None:
        """One user's attributes (an indexed read: a new user's request must not read the
        whole users table); None for a user not in the store."""
        t = schema.users
        with self.engine.connect() as conn:
            found = conn.execute(select(t.c.attributes).where(t.c.user_id == user_id)).first()
        if found is None:
            return None
        return found[0] if isinstance(found[0], dict) else {}

    def friends_of(self, user_id: str) -> list[str]:
        """The users ``user_id`` links to (an indexed read: the links' key starts with
        the user)."""
        t = schema.user_links
        with self.engine.connect() as conn:
            found = conn.execute(
                select(t.c.friend_id).where(t.c.user_id == user_id).order_by(t.c.friend_id)
            )
            return list(found.scalars())

    def links_frame(self) -> pd.DataFrame:
        t = schema.user_links
        return self._frame(select(t.c.user_id, t.c.friend_id).order_by(t.c.user_id, t.c.friend_id))

    def quarantine_frame(self, limit: int | None = None) -> pd.DataFrame:
        t = schema.quarantine
        stmt = select(t.c.source, t.c.kind, t.c.line, t.c.reason, t.c.raw).order_by(
            t.c.source, t.c.line
        )
        return self._frame(stmt.limit(limit) if limit else stmt)

    def iter_events(
        self, columns: Sequence[str] = EVENT_COLUMNS, chunk_rows: int = 500_000
    ) -> Iterator[pd.DataFrame]:
        """All events as frames of at most ``chunk_rows`` rows (bounded memory)."""
        import pandas as pd

        unknown = set(columns) - set(EVENT_COLUMNS)
        if unknown:
            raise ValueError(f"unknown event column(s): {sorted(unknown)}")
        stmt = select(*(schema.events.c[c] for c in columns))
        with self.engine.connect() as conn:
            sql = str(stmt.compile(dialect=conn.dialect))
            dbapi = conn.connection.dbapi_connection
            # A server-side cursor on PostgreSQL keeps memory bounded; SQLite steps lazily.
            cursor = (
                dbapi.cursor(name="llmrec_events")
                if self.backend == "postgresql"
                else (dbapi.cursor())
            )
            try:
                cursor.execute(sql)
                while part := cursor.fetchmany(chunk_rows):
                    yield _typed_events(pd.DataFrame.from_records(part, columns=list(columns)))
            finally:
                cursor.close()

    def events_frame(self, columns: Sequence[str] = EVENT_COLUMNS) -> pd.DataFrame:
        import pandas as pd

        frames = list(self.iter_events(columns))
        if not frames:
            return _typed_events(pd.DataFrame({c: [] for c in columns}))
        return pd.concat(frames, ignore_index=True)

    def llm_outputs(self, keys: Sequence[str]) -> dict[str, tuple]:
        """Cached answers by key: ``{key: (output, finish_reason, prompt_tokens,
        completion_tokens, seconds)}``; keys not cached are absent."""
        t = schema.llm_cache
        found: dict[str, tuple] = {}
        unique = list(dict.fromkeys(keys))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), _KEYS_PER_QUERY):
                part = unique[start : start + _KEYS_PER_QUERY]
                stmt = select(
                    t.c.cache_key,
                    t.c.output,
                    t.c.finish_reason,
                    t.c.prompt_tokens,
                    t.c.completion_tokens,
                    t.c.seconds,
                ).where(t.c.cache_key.in_(part))
                for key, *answer in conn.execute(stmt):
                    found[key] = tuple(answer)
        return found

    def embeddings(self, encoder_id: str, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Cached vectors of ``encoder_id`` by text hash; hashes not cached are absent."""
        import numpy as np

        t = schema.embeddings
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self.engine.connect() as conn:
            for start in range(0, len(unique), _KEYS_PER_QUERY):
                part = unique[start : start + _KEYS_PER_QUERY]
                stmt = select(t.c.text_hash, t.c.vector).where(
                    t.c.encoder_id == encoder_id, t.c.text_hash.in_(part)
                )
                for text_hash, blob in conn.execute(stmt):
                    vector = np.frombuffer(blob, dtype="<f4")
                    if len(vector) == dim:
                        found[text_hash] = vector
        return found

    def llm_cache_summary(self) -> pd.DataFrame:
        """Cached answers per model and prompt version, with their token counts."""
        t = schema.llm_cache
        stmt = (
            select(
                t.c.model_id,
                t.c.prompt,
                t.c.prompt_version,
                func.count().label("answers"),
                func.sum(t.c.completion_tokens).label("completion_tokens"),
            )
            .group_by(t.c.model_id, t.c.prompt, t.c.prompt_version)
            .order_by(t.c.prompt, t.c.prompt_version)
        )
        return self._frame(stmt)

    def item_texts_frame(self) -> pd.DataFrame:
        t = schema.item_texts
        return self._frame(select(*(t.c[c] for c in ITEM_TEXT_COLUMNS)).order_by(t.c.item_id))

    def user_interests_frame(self) -> pd.DataFrame:
        t = schema.user_interests
        stmt = select(*(t.c[c] for c in USER_INTEREST_COLUMNS)).order_by(t.c.user_id)
        return self._frame(stmt)

    def user_interests_of(self, user_id: str) -> pd.DataFrame:
        """``user_interests_frame`` of one user (zero or one row), read by its key."""
        t = schema.user_interests
        cols = (t.c[c] for c in USER_INTEREST_COLUMNS)
        return self._frame(select(*cols).where(t.c.user_id == user_id))

    def _frame(self, stmt) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            return pd.DataFrame.from_records(result.all(), columns=list(result.keys()))

    # -- statistics --------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        tables = {
            "items": schema.items,
            "users": schema.users,
            "user_links": schema.user_links,
            "events": schema.events,
            "quarantine": schema.quarantine,
        }
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(t)).scalar())
                for name, t in tables.items()
            }

    def events_per_day(self, days: int = 60) -> pd.DataFrame:
        """Events per day (UTC, the day's first second) and type over the ``days`` days up
        to the newest event: day, event_type, events."""
        t = schema.events
        with self.engine.connect() as conn:
            newest = conn.execute(select(func.max(t.c.timestamp))).scalar()
        if newest is None:
            import pandas as pd

            return pd.DataFrame({"day": [], "event_type": [], "events": []})
        day = (t.c.timestamp // 86_400).label("day_number")  # floor division on both backends
        start = (int(newest) // 86_400 - days + 1) * 86_400
        stmt = (
            select(day, t.c.event_type, func.count().label("events"))
            .where(t.c.timestamp >= start)
            .group_by(day, t.c.event_type)
            .order_by(day, t.c.event_type)
        )
        frame = self._frame(stmt)
        frame["day"] = frame.pop("day_number").astype("int64") * 86_400
        return frame[["day", "event_type", "events"]]

    def event_type_counts(self) -> pd.DataFrame:
        return self._frame(_events_per_type())

    def top_items(self, n: int = 10) -> pd.DataFrame:
        i = schema.items
        counted = _events_per_item(n).subquery()
        stmt = (
            select(counted.c.item_id, i.c.title, counted.c.events)
            .join(i, i.c.item_id == counted.c.item_id, isouter=True)
            .order_by(counted.c.events.desc(), counted.c.item_id)
        )
        return self._frame(stmt)

    def activity_summary(self) -> dict[str, int]:
        """Distinct users, items and (user, item) pairs in events; stored users and
        catalogue items that have no events (cold)."""
        e, i, u = schema.events, schema.items, schema.users
        with self.engine.connect() as conn:
            active_users = conn.execute(select(func.count(func.distinct(e.c.user_id)))).scalar()
            active_items = conn.execute(
                select(func.count(func.distinct(e.c.item_id))).where(e.c.item_id.is_not(None))
            ).scalar()
            with_events = select(e.c.item_id).where(e.c.item_id.is_not(None)).distinct()
            cold_items = conn.execute(
                select(func.count()).select_from(i).where(i.c.item_id.not_in(with_events))
            ).scalar()
            users_with_events = select(e.c.user_id).distinct()
            cold_users = conn.execute(
                select(func.count()).select_from(u).where(u.c.user_id.not_in(users_with_events))
            ).scalar()
            pairs = conn.execute(
                select(func.count()).select_from(
                    select(e.c.user_id, e.c.item_id)
                    .where(e.c.item_id.is_not(None))
                    .distinct()
                    .subquery()
                )
            ).scalar()
        return {
            "user_item_pairs": int(pairs or 0),
            "active_users": int(active_users or 0),
            "active_items": int(active_items or 0),
            "cold_items": int(cold_items or 0),
            "cold_users": int(cold_users or 0),
        }

    def summary(self, top: int = 10) -> StoreSummary:
        """Everything `llmrec stats` shows, with the ``top`` items by events.

        Counts are read each time; the rest (distinct users, items and pairs, events per
        type and item: scans and sorts of every event) is kept in ``store_meta`` and
        recomputed when the data's fingerprint (:mod:`llmrec.store.summary`) differs. The
        fingerprint is read before the values it keys: a write that lands meanwhile makes
        the next call recompute, so a summary is never older than its fingerprint."""
        top = max(top, 0)
        mark = "?" if self.backend == "sqlite" else "%s"
        with (
            self.engine.connect() as conn,
            closing(conn.connection.dbapi_connection.cursor()) as cursor,
        ):
            state = read_state(cursor)
            kept = state.current(top) or self._keep_summary(state, max(top, _SUMMARY_TOP))
            return assemble(cursor, mark, state.counts, kept, top)

    def _keep_summary(self, state: State, limit: int) -> dict:
        """Compute what the summary keeps (with ``limit`` top items) and keep it."""
        with self.engine.connect() as conn:
            types = conn.execute(_events_per_type()).all()
            ranked = conn.execute(_events_per_item(limit)).all()
        kept = {
            "format": FORMAT,
            "schema_version": state.schema_version,
            "fingerprint": state.fingerprint,
            "top_limit": limit,
            "activity": self.activity_summary(),
            "events_per_type": [[kind, int(n)] for kind, n in types],
            "top_items": [[item, int(n)] for item, n in ranked],
        }
        table = schema.store_meta
        upsert = _INSERTS[self.backend](table).values(
            name=NAME, value=kept, updated_at=int(time.time())
        )
        stmt = upsert.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": upsert.excluded.value, "updated_at": upsert.excluded.updated_at},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
        return kept


def _events_per_type():
    e = schema.events
    return (
        select(e.c.event_type, func.count().label("events"))
        .group_by(e.c.event_type)
        .order_by(func.count().desc(), e.c.event_type)
    )


def _events_per_item(n: int):
    """The ``n`` items with the most events, as (item_id, events)."""
    e = schema.events
    return (
        select(e.c.item_id, func.count().label("events"))
        .where(e.c.item_id.is_not(None))
        .group_by(e.c.item_id)
        .order_by(func.count().desc(), e.c.item_id)
        .limit(n)
    )


def forgotten_user_hash(user_id: str) -> str:
    """What the store keeps of a forgotten user's id: its SHA-256."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def _delete_quarantine_naming(conn, user_id: str) -> int:
    """Delete quarantined rows that hold ``user_id`` as a whole field (a CSV field or a
    JSON string); the database narrows the search to rows containing the text at all."""
    table = schema.quarantine
    escaped = user_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    candidates = conn.execute(
        select(table.c.quarantine_key, table.c.raw).where(
            table.c.raw.like(f"%{escaped}%", escape="\\")
        )
    ).all()
    field = re.compile(rf'(?:^|[,\t;|"])\s*{re.escape(user_id)}\s*(?:$|[,\t;|"])')
    keys = [key for key, raw in candidates if field.search(raw)]
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        conn.execute(table.delete().where(table.c.quarantine_key.in_(batch)))
    return len(keys)


def _unavailable(context, where: str) -> None:
    """SQLAlchemy's error hook: a database that cannot be reached (refused, gone in the
    middle of a statement) raises :class:`StoreUnavailableError`, which the service
    answers with 503; other errors pass as they are. The pool's own liveness check
    (pre-ping) is left to reconnect by itself."""
    if context.is_pre_ping:
        return
    if context.connection is None or context.is_disconnect:
        raise StoreUnavailableError(
            f"the store at {where} cannot be reached: {context.original_exception}"
        ) from context.original_exception


def _sqlite_pragmas(dbapi_connection, _record, cache_mib: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the API) run while an ingest writes; NORMAL sync is durable in WAL
    # mode against process crashes, which is what an acknowledged event needs.
    # The busy timeout first: switching to WAL itself waits for other connections.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")  # negative: KiB
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Deleted rows (a forgotten user's events) are overwritten with zeros, not left in
    # free pages until reused.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Frame rows as tuples of plain Python values (None for missing), for the driver."""
    if frame.empty:
        return []
    values = [_python_values(frame[column]) for column in columns]
    return list(zip(*values, strict=True))


def _python_values(series: pd.Series) -> list:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if series.name in _JSON_COLUMNS:
        return [orjson.dumps(v, default=str).decode() for v in series.tolist()]
    if isinstance(series.dtype, pd.ArrowDtype | pd.StringDtype | pd.Int64Dtype):
        return pa.Array.from_pandas(series).to_pylist()
    if series.dtype.kind == "f":
        arr = series.to_numpy()
        return np.where(np.isnan(arr), None, arr).tolist()
    if series.dtype.kind in "iub":
        return series.tolist()
    return series.astype(object).where(series.notna(), None).tolist()


def _executemany(
    conn: Connection, stmt, rows: list[tuple], columns: list[str] | None = None
) -> int:
    """Run the INSERT ``stmt`` for each row; a row holds ``columns`` (default: every
    column of the table), in that order.

    Rows go as plain tuples through the driver's own executemany: SQLAlchemy's per-row
    parameter processing would cost more than SQLite's insert itself.
    """
    names = columns or [c.name for c in stmt.table.columns]
    compiled = stmt.compile(dialect=conn.dialect, column_keys=names)
    sql = str(compiled)
    params: list = rows
    if compiled.positiontup is None:  # named placeholders (psycopg)
        params = [dict(zip(names, row, strict=True)) for row in rows]
    elif list(compiled.positiontup) != names:
        raise StoreError(f"internal: {stmt.table.name} placeholders out of column order")
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(sql, params)
        count = cursor.rowcount
    finally:
        cursor.close()
    if count is None or count < 0:
        raise StoreError("the database driver does not report how many rows were written")
    return min(int(count), len(rows))


def _transient(error: Exception) -> bool:
    """A PostgreSQL error that says "try the transaction again" (deadlock, serialization
    failure), wrapped by SQLAlchemy or raised by the driver's own cursor."""
    return getattr(getattr(error, "orig", None) or error, "sqlstate", None) in ("40P01", "40001")


def _insert_new(conn: Connection, table, rows: list[tuple], columns: list[str] | None) -> int:
    """Insert the ``rows`` (each holding ``columns``, default every column) that do not
    conflict with stored ones; returns how many went in.

    On PostgreSQL the rows go as one array per column into a single ``INSERT … SELECT
    FROM unnest(…)``: one statement planned and executed instead of one per row, which
    took 2–3× the client's and the server's CPU (a conflict inside the batch is skipped
    as between batches: DO NOTHING sees the rows the statement inserted)."""
    names = columns or [c.name for c in table.columns]
    if conn.dialect.name != "postgresql":
        stmt = _INSERTS[conn.dialect.name](table).on_conflict_do_nothing()
        return _executemany(conn, stmt, rows, names)
    quote = conn.dialect.identifier_preparer.quote
    arrays = [f"%s::{table.c[n].type.compile(dialect=conn.dialect)}[]" for n in names]
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"SELECT * FROM unnest({', '.join(arrays)}) ON CONFLICT DO NOTHING"
    )
    arrays = tuple(list(column) for column in zip(*rows, strict=True))
    return int(conn.exec_driver_sql(sql, arrays).rowcount)


def _typed_events(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for column in ("user_id", "item_id", "event_type", "query"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object)
    if "value" in frame.columns:
        frame["value"] = pd.to_numeric(frame["value"]).astype("float64")
    if "timestamp" in frame.columns:
        frame["timestamp"] = frame["timestamp"].astype("Int64")
    return frame


def _content_hash(values: tuple) -> str:
    return hashlib.blake2b(orjson.dumps(values, default=str), digest_size=16).hexdigest()


def _stable_key(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "replace"), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)

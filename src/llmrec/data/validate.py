"""Turn a chunk of raw rows into typed, canonical records, or say why a row is rejected.

Every check is vectorised over the chunk; Python runs per row only to format the reason
of a rejected row and to build the free-form ``attributes`` of items and users. A row
gets the first reason that applies, and good rows are never dropped because of bad ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from llmrec.config import IngestSettings
from llmrec.data.hashing import combine, fnv1a_64
from llmrec.data.readers import Chunk, Rejection
from llmrec.data.records import (
    COLUMNS,
    DEFAULT_EVENT_TYPE,
    REQUIRED_COLUMNS,
    STATE_EVENT_TYPES,
    RecordKind,
)
from llmrec.errors import InputFileError

_EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_\-]{0,31}$"
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
# Epoch numbers above this are taken as milliseconds (in seconds it would be year 5138).
_MILLISECONDS_ABOVE = 1e11
_FIRST_SECOND = -62_135_596_800  # 0001-01-01T00:00:00Z
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z
_CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"
_SURROGATES = re.compile("[\ud800-\udfff]")
_MISSING_VALUE_SENTINEL = -np.inf  # rejected as a value, so free to stand for "no value"
_MISSING_TIME_SENTINEL = np.iinfo(np.int64).min
TEXT = pd.StringDtype("pyarrow")


@dataclass(slots=True)
class Validated:
    """The good rows of a chunk as typed canonical columns, and the rejected ones."""

    frame: pd.DataFrame
    lines: np.ndarray
    rejections: list[Rejection]
    duplicates: int


class _Reasons:
    """The first reason each row of a chunk is rejected for (None for a good row)."""

    def __init__(self, n_rows: int) -> None:
        self.bad = np.zeros(n_rows, dtype=bool)
        self.text = np.full(n_rows, None, dtype=object)

    def flag(self, mask: np.ndarray | pd.Series, message: str, values: pd.Series | None = None):
        new = np.asarray(mask, dtype=bool) & ~self.bad
        if not new.any():
            return
        rows = np.flatnonzero(new)
        if values is None:
            self.text[rows] = message
        else:
            shown = np.asarray(values, dtype=object)[rows]
            self.text[rows] = [message.format(value=_shorten(v)) for v in shown]
        self.bad |= new

    def flag_each(self, mask: np.ndarray, messages: Sequence[str | None]) -> None:
        """Flag rows, each with its own message."""
        new = mask & ~self.bad
        for row in np.flatnonzero(new):
            self.text[row] = messages[row]
        self.bad |= new


def _shorten(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...' ({len(str(value))} characters)"


class Validator:
    """Validates chunks of one record kind against the ingest limits.

    ``known_item_ids``, when given, rejects events about items not in the catalogue.
    ``default_event_type`` fills events that have no type.
    """

    def __init__(
        self,
        kind: RecordKind,
        limits: IngestSettings,
        known_item_ids: set[str] | None = None,
        default_event_type: str = DEFAULT_EVENT_TYPE,
    ) -> None:
        self.kind = kind
        self.limits = limits
        self.known_item_ids = known_item_ids
        self.default_event_type = default_event_type
        self._repeats = _RepeatNumbers()

    def check_columns(self, columns: list[str], source: str) -> None:
        """Raise :class:`InputFileError` when the table lacks a required column."""
        missing = [c for c in REQUIRED_COLUMNS[self.kind] if c not in columns]
        if self.kind is RecordKind.EVENTS and "item_id" not in columns and "query" not in columns:
            missing.append("item_id (or query)")
        if missing:
            raise InputFileError(
                source,
                f"missing required column(s) for {self.kind}: {', '.join(missing)}; found: "
                f"{', '.join(map(str, columns)) or 'none'} (map columns with --map NAME=COLUMN)",
            )

    def validate(self, chunk: Chunk, batches: np.ndarray | None = None) -> Validated:
        """``batches`` says which request each row came from when several are validated
        together: repeated events are then numbered within their own request only (a
        copy in another request is a retry, not a repeat)."""
        frame = chunk.frame.reset_index(drop=True)
        reasons = _Reasons(len(frame))
        if chunk.delimiter is None:  # the CSV reader has already rejected undecodable rows
            frame = _valid_unicode(frame, reasons)
        if self.kind is RecordKind.EVENTS:
            out = self._events(frame, reasons)
            key = "event_key"
        elif self.kind is RecordKind.ITEMS:
            out = self._items(frame, reasons)
            key = "item_id"
        elif self.kind is RecordKind.USERS:
            out = self._users(frame, reasons)
            key = "user_id"
        else:
            out = self._links(frame, reasons)
            key = ["user_id", "friend_id"]
        rejected = np.flatnonzero(reasons.bad)
        limit = self.limits.max_raw_quarantine_chars
        rejections = [r if len(r.raw) <= limit else replace(r, raw=r.raw[:limit])
                      for r in chunk.rejections]  # fmt: skip
        if rejected.size:
            raws = chunk.raw_rows(rejected)
            rejections += [
                Rejection(int(line), str(reason), raw[:limit])
                for line, reason, raw in zip(
                    chunk.lines[rejected], reasons.text[rejected], raws, strict=True
                )
            ]
        good = ~reasons.bad
        out = out[good].reset_index(drop=True)
        lines = chunk.lines[good]
        if self.kind is RecordKind.EVENTS:
            out["event_key"] = self._repeats.number(out, None if batches is None else batches[good])
        # Later rows win: an updated item later in the file replaces the earlier one.
        dup = out.duplicated(key, keep="last").to_numpy()
        if dup.any():
            out = out[~dup].reset_index(drop=True)
            lines = lines[~dup]
        return Validated(out, lines, rejections, int(dup.sum()))

    # -- per kind ------------------------------------------------------------------

    def _id(self, frame: pd.DataFrame, column: str, reasons: _Reasons, required: bool = True):
        """An id exactly as given: one that padding or control characters would make
        ambiguous is rejected, never rewritten (two ids must not merge into one)."""
        raw = frame[column] if column in frame.columns else _missing_column(len(frame))
        text = _as_text(raw, strip=False)
        wrong_type = _non_scalar(raw)
        reasons.flag(wrong_type, f"{column} must be a string or number, got {{value}}", raw)
        if required:
            reasons.flag(text == "", f"missing {column}")
        reasons.flag(
            text.str.strip() != text,
            f"{column} {{value}} has leading or trailing whitespace (ids are kept exactly)",
            text,
        )
        reasons.flag(
            text.str.contains(_CONTROL_CHARACTERS, regex=True),
            f"{column} {{value}} contains a control character",
            text,
        )
        too_long = text.str.len() > self.limits.max_id_length
        reasons.flag(
            too_long,
            f"{column} longer than {self.limits.max_id_length} characters: {{value}}",
            text,
        )
        return text

    def _text(self, frame: pd.DataFrame, column: str, reasons: _Reasons) -> pd.Series:
        raw = frame[column] if column in frame.columns else _missing_column(len(frame))
        reasons.flag(_non_scalar(raw), f"{column} must be text, got {{value}}", raw)
        text = _as_text(raw)
        lengths = text.str.len()
        limit = self.limits.max_text_length
        reasons.flag(lengths > limit, f"{column} longer than {limit} characters: {{value}}", text)
        reasons.flag(text.str.contains("\x00", regex=False), f"NUL byte in {column}")
        return text

    def _events(self, frame: pd.DataFrame, reasons: _Reasons) -> pd.DataFrame:
        user_id = self._id(frame, "user_id", reasons)
        item_id = self._id(frame, "item_id", reasons, required=False)
        query = self._text(frame, "query", reasons)
        event_type = _as_text(frame.get("event_type", _missing_column(len(frame)))).str.lower()
        event_type = event_type.mask(event_type == "", self.default_event_type)
        reasons.flag(
            ~event_type.str.match(_EVENT_TYPE_PATTERN),
            "invalid event_type {value} (lower-case letters, digits, _ or -)",
            event_type,
        )
        is_search = (event_type == "search").to_numpy()
        reasons.flag(is_search & (query == "").to_numpy(), "search event without a query")
        reasons.flag(~is_search & (item_id == "").to_numpy(), "missing item_id")
        value_raw = _as_text(frame.get("value", _missing_column(len(frame))))
        value = _to_float(value_raw)
        reasons.flag(
            (value_raw != "").to_numpy(dtype=bool) & ~np.isfinite(value.to_numpy()),
            "non-numeric value {value}",
            value_raw,
        )
        value = value.where(np.isfinite(value))
        reasons.flag((event_type == "rating") & value.isna(), "rating event without a value")
        seconds = self._timestamps(frame, "timestamp", reasons)
        if self.known_item_ids is not None:
            unknown = (item_id != "") & ~item_id.isin(self.known_item_ids)
            reasons.flag(unknown, "unknown item_id {value} (not in the catalogue)", item_id)
        out = pd.DataFrame(
            {
                "user_id": user_id,
                "item_id": item_id.mask(item_id == ""),
                "event_type": event_type,
                "value": value,
                "query": query.mask(query == ""),
                "timestamp": seconds,
            }
        )
        out.insert(0, "event_key", event_keys(out))
        return out

    def _items(self, frame: pd.DataFrame, reasons: _Reasons) -> pd.DataFrame:
        item_id = self._id(frame, "item_id", reasons)
        title = self._text(frame, "title", reasons)
        reasons.flag(title == "", "missing title")
        description = self._text(frame, "description", reasons)
        tags = self._tags(frame, reasons)
        created_at = self._timestamps(frame, "created_at", reasons)
        available = self._booleans(frame, "available", reasons, default=True)
        attributes = self._attributes(frame, RecordKind.ITEMS, reasons)
        return pd.DataFrame(
            {
                "item_id": item_id,
                "title": title,
                "description": description,
                "tags": tags,
                "attributes": attributes,
                "created_at": created_at,
                "available": available,
            }
        )

    def _users(self, frame: pd.DataFrame, reasons: _Reasons) -> pd.DataFrame:
        user_id = self._id(frame, "user_id", reasons)
        attributes = self._attributes(frame, RecordKind.USERS, reasons)
        return pd.DataFrame({"user_id": user_id, "attributes": attributes})

    def _links(self, frame: pd.DataFrame, reasons: _Reasons) -> pd.DataFrame:
        user_id = self._id(frame, "user_id", reasons)
        friend_id = self._id(frame, "friend_id", reasons)
        reasons.flag(user_id == friend_id, "a user linked to itself: {value}", user_id)
        return pd.DataFrame({"user_id": user_id, "friend_id": friend_id})

    # -- typed fields ----------------------------------------------------------------

    def _timestamps(self, frame: pd.DataFrame, column: str, reasons: _Reasons) -> pd.Series:
        """Epoch seconds (UTC) as nullable Int64; unparseable values are flagged.

        Numbers are seconds, or milliseconds with ``timestamp_unit = "ms"``; with "auto"
        a number above 1e11 (the year 5138 in seconds) is milliseconds. Times outside the
        years 1-9999 are rejected, not clipped.
        """
        raw = frame[column] if column in frame.columns else _missing_column(len(frame))
        if ptypes.is_datetime64_any_dtype(raw):
            stamps = pd.to_datetime(raw, utc=True)
            return _epoch_seconds(stamps)
        text = _as_text(raw)
        present = text != ""
        numbers = _to_float(text)
        unit = self.limits.timestamp_unit
        in_ms = numbers.abs() > _MILLISECONDS_ABOVE if unit == "auto" else unit == "ms"
        numbers = numbers.mask(in_ms, numbers / 1000.0)
        number_given = numbers.notna()
        out_of_range = number_given & ~numbers.between(_FIRST_SECOND, _LAST_SECOND)
        reasons.flag(out_of_range, f"{column} {{value}} out of range (years 1-9999)", text)
        seconds = np.floor(numbers.mask(out_of_range))
        pending = present & ~number_given
        if pending.any():
            parsed = pd.to_datetime(text[pending], utc=True, format="ISO8601", errors="coerce")
            retry = parsed.isna()
            if retry.any():
                parsed[retry] = pd.to_datetime(
                    text[pending][retry], utc=True, format="mixed", errors="coerce"
                )
            seconds[pending] = _epoch_seconds(parsed).astype("float64")
        reasons.flag(present & seconds.isna(), f"unparseable {column} {{value}}", text)
        return seconds.astype("Int64")

    def _booleans(
        self, frame: pd.DataFrame, column: str, reasons: _Reasons, default: bool
    ) -> pd.Series:
        if column not in frame.columns:
            return pd.Series(default, index=frame.index, dtype=bool)
        raw = frame[column]
        if ptypes.is_bool_dtype(raw):
            return raw.astype(bool)
        text = _as_text(raw).str.lower()
        known = text.isin(_TRUE | _FALSE) | (text == "")
        reasons.flag(~known, f"{column} is not true/false: {{value}}", text)
        return text.isin(_TRUE) | ((text == "") & default)

    def _tags(self, frame: pd.DataFrame, reasons: _Reasons) -> list[list[str]]:
        if "tags" not in frame.columns:
            return [[] for _ in range(len(frame))]
        tags: list[list[str]] = []
        limit = self.limits.max_text_length
        bad = np.zeros(len(frame), dtype=bool)
        for row, value in enumerate(frame["tags"].tolist()):
            parsed = _parse_tags(value)
            if parsed is None or sum(map(len, parsed)) > limit:
                bad[row] = True
                parsed = []
            tags.append(parsed)
        reasons.flag(
            bad, "tags must be a list of strings or a '|'-separated string: {value}", frame["tags"]
        )
        return tags

    def _attributes(
        self, frame: pd.DataFrame, kind: RecordKind, reasons: _Reasons
    ) -> list[dict[str, object]]:
        """The ``attributes`` column (object or JSON text) merged with unmapped columns."""
        extra = [c for c in frame.columns if c not in COLUMNS[kind]]
        base: list[dict[str, object]] = [{} for _ in range(len(frame))]
        if "attributes" in frame.columns:
            bad = np.zeros(len(frame), dtype=bool)
            for row, value in enumerate(frame["attributes"].tolist()):
                parsed = _parse_object(value)
                if parsed is None:
                    bad[row] = True
                else:
                    base[row] = parsed
            reasons.flag(bad, "attributes must be a JSON object: {value}", frame["attributes"])
        for column in extra:
            values = _typed_extra_column(frame[column])
            for row, value in enumerate(values):
                if value is not None:
                    base[row][str(column)] = value
        problems = [_attributes_problem(a, self.limits.max_text_length) for a in base]
        bad = np.fromiter((p is not None for p in problems), dtype=bool, count=len(base))
        reasons.flag_each(bad, problems)
        return base


def _attributes_problem(attributes: dict[str, object], limit: int) -> str | None:
    """Why ``attributes`` cannot be stored as JSON (too deep, not text, too long, a NUL)."""
    try:
        encoded = orjson.dumps(attributes, default=str)
    except (orjson.JSONEncodeError, TypeError) as exc:
        return f"attributes cannot be stored as JSON: {exc}"
    if len(encoded) > limit:
        return f"attributes longer than {limit} characters"
    if b"\\u0000" in encoded:
        return "NUL byte in attributes"
    return None


def _valid_unicode(frame: pd.DataFrame, reasons: _Reasons) -> pd.DataFrame:
    """Bytes decoded as UTF-8, and rows whose text is not valid Unicode (undecodable
    bytes, lone surrogates) flagged, their value blanked so later checks can run."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object:
            continue
        kinds = ptypes.infer_dtype(values, skipna=True)
        if kinds not in ("string", "bytes", "mixed"):
            continue
        cells = values.tolist()
        if kinds == "string" and _encodes(cells):
            continue
        bad = np.zeros(len(cells), dtype=bool)
        for row, cell in enumerate(cells):
            if isinstance(cell, bytes | bytearray):
                cell = bytes(cell).decode("utf-8", errors="surrogateescape")
                cells[row] = cell
            if isinstance(cell, str) and _SURROGATES.search(cell):
                bad[row] = True
                cells[row] = ""
        if bad.any():
            reasons.flag(bad, f"{column} is not valid UTF-8 text")
        frame = frame.assign(**{str(column): pd.Series(cells, index=frame.index, dtype=object)})
    return frame


def _encodes(cells: list[object]) -> bool:
    """Whether every string among ``cells`` encodes as UTF-8 (one C-speed pass)."""
    try:
        try:
            joined = "".join(cells)  # type: ignore[arg-type]
        except TypeError:  # missing values among the strings
            joined = "".join(c for c in cells if isinstance(c, str))
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _RepeatNumbers:
    """Tells repeated identical events apart: the n-th copy of an event (the same play
    twice in one second) gets a key of its own, derived from the first's and n.

    Numbering follows the order of the input, so reading the same file again gives the
    same keys and stores nothing twice. Counts carry over from the previous chunk only:
    memory stays bounded, and in a time-ordered file the repeats of one second are
    adjacent. Events that state something (``STATE_EVENT_TYPES``) are not numbered: their
    copies are one statement.
    """

    def __init__(self) -> None:
        # The previous chunk's keys (sorted, unique) and how many of each it had seen.
        self._keys = np.zeros(0, np.int64)
        self._seen = np.zeros(0, np.int64)

    def number(self, events: pd.DataFrame, batches: np.ndarray | None = None) -> np.ndarray:
        keys = events["event_key"].to_numpy(dtype=np.int64)
        counted = ~events["event_type"].isin(STATE_EVENT_TYPES).to_numpy(dtype=bool)
        counted_keys = keys[counted]
        group = counted_keys if batches is None else _pair_keys(counted_keys, batches[counted])
        order = np.argsort(group, kind="stable")
        ordered = group[order]
        starts = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.zeros(0, bool)
        run_start = np.maximum.accumulate(np.where(starts, np.arange(len(ordered)), 0))
        seen = np.empty(len(ordered), np.int64)
        seen[order] = np.arange(len(ordered)) - run_start  # the copy's number in its run
        unique, counts = np.unique(counted_keys, return_counts=True)
        carried = np.zeros(len(unique), np.int64)
        if len(self._keys) and batches is None:
            carried = _carried_counts(self._keys, self._seen, unique)
            seen += carried[np.searchsorted(unique, counted_keys)]
        self._keys, self._seen = unique, counts + carried
        out = keys.copy()
        repeat = np.flatnonzero(counted)[seen > 0]
        if repeat.size:
            parts = [keys[repeat].view(np.uint64), seen[seen > 0].astype(np.uint64)]
            out[repeat] = combine(parts).view(np.int64)
        return out


def _carried_counts(known: np.ndarray, counts: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each of ``keys``, how many copies ``known`` (sorted) had counted (0: none)."""
    at = np.minimum(np.searchsorted(known, keys), len(known) - 1)
    return np.where(known[at] == keys, counts[at], 0)


def _pair_keys(keys: np.ndarray, batches: np.ndarray) -> np.ndarray:
    """One int64 per (key, batch): copies are numbered within their own request."""
    return combine([keys.view(np.uint64), batches.astype(np.uint64)]).view(np.int64)


def event_keys(events: pd.DataFrame) -> np.ndarray:
    """A 64-bit key per event from all its fields: equal events get equal keys.

    The key is what makes ingestion idempotent: the store ignores a key it already has.
    It is defined by llmrec itself (FNV-1a + splitmix64 over the fields' bytes), so it
    does not change with library versions.
    """
    values = events["value"].to_numpy(dtype="float64", na_value=np.nan)
    values = np.where(np.isnan(values), _MISSING_VALUE_SENTINEL, values)
    times = events["timestamp"].to_numpy(dtype="int64", na_value=_MISSING_TIME_SENTINEL)
    parts = [
        fnv1a_64(events["user_id"]),
        fnv1a_64(events["item_id"]),
        fnv1a_64(events["event_type"]),
        fnv1a_64(events["query"]),
        values.view(np.uint64),
        times.view(np.uint64),
    ]
    return combine(parts).view(np.int64)


# -- conversions ----------------------------------------------------------------------


def _missing_column(n_rows: int) -> pd.Series:
    return pd.Series([""] * n_rows, dtype=TEXT)


def _as_text(values: pd.Series, strip: bool = True) -> pd.Series:
    """Values as Arrow strings ("" for missing), stripped unless ``strip`` is False;
    integral floats lose their ".0".

    Arrow-backed strings keep the checks vectorised in C++ rather than per Python object.
    """
    if ptypes.is_integer_dtype(values) and not values.isna().any():
        return values.astype(str).astype(TEXT)
    if ptypes.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = values.astype(TEXT).fillna("")
        return text.str.strip() if strip else text
    text = values.map(_scalar_text if strip else _exact_scalar_text).astype(TEXT)
    return text


def _to_float(text: pd.Series) -> pd.Series:
    """Parse non-empty strings as numbers (NaN where empty or not a number)."""
    present = (text != "").to_numpy(dtype=bool)
    out = np.full(len(text), np.nan)
    if not present.any():
        return pd.Series(out, index=text.index)
    arrow = pa.Array.from_pandas(text[present])
    try:
        out[present] = pc.cast(arrow, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Some value is not a number: the slower parse marks it NaN for the caller to flag.
        out[present] = pd.to_numeric(text[present].astype(object), errors="coerce")
    return pd.Series(out, index=text.index)


def _exact_scalar_text(value: object) -> str:
    return value if isinstance(value, str) else _scalar_text(value)


def _scalar_text(value: object) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, dict, tuple)):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    return str(value).strip()


def _non_scalar(values: pd.Series) -> np.ndarray:
    if values.dtype != object or ptypes.infer_dtype(values, skipna=True) == "string":
        return np.zeros(len(values), dtype=bool)
    return values.map(lambda v: isinstance(v, (list, dict, tuple))).to_numpy(dtype=bool)


def _epoch_seconds(stamps: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=stamps.index, dtype="Int64")
    ok = stamps.notna()
    out[ok] = stamps[ok].dt.as_unit("s").astype("int64")
    return out


def _parse_tags(value: object) -> list[str] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
        else:
            value = text.split("|")
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        return None
    seen: dict[str, None] = {}
    for tag in value:
        tag = tag.strip()
        if "\x00" in tag:
            return None
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def _parse_object(value: object) -> dict | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _typed_extra_column(values: pd.Series) -> list[object]:
    """An unmapped column as attribute values: numbers where the whole column is numeric."""
    text = _as_text(values) if values.dtype == object else None
    if text is not None:
        present = text != ""
        numbers = pd.to_numeric(text.mask(~present), errors="coerce")
        if present.any() and numbers[present].notna().all():
            out = numbers.astype(object).where(present, None).tolist()
            return [int(v) if isinstance(v, float) and v.is_integer() else v for v in out]
        return [t if p else None for t, p in zip(text.tolist(), present.tolist(), strict=True)]
    cleaned = values.astype(object).where(values.notna(), None).tolist()
    return [_json_safe(v) for v in cleaned]


def _json_safe(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def validate_frame(
    frame: pd.DataFrame, kind: RecordKind, what: str, settings: IngestSettings | None = None
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Validate a whole in-memory frame (rows numbered from 1): the good rows as canonical
    columns, and each rejected row's number and reason."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    validator = Validator(kind, settings or IngestSettings())
    validator.check_columns([str(c) for c in frame.columns], what)
    result = validator.validate(Chunk(frame, np.arange(1, len(frame) + 1)))
    return result.frame, result.rejections


def validate_frames(
    frames: Sequence[pd.DataFrame],
    kind: RecordKind,
    what: str,
    settings: IngestSettings | None = None,
) -> list[tuple[pd.DataFrame, list[Rejection]]]:
    """:func:`validate_frame` for several frames at the cost of one — the checks are
    vectorised, so a small frame costs mostly their fixed overhead. Each frame gets its
    own good rows and rejections (rows numbered from 1 within it); a row repeated in a
    later frame is kept there only."""
    for frame in frames:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    validator = Validator(kind, settings or IngestSettings())
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    validator.check_columns([str(c) for c in combined.columns], what)
    starts = np.cumsum([0, *(len(f) for f in frames)])
    batches = np.repeat(np.arange(len(frames)), np.diff(starts))
    result = validator.validate(Chunk(combined, np.arange(1, len(combined) + 1)), batches)
    owner = np.searchsorted(starts, result.lines - 1, side="right") - 1
    rejected_owner = np.searchsorted(starts, [r.line - 1 for r in result.rejections], "right") - 1
    return [
        (
            result.frame[owner == i].reset_index(drop=True),
            [
                replace(r, line=r.line - int(starts[i]))
                for r, o in zip(result.rejections, rejected_owner, strict=True)
                if o == i
            ],
        )
        for i in range(len(frames))
    ]

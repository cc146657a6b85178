"""Stream tabular files (CSV/TSV, JSON Lines, Parquet) in bounded chunks.

A reader yields :class:`Chunk` objects: a frame of the rows that parsed, the line
(or row) number of each, and the rows rejected while parsing (wrong field count,
bad encoding, NUL bytes, broken JSON). Memory is bounded by ``chunk_rows`` whatever
the file size. Whether a file can be read at all is decided on its first lines, and a
file that cannot be read raises :class:`InputFileError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import sys
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import orjson

from llmrec.data.formats import FORMATS, FileFormat, format_from_name
from llmrec.errors import InputFileError

# numpy and pandas are imported where they are used: the store imports this module (for
# Rejection), and `llmrec stats` must not wait for them.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FORMATS", "Chunk", "FileFormat", "Rejection", "TableSpec", "read_table"]

_LIKELY_DELIMITERS = (",", "\t", ";", "|")
T = TypeVar("T")
DEFAULT_MAX_ROW_LINES = 1_000
DEFAULT_MAX_FIELD_CHARS = 65_536
# A header wider than this is not a table of records (and would cost minutes to parse).
MAX_COLUMNS = 4_096
# How many leading non-blank lines of a JSON Lines file may fail before the whole file
# is judged not to be JSON Lines (rather than quarantining every line).
_JSONL_PROBE_LINES = 5

# Fields are length-checked by validation, with a clear reason; the csv module's own
# limit (128 KiB) would instead abort the whole file.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was not stored, and why. ``line`` is 1-based (a row number for Parquet)."""

    line: int
    reason: str
    raw: str


@dataclass(slots=True)
class Chunk:
    """Rows read from one stretch of a file, with the line number of each row."""

    frame: pd.DataFrame
    lines: np.ndarray
    rejections: list[Rejection] = field(default_factory=list)
    delimiter: str | None = None
    bytes_done: int = 0  # how far into the file (compressed bytes for .gz), for progress
    source_lines: list[str] | None = None  # JSON Lines: each row's line as read

    def raw_rows(self, positions: np.ndarray) -> list[str]:
        """The source text of the rows at ``positions`` (re-joined fields for CSV)."""
        if self.source_lines is not None:
            return [self.source_lines[p] for p in positions]
        rows = self.frame.iloc[positions]
        if self.delimiter is not None:
            return [self.delimiter.join(map(_raw_text, row)) for row in rows.itertuples(False)]
        return [_record_text(rec) for rec in rows.to_dict("records")]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How to read one file: its format, dialect, and the mapping to canonical columns.

    ``mapping`` maps canonical column -> source column. ``names`` gives column names to a
    headerless file. ``constants`` fills canonical columns that the file lacks.
    """

    path: Path
    format: FileFormat | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    names: tuple[str, ...] | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)

    @property
    def resolved_format(self) -> FileFormat:
        if self.format is not None:
            return self.format
        fmt = format_from_name(self.path)
        if fmt is None:
            raise InputFileError(
                self.path,
                f"cannot tell the format from the name; give one of {', '.join(FORMATS)}",
            )
        return fmt

    @property
    def resolved_delimiter(self) -> str:
        if self.delimiter is not None:
            return self.delimiter
        return "\t" if self.resolved_format == "tsv" else ","


def read_table(
    spec: TableSpec,
    chunk_rows: int,
    *,
    max_row_lines: int = DEFAULT_MAX_ROW_LINES,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
) -> Iterator[Chunk]:
    """Yield the file's rows in chunks of at most ``chunk_rows``, columns canonicalised.

    A CSV row may span at most ``max_row_lines`` physical lines (quoted newlines) and
    ``max_field_chars`` characters per field; past either bound it is rejected at its
    first line and reading goes on from the next.
    """
    path = spec.path
    if not path.exists():
        raise InputFileError(path, "no such file")
    if not path.is_file():
        raise InputFileError(path, "not a regular file")
    fmt = spec.resolved_format
    if fmt in ("csv", "tsv"):
        chunks = _read_delimited(spec, chunk_rows, max_row_lines, max_field_chars)
    elif fmt == "jsonl":
        chunks = _read_jsonl(spec, chunk_rows)
    else:
        chunks = _read_parquet(spec, chunk_rows)
    for chunk in chunks:
        chunk.frame = _canonicalise(chunk.frame, spec)
        yield chunk


def _canonicalise(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    if spec.mapping:
        missing = [src for src in spec.mapping.values() if src not in frame.columns]
        if missing:
            raise InputFileError(
                spec.path,
                f"column(s) {', '.join(map(repr, missing))} named in the mapping are not in "
                f"the file; found: {', '.join(map(str, frame.columns))}",
            )
        # A canonical name already used by an unmapped source column must not collide.
        clashing = [
            c for c in spec.mapping if c in frame.columns and c not in spec.mapping.values()
        ]
        frame = frame.drop(columns=clashing).rename(columns={v: k for k, v in spec.mapping.items()})
    for column, value in spec.constants.items():
        if column not in frame.columns:
            frame[column] = value
    return frame


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def _read_delimited(
    spec: TableSpec, chunk_rows: int, max_row_lines: int, max_field_chars: int
) -> Iterator[Chunk]:
    delimiter = spec.resolved_delimiter
    try:
        fh = _open_binary(spec.path)
        first = fh.read(4096)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputFileError(spec.path, f"cannot read: {exc}") from None
    if not first.strip():
        raise InputFileError(spec.path, "the file is empty")
    fh.seek(0)
    # Undecodable bytes become lone surrogates (one bad line must not stop the file);
    # each chunk is then checked for them, and for NULs, at C speed.
    text = io.TextIOWrapper(fh, encoding=spec.encoding, errors="surrogateescape", newline="")
    with text:
        source = _RowLines(_read_lines(text, spec.path, fh), max_row_lines)
        names = _delimited_header(spec, source, delimiter)
        n_fields = len(names)
        # No valid row is longer than this: validation caps every field's length.
        source.max_chars = n_fields * (max_field_chars + 1)
        rows: list[list[str]] = []
        starts: list[int] = []
        rejections: list[Rejection] = []
        for start, row, problem in _delimited_rows(source, delimiter, n_fields):
            if problem is None:
                rows.append(row)
                starts.append(start)
            else:
                rejections.append(Rejection(start, problem, _printable(delimiter.join(row))))
            if len(rows) >= chunk_rows:
                yield _delimited_chunk(rows, starts, names, rejections, spec, fh)
                rows, starts, rejections = [], [], []
        if rows or rejections:
            yield _delimited_chunk(rows, starts, names, rejections, spec, fh)


class _RowOverrun(Exception):
    """The row being parsed has grown past the bound on its lines or characters."""


class _RowLines:
    """The file's physical lines for :mod:`csv`, tracked row by row.

    A stray quote makes the csv module read on to the next quote, which may be millions
    of lines away. This source bounds how many lines and characters one row may take,
    and can hand a failed row's lines back, so that parsing re-synchronises at the line
    after the row's first: one bad line costs one row, never the rest of the file.
    """

    def __init__(self, lines: Iterator[str], max_lines: int) -> None:
        self._lines = lines
        self._returned: deque[str] = deque()
        self.max_lines = max_lines
        self.max_chars = sys.maxsize
        self.row: list[str] = []
        self._row_chars = 0
        self.lines_before_row = 0

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        line = self._returned.popleft() if self._returned else next(self._lines)
        self.row.append(line)
        self._row_chars += len(line)
        if len(self.row) > self.max_lines or self._row_chars > self.max_chars:
            raise _RowOverrun
        return line

    def finish_row(self) -> int:
        """End the current row; returns its first line's number (1-based)."""
        start = self.lines_before_row + 1
        self.lines_before_row += len(self.row)
        self.row.clear()
        self._row_chars = 0
        return start

    def give_up_row(self) -> tuple[int, str]:
        """Drop only the current row's first line (returned with its number); the lines
        after it are read again."""
        first, rest = self.row[0], self.row[1:]
        self._returned.extendleft(reversed(rest))
        self.row = [first]
        return self.finish_row(), first.rstrip("\r\n")


def _delimited_rows(
    source: _RowLines, delimiter: str, n_fields: int
) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line, fields, why rejected or None) for every row after the header."""
    while True:
        reader = csv.reader(source, delimiter=delimiter)
        try:
            for row in reader:
                if len(row) == n_fields:
                    yield source.finish_row(), row, None
                elif not row:  # a blank line parses as []
                    source.finish_row()
                elif len(source.row) > 1:
                    # A row over several lines that does not parse is a stray quote:
                    # reject its first line only and read the others again.
                    spanned = len(source.row)
                    start, line = source.give_up_row()
                    yield start, [line], _UNBALANCED_QUOTE.format(lines=spanned)
                    break
                else:
                    found = f"expected {n_fields} fields, found {len(row)}"
                    yield source.finish_row(), row, f"{found} (truncated or malformed row)"
            else:
                return
        except _RowOverrun:
            spanned = len(source.row)
            start, line = source.give_up_row()
            if spanned == 1:
                problem = f"row longer than {source.max_chars:,} characters ({len(line):,})"
            else:
                problem = _UNBALANCED_QUOTE.format(lines=spanned)
            yield start, [line], problem
        except csv.Error as exc:
            start, line = source.give_up_row()
            yield start, [line], f"unparseable row: {exc}"


_UNBALANCED_QUOTE = (
    "unbalanced quote: a quoted field ran over {lines} lines; only this line is rejected, "
    "the next ones are read again"
)


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _bad_text_problem(row: list[str], encoding: str) -> str | None:
    """Why a row's text is unusable (an undecodable byte or a NUL), or None."""
    for field_text in row:
        found = _UNDECODABLE.search(field_text)
        if found is not None:
            byte = ord(found.group()) - 0xDC00
            return (
                f"bad encoding: byte 0x{byte:02x} is not valid {encoding} "
                "(give the file's encoding, e.g. latin-1)"
            )
        if "\x00" in field_text:
            return "NUL byte in the row"
    return None


def _printable(raw: str) -> str:
    """Raw text safe to store: NULs shown as \\0, undecodable bytes as U+FFFD."""
    return _UNDECODABLE.sub("\ufffd", raw.replace("\x00", "\\0"))


def _delimited_header(spec: TableSpec, source: _RowLines, delimiter: str) -> list[str]:
    if not spec.header:
        if spec.names is None:
            raise InputFileError(spec.path, "a file without a header needs column names")
        return list(spec.names)
    try:
        header = next(csv.reader(source, delimiter=delimiter))
    except (StopIteration, csv.Error, _RowOverrun) as exc:
        problem = "an unbalanced quote" if isinstance(exc, _RowOverrun) else str(exc)
        raise InputFileError(spec.path, f"cannot read the header line: {problem}") from None
    source.finish_row()
    if len(header) > MAX_COLUMNS:
        raise InputFileError(
            spec.path, f"the header has {len(header):,} columns (at most {MAX_COLUMNS:,})"
        )
    header = [h.strip().lstrip("\ufeff") for h in header]
    if len(header) == 1:
        others = [d for d in _LIKELY_DELIMITERS if d != delimiter and d in header[0]]
        if others:
            raise InputFileError(
                spec.path,
                f"the header {header[0][:80]!r} has one column when split on {delimiter!r}: "
                f"wrong delimiter? it contains {others[0]!r}",
            )
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise InputFileError(spec.path, f"duplicate column name(s) in the header: {dupes}")
    return header


def _delimited_chunk(
    rows: list[list[str]],
    starts: list[int],
    names: list[str],
    rejections: list[Rejection],
    spec: TableSpec,
    fh: IO[bytes],
) -> Chunk:
    import numpy as np
    import pandas as pd

    delimiter = spec.resolved_delimiter
    text = "\x1f".join(map("\x1f".join, rows))
    if "\x00" in text or _UNDECODABLE.search(text):
        kept_rows, kept_starts = [], []
        for row, start in zip(rows, starts, strict=True):
            problem = _bad_text_problem(row, spec.encoding)
            if problem is None:
                kept_rows.append(row)
                kept_starts.append(start)
            else:
                rejections.append(Rejection(start, problem, _printable(delimiter.join(row))))
        rows, starts = kept_rows, kept_starts
    frame = pd.DataFrame(rows, columns=names, dtype=object) if rows else _empty_frame(names)
    lines = np.asarray(starts, dtype=np.int64)
    return Chunk(frame, lines, rejections, delimiter, _position(fh))


def _position(fh: IO[bytes]) -> int:
    raw = getattr(fh, "fileobj", None)  # a GzipFile: progress in compressed bytes
    return (raw or fh).tell()


def _empty_frame(names: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({name: pd.Series([], dtype=object) for name in names})


def _read_jsonl(spec: TableSpec, chunk_rows: int) -> Iterator[Chunk]:
    import numpy as np
    import pandas as pd

    try:
        fh = _open_binary(spec.path)
        empty = not fh.read(4096).strip()
        fh.seek(0)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(spec.path, f"cannot read: {exc}") from None
    if empty:
        raise InputFileError(spec.path, "the file is empty")
    with fh:
        records: list[dict] = []
        row_lines: list[int] = []
        texts: list[str] = []
        rejections: list[Rejection] = []
        parsed_any = False
        probed = 0
        for line_no, raw in enumerate(_read_lines(fh, spec.path, fh), start=1):
            if not raw.strip():
                continue
            problem, record = _parse_json_line(raw, spec.encoding)
            if problem is None and record is not None:
                parsed_any = True
                records.append(record)
                row_lines.append(line_no)
                texts.append(raw.decode(spec.encoding, errors="replace").rstrip("\r\n"))
            else:
                probed += 1
                if not parsed_any and probed >= _JSONL_PROBE_LINES:
                    raise InputFileError(
                        spec.path,
                        f"not JSON Lines: the first lines are not JSON objects ({problem})",
                    )
                text = raw.decode(spec.encoding, errors="replace").rstrip("\r\n")
                rejections.append(Rejection(line_no, problem or "not a JSON object", text))
            if len(records) >= chunk_rows:
                frame = pd.DataFrame.from_records(records)
                yield Chunk(frame, np.asarray(row_lines), rejections, None, _position(fh), texts)
                records, row_lines, texts, rejections = [], [], [], []
        if not parsed_any and rejections:
            raise InputFileError(
                spec.path, f"not JSON Lines: no line is a JSON object ({rejections[0].reason})"
            )
        if records or rejections:
            frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
            lines = np.asarray(row_lines, dtype=np.int64)
            yield Chunk(frame, lines, rejections, None, _position(fh), texts)


def _read_lines(lines: Iterator[T], path: Path, fh: IO[bytes]) -> Iterator[T]:
    """``lines`` (of ``fh``, or of a text wrapper around it); a file that breaks off (a
    cut ``.gz``, a read error) ends in one :class:`InputFileError` naming the offset."""
    try:
        yield from lines
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputFileError(
            path, f"cannot read past byte {_position(fh):,}: {exc} (the rows before it are kept)"
        ) from None


def _parse_json_line(raw: bytes, encoding: str) -> tuple[str | None, dict | None]:
    if b"\x00" in raw:
        return "NUL byte in the row", None
    try:
        data = (
            raw if encoding.lower().replace("-", "") in ("utf8", "ascii") else raw.decode(encoding)
        )
        record = orjson.loads(data)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"invalid JSON: {exc}", None
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}", None
    try:
        duplicate = _duplicate_key(raw, record)
    except RecursionError:
        return "JSON nested too deeply", None
    if duplicate is not None:
        return f"duplicate key {duplicate!r} in the JSON object (which value is meant?)", None
    return None, record


def _keys(record: dict) -> Iterator[str]:
    """The keys of an object and of the objects inside it."""
    for key, value in record.items():
        yield key
        if isinstance(value, dict):
            yield from _keys(value)
        elif isinstance(value, list):
            for element in value:
                if isinstance(element, dict):
                    yield from _keys(element)


def _duplicate_key(raw: bytes, record: dict) -> str | None:
    """A key that the line's object holds twice (orjson keeps the last one silently)."""
    if not any(raw.count(orjson.dumps(key)) > 1 for key in _keys(record)):
        return None  # the usual case, decided by a cheap count of each key's text
    found: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            found.append(next(k for k in keys if keys.count(k) > 1))
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return found[0] if found else None


def _read_parquet(spec: TableSpec, chunk_rows: int) -> Iterator[Chunk]:
    """Row group by row group: a corrupt group is skipped (its rows are counted as lost
    in the error raised at the end), and every group that reads is kept."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(spec.path)
    except (pa.ArrowException, OSError) as exc:
        raise InputFileError(spec.path, f"not a readable Parquet file: {exc}") from None
    metadata = parquet.metadata
    total_rows = max(metadata.num_rows, 1)
    size = spec.path.stat().st_size
    unreadable: list[str] = []
    first_row = 1
    for group in range(metadata.num_row_groups):
        group_rows = metadata.row_group(group).num_rows
        try:
            table = parquet.read_row_group(group)
        except (pa.ArrowException, OSError) as exc:
            problem = " ".join(str(exc).split())
            unreadable.append(f"row group {group} (rows {first_row:,}-"
                              f"{first_row + group_rows - 1:,}): {problem}")  # fmt: skip
            first_row += group_rows
            continue
        for batch in table.to_batches(max_chunksize=chunk_rows):
            frame = batch.to_pandas()
            lines = np.arange(first_row, first_row + len(frame), dtype=np.int64)
            first_row += len(frame)
            yield Chunk(frame, lines, bytes_done=size * (first_row - 1) // total_rows)
    if unreadable:
        raise InputFileError(
            spec.path,
            f"{len(unreadable)} unreadable row group(s), the others are kept: "
            + "; ".join(unreadable[:3]),
        )


def _record_text(record: dict) -> str:
    """A rejected record as JSON, or as printable text where it is not JSON-able (nested
    past orjson's depth limit, invalid Unicode)."""
    try:
        return orjson.dumps(record, default=str).decode()
    except (orjson.JSONEncodeError, TypeError):
        return orjson.dumps({str(k): _field_json(v) for k, v in record.items()}).decode()


def _field_json(value: object) -> object:
    try:
        return orjson.Fragment(orjson.dumps(value, default=str))
    except (orjson.JSONEncodeError, TypeError) as exc:
        return f"<not storable as JSON: {exc}>"


def _raw_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)

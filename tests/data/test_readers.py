"""Reading files in chunks: formats, dialects, and rows that cannot be parsed."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from llmrec.data.readers import TableSpec, read_table
from llmrec.errors import InputFileError


def _read_all(spec: TableSpec, chunk_rows: int = 1000):
    chunks = list(read_table(spec, chunk_rows))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    lines = [int(n) for c in chunks for n in c.lines]
    rejections = [r for c in chunks for r in c.rejections]
    return frame, lines, rejections


def test_csv_rows_keep_their_line_numbers_and_bad_rows_are_rejected(tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,timestamp\n"
        "u1,i1,100\n"
        "u2,i2\n"  # truncated
        "\n"  # blank: skipped
        'u3,"multi\nline",300\n'  # a quoted newline: one row over two lines
        "u4,i4,400,extra\n"
        "u5,i5,500\n"
    )
    frame, lines, rejections = _read_all(TableSpec(path))
    assert frame["user_id"].tolist() == ["u1", "u3", "u5"]
    assert frame["item_id"].tolist()[1] == "multi\nline"
    assert lines == [2, 5, 8]
    assert [(r.line, r.reason.split(" (")[0]) for r in rejections] == [
        (3, "expected 3 fields, found 2"),
        (7, "expected 3 fields, found 4"),
    ]
    assert rejections[0].raw == "u2,i2"


def test_small_chunks_cover_every_row_once(tmp_path: Path):
    path = tmp_path / "e.tsv"
    path.write_text("user_id\titem_id\n" + "".join(f"u{i}\ti{i}\n" for i in range(25)))
    chunks = list(read_table(TableSpec(path), chunk_rows=10))
    assert [len(c.frame) for c in chunks] == [10, 10, 5]
    assert chunks[-1].lines.tolist() == list(range(22, 27))
    assert chunks[-1].bytes_done == path.stat().st_size


def test_latin1_bytes_in_a_utf8_file_reject_only_that_row(tmp_path: Path):
    path = tmp_path / "items.csv"
    path.write_bytes(
        "item_id,title\n1,Amélie\n".encode() + b"2,Caf\xe9 Society\n" + "3,东京物语\n".encode()
    )
    frame, _lines, rejections = _read_all(TableSpec(path))
    assert frame["title"].tolist() == ["Amélie", "东京物语"]
    assert len(rejections) == 1 and rejections[0].line == 3
    assert "byte 0xe9" in rejections[0].reason and "latin-1" in rejections[0].reason


def test_latin1_file_reads_with_its_encoding(tmp_path: Path):
    path = tmp_path / "items.csv"
    path.write_bytes("item_id,title\n2,Café Society\n".encode("latin-1"))
    frame, _, rejections = _read_all(TableSpec(path, encoding="latin-1"))
    assert frame["title"].tolist() == ["Café Society"] and rejections == []


def test_nul_bytes_reject_the_row(tmp_path: Path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"user_id,item_id\nu1,i1\nu2,i\x002\nu3,i3\n")
    frame, _, rejections = _read_all(TableSpec(path))
    assert frame["user_id"].tolist() == ["u1", "u3"]
    assert rejections[0].line == 3 and "NUL" in rejections[0].reason
    assert "\x00" not in rejections[0].raw


def test_a_10_mb_field_rejects_its_row_only(tmp_path: Path):
    path = tmp_path / "items.csv"
    huge = "x" * (10 * 1024 * 1024)
    path.write_text(f"item_id,title\n1,{huge}\n2,Small\n3,Also small\n")
    frame, lines, rejections = _read_all(TableSpec(path))
    assert frame["title"].tolist() == ["Small", "Also small"] and lines == [3, 4]
    [rejected] = rejections
    assert rejected.line == 2 and "row longer than 131,074 characters" in rejected.reason


def test_a_stray_quote_rejects_one_line_and_reading_goes_on(tmp_path: Path):
    # The repro of the adversarial report: the rest of the file used to merge into row 3.
    path = tmp_path / "q.csv"
    path.write_text(
        "user_id,item_id,event_type,value,timestamp\nu1,i1,view,1,1600000000\n"
        'u2,"i2,view,1,1600000001\nu3,i3,view,1,1600000002\nu4,i4,view,1,1600000003\n'
    )
    frame, lines, rejections = _read_all(TableSpec(path))
    assert frame["user_id"].tolist() == ["u1", "u3", "u4"] and lines == [2, 4, 5]
    [rejected] = rejections
    assert (rejected.line, rejected.raw) == (3, 'u2,"i2,view,1,1600000001')
    assert rejected.reason.startswith("unbalanced quote")


def test_a_stray_quote_in_a_long_file_costs_one_row(tmp_path: Path):
    # Far more lines than the bound follow the stray quote, with no closing quote: the
    # bound stops the runaway row, and every later row is read.
    path = tmp_path / "long.csv"
    rows = [f"u{i},i{i},{i}\n" for i in range(5_000)]
    rows[100] = 'u100,"i100,100\n'
    path.write_text("user_id,item_id,timestamp\n" + "".join(rows))
    chunks = list(read_table(TableSpec(path), 1_000, max_row_lines=50))
    users = [u for c in chunks for u in c.frame["user_id"]]
    assert len(users) == 4_999 and "u100" not in users and users[100] == "u101"
    assert [r.line for c in chunks for r in c.rejections] == [102]


def test_quoted_newlines_within_the_bound_stay_one_row(tmp_path: Path):
    path = tmp_path / "items.csv"
    body = "\n".join(f"paragraph {i}" for i in range(20))
    path.write_text(f'item_id,description\n1,"{body}"\n2,short\n')
    frame, lines, rejections = _read_all(TableSpec(path))
    assert frame["description"].tolist() == [body, "short"] and lines == [2, 22]
    assert rejections == []


def test_a_row_over_the_line_bound_is_rejected_at_its_first_line(tmp_path: Path):
    path = tmp_path / "items.csv"
    body = "\n".join(f"p{i}" for i in range(10))
    path.write_text(f'item_id,description\n1,"{body}"\n2,short\n')
    chunks = list(read_table(TableSpec(path), 100, max_row_lines=5))
    rejections = [r for c in chunks for r in c.rejections]
    assert rejections[0].line == 2 and rejections[0].reason.startswith("unbalanced quote")
    assert chunks[-1].frame["item_id"].tolist()[-1] == "2"


def test_a_header_of_a_million_columns_is_refused_at_once(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n")
    with pytest.raises(InputFileError, match="1,000,000 columns"):
        list(read_table(TableSpec(path), 10))


def test_a_gzip_cut_in_half_keeps_the_rows_before_the_cut(tmp_path: Path):
    whole = gzip.compress(
        ("user_id,item_id\n" + "".join(f"u{i},i{i}\n" for i in range(200_000))).encode()
    )
    path = tmp_path / "events.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    read: list[str] = []
    with pytest.raises(InputFileError, match="cannot read past byte") as err:
        for chunk in read_table(TableSpec(path), 10_000):
            read += chunk.frame["user_id"].tolist()
    assert str(path) in str(err.value) and "rows before it are kept" in str(err.value)
    assert len(read) > 10_000 and read[:3] == ["u0", "u1", "u2"]


def test_wrong_delimiter_is_one_clear_error(tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text("user_id;item_id;timestamp\nu1;i1;1\n")
    with pytest.raises(InputFileError, match=r"wrong delimiter\? it contains ';'") as err:
        list(read_table(TableSpec(path), 10))
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.jsonl", b"\n\n", "the file is empty"),
        ("table.unknown", b"a,b\n", "cannot tell the format"),
        ("not-json.jsonl", b"a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n", "not JSON Lines"),
        ("broken.parquet", b"PAR1 not really", "not a readable Parquet file"),
        ("dup.csv", b"a,a\n1,2\n", "duplicate column name"),
    ],
)
def test_unreadable_files_raise_input_file_error(
    tmp_path: Path, name: str, content: bytes, message: str
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        list(read_table(TableSpec(path), 10))


def test_missing_file_names_the_file(tmp_path: Path):
    with pytest.raises(InputFileError, match="no such file") as err:
        list(read_table(TableSpec(tmp_path / "nope.csv"), 10))
    assert "nope.csv" in str(err.value)


def test_jsonl_with_bad_lines_and_gzip(tmp_path: Path):
    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write('{"user_id": 1, "item_id": "a", "tags": ["x", "y"]}\n')
        fh.write('{"user_id": 2, "item_id": \n')  # broken JSON
        fh.write("[1, 2]\n")  # not an object
        fh.write('{"user_id": 3, "item_id": "c", "extra": {"k": 1}}\n')
    frame, lines, rejections = _read_all(TableSpec(path))
    assert frame["user_id"].tolist() == [1, 3] and lines == [1, 4]
    assert [r.line for r in rejections] == [2, 3]
    assert rejections[0].reason.startswith("invalid JSON")
    assert "expected a JSON object" in rejections[1].reason


def test_a_corrupt_parquet_row_group_loses_only_that_group(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    table = pa.table({"user_id": [f"u{i}" for i in range(300)], "item_id": ["i"] * 300})
    pq.write_table(table, path, row_group_size=100, compression="none", use_dictionary=False)
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(1).column(0)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start : start + 8] = b"\xff" * 8  # the page header of group 1's first column
    path.write_bytes(bytes(data))
    read: list[int] = []
    with pytest.raises(
        InputFileError, match=r"1 unreadable row group\(s\).*row group 1 \(rows 101-200\)"
    ):
        for chunk in read_table(TableSpec(path), 1_000):
            read += chunk.lines.tolist()
    assert read == [*range(1, 101), *range(201, 301)]


def test_parquet_reads_in_batches_with_row_numbers(tmp_path: Path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"uid": [f"u{i}" for i in range(7)], "iid": list(range(7))}).to_parquet(path)
    spec = TableSpec(path, mapping={"user_id": "uid", "item_id": "iid"})
    chunks = list(read_table(spec, chunk_rows=3))
    assert [c.lines.tolist() for c in chunks] == [[1, 2, 3], [4, 5, 6], [7]]
    assert set(chunks[0].frame.columns) == {"user_id", "item_id"}


def test_mapping_to_a_missing_column_names_it(tmp_path: Path):
    path = tmp_path / "e.csv"
    path.write_text("uid,iid\n1,2\n")
    spec = TableSpec(path, mapping={"user_id": "uid", "item_id": "movieId"})
    with pytest.raises(InputFileError, match="'movieId' named in the mapping"):
        list(read_table(spec, 10))


def test_headerless_file_with_names_and_constants(tmp_path: Path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n")
    spec = TableSpec(
        path, format="tsv", header=False, names=("user_id", "item_id", "value", "timestamp"),
        constants={"event_type": "rating"},
    )  # fmt: skip
    frame, _, _ = _read_all(spec)
    assert frame.iloc[0].to_dict() == {
        "user_id": "196", "item_id": "242", "value": "3", "timestamp": "881250949",
        "event_type": "rating",
    }  # fmt: skip


def test_a_json_line_with_a_duplicate_key_is_rejected(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"user_id": "u1", "item_id": "a", "user_id": "u2"}\n'
        '{"user_id": "u3", "item_id": "user_id"}\n'  # the key's text twice, not the key
        '{"user_id": "u4", "attributes": {"k": 1, "k": 2}}\n'
    )
    frame, lines, rejections = _read_all(TableSpec(path))
    assert frame["user_id"].tolist() == ["u3"] and lines == [2]
    assert [(r.line, r.reason.split(" in ")[0]) for r in rejections] == [
        (1, "duplicate key 'user_id'"),
        (3, "duplicate key 'k'"),
    ]

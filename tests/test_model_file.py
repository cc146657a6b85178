"""The model file: atomic, checksummed, one writer at a time, refused clearly when bad."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from llmrec.errors import ModelFileError
from llmrec.model_file import MAGIC, read_model, write_model

_WRITER = """
import sys
from pathlib import Path
from llmrec.model_file import write_model
path, tag = Path(sys.argv[1]), sys.argv[2]
for round in range(8):
    write_model(path, 4, {"tag": tag, "round": round, "weights": bytes([round]) * 3_000_000})
"""


def test_a_model_round_trips(tmp_path: Path):
    path = write_model(tmp_path / "m" / "model.pkl", 4, {"a": [1, 2, 3]})
    assert read_model(path) == (4, {"a": [1, 2, 3]})
    assert path.read_bytes().startswith(MAGIC)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pkl", "model.pkl.lock"]


def test_concurrent_saves_always_leave_one_whole_model(tmp_path: Path):
    path = tmp_path / "model.pkl"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag]) for tag in ("a", "b")
    ]
    readable = 0
    while any(w.poll() is None for w in writers):
        if path.exists():
            version, model = read_model(path)
            assert version == 4 and model["weights"] == bytes([model["round"]]) * 3_000_000
            readable += 1
    assert [w.returncode for w in writers] == [0, 0]
    _, final = read_model(path)
    assert final["round"] == 7 and readable > 0
    assert not list(tmp_path.glob("*.tmp"))


def test_a_killed_writers_temporary_file_is_removed_by_the_next_save(tmp_path: Path):
    path = tmp_path / "model.pkl"
    stale = [tmp_path / "model.pkl.abc123.tmp", tmp_path / "model.pkl.tmp"]
    for file in stale:
        file.write_bytes(b"half a model")
    write_model(path, 4, "model")
    assert not any(file.exists() for file in stale)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "cut short"),
        (lambda b: b[:-10] + bytes(10), "checksum does not match"),
        (lambda b: b"PK\x03\x04 a zip file, not a model", "not a llmrec model file"),
        (lambda b: b"", "not a llmrec model file"),
    ],
)
def test_a_damaged_or_foreign_file_is_refused_in_one_line(tmp_path: Path, damage, message):
    path = write_model(tmp_path / "model.pkl", 4, {"weights": list(range(10_000))})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ModelFileError, match=message) as err:
        read_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_bare_pickle_of_older_llmrec_still_loads_and_a_broken_one_is_refused(tmp_path: Path):
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps((3, {"old": True}), protocol=pickle.HIGHEST_PROTOCOL))
    assert read_model(path) == (3, {"old": True})
    path.write_bytes(path.read_bytes()[:12])
    with pytest.raises(ModelFileError, match="cannot unpickle"):
        read_model(path)

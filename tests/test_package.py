"""The package: every public name resolves, and importing it (or the CLI) is light."""

from __future__ import annotations

import subprocess
import sys

import llmrec


def test_every_public_name_resolves_to_the_module_that_defines_it():
    assert set(llmrec.__all__) == set(llmrec._EXPORTS)
    for name in llmrec.__all__:
        assert getattr(llmrec, name) is not None
    assert set(llmrec.__all__) <= set(dir(llmrec))


def test_the_command_line_imports_no_heavy_library_until_a_command_needs_it():
    # `llmrec --help` took 35 s on a busy machine when every command imported everything.
    code = (
        "import sys, llmrec.cli; "
        "print(' '.join(m for m in ('torch', 'lightgbm', 'faiss', 'fastapi', 'implicit', "
        "'xllamacpp', 'matplotlib', 'pandas') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.split() == []


_HEAVY = ("torch", "lightgbm", "faiss", "fastapi", "pandas", "pyarrow", "numpy", "sqlalchemy")


def _loaded_after(code: str, *args: str) -> list[str]:
    """Which of ``_HEAVY`` a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport sys\nprint(*(m for m in {_HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].split()


def test_the_store_imports_no_frame_library_until_a_frame_is_asked_for():
    # pandas and pyarrow were most of the second that `llmrec stats` took.
    assert _loaded_after("import llmrec.store.store") == ["sqlalchemy"]
    assert _loaded_after("import llmrec.store.summary") == []


def test_stats_imports_no_frame_library_and_once_summarised_no_sqlalchemy(tmp_path):
    run_stats = (
        "import sys\nfrom llmrec.cli import app\n"
        "try:\n    app(['--home', sys.argv[1], 'stats'])\nexcept SystemExit as exc:\n"
        "    assert not exc.code, exc.code"
    )
    # The first call computes the summary through the Store; later ones read it.
    assert _loaded_after(run_stats, str(tmp_path)) == ["sqlalchemy"]
    assert _loaded_after(run_stats, str(tmp_path)) == []

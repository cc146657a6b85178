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
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == []

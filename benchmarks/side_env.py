"""Virtual environments of their own for the reference systems a benchmark runs beside
llmrec (RecBole, Spark): their pins clash with llmrec's, so they are never its
dependencies. Each is created and filled on first use, under the repository (ignored by
git)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parents[1]


def side_python(name: str, packages: Sequence[str], console: Console) -> Path:
    """The interpreter of the environment ``REPO/name`` holding ``packages``."""
    venv = REPO / name
    python = venv / "bin" / "python"
    if not python.exists():
        console.print(f"creating {venv} with {', '.join(packages)} (a few minutes)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python

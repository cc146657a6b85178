"""The ``llmrec`` command line: one command per step of the pipeline, one module per
command group (``data``, ``enrich``, ``model``, ``answers``, ``service``,
``experiments``, ``quickstart``); ``apps`` holds the groups and ``common`` what they share.

Each command imports what it uses inside its body: `llmrec --help` and `llmrec stats`
must not wait for torch, LightGBM, faiss and the service stack.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Annotated

import typer

from llmrec.cli.apps import app
from llmrec.cli.common import _user_errors
from llmrec.config import CONFIG_ENV_VAR, load_settings

__all__ = ["app"]

# Each module adds its commands to the groups; `llmrec --help` lists them in this order.
for _group in ("data", "enrich", "model", "answers", "service", "experiments", "quickstart"):
    importlib.import_module(f"llmrec.cli.{_group}")


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (default ./llmrec.toml)")
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="folder for the store and caches (default .llmrec)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite in home)")
    ] = None,
) -> None:
    if config is not None:
        os.environ[CONFIG_ENV_VAR] = str(config)
    overrides: dict[str, object] = {}
    if home is not None:
        overrides["home"] = home
    if database_url is not None:
        overrides["database_url"] = database_url
    with _user_errors():
        ctx.obj = {"settings": load_settings(**overrides), "overrides": overrides}

"""The recommendation service: HTTP API, API keys, web page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmrec.serve.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    # Imported on first use (PEP 562): the client reads llmrec.serve.schemas without
    # loading the service and its model code.
    if name == "create_app":
        from llmrec.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'llmrec.serve' has no attribute {name!r}")

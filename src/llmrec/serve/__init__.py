"""The recommendation service: HTTP API, API keys, web page."""

from llmrec.serve.app import create_app

__all__ = ["create_app"]

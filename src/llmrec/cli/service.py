"""Serving: `serve`, `keys create/list/revoke`, `llm serve`."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmrec.cli.apps import app, keys_app, llm_app
from llmrec.cli.common import _open_store, _settings, _user_errors, console, err_console
from llmrec.config import Settings
from llmrec.errors import LlmrecError

# -- service ------------------------------------------------------------------------------


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address (default serve.host)")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port (default serve.port)")
    ] = None,
) -> None:
    """Run the HTTP service (OpenAPI at /docs, web page at /) over the store and the
    trained model."""
    settings = _settings(ctx)
    host, port = host or settings.serve.host, port or settings.serve.port
    _service(settings, host, port).run()


def _service(settings: Settings, host: str, port: int):
    """The configured uvicorn server over a new app (not started)."""
    import uvicorn

    from llmrec.serve import create_app
    from llmrec.serve.allocator import bound_malloc
    from llmrec.serve.server import server_config

    _log_to_stderr(settings.serve.log_level)
    if settings.serve.malloc_arenas:
        bound_malloc(settings.serve.malloc_arenas, settings.serve.malloc_mmap_threshold_kib << 10)
    with _user_errors():
        app_ = create_app(settings)
    err_console.print(f"llmrec service on http://{host}:{port}/ (API docs: /docs)")
    return uvicorn.Server(server_config(app_, settings.serve, host, port))


def _log_to_stderr(level: str) -> None:
    """llmrec's own log lines, timestamped, on stderr (where the service's are read)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("llmrec")
    logger.handlers = [handler]
    logger.setLevel(level.upper())


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: Annotated[
        list[str], typer.Option("--scope", help="read, write or admin (repeatable)")
    ] = ["read"],  # noqa: B006 - typer reads the default, nothing mutates it
    name: Annotated[str, typer.Option(help="what the key is for")] = "",
) -> None:
    """Create an API key; it is printed once (only a hash is kept)."""
    from llmrec.serve.keys import create_key

    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        try:
            key_id, key = create_key(store, scope, name)
        except ValueError as exc:
            raise LlmrecError(str(exc)) from None
    err_console.print(f"key {key_id} ({', '.join(scope)}); keep it, it is not shown again:")
    console.print(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """The API keys (ids, names, scopes; never the secrets)."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        frame = store.api_keys_frame()
    table = Table(title="API keys")
    for column in ("key id", "name", "scopes", "revoked"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(row.key_id, escape(row.name), row.scopes, "yes" if row.revoked else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke an API key at once."""
    settings = _settings(ctx)
    with _user_errors(), _open_store(settings) as store:
        if not store.revoke_api_key(key_id):
            raise LlmrecError(f"unknown key id: {key_id}")
    console.print(f"revoked {key_id}")


# -- llm ----------------------------------------------------------------------------------


@llm_app.command("serve")
def llm_serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8080,
    api_key: Annotated[
        str | None, typer.Option(envvar="LLMREC_LLM_SERVE_KEY", help="bearer token clients need")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="serve /v1/embeddings instead of chat")
    ] = False,
) -> None:
    """Serve the embedded model as an OpenAI-compatible server (llama.cpp) until Ctrl-C."""
    from llmrec.llm import bundled_model_path
    from llmrec.llm.embedded import start_llama_server

    settings = _settings(ctx)
    with _user_errors():
        path = settings.llm.model_path or bundled_model_path()
        server = start_llama_server(
            path,
            settings.llm.threads,
            settings.llm.concurrency,
            settings.llm.context_per_slot,
            host=host,
            port=port,
            api_key=api_key,
            embeddings=embeddings,
        )
    console.print(f"serving {escape(path.name)} at {server.listening_address}/v1", highlight=False)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    del server  # stops llama.cpp's server

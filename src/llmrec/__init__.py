"""llmrec: an LLM-powered recommender system.

The public Python API: settings, the store, ingestion of files and public datasets, the
interaction matrix, language models and the enrichment jobs, text embeddings and content
matching, and the hybrid :class:`Recommender` with its offline evaluation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name → the module that defines it. Imported on first use (PEP 562): ``import
# llmrec`` and the command line stay fast; ``llmrec.Recommender`` pulls in torch only
# when it is asked for.
_EXPORTS: dict[str, str] = {
    "build_interaction_matrix": "llmrec.data.matrix",
    "ChatRequest": "llmrec.llm",
    "Completion": "llmrec.llm",
    "ConfigError": "llmrec.errors",
    "ContentMatcher": "llmrec.retrieve.matcher",
    "DatasetError": "llmrec.errors",
    "DATASETS": "llmrec.data.datasets",
    "embed_items": "llmrec.embed.vectors",
    "EmbeddedLLM": "llmrec.llm",
    "enrich_items": "llmrec.enrich.descriptions",
    "enrich_users": "llmrec.enrich.interests",
    "EnrichReport": "llmrec.enrich.batches",
    "Event": "llmrec.data.records",
    "ingest_file": "llmrec.data.ingest",
    "IngestReport": "llmrec.data.ingest",
    "InputFileError": "llmrec.errors",
    "interaction_matrix_from_store": "llmrec.data.matrix",
    "InteractionMatrix": "llmrec.data.matrix",
    "Item": "llmrec.data.records",
    "ItemVectors": "llmrec.embed.vectors",
    "LLM": "llmrec.llm",
    "LLMError": "llmrec.errors",
    "LlmrecError": "llmrec.errors",
    "load_dataset": "llmrec.data.datasets",
    "load_encoder": "llmrec.embed",
    "load_llm": "llmrec.llm",
    "load_settings": "llmrec.config",
    "Message": "llmrec.llm",
    "ModelFileError": "llmrec.errors",
    "OpenAICompatibleLLM": "llmrec.llm",
    "Recommender": "llmrec.recommender",
    "Service": "llmrec.app",
    "SOURCES": "llmrec.models",
    "RecordKind": "llmrec.data.records",
    "Settings": "llmrec.config",
    "Store": "llmrec.store",
    "StoreError": "llmrec.errors",
    "TableSpec": "llmrec.data.readers",
    "TextEncoder": "llmrec.embed",
    "UnknownIdError": "llmrec.errors",
    "User": "llmrec.data.records",
    "UserLink": "llmrec.data.records",
    "UserProfiles": "llmrec.profile.vectors",
    "VectorIndex": "llmrec.retrieve.index",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from llmrec.app import Service
    from llmrec.config import Settings, load_settings
    from llmrec.data.datasets import DATASETS, load_dataset
    from llmrec.data.ingest import IngestReport, ingest_file
    from llmrec.data.matrix import (
        InteractionMatrix,
        build_interaction_matrix,
        interaction_matrix_from_store,
    )
    from llmrec.data.readers import TableSpec
    from llmrec.data.records import Event, Item, RecordKind, User, UserLink
    from llmrec.embed import TextEncoder, load_encoder
    from llmrec.embed.vectors import ItemVectors, embed_items
    from llmrec.enrich.batches import EnrichReport
    from llmrec.enrich.descriptions import enrich_items
    from llmrec.enrich.interests import enrich_users
    from llmrec.errors import (
        ConfigError,
        DatasetError,
        InputFileError,
        LLMError,
        LlmrecError,
        ModelFileError,
        StoreError,
        UnknownIdError,
    )
    from llmrec.llm import (
        LLM,
        ChatRequest,
        Completion,
        EmbeddedLLM,
        Message,
        OpenAICompatibleLLM,
        load_llm,
    )
    from llmrec.models import SOURCES
    from llmrec.profile.vectors import UserProfiles
    from llmrec.recommender import Recommender
    from llmrec.retrieve.index import VectorIndex
    from llmrec.retrieve.matcher import ContentMatcher
    from llmrec.store import Store

__all__ = [
    "DATASETS",
    "LLM",
    "SOURCES",
    "ChatRequest",
    "Completion",
    "ConfigError",
    "ContentMatcher",
    "DatasetError",
    "EmbeddedLLM",
    "EnrichReport",
    "Event",
    "IngestReport",
    "InputFileError",
    "InteractionMatrix",
    "Item",
    "ItemVectors",
    "LLMError",
    "LlmrecError",
    "Message",
    "ModelFileError",
    "OpenAICompatibleLLM",
    "Recommender",
    "RecordKind",
    "Service",
    "Settings",
    "Store",
    "StoreError",
    "TableSpec",
    "TextEncoder",
    "UnknownIdError",
    "User",
    "UserLink",
    "UserProfiles",
    "VectorIndex",
    "build_interaction_matrix",
    "embed_items",
    "enrich_items",
    "enrich_users",
    "ingest_file",
    "interaction_matrix_from_store",
    "load_dataset",
    "load_encoder",
    "load_llm",
    "load_settings",
]

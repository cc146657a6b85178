"""llmrec: an LLM-powered recommender system.

The public Python API: settings, the store, ingestion of files and public datasets, the
interaction matrix, language models and the enrichment jobs, text embeddings and content
matching, and the hybrid :class:`Recommender` with its offline evaluation.
"""

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
from llmrec.profile.vectors import UserProfiles
from llmrec.recommender import Recommender
from llmrec.retrieve.index import VectorIndex
from llmrec.retrieve.matcher import ContentMatcher
from llmrec.store import Store

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "LLM",
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

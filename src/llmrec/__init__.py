"""llmrec: an LLM-powered recommender system.

The public Python API so far: settings, the store, ingestion of files and public
datasets, and the interaction matrix.
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
from llmrec.errors import ConfigError, DatasetError, InputFileError, LlmrecError, StoreError
from llmrec.store import Store

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "ConfigError",
    "DatasetError",
    "Event",
    "IngestReport",
    "InputFileError",
    "InteractionMatrix",
    "Item",
    "LlmrecError",
    "RecordKind",
    "Settings",
    "Store",
    "StoreError",
    "TableSpec",
    "User",
    "UserLink",
    "build_interaction_matrix",
    "ingest_file",
    "interaction_matrix_from_store",
    "load_dataset",
    "load_settings",
]

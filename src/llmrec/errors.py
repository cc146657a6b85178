"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from __future__ import annotations

from pathlib import Path


class LlmrecError(Exception):
    """Base class of every error llmrec raises on purpose."""


class ConfigError(LlmrecError):
    """The configuration file or environment holds an invalid setting."""


class _FileProblem(LlmrecError):
    """A problem with one file: ``path`` and ``problem``, shown as "path: problem"."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Raised in the ingest worker process and re-raised in the parent: pickle the
        # constructor's own arguments.
        return (type(self), (self.path, self.problem))


class InputFileError(_FileProblem):
    """An input file cannot be read at all (missing, wrong format, wrong delimiter...)."""


class DatasetError(LlmrecError):
    """A public dataset is unknown, or its download or files are not as expected."""


class StoreError(LlmrecError):
    """The store cannot be opened or its schema is newer than this code."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached now (down, restarting, the network): a write was
    not stored; try again later."""


class LLMError(LlmrecError):
    """A language model cannot be loaded or reached, or it refused a request."""


class ModelFileError(_FileProblem, ValueError):
    """A model file that cannot be used: unreadable, cut short, corrupt, foreign or from
    an incompatible llmrec."""


class UnknownIdError(LlmrecError, KeyError):
    """A user or item id that the store does not hold (or holds no behaviour for)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

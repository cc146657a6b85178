"""User state: what each user did, kept outside the model file (see :mod:`.histories`)."""

from llmrec.users.histories import UserHistories

__all__ = ["UserHistories"]

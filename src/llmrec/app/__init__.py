"""The application: the served model's state and the one service the CLI, the Python API
and the HTTP service answer through."""

from llmrec.app.service import ChatAnswer, NotReadyError, Profile, Service, UserList, Written

__all__ = ["ChatAnswer", "NotReadyError", "Profile", "Service", "UserList", "Written"]

"""Retrieval: the vector index and candidate sources."""

"""llmrec: an LLM-powered recommender system."""

__version__ = "0.1.0"

"""Why an item is recommended: reasons taken from the actual scoring."""

from llmrec.explain.reasons import Explanation, FeatureReason, HistoryReason, explain

__all__ = ["Explanation", "FeatureReason", "HistoryReason", "explain"]

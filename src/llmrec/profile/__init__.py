"""User interest models: interest vectors and keyword profiles, updated as events arrive."""

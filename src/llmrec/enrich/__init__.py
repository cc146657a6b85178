"""Enrichment jobs: LLM item descriptions and keywords (checked by the grounding guard)
and user interest keywords, each cached and resumable (see each module)."""

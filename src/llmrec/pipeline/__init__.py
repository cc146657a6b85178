"""The recommendation pipeline as stages, each a module of functions that take the
state they read as arguments (:class:`~llmrec.pipeline.scoring.Scoring` bundles the
learned side): :mod:`~llmrec.pipeline.candidates` (each source's best usable items),
:mod:`~llmrec.pipeline.features` (what the ranker reads of a pair),
:mod:`~llmrec.pipeline.scoring` (the two composed, then the ranker's scores),
:mod:`~llmrec.pipeline.rerank` (feedback, the ranked list, MMR) and
:mod:`~llmrec.pipeline.train_ranker` (how the ranker learns). The
:class:`~llmrec.recommender.Recommender` composes them and holds the state.
"""

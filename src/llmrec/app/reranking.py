"""The LLM re-ordering the top of short histories' lists, as the service applies it.

A list never waits longer than ``llm_rerank.timeout_s`` for the model: the question runs
on one worker thread (one model, one request at a time), and past the wait the ranker's
list is served while the answer is still written to the cache for the user's next
request. Past ``MAX_WAITING`` questions queued, lists are served without asking. Every
way the model can fail (unreachable, slow, loading, a bad answer) serves the ranker's
list with a logged warning, never an error to the caller.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong

from llmrec.app.state import ModelState
from llmrec.config import LLMRerankSettings
from llmrec.llm.cache import CachedLLM
from llmrec.rank.llm_rerank import Candidate, fused_order, llm_picks
from llmrec.store import Store

_log = logging.getLogger("llmrec.serve")
MAX_WAITING = 8


class LLMReranking:
    """``reorder`` a user's list with the model ``state`` loads (see the module docstring)."""

    def __init__(self, settings: LLMRerankSettings, state: ModelState, store: Store) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="llmrec-rerank")
        self._counting = threading.Lock()
        self._waiting = 0

    def reorder(self, user_id: str, history: list[str], items: list[dict]) -> list[dict]:
        """``items`` (dicts with item_id, title, description, generated_description,
        rank) with the top ``candidates`` re-ordered, ranks renumbered; as they are when
        the model does not answer in time."""
        top = items[: self.settings.candidates]
        shown = [
            Candidate(i["item_id"], i["title"] or "",
                      i["generated_description"] or i["description"] or "")
            for i in top
        ]  # fmt: skip
        with self._counting:
            if self._waiting >= MAX_WAITING:
                _log.warning("llmrec: %d LLM re-rankings waiting; the ranker's list served",
                             self._waiting)  # fmt: skip
                return items
            self._waiting += 1
        asked = self._pool.submit(self._picks, user_id, history, shown)
        asked.add_done_callback(self._answered)
        try:
            picks = asked.result(timeout=self.settings.timeout_s)
        except WaitedTooLong:
            _log.warning(
                "llmrec: the LLM did not re-rank within %.1f s (llm_rerank.timeout_s); the "
                "ranker's list served, the answer kept for the next request",
                self.settings.timeout_s,
            )
            return items
        except Exception as exc:  # an unreachable server, a failing model: the ranker's list
            _log.warning("llmrec: LLM re-ranking failed, the ranker's list served: %s", exc)
            return items
        order = fused_order(len(top), picks, self.settings.weight)
        return [top[i] | {"rank": rank} for rank, i in enumerate(order, 1)] + items[len(top) :]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _picks(self, user_id: str, history: list[str], shown: list[Candidate]) -> list[int]:
        llm = CachedLLM(self.state.llm(), self.store)
        [picks] = llm_picks(llm, [(user_id, history, shown)], self.settings.picks,
                            self.settings.max_prompt_chars)  # fmt: skip
        return picks

    def _answered(self, _: Future) -> None:
        with self._counting:
            self._waiting -= 1

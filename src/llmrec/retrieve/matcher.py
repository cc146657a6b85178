"""User–item matching in the text space: recommendations, similar items, search.

Built from the store in one call (:meth:`ContentMatcher.from_store`): item vectors from
the embedding cache, the vector index, users' interest vectors, and the popularity
ranking used when nothing else is known. Known users are matched by each of their
interest vectors (multi-interest) and the results merged by best score; new users by
stated interests, friends, similar users, then popularity — the ``source`` column says
which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from llmrec.config import Settings
from llmrec.embed.encoders import TextEncoder
from llmrec.embed.vectors import ItemVectors, embed_items
from llmrec.errors import UnknownIdError
from llmrec.profile.vectors import UserProfiles, keyword_profile
from llmrec.retrieve.cold_start import friends_vector, similar_users_vector
from llmrec.retrieve.index import Metric, VectorIndex
from llmrec.store import Store

RESULT_COLUMNS = ["item_id", "title", "score", "source"]


class ContentMatcher:
    """Text-vector matching over one catalogue; see the module docstring."""

    def __init__(
        self,
        encoder: TextEncoder,
        item_vectors: ItemVectors,
        items: pd.DataFrame,
        profiles: UserProfiles,
        popular: Sequence[str],
        users: pd.DataFrame | None = None,
        links: pd.DataFrame | None = None,
        metric: Metric = "cosine",
        events: pd.DataFrame | None = None,
        item_keywords: Mapping[str, Sequence[str]] | None = None,
        llm_interests: pd.DataFrame | None = None,
    ) -> None:
        self.encoder = encoder
        self.titles = dict(zip(items["item_id"].astype(str), items["title"], strict=True))
        self.tags = {
            str(i): list(t) if isinstance(t, list) else []
            for i, t in zip(items["item_id"], items["tags"], strict=True)
        }
        self.index = VectorIndex(metric=metric).fit(item_vectors.item_ids, item_vectors.vectors)
        self.profiles = profiles
        self.popular = [str(i) for i in popular]
        self.users = users if users is not None else pd.DataFrame(columns=["user_id", "attributes"])
        self.events = events if events is not None else pd.DataFrame(columns=["user_id"])
        # Keywords per item: the LLM's when it described the item, else the item's tags.
        self.item_keywords = dict(item_keywords or {})
        for item_id, tags in self.tags.items():
            self.item_keywords.setdefault(item_id, [t.lower() for t in tags])
        self.llm_interests = (
            {
                str(u): (k, summary)
                for u, k, summary in llm_interests[["user_id", "keywords", "summary"]].itertuples(
                    index=False
                )
            }
            if llm_interests is not None and not llm_interests.empty
            else {}
        )
        self.friends: dict[str, list[str]] = {}
        if links is not None:
            for user_id, friend_id in zip(links["user_id"], links["friend_id"], strict=True):
                self.friends.setdefault(str(user_id), []).append(str(friend_id))

    @classmethod
    def from_store(
        cls,
        store: Store,
        encoder: TextEncoder,
        settings: Settings,
        progress: Callable[[int], None] | None = None,
    ) -> ContentMatcher:
        items = store.items_frame()
        vectors, _ = embed_items(store, encoder, settings.embed, items, progress)
        events = store.events_frame()
        profiles = UserProfiles(settings.event_weights, settings.default_event_weight).fit(
            events, vectors.item_ids, vectors.vectors, query_encoder=encoder
        )
        positive = events[
            settings.event_policy.positive_mask(events["event_type"])
            & events["item_id"].notna().to_numpy()
        ]
        popular = positive["item_id"].value_counts().index.tolist()
        generated = store.item_texts_frame()
        return cls(
            encoder,
            vectors,
            items,
            profiles,
            popular,
            store.users_frame(),
            store.links_frame(),
            events=events,
            item_keywords=dict(zip(generated["item_id"], generated["keywords"], strict=True)),
            llm_interests=store.user_interests_frame(),
        )

    def interest_keywords(self, user_id: str, top: int = 10) -> tuple[list[tuple[str, float]], str]:
        """A user's weighted interest keywords (items' keywords blended with the LLM's
        extraction when present) and the LLM's one-sentence summary ("" without one)."""
        user_id = str(user_id)
        llm_keywords, summary = self.llm_interests.get(user_id, (None, ""))
        if user_id not in self.profiles and llm_keywords is None:
            raise UnknownIdError(f"no behaviour or interests known for user id: {user_id}")
        keywords = keyword_profile(
            self.events, self.item_keywords, self.profiles, user_id, top, llm_keywords
        )
        return keywords, summary

    # -- recommendations ---------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        interests: str | None = None,
        exclude_seen: bool = True,
        allowed: Sequence[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> pd.DataFrame:
        """Top ``k`` items for a user, known or new (then ``interests`` text helps), only
        ``allowed`` ones when given and never those in ``exclude``."""
        user_id = str(user_id)
        seen = self.profiles.seen(user_id) if exclude_seen else set()
        seen = seen | set(map(str, exclude))
        if user_id in self.profiles:
            queries, source = self.profiles.interests(user_id), "interest vectors"
        else:
            queries, source = self._cold_user_queries(user_id, interests)
        if interests and user_id in self.profiles:
            queries = np.vstack([queries, self.encoder.encode([interests])])
        if queries is None or len(queries) == 0:
            return self._popular(k, seen, allowed)
        result = self.index.search(queries, k, exclude=[seen] * len(queries), allowed=allowed)
        best: dict[str, float] = {}
        for ids, scores in zip(result.ids, result.scores, strict=True):
            for item_id, score in zip(ids, scores, strict=True):
                best[item_id] = max(best.get(item_id, -np.inf), float(score))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return self._frame(ranked, source)

    def _cold_user_queries(
        self, user_id: str, interests: str | None
    ) -> tuple[np.ndarray | None, str]:
        if interests and interests.strip():
            return self.encoder.encode([interests]), "stated interests"
        vectors_of = _VectorsOf(self.profiles)
        friends = friends_vector(self.friends.get(user_id, []), vectors_of)
        if friends is not None:
            return friends[None, :], "friends"
        attributes = self.users.loc[self.users["user_id"] == user_id, "attributes"]
        if len(attributes) and isinstance(attributes.iloc[0], dict):
            similar = similar_users_vector(attributes.iloc[0], self.users, vectors_of)
            if similar is not None:
                return similar[None, :], "similar users"
        return None, "popularity"

    def _popular(self, k: int, seen: set[str], allowed: Sequence[str] | None) -> pd.DataFrame:
        allowed_set = set(map(str, allowed)) if allowed is not None else None
        n = len(self.popular) or 1
        ranked = [
            (item_id, 1.0 - rank / n)  # a score that falls with the popularity rank
            for rank, item_id in enumerate(self.popular)
            if item_id not in seen and (allowed_set is None or item_id in allowed_set)
        ]
        return self._frame(ranked[:k], "popularity")

    def similar_items(
        self,
        item_id: str,
        k: int = 10,
        allowed: Sequence[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> pd.DataFrame:
        item_id = str(item_id)
        if item_id not in self.index:
            raise UnknownIdError(f"unknown item id: {item_id}")
        never = {item_id, *map(str, exclude)}
        result = self.index.search(self.index.vector(item_id), k, exclude=[never], allowed=allowed)
        return self._frame(list(zip(result.ids[0], result.scores[0], strict=True)), "content")

    def search(
        self,
        query: str,
        k: int = 10,
        user_id: str | None = None,
        personal_weight: float = 0.3,
        allowed: Sequence[str] | None = None,
        exclude: Iterable[str] = (),
    ) -> pd.DataFrame:
        """Items matching a natural-language query, optionally leaning to a user's taste;
        only ``allowed`` ones when given and never those in ``exclude``."""
        if not query or not query.strip():
            raise ValueError("the search query is empty")
        vector = self.encoder.encode([query])[0]
        seen: set[str] = set()
        source = "query"
        if user_id is not None and str(user_id) in self.profiles:
            taste = self.profiles.vectors([str(user_id)])[0]
            vector = (1 - personal_weight) * vector + personal_weight * taste
            vector /= np.linalg.norm(vector) or 1.0
            seen, source = self.profiles.seen(str(user_id)), "query + interest vector"
        never = seen | set(map(str, exclude))
        result = self.index.search(vector, k, exclude=[never], allowed=allowed)
        return self._frame(list(zip(result.ids[0], result.scores[0], strict=True)), source)

    def _frame(self, ranked: Sequence[tuple[str, float]], source: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "item_id": [i for i, _ in ranked],
                "title": [self.titles.get(i, "") for i, _ in ranked],
                "score": np.array([s for _, s in ranked], dtype=np.float64),
                "source": source,
            },
            columns=RESULT_COLUMNS,
        )


class _VectorsOf(Mapping[str, np.ndarray]):
    """Users' interest vectors as a read-only mapping, computed on access."""

    def __init__(self, profiles: UserProfiles) -> None:
        self.profiles = profiles

    def __getitem__(self, user_id: str) -> np.ndarray:
        if user_id not in self.profiles:
            raise KeyError(user_id)
        return self.profiles.vectors([user_id])[0]

    def __iter__(self):
        return iter(self.profiles.user_ids)

    def __len__(self) -> int:
        return len(self.profiles.user_ids)

"""What an online experiment is, and which variant serves a user.

An experiment splits users between variants by a salted hash of their id: the same user
gets the same variant on every request and every replica, and two experiments (each its
own salt) split users independently of each other. An A/B experiment serves each user
one variant's list; an interleaving experiment merges the lists of its two variants into
one (team draft, :mod:`llmrec.experiments.interleave`) for every user, and credits each
click to the variant that put the item there.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Status = Literal["running", "paused", "stopped"]
_SHARES_TOLERANCE = 1e-6


class Variant(BaseModel):
    """One arm: ``strategy`` "model" (the served model's list, or a published
    ``model_version``'s, with its own MMR ``diversity`` when given) or "popular" (the
    most popular items: a floor every model should beat)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    share: float = Field(gt=0, le=1, description="share of users (A/B); ignored by interleaving")
    strategy: Literal["model", "popular"] = "model"
    diversity: float | None = Field(None, ge=0, le=1)
    model_version: int | None = Field(
        None, ge=1, description="a published model version (llmrec models list); default: "
        "the served model"
    )

    @model_validator(mode="after")
    def _version_of_a_model(self) -> Self:
        if self.model_version is not None and self.strategy != "model":
            raise ValueError(f"variant {self.name}: a model_version needs strategy 'model'")
        return self

    @property
    def plain_model(self) -> bool:
        """Serves the served model's list as asked (the kept ranked lists can answer it)."""
        return self.strategy == "model" and self.diversity is None and self.model_version is None


class Experiment(BaseModel):
    """An experiment as created; ``salt`` is drawn at creation and never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    kind: Literal["ab", "interleave"] = "ab"
    variants: list[Variant] = Field(min_length=2, max_length=10)
    window_s: float = Field(
        86_400.0, gt=0, le=90 * 86_400, description="outcomes this long after an impression count"
    )
    traffic: float = Field(
        1.0, gt=0, le=1, description="share of users in the experiment; the others are served "
        "as if it did not exist"
    )
    conversions: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        default_factory=lambda: ["purchase"], max_length=20,
        description="event types that count as a conversion",
    )  # fmt: skip
    salt: str = Field(default_factory=lambda: secrets.token_hex(8), pattern=r"^[0-9a-f]{16}$")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names repeat: {names}")
        if self.kind == "interleave" and len(self.variants) != 2:
            raise ValueError(f"interleaving compares two variants, got {len(self.variants)}")
        total = sum(v.share for v in self.variants)
        if self.kind == "ab" and abs(total - 1.0) > _SHARES_TOLERANCE:
            raise ValueError(f"the variants' shares sum to {total:g}, not 1")
        return self

    def includes(self, user_id: str) -> bool:
        """Whether ``user_id`` is among the ``traffic`` share of users in the experiment
        (a hash independent of the one that picks the variant)."""
        if self.traffic >= 1.0:
            return True
        return bucket(self.salt, f"{self.name}\x1ftraffic", user_id) < self.traffic

    def variant_of(self, user_id: str) -> Variant:
        """The variant that serves ``user_id`` if included (A/B: by the salted hash and
        the shares; interleaving: the first, whose list leads the draft)."""
        if self.kind == "interleave":
            return self.variants[0]
        point = bucket(self.salt, self.name, user_id)
        edge = 0.0
        for variant in self.variants:
            edge += variant.share
            if point < edge:
                return variant
        return self.variants[-1]  # shares summing to 1 - 1e-7: the last takes the rest


def bucket(salt: str, experiment: str, user_id: str) -> float:
    """A uniform number in [0, 1) fixed by the salt, the experiment and the user."""
    digest = hashlib.sha256(f"{salt}\x1f{experiment}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64

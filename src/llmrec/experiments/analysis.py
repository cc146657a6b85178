"""An experiment's report from its impressions and the outcome events that followed them.

Attribution: an outcome event (a click, a cart, a purchase, a like, or a negative one) of
an impressed user on an impressed item, within the experiment's window after the
impression, belongs to the latest such impression — to its variant, and in interleaving
to the team that put the item in the list. A/B: per variant, users, impressions,
click-through and conversion, and per-user means with 95% confidence intervals; each
variant against the first (the control): the relative lift and Welch's t-test, by user.
The sample-ratio check compares users per variant with the shares (χ², flagged below
p = 0.001). Interleaving: which team's items won each user's clicks, with a two-sided
binomial test over the users who preferred one.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from llmrec.data.events import EventPolicy
from llmrec.experiments.design import Experiment

SRM_ALPHA = 0.001
IMPRESSION_COLUMNS = ["variant", "user_id", "request_id", "items", "teams", "shown_at"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A per-user mean with its 95% confidence interval."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class VariantResult:
    variant: str
    users: int
    impressions: int
    click_through: float  # impressions with a positive outcome / impressions
    conversion: float  # impressions with a conversion / impressions
    user_click_through: Estimate
    user_conversion: Estimate
    user_value: Estimate  # the event policy's weights of attributed outcomes, per impression
    lift: float | None = None  # against the control's per-user click-through
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class Interleaving:
    wins: dict[str, int]  # users whose clicks went more to this variant
    ties: int
    delta: float  # (wins first − wins second) / users with a click
    p_value: float


@dataclass(frozen=True, slots=True)
class Report:
    experiment: str
    kind: str
    impressions: int
    variants: list[VariantResult]
    sample_ratio_p: float | None
    sample_ratio_mismatch: bool
    interleaving: Interleaving | None = None
    notes: list[str] = field(default_factory=list)
    lost_impressions: int = 0  # served but never stored (the store away, a full queue)

    def to_dict(self) -> dict:
        return asdict(self)


def report(
    experiment: Experiment,
    impressions: pd.DataFrame,
    outcomes: pd.DataFrame,
    event_weights: dict[str, float],
    lost: int = 0,
) -> Report:
    """``impressions``: :data:`IMPRESSION_COLUMNS` (``teams`` None outside interleaving);
    ``outcomes``: the events (user_id, item_id, event_type, timestamp) of the impressed
    users; ``lost``: impressions served but never stored."""
    per_impression = attribute(experiment, impressions, outcomes, event_weights)
    names = [v.name for v in experiment.variants]
    notes: list[str] = []
    if lost:
        notes.append(f"{lost} impressions were served but not stored (the store was away or "
                     "the queue full): the counts above miss them")  # fmt: skip
    if experiment.kind == "interleave":
        return Report(experiment.name, experiment.kind, len(impressions), [], None, False,
                      _interleaving(per_impression, names), notes, lost)  # fmt: skip
    results = [_variant(per_impression[per_impression["variant"] == n], n) for n in names]
    control = per_impression[per_impression["variant"] == names[0]]
    compared = [results[0]]
    for result in results[1:]:
        treated = per_impression[per_impression["variant"] == result.variant]
        lift, p = _welch(_per_user(control)["clicked"], _per_user(treated)["clicked"])
        compared.append(replace(result, lift=lift, p_value=p))
    users = np.array([r.users for r in results], dtype=float)
    p_ratio = None
    if users.sum() > 0:
        expected = np.array([v.share for v in experiment.variants]) * users.sum()
        p_ratio = float(stats.chisquare(users, expected).pvalue)
        if users.sum() < 100:
            notes.append("fewer than 100 users: the sample-ratio check has little power")
    mismatch = p_ratio is not None and p_ratio < SRM_ALPHA
    return Report(experiment.name, experiment.kind, len(impressions), compared, p_ratio,
                  mismatch, None, notes, lost)  # fmt: skip


def attribute(
    experiment: Experiment,
    impressions: pd.DataFrame,
    outcomes: pd.DataFrame,
    event_weights: dict[str, float],
) -> pd.DataFrame:
    """One row per impression: variant, user_id, clicked, converted, value, and the
    positive outcomes credited to each interleaving team (``credit_0``, ``credit_1``)."""
    shown = impressions.reset_index(drop=True)
    out = shown[["variant", "user_id"]].assign(clicked=False, converted=False, value=0.0,
                                               credit_0=0, credit_1=0)  # fmt: skip
    if shown.empty or outcomes.empty:
        return out
    lengths = shown["items"].map(len).to_numpy()
    teams = [list(t) if t is not None else [-1] * n for t, n in zip(shown["teams"], lengths,
                                                                    strict=True)]  # fmt: skip
    rows = pd.DataFrame({
        "impression": np.repeat(shown.index.to_numpy(), lengths),
        "user_id": np.repeat(shown["user_id"].to_numpy(), lengths),
        "item_id": [i for items in shown["items"] for i in items],
        "team": [t for team in teams for t in team],
        "shown_at": np.repeat(shown["shown_at"].to_numpy(), lengths),
    })  # fmt: skip
    events = outcomes.reset_index(drop=True).assign(event=lambda f: f.index)
    joined = events.merge(rows, on=["user_id", "item_id"])
    # events are stored in whole seconds: one in the impression's own second follows it
    delay = joined["timestamp"].astype(float) - np.floor(joined["shown_at"])
    joined = joined[(delay >= 0) & (delay <= experiment.window_s)]
    if joined.empty:
        return out
    # last touch: each outcome goes to the latest impression that showed the item
    joined = joined.loc[joined.groupby("event")["shown_at"].idxmax()]
    policy = EventPolicy(event_weights)
    joined = joined.assign(
        weight=policy.weights_of(joined["event_type"]),
        positive=policy.positive_mask(joined["event_type"]),
        conversion=joined["event_type"].isin(experiment.conversions).to_numpy(),
    )
    by = joined.groupby("impression")
    touched = by.size().index
    out.loc[touched, "clicked"] = by["positive"].any().to_numpy()
    out.loc[touched, "converted"] = by["conversion"].any().to_numpy()
    out.loc[touched, "value"] = by["weight"].sum().to_numpy()
    credited = joined[joined["positive"] & (joined["team"] >= 0)]
    for team in (0, 1):
        counts = credited[credited["team"] == team].groupby("impression").size()
        out.loc[counts.index, f"credit_{team}"] = counts.to_numpy()
    return out


def _per_user(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.groupby("user_id")[["clicked", "converted", "value"]].mean()


def _estimate(values: pd.Series) -> Estimate:
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    mean = float(values.mean())
    if n < 2:
        return Estimate(mean, float("nan"), float("nan"))
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return Estimate(mean, mean - half, mean + half)


def _variant(rows: pd.DataFrame, name: str) -> VariantResult:
    users = _per_user(rows.astype({"clicked": float, "converted": float}))
    return VariantResult(
        variant=name,
        users=len(users),
        impressions=len(rows),
        click_through=float(rows["clicked"].mean()) if len(rows) else float("nan"),
        conversion=float(rows["converted"].mean()) if len(rows) else float("nan"),
        user_click_through=_estimate(users["clicked"]),
        user_conversion=_estimate(users["converted"]),
        user_value=_estimate(users["value"]),
    )


def _welch(control: pd.Series, treated: pd.Series) -> tuple[float | None, float | None]:
    """The relative lift of the treated per-user mean over the control's, and Welch's
    two-sided p-value (None when either side has fewer than two users)."""
    control, treated = control.astype(float), treated.astype(float)
    if len(control) < 2 or len(treated) < 2:
        return None, None
    base = control.mean()
    lift = float((treated.mean() - base) / base) if base > 0 else None
    if control.var(ddof=1) == 0 and treated.var(ddof=1) == 0:
        return lift, 1.0 if control.mean() == treated.mean() else 0.0
    with warnings.catch_warnings():  # near-identical arms: the p-value is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return lift, float(stats.ttest_ind(treated, control, equal_var=False).pvalue)


def _interleaving(rows: pd.DataFrame, names: list[str]) -> Interleaving:
    credits = rows.groupby("user_id")[["credit_0", "credit_1"]].sum()
    first = int((credits["credit_0"] > credits["credit_1"]).sum())
    second = int((credits["credit_1"] > credits["credit_0"]).sum())
    clicked = credits[(credits["credit_0"] + credits["credit_1"]) > 0]
    ties = len(clicked) - first - second
    decided = first + second
    p = float(stats.binomtest(first, decided, 0.5).pvalue) if decided else 1.0
    delta = (first - second) / len(clicked) if len(clicked) else 0.0
    return Interleaving({names[0]: first, names[1]: second}, ties, float(delta), p)

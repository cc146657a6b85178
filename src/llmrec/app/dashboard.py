"""What the admin dashboard shows of the data, the models and the experiments, as plain
data (the HTTP layer adds its own traffic figures): one call, so the page draws from one
consistent answer."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from llmrec.store.store import LAST_EVALUATION

if TYPE_CHECKING:
    from llmrec.app.service import Service

QUARANTINE_SHOWN = 50
ACTIVITY_DAYS = 60
VERSIONS_SHOWN = 20


def overview(service: Service) -> dict:
    """Counts, events per day and type (the last :data:`ACTIVITY_DAYS` days of data),
    the newest quarantined rows with their reasons, the published model versions, the
    served model (its sources and the ranker's held-out comparison) and the last offline
    evaluation (`llmrec evaluate`), and every experiment with the report of the running
    one (else the newest)."""
    store = service.store
    activity = store.events_per_day(ACTIVITY_DAYS)
    quarantine = store.quarantine_frame(limit=QUARANTINE_SHOWN)
    return {
        "generated_at": time.time(),
        "data": {
            "counts": store.counts(),
            "activity": activity.to_dict(orient="records"),
            "quarantine": quarantine.to_dict(orient="records"),
        },
        "models": _models(service),
        "experiments": _experiments(service),
    }


def _models(service: Service) -> dict:
    state = service.state
    model = state.model
    served = None
    if model is not None:
        ranker = model.ranker_
        served = {
            "version": state.version,
            "age_s": time.time() - state.loaded_at if state.loaded_at else None,
            "users": len(model.histories_),
            "items": len(model.item_ids_),
            "sources": list(model.active_sources_),
            "ranker": None if ranker is None else {
                "lists": ranker.groups_trained_,
                "cold_lists": ranker.cold_groups_trained_,
                "holdout_ndcg": _finite(ranker.holdout_ndcg_),
                "lead": ranker.lead_,
                "cold_lead": ranker.cold_lead_,
            },
        }  # fmt: skip
    newest = service.store.model_versions_frame().head(VERSIONS_SHOWN)
    versions = []
    for row in newest.itertuples(index=False):
        summary = (service.store.model_version(int(row.version)) or {}).get("summary")
        versions.append({"version": int(row.version), "published_at": float(row.published_at),
                         "bytes": int(row.bytes), "trainer": row.trainer, "summary": summary,
                         "served": row.version == state.version})  # fmt: skip
    return {"served": served, "versions": versions,
            "last_evaluation": service.store.meta(LAST_EVALUATION)}  # fmt: skip


def _experiments(service: Service) -> dict:
    listed = service.experiments.listed()
    shown = next((e for e in listed if e["status"] == "running"), listed[-1] if listed else None)
    report = None
    if shown is not None:
        found = service.experiments.report(shown["name"], service.settings.event_weights)
        report = _finite(found.to_dict())
    return {"listed": listed, "shown": shown["name"] if shown else None, "report": report}


def _finite(value: object) -> object:
    """NaN and infinities as None (JSON has no NaN), all the way down."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value

"""SASRec's own network: its dropout, its causal attention, its training windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from llmrec.models.sasrec import _Dropout, _Network, _training_windows


def test_dropout_drops_a_fraction_p_and_keeps_the_mean():
    x = torch.ones(1_000, 1_000)
    out = _Dropout(0.2, np.random.default_rng(0))(x)
    assert abs(float((out == 0).float().mean()) - 0.2) < 0.003
    assert abs(float(out.mean()) - 1.0) < 0.005
    assert torch.unique(out).tolist() == pytest.approx([0.0, 1.25], abs=1e-4)
    again = _Dropout(0.2, np.random.default_rng(0))(x)
    assert torch.equal(out, again)  # the seed decides the mask
    assert _Dropout(0.0, np.random.default_rng(0))(x) is x


def test_dropout_passes_gradients_through_kept_units_only():
    x = torch.ones(50, 50, requires_grad=True)
    out = _Dropout(0.5, np.random.default_rng(1))(x)
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # d(out)/dx is the scaled mask


def test_network_attends_only_to_earlier_positions():
    torch.manual_seed(0)
    network = _Network(n_items=20, dim=16, blocks=2, heads=2, max_len=6, dropout=0.2).eval()
    sequences = torch.tensor([[0, 3, 5, 7, 9, 11]])
    changed = sequences.clone()
    changed[0, -1] = 12
    with torch.no_grad():
        before, after = network(sequences), network(changed)
    assert torch.allclose(before[:, :-1], after[:, :-1], atol=1e-6)
    assert not torch.allclose(before[:, -1], after[:, -1])
    assert torch.equal(before, network(sequences))  # no dropout when evaluating


def test_network_training_needs_a_noise_source():
    network = _Network(n_items=20, dim=16, blocks=1, heads=1, max_len=4, dropout=0.2).train()
    with pytest.raises(ValueError, match="noise"):
        network(torch.tensor([[1, 2, 3, 4]]))
    one = network(torch.tensor([[1, 2, 3, 4]]), np.random.default_rng(0))
    two = network(torch.tensor([[1, 2, 3, 4]]), np.random.default_rng(0))
    assert torch.equal(one, two)


def test_training_windows_make_every_position_a_target_once():
    sequences = [np.arange(n) + 100 * k for k, n in enumerate([2, 3, 10, 11, 12, 37, 7])]
    inputs, targets = _training_windows(sequences, 10, np.random.default_rng(0))
    expected = sorted(int(v) + 1 for seq in sequences for v in seq[1:])
    assert sorted(targets[targets > 0].tolist()) == expected
    # each target is the item after its input: targets[:, c] follows inputs[:, c]
    rows, cols = np.nonzero(targets[:, :-1])
    assert np.array_equal(inputs[rows, cols + 1], targets[rows, cols])
    assert inputs.shape == targets.shape and inputs.shape[1] == 10


def test_training_windows_vary_an_items_context_between_epochs():
    sequence = [np.arange(200)]
    contexts = set()
    for epoch in range(5):
        inputs, targets = _training_windows(sequence, 20, np.random.default_rng(epoch))
        row, col = np.argwhere(targets == 100)[0]  # item 99's target cell
        contexts.add(int((inputs[row, : col + 1] > 0).sum()))
    assert len(contexts) > 1


def test_an_unknown_stop_metric_is_refused_before_training():
    from llmrec.models import Interactions, SASRec

    events = pd.DataFrame({"user_id": ["a"] * 4, "item_id": list("wxyz"), "timestamp": range(4)})
    data = Interactions.from_events(events.assign(timestamp=events["timestamp"].astype(float)))
    with pytest.raises(ValueError, match="stop_metric must be one of ndcg, ndcg@10, got 'mrr'"):
        SASRec(stop_metric="mrr").fit(data)


def _cycles(n_users: int, n_items: int, length: int) -> pd.DataFrame:
    """Each user walks the items in order from their own starting point."""
    rows = [
        (f"u{u}", f"i{(u + t) % n_items}", float(t)) for u in range(n_users) for t in range(length)
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_fit_more_trains_the_fitted_network_on_newer_events():
    from llmrec.models import Interactions, SASRec

    events = _cycles(40, 12, 8)
    items = pd.Index(sorted(events["item_id"].unique()))
    older = Interactions.from_events(events[events["timestamp"] < 6], item_ids=items)
    everything = Interactions.from_events(events, item_ids=items)
    model = SASRec(dim=16, inner=32, max_epochs=3, patience=3).fit(older)
    before = {k: v.clone() for k, v in model.network_.state_dict().items()}
    assert model.fit_more(everything, 2) is model and model.epochs_ == 5
    after = model.network_.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not model.network_.training  # ready to score
    assert model.score(everything.history(np.arange(3))).shape == (3, 12)
    fewer = Interactions.from_events(events[events["item_id"] != "i0"])
    with pytest.raises(ValueError, match="fit_more needs the 12 items fitted, got 11"):
        model.fit_more(fewer, 1)

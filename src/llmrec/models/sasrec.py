"""SASRec (Kang & McAuley, 2018): causal self-attention over a user's latest items,
predicting the next one. Trained with full softmax cross-entropy over the catalogue,
which beats the original sampled binary loss by a wide margin (Klenitskiy & Vasilev,
2023); above ``full_softmax_max_items`` a shared sample of negatives per batch is used.

Early stopping: each user's last training item is held out as validation; training stops
after ``patience`` epochs without a better validation NDCG@10 and the best weights are
kept. At scoring time the whole history is the input, so that held-out item still counts.
"""

from __future__ import annotations

import math
import os
from typing import Self

import numpy as np
import torch
from torch import nn

from llmrec.models.base import History, Interactions, Scorer


class _Network(nn.Module):
    def __init__(
        self, n_items: int, dim: int, blocks: int, heads: int, max_len: int, dropout: float
    ) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)  # 0 pads
        self.positions = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=dim * 2,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.scale = math.sqrt(dim)
        # Unit-scale inputs after the sqrt(dim) factor; N(0, 1) would make them 8× too large.
        nn.init.normal_(self.items.weight, std=dim**-0.5)
        nn.init.normal_(self.positions.weight, std=dim**-0.5)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        length = sequences.shape[1]
        x = self.items(sequences) * self.scale + self.positions.weight[:length]
        x = self.dropout(x) * (sequences > 0).unsqueeze(-1)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=sequences.device)
        return self.norm(self.encoder(x, mask=causal, is_causal=True))


def _left_padded(sequences: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for r, seq in enumerate(sequences):
        tail = seq[-length:] + 1
        if len(tail):
            out[r, -len(tail) :] = tail
    return out


class SASRec(Scorer):
    name = "sasrec"

    def __init__(
        self,
        dim: int = 64,
        blocks: int = 2,
        heads: int = 1,
        max_len: int = 200,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 10,
        full_softmax_max_items: int = 20_000,
        negatives: int = 1_024,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.blocks = blocks
        self.heads = heads
        self.max_len = max_len
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.full_softmax_max_items = full_softmax_max_items
        self.negatives = negatives
        self.threads = threads
        self.seed = seed

    def fit(self, data: Interactions) -> Self:
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        torch.set_num_threads(self.threads or len(os.sched_getaffinity(0)))
        self.n_items_ = data.n_items
        network = _Network(
            data.n_items, self.dim, self.blocks, self.heads, self.max_len, self.dropout
        )
        optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        # Training: each sequence without its last item, every position predicts the next.
        train = [s[:-1] for s in data.sequences if len(s) >= 3]
        valid_users = [s for s in data.sequences if len(s) >= 3]
        if not train:
            raise ValueError("SASRec needs users with at least 3 items to train")
        padded = _left_padded(train, self.max_len + 1)
        inputs, targets = torch.from_numpy(padded[:, :-1]), torch.from_numpy(padded[:, 1:])
        best, best_state, waited = -1.0, None, 0
        self.epochs_ = 0
        for epoch in range(self.max_epochs):
            network.train()
            for start in range(0, len(train), self.batch_size):
                order = slice(start, start + self.batch_size)
                loss = self._loss(network, inputs[order], targets[order], rng)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            shuffled = torch.from_numpy(rng.permutation(len(train)))
            inputs, targets = inputs[shuffled], targets[shuffled]
            ndcg = self._validate(network, valid_users)
            self.epochs_ = epoch + 1
            if ndcg > best:
                best, waited = ndcg, 0
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                waited += 1
                if waited >= self.patience:
                    break
        network.load_state_dict(best_state)
        network.eval()
        self.network_ = network
        self.validation_ndcg_ = best
        return self

    def _loss(
        self,
        network: _Network,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        rng: np.random.Generator,
    ) -> torch.Tensor:
        hidden = network(inputs)
        real = targets > 0
        hidden, wanted = hidden[real], targets[real]
        table = network.items.weight
        if self.n_items_ <= self.full_softmax_max_items:
            logits = hidden @ table[1:].T
            return nn.functional.cross_entropy(logits, wanted - 1)
        negatives = torch.from_numpy(rng.integers(1, self.n_items_ + 1, self.negatives))
        positive = (hidden * table[wanted]).sum(-1, keepdim=True)
        logits = torch.cat([positive, hidden @ table[negatives].T], dim=1)
        logits[:, 1:][negatives.unsqueeze(0) == wanted.unsqueeze(1)] = -torch.inf
        return nn.functional.cross_entropy(logits, torch.zeros(len(wanted), dtype=torch.long))

    def _validate(self, network: _Network, sequences: list[np.ndarray]) -> float:
        network.eval()
        prefixes = [s[:-1] for s in sequences]
        scores = self._scores(network, prefixes)
        for r, prefix in enumerate(prefixes):
            scores[r, prefix] = -np.inf
        wanted = np.array([s[-1] for s in sequences])
        rank = (scores > scores[np.arange(len(wanted)), wanted][:, None]).sum(axis=1)
        return float(np.where(rank < 10, 1.0 / np.log2(rank + 2), 0.0).mean())

    @torch.no_grad()
    def _scores(self, network: _Network, sequences: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(sequences), self.n_items_), dtype=np.float32)
        for start in range(0, len(sequences), 256):
            part = torch.from_numpy(_left_padded(sequences[start : start + 256], self.max_len))
            last = network(part)[:, -1]
            out[start : start + 256] = (last @ network.items.weight[1:].T).numpy()
        return out

    def score(self, history: History) -> np.ndarray:
        self._check_fitted()
        return self._scores(self.network_, history.sequences)

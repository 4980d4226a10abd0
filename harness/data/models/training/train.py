"""Seeded training of the DS-CNN on MFCC features (Adam, cosine learning rate, cross-entropy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from dscnn import DSCNN
from torch import nn


@dataclass(frozen=True)
class HyperParameters:
    epochs: int = 20
    batch_size: int = 100
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    seed: int = 0


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on features ``x`` with classes ``y``."""
    if len(x) == 0:
        return float("nan")
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(torch.from_numpy(x[i:i + 512])).argmax(-1) for i in range(0, len(x), 512)])
    return float((predicted.numpy() == y).mean())


def train(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, hp: HyperParameters,
          log: callable = print) -> tuple[DSCNN, list[dict]]:
    """The trained model (the epoch with the best validation accuracy) and per-epoch history."""
    torch.manual_seed(hp.seed)
    rng = np.random.default_rng([hp.seed, 0x7a1])
    model = DSCNN(dropout=hp.dropout).to(memory_format=torch.channels_last)  # faster depthwise kernels on CPU
    optimiser = torch.optim.AdamW(model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
    steps = hp.epochs * -(-len(x) // hp.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=hp.learning_rate, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, history = -1.0, None, []
    for epoch in range(hp.epochs):
        model.train()
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), hp.batch_size):
            batch = order[i:i + hp.batch_size]
            optimiser.zero_grad()
            inputs = torch.from_numpy(x[batch]).contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(inputs), torch.from_numpy(y[batch]))
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        val = accuracy(model, x_val, y_val)
        history.append({"epoch": epoch + 1, "loss": round(total / len(x), 4), "val_accuracy": round(val, 4)})
        log(f"epoch {epoch + 1}/{hp.epochs}: loss {total / len(x):.4f}, validation accuracy {val:.4f}")
        if val > best or best_state is None:
            best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.to(memory_format=torch.contiguous_format).eval(), history

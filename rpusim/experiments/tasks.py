"""What a run trains on and how it is scored: image classification (MNIST-like data sets).

A task turns a :class:`RunConfig` into data, a model, a loss per batch and an evaluation.
The training loop (:mod:`.train`) is the same for every task; more tasks (character
language models) register themselves in :data:`TASKS`.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from .config import RunConfig
from .models import build_model

TASKS: dict[str, Callable[[RunConfig], "Task"]] = {}


def register_task(name: str):
    def deco(cls):
        TASKS[name] = cls
        return cls
    return deco


class Task:
    """Interface of a task (see :class:`ImageClassification` for the reference one)."""

    metric_names: tuple[str, ...] = ()

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def n_steps(self) -> int:
        raise NotImplementedError

    def batches(self, epoch: int) -> Iterator:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch) -> Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        raise NotImplementedError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Generator of the data order of one epoch: the same for a resumed run."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def seeded_subset(n_total: int, n: int, seed: int) -> Tensor:
    if n <= 0 or n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed + 7919))[:n].sort().values


@register_task("classify")
class ImageClassification(Task):
    """Softmax classification with cross-entropy; the score is the test error (%)."""

    metric_names = ("test_error", "test_loss")

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        from ..data import load_image_dataset

        x_tr, y_tr = load_image_dataset(cfg.data.dataset, "train")
        x_te, y_te = load_image_dataset(cfg.data.dataset, "test")
        keep = seeded_subset(len(y_tr), cfg.data.train_limit, cfg.seed)
        self.x_train, self.y_train = x_tr[keep].reshape(-1, 1, 28, 28), y_tr[keep]
        n_test = cfg.data.test_limit or len(y_te)
        self.x_test, self.y_test = x_te[:n_test].reshape(-1, 1, 28, 28), y_te[:n_test]
        self.n_classes = int(y_tr.max()) + 1

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, tuple(self.x_train.shape[1:]), self.n_classes)

    def n_steps(self) -> int:
        return -(-len(self.y_train) // self.cfg.train.batch_size)

    def batches(self, epoch: int):
        order = torch.randperm(len(self.y_train), generator=epoch_generator(self.cfg.seed, epoch))
        bs = self.cfg.train.batch_size
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            yield self.x_train[idx], self.y_train[idx]

    def loss(self, model, batch):
        x, y = batch
        return nn.functional.cross_entropy(model(x), y)

    @torch.no_grad()
    def evaluate(self, model):
        model.eval()
        wrong, loss, bs = 0, 0.0, self.cfg.train.eval_batch_size
        for i in range(0, len(self.y_test), bs):
            x, y = self.x_test[i:i + bs], self.y_test[i:i + bs]
            logits = model(x)
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            wrong += int((logits.argmax(1) != y).sum())
        model.train()
        n = len(self.y_test)
        return {"test_error": 100.0 * wrong / n, "test_loss": loss / n}

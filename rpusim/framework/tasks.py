"""What a run trains on and how it is scored: the tasks a ``RunConfig`` names in ``task``.

A task turns a :class:`RunConfig` into data, a model, a loss per batch and an evaluation.
The training loop (:mod:`.train`) is the same for every task; :data:`TASKS` lists them:
``classify`` (images, MNIST-like data sets) and ``char_lm`` (character language models).

``char_lm`` (Gokmen, Rasch, Haensch 2018, Front. Neurosci. 12:745). Data
(:class:`~rpusim.data.CharCorpus`): ``data.dataset`` is 'warpeace' or 'tinyshakespeare' (BOM
stripped, CRLF → LF, vocabulary = sorted characters of the whole text; contiguous 90/5/5
train/valid/test split). ``data.train_limit`` > 0 keeps only the first N characters of the
training split, ``data.test_limit`` > 0 the first N of the validation and test splits.
Training: the training characters are cut into ``train.batch_size`` contiguous streams and
walked in windows of ``data.seq_len`` (truncated BPTT); the hidden state is carried from
window to window (detached) and reset to zero at the start of every epoch, so an epoch
depends only on the weights (bit-exact resume). Evaluation does the same on
``train.eval_batch_size`` streams of the split. Loss: mean cross-entropy per character in
nats; bits per character = nats / ln 2.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator

import torch
from torch import Tensor, nn

from ..data import CharCorpus, batchify, bptt_windows, load_image_dataset
from .device import resolve_device
from .network import build_network

if TYPE_CHECKING:
    from .config import RunConfig

LN2 = math.log(2)


class Task:
    """Interface of a task (see :class:`ImageClassification` for the reference one).

    A task keeps its data on :attr:`device` (``train.device`` resolved, see
    :func:`.device.resolve_device`): its batches and evaluation inputs are there, where the training
    loop puts the model."""

    metric_names: tuple[str, ...] = ()

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.device = resolve_device(cfg.train.device)

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


class ImageClassification(Task):
    """Softmax classification with cross-entropy; the score is the test error (%)."""

    metric_names = ("test_error", "test_loss")

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        x_tr, y_tr = load_image_dataset(cfg.data.dataset, "train")
        x_te, y_te = load_image_dataset(cfg.data.dataset, "test")
        keep = seeded_subset(len(y_tr), cfg.data.train_limit, cfg.seed)
        self.x_train = x_tr[keep].reshape(-1, 1, 28, 28).to(self.device)
        self.y_train = y_tr[keep].to(self.device)
        n_test = cfg.data.test_limit or len(y_te)
        self.x_test = x_te[:n_test].reshape(-1, 1, 28, 28).to(self.device)
        self.y_test = y_te[:n_test].to(self.device)
        self.n_classes = int(y_tr.max()) + 1

    def build_model(self) -> nn.Module:
        return build_network(self.cfg, tuple(self.x_train.shape[1:]), self.n_classes)

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


def detach_state(state: list) -> list:
    return [tuple(t.detach() for t in s) for s in state]


class CharLanguageModel(Task):
    """Next-character prediction; the score is the test cross-entropy in nats per character."""

    metric_names = ("test_loss_nats", "test_bits_per_char", "valid_loss_nats")

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        corpus = CharCorpus.load(cfg.data.dataset)
        self.vocab_size = corpus.vocab_size
        limit = cfg.data.train_limit or None
        self.train_streams = batchify(corpus.train[:limit], cfg.train.batch_size).to(self.device)
        eval_limit = cfg.data.test_limit or None
        self.eval_data = {"valid": corpus.valid[:eval_limit].to(self.device),
                          "test": corpus.test[:eval_limit].to(self.device)}
        self._state: list | None = None

    def build_model(self) -> nn.Module:
        return build_network(self.cfg, (self.vocab_size,), self.vocab_size)

    def n_steps(self) -> int:
        return -(-(self.train_streams.shape[1] - 1) // self.cfg.data.seq_len)

    def batches(self, epoch: int):
        self._state = None
        yield from bptt_windows(self.train_streams, self.cfg.data.seq_len)

    def loss(self, model, batch) -> Tensor:
        x, y = batch
        logits, state = model(x, self._state)
        self._state = detach_state(state)
        return nn.functional.cross_entropy(logits.reshape(-1, self.vocab_size), y.reshape(-1))

    @torch.no_grad()
    def cross_entropy(self, model, data: Tensor) -> float:
        """Mean cross-entropy (nats per character) of ``model`` on ``data``, state carried across windows."""
        streams = batchify(data, min(self.cfg.train.eval_batch_size, max(1, (data.numel() - 1) // 2)))
        total, count, state = 0.0, 0, None
        for x, y in bptt_windows(streams, self.cfg.data.seq_len):
            logits, state = model(x, state)
            total += float(nn.functional.cross_entropy(logits.reshape(-1, self.vocab_size), y.reshape(-1),
                                                       reduction="sum"))
            count += y.numel()
        return total / count

    def evaluate(self, model) -> dict[str, float]:
        model.eval()
        test = self.cross_entropy(model, self.eval_data["test"])
        valid = self.cross_entropy(model, self.eval_data["valid"])
        model.train()
        return {"test_loss_nats": test, "test_bits_per_char": test / LN2, "valid_loss_nats": valid}


TASKS: dict[str, type[Task]] = {"classify": ImageClassification, "char_lm": CharLanguageModel}

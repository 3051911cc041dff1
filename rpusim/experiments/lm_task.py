"""Character-level language modelling: the ``char_lm`` task and the ``lstm`` model family.

Model (Gokmen, Rasch, Haensch 2018; ``shared/papers.md`` §3): one-hot characters →
``len(model.hidden)`` stacked LSTM layers (one ``nn.LSTM`` each, so that ``layer_rpu``
indices are 0, 1, … for the LSTM layers and the last index for the output layer) →
dropout ``model.dropout`` after every LSTM layer (training only) → a linear softmax
output layer vocab × (h + 1). With ``model.analog`` each LSTM becomes an
:class:`~rpusim.nn.AnalogLSTM` and the output layer an :class:`~rpusim.nn.AnalogLinear`.

Data (:class:`~rpusim.data.CharCorpus`): ``data.dataset`` is 'warpeace' or
'tinyshakespeare' (BOM stripped, CRLF → LF, vocabulary = sorted characters of the whole
text; contiguous 90/5/5 train/valid/test split). ``data.train_limit`` > 0 keeps only the
first N characters of the training split, ``data.test_limit`` > 0 the first N of the
validation and test splits. Training: the training characters are cut into
``train.batch_size`` contiguous streams and walked in windows of ``data.seq_len``
(truncated BPTT); the hidden state is carried from window to window (detached) and reset
to zero at the start of every epoch, so an epoch depends only on the weights (bit-exact
resume). Evaluation does the same on ``train.eval_batch_size`` streams of the split.
Loss: mean cross-entropy per character in nats; bits per character = nats / ln 2.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import ConfigError
from ..data import CharCorpus, batchify, bptt_windows
from .config import RunConfig
from .models import build_model, register_model
from .tasks import Task, register_task

LN2 = math.log(2)


class CharLSTM(nn.Module):
    """One-hot input → stacked LSTM layers (dropout after each) → linear output (logits)."""

    def __init__(self, vocab_size: int, hidden: list[int], dropout: float = 0.0):
        super().__init__()
        self.vocab_size = vocab_size
        sizes = [vocab_size, *hidden]
        self.lstms = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(hidden)))
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden[-1], vocab_size)

    def forward(self, ids: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """Logits (B × T × vocab) for ids (B × T) and the final state of every layer."""
        x = nn.functional.one_hot(ids, self.vocab_size).to(torch.get_default_dtype())
        new_state = []
        for i, lstm in enumerate(self.lstms):
            x, s = lstm(x, None if state is None else state[i])
            new_state.append(s)
            x = self.drop(x)
        return self.decoder(x), new_state


@register_model("lstm")
def char_lstm(cfg: RunConfig, in_shape: tuple, n_out: int) -> nn.Module:
    if not cfg.model.hidden:
        raise ConfigError("model.hidden = []: the lstm model needs at least one layer size")
    return CharLSTM(int(in_shape[0]), list(cfg.model.hidden), cfg.model.dropout)


def detach_state(state: list) -> list:
    return [tuple(t.detach() for t in s) for s in state]


@register_task("char_lm")
class CharLanguageModel(Task):
    """Next-character prediction; the score is the test cross-entropy in nats per character."""

    metric_names = ("test_loss_nats", "test_bits_per_char", "valid_loss_nats")

    def __init__(self, cfg: RunConfig):
        super().__init__(cfg)
        corpus = CharCorpus.load(cfg.data.dataset)
        self.vocab_size = corpus.vocab_size
        limit = cfg.data.train_limit or None
        self.train_streams = batchify(corpus.train[:limit], cfg.train.batch_size)
        eval_limit = cfg.data.test_limit or None
        self.eval_data = {"valid": corpus.valid[:eval_limit], "test": corpus.test[:eval_limit]}
        self._state: list | None = None

    def build_model(self) -> nn.Module:
        return build_model(self.cfg, (self.vocab_size,), self.vocab_size)

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

"""Text corpora for language modelling: character-level (War and Peace, tiny Shakespeare), word-level PTB.

Character corpora (:func:`load_text`, :class:`CharCorpus`)
    * ``warpeace``: Tolstoy's War and Peace as used in Karpathy et al.'s char-rnn experiments. The
      file is UTF-8 with a byte-order mark and Windows CRLF line endings. :func:`load_text`
      strips the BOM and turns every CRLF into LF: the BOM is not text, and keeping ``\\r`` would
      make every line break two characters, i.e. a trivially predictable symbol inflating
      character-level accuracy. After this, the 3,258,246-byte file is 3,196,212 characters of 82
      distinct values.
    * ``tinyshakespeare``: char-rnn's tiny Shakespeare, already plain LF text (1,115,394
      characters, 65 distinct); the same normalisation is applied (it changes nothing).

    :class:`CharCorpus` maps characters to integer ids. Its vocabulary is the sorted set of the
    characters of the *whole* normalised text (so validation and test text have no unknown
    characters; ids follow Unicode code point order). The encoded text is split contiguously,
    without shuffling: the first 90% of the characters are training data, the next 5%
    validation, the last 5% test (``n_train = int(0.9 N)``, ``n_valid = int(0.05 N)``, test the rest).

Word-level Penn Treebank (:func:`load_ptb`, :class:`WordCorpus`)
    Mikolov's pre-processed PTB (10k words, rare ones as ``<unk>``). Each line is split on white
    space and followed by an ``"<eos>"`` token, as in PyTorch's word_language_model example
    (train: 929,589 tokens). :class:`WordCorpus` takes its vocabulary from the training split.

Truncated back-propagation through time (:func:`batchify`, :func:`bptt_windows`)
    A long id sequence is cut into ``B`` parallel streams (rows of a ``(B, L)`` tensor, stream
    ``b`` being the ``b``-th contiguous chunk of the text; the remainder that does not fill a
    full row is dropped). :func:`bptt_windows` then walks the streams left to right in windows of
    ``T`` steps and yields ``(input, target)`` of shape ``(B, T)``, target = input shifted by one
    character. Consecutive windows continue each stream exactly where the previous one stopped, so
    a recurrent network can carry its hidden state from one window to the next (detached).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rpusim.data.sources import find_file

__all__ = [
    "TEXT_CORPORA", "load_text", "normalize_text", "CharCorpus", "load_ptb", "WordCorpus",
    "batchify", "bptt_windows", "split_sizes",
]

#: Character corpora known to :func:`load_text` -> (data set name, file name).
TEXT_CORPORA = {
    "warpeace": ("warpeace", "warpeace_input.txt"),
    "tinyshakespeare": ("tinyshakespeare", "input.txt"),
}
#: Fractions of the characters in the train / valid / test splits of :class:`CharCorpus`.
SPLIT_FRACTIONS = (0.90, 0.05, 0.05)


def normalize_text(text: str) -> str:
    """Strip a leading byte-order mark and replace CRLF line endings by LF."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


@functools.lru_cache(maxsize=4)
def _read_text_cached(path: str, mtime_ns: int, size: int) -> str:
    return normalize_text(Path(path).read_text(encoding="utf-8"))


def load_text(name: str) -> str:
    """The normalised text of corpus ``name`` ('warpeace' or 'tinyshakespeare'), see module doc."""
    try:
        dataset, filename = TEXT_CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown text corpus {name!r}; allowed: {', '.join(TEXT_CORPORA)}") from None
    path = find_file(dataset, filename)
    st = path.stat()
    return _read_text_cached(str(path), st.st_mtime_ns, st.st_size)


def split_sizes(n: int, fractions: Sequence[float] = SPLIT_FRACTIONS) -> tuple[int, int, int]:
    """Sizes (train, valid, test) of a contiguous split of ``n`` items: int(0.9n), int(0.05n), rest."""
    n_train, n_valid = int(fractions[0] * n), int(fractions[1] * n)
    return n_train, n_valid, n - n_train - n_valid


@dataclass(eq=False)
class CharCorpus:
    """A character-level corpus: vocabulary, encoding and the contiguous 90/5/5 split.

    Build with :meth:`load` (a named corpus) or :meth:`from_text`. ``ids`` is the whole encoded
    text (int64); ``train``, ``valid``, ``test`` are contiguous slices of it.
    """

    text: str
    vocab: tuple[str, ...] = field(init=False)
    ids: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vocab = tuple(sorted(set(self.text)))
        self._codepoints = np.array([ord(c) for c in self.vocab], dtype=np.uint32)
        self._index = {c: i for i, c in enumerate(self.vocab)}
        self.ids = self.encode(self.text)
        self._sizes = split_sizes(len(self.ids))

    @classmethod
    def from_text(cls, text: str) -> CharCorpus:
        return cls(text)

    @classmethod
    def load(cls, name: str) -> CharCorpus:
        """The corpus of :func:`load_text(name) <load_text>`."""
        return cls(load_text(name))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, s: str) -> torch.Tensor:
        """Ids (int64 tensor) of the characters of ``s``; KeyError for a character not in the vocabulary."""
        cps = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
        pos = np.searchsorted(self._codepoints, cps)
        bad = (pos >= len(self._codepoints)) | (self._codepoints[np.minimum(pos, len(self._codepoints) - 1)] != cps)
        if bad.any():
            ch = chr(int(cps[np.flatnonzero(bad)[0]]))
            raise KeyError(f"character {ch!r} is not in the corpus vocabulary")
        return torch.from_numpy(pos.astype(np.int64))

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """The string of the ids (a 1-D tensor or sequence of ints)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.vocab[i] for i in ids)

    @property
    def split_sizes(self) -> tuple[int, int, int]:
        """Number of characters in (train, valid, test)."""
        return self._sizes

    @property
    def train(self) -> torch.Tensor:
        return self.ids[: self._sizes[0]]

    @property
    def valid(self) -> torch.Tensor:
        return self.ids[self._sizes[0]: self._sizes[0] + self._sizes[1]]

    @property
    def test(self) -> torch.Tensor:
        return self.ids[self._sizes[0] + self._sizes[1]:]


_PTB_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
EOS = "<eos>"


@functools.lru_cache(maxsize=3)
def _ptb_cached(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    tokens: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            tokens.extend(line.split())
            tokens.append(EOS)
    return tuple(tokens)


def load_ptb(split: str = "train") -> list[str]:
    """Penn Treebank ``split`` ('train', 'valid', 'test') as a token list; each line ends with '<eos>'."""
    if split not in _PTB_FILES:
        raise ValueError(f"PTB split must be one of {tuple(_PTB_FILES)}, got {split!r}")
    path = find_file("ptb", _PTB_FILES[split])
    st = path.stat()
    return list(_ptb_cached(str(path), st.st_mtime_ns, st.st_size))


@dataclass(eq=False)
class WordCorpus:
    """Word-level PTB: vocabulary (sorted words of the training split, including '<eos>') and ids."""

    vocab: tuple[str, ...]
    train: torch.Tensor = field(repr=False)
    valid: torch.Tensor = field(repr=False)
    test: torch.Tensor = field(repr=False)

    @classmethod
    def ptb(cls) -> WordCorpus:
        splits = {s: load_ptb(s) for s in _PTB_FILES}
        vocab = tuple(sorted(set(splits["train"])))
        index = {w: i for i, w in enumerate(vocab)}

        def enc(tokens: list[str]) -> torch.Tensor:
            try:
                return torch.tensor([index[w] for w in tokens], dtype=torch.int64)
            except KeyError as e:
                raise KeyError(f"PTB word {e.args[0]!r} not in the training vocabulary") from None

        return cls(vocab, enc(splits["train"]), enc(splits["valid"]), enc(splits["test"]))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return [self.vocab[i] for i in ids]


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a 1-D id sequence into ``batch_size`` contiguous streams: a ``(batch_size, L)`` tensor.

    Row ``b`` is ``data[b*L:(b+1)*L]`` with ``L = len(data) // batch_size``; the last
    ``len(data) % batch_size`` items are dropped. Returns a view (no copy).
    """
    if data.dim() != 1:
        raise ValueError(f"batchify expects a 1-D tensor, got shape {tuple(data.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    length = data.numel() // batch_size
    if length < 2:
        raise ValueError(f"{data.numel()} items are too few for {batch_size} streams of >= 2 items")
    return data[: length * batch_size].view(batch_size, length)


def bptt_windows(streams: torch.Tensor, seq_len: int, *, drop_last: bool = False
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield consecutive ``(input, target)`` windows of shape ``(B, seq_len)`` over ``(B, L)`` streams.

    Window ``k`` is ``input = streams[:, k*T : k*T+T]`` and ``target = streams[:, k*T+1 : k*T+T+1]``.
    There are ``ceil((L-1)/T)`` windows; the last one is shorter if ``T`` does not divide ``L-1``
    (skipped with ``drop_last``). Carry the hidden state between windows.
    """
    if streams.dim() != 2:
        raise ValueError(f"bptt_windows expects (B, L) streams (see batchify), got {tuple(streams.shape)}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    length = streams.shape[1]
    for start in range(0, length - 1, seq_len):
        t = min(seq_len, length - 1 - start)
        if drop_last and t < seq_len:
            return
        yield streams[:, start: start + t], streams[:, start + 1: start + 1 + t]

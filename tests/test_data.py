"""Tests of rpusim.data: IDX files, checksums and lookup order, real data sets, text corpora, BPTT windows."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rpusim.data import (
    DATASETS,
    ChecksumError,
    CharCorpus,
    DataNotFoundError,
    DatasetSpec,
    FileSpec,
    IDXError,
    batchify,
    bptt_windows,
    find_file,
    load_fashion_mnist,
    load_image_dataset,
    load_mnist,
    load_mnist_small,
    load_ptb,
    load_text,
    read_idx,
    search_dirs,
    subset,
    write_idx,
)
from rpusim.data import sources

SHARED = sources.shared_data_root()
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mnist_labels() -> Path:
    """The real MNIST test labels, found by the normal lookup before a test isolates it (``isolated``)."""
    return find_file("mnist", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $RPUSIM_DATA, download cache in tmp, fresh verification cache."""
    monkeypatch.delenv("RPUSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sources.clear_verification_cache()
    yield tmp_path
    sources.clear_verification_cache()


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    p_img = write_idx(tmp_path / name, images)
    p_lbl = write_idx(tmp_path / "labels-idx1-ubyte.gz", labels)
    assert (p_img.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    got = read_idx(p_img, ndim=3)
    assert got.dtype == np.uint8 and got.shape == (7, 28, 28) and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(p_lbl, ndim=1), labels)


def test_idx_other_dtypes(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx", arr)), arr)
    arr = np.arange(-5, 5, dtype=np.int32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "i.idx.gz", arr)), arr)


def test_idx_header_errors_name_the_file(tmp_path):
    good = tmp_path / "x-idx3-ubyte"
    write_idx(good, np.zeros((4, 5, 6), np.uint8))
    raw = good.read_bytes()

    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(IDXError, match=r"bad-magic.*magic number"):
        read_idx(bad_magic)

    with pytest.raises(IDXError, match=r"x-idx3-ubyte.*expected an idx1 file"):
        read_idx(good, ndim=1)

    truncated = tmp_path / "truncated"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(IDXError, match=r"truncated.*\(4, 5, 6\).*110 bytes"):
        read_idx(truncated)

    trailing = tmp_path / "trailing"
    trailing.write_bytes(raw + b"\0\0")
    with pytest.raises(IDXError, match="2 unexpected trailing bytes"):
        read_idx(trailing)

    short_header = tmp_path / "short"
    short_header.write_bytes(raw[:9])
    with pytest.raises(IDXError, match="short.*truncated header"):
        read_idx(short_header)

    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(raw, mtime=0)[:-30])
    with pytest.raises(IDXError, match=r"cut\.gz.*truncated gzip"):
        read_idx(gz)


# ---------------------------------------------------------------- registry, checksums, lookup

def test_registry_lists_datasets_with_checksums():
    assert set(DATASETS) == {"mnist", "fashion-mnist", "warpeace", "tinyshakespeare", "ptb"}
    for spec in DATASETS.values():
        assert spec.mirrors and spec.files
        for f in spec.files:
            assert len(f.md5) == 32 and int(f.md5, 16) >= 0
    assert DATASETS["mnist"].file("train-images-idx3-ubyte.gz").md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert DATASETS["fashion-mnist"].file("train-labels-idx1-ubyte.gz").md5 == "25c81989df183df01b3e8a0aad5dffbe"
    assert any("ossci-datasets" in m for m in DATASETS["mnist"].mirrors)
    assert any("yann.lecun.com" in m for m in DATASETS["mnist"].mirrors)


@pytest.mark.parametrize("name", ["mnist", "warpeace", "tinyshakespeare", "ptb"])
def test_shared_copies_match_registry(name):
    spec = DATASETS[name]
    if not (SHARED / name).is_dir():
        pytest.skip(f"{SHARED / name} not present")
    for f in spec.files:
        assert md5(SHARED / name / f.filename) == f.md5


def _toy_spec(tmp_path) -> tuple[DatasetSpec, bytes]:
    payload = gzip.compress(b"toy data set\n" * 10, mtime=0)
    spec = DatasetSpec(name="toy", description="test", files=(FileSpec("toy.gz", hashlib.md5(payload).hexdigest()),),
                       mirrors=("http://127.0.0.1:9/",), system_dirs=(tmp_path / "sys" / "toy",))
    return spec, payload


def test_lookup_order(isolated, monkeypatch):
    tmp = isolated
    spec, payload = _toy_spec(tmp)
    env1, env2 = tmp / "env1", tmp / "env2"
    monkeypatch.setenv("RPUSIM_DATA", os.pathsep.join([str(env1), str(env2)]))
    monkeypatch.setattr(sources, "shared_data_root", lambda: tmp / "shared")
    assert search_dirs(spec) == [env1 / "toy", env2 / "toy", tmp / "shared" / "toy",
                                 tmp / "sys" / "toy", tmp / "cache" / "rpusim" / "toy"]
    # fill from the back; each time the new, earlier location must win
    for d in reversed(search_dirs(spec)):
        d.mkdir(parents=True)
        (d / "toy.gz").write_bytes(payload)
        assert find_file(spec, "toy.gz") == d / "toy.gz"


@pytest.mark.data("mnist")
def test_lookup_real_mnist_via_env(mnist_labels, isolated, monkeypatch):
    src = mnist_labels
    root = isolated / "mydata"
    (root / "mnist").mkdir(parents=True)
    shutil.copy(src, root / "mnist")
    # the new root first, then the root the real copy came from (shared data, $RPUSIM_DATA or cache)
    monkeypatch.setenv("RPUSIM_DATA", os.pathsep.join([str(root), str(src.parent.parent)]))
    assert find_file("mnist", "t10k-labels-idx1-ubyte.gz") == root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    # a file that is only in a later root is still found there
    assert find_file("mnist", "t10k-images-idx3-ubyte.gz").parent == src.parent
    # a gunzipped copy is accepted through its content checksum
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    (root / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(src.read_bytes()))
    assert find_file("mnist", "t10k-labels-idx1-ubyte.gz").name == "t10k-labels-idx1-ubyte"


@pytest.mark.data("mnist")
def test_corrupt_file_error_names_path_and_md5(mnist_labels, isolated, monkeypatch):
    src = mnist_labels
    root = isolated / "mydata"
    (root / "mnist").mkdir(parents=True)
    bad = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(src.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("RPUSIM_DATA", str(root))
    with pytest.raises(ChecksumError) as e:
        find_file("mnist", "t10k-labels-idx1-ubyte.gz")
    assert str(bad) in str(e.value) and "ec29112dd5afa0611ce80d1b7f02629c" in str(e.value)


def test_verification_is_cached_per_mtime_and_size(isolated, monkeypatch):
    spec, payload = _toy_spec(isolated)
    monkeypatch.setenv("RPUSIM_DATA", str(isolated / "env"))
    (isolated / "env" / "toy").mkdir(parents=True)
    p = isolated / "env" / "toy" / "toy.gz"
    p.write_bytes(payload)
    calls = []
    real = sources.file_md5
    monkeypatch.setattr(sources, "file_md5", lambda path: calls.append(path) or real(path))
    find_file(spec, "toy.gz")
    find_file(spec, "toy.gz")
    assert len(calls) == 1
    p.write_bytes(payload[:-1] + b"X")  # changed size or mtime -> checked again, and fails
    os.utime(p, ns=(1, 1))
    with pytest.raises(ChecksumError):
        find_file(spec, "toy.gz")


def test_missing_file_lists_places_and_remedies(isolated, monkeypatch):
    spec, _ = _toy_spec(isolated)
    monkeypatch.setenv("RPUSIM_DATA", str(isolated / "env"))
    with pytest.raises(DataNotFoundError) as e:
        find_file(spec, "toy.gz")
    msg = str(e.value)
    for d in search_dirs(spec):
        assert str(d) in msg
    assert "rpusim data download toy" in msg and "RPUSIM_DATA" in msg
    assert isinstance(e.value, FileNotFoundError)


# ---------------------------------------------------------------- real image data

@pytest.mark.data("mnist")
def test_mnist_train_real():
    x, y = load_mnist("train")
    assert x.shape == (60000, 784) and x.dtype == torch.float32
    assert y.shape == (60000,) and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.bincount(y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    # cached: a second call is equal, and a fresh tensor the caller may modify
    x2, y2 = load_mnist("train")
    assert x2 is not x and torch.equal(y2, y)
    x2.zero_()
    assert float(load_mnist("train")[0].max()) == 1.0


@pytest.mark.data("mnist")
def test_mnist_test_and_generic_loader():
    x, y = load_image_dataset("mnist", "test")
    assert x.shape == (10000, 784) and y.shape == (10000,)
    with pytest.raises(ValueError, match="allowed: mnist, fashion-mnist, mnist-small"):
        load_image_dataset("cifar10", "train")
    with pytest.raises(ValueError, match="split"):
        load_mnist("valid")


@pytest.mark.data("fashion-mnist")
def test_fashion_mnist_real():
    x, y = load_fashion_mnist("train")
    assert x.shape == (60000, 784) and torch.bincount(y).tolist() == [6000] * 10
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 784) and torch.bincount(y).tolist() == [1000] * 10
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_mnist_small_split():
    xtr, ytr = load_mnist_small("train")
    xte, yte = load_mnist_small("test")
    assert xtr.shape == (4000, 784) and xte.shape == (1000, 784)
    assert ytr.dtype == torch.int64 and xtr.dtype == torch.float32
    assert torch.bincount(ytr).tolist() == [400] * 10 and torch.bincount(yte).tolist() == [100] * 10
    assert ytr[:10].tolist() == list(range(10))  # classes interleaved, not sorted
    # deterministic and disjoint
    assert torch.equal(load_mnist_small("train")[0], xtr)
    train_rows = {r.numpy().tobytes() for r in (xtr * 255).round().to(torch.uint8)}
    test_rows = {r.numpy().tobytes() for r in (xte * 255).round().to(torch.uint8)}
    assert len(train_rows & test_rows) <= 5  # at most accidental duplicates in the data itself
    assert load_image_dataset("mnist-small", "test", limit=100)[0].shape == (100, 784)


def test_subset_deterministic():
    x = torch.arange(100).float().unsqueeze(1)
    y = torch.arange(100)
    a = subset(x, y, 10, seed=3)
    b = subset(x, y, 10, seed=3)
    c = subset(x, y, 10, seed=4)
    assert torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])
    assert torch.equal(a[0].squeeze(1).long(), a[1]) and len(set(a[1].tolist())) == 10
    assert a[1].tolist() == sorted(a[1].tolist())
    with pytest.raises(ValueError):
        subset(x, y, 101)


# ---------------------------------------------------------------- text

@pytest.mark.data("warpeace")
def test_warpeace_normalised_and_split():
    text = load_text("warpeace")
    assert "\ufeff" not in text and "\r" not in text
    assert text.startswith('"Well, Prince, so Genoa and Lucca')
    corpus = CharCorpus.from_text(text)
    assert corpus.vocab == tuple(sorted(set(text))) and corpus.vocab_size == 82
    n = len(text)
    ntr, nva, nte = corpus.split_sizes
    assert ntr + nva + nte == n == 3196212
    assert (ntr, nva) == (int(0.9 * n), int(0.05 * n))
    assert len(corpus.train) == ntr and len(corpus.valid) == nva and len(corpus.test) == nte
    assert torch.equal(torch.cat([corpus.train, corpus.valid, corpus.test]), corpus.ids)
    assert corpus.decode(corpus.valid[:200]) == text[ntr:ntr + 200]


@pytest.mark.data("tinyshakespeare")
def test_char_corpus_encode_decode():
    c = CharCorpus.from_text("hello world\n")
    assert c.vocab == ("\n", " ", "d", "e", "h", "l", "o", "r", "w")
    ids = c.encode("hold")
    assert ids.dtype == torch.int64 and c.decode(ids) == "hold"
    with pytest.raises(KeyError, match="'z'"):
        c.encode("zebra")
    shakespeare = CharCorpus.load("tinyshakespeare")
    assert len(shakespeare.ids) == 1115394 and shakespeare.vocab_size == 65


def test_load_text_unknown():
    with pytest.raises(ValueError, match="warpeace, tinyshakespeare"):
        load_text("hamlet")


@pytest.mark.data("ptb")
def test_ptb_tokens():
    valid = load_ptb("valid")
    assert valid.count("<eos>") == 3370
    assert len(valid) == 73760
    with open(find_file("ptb", "ptb.valid.txt")) as f:
        first = f.readline().split()
    assert valid[: len(first) + 1] == first + ["<eos>"]


# ---------------------------------------------------------------- BPTT windows

def test_batchify_and_bptt_windows():
    data = torch.arange(103)
    streams = batchify(data, 4)  # 4 streams of 25, 3 items dropped
    assert streams.shape == (4, 25)
    assert torch.equal(streams[1], torch.arange(25, 50))
    windows = list(bptt_windows(streams, 7))
    assert len(windows) == 4  # ceil(24 / 7)
    assert [w[0].shape for w in windows] == [(4, 7)] * 3 + [(4, 3)]
    for x, y in windows:
        assert torch.equal(y, x + 1)  # target = next character, per stream
    # windows are contiguous per stream: concatenated inputs are the stream minus its last item
    assert torch.equal(torch.cat([x for x, _ in windows], 1), streams[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], 1), streams[:, 1:])
    for (x0, y0), (x1, _) in zip(windows, windows[1:]):
        assert torch.equal(x1[:, 0], y0[:, -1])
    assert len(list(bptt_windows(streams, 7, drop_last=True))) == 3


@pytest.mark.data("tinyshakespeare")
def test_bptt_on_real_corpus():
    corpus = CharCorpus.load("tinyshakespeare")
    streams = batchify(corpus.train, 16)
    x, y = next(bptt_windows(streams, 50))
    assert x.shape == y.shape == (16, 50)
    assert corpus.decode(x[0, 1:]) == corpus.decode(y[0, :-1])
    assert corpus.decode(x[0]) == corpus.text[:50]

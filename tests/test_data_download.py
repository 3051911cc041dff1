"""Tests of rpusim.data.download against local HTTP servers on 127.0.0.1 (no internet needed)."""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from rpusim.data import DatasetSpec, DownloadError, FileSpec, download, read_idx, write_idx
from rpusim.data import sources


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve():
    """serve(directory) -> base URL of an HTTP server on 127.0.0.1 (random port) serving that folder."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A small IDX data set (images + labels, gzipped) in tmp/good, a corrupted copy in tmp/bad."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sources.clear_verification_cache()
    rng = np.random.default_rng(1)
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 20, dtype=np.uint8)
    files = []
    for name, arr in (("toy-images-idx3-ubyte.gz", images), ("toy-labels-idx1-ubyte.gz", labels)):
        data = write_idx(good / name, arr).read_bytes()
        files.append(FileSpec(name, hashlib.md5(data).hexdigest()))
        corrupted = bytearray(data)
        corrupted[len(corrupted) // 2] ^= 0x55
        (bad / name).write_bytes(bytes(corrupted))
    spec = DatasetSpec(name="toy", description="generated test data", files=tuple(files), mirrors=())
    return spec, good, bad, images, labels


def test_download_success(toy, serve, tmp_path):
    spec, good, _, images, labels = toy
    paths = download(spec, tmp_path / "data", mirrors=[serve(good)], log=None)
    assert paths == [tmp_path / "data" / "toy" / f.filename for f in spec.files]
    np.testing.assert_array_equal(read_idx(paths[0]), images)
    np.testing.assert_array_equal(read_idx(paths[1]), labels)
    assert sorted(p.name for p in (tmp_path / "data" / "toy").iterdir()) == sorted(f.filename for f in spec.files)
    # present and valid -> not fetched again (the mirror is gone now)
    again = download(spec, tmp_path / "data", mirrors=["http://127.0.0.1:9/"], log=None)
    assert again == paths


def test_download_default_dest_is_cache(toy, serve, tmp_path):
    spec, good, *_ = toy
    paths = download(spec, mirrors=[serve(good)], files=["toy-labels-idx1-ubyte.gz"], log=None)
    assert paths == [tmp_path / "cache" / "rpusim" / "toy" / "toy-labels-idx1-ubyte.gz"]
    assert sources.find_file(spec, "toy-labels-idx1-ubyte.gz") == paths[0]


def test_download_checksum_mismatch_leaves_nothing(toy, serve, tmp_path):
    spec, _, bad, *_ = toy
    dest = tmp_path / "data"
    with pytest.raises(DownloadError) as e:
        download(spec, dest, mirrors=[serve(bad)], log=None)
    msg = str(e.value)
    assert spec.files[0].md5 in msg and "checksum mismatch" in msg
    assert list((dest / "toy").iterdir()) == []  # no partial or temporary file left


def test_download_falls_through_to_next_mirror(toy, serve, tmp_path):
    spec, good, bad, images, _ = toy
    empty = tmp_path / "empty"
    empty.mkdir()
    mirrors = [serve(bad), serve(empty), "http://127.0.0.1:9/", serve(good)]  # corrupt, 404, refused, ok
    lines: list[str] = []
    paths = download(spec, tmp_path / "data", mirrors=mirrors, log=lines.append)
    np.testing.assert_array_equal(read_idx(paths[0]), images)
    assert sum("downloading" in line for line in lines) == 2 * len(mirrors)
    assert sorted(p.name for p in (tmp_path / "data" / "toy").iterdir()) == sorted(f.filename for f in spec.files)


def test_download_all_mirrors_fail_lists_attempts(toy, serve, tmp_path):
    spec, _, bad, *_ = toy
    empty = tmp_path / "empty"
    empty.mkdir()
    urls = [serve(bad), serve(empty)]
    with pytest.raises(DownloadError) as e:
        download(spec, tmp_path / "data", mirrors=urls, log=None)
    msg = str(e.value)
    assert all(u in msg for u in urls) and "404" in msg and spec.files[0].md5 in msg


def test_download_replaces_corrupt_existing_file(toy, serve, tmp_path):
    spec, good, bad, *_ = toy
    target = tmp_path / "data" / "toy"
    target.mkdir(parents=True)
    name = spec.files[1].filename
    (target / name).write_bytes((bad / name).read_bytes())
    [path] = download(spec, tmp_path / "data", mirrors=[serve(good)], files=[name], log=None)
    assert path.read_bytes() == (good / name).read_bytes()


def test_unknown_dataset_name():
    with pytest.raises(KeyError, match="known: fashion-mnist, mnist, ptb"):
        download("imagenet", log=None)

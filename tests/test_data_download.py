"""Tests of rpusim.data.download (download, ensure) against local HTTP servers on 127.0.0.1 (no internet needed)."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.data import DatasetSpec, DownloadError, FileSpec, download, ensure, read_idx, write_idx
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
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in paths)  # readable like any data file
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
    assert not dest.exists()  # no partial or temporary file left, nor the folders made for them


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


def test_unanswered_mirrors_mark_the_error_unreachable(toy, serve, tmp_path):
    spec, *_ = toy
    with pytest.raises(DownloadError) as refused:
        download(spec, tmp_path / "data", mirrors=["http://127.0.0.1:9/"], log=None)
    assert refused.value.unreachable
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DownloadError) as not_found:  # 404 after a refused one: a mirror answered
        download(spec, tmp_path / "data", mirrors=["http://127.0.0.1:9/", serve(empty)], log=None)
    assert not not_found.value.unreachable


# ---------------------------------------------------------------- ensure: what install.sh runs

def _as(spec: DatasetSpec, name: str, *mirrors: str) -> DatasetSpec:
    return dataclasses.replace(spec, name=name, mirrors=mirrors)


def test_ensure_fetches_only_what_no_location_has(toy, serve, tmp_path, monkeypatch):
    spec, good, *_ = toy
    local = tmp_path / "local"
    monkeypatch.setenv("RPUSIM_DATA", str(local))
    url = serve(good)
    refused = "http://127.0.0.1:9/"  # any attempt to download from here fails the test
    complete, partial, absent = _as(spec, "complete", refused), _as(spec, "partial", url), _as(spec, "absent", url)
    for name in ("complete", "partial"):
        (local / name).mkdir(parents=True)
    for f in spec.files:
        shutil.copy(good / f.filename, local / "complete")
    shutil.copy(good / spec.files[0].filename, local / "partial")
    lines: list[str] = []
    assert ensure([complete, partial, absent], log=lines.append) == []
    cache = tmp_path / "cache" / "rpusim"
    assert sorted(p.name for p in (cache / "partial").iterdir()) == [spec.files[1].filename]
    assert sorted(p.name for p in (cache / "absent").iterdir()) == sorted(f.filename for f in spec.files)
    assert not (cache / "complete").exists()
    assert sum("downloaded, md5 ok" in line for line in lines) == 3
    assert lines[-1].startswith("data: complete found locally")
    lines.clear()
    assert ensure([complete, partial, absent], log=lines.append) == []  # second time: all found, no request
    assert lines == ["data: complete, partial, absent found locally (`rpusim data list` shows where)"]


def test_ensure_offline_says_in_one_line_what_is_missing_and_stops_trying(toy, serve, tmp_path, monkeypatch):
    spec, good, *_ = toy
    monkeypatch.setenv("RPUSIM_DATA", str(tmp_path / "local"))
    first = _as(spec, "first", "http://127.0.0.1:9/", "http://127.0.0.1:9/")  # no mirror answers
    second = _as(spec, "second", serve(good))  # would work, but is not tried once offline is seen
    lines: list[str] = []
    assert ensure([first, second], log=lines.append) == ["first", "second"]
    assert len(lines) == 1
    assert lines[0].startswith("data: missing first, second (no download mirror answered: offline?)")
    assert "rpusim data ensure" in lines[0] and "RPUSIM_DATA=DIR" in lines[0]
    assert not (tmp_path / "cache" / "rpusim" / "second").exists()


def test_ensure_reports_a_bad_mirror_and_goes_on(toy, serve, tmp_path, monkeypatch):
    spec, good, bad, *_ = toy
    monkeypatch.setenv("RPUSIM_DATA", str(tmp_path / "local"))
    lines: list[str] = []
    missing = ensure([_as(spec, "corrupt", serve(bad)), _as(spec, "fine", serve(good))], log=lines.append)
    assert missing == ["corrupt"]
    assert any("checksum mismatch" in line and spec.files[0].md5 in line for line in lines)
    assert lines[-1].startswith("data: missing corrupt (download failed, see above)")
    assert not (tmp_path / "cache" / "rpusim" / "corrupt").exists()  # nothing partial left
    assert len(list((tmp_path / "cache" / "rpusim" / "fine").iterdir())) == len(spec.files)


@pytest.fixture(scope="module")
def real_mnist_dir() -> Path:
    """The folder of the real MNIST files, found by the normal lookup before a test hides it."""
    return sources.find_file("mnist", "t10k-labels-idx1-ubyte.gz").parent


@pytest.mark.data("mnist")
def test_cli_ensure_real_mnist_from_a_mirrored_data_root(real_mnist_dir, toy, serve, tmp_path, monkeypatch):
    monkeypatch.setenv("RPUSIM_DATA", str(tmp_path / "local"))
    monkeypatch.setattr(sources, "shared_data_root", lambda: tmp_path / "no-shared")
    root = tmp_path / "mirror-root"
    root.mkdir()
    (root / "mnist").symlink_to(real_mnist_dir)
    runner = CliRunner()
    offline = runner.invoke(app, ["data", "ensure", "mnist", "--mirror", "http://127.0.0.1:9/"])
    assert offline.exit_code == 1 and offline.output.count("\n") == 1 and "missing mnist" in offline.output
    fetched = runner.invoke(app, ["data", "ensure", "mnist", "--mirror", serve(root)])
    assert fetched.exit_code == 0, fetched.output
    assert fetched.output.count("downloaded, md5 ok") == 4
    cache = tmp_path / "cache" / "rpusim" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f.filename for f in sources.DATASETS["mnist"].files)
    again = runner.invoke(app, ["data", "ensure", "mnist", "--mirror", "http://127.0.0.1:9/"])
    assert again.exit_code == 0 and again.output.startswith("data: mnist found locally")
    unknown = runner.invoke(app, ["data", "ensure", "mnist", "imagenet"])
    assert unknown.exit_code == 2 and "'imagenet': unknown" in unknown.output

"""Download the data sets of :data:`rpusim.data.sources.DATASETS` from their standard mirrors.

For each file, each mirror is tried in turn: the response is streamed to a temporary file
(``.<name>.<random>.part``) in the target directory while its md5 is computed; if the checksum
matches, the temporary file is renamed onto the final name with :func:`os.replace` (atomic, so a
reader never sees a half-written file); if it does not match, or the connection fails, the
temporary file is deleted and the next mirror is tried. If every mirror fails,
:class:`DownloadError` lists each URL tried, what went wrong, and the expected checksum.

Only the Python standard library (:mod:`urllib`) is used; proxies are taken from the usual
``http_proxy``/``https_proxy``/``no_proxy`` environment variables.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rpusim.data.sources import (
    ChecksumError,
    DataError,
    DatasetSpec,
    FileSpec,
    cache_root,
    content_md5,
    get_spec,
    verify_file,
)

__all__ = ["download", "download_file", "DownloadError"]

_USER_AGENT = "rpusim-data/0.1 (+python urllib)"


class DownloadError(DataError, OSError):
    """No mirror delivered a file with the expected checksum; the message lists every attempt."""


def _fetch_to(url: str, fh, timeout: float) -> str:
    """Stream ``url`` into the open binary file ``fh``; return the md5 of the bytes written."""
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    h = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        while block := resp.read(1 << 16):
            h.update(block)
            fh.write(block)
    return h.hexdigest()


def download_file(spec: DatasetSpec, fspec: FileSpec, dest_dir: Path, *,
                  mirrors: Sequence[str] | None = None, timeout: float = 60.0,
                  log: Callable[[str], None] | None = None) -> Path:
    """Download one file into ``dest_dir`` trying each mirror; return its final path.

    Raises :class:`DownloadError` if no mirror gives the right bytes; nothing is left behind then.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / fspec.filename
    urls = spec.urls(fspec.filename, None if mirrors is None else tuple(mirrors))
    if not urls:
        raise DownloadError(f"{spec.name}: no download mirror known for {fspec.filename}")
    failures: list[str] = []
    for url in urls:
        if log:
            log(f"downloading {url}")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{fspec.filename}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                got = _fetch_to(url, fh, timeout)
            ok = got == fspec.md5
            if not ok and fspec.content_md5:  # a mirror serving a re-compressed copy of the same data
                try:
                    ok = content_md5(tmp) == fspec.content_md5
                except (OSError, EOFError, zlib.error):  # not valid gzip: simply a mismatch
                    ok = False
            if not ok:
                failures.append(f"  {url}: checksum mismatch, got md5 {got}")
                continue
            os.replace(tmp, final)
            verify_file(final, fspec)  # records the verification for later loads (cheap: cached)
            return final
        except (urllib.error.URLError, OSError, ValueError) as e:  # HTTPError is a URLError
            failures.append(f"  {url}: {e if isinstance(e, urllib.error.URLError) else repr(e)}")
        finally:
            tmp.unlink(missing_ok=True)  # no-op after a successful os.replace
    raise DownloadError(
        f"{spec.name}: could not download {fspec.filename} (expected md5 {fspec.md5}); tried:\n"
        + "\n".join(failures)
        + f"\nNo partial file was left in {dest_dir}. If you are offline, copy the file there by hand or "
          f"set RPUSIM_DATA to a folder holding {spec.name}/{fspec.filename}.")


def download(name: str | DatasetSpec, dest: str | Path | None = None, *,
             mirrors: Sequence[str] | None = None, files: Iterable[str] | None = None,
             force: bool = False, timeout: float = 60.0,
             log: Callable[[str], None] | None = print) -> list[Path]:
    """Download data set ``name`` (a key of ``DATASETS``, or a :class:`DatasetSpec`); return file paths.

    Files go to ``<dest>/<name>/`` -- ``dest`` is a data *root*, so ``RPUSIM_DATA=<dest>`` finds them;
    the default root is the download cache ``~/.cache/rpusim`` (searched automatically).
    Files already in the target directory with a correct checksum are kept (unless ``force``).
    ``mirrors`` replaces the spec's mirror list (base URLs, tried in order), ``files`` restricts
    the download to some file names. ``log`` receives progress lines (``None`` for silence).
    """
    spec = get_spec(name)
    root = cache_root() if dest is None else Path(dest).expanduser()
    target = root / spec.name
    wanted = [spec.file(f) for f in files] if files is not None else list(spec.files)
    out: list[Path] = []
    for fspec in wanted:
        existing = target / fspec.filename
        if existing.is_file() and not force:
            try:
                out.append(verify_file(existing, fspec))
                if log:
                    log(f"{existing}: present, checksum ok")
                continue
            except ChecksumError:
                if log:
                    log(f"{existing}: checksum mismatch, downloading again")
        out.append(download_file(spec, fspec, target, mirrors=mirrors, timeout=timeout, log=log))
        if log:
            log(f"{out[-1]}: ok (md5 {fspec.md5})")
    return out

"""Download the data sets of :data:`rpusim.data.sources.DATASETS` from their standard mirrors.

For each file, each mirror is tried in turn: the response is streamed to a temporary file
(``.<name>.<random>.part``) in the target directory while its md5 is computed; if the checksum
matches, the temporary file is renamed onto the final name with :func:`os.replace` (atomic, so a
reader never sees a half-written file); if it does not match, or the connection fails, the
temporary file is deleted and the next mirror is tried. If every mirror fails,
:class:`DownloadError` lists each URL tried, what went wrong, and the expected checksum.

:func:`ensure` is the install-time entry point: it downloads only the files that the lookup of
:mod:`rpusim.data.sources` does not find anywhere, so a machine with ``../shared/data`` (or
``$RPUSIM_DATA``) fetches nothing, and when no mirror answers at all (offline) it stops trying after
the first data set instead of waiting for every mirror's time-out.

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
    DATASETS,
    ENV_VAR,
    ChecksumError,
    DataError,
    DatasetSpec,
    FileSpec,
    cache_root,
    content_md5,
    get_spec,
    missing_files,
    verify_file,
)

__all__ = ["download", "download_file", "ensure", "DownloadError"]

_USER_AGENT = "rpusim-data/0.1 (+python urllib)"


class DownloadError(DataError, OSError):
    """No mirror delivered a file with the expected checksum; the message lists every attempt.

    ``unreachable`` is True when no mirror answered at all (name resolution or connection failed
    for every URL, no HTTP status received): the machine is most likely offline.
    """

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


def _fetch_to(url: str, fh, timeout: float) -> str:
    """Stream ``url`` into the open binary file ``fh``; return the md5 of the bytes written."""
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    h = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        while block := resp.read(1 << 16):
            h.update(block)
            fh.write(block)
    return h.hexdigest()


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p path``; return the directories that did not exist before, deepest first."""
    created = []
    missing = path
    while not missing.exists():
        created.append(missing)
        missing = missing.parent
    path.mkdir(parents=True, exist_ok=True)
    return created


def download_file(spec: DatasetSpec, fspec: FileSpec, dest_dir: Path, *,
                  mirrors: Sequence[str] | None = None, timeout: float = 60.0,
                  log: Callable[[str], None] | None = None) -> Path:
    """Download one file into ``dest_dir`` trying each mirror; return its final path.

    Raises :class:`DownloadError` if no mirror gives the right bytes; nothing is left behind then,
    not even the directories this call created.
    """
    urls = spec.urls(fspec.filename, None if mirrors is None else tuple(mirrors))
    if not urls:
        raise DownloadError(f"{spec.name}: no download mirror known for {fspec.filename}")
    created = _make_dirs(dest_dir)
    final = dest_dir / fspec.filename
    failures: list[str] = []
    answered = False  # did any mirror respond (an HTTP status, or bytes)?
    for url in urls:
        if log:
            log(f"downloading {url}")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{fspec.filename}.", suffix=".part", dir=dest_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                got = _fetch_to(url, fh, timeout)
            answered = True
            ok = got == fspec.md5
            if not ok and fspec.content_md5:  # a mirror serving a re-compressed copy of the same data
                try:
                    ok = content_md5(tmp) == fspec.content_md5
                except (OSError, EOFError, zlib.error):  # not valid gzip: simply a mismatch
                    ok = False
            if not ok:
                failures.append(f"  {url}: checksum mismatch, got md5 {got}")
                continue
            tmp.chmod(0o644)  # mkstemp makes it private; a data file is an ordinary readable file
            os.replace(tmp, final)
            verify_file(final, fspec)  # records the verification for later loads (cheap: cached)
            return final
        except urllib.error.HTTPError as e:  # the server answered, e.g. 404
            answered = True
            failures.append(f"  {url}: {e}")
        except urllib.error.URLError as e:  # no answer: name resolution or connection failed
            failures.append(f"  {url}: {e}")
        except (OSError, ValueError) as e:  # broken transfer, bad URL, local file error
            answered = True
            failures.append(f"  {url}: {e!r}")
        finally:
            tmp.unlink(missing_ok=True)  # no-op after a successful os.replace
    for d in created:  # deepest first; one still in use (another download into it) stays
        try:
            d.rmdir()
        except OSError:
            break
    raise DownloadError(
        f"{spec.name}: could not download {fspec.filename} (expected md5 {fspec.md5}); tried:\n"
        + "\n".join(failures)
        + f"\nNo partial file was left in {dest_dir}. If you are offline, copy the file there by hand or "
          f"set RPUSIM_DATA to a folder holding {spec.name}/{fspec.filename}.",
        unreachable=not answered)


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


def ensure(names: Iterable[str | DatasetSpec] | None = None, *,
           mirror_roots: Sequence[str] | None = None, timeout: float = 30.0,
           log: Callable[[str], None] = print) -> list[str]:
    """Make the data sets ``names`` (default: all of ``DATASETS``) findable; return those still missing.

    Only files the lookup finds nowhere (:func:`~rpusim.data.sources.missing_files`) are downloaded,
    into the download cache, checksum-verified and atomically (:func:`download`); data sets found
    in ``$RPUSIM_DATA``, ``../shared/data``, a system location or the cache are left alone.
    ``mirror_roots`` replaces the standard mirrors by base URLs of a mirrored data *root*: a file is
    then fetched from ``ROOT/NAME/FILE``. When no mirror of a data set answers at all (offline),
    the data sets after it are not tried and are reported missing too.

    ``log`` gets one line per fetched file, the message of a download that failed although a
    mirror answered, and one closing line: what is found locally, or what is missing and how to
    get it.
    """
    specs = [get_spec(n) for n in (DATASETS if names is None else names)]
    found: list[str] = []
    missing: list[str] = []
    offline = False
    for spec in specs:
        absent = [f.filename for f in missing_files(spec)]
        if not absent:
            found.append(spec.name)
            continue
        if offline:
            missing.append(spec.name)
            continue
        mirrors = None if mirror_roots is None else [f"{r.rstrip('/')}/{spec.name}/" for r in mirror_roots]
        try:
            for path in download(spec, mirrors=mirrors, files=absent, timeout=timeout, log=None):
                log(f"data: {spec.name}/{path.name} downloaded, md5 ok -> {path}")
        except DownloadError as err:
            missing.append(spec.name)
            offline = err.unreachable
            if not offline:
                log(str(err))
    if missing:
        why = "no download mirror answered: offline?" if offline else "download failed, see above"
        log(f"data: missing {', '.join(missing)} ({why}); get them with `rpusim data ensure` when online, "
            f"or put the files in DIR/NAME/ and set {ENV_VAR}=DIR")
    elif found:
        log(f"data: {', '.join(found)} found locally (`rpusim data list` shows where)")
    return missing

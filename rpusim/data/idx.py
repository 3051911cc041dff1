"""Reader and writer for IDX files, the binary format of MNIST and Fashion-MNIST.

The format is described on Yann LeCun's MNIST page (http://yann.lecun.com/exdb/mnist/):
a big-endian header followed by the raw array, row-major (C order)::

    byte 0-1   0x00 0x00                      (magic, always zero)
    byte 2     type code  0x08 unsigned byte   0x09 signed byte
                          0x0B int16  0x0C int32  0x0D float32  0x0E float64
    byte 3     number of dimensions d (1 for label files "idx1", 3 for image files "idx3")
    then       d big-endian uint32 sizes, then prod(sizes) values of the given type

The released files are gzip-compressed (``*-idx3-ubyte.gz``); :func:`read_idx` recognises gzip
by its magic bytes (1f 8b), so compressed and uncompressed files are read the same way whatever
their name. Every problem (bad magic, wrong dimension count, truncated or over-long data, broken
gzip stream) raises :class:`IDXError` whose message names the file.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = ["IDXError", "read_idx", "read_idx_tensor", "write_idx", "is_gzip"]

#: IDX type code -> numpy dtype (big-endian as stored in the file).
_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_FOR_KIND = {(dt.kind, dt.itemsize): code for code, dt in _TYPE_CODES.items()}


class IDXError(ValueError):
    """An IDX file is corrupt, truncated or not of the expected shape; the message names the file."""


def is_gzip(path: str | Path) -> bool:
    """True if the file starts with the gzip magic bytes 1f 8b (independent of its name)."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except EOFError as e:  # gzip stream cut short
        raise IDXError(f"{path}: truncated gzip stream ({e}); the file is incomplete, "
                       "delete it and fetch it again") from e
    except (gzip.BadGzipFile, zlib.error) as e:
        raise IDXError(f"{path}: corrupt gzip data ({e}); delete it and fetch it again") from e


def read_idx(path: str | Path, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a writable numpy array in native byte order.

    ``ndim`` (optional) is the expected number of dimensions, e.g. 1 for labels, 3 for images;
    a mismatch raises :class:`IDXError`. MNIST-style files give ``uint8`` arrays.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: only {len(data)} bytes, too short for an IDX header (4 bytes + sizes)")
    zero, code, nd = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in _TYPE_CODES or nd == 0:
        raise IDXError(f"{path}: bad IDX magic number 0x{data[:4].hex()}; expected 0x0000TTDD with "
                       f"type code TT in {{{', '.join(f'{c:02x}' for c in _TYPE_CODES)}}} and DD >= 1 "
                       "dimensions (is this an IDX file?)")
    if ndim is not None and nd != ndim:
        raise IDXError(f"{path}: expected an idx{ndim} file ({ndim} dimensions), "
                       f"but the header says idx{nd} ({nd} dimensions)")
    header_len = 4 + 4 * nd
    if len(data) < header_len:
        raise IDXError(f"{path}: truncated header: {nd} dimension sizes need {header_len} bytes, "
                       f"file has {len(data)}")
    dims = struct.unpack(f">{nd}I", data[4:header_len])
    dtype = _TYPE_CODES[code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header_len
    if actual < expected:
        raise IDXError(f"{path}: truncated: header declares shape {dims} of {dtype.name} "
                       f"({expected} data bytes) but only {actual} bytes follow the header")
    if actual > expected:
        raise IDXError(f"{path}: {actual - expected} unexpected trailing bytes after the "
                       f"{expected} data bytes declared by the header (shape {dims})")
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_len)
    # astype always copies: the result is writable, in native byte order, and owns its memory.
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def read_idx_tensor(path: str | Path, *, ndim: int | None = None) -> torch.Tensor:
    """:func:`read_idx` returning a torch tensor (``torch.uint8`` for MNIST-style files)."""
    return torch.from_numpy(read_idx(path, ndim=ndim))


def write_idx(path: str | Path, array: np.ndarray | torch.Tensor, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed if ``compress`` or (by default) the name ends in .gz.

    Used by the tests to generate small files; the gzip header carries no name or time stamp
    (``mtime=0``) so the bytes, and hence the md5, are reproducible.
    """
    path = Path(path)
    arr = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _CODE_FOR_KIND or arr.ndim == 0 or arr.ndim > 255:
        raise IDXError(f"{path}: cannot write dtype {arr.dtype} with {arr.ndim} dimensions as IDX")
    code = _CODE_FOR_KIND[key]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr, dtype=_TYPE_CODES[code]).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path

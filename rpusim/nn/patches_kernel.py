"""The patch walk of a convolution in numba (CPU, float32): unfold and its gradient as one pass.

Entry k of row (b, oh, ow) of the patch rows (see :mod:`.patches`) is pixel
``b·size + oh·sh·W + ow·sw + offset[k]`` of the flattened zero-padded images, the offsets made
once per geometry; :class:`PatchRows` copies the pixels into the rows, writing the array's layout
(bias column included) at once, and its backward adds each row's entries back onto the pixels.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from numba import njit
from torch import Tensor


@njit(cache=True)
def _patch_walk(flat, rows, offsets, n_img, img_size, h_out, w_out, row_step, col_step, to_rows):
    """Walk every (row entry, image pixel) pair of the patch mapping over the (already padded)
    images, flattened: entry k of row (b, oh, ow) is pixel ``b·img_size + oh·row_step +
    ow·col_step + offsets[k]``. Copy the pixel into the row (``to_rows``: unfold) or add the
    row's entry onto the pixel (its gradient, fold)."""
    n = offsets.size
    for b in range(n_img):
        for oh in range(h_out):
            for ow in range(w_out):
                r = (b * h_out + oh) * w_out + ow
                base = b * img_size + oh * row_step + ow * col_step
                if to_rows:
                    for k in range(n):
                        rows[r, k] = flat[base + offsets[k]]
                else:
                    for k in range(n):
                        flat[base + offsets[k]] += rows[r, k]


def walk(images: np.ndarray, rows: np.ndarray, geometry: tuple, to_rows: bool) -> None:
    """:func:`_patch_walk` over padded images (B × d × H × W) for a geometry (kh, kw, dh, dw, sh, sw,
    H', W'); column k = (c·kh + i)·kw + j of a row reads pixel (c, i·dh, j·dw) from the patch corner."""
    kh, kw, dh, dw, sh, sw, h_out, w_out = geometry
    n_img, n_ch, hp, wp = images.shape
    offsets = _pixel_offsets(n_ch, hp, wp, kh, kw, dh, dw)
    _patch_walk(images.reshape(-1), rows, offsets, n_img, n_ch * hp * wp, h_out, w_out, sh * wp, sw, to_rows)


@functools.lru_cache(maxsize=64)
def _pixel_offsets(n_ch: int, hp: int, wp: int, kh: int, kw: int, dh: int, dw: int) -> np.ndarray:
    """Offset of each row entry's pixel from the patch's corner in a flattened padded image."""
    c, i, j = np.meshgrid(np.arange(n_ch), np.arange(kh), np.arange(kw), indexing="ij")
    offsets = (c * (hp * wp) + i * (dh * wp) + j * dw).reshape(-1)
    offsets.flags.writeable = False
    return offsets


class PatchRows(torch.autograd.Function):
    """The patch rows of images x (B × d × H × W) by :func:`walk`, differentiable in x."""

    @staticmethod
    def forward(ctx, x: Tensor, kernel: tuple, dilation: tuple, padding: tuple, stride: tuple,
                out_size: tuple, ones: bool) -> Tensor:
        (ph, pw), (n_img, n_ch, h, w) = padding, x.shape
        ctx.geometry, ctx.padding = (*kernel, *dilation, *stride, *out_size), padding
        ctx.padded_shape = (n_img, n_ch, h + 2 * ph, w + 2 * pw)
        images = x.detach().contiguous().numpy()
        if ph or pw:
            images = np.pad(images, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        n = images.shape[1] * kernel[0] * kernel[1]
        rows = np.empty((n_img * out_size[0] * out_size[1], n + int(ones)), np.float32)
        rows[:, n:] = 1.0  # the bias column, if any
        walk(images, rows, ctx.geometry, True)
        return torch.from_numpy(rows)

    @staticmethod
    def backward(ctx, grad: Tensor):
        if not ctx.needs_input_grad[0]:
            return (None,) * 7
        (ph, pw), (_, _, hp, wp) = ctx.padding, ctx.padded_shape
        g = np.zeros(ctx.padded_shape, np.float32)
        walk(g, grad.contiguous().numpy(), ctx.geometry, False)
        return torch.from_numpy(np.ascontiguousarray(g[:, :, ph:hp - ph, pw:wp - pw])), *(None,) * 6

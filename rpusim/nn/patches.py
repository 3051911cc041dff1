"""The image patches of a convolution as the rows the array sees (Gokmen, Onen, Haensch 2017).

Row b·L + l holds patch l of image b, in ``torch.nn.functional.unfold``'s order (channel,
kernel row, kernel column), followed by a constant 1 when the bias sits on the array:

    rows[b·L + oh·W' + ow, c·kh·kw + i·kw + j] = x[b, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]

(0 outside the image). Its gradient scatters each row back onto the image (``fold``). On the
CPU in float32 both are one numba walk over the zero-padded image (:func:`_patch_walk`, in
either direction), writing the rows in the array's layout at once; elsewhere they are
``unfold``, a transpose and a concatenation, whose gradients autograd derives.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from numba import njit
from torch import Tensor
from torch.nn import functional as F

from ..fast_path import use_fast_kernel


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


def _walk(images: np.ndarray, rows: np.ndarray, geometry: tuple, to_rows: bool) -> None:
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


class _PatchRows(torch.autograd.Function):
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
        _walk(images, rows, ctx.geometry, True)
        return torch.from_numpy(rows)

    @staticmethod
    def backward(ctx, grad: Tensor):
        if not ctx.needs_input_grad[0]:
            return (None,) * 7
        (ph, pw), (_, _, hp, wp) = ctx.padding, ctx.padded_shape
        g = np.zeros(ctx.padded_shape, np.float32)
        _walk(g, grad.contiguous().numpy(), ctx.geometry, False)
        return torch.from_numpy(np.ascontiguousarray(g[:, :, ph:hp - ph, pw:wp - pw])), *(None,) * 6


def patch_rows(x: Tensor, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple,
               out_size: tuple, ones: bool) -> Tensor:
    """The B·L × (k²d [+ 1]) rows of the patches of x (B × d × H × W), a column of ones appended
    when ``ones``; differentiable in x."""
    if use_fast_kernel(x):
        return _PatchRows.apply(x, kernel_size, dilation, padding, stride, out_size, ones)
    rows = F.unfold(x, kernel_size, dilation, padding, stride).transpose(1, 2)
    rows = rows.reshape(-1, rows.shape[-1])
    return torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1) if ones else rows

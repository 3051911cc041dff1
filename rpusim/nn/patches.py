"""The image patches of a convolution as the rows the array sees (Gokmen, Onen, Haensch 2017).

Row b·L + l holds patch l of image b, in ``torch.nn.functional.unfold``'s order (channel,
kernel row, kernel column), followed by a constant 1 when the bias sits on the array:

    rows[b·L + oh·W' + ow, c·kh·kw + i·kw + j] = x[b, c, oh·sh − ph + i·dh, ow·sw − pw + j·dw]

(0 outside the image). Its gradient scatters each row back onto the image (``fold``). On the
CPU in float32 both are one numba walk over the zero-padded image (:mod:`.patches_kernel`, in
either direction), writing the rows in the array's layout at once; elsewhere they are
``unfold``, a transpose and a concatenation, whose gradients autograd derives.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from ..fast_path import use_fast_kernel


def patch_rows(x: Tensor, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple,
               out_size: tuple, ones: bool) -> Tensor:
    """The B·L × (k²d [+ 1]) rows of the patches of x (B × d × H × W), a column of ones appended
    when ``ones``; differentiable in x."""
    if use_fast_kernel(x):
        from .patches_kernel import PatchRows  # numba, loaded at the first fast convolution
        return PatchRows.apply(x, kernel_size, dilation, padding, stride, out_size, ones)
    rows = F.unfold(x, kernel_size, dilation, padding, stride).transpose(1, 2)
    rows = rows.reshape(-1, rows.shape[-1])
    return torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1) if ones else rows

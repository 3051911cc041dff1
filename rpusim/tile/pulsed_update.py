"""The stochastic pulsed update W += −η·Σ_b δ_b x_bᵀ (Gokmen & Vlasov 2016).

For each sample b, column i fires in each of BL time slots with probability
p_bi = Cx·|x_bi| and row j with q_bj = Cd·|δ_bj| (both clipped to 1). A device changes
by one step each time its row and column fire in the same slot, in direction
−sign(x_bi·δ_bj). With Cx = Cd = C = sqrt(η/(BL·Δw_min)) the expected number of
coincidences is BL·p·q = η·|x·δ|/Δw_min, so E[ΔW] = −η·δxᵀ while no probability clips.

Update management (Gokmen, Onen, Haensch 2017): Cx = C·m, Cd = C/m with
m = sqrt(max|δ|/max|x|), which equalises the largest probabilities of x and δ.
BL management (aihwkit): BL' = clip(ceil(η·max|x|·max|δ|/Δw_min), 1, BL) slots, with C
recomputed for BL', so that small updates use short trains.

Two implementations:

* :func:`exact_update` — the reference: sample after sample, slot after slot, each
  coincidence one call of the device's one-pulse response.
* :func:`coincidence_counts` + the device's ``apply_pulses`` — the fast path: the bit
  trains of the whole batch are drawn at once and the numbers of up and down
  coincidences of every cross-point come from two GEMMs over the B·BL slots
  (total = Dᵀ·X, signed = (D∘sδ)ᵀ·(X∘sx); down = (total + signed)/2, up = (total − signed)/2),
  restricted to the rows and columns that fired at all. Each cross-point's counts have
  exactly the distribution of the sequential scheme; what the fast path changes is the
  order: within one update the device sees all its pulses at once (pairs of up/down
  first, then the rest), instead of sample by sample. For batch 1 the two are the same
  in distribution for devices with a closed form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .config import UpdateConfig


@dataclass
class PulsePlan:
    """Signed pulse probabilities of one update (per sample) and the slots each sample uses."""

    px: Tensor      # B × n, probability of a column pulse per slot (≥ 0)
    pd: Tensor      # B × m, probability of a row pulse per slot (≥ 0)
    sx: Tensor      # B × n, sign of x
    sd: Tensor      # B × m, sign of δ
    bl: int         # slots drawn
    slot_mask: Tensor | None  # B × bl, which slots each sample uses (BL management), or None
    clipped: int    # probabilities that had to be clipped to 1
    total: int      # probabilities that were > 0


def plan_pulses(x: Tensor, d: Tensor, lr: float, dw_min: float, cfg: UpdateConfig) -> PulsePlan:
    """Turn a batch of inputs x (B × n) and errors δ (B × m) into pulse probabilities."""
    ax, ad = x.abs(), d.abs()
    xmax = ax.amax(dim=1, keepdim=True)
    dmax = ad.amax(dim=1, keepdim=True)
    bl = cfg.bl
    slot_mask = None
    if cfg.bl_management:
        need = torch.ceil(lr * xmax * dmax / dw_min).clamp(1, bl)           # B × 1
        bl_b = need
        bl = int(need.max().item()) if need.numel() else 1
        slot_mask = torch.arange(bl, device=x.device)[None, :] < need       # B × bl
        c = torch.sqrt(lr / (bl_b * dw_min))
    else:
        c = torch.full_like(xmax, math.sqrt(lr / (bl * dw_min)))
    if cfg.update_management:
        m = torch.sqrt(dmax / torch.where(xmax > 0, xmax, torch.ones_like(xmax)))
        m = torch.where((xmax > 0) & (dmax > 0), m, torch.ones_like(m))
        cx, cd = c * m, c / m
    else:
        cx = cd = c
    px, pd = cx * ax, cd * ad
    clipped = int((px > 1).sum()) + int((pd > 1).sum())
    total = int((px > 0).sum()) + int((pd > 0).sum())
    return PulsePlan(px.clamp(max=1), pd.clamp(max=1), torch.sign(x), torch.sign(d),
                     bl, slot_mask, clipped, total)


def draw_bits(p: Tensor, bl: int, slot_mask: Tensor | None, gen) -> Tensor:
    """Bernoulli pulse trains: (B, bl, n) of 0/1 with P(1) = p (masked slots never fire)."""
    bits = torch.rand((p.shape[0], bl, p.shape[1]), generator=gen, device=p.device) < p[:, None, :]
    if slot_mask is not None:
        bits &= slot_mask[:, :, None]
    return bits


def coincidence_counts(plan: PulsePlan, gen) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Up/down coincidence counts of the rows and columns that fired.

    Returns (rows, cols, n_up, n_down) with n_* of shape len(rows) × len(cols).
    """
    xb = draw_bits(plan.px, plan.bl, plan.slot_mask, gen)
    db = draw_bits(plan.pd, plan.bl, plan.slot_mask, gen)
    cols = xb.any(dim=1).any(dim=0).nonzero().squeeze(1)
    rows = db.any(dim=1).any(dim=0).nonzero().squeeze(1)
    b = plan.px.shape[0]
    X = xb[:, :, cols].reshape(b * plan.bl, -1).to(plan.px.dtype)
    D = db[:, :, rows].reshape(b * plan.bl, -1).to(plan.px.dtype)
    Xs = X * plan.sx[:, cols].repeat_interleave(plan.bl, dim=0)
    Ds = D * plan.sd[:, rows].repeat_interleave(plan.bl, dim=0)
    total = D.T @ X
    signed = Ds.T @ Xs
    n_down = (total + signed) * 0.5
    n_up = (total - signed) * 0.5
    return rows, cols, n_up, n_down


def exact_update(w: Tensor, plan: PulsePlan, device, params: dict, gen) -> Tensor:
    """Reference: every sample, every slot, every coincidence as one device pulse (slow)."""
    for b in range(plan.px.shape[0]):
        xb = draw_bits(plan.px[b:b + 1], plan.bl, None if plan.slot_mask is None else plan.slot_mask[b:b + 1], gen)[0]
        db = draw_bits(plan.pd[b:b + 1], plan.bl, None if plan.slot_mask is None else plan.slot_mask[b:b + 1], gen)[0]
        sign = -(plan.sd[b][:, None] * plan.sx[b][None, :])
        for t in range(plan.bl):
            coincide = db[t][:, None] & xb[t][None, :]
            if bool(coincide.any()):
                w = device.pulse(w, sign * coincide.to(w.dtype), params, gen)
    return w

"""The stochastic pulsed update W += −η·Σ_b δ_b x_bᵀ (Gokmen & Vlasov 2016).

For each sample b, column i fires in each of BL time slots with probability
p_bi = Cx·|x_bi| and row j with q_bj = Cd·|δ_bj| (both clipped to 1). A device changes
by one step each time its row and column fire in the same slot, in direction
−sign(x_bi·δ_bj). With Cx = Cd = C = sqrt(η/(BL·Δw_min)) the expected number of
coincidences is BL·p·q = η·|x·δ|/Δw_min, so E[ΔW] = −η·δxᵀ while no probability clips.

Update management (Gokmen, Onen, Haensch 2017): Cx = C·m, Cd = C/m with
m = sqrt(max|δ|/max|x|), which equalises the largest probabilities of x and δ. When the update
needs more than BL coincidences (k = η·max|x|·max|δ|/Δw_min > BL) ``um_overflow`` says which side
clips: both (ours) or δ only (aihwkit: Cx = 1/max|x|, Cd = (k/BL)/max|δ|).
BL management (aihwkit): BL' = clip(ceil(η·max|x|·max|δ|/Δw_min), 1, BL) slots, with C
recomputed for BL', so that small updates use short trains.

Two implementations:

* :func:`exact_update` — the reference: sample after sample, slot after slot, each
  coincidence one call of the device's one-pulse response.
* :func:`ordered_update` — the same order as the reference (``update.clip='per_pulse'``) without
  a loop over pulses where the device composes its clipped steps in closed form.
* :func:`coincidence_counts` + the device's ``apply_pulses`` — the fast path: the bit
  trains of the whole batch are drawn at once and the numbers of up and down
  coincidences of every cross-point come from two GEMMs over the B·BL slots
  (total = Dᵀ·X, signed = (D∘sδ)ᵀ·(X∘sx); down = (total + signed)/2, up = (total − signed)/2),
  restricted to the slots in which some row fired and to the rows and columns that fired. Each cross-point's counts have
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

from .periphery_config import UpdateConfig


@dataclass
class PulsePlan:
    """Signed pulse probabilities of one update (per sample) and the slots each sample uses."""

    px: Tensor      # B × n, probability of a column pulse per slot (≥ 0)
    pd: Tensor      # B × m, probability of a row pulse per slot (≥ 0)
    sx: Tensor      # B × n, sign of x
    sd: Tensor      # B × m, sign of δ
    bl: int         # slots drawn
    slot_mask: Tensor | None  # B × bl, 1. for the slots each sample uses (BL management), or None
    clipped: int    # probabilities that had to be clipped to 1
    total: int      # probabilities drawn (B·(n + m))


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
        slot_mask = (torch.arange(bl, device=x.device)[None, :] < need).to(x.dtype)  # B × bl
        c = torch.sqrt(lr / (bl_b * dw_min))
    else:
        c = torch.full_like(xmax, math.sqrt(lr / (bl * dw_min)))
    if cfg.update_management:
        m = torch.sqrt(dmax / torch.where(xmax > 0, xmax, torch.ones_like(xmax)))
        m = torch.where((xmax > 0) & (dmax > 0), m, torch.ones_like(m))
        cx, cd = c * m, c / m
        if cfg.um_overflow == "clip_delta":
            cx, cd = _delta_takes_overflow(cx, cd, c, xmax, dmax)
    else:
        cx = cd = c
    px, pd = cx * ax, cd * ad
    total = px.numel() + pd.numel()
    clipped = 0
    if bool(((cx * xmax > 1) | (cd * dmax > 1)).any()):  # the largest probabilities tell if any clips
        clipped = int((px > 1).sum()) + int((pd > 1).sum())
        px, pd = px.clamp(max=1), pd.clamp(max=1)
    return PulsePlan(px, pd, torch.sign(x), torch.sign(d), bl, slot_mask, clipped, total)


def _delta_takes_overflow(cx: Tensor, cd: Tensor, c: Tensor, xmax: Tensor, dmax: Tensor) -> tuple[Tensor, Tensor]:
    """aihwkit's update management when p_max² = K = C²·max|x|·max|δ| = k/BL exceeds 1: Cx = 1/max|x|
    (x never clips) and Cd = K/max|δ| (δ takes the whole excess); Cx·Cd = C² keeps E[ΔW] where nothing clips."""
    k = c * c * xmax * dmax
    over = k > 1
    one = torch.ones_like(xmax)
    return (torch.where(over, 1 / torch.where(over, xmax, one), cx),
            torch.where(over, k / torch.where(over, dmax, one), cd))


def draw_bits(p: Tensor, bl: int, slot_mask: Tensor | None, gen) -> Tensor:
    """Bernoulli pulse trains: (B, bl, n) of 0./1. with P(1) = p (masked slots never fire)."""
    u = torch.rand((p.shape[0], bl, p.shape[1]), generator=gen, device=p.device, dtype=p.dtype)
    bits = (u < p[:, None, :]).to(p.dtype)
    if slot_mask is not None:
        bits *= slot_mask[:, :, None]
    return bits


def _nonzero_lines(p: Tensor) -> Tensor:
    return (p > 0).any(dim=0).nonzero().squeeze(1)


def coincidence_counts(plan: PulsePlan, gen) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Up/down coincidence counts on the rows and columns that can fire.

    Bits are drawn only for lines with a non-zero probability; for a single sample the
    lines are further restricted to those that fired. Returns (rows, cols, n_up, n_down)
    with n_* of shape len(rows) × len(cols).
    """
    b, bl = plan.px.shape[0], plan.bl
    cols, rows = _nonzero_lines(plan.px), _nonzero_lines(plan.pd)
    X = draw_bits(plan.px.index_select(1, cols), bl, plan.slot_mask, gen).view(b * bl, -1)
    D = draw_bits(plan.pd.index_select(1, rows), bl, plan.slot_mask, gen).view(b * bl, -1)
    if b == 1:  # one sample: keep the lines that fired; every pulse has the sign −sign(x_i·δ_j)
        fired_c, fired_r = X.amax(dim=0) > 0, D.amax(dim=0) > 0
        cols, rows = cols[fired_c], rows[fired_r]
        total = D[:, fired_r].T @ X[:, fired_c]
        down = plan.sd[0].index_select(0, rows)[:, None] * plan.sx[0].index_select(0, cols)[None, :] > 0
        zero = torch.zeros((), dtype=total.dtype, device=total.device)
        return rows, cols, torch.where(down, zero, total), torch.where(down, total, zero)
    total = D.T @ X
    Xs = (X.view(b, bl, -1) * plan.sx.index_select(1, cols)[:, None, :]).view(b * bl, -1)
    Ds = (D.view(b, bl, -1) * plan.sd.index_select(1, rows)[:, None, :]).view(b * bl, -1)
    signed = Ds.T @ Xs
    return rows, cols, (total - signed) * 0.5, (total + signed) * 0.5


def exact_update(w: Tensor, plan: PulsePlan, device, params: dict, gen) -> Tensor:
    """Reference: sample after sample, slot after slot, each coincidence one device pulse (slow).

    The bit trains of all samples are drawn first (they do not depend on w); the loop then
    visits, in time order, the slots in which some row and some column fired.
    """
    xb = draw_bits(plan.px, plan.bl, plan.slot_mask, gen)
    db = draw_bits(plan.pd, plan.bl, plan.slot_mask, gen)
    live = ((xb > 0).any(dim=2) & (db > 0).any(dim=2)).flatten().nonzero().squeeze(1).tolist()
    for slot in live:
        b, t = divmod(slot, plan.bl)
        coincide = (db[b, t][:, None] > 0) & (xb[b, t][None, :] > 0)
        sign = -(plan.sd[b][:, None] * plan.sx[b][None, :])
        w = device.pulse(w, sign * coincide.to(w.dtype), params, gen)
    return w


def ordered_update(w: Tensor, plan: PulsePlan, device, params: dict, gen,
                   max_elements: int = 1 << 22) -> Tensor:
    """Every pulse in time order with a clip at each (``update.clip='per_pulse'``), as
    :func:`exact_update` (the same bit trains from the same draws) without a loop over slots.

    A cross-point whose pulses of this update all have one sign ends where the summed response
    clipped once puts it (a monotone walk clipped at each step stops at the same bound), so it takes
    the device's ``apply_pulses``; only the cross-points that got both up and down pulses (with
    batch > 1) take the time-ordered :meth:`~rpusim.devices.base.PulsedDevice.apply_pulse_sequence`,
    on their live slots, in blocks of at most ``max_elements`` slot × cross-point directions.
    (With cycle-to-cycle noise a single step can reverse, σ·ξ < −1: rare, and not ordered here.)"""
    xb = draw_bits(plan.px, plan.bl, plan.slot_mask, gen).flatten(0, 1)   # (B·bl) × n
    db = draw_bits(plan.pd, plan.bl, plan.slot_mask, gen).flatten(0, 1)   # (B·bl) × m
    xs = xb * plan.sx.repeat_interleave(plan.bl, dim=0)                   # signed bits per slot
    ds = db * plan.sd.repeat_interleave(plan.bl, dim=0)
    total, signed = db.T @ xb, ds.T @ xs
    n_up, n_down = (total - signed) * 0.5, (total + signed) * 0.5          # m × n
    mixed = (n_up > 0) & (n_down > 0)
    w = device.apply_pulses(w, n_up * ~mixed, n_down * ~mixed, params, gen, plan.bl)
    rows, cols = mixed.nonzero().unbind(1)
    if not rows.numel():
        return w
    fused = getattr(device, "apply_pulse_sequence_at", None)  # a device's in-place kernel
    if fused is not None:
        w = w.contiguous()
        if fused(w, params, rows, cols, ds, xs, gen):
            return w
    live = ((xb.index_select(1, cols.unique()) > 0).any(dim=1) & (db.index_select(1, rows.unique()) > 0).any(dim=1))
    xs, ds = xs[live], ds[live]
    sub_w = w[:, rows, cols]
    sub_p = {k: v[:, rows, cols] for k, v in params.items()}
    block = max(1, max_elements // rows.numel())
    for start in range(0, xs.shape[0], block):
        directions = -(ds[start:start + block].index_select(1, rows) * xs[start:start + block].index_select(1, cols))
        sub_w = device.apply_pulse_sequence(sub_w, directions[:, None, :], sub_p, gen)  # T × 1 × cells
    w = w.clone()
    w[:, rows, cols] = sub_w
    return w

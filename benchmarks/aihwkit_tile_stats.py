"""One tile in each simulator, the same inputs: where do rpusim and aihwkit 1.2.0 differ at tile level?

Both tiles get the CNN's rpu config (variant ``+um`` of ``cnn-fashion``: constant step Δw_min 0.001,
σ_d2d 0.3, σ_c2c 0.3, bounds ±0.6 ± 30 %, up_down_dtod 0.01, BL 10, UM on, NM abs-max, BM iterative
forward, 7-bit DAC, 9-bit ADC, σ_out 0.06); aihwkit's is mapped field by field as in
``aihwkit_rpu.aihwkit_config``. Three arms: ``rpusim`` (defaults), ``rpusim-aihwkit`` (the five
fidelity options at aihwkit's values, docs/fidelity.md) and ``aihwkit``. Per seed each arm gets a new
tile (new device population) and the same inputs; a statistic is printed as mean ± SE over seeds.

(a) update — ΔW against the requested R = −lr·Σ δxᵀ: gain g = ΣΔW·R/ΣR² and the relative residual
    sd(ΔW − g·R)/rms(R); for rank-1 updates (batch 1, within BL and overflowing BL), for conv-like
    patch batches (64 rows, ¾ of δ rows zero as behind a max-pool), near the bounds, and a long drift
    under zero-mean random δ, whose mean per cell is compared with the closed form
    E[ΔW_ij] = Σ_t lr|x_i δ_j|/Δw_min · (Δw_up − Δw_down)_ij / 2 (each simulator's own device steps).
(b) forward and backward — y − W·x (W as each tile reads it): bias, sd, gain; typical inputs,
    saturating inputs (bound management) and tiny errors in the backward pass (noise management); and,
    noise-free, the DAC level of the largest input in the bound-management pass r = 2, which lies exactly
    halfway between two levels (rpusim rounds the tie up to 32, aihwkit's float32 x/res gives 31.4999… → 31).
(c) conversion — the paper's CNN in floating point (same seed) converted by each simulator: initial
    analog weights against the floating-point ones, and the number of tiles per layer.

    OMP_NUM_THREADS=1 /path/to/aihwkit-venv/bin/python benchmarks/aihwkit_tile_stats.py [--seeds 4] [--parts abc]

Without aihwkit it prints one line and exits 0 (a diagnostic, never a test dependency).
"""
from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aihwkit_rpu import aihwkit_config  # noqa: E402
from compare_aihwkit import AIHWKIT_OPTIONS, aihwkit_version  # noqa: E402

from rpusim.framework.runner import variant_configs  # noqa: E402
from rpusim.papers.catalog import get_experiment  # noqa: E402
from rpusim.tile.tile import AnalogTile  # noqa: E402

ARMS = ("rpusim", "rpusim-aihwkit", "aihwkit")
LR, OUT, IN = 0.01, 32, 64


def our_rpu(arm: str, extra: dict | None = None):
    """The CNN's rpu config (variant +um), with aihwkit's five options for ``rpusim-aihwkit``."""
    over = dict(AIHWKIT_OPTIONS) if arm == "rpusim-aihwkit" else {}
    if extra:
        from rpusim.framework.config import deep_merge
        over = deep_merge(over, {"rpu": extra})
    return variant_configs(get_experiment("cnn-fashion"), ["+um"], None, over, 0)["+um"].rpu


class Ours:
    """rpusim's tile behind the common interface (weights, passes, update, device steps)."""

    def __init__(self, arm: str, seed: int, extra: dict | None = None, shape: tuple[int, int] = (OUT, IN)):
        self.tile = AnalogTile(*shape, our_rpu(arm, extra), seed)

    def set(self, w):
        self.tile.set_weights(w)

    def get(self):
        return self.tile.get_weights().clone()

    def fwd(self, x):
        return self.tile.forward(x)

    def bwd(self, d):
        return self.tile.backward(d)

    def upd(self, x, d):
        self.tile.update(x, d, LR)

    def steps(self):
        p = self.tile.params
        return p["dw_up"][0], p["dw_down"][0]


class Theirs(Ours):
    """aihwkit's AnalogTile with the mapped config."""

    def __init__(self, arm: str, seed: int, extra: dict | None = None, shape: tuple[int, int] = (OUT, IN)):
        from aihwkit.simulator.tiles import AnalogTile as TheirTile
        torch.manual_seed(seed)
        config = aihwkit_config(our_rpu("rpusim"))
        for key, value in (extra or {}).get("forward", {}).items():
            setattr(config.forward, key, value)
        for key, value in (extra or {}).get("backward", {}).items():
            setattr(config.backward, key, value)
        self.tile = TheirTile(*shape, config)
        self.tile.set_learning_rate(LR)

    def set(self, w):
        self.tile.set_weights(w)

    def get(self):
        return self.tile.get_weights()[0].clone()

    def fwd(self, x):
        return self.tile.forward(x).detach()

    def bwd(self, d):
        return self.tile.backward(d).detach()

    def upd(self, x, d):
        self.tile.update(x, d)

    def steps(self):
        h = self.tile.get_hidden_parameters()
        return h["dwmin_up"], h["dwmin_down"]


def make(arm: str, seed: int, extra: dict | None = None, shape: tuple[int, int] = (OUT, IN)):
    return (Theirs if arm == "aihwkit" else Ours)(arm, 1000 + seed, extra, shape)


def report(name: str, per_arm: dict[str, list[float]], ref: float | None = None) -> None:
    """One line: mean ± SE over seeds per arm; '*' marks |Δ| > 5 SE against aihwkit."""
    def ms(v):
        t = torch.tensor(v, dtype=torch.float64)
        return float(t.mean()), float(t.std() / math.sqrt(len(v))) if len(v) > 1 else 0.0
    stats = {a: ms(v) for a, v in per_arm.items()}
    cells = []
    for arm, (m, se) in stats.items():
        mark = ""
        if arm != "aihwkit" and "aihwkit" in stats:
            m2, se2 = stats["aihwkit"]
            mark = " *" if abs(m - m2) > 5 * math.hypot(se, se2) + 1e-12 else ""
        cells.append(f"{arm} {m:+.4g} ± {se:.2g}{mark}")
    tail = f"   (closed form {ref:+.4g})" if ref is not None else ""
    print(f"  {name:<34} " + " | ".join(cells) + tail, flush=True)


def gain_resid(dw, req):
    g = float((dw * req).sum() / (req * req).sum())
    return g, float((dw - g * req).std() / req.pow(2).mean().sqrt())


def scaled_pair(gen, k: float):
    """x ~ U(−1, 1)^IN, δ ~ N(0, 1)^OUT scaled so that the largest cell needs k pulses (lr·max|x|·max|δ|/Δw_min)."""
    x = torch.rand(1, IN, generator=gen) * 2 - 1
    d = torch.randn(1, OUT, generator=gen)
    d *= k * 0.001 / (LR * x.abs().max() * d.abs().max())
    return x, d


def patch_batch(gen, k: float, rows: int = 64):
    """Conv-like patches: tanh activations with a bias column of 1, δ zero on ¾ of the rows."""
    x = torch.tanh(torch.randn(rows, IN, generator=gen))
    x[:, -1] = 1.0
    d = torch.randn(rows, OUT, generator=gen) * (torch.rand(rows, 1, generator=gen) < 0.25)
    d *= k * 0.001 / (LR * d.abs().max())
    return x, d


def run_update(seeds, name, start, pairs_of, reps):
    """Apply ``reps`` updates from ``start`` (same inputs for every arm); gain and residual against R."""
    g_, r_, m_ = {a: [] for a in ARMS}, {a: [] for a in ARMS}, {a: [] for a in ARMS}
    for s in seeds:
        for arm in ARMS:
            gen = torch.Generator().manual_seed(s)
            sim = make(arm, s)
            sim.set(start(gen))
            w0, req = sim.get(), torch.zeros(OUT, IN)
            for _ in range(reps):
                x, d = pairs_of(gen)
                sim.upd(x, d)
                req -= LR * d.T @ x
            dw = sim.get() - w0
            g, r = gain_resid(dw, req)
            g_[arm].append(g), r_[arm].append(r), m_[arm].append(float(dw.mean() / req.abs().mean()))
    report(f"{name}: gain", g_)
    report(f"{name}: rel. residual sd", r_)
    report(f"{name}: mean ΔW / mean|R|", m_)


def zero_weights(gen):
    return torch.zeros(OUT, IN)


def random_weights(gen):
    return (torch.rand(OUT, IN, generator=gen) - 0.5) * 0.4


def part_a(seeds):
    print("(a) update: ΔW against R = −lr·Σδxᵀ")
    for name, start, pairs, reps in (
            ("rank-1 k=0.1, W=0", zero_weights, partial(scaled_pair, k=0.1), 300),
            ("rank-1 k=3, W=0", zero_weights, partial(scaled_pair, k=3), 30),
            ("rank-1 k=3, W~U(±0.2)", random_weights, partial(scaled_pair, k=3), 30),
            ("rank-1 k=30 (>BL), W=0", zero_weights, partial(scaled_pair, k=30), 10),
            ("patches 64, k=0.2, W=0", zero_weights, partial(patch_batch, k=0.2), 100),
            ("patches 64, k=1, W=0", zero_weights, partial(patch_batch, k=1), 10),
            ("patches 64, k=5, W=0", zero_weights, partial(patch_batch, k=5), 10)):
        run_update(seeds, name, start, pairs, reps)
    near_bounds(seeds)
    drift(seeds)
    conv1_pairs(seeds)


def near_bounds(seeds, reps: int = 40):
    """W = ±0.55 (some devices' bounds are below), pushed outward then inward: mean W after each."""
    out_, in_ = {a: [] for a in ARMS}, {a: [] for a in ARMS}
    for s in seeds:
        for arm in ARMS:
            gen = torch.Generator().manual_seed(s)
            sim = make(arm, s)
            sign = torch.where(torch.arange(IN) < IN // 2, 1.0, -1.0).expand(OUT, IN)
            sim.set(0.55 * sign)
            w0 = sim.get()
            x = torch.ones(1, IN) * torch.where(torch.arange(IN) < IN // 2, 1.0, -1.0)
            for _ in range(reps):  # δ < 0 pushes every weight outward (ΔW = −lr·δ·x has the sign of x)
                sim.upd(x, -torch.rand(1, OUT, generator=gen) * 0.3)
            w1 = sim.get()
            for _ in range(reps):
                sim.upd(x, torch.rand(1, OUT, generator=gen) * 0.3)
            w2 = sim.get()
            out_[arm].append(float(((w1 - w0) * sign).mean())), in_[arm].append(float(((w2 - w1) * sign).mean()))
    report("near bounds: outward mean |ΔW|", out_)
    report("near bounds: then inward mean ΔW·sign", in_)


def drift(seeds, n: int = 2000, k: float = 3.0):
    """Zero-mean random δ (a noisy gradient), W from 0: spread, and the mean drift per cell against the
    closed form Σ_t lr|x_i δ_j|/Δw_min·(Δw_up − Δw_down)/2 from the tile's own device steps."""
    sd_, slope_, bound_, pred_sd = ({a: [] for a in ARMS} for _ in range(4))
    for s in seeds:
        for arm in ARMS:
            gen = torch.Generator().manual_seed(s)
            sim = make(arm, s)
            sim.set(torch.zeros(OUT, IN))
            up, down = sim.steps()
            expected_n = torch.zeros(OUT, IN)
            for _ in range(n):
                x, d = scaled_pair(gen, k)
                sim.upd(x, d)
                expected_n += LR * (d.T @ x).abs() / 0.001
            w = sim.get()
            pred = expected_n * (up - down) / 2
            slope_[arm].append(float((w * pred).sum() / (pred * pred).sum()))
            sd_[arm].append(float(w.std()))
            pred_sd[arm].append(float(pred.std()))
            bound_[arm].append(float((w.abs() > 0.4).float().mean()))
    report(f"drift {n} updates: sd(W)", sd_)
    report("drift: sd of closed-form mean drift", pred_sd)
    report("drift: W on closed-form drift, slope", slope_, 1.0)
    report("drift: fraction |W| > 0.4", bound_)


def conv1_pairs(seeds, images: int = 100):
    """The CNN's first conv layer (16 × 26 with its bias column): the (patches, δ) pairs the floating-point
    CNN produces on Fashion-MNIST images (576 patches per image, δ zero where the max-pool passes none),
    applied to a tile holding the fp weights; ΔW against R summed over ``images`` updates."""
    pairs = cnn_conv1_pairs(images)
    start = pairs[0][2]
    g_, r_, m_ = {a: [] for a in ARMS}, {a: [] for a in ARMS}, {a: [] for a in ARMS}
    for s in seeds:
        for arm in ARMS:
            sim = make(arm, s, shape=tuple(start.shape))
            sim.set(start)
            w0, req = sim.get(), torch.zeros_like(start)
            for x, d, _ in pairs:
                sim.upd(x, d)
                req -= LR * d.T @ x
            g, r = gain_resid(sim.get() - w0, req)
            g_[arm].append(g), r_[arm].append(r), m_[arm].append(float((sim.get() - w0).mean() / req.abs().mean()))
    report(f"CNN conv1 pairs, {images} images: gain", g_)
    report("CNN conv1 pairs: rel. residual sd", r_)
    ref = torch.zeros_like(start)
    for x, d, _ in pairs:
        ref -= LR * d.T @ x
    report("CNN conv1 pairs: mean ΔW / mean|R|", m_, float(ref.mean() / ref.abs().mean()))


def cnn_conv1_pairs(images: int):
    """[(patches B × 26, δ B × 16, fp weights 16 × 26)] of the fp CNN (seed 0) on the first training images."""
    import torch.nn.functional as F
    from compare_aihwkit import run_config
    from rpusim.framework.tasks import TASKS
    cfg = run_config("aihwkit", 0, 1, images, "cnn-fashion")
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(0)
    model = task.build_model()
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    w = with_bias(conv.weight.detach(), conv.bias.detach())
    out = {}

    def keep(module, inputs, output) -> None:
        output.retain_grad()
        out.update(x=inputs[0], y=output)
    conv.register_forward_hook(keep)
    pairs = []
    for i in range(images):
        model.zero_grad()
        F.cross_entropy(model(task.x_train[i:i + 1]), task.y_train[i:i + 1]).backward()
        patches = F.unfold(out["x"].detach(), conv.kernel_size).transpose(1, 2)[0]
        x = torch.cat([patches, torch.ones(patches.shape[0], 1)], 1)
        pairs.append((x, out["y"].grad.flatten(2)[0].T.contiguous(), w))
    return pairs


def part_b(seeds, batch: int = 400):
    print("(b) forward / backward: error against W·x (W as read)")
    cases = [("fwd typical x~U(±1), W~U(±0.3)", "fwd", 0.3, lambda g: torch.rand(batch, IN, generator=g) * 2 - 1),
             ("fwd saturating x~U(0,1), W=0.5", "fwd", None, lambda g: torch.rand(batch, IN, generator=g)),
             ("bwd saturating δ~U(0.9,1), W=0.5", "bwd", None, lambda g: 0.9 + 0.1 * torch.rand(batch, OUT, generator=g)),
             ("bwd typical δ~N(0,1), W~U(±0.3)", "bwd", 0.3, lambda g: torch.randn(batch, OUT, generator=g)),
             ("bwd tiny δ~1e-4·N(0,1)", "bwd", 0.3, lambda g: 1e-4 * torch.randn(batch, OUT, generator=g))]
    for name, direction, spread, inputs in cases:
        bias, sd, gain = ({a: [] for a in ARMS} for _ in range(3))
        for s in seeds:
            for arm in ARMS:
                gen = torch.Generator().manual_seed(s)
                sim = make(arm, s)
                w = torch.full((OUT, IN), 0.5) if spread is None else (torch.rand(OUT, IN, generator=gen) * 2 - 1) * spread
                sim.set(w)
                w = sim.get()
                v = inputs(gen)
                y, exact = (sim.fwd(v), v @ w.T) if direction == "fwd" else (sim.bwd(v), v @ w)
                scale = exact.abs().max(dim=1, keepdim=True).values  # errors relative to each sample's largest output
                err = (y - exact) / scale
                g, _ = gain_resid(y, exact)
                bias[arm].append(float(err.mean())), sd[arm].append(float(err.std())), gain[arm].append(g)
        report(f"{name}: gain", gain)
        report(f"{name}: bias/max|exact|", bias)
        report(f"{name}: sd/max|exact|", sd)


def bm_tie() -> None:
    """Noise and ADC off, x = (1, 0.4, …, 0.4), W = 0.5: the output saturates once, so the pass that counts
    is r = 2, where the largest input x/(r·max|x|) = 0.5 lies exactly halfway between DAC levels 31 and 32
    (7 bits: step 1/63). The level it got follows from the output."""
    x = torch.full((1, IN), 0.4)
    x[0, 0] = 1.0
    levels = {}
    for arm in ("rpusim", "aihwkit"):
        extra = {"forward": {"out_noise": 0.0, **({"out_res": -1} if arm == "aihwkit" else {"out_bits": 0})}}
        sim = make(arm, 0, extra)
        sim.set(torch.full((OUT, IN), 0.5))
        w = sim.get()
        rest = float(w[0, 1:].sum()) * round(0.2 * 63) / 63 * 2  # the other inputs: 0.2 → level 13
        levels[arm] = round((float(sim.fwd(x)[0, 0]) - rest) / (2 * float(w[0, 0])) * 63, 3)
    print(f"  BM pass r=2, DAC level of the largest input (tie 31.5): {levels}")


def part_c(seed: int = 0):
    """The fp CNN converted by each simulator: weights (with the bias column) and tiles per layer."""
    from aihwkit.nn.conversion import convert_to_analog
    from compare_aihwkit import run_config
    from rpusim.framework.tasks import TASKS
    print("(c) conversion of the fp CNN (seed 0)")
    fp_cfg = run_config("aihwkit", seed, 1, 100, "cnn-fashion")
    ours_cfg = run_config("rpusim", seed, 1, 100, "cnn-fashion")
    torch.manual_seed(seed)
    fp = TASKS[fp_cfg.task](fp_cfg).build_model()
    torch.manual_seed(seed)
    ours = TASKS[ours_cfg.task](ours_cfg).build_model()
    theirs = convert_to_analog(fp, aihwkit_config(ours_cfg.rpu))
    fp_layers = [m for m in fp.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    our_layers = [m for m in ours.modules() if hasattr(m, "get_weights") and hasattr(m, "array")]
    their_layers = [m for m in theirs.modules() if type(m).__name__.startswith("AnalogConv2d")
                    or type(m).__name__.startswith("AnalogLinear")]
    for i, layer in enumerate(fp_layers):
        wb = with_bias(layer.weight.detach(), layer.bias.detach())
        # a device clips w when its bound, w_max·(1 + σ·ξ) on w's side, lies below |w|
        expected = torch.distributions.Normal(0.0, 1.0).cdf((wb.abs() / 0.6 - 1) / 0.3).mean()
        line = f"  layer {i}: fp {tuple(wb.shape)} max|w| {float(wb.abs().max()):.3f}, clipped expected {float(expected):.2%}"
        for name, analog in (("rpusim", our_layers[i]), ("aihwkit", their_layers[i])):
            delta = (with_bias(*analog.get_weights()) - wb).abs()
            line += f"; {name}: changed {float((delta > 1e-6).float().mean()):.2%}, " \
                    f"max|Δ| {float(delta.max()):.3f}"
        shapes = [tuple(t.get_weights()[0].shape) for t in their_layers[i].analog_tiles()]
        print(line + f"; aihwkit tiles {shapes}")


def with_bias(w, b):
    """A layer's weights as one matrix out × (in [+ 1]), the bias as the last column."""
    w = w.reshape(w.shape[0], -1)
    return w if b is None else torch.cat([w, b[:, None]], 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--parts", default="abc")
    args = parser.parse_args(argv)
    if aihwkit_version() is None:
        print("aihwkit is not importable here: tile comparison skipped (build it as in shared/aihwkit-reference.md)")
        return 0
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    print(f"aihwkit {aihwkit_version()}; tile {OUT}×{IN}, lr {LR}; mean ± SE over {len(seeds)} seeds; "
          "'*': differs from aihwkit by > 5 SE")
    if "a" in args.parts:
        part_a(seeds)
    if "b" in args.parts:
        part_b(seeds)
        bm_tie()
    if "c" in args.parts:
        part_c()
    return 0


if __name__ == "__main__":
    sys.exit(main())

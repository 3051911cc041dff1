"""The transfer algorithms (rpu.algorithm): Tiki-Taka, TTv2, chopped TTv2, mixed precision.

Mechanism tests on small arrays with noise-free devices and exact expectations; a statistical
behaviour test (asymmetric device: plain SGD stays far from the target, the transfer algorithms
get much closer, over seeds); bit-exact resume; the layers on compound tiles.
"""
from __future__ import annotations

import io
import math
from functools import lru_cache

import pytest
import torch

from rpusim.devices import CTFDevice, symmetry_point
from rpusim.fast_path import reference_forced
from rpusim.framework.config import build_config
from rpusim.nn import AnalogConv2d, AnalogLinear, AnalogLSTM
from rpusim.optim import AnalogSGD
from rpusim.papers.transfer_dynamics import learn
from rpusim.tile import AnalogArray, AnalogTile, RPUConfig
from rpusim.tile.array import tile_class
from rpusim.tile.mixed_precision import MixedPrecisionTile
from rpusim.tile.transfer import TransferTile
from rpusim.tile.transfer_math import buffer_fire, flip_signs, quantize_dynamic

QUIET = {"type": "constant_step", "dw_min": 0.01, "dw_min_dtod": 0.0, "dw_min_std": 0.0, "w_max_dtod": 0.0,
         "w_min_dtod": 0.0, "up_down_dtod": 0.0}  # every pulse exactly ±0.01
PERFECT = {"is_perfect": True}


def _tile(out, inp, algorithm, device=QUIET, seed=0):
    cfg = RPUConfig.from_dict({"device": device, "algorithm": algorithm})
    return tile_class(cfg)(out, inp, cfg, seed)


def _idle(tile, rows=1):
    """One update that moves nothing on A (x = 0) but counts ``rows`` vector updates."""
    tile.update(torch.zeros(rows, tile.in_size), torch.zeros(rows, tile.out_size), 0.1)


def test_default_algorithm_is_plain_sgd():
    cfg = RPUConfig()
    assert cfg.algorithm.type == "sgd" and tile_class(cfg) is AnalogTile
    assert cfg.to_dict()["algorithm"] == {"type": "sgd"}
    assert type(AnalogArray(3, 4, cfg).tiles[0]) is AnalogTile


@pytest.mark.parametrize("kind, cls", [("tiki-taka", TransferTile), ("ttv2", TransferTile),
                                       ("chopped-ttv2", TransferTile), ("agad", TransferTile),
                                       ("mixed-precision", MixedPrecisionTile)])
def test_array_picks_the_algorithms_tile(kind, cls):
    cfg = RPUConfig.from_dict({"algorithm": {"type": kind}, "mapping": {"max_input_size": 3}})
    arr = AnalogArray(2, 5, cfg)
    assert len(arr.tiles) == 2 and all(type(t) is cls for t in arr.tiles)


def test_a_type_change_replaces_the_algorithm_mapping():
    cfg = build_config({"rpu": {"algorithm": {"type": "ttv2", "buffer_granularity": 2.0}}},
                       {"rpu": {"algorithm": {"type": "tiki-taka"}}})
    assert cfg.rpu.algorithm.type == "tiki-taka" and cfg.rpu.algorithm.gamma == 0.0


def test_fast_and_slow_devices_may_differ():
    t = _tile(2, 3, {"type": "ttv2", "fast_device": {"type": "soft_bounds", "dw_min": 0.02},
                     "slow_device": {"type": "constant_step", "dw_min": 0.005}})
    assert t.fast.device_model.type == "soft_bounds" and t.fast.device_model.dw_min == 0.02
    assert t.device_model.type == "constant_step" and t.device_model.dw_min == 0.005


# --- the schedule and the transfer ------------------------------------------------------------
@pytest.mark.parametrize("forget, left", [(True, 0.0), (False, 4.0)])
def test_ttv2_transfers_every_n_vector_updates_cycling_over_columns(forget, left):
    t = _tile(3, 4, {"type": "ttv2", "transfer_every": 2, "transfer_lr": 1.0, "scale_transfer_lr": False,
                     "transfer_forward": PERFECT, "forget_buffer": forget})
    t.set_weights(torch.zeros(3, 4))
    t.fast.set_weights(torch.full((3, 4), 0.05))  # each read adds λ·0.05/θ = 5 to H: one pulse fires
    fired = []
    for _ in range(10):
        before = t.get_weights().clone()
        _idle(t)
        changed = (t.get_weights() - before).abs().amax(dim=0) > 0
        fired.append(changed.nonzero().flatten().tolist())
    assert fired == [[], [0], [], [1], [], [2], [], [3], [], [0]]
    assert torch.allclose(t.get_weights()[:, 0], torch.full((3,), 0.02))  # two pulses of 0.01 (max_pulses 1 each)
    assert torch.allclose(t.buffer[:, 1], torch.full((3,), left))  # forgotten, or 5 − 1 kept


def test_transfer_events_of_one_update_read_the_next_columns():
    t = _tile(2, 3, {"type": "ttv2", "transfer_every": 1, "n_reads_per_transfer": 2, "scale_transfer_lr": False,
                     "transfer_forward": PERFECT})
    t.set_weights(torch.zeros(2, 3))
    t.fast.set_weights(torch.full((2, 3), 0.05))
    _idle(t, rows=2)  # 2 events × 2 reads: columns 0, 1, 2, 0
    assert torch.allclose(t.get_weights(), torch.tensor([[0.02, 0.01, 0.01]] * 2))


def test_units_in_mbatch_counts_updates_not_rows():
    t = _tile(2, 3, {"type": "tiki-taka", "units_in_mbatch": True, "transfer_every": 2})
    _idle(t, rows=5)
    assert t._next_col == 0
    _idle(t, rows=5)
    assert t._next_col == 1


def test_tiki_taka_writes_the_read_column_into_c_by_pulses():
    t = _tile(3, 4, {"type": "tiki-taka", "units_in_mbatch": False, "scale_transfer_lr": False,
                     "transfer_forward": PERFECT})
    t.set_weights(torch.zeros(3, 4))
    t.fast.set_weights(torch.tensor([[0.3, -0.3, 0.3, 0.0]] * 3))
    for col, sign in ((0, 1), (1, -1)):
        before = t.get_weights().clone()
        _idle(t)
        delta = t.get_weights() - before
        others = [c for c in range(4) if c != col]
        assert torch.all(delta[:, others] == 0)
        assert torch.all(sign * delta[:, col] >= 0.05)  # ≈ 9.5 of the 10 slots fire, 0.01 each


def test_buffer_fires_only_past_the_threshold_and_keeps_the_remainder():
    h = torch.tensor([0.5, -0.99, 1.2, -2.7, 3.5])
    n, kept = buffer_fire(h, 2, forget=False, momentum=0.0)
    assert n.tolist() == [0, 0, 1, -2, 2]
    assert torch.allclose(kept, torch.tensor([0.5, -0.99, 0.2, -0.7, 1.5]))
    n, forgot = buffer_fire(h, 2, forget=True, momentum=0.1)
    assert torch.allclose(forgot, torch.tensor([0.5, -0.99, 0.12, -0.27, 0.35]))


@pytest.mark.parametrize("forget, rest", [(True, 0.0), (False, 0.2)])
def test_ttv2_buffer_integrates_reads_until_it_crosses_one(forget, rest):
    t = _tile(2, 1, {"type": "ttv2", "scale_transfer_lr": False, "transfer_forward": PERFECT,
                     "forget_buffer": forget})
    t.set_weights(torch.zeros(2, 1))
    t.fast.set_weights(torch.full((2, 1), 0.003))  # H += 0.3 per read (θ = Δw_min of A = 0.01)
    for _ in range(3):
        _idle(t)
    assert torch.all(t.get_weights() == 0) and torch.allclose(t.buffer, torch.full((2, 1), 0.9))
    _idle(t)
    assert torch.allclose(t.get_weights(), torch.full((2, 1), 0.01))
    assert torch.allclose(t.buffer, torch.full((2, 1), rest), atol=1e-6)


def test_chopper_flips_the_sign_of_what_a_receives_and_of_its_read():
    t = _tile(2, 2, {"type": "chopped-ttv2", "in_chop_prob": 1.0, "fast_device": {"type": "ideal"},
                     "transfer_lr": 0.001, "scale_transfer_lr": False, "transfer_forward": PERFECT})
    t.set_weights(torch.zeros(2, 2))
    x, d = torch.tensor([[1.0, 0.0]]), torch.ones(1, 2)
    t.update(x, d, 0.1)  # A[:, 0] −= 0.1; column 0 read with c₀ = +1, then c₀ flips
    assert torch.allclose(t.fast.get_weights()[:, 0], torch.full((2,), -0.1))
    assert torch.allclose(t.buffer[:, 0], torch.full((2,), -0.1)) and t.in_chopper.tolist() == [-1, 1]
    t.update(x, d, 0.1)  # c₀ = −1: A[:, 0] receives +0.1; column 1 is read, c₁ flips
    assert torch.allclose(t.fast.get_weights()[:, 0], torch.zeros(2), atol=1e-7)
    assert t.in_chopper.tolist() == [-1, -1]
    t.update(x, d, 0.1)  # A[:, 0] = +0.1, read ×c₀ = −1: H gets the gradient's sign again
    assert torch.allclose(t.buffer[:, 0], torch.full((2,), -0.2))


def test_chopper_flip_probability():
    n, p = 20000, 0.3
    flipped = (flip_signs(torch.ones(n), p, torch.Generator().manual_seed(3)) < 0).double().mean().item()
    assert abs(flipped - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_output_choppers_flip_after_a_full_pass():
    t = _tile(3, 2, {"type": "chopped-ttv2", "in_chop_prob": 0.0, "out_chop_prob": 1.0})
    _idle(t)
    assert t.out_chopper.tolist() == [1, 1, 1]
    _idle(t)
    assert t.out_chopper.tolist() == [-1, -1, -1]


def test_agad_reads_against_the_mean_of_the_last_chopper_period():
    """n = 2 reads per period (regular switching after passes 1, 3, ...), β = 1 (m = the last read)."""
    t = _tile(1, 1, {"type": "agad", "in_chop_prob": 0.5, "fast_device": {"type": "ideal"},
                     "transfer_lr": 0.001, "scale_transfer_lr": False, "transfer_forward": PERFECT})
    t.set_weights(torch.zeros(1, 1))
    t.fast.set_weights(torch.full((1, 1), 0.1))  # an offset of A: H gets λ/θ·(v − p) = v − p
    signs = []
    for _ in range(4):
        _idle(t)
        signs.append(int(t.in_chopper[0]))
    assert signs == [1, -1, -1, 1]
    assert torch.allclose(t.buffer, torch.full((1, 1), 0.2))  # 0.1 twice, then 0 against p = 0.1
    t.fast.set_weights(torch.full((1, 1), 0.15))  # a change of A enters with the chopper's sign
    _idle(t)
    assert torch.allclose(t.buffer, torch.full((1, 1), 0.25)) and torch.allclose(t.past_mean, torch.full((1, 1), 0.1))


def test_agad_writes_nothing_to_c_while_its_reference_forms():
    t = _tile(2, 1, {"type": "agad", "in_chop_prob": 0.5, "scale_transfer_lr": False, "transfer_forward": PERFECT})
    t.set_weights(torch.zeros(2, 1))
    t.fast.set_weights(torch.full((2, 1), 0.05))  # H += 5 in the first passes (p = 0): a pulse is due
    for _ in range(3):  # passes 0, 1, 2 = n: nothing written
        _idle(t)
        assert torch.all(t.get_weights() == 0)
    t.fast.set_weights(torch.full((2, 1), 0.1))  # v − p = 0.05, chopper −1: one pulse down, written
    _idle(t)
    assert torch.allclose(t.get_weights(), torch.full((2, 1), -0.01))


# --- reference (zero-shifting) -----------------------------------------------------------------
def test_reference_starts_a_at_its_symmetry_point_and_reads_zero():
    t = _tile(3, 4, {"type": "tiki-taka", "reference": True, "gamma": 1.0},
              device={"type": "soft_bounds", "up_down": 0.3})
    assert torch.allclose(t.fast.get_weights(), symmetry_point(t.fast.device_model, t.fast.params)[0])
    assert float(t.fast.get_weights().mean()) > 0.1  # soft bounds, a = 0.3: w* = a·b ≈ 0.18
    assert torch.allclose(t.fast_weights(), torch.zeros(3, 4), atol=1e-6)
    t.set_weights(torch.full((3, 4), 0.2))
    assert torch.allclose(t.get_weights(), torch.full((3, 4), 0.2), atol=1e-5)


# --- mixed precision ----------------------------------------------------------------------------
def test_mixed_precision_transfers_whole_steps_and_keeps_the_remainder():
    t = _tile(2, 2, {"type": "mixed-precision", "transfer_every": 2})
    t.set_weights(torch.zeros(2, 2))
    x, d = torch.tensor([[1.0, 0.5]]), torch.tensor([[-0.025, 0.013]])
    t.update(x, d, 1.0)  # χ = −dᵀx, no transfer yet
    chi = torch.tensor([[0.025, 0.0125], [-0.013, -0.0065]])
    assert torch.allclose(t.chi, chi) and torch.all(t.get_weights() == 0)
    t.update(torch.zeros(1, 2), torch.zeros(1, 2), 1.0)  # the second vector update: transfer
    assert torch.allclose(t.get_weights(), torch.tensor([[0.02, 0.01], [-0.01, 0.0]]), atol=1e-6)
    assert torch.allclose(t.chi, torch.tensor([[0.005, 0.0025], [-0.003, -0.0065]]), atol=1e-6)


def test_mixed_precision_cycles_over_rows():
    t = _tile(3, 1, {"type": "mixed-precision", "n_rows_per_transfer": 1, "granularity": 0.01})
    t.set_weights(torch.zeros(3, 1))
    t.chi.fill_(0.015)
    changed = []
    for _ in range(4):
        before = t.get_weights().clone()
        _idle(t)
        changed.append((t.get_weights() != before).flatten().nonzero().flatten().tolist())
    assert changed == [[0], [1], [2], []]


def test_dynamic_quantisation_is_unbiased_with_stochastic_rounding():
    x = torch.tensor([[0.37, -0.81, 1.0, 0.05]]).expand(4000, 4)
    q = quantize_dynamic(x, 5, True, torch.Generator().manual_seed(1))  # levels k·0.5
    assert set(torch.unique(q).tolist()) <= {-1.0, -0.5, 0.0, 0.5, 1.0}
    se = 0.5 * 0.5 / math.sqrt(4000)  # a rounding step's std is at most r/2
    assert torch.all((q.mean(0) - x[0]).abs() < 5 * se)
    assert torch.equal(quantize_dynamic(x[:1], 5, False, None), torch.tensor([[0.5, -1.0, 1.0, 0.0]]))


# --- behaviour: an asymmetric device -------------------------------------------------------------
@lru_cache(maxsize=None)
def _errors(algorithm: tuple) -> tuple[float, float]:
    """(mean, standard error) of the final error over 3 seeds."""
    e = torch.tensor([learn(dict(algorithm), s)["rms"][-1] for s in range(3)])
    return float(e.mean()), float(e.std() / math.sqrt(len(e)))


@pytest.mark.parametrize("algorithm", [{"type": "tiki-taka", "reference": True},
                                       {"type": "ttv2", "reference": True},
                                       {"type": "chopped-ttv2", "in_chop_prob": 0.02}, {"type": "agad"}],
                         ids=lambda a: a["type"])
def test_transfer_algorithms_beat_sgd_on_an_asymmetric_device(algorithm):
    """Soft bounds with 10 % up/down asymmetry (symmetry point ≈ 0.06) and noisy gradients: SGD's pulses
    drag every weight towards the symmetry point (RMS error ≈ 0.12); the algorithms land within ≈ 0.06.
    Margin: 4 standard errors of the difference, and at least a third below SGD."""
    sgd, sgd_se = _errors((("type", "sgd"),))
    alg, alg_se = _errors(tuple(sorted(algorithm.items())))
    assert sgd - alg > 4 * math.hypot(sgd_se, alg_se), (sgd, sgd_se, alg, alg_se)
    assert alg < 0.67 * sgd, (sgd, alg)


# --- checkpoints and layers ----------------------------------------------------------------------
COMPOUNDS = [{"type": "tiki-taka", "reference": True, "gamma": 0.5}, {"type": "ttv2"},
             {"type": "chopped-ttv2", "in_chop_prob": 0.5, "out_chop_prob": 0.5, "n_reads_per_transfer": 2},
             {"type": "agad", "in_chop_prob": 0.5},
             {"type": "mixed-precision", "n_rows_per_transfer": 1, "n_x_bins": 9, "n_d_bins": 9}]
GRID = {"mapping": {"max_input_size": 3, "max_output_size": 2}, "devices_per_weight": 2}


@pytest.mark.parametrize("algorithm", COMPOUNDS, ids=lambda a: a["type"])
def test_resume_from_a_checkpoint_is_bit_exact(algorithm):
    cfg = RPUConfig.from_dict({**GRID, "algorithm": algorithm, "device": {"type": "soft_bounds"}})
    data = torch.Generator().manual_seed(5)
    batches = [(torch.randn(3, 5, generator=data), torch.randn(3, 4, generator=data)) for _ in range(12)]
    torch.manual_seed(0)
    arr = AnalogArray(4, 5, cfg)
    for x, d in batches[:6]:
        arr.update(x, d, 0.1)
    buf = io.BytesIO()
    torch.save(arr.state_dict(), buf)
    for x, d in batches[6:]:
        arr.update(x, d, 0.1)
    torch.manual_seed(1)  # another construction: everything must come from the checkpoint
    again = AnalogArray(4, 5, cfg)
    buf.seek(0)
    again.load_state_dict(torch.load(buf, weights_only=False))
    for x, d in batches[6:]:
        again.update(x, d, 0.1)
    assert torch.equal(arr.get_weights(), again.get_weights())
    for (k, a), b in zip(arr.state_dict().items(), again.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), k
    assert arr.stats() == again.stats()


def _step(model, inp):
    opt = AnalogSGD(model.parameters(), lr=0.1)
    out = model(inp)
    out = out[0] if isinstance(out, tuple) else out
    out.pow(2).sum().backward()
    opt.step()


@pytest.mark.parametrize("algorithm", COMPOUNDS[1:], ids=lambda a: a["type"])
@pytest.mark.parametrize("layer", ["linear", "conv2d", "lstm"])
def test_layers_train_on_compound_tiles(layer, algorithm):
    cfg = RPUConfig.from_dict({**GRID, "algorithm": algorithm})
    torch.manual_seed(0)
    model, inp = {
        "linear": lambda: (AnalogLinear(5, 4, rpu_config=cfg), torch.randn(6, 5)),
        "conv2d": lambda: (AnalogConv2d(2, 3, 3, rpu_config=cfg), torch.randn(2, 2, 6, 6)),
        "lstm": lambda: (AnalogLSTM(3, 4, rpu_config=cfg), torch.randn(5, 2, 3)),
    }[layer]()
    tiles = [m for m in model.modules() if isinstance(m, (TransferTile, MixedPrecisionTile))]
    assert tiles
    hidden = [(t.fast.state if isinstance(t, TransferTile) else t.chi).clone() for t in tiles]
    _step(model, inp)
    now = [t.fast.state if isinstance(t, TransferTile) else t.chi for t in tiles]
    assert any(not torch.equal(a, b) for a, b in zip(hidden, now))  # the gradient reached A (or χ)
    assert all(t.stats["updates"] > 0 and t.stats["fwd_mvms"] > 0 for t in tiles)


def test_lstm_sequence_kernel_computes_with_the_effective_weight():
    """The LSTM's numba sequence kernel reads the tile's get_weights(): γ·(A − R) + C of a compound,
    the same as the step-by-step path (perfect periphery: equal up to float rounding)."""
    cfg = RPUConfig.from_dict({"algorithm": {"type": "ttv2", "gamma": 0.5}, "forward": PERFECT,
                               "backward": PERFECT})
    torch.manual_seed(0)
    lstm = AnalogLSTM(3, 4, rpu_config=cfg)
    cell = lstm.cells[0]
    tile = cell.array.tiles[0]
    tile.fast.set_weights(torch.rand(16, 8) * 0.2 - 0.1)
    tile._cached.clear()
    seq, state = torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(2, 4))
    if reference_forced():
        pytest.skip("the reference path is forced (RPUSIM_REFERENCE=1): no kernel to compare")
    assert cell._kernel_applies(seq, state)
    fast, _ = cell.forward_sequence(seq, state)
    steps = []
    s = state
    for x_t in seq:
        s = cell(x_t, s)
        steps.append(s[0])
    assert torch.allclose(fast, torch.stack(steps), atol=1e-5)


def test_analyze_bounds_counts_the_devices_of_both_arrays_apart():
    from rpusim.framework.analyze import near_bounds
    cfg = RPUConfig.from_dict({"algorithm": {"type": "ttv2"}})
    torch.manual_seed(0)
    model = torch.nn.Sequential(AnalogLinear(5, 4, bias=False, rpu_config=cfg))
    model[0].set_weights(torch.zeros(4, 5))
    middle = {"devices": 20, "upper": 0.0, "lower": 0.0, "either": 0.0}
    assert near_bounds(model) == {"0 (C)": middle, "0 (A)": middle}
    model[0].array.tiles[0].fast.set_weights(torch.full((4, 5), 10.0))  # A's 20 devices at their upper bounds
    got = near_bounds(model)
    assert got["0 (A)"]["upper"] == 1.0 and got["0 (C)"] == middle


# --- the charge-trap-flash device under every algorithm --------------------------------------------
CTF = {"type": "ctf", "pw": 1.0, "t_gap": 5.0}  # the CTF study's N = 100, t_gap 5 µs (pw = 100 µs / N)
CTF_ALGORITHMS = [{"type": "sgd"}, {"type": "tiki-taka", "reference": True, "fast_lr": 10.0},
                  {"type": "ttv2", "reference": True, "fast_lr": 20.0, "max_pulses": 100},
                  {"type": "chopped-ttv2", "fast_lr": 20.0, "max_pulses": 100},
                  {"type": "agad", "fast_lr": 20.0, "max_pulses": 100}, {"type": "mixed-precision"}]


def _ctf_layer(algorithm, compensation):
    cfg = RPUConfig.from_dict({"device": {**CTF, "compensation": compensation}, "algorithm": algorithm,
                               "update": {"bl": 100, "update_management": True}})
    torch.manual_seed(0)
    layer = AnalogLinear(6, 4, bias=False, rpu_config=cfg)
    return layer, layer.array.tiles[0], AnalogSGD(layer.parameters(), lr=0.1)


def _gradient_store(tile):
    """What the gradient moves at once: A − R of a transfer tile, else the array's weights (mixed
    precision transfers χ's whole steps after every vector update, by default)."""
    return (tile.fast_weights() if isinstance(tile, TransferTile) else tile.get_weights()).clone()


@pytest.mark.parametrize("compensation", [False, True], ids=["plain", "compensated"])
@pytest.mark.parametrize("algorithm", CTF_ALGORITHMS, ids=lambda a: a["type"])
def test_ctf_layer_trains_under_every_algorithm(algorithm, compensation):
    """A 6 → 4 layer on CTF cells (BL = N = 100 slots, update management), loss Σ g·y, so that every
    step's error is g and the ideal update −η·g·xᵀ is the same: after one step what the gradient
    moves (A − R, or the weights) has moved along −g·xᵀ in most cells and against it in none; after
    three passes over the columns the weights the network reads have too (AGAD: not yet, its
    reference is still being formed, C is untouched)."""
    layer, tile, opt = _ctf_layer(algorithm, compensation)
    x, g = torch.tensor([[1.0, -0.8, 0.6, -1.0, 0.9, -0.7]]), torch.tensor([1.0, -1.0, 0.8, -0.6])
    direction = -torch.outer(g, x[0]).sign()
    store, w0 = _gradient_store(tile), layer.get_weights()[0].clone()
    for step in range(18):
        (layer(x) * g).sum().backward()
        opt.step()
        opt.zero_grad()
        if step == 0:
            moved = _gradient_store(tile) - store
            assert torch.isfinite(moved).all() and (moved.sign() == direction).float().mean() > 0.5
            assert not (moved.sign() == -direction).any()
    dw = layer.get_weights()[0] - w0
    assert torch.isfinite(dw).all()
    if algorithm["type"] == "agad":
        assert torch.equal(dw, torch.zeros_like(dw))
    else:
        assert (dw.sign() == direction).float().mean() > 0.75 and (dw * direction).sum() > 0, dw


def test_mixed_precision_fires_its_whole_steps_in_trains_of_bl_slots(monkeypatch):
    """The transfer's pulses go out in trains of the array's BL slots (more in consecutive trains), as a
    gradient update's: the CTF cell's train tables are asked for BL slots whatever the largest count, so
    they are computed once per number of trains, not once per count (formerly: slots = the largest count)."""
    asked = []
    tables = CTFDevice._tables
    monkeypatch.setattr(CTFDevice, "_tables", lambda self, slots, top: asked.append(slots) or tables(self, slots, top))
    cfg = RPUConfig.from_dict({"device": CTF, "algorithm": {"type": "mixed-precision"}, "update": {"bl": 100}})
    tile = tile_class(cfg)(3, 5, cfg, 0)
    gen = torch.Generator().manual_seed(0)
    before = tile.get_weights().clone()
    for scale in (0.001, 0.01, 0.03, 0.1):  # up to ≈ 1000 whole steps of Δw_min = 10⁻⁴
        tile.update(torch.rand(1, 5, generator=gen), scale * torch.rand(1, 3, generator=gen), 1.0)
    assert asked and set(asked) == {100}
    assert not torch.equal(tile.get_weights(), before)

"""CTF device: program curve, window, program-time effects, fast path vs slot-by-slot reference,
compensation, and the experiment's configs."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rpusim.config import ConfigError
from rpusim.devices import CTFDevice, device_from_dict
from rpusim.devices.ctf import reference_train
from rpusim.devices.ctf_transient import train_loss_moments

CLEAN = dict(window_dtod=0.0, speed_dtod=0.0, c2c_std=0.0)


def params(dev, shape=(1, 4, 5), seed=0):
    return dev.sample_params(shape, torch.Generator().manual_seed(seed))


def split_shift(dev, total_on, n_pulses, t_gap):
    """Cumulative weight shift of a relaxed mid-window cell for total_on µs split into n pulses."""
    d = dev.model_copy(update={"pw": total_on / n_pulses, "t_gap": t_gap})
    p = {k: v.double() for k, v in params(d, (1, 1, 1)).items()}
    w = torch.zeros(1, 1, 1, dtype=torch.float64)
    bits = torch.ones((n_pulses, 1, 1, 1), dtype=torch.bool)
    return float(reference_train(d, w, bits, torch.ones_like(w), p, None) - w)


@pytest.mark.parametrize("beta", [1.0, 0.3, 2.5])
def test_program_curve_monotone_and_saturates_within_window(beta):
    dev = CTFDevice(beta=beta, **CLEAN)
    p = {k: v.double() for k, v in params(dev, (1, 1, 1)).items()}
    zero = torch.zeros(1, 1, 1, dtype=torch.float64)
    times = torch.logspace(-1, 7 + 12 * (beta < 1), 80, dtype=torch.float64)
    up = torch.stack([dev.move(zero - 1, t.reshape(1, 1, 1), zero, p) for t in times]).flatten()
    down = torch.stack([dev.move(zero + 1, zero, t.reshape(1, 1, 1), p) for t in times]).flatten()
    assert (up.diff() >= 0).all() and (up.diff()[up[1:] < 1 - 1e-9] > 0).all()
    assert up[-1] <= 1.0 and up[-1] > 0.99
    assert (down.diff() <= 0).all() and (down.diff()[down[1:] > -1 + 1e-9] < 0).all()
    assert down[-1] >= -1.0 and down[-1] < -0.99
    assert float(dev.v_t(torch.tensor(-1.0))) == dev.v_lo and float(dev.v_t(torch.tensor(1.0))) == dev.v_hi


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), n_slots=st.sampled_from([10, 100]), c2c=st.floats(0, 3))
def test_state_never_leaves_the_cell_window(seed, n_slots, c2c):
    dev = CTFDevice(pw=100 / n_slots, c2c_std=c2c)
    g = torch.Generator().manual_seed(seed)
    p = dev.sample_params((1, 30, 30), g)
    w = dev.clip(torch.rand((1, 30, 30), generator=g) * 2 - 1, p)
    for _ in range(5):
        n_up = torch.randint(0, n_slots + 1, w.shape, generator=g).float()
        n_down = torch.randint(0, n_slots + 1, w.shape, generator=g).float()
        w = dev.apply_pulses(w, n_up, n_down, p, g, n_slots)
        assert (w >= p["w_lo"]).all() and (w <= p["w_hi"]).all()


@settings(max_examples=20, deadline=None)
@given(tau_on=st.floats(0.3, 3), tau_off=st.floats(1, 100), a=st.floats(0.2, 1),
       gap_ratio=st.floats(0.05, 2), total=st.floats(5, 50))
def test_shift_falls_with_pulse_count_and_rises_as_gap_shrinks(tau_on, tau_off, a, gap_ratio, total):
    t_gap = gap_ratio * tau_off
    dev = CTFDevice(tau_on=tau_on, tau_off=tau_off, transient=a, **CLEAN)
    shifts = [split_shift(dev, total, n, t_gap) for n in (1, 2, 5, 20)]
    assert all(x > y for x, y in zip(shifts, shifts[1:]))
    gaps = [split_shift(dev, total, 10, g) for g in (0.1 * t_gap, t_gap, 10 * t_gap)]
    assert gaps[0] > gaps[1] > gaps[2]


def test_sharp_drop_below_two_microseconds():
    dev = CTFDevice(**CLEAN)
    eff = {pw: split_shift(dev, 40.0, round(40 / pw), 100.0) / split_shift(dev, 40.0, 1, 100.0)
           for pw in (10.0, 4.0, 2.0, 1.0, 0.5)}
    assert eff[10.0] > 0.85 and eff[2.0] < 0.7 and eff[0.5] < 0.35


@pytest.mark.parametrize("n_slots", [1, 7, 50])
def test_without_transient_program_time_is_conserved(n_slots):
    dev = CTFDevice(transient=0.0, **CLEAN)
    one = split_shift(dev, 30.0, 1, 1.0)
    assert split_shift(dev, 30.0, n_slots, 1.0) == pytest.approx(one, rel=1e-4)
    assert split_shift(dev, 30.0, n_slots, 500.0) == pytest.approx(one, rel=1e-4)


def test_transient_moments_match_monte_carlo():
    n_slots, pw, t_gap, tau_on, tau_off = 12, 1.0, 2.0, 1.0, 10.0
    mean, var = train_loss_moments(n_slots, pw, t_gap, tau_on, tau_off)
    A, c, q = math.exp(-pw / tau_on), math.exp(-t_gap / tau_off), math.exp(-(pw + t_gap) / tau_off)
    rng = np.random.default_rng(0)
    for n in (2, 5, 11):
        losses = []
        for _ in range(3000):
            e, loss = 0.0, 0.0
            chosen = set(rng.choice(n_slots, n, replace=False).tolist())
            for s in range(n_slots):
                if s in chosen:
                    loss += 1 - e
                    e = (1 - (1 - e) * A) * c
                else:
                    e *= q
            losses.append(loss)
        assert np.mean(losses) == pytest.approx(mean[n], abs=4 * np.std(losses) / np.sqrt(3000) + 1e-9)
        assert np.var(losses) == pytest.approx(var[n], rel=0.15, abs=1e-6)


@pytest.mark.parametrize("n_slots,rate,t_gap", [(10, 0.3, 1.0), (100, 0.2, 20.0), (250, 0.05, 5.0)])
def test_fast_path_matches_slot_by_slot_reference(n_slots, rate, t_gap):
    dev = CTFDevice(pw=100 / n_slots, t_gap=t_gap)
    g = torch.Generator().manual_seed(3)
    shape = (1, 60, 50)
    p = dev.sample_params(shape, g)
    w0 = dev.clip(0.3 * torch.randn(shape, generator=g), p)
    bits = torch.rand((n_slots,) + shape, generator=g) < rate
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, 1.0, -1.0)
    ref = reference_train(dev, w0, bits, sign, p, g) - w0
    n = bits.sum(0).float()
    fast = dev.apply_pulses(w0, n * (sign > 0), n * (sign < 0), p, g, n_slots) - w0
    for s in (1.0, -1.0):
        m = sign == s
        r, f = ref[m], fast[m]
        se = math.sqrt(r.var() / r.numel() + f.var() / f.numel())
        assert abs(float(r.mean() - f.mean())) < 4 * se
        assert float(f.std()) == pytest.approx(float(r.std()), rel=0.1)


def test_zero_counts_leave_cells_unchanged():
    dev = CTFDevice()
    g = torch.Generator().manual_seed(0)
    p = dev.sample_params((1, 10, 10), g)
    w = dev.clip(0.2 * torch.randn((1, 10, 10), generator=g), p)
    n = torch.zeros_like(w)
    n[0, :5] = 3
    out = dev.apply_pulses(w, n, torch.zeros_like(n), p, g, 20)
    assert torch.equal(out[0, 5:], w[0, 5:]) and (out[0, :5] > w[0, :5]).all()


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_fused_kernel_matches_apply_pulses_on_the_gathered_cells(beta):
    shape, slots = (2, 30, 40), 100
    rows, cols = torch.tensor([1, 4, 7, 29]), torch.tensor([0, 3, 39])
    g = torch.Generator().manual_seed(3)
    n_up = torch.randint(0, 30, (4, 3), generator=g).float()
    n_down = torch.randint(0, 30, (4, 3), generator=g).float()
    for quiet in (True, False):
        dev = CTFDevice(beta=beta, **({"c2c_std": 0.0, "transient": 0.0} if quiet else {}))
        p = dev.sample_params(shape, g)
        w0 = dev.clip(0.2 * torch.randn(shape, generator=g), p)
        sub = {k: v[:, rows[:, None], cols[None, :]] for k, v in p.items()}
        fused, ref = [], []
        for t in range(1 if quiet else 300):
            w = w0.clone()
            assert dev.apply_pulses_at(w, p, rows, cols, n_up, n_down, torch.Generator().manual_seed(t), slots)
            untouched = torch.ones(shape, dtype=torch.bool)
            untouched[:, rows[:, None], cols[None, :]] = False
            assert torch.equal(w[untouched], w0[untouched])
            fused.append(w[:, rows[:, None], cols[None, :]])
            ref.append(dev.apply_pulses(w0[:, rows[:, None], cols[None, :]], n_up, n_down, sub,
                                        torch.Generator().manual_seed(10_000 + t), slots))
        fused, ref = torch.stack(fused), torch.stack(ref)
        if quiet:
            torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-6)
        else:
            se = ref.std(0) / 300**0.5 + 1e-7
            assert ((fused.mean(0) - ref.mean(0)).abs() < 5 * se).all()
            assert ((fused.std(0) / (ref.std(0) + 1e-9) - 1).abs()[ref.std(0) > 1e-5] < 0.25).all()


@pytest.mark.parametrize("n_slots,t_gap", [(10, 1.0), (100, 5.0), (1000, 100.0)])
def test_compensation_restores_the_ideal_mean_update(n_slots, t_gap):
    rate = 0.05
    kw = dict(pw=100 / n_slots, t_gap=t_gap, calib_rate=rate, **CLEAN)
    g = torch.Generator().manual_seed(1)
    shape = (1, 40, 50)
    w0 = torch.zeros(shape)
    bits = torch.rand((n_slots,) + shape, generator=g) < rate
    ideal = float(bits.sum(0).float().mean()) * CTFDevice(**kw).nominal_dw_min
    dw = {}
    for comp in (False, True):
        dev = CTFDevice(compensation=comp, **kw)
        dw[comp] = float((reference_train(dev, w0, bits, torch.ones(shape), params(dev, shape), g) - w0).mean())
    assert dw[True] == pytest.approx(ideal, rel=0.03)
    assert abs(dw[False] - ideal) > 3 * abs(dw[True] - ideal)


@pytest.mark.parametrize("n_slots,t_gap", [(50, 1.0), (1000, 20.0)])
def test_the_compensation_gain_solves_its_calibration_in_few_evaluations(n_slots, t_gap, monkeypatch):
    """k(N, t_gap): the mean effective time per pulse at the calibration rate equals pw (to 1e-8),
    found in at most 15 evaluations of the train's expectation (bisection to that precision: 30)."""
    from rpusim.devices import ctf
    calls = []
    mean_time = ctf._mean_time_per_pulse
    monkeypatch.setattr(ctf, "_mean_time_per_pulse", lambda *a: calls.append(a) or mean_time(*a))
    dev = CTFDevice(pw=100 / n_slots, t_gap=t_gap, compensation=True, calib_rate=0.0375, **CLEAN)
    k = dev.compensation_gain(n_slots)
    assert mean_time(dev._timing_key(), n_slots, 0.0375, k) == pytest.approx(dev.pw, rel=1e-8)
    assert 1 < k < 1 / (1 - dev.transient) and len(calls) <= 15
    assert dev.model_copy(update={"transient": 0.0}).compensation_gain(n_slots) == 1.0  # nothing to compensate


def test_nominal_step_is_one_ideal_pulse_at_mid_window():
    dev = CTFDevice(transient=0.0, **CLEAN)
    p = params(dev, (1, 1, 1))
    w = torch.zeros(1, 1, 1)
    step = float(dev.pulse(w, torch.ones_like(w), p, None) - w)
    assert step == pytest.approx(dev.nominal_dw_min, rel=1e-3)


def test_bad_config_names_the_field():
    with pytest.raises(ConfigError, match="transient"):
        device_from_dict({"type": "ctf", "transient": 1.5})
    with pytest.raises(ConfigError, match="v_lo"):
        device_from_dict({"type": "ctf", "v_lo": 6.0})


@pytest.mark.parametrize("mode, trials", [("fast", 300), ("exact", 100)])
def test_tile_trains_with_ctf_device_in_fast_and_exact_mode(mode, trials):
    """Cells without transient loss, noise or spread conserve program time: each coincidence is
    worth one nominal step at mid-window, so the mean change of an update is the SGD step
    −lr·δxᵀ (within 5 standard errors); with the default transient every cell still moves
    in the descent direction."""
    from rpusim.tile import AnalogTile, RPUConfig
    ideal_cells = {"type": "ctf", "transient": 0.0, "c2c_std": 0.0, "window_dtod": 0.0, "speed_dtod": 0.0}
    cfg = RPUConfig.from_dict({"device": ideal_cells, "update": {"bl": 20, "mode": mode}})
    tile = AnalogTile(8, 6, cfg, seed=0)
    x = torch.tensor([[0.9, 0.7, 0.5, 0.3, 0.2, 0.1]])
    d = torch.tensor([[0.5, -0.5, 0.4, -0.4, 0.3, -0.3, 0.2, -0.2]])
    lr = 0.002  # C = sqrt(lr/(BL·Δw_nominal)) = 1: no probability clipped
    dws = []
    for _ in range(trials):
        tile.set_weights(torch.zeros(8, 6))
        tile.update(x, d, lr)
        dws.append(tile.get_weights().clone())
    dws = torch.stack(dws)
    assert tile.stats["pulse_probs_clipped"] == 0
    se = dws.std(0) / trials**0.5
    assert ((dws.mean(0) + lr * d.T @ x).abs() < 5 * se).all()
    cfg = RPUConfig.from_dict({"device": {"type": "ctf", "pw": 1.0}, "update": {"bl": 100, "mode": mode}})
    tile = AnalogTile(8, 6, cfg, seed=0)
    before = tile.get_weights().clone()
    tile.update(torch.rand(1, 6), torch.ones(1, 8) * 0.5, 0.1)
    assert (tile.get_weights() <= before).all() and (tile.get_weights() < before).any()


def test_experiment_grid_and_ablation_configs():
    from rpusim.framework import variant_configs
    from rpusim.papers.catalog import get_experiment
    from rpusim.papers.ctf import ablation_variants, grid_variants, matched_c2c
    assert len(grid_variants()) == 1 + 6 * 4 * 2
    grid = variant_configs(get_experiment("ctf-mnist"), list(grid_variants()), "study")
    cfg = grid["N1000-gap100-comp"]
    assert cfg.rpu.update.bl == 1000 and cfg.rpu.device.pw == pytest.approx(0.1) and cfg.rpu.device.compensation
    assert cfg.train.lr == 0.1 and cfg.data.train_limit == 8000
    abl = variant_configs(get_experiment("ctf-fashion"), list(ablation_variants()), "study")
    assert abl["abl-time-only-N10"].rpu.device.c2c_std == pytest.approx(0.3)
    assert abl["abl-neither-N1000"].rpu.device.transient == 0.0
    assert abl["abl-neither-N1000"].data.dataset == "fashion-mnist"
    assert matched_c2c(1000) > matched_c2c(100) > matched_c2c(10)


def test_study_figures_from_run_summaries(tmp_path):
    import json

    from rpusim.papers.ctf import GRID
    from rpusim.papers.ctf_figures import study_figures
    for i, v in enumerate(["fp", "N10-gap1", "N1000-gap100-comp", "abl-noise-only-N10", "N10-gap5"]):
        (tmp_path / v).mkdir()
        (tmp_path / v / "summary.json").write_text(json.dumps({"variant": v, "final": 10.0 + i}))
        (tmp_path / v / "metrics.csv").write_text("epoch,test_error\n0,90\n1,%d\n" % (10 + i))
    paths = study_figures(tmp_path, "test", GRID)
    assert {p.name for p in paths} == {"accuracy.csv", "heatmap.png", "curves_chosen.png", "ablation.png"}
    assert "N1000-gap100-comp,88.00" in (tmp_path / "accuracy.csv").read_text()


@pytest.mark.data("mnist")
def test_run_draws_the_study_figures(tmp_path):
    from rpusim.framework.runner import run_experiment
    from rpusim.papers.catalog import get_experiment
    exp = get_experiment("ctf-mnist")
    assert exp.variant_names(["all"]) == list(exp.variants)
    import csv
    import json

    import matplotlib.image
    variants = ["fp", "N10-gap1", "N10-gap1-comp"]
    results = run_experiment(exp, tmp_path, variants=variants, preset="quick",
                             overrides={"data": {"train_limit": 20, "test_limit": 20}}, log=lambda *a: None)
    with open(tmp_path / "accuracy.csv") as f:
        table = {r["variant"]: float(r["test_accuracy"]) for r in csv.DictReader(f)}
    assert list(table) == sorted(variants)  # one row per run, accuracy = 100 − its final test error
    for r in results:
        final = json.loads((tmp_path / r["variant"] / "summary.json").read_text())["final"]
        assert final == r["final"] and table[r["variant"]] == pytest.approx(100 - final, abs=0.005)
    image = matplotlib.image.imread(tmp_path / "heatmap.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 500 and image.std() > 0.05

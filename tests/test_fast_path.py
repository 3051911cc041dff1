"""The one fast-kernel/reference decision (rpusim.fast_path) and float64 numerics of every path."""
import math

import pytest
import torch
from torch import nn

import rpusim.devices.constant_step_kernel as constant_step_kernel
import rpusim.devices.ctf_kernel as ctf_kernel
import rpusim.fast_path as fast_path
import rpusim.nn.lstm_kernel as lstm_kernel
import rpusim.nn.patches_kernel as patches_kernel
import rpusim.tile.bit_counts as bit_counts
import rpusim.tile.periphery as periphery
from rpusim.config import ConfigError
from rpusim.devices import ConstantStepDevice, IdealDevice
from rpusim.devices.ctf import CTFDevice
from rpusim.fast_path import REFERENCE_ENV, reference_path, use_fast_kernel
from rpusim.nn import AnalogConv2d, AnalogLinear, AnalogLSTM
from rpusim.optim import AnalogSGD
from rpusim.tile import AnalogTile, IOConfig, RPUConfig, UpdateConfig

EXACT_STEPS = dict(dw_min=0.001, dw_min_std=0.0, dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0,
                   up_down_dtod=0.0, w_max=10.0, w_min=-10.0)


# --- the predicate ------------------------------------------------------------------------------
def test_predicate_takes_the_kernel_only_for_float32_on_the_cpu_when_supported():
    f32, f64 = torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64)
    assert use_fast_kernel(f32, f32)
    assert not use_fast_kernel(f32, f64)
    assert not use_fast_kernel(f32.half())
    assert not use_fast_kernel(f32, supported=False)


def set_reference_env(monkeypatch, value: str) -> None:
    """RPUSIM_REFERENCE as a fresh process would find it (the variable is read once per process)."""
    monkeypatch.setenv(REFERENCE_ENV, value)
    monkeypatch.setattr(fast_path, "_env_forced", None)


def test_reference_path_is_forced_by_the_context_manager_and_the_environment(monkeypatch):
    x = torch.zeros(2, 3)
    with reference_path():
        with reference_path():
            assert not use_fast_kernel(x)
        assert not use_fast_kernel(x)  # still inside the outer block
    assert use_fast_kernel(x)
    set_reference_env(monkeypatch, "1")
    assert not use_fast_kernel(x)
    set_reference_env(monkeypatch, "0")
    assert use_fast_kernel(x)
    set_reference_env(monkeypatch, "yes")
    with pytest.raises(ConfigError, match=f"{REFERENCE_ENV}='yes'.*allowed"):
        use_fast_kernel(x)


KERNELS = {  # (module, name) of every kernel entry point a call site may take (imported at the call)
    "update counts": (bit_counts, "packed_update_counts"),
    "periphery": (periphery, "_kernel_pass"),
    "patches": (patches_kernel, "walk"),
    "lstm": (lstm_kernel, "lstm_forward"),
    "constant step": (constant_step_kernel, "constant_steps_at"),
    "ctf": (ctf_kernel, "ctf_trains_at"),
}


def _train_every_kind_of_layer(dtype) -> None:
    """One training step of a linear, a convolution and an LSTM layer (constant step) and a CTF linear
    layer, all on kernel-eligible configurations."""
    torch.manual_seed(0)
    rpu = RPUConfig(update=UpdateConfig(bl=31))
    models = [nn.Sequential(AnalogConv2d(1, 2, 3, rpu_config=rpu), nn.Flatten(), AnalogLinear(8, 3, rpu_config=rpu)),
              AnalogLinear(4, 3, rpu_config=RPUConfig(device=CTFDevice()))]
    inputs = [torch.rand(2, 1, 4, 4), torch.rand(2, 4)]
    for model, x in zip(models, inputs):
        model.to(dtype)
        opt = AnalogSGD(model.parameters(), lr=0.1)
        model(x.to(dtype)).square().sum().backward()
        opt.step()
    lstm = AnalogLSTM(3, 4, rpu_config=rpu).to(dtype)
    opt = AnalogSGD(lstm.parameters(), lr=0.1)
    lstm(torch.rand(5, 2, 3, dtype=dtype))[0].square().sum().backward()
    opt.step()


def _count_kernel_calls(monkeypatch) -> dict[str, int]:
    calls = dict.fromkeys(KERNELS, 0)
    for key, (module, name) in KERNELS.items():
        original = getattr(module, name)

        def counted(*args, _key=key, _original=original, **kwargs):
            calls[_key] += 1
            return _original(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    return calls


def test_every_kernel_runs_for_float32(monkeypatch):
    calls = _count_kernel_calls(monkeypatch)
    _train_every_kind_of_layer(torch.float32)
    assert all(calls.values()), calls


@pytest.mark.parametrize("how", ["float64", "reference_path", "environment"])
def test_no_kernel_runs_for_float64_or_when_the_reference_is_forced(monkeypatch, how):
    calls = _count_kernel_calls(monkeypatch)
    if how == "float64":
        _train_every_kind_of_layer(torch.float64)
    elif how == "environment":
        set_reference_env(monkeypatch, "1")
        _train_every_kind_of_layer(torch.float32)
    else:
        with reference_path():
            _train_every_kind_of_layer(torch.float32)
    assert not any(calls.values()), calls


# --- float64 against float32: the pulsed update ----------------------------------------------------
def expected_update(x, d, lr, bl, dw_min, um, blm):
    """Mean and variance of ΔW (B samples; each cell's count of sample b ~ Binomial(BL_b, p_bi·q_bj),
    a step of exactly Δw_min each), from the update's definition in float64."""
    x, d = x.double(), d.double()
    mean = torch.zeros(d.shape[1], x.shape[1], dtype=torch.float64)
    var = torch.zeros_like(mean)
    for xb, db in zip(x, d):
        xmax, dmax = xb.abs().max().item(), db.abs().max().item()
        slots = min(max(math.ceil(lr * xmax * dmax / dw_min), 1), bl) if blm else bl
        c = math.sqrt(lr / (slots * dw_min))
        m = math.sqrt(dmax / xmax) if um else 1.0
        pq = (c / m * db.abs()).clamp(max=1)[:, None] * (c * m * xb.abs()).clamp(max=1)[None, :]
        mean -= torch.sign(db)[:, None] * torch.sign(xb)[None, :] * slots * pq * dw_min
        var += slots * pq * (1 - pq) * dw_min**2
    return mean, var


def update_trials(dtype, x, d, lr, trials, seed, **upd):
    """ΔW of ``trials`` updates of a tile at W = 0 whose steps are exactly Δw_min (no noise)."""
    cfg = RPUConfig(device=ConstantStepDevice(**EXACT_STEPS), update=UpdateConfig(**upd))
    tile = AnalogTile(d.shape[1], x.shape[1], cfg, seed=seed).to(dtype)
    x, d = x.to(dtype), d.to(dtype)
    out = []
    for _ in range(trials):
        tile.set_weights(torch.zeros(d.shape[1], x.shape[1]))
        tile.update(x, d, lr)
        out.append(tile.get_weights().double().clone())
    return torch.stack(out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("um, blm", [(True, False), (False, True), (True, True)], ids=["UM", "BLM", "UM+BLM"])
def test_update_mean_and_variance_are_those_of_the_scheme_in_either_dtype(dtype, um, blm):
    """Over several seeds, per trial: ΔW projected on E[ΔW] (Σ ΔW·E / Σ E²) and the mean over cells of
    (ΔW − E)²/Var both have expectation 1; tolerance 5 SE of their trial-to-trial spread."""
    lr, bl = 0.01, 10
    # float64 values with full mantissas (a float32 value widened has its low 29 bits zero)
    x = torch.tensor([[0.9, -0.5, 0.25, 0.7, -1.0, 0.4], [0.3, 0.2, -0.1, 0.0, 0.15, -0.3]], dtype=torch.float64)
    # (BLM's η·max|x|·max|δ|/Δw_min = 3.2 and 1.2: not at an integer, where rounding could pick BL')
    d = torch.tensor([[0.32, -0.12, 0.2, -0.05], [-0.1, 0.4, 0.0, 0.25]], dtype=torch.float64)
    mean, var = expected_update(x, d, lr, bl, 0.001, um, blm)
    assert mean.abs().gt(0).any() and var.gt(0).any()
    if um and blm:  # the scheme's mean is the SGD step while nothing clips
        torch.testing.assert_close(mean, (-lr * d.T @ x).double())
    live = var > 0
    for seed in (1, 2, 3):
        dw = update_trials(dtype, x, d, lr, 400, seed, bl=bl, update_management=um, bl_management=blm)
        projection = (dw * mean).sum((1, 2)) / mean.square().sum()
        scaled_square = ((dw[:, live] - mean[live]) ** 2 / var[live]).mean(1)
        for stat in (projection, scaled_square):
            se = stat.std() / math.sqrt(len(stat))
            assert abs(stat.mean() - 1) <= 5 * se, (seed, stat.mean(), se)


# --- float64 against float32: layers --------------------------------------------------------------
UM_BLM = UpdateConfig(update_management=True, bl_management=True)


def standard_error(dw, target, dw_min=0.001):
    """SE of the mean of trials dw per cell: the sample's, but at least that of a count with mean
    |target|/Δw_min and at most that variance (Σ BL·pq(1 − pq) ≤ Σ BL·pq), which a cell too rarely
    pulsed to show its spread in the trials still has."""
    return torch.maximum(dw.std(0), (dw_min * target.abs()).sqrt()) / math.sqrt(len(dw))


def test_linear_layer_outputs_and_updates_agree_between_float32_and_float64():
    """The RPU baseline's forward periphery (DAC, noise, ADC, NM, BM) and the update (UM + BLM) of an
    AnalogLinear in float32 (kernels) and float64 (reference): equal mean outputs (5 SE) and spreads,
    and mean weight changes equal to −lr·δxᵀ (5 SE; δ fixed by a linear loss)."""
    torch.manual_seed(3)
    x = torch.rand(1, 6, dtype=torch.float64) * 2 - 1
    g = torch.tensor([[0.3, -0.2, 0.1]], dtype=torch.float64)  # ∂loss/∂y, the δ of the update
    w0 = torch.linspace(-0.5, 0.5, 18).reshape(3, 6)
    results = {}
    for dtype in (torch.float32, torch.float64):
        rpu = RPUConfig(device=ConstantStepDevice(**EXACT_STEPS), update=UM_BLM)
        layer = AnalogLinear(6, 3, bias=False, rpu_config=rpu).to(dtype)
        layer.set_weights(w0)
        with torch.no_grad():
            y = layer(x.to(dtype).expand(2000, 6)).double()
        opt = AnalogSGD(layer.parameters(), lr=0.01)
        changes = []
        for _ in range(300):
            layer.set_weights(w0)
            opt.zero_grad()
            (layer(x.to(dtype)) * g.to(dtype)).sum().backward()
            opt.step()
            changes.append(layer.get_weights()[0].double() - w0.double())
        results[dtype] = y, torch.stack(changes)
    (y32, dw32), (y64, dw64) = results[torch.float32], results[torch.float64]
    assert y64.dtype == torch.float64
    se = (y32.var(0) / len(y32) + y64.var(0) / len(y64)).sqrt()
    assert ((y32.mean(0) - y64.mean(0)).abs() <= 5 * se).all(), (y32.mean(0), y64.mean(0), se)
    assert ((y64.std(0) / y32.std(0) - 1).abs() < 0.15).all(), (y32.std(0), y64.std(0))
    target = -0.01 * g.T @ x
    for dw in (dw32, dw64):
        assert ((dw.mean(0) - target).abs() <= 5 * standard_error(dw, target)).all(), (dw.mean(0), target)


def test_lstm_trains_with_the_same_numbers_in_float64_as_in_float32():
    """Perfect periphery, exact steps, UM + BLM: the mean weight change of a training step of an
    AnalogLSTM (float32: the sequence kernel; float64: step by step) is the ideal device's step
    −lr·Σₜ δₜzₜᵀ (5 SE over the trials), and the float64 outputs are the float32 ones."""
    torch.manual_seed(4)
    perfect = dict(forward=IOConfig.perfect(), backward=IOConfig.perfect())
    seq = torch.rand(4, 1, 3, dtype=torch.float64)
    weights = AnalogLSTM(3, 4, rpu_config=RPUConfig.ideal()).cells[0].get_weights()

    def one_step(rpu, dtype, trials):
        lstm = AnalogLSTM(3, 4, rpu_config=rpu).to(dtype)
        opt = AnalogSGD(lstm.parameters(), lr=0.1)
        changes = []
        for _ in range(trials):
            lstm.cells[0].set_weights(*weights)
            opt.zero_grad()
            out = lstm(seq.to(dtype))[0]
            (0.1 * out).sum().backward()
            opt.step()
            changes.append(lstm.cells[0].array.get_weights().double() - torch.cat(
                [weights[0], weights[1][:, None]], 1).double())
        return out.detach(), torch.stack(changes)

    _, ideal = one_step(RPUConfig(device=IdealDevice(), **perfect), torch.float64, 1)
    pulsed = RPUConfig(device=ConstantStepDevice(**EXACT_STEPS), update=UM_BLM, **perfect)
    out32, dw32 = one_step(pulsed, torch.float32, 200)
    out64, dw64 = one_step(pulsed, torch.float64, 200)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, atol=1e-5, rtol=1e-5)
    for dw in (dw32, dw64):
        assert ((dw.mean(0) - ideal[0]).abs() <= 5 * standard_error(dw, ideal[0])).all(), (dw.mean(0), ideal[0])


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_cli_refuses_a_bad_reference_variable_before_writing_anything(monkeypatch, tmp_path, command):
    from typer.testing import CliRunner

    from rpusim.cli import app
    set_reference_env(monkeypatch, "true")
    result = CliRunner().invoke(app, [command, "fc-mnist", "--preset", "quick", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{REFERENCE_ENV}='true'" in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


# --- kernel against the reference path: periphery outputs ------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("nm, bm", [("abs_max", "none"), ("abs_max", "iterative"), ("none", "iterative")])
def test_periphery_outputs_of_kernel_and_reference_agree_in_mean_and_variance(seed, nm, bm):
    """The same inputs through the numba periphery and through the torch reference (what CUDA runs):
    per-output mean and variance over n repeated samples agree within 5 standard errors. Weights large
    enough that some outputs saturate, so that bound management (when on) acts."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(6, 10, generator=g) * 0.8
    x = (torch.rand(1, 10, generator=g) * 2 - 1).expand(4000, 10).contiguous()
    io = IOConfig(out_noise=0.1, inp_noise=0.02, out_bound=2.0, noise_management=nm, bound_management=bm)
    fast = periphery.analog_mvm(x, w, io, torch.Generator().manual_seed(seed + 10))
    with reference_path():
        ref = periphery.analog_mvm(x, w, io, torch.Generator().manual_seed(seed + 20))
    n = x.shape[0]
    se_mean = ((fast.var(0) + ref.var(0)) / n).sqrt()
    assert ((fast.mean(0) - ref.mean(0)).abs() <= 5 * se_mean + 1e-6).all()
    se_var = (2 / (n - 1)) ** 0.5 * (fast.var(0) + ref.var(0)) / 2  # SE of a sample variance (Gaussian)
    assert ((fast.var(0) - ref.var(0)).abs() <= 5 * 2 ** 0.5 * se_var + 1e-6).all()

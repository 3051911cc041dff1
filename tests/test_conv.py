"""AnalogConv1d/2d: exact against torch with an ideal array; the per-patch pulsed update;
devices per weight; management switches; the paper's CNN and its experiment."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rpusim.devices import ConstantStepDevice
from rpusim.nn import AnalogConv1d, AnalogConv2d, AnalogLinear, convert_to_analog, layer_stats
from rpusim.nn.patches import patch_rows
from rpusim.optim import AnalogSGD
from rpusim.tile import IOConfig, RPUConfig, UpdateConfig

CLEAN = dict(dw_min_dtod=0.0, dw_min_std=0.0, w_max_dtod=0.0, w_min_dtod=0.0, up_down_dtod=0.0,
             w_max=1.0, w_min=-1.0)


def ideal(digital_bias=False) -> RPUConfig:
    cfg = RPUConfig.ideal()
    cfg.mapping.digital_bias = digital_bias
    return cfg


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding=2, dilation=2, bias=False),
                                dict(padding="same"), dict(stride=(2, 1), padding=(0, 1))])
@pytest.mark.parametrize("digital_bias", [False, True])
def test_conv2d_forward_and_gradients_equal_torch(kw, digital_bias):
    torch.manual_seed(0)
    ref = nn.Conv2d(3, 4, 3, **kw)
    analog = convert_to_analog(ref, ideal(digital_bias))
    assert isinstance(analog, AnalogConv2d)
    x1 = torch.randn(2, 3, 9, 8, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = ref(x1), analog(x2)
    torch.testing.assert_close(y2, y1, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("geometry", [((5, 5), (1, 1), (0, 0), (1, 1)), ((3, 2), (2, 1), (2, 1), (2, 3))])
@pytest.mark.parametrize("ones", [False, True])
def test_patch_rows_kernel_equals_unfold(geometry, ones):
    """The numba patch rows (CPU float32) and their gradient equal unfold's (the float64 path)."""
    kernel, dilation, padding, stride = geometry
    x = torch.randn(3, 2, 11, 9, dtype=torch.float64, requires_grad=True)
    x32 = x.detach().float().requires_grad_(True)
    h = (11 + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    w = (9 + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    rows, rows32 = (patch_rows(v, kernel, dilation, padding, stride, (h, w), ones) for v in (x, x32))
    assert rows.shape == (3 * h * w, 2 * kernel[0] * kernel[1] + ones)
    torch.testing.assert_close(rows32, rows.float())
    g = torch.randn_like(rows)
    rows.backward(g)
    rows32.backward(g.float())
    torch.testing.assert_close(x32.grad, x.grad.float(), atol=1e-5, rtol=1e-5)


def test_conv2d_sgd_step_equals_torch_weight_gradient():
    torch.manual_seed(1)
    ref = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 5))
    analog = convert_to_analog(ref, ideal())
    opt_ref, opt = torch.optim.SGD(ref.parameters(), lr=0.1), AnalogSGD(analog.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        x, y = torch.randn(4, 2, 8, 8, generator=g), torch.randint(0, 5, (4,), generator=g)
        for model, o in ((ref, opt_ref), (analog, opt)):
            o.zero_grad()
            F.cross_entropy(model(x), y).backward()
            o.step()
    w, b = analog[0].get_weights()
    torch.testing.assert_close(w, ref[0].weight.detach(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(b, ref[0].bias.detach(), atol=1e-6, rtol=1e-5)


def test_conv1d_equals_torch():
    torch.manual_seed(2)
    ref = nn.Conv1d(3, 5, 4, stride=2, padding=1)
    analog = convert_to_analog(ref, ideal())
    assert isinstance(analog, AnalogConv1d)
    x1 = torch.randn(2, 3, 17, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    torch.testing.assert_close(analog(x2), ref(x1), atol=1e-5, rtol=1e-5)
    ref(x1).sum().backward()
    analog(x2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(analog.get_weights()[0], ref.weight.detach())


def test_unsupported_conversions_and_bad_input_fail_clearly():
    with pytest.raises(ValueError, match="groups"):
        convert_to_analog(nn.Conv2d(4, 4, 3, groups=2), ideal())
    with pytest.raises(ValueError, match="padding_mode"):
        convert_to_analog(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular"), ideal())
    with pytest.raises(ValueError, match="expected input"):
        AnalogConv2d(3, 2, 3, rpu_config=ideal())(torch.randn(1, 2, 5, 5))


def _pulsed(mode: str, **update) -> RPUConfig:
    return RPUConfig(device=ConstantStepDevice(**CLEAN), forward=IOConfig.perfect(), backward=IOConfig.perfect(),
                     update=UpdateConfig(mode=mode, **update))


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_per_patch_update_expectation_is_minus_lr_sum_of_delta_x(mode):
    """One update = one rank-1 pulsed update per patch: E[ΔW] = −η Σ_l δ_l x_lᵀ (bias column: x = 1)."""
    torch.manual_seed(3)
    lr, reps = 0.01, 300 if mode == "fast" else 80
    layer = AnalogConv2d(2, 3, 3, padding=1, rpu_config=_pulsed(mode))
    layer.set_weights(torch.zeros(3, 2, 3, 3), torch.zeros(3))
    x = torch.rand(1, 2, 4, 4) * 2 - 1
    g = (torch.rand(1, 3, 4, 4) * 2 - 1) * 0.8
    layer(x).backward(g)
    xs, ds = layer.array._pending[0]
    assert xs.shape == (16, 19) and ds.shape == (16, 3)         # 16 patches, 2·3·3 + bias column
    patches = F.unfold(x, 3, padding=1)[0].T
    torch.testing.assert_close(xs[:, :-1], patches)
    expected = -lr * ds.T @ xs
    torch.testing.assert_close(expected[:, :-1], -lr * torch.nn.grad.conv2d_weight(x, (3, 2, 3, 3), g, padding=1)
                               .reshape(3, -1), atol=1e-6, rtol=1e-5)
    total = torch.zeros_like(expected)
    for _ in range(reps):
        layer.array.set_weights(torch.zeros(3, 19))
        layer.array.update(xs, ds, lr)
        total += layer.array.get_weights()
    mean = total / reps
    # each coincidence is ±Δw_min; per patch and slot one happens with probability p·q = |δ||x| (C = 1 here)
    pq = ds.abs()[:, :, None] * xs.abs()[:, None, :]
    sigma = 0.001 * torch.sqrt(10 * (pq * (1 - pq)).sum(0) / reps).clamp_min(1e-3)
    z = (mean - expected) / sigma
    assert z.abs().max() < 5, z.abs().max()
    # z² averages 1 (over 12 seeds: 0.65–1.66, mean 1.03); a variance off by 2× would leave the band
    assert 0.4 < (z**2).mean() < 2.0
    assert layer.array.stats()["updates"] == reps * 16


@pytest.mark.parametrize("n", [4, 9])
def test_devices_per_weight_reduce_device_to_device_spread_by_sqrt_n(n):
    """Same pulses to every device of a weight, read as their mean: the spread of the weight
    change falls by √n (device-to-device spread of Δw_min 30%, no cycle-to-cycle noise)."""
    def spread(devices):
        torch.manual_seed(4)
        dev = ConstantStepDevice(**{**CLEAN, "dw_min_dtod": 0.3})
        layer = AnalogConv2d(8, 16, 3, rpu_config=RPUConfig(devices_per_weight=devices, device=dev))
        layer.set_weights(torch.zeros(16, 8, 3, 3), torch.zeros(16))
        rows = 20
        x, d = torch.ones(rows, 73), -torch.ones(rows, 16)   # p = 1 in every slot: rows·BL up pulses
        layer.array.update(x, d, 0.01)
        dw = layer.array.get_weights() / (rows * 10)
        return float(dw.std() / dw.mean())
    single, several = spread(1), spread(n)
    assert single == pytest.approx(0.3, rel=0.1)
    assert single / several == pytest.approx(n ** 0.5, rel=0.15)


def _saturating_layer(bm: str) -> AnalogConv2d:
    torch.manual_seed(5)
    cfg = RPUConfig(device=ConstantStepDevice(**CLEAN), forward=IOConfig(bound_management=bm, out_noise=0.0))
    layer = AnalogConv2d(1, 4, 5, rpu_config=cfg)
    layer.set_weights(torch.full((4, 1, 5, 5), 0.8), torch.zeros(4))   # all-ones patch: 25·0.8 = 20 > 12
    return layer


def test_without_bound_management_saturated_outputs_stay_clipped():
    x = torch.ones(1, 1, 6, 6)
    off, on = _saturating_layer("none"), _saturating_layer("iterative")
    y_off, y_on = off(x), on(x)
    assert torch.allclose(y_off, torch.full_like(y_off, 12.0))
    torch.testing.assert_close(y_on, torch.full_like(y_on, 20.0), atol=0.5, rtol=0)   # DAC/ADC steps
    assert layer_stats(off)["array"]["fwd_saturated_after_bm"] == 1.0
    assert layer_stats(on)["array"]["fwd_saturated"] == 1.0
    assert layer_stats(on)["array"]["fwd_saturated_after_bm"] == 0.0


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_noise_management_rescues_small_signals(direction):
    """Inputs (or errors) of size 1e-3: without NM the output noise σ = 0.06 swamps them."""
    def rel_error(nm):
        torch.manual_seed(6)
        io = IOConfig(noise_management=nm, bound_management="none")
        cfg = RPUConfig(device=ConstantStepDevice(**CLEAN), **{direction: io})
        layer = AnalogConv2d(2, 6, 3, bias=False, rpu_config=cfg)
        exact = AnalogConv2d(2, 6, 3, bias=False, rpu_config=ideal())
        exact.set_weights(*layer.get_weights())
        x = (1e-3 * torch.randn(4, 2, 7, 7)).requires_grad_(True)
        xe = x.detach().clone().requires_grad_(True)
        y, ye = layer(x), exact(xe)
        if direction == "forward":
            return float((y - ye).detach().norm() / ye.detach().norm())
        g = 1e-3 * torch.randn_like(ye)
        y.backward(g)
        ye.backward(g)
        return float((x.grad - xe.grad).norm() / xe.grad.norm())
    without, with_nm = rel_error("none"), rel_error("abs_max")
    assert without > 0.9          # the DAC rounds such inputs to 0: nothing but noise comes out
    assert with_nm < 0.5 and with_nm < without / 3


def test_update_management_removes_clipped_pulse_probabilities():
    """η = 0.1 gives C = √10: inputs near 1 clip without UM; with UM max probabilities are equal and small."""
    def clipped(um):
        torch.manual_seed(7)
        layer = AnalogConv2d(1, 4, 3, rpu_config=RPUConfig(update=UpdateConfig(update_management=um)))
        opt = AnalogSGD(layer.parameters(), lr=0.1)
        x = torch.rand(2, 1, 6, 6)
        layer(x).backward(1e-3 * torch.randn(2, 4, 4, 4))
        opt.step()
        return layer_stats(layer)["array"]["clipped_pulse_probs"]
    assert clipped(False) > 0.1
    assert clipped(True) == 0.0


def test_paper_cnn_arrays_and_patches_per_image():
    from rpusim.framework.network import build_network
    from rpusim.framework.runner import variant_configs
    from rpusim.papers.catalog import get_experiment
    cfgs = variant_configs(get_experiment("cnn-mnist"), ["rpu-baseline", "+vr-k1", "+vr-k1k2"], "quick")
    torch.manual_seed(0)
    model = build_network(cfgs["+vr-k1"], (1, 28, 28), 10)
    analog = [m for m in model.modules() if isinstance(m, (AnalogConv2d, AnalogLinear))]
    assert [(m.array.out_size, m.array.in_size) for m in analog] == [(16, 26), (32, 401), (128, 513), (10, 129)]
    assert [m.rpu_config.devices_per_weight for m in analog] == [4, 1, 1, 1]
    base = cfgs["rpu-baseline"].rpu
    assert (base.forward.noise_management, base.forward.bound_management, base.backward.noise_management,
            base.update.update_management) == ("none", "none", "none", False)
    assert [cfgs["+vr-k1k2"].rpu_for_layer(i).devices_per_weight for i in range(4)] == [4, 4, 1, 1]
    opt = AnalogSGD(model.parameters(), lr=0.01)
    F.cross_entropy(model(torch.rand(1, 1, 28, 28)), torch.tensor([3])).backward()
    opt.step()
    assert [m.array.stats()["updates"] for m in analog] == [576, 64, 1, 1]   # rank-1 updates per image


def test_cnn_experiment_runs_and_writes_results(tmp_path):
    from rpusim.framework import run_experiment
    from rpusim.papers.catalog import get_experiment
    exp = get_experiment("cnn-fashion")
    results = run_experiment(exp, tmp_path, variants=["fp", "+um"], preset="quick",
                             overrides={"data": {"train_limit": 40, "test_limit": 50}}, progress=False, log=lambda *_: None)
    import csv

    import matplotlib.image
    assert [r["variant"] for r in results] == ["fp", "+um"]
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [(t["variant"], float(t["final"]), float(t["best"])) for t in table] == \
        [(r["variant"], r["final"], r["best"]) for r in results]
    for r in results:
        with open(tmp_path / r["variant"] / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        assert [int(row["epoch"]) for row in rows] == [0, 1]  # the untrained model, then the quick preset's epoch
        assert r["final"] == float(rows[-1]["test_error"]) and r["best"] == float(rows[1]["test_error"])
        assert (r["final"] * 50 / 100) == pytest.approx(round(r["final"] / 2), abs=1e-9)  # k wrong of 50 images
        layer_columns = [k for k in rows[0] if "/" in k]
        if r["variant"] == "fp":
            assert layer_columns == []
        else:  # per analog layer (by module name: conv, conv, linear, linear): fractions in [0, 1]
            assert {k.split("/")[0] for k in layer_columns} == {"0", "3", "7", "9"}
            assert all(0 <= float(rows[1][k]) <= 1 for k in layer_columns)
            assert {"0/fwd_saturated", "0/fwd_saturated_after_bm", "0/bwd_saturated", "0/clipped_pulse_probs"} \
                <= set(layer_columns)
    image = matplotlib.image.imread(tmp_path / "curves.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.std() > 0.05

"""AnalogLSTM: equivalence with torch.nn.LSTM, array layout, rounding, BPTT carry-over, updates."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rpusim.devices import ConstantStepDevice
from rpusim.nn import AnalogLinear, AnalogLSTM, AnalogLSTMCell, convert_to_analog
from rpusim.optim import AnalogSGD
from rpusim.tile import IOConfig, RPUConfig, UpdateConfig
from rpusim.tile.periphery import analog_mvm, quantize


def _pair(num_layers=2, batch_first=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.LSTM(5, 4, num_layers, batch_first=batch_first)
    return ref, convert_to_analog(ref, RPUConfig.ideal())


@pytest.mark.parametrize("batch_first", [True, False])
def test_ideal_matches_torch_outputs_and_gradients(batch_first):
    ref, ana = _pair(batch_first=batch_first)
    assert isinstance(ana, AnalogLSTM)
    x = torch.randn(3, 6, 5) if batch_first else torch.randn(6, 3, 5)
    h0, c0 = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    hs = [h0.clone().requires_grad_(), h0.clone().requires_grad_()]
    out_r, (hn_r, cn_r) = ref(xs[0], (hs[0], c0))
    out_a, (hn_a, cn_a) = ana(xs[1], (hs[1], c0))
    for a, b in ((out_r, out_a), (hn_r, hn_a), (cn_r, cn_a)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    target = torch.randn_like(out_r)
    ((out_r - target) ** 2).sum().add(hn_r.sum() + cn_r.pow(2).sum()).backward()
    ((out_a - target) ** 2).sum().add(hn_a.sum() + cn_a.pow(2).sum()).backward()
    torch.testing.assert_close(xs[0].grad, xs[1].grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(hs[0].grad, hs[1].grad, atol=1e-5, rtol=1e-4)
    # the ideal device's update W -= lr·Σ_t δ_t x_tᵀ is exactly the BPTT weight gradient
    lr = 0.1
    before = [cell.get_weights() for cell in ana.cells]
    AnalogSGD(ana.parameters(), lr=lr).step()
    for i, cell in enumerate(ana.cells):
        grad_w = torch.cat([getattr(ref, f"weight_ih_l{i}").grad, getattr(ref, f"weight_hh_l{i}").grad], 1)
        grad_b = getattr(ref, f"bias_ih_l{i}").grad  # = bias_hh's: the one bias column gets it once
        w, b = cell.get_weights()
        torch.testing.assert_close(w, before[i][0] - lr * grad_w, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(b, before[i][1] - lr * grad_b, atol=1e-6, rtol=1e-5)


def test_array_shape_and_gate_order():
    ref, ana = _pair(num_layers=2)
    assert [tuple(c.array.get_weights().shape) for c in ana.cells] == [(16, 5 + 4 + 1), (16, 4 + 4 + 1)]
    w, b = ana.cells[0].get_weights()
    torch.testing.assert_close(w, torch.cat([ref.weight_ih_l0, ref.weight_hh_l0], 1).detach())
    torch.testing.assert_close(b, (ref.bias_ih_l0 + ref.bias_hh_l0).detach())
    # gate rows i, f, g, o: only the bias drives them; i, o open, f closed, g saturated at +1
    cell = AnalogLSTMCell(3, 2, rpu_config=RPUConfig.ideal())
    big = 20.0
    cell.set_weights(torch.zeros(8, 5), torch.tensor([big] * 2 + [-big] * 2 + [big] * 2 + [big] * 2))
    h, c = cell(torch.zeros(1, 3), (torch.zeros(1, 2), torch.full((1, 2), 5.0)))
    torch.testing.assert_close(c, torch.ones(1, 2), atol=1e-6, rtol=0)  # f·5 + i·g = 0 + 1
    torch.testing.assert_close(h, torch.full((1, 2), math.tanh(1.0)), atol=1e-6, rtol=0)


def test_stochastic_rounding_unbiased_deterministic_biased():
    gen = torch.Generator().manual_seed(0)
    res = 2 / (2**5 - 2)
    x = torch.tensor([0.3, 0.7, 3.4, -2.3]) * res
    sto = quantize(x.repeat(20000, 1), 5, 1.0, True, gen).mean(0)
    det = quantize(x, 5, 1.0, False, gen)
    torch.testing.assert_close(sto, x, atol=0.01 * res, rtol=0)
    assert ((det - x).abs() > 0.2 * res).all()
    # through a noise-free 5-bit periphery the mean MVM is unbiased only with stochastic rounding
    w = torch.tensor([[1.0, -0.5, -0.25, 0.1]])  # deterministic error w·(round(x) − x) = −0.32 steps
    xb = x.repeat(20000, 1)
    io = dict(inp_bits=5, out_noise=0.0, out_bits=0, noise_management="none", bound_management="none")
    y_sto = analog_mvm(xb, w, IOConfig(inp_sto_round=True, **io), gen).mean()
    y_det = analog_mvm(xb, w, IOConfig(inp_sto_round=False, **io), gen).mean()
    exact = float(xb[0] @ w[0])
    assert abs(float(y_sto) - exact) < 0.01 * res
    assert abs(float(y_det) - exact) > 0.25 * res


def test_truncated_bptt_carry_over_equals_whole_sequence():
    _, ana = _pair(num_layers=2, batch_first=True)
    x = torch.randn(2, 10, 5)
    with torch.no_grad():
        whole, (hn, cn) = ana(x)
        first, state = ana(x[:, :4])
        second, (hn2, cn2) = ana(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    torch.testing.assert_close(hn2, hn)
    torch.testing.assert_close(cn2, cn)


@pytest.mark.data("tinyshakespeare")
def test_char_lm_task_windows_and_state_reset():
    from rpusim.framework.config import RunConfig
    from rpusim.framework.tasks import CharLanguageModel
    cfg = RunConfig.from_dict({"task": "char_lm", "data": {"dataset": "tinyshakespeare", "train_limit": 1001,
                                                             "test_limit": 400, "seq_len": 7},
                               "model": {"kind": "lstm", "hidden": [8], "analog": False},
                               "train": {"batch_size": 4, "eval_batch_size": 4}})
    task = CharLanguageModel(cfg)
    model = task.build_model()
    windows = list(task.batches(1))
    assert len(windows) == task.n_steps() == math.ceil((250 - 1) / 7)
    # consecutive windows continue each stream: the streams are reassembled exactly
    torch.testing.assert_close(torch.cat([w[0] for w in windows], 1), task.train_streams[:, :-1])
    torch.testing.assert_close(torch.cat([w[1] for w in windows], 1), task.train_streams[:, 1:])
    # the loss of window 2 uses the state carried from window 1 (detached), equal to a whole pass
    gen = task.batches(2)
    losses = [task.loss(model, next(gen)).item() for _ in range(2)]
    x = torch.cat([windows[0][0], windows[1][0]], 1)
    y = torch.cat([windows[0][1], windows[1][1]], 1)
    logits, _ = model(x)
    second = nn.functional.cross_entropy(logits[:, 7:].reshape(-1, task.vocab_size), y[:, 7:].reshape(-1))
    assert losses[1] == pytest.approx(second.item(), rel=1e-5)
    assert all(not t.requires_grad for s in task._state for t in s)
    next(task.batches(3))
    assert task._state is None  # reset at the start of an epoch


def test_each_time_step_is_one_rank1_update_per_sample():
    torch.manual_seed(0)
    lstm = AnalogLSTM(3, 2, num_layers=2, rpu_config=RPUConfig())
    out, _ = lstm(torch.randn(5, 4, 3))  # T = 5, B = 4
    out.sum().backward()
    # one remembered (zₜ, δₜ) row per time step and sample: 20 rank-1 updates per layer
    assert all(sum(p[0].shape[0] for p in c.array._pending) == 20 for c in lstm.cells)
    assert all(p[0].shape[1] == c.array.in_size and p[1].shape[1] == 8 for c in lstm.cells for p in c.array._pending)
    AnalogSGD(lstm.parameters(), lr=0.1).step()
    assert [c.array.stats()["updates"] for c in lstm.cells] == [20, 20]


def _step_by_step(lstm, x, state):
    """The reference path: each layer's cell called once per time step, through autograd."""
    h_n, c_n = [], []
    for layer, cell in enumerate(lstm.cells):
        s, outs = (state[0][layer], state[1][layer]), []
        for x_t in x.unbind(0):
            s = cell(x_t, s)
            outs.append(s[0])
        x = torch.stack(outs)
        h_n.append(s[0])
        c_n.append(s[1])
    return x, (torch.stack(h_n), torch.stack(c_n))


def _run(lstm, x, state, target, kernel: bool):
    x, state = x.clone().requires_grad_(), tuple(s.clone().requires_grad_() for s in state)
    out, (h, c) = lstm(x, state) if kernel else _step_by_step(lstm, x, state)
    ((out - target) ** 2).sum().add((h * c).sum()).backward()
    pending = [(torch.cat([p[0] for p in cell.array._pending]), torch.cat([p[1] for p in cell.array._pending]))
               for cell in lstm.cells]
    for cell in lstm.cells:
        cell.array._pending.clear()
    return out, h, c, x.grad, state[0].grad, state[1].grad, pending


def test_sequence_kernel_equals_the_step_by_step_path():
    """Deterministic periphery (noise management, clipping, bound management): the numba sequence
    kernel gives the outputs, input/state gradients and remembered (z, δ) of the cells.

    (DAC/ADC levels are left out here: float rounding differences of 1e-7 between the two
    paths' gate arithmetic can move a value across a level; the kernel's pass with levels is
    compared with ``analog_mvm`` in test_tile.py.)"""
    io = dict(out_noise=0.0, out_bound=1.0, inp_bits=0, out_bits=0)
    rpu = RPUConfig(forward=IOConfig(**io), backward=IOConfig(**io, bound_management="iterative"))
    torch.manual_seed(3)
    lstm = AnalogLSTM(6, 5, num_layers=2, rpu_config=rpu)
    for cell in lstm.cells:  # weights large enough that some outputs saturate
        cell.array.set_weights(torch.empty(20, cell.array.in_size).uniform_(-0.6, 0.6))
    x, target = torch.randn(7, 3, 6) * 2, torch.randn(7, 3, 5)
    state = (torch.randn(2, 3, 5), torch.randn(2, 3, 5))
    fast = _run(lstm, x, state, target, kernel=True)
    stats_fast = [c.array.stats() for c in lstm.cells]
    for c in lstm.cells:
        c.array.reset_stats()
    ref = _run(lstm, x, state, target, kernel=False)
    assert stats_fast == [c.array.stats() for c in lstm.cells]
    assert stats_fast[0]["fwd_saturated"] > 0  # bound management was exercised
    for a, b in zip(fast[:6], ref[:6]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    for (za, da), (zb, db) in zip(fast[6], ref[6]):
        order = torch.arange(7).flip(0)  # the step path remembers the last step first
        torch.testing.assert_close(za, zb.view(7, 3, -1)[order].reshape(za.shape))
        torch.testing.assert_close(da, db.view(7, 3, -1)[order].reshape(da.shape), atol=1e-5, rtol=1e-4)


def test_sequence_kernel_noise_has_the_step_paths_statistics():
    """With output noise the two paths draw different random numbers; their outputs agree in mean and spread."""
    rpu = RPUConfig(forward=IOConfig(out_noise=0.1), backward=IOConfig(out_noise=0.1))
    torch.manual_seed(4)
    lstm = AnalogLSTM(4, 3, rpu_config=rpu)
    x = torch.randn(4, 64, 4).repeat(1, 8, 1)  # 8 copies of each sequence
    with torch.no_grad():
        zeros = torch.zeros(1, 512, 3)
        fast, _ = lstm(x, (zeros, zeros))
        ref, _ = _step_by_step(lstm, x, (zeros, zeros))
        ideal, _ = _step_by_step(convert_to_analog(_float_lstm(lstm), RPUConfig.ideal()), x, (zeros, zeros))
    err_fast, err_ref = (fast - ideal).view(4, 8, 64, 3), (ref - ideal).view(4, 8, 64, 3)
    assert err_ref.std() > 0.01
    assert abs(err_fast.std() / err_ref.std() - 1) < 0.1
    assert (err_fast.mean() - err_ref.mean()).abs() < 4 * err_ref.std() / math.sqrt(err_ref.numel())


def _float_lstm(lstm: AnalogLSTM) -> nn.LSTM:
    ref = nn.LSTM(lstm.input_size, lstm.hidden_size, lstm.num_layers)
    with torch.no_grad():
        for i, (w, b) in enumerate(lstm.get_weights()):
            getattr(ref, f"weight_ih_l{i}").copy_(w[:, :ref.input_size if i == 0 else ref.hidden_size])
            getattr(ref, f"weight_hh_l{i}").copy_(w[:, -ref.hidden_size:])
            getattr(ref, f"bias_ih_l{i}").copy_(b)
            getattr(ref, f"bias_hh_l{i}").zero_()
    return ref


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_pulsed_update_mean_matches_gradient(mode):
    """Both update modes give E[ΔW] = −lr·Σ δxᵀ (noise-free constant-step device, no clipping)."""
    device = ConstantStepDevice(dw_min=0.01, dw_min_dtod=0.0, dw_min_std=0.0, w_max_dtod=0.0,
                                w_min_dtod=0.0, up_down_dtod=0.0)
    rpu = RPUConfig(device=device, forward=IOConfig.perfect(), backward=IOConfig.perfect(),
                    update=UpdateConfig(mode=mode, bl=10))
    torch.manual_seed(1)
    cell = AnalogLSTMCell(2, 2, rpu_config=rpu)
    cell.array.set_weights(torch.empty(8, 5).uniform_(-0.3, 0.3))  # away from the bounds ±0.6
    x, target = torch.randn(3, 1, 2) * 0.5, torch.randn(3, 1, 2)
    w0 = cell.array.get_weights().clone()
    lr, repeats, total = 0.02, 150 if mode == "exact" else 400, torch.zeros_like(w0)
    expected = spread = None
    for _ in range(repeats):
        cell.array.set_weights(w0)
        lstm_state, loss = None, 0.0
        for t in range(3):
            lstm_state = cell(x[t], lstm_state)
            loss = loss + ((lstm_state[0] - target[t]) ** 2).sum()
        loss.backward()
        if expected is None:
            xs = torch.cat([p[0] for p in cell.array._pending])
            ds = torch.cat([p[1] for p in cell.array._pending])
            expected, spread = -lr * ds.T @ xs, lr * ds.abs().T @ xs.abs()
        cell.array.apply_update(lr)
        total += cell.array.get_weights() - w0
    assert cell.array.stats()["pulse_probs_clipped"] == 0
    mean = total / repeats
    # the number of pulses per weight and update is ≈ Poisson with mean Σ_rows lr·|δ||x| / Δw_min
    tol = 4 * 0.01 * (spread / 0.01 + 0.05).sqrt() / math.sqrt(repeats) + 1e-4
    assert ((mean - expected).abs() <= tol).all(), (mean, expected)


@pytest.mark.data("tinyshakespeare")
def test_char_lstm_converts_and_quick_preset_resumes_bit_exactly(tmp_path):
    from rpusim.framework.runner import variant_configs
    from rpusim.framework.train import train_run
    from rpusim.papers.catalog import get_experiment
    cfg = variant_configs(get_experiment("lstm-warpeace"), ["rpu"], "quick")["rpu"]
    from rpusim.framework.tasks import CharLanguageModel
    model = CharLanguageModel(cfg).build_model()
    assert [type(m) for m in model.lstms] == [AnalogLSTM, AnalogLSTM]
    assert isinstance(model.decoder, AnalogLinear)
    full = train_run(cfg, tmp_path / "full", log=lambda *_: None)
    train_run(cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 1})}),
              tmp_path / "part", log=lambda *_: None)
    resumed = train_run(cfg, tmp_path / "part", resume=True, log=lambda *_: None)
    assert resumed["final"] == full["final"]
    assert full["final"] < math.log(CharLanguageModel(cfg).vocab_size)


def test_epoch_table_lists_nats_and_bits_per_run(tmp_path):
    from rpusim.papers.lstm import epoch_table
    for name, nats in (("fp", [4.0, 2.0]), ("rpu", [4.0])):
        (tmp_path / name).mkdir()
        rows = "".join(f"{e},{v},{v / math.log(2)}\n" for e, v in enumerate(nats))
        (tmp_path / name / "metrics.csv").write_text("epoch,test_loss_nats,test_bits_per_char\n" + rows)
    table = epoch_table(tmp_path).splitlines()
    assert table[0] == "| epoch | fp | rpu |"
    assert table[3] == f"| 1 | 2.000 ({2 / math.log(2):.2f}) |  |"


@pytest.mark.parametrize("bias, digital_bias", [(False, False), (True, True)])
def test_lstm_without_bias_or_with_a_digital_bias_matches_torch(bias, digital_bias):
    """bias=False: no bias column on the array (4h × (x + h)); a digital bias is one parameter
    b_ih + b_hh beside the array. Either way outputs and input gradients are torch's, and SGD on the
    digital bias moves it by −lr·∂L/∂b (torch's two biases would move by that twice)."""
    torch.manual_seed(4)
    ref = nn.LSTM(5, 4, 2, bias=bias)
    cfg = RPUConfig.ideal()
    cfg.mapping.digital_bias = digital_bias
    ana = convert_to_analog(ref, cfg)
    assert [tuple(c.array.get_weights().shape) for c in ana.cells] == [(16, 9), (16, 8)]
    assert all((c.bias is not None) == bias for c in ana.cells)
    x = torch.randn(6, 3, 5)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    out_r, _ = ref(xs[0])
    out_a, _ = ana(xs[1])
    torch.testing.assert_close(out_a, out_r, atol=1e-6, rtol=1e-5)
    out_r.pow(2).sum().backward()
    out_a.pow(2).sum().backward()
    torch.testing.assert_close(xs[1].grad, xs[0].grad, atol=1e-5, rtol=1e-4)
    if bias:
        before = [c.bias.detach().clone() for c in ana.cells]
        torch.testing.assert_close(before[1], (ref.bias_ih_l1 + ref.bias_hh_l1).detach())
        AnalogSGD(ana.parameters(), lr=0.1).step()
        for i, cell in enumerate(ana.cells):
            torch.testing.assert_close(cell.bias.detach(), before[i] - 0.1 * getattr(ref, f"bias_ih_l{i}").grad,
                                       atol=1e-6, rtol=1e-5)


def _capture_sequences(lstm: AnalogLSTM) -> list:
    """Record (input, output) of every layer's forward_sequence."""
    seen = []
    for cell in lstm.cells:
        def spy(seq, state, run=cell.forward_sequence):
            out = run(seq, state)
            seen.append((seq.detach().clone(), out[0].detach().clone()))
            return out
        cell.forward_sequence = spy
    return seen


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_lstm_dropout_between_layers(p):
    """In training, dropout p between stacked layers zeroes each unit of a layer's output with
    probability p (binomial SE) and scales the others by 1/(1 − p); the last layer's output and
    every output in eval mode pass unchanged; p = 0 changes nothing."""
    torch.manual_seed(1)
    lstm = AnalogLSTM(3, 16, num_layers=3, dropout=p, rpu_config=RPUConfig.ideal())
    seen = _capture_sequences(lstm)
    x = torch.randn(25, 8, 3)
    out, _ = lstm(x)
    n_units = seen[0][1].numel() * 2
    dropped = 0
    for (_, below), (fed, _) in zip(seen[:-1], seen[1:]):
        kept = fed != 0
        dropped += int((~kept).sum())
        torch.testing.assert_close(fed[kept], below[kept] / (1 - p), rtol=1e-6, atol=0)
    assert abs(dropped / n_units - p) < 5 * math.sqrt(p * (1 - p) / n_units), dropped / n_units
    torch.testing.assert_close(out, seen[-1][1], rtol=0, atol=0)  # no dropout after the last layer
    seen.clear()
    lstm.eval()
    out_eval, _ = lstm(x)
    for (_, below), (fed, _) in zip(seen[:-1], seen[1:]):
        torch.testing.assert_close(fed, below, rtol=0, atol=0)
    lstm.train()
    lstm.dropout = 0.0
    torch.testing.assert_close(lstm(x)[0], out_eval, rtol=0, atol=0)


def test_char_lstm_dropout_after_every_layer_in_training_only():
    """The char_lm model applies model.dropout after every LSTM layer, the last one too (before the
    output layer), in training only."""
    from rpusim.framework.config import RunConfig
    from rpusim.framework.network import build_network
    p = 0.3
    cfg = RunConfig.from_dict({"task": "char_lm", "model": {"kind": "lstm", "hidden": [12, 12], "dropout": p},
                               "rpu": RPUConfig.ideal().to_dict()})
    torch.manual_seed(2)
    model = build_network(cfg, (10,), 10)
    assert all(isinstance(m, AnalogLSTM) for m in model.lstms)
    seen = {}
    model.lstms[0].register_forward_hook(lambda m, i, o: seen.__setitem__("out0", o[0].detach()))
    model.lstms[1].register_forward_pre_hook(lambda m, i: seen.__setitem__("in1", i[0].detach()))
    model.lstms[1].register_forward_hook(lambda m, i, o: seen.__setitem__("out1", o[0].detach()))
    model.decoder.register_forward_pre_hook(lambda m, i: seen.__setitem__("dec", i[0].detach()))
    ids = torch.randint(0, 10, (16, 20))
    model(ids)
    n = 0
    dropped = 0
    for below, fed in (("out0", "in1"), ("out1", "dec")):
        kept = seen[fed] != 0
        dropped += int((~kept).sum())
        n += kept.numel()
        torch.testing.assert_close(seen[fed][kept], seen[below][kept] / (1 - p), rtol=1e-6, atol=0)
    assert abs(dropped / n - p) < 5 * math.sqrt(p * (1 - p) / n)
    model.eval()
    model(ids)
    torch.testing.assert_close(seen["in1"], seen["out0"], rtol=0, atol=0)
    torch.testing.assert_close(seen["dec"], seen["out1"], rtol=0, atol=0)

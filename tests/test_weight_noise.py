"""Weight read noise: every sample of a batch is its own read of the array (independent noise).

With σ_w the weight noise and no other non-ideality, a sample's output is y_b = (W + σ_w·Ξ_b)·x_b,
so over B samples with the same input x the outputs of row j have mean (Wx)_j and variance
σ_w²·||x||², independent between samples and between rows.
"""
import math

import pytest
import torch

from rpusim.tile import IOConfig, analog_mvm

SIGMA_W = 0.05
ONLY_WEIGHT_NOISE = IOConfig(w_noise=SIGMA_W, out_noise=0.0, inp_bits=0, out_bits=0, out_bound=100.0,
                             noise_management="none", bound_management="none")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("transposed", [False, True], ids=["forward", "backward"])
def test_weight_noise_is_independent_per_sample_with_variance_sigma2_norm2(dtype, transposed):
    batch = 600
    w = torch.linspace(-0.4, 0.5, 20, dtype=dtype).reshape(4, 5)
    x = torch.tensor([0.9, -0.3, 0.5, 0.0, -0.7, 0.2], dtype=dtype)[: 4 if transposed else 5]
    target_mean = x @ w if transposed else w @ x
    target_var = SIGMA_W**2 * x.square().sum()
    for seed in (0, 1, 2):
        gen = torch.Generator().manual_seed(seed)
        y = analog_mvm(x.expand(batch, -1).contiguous(), w, ONLY_WEIGHT_NOISE, gen, transposed).double()
        n_out = y.shape[1]
        # mean per row: 5 SE
        assert ((y.mean(0) - target_mean).abs() <= 5 * math.sqrt(target_var / batch)).all(), y.mean(0)
        # variance across the samples of the batch, pooled over the rows: SE of s²/σ² is sqrt(2/(B − 1)/rows)
        ratio = (y.var(0) / target_var).mean()
        assert abs(ratio - 1) <= 5 * math.sqrt(2 / (batch - 1) / n_out), ratio
        # independent between rows (correlations within 5/sqrt(B)) and between consecutive samples
        corr_rows = torch.corrcoef(y.T)[~torch.eye(n_out, dtype=torch.bool)]
        assert corr_rows.abs().max() <= 5 / math.sqrt(batch), corr_rows
        centred = y - target_mean
        lag = (centred[:-1] * centred[1:]).mean() / target_var
        assert abs(lag) <= 5 / math.sqrt((batch - 1) * n_out), lag

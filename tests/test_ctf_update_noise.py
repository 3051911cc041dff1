"""One update's weight change on the study's CTF arrays (rpusim.papers.ctf_update_noise) against closed forms."""
from __future__ import annotations

import math

import pytest

from rpusim.papers.ctf_update_noise import ideal_update, simulate_update, study_rpu

C2C = 0.3


@pytest.mark.parametrize("n, seed", [(10, 1), (100, 2), (1000, 3)])
def test_a_program_time_conserving_cell_gives_the_closed_form_mean_and_sd(n, seed):
    """Transient off: E[Δw] = Σ P(n)·f(n) (= the requested Δw up to the curve's bend) and
    E[Δw²] = Σ P(n)·f(n)²·(1 + σ²/n), n ~ Binomial(N, r); within 5 standard errors."""
    rpu = study_rpu(n, 5.0, False, transient=0.0)
    dw = 5e-4
    sim = simulate_update(rpu, dw, side=128, repeats=max(12, 300 // n), seed=seed)
    exact = ideal_update(rpu.device, n, dw)
    assert exact["bias"] == pytest.approx(1.0, abs=2e-3)             # small steps: the curve hardly bends
    assert abs(sim["mean"] - exact["mean"]) < 5 * sim["se_mean"]
    assert abs(sim["sd"] - exact["sd"]) < 5 * sim["se_sd"]
    assert sim["se_mean"] < 0.03 * exact["mean"]                     # the check has teeth


def test_the_relative_noise_falls_as_one_over_root_n_when_pw_is_t_over_n():
    """pw = T/N: r = Δw/(N·Δw_min) is the same at every N and μ = r·N, so s/|m| = sqrt((1 − r + σ²)/μ)."""
    dw = 5e-4
    sims = {n: simulate_update(study_rpu(n, 5.0, False, transient=0.0), dw, side=128, repeats=12, seed=n)
            for n in (10, 1000)}
    for n, sim in sims.items():
        r = sim["rate"]
        assert r == pytest.approx(0.05)
        closed = math.sqrt((1 - r + C2C**2) / (r * n))
        assert ideal_update(study_rpu(n, 5.0, False).device, n, dw)["rel_noise"] == pytest.approx(closed, rel=0.01)
        assert sim["rel_noise"] == pytest.approx(closed, rel=0.05)
    assert sims[10]["rel_noise"] / sims[1000]["rel_noise"] == pytest.approx(10.0, rel=0.08)


def test_a_fixed_pulse_width_keeps_the_count_and_its_noise_whatever_n():
    """pw fixed: μ = Δw/Δw_min does not depend on N; s/|m| = sqrt((1 − μ/N + σ²)/μ)."""
    dw = 5e-4
    for n in (50, 1000):
        rpu = study_rpu(n, 5.0, False, "fixed-pw", transient=0.0)
        mu = dw / rpu.device.nominal_dw_min
        sim = simulate_update(rpu, dw, side=128, repeats=12, seed=n)
        assert sim["rel_noise"] == pytest.approx(math.sqrt((1 - mu / n + C2C**2) / mu), rel=0.05)


@pytest.mark.parametrize("n, t_gap", [(100, 1.0), (1000, 5.0)])
def test_the_compensation_makes_the_mean_update_ideal_at_its_calibration_rate(n, t_gap):
    """With compensation, trains at the calibration rate deliver pw of effective time per pulse on
    average, so the mean change equals the requested one (small steps); without it falls short."""
    rpu = study_rpu(n, t_gap, True)
    dw = rpu.device.calib_rate * n * rpu.device.nominal_dw_min
    sim = simulate_update(rpu, dw, side=128, repeats=12, seed=7)
    assert abs(sim["bias"] - 1.0) < 5 * sim["se_mean"] / dw + 2e-3
    plain = simulate_update(study_rpu(n, t_gap, False), dw, side=128, repeats=12, seed=7)
    assert plain["bias"] < 0.6


def test_an_unknown_reading_is_refused():
    with pytest.raises(ValueError, match="allowed on-time, fixed-pw"):
        study_rpu(10, 5.0, False, "fixed")

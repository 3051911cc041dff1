"""The CTF grid's spec line and claim verdicts (rpusim/papers/ctf_grid.py): the statistics are
checked statistically, the verdicts on synthetic records whose answer is known."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from rpusim.framework.records import record_runs
from rpusim.papers import ctf_grid
from rpusim.papers.ctf import ABLATION_N, N_VALUES, T_GAPS
from rpusim.papers.ctf_figures import point_name

sys.path.insert(0, str(Path(__file__).parent))
from test_records import fake_run  # noqa: E402


def test_pooled_sd_is_unbiased_in_variance_and_counts_its_degrees_of_freedom():
    rng = np.random.default_rng(0)
    sigma, reps = 1.5, 3000
    variances = []
    for _ in range(reps):
        groups = [list(rng.normal(5.0, sigma, 2)) for _ in range(8)] + [[1.0]]   # a 1-seed group adds nothing
        sd, df = ctf_grid.pooled_sd(groups)
        variances.append(sd ** 2)
    assert df == 8
    se = math.sqrt(2 * sigma ** 4 / df / reps)                 # sd of s² is σ²·√(2/df)
    assert abs(np.mean(variances) - sigma ** 2) < 4 * se
    assert ctf_grid.pooled_sd([[1.0], [2.0]]) == (pytest.approx(math.nan, nan_ok=True), 0)


def test_the_t_gap_trend_recovers_its_slope_and_its_standard_error_is_the_slopes_spread():
    rng = np.random.default_rng(1)
    sigma, slope, reps = 0.8, -1.2, 4000
    seeds = [1, 2, 1, 2]
    got, ses = [], []
    for _ in range(reps):
        pts = [(g, 10 + slope * math.log10(g) + rng.normal(0, sigma / math.sqrt(n)), n) for g, n in zip(T_GAPS, seeds)]
        b, se = ctf_grid.trend(pts, sigma)
        got.append(b)
        ses.append(se)
    se = ses[0]
    assert np.allclose(ses, se)
    assert abs(np.mean(got) - slope) < 4 * se / math.sqrt(reps)
    assert abs(np.std(got, ddof=1) - se) < 4 * se / math.sqrt(2 * reps)


def _error(n, gap, comp, good):
    """A designed final error: large N near software (when ``good``), small N worse at large t_gap,
    compensation 2 points better."""
    if n >= 500:
        e = 2.2 if good else 7.0
    else:
        e = 12.0 - n / 50 + 2.0 * math.log10(gap)
    return e - (2.0 if comp and n < 500 else 0.0)


ABL_GAIN = {"noise-only": 9.0, "time-only": 1.0, "neither": 0.0}   # "both" is the grid's N10 → N1000: 11


def grid_repo(tmp_path, good=True):
    """Synthetic ctf-mnist records: fp, every grid point, the ablation; two seeds at N = 100 and 1000."""
    runs = []

    def add(variant, err, seed=0):
        offset = 0.1 * (1 if seed else -1) if seed or variant.startswith(("N100-", "N1000-")) else 0.0
        e = err + offset
        runs.append(fake_run(tmp_path / "runs" / f"{variant}-{seed}", variant, seed, (e + 3, e + 0.2, e - 0.2, e),
                             experiment="ctf-mnist"))

    add("fp", 2.0)
    for comp in (False, True):
        for n in N_VALUES:
            for g in T_GAPS:
                add(point_name(n, g, comp), _error(n, g, comp, good))
                if n in (100, 1000):
                    add(point_name(n, g, comp), _error(n, g, comp, good), seed=1)
    base = {10: 12.0, 1000: 4.0}
    for setting, pattern in ctf_grid.ABLATION.items():
        if setting != "both":
            for n in ABLATION_N:
                add(pattern.format(n=n), base[10] - (ABL_GAIN[setting] if n == 1000 else 0.0) if n in base else 9.0)
    repo = tmp_path / "repo"
    record_runs(runs, ctf_grid.STUDY, repo)
    return repo


def test_run_statistic_is_the_mean_of_the_last_epochs():
    assert ctf_grid.run_statistic([9.0, 5.0, 4.0, 3.0, 2.0]) == pytest.approx(3.0)
    assert math.isnan(ctf_grid.run_statistic([]))


def test_verdicts_on_a_grid_that_behaves_as_the_paper_says(tmp_path):
    repo = grid_repo(tmp_path, good=True)
    data = ctf_grid.grid_numbers(repo, "ctf-mnist")
    assert data["df"] == 16 and data["sd"] == pytest.approx(math.sqrt(0.02), rel=1e-6)   # ±0.1 around the point
    text = ctf_grid.claims_markdown(data)
    assert len(data["pooled_from"]) == 16 and all(f"`{v}`" in text for v in data["pooled_from"])   # the statement names them
    rows = [r for r in text.splitlines() if r.startswith("| ") and "verdict" not in r]
    assert len(rows) == 6
    assert all("**reproduced**" in r for r in rows[:2]), rows[:2]        # N = 1000 near software, both ways
    assert all("**reproduced**" in r for r in rows[2:4]), rows[2:4]     # slope at N < 500 only
    assert "resolved at N = 10, 50, 100, 250" in rows[2]
    assert "**reproduced**" in rows[4] and "lower error at 16" in rows[4]
    assert "**reproduced**" in rows[5] and "+10.00 ±" in rows[5]       # 11 − 1 of the gain is the noise's
    spec = ctf_grid.spec_sentence(data)
    assert "without compensation: N ≥ 500 and t_gap ≤ 100 µs" in spec and "recorded so far" not in spec


def test_verdicts_on_a_grid_where_large_n_stays_far_from_software(tmp_path):
    repo = grid_repo(tmp_path, good=False)
    data = ctf_grid.grid_numbers(repo, "ctf-mnist")
    rows = [r for r in ctf_grid.claims_markdown(data).splitlines() if r.startswith("| N ≈ 1000")]
    assert all("**not reproduced**" in r and "+5.00 ± 0." in r for r in rows), rows
    assert "no point (closest: N = 250, t_gap = 1 µs" in ctf_grid.spec_sentence(data)


def test_without_second_seeds_nothing_is_judged(tmp_path):
    runs = [fake_run(tmp_path / "runs" / v, v, 0, (9.0, 5.0, e), experiment="ctf-mnist")
            for v, e in (("fp", 2.0), ("N10-gap1", 12.0), ("N10-gap100", 14.0))]
    repo = tmp_path / "repo"
    record_runs(runs, ctf_grid.STUDY, repo)
    data = ctf_grid.grid_numbers(repo, "ctf-mnist")
    text = ctf_grid.claims_markdown(data)
    assert data["sd"] is None and "not judged" in text and "**reproduced**" not in text
    assert "(from 2 of the 48 grid points, recorded so far)" in ctf_grid.spec_sentence(data)


def test_the_wide_window_grid_is_judged_from_its_own_points(tmp_path):
    """The wide-window cell's smaller grid (prefix wide-): its points, not the main grid's, carry the
    verdicts; the seed spread is the study's pooled one; no ablation row."""
    grid = ctf_grid.WIDE_GRID
    runs = []

    def add(variant, e, seed=0):
        runs.append(fake_run(tmp_path / "runs" / f"{variant}-{seed}", variant, seed, (e + 3, e + 0.2, e - 0.2, e),
                             experiment="ctf-mnist"))

    add("fp", 2.0)
    add("N1000-gap1", 9.0)                                  # the main grid's point: far off, must not count
    for comp in (False, True):
        for n in grid.n_values:
            for g in grid.t_gaps:
                e = 2.2 if n == 1000 else 8.0
                add(grid.name(n, g, comp), e - 0.1)
                add(grid.name(n, g, comp), e + 0.1, seed=1)
    repo = tmp_path / "repo"
    record_runs(runs, ctf_grid.STUDY, repo)
    data = ctf_grid.grid_numbers(repo, "ctf-mnist", grid)
    text = ctf_grid.claims_markdown(data)
    rows = [r for r in text.splitlines() if r.startswith("| ") and "verdict" not in r]
    assert len(rows) == 5 and "Ablation" not in text
    assert all("**reproduced**" in r for r in rows[:2]), rows[:2]       # wide N = 1000 within 0.5 of software
    assert "N ≥ 1000 and t_gap ≤ 100 µs" in ctf_grid.spec_sentence(data)
    assert "recorded so far" not in ctf_grid.spec_sentence(data)       # 12 of its 12 points
    main = ctf_grid.grid_numbers(repo, "ctf-mnist")                  # the main grid: one N = 1000 point, 7 off
    assert "incomplete (+7.00 ± " in ctf_grid.claims_markdown(main).splitlines()[2]

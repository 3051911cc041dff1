"""The xoshiro256** stream of the numba kernels: uniform and normal moments, reproducible seeds."""
import numpy as np
import pytest
from numba import njit

from rpusim.numba_random import seeded_state, step, to_uniform, ziggurat


@njit
def _draws(seed, n):
    s = seeded_state(seed)
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    u = np.empty(n)
    z = np.empty(n)
    for k in range(0, n, 2):
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        u[k] = to_uniform(r)
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        u[k + 1] = to_uniform(r)
        z[k], s0, s1, s2, s3 = ziggurat(s0, s1, s2, s3)
        z[k + 1], s0, s1, s2, s3 = ziggurat(s0, s1, s2, s3)
    return u, z


def test_uniforms_and_normals_have_the_right_moments():
    u, z = _draws(7, 400_000)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001
    assert abs(z.mean()) < 0.006 and abs(z.std() - 1.0) < 0.006
    assert abs((np.abs(z) > 1.96).mean() - 0.05) < 0.003  # the tails too
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_same_seed_same_stream_different_seed_different_stream():
    assert np.array_equal(_draws(3, 100)[0], _draws(3, 100)[0])
    assert not np.array_equal(_draws(3, 100)[0], _draws(4, 100)[0])


def test_ziggurat_normals_follow_the_normal_distribution():
    """Kolmogorov–Smirnov distance, moments and both tails (the wedges and the tail beyond r = 3.654);
    the two draws taken from the halves of one random word are uncorrelated, and an odd length
    is filled to its end."""
    import math
    from rpusim.numba_random import fill
    z = np.empty(1_000_001, np.float32)
    z[-1] = np.nan
    fill(z, seeded_state(11), True)
    assert np.isfinite(z[-1])
    assert abs(np.corrcoef(z[0:-1:2], z[1::2])[0, 1]) < 0.006
    assert abs(np.corrcoef(z[0:-1:2] ** 2, z[1::2] ** 2)[0, 1]) < 0.006
    z = np.sort(z.astype(np.float64))
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    n = z.size
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n)  # the 1 % critical value
    assert abs(z.mean()) < 0.005 and abs(z.var() - 1) < 0.006 and abs((z**4).mean() - 3) < 0.03
    beyond_r = (np.abs(z) > 3.6541528853610088).mean()
    expected = math.erfc(3.6541528853610088 / math.sqrt(2))
    assert abs(beyond_r - expected) < 4 * math.sqrt(expected / n)
    assert (z < 0).sum() == pytest.approx(n / 2, abs=4 * math.sqrt(n) / 2)


def test_uniform_fill_stays_below_one_and_differs_by_seed():
    from rpusim.numba_random import fill
    a, b = np.empty(200_000, np.float32), np.empty(200_000, np.float32)
    fill(a, seeded_state(1), False)
    fill(b, seeded_state(2), False)
    assert 0.0 <= a.min() and a.max() < 1.0 and abs(a.mean() - 0.5) < 0.003
    assert not np.array_equal(a, b)

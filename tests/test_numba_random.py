"""The xoshiro256** stream of the numba kernels: uniform and normal moments, reproducible seeds."""
import numpy as np
from numba import njit

from rpusim.numba_random import normal_pair, seeded_state, step, to_uniform


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
        z[k], z[k + 1], s0, s1, s2, s3 = normal_pair(s0, s1, s2, s3)
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

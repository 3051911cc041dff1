"""Numbers over seeds, as the documents show them: mean ± sd, and when a difference counts.

Every generated table (:mod:`.doc_tables`, :mod:`.doc_compare`) uses these, so one rule decides
everywhere whether two settings differ: Δ = mean(a) − mean(b) is *resolved* when
|Δ| > :data:`RESOLVE_SE` · √(sd_a²/n_a + sd_b²/n_b) (Welch's standard error of a difference of
means), *within seed spread* otherwise, *not judged* with fewer than 2 seeds a side.
"""
from __future__ import annotations

import math
import statistics

#: A difference is resolved when |Δ| exceeds this many standard errors of the difference.
RESOLVE_SE = 2.0


def mean_sd(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (NaN for one value) and count of the finite ``values``."""
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return math.nan, math.nan, 0
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else math.nan, len(vals)


def difference(a: list[float], b: list[float]) -> tuple[float, float, bool | None]:
    """Δ = mean(a) − mean(b), its standard error √(sd_a²/n_a + sd_b²/n_b), and whether it is
    resolved: |Δ| > 2·SE. None when either side has fewer than 2 seeds (no spread to judge by)."""
    ma, sa, na = mean_sd(a)
    mb, sb, nb = mean_sd(b)
    if na < 2 or nb < 2:
        return ma - mb, math.nan, None
    se = math.sqrt(sa ** 2 / na + sb ** 2 / nb)
    return ma - mb, se, abs(ma - mb) > RESOLVE_SE * se


def fmt(x: float, digits: int) -> str:
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def cell(values: list[float], digits: int, seeds_in_row: int) -> str:
    """``mean ± sd`` of the finite values, ``(n=k)`` when fewer than ``seeds_in_row``; one value:
    ``value (1 seed)``; none: ``–``."""
    m, sd, n = mean_sd(values)
    if n == 0:
        return "–"
    if n == 1:
        return f"{fmt(m, digits)} (1 seed)"
    return f"{fmt(m, digits)} ± {fmt(sd, digits)}" + ("" if n == seeds_in_row else f" (n={n})")


def diff_cell(a: list[float], b: list[float], digits: int) -> str:
    """``Δ ± SE: resolved`` or ``: within seed spread`` (see :func:`difference`)."""
    d, se, resolved = difference(a, b)
    if math.isnan(d):
        return "–"
    if resolved is None:
        return f"{d:+.{digits}f} (under 2 seeds: not judged)"
    return f"{d:+.{digits}f} ± {fmt(se, digits)}: " + ("resolved" if resolved else "within seed spread")

"""The spec explorer's pure parts: a parameter and its grid, the seed statistics of a grid value,
the tolerance band and the threshold search along a grid (see :mod:`.spec` for the rules)."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable

from ..config import ConfigError

BAND_SE = 2.0  # k: standard errors of the seed spread added to the tolerance band

@dataclass(frozen=True)
class SpecParam:
    """One parameter of the sheet: what it sets, where it starts, which way is worse, its grid."""

    name: str
    what: str
    keys: tuple[str, ...]
    baseline: float
    grid: str        # "log", "linear" or "integer"
    worse: str       # "larger" or "smaller" (the value at which the metric gets worse)
    values: tuple    # the baseline first, then toward worse
    assign: Callable[[float], dict[str, Any]]  # value → {config key: value}



@dataclass(frozen=True)
class Stat:
    """The metric at one grid value over seeds: mean, sample sd (nan with one seed), seeds."""

    value: float
    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, value: float, samples: list[float]) -> "Stat":
        sd = statistics.stdev(samples) if len(samples) > 1 else math.nan
        return cls(value, statistics.fmean(samples), sd, len(samples))

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n > 1 else 0.0


@dataclass(frozen=True)
class Limit:
    """The outcome of the threshold search.

    status: ``crossed`` (limit between ``last_inside`` and ``first_outside``), ``not_reached``
    (every grid value inside: the limit lies beyond ``last_inside``), ``baseline_outside``."""

    status: str
    limit: float | None
    last_inside: Stat | None
    first_outside: Stat | None


def excess(s: Stat, ref: Stat, tolerance: float, k: float = BAND_SE) -> float:
    """m − m_ref − T − k·SE: ≤ 0 inside the band."""
    return s.mean - ref.mean - tolerance - k * math.hypot(s.se, ref.se)


def find_limit(stats: list[Stat], ref: Stat, tolerance: float, grid: str, k: float = BAND_SE) -> Limit:
    """The tolerated limit along ``stats`` (the baseline first, then toward worse); see the module."""
    if tolerance <= 0:
        raise ConfigError(f"tolerance {tolerance}: must be > 0")
    if not stats:
        raise ConfigError("no grid value to search")
    prev = None
    for s in stats:
        e = excess(s, ref, tolerance, k)
        if e > 0:
            if prev is None:
                return Limit("baseline_outside", None, None, s)
            return Limit("crossed", _crossing(prev, s, ref, tolerance, grid, k), prev, s)
        prev = s
    return Limit("not_reached", prev.value, prev, None)


def _crossing(a: Stat, b: Stat, ref: Stat, tolerance: float, grid: str, k: float) -> float:
    """Where the excess, linear between grid values a (≤ 0) and b (> 0), is 0; in log value for a
    log grid; integer grids keep the last value inside."""
    if grid == "integer":
        return a.value
    ea, eb = excess(a, ref, tolerance, k), excess(b, ref, tolerance, k)
    t = -ea / (eb - ea)
    if grid == "log" and a.value > 0 and b.value > 0:
        return math.exp(math.log(a.value) + t * (math.log(b.value) - math.log(a.value)))
    return a.value + t * (b.value - a.value)


def fmt_value(x: float | None) -> str:
    """A grid value or limit as the sheet shows it: 3 significant digits, "–" for none."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"

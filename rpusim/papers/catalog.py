"""The catalog: every experiment ``rpusim list`` shows, in this order.

To add an experiment, write its paper module (network kind, variants, presets, claims: see
:mod:`.fc`) and add its :class:`~rpusim.framework.Experiment` to :data:`CATALOG`.
"""
from __future__ import annotations

from ..config import ConfigError
from ..framework import Experiment
from . import cnn, ctf, fc, lstm

CATALOG: tuple[Experiment, ...] = (
    fc.MNIST, fc.FASHION,
    cnn.MNIST, cnn.FASHION,
    lstm.WARPEACE,
    ctf.MNIST, ctf.FASHION,
)

EXPERIMENTS: dict[str, Experiment] = {exp.name: exp for exp in CATALOG}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"experiment {name!r}: unknown (allowed: {', '.join(sorted(EXPERIMENTS))})")
    return EXPERIMENTS[name]


def all_experiments() -> dict[str, Experiment]:
    """Every experiment by name, sorted by name."""
    return dict(sorted(EXPERIMENTS.items()))

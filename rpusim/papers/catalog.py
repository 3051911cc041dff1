"""The catalog: every experiment ``rpusim list`` shows, in this order.

To add an experiment, write its paper module (network kind, variants, presets, claims: see
:mod:`.fc`) and add its :class:`~rpusim.framework.Experiment` to :data:`CATALOG`; a paper's
computed document blocks (no runs) go into :data:`COMPUTED`.
"""
from __future__ import annotations

from ..config import ConfigError
from ..framework import Experiment
from ..framework.computed import ComputedView
from . import (cnn, ctf, ctf_device_figures, ctf_grid, ctf_update_noise, fc, lstm, spec_sheets, transfer, transfer_claims,
               transfer_dynamics)

CATALOG: tuple[Experiment, ...] = (
    fc.MNIST, fc.FASHION,
    cnn.MNIST, cnn.FASHION,
    lstm.WARPEACE,
    ctf.MNIST, ctf.FASHION,
    transfer.MNIST, transfer.FASHION, transfer.LSTM,
)

EXPERIMENTS: dict[str, Experiment] = {exp.name: exp for exp in CATALOG}

#: The documents' blocks computed from the code rather than from runs (``<!-- rpusim:computed name=... -->``).
COMPUTED: dict[str, ComputedView] = {**ctf_device_figures.VIEWS, **ctf_update_noise.VIEWS, **ctf_grid.VIEWS,
                                     **transfer_dynamics.VIEWS, **transfer_claims.VIEWS, **spec_sheets.VIEWS}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"experiment {name!r}: unknown (allowed: {', '.join(sorted(EXPERIMENTS))})")
    return EXPERIMENTS[name]


def all_experiments() -> dict[str, Experiment]:
    """Every experiment by name, sorted by name."""
    return dict(sorted(EXPERIMENTS.items()))

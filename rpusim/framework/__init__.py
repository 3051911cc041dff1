"""The run framework, which knows no paper: run configs, tasks, the training loop, runner, sweep, report.

An :class:`Experiment` (a base config, variants, presets, claims) is run by
:func:`run_experiment`; the papers' experiments are in :mod:`rpusim.papers`.
"""
from .config import RunConfig, build_config, load_run_config, parse_set
from .experiment import Experiment
from .runner import run_configs, run_experiment, variant_configs
from .train import TrainingDiverged, train_run

__all__ = ["RunConfig", "build_config", "parse_set", "Experiment", "run_configs", "run_experiment",
           "variant_configs", "TrainingDiverged", "load_run_config", "train_run"]

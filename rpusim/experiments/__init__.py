"""Experiments: one file per paper figure or table, a shared training loop and runner."""
from .config import RunConfig, build_config, load_run_config, parse_set
from .registry import EXPERIMENTS, Experiment, all_experiments, get_experiment, register
from .runner import run_configs, run_experiment, variant_configs
from .train import TrainingDiverged, train_run

__all__ = ["RunConfig", "build_config", "parse_set", "EXPERIMENTS", "Experiment", "all_experiments",
           "get_experiment", "register", "run_configs", "run_experiment", "variant_configs",
           "TrainingDiverged", "load_run_config", "train_run"]

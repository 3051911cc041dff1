"""Side by side with the reference simulator (IBM aihwkit): the paper's CNN on Fashion-MNIST, NM+BM+UM.

Three arms train the same network on the same images in the same order, over several seeds:

* ``rpusim``          — rpusim's defaults (variant ``+um`` of ``cnn-fashion``; with
                        ``--experiment fc-mnist``, the FC network's ``rpu-baseline``)
* ``rpusim-aihwkit``  — the same with every fidelity option set to aihwkit's behaviour
                        (docs/fidelity.md: update.clip, update.um_overflow, forward.bm_max_res,
                        forward.bm_test, device.up_down_draw)
* ``aihwkit``         — the floating-point network converted by aihwkit, its RPU config set
                        explicitly to the analog variant's values (the CNN's: constant step, BL 10,
                        UM on, BL management off, NM abs-max both ways, BM forward, 7-bit DAC,
                        9-bit ADC, σ_out 0.06; the FC's the same with UM off)

At the start a run writes ``OUT/meta.json`` (:func:`write_meta`: commit, versions, command line,
date, machine, settings, the arms' options); each epoch appends one JSON line
``{arm, seed, epoch, train_loss, test_error, test_loss, seconds}`` to ``OUT/records.jsonl``
(:mod:`rpusim.framework.arm_records`). aihwkit's random streams do not follow torch's seed: compare
distributions over seeds, not single runs. Without aihwkit the script prints one line and exits 0;
it is a comparison tool, never a test dependency (shared/aihwkit-reference.md says how to build it).

    OMP_NUM_THREADS=1 python3 benchmarks/compare_aihwkit.py --out runs/compare-aihwkit \\
        [--seeds 0,1,2] [--epochs 3] [--train-limit 0] [--arms rpusim,rpusim-aihwkit,aihwkit] \\
        [--experiment cnn-fashion|fc-mnist] [--log-every K]

``--log-every K`` also appends, every K training batches, the mean training loss of those K
batches to ``OUT/steps.jsonl`` (``{arm, seed, epoch, batches, train_loss}``): a diagnostic of where
within an epoch a loss rises, not part of the record.

``--merge OUT... --into results/compare-aihwkit/STUDY`` joins run folders (one per arm, say) into
the committed record that ``<!-- rpusim:compare dir=results/compare-aihwkit/STUDY -->`` blocks show
(aihwkit not needed); bad input exits 2 with one message.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from rpusim.config import ConfigError
from rpusim.framework.arm_records import LINES, META, merge_arm_runs, write_arm_meta
from rpusim.framework.runner import variant_configs
from rpusim.framework.tasks import TASKS
from rpusim.optim import AnalogSGD
from rpusim.papers.catalog import get_experiment

STEPS = "steps.jsonl"  # the --log-every diagnostic (not merged into the record)

ARMS = ("rpusim", "rpusim-aihwkit", "aihwkit")
#: The experiments compared, each with the analog variant the rpusim arms train and aihwkit's rpu
#: config is set from (constant-step devices: the device aihwkit_model maps).
EXPERIMENTS = {"cnn-fashion": "+um", "fc-mnist": "rpu-baseline"}
AIHWKIT_OPTIONS = {"rpu": {"update": {"clip": "per_pulse", "um_overflow": "clip_delta"},
                           "forward": {"bm_max_res": 0.25, "bm_test": "after_adc"},
                           "device": {"up_down_draw": "additive"}}}


def arm_options(arm: str, experiment: str = "cnn-fashion") -> dict:
    """What sets an arm apart: the variant it trains and the overrides on top (the aihwkit arm:
    the floating-point variant, converted with an rpu config set from the analog variant's)."""
    analog = EXPERIMENTS[experiment]
    if arm == "aihwkit":
        return {"variant": "fp", "rpu_config_from": analog}
    return {"variant": analog, "overrides": AIHWKIT_OPTIONS if arm == "rpusim-aihwkit" else {}}


def aihwkit_version() -> str | None:
    try:
        import aihwkit
    except ImportError:
        return None
    return aihwkit.__version__


def write_meta(out: str | Path, arms: list[str], seeds: list[int], epochs: int, train_limit: int,
               experiment: str = "cnn-fashion", repo: str | Path | None = None, argv: list[str] | None = None,
               date: str | None = None) -> Path:
    """Write ``OUT/meta.json`` of a comparison run (see :func:`rpusim.framework.arm_records.write_arm_meta`):
    the versions of this interpreter (aihwkit's or None), the commit of ``repo`` (default: this
    checkout), ``argv`` (default: this command line) and ``date`` (UTC, default: now)."""
    return write_arm_meta(out, {"experiment": experiment, "epochs": epochs, "train_limit": train_limit},
                          {arm: arm_options(arm, experiment) for arm in arms}, seeds, {"aihwkit": aihwkit_version()},
                          repo, argv, date)


def run_config(arm: str, seed: int, epochs: int, train_limit: int, experiment: str):
    """The run config of one arm (aihwkit converts the floating-point network itself)."""
    options = arm_options(arm, experiment)
    overrides = {"train": {"epochs": epochs}, "data": {"train_limit": train_limit}, **options.get("overrides", {})}
    variant = options["variant"]
    return variant_configs(get_experiment(experiment), [variant], None, overrides, seed)[variant]


def aihwkit_model(model: torch.nn.Module, rpu):
    """The floating-point network on aihwkit tiles, its rpu config set field by field from ours."""
    from aihwkit.nn.conversion import convert_to_analog
    config = aihwkit_config(rpu)
    print(f"aihwkit rpu config: {config}", file=sys.stderr)
    return convert_to_analog(model, config)


def aihwkit_config(rpu):
    """aihwkit's SingleRPUConfig(ConstantStepDevice) set field by field from our rpu config ``rpu``."""
    from aihwkit.simulator.configs import SingleRPUConfig
    from aihwkit.simulator.configs.devices import ConstantStepDevice
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType

    d = rpu.device
    config = SingleRPUConfig(device=ConstantStepDevice(
        dw_min=d.dw_min, dw_min_dtod=d.dw_min_dtod, dw_min_std=d.dw_min_std, w_max=d.w_max, w_min=d.w_min,
        w_max_dtod=d.w_max_dtod, w_min_dtod=d.w_min_dtod, up_down=d.up_down, up_down_dtod=d.up_down_dtod))
    for ours, theirs in ((rpu.forward, config.forward), (rpu.backward, config.backward)):
        theirs.inp_bound, theirs.out_bound = ours.inp_bound, ours.out_bound
        theirs.inp_res = 1 / (2**ours.inp_bits - 2) if ours.inp_bits else -1
        theirs.out_res = 1 / (2**ours.out_bits - 2) if ours.out_bits else -1
        theirs.inp_noise, theirs.out_noise, theirs.w_noise = ours.inp_noise, ours.out_noise, ours.w_noise
        theirs.noise_management = (NoiseManagementType.ABS_MAX if ours.noise_management == "abs_max"
                                   else NoiseManagementType.NONE)
        theirs.bound_management = (BoundManagementType.ITERATIVE if ours.bound_management == "iterative"
                                   else BoundManagementType.NONE)
    config.update.desired_bl = rpu.update.bl
    config.update.update_management = rpu.update.update_management
    config.update.update_bl_management = rpu.update.bl_management
    config.mapping.digital_bias = rpu.mapping.digital_bias
    return config


class LossWindow:
    """The mean loss of every ``every`` consecutive batches of an epoch (``every`` 0: none).

    ``add(loss)`` returns ``{"batches": b, "train_loss": mean}`` when batch b closes a window,
    else None; an epoch's last, shorter window is dropped (``restart`` begins the next epoch)."""

    def __init__(self, every: int):
        self.every, self.batches, self.total = every, 0, 0.0

    def restart(self) -> None:
        self.batches, self.total = 0, 0.0

    def add(self, loss: float) -> dict | None:
        self.batches += 1
        self.total += loss
        if not self.every or self.batches % self.every:
            return None
        window, self.total = self.total / self.every, 0.0
        return {"batches": self.batches, "train_loss": window}


def train_arm(arm: str, seed: int, epochs: int, train_limit: int, out: Path, experiment: str,
              log_every: int = 0) -> None:
    cfg = run_config(arm, seed, epochs, train_limit, experiment)
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(seed)
    model = task.build_model()
    if arm == "aihwkit":
        from aihwkit.optim import AnalogSGD as TheirSGD
        source = arm_options(arm, experiment)["rpu_config_from"]
        rpu = variant_configs(get_experiment(experiment), [source], None, {}, seed)[source].rpu
        model = aihwkit_model(model, rpu)
        opt = TheirSGD(model.parameters(), lr=cfg.train.lr)
        opt.regroup_param_groups(model)
    else:
        opt = AnalogSGD(model.parameters(), lr=cfg.train.lr)
    window = LossWindow(log_every)
    for epoch in range(1, epochs + 1):
        start, total, n = time.time(), 0.0, 0
        window.restart()
        for batch in task.batches(epoch):
            opt.zero_grad()
            loss = task.loss(model, batch)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            total, n = total + value, n + 1
            closed = window.add(value)
            if closed:
                with open(out / STEPS, "a") as f:
                    f.write(json.dumps({"arm": arm, "seed": seed, "epoch": epoch, **closed}) + "\n")
        record = {"arm": arm, "seed": seed, "epoch": epoch, "train_loss": total / max(n, 1),
                  **task.evaluate(model), "seconds": round(time.time() - start, 1)}
        with open(out / LINES, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record))


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="the run's folder (must not hold records yet)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=0, help="training images (0: all 60000)")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--experiment", default="cnn-fashion", choices=list(EXPERIMENTS),
                        help="the network compared (its analog variant: " +
                        ", ".join(f"{k}: {v}" for k, v in EXPERIMENTS.items()) + ")")
    parser.add_argument("--log-every", type=int, default=0, metavar="K",
                        help="also log the mean training loss of every K batches to OUT/steps.jsonl")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="OUT",
                        help="merge these run folders into --into instead of training")
    parser.add_argument("--into", type=Path, help="the record folder of --merge (results/compare-aihwkit/STUDY)")
    return parser.parse_args(argv)


def checked(args) -> tuple[list[str], list[int]]:
    """The arms and seeds of a training command; bad input raises ConfigError."""
    if args.out is None:
        raise ConfigError("--out: required (or --merge OUT... --into DIR)")
    if args.log_every < 0:
        raise ConfigError(f"--log-every {args.log_every}: expected 0 (off) or a positive number of batches")
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ConfigError(f"--arms {','.join(unknown)}: unknown (allowed: {', '.join(ARMS)})")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds}: expected comma-separated integers") from None
    held = [n for n in (LINES, META, STEPS) if (args.out / n).exists()]
    if held:
        raise ConfigError(f"--out {args.out}: holds {', '.join(held)} of another run (give each run its own "
                          "folder; --merge joins them)")
    return arms, seeds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.merge:
            if args.into is None:
                raise ConfigError("--merge: needs --into DIR (results/compare-aihwkit/STUDY)")
            total, before = merge_arm_runs(args.merge, args.into)
            print(f"{args.into}: {total} lines ({total - before} new) from {len(args.merge)} folder(s)")
            return 0
        arms, seeds = checked(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if aihwkit_version() is None:
        print("aihwkit is not importable here: comparison skipped (build it as in shared/aihwkit-reference.md)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    write_meta(args.out, arms, seeds, args.epochs, args.train_limit, args.experiment)
    for seed in seeds:
        for arm in arms:
            train_arm(arm, seed, args.epochs, args.train_limit, args.out, args.experiment, args.log_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())

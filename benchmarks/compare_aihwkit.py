"""Side by side with the reference simulator (IBM aihwkit): one network, one analog variant, five arms.

Five arms train the same network on the same images in the same order, over several seeds:

* ``rpusim``          — the experiment's analog variant as it is (``--variant``; default: ``+um`` of
                        ``cnn-fashion``, ``rpu-baseline`` of ``fc-mnist``, ``tiki-taka+soft-asym`` of
                        ``transfer-fc-mnist`` / ``transfer-fc-fashion``)
* ``rpusim-aihwkit``  — the same with every fidelity option set to aihwkit's behaviour
                        (docs/fidelity.md: update.clip, update.um_overflow, forward.bm_max_res,
                        forward.bm_test, device.up_down_draw; an up/down asymmetry redrawn as aihwkit
                        draws it, :func:`aihwkit_rpu.aihwkit_steps`)
* ``aihwkit``         — the floating-point network converted by aihwkit, its rpu config set from the
                        analog variant's by :func:`aihwkit_rpu.aihwkit_config` (every field explicit;
                        plain SGD or Tiki-Taka's TransferCompound, constant-step or soft-bounds
                        devices; what does not map one to one is said there and in docs/transfer.md)
* ``aihwkit-full-grad`` — the same without aihwkit's clamp gradient: the error of an output at or
                        beyond its ADC's range still flows back, as in rpusim (:func:`aihwkit_model`)
* ``rpusim-clamp-grad`` — the ``rpusim`` arm with aihwkit's clamp gradient and nothing else of aihwkit's
                        (``rpu.forward.out_bound_grad: zero``, docs/fidelity.md)
* ``rpusim-aihwkit-draw`` — the ``rpusim`` arm with only the up/down asymmetry drawn as aihwkit draws it
                        (``device.up_down_draw: additive`` and :func:`aihwkit_rpu.aihwkit_steps`), the
                        other options left at rpusim's: which part of ``rpusim-aihwkit`` matters
* ``rpusim-aihwkit-clip``, ``-overflow``, ``-bm`` — the same split for one other option each
                        (:data:`ONE_OPTION`): per-pulse clipping, update management's overflow,
                        bound management's resolution limit and saturation test

At the start a run writes ``OUT/meta.json`` (:func:`write_meta`: commit, versions, command line,
date, machine, settings, the arms' options); each epoch appends one JSON line
``{arm, seed, epoch, train_loss, test_error, test_loss, seconds}`` to ``OUT/records.jsonl``
(:mod:`rpusim.framework.arm_records`). aihwkit's random streams do not follow torch's seed: compare
distributions over seeds, not single runs. Without aihwkit the script prints one line and exits 0;
it is a comparison tool, never a test dependency (shared/aihwkit-reference.md says how to build it).

    OMP_NUM_THREADS=1 python3 benchmarks/compare_aihwkit.py --out runs/compare-aihwkit \\
        [--seeds 0,1,2] [--epochs 3] [--train-limit 0] [--preset NAME] \\
        [--arms rpusim,rpusim-aihwkit,aihwkit,aihwkit-full-grad,rpusim-clamp-grad,rpusim-aihwkit-draw] \\
        [--experiment cnn-fashion|fc-mnist|transfer-fc-mnist|transfer-fc-fashion] [--variant V] [--log-every K]

``--preset NAME`` takes the experiment's budget (epochs, training and test images; ``study`` of the
transfer experiments: one pass over 8,000 digits, 2,000 test digits); ``--epochs`` and
``--train-limit`` override it. Without a preset: 3 epochs of all training images.

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
from typing import NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aihwkit_rpu import aihwkit_config, aihwkit_spec, aihwkit_steps  # noqa: E402  (this folder)

from rpusim.config import ConfigError  # noqa: E402
from rpusim.framework.arm_records import LINES, META, merge_arm_runs, write_arm_meta  # noqa: E402
from rpusim.framework.config import deep_merge  # noqa: E402
from rpusim.framework.runner import variant_configs  # noqa: E402
from rpusim.framework.tasks import TASKS  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from rpusim.papers.catalog import get_experiment  # noqa: E402

STEPS = "steps.jsonl"  # the --log-every diagnostic (not merged into the record)

ARMS = ("rpusim", "rpusim-aihwkit", "aihwkit", "aihwkit-full-grad", "rpusim-clamp-grad", "rpusim-aihwkit-draw",
        "rpusim-aihwkit-clip", "rpusim-aihwkit-overflow", "rpusim-aihwkit-bm")
#: The arms aihwkit trains; ``aihwkit-full-grad`` without its clamp gradient (see :func:`aihwkit_model`).
AIHWKIT_ARMS = ("aihwkit", "aihwkit-full-grad")
#: The experiments compared, each with the analog variants the rpusim arms may train and aihwkit's rpu
#: config is set from (the first: the default of --variant).
TRANSFER_VARIANTS = ("tiki-taka+soft-asym", "sgd+soft-asym", "sgd+soft-sym")
EXPERIMENTS = {"cnn-fashion": ("+um",), "fc-mnist": ("rpu-baseline",),
               "transfer-fc-mnist": TRANSFER_VARIANTS, "transfer-fc-fashion": TRANSFER_VARIANTS}
#: aihwkit's clamp gradient alone (the arm rpusim-clamp-grad).
CLAMP_GRAD = {"rpu": {"forward": {"out_bound_grad": "zero"}}}
AIHWKIT_OPTIONS = {"rpu": {"update": {"clip": "per_pulse", "um_overflow": "clip_delta"},
                           "forward": {"bm_max_res": 0.25, "bm_test": "after_adc"},
                           "device": {"up_down_draw": "additive"}}}
#: The arms that add one of aihwkit's options (besides the draw) to rpusim's defaults.
ONE_OPTION = {"rpusim-aihwkit-clip": {"rpu": {"update": {"clip": "per_pulse"}}},
              "rpusim-aihwkit-overflow": {"rpu": {"update": {"um_overflow": "clip_delta"}}},
              "rpusim-aihwkit-bm": {"rpu": {"forward": {"bm_max_res": 0.25, "bm_test": "after_adc"}}}}


def variant_rpu(experiment: str, variant: str):
    """The rpu config of an analog variant (what aihwkit's is set from)."""
    return variant_configs(get_experiment(experiment), [variant], None, {}, 0)[variant].rpu


def aihwkit_draw(experiment: str, variant: str) -> dict:
    """The up/down asymmetry drawn as aihwkit draws it: additive, with the same mean steps
    (:func:`aihwkit_rpu.aihwkit_steps`); a device without an asymmetry keeps its steps."""
    device = variant_rpu(experiment, variant).device
    steps = aihwkit_steps(device) if getattr(device, "up_down", 0.0) else {}
    return {"rpu": {"device": {"up_down_draw": "additive", **steps}}}


def aihwkit_options(experiment: str, variant: str) -> dict:
    """The rpusim-aihwkit arm's overrides: aihwkit's fidelity options and its draw of the asymmetry."""
    return deep_merge(AIHWKIT_OPTIONS, aihwkit_draw(experiment, variant))


def arm_options(arm: str, experiment: str = "cnn-fashion", variant: str | None = None) -> dict:
    """What sets an arm apart: the variant it trains and the overrides on top (the aihwkit arm:
    the floating-point variant, converted with an rpu config set from the analog ``variant``'s;
    default: the experiment's first)."""
    analog = variant or EXPERIMENTS[experiment][0]
    if arm in AIHWKIT_ARMS:
        full = {"output_bound_gradient": "pass"} if arm == "aihwkit-full-grad" else {}
        return {"variant": "fp", "rpu_config_from": analog, **full}
    if arm == "rpusim-clamp-grad":
        return {"variant": analog, "overrides": CLAMP_GRAD}
    if arm == "rpusim-aihwkit-draw":
        return {"variant": analog, "overrides": aihwkit_draw(experiment, analog)}
    if arm in ONE_OPTION:
        return {"variant": analog, "overrides": ONE_OPTION[arm]}
    return {"variant": analog, "overrides": aihwkit_options(experiment, analog) if arm == "rpusim-aihwkit" else {}}


def aihwkit_version() -> str | None:
    try:
        import aihwkit
    except ImportError:
        return None
    return aihwkit.__version__


def write_meta(out: str | Path, arms: list[str], seeds: list[int], epochs: int, train_limit: int,
               experiment: str = "cnn-fashion", repo: str | Path | None = None, argv: list[str] | None = None,
               date: str | None = None, *, variant: str | None = None, test_limit: int = 0) -> Path:
    """Write ``OUT/meta.json`` of a comparison run (see :func:`rpusim.framework.arm_records.write_arm_meta`):
    the versions of this interpreter (aihwkit's or None), the commit of ``repo`` (default: this
    checkout), ``argv`` (default: this command line) and ``date`` (UTC, default: now). The settings
    name ``test_limit`` where it is not 0 (all test images)."""
    settings = {"experiment": experiment, "epochs": epochs, "train_limit": train_limit}
    if test_limit:
        settings["test_limit"] = test_limit
    return write_arm_meta(out, settings, {arm: arm_options(arm, experiment, variant) for arm in arms}, seeds,
                          {"aihwkit": aihwkit_version()}, repo, argv, date)


def run_config(arm: str, seed: int, epochs: int | None, train_limit: int | None, experiment: str,
               variant: str | None = None, preset: str | None = None):
    """The run config of one arm (aihwkit converts the floating-point network itself): the ``preset``'s
    budget, ``epochs`` and ``train_limit`` on top where not None."""
    options = arm_options(arm, experiment, variant)
    budget = {"train": {"epochs": epochs}} if epochs is not None else {}
    if train_limit is not None:
        budget["data"] = {"train_limit": train_limit}
    chosen, overrides = options["variant"], deep_merge(budget, options.get("overrides", {}))
    return variant_configs(get_experiment(experiment), [chosen], preset, overrides, seed)[chosen]


def aihwkit_model(model: torch.nn.Module, rpu, clamp_gradient: bool = True):
    """The floating-point network on aihwkit tiles, its rpu config set field by field from ours.

    aihwkit's tiles treat an output whose value (after noise and bound management's rescaling) lies
    at or beyond ±0.999·out_bound as clamped: its gradient is zeroed in the backward pass (not in the
    layer's own update). rpusim passes it on. ``clamp_gradient`` False switches aihwkit's off
    (``handle_output_bound`` of every tile), as the ``aihwkit-full-grad`` arm does."""
    from aihwkit.nn.conversion import convert_to_analog
    print(f"aihwkit rpu config: {json.dumps(aihwkit_spec(rpu))}", file=sys.stderr)
    converted = convert_to_analog(model, aihwkit_config(rpu))
    for tile in converted.analog_tiles():
        tile.handle_output_bound = clamp_gradient
    return converted


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


class Comparison(NamedTuple):
    """What all arms of a run share: the experiment, its analog variant, the budget (the ``preset``'s,
    ``epochs`` and ``train_limit`` on top where not None)."""

    experiment: str
    variant: str
    preset: str | None = None
    epochs: int | None = None
    train_limit: int | None = None

    def config(self, arm: str, seed: int):
        return run_config(arm, seed, self.epochs, self.train_limit, self.experiment, self.variant, self.preset)


def train_arm(arm: str, seed: int, comparison: Comparison, out: Path, log_every: int = 0) -> None:
    cfg = comparison.config(arm, seed)
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(seed)
    model = task.build_model()
    if arm in AIHWKIT_ARMS:
        from aihwkit.optim import AnalogSGD as TheirSGD
        model = aihwkit_model(model, variant_rpu(comparison.experiment, comparison.variant), arm == "aihwkit")
        opt = TheirSGD(model.parameters(), lr=cfg.train.lr)
        opt.regroup_param_groups(model)
    else:
        opt = AnalogSGD(model.parameters(), lr=cfg.train.lr)
    window = LossWindow(log_every)
    for epoch in range(1, cfg.train.epochs + 1):
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
    parser.add_argument("--epochs", type=int, help="epochs (default: the preset's, else 3)")
    parser.add_argument("--train-limit", type=int, help="training images (0: all; default: the preset's, else 0)")
    parser.add_argument("--preset", help="the experiment's budget (rpusim list EXPERIMENT), e.g. study")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--experiment", default="cnn-fashion", choices=list(EXPERIMENTS),
                        help="the network compared (its analog variants: " +
                        "; ".join(f"{k}: {', '.join(v)}" for k, v in EXPERIMENTS.items()) + ")")
    parser.add_argument("--variant", help="the analog variant compared (default: the experiment's first)")
    parser.add_argument("--log-every", type=int, default=0, metavar="K",
                        help="also log the mean training loss of every K batches to OUT/steps.jsonl")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="OUT",
                        help="merge these run folders into --into instead of training")
    parser.add_argument("--into", type=Path, help="the record folder of --merge (results/compare-aihwkit/STUDY)")
    return parser.parse_args(argv)


def comparison_of(args) -> Comparison:
    """The comparison a training command asks for; a variant not compared for its experiment raises
    ConfigError (an unknown preset, a budget out of range or an rpu config aihwkit's cannot be set
    from: :func:`checked`)."""
    variants = EXPERIMENTS[args.experiment]
    variant = args.variant or variants[0]
    if variant not in variants:
        raise ConfigError(f"--variant {variant}: not compared for {args.experiment} (allowed: {', '.join(variants)})")
    epochs = args.epochs if args.epochs is not None or args.preset else 3
    train_limit = args.train_limit if args.train_limit is not None or args.preset else 0
    return Comparison(args.experiment, variant, args.preset, epochs, train_limit)


def checked(args) -> tuple[list[str], list[int], Comparison]:
    """The arms, seeds and comparison of a training command; bad input raises ConfigError."""
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
    comparison = comparison_of(args)
    for arm in arms:
        comparison.config(arm, seeds[0])
    if set(arms) & set(AIHWKIT_ARMS):
        aihwkit_spec(variant_rpu(comparison.experiment, comparison.variant))
    held = [n for n in (LINES, META, STEPS) if (args.out / n).exists()]
    if held:
        raise ConfigError(f"--out {args.out}: holds {', '.join(held)} of another run (give each run its own "
                          "folder; --merge joins them)")
    return arms, seeds, comparison


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.merge:
            if args.into is None:
                raise ConfigError("--merge: needs --into DIR (results/compare-aihwkit/STUDY)")
            total, before = merge_arm_runs(args.merge, args.into)
            print(f"{args.into}: {total} lines ({total - before} new) from {len(args.merge)} folder(s)")
            return 0
        arms, seeds, comparison = checked(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if aihwkit_version() is None:
        print("aihwkit is not importable here: comparison skipped (build it as in shared/aihwkit-reference.md)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    budget = comparison.config(arms[0], seeds[0])
    write_meta(args.out, arms, seeds, budget.train.epochs, budget.data.train_limit, comparison.experiment,
               variant=comparison.variant, test_limit=budget.data.test_limit)
    for seed in seeds:
        for arm in arms:
            train_arm(arm, seed, comparison, args.out, args.log_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())

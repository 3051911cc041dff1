"""Bad input at the command line: exit code 2, one message naming the key or file, no traceback,
nothing written.

Each case runs one ``rpusim`` command (typer's CliRunner; a few in a real process) with its
results folder ``OUT`` inside a temporary folder and checks that

* the exit code is 2 (bad input, see ``rpusim/cli.py``),
* every expected text (the key path or file, and what is allowed) is in the output,
* no traceback is shown, and
* ``OUT`` was not even created (no run folder, config.yaml, summary.json, results.csv, plot).

Checkpoint cases (``--resume`` on a foreign or damaged checkpoint) are in ``tests/test_run_identity.py``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rpusim.cli import app

RUN = ["run", "fc-mnist", "--preset", "quick", "--variants", "rpu-baseline", "--out", "{out}"]
SWEEP = ["sweep", "fc-mnist", "--preset", "quick", "--variants", "rpu-baseline", "--workers", "1",
         "--out", "{out}"]
PLOT = ["devices", "plot", "soft_bounds", "--out", "{out}/plot.png"]


def _run_set(*items: str) -> list[str]:
    return RUN + [a for item in items for a in ("--set", item)]


def _run_file(name: str) -> list[str]:
    return ["run", "fc-mnist", "--config", "{files}/" + name, "--out", "{out}"]


# id: (arguments, texts the output must contain)
CASES = {
    # experiment selection
    "unknown experiment": (["run", "fc-cifar", "--out", "{out}"], ["experiment 'fc-cifar': unknown", "fc-mnist"]),
    "unknown variant": (RUN + ["--variants", "nonsense"], ["variants ['nonsense']: unknown", "rpu-baseline"]),
    "unknown preset": (RUN + ["--preset", "huge"], ["preset 'huge': unknown", "quick"]),
    "list unknown experiment": (["list", "fc-cifar"], ["experiment 'fc-cifar': unknown"]),
    # keys
    "unknown key": (_run_set("train.epochz=3"), ["train.epochz: unknown key", "epochs"]),
    "unknown section": (_run_set("colour=red"), ["colour: unknown key", "train"]),
    "section given a value": (_run_set("train=3"), ["train = 3"]),
    "negative seed": (RUN + ["--seed", "-3"], ["seed = -3", ">= 0"]),
    # device
    "unknown device": (_run_set("rpu.device.type=memristor"), ["rpu.device.type = 'memristor'", "constant_step"]),
    "device not a mapping": (_run_set("rpu.device=5"), ["rpu.device", "mapping"]),
    "dw_min negative": (_run_set("rpu.device.dw_min=-0.001"), ["rpu.device.dw_min = -0.001", "> 0"]),
    "dw_min zero": (_run_set("rpu.device.dw_min=0"), ["rpu.device.dw_min = 0", "> 0"]),
    "dw_min nan": (_run_set("rpu.device.dw_min=nan"), ["rpu.device.dw_min = 'nan': must be a finite number"]),
    "w_max inf": (_run_set("rpu.device.w_max=.inf"), ["rpu.device.w_max = inf: must be a finite number"]),
    "w_min -inf": (_run_set("rpu.device.w_min=-.inf"), ["rpu.device.w_min = -inf: must be a finite number"]),
    # training algorithm (rpu.algorithm)
    "unknown algorithm": (_run_set("rpu.algorithm.type=foo"), ["rpu.algorithm.type = 'foo'", "tiki-taka"]),
    "algorithm gamma negative": (_run_set("rpu.algorithm.type=tiki-taka", "rpu.algorithm.gamma=-1"),
                                 ["rpu.algorithm.gamma = -1", ">= 0"]),
    "algorithm field of sgd": (_run_set("rpu.algorithm.gamma=0.5"), ["rpu.algorithm.gamma: unknown key", "type"]),
    "chopper probability": (_run_set("rpu.algorithm.type=chopped-ttv2", "rpu.algorithm.in_chop_prob=1.5"),
                            ["rpu.algorithm.in_chop_prob = 1.5", "<= 1"]),
    "reference without symmetry point": (_run_set("rpu.algorithm.type=tiki-taka", "rpu.algorithm.reference=true",
                                                  "rpu.algorithm.fast_device.type=ideal"),
                                         ["rpu.algorithm: reference needs a symmetry point", "ideal"]),
    "agad without chopper": (_run_set("rpu.algorithm.type=agad", "rpu.algorithm.in_chop_prob=0"),
                             ["rpu.algorithm.in_chop_prob = 0", "> 0"]),
    "transfer_every zero": (_run_set("rpu.algorithm.type=ttv2", "rpu.algorithm.transfer_every=0"),
                            ["rpu.algorithm.transfer_every = 0", ">= 1"]),
    "mixed precision two bins": (_run_set("rpu.algorithm.type=mixed-precision", "rpu.algorithm.n_x_bins=2"),
                                 ["rpu.algorithm.n_x_bins = 2", ">= 3"]),
    "ttv2 on ideal devices": (_run_set("rpu.device.type=ideal", "rpu.algorithm.type=ttv2"),
                              ["rpu.algorithm: ttv2 fires whole pulses", "not ideal"]),
    "w_min positive": (_run_set("rpu.device.w_min=0.5"), ["rpu.device.w_min = 0.5", "< 0"]),
    "up_down one": (_run_set("rpu.device.up_down=1"), ["rpu.device.up_down = 1", "< 1"]),
    "unknown device preset": (_run_set("rpu.device.preset=memristor"),
                              ["rpu.device.preset = 'memristor'", "unknown device preset", "reram-sb", "ecram"]),
    "preset of another type": (_run_set("rpu.device.preset=ecram", "rpu.device.type=soft_bounds"),
                               ["rpu.device.type = 'soft_bounds'", "preset 'ecram' is a linear_step device"]),
    "preset field unknown": (_run_set("rpu.device.preset=reram-es", "rpu.device.gamma=2"),
                             ["rpu.device.gamma: unknown key", "gamma_up"]),
    "piecewise table too short": (_run_set("rpu.device.type=piecewise_step", "rpu.device.up_table=[1]",
                                           "rpu.device.down_table=[1]"), ["rpu.device.up_table", "at least 2"]),
    "piecewise tables differ": (_run_set("rpu.device.type=piecewise_step", "rpu.device.up_table=[1,1,1]"),
                                ["rpu.device", "up_table has 3 values and down_table 2", "same length"]),
    "piecewise negative": (_run_set("rpu.device.type=piecewise_step", "rpu.device.down_table=[1,-0.5]"),
                           ["rpu.device.down_table.1 = -0.5", "greater than or equal to 0"]),
    "piecewise nan": (_run_set("rpu.device.type=piecewise_step", "rpu.device.up_table=[1,.nan]"),
                      ["rpu.device.up_table.1 = nan: must be a finite number"]),
    "piecewise not a list": (_run_set("rpu.device.type=piecewise_step", "rpu.device.up_table=2"),
                             ["rpu.device.up_table = 2", "list"]),
    "ctf field on default device": (_run_set("rpu.device.t_prog=10"), ["rpu.device.t_prog: unknown key", "dw_min"]),
    "layer device nan": (_run_set("layer_rpu.0.device.dw_min=nan"),
                         ["layer_rpu.0.device.dw_min = 'nan': must be a finite number"]),
    # periphery
    "inp_res is no key": (_run_set("rpu.forward.inp_res=0.01"), ["rpu.forward.inp_res: unknown key", "inp_bits"]),
    "inp_bits too many": (_run_set("rpu.forward.inp_bits=30"), ["rpu.forward.inp_bits = 30", "<= 24"]),
    "inp_bits one": (_run_set("rpu.forward.inp_bits=1"), ["rpu.forward.inp_bits = 1", "1 bit"]),
    "out_noise negative": (_run_set("rpu.forward.out_noise=-0.1"), ["rpu.forward.out_noise = -0.1", ">= 0"]),
    "out_bound nan": (_run_set("rpu.backward.out_bound=.nan"),
                      ["rpu.backward.out_bound = nan: must be a finite number"]),
    "noise management unknown": (_run_set("rpu.forward.noise_management=max"),
                                 ["rpu.forward.noise_management = 'max'", "abs_max"]),
    # update
    "bl zero": (_run_set("rpu.update.bl=0"), ["rpu.update.bl = 0", ">= 1"]),
    "update mode bogus": (_run_set("rpu.update.mode=bogus"), ["rpu.update.mode = 'bogus'", "fast", "exact"]),
    "layer bl zero": (_run_set("layer_rpu.1.update.bl=0"), ["layer_rpu.1.update.bl = 0", ">= 1"]),
    # train
    "lr nan": (_run_set("train.lr=nan"), ["train.lr = 'nan': must be a finite number"]),
    "lr inf": (_run_set("train.lr=inf"), ["train.lr = 'inf': must be a finite number"]),
    "lr zero": (_run_set("train.lr=0"), ["train.lr = 0", "> 0"]),
    "epochs zero": (_run_set("train.epochs=0"), ["train.epochs = 0", ">= 1"]),
    "batch_size negative": (_run_set("train.batch_size=-1"), ["train.batch_size = -1", ">= 1"]),
    "epochs not a number": (_run_set("train.epochs=many"), ["train.epochs = 'many'", "integer"]),
    "grad_clip nan": (_run_set("train.grad_clip=.nan"), ["train.grad_clip = nan: must be a finite number"]),
    # data, model, task
    "unknown dataset": (_run_set("data.dataset=imagenet"), ["data.dataset = 'imagenet'", "mnist"]),
    "train_limit negative": (_run_set("data.train_limit=-5"), ["data.train_limit = -5", ">= 0"]),
    "dropout nan": (_run_set("model.dropout=nan"), ["model.dropout = 'nan': must be a finite number"]),
    "unknown task": (_run_set("task=regress"), ["task = 'regress': unknown", "classify"]),
    "unknown model kind": (_run_set("model.kind=transformer"), ["model.kind = 'transformer': unknown", "fc"]),
    "unknown activation": (_run_set("model.activation=swish"), ["model.activation = 'swish': unknown", "sigmoid"]),
    # --set syntax
    "set malformed YAML": (_run_set("model.hidden=[64,"), ["--set 'model.hidden=[64,'", "not valid YAML", "line 1"]),
    "set without =": (_run_set("noequals"), ["--set 'noequals'", "KEY.PATH=VALUE"]),
    "set empty key": (_run_set("=5"), ["--set '=5'", "empty key"]),
    "set empty key part": (_run_set("train..lr=0.1"), ["--set 'train..lr=0.1'", "empty key"]),
    "set value then section": (_run_set("train=1", "train.lr=0.1"),
                               ["--set 'train.lr=0.1'", "both a value and a section"]),
    # config files
    "config missing": (_run_file("missing.yaml"), ["missing.yaml", "no such file"]),
    "config a directory": (_run_file("folder"), ["folder", "a directory"]),
    "config empty": (_run_file("empty.yaml"), ["empty.yaml", "empty"]),
    "config binary": (_run_file("binary.yaml"), ["binary.yaml", "not a text file"]),
    "config a list": (_run_file("list.yaml"), ["list.yaml", "a YAML mapping", "got a list"]),
    "config a scalar": (_run_file("scalar.yaml"), ["scalar.yaml", "a YAML mapping", "got a string"]),
    "config malformed": (_run_file("malformed.yaml"), ["malformed.yaml", "not valid YAML", "line 4, column 5",
                                                  "flow sequence started at line 3, column 11"]),
    "config python tag": (_run_file("tagged.yaml"), ["tagged.yaml", "not valid YAML", "line 1"]),
    "config unknown key": (_run_file("unknown-key.yaml"), ["unknown-key.yaml", "train.momentum: unknown key"]),
    "config nan": (_run_file("nan.yaml"), ["nan.yaml", "train.lr = nan: must be a finite number"]),
    "config bad device": (_run_file("bad-device.yaml"), ["bad-device.yaml", "rpu.device.type = 'flux_capacitor'"]),
    # sweeps
    "grid without =": (SWEEP + ["--grid", "rpu.update.bl"], ["--grid 'rpu.update.bl'", "KEY.PATH=V1,V2"]),
    "grid empty key part": (SWEEP + ["--grid", "train..lr=0.1,1"], ["--grid 'train..lr=0.1,1'", "KEY.PATH=V1,V2"]),
    "grid malformed YAML": (SWEEP + ["--grid", "model.hidden=[64,32],[64"],
                            ["--grid 'model.hidden=[64,32],[64'", "not valid YAML"]),
    "grid bad value": (SWEEP + ["--grid", "rpu.update.bl=0,10"], ["rpu.update.bl = 0", ">= 1"]),
    "grid nan": (SWEEP + ["--grid", "train.lr=0.1,.nan"], ["train.lr = nan: must be a finite number"]),
    "sweep set malformed": (SWEEP + ["--set", "model.hidden=[64,"], ["--set 'model.hidden=[64,'", "not valid YAML"]),
    # devices plot
    "plot unknown device": (["devices", "plot", "memristor", "--out", "{out}/p.png"],
                            ["device 'memristor': unknown type or preset", "soft_bounds", "reram-sb"]),
    "plot preset bad field": (["devices", "plot", "ecram", "--set", "colour=red", "--out", "{out}/p.png"],
                              ["device.colour: unknown key", "gamma_up"]),
    "plot preset nan field": (["devices", "plot", "reram-sb", "--set", "w_max=.nan", "--out", "{out}/p.png"],
                              ["device.w_max = nan: must be a finite number"]),
    "plot bad field": (PLOT + ["--set", "colour=red"], ["device.colour: unknown key", "dw_min"]),
    "plot nan field": (PLOT + ["--set", "dw_min=nan"], ["device.dw_min = 'nan': must be a finite number"]),
    "plot malformed set": (PLOT + ["--set", "dw_min=[0.1"], ["--set 'dw_min=[0.1'", "not valid YAML"]),
    # data
    "download unknown data set": (["data", "download", "imagenet", "--dest", "{out}"],
                                  ["data set 'imagenet': unknown", "mnist"]),
}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The config files of the file cases, in their own folder."""
    d = tmp_path / "files"
    d.mkdir()
    (d / "folder").mkdir()
    (d / "empty.yaml").write_text("")
    (d / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (d / "list.yaml").write_text("- train\n- rpu\n")
    (d / "scalar.yaml").write_text("just some words\n")
    (d / "malformed.yaml").write_text("train:\n  lr: 0.1\n  epochs: [1, 2\nseed: 0\n")
    (d / "tagged.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    (d / "unknown-key.yaml").write_text(yaml.safe_dump({"train": {"momentum": 0.9}}))
    (d / "nan.yaml").write_text("train:\n  lr: .nan\n")
    (d / "bad-device.yaml").write_text(yaml.safe_dump({"rpu": {"device": {"type": "flux_capacitor"}}}))
    return d


def _expand(args: list[str], out: Path, files: Path) -> list[str]:
    return [a.format(out=out, files=files) for a in args]


def _assert_refused(code: int, output: str, needles: list[str], out: Path) -> None:
    assert code == 2, output
    for needle in needles:
        assert needle in output, (needle, output)
    assert "Traceback" not in output, output
    assert not out.exists(), sorted(out.rglob("*"))  # not even an empty run folder


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_refused(case, tmp_path, files):
    args, needles = CASES[case]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, _expand(args, out, files))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    _assert_refused(result.exit_code, result.output, needles, out)


@pytest.mark.parametrize("case", ["config malformed", "config binary", "set malformed YAML"])
def test_bad_input_refused_in_a_real_process(case, tmp_path, files):
    """The same, in a real process: the message on stderr and no traceback anywhere."""
    args, needles = CASES[case]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "rpusim.cli", *_expand(args, out, files)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.stdout == ""
    _assert_refused(proc.returncode, proc.stderr, needles, out)


def test_suite_covers_at_least_thirty_cases():
    assert len(CASES) >= 30

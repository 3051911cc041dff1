"""Sweeps: grid parsing and validation, a real local Ray instance on a tiny grid, resume, failures,
a folder named rpusim where the command runs, and stopping by SIGINT/SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.framework import sweep as sweep_module
from rpusim.framework.sweep import parse_grid, point_name, run_sweep, sweep_points
from rpusim.papers.catalog import get_experiment

TINY = {"data": {"train_limit": 100, "test_limit": 100}}


def _folder_with_fake_rpusim(path: Path) -> Path:
    """A folder holding an empty package named rpusim, as the parent of a clone may (a namespace one)."""
    (path / "rpusim").mkdir(parents=True)
    (path / "rpusim" / "__init__.py").write_text("")
    return path


def test_parse_grid_values_are_yaml_and_lists_stay_whole():
    grid = parse_grid(["rpu.update.bl=1,10", "train.lr=0.01,1e-1", "model.hidden=[32,16],[8]",
                       "model.activation=tanh,relu"])
    assert grid == {"rpu.update.bl": [1, 10], "train.lr": [0.01, 0.1], "model.hidden": [[32, 16], [8]],
                    "model.activation": ["tanh", "relu"]}


@pytest.mark.parametrize("item,needle", [("rpu.update.bl", "expected KEY.PATH=V1,V2"),
                                         ("=1,2", "expected KEY.PATH=V1,V2"),
                                         ("train.lr=0.1,,0.2", "empty value")])
def test_parse_grid_rejects_bad_items(item, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_grid([item])
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["a=1", "a=2"])


def test_point_names_are_safe_folder_names():
    name = point_name("rpu-baseline", {"model.hidden": [32, 16], "data.dataset": "a b/c"})
    assert name == "rpu-baseline__model.hidden=_32_16___data.dataset=a_b_c"
    assert "/" not in name and " " not in name


def test_grid_points_validated_before_any_work(tmp_path):
    exp = get_experiment("fc-mnist")
    with pytest.raises(ConfigError) as info:
        sweep_points(exp, parse_grid(["rpu.update.bl=1,0", "train.lr=0.1,2000"]), ["rpu-baseline"], "quick")
    text = str(info.value)
    assert "rpu.update.bl = 0" in text and "train.lr = 2000" in text and "<= 1000" in text
    points = sweep_points(exp, parse_grid(["rpu.update.bl=1,31", "train.lr=0.1,0.2"]), ["fp", "rpu-baseline"], "quick")
    assert len(points) == 8
    p = next(p for p in points if p.name == "rpu-baseline__rpu.update.bl=31__train.lr=0.2")
    assert p.cfg.rpu.update.bl == 31 and p.cfg.train.lr == 0.2 and p.cfg.variant == "rpu-baseline"
    assert p.cfg.data.train_limit == 2000  # the preset applies to every point


@pytest.mark.data("mnist")
def test_sweep_on_local_ray_with_a_failing_point_then_resume(tmp_path, monkeypatch):
    # started from a folder holding another "rpusim": the workers must still import the real one
    monkeypatch.chdir(_folder_with_fake_rpusim(tmp_path / "cwd"))
    tmp_path = tmp_path / "sweep"
    exp = get_experiment("fc-mnist")
    # lr 1000 makes the floating-point ReLU network diverge: those points fail at run time
    grid = parse_grid(["seed=0,1", "train.lr=0.01,1000"])
    points = sweep_points(exp, grid, ["fp"], "quick", {**TINY, "model": {"activation": "relu"}})
    lines: list[str] = []
    results = run_sweep(exp.name, points, tmp_path, workers=2, claims=exp.claims, log=lines.append)

    assert any(line.startswith("ray: 2 CPUs (local") for line in lines), lines
    status = {r.name: r.status for r in results}
    good = [p.name for p in points if p.values["train.lr"] == 0.01]
    bad = [p.name for p in points if p.values["train.lr"] != 0.01]
    assert all(status[n] == "done" for n in good) and all(status[n] == "failed" for n in bad)
    for n in good:  # each point a normal run directory
        d = tmp_path / n
        assert all((d / f).exists() for f in ("config.yaml", "metrics.csv", "summary.json", "checkpoint.pt"))
    for n in bad:
        assert "loss is" in (tmp_path / n / "error.txt").read_text()
        assert (tmp_path / n / "config.yaml").exists()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["keys"] == ["seed", "train.lr"] and set(sweep["points"]) == set(status)
    table = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["point"] for r in table) == sorted(good)
    assert (tmp_path / "curves.png").exists()

    # resume in this process (one worker, no Ray): finished points skipped, failed ones retried
    (tmp_path / good[0] / "summary.json").unlink()
    lines.clear()
    again = {r.name: r.status for r in run_sweep(exp.name, points, tmp_path, workers=1, log=lines.append)}
    assert again[good[1]] == "skipped" and again[good[0]] == "done"
    assert all(again[n] == "failed" for n in bad)
    assert lines[0] == "sweep fc-mnist: 4 points, 1 finished before, 3 to run"

    # the same folders with another config: refused before any work
    other = sweep_points(exp, grid, ["fp"], "quick", {"data": {"train_limit": 50, "test_limit": 100}})
    with pytest.raises(ConfigError, match="hold runs of a different config"):
        run_sweep(exp.name, other, tmp_path, workers=1, log=lines.append)


@pytest.mark.data("mnist")
def test_sweep_cli_in_process_exit_codes(tmp_path):
    args = ["sweep", "fc-mnist", "--preset", "quick", "--variants", "fp", "--workers", "1", "--out", str(tmp_path),
            "--set", "data.train_limit=50", "--set", "data.test_limit=50"]
    ok = CliRunner().invoke(app, [*args, "--grid", "model.hidden=[16],[8]"])
    assert ok.exit_code == 0, ok.output
    assert "done     fp__model.hidden=_16_" in ok.output
    rerun = CliRunner().invoke(app, [*args, "--grid", "model.hidden=[16],[8]"])
    assert rerun.exit_code == 0 and "2 finished before, 0 to run" in rerun.output
    failing = CliRunner().invoke(app, [*args, "--grid", "train.lr=0.01,1000", "--set", "model.activation=relu",
                                       "--name", "s2"])
    assert failing.exit_code == 1
    assert "1 of 2 points failed" in failing.stderr
    invalid = CliRunner().invoke(app, [*args, "--grid", "rpu.update.bl=0"])
    assert invalid.exit_code == 2 and "rpu.update.bl = 0" in invalid.stderr
    variants_only = CliRunner().invoke(app, [*args, "--name", "s3"])  # no grid: one point per variant
    assert variants_only.exit_code == 0, variants_only.output
    assert "done     fp:" in variants_only.output and (tmp_path / "fc-mnist" / "s3" / "fp" / "summary.json").exists()


def test_ctrl_c_in_a_sweep_without_ray_lists_the_points_and_exits_130(tmp_path, monkeypatch):
    def fake_point(cfg_data: dict, run_dir: str) -> dict:
        if cfg_data["seed"] == 1:  # the second point: an epoch saved, then Ctrl-C
            Path(run_dir).mkdir(parents=True)
            (Path(run_dir) / "checkpoint.pt").write_bytes(b"")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        return {"status": "done", "summary": {"metric": "test_error", "final": 12.5, "best": 12.0}}

    monkeypatch.setattr(sweep_module, "run_point", fake_point)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(app, ["sweep", "fc-mnist", "--preset", "quick", "--variants", "fp", "--workers", "1",
                                      "--grid", "seed=0,1,2", "--out", str(tmp_path)])
    assert result.exit_code == 130, result.output
    assert result.stderr.splitlines() == [
        "sweep stopped by SIGINT: 1 of 3 points finished",
        "  finished     fp__seed=0: test_error final 12.500",
        "  interrupted  fp__seed=1: resumes from its last finished epoch",
        "  pending      fp__seed=2: no epoch finished yet (starts from the beginning)",
        "to continue, run the same command again: finished points are skipped, unfinished ones resume from "
        "their last epoch"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert not (tmp_path / "fc-mnist" / "sweep" / "results.json").exists()


def _session_processes(sid: int) -> dict[int, str]:
    """pid: command line of each live process of session ``sid`` (a sweep started with its own
    session: Ray's processes stay in it; their environment can't tell, Ray rewrites it with the title)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, _, _, session = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:4]
            if state != "Z" and int(session) == sid:
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
        except OSError:  # gone meanwhile
            pass
    return found


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the sweep ended before {what}:\n{proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


def _stopped(proc: subprocess.Popen) -> str:
    """The sweep's output once it has exited; asserts that none of its processes outlives it by 10 s."""
    out, _ = proc.communicate(timeout=120)
    deadline = time.monotonic() + 10
    while _session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _session_processes(proc.pid)
    for pid in left:  # leave nothing behind even when failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running 10 s after the sweep ended: {sorted(left.values())}"
    return out


@pytest.mark.data("mnist")
def test_ray_sweep_stopped_by_sigint_then_sigterm_leaves_no_process_and_resumes(tmp_path):
    """A real local Ray sweep, started from a folder holding another rpusim package: Ctrl-C (SIGINT
    to the process group) after one point finished, then the same command resumes and gets SIGTERM."""
    pytest.importorskip("ray")
    driver = tmp_path / "bin" / "driver.py"  # not `python -m`, which would put the folder first on sys.path
    driver.parent.mkdir()
    driver.write_text("from rpusim.cli import main\nmain()\n")
    cwd = _folder_with_fake_rpusim(tmp_path / "cwd")
    cmd = [sys.executable, str(driver), "sweep", "fc-mnist", "--preset", "quick", "--variants", "fp",
           "--grid", "train.epochs=1,1000", "--set", "data.train_limit=100", "--set", "data.test_limit=50",
           "--set", "model.hidden=[8]", "--workers", "2", "--out", str(tmp_path / "out")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    short, long = (tmp_path / "out" / "fc-mnist" / "sweep" / f"fp__train.epochs={n}" for n in (1, 1000))

    def start() -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # its own session and process group

    first = start()
    _wait_for(lambda: (short / "summary.json").exists() and (long / "checkpoint.pt").exists(), first,
              "finished short point and checkpoint of the long one")
    os.killpg(first.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out = _stopped(first)
    assert first.returncode == 130, out
    assert "sweep stopped by SIGINT: 1 of 2 points finished" in out
    assert "  finished     fp__train.epochs=1: test_error final " in out
    assert "  interrupted  fp__train.epochs=1000: resumes from its last finished epoch" in out
    assert "to continue, run the same command again" in out
    assert not (long / "error.txt").exists() and not (long / "summary.json").exists()

    second = start()
    _wait_for(lambda: "resumed after epoch" in (long / "log.txt").read_text(), second, "resumed long point")
    second.send_signal(signal.SIGTERM)
    out = _stopped(second)
    assert second.returncode == 143, out
    assert "2 points, 1 finished before, 1 to run" in out
    assert "sweep stopped by SIGTERM: 1 of 2 points finished" in out
    assert "  interrupted  fp__train.epochs=1000" in out
    assert not (long / "error.txt").exists()

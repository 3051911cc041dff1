"""The ``rpusim`` command line end to end, in its own processes, on quick presets.

(Error paths that need no real process are checked in-process with typer's CliRunner.)
"""
from __future__ import annotations

import csv
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rpusim import __version__
from rpusim.cli import app
from rpusim.data import find_file

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["--preset", "quick", "--set", "data.train_limit=100", "--set", "data.test_limit=100"]


def rpusim(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "rpusim.cli", *args], capture_output=True, text=True,
                          env=ENV, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]


@pytest.mark.data("mnist")
def test_list_run_rerun_from_config_and_report(tmp_path):
    assert "fc-mnist" in CliRunner().invoke(app, ["list"]).stdout
    out = tmp_path / "runs"
    proc = rpusim("run", "fc-mnist", *TINY, "--variants", "rpu-baseline", "--seed", "5", "--out", str(out))
    assert "results in" in proc.stdout
    run_dir = out / "fc-mnist" / "rpu-baseline"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["rpusim_version"] == __version__ and saved["seed"] == 5
    assert saved["data"]["train_limit"] == 100 and saved["rpu"]["device"]["type"] == "constant_step"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["epoch", "train_loss", "test_error", "test_loss", "time_s"]
    assert any(h.endswith("fwd_saturated") for h in header) and any(h.endswith("clipped_pulse_probs") for h in header)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["variant"] == "rpu-baseline" and summary["epochs"] == 1
    assert (run_dir / "curves.png").exists() and (out / "fc-mnist" / "curves.png").exists()

    # a saved config.yaml repeats the run exactly
    again = tmp_path / "again"
    rpusim("run", "fc-mnist", "--config", str(run_dir / "config.yaml"), "--out", str(again))
    assert _metrics(again / "fc-mnist" / "rpu-baseline") == _metrics(run_dir)

    report = rpusim("report", str(out), str(again), "--out", str(tmp_path / "report"))
    text = (tmp_path / "report" / "report.md").read_text()
    assert "report.md" in report.stdout
    for label in ("runs/fc-mnist/rpu-baseline", "again/fc-mnist/rpu-baseline"):
        assert f"| {label} |" in text


def test_devices_plot(tmp_path):
    png = tmp_path / "soft.png"
    proc = rpusim("devices", "plot", "soft_bounds", "--set", "dw_min=0.01", "--set", "w_max=0.5",
                  "--pulses", "80", "--devices", "3", "--repeats", "10", "--out", str(png))
    assert str(png) in proc.stdout and png.read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(app, ["devices", "plot", "soft_bounds", "--set", "dw_min=-1", "--out", str(png)])
    assert bad.exit_code == 2 and "device.dw_min = -1" in bad.stderr
    ideal = CliRunner().invoke(app, ["devices", "plot", "ideal"])
    assert ideal.exit_code == 2 and "no pulse response" in ideal.stderr
    assert "soft_bounds" in CliRunner().invoke(app, ["devices", "list"]).stdout


@pytest.fixture
def mirror():
    """An HTTP server on 127.0.0.1 serving a folder; yields a function folder -> base URL."""
    servers = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def start(folder: Path) -> str:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()


@pytest.mark.data("mnist")
def test_data_list_and_download_from_local_mirror(tmp_path, mirror):
    listing = CliRunner().invoke(app, ["data", "list"]).stdout
    assert "mnist" in listing and "tinyshakespeare" in listing
    real = find_file("mnist", "t10k-labels-idx1-ubyte.gz").parent
    dest = tmp_path / "data"
    proc = rpusim("data", "download", "mnist", "--dest", str(dest), "--mirror", mirror(real))
    assert proc.stdout.count("ok (md5") == 4
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == sorted(p.name for p in real.glob("*.gz"))

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for p in real.glob("*.gz"):
        (corrupt / p.name).write_bytes(b"not the data")
    bad = rpusim("data", "download", "mnist", "--dest", str(tmp_path / "d2"), "--mirror", mirror(corrupt), check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "train-images-idx3-ubyte.gz" in bad.stderr and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in bad.stderr
    unknown = CliRunner().invoke(app, ["data", "download", "imagenet"])
    assert unknown.exit_code == 2 and "unknown" in unknown.stderr

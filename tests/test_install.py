"""install.sh's data step, run for real on a copy of the checkout without ``../shared`` beside it.

pip and apt are replaced by stubs on PATH (nothing is installed, the network is never needed);
``python3 -m rpusim.cli data ensure`` runs for real. Proxies pointing at a closed port on 127.0.0.1
make every download mirror unreachable, as on a machine without internet.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rpusim

REPO = Path(rpusim.__file__).resolve().parents[1]
STUBS = {
    "python3": f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit 0; fi\nexec {sys.executable} "$@"\n',
    "apt-get": "#!/bin/sh\necho 'E: offline' >&2\nexit 100\n",
    "sudo": '#!/bin/sh\nexec "$@"\n',
}


def _run_install(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    checkout = tmp_path / "alone" / "rpusim"  # no ../shared/data beside this copy
    shutil.copytree(REPO / "rpusim", checkout / "rpusim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "install.sh", checkout)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    base = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "RPUSIM_DATA"}
    closed = "http://127.0.0.1:9"
    return subprocess.run(
        ["bash", str(checkout / "install.sh")], capture_output=True, text=True, timeout=120,
        env={**base, "PATH": f"{stubs}{os.pathsep}{base['PATH']}", "PYTHONPATH": str(checkout),
             "XDG_CACHE_HOME": str(tmp_path / "cache"), "http_proxy": closed, "https_proxy": closed,
             "OMP_NUM_THREADS": "1", **env})


def test_install_offline_without_data_succeeds_and_says_what_is_missing(tmp_path):
    proc = _run_install(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("data:")]
    assert line.startswith("data: missing mnist, ") and "offline?" in line and "rpusim data ensure" in line
    for name in ("warpeace", "tinyshakespeare", "ptb"):
        assert name in line
    assert "rpusim installed:" in proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / "cache").exists()  # nothing half-downloaded, no empty folders


@pytest.mark.data("mnist", "warpeace", "tinyshakespeare", "ptb", "fashion-mnist")
def test_install_with_local_data_downloads_nothing(tmp_path):
    from rpusim.data import DATASETS, find_file
    roots = {find_file(n, s.files[0].filename, verify=False).parents[1] for n, s in DATASETS.items()}
    proc = _run_install(tmp_path, RPUSIM_DATA=os.pathsep.join(map(str, roots)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "data: mnist, fashion-mnist, warpeace, tinyshakespeare, ptb found locally" in proc.stdout
    assert not (tmp_path / "cache").exists()

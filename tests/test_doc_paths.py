"""The documents name no path outside the repository, and every script they name is in it.

Documents: README.md, RESULTS.md, BENCHMARKS.md, docs/*.md. A reader on a fresh clone must be able to
follow every path a document names, so none may point at the machine a run was made on (``/work/``,
``/home/``, ``/tmp/``, …), at notes beside the checkout (``shared/papers.md``, …) or, through
``../``, out of the repository. One input outside it is documented: the shared data folder
``../shared/data`` next to the checkout, where :func:`rpusim.data.search_dirs` looks for data sets
(docs/data.md), so a document may name it as that input; system data locations such as
``/usr/share/datasets/`` are inputs of the same kind and not machine paths. Every ``*.py`` or ``*.sh``
a document names (a script an analysis or a benchmark ran) must be a file of the repository
(matched by its name).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import rpusim
from rpusim.data import search_dirs

REPO = Path(rpusim.__file__).resolve().parents[1]
DATA_INPUT = "../shared/data"  # the documented data location next to the checkout
MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:work|home|tmp|root|mnt|scratch|Users|private)/")
OUTSIDE_NOTE = re.compile(r"(?<![\w/.-])shared/(?!data\b)[\w./-]+")
UP_PATH = re.compile(r"(?:\.\./)+[\w./-]*")
SCRIPT = re.compile(r"(?<![\w*/.-])[\w./-]*[\w-]\.(?:py|sh)\b")


def documents(root: Path) -> list[Path]:
    return [root / "README.md", root / "RESULTS.md", root / "BENCHMARKS.md", *sorted((root / "docs").glob("*.md"))]


def tracked_files(root: Path) -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (an unpacked archive): every file on disk
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return set(out.stdout.split())


def outside_paths(doc: Path, root: Path, files: set[str]) -> list[str]:
    """Every path the document names that a fresh clone cannot follow: 'file:line: path (why)'."""
    names = {Path(f).name for f in files}
    problems = []
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{doc.relative_to(root)}:{n}"
        problems += [f"{where}: {m.group(0)} (a path of the machine)" for m in MACHINE_PATH.finditer(line)]
        problems += [f"{where}: {m.group(0)} (a note outside the repository)" for m in OUTSIDE_NOTE.finditer(line)]
        for m in UP_PATH.finditer(line):
            path = m.group(0)
            if path.startswith(DATA_INPUT):
                continue
            target = (doc.parent / path).resolve()
            if not target.is_relative_to(root.resolve()):
                problems.append(f"{where}: {path} (leaves the repository)")
        problems += [f"{where}: {m.group(0)} (a script not in the repository)" for m in SCRIPT.finditer(line)
                     if Path(m.group(0)).name not in names]
    return problems


def test_the_documents_name_no_path_outside_the_repository():
    files = tracked_files(REPO)
    problems = [p for doc in documents(REPO) for p in outside_paths(doc, REPO, files)]
    assert not problems, "\n".join(problems)


def test_the_data_input_the_documents_name_is_where_the_code_looks():
    assert REPO.parent / "shared" / "data" / "mnist" in [Path(d).resolve() for d in search_dirs("mnist")]


@pytest.mark.parametrize("text, why", [
    ("runs were made under `/work/runs/fc30`", "a path of the machine"),
    ("see /home/user/notes", "a path of the machine"),
    ("the numbers of `shared/papers.md` §1", "a note outside the repository"),
    ("[notes](../../elsewhere/notes.md)", "leaves the repository"),
    ("made by `steppath.py` on the checkpoint", "a script not in the repository"),
    ("`python3 table30.py runs/`", "a script not in the repository"),
])
def test_each_kind_of_outside_path_is_caught(tmp_path, text, why):
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(f"# Page\n\n{text}\n", encoding="utf-8")
    assert [p for p in outside_paths(doc, tmp_path, {"docs/page.md"}) if why in p], text


@pytest.mark.parametrize("text", [
    "read from `../shared/data/NAME/` or `$RPUSIM_DATA/NAME/`",
    "Debian's package puts it in `/usr/share/datasets/fashion-mnist/`",
    "[results](../RESULTS.md), the kernels `*_kernel.py`, `rpusim/cli.py`",
    "made with `bash benchmarks/run_all.sh`",
])
def test_inputs_and_paths_inside_the_repository_pass(tmp_path, text):
    (tmp_path / "docs").mkdir()
    (tmp_path / "rpusim").mkdir()
    (tmp_path / "benchmarks").mkdir()
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(f"# Page\n\n{text}\n", encoding="utf-8")
    (tmp_path / "RESULTS.md").write_text("# R\n", encoding="utf-8")
    files = {"docs/page.md", "RESULTS.md", "rpusim/cli.py", "benchmarks/run_all.sh"}
    assert outside_paths(doc, tmp_path, files) == []

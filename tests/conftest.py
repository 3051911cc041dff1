"""Real data sets are optional for the test suite: a test that reads one says so with a marker.

``@pytest.mark.data("mnist", ...)`` on a test: before it runs, each named data set is looked up
through rpusim's own search order (:func:`rpusim.data.missing_files`: ``$RPUSIM_DATA``,
``../shared/data``, system locations, the download cache), once per session. If a data set is not
found, the test is skipped with one line saying what is missing and how to get it, and the run
ends with one line counting those skips (so a machine without the data shows skips, not failures).

Devices: a test that takes the ``device`` fixture runs once per device, ``cpu`` and ``cuda``; the
``cuda`` case carries the ``cuda`` marker (registered in pyproject.toml) and is skipped with one line where torch sees no CUDA
device. ``pytest -m cuda`` runs only the CUDA cases (on a machine with a GPU), ``-m "not cuda"``
only the rest.
"""
from __future__ import annotations

import pytest
import torch

from rpusim.data import missing_files

_present: dict[str, bool] = {}  # data set -> found locally, looked up once per session
_skipped: dict[str, int] = {}   # missing data set -> number of tests skipped for it

HOW_TO_GET = ("get them with `rpusim data ensure` when online (./install.sh runs it), "
              "or put the files in DIR/NAME/ and set RPUSIM_DATA=DIR")


def pytest_configure(config):
    config.addinivalue_line("markers", "data(*names): the test reads these real data sets; "
                                       "skipped with one line when one is not found locally")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request) -> str:
    """The device a device-generic test computes on: every test that takes it runs on each."""
    return request.param


def _is_present(name: str) -> bool:
    if name not in _present:
        _present[name] = not missing_files(name)
    return _present[name]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip a ``data``-marked test, before its fixtures are set up, if a data set it names is absent."""
    if item.get_closest_marker("cuda") and not torch.cuda.is_available():
        pytest.skip("needs CUDA: torch sees no CUDA device here (run `pytest -m cuda` on a GPU machine)")
    absent = [n for mark in item.iter_markers("data") for n in mark.args if not _is_present(n)]
    if absent:
        for name in absent:
            _skipped[name] = _skipped.get(name, 0) + 1
        dirs = " and ".join(f"DIR/{n}/" for n in absent)
        pytest.skip(f"data set {' '.join(absent)} not found (looked in $RPUSIM_DATA, ../shared/data, "
                    f"system dirs, ~/.cache/rpusim); get it with `rpusim data ensure {' '.join(absent)}` "
                    f"when online, or put its files in {dirs} and set RPUSIM_DATA=DIR")


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        counts = ", ".join(f"{name} ({n} test{'s' * (n > 1)})" for name, n in _skipped.items())
        terminalreporter.write_line(f"skipped for missing data sets: {counts}; {HOW_TO_GET}")

"""Concurrent fits and fork, under every threading layer Numba can load here.

Each case runs tests/threads_and_fork.py in a fresh interpreter with
``NUMBA_THREADING_LAYER`` set, since a process picks its layer once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba", reason="the Numba backend is not installed")

SCRIPT = Path(__file__).with_name("threads_and_fork.py")
LAYERS = ["default", "tbb", "omp", "workqueue"]


def _run(layer: str, mode: str) -> dict:
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer, "PYTHONPATH": str(SCRIPT.parent.parent)}
    done = subprocess.run([sys.executable, str(SCRIPT), mode], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"exit code {done.returncode} under {layer}:\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if "unavailable" in report:
        pytest.skip(f"threading layer {layer!r} cannot load here: {report['unavailable']}")
    return report


@pytest.mark.slow
@pytest.mark.parametrize("layer", LAYERS)
def test_eight_threads_fit_at_once_as_they_would_one_by_one(layer):
    report = _run(layer, "threads")
    assert report["mismatches"] == [], f"under {report['layer']}: results differ from serial fits"
    assert report["blas_after"] == report["blas_before"] == [3] * len(report["blas_before"]), report
    assert report["numba_threads_after"] == report["numba_threads_before"]
    if layer == "default":  # with the tbb package installed, Numba's default is the safe layer
        tbb_installed = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; m.version('tbb')"],
                                       capture_output=True).returncode == 0  # fmt: skip
        assert report["layer"] == ("tbb" if tbb_installed else report["layer"])


@pytest.mark.slow
@pytest.mark.parametrize("layer", LAYERS)
def test_a_process_that_has_fitted_can_fork_workers_that_fit(layer):
    report = _run(layer, "fork")
    assert report["mismatches"] == [], f"under {report['layer']}: forked fits differ from the parent's"

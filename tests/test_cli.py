"""The fastkm command through its real entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from fastkm.cli import main


def run(*args):
    executable = shutil.which("fastkm")
    command = [executable, *args] if executable else [sys.executable, "-m", "fastkm.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_demo_runs_and_prints_a_summary():
    result = run("demo", "--n-samples", "20000", "--n-clusters", "5", "--backend", "numpy")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Gaussian board, 20,000 points, d=2, K=5" in out
    assert "backend     numpy" in out
    assert "(converged)" in out
    # one table row per cluster, sizes adding up to N
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert len(rows) == 5
    assert sum(int(row[1].replace(",", "")) for row in rows) == 20000


def test_demo_in_higher_dimension():
    result = CliRunner().invoke(main, ["demo", "-n", "3000", "-k", "3", "-d", "5", "--backend", "numpy"])
    assert result.exit_code == 0, result.output
    assert "d=5, K=3" in result.output and ", ...)" in result.output


def test_info_lists_every_backend():
    result = run("info")
    assert result.returncode == 0, result.stderr
    for name in ("numpy", "numba", "cupy"):
        assert f"  {name}" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "-n", "3", "-k", "5"], "n_samples=3 should be >= n_clusters=5"),
        (["demo", "-k", "0"], "0 is not in the range"),
        (["demo", "--backend", "tpu"], "Invalid value for '--backend'"),
        (["fit"], "No such command"),
    ],
)
def test_errors_exit_2_with_one_line_and_no_traceback(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unavailable_backend_is_a_clean_error():
    from fastkm import available_backends

    missing = [name for name, status in available_backends().items() if not status.available]
    if not missing:
        pytest.skip("every backend is available here")
    result = run("demo", "-n", "100", "--backend", missing[0])
    assert result.returncode == 2
    assert f"fastkm backend '{missing[0]}' is unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_version():
    from fastkm import __version__

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output

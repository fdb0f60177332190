"""The CPU image builds and runs ``fastkm demo``: docker/smoke.sh, where a container engine runs.

Where none does (CI, most development machines) the test skips at once: it looks
podman and docker up on PATH, asks an installed one for ``info`` (which starts
no daemon), and starts nothing else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "docker" / "smoke.sh"
#: docker/smoke.sh's exit statuses for what this machine lacks (not for what the images do wrong)
NO_ENGINE, NO_BASE = 3, 4


def _container_engine() -> tuple[str | None, str]:
    """The first of podman and docker that answers ``info``, or None and why none does."""
    reasons = []
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name} not installed")
            continue
        try:
            probe = subprocess.run([path, "info"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"'{name} info' failed: {exc}")
            continue
        if probe.returncode == 0:
            return name, ""
        said = probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"]
        reasons.append(f"'{name} info' failed: {said[-1]}")
    return None, "; ".join(reasons)


def _files_under_docker() -> str | None:
    """git's view of docker/ and .dockerignore, ignored files included (None without git)."""
    try:
        return subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", "docker", ".dockerignore"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None


@pytest.mark.slow
def test_cpu_image_builds_and_runs_the_demo(tmp_path):
    engine, why_not = _container_engine()
    if engine is None:
        pytest.skip(f"no container engine: {why_not}")
    before = _files_under_docker()
    work = tmp_path / "work"  # mounted at /work: the demo's pictures land here
    smoke = subprocess.run(
        ["bash", str(SMOKE), "--engine", engine, "--runs", "1", "--out", str(work)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600,
    )  # fmt: skip
    log = smoke.stdout
    if smoke.returncode in (NO_ENGINE, NO_BASE):
        pytest.skip(log.strip().splitlines()[-1])
    assert smoke.returncode == 0, log[-8000:]
    for picture in ("fastkm-demo.png", "fastkm-demo.gif"):
        assert (work / picture).stat().st_size > 5000, f"{picture} was not drawn\n{log[-4000:]}"
    assert "smoke: PASSED" in log and "smoke: image size:" in log and "wall time" in log, log[-4000:]
    assert re.search(r"backend\s+numba", log), "the CPU image runs the demo on the Numba backend"
    assert _files_under_docker() == before, "docker/smoke.sh left files in the repository"

"""The backend registry: names, the environment variable, auto, and honest unavailability."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import fastkm
from fastkm.backends import BACKEND_NAMES, Backend, backend_status, get_backend
from fastkm.backends.numpy_backend import NumpyBackend


def test_every_registered_backend_reports_a_status_with_a_reason():
    statuses = fastkm.available_backends()
    assert set(statuses) == {"numpy", "numba", "cupy", "dask"}
    assert statuses["numpy"].available
    for status in statuses.values():
        assert status.detail  # available: what runs it; unavailable: why not
        assert status.name in str(status)


def test_available_backends_is_printable_from_the_command_line():
    out = subprocess.run(
        [sys.executable, "-c", "import fastkm; print(fastkm.available_backends())"],
        check=True, capture_output=True, text=True,
    ).stdout
    for name in ("numpy", "numba", "cupy", "dask"):
        assert f"name='{name}'" in out


def test_unavailable_backend_raises_with_the_reason():
    unavailable = [name for name, status in fastkm.available_backends().items() if not status.available]
    if not unavailable:
        pytest.skip("every backend is available on this machine")
    for name in unavailable:
        with pytest.raises(fastkm.BackendUnavailableError, match=f"fastkm backend '{name}' is unavailable: "):
            get_backend(name)


def test_cupy_is_not_imported_by_fastkm():
    """CPU-only work never pays for CuPy's import (only probing or using the GPU backend does)."""
    code = (
        "import sys, fastkm; fastkm.KMeans(2).fit([[0.0], [1.0]]); fastkm.kmeans([[0.0], [1.0]], 1); "
        "import fastkm.backends.cupy_backend; print('cupy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_missing_cupy_is_reported_with_the_install_command():
    status = backend_status("cupy")
    assert not status.available
    assert "cupy is not installed" in status.detail and "fastkm[cuda12]" in status.detail


def test_names_are_case_and_space_insensitive():
    assert get_backend(" NumPy ").name == "numpy"


def test_environment_variable_picks_the_backend(monkeypatch):
    monkeypatch.setenv("FASTKM_BACKEND", "numpy")
    assert get_backend().name == "numpy"
    assert fastkm.kmeans(np.eye(3), 2, random_state=0).backend == "numpy"
    monkeypatch.setenv("FASTKM_BACKEND", "gpu")
    with pytest.raises(ValueError, match="got 'gpu' .from the FASTKM_BACKEND environment variable"):
        get_backend()
    # an explicit argument wins over the environment
    assert get_backend("numpy").name == "numpy"


def test_auto_picks_numba_on_the_cpu(monkeypatch):
    if not backend_status("numba").available:
        pytest.skip(f"the numba backend is unavailable here: {backend_status('numba').detail}")
    monkeypatch.delenv("FASTKM_BACKEND", raising=False)
    assert get_backend("auto", np.zeros((2, 2))).name == "numba"
    assert get_backend(None).name == "numba"


def test_auto_falls_back_to_numpy_without_numba(monkeypatch):
    import fastkm.backends as registry

    monkeypatch.delenv("FASTKM_BACKEND", raising=False)
    monkeypatch.setattr(
        registry, "backend_status", lambda name: registry.BackendStatus(name, name == "numpy", "test")
    )
    assert get_backend("auto", np.zeros((2, 2))).name == "numpy"


def test_backend_instances_pass_through_and_satisfy_the_protocol():
    backend = NumpyBackend(chunk_rows=10)
    assert isinstance(backend, Backend)
    assert get_backend(backend) is backend
    assert fastkm.kmeans(np.eye(4), 2, random_state=0, backend=backend).backend == "numpy"


def test_numpy_backend_options_are_checked():
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        get_backend("numpy", chunk_rows=0)


def test_backend_names_constant():
    assert BACKEND_NAMES == ("auto", "numpy", "numba", "cupy", "dask")


@pytest.mark.parametrize(
    "chunk_rows, n_samples",
    [(1, 100), (7, 1000), (64, 1000), (1000, 1000), (5000, 1000), (None, 40_000)],
)
def test_numpy_reference_never_builds_an_n_by_k_matrix(chunk_rows, n_samples, monkeypatch):
    """X is walked in consecutive blocks of chunk_rows rows (the last one shorter); by default a block's
    float64 distance matrix is about 8 MiB, so N x K is never built when it is larger than that."""
    import fastkm.backends.numpy_backend as module

    n_clusters = 64  # the default block is then 8 MiB / (8 bytes x 64) = 16,384 rows, well under N = 40,000
    seen = []
    original = module._Screen.nearest

    def spy(self, block, previous=None):
        seen.append(block.shape[0])
        return original(self, block, previous)

    monkeypatch.setattr(module._Screen, "nearest", spy)
    X = np.random.default_rng(0).standard_normal((n_samples, 3))
    NumpyBackend(chunk_rows=chunk_rows).assign_accumulate(X, X[:n_clusters], np.ones(n_samples))
    step = seen[0] if chunk_rows is None else chunk_rows
    # every row once, in full blocks and one last partial block
    assert sum(seen) == n_samples
    assert len(seen) == -(-n_samples // step)
    assert seen[:-1] == [step] * (len(seen) - 1) and 0 < seen[-1] <= step
    if chunk_rows is None:
        block_bytes = step * n_clusters * 8
        assert 4 * 2**20 < block_bytes <= 8 * 2**20, f"default block of {step} rows: {block_bytes} bytes"
        assert len(seen) >= 3  # so N x K (20 MiB here) was never one block

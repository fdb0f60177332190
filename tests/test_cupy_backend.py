"""The CuPy backend on a GPU: data residency, both kernel paths, options.

Agreement with the NumPy reference is tested for every variant of this
backend by tests/test_backend_agreement.py (see conftest.VARIANTS). Without a
usable GPU every test here skips with the reason ``available_backends()``
gives; tests/test_cuda_compile.py still compiles the kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastkm
from fastkm.backends import backend_status

from .conftest import make_separated

STATUS = backend_status("cupy")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not STATUS.available, reason=f"cupy backend: {STATUS.detail}")]


@pytest.fixture(scope="module")
def cp():
    import cupy

    return cupy


def test_cupy_input_stays_on_the_device(cp):
    X, _, _, init = make_separated(5000, 4, 6, dtype=np.float32)
    X_gpu = cp.asarray(X)
    before = X_gpu.copy()
    result = fastkm.kmeans(X_gpu, 6, init=cp.asarray(init), backend="auto")
    assert isinstance(result.labels, cp.ndarray) and isinstance(result.centroids, cp.ndarray)
    assert result.centroids.dtype == np.float32
    assert bool((X_gpu == before).all()), "the caller's array was modified"
    model = fastkm.KMeans(6, init=init, n_init=1).fit(X_gpu)
    assert isinstance(model.predict(X_gpu), cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(model.predict(X_gpu)), cp.asnumpy(result.labels))


def test_numpy_input_comes_back_as_numpy():
    X, _, _, init = make_separated(3000, 3, 4)
    result = fastkm.kmeans(X, 4, init=init, backend="cupy")
    assert isinstance(result.labels, np.ndarray) and isinstance(result.centroids, np.ndarray)


@pytest.mark.parametrize("strategy", ["fused", "gemm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_path_matches_the_reference_on_one_step(cp, strategy, dtype):
    from fastkm.testing import assert_step_agrees

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 8)).astype(dtype)
    centroids = X[:50].copy()
    backend = fastkm.get_backend("cupy", strategy=strategy, chunk_rows=3001)
    assert backend.uses_fused(8, 50, X.itemsize) == (strategy == "fused")
    reference = fastkm.get_backend("numpy").assign_accumulate(X, centroids, None)
    step = backend.assign_accumulate(cp.asarray(X), cp.asarray(centroids), None)
    assert isinstance(step.labels, cp.ndarray) and step.inertia.shape == ()
    assert_step_agrees(X, centroids, reference, step)


def test_auto_picks_the_fused_kernel_for_small_problems_only(cp):
    backend = fastkm.get_backend("cupy")
    assert backend.uses_fused(2, 8)
    assert not backend.uses_fused(256, 1024)
    assert not fastkm.get_backend("cupy", strategy="fused").uses_fused(64, 10)  # d > 32: impossible


@pytest.mark.parametrize("kwargs, match", [
    (dict(strategy="fast"), "strategy must be"),
    (dict(chunk_rows=0), "chunk_rows must be a positive integer"),
    (dict(device=-1), "device must be a non-negative integer"),
    (dict(device=10_000), "does not exist"),
])  # fmt: skip
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastkm.get_backend("cupy", **kwargs)


def test_kmeans_plus_plus_on_the_device_matches_the_cpu(cp):
    X, _, _, _ = make_separated(20_000, 16, 12, seed=1)
    cpu = fastkm.kmeans(X, 12, random_state=3, backend="numpy")
    gpu = fastkm.kmeans(cp.asarray(X), 12, random_state=3, backend="cupy")
    np.testing.assert_array_equal(cp.asnumpy(gpu.labels), cpu.labels)
    np.testing.assert_allclose(float(gpu.inertia), cpu.inertia, rtol=1e-10)


@pytest.mark.parametrize("point", ["A", "B", "C", "D"])
def test_grid_point_step_agrees_with_the_reference(cp, point):
    """The benchmark grid's shapes (N / 10: the policy's check is O(N K d) on the host): one step of each path."""
    from fastkm.bench import GRID, grid_data
    from fastkm.testing import assert_step_agrees

    X, centroids = grid_data(GRID[point], scale=0.1)
    reference = fastkm.get_backend("numpy").assign_accumulate(X, centroids, None)
    for strategy in ("auto", "gemm"):
        step = fastkm.get_backend("cupy", strategy=strategy).assign_accumulate(cp.asarray(X), cp.asarray(centroids), None)
        assert_step_agrees(X, centroids, reference, step)

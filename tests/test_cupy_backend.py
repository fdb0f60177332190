"""The CuPy backend on a GPU: data residency, both kernel paths, options, exact agreement.

Every result must be the NumPy reference's, bit for bit (the contract of
:mod:`fastkm.backends.exact`); tests/test_exact_agreement.py and
tests/test_backend_agreement.py hold every variant of this backend to that
too (see conftest.VARIANTS). Here: both kernel paths on tie-heavy data, the
seeding step's float64 ``closest`` buffer, and float32 arithmetic that must
not flush to zero. Without a usable GPU every test here skips with the reason
``available_backends()`` gives; tests/test_cuda_compile.py still compiles the
kernels (and checks their PTX for flush-to-zero).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastkm
from fastkm.backends import backend_status

from .conftest import make_separated

STATUS = backend_status("cupy")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not STATUS.available, reason=f"cupy backend: {STATUS.detail}")]

REFERENCE = fastkm.get_backend("numpy")
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def cp():
    import cupy

    return cupy


def _assert_step_identical(backend, X, centroids, weight=None):
    """One step and one ``assign`` of ``backend`` are the reference's, bit for bit."""
    expected = REFERENCE.assign_accumulate(X, centroids, weight)
    Xd, Cd = backend.asarray(X), backend.asarray(centroids)
    step = backend.assign_accumulate(Xd, Cd, None if weight is None else backend.asarray(weight))
    assert isinstance(step.labels, backend.xp.ndarray) and step.inertia.shape == () and step.n_changed.shape == ()
    np.testing.assert_array_equal(backend.to_numpy(step.labels), expected.labels)
    np.testing.assert_array_equal(backend.to_numpy(step.sums), expected.sums)
    np.testing.assert_array_equal(backend.to_numpy(step.counts), expected.counts)
    assert float(step.inertia) == float(expected.inertia)
    assert int(step.n_changed) == int(expected.n_changed)
    labels, sq_dist = backend.assign(Xd, Cd)
    expected_labels, expected_sq_dist = REFERENCE.assign(X, centroids)
    np.testing.assert_array_equal(backend.to_numpy(labels), expected_labels)
    np.testing.assert_array_equal(backend.to_numpy(sq_dist), expected_sq_dist)
    assert 0.0 <= backend.last_recheck_share <= 1.0


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
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", [2, 3, 16, 40])
def test_each_path_is_identical_to_the_reference_on_tie_heavy_data(cp, n_features, dtype, weighted, strategy):
    """Integer data from centroids that are data points: exact ties everywhere, every one settled canonically."""
    rng = np.random.default_rng(n_features)
    X = rng.integers(0, 4, (5000, n_features)).astype(dtype)
    centroids = X[rng.choice(len(X), 12, replace=False)]
    weight = rng.integers(0, 4, len(X)).astype(dtype) if weighted else None
    backend = fastkm.get_backend("cupy", strategy=strategy, chunk_rows=997)
    # (the fused kernel holds at most 32 features: "fused" falls back to the GEMM path above that)
    assert backend.uses_fused(n_features, 12, X.itemsize) == (strategy == "fused" and n_features <= 32)
    _assert_step_identical(backend, X, centroids, weight)


@pytest.mark.parametrize("strategy", ["fused", "gemm"])
def test_float32_squares_below_the_normal_range_are_not_flushed(cp, strategy):
    """CuPy compiles with -ftz=true; the kernels must not flush: a screen that did would certify the wrong centre.

    Centroid 0 is 3e-20 in each of 32 features (float32 squares 9e-40, subnormal,
    summing to 2.9e-38), centroid 1 is 1.3e-19 in one (1.7e-38): 1 is nearer.
    """
    X = np.zeros((64, 32), dtype=np.float32)
    centroids = np.zeros((2, 32), dtype=np.float32)
    centroids[0] = 3e-20
    centroids[1, 0] = 1.3e-19
    assert REFERENCE.assign(X, centroids)[0].tolist() == [1] * 64
    _assert_step_identical(fastkm.get_backend("cupy", strategy=strategy), X, centroids)


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


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_seeding_step_is_identical_with_a_float64_closest_buffer(cp, dtype, weighted):
    """``closest_sq_dist`` is float64 (canonical distances) whatever X's dtype, updated in place;
    more candidates than one kernel launch takes (8) go in groups."""
    rng = np.random.default_rng(4)
    X = rng.integers(0, 6, (3000, 5)).astype(dtype)
    weight = rng.integers(0, 3, 3000).astype(dtype) if weighted else None
    candidates = X[rng.choice(3000, 11, replace=False)]
    start = rng.integers(1, 40, 3000).astype(np.float64)
    expected_closest = start.copy()
    expected = REFERENCE.seeding_step(X, candidates, expected_closest, weight)
    backend = fastkm.get_backend("cupy")
    closest = cp.asarray(start)
    got = backend.seeding_step(
        backend.asarray(X), backend.asarray(candidates), closest, None if weight is None else backend.asarray(weight)
    )
    assert got == expected  # (index, potential): the same bits
    np.testing.assert_array_equal(cp.asnumpy(closest), expected_closest)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pairwise_and_labelled_distances_are_canonical(cp, dtype):
    rng = np.random.default_rng(6)
    X = (rng.standard_normal((2000, 7)) * 10 + 1e3).astype(dtype)
    Y = X[:9]
    labels = rng.integers(0, 9, 2000).astype(np.int32)
    backend = fastkm.get_backend("cupy")
    Xd, Yd = backend.asarray(X), backend.asarray(Y)
    np.testing.assert_array_equal(cp.asnumpy(backend.pairwise_sq_distances(Xd, Yd)), REFERENCE.pairwise_sq_distances(X, Y))
    np.testing.assert_array_equal(
        cp.asnumpy(backend.labelled_sq_distances(Xd, Yd, backend.asarray(labels))),
        REFERENCE.labelled_sq_distances(X, Y, labels),
    )


def test_kmeans_plus_plus_on_the_device_is_identical_to_the_cpu(cp):
    X, _, _, _ = make_separated(20_000, 16, 12, seed=1)
    cpu = fastkm.kmeans(X, 12, random_state=3, backend="numpy")
    gpu = fastkm.kmeans(cp.asarray(X), 12, random_state=3, backend="cupy")
    np.testing.assert_array_equal(cp.asnumpy(gpu.labels), cpu.labels)
    np.testing.assert_array_equal(cp.asnumpy(gpu.centroids), cpu.centroids)
    assert float(gpu.inertia) == float(cpu.inertia) and gpu.n_iter == cpu.n_iter


@pytest.mark.parametrize("point", ["A", "B", "C", "D"])
def test_grid_point_step_is_identical_to_the_reference(cp, point):
    """The benchmark grid's shapes (N / 10, to keep the reference quick): one step of each path."""
    from fastkm.bench import GRID, grid_data

    X, centroids = grid_data(GRID[point], scale=0.1)
    for strategy in ("auto", "gemm"):
        _assert_step_identical(fastkm.get_backend("cupy", strategy=strategy), X, centroids)

"""What is particular to the Numba backend: options, strategies, threads, warm-up, BLAS threads."""

from __future__ import annotations

import numpy as np
import pytest

import fastkm
from fastkm.backends import backend_status

if not backend_status("numba").available:
    pytest.skip(f"the numba backend is unavailable: {backend_status('numba').detail}", allow_module_level=True)

from fastkm.backends import numba_backend  # noqa: E402
from fastkm.backends.numba_backend import DIRECT_MAX_FEATURES, NumbaBackend  # noqa: E402


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_threads=0), "n_threads must be a positive integer"),
        (dict(n_threads=True), "n_threads must be a positive integer"),
        (dict(n_threads=10_000), "exceeds the .* threads Numba was started with; set the NUMBA_NUM_THREADS"),
        (dict(strategy="blas"), "strategy must be 'auto', 'direct' or 'gemm'"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NumbaBackend(**kwargs)


def test_strategy_follows_the_measured_threshold():
    backend = NumbaBackend()
    assert not backend.uses_gemm(2, 8)  # grid point A
    assert backend.uses_gemm(16, 64)  # grid point B
    assert backend.uses_gemm(DIRECT_MAX_FEATURES + 1, 2) and not backend.uses_gemm(DIRECT_MAX_FEATURES, 4096)
    assert NumbaBackend(strategy="gemm").uses_gemm(2, 8)
    assert not NumbaBackend(strategy="direct").uses_gemm(256, 1024)


@pytest.mark.parametrize("strategy", ["direct", "gemm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unit_weights_need_no_array(strategy, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 5)).astype(dtype)
    backend = NumbaBackend(strategy=strategy)
    without = backend.assign_accumulate(X, X[:9], None)
    ones = backend.assign_accumulate(X, X[:9], np.ones(5000, dtype=dtype))
    np.testing.assert_array_equal(without.labels, ones.labels)
    np.testing.assert_array_equal(without.sums, ones.sums)
    np.testing.assert_array_equal(without.counts, ones.counts)
    assert float(without.inertia) == float(ones.inertia)


def test_thread_count_does_not_change_the_answer():
    X = np.random.default_rng(1).standard_normal((20000, 8)).astype(np.float32)
    one = fastkm.kmeans(X, 12, random_state=0, backend=NumbaBackend(n_threads=1))
    all_threads = fastkm.kmeans(X, 12, random_state=0, backend=NumbaBackend())
    np.testing.assert_array_equal(one.labels, all_threads.labels)
    assert one.n_iter == all_threads.n_iter
    assert one.inertia == pytest.approx(all_threads.inertia, rel=1e-9)


def test_the_caller_s_thread_setting_is_restored():
    import numba

    before = numba.get_num_threads()
    NumbaBackend(n_threads=1).assign(np.eye(3), np.eye(3)[:2])
    assert numba.get_num_threads() == before


def test_blas_runs_single_threaded_only_inside_the_kernel():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl reports BLAS threads")
    X = np.random.default_rng(2).standard_normal((4000, 32)).astype(np.float32)
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    seen = []
    original = numba_backend._assign_kernel

    def spy(*args):
        seen.extend(lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas")
        return original(*args)

    numba_backend._assign_kernel = spy
    try:
        NumbaBackend(strategy="gemm").assign_accumulate(X, X[:40], None)
    finally:
        numba_backend._assign_kernel = original
    assert seen and set(seen) == {1}
    after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    assert after[: len(before)] == before


@pytest.mark.parametrize("order", ["C", "F"])
def test_fortran_ordered_input_gives_the_same_fit(order):
    X = np.random.default_rng(3).standard_normal((3000, 6))
    reference = fastkm.kmeans(X, 7, random_state=0, backend="numba")
    result = fastkm.kmeans(np.asarray(X, order=order), 7, random_state=0, backend="numba")
    np.testing.assert_array_equal(result.labels, reference.labels)


def test_warmup_compiles_every_kernel():
    seconds = numba_backend.warmup()
    assert seconds >= 0
    for kernel in (numba_backend._assign_kernel, numba_backend._seeding_potentials, numba_backend._pairwise_kernel):
        assert len(kernel.signatures) >= 2  # float32 and float64
    assert fastkm.warmup() >= 0


@pytest.mark.parametrize("strategy", ["direct", "gemm"])
def test_rows_sorted_by_cluster_sum_like_shuffled_rows(strategy):
    """Rows in cluster order (as data are often generated or stored) go round the interleaved sums."""
    from fastkm.backends.numpy_backend import NumpyBackend

    rng = np.random.default_rng(7)
    X = rng.standard_normal((20_000, 3 if strategy == "direct" else 12))
    centroids = X[:6].copy()
    labels, _ = NumpyBackend().assign(X, centroids)
    ordered = np.ascontiguousarray(X[np.argsort(labels, kind="stable")])
    weight = rng.uniform(0.5, 2.0, len(X))
    for w in (None, weight):
        expected = NumpyBackend().assign_accumulate(ordered, centroids, w)
        got = NumbaBackend(strategy=strategy).assign_accumulate(ordered, centroids, w)
        np.testing.assert_array_equal(got.labels, expected.labels)
        np.testing.assert_allclose(got.sums, expected.sums, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(got.counts, expected.counts, rtol=1e-12)

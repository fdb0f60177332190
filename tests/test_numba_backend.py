"""What is particular to the Numba backend: options, strategies, threads, warm-up, BLAS threads."""

from __future__ import annotations

import time

from pathlib import Path

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
        (dict(n_threads=True), "n_threads must be an integer, got True"),
        (dict(n_threads=10_000), "exceeds the .* threads Numba was started with; set the NUMBA_NUM_THREADS"),
        (dict(strategy="blas"), "strategy must be 'auto', 'direct' or 'gemm'"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
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
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's matrix products call)

    def kernels_blas():
        """Thread counts of the BLAS the kernels call: SciPy's (where SciPy ships its own), else every BLAS."""
        pools = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
        own = [lib for lib in pools if "scipy" in Path(lib["filepath"]).parent.name]
        return [lib["num_threads"] for lib in own or pools]

    X = np.random.default_rng(2).standard_normal((4000, 32)).astype(np.float32)
    before = kernels_blas()
    seen = []
    original = numba_backend._assign_kernel

    def spy(*args):
        seen.extend(kernels_blas())
        return original(*args)

    numba_backend._assign_kernel = spy
    try:
        NumbaBackend(strategy="gemm").assign_accumulate(X, X[:40], None)
    finally:
        numba_backend._assign_kernel = original
    assert seen and set(seen) == {1}
    assert kernels_blas() == before


@pytest.mark.parametrize("order", ["C", "F"])
def test_fortran_ordered_input_gives_the_same_fit(order):
    X = np.random.default_rng(3).standard_normal((3000, 6))
    reference = fastkm.kmeans(X, 7, random_state=0, backend="numba")
    result = fastkm.kmeans(np.asarray(X, order=order), 7, random_state=0, backend="numba")
    np.testing.assert_array_equal(result.labels, reference.labels)


_WARMUP_THEN_FIT = """
import json
import numpy as np
import fastkm
from fastkm.backends import numba_backend
from fastkm.backends.numba_backend import NumbaBackend

KERNELS = ("_assign_kernel", "_bounded_kernel", "_pairwise_kernel", "_labelled_kernel", "_seeding_kernel")

def signatures():
    return {name: sorted(map(str, getattr(numba_backend, name).signatures)) for name in KERNELS}

numba_backend.warmup()
after_warmup = signatures()
data_dtypes = {
    name: sorted({str(signature[0].dtype) for signature in getattr(numba_backend, name).signatures})
    for name in KERNELS
}
X = np.random.default_rng(0).standard_normal((500, 5))
for dtype in (np.float32, np.float64):
    data = X.astype(dtype)
    for strategy in ("direct", "gemm"):
        backend = NumbaBackend(strategy=strategy)
        for weight in (None, np.linspace(0.5, 2.0, len(X))):
            for init, algorithm in (("k-means++", "lloyd"), ("random", "hamerly"), ("k-means++", "yinyang")):
                fastkm.kmeans(data, 4, init=init, sample_weight=weight, random_state=0, backend=backend,
                              algorithm=algorithm)
    model = fastkm.KMeans(4, random_state=0, backend="numba").fit(data)
    model.predict(data), model.transform(data), model.score(data)
print(json.dumps({"data_dtypes": data_dtypes, "after_warmup": after_warmup, "after_fits": signatures()}))
"""


def test_warmup_compiles_every_kernel():
    """In a fresh process (kernels loaded by nothing else): after warmup every kernel has its float32 and
    float64 versions, and fits and the estimator in either precision (both strategies, weights or not,
    either init) compile nothing more: warmup covered the signatures real work uses."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _WARMUP_THEN_FIT], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for name, dtypes in report["data_dtypes"].items():
        assert {"float32", "float64"} <= set(dtypes), f"{name} compiled for {dtypes}"
    assert report["after_fits"] == report["after_warmup"]


def test_warmup_returns_the_seconds_it_took(monkeypatch):
    """The return value is the time warmup spent: it includes the work it does and nothing beyond the call."""
    numba_backend.warmup()  # compiled: what is timed below is only the calls
    pause = 0.05
    calls = []
    original = NumbaBackend.pairwise_sq_distances

    def slow(self, X, Y):
        calls.append(X.dtype)
        time.sleep(pause)
        return original(self, X, Y)

    monkeypatch.setattr(NumbaBackend, "pairwise_sq_distances", slow)
    for run in (numba_backend.warmup, lambda: fastkm.warmup("numba")):
        calls.clear()
        start = time.perf_counter()
        seconds = run()
        elapsed = time.perf_counter() - start
        assert type(seconds) is float
        assert calls, "warmup no longer calls pairwise_sq_distances; pick another method to slow down"
        assert len(calls) * pause <= seconds <= elapsed
    assert fastkm.warmup("numpy") == 0.0  # nothing to compile


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_column_sums_for_the_tolerance_are_the_reference_rows_bits(dtype, n_threads):
    """The tolerance's variance: Numba's one-pass column sums give the generic version's parts, bit for bit."""
    from fastkm.backends.exact import Scale, SumGrid
    from fastkm.lloyd import _mean_feature_variance

    rng = np.random.default_rng(3)
    X = (rng.normal(1e3, 7.0, (20_011, 5)) * rng.choice([1.0, 1e-3], 5)).astype(dtype)
    X[::97, 2] = 0.0
    reference = fastkm.get_backend("numpy")
    numba = NumbaBackend(n_threads=n_threads)
    mean = X.mean(axis=0, dtype=np.float64)
    for grid, centre in ((SumGrid.for_terms(len(X), np.abs(X).max(axis=0)), None),
                         (SumGrid.for_terms(len(X), np.ptp(X, axis=0).astype(np.float64) ** 2 * 1.01), mean)):  # fmt: skip
        expected = reference.column_sum_parts(X, grid, centre)
        got = numba.column_sum_parts(X, grid, centre)
        assert len(got) == len(expected) == 2
        for part, want in zip(got, expected):
            np.testing.assert_array_equal(part, want)
    scale = Scale.of(X, None)
    assert _mean_feature_variance(X, scale, numba) == _mean_feature_variance(X, scale, reference)

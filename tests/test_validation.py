"""Every bad input gets a clear error naming the argument; good input is never modified."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastkm
from fastkm import KMeans, kmeans

X_GOOD = np.random.default_rng(0).standard_normal((50, 3))


def fit(X=X_GOOD, n_clusters=3, **kwargs):
    kwargs.setdefault("random_state", 0)
    kwargs.setdefault("backend", "numpy")
    return kmeans(X, n_clusters, **kwargs)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.ones(5), ValueError, r"X must be 2-D .* got a 1-D array of shape \(5,\)\. Reshape your data"),
        (np.ones((2, 3, 4)), ValueError, "X must be 2-D"),
        (np.ones(()), ValueError, "X must be 2-D"),
        (np.empty((0, 3)), ValueError, "X has 0 sample"),
        (np.empty((5, 0)), ValueError, r"0 feature\(s\) \(shape=\(5, 0\)\)"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "not numeric"),
        (np.array([[1, {}], [2, 3]], dtype=object), TypeError, "X must contain only numbers"),
        (np.ones((4, 2)) * 1j, ValueError, "Complex data not supported"),
        (np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), ValueError, "X contains NaN"),
        (np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]]), ValueError, r"X contains infinity"),
        (np.array([[1.0, -np.inf], [2.0, 3.0], [4.0, 5.0]]), ValueError, r"X contains infinity"),
        (None, TypeError, "X is None"),
        ([[1, 2], [3]], TypeError, "could not be read as a numeric array"),
        ([[10**400, 1], [2, 3]], TypeError, "X must contain only numbers"),
        (np.ma.masked_invalid([[1.0, np.nan], [2.0, 3.0]]), TypeError, r"masked array.*\.filled"),
    ],
    ids=[
        "1-D", "3-D", "0-D", "no-samples", "no-features", "strings", "object", "complex",
        "nan", "inf", "-inf", "none", "ragged", "huge-int", "masked",
    ],
)
def test_bad_X(X, error, match):
    with pytest.raises(error, match=match):
        fit(X, n_clusters=1)


def test_sparse_X_is_refused_with_a_hint():
    sparse = pytest.importorskip("scipy.sparse", reason="needs scipy to build a sparse matrix")
    with pytest.raises(TypeError, match=r"sparse matrix .* X\.toarray\(\)"):
        fit(sparse.csr_matrix(X_GOOD))


def test_object_array_of_numbers_is_accepted():
    result = fit(X_GOOD.astype(object))
    assert result.centroids.dtype == np.float64


@pytest.mark.parametrize("dtype, value", [(np.float64, 1e300), (np.float32, 1e30)])
def test_values_too_large_to_square_are_refused(dtype, value):
    X = np.full((4, 2), value, dtype=dtype)
    X[::2] *= -1
    with pytest.raises(ValueError, match="too large to square"):
        fit(X, n_clusters=2)


@pytest.mark.parametrize("dtype, value", [(np.float64, 1e100), (np.float32, 1e15)])
def test_large_values_that_square_safely_are_clustered(dtype, value):
    X = np.array([[-1.0, 0.0], [-1.0, 0.1], [1.0, 0.0], [1.0, 0.1]], dtype=dtype) * dtype(value)
    result = fit(X, n_clusters=2)
    assert np.isfinite(result.inertia)
    assert result.labels[0] == result.labels[1] != result.labels[2] == result.labels[3]


@pytest.mark.parametrize(
    "n_clusters, error, match",
    [
        (0, ValueError, "n_clusters must be a positive integer"),
        (-2, ValueError, "n_clusters must be a positive integer"),
        (2.5, TypeError, "n_clusters must be an integer"),
        ("3", TypeError, "n_clusters must be an integer"),
        (True, TypeError, "n_clusters must be an integer"),
        (51, ValueError, r"n_samples=50 should be >= n_clusters=51: .*\(N >= K\)"),
    ],
)
def test_bad_n_clusters(n_clusters, error, match):
    with pytest.raises(error, match=match):
        fit(n_clusters=n_clusters)


def test_numpy_integer_n_clusters_is_fine():
    assert fit(n_clusters=np.int64(3)).centroids.shape == (3, 3)


@pytest.mark.parametrize(
    "sample_weight, error, match",
    [
        (np.ones(49), ValueError, r"sample_weight must be a 1-D array of length n_samples=50, got shape \(49,\)"),
        (np.ones((50, 1)), ValueError, "sample_weight must be a 1-D array"),
        (-np.ones(50), ValueError, "sample_weight must be non-negative; entry 0 is -1.0"),
        (np.r_[np.ones(49), np.nan], ValueError, "sample_weight contains NaN or infinity .entry 49"),
        (np.r_[np.ones(49), np.inf], ValueError, "sample_weight contains NaN or infinity"),
        (np.zeros(50), ValueError, "sample_weight is all zero"),
        (np.r_[np.zeros(48), 1.0, 1.0], ValueError, "only 2 samples have a positive sample_weight"),
        (["a"] * 50, TypeError, "sample_weight must be an array of real numbers"),
        (-1.0, ValueError, "scalar sample_weight must be positive"),
    ],
    ids=["short", "2-D", "negative", "nan", "inf", "all-zero", "too-few-positive", "strings", "negative-scalar"],
)
def test_bad_sample_weight(sample_weight, error, match):
    with pytest.raises(error, match=match):
        fit(sample_weight=sample_weight)


@pytest.mark.parametrize(
    "dtype, sample_weight, match",
    [
        (np.float32, np.full(50, 1e39), "too large for float32"),
        (np.float32, np.full(50, 1e-46), "all zero in float32 .the positive weights underflow"),
        (np.float64, np.full(50, 1e307), "too large for float64 .it, or its sum, overflows"),
    ],
)
def test_weights_that_do_not_survive_the_data_dtype(dtype, sample_weight, match):
    with pytest.raises(ValueError, match=match):
        fit(X_GOOD.astype(dtype), sample_weight=sample_weight)


@pytest.mark.parametrize(
    "init, error, match",
    [
        (np.zeros((2, 3)), ValueError, r"init must have shape \(n_clusters, n_features\) = \(3, 3\), got \(2, 3\)"),
        (np.zeros((3, 2)), ValueError, r"got \(3, 2\)"),
        (np.full((3, 3), np.nan), ValueError, "init contains NaN"),
        ("kmeans++", ValueError, "init must be one of"),
        (lambda X, k, rng: np.zeros((k + 1, 3)), ValueError, "init callable must return an array of shape"),
    ],
    ids=["too-few-rows", "wrong-features", "nan", "unknown-name", "bad-callable"],
)
def test_bad_init(init, error, match):
    with pytest.raises(error, match=match):
        fit(init=init)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(max_iter=0), ValueError, "max_iter must be a positive integer"),
        (dict(max_iter=1.5), TypeError, "max_iter must be an integer"),
        (dict(tol=-1.0), ValueError, "tol must be a finite number >= 0"),
        (dict(tol=float("nan")), ValueError, "tol must be a finite number >= 0"),
        (dict(tol="small"), TypeError, "tol must be a number"),
        (dict(n_init=0), ValueError, "n_init must be a positive integer"),
        (dict(n_init="many"), ValueError, "n_init must be a positive integer or 'auto'"),
        (dict(random_state="seed"), TypeError, "random_state must be None, an int seed"),
        (dict(random_state=-1), ValueError, "random_state must be a non-negative integer"),
        (dict(backend="tpu"), ValueError, "backend must be one of 'auto', 'numpy', 'numba', 'cupy', 'dask', got 'tpu'"),
        (dict(backend=3), TypeError, "backend must be a backend name"),
    ],
)
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(**kwargs)


def test_explicit_init_with_n_init_warns_and_runs_once():
    init = X_GOOD[:3]
    steps = []
    with pytest.warns(RuntimeWarning, match="only one run is made instead of n_init=5"):
        result = fit(init=init, n_init=5, callback=steps.append)
    # the callback sees every iteration of every run: iteration 1 starts a run
    assert [step.iteration for step in steps] == list(range(1, result.n_iter + 1))
    np.testing.assert_array_equal(steps[0].previous_centroids, init)  # and that one run started from init
    # the same fit as asking for one run
    single = fit(init=init, n_init=1)
    np.testing.assert_array_equal(result.centroids, single.centroids)
    np.testing.assert_array_equal(result.labels, single.labels)
    assert result.inertia == single.inertia and result.n_iter == single.n_iter


def test_fewer_distinct_points_than_clusters_warns_and_still_returns_a_valid_result():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 10, axis=0)
    with pytest.warns(fastkm.ConvergenceWarning, match=r"distinct clusters \(3\) found smaller than n_clusters \(5\)"):
        result = fit(X, n_clusters=5)
    assert np.all(np.isfinite(result.centroids))
    assert result.labels.min() >= 0 and result.labels.max() < 5
    assert result.inertia == 0.0
    # every point sits on a centroid that is one of the three distinct points
    np.testing.assert_array_equal(result.centroids[result.labels], X)


@pytest.mark.parametrize(
    "make, expected_dtype",
    [
        (lambda X: X.astype(np.float32), np.float32),
        (lambda X: X, np.float64),
        (lambda X: (X * 10).astype(np.int64), np.float64),
        (lambda X: (X * 10).astype(np.int8), np.float64),
        (lambda X: X > 0, np.float64),
        (lambda X: X.astype(np.float16), np.float64),
        (lambda X: np.asfortranarray(X), np.float64),
        (lambda X: np.vstack([X, X])[::2], np.float64),
        (lambda X: np.hstack([X, X])[:, ::2].astype(np.float32), np.float32),
        (lambda X: X.tolist(), np.float64),
    ],
    ids=["float32", "float64", "int64", "int8", "bool", "float16", "fortran", "row-strided", "col-strided", "list"],
)
def test_accepted_inputs_and_dtypes(make, expected_dtype):
    X = make(X_GOOD)
    result = fit(X)
    assert result.centroids.dtype == expected_dtype
    reference = fit(np.array(X, dtype=expected_dtype, order="C"))
    np.testing.assert_array_equal(result.labels, reference.labels)
    np.testing.assert_allclose(result.centroids, reference.centroids)


def test_inputs_are_never_modified():
    X = np.asfortranarray(X_GOOD.astype(np.float32))
    weight = np.linspace(0.5, 2.0, len(X))
    init = X[:3].copy()
    copies = [X.copy(), weight.copy(), init.copy()]
    for flags in (X, weight, init):
        flags.setflags(write=False)  # any write attempt would raise
    kmeans(X, 3, init=init, sample_weight=weight, backend="numpy")
    model = KMeans(3, init=init, backend="numpy").fit(X, sample_weight=weight)
    model.predict(X), model.transform(X), model.score(X, sample_weight=weight)
    for original, copy in zip((X, weight, init), copies):
        np.testing.assert_array_equal(original, copy)
    # and the results do not alias the caller's arrays
    assert not np.shares_memory(model.cluster_centers_, init)


def test_memmap_input(tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X_GOOD)
    X = np.load(path, mmap_mode="r")
    np.testing.assert_array_equal(fit(X).labels, fit(X_GOOD).labels)


def test_weights_whose_weighted_sums_overflow_are_rejected_with_the_limit():
    X = np.random.default_rng(0).standard_normal((100, 2))
    weight = np.ones(100)
    weight[:3] = 4e307  # each weight is finite, and so is their sum; the weighted sums are not
    with pytest.raises(ValueError, match=r"sample_weight is too large for X: .* must stay below (\S+)\. Divide") as caught:
        fastkm.kmeans(X, 3, sample_weight=weight, backend="numpy")
    limit = float(caught.value.args[0].split("must stay below ")[1].split(")")[0])
    worst = 2 * (X.max() - X.min()) ** 2
    assert limit == pytest.approx(2.0**1000 / (100 * worst), rel=1e-2)  # (the exact sums' headroom)
    result = fastkm.kmeans(X, 3, sample_weight=weight / 1e300, backend="numpy", random_state=0)  # rescaled: fine
    assert np.isfinite(result.inertia) and np.all(np.isfinite(result.centroids))
    with pytest.raises(ValueError, match="sample_weight is too large for X"):
        fastkm.kmeans_plusplus(X, 3, sample_weight=weight, backend="numpy")
    model = fastkm.KMeans(3, random_state=0, backend="numpy").fit(X)
    with pytest.raises(ValueError, match="sample_weight is too large for X"):
        model.score(X, sample_weight=weight)


def test_float64_data_whose_squared_distances_would_sum_past_float64_are_rejected():
    X = np.random.default_rng(0).standard_normal((10_000, 3)) * 5e151  # each square fits, their sum does not
    with pytest.raises(ValueError, match=r"X spans .* the squared distances of 10000 points with 3 features would sum"):
        fastkm.kmeans(X, 3, backend="numpy")
    result = fastkm.kmeans(X / 1e10, 3, backend="numpy", random_state=0)
    assert np.isfinite(result.inertia)


@pytest.mark.parametrize("magnitude", [1e-150, 1e-100, 1e100, 1e140, 2e153])
def test_float64_data_at_the_edges_of_the_range_is_fitted_exactly_or_rejected(magnitude):
    """Never a silent 0 or inf: either a finite, positive inertia from the canonical distances, or a
    ValueError that gives the supported range and says how to rescale."""
    from fastkm.testing import canonical_assignment

    X = np.random.default_rng(0).standard_normal((2000, 2)) * magnitude
    try:
        result = fastkm.kmeans(X, 3, backend="numpy", random_state=0)
    except ValueError as exc:
        assert magnitude in (1e-150, 2e153)
        assert re.search(r"(span must (be at least|stay below)|the limit for 2 features is) \S+", str(exc))
        assert "power of two" in str(exc) or "divide it by" in str(exc)
        return
    assert 0 < result.inertia < np.inf
    labels, sq_dist = canonical_assignment(X, result.centroids)
    np.testing.assert_array_equal(result.labels, labels)
    assert result.inertia == pytest.approx(sq_dist.sum(), rel=1e-12)


def test_tiny_float64_data_gets_an_exact_rescaling_hint():
    X = np.random.default_rng(0).standard_normal((100, 2)) * 1e-130
    with pytest.raises(ValueError, match=r"Multiply X by a power of two.*X \* 2\.0\*\*(\d+)") as caught:
        fastkm.kmeans(X, 3, backend="numpy")
    exponent = int(re.search(r"2\.0\*\*(\d+)", str(caught.value)).group(1))
    result = fastkm.kmeans(X * 2.0**exponent, 3, backend="numpy", random_state=0)  # the hint works
    assert result.inertia > 0


def test_every_integer_parameter_takes_numpy_integers():
    """numbers.Integral everywhere: a NumPy integer works wherever an int does (and a bool never does)."""
    from fastkm.backends.numpy_backend import NumpyBackend
    from fastkm.datasets import gaussian_board, uniform_board
    from fastkm.select_k import select_k

    X = uniform_board(np.int64(200), np.int32(2), random_state=np.uint8(1))
    assert X.shape == (200, 2)
    assert gaussian_board(np.int16(100), np.int64(3), np.uint16(2), random_state=0).X.shape == (100, 2)
    centroids, indices = fastkm.kmeans_plusplus(X, np.int64(3), n_local_trials=np.int64(3), random_state=0, backend="numpy")
    assert centroids.shape == (3, 2) and len(set(indices.tolist())) == 3
    backend = NumpyBackend(chunk_rows=np.int32(64))
    assert backend.chunk_rows == 64 and type(backend.chunk_rows) is int
    result = fastkm.kmeans(X, np.int8(3), n_init=np.int64(2), max_iter=np.uint32(50), random_state=np.int64(0), backend=backend)
    assert result.centroids.shape == (3, 2)
    assert select_k(X, range(1, 4), method="gap", n_refs=np.int32(2), random_state=0, backend="numpy").best_k >= 1
    for call in (lambda: NumpyBackend(chunk_rows=True), lambda: fastkm.kmeans(X, True, backend="numpy"),
                 lambda: select_k(X, range(1, 3), n_refs=np.float64(2.0))):  # fmt: skip
        with pytest.raises(TypeError, match="must be an integer"):
            call()

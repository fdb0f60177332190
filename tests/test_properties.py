"""Property tests: what holds for every input, found by hypothesis."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fastkm import kmeans
from fastkm.testing import near_tie_mask

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def problems(draw, min_samples=1, min_clusters=1, max_clusters=None):
    """Small data sets (possibly with duplicate points, possibly far from the origin), K <= N, a seed."""
    n_samples = draw(st.integers(min_samples, 40))
    n_features = draw(st.integers(1, 4))
    values = st.floats(-100, 100, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    X = draw(arrays(np.float64, (n_samples, n_features), elements=values))
    n_clusters = draw(st.integers(min_clusters, min(n_samples, max_clusters or n_samples)))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    offset = draw(st.sampled_from([0.0, 1e3] if dtype == np.float32 else [0.0, 1e4, 1e7]))
    return (X + offset).astype(dtype), n_clusters, seed


def _fit(X, n_clusters, **kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate points legitimately warn
        return kmeans(X, n_clusters, backend="numpy", **kwargs)


def _sq_dist(X, centroids):
    X64, C64 = X.astype(np.float64), centroids.astype(np.float64)
    return ((X64[:, None, :] - C64[None, :, :]) ** 2).sum(axis=2)


@SETTINGS
@given(problems(), st.sampled_from(["k-means++", "random"]))
def test_labels_are_in_range_and_each_point_has_its_nearest_centroid(problem, init):
    X, n_clusters, seed = problem
    result = _fit(X, n_clusters, init=init, random_state=seed)
    assert result.labels.shape == (len(X),) and result.labels.dtype == np.int32
    assert result.labels.min() >= 0 and result.labels.max() < n_clusters
    assert result.centroids.shape == (n_clusters, X.shape[1]) and result.centroids.dtype == X.dtype
    assert np.all(np.isfinite(result.centroids))
    sq_dist = _sq_dist(X, result.centroids)
    own = sq_dist[np.arange(len(X)), result.labels]
    # the near-tie band of the agreement policy (relative to the centred scale)
    near_ties = near_tie_mask(X, result.centroids)
    assert np.all((own == sq_dist.min(axis=1)) | near_ties)
    assert np.isclose(result.inertia, own.sum(), rtol=1e-5 if X.dtype == np.float32 else 1e-9, atol=1e-9)


@SETTINGS
@given(problems())
def test_inertia_never_increases_across_iterations(problem):
    X, n_clusters, seed = problem
    result = _fit(X, n_clusters, init="random", n_init=1, tol=0.0, random_state=seed)
    history = np.array(result.inertia_history + (result.inertia,))
    rtol = 1e-5 if X.dtype == np.float32 else 1e-9
    rounding = len(X) * np.finfo(X.dtype).eps * float(np.abs(X).max()) ** 2  # near-zero inertia
    assert np.all(np.diff(history) <= rtol * history[0] + rounding)


@st.composite
def continuous_problems(draw):
    """Points drawn around a few centres, so exact ties are (almost surely) absent."""
    n_samples, n_features = draw(st.integers(8, 60)), draw(st.integers(1, 4))
    n_clusters = draw(st.integers(2, min(6, n_samples - 2)))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    offset = draw(st.sampled_from([0.0, 1e3] if dtype == np.float32 else [0.0, 1e4, 1e7]))
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(n_clusters, n_features))
    X = centres[rng.integers(0, n_clusters, n_samples)] + rng.standard_normal((n_samples, n_features))
    return (X + offset).astype(dtype), n_clusters, seed


@settings(max_examples=100, deadline=None)
@given(continuous_problems(), st.randoms(use_true_random=False))
def test_permuting_rows_permutes_labels(problem, random):
    X, n_clusters, seed = problem
    init = X[np.random.default_rng(seed).choice(len(X), n_clusters, replace=False)]
    order = np.array(random.sample(range(len(X)), len(X)))

    ambiguous = []

    def watch(state):
        # Exact ties between centroids and empty clusters are broken by index,
        # which a permutation may legitimately change: only judge clear cases.
        labels = np.asarray(state.labels)
        if near_tie_mask(X, state.previous_centroids).any() or len(np.unique(labels)) < n_clusters:
            ambiguous.append(state.iteration)

    result = _fit(X, n_clusters, init=init, callback=watch, tol=0.0)
    permuted = _fit(X[order], n_clusters, init=init, callback=watch, tol=0.0)
    assume(not ambiguous)
    np.testing.assert_array_equal(permuted.labels, result.labels[order])
    np.testing.assert_allclose(permuted.centroids, result.centroids, rtol=1e-5, atol=1e-5)
    assert permuted.n_iter == result.n_iter

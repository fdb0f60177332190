"""fastkm (NumPy reference) matches scikit-learn's Lloyd from the same initial centroids."""

from __future__ import annotations

import numpy as np
import pytest

import fastkm
from fastkm.datasets import gaussian_board
from fastkm.testing import assert_fits_agree, fit_summary

from .conftest import make_separated

sklearn_cluster = pytest.importorskip("sklearn.cluster", reason="scikit-learn is the oracle here")

#: scikit-learn is a peer, not a fastkm backend: its sums run in its own order,
#: and for float32 data in float32 (``_inertia_dense``, ``_update_chunk_dense``),
#: so its float32 inertia and centroids carry about sqrt(N) float32 ulps of
#: rounding; ours are exact sums rounded once. float64: a few float64 ulps of
#: rounding per sum, over the ~100 iterations' worth of centroid updates.
PEER_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-12}


def _datasets():
    yield "separated-2d", *_separated(4000, 2, 6, seed=10)
    yield "separated-16d", *_separated(3000, 16, 12, seed=11)
    yield "separated-64d", *_separated(1500, 64, 20, seed=12)
    yield "far-from-origin", *_separated(2000, 3, 5, seed=13, offset=500.0)
    board = gaussian_board(3000, 4, random_state=1, spread=(0.02, 0.05))
    yield "tutorial-board", board.X, board.X[[0, 750, 1500, 2250]] + 0.01


def _separated(n_samples, n_features, n_clusters, *, seed, offset=0.0):
    X, _, _, init = make_separated(n_samples, n_features, n_clusters, seed=seed, offset=offset)
    return X, init


DATASETS = {name: (X, init) for name, X, init in _datasets()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_fit_as_sklearn(name, dtype):
    X, init = (array.astype(dtype) for array in DATASETS[name])
    n_clusters = len(init)
    theirs = sklearn_cluster.KMeans(n_clusters, init=init, n_init=1, algorithm="lloyd", tol=1e-4).fit(X)
    ours = fastkm.kmeans(X, n_clusters, init=init, tol=1e-4, backend="numpy")
    assert ours.centroids.dtype == dtype
    assert_fits_agree(X, fit_summary(theirs), ours, peer_rtol=PEER_RTOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_fit_as_sklearn_with_weights(dtype):
    X, init = (array.astype(dtype) for array in DATASETS["separated-16d"])
    weight = np.random.default_rng(0).uniform(0.1, 5.0, len(X)).astype(dtype)
    theirs = sklearn_cluster.KMeans(len(init), init=init, n_init=1).fit(X, sample_weight=weight)
    ours = fastkm.kmeans(X, len(init), init=init, sample_weight=weight, backend="numpy")
    assert_fits_agree(X, fit_summary(theirs), ours, peer_rtol=PEER_RTOL[np.dtype(dtype)])


def test_same_iterations_when_stopped_by_tol_or_max_iter():
    """Overlapping blobs need many iterations: the stopping rules must fire at the same step."""
    board = gaussian_board(5000, 6, random_state=3)
    init = board.X[:: len(board.X) // 6][:6]
    for tol, max_iter in [(1e-2, 300), (0.0, 7)]:
        theirs = sklearn_cluster.KMeans(6, init=init, n_init=1, tol=tol, max_iter=max_iter).fit(board.X)
        ours = fastkm.kmeans(board.X, 6, init=init, tol=tol, max_iter=max_iter, backend="numpy")
        assert ours.n_iter == theirs.n_iter_
        assert_fits_agree(board.X, fit_summary(theirs), ours, peer_rtol=PEER_RTOL[board.X.dtype])

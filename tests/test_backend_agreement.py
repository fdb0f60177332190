"""Every available backend agrees with the NumPy reference (fastkm.testing's policy).

A new backend joins these tests by being registered and available: see
``CANDIDATE_BACKENDS`` in conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastkm
from fastkm import get_backend
from fastkm.testing import assert_fits_agree, assert_step_agrees, to_numpy

from .conftest import make_separated

REFERENCE = get_backend("numpy")
DTYPES = [np.float32, np.float64]


def _step(backend, X, centroids, weight):
    return backend.assign_accumulate(backend.asarray(X), backend.asarray(centroids), backend.asarray(weight))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5000, 2, 8), (3000, 16, 64), (1500, 64, 33), (400, 300, 5)], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("offset", [0.0, 1e3], ids=["origin", "offset1e3"])
def test_one_step_on_random_data(candidate_backend, dtype, shape, weighted, offset):
    n_samples, n_features, n_clusters = shape
    rng = np.random.default_rng(n_features)
    X = (rng.standard_normal((n_samples, n_features)) + offset).astype(dtype)
    centroids = X[rng.choice(n_samples, n_clusters, replace=False)]
    weight = (rng.integers(0, 4, n_samples) if weighted else np.ones(n_samples)).astype(dtype)

    reference = _step(REFERENCE, X, centroids, weight)
    candidate = _step(candidate_backend, X, centroids, weight)
    assert_step_agrees(X, centroids, reference, candidate)
    # assign() must pick exactly the labels the hot step picked.
    labels, sq_dist = candidate_backend.assign(candidate_backend.asarray(X), candidate_backend.asarray(centroids))
    np.testing.assert_array_equal(to_numpy(labels), to_numpy(candidate.labels))
    np.testing.assert_allclose(float(to_numpy(sq_dist) @ weight.astype(np.float64)), float(candidate.inertia), rtol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pairwise_sq_distances(candidate_backend, dtype):
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((300, 7)).astype(dtype), rng.standard_normal((11, 7)).astype(dtype)
    expected = ((X[:, None, :].astype(np.float64) - Y[None, :, :]) ** 2).sum(axis=2)
    got = to_numpy(candidate_backend.pairwise_sq_distances(candidate_backend.asarray(X), candidate_backend.asarray(Y)))
    assert got.shape == (300, 11) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(4000, 2, 8), (3000, 16, 24), (1000, 64, 10), (600, 1, 4), (500, 3, 1), (12, 3, 12)],
    ids=["A-like", "B-like", "d64", "d1", "K1", "N=K"],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_whole_fit_on_separated_data(candidate_backend, dtype, shape, weighted):
    n_samples, n_features, n_clusters = shape
    X, _, _, init = make_separated(n_samples, n_features, n_clusters, dtype=dtype, seed=n_samples)
    weight = np.random.default_rng(2).uniform(0.5, 3.0, n_samples) if weighted else None
    kwargs = dict(init=init, sample_weight=weight, tol=1e-4)
    reference = fastkm.kmeans(X, n_clusters, backend=REFERENCE, **kwargs)
    candidate = fastkm.kmeans(X, n_clusters, backend=candidate_backend, **kwargs)
    assert reference.converged
    assert_fits_agree(X, reference, candidate)


@pytest.mark.parametrize("dtype, offset", [(np.float32, 1e3), (np.float64, 1e3), (np.float64, 1e7)])
@pytest.mark.parametrize("shape", [(3000, 4, 6), (2000, 32, 20)], ids=["small-dK", "large-dK"])
def test_whole_fit_far_from_origin(candidate_backend, dtype, offset, shape):
    """Blobs far from the origin: |x|^2 dwarfs the distances, the classic precision trap."""
    n_samples, n_features, n_clusters = shape
    X, _, _, init = make_separated(n_samples, n_features, n_clusters, dtype=dtype, seed=3, offset=offset)
    reference = fastkm.kmeans(X, n_clusters, init=init, backend=REFERENCE)
    candidate = fastkm.kmeans(X, n_clusters, init=init, backend=candidate_backend)
    assert_fits_agree(X, reference, candidate)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_cluster_relocation_agrees(candidate_backend, dtype):
    """A centroid far from every point loses all of them; both backends relocate it alike."""
    X, _, _, init = make_separated(2000, 3, 5, dtype=dtype, seed=4)
    init = init.copy()
    init[2] = 1e4  # nobody's nearest
    reference = fastkm.kmeans(X, 5, init=init, backend=REFERENCE)
    candidate = fastkm.kmeans(X, 5, init=init, backend=candidate_backend)
    assert np.bincount(reference.labels, minlength=5).min() > 0
    assert_fits_agree(X, reference, candidate)


def test_seeding_agrees(candidate_backend):
    """k-means++ and random seeding draw the same points on every backend."""
    X, _, _, _ = make_separated(3000, 5, 9, seed=5)
    for init in ("k-means++", "random"):
        reference = fastkm.kmeans(X, 9, init=init, random_state=7, n_init=2, backend=REFERENCE)
        candidate = fastkm.kmeans(X, 9, init=init, random_state=7, n_init=2, backend=candidate_backend)
        assert_fits_agree(X, reference, candidate)


def test_labels_buffer_is_updated_in_place_and_changes_are_counted(candidate_backend):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 3))
    centroids, weight = X[:7], np.ones(1000)
    xb, cb, wb = (candidate_backend.asarray(a) for a in (X, centroids, weight))
    fresh = candidate_backend.assign_accumulate(xb, cb, wb)
    assert int(fresh.n_changed) == 1000
    buffer = candidate_backend.asarray(np.full(1000, -1, dtype=np.int32))
    step = candidate_backend.assign_accumulate(xb, cb, wb, buffer)
    assert step.labels is buffer and int(step.n_changed) == 1000
    np.testing.assert_array_equal(to_numpy(buffer), to_numpy(fresh.labels))
    assert int(candidate_backend.assign_accumulate(xb, cb, wb, buffer).n_changed) == 0
    stale = to_numpy(buffer).copy()
    stale[[5, 50, 500]] = (stale[[5, 50, 500]] + 1) % 7
    buffer = candidate_backend.asarray(stale)
    assert int(candidate_backend.assign_accumulate(xb, cb, wb, buffer).n_changed) == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_seeding_step_agrees(candidate_backend, dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 6)).astype(dtype)
    weight = rng.uniform(0.0, 2.0, 3000).astype(dtype)
    candidates = X[[5, 500, 1500, 2999]]
    start = rng.uniform(0.5, 20.0, 3000)
    results = []
    for backend in (REFERENCE, candidate_backend):
        closest = backend.asarray(start.copy())
        best, potential = backend.seeding_step(backend.asarray(X), backend.asarray(candidates), closest, backend.asarray(weight))
        results.append((best, potential, to_numpy(closest)))
    (ref_best, ref_potential, ref_closest), (best, potential, closest) = results
    assert best == ref_best
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(potential, ref_potential, rtol=rtol)
    np.testing.assert_allclose(closest, ref_closest, rtol=rtol)
    assert np.all(closest <= start)  # only ever lowered


@pytest.mark.parametrize("dtype", DTYPES)
def test_labelled_sq_distances(candidate_backend, dtype):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2000, 5)).astype(dtype)
    centroids = X[:7]
    labels = rng.integers(0, 7, 2000).astype(np.int32)
    expected = ((X.astype(np.float64) - centroids.astype(np.float64)[labels]) ** 2).sum(axis=1)
    got = to_numpy(candidate_backend.labelled_sq_distances(*(candidate_backend.asarray(a) for a in (X, centroids, labels))))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12)

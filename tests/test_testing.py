"""The agreement helpers catch what they exist to catch: one bit is a difference."""

import dataclasses

import numpy as np
import pytest

import fastkm
from fastkm.backends import get_backend
from fastkm.testing import assert_fits_agree, assert_step_agrees, assert_step_is_canonical, canonical_assignment

from .conftest import make_separated

NUMPY = get_backend("numpy")


def _step():
    X = np.random.default_rng(0).standard_normal((2000, 4)).astype(np.float32)
    centroids = X[:6]
    return X, centroids, NUMPY.assign_accumulate(X, centroids, np.ones(2000, np.float32))


def test_step_check_catches_a_wrong_label():
    X, centroids, step = _step()
    labels = step.labels.copy()
    labels[10] = (labels[10] + 1) % 6
    with pytest.raises(AssertionError, match="labels differ in 1 of 2000"):
        assert_step_agrees(X, centroids, step, step._replace(labels=labels))
    with pytest.raises(AssertionError, match="labels differ"):
        assert_step_is_canonical(X, centroids, step._replace(labels=labels))


def test_step_check_catches_one_ulp_of_sums_or_inertia():
    X, centroids, step = _step()
    assert_step_agrees(X, centroids, step, step)
    with pytest.raises(AssertionError, match="inertia"):
        assert_step_agrees(X, centroids, step, step._replace(inertia=np.nextafter(step.inertia, np.inf)))
    sums = step.sums.copy()
    sums[3, 1] = np.nextafter(sums[3, 1], -np.inf)
    with pytest.raises(AssertionError, match="sums differ in 1 of 24"):
        assert_step_agrees(X, centroids, step, step._replace(sums=sums))


def test_canonical_check_catches_wrong_totals_and_a_broken_tie():
    X = np.array([[0.0], [1.0], [2.0]])
    centroids = np.array([[0.0], [2.0]])
    step = NUMPY.assign_accumulate(X, centroids, None)
    assert_step_is_canonical(X, centroids, step)
    with pytest.raises(AssertionError):
        assert_step_is_canonical(X, centroids, step._replace(inertia=step.inertia * (1 + 1e-9)))
    with pytest.raises(AssertionError, match="labels differ"):  # the tie given to the higher index
        assert_step_is_canonical(X, centroids, step._replace(labels=np.array([0, 1, 1], dtype=np.int32)))
    assert canonical_assignment(X, centroids)[0].tolist() == [0, 0, 1]


def test_fit_check_catches_a_different_iteration_count_labels_or_one_ulp():
    X, _, _, init = make_separated(500, 2, 3, seed=1)
    result = fastkm.kmeans(X, 3, init=init, backend="numpy")
    assert_fits_agree(X, result, result)
    with pytest.raises(AssertionError, match="n_iter"):
        assert_fits_agree(X, result, dataclasses.replace(result, n_iter=result.n_iter + 1))
    with pytest.raises(AssertionError, match="labels differ"):
        assert_fits_agree(X, result, dataclasses.replace(result, labels=(result.labels + 1) % 3))
    centroids = result.centroids.copy()
    centroids[0, 0] = np.nextafter(centroids[0, 0], np.inf)
    with pytest.raises(AssertionError, match="centroids differ"):
        assert_fits_agree(X, result, dataclasses.replace(result, centroids=centroids))
    # a peer's fit is held to its stated tolerance, with no absolute term beside it
    assert_fits_agree(X, result, dataclasses.replace(result, inertia=result.inertia * (1 + 1e-13)), peer_rtol=1e-12)
    with pytest.raises(AssertionError, match="inertia"):
        assert_fits_agree(X, result, dataclasses.replace(result, inertia=result.inertia * (1 + 1e-11)), peer_rtol=1e-12)

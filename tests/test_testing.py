"""The agreement helpers catch what they exist to catch."""

import dataclasses

import numpy as np
import pytest

import fastkm
from fastkm.backends import get_backend
from fastkm.testing import assert_fits_agree, assert_step_agrees

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
    with pytest.raises(AssertionError, match="labels differ outside near-ties"):
        assert_step_agrees(X, centroids, step, step._replace(labels=labels))


def test_step_check_catches_wrong_sums_and_inertia():
    X, centroids, step = _step()
    with pytest.raises(AssertionError):
        assert_step_agrees(X, centroids, step, step._replace(inertia=step.inertia * (1 + 1e-3)))
    with pytest.raises(AssertionError):
        assert_step_agrees(X, centroids, step, step._replace(sums=step.sums * (1 + 1e-3)))


def test_fit_check_catches_a_different_iteration_count_or_labels():
    X, _, _, init = make_separated(500, 2, 3, seed=1)
    result = fastkm.kmeans(X, 3, init=init, backend="numpy")
    assert_fits_agree(X, result, result)
    with pytest.raises(AssertionError, match="n_iter"):
        assert_fits_agree(X, result, dataclasses.replace(result, n_iter=result.n_iter + 1))
    with pytest.raises(AssertionError, match="labels differ"):
        assert_fits_agree(X, result, dataclasses.replace(result, labels=(result.labels + 1) % 3))

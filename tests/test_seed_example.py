"""The worked example from the code review that fastkm grew out of."""

import numpy as np

import fastkm
from fastkm.backends import get_backend

DATA = np.array([[12, 10, 87], [2, 12, 33], [68, 31, 32], [88, 13, 66], [79, 40, 89], [1, 77, 12]])
CLUSTERS = np.array([1, 1, 2, 2, 0, 1])
CENTROIDS = np.array([[79, 40, 89], [5, 33, 44], [78, 22, 49]])


def test_cluster_means_are_the_seed_centroids():
    """One accumulate step with these clusters gives exactly the seed's centroids."""
    step = get_backend("numpy").assign_accumulate(DATA.astype(float), CENTROIDS.astype(float), np.ones(6))
    np.testing.assert_array_equal(step.labels, CLUSTERS)
    np.testing.assert_array_equal(step.counts, [1, 3, 2])
    np.testing.assert_array_equal(step.sums / step.counts[:, None], CENTROIDS)


def test_seed_centroids_are_a_fixed_point():
    result = fastkm.kmeans(DATA, 3, init=CENTROIDS, backend="numpy")
    np.testing.assert_array_equal(result.labels, CLUSTERS)
    np.testing.assert_array_equal(result.centroids, CENTROIDS)
    assert result.centroids.dtype == np.float64  # integer data becomes float64
    expected_inertia = sum(((DATA[i] - CENTROIDS[c]) ** 2).sum() for i, c in enumerate(CLUSTERS))
    assert result.inertia == expected_inertia
    assert result.converged and result.n_iter == 1

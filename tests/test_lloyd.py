"""The driver: stopping rules, empty clusters, n_init, seeding, callbacks."""

from __future__ import annotations

import numpy as np
import pytest

import fastkm
from fastkm import kmeans
from fastkm.backends import get_backend
from fastkm.datasets import gaussian_board
from fastkm.lloyd import LloydIteration, _same_partition, lloyd

from .conftest import make_separated

NUMPY = get_backend("numpy")
BOARD = gaussian_board(3000, 6, random_state=5)  # overlapping blobs: many iterations


def test_max_iter_stops_and_reports_not_converged():
    result = kmeans(BOARD.X, 6, tol=0.0, max_iter=3, random_state=0, backend="numpy")
    assert (result.n_iter, result.converged) == (3, False)
    assert len(result.inertia_history) == 3


def test_a_loose_tol_stops_earlier_than_a_strict_one():
    loose = kmeans(BOARD.X, 6, tol=1e-1, random_state=0, backend="numpy")
    strict = kmeans(BOARD.X, 6, tol=0.0, random_state=0, backend="numpy")
    assert loose.converged and strict.converged
    assert loose.n_iter < strict.n_iter
    assert strict.inertia <= loose.inertia


def test_tol_zero_stops_when_labels_stop_changing():
    result = kmeans(BOARD.X, 6, tol=0.0, random_state=1, backend="numpy")
    assert result.converged
    # one more step from the result changes nothing: a true fixed point
    again = kmeans(BOARD.X, 6, init=result.centroids, tol=0.0, backend="numpy")
    assert again.n_iter == 1
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_array_equal(again.centroids, result.centroids)


def _brute_force(X, centroids):
    """Labels and squared distances by plain float64 differences: an independent oracle."""
    sq_dist = ((X[:, None, :].astype(np.float64) - centroids[None, :, :].astype(np.float64)) ** 2).sum(axis=2)
    return sq_dist.argmin(axis=1), sq_dist.min(axis=1)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("offset", [0.0, 1e6, 1e8])
@pytest.mark.parametrize("tol, max_iter", [(1e-4, 300), (0.0, 300), (0.0, 4), (0.5, 300)])
def test_labels_and_inertia_belong_to_the_returned_centroids(tol, max_iter, offset, backend):
    """Checked by brute force, also far from the origin where |x|^2 dwarfs the distances."""
    X = BOARD.X + offset
    result = kmeans(X, 6, tol=tol, max_iter=max_iter, random_state=2, backend=backend)
    labels, sq_dist = _brute_force(X, result.centroids)
    np.testing.assert_array_equal(result.labels, labels)
    assert result.inertia == pytest.approx(sq_dist.sum(), rel=1e-9)


def test_inertia_history_never_increases():
    result = kmeans(BOARD.X, 6, tol=0.0, random_state=3, backend="numpy")
    history = np.array(result.inertia_history)
    assert len(history) == result.n_iter > 5
    assert np.all(np.diff(history) <= 1e-9 * history[0])
    assert result.inertia <= history[-1] * (1 + 1e-12)


def test_centroid_shift_rule_uses_scikit_learn_scale():
    """tol is relative to the mean per-feature variance: scaling X must not change n_iter."""
    a = kmeans(BOARD.X, 6, tol=1e-3, random_state=4, backend="numpy")
    b = kmeans(BOARD.X * 1000.0, 6, tol=1e-3, random_state=4, backend="numpy")
    assert a.n_iter == b.n_iter
    np.testing.assert_array_equal(a.labels, b.labels)


def test_n_init_keeps_the_best_partition():
    best_of_5 = kmeans(BOARD.X, 6, init="random", n_init=5, random_state=9, backend="numpy")
    # n_init runs draw from one generator, run after run
    rng = np.random.default_rng(9)
    single = [kmeans(BOARD.X, 6, init="random", n_init=1, random_state=rng, backend="numpy") for _ in range(5)]
    inertias = [run.inertia for run in single]
    assert len(set(np.round(inertias, 3))) > 1  # the runs really differ
    winner = single[int(np.argmin(inertias))]
    # the lowest-inertia partition wins (found first by an earlier run with the same partition, maybe)
    assert _same_partition(best_of_5.labels, winner.labels, 6, get_backend("numpy"))
    assert best_of_5.inertia == pytest.approx(winner.inertia, rel=1e-4)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_random_state_makes_fits_reproducible(init):
    a = kmeans(BOARD.X, 6, init=init, random_state=11, backend="numpy")
    b = kmeans(BOARD.X, 6, init=init, random_state=11, backend="numpy")
    c = kmeans(BOARD.X, 6, init=init, random_state=12, backend="numpy")
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert not np.array_equal(a.centroids, c.centroids)


def test_n_init_auto_follows_scikit_learn():
    calls = []

    def init(X, n_clusters, random_state):
        calls.append(1)
        return X[random_state.choice(len(X), n_clusters, replace=False)]

    kmeans(BOARD.X, 3, init=init, random_state=0, backend="numpy")
    assert len(calls) == 10  # "auto" = 10 for callables and random
    calls.clear()
    kmeans(BOARD.X, 3, init=init, n_init=2, random_state=0, backend="numpy")
    assert len(calls) == 2


@pytest.mark.filterwarnings("ignore::fastkm.ConvergenceWarning")  # one iteration may leave a cluster empty
def test_kmeans_plusplus_beats_random_seeding_on_average():
    X, _, _, _ = make_separated(2000, 2, 15, seed=8)
    plus = [kmeans(X, 15, init="k-means++", max_iter=1, random_state=s, backend="numpy").inertia for s in range(8)]
    rand = [kmeans(X, 15, init="random", n_init=1, max_iter=1, random_state=s, backend="numpy").inertia for s in range(8)]
    assert np.mean(plus) < 0.7 * np.mean(rand)


def test_kmeans_plusplus_seeds_come_from_distinct_far_apart_points():
    X, labels, _, _ = make_separated(3000, 3, 10, seed=6)
    centroids, indices = fastkm.kmeans_plusplus(X, 10, random_state=0, backend="numpy")
    np.testing.assert_array_equal(centroids, X[indices])
    assert len(set(labels[indices])) == 10  # one seed in each blob


def test_kmeans_plusplus_never_picks_zero_weight_points():
    X = np.random.default_rng(0).standard_normal((200, 2))
    weight = np.zeros(200)
    weight[:20] = 1.0
    for seed in range(5):
        _, indices = fastkm.kmeans_plusplus(X, 5, sample_weight=weight, random_state=seed, backend="numpy")
        assert indices.max() < 20


@pytest.mark.parametrize("init", ["k-means++", "k-means||"])
def test_seeding_puts_one_seed_in_each_separated_blob(init):
    X, labels, _, _ = make_separated(3000, 3, 10, seed=6)
    for seed in range(3):
        seeds = fastkm.kmeans(X, 10, init=init, max_iter=1, random_state=seed, backend="numpy").inertia_history[0]
        reference = fastkm.kmeans(X, 10, init=X[[np.flatnonzero(labels == k)[0] for k in range(10)]], max_iter=1,
                                  backend="numpy").inertia_history[0]  # fmt: skip
        assert seeds < 3 * reference  # a blob without a seed would cost far more than this


def test_kmeans_parallel_draws_by_weight_and_row_not_by_order_of_work():
    X = np.random.default_rng(0).standard_normal((500, 2))
    weight = np.zeros(500)
    weight[100:140] = 1.0
    for seed in range(4):
        centroids = fastkm.kmeans_parallel(X, 5, sample_weight=weight, random_state=seed, backend="numpy")
        assert all(any(np.array_equal(c, x) for x in X[100:140]) for c in centroids)  # only weighted rows
    a = fastkm.kmeans_parallel(X, 5, random_state=3, n_rounds=2, backend="numpy")
    np.testing.assert_array_equal(a, fastkm.kmeans_parallel(X, 5, random_state=3, n_rounds=2, backend="numba"))
    assert not np.array_equal(a, fastkm.kmeans_parallel(X, 5, random_state=4, n_rounds=2, backend="numpy"))


def test_kmeans_parallel_with_fewer_distinct_points_than_clusters():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]]), 50, axis=0)
    centroids = fastkm.kmeans_parallel(X, 5, random_state=0, backend="numpy")
    assert centroids.shape == (5, 2)
    assert {tuple(c) for c in centroids} == {(0.0, 0.0), (5.0, 5.0), (9.0, 0.0)}  # every distinct point, some twice
    with pytest.warns(fastkm.ConvergenceWarning, match="distinct clusters"):
        fastkm.kmeans(X, 5, init="k-means||", random_state=0, backend="numpy")


def test_sample_weight_equals_repeating_points():
    """Integer weights are repetitions: same centroids and inertia from the same start."""
    X, _, _, init = make_separated(300, 2, 4, seed=7)
    weight = np.random.default_rng(1).integers(0, 4, len(X))
    weighted = kmeans(X, 4, init=init, sample_weight=weight, backend="numpy")
    repeated = kmeans(np.repeat(X, weight, axis=0), 4, init=init, backend="numpy")
    np.testing.assert_allclose(weighted.centroids, repeated.centroids, rtol=1e-12)
    assert weighted.inertia == pytest.approx(repeated.inertia, rel=1e-12)
    assert weighted.n_iter == repeated.n_iter


def test_empty_cluster_takes_the_farthest_point():
    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]])
    init = np.array([[1.0], [11.0], [100.0]])  # cluster 2 gets nobody
    step = NUMPY.assign_accumulate(X, init, np.ones(6))
    assert step.counts[2] == 0
    result = lloyd(X, init, np.ones(6), backend=NUMPY, max_iter=1)
    # 30 is farthest from its centroid (11): it moves to the empty cluster
    np.testing.assert_allclose(result.centroids.ravel(), [1.0, 10.5, 30.0])


def test_relocation_never_empties_the_donor_cluster():
    X = np.array([[0.0], [0.5], [50.0]])
    init = np.array([[0.25], [40.0], [1000.0]])
    # 50 is farthest from its centroid, but it is cluster 1's only point
    result = lloyd(X, init, np.ones(3), backend=NUMPY, max_iter=1)
    np.testing.assert_allclose(sorted(result.centroids.ravel()), [0.0, 0.5, 50.0])
    assert np.bincount(result.labels, minlength=3).min() == 1


def test_relocation_with_fractional_weights_never_drains_a_cluster():
    """Weights 0.1 + 0.2 - 0.1 - 0.2 is not 0 in floating point: count points, not weights."""
    X = np.array([[3.0], [7.0], [100.0], [100.0]])
    weight = np.array([0.1, 0.2, 1.0, 1.0])
    init = np.array([[5.0], [100.0], [1000.0], [2000.0]])
    result = lloyd(X, init, weight, backend=NUMPY, max_iter=1)
    # 3 (row 0 wins the tie with 7) moves to the first empty cluster; 7 is then
    # cluster 0's last point and stays; the second empty cluster keeps its centroid
    np.testing.assert_allclose(result.centroids.ravel(), [7.0, 100.0, 3.0, 2000.0], rtol=1e-12)


def test_n_init_keeps_the_first_of_runs_that_find_the_same_partition():
    X, _, _, _ = make_separated(3000, 2, 4, seed=9)
    first = kmeans(X, 4, init="k-means++", random_state=np.random.default_rng(3), backend="numpy")
    best = kmeans(X, 4, init="k-means++", n_init=6, random_state=3, backend="numpy")
    np.testing.assert_array_equal(best.labels, first.labels)  # not a renamed copy from a later run


def test_relocation_ties_go_to_the_lowest_row():
    X = np.array([[-1.0], [1.0], [-1.0], [1.0]])
    init = np.array([[0.0], [500.0]])
    result = lloyd(X, init, np.ones(4), backend=NUMPY, max_iter=1)
    assert result.centroids[1, 0] == -1.0  # row 0 wins the four-way tie


def test_callback_sees_every_iteration():
    seen: list[LloydIteration] = []
    result = kmeans(BOARD.X, 6, random_state=0, callback=seen.append, backend="numpy")
    assert [state.iteration for state in seen] == list(range(1, result.n_iter + 1))
    assert [state.inertia for state in seen] == list(result.inertia_history)
    for before, after in zip(seen, seen[1:]):
        np.testing.assert_array_equal(after.previous_centroids, before.centroids)


def test_result_records_the_backend():
    assert kmeans(BOARD.X, 2, random_state=0, backend="numpy").backend == "numpy"


def test_weighted_draw_follows_the_mass_and_never_draws_a_zero():
    from fastkm.init import _weighted_draw

    weight = np.array([0.0, 1.0, 3.0, 0.0, 4.0, 0.0])
    factor = np.array([5.0, 1.0, 1.0, 2.0, 0.5, 0.0])  # mass = [0, 1, 3, 0, 2, 0]
    uniforms = np.random.default_rng(0).uniform(size=60000)
    drawn = _weighted_draw(6, weight, factor, uniforms, np)
    counts = np.bincount(drawn, minlength=6)
    assert counts[[0, 3, 5]].sum() == 0
    np.testing.assert_allclose(counts[[1, 2, 4]] / len(uniforms), [1 / 6, 3 / 6, 2 / 6], atol=0.01)
    # the very top of the range (u -> 1) still lands on a row with mass
    assert _weighted_draw(6, weight, factor, np.array([1.0]), np)[0] == 4


def test_weighted_draw_with_no_mass_left_falls_back_to_the_weights():
    from fastkm.init import _weighted_draw

    weight = np.array([1.0, 1.0, 0.0])
    drawn = _weighted_draw(3, weight, np.zeros(3), np.linspace(0, 1, 50), np)
    assert set(drawn.tolist()) <= {0, 1}


def test_seeding_on_points_that_all_coincide_with_centres_skips_zero_weights():
    X = np.array([[0.0], [0.0], [0.0], [100.0]])
    with pytest.warns(fastkm.ConvergenceWarning):
        result = kmeans(X, 3, sample_weight=[1.0, 1.0, 1.0, 0.0], random_state=0, backend="numpy")
    # weight * D^2 is zero everywhere after the first seed: the weightless outlier is never a centre
    np.testing.assert_array_equal(result.centroids, np.zeros((3, 1)))

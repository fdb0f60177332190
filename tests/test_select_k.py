"""Choosing K: each method finds the K of well-separated boards; the gap statistic says 1 on uniform data."""

from __future__ import annotations

import numpy as np
import pytest

from fastkm.datasets import gaussian_board, uniform_board
from fastkm.select_k import METHODS, select_k


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("true_k, seed", [(3, 0), (5, 1)])
def test_each_method_recovers_the_number_of_blobs(method, true_k, seed):
    board = gaussian_board(1500, true_k, spread=(0.03, 0.06), random_state=seed)
    result = select_k(board.X, range(1, 9), method=method, random_state=0)
    assert result.best_k == true_k, f"{method}: scores {np.round(result.scores, 3).tolist()}"
    assert result.k_values == tuple(range(1, 9)) and result.scores.shape == (8,)
    # the data's own inertia: the last big drop is at the true K
    assert result.inertia[true_k - 1] < 0.2 * result.inertia[true_k - 2]
    assert result.inertia[true_k] > 0.5 * result.inertia[true_k - 1]


@pytest.mark.parametrize("reference", ["box", "pca"])
def test_gap_statistic_says_one_on_uniform_data(reference):
    """No structure, K = 1: always in 5-D; in 2-D (where a uniform square is the reference itself)
    the rule's error bar lets a few data sets through, as the paper's own null simulations show."""
    def chosen(n_features, seed):
        X = uniform_board(1000, n_features, random_state=seed)
        return select_k(X, range(1, 7), method="gap", reference=reference, random_state=100 + seed).best_k

    assert [chosen(5, seed) for seed in range(5)] == [1] * 5
    assert sum(chosen(2, seed) == 1 for seed in range(10)) >= 8


def test_gap_statistic_details():
    board = gaussian_board(800, 3, spread=(0.03, 0.05), random_state=4)
    result = select_k(board.X, range(1, 6), method="gap", n_refs=4, random_state=0)
    assert result.errors.shape == (5,) and np.all(result.errors >= 0)
    k = result.best_k
    gap = dict(zip(result.k_values, result.scores))
    err = dict(zip(result.k_values, result.errors))
    assert gap[k] >= gap[k + 1] - err[k + 1]  # the rule holds at the chosen K
    assert all(gap[j] < gap[j + 1] - err[j + 1] for j in range(1, k))  # and at no smaller K
    rule = dict(zip(result.k_values, result.gap_rule))
    assert all(rule[j] == pytest.approx(gap[j] - gap[j + 1] + err[j + 1]) for j in range(1, 5))
    assert np.isfinite(rule[5])  # K = 6 was fitted for the rule at K = 5
    assert k == next(j for j in result.k_values if rule[j] >= 0)


def test_gap_plot_shows_the_rule_where_the_error_bars_are_too_small_to_see():
    matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    matplotlib.use("Agg")
    board = gaussian_board(800, 3, spread=(0.03, 0.05), random_state=4)
    result = select_k(board.X, range(1, 6), method="gap", n_refs=4, random_state=0)
    assert result.errors.max() < 0.05 * np.ptp(result.scores)  # the bars alone would be a few pixels
    for ax in (result.plot(), result.plot(ax=matplotlib.pyplot.subplots()[1])):  # its own figure, or a given Axes
        panels = ax.figure.axes
        assert len(panels) == 2 and panels[0] is ax
        bars = panels[1].patches
        np.testing.assert_allclose([bar.get_height() for bar in bars], result.gap_rule)
        assert [bar.get_x() + bar.get_width() / 2 for bar in bars] == list(result.k_values)
        chosen = result.k_values.index(result.best_k)
        assert bars[chosen].get_height() >= 0 and all(bar.get_height() < 0 for bar in bars[:chosen])
        assert ax.figure.get_size_inches()[1] >= 4.0
        matplotlib.pyplot.close(ax.figure)


def test_callback_counts_every_fit():
    X = uniform_board(300, 2, random_state=0)
    seen = []
    select_k(X, range(1, 4), method="gap", n_refs=2, random_state=0, callback=lambda done, total, k: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == len(seen) == (3 + 1) * (1 + 2)  # K = 1..4 (4 for the rule), data + 2 refs


def test_result_plot():
    matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    matplotlib.use("Agg")
    board = gaussian_board(600, 3, spread=(0.03, 0.05), random_state=4)
    ax = select_k(board.X, range(1, 6), method="silhouette", random_state=0).plot()
    assert ax.get_title() == "silhouette: K = 3"
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(method="bic"), ValueError, "method must be one of"),
        (dict(k_range=[1, 3, 4]), ValueError, "consecutive increasing"),
        (dict(k_range=[]), ValueError, "k_range is empty"),
        (dict(k_range="abc"), TypeError, "iterable of integers"),
        (dict(k_range=range(1, 500)), ValueError, "cannot exceed N"),
        (dict(n_refs=0), ValueError, "n_refs must be a positive integer"),
        (dict(reference="sphere"), ValueError, "reference must be 'box' or 'pca'"),
        (dict(method="elbow", k_range=range(1, 3)), ValueError, "at least 3 values of K"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    X = uniform_board(100, 2, random_state=0)
    with pytest.raises(error, match=match):
        select_k(X, **{"k_range": range(1, 5), **kwargs})


def test_f_of_k_needs_two_features():
    with pytest.raises(ValueError, match="at least 2 features"):
        select_k(uniform_board(100, 1, random_state=0), range(1, 4), method="fK")


def test_silhouette_matches_scikit_learn_even_when_a_cluster_is_missing():
    from sklearn.metrics import silhouette_score

    from fastkm.select_k import _mean_silhouette

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(6, 1, (40, 3)), [[20.0, 20.0, 20.0]]])
    labels = np.array([0] * 60 + [1] * 40 + [2])
    np.testing.assert_allclose(_mean_silhouette(X, labels, 3), silhouette_score(X, labels), rtol=1e-10)
    # cluster 2 absent from the sample: it is nobody's nearest other cluster
    np.testing.assert_allclose(_mean_silhouette(X[:100], labels[:100], 3), silhouette_score(X[:100], labels[:100]), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pca_references_with_fewer_points_than_features(dtype):
    """N < d: the data span only N - 1 directions; the references are drawn in the box of those
    principal axes, so they lie in the data's own affine plane, like the data, and fill that box."""
    from fastkm.select_k import _reference_sampler

    X = np.random.default_rng(0).normal(size=(5, 8)).astype(dtype)
    data = X.astype(np.float64)
    mean = data.mean(axis=0)
    centred = data - mean
    # an orthonormal basis of the plane the centred data span (rank 4) and of the rotated box
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    plane = vt[singular > 1e-6 * singular[0]]
    assert plane.shape == (4, 8)
    coords = centred @ plane.T
    low, high = coords.min(axis=0), coords.max(axis=0)
    draw = _reference_sampler(X, "pca")
    rng = np.random.default_rng(1)
    draws = [draw(rng) for _ in range(200)]
    tol = 1e-4 if dtype == np.float32 else 1e-9
    scale = np.abs(centred).max()
    for Z in draws:
        assert Z.shape == X.shape and Z.dtype == X.dtype
        offset = Z.astype(np.float64) - mean
        inside = offset @ plane.T
        # nothing off the data's plane (the box of a null direction is a single value)...
        np.testing.assert_allclose(offset - inside @ plane, 0.0, atol=tol * scale)
        # ...and inside the box of the data's principal coordinates
        assert np.all(inside >= low - tol * scale) and np.all(inside <= high + tol * scale)
    assert not np.array_equal(draws[0], draws[1])  # fresh draws
    every = np.concatenate([Z.astype(np.float64) - mean for Z in draws]) @ plane.T
    covered = (every.max(axis=0) - every.min(axis=0)) / (high - low)
    assert np.all(covered > 0.95), covered  # uniform in the whole box, not a corner of it

    result = select_k(X, range(1, 3), method="gap", reference="pca", n_refs=3, random_state=0)
    assert np.all(np.isfinite(result.scores)) and np.all(np.isfinite(result.errors))
    assert np.all(result.errors >= 0) and np.any(result.errors > 0)  # the references differ
    # K = 1: the data's inertia is its total sum of squares about the mean
    assert result.inertia[0] == pytest.approx((centred**2).sum(), rel=1e-5)


def test_f_of_k_ignores_one_cluster_per_point():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    result = select_k(X, range(1, 5), method="fK", random_state=0)
    assert np.isnan(result.scores[-1]) and result.best_k == 2

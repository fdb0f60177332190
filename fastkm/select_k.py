"""Choosing K: the gap statistic, the f(K) method, the elbow and the silhouette.

``select_k(X, range(1, 11), method="gap")`` fits k-means for every K (on any
backend: the gap statistic is many fits, a showcase for a fast one) and
returns a :class:`SelectKResult` with the score of every K, the chosen K and
a ``plot()`` helper.

* **gap** (Tibshirani, Walther & Hastie 2001): ``Gap(k) = E*[log W*_k] -
  log W_k``, the expectation over ``n_refs`` reference sets drawn uniformly
  in the data's bounding box (or in the box aligned with its principal axes,
  ``reference="pca"``), ``W_k`` the within-cluster sum of squares (the
  inertia). The chosen K is the smallest k with ``Gap(k) >= Gap(k+1) -
  s_{k+1}``, ``s_k = sd_k sqrt(1 + 1/B)``. On data with no clusters it says 1.
* **fK** (Pham, Dimov & Nguyen 2005): ``f(K) = S_K / (alpha_K S_{K-1})``
  with ``alpha_2 = 1 - 3/(4 N_d)`` and ``alpha_K = alpha_{K-1} + (1 -
  alpha_{K-1}) / 6``; the chosen K minimises f, and K = 1 is chosen when no
  f(K) falls below 0.85 (the paper's threshold for real structure).
* **elbow**: the knee of the log-inertia curve: the K farthest below the
  chord joining its two ends, both axes scaled to [0, 1] (on a log scale the
  drop at the true K stands out from the steady decline before it).
* **silhouette**: the mean silhouette on a sample of ``silhouette_samples``
  points (distances a block at a time: memory O(sample x K)); the chosen K
  maximises it.

>>> from fastkm.datasets import gaussian_board
>>> board = gaussian_board(1200, 4, spread=(0.03, 0.05), random_state=3)
>>> select_k(board.X, range(1, 8), method="elbow", random_state=0).best_k
4
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .backends.base import to_host

__all__ = ["DEFAULT_K_RANGE", "METHODS", "SelectKResult", "select_k"]

logger = logging.getLogger("fastkm")

METHODS = ("gap", "fK", "elbow", "silhouette")
#: The K tried when none are given (``select_k`` and ``fastkm select-k``).
DEFAULT_K_RANGE = range(1, 11)
_DESCRIPTION = {
    "gap": "gap statistic Gap(k) (error bars: s_k)",
    "fK": "f(K) (lower is better; < 0.85: structure)",
    "elbow": "distance of the log-inertia curve below its chord",
    "silhouette": "mean silhouette (higher is better)",
}


@dataclass(frozen=True)
class SelectKResult:
    """The score of every K tried and the K a method chose."""

    method: str
    k_values: tuple[int, ...]
    """The K tried, increasing."""
    scores: np.ndarray
    """The method's score for each K (NaN where it is undefined, e.g. the silhouette at K = 1)."""
    best_k: int
    """The K the method's rule picks."""
    inertia: np.ndarray
    """The within-cluster sum of squares of the best fit at each K (the data's own, not the references')."""
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """gap: ``s_k`` of each K (the error bars of the rule); empty for the other methods."""
    gap_rule: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """gap: ``Gap(k) - (Gap(k+1) - s_{k+1})`` for each K (the rule picks the first K where it is >= 0;
    NaN where K + 1 could not be fitted); empty for the other methods."""

    def plot(self, ax=None):
        """Score against K, the chosen K marked; returns the ``Axes``.

        For the gap statistic the error bars ``s_k`` are usually far smaller
        than the curve's range, so a second panel below shows what the rule
        compares, ``Gap(k) - (Gap(k+1) - s_{k+1})`` (Tibshirani et al.'s
        diagnostic): the chosen K is the first bar at or above zero.
        """
        from .plot import _new_axes, _pyplot

        rule_ax = None
        if ax is None and self.gap_rule.size:
            _, (ax, rule_ax) = _pyplot().subplots(2, 1, sharex=True, figsize=(6.4, 5.6), height_ratios=(2, 1),
                                                  layout="constrained")  # fmt: skip
        ax = _new_axes(ax, figsize=(6.4, 4.0))
        ks = np.asarray(self.k_values)
        if self.errors.size:
            ax.errorbar(ks, self.scores, yerr=self.errors, marker="o", capsize=4, elinewidth=1.5)
        else:
            ax.plot(ks, self.scores, marker="o")
        chosen = ks == self.best_k
        if chosen.any():
            ax.plot(ks[chosen], self.scores[chosen], marker="o", markersize=14, fillstyle="none", color="crimson")
        ax.axvline(self.best_k, color="crimson", linestyle=":", linewidth=1)
        ax.set_xlabel("K (clusters)")
        ax.set_ylabel(_DESCRIPTION[self.method])
        ax.set_title(f"{self.method}: K = {self.best_k}")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
        if self.gap_rule.size:
            self._plot_gap_rule(ax, rule_ax, ks)
        return ax

    def _plot_gap_rule(self, ax, rule_ax, ks: np.ndarray) -> None:
        """The rule's panel: ``rule_ax``, or one carved out of the bottom of a caller's ``ax``."""
        if rule_ax is None:
            from mpl_toolkits.axes_grid1 import make_axes_locatable

            rule_ax = make_axes_locatable(ax).append_axes("bottom", size="45%", pad=0.45, sharex=ax)
        known = np.isfinite(self.gap_rule)
        colours = np.where(self.gap_rule[known] >= 0, "tab:green", "tab:gray")
        rule_ax.bar(ks[known], self.gap_rule[known], color=colours, width=0.6)
        rule_ax.axhline(0.0, color="black", linewidth=0.8)
        rule_ax.axvline(self.best_k, color="crimson", linestyle=":", linewidth=1)
        rule_ax.set_ylabel("Gap(k) - Gap(k+1)\n+ s(k+1)", fontsize=8)
        rule_ax.set_xlabel("K (clusters)")
        rule_ax.grid(alpha=0.3)
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")


def select_k(
    X: Any,
    k_range: Any = DEFAULT_K_RANGE,
    *,
    method: str = "gap",
    n_refs: int = 10,
    reference: str = "box",
    silhouette_samples: int = 5000,
    random_state: Any = None,
    backend: Any = None,
    callback: Callable[[int, int, int], Any] | None = None,
    **kmeans_options: Any,
) -> SelectKResult:
    """Fit k-means at every K of ``k_range`` and pick K by ``method``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    k_range : iterable of int
        Consecutive, increasing K, starting at 1 or more (``range(1, 16)``).
        The gap rule compares k with k + 1, and f(K) needs K - 1: the fits they
        need beyond ``k_range`` are made too.
    method : {"gap", "fK", "elbow", "silhouette"}
    n_refs : int
        gap: reference sets (B).
    reference : {"box", "pca"}
        gap: draw the references in the bounding box of the data or of its
        principal components (better for elongated data).
    silhouette_samples : int
        silhouette: points it is computed on (a seeded sample).
    random_state : int, Generator or None
        Seeds the fits and the reference sets.
    backend : str or backend, optional
        Where the fits run (default as :func:`fastkm.kmeans`).
    callback : callable, optional
        ``callback(fits_done, fits_total, k)`` after every fit (progress bars).
    **kmeans_options
        Passed to :func:`fastkm.kmeans` (``n_init``, ``max_iter``, ``tol``...).
    """
    from .lloyd import kmeans
    from .validation import check_data, check_integer, check_random_state

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if reference not in ("box", "pca"):
        raise ValueError(f"reference must be 'box' or 'pca', got {reference!r}")
    n_refs = check_integer(n_refs, "n_refs", minimum=1)
    silhouette_samples = check_integer(silhouette_samples, "silhouette_samples", minimum=2)
    X = check_data(X, name="X")
    n_samples, n_features = X.shape
    ks = _check_k_range(k_range, n_samples)
    if method == "fK" and n_features < 2:
        raise ValueError("the f(K) method is defined for data with at least 2 features (its alpha_K needs N_d > 1)")
    if method == "elbow" and len(ks) < 3:
        raise ValueError(f"the elbow needs at least 3 values of K, got {list(ks)}")
    rng = check_random_state(random_state)

    fitted = sorted(set(ks) | ({ks[-1] + 1} if method == "gap" and ks[-1] + 1 <= n_samples else set())
                    | ({ks[0] - 1} if method == "fK" and ks[0] > 1 else set()))  # fmt: skip
    total = len(fitted) * (1 + (n_refs if method == "gap" else 0))
    done = 0

    def fit(data: Any, k: int):
        nonlocal done
        result = kmeans(data, k, random_state=rng, backend=backend, **kmeans_options)
        done += 1
        if callback is not None:
            callback(done, total, k)
        return result

    results = {k: fit(X, k) for k in fitted}
    inertia = {k: float(results[k].inertia) for k in fitted}
    logger.info("select_k: fitted K = %s", fitted)

    errors = gap_rule = np.zeros(0)
    if method == "gap":
        log_w = np.log(np.maximum([inertia[k] for k in fitted], np.finfo(float).tiny))
        references = _reference_sampler(X, reference)
        ref_log_w = np.empty((n_refs, len(fitted)))
        for b in range(n_refs):
            Z = references(rng)
            for j, k in enumerate(fitted):
                ref_log_w[b, j] = math.log(max(float(fit(Z, k).inertia), np.finfo(float).tiny))
        gap_all = ref_log_w.mean(axis=0) - log_w
        s_all = ref_log_w.std(axis=0) * math.sqrt(1 + 1 / n_refs)
        index = {k: j for j, k in enumerate(fitted)}
        best = next(
            (k for k in ks if k + 1 in index and gap_all[index[k]] >= gap_all[index[k + 1]] - s_all[index[k + 1]]),
            None,
        )
        if best is None:
            best = ks[-1]
            logger.warning("gap statistic: no K in %s..%s meets the rule; try larger K", ks[0], ks[-1])
        scores = np.array([gap_all[index[k]] for k in ks])
        errors = np.array([s_all[index[k]] for k in ks])
        gap_rule = np.array(
            [gap_all[index[k]] - gap_all[index[k + 1]] + s_all[index[k + 1]] if k + 1 in index else np.nan for k in ks]
        )
    elif method == "fK":
        f_values = _f_of_k(inertia, n_features, ks[-1])
        scores = np.array([f_values[k] for k in ks])
        best = int(ks[int(np.nanargmin(scores))]) if np.nanmin(scores) < 0.85 or 1 not in ks else 1
    elif method == "elbow":
        curve = np.log(np.maximum([inertia[k] for k in ks], np.finfo(float).tiny))
        x = (np.asarray(ks, dtype=float) - ks[0]) / (ks[-1] - ks[0])
        span = curve[0] - curve[-1]
        y = (curve - curve[-1]) / span if span > 0 else np.zeros_like(curve)
        scores = (1 - x) - y  # distance below the chord from (0, 1) to (1, 0), up to a constant factor
        best = int(ks[int(np.argmax(scores))])
    else:
        sample = _silhouette_sample(n_samples, silhouette_samples, rng)
        X_sample = to_host(X[_index_for(X, sample)]).astype(np.float64)
        scores = np.array(
            [np.nan if k == 1 else _mean_silhouette(X_sample, to_host(results[k].labels)[sample], k) for k in ks]
        )
        if np.all(np.isnan(scores)):
            raise ValueError("the silhouette needs some K >= 2 in k_range")
        best = int(ks[int(np.nanargmax(scores))])
    return SelectKResult(
        method=method,
        k_values=tuple(ks),
        scores=np.asarray(scores, dtype=np.float64),
        best_k=int(best),
        inertia=np.array([inertia[k] for k in ks]),
        errors=errors,
        gap_rule=gap_rule,
    )


def _check_k_range(k_range: Any, n_samples: int) -> list[int]:
    try:
        ks = [int(k) for k in k_range]
    except (TypeError, ValueError):
        raise TypeError(f"k_range must be an iterable of integers, e.g. range(1, 11), got {k_range!r}") from None
    if not ks:
        raise ValueError("k_range is empty; give e.g. range(1, 11)")
    if ks[0] < 1 or any(b != a + 1 for a, b in zip(ks, ks[1:])):
        raise ValueError(f"k_range must be consecutive increasing integers >= 1 (like range(1, 11)), got {ks}")
    if ks[-1] > n_samples:
        raise ValueError(f"k_range goes up to K={ks[-1]} but X has only {n_samples} samples; K cannot exceed N")
    return ks


def _reference_sampler(X: Any, reference: str) -> Callable[[np.random.Generator], Any]:
    """Draws of ``len(X)`` points uniform in the data's (or its principal axes') bounding box."""
    xp = np
    if hasattr(X, "__cuda_array_interface__"):
        import cupy as xp  # the references live where the data live
    data = X.astype(np.float64)
    if reference == "pca":
        mean = data.mean(axis=0)
        _, _, vt = xp.linalg.svd(data - mean, full_matrices=False)
        rotated = (data - mean) @ vt.T
        low, high = rotated.min(axis=0), rotated.max(axis=0)
    else:
        mean = vt = None
        low, high = data.min(axis=0), data.max(axis=0)
    del data

    def draw(rng: np.random.Generator):
        Z = xp.asarray(rng.uniform(0.0, 1.0, size=(X.shape[0], low.shape[0]))) * (high - low) + low
        if vt is not None:
            Z = Z @ vt + mean
        return Z.astype(X.dtype)

    return draw


def _f_of_k(inertia: dict[int, float], n_features: int, k_max: int) -> dict[int, float]:
    """Pham, Dimov & Nguyen's f(K) for K = 1..k_max (inertia must hold every K it needs)."""
    values = {1: 1.0}
    alpha = 0.0
    for k in range(2, k_max + 1):
        alpha = 1 - 3 / (4 * n_features) if k == 2 else alpha + (1 - alpha) / 6
        if k in inertia and k - 1 in inertia:
            previous = inertia[k - 1]
            # S_K = 0 (K reaches the distinct points) is no structure, just a cluster per point
            values[k] = 1.0 if previous == 0 else np.nan if inertia[k] == 0 else inertia[k] / (alpha * previous)
    return values


def _index_for(X: Any, rows: np.ndarray) -> Any:
    """``rows`` as an index into ``X`` (a CuPy array wants a device index)."""
    from .backends.base import array_namespace

    return array_namespace(X).asarray(rows)


def _silhouette_sample(n_samples: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n_samples <= size:
        return np.arange(n_samples)
    return np.sort(rng.choice(n_samples, size, replace=False))


def _mean_silhouette(X: np.ndarray, labels: np.ndarray, n_clusters: int, block: int = 1024) -> float:
    """Mean silhouette of the points of ``X`` (a block of rows at a time: memory O(block x n + n x K))."""
    n = len(X)
    sizes = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    onehot = np.zeros((n, n_clusters))
    onehot[np.arange(n), labels] = 1.0
    norms = (X * X).sum(axis=1)
    total = 0.0
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        distances = np.sqrt(np.maximum(norms[rows, None] - 2 * X[rows] @ X.T + norms[None, :], 0.0))
        per_cluster = distances @ onehot  # sum of distances to each cluster's points
        own = labels[rows]
        own_size = sizes[own]
        a = per_cluster[np.arange(len(own)), own] / np.maximum(own_size - 1, 1)
        # (a cluster with no point in the sample is no neighbour: infinitely far)
        others = np.where(sizes > 0, per_cluster / np.maximum(sizes, 1), np.inf)
        others[np.arange(len(own)), own] = np.inf
        b = others.min(axis=1)
        alone = (own_size <= 1) | ~np.isfinite(b)  # silhouette 0, as scikit-learn scores it
        b = np.where(alone, a, b)
        s = np.where(alone, 0.0, (b - a) / np.maximum(np.maximum(a, b), np.finfo(float).tiny))
        total += float(s.sum())
    return total / n

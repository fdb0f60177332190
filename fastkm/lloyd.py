"""The Lloyd driver, written once for every backend, and :func:`kmeans`.

One run of Lloyd's algorithm is::

    centroids = initial centroids
    repeat:
        labels, sums, counts, inertia = backend.assign_accumulate(X, centroids, w, labels)
        empty clusters -> take the farthest points (see _relocate_empty_clusters)
        new centroids  = sums / counts
        stop if labels did not change            (strict convergence)
             or sum |new - old|^2 <= tol * mean per-feature variance of X
             or max_iter iterations were made
    final labels and inertia are those of the returned centroids

which is scikit-learn's ``lloyd`` algorithm and its meaning of ``tol``, so a
fit from the same initial centroids takes the same iterations. The backend
does the one pass over the data per iteration; everything here is a handful
of ``(n_clusters, n_features)`` array operations in the backend's namespace.
"""

from __future__ import annotations

import functools
import logging
import operator
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .backends import Backend, get_backend, is_cupy_array
from .backends.base import to_backend, to_input_type
from .backends.bounds import BoundState, choose_algorithm, describe_state
from .backends.exact import Scale, SumGrid, add_parts, combine, fold
from .exceptions import ConvergenceWarning
from .init import InitSpec, init_centroids, top_rows
from .validation import (
    check_algorithm,
    check_data,
    check_init_array,
    check_max_iter,
    check_n_clusters,
    check_n_init,
    check_random_state,
    check_sample_weight,
    check_tol,
    check_weight_scale,
)

__all__ = ["KMeansResult", "LloydIteration", "kmeans", "lloyd"]

logger = logging.getLogger("fastkm")

#: Rows per block when the driver itself reads X or the labels (bounds the temporaries).
_VARIANCE_BLOCK_ROWS = 1 << 13


@dataclass(frozen=True)
class KMeansResult:
    """The outcome of a k-means fit.

    Arrays are of the input's array type (NumPy in, NumPy out; CuPy in, CuPy
    out; Dask in: NumPy centroids, and labels as a Dask array held on the
    workers). ``labels`` are the nearest centroid of each point under
    ``centroids``, and ``inertia`` is the weighted sum of squared distances of
    the points to those centroids.
    """

    centroids: Any
    """``(n_clusters, n_features)``, the dtype of the (validated) input."""
    labels: Any
    """``(n_samples,)`` int32."""
    inertia: float
    n_iter: int
    """Lloyd iterations made by the best run."""
    converged: bool
    """Whether the best run stopped by a convergence rule rather than ``max_iter``."""
    inertia_history: tuple[float, ...] = ()
    """Inertia at the start of each iteration (non-increasing), for the best run."""
    backend: str = ""
    """Name of the backend that computed the result."""
    algorithm: str = "lloyd"
    """The algorithm that ran (``"auto"`` resolved): every one gives Lloyd's labels and iterations."""
    bounds_nbytes: int = 0
    """Memory the bound-based algorithm's per-point bounds took (0 for ``"lloyd"``)."""
    distance_share: float = 1.0
    """Share of Lloyd's point-to-centre distances the best run computed (1 for ``"lloyd"``)."""


@dataclass(frozen=True)
class LloydIteration:
    """What a ``callback`` sees after each iteration (backend arrays; do not modify)."""

    iteration: int
    """1-based iteration number."""
    previous_centroids: Any
    """The centroids the points were assigned to in this iteration."""
    labels: Any
    """Nearest of ``previous_centroids`` for every point (a copy the callback may keep)."""
    inertia: float
    """Weighted sum of squared distances to ``previous_centroids``."""
    centroids: Any
    """The updated centroids (means of the clusters, empty clusters relocated)."""


Callback = Callable[[LloydIteration], Any]


def kmeans(
    X: Any,
    n_clusters: int,
    *,
    init: InitSpec = "k-means++",
    n_init: int | str = "auto",
    max_iter: int = 300,
    tol: float = 1e-4,
    sample_weight: Any = None,
    random_state: Any = None,
    backend: str | Backend | None = None,
    algorithm: str = "auto",
    callback: Callback | None = None,
) -> KMeansResult:
    """Cluster ``X`` into ``n_clusters`` groups with Lloyd's algorithm.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        NumPy arrays (and anything NumPy can read), CuPy arrays, or Dask
        arrays (fitted on their cluster: :mod:`fastkm.backends.dask_backend`).
        float32 data stays float32; integers become float64. Never modified.
    n_clusters : int
        K; at most the number of samples.
    init : {"k-means++", "k-means||", "random"}, array of shape (n_clusters, n_features) or callable
        ``"k-means++"``: greedy k-means++ seeding (on a Dask array: k-means||).
        ``"k-means||"``: k-means|| (:func:`fastkm.kmeans_parallel`). ``"random"``: K distinct
        rows drawn with probability proportional to ``sample_weight``. An
        array: these initial centroids. A callable: called as
        ``init(X, n_clusters, random_state)`` and returning such an array.
    n_init : int or "auto"
        Runs from different seeds; the lowest inertia wins. ``"auto"`` is 1
        for k-means++ and explicit arrays, 10 for random and callables.
    max_iter : int
        Most Lloyd iterations per run.
    tol : float
        Stop when the squared centroid shift, summed over centroids, is at most
        ``tol`` times the mean per-feature variance of X (scikit-learn's
        meaning). A run also stops as soon as no label changes.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights; a point of weight 2 counts as two copies.
    random_state : None, int or numpy.random.Generator
        Seed for the initialisation.
    backend : {"auto", "numpy", "numba", "cupy", "dask"} or Backend, optional
        Default: the ``FASTKM_BACKEND`` environment variable, else ``"auto"``
        (see :func:`fastkm.get_backend`).
    algorithm : {"auto", "lloyd", "hamerly", "yinyang", "elkan"}
        How each iteration finds the nearest centroids. ``"lloyd"`` measures
        every distance; the others keep per-point bounds and skip the points
        they prove keep their centroid (:mod:`fastkm.backends.bounds`). All
        give the same labels, iterations, centroids and inertia, bit for bit;
        only the time and the memory differ (``"elkan"`` keeps
        ``n_samples x n_clusters`` bounds). ``"auto"`` picks by the shape of
        the problem (:func:`fastkm.backends.bounds.choose_algorithm`).
    callback : callable, optional
        Called with a :class:`LloydIteration` after every iteration of every run.

    Returns
    -------
    KMeansResult

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 1.0], [1.5, 2.0], [8.0, 8.0], [9.0, 8.5]])
    >>> result = kmeans(X, 2, init=X[[0, 2]], backend="numpy")
    >>> result.labels
    array([0, 0, 1, 1], dtype=int32)
    >>> result.centroids
    array([[1.25, 1.5 ],
           [8.5 , 8.25]])
    >>> result.inertia, result.n_iter, result.converged
    (1.25, 2, True)
    """
    backend = get_backend(backend, X)
    X_checked = check_data(X)
    input_on_gpu = is_cupy_array(X_checked)
    X_backend = to_backend(X_checked, backend)
    n_samples, n_features = X_backend.shape
    xp = backend.xp

    n_clusters = check_n_clusters(n_clusters, n_samples)
    max_iter = check_max_iter(max_iter)
    tol = check_tol(tol)
    weight = check_sample_weight(sample_weight, n_samples, X_backend.dtype, xp)  # None: unit weights
    check_weight_scale(X_backend, weight)
    if weight is not None:
        weight = backend.rows_like(weight, X_backend)
    n_weighted = n_samples if weight is None else backend.map_rows(_count_positive, weight, merge=operator.add)
    if n_weighted < n_clusters:
        raise ValueError(
            f"only {n_weighted} samples have a positive sample_weight, fewer than n_clusters={n_clusters}; "
            "lower n_clusters or give more points a positive weight"
        )
    n_runs = check_n_init(n_init, init)
    if not isinstance(init, str) and not callable(init):
        init = check_init_array(init, n_clusters, n_features, X_backend.dtype, xp)
        if n_runs > 1:
            warnings.warn(
                f"explicit initial centroids were passed, so only one run is made instead of n_init={n_init}",
                RuntimeWarning,
                stacklevel=2,
            )
            n_runs = 1
    rng = check_random_state(random_state)
    algorithm = check_algorithm(algorithm, backend)
    if algorithm == "auto":
        algorithm = choose_algorithm(X_backend, n_clusters, backend, max_iter)
    scale = Scale.of(X_backend, weight)  # the layout of every exact sum of this fit
    tol_abs = tol * _mean_feature_variance(X_backend, scale, backend) if tol > 0 else 0.0

    best: KMeansResult | None = None
    for run in range(n_runs):
        centroids = init_centroids(
            X_backend, n_clusters, init, sample_weight=weight, rng=rng, backend=backend, scale=scale
        )
        result = lloyd(
            X_backend, centroids, weight, backend=backend, max_iter=max_iter, tol_abs=tol_abs, callback=callback,
            scale=scale.widened(centroids), algorithm=algorithm,
        )  # fmt: skip
        logger.debug("run %d/%d: inertia %.6g after %d iterations", run + 1, n_runs, result.inertia, result.n_iter)
        # As scikit-learn: a run that found the same partition (up to renaming)
        # never replaces an earlier one, so rounding cannot pick the label order.
        if best is None or (
            result.inertia < best.inertia and not _same_partition(result.labels, best.labels, n_clusters, backend)
        ):
            best = result
    assert best is not None

    # (a cluster holding only zero-weight points has no mean either: it counts as empty)
    n_distinct = int((_cluster_sizes(best.labels, n_clusters, backend, weight) > 0).sum())
    if n_distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({n_distinct}) found smaller than n_clusters ({n_clusters}). "
            + (
                f"Possibly due to duplicate points in X{'' if weight is None else ' or points of zero weight'}."
                if best.converged
                else f"The run stopped at max_iter={max_iter} before the clusters settled; raise max_iter."
            ),
            ConvergenceWarning,
            stacklevel=2,
        )

    return KMeansResult(
        centroids=to_input_type(best.centroids, backend, input_on_gpu),
        labels=to_input_type(best.labels, backend, input_on_gpu),
        inertia=best.inertia,
        n_iter=best.n_iter,
        converged=best.converged,
        inertia_history=best.inertia_history,
        backend=backend.name,
        algorithm=best.algorithm,
        bounds_nbytes=best.bounds_nbytes,
        distance_share=best.distance_share,
    )


def lloyd(
    X: Any,
    centroids: Any,
    sample_weight: Any,
    *,
    backend: Backend,
    max_iter: int = 300,
    tol_abs: float = 0.0,
    callback: Callback | None = None,
    scale: Scale | None = None,
    algorithm: str = "lloyd",
) -> KMeansResult:
    """One run of Lloyd's algorithm from given centroids (the driver's core).

    Inputs are validated backend arrays (see :mod:`fastkm.backends.base`);
    ``tol_abs`` is the absolute bound on the summed squared centroid shift;
    ``scale`` lays out the exact sums (:class:`~fastkm.backends.exact.Scale`,
    computed from ``X``, the weights and ``centroids`` when not given);
    ``algorithm`` (not ``"auto"``) is how the steps skip work: the same
    iterations, whichever. Most users want :func:`kmeans`, which validates, seeds and calls this.

    >>> import numpy as np
    >>> from fastkm.backends import get_backend
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> result = lloyd(X, X[[0, 1]], np.ones(4), backend=get_backend("numpy"))
    >>> result.centroids.ravel().tolist(), result.n_iter
    ([0.5, 10.5], 3)
    """
    xp = backend.xp
    if scale is None:
        scale = Scale.of(X, sample_weight, centroids)
    shift_grid = scale.shift_grid(centroids.size)
    # an exact sum on the fit's grid is exact to a fixed absolute resolution; an
    # inertia within 2^45 of it (points all but on their centroids) is summed again
    inertia_floor = scale.inertia_grid().resolution * scale.n_samples * 2.0**45
    labels = None  # then the one label buffer, which every step updates in place
    # a bound-based algorithm's per-point state: the backend keeps it between steps
    bounds = None if algorithm == "lloyd" else BoundState.for_fit(algorithm, X, len(centroids))
    history: list[Any] = []
    strict = converged = False

    def settled(new_centroids: Any, shift: Any) -> Any:
        # (tol = 0: not one bit moved; the exact sum would miss a move far below its grid)
        return shift <= tol_abs if tol_abs > 0 else xp.all(new_centroids == centroids)

    def step_inertia(step: Any, tiny: bool) -> float:
        return _refined_inertia(X, centroids, step.labels, sample_weight, backend) if tiny else float(step.inertia)

    for n_iter in range(1, max_iter + 1):
        step = backend.assign_accumulate(X, centroids, sample_weight, labels, scale, bounds)
        labels = step.labels
        new_centroids = _cluster_means(X, centroids, step.sums, step.counts, xp)
        shift = _squared_shift(new_centroids, centroids, shift_grid)
        # the one host sync per iteration: four flags in one transfer
        has_empty, unchanged, small_shift, tiny_inertia = (
            bool(flag)
            for flag in xp.stack(
                [(step.counts == 0).any(), step.n_changed == 0, settled(new_centroids, shift), step.inertia < inertia_floor]
            ).tolist()
        )
        inertia = step_inertia(step, tiny_inertia)
        history.append(inertia)
        if has_empty:  # rare: relocate, then judge the relocated centroids
            sums, counts = _relocate_empty_clusters(X, centroids, sample_weight, step, backend)
            new_centroids = _cluster_means(X, centroids, sums, counts, xp)
            shift = _squared_shift(new_centroids, centroids, shift_grid)
            small_shift = bool(settled(new_centroids, shift))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "iteration %d: inertia %.9g, %d labels changed, centroid shift %.3g",
                n_iter, inertia, int(step.n_changed), float(shift),
            )
        if callback is not None:
            callback(LloydIteration(n_iter, centroids, labels.copy(), inertia, new_centroids))

        if unchanged or small_shift:
            converged = True
            strict = unchanged
            break
        centroids = new_centroids

    if not strict:
        # One more assignment, so that labels and inertia belong to the returned centroids.
        # (Strict: no label moved, so `centroids` are already the means of the clusters
        # they define, and the step's labels and inertia are exact for them.)
        centroids = new_centroids
        step = backend.assign_accumulate(X, centroids, sample_weight, labels, scale, bounds)
        labels = step.labels
        inertia = step_inertia(step, bool(step.inertia < inertia_floor))

    logger.info(
        "k-means %s after %d iterations, inertia %.9g, %s",
        "converged" if converged else "stopped at max_iter",
        n_iter,
        float(inertia),
        describe_state(bounds),
    )
    return KMeansResult(
        centroids=centroids,
        labels=labels,
        inertia=inertia,
        n_iter=n_iter,
        converged=converged,
        inertia_history=tuple(history),
        backend=backend.name,
        algorithm=algorithm,
        bounds_nbytes=0 if bounds is None else bounds.nbytes,
        distance_share=1.0 if bounds is None else bounds.distance_share,
    )


def _refined_inertia(X: Any, centroids: Any, labels: Any, sample_weight: Any, backend: Backend) -> float:
    """Inertia summed exactly on a grid fitted to its own largest term: full relative precision.

    The terms are canonical distances and the grid depends only on their
    maximum, so this too is the same on every backend (and every chunking).
    """
    largest = backend.map_rows(_largest_labelled_term, X, labels, sample_weight, merge=max, centroids=centroids)
    grid = SumGrid.for_terms(X.shape[0], largest, folds=3)
    parts = backend.map_rows(
        _labelled_term_parts, X, labels, sample_weight, merge=add_parts, centroids=centroids, grid=grid
    )
    return float(combine([backend.to_numpy(part) for part in parts]))


def _labelled_terms(backend: Backend, X: Any, labels: Any, sample_weight: Any, centroids: Any) -> Any:
    terms = backend.labelled_sq_distances(X, centroids, labels)
    return terms if sample_weight is None else terms * sample_weight.astype(np.float64)


def _largest_labelled_term(backend: Backend, offset: int, X: Any, labels: Any, sample_weight: Any, *, centroids):
    """Row function: the largest ``w_i d(x_i, c_{label_i})`` (0 for no rows)."""
    terms = _labelled_terms(backend, X, labels, sample_weight, centroids)
    return float(terms.max()) if terms.shape[0] else 0.0


def _labelled_term_parts(backend: Backend, offset: int, X: Any, labels: Any, sample_weight: Any, *, centroids, grid):
    """Row function: the exact-sum parts of ``sum_i w_i d(x_i, c_{label_i})`` on ``grid``."""
    return [part.sum() for part in fold(_labelled_terms(backend, X, labels, sample_weight, centroids), grid)]


def _cluster_sizes(labels: Any, n_clusters: int, backend: Backend, sample_weight: Any = None) -> np.ndarray:
    """Points per cluster (with ``sample_weight``: points of positive weight), as a NumPy int64 array."""
    sizes = backend.map_rows(_sizes_of_rows, labels, sample_weight, merge=np.add, n_clusters=n_clusters)
    return backend.to_numpy(sizes)


def _sizes_of_rows(backend: Backend, offset: int, labels: Any, sample_weight: Any, *, n_clusters: int) -> Any:
    """Row function of :func:`_cluster_sizes`, counted a block at a time (``bincount`` copies to int64)."""
    xp = backend.xp
    sizes = xp.zeros(n_clusters, dtype=np.int64)
    for start in range(0, labels.shape[0], _VARIANCE_BLOCK_ROWS):
        block = labels[start : start + _VARIANCE_BLOCK_ROWS]
        if sample_weight is not None:
            block = block[sample_weight[start : start + _VARIANCE_BLOCK_ROWS] > 0]
        sizes += xp.bincount(block, minlength=n_clusters)
    return sizes


def _same_partition(labels: Any, other: Any, n_clusters: int, backend: Backend) -> bool:
    """Whether two labellings split the points alike, up to renaming the clusters.

    They do when every pair ``(label, other label)`` that occurs is the only one
    for its label and for its other label: the pairs are a one-to-one map.
    """
    pairs = backend.map_rows(_pairs_of_rows, labels, other, merge=np.logical_or, n_clusters=n_clusters)
    pairs = backend.to_numpy(pairs).reshape(n_clusters, n_clusters)
    return bool((pairs.sum(axis=0) <= 1).all() and (pairs.sum(axis=1) <= 1).all())


def _pairs_of_rows(backend: Backend, offset: int, labels: Any, other: Any, *, n_clusters: int) -> Any:
    """Row function of :func:`_same_partition`: which ``(label, other)`` pairs occur, ``(K * K,)`` bool."""
    xp = backend.xp
    seen = xp.zeros(n_clusters * n_clusters, dtype=bool)
    for start in range(0, labels.shape[0], _VARIANCE_BLOCK_ROWS):
        rows = slice(start, start + _VARIANCE_BLOCK_ROWS)
        pairs = labels[rows].astype(np.int64) * n_clusters + other[rows]
        seen |= xp.bincount(pairs, minlength=n_clusters * n_clusters) > 0
    return seen


def _count_positive(backend: Backend, offset: int, sample_weight: Any) -> int:
    """Row function: how many rows weigh more than 0."""
    return int((sample_weight > 0).sum())


def _cluster_means(X: Any, centroids: Any, sums: Any, counts: Any, xp: Any) -> Any:
    """Cluster means in X's dtype; a cluster with no weight keeps its centroid."""
    nonempty = counts > 0
    means = sums / xp.where(nonempty, counts, 1.0)[:, None]
    return xp.where(nonempty[:, None], means, centroids).astype(X.dtype)


def _squared_shift(new_centroids: Any, centroids: Any, grid: SumGrid) -> Any:
    """Total squared movement of the centroids, in float64, summed exactly (0-d array: no host sync)."""
    move = new_centroids.astype(np.float64) - centroids.astype(np.float64)
    return combine([part.sum() for part in fold(move * move, grid)])


def _relocate_empty_clusters(X: Any, centroids: Any, sample_weight: Any, step: Any, backend: Backend):
    """Give each empty cluster the point farthest from its own centroid.

    As scikit-learn does: the farthest points (ties: lowest row index) are
    taken in turn, one per empty cluster (in cluster order), and each point's
    weighted contribution moves from its cluster's sums to the empty one's, so
    the empty centroid lands on the point. Unlike scikit-learn, a point is
    skipped if it is the last positive-weight point of its cluster (taking it
    would empty that cluster), or if it already sits on its centroid (taking
    it would only duplicate a centroid). A cluster for which no point
    qualifies stays empty and keeps its centroid; this happens only when X
    has fewer distinct points than clusters.
    """
    xp = backend.xp
    n_clusters = len(centroids)
    sums = step.sums.copy()
    counts = backend.to_numpy(step.counts).copy()
    empty = np.flatnonzero(counts == 0)
    # Points are counted, not weights: float sums of weights cannot say "the last one".
    members = _cluster_sizes(step.labels, n_clusters, backend, sample_weight)
    eligible_members = members.copy()  # (as they were before any point moved)

    filled = taken = 0
    wanted = 4 * len(empty) + 16
    while filled < len(empty):
        farthest = backend.map_rows(
            _farthest_rows, X, step.labels, sample_weight, merge=functools.partial(_merge_farthest, count=wanted),
            centroids=centroids, members=eligible_members, count=wanted,
        )  # fmt: skip
        for point, donor, point_weight in zip(*(column[taken:] for column in farthest[1:4])):
            taken += 1
            if members[donor] <= 1:
                continue
            target = int(empty[filled])
            contribution = xp.asarray(point.astype(np.float64) * point_weight)
            sums[donor] -= contribution
            sums[target] = contribution
            counts[donor] -= point_weight
            counts[target] = point_weight
            members[donor] -= 1
            filled += 1
            if filled == len(empty):
                break
        if len(farthest[0]) < wanted:  # every eligible point was offered
            break
        wanted *= 4
    logger.debug("relocated %d of %d empty clusters", filled, len(empty))
    return sums, xp.asarray(counts)


def _farthest_rows(backend: Backend, offset: int, X: Any, labels: Any, sample_weight: Any, *, centroids, members, count):
    """Row function: the ``count`` eligible rows farthest from their centroid, farthest first (ties: lowest row).

    A row is eligible when it is off its centroid, its cluster has another
    member and it weighs more than 0. Returns NumPy arrays ``(rows, points,
    donors, weights)``: global row indices, the rows of ``X``, their labels and
    weights (:func:`~fastkm.init.top_rows`: O(rows), not a sort).
    """
    xp = backend.xp
    sq_dist = backend.labelled_sq_distances(X, centroids, labels)
    eligible = (sq_dist > 0) & (xp.asarray(members)[labels] > 1)
    if sample_weight is not None:
        eligible &= sample_weight > 0
    score = xp.where(eligible, sq_dist, -1.0)
    top = top_rows(score, min(int(eligible.sum()), count), xp)
    weights = xp.ones(top.shape[0]) if sample_weight is None else sample_weight[top].astype(np.float64)
    columns = (top + offset, X[top], labels[top], weights, score[top])
    return tuple(backend.to_numpy(column) for column in columns)


def _merge_farthest(first: tuple, second: tuple, *, count: int) -> tuple:
    """Merge of two :func:`_farthest_rows` results: the ``count`` farthest of both, in the same order."""
    columns = [np.concatenate([a, b]) for a, b in zip(first, second)]
    rows, score = columns[0], columns[-1]
    order = np.lexsort((rows, -score))[:count]
    return tuple(column[order] for column in columns)


def _mean_feature_variance(X: Any, scale: Scale, backend: Backend) -> float:
    """Mean over features of the (unweighted) variance of X, in float64, the same bits on every backend.

    Two passes (mean, then squared deviations), so no cancellation error
    creeps in; both sums are exact (:mod:`fastkm.backends.exact`), so their
    order -- blocks, chunks -- does not matter.
    """
    n_samples = X.shape[0]

    def column_sums(grid: SumGrid, mean: Any = None) -> np.ndarray:
        parts = backend.map_rows(_column_sum_parts, X, merge=add_parts, grid=grid, mean=mean)
        return combine([backend.to_numpy(part) for part in parts])

    magnitude = np.maximum(np.abs(scale.low), np.abs(scale.high))
    mean = column_sums(SumGrid.for_terms(n_samples, magnitude)) / n_samples
    span_sq = (scale.high - scale.low) ** 2 * (1.0 + 2.0**-20)
    squares = column_sums(SumGrid.for_terms(n_samples, span_sq), mean)
    return float((squares / n_samples).mean())


def _column_sum_parts(backend: Backend, offset: int, X: Any, *, grid: SumGrid, mean: Any = None) -> list[Any]:
    """Row function: the chunk's exact-sum parts of the column sums of ``X`` (or of ``(X - mean)^2``)."""
    return backend.column_sum_parts(X, grid, mean)

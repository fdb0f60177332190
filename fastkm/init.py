"""Initial centroids: k-means++ (greedy), random (Forgy), explicit, or a callable.

Everything here is written against the backend primitives and the backend's
array namespace, so the same code seeds a fit on every backend. The random
draws come from one :class:`numpy.random.Generator` on the host, so a given
``random_state`` picks the same initial points whatever the backend.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any, Callable, Union

import numpy as np

from .backends import Backend, get_backend, is_cupy_array
from .backends.base import to_backend, to_input_type
from .backends.bounds import SeedingBounds
from .backends.exact import Scale, add_parts, combine, fold
from .validation import (
    check_data,
    check_integer,
    check_n_clusters,
    check_random_state,
    check_sample_weight,
    check_weight_scale,
)

__all__ = ["INIT_METHODS", "init_centroids", "kmeans_parallel", "kmeans_plusplus"]

logger = logging.getLogger("fastkm")

#: The named initialisation methods.
INIT_METHODS = ("k-means++", "k-means||", "random")

InitSpec = Union[str, Any, Callable[..., Any]]


def init_centroids(
    X: Any,
    n_clusters: int,
    init: InitSpec,
    *,
    sample_weight: Any,
    rng: np.random.Generator,
    backend: Backend,
    scale: Scale | None = None,
) -> Any:
    """Initial centroids for one k-means run, as a backend array of ``X``'s dtype.

    ``X`` and ``sample_weight`` are already validated backend arrays; ``init``
    is a method name, an already validated ``(n_clusters, n_features)`` backend
    array, or a callable ``init(X, n_clusters, random_state) -> array``.
    """
    if isinstance(init, str):
        if init == "k-means++" and getattr(backend, "scalable_seeding_only", False):
            logger.info("k-means++ on a %s backend seeds by k-means|| (one pass per round, not per centre)", backend.name)
            init = "k-means||"
        if init == "k-means||":
            return _kmeans_parallel(X, n_clusters, sample_weight, rng, backend, scale=scale)
        if init == "k-means++":
            return _kmeans_plusplus(X, n_clusters, sample_weight, rng, backend, scale=scale)[0]
        if init == "random":
            return _forgy(X, n_clusters, sample_weight, rng, backend)
        raise ValueError(f"init must be one of {INIT_METHODS}, an array or a callable, got {init!r}")
    if callable(init):
        centroids = init(X, n_clusters, rng)
        centroids = check_data(centroids, name="the centroids returned by the init callable")
        if tuple(centroids.shape) != (n_clusters, X.shape[1]):
            raise ValueError(
                f"the init callable must return an array of shape (n_clusters, n_features) = "
                f"({n_clusters}, {X.shape[1]}), got {tuple(centroids.shape)}"
            )
        return to_backend(centroids, backend).astype(X.dtype)  # a copy, never the caller's array
    return init


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
    backend: str | Backend | None = None,
) -> tuple[Any, np.ndarray]:
    """Pick initial centroids by greedy k-means++ (Arthur & Vassilvitskii 2007).

    The first centre is drawn with probability proportional to the sample
    weight; each next one is the best (lowest resulting potential) of
    ``n_local_trials`` candidates drawn with probability proportional to
    ``weight * squared distance to the nearest centre chosen so far``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array-like of shape (n_samples,), optional
    random_state : None, int, numpy.random.Generator
    n_local_trials : int, optional
        Candidates per step; default ``2 + int(ln(n_clusters))``, as
        scikit-learn. 1 gives plain (non-greedy) k-means++.
    backend : str or Backend, optional

    Returns
    -------
    centroids : array of shape (n_clusters, n_features), same type and dtype as X
    indices : ndarray of shape (n_clusters,)
        Row of ``X`` each centroid was taken from.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    >>> centroids, indices = kmeans_plusplus(X, 2, random_state=0, backend="numpy")
    >>> sorted(int(i) // 2 for i in indices)   # one seed from each far-apart pair
    [0, 1]
    """
    backend, X_backend, n_clusters, weight, rng, on_gpu = _seeding_inputs(
        X, n_clusters, sample_weight, random_state, backend
    )
    if n_local_trials is not None:
        n_local_trials = check_integer(n_local_trials, "n_local_trials", minimum=1)
    centroids, indices = _kmeans_plusplus(X_backend, n_clusters, weight, rng, backend, n_local_trials)
    return to_input_type(centroids, backend, on_gpu), indices


def _seeding_inputs(X: Any, n_clusters: Any, sample_weight: Any, random_state: Any, backend: Any) -> tuple:
    """The public seeding functions' checks: ``(backend, X, n_clusters, weight, rng, X on a GPU?)``."""
    backend = get_backend(backend, X)
    X_checked = check_data(X)
    X_backend = to_backend(X_checked, backend)
    n_clusters = check_n_clusters(n_clusters, X_backend.shape[0])
    weight = check_sample_weight(sample_weight, X_backend.shape[0], X_backend.dtype, backend.xp)
    check_weight_scale(X_backend, weight)
    if weight is not None:
        weight = backend.rows_like(weight, X_backend)
    return backend, X_backend, n_clusters, weight, check_random_state(random_state), is_cupy_array(X_checked)


def _kmeans_plusplus(
    X: Any,
    n_clusters: int,
    sample_weight: Any,
    rng: np.random.Generator,
    backend: Backend,
    n_local_trials: int | None = None,
    scale: Scale | None = None,
) -> tuple[Any, np.ndarray]:
    xp = backend.xp
    if scale is None:
        scale = Scale.of(X, sample_weight)
    n_samples = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    # D(x)^2, the canonical squared distance to the nearest centre so far (the seeding's only big array)
    closest_sq_dist = xp.full(n_samples, np.inf, dtype=np.float64)
    # (where the backend can use them: each point's nearest centre, so most distances need not be measured)
    bounds = SeedingBounds(X, n_clusters) if getattr(backend, "fast_bounds", False) else None

    # The first centre: drawn with probability proportional to the weight ...
    indices[0] = _weighted_draw(n_samples, sample_weight, None, rng.uniform(size=1), xp)[0]
    backend.seeding_step(X, X[indices[0] : indices[0] + 1], closest_sq_dist, sample_weight, scale, bounds)
    for c in range(1, n_clusters):
        # ... each next one: candidates drawn with probability proportional to
        # weight * D(x)^2, and the one that leaves the lowest potential wins.
        candidates = _weighted_draw(n_samples, sample_weight, closest_sq_dist, rng.uniform(size=n_local_trials), xp)
        best, _ = backend.seeding_step(X, X[xp.asarray(candidates)], closest_sq_dist, sample_weight, scale, bounds)
        indices[c] = candidates[best]

    return backend.take_rows(X, indices), indices


#: Rows per block when drawing from a weighted distribution (bounds the temporaries) ...
_DRAW_BLOCK_ROWS = 1 << 16
#: ... and per sub-block: a draw reads one block's sub-block totals, then one sub-block's rows.
_DRAW_SUB_ROWS = 1 << 10


def _weighted_draw(n_samples: int, weight: Any, factor: Any, uniforms: np.ndarray, xp: Any) -> np.ndarray:
    """Rows drawn with probability proportional to ``weight * factor`` (either may be None: ones).

    Inverse-CDF sampling: row ``i`` is drawn when ``u * total`` falls in
    ``[cum_{i-1}, cum_i)``, so a row of probability 0 is never drawn. The
    cumulative sums are formed a level at a time -- blocks, a block's
    sub-blocks, a sub-block's rows -- so memory stays O(block) and a draw
    reads one block, however large X is.
    """
    blocks = [
        slice(start, min(start + _DRAW_BLOCK_ROWS, n_samples)) for start in range(0, n_samples, _DRAW_BLOCK_ROWS)
    ]

    def mass(rows: slice) -> Any:
        parts = [array[rows].astype(np.float64, copy=False) for array in (weight, factor) if array is not None]
        if not parts:
            return xp.ones(rows.stop - rows.start)
        return parts[0] if len(parts) == 1 else parts[0] * parts[1]

    # (stacked, then one transfer: on a GPU a float() per block would wait on the device each time)
    block_totals = np.array(xp.stack([mass(rows).sum() for rows in blocks]).tolist(), dtype=np.float64)
    if not block_totals.any() and factor is not None:
        # weight * D^2 is zero everywhere (every point sits on a centre): fall back to the weight
        return _weighted_draw(n_samples, weight, None, uniforms, xp)
    drawn = np.empty(len(uniforms), dtype=np.intp)
    for t, target in enumerate(np.asarray(uniforms) * block_totals.sum()):
        b, local = _descend(block_totals, target)
        block_mass = mass(blocks[b])
        whole = len(block_mass) - len(block_mass) % _DRAW_SUB_ROWS
        sub_totals = xp.concatenate([block_mass[:whole].reshape(-1, _DRAW_SUB_ROWS).sum(axis=1), block_mass[whole:].sum()[None]])
        s, local = _descend(np.array(sub_totals.tolist(), dtype=np.float64), local)
        rows_mass = block_mass[s * _DRAW_SUB_ROWS : (s + 1) * _DRAW_SUB_ROWS]
        offset = int(xp.searchsorted(xp.cumsum(rows_mass), xp.asarray(local), side="right"))
        if offset >= rows_mass.shape[0] or not bool(rows_mass[offset] > 0):
            offset = int(xp.flatnonzero(rows_mass > 0)[-1])  # never a row of probability 0
        drawn[t] = blocks[b].start + s * _DRAW_SUB_ROWS + offset
    return drawn


def _descend(totals: np.ndarray, target: float) -> tuple[int, float]:
    """``(i, target - sum(totals[:i]))`` for the part ``i`` with mass where ``target`` falls."""
    ends = np.cumsum(totals)
    # (a target at the very end, or rounding between sum and cumsum, lands past the mass)
    i = min(int(np.searchsorted(ends, target, side="right")), int(np.flatnonzero(totals)[-1]))
    return i, float(target - (ends[i - 1] if i else 0.0))


def _forgy(X: Any, n_clusters: int, sample_weight: Any, rng: np.random.Generator, backend: Backend) -> Any:
    """``n_clusters`` distinct rows drawn with probability proportional to the weight.

    In one process: NumPy's ``Generator.choice``. A backend that cannot gather
    the weights (Dask) draws by an exponential race instead (Efraimidis and
    Spirakis 2006: the rows of the ``n_clusters`` largest ``u_i^(1/w_i)``), which
    draws the same way and picks the same rows whatever the chunking.
    """
    if sample_weight is None:
        indices = rng.choice(X.shape[0], size=n_clusters, replace=False)
    elif getattr(backend, "scalable_seeding_only", False):
        seed = int(rng.integers(2**63))
        race = functools.partial(_merge_race, count=n_clusters)
        return backend.map_rows(_race_rows, X, sample_weight, merge=race, seed=seed, count=n_clusters)[1]
    else:
        weight = backend.to_numpy(sample_weight).astype(np.float64)
        indices = rng.choice(X.shape[0], size=n_clusters, replace=False, p=weight / weight.sum())
    return backend.take_rows(X, indices)


# -- k-means|| ------------------------------------------------------------------------------------------
def kmeans_parallel(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    random_state: Any = None,
    oversampling_factor: float = 2.0,
    n_rounds: int = 5,
    backend: str | Backend | None = None,
) -> Any:
    """Pick initial centroids by k-means|| (scalable k-means++; Bahmani et al. 2012).

    A first centre is drawn with probability proportional to the weight; then
    each of ``n_rounds`` rounds keeps every point independently with
    probability ``min(1, l * w * D(x)^2 / phi)`` (``l = oversampling_factor *
    n_clusters``; ``D(x)``: the distance to the nearest candidate so far;
    ``phi``: the weighted sum of ``D(x)^2``), so a round takes one pass over the
    data, not one per centre. Each candidate is weighted by the points nearest
    to it, and greedy k-means++ on the weighted candidates picks the
    ``n_clusters`` centroids.

    The draws come from a hash of ``random_state`` and each row's index, and
    every sum is exact, so the centroids are the same on every backend and, on
    a Dask array, for every chunking.

    Parameters
    ----------
    X : array-like or Dask array of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array-like of shape (n_samples,), optional
    random_state : None, int, numpy.random.Generator
    oversampling_factor : float
        ``l / n_clusters``: candidates kept per round, in expectation.
    n_rounds : int
        Sampling rounds (each one pass over the data).
    backend : str or Backend, optional

    Returns
    -------
    centroids : array of shape (n_clusters, n_features), X's dtype (NumPy for a Dask array)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    >>> centroids = kmeans_parallel(X, 2, random_state=0, backend="numpy")
    >>> sorted(int(c[0] > 5) for c in centroids)   # one seed from each far-apart pair
    [0, 1]
    """
    backend, X_backend, n_clusters, weight, rng, on_gpu = _seeding_inputs(
        X, n_clusters, sample_weight, random_state, backend
    )
    if isinstance(oversampling_factor, bool) or not isinstance(oversampling_factor, (int, float)):
        raise TypeError(f"oversampling_factor must be a number, got {oversampling_factor!r}")
    if not (np.isfinite(oversampling_factor) and oversampling_factor > 0):
        raise ValueError(f"oversampling_factor must be a positive number, got {oversampling_factor}")
    n_rounds = check_integer(n_rounds, "n_rounds", minimum=0)
    centroids = _kmeans_parallel(
        X_backend, n_clusters, weight, rng, backend, oversampling_factor=oversampling_factor, n_rounds=n_rounds
    )
    return to_input_type(centroids, backend, on_gpu)


def _kmeans_parallel(
    X: Any,
    n_clusters: int,
    sample_weight: Any,
    rng: np.random.Generator,
    backend: Backend,
    *,
    oversampling_factor: float = 2.0,
    n_rounds: int = 5,
    scale: Scale | None = None,
) -> Any:
    if scale is None:
        scale = Scale.of(X, sample_weight)
    seed = int(rng.integers(2**63))
    inertia_grid = scale.inertia_grid()
    rows_out = ((np.float64, ()), (np.int32, ()))  # D(x)^2, and the index of the nearest candidate

    # the first centre: the winner of an exponential race (a weighted draw, whatever the chunking)
    _, first = backend.map_rows(_race_rows, X, sample_weight, merge=functools.partial(_merge_race, count=1),
                                seed=seed, count=1)  # fmt: skip
    candidates = [first]
    (closest, nearest), potential = backend.map_rows(
        _nearer_candidates, X, None, None, sample_weight, merge=add_parts, rows_out=rows_out,
        candidates=first, first_index=0, grid=inertia_grid,
    )  # fmt: skip
    n_candidates = 1
    for round_index in range(1, n_rounds + 1):
        phi = float(combine([backend.to_numpy(part) for part in potential]))
        if phi == 0:  # every point sits on a candidate
            break
        _, picked = backend.map_rows(
            _sampled_rows, X, closest, sample_weight, merge=_join_samples, seed=seed, stream=round_index,
            factor=oversampling_factor * n_clusters / phi,
        )  # fmt: skip
        if len(picked) == 0:
            continue
        (closest, nearest), potential = backend.map_rows(
            _nearer_candidates, X, closest, nearest, sample_weight, merge=add_parts, rows_out=rows_out,
            candidates=picked, first_index=n_candidates, grid=inertia_grid,
        )  # fmt: skip
        candidates.append(picked)
        n_candidates += len(picked)

    # each candidate weighs what the points nearest to it weigh (exact sums), then greedy k-means++ on them
    parts = backend.map_rows(_attracted_weight, nearest, sample_weight, merge=add_parts,
                             n_candidates=n_candidates, grid=scale.counts_grid())  # fmt: skip
    weights = combine([backend.to_numpy(part) for part in parts])
    local = getattr(backend, "client_backend", None) or backend
    points = local.asarray(np.concatenate([backend.to_numpy(c) for c in candidates]), dtype=X.dtype)
    logger.debug("k-means||: %d candidates in %d rounds", n_candidates, n_rounds)
    seeds, _ = _kmeans_plusplus(points, n_clusters, local.asarray(weights, dtype=X.dtype), rng, local)
    return seeds


def _uniforms(xp: Any, seed: int, stream: int, start: int, n_rows: int) -> Any:
    """Uniform draws in [0, 1) for rows ``start .. start + n_rows``: a hash (SplitMix64) of the seed, stream and row.

    A row's draw depends on nothing else, so it is the same whichever chunk
    holds the row, on every backend.
    """
    key = (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03) % 2**64
    z = xp.arange(start, start + n_rows, dtype=np.uint64) * xp.asarray(0x9E3779B97F4A7C15, dtype=np.uint64)
    z += xp.asarray(key, dtype=np.uint64)
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        z ^= z >> xp.asarray(shift, dtype=np.uint64)
        z *= xp.asarray(multiplier, dtype=np.uint64)
    z ^= z >> xp.asarray(31, dtype=np.uint64)
    return (z >> xp.asarray(11, dtype=np.uint64)).astype(np.float64) * 2.0**-53


def _race_rows(backend: Backend, offset: int, X: Any, sample_weight: Any, *, seed: int, count: int):
    """Row function: the ``count`` rows of largest key ``log(u) / w`` (ties: lowest row), as ``(keys, rows of X)``.

    ``log(u) / w`` orders rows as ``u^(1/w)`` does: a weighted draw without
    replacement (a row of weight 0 never wins while a positive one remains).
    """
    xp = backend.xp
    logs = xp.log(_uniforms(xp, seed, 0, offset, X.shape[0]) + 2.0**-54)  # (never log 0)
    if sample_weight is None:
        keys = logs
    else:
        weight = sample_weight.astype(np.float64)
        keys = xp.where(weight > 0, logs / xp.where(weight > 0, weight, 1.0), -np.inf)
    order = top_rows(keys, count, xp)
    return (backend.to_numpy(keys[order]), backend.to_numpy(order) + offset), backend.to_numpy(X[order])


def top_rows(score: Any, count: int, xp: Any) -> Any:
    """Indices of the ``count`` largest ``score`` values, largest first (ties: lowest index first).

    Only the top is ever sorted (a partition finds it): O(n), not a sort.

    >>> top_rows(np.array([1.0, 3.0, 2.0, 3.0]), 3, np).tolist()
    [1, 3, 2]
    """
    n_rows = score.shape[0]
    count = min(count, n_rows)
    if count == 0:
        return xp.zeros(0, dtype=np.int64)
    # the count-th largest score; every row above it, and the lowest rows that equal it
    cutoff = xp.partition(score, n_rows - count)[n_rows - count]
    above = xp.flatnonzero(score > cutoff)
    top = xp.concatenate([above, xp.flatnonzero(score == cutoff)[: count - above.shape[0]]])
    return top[xp.lexsort(xp.stack([top, -score[top]]))]  # by score, then by row


def _merge_race(first: tuple, second: tuple, *, count: int) -> tuple:
    """Merge of two :func:`_race_rows` results: the ``count`` largest keys of both (ties: lowest row)."""
    points = np.concatenate([first[1], second[1]])
    keys, rows = np.concatenate([first[0][0], second[0][0]]), np.concatenate([first[0][1], second[0][1]])
    order = np.lexsort((rows, -keys))[:count]
    return (keys[order], rows[order]), points[order]


def _nearer_candidates(backend, offset, X, closest, nearest, sample_weight, *, candidates, first_index, grid):
    """Row function: lower ``D(x)^2`` (and the nearest candidate's index) to include ``candidates``.

    A new candidate must be strictly nearer to take a point (ties stay with the
    lower index). Returns the new per-row arrays and the potential's exact-sum parts.
    """
    xp = backend.xp
    labels, sq_dist = backend.assign(X, backend.asarray(candidates, dtype=X.dtype))
    labels = labels + np.int32(first_index)
    if closest is not None:
        nearer = sq_dist < closest
        sq_dist = xp.where(nearer, sq_dist, closest)
        labels = xp.where(nearer, labels, nearest)
    terms = sq_dist if sample_weight is None else sq_dist * sample_weight.astype(np.float64)
    return (sq_dist, labels.astype(np.int32)), [part.sum() for part in fold(terms, grid)]


def _sampled_rows(backend, offset, X, closest, sample_weight, *, seed, stream, factor):
    """Row function: the rows k-means|| keeps this round (``u < factor * w * D(x)^2``), as ``(rows, points)``."""
    xp = backend.xp
    mass = closest * factor if sample_weight is None else closest * sample_weight.astype(np.float64) * factor
    kept = xp.flatnonzero(_uniforms(xp, seed, stream, offset, X.shape[0]) < mass)
    return backend.to_numpy(kept) + offset, backend.to_numpy(X[kept])


def _join_samples(first: tuple, second: tuple) -> tuple:
    """Merge of two :func:`_sampled_rows` results, in row order."""
    rows, points = np.concatenate([first[0], second[0]]), np.concatenate([first[1], second[1]])
    order = np.argsort(rows, kind="stable")
    return rows[order], points[order]


def _attracted_weight(backend, offset, nearest, sample_weight, *, n_candidates, grid):
    """Row function: exact-sum parts of the weight nearest to each candidate."""
    xp = backend.xp
    weight = xp.ones(nearest.shape[0]) if sample_weight is None else sample_weight.astype(np.float64)
    return [xp.bincount(nearest, weights=part, minlength=n_candidates) for part in fold(weight, grid)]

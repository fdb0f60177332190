"""Initial centroids: k-means++ (greedy), random (Forgy), explicit, or a callable.

Everything here is written against the backend primitives and the backend's
array namespace, so the same code seeds a fit on every backend. The random
draws come from one :class:`numpy.random.Generator` on the host, so a given
``random_state`` picks the same initial points whatever the backend.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

import numpy as np

from .backends import Backend, get_backend, is_cupy_array
from .backends.base import to_backend, to_input_type
from .backends.exact import Scale
from .validation import (
    check_data,
    check_integer,
    check_n_clusters,
    check_random_state,
    check_sample_weight,
    check_weight_scale,
)

__all__ = ["INIT_METHODS", "init_centroids", "kmeans_plusplus"]

#: The named initialisation methods.
INIT_METHODS = ("k-means++", "random")

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
    backend = get_backend(backend, X)
    X_checked = check_data(X)
    X_backend = to_backend(X_checked, backend)
    n_clusters = check_n_clusters(n_clusters, X_backend.shape[0])
    weight = check_sample_weight(sample_weight, X_backend.shape[0], X_backend.dtype, backend.xp)
    check_weight_scale(X_backend, weight)
    if n_local_trials is not None:
        n_local_trials = check_integer(n_local_trials, "n_local_trials", minimum=1)
    rng = check_random_state(random_state)
    centroids, indices = _kmeans_plusplus(X_backend, n_clusters, weight, rng, backend, n_local_trials)
    return to_input_type(centroids, backend, is_cupy_array(X_checked)), indices


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

    # The first centre: drawn with probability proportional to the weight ...
    indices[0] = _weighted_draw(n_samples, sample_weight, None, rng.uniform(size=1), xp)[0]
    backend.seeding_step(X, X[indices[0] : indices[0] + 1], closest_sq_dist, sample_weight, scale)
    for c in range(1, n_clusters):
        # ... each next one: candidates drawn with probability proportional to
        # weight * D(x)^2, and the one that leaves the lowest potential wins.
        candidates = _weighted_draw(n_samples, sample_weight, closest_sq_dist, rng.uniform(size=n_local_trials), xp)
        best, _ = backend.seeding_step(X, X[xp.asarray(candidates)], closest_sq_dist, sample_weight, scale)
        indices[c] = candidates[best]

    return X[xp.asarray(indices)].copy(), indices


#: Rows per block when drawing from a weighted distribution (bounds the temporaries).
_DRAW_BLOCK_ROWS = 1 << 16


def _weighted_draw(n_samples: int, weight: Any, factor: Any, uniforms: np.ndarray, xp: Any) -> np.ndarray:
    """Rows drawn with probability proportional to ``weight * factor`` (either may be None: ones).

    Inverse-CDF sampling: row ``i`` is drawn when ``u * total`` falls in
    ``[cum_{i-1}, cum_i)``, so a row of probability 0 is never drawn. The
    cumulative sums are formed one block at a time: memory stays O(block),
    not O(n_samples), however large X is.
    """
    blocks = [
        slice(start, min(start + _DRAW_BLOCK_ROWS, n_samples)) for start in range(0, n_samples, _DRAW_BLOCK_ROWS)
    ]

    def mass(rows: slice) -> Any:
        parts = [array[rows].astype(np.float64) for array in (weight, factor) if array is not None]
        if not parts:
            return xp.ones(rows.stop - rows.start)
        return parts[0] if len(parts) == 1 else parts[0] * parts[1]

    # (stacked, then one transfer: on a GPU a float() per block would wait on the device each time)
    block_totals = np.array(xp.stack([mass(rows).sum() for rows in blocks]).tolist(), dtype=np.float64)
    if not block_totals.any() and factor is not None:
        # weight * D^2 is zero everywhere (every point sits on a centre): fall back to the weight
        return _weighted_draw(n_samples, weight, None, uniforms, xp)
    block_ends = np.cumsum(block_totals)
    targets = np.asarray(uniforms) * block_ends[-1]
    drawn = np.empty(len(targets), dtype=np.intp)
    for t, target in enumerate(targets):
        b = int(np.searchsorted(block_ends, target, side="right"))
        # (a target at the very end, or rounding between sum and cumsum, lands past the mass)
        b = min(b, int(np.flatnonzero(block_totals)[-1]))
        local = target - (block_ends[b - 1] if b else 0.0)
        block_mass = mass(blocks[b])
        offset = int(xp.searchsorted(xp.cumsum(block_mass), xp.asarray(local), side="right"))
        if offset >= block_mass.shape[0] or not bool(block_mass[offset] > 0):
            offset = int(xp.flatnonzero(block_mass > 0)[-1])  # never a row of probability 0
        drawn[t] = blocks[b].start + offset
    return drawn


def _forgy(X: Any, n_clusters: int, sample_weight: Any, rng: np.random.Generator, backend: Backend) -> Any:
    """``n_clusters`` distinct rows drawn with probability proportional to the weight."""
    if sample_weight is None:
        indices = rng.choice(X.shape[0], size=n_clusters, replace=False)
    else:
        weight = backend.to_numpy(sample_weight).astype(np.float64)
        indices = rng.choice(X.shape[0], size=n_clusters, replace=False, p=weight / weight.sum())
    return X[backend.xp.asarray(indices)].copy()

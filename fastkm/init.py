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
from .validation import check_data, check_n_clusters, check_random_state, check_sample_weight

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
) -> Any:
    """Initial centroids for one k-means run, as a backend array of ``X``'s dtype.

    ``X`` and ``sample_weight`` are already validated backend arrays; ``init``
    is a method name, an already validated ``(n_clusters, n_features)`` backend
    array, or a callable ``init(X, n_clusters, random_state) -> array``.
    """
    if isinstance(init, str):
        if init == "k-means++":
            return _kmeans_plusplus(X, n_clusters, sample_weight, rng, backend)[0]
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
    if n_local_trials is not None and (not isinstance(n_local_trials, int) or n_local_trials < 1):
        raise ValueError(f"n_local_trials must be a positive integer, got {n_local_trials!r}")
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
) -> tuple[Any, np.ndarray]:
    xp = backend.xp
    n_samples = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    weight = sample_weight.astype(np.float64)
    probability = backend.to_numpy(weight / weight.sum())

    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = rng.choice(n_samples, p=probability)
    closest_sq_dist = xp.full(n_samples, np.inf)
    _, potential = backend.seeding_step(X, X[indices[0] : indices[0] + 1], closest_sq_dist, sample_weight)

    for c in range(1, n_clusters):
        # Draw candidates with probability proportional to weight * D(x)^2 ...
        targets = rng.uniform(size=n_local_trials) * potential
        cumulative = xp.cumsum(weight * closest_sq_dist)
        candidates = backend.to_numpy(xp.searchsorted(cumulative, xp.asarray(targets)))
        candidates = np.minimum(candidates, n_samples - 1)
        # ... and keep the one that leaves the lowest potential.
        best, potential = backend.seeding_step(X, X[xp.asarray(candidates)], closest_sq_dist, sample_weight)
        indices[c] = candidates[best]

    return X[xp.asarray(indices)].copy(), indices


def _forgy(X: Any, n_clusters: int, sample_weight: Any, rng: np.random.Generator, backend: Backend) -> Any:
    """``n_clusters`` distinct rows drawn with probability proportional to the weight."""
    weight = backend.to_numpy(sample_weight).astype(np.float64)
    indices = rng.choice(X.shape[0], size=n_clusters, replace=False, p=weight / weight.sum())
    return X[backend.xp.asarray(indices)].copy()

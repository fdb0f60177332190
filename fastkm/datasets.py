"""The tutorial's seed boards, generalised to d dimensions.

* :func:`uniform_board` -- points spread uniformly over the square
  ``[-1, 1]^d``: data with no cluster structure at all.
* :func:`gaussian_board` -- ``n_clusters`` Gaussian blobs with random centres
  in ``[-1, 1]^d`` and random spreads in ``[0.05, 0.5]``; points that fall
  outside the square are drawn again, so every point lies on the board.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .validation import check_n_clusters, check_random_state

__all__ = ["GaussianBoard", "gaussian_board", "uniform_board"]


@dataclass(frozen=True)
class GaussianBoard:
    """A Gaussian board and the truth behind it."""

    X: np.ndarray
    """``(n_samples, n_features)`` points."""
    labels: np.ndarray
    """``(n_samples,)`` int32: the blob each point was drawn from."""
    centers: np.ndarray
    """``(n_clusters, n_features)`` the blobs' centres."""
    spreads: np.ndarray
    """``(n_clusters,)`` the blobs' standard deviations."""


def uniform_board(n_samples: int, n_features: int = 2, *, random_state: Any = None, dtype: Any = np.float64) -> np.ndarray:
    """``n_samples`` points uniform in ``[-1, 1]^n_features``.

    >>> X = uniform_board(1000, 3, random_state=0)
    >>> X.shape, bool(np.abs(X).max() <= 1)
    ((1000, 3), True)
    """
    n_samples, n_features = _check_sizes(n_samples, n_features)
    rng = check_random_state(random_state)
    return rng.uniform(-1.0, 1.0, size=(n_samples, n_features)).astype(dtype, copy=False)


def gaussian_board(
    n_samples: int,
    n_clusters: int,
    n_features: int = 2,
    *,
    spread: tuple[float, float] = (0.05, 0.5),
    random_state: Any = None,
    dtype: Any = np.float64,
) -> GaussianBoard:
    """Gaussian blobs on the board ``[-1, 1]^n_features``.

    Points are split as evenly as possible between the ``n_clusters`` blobs
    and appear in blob order (blob 0 first).

    >>> board = gaussian_board(600, 3, random_state=0)
    >>> board.X.shape, np.bincount(board.labels).tolist()
    ((600, 2), [200, 200, 200])
    >>> bool(np.abs(board.X).max() < 1)
    True
    """
    n_samples, n_features = _check_sizes(n_samples, n_features)
    n_clusters = check_n_clusters(n_clusters, n_samples)
    low, high = spread
    if not 0 < low <= high <= 2:
        raise ValueError(
            f"spread must be (low, high) with 0 < low <= high <= 2, got {spread!r} "
            "(a blob wider than the board is just noise on it: use uniform_board)"
        )
    rng = check_random_state(random_state)
    centers = rng.uniform(-1.0, 1.0, size=(n_clusters, n_features))
    spreads = rng.uniform(low, high, size=n_clusters)
    sizes = np.full(n_clusters, n_samples // n_clusters)
    sizes[: n_samples % n_clusters] += 1

    X = np.empty((n_samples, n_features), dtype=dtype)
    labels = np.repeat(np.arange(n_clusters, dtype=np.int32), sizes)
    start = 0
    for cluster, size in enumerate(sizes):
        X[start : start + size] = _blob_inside_board(rng, centers[cluster], spreads[cluster], size)
        start += size
    return GaussianBoard(X=X, labels=labels, centers=centers.astype(dtype), spreads=spreads)


def _blob_inside_board(rng: np.random.Generator, center: np.ndarray, spread: float, size: int) -> np.ndarray:
    """``size`` normal draws around ``center``, conditioned on lying inside ``(-1, 1)^d``.

    The coordinates are independent, so redrawing each coordinate that falls
    outside gives exactly the distribution of redrawing whole points, and stays
    fast in high dimension, where most whole points would fall outside.
    """
    points = rng.normal(center, spread, size=(size, center.shape[0]))
    outside = np.abs(points) >= 1.0
    while outside.any():
        rows, cols = np.nonzero(outside)
        points[rows, cols] = rng.normal(center[cols], spread)
        outside[rows, cols] = np.abs(points[rows, cols]) >= 1.0
    return points


def _check_sizes(n_samples: Any, n_features: Any) -> tuple[int, int]:
    for name, value in (("n_samples", n_samples), ("n_features", n_features)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(n_samples), int(n_features)

"""Benchmark data: the grid points every fastkm benchmark is named by.

| point | N         | d   | K    |
|-------|-----------|-----|------|
| A     | 2,000,000 | 2   | 8    |
| B     | 1,000,000 | 16  | 64   |
| C     | 500,000   | 64  | 256  |
| D     | 100,000   | 256 | 1024 |

The GPU grid is the same with N x 10. Per-iteration time means: fixed initial
centroids, ``tol=0``, a fixed number of iterations, float32, after warm-up.

>>> GRID["B"]
GridPoint(name='B', n_samples=1000000, n_features=16, n_clusters=64)
>>> X, centroids = grid_data(GRID["A"], scale=1e-4)
>>> X.shape, centroids.shape, X.dtype
((200, 2), (8, 2), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GRID", "GridPoint", "grid_data"]


@dataclass(frozen=True)
class GridPoint:
    name: str
    n_samples: int
    n_features: int
    n_clusters: int


GRID = {
    point.name: point
    for point in (
        GridPoint("A", 2_000_000, 2, 8),
        GridPoint("B", 1_000_000, 16, 64),
        GridPoint("C", 500_000, 64, 256),
        GridPoint("D", 100_000, 256, 1024),
    )
}


def grid_data(point: GridPoint, *, scale: float = 1.0, dtype: Any = np.float32, seed: int = 0):
    """Data and fixed initial centroids for a grid point, ``N`` scaled by ``scale``.

    The data are Gaussian blobs around ``n_clusters`` random centres (so
    Lloyd moves points between clusters, as it does on real data); the
    initial centroids are the first ``n_clusters`` rows.
    """
    n_samples = max(point.n_clusters, int(round(point.n_samples * scale)))
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((point.n_clusters, point.n_features)).astype(dtype) * 4
    X = centers[rng.integers(0, point.n_clusters, n_samples)]
    X += rng.standard_normal(X.shape, dtype=np.float32).astype(dtype, copy=False)
    return X, X[: point.n_clusters].copy()

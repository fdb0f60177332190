"""The NumPy reference backend: chunked, float64, readable. The oracle.

Every other backend is tested against this one, so it is written for clarity
first. It walks ``X`` in blocks of rows so its working memory is
``O(chunk_rows * max(n_clusters, n_features))`` and never ``n_samples x
n_clusters``. Inside a block everything is float64, and centred on the mean of
the centroids (so data far from the origin loses no precision): distances come
from the expansion ``|x|^2 - 2 x.c + |c|^2`` (one GEMM), and the distance of
each point to the centroid it picked is then recomputed directly as
``|x - c|^2`` so that inertia carries no cancellation error.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..validation import check_integer
from .base import HostArrays, StepResult

__all__ = ["NumpyBackend", "unavailable_reason"]

#: Target size in bytes of the per-block float64 work arrays.
_BLOCK_BYTES = 8 * 2**20


def unavailable_reason() -> str | None:
    """NumPy is a required dependency, so this backend is always available."""
    return None


def describe() -> str:
    """One line on what runs this backend."""
    return f"NumPy {np.__version__}, chunked float64 reference"


class NumpyBackend(HostArrays):
    """Chunked NumPy implementation of the backend contract.

    Parameters
    ----------
    chunk_rows : int, optional
        Rows per block. By default chosen so each float64 work array is about
        8 MiB.

    Examples
    --------
    >>> import numpy as np
    >>> backend = NumpyBackend()
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    >>> labels, sq_dist = backend.assign(X, np.array([[0.0, 0.5], [10.0, 10.0]]))
    >>> labels.tolist(), sq_dist.tolist()
    ([0, 0, 1], [0.25, 0.25, 0.0])
    """

    name = "numpy"

    def __init__(self, chunk_rows: int | None = None):
        self.chunk_rows = None if chunk_rows is None else check_integer(chunk_rows, "chunk_rows", minimum=1)

    def __repr__(self) -> str:
        return f"NumpyBackend(chunk_rows={self.chunk_rows!r})"

    # -- the primitives -------------------------------------------------------
    def assign(self, X: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        origin, centroids64 = _centred(centroids)
        labels = np.empty(X.shape[0], dtype=np.int32)
        sq_dist = np.empty(X.shape[0], dtype=np.float64)
        for rows, block in self._blocks(X, len(centroids), origin):
            labels[rows], sq_dist[rows] = _nearest(block, centroids64)
        return labels, sq_dist

    def assign_accumulate(
        self, X: np.ndarray, centroids: np.ndarray, sample_weight: np.ndarray | None, labels: np.ndarray | None = None
    ) -> StepResult:
        n_clusters, n_features = centroids.shape
        origin, centroids64 = _centred(centroids)
        if labels is None:
            labels = np.full(X.shape[0], -1, dtype=np.int32)
        sums = np.zeros((n_clusters, n_features), dtype=np.float64)
        counts = np.zeros(n_clusters, dtype=np.float64)
        inertia = 0.0
        n_changed = 0
        for rows, block in self._blocks(X, n_clusters, origin):
            weight = np.ones(block.shape[0]) if sample_weight is None else sample_weight[rows].astype(np.float64)
            block_labels, block_sq_dist = _nearest(block, centroids64)
            n_changed += int(np.count_nonzero(labels[rows] != block_labels))
            labels[rows] = block_labels
            np.add.at(sums, block_labels, X[rows] * weight[:, None])  # the data as given, not centred
            counts += np.bincount(block_labels, weights=weight, minlength=n_clusters)
            inertia += float(block_sq_dist @ weight)
        return StepResult(labels, sums, counts, np.float64(inertia), np.int64(n_changed))

    def pairwise_sq_distances(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        origin, Y64 = _centred(Y)
        out = np.empty((X.shape[0], Y.shape[0]), dtype=np.float64)
        for rows, block in self._blocks(X, len(Y), origin):
            out[rows] = _expanded_sq_distances(block, Y64)
        return out

    def labelled_sq_distances(self, X: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        centroids64 = centroids.astype(np.float64)
        sq_dist = np.empty(X.shape[0], dtype=np.float64)
        step = self.chunk_rows or 4096  # small blocks: the gathered centroids stay in cache
        for start in range(0, X.shape[0], step):
            rows = slice(start, start + step)
            diff = X[rows].astype(np.float64) - centroids64[labels[rows]]
            sq_dist[rows] = np.einsum("ij,ij->i", diff, diff)
        return sq_dist

    def seeding_step(
        self, X: np.ndarray, candidates: np.ndarray, closest_sq_dist: np.ndarray, sample_weight: np.ndarray | None
    ) -> tuple[int, float]:
        sq_dist = self.pairwise_sq_distances(X, candidates)
        np.minimum(sq_dist, closest_sq_dist[:, None], out=sq_dist)
        potentials = sq_dist.sum(axis=0) if sample_weight is None else sample_weight.astype(np.float64) @ sq_dist
        best = int(np.argmin(potentials))
        closest_sq_dist[:] = sq_dist[:, best]
        return best, float(potentials[best])

    # -- helpers --------------------------------------------------------------
    def _blocks(self, X: np.ndarray, n_clusters: int, origin: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, X[rows] - origin in float64)`` for consecutive row blocks."""
        n_samples, n_features = X.shape
        step = self.chunk_rows or max(64, _BLOCK_BYTES // (8 * max(n_clusters, n_features, 1)))
        for start in range(0, n_samples, step):
            rows = slice(start, min(start + step, n_samples))
            yield rows, X[rows].astype(np.float64) - origin


def _centred(centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centroids' mean (the origin the blocks are moved to) and the centroids moved there, float64."""
    centroids64 = centroids.astype(np.float64)
    origin = centroids64.mean(axis=0)
    return origin, centroids64 - origin


def _expanded_sq_distances(block: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``|x|^2 - 2 x.c + |c|^2`` for every pair, clipped at 0 (float64)."""
    sq_dist = block @ centroids.T
    sq_dist *= -2.0
    sq_dist += np.einsum("ij,ij->i", block, block)[:, None]
    sq_dist += np.einsum("ij,ij->i", centroids, centroids)[None, :]
    np.maximum(sq_dist, 0.0, out=sq_dist)
    return sq_dist


def _nearest(block: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (first minimum wins) and exact squared distances for one block."""
    labels = np.argmin(_expanded_sq_distances(block, centroids), axis=1).astype(np.int32)
    diff = block - centroids[labels]
    return labels, np.einsum("ij,ij->i", diff, diff)


BACKEND = NumpyBackend

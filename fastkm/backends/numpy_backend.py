"""The NumPy reference backend: chunked, float64, readable. The oracle.

Every other backend is tested against this one, so it is written for clarity
first. It walks ``X`` in blocks of rows so its working memory is
``O(chunk_rows * max(n_clusters, n_features))`` and never ``n_samples x
n_clusters``. In each block it screens with the float64 expansion
``|c~|^2 - 2 x~.c~`` of rows and centroids moved to the centroids' mean (one
GEMM), settles every row the screen cannot certify by the canonical distance
(:mod:`fastkm.backends.exact`), reports canonical distances, and adds every
total on its exact-sum grids (``np.add.at``, ``np.bincount``: any order).
"""

from __future__ import annotations

from collections.abc import Iterator

import logging
from typing import Any

import numpy as np

from ..validation import check_integer
from .base import HostArrays, StepParts
from .bounds import BoundState, certifies, decayed, lower32, slack, sqrt_lower, sqrt_upper
from .exact import Scale, canonical_sq_distances, canonical_to_labelled, fold, gemm_threshold, reproducible_sum

__all__ = ["NumpyBackend", "unavailable_reason"]

logger = logging.getLogger("fastkm")

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
    supports_bounds = True  # (the plain versions, the tests' oracle: slower than its Lloyd, so "auto" runs Lloyd)

    def __init__(self, chunk_rows: int | None = None):
        self.chunk_rows = None if chunk_rows is None else check_integer(chunk_rows, "chunk_rows", minimum=1)

    def __repr__(self) -> str:
        return f"NumpyBackend(chunk_rows={self.chunk_rows!r})"

    # -- the primitives -------------------------------------------------------
    def assign(self, X: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        screen = _Screen(centroids)
        labels = np.empty(X.shape[0], dtype=np.int32)
        sq_dist = np.empty(X.shape[0], dtype=np.float64)
        for rows in self._blocks(X, len(centroids)):
            labels[rows], sq_dist[rows] = screen.nearest(X[rows], None)
        self.last_recheck_share = screen.n_rechecked / max(X.shape[0], 1)
        return labels, sq_dist

    def accumulate_parts(
        self,
        X: np.ndarray,
        centroids: np.ndarray,
        sample_weight: np.ndarray | None,
        labels: np.ndarray | None = None,
        scale: Scale | None = None,
        bounds: BoundState | None = None,
    ) -> StepParts:
        n_clusters, n_features = centroids.shape
        scale = scale or Scale.of(X, sample_weight, centroids)
        sums_grid, counts_grid, inertia_grid = scale.grids()
        screen = _Screen(centroids)
        if bounds is None:
            nearest = screen.nearest
        else:
            labels, nearest = self._bounded(X, centroids, labels, scale, bounds, screen)
        if labels is None:
            labels = np.full(X.shape[0], -1, dtype=np.int32)
        # every total is kept in parts on an exact-sum grid (fastkm.backends.exact)
        sums = np.zeros((len(sums_grid.magic), n_clusters, n_features))
        counts = np.zeros((len(counts_grid.magic), n_clusters))
        inertia = np.zeros(len(inertia_grid.magic))
        n_changed = 0
        for rows in self._blocks(X, n_clusters):
            block_labels, block_sq_dist = nearest(X[rows], labels[rows])
            n_changed += int(np.count_nonzero(labels[rows] != block_labels))
            labels[rows] = block_labels
            weight = None if sample_weight is None else sample_weight[rows].astype(np.float64)
            values = X[rows].astype(np.float64) if weight is None else X[rows] * weight[:, None]
            for part, folded in enumerate(fold(values, sums_grid)):
                np.add.at(sums[part], block_labels, folded)
            for part, folded in enumerate(fold(np.ones(len(block_labels)) if weight is None else weight, counts_grid)):
                counts[part] += np.bincount(block_labels, weights=folded, minlength=n_clusters)
            terms = block_sq_dist if weight is None else block_sq_dist * weight
            inertia += [part.sum() for part in fold(terms, inertia_grid)]
        self.last_recheck_share = screen.n_rechecked / max(X.shape[0], 1)
        return StepParts(labels, sums, counts, inertia, np.int64(n_changed))

    def _bounded(self, X, centroids, labels, scale, bounds, screen):
        """``(labels, nearest)`` for a bound-based step: ``nearest(rows, their labels)`` assigns a block.

        The readable version of :mod:`fastkm.backends.bounds`'s scheme, the
        oracle for the fast ones. A point keeps its label when its canonical
        distance to its centre is certainly below the smallest decayed group
        bound (and, for Hamerly and Elkan, ``2 s - u``). Otherwise the centres
        of every group whose bound cannot exclude them are measured (Yinyang's
        group filter: for Hamerly that is every centre, for Elkan each centre
        its own bound cannot exclude); the canonical argmin of those and the
        point's own centre is its label (lowest index on ties), and the bounds
        of the measured groups are set from the measured distances.
        """
        labels, fresh, motion = bounds.begin_step(centroids, labels, scale, np)
        eps = slack(X.shape[1])
        group_of = bounds.group_of
        position = 0  # (blocks come in order: the first row of the next one)

        def nearest(block: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            nonlocal position
            rows = slice(position, position + len(block))
            position += len(block)
            lower = bounds.lower[:, rows].T  # (points, groups): a view, written through
            if fresh:
                block_labels = np.empty(len(block), dtype=np.int32)
                sq_dist = np.empty(len(block))
                group_lower = np.zeros(lower.shape)
                measure = np.ones(lower.shape, dtype=bool)  # (points, groups) whose centres are measured
            else:
                block_labels = previous.copy()
                sq_dist = canonical_to_labelled(block, centroids, block_labels)
                group_lower = decayed(lower.astype(np.float64), motion.group_move)
                others = np.maximum(
                    group_lower.min(axis=1), 2 * motion.separation[block_labels] - sqrt_upper(sq_dist, eps)
                )
                kept = certifies(sq_dist, others, eps)
                measure = ~kept[:, None] & ~certifies(sq_dist[:, None], group_lower, eps)
            todo = np.flatnonzero(measure.any(axis=1))
            if todo.size:
                at = np.arange(todo.size)
                measured = measure[todo][:, group_of]  # (points, centres)
                bounds.n_distances += int(measured.sum())
                if not fresh:
                    measured[at, previous[todo]] = True  # (its distance is known)
                distances = np.where(measured, canonical_sq_distances(block[todo], centroids), np.inf)
                winners = distances.argmin(axis=1).astype(np.int32)  # the canonical argmin, lowest index on ties
                sq_dist[todo] = distances[at, winners]
                block_labels[todo] = winners
                distances[at, winners] = np.inf  # bounds are on the *other* centres
                nearest_in_group = np.stack(
                    [distances[:, group_of == g].min(axis=1, initial=np.inf) for g in range(bounds.n_groups)], axis=1
                )
                todo_lower = np.where(measure[todo], sqrt_lower(nearest_in_group, eps), group_lower[todo])
                if not fresh:  # a point that left its centre: that centre's group now bounds it too
                    left = np.flatnonzero(winners != previous[todo])
                    own_group = group_of[previous[todo][left]]
                    todo_lower[left, own_group] = np.minimum(
                        todo_lower[left, own_group], sqrt_lower(distances[left, previous[todo][left]], eps)
                    )
                group_lower[todo] = todo_lower
            lower[:] = lower32(group_lower)
            bounds.n_distances += 0 if fresh else len(block)
            return block_labels, sq_dist

        return labels, nearest

    def pairwise_sq_distances(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], Y.shape[0]), dtype=np.float64)
        for rows in self._blocks(X, len(Y)):
            out[rows] = canonical_sq_distances(X[rows], Y)
        return out

    def labelled_sq_distances(self, X: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        sq_dist = np.empty(X.shape[0], dtype=np.float64)
        for rows in self._blocks(X, 1):
            sq_dist[rows] = canonical_to_labelled(X[rows], centroids, labels[rows])
        return sq_dist

    def seeding_step(
        self,
        X: np.ndarray,
        candidates: np.ndarray,
        closest_sq_dist: np.ndarray,
        sample_weight: np.ndarray | None,
        scale: Scale | None = None,
        bounds: Any = None,
    ) -> tuple[int, float]:
        # (the reference measures every distance: bounds unused)
        grid = (scale or Scale.of(X, sample_weight)).inertia_grid()
        sq_dist = self.pairwise_sq_distances(X, candidates)
        np.minimum(sq_dist, closest_sq_dist[:, None], out=sq_dist)
        terms = sq_dist if sample_weight is None else sq_dist * sample_weight.astype(np.float64)[:, None]
        potentials = reproducible_sum(terms, grid, axis=0)
        best = int(np.argmin(potentials))
        closest_sq_dist[:] = sq_dist[:, best]
        return best, float(potentials[best])

    # -- helpers --------------------------------------------------------------
    def _blocks(self, X: np.ndarray, n_clusters: int) -> Iterator[slice]:
        """Consecutive row blocks whose float64 work arrays stay near :data:`_BLOCK_BYTES`."""
        n_samples, n_features = X.shape
        step = self.chunk_rows or max(64, _BLOCK_BYTES // (8 * max(n_clusters, n_features, 1)))
        for start in range(0, n_samples, step):
            yield slice(start, min(start + step, n_samples))


class _Screen:
    """The certified argmin against one set of centroids (see :mod:`fastkm.backends.exact`).

    Screens with the float64 expansion ``|c~|^2 - 2 x~.c~`` of rows and
    centroids moved to the centroids' mean (one GEMM per block), then settles
    every row whose runner-up is within :func:`~fastkm.backends.exact.gemm_threshold`
    of its best by the canonical distance.
    """

    def __init__(self, centroids: np.ndarray):
        self.centroids = centroids
        centroids64 = centroids.astype(np.float64)
        self.origin = centroids64.mean(axis=0)
        moved = centroids64 - self.origin
        self.operand = -2.0 * moved.T
        self.sq_norms = np.einsum("ij,ij->i", moved, moved)
        self.radius = float(np.sqrt(self.sq_norms.max())) * (1 + 2.0**-40)
        self.rho, self.offset = gemm_threshold(np.float64, centroids.shape[1])
        self.n_rechecked = 0

    def nearest(self, X: np.ndarray, previous: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Labels (the canonical argmin, lowest index on ties) and canonical squared distances of rows ``X``."""
        moved = X.astype(np.float64) - self.origin
        scores = moved @ self.operand
        scores += self.sq_norms
        labels = np.argmin(scores, axis=1).astype(np.int32)
        best = scores[np.arange(len(labels)), labels]
        limit = best + self.rho * (np.sqrt(np.einsum("ij,ij->i", moved, moved)) + self.radius) ** 2 + self.offset
        unsure = np.flatnonzero((scores <= limit[:, None]).sum(axis=1) > 1)
        if unsure.size:  # (centres outside the limit are certified farther: taking them too is harmless)
            labels[unsure] = np.argmin(canonical_sq_distances(X[unsure], self.centroids), axis=1)
        self.n_rechecked += unsure.size
        logger.debug("numpy: %d of %d points rechecked canonically", unsure.size, len(X))
        return labels, canonical_to_labelled(X, self.centroids, labels)


BACKEND = NumpyBackend

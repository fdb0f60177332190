"""The backend contract: the few primitives a k-means backend must provide.

A backend owns the hot step of Lloyd's algorithm over *its own* array type
(NumPy arrays for the CPU backends, CuPy arrays for the GPU one). Everything
else -- initialisation, the centroid update, empty clusters, convergence,
``n_init`` -- lives once, in :mod:`fastkm.lloyd` and :mod:`fastkm.init`, and is
written against these primitives plus the array namespace ``backend.xp``.

Conventions shared by every primitive:

* ``X`` is a C-contiguous ``(n_samples, n_features)`` float32 or float64 array
  of the backend's type (``backend.asarray`` makes it so);
* ``centroids`` is ``(n_clusters, n_features)`` of the same dtype as ``X``;
* ``sample_weight`` is ``(n_samples,)`` of the same dtype as ``X``, or
  ``None`` for unit weights (so the common case reads and stores no weights);
* labels are ``int32``: the argmin of the **canonical squared distance**
  ``d(x, c) = sum_j (x_j - c_j)^2``, evaluated in float64 from the exact
  float64 values of ``x`` and ``c``, features added in order ``j = 0 .. d-1``,
  each operation rounded once (no FMA, no reassociation, no fastmath), the
  lowest index on exact equality. A backend may screen with any arithmetic,
  but must certify its argmin (:mod:`fastkm.backends.exact`). Every squared
  distance a primitive returns is canonical, so every backend returns the
  same bits;
* sums, counts and inertia are float64 and **exact** on the grids that
  ``scale`` (:class:`~fastkm.backends.exact.Scale`) lays out: each term is
  split into parts on fixed grids and the parts summed, so the result does
  not depend on the order of the terms (threads, blocks, atomics) and is the
  same on every backend.

No primitive may build an ``(n_samples, n_clusters)`` matrix unless the caller
asks for exactly that (:meth:`Backend.pairwise_sq_distances`).

Whatever the driver does over all ``n_samples`` rows beyond the hot step
(cluster sizes, the farthest points for empty clusters, the variance behind
``tol``, k-means||'s sampling) is written once as a *row function* and run
through :meth:`Backend.map_rows`: a backend whose arrays live in one process
calls it once on whole arrays (:class:`InProcess`); the Dask backend calls it
on every chunk, where the chunk lives, and merges the small results.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .exact import fold

__all__ = [
    "Backend", "CombinesParts", "HostArrays", "InProcess", "StepParts", "StepResult", "array_namespace", "column_bounds", "is_cupy_array",
    "is_dask_array", "to_backend", "to_host", "to_input_type",
]  # fmt: skip

Array = Any  # numpy.ndarray or cupy.ndarray, depending on the backend


class StepResult(NamedTuple):
    """What one assign-and-accumulate pass over ``X`` returns."""

    labels: Array
    """``(n_samples,)`` int32: index of the nearest centroid of each point."""
    sums: Array
    """``(n_clusters, n_features)`` float64: weighted sum of each cluster's points."""
    counts: Array
    """``(n_clusters,)`` float64: total sample weight in each cluster."""
    inertia: Array
    """0-d float64 array: sum of ``weight * squared distance to nearest centroid``.

    Left as an array (not a Python float) so a GPU backend need not synchronise.
    """
    n_changed: Array
    """0-d integer array: how many labels differ from those the ``labels`` buffer held."""


class StepParts(NamedTuple):
    """One assign-and-accumulate pass over some rows, its totals still in exact-sum parts.

    Parts (leading axis: coarse to fine, on the grids of
    :meth:`~fastkm.backends.exact.Scale.grids`) of passes over different rows
    add exactly, in any order; :meth:`combined` turns them into the totals.
    """

    labels: Array
    sums: Array
    """``(folds, n_clusters, n_features)`` float64."""
    counts: Array
    """``(folds, n_clusters)`` float64."""
    inertia: Array
    """``(folds,)`` float64."""
    n_changed: Array

    def combined(self) -> StepResult:
        """The :class:`StepResult` of these parts (the one rounding sequence every backend ends with)."""
        from .exact import combine

        return StepResult(
            self.labels, combine(self.sums), combine(self.counts), combine(self.inertia)[()], self.n_changed
        )


@runtime_checkable
class Backend(Protocol):
    """What every fastkm backend implements.

    A new backend is one module in ``fastkm/backends/`` that defines a class
    with these members, a function ``unavailable_reason() -> str | None`` and a
    module attribute ``BACKEND`` naming the class; then it is registered by
    name in :data:`fastkm.backends._REGISTRY`.
    """

    name: str
    """Registry name, e.g. ``"numpy"``."""
    xp: ModuleType
    """The array namespace of this backend's arrays (``numpy`` or ``cupy``)."""

    def asarray(self, array: Any, dtype: Any = None) -> Array:
        """Return ``array`` as a C-contiguous array of this backend's type.

        Must not copy when the array already qualifies, and must never modify
        the caller's array.
        """

    def to_numpy(self, array: Array) -> np.ndarray:
        """Return a NumPy copy (or view) of a backend array."""

    def assign(self, X: Array, centroids: Array) -> tuple[Array, Array]:
        """Nearest centroid of every point.

        Returns ``(labels, sq_dist)``: int32 labels and the canonical squared
        distance of each point to its nearest centroid. Ties go to the lowest
        centroid index.
        """

    def assign_accumulate(
        self,
        X: Array,
        centroids: Array,
        sample_weight: Array | None,
        labels: Array | None = None,
        scale: Any = None,
        bounds: Any = None,
    ) -> StepResult:
        """The hot step: assign every point and accumulate the cluster sums.

        One pass over ``X``. ``labels``, when given, is an ``(n_samples,)``
        int32 buffer holding the previous labels: it is overwritten in place
        with the new ones (and returned as ``StepResult.labels``), and
        ``n_changed`` counts the rows whose label changed. So a Lloyd loop
        needs one label buffer, and "did any label change?" costs nothing
        extra. Without it a new buffer is returned and every row counts as
        changed. Labels must be exactly those :meth:`assign` returns for the
        same inputs. ``scale`` (:class:`~fastkm.backends.exact.Scale`) lays
        out the exact sums; the driver computes it once per fit (without it,
        ``Scale.of(X, sample_weight, centroids)``: one more pass over ``X``).
        ``bounds`` (:class:`~fastkm.backends.bounds.BoundState`, only for a
        backend whose ``supports_bounds`` is true) is the per-point state of a
        bound-based algorithm: the backend skips the points it proves keep
        their label, and updates the state; the result is the same, bit for bit.
        """

    def accumulate_parts(
        self,
        X: Array,
        centroids: Array,
        sample_weight: Array | None,
        labels: Array | None = None,
        scale: Any = None,
        bounds: Any = None,
    ) -> StepParts:
        """:meth:`assign_accumulate` with its totals left in exact-sum parts (:class:`StepParts`).

        ``assign_accumulate`` is ``accumulate_parts(...).combined()``; the
        parts of passes over different rows (chunks of a Dask array) add
        exactly, so a chunked pass gives the bits of a whole one.
        """

    def map_rows(
        self, function: Any, *arrays: Any, merge: Any = None, rows_out: tuple = (), **shared: Any
    ) -> Any:
        """Run a row function over row-aligned arrays (``None`` passes through) and merge its results.

        ``function(backend, offset, *row_blocks, **shared)`` gets a backend
        of the blocks' own kind, the index of the blocks' first row, and the
        blocks; ``merge(a, b)`` (associative) combines two results. With
        ``rows_out`` (a ``(dtype, trailing shape)`` per output) the function
        returns ``(tuple of per-row outputs, result)`` and ``map_rows``
        returns ``(tuple of per-row arrays of this backend, merged result)``.
        """

    def labelled_sq_distances(self, X: Array, centroids: Array, labels: Array) -> Array:
        """``(n_samples,)`` float64: the squared distance of each point to ``centroids[labels]``.

        ``O(n_samples * n_features)``: no search over the centroids. The driver
        uses it to find the points farthest from their centroids when a cluster
        empties.
        """

    def seeding_step(
        self,
        X: Array,
        candidates: Array,
        closest_sq_dist: Array,
        sample_weight: Array | None,
        scale: Any = None,
        bounds: Any = None,
    ) -> tuple[int, float]:
        """One greedy k-means++ step: pick the candidate centre that leaves the lowest potential.

        The potential of a candidate ``c`` is ``sum_i w_i min(closest_i, d(x_i, c))``
        (canonical distances, summed exactly on ``scale``'s inertia grid).
        Returns ``(index into candidates, its potential)`` (ties: the lowest
        index) and lowers ``closest_sq_dist`` (float64, updated in place) to
        include the chosen centre. Never builds an ``n_samples x n_candidates``
        matrix in a fast backend. ``bounds`` (a
        :class:`~fastkm.backends.bounds.SeedingBounds`, the same one for every
        step of a seeding; passed only to a backend with ``fast_bounds``) lets
        the backend skip the distances the triangle inequality rules out; the
        result is the same.
        """

    def pairwise_sq_distances(self, X: Array, Y: Array) -> Array:
        """``(len(X), len(Y))`` float64 matrix of squared Euclidean distances.

        Used where the caller really wants every distance: ``KMeans.transform``.
        """

    def rows_like(self, array: Array, X: Array) -> Array:
        """A per-row array (sample weights) laid out like ``X``'s rows (Dask: chunked alike, on the workers)."""

    def take_rows(self, X: Array, indices: Any) -> Array:
        """A copy of the rows of ``X`` at ``indices``, in that order, as a small array of this backend."""


#: Rows per block of the generic column sums (bounds the float64 temporaries).
_COLUMN_BLOCK_ROWS = 1 << 13


class CombinesParts:
    """``assign_accumulate`` as every backend has it: ``accumulate_parts(...).combined()``."""

    #: Whether ``accumulate_parts`` takes ``bounds`` (the bound-based algorithms, :mod:`fastkm.backends.bounds`).
    supports_bounds = False
    #: Whether they are fast here: ``algorithm="auto"`` picks them only then.
    fast_bounds = False

    def _no_bounds(self, bounds: Any) -> None:
        """For a backend without the bound-based algorithms: refuse a state (the driver checks first)."""
        if bounds is not None:
            raise ValueError(f"the {self.name} backend runs only algorithm='lloyd'; use the numpy or numba backend")

    def assign_accumulate(
        self,
        X: Array,
        centroids: Array,
        sample_weight: Array | None,
        labels: Array | None = None,
        scale: Any = None,
        bounds: Any = None,
    ) -> StepResult:
        return self.accumulate_parts(X, centroids, sample_weight, labels, scale, bounds).combined()


class InProcess(CombinesParts):
    """The row-level primitives of a backend whose arrays live in one process (NumPy, Numba, CuPy).

    ``map_rows`` is one call on the whole arrays.
    """

    def map_rows(self, function: Any, *arrays: Any, merge: Any = None, rows_out: tuple = (), **shared: Any) -> Any:
        return function(self, 0, *arrays, **shared)

    def column_sum_parts(self, X: Array, grid: Any, mean: Any = None) -> list[Array]:
        """Exact-sum parts, on ``grid`` (:class:`~fastkm.backends.exact.SumGrid`), of the column sums of
        ``X`` or, given ``mean``, of ``(X - mean)^2``: the same bits on every backend and chunking.

        A row-level primitive (the tolerance's variance calls it from a row
        function, on each chunk's own backend): here a block of rows at a time
        in float64, split by :func:`~fastkm.backends.exact.fold`; a backend
        with a fused kernel overrides it with the same bits.
        """
        totals: list[Any] = []
        mean = None if mean is None else self.xp.asarray(mean)
        for start in range(0, X.shape[0], _COLUMN_BLOCK_ROWS):
            rows = X[start : start + _COLUMN_BLOCK_ROWS]
            values = rows.astype(np.float64) if mean is None else (rows - mean) ** 2
            parts = [part.sum(axis=0) for part in fold(values, grid)]
            totals = [total + part for total, part in zip(totals, parts)] if totals else parts
        return totals or [self.xp.zeros(X.shape[1]) for _ in grid.magic]

    def rows_like(self, array: Array, X: Array) -> Array:
        return array

    def take_rows(self, X: Array, indices: Any) -> Array:
        return X[self.xp.asarray(indices)].copy()


class HostArrays(InProcess):
    """Array in / out for the CPU backends, whose arrays are NumPy arrays."""

    xp = np

    def asarray(self, array: Any, dtype: Any = None) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=dtype)

    def to_numpy(self, array: Any) -> np.ndarray:
        return np.asarray(array)


def is_cupy_array(array: Any) -> bool:
    """Whether ``array`` is a CuPy array, decided without importing CuPy."""
    return type(array).__module__.split(".", 1)[0] == "cupy"


def is_dask_array(array: Any) -> bool:
    """Whether ``array`` is a Dask array, decided without importing Dask."""
    return type(array).__module__.split(".", 1)[0] == "dask" and hasattr(array, "chunks")


def array_namespace(array: Any) -> ModuleType:
    """The array module (``numpy`` or ``cupy``) that ``array`` belongs to.

    >>> array_namespace(np.zeros(3)).__name__
    'numpy'
    """
    if is_cupy_array(array):
        import cupy

        return cupy
    return np


def to_host(array: Any) -> np.ndarray:
    """A NumPy array of a NumPy or CuPy array, list or frame (CuPy: one copy from the device).

    >>> to_host([1, 2]).tolist()
    [1, 2]
    """
    return array.get() if is_cupy_array(array) else np.asarray(array)


def column_bounds(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(min, max)`` of a 2-D NumPy or CuPy array, as float64 NumPy arrays (NaN propagates).

    A reduction down the columns of a tall, narrow array runs one short inner
    loop per row; so rows are first viewed ``m`` at a time as one wide row
    (no copy), whose columns reduce at full speed.

    >>> column_bounds(np.array([[1.0, 5.0], [-2.0, 3.0], [0.0, 4.0]]))
    (array([-2.,  3.]), array([1., 5.]))
    """
    if is_dask_array(X):
        from .dask_backend import column_bounds as chunked_bounds

        return chunked_bounds(X)
    n_samples, n_features = X.shape
    group = max(1, 256 // max(n_features, 1))
    whole = n_samples - n_samples % group if X.flags.c_contiguous else 0
    parts = [X[whole:]] if whole < n_samples else []
    if whole:
        parts.append(X[:whole].reshape(-1, group * n_features))
    lows = [to_host(part.min(axis=0)).reshape(-1, n_features).min(axis=0) for part in parts]
    highs = [to_host(part.max(axis=0)).reshape(-1, n_features).max(axis=0) for part in parts]
    return np.min(lows, axis=0).astype(np.float64), np.max(highs, axis=0).astype(np.float64)


def to_backend(X: Any, backend: Backend) -> Array:
    """Move validated data onto ``backend`` (host <-> device as needed), C-contiguous."""
    if is_cupy_array(X) and backend.xp is np:
        X = to_host(X)
    return backend.asarray(X)


def to_input_type(array: Array, backend: Backend, on_gpu: bool) -> Any:
    """Return a backend result in the caller's array type: CuPy if ``on_gpu``, else NumPy (Dask stays Dask)."""
    if is_dask_array(array):
        return array
    if on_gpu:
        import cupy

        return cupy.asarray(array)
    return backend.to_numpy(array)

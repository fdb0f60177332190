"""The agreement policy: fastkm's backends agree exactly; peers within a stated tolerance.

Every fastkm backend computes the same thing bit for bit (see
:mod:`fastkm.backends.exact`): labels are the argmin of one canonical float64
distance (lowest index on exact ties), whatever arithmetic screened them, and
every sum is exact on a grid fixed in advance, so its order -- threads, blocks,
GPU atomics -- does not matter. So the policy has no tolerance and no
exemption:

1. **One step** (:func:`assert_step_agrees`) from identical centroids, on any
   data: labels, ``n_changed``, cluster sums, weights and inertia identical,
   bit for bit. :func:`assert_step_is_canonical` checks a step against the
   definition itself (the canonical argmin, computed here by brute force).
2. **Whole fits** (:func:`assert_fits_agree`) from identical initial
   centroids: labels and ``n_iter`` identical, centroids and inertia
   identical, bit for bit.

Peers (scikit-learn, FAISS) sum in their own order and precision, so a fit of
theirs is compared with ``peer_rtol``: labels and ``n_iter`` still identical,
inertia and centroids within that relative tolerance (centroids relative to
their largest magnitude), with no hidden absolute term.

>>> import numpy as np
>>> from fastkm.backends import get_backend
>>> X = np.array([[0.0], [1.0], [2.0]])
>>> step = get_backend("numpy").assign_accumulate(X, np.array([[0.0], [2.0]]), None)
>>> step.labels.tolist()   # the middle point is tied: the lowest index wins
[0, 0, 1]
>>> assert_step_is_canonical(X, np.array([[0.0], [2.0]]), step)
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from .backends.base import is_dask_array
from .backends.exact import canonical_sq_distances

__all__ = [
    "assert_fits_agree",
    "assert_step_agrees",
    "assert_step_is_canonical",
    "canonical_assignment",
    "fit_summary",
    "to_numpy",
]


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy view or copy of a NumPy, CuPy or (computed) Dask array."""
    if is_dask_array(array):
        array = array.compute()
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def canonical_assignment(X: Any, centroids: Any) -> tuple[np.ndarray, np.ndarray]:
    """The definition, by brute force: ``(labels, sq_dist)`` from every canonical distance.

    Labels are the first (lowest-index) minimum. ``O(n_samples * n_clusters)``
    memory, a block of rows at a time.

    >>> canonical_assignment(np.array([[1.0]]), np.array([[0.0], [2.0]]))
    (array([0], dtype=int32), array([1.]))
    """
    X, centroids = to_numpy(X), to_numpy(centroids)
    labels = np.empty(len(X), dtype=np.int32)
    sq_dist = np.empty(len(X), dtype=np.float64)
    rows = max(1, (1 << 22) // max(1, len(centroids)))
    for start in range(0, len(X), rows):
        distances = canonical_sq_distances(X[start : start + rows], centroids)
        labels[start : start + rows] = distances.argmin(axis=1)
        sq_dist[start : start + rows] = distances.min(axis=1)
    return labels, sq_dist


def _assert_identical(name: str, actual: Any, desired: Any) -> None:
    actual, desired = to_numpy(actual), to_numpy(desired)
    if actual.shape != desired.shape or not np.array_equal(actual, desired):
        if actual.shape != desired.shape:
            raise AssertionError(f"{name}: shape {actual.shape} != {desired.shape}")
        differ = np.flatnonzero((actual != desired).ravel())
        raise AssertionError(
            f"{name} differ in {differ.size} of {actual.size} entries, first at flat index {differ[:10].tolist()}: "
            f"{actual.ravel()[differ[:5]].tolist()} != {desired.ravel()[differ[:5]].tolist()}"
        )


def assert_step_agrees(X: Any, centroids: Any, reference: Any, candidate: Any) -> None:
    """Level 1: two assign-and-accumulate steps from the same ``X`` and ``centroids`` are identical.

    ``reference`` and ``candidate`` are :class:`~fastkm.backends.base.StepResult`
    of any backends: labels, ``n_changed``, sums, counts and inertia must be
    the same bits.
    """
    for field in ("labels", "n_changed", "counts", "sums", "inertia"):
        _assert_identical(field, getattr(candidate, field), getattr(reference, field))


def assert_step_is_canonical(X: Any, centroids: Any, step: Any, sample_weight: Any = None) -> None:
    """A step's labels are the canonical argmin (lowest index on ties) and its totals are right.

    Labels must equal :func:`canonical_assignment`'s exactly; the counts, the
    sums and the inertia must be the weighted totals of those labels within
    float64 rounding (``1e-12`` relative: the exact sums differ from a plain
    float64 sum only by that sum's own rounding).
    """
    X64 = to_numpy(X).astype(np.float64)
    labels, sq_dist = canonical_assignment(X, centroids)
    _assert_identical("labels", step.labels, labels)
    weight = np.ones(len(X64)) if sample_weight is None else to_numpy(sample_weight).astype(np.float64)
    n_clusters = len(to_numpy(centroids))
    counts = np.bincount(labels, weights=weight, minlength=n_clusters)
    sums = np.zeros((n_clusters, X64.shape[1]))
    np.add.at(sums, labels, X64 * weight[:, None])
    np.testing.assert_allclose(to_numpy(step.counts), counts, rtol=1e-12, err_msg="counts")
    scale = np.abs(X64 * weight[:, None]).sum(axis=0)  # a sum's rounding is relative to its terms' magnitudes
    assert np.all(np.abs(to_numpy(step.sums) - sums) <= 1e-12 * scale), "sums"
    np.testing.assert_allclose(float(step.inertia), float(sq_dist @ weight), rtol=1e-12, err_msg="inertia")


def assert_fits_agree(X: Any, reference: Any, candidate: Any, *, peer_rtol: float | None = None) -> None:
    """Level 2: two whole fits (from identical initial centroids) agree.

    ``reference`` and ``candidate`` need ``labels``, ``centroids``,
    ``inertia`` and ``n_iter`` attributes (a :class:`~fastkm.KMeansResult`,
    or a fitted ``KMeans`` through :func:`fit_summary`). Two fastkm fits must
    be identical. ``peer_rtol`` is for a peer's fit (say in the test why its
    value): inertia within that relative tolerance, each centroid within it
    relative to the largest centroid coordinate; labels and ``n_iter`` equal.
    """
    _assert_identical("labels", candidate.labels, reference.labels)
    assert candidate.n_iter == reference.n_iter, f"n_iter {candidate.n_iter} != {reference.n_iter}"
    if peer_rtol is None:
        _assert_identical("centroids", candidate.centroids, reference.centroids)
        _assert_identical("inertia", np.float64(candidate.inertia), np.float64(reference.inertia))
        return
    np.testing.assert_allclose(float(candidate.inertia), float(reference.inertia), rtol=peer_rtol, err_msg="inertia")
    desired = to_numpy(reference.centroids).astype(np.float64)
    np.testing.assert_allclose(
        to_numpy(candidate.centroids), desired, rtol=0, atol=peer_rtol * float(np.abs(desired).max()), err_msg="centroids"
    )


def fit_summary(estimator: Any) -> SimpleNamespace:
    """The fields :func:`assert_fits_agree` reads, from a fitted scikit-learn style estimator."""
    return SimpleNamespace(
        labels=estimator.labels_,
        centroids=estimator.cluster_centers_,
        inertia=estimator.inertia_,
        n_iter=estimator.n_iter_,
    )

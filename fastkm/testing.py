"""The agreement policy: when two k-means answers count as the same.

Every backend must agree with the NumPy reference (and the reference with
scikit-learn). Floating point makes exact agreement impossible at near-ties,
so the policy has two levels, and its tolerances are written down here once:

1. **One step** from identical centroids on arbitrary data: labels equal for
   every point that is not a near-tie (see :data:`TOLERANCES`), inertia and
   the cluster sums equal within a relative tolerance.
2. **Whole fits** on separated data from identical initial centroids:
   identical labels and ``n_iter``, inertia within the relative tolerance,
   centroids within the relative tolerance (scaled by the data's magnitude).

The tolerances, per dtype, and why:

* ``near_tie_rtol``: a point is a near-tie when its two nearest centroids are
  closer than ``near_tie_rtol * (|x - o|^2 + max_c |c - o|^2)`` in squared
  distance (computed in float64), where ``o`` is the centroids' mean.
  Computing ``|x - c|^2`` in the data's precision -- directly, or as
  ``|x|^2 - 2 x.c + |c|^2`` on data moved to ``o`` (every backend must centre
  before expanding) -- has an error of a few ulps of that scale per term,
  accumulated over up to a few hundred terms: ``1e-4`` is about 800 ulps of
  float32, ``1e-10`` about 450,000 ulps of float64.
* ``inertia_rtol`` and ``centroid_rtol``: sums are accumulated in float64 by
  every backend, so what remains is the per-distance rounding of the data's
  precision, which averages out over many points: ``1e-5`` (float32),
  ``1e-10`` (float64). An inertia near zero (every point on its centroid)
  is compared with an absolute tolerance of one ulp of ``max|x|^2`` per
  point instead, the rounding of a centroid that should equal its point.

>>> TOLERANCES[np.dtype(np.float32)].near_tie_rtol
0.0001
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = [
    "TOLERANCES",
    "Tolerances",
    "assert_fits_agree",
    "assert_step_agrees",
    "fit_summary",
    "near_tie_mask",
    "to_numpy",
]


@dataclass(frozen=True)
class Tolerances:
    near_tie_rtol: float
    inertia_rtol: float
    centroid_rtol: float


TOLERANCES = {
    np.dtype(np.float32): Tolerances(near_tie_rtol=1e-4, inertia_rtol=1e-5, centroid_rtol=1e-5),
    np.dtype(np.float64): Tolerances(near_tie_rtol=1e-10, inertia_rtol=1e-10, centroid_rtol=1e-10),
}

#: A one-step comparison in which more than this share of points are near-ties
#: would say little; the data should be changed rather than the tolerance.
MAX_NEAR_TIE_SHARE = 0.01


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy view or copy of a NumPy or CuPy array."""
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def near_tie_mask(X: Any, centroids: Any, dtype: Any = None) -> np.ndarray:
    """Points whose nearest two centroids are within the near-tie band of ``dtype``.

    Computed in float64 from the data as given. With one centroid nothing is a tie.

    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> near_tie_mask(X, np.array([[0.0], [2.0]])).tolist()
    [False, True, False]
    """
    X64 = to_numpy(X).astype(np.float64)
    C64 = to_numpy(centroids).astype(np.float64)
    dtype = np.dtype(dtype or to_numpy(X).dtype)
    if len(C64) < 2:
        return np.zeros(len(X64), dtype=bool)
    origin = C64.mean(axis=0)
    farthest_centroid = ((C64 - origin) ** 2).sum(axis=1).max()
    mask = np.empty(len(X64), dtype=bool)
    rows = max(1, (1 << 22) // (len(C64) * X64.shape[1]))  # exact differences, a block of rows at a time
    for start in range(0, len(X64), rows):
        block = X64[start : start + rows]
        sq_dist = ((block[:, None, :] - C64[None, :, :]) ** 2).sum(axis=2)
        two_nearest = np.partition(sq_dist, 1, axis=1)[:, :2]
        scale = ((block - origin) ** 2).sum(axis=1) + farthest_centroid
        mask[start : start + rows] = two_nearest[:, 1] - two_nearest[:, 0] <= TOLERANCES[dtype].near_tie_rtol * scale
    return mask


def assert_step_agrees(X: Any, centroids: Any, reference: Any, candidate: Any) -> None:
    """Level 1: one assign-and-accumulate step of two backends agrees.

    ``reference`` and ``candidate`` are :class:`~fastkm.backends.base.StepResult`
    (of any backend) computed from the same ``X`` and ``centroids``. The
    comparison needs ``O(n_samples * n_clusters)`` memory: keep the data small.
    """
    tol = TOLERANCES[np.dtype(to_numpy(X).dtype)]
    ties = near_tie_mask(X, centroids)
    assert ties.mean() <= MAX_NEAR_TIE_SHARE, f"{ties.mean():.2%} of points are near-ties: choose other data"
    ref_labels, cand_labels = to_numpy(reference.labels), to_numpy(candidate.labels)
    mismatch = (ref_labels != cand_labels) & ~ties
    assert not mismatch.any(), (
        f"{mismatch.sum()} labels differ outside near-ties, first at rows {np.flatnonzero(mismatch)[:10].tolist()}"
    )
    _assert_inertia_close(X, candidate.inertia, reference.inertia, tol.inertia_rtol)
    # Clusters that a near-tie point joined in one backend but not the other
    # may differ by that point; every other cluster must match.
    touched = np.unique(np.concatenate([ref_labels[ref_labels != cand_labels], cand_labels[ref_labels != cand_labels]]))
    clean = np.setdiff1d(np.arange(len(to_numpy(centroids))), touched)
    np.testing.assert_allclose(
        to_numpy(candidate.counts)[clean], to_numpy(reference.counts)[clean], rtol=tol.centroid_rtol
    )  # weighted counts: float sums, in any order
    scale = np.abs(to_numpy(X)).max() * max(1.0, float(to_numpy(reference.counts).max()))
    np.testing.assert_allclose(
        to_numpy(candidate.sums)[clean], to_numpy(reference.sums)[clean], rtol=tol.centroid_rtol, atol=tol.centroid_rtol * scale
    )


def assert_fits_agree(
    X: Any, reference: Any, candidate: Any, *, check_n_iter: bool = True, inertia_rtol: float | None = None
) -> None:
    """Level 2: two whole fits (from identical initial centroids) agree.

    ``reference`` and ``candidate`` need ``labels``, ``centroids``,
    ``inertia`` and ``n_iter`` attributes (a :class:`~fastkm.KMeansResult`,
    or a fitted ``KMeans`` through :func:`fit_summary`). ``inertia_rtol``
    overrides the policy's for a peer that sums in lower precision (say why).
    """
    tol = TOLERANCES[np.dtype(to_numpy(X).dtype)]
    ref_labels, cand_labels = to_numpy(reference.labels), to_numpy(candidate.labels)
    differ = np.flatnonzero(ref_labels != cand_labels)
    assert differ.size == 0, f"{differ.size} labels differ, first at rows {differ[:10].tolist()}"
    if check_n_iter:
        assert candidate.n_iter == reference.n_iter, f"n_iter {candidate.n_iter} != {reference.n_iter}"
    _assert_inertia_close(X, candidate.inertia, reference.inertia, inertia_rtol or tol.inertia_rtol)
    scale = float(np.abs(to_numpy(X)).max())
    np.testing.assert_allclose(
        to_numpy(candidate.centroids), to_numpy(reference.centroids), rtol=tol.centroid_rtol, atol=tol.centroid_rtol * scale
    )


def _assert_inertia_close(X: Any, actual: Any, desired: Any, rtol: float) -> None:
    X = to_numpy(X)
    atol = len(X) * float(np.finfo(X.dtype).eps) * float(np.abs(X).max()) ** 2
    np.testing.assert_allclose(float(actual), float(desired), rtol=rtol, atol=atol, err_msg="inertia differs")


def fit_summary(estimator: Any) -> SimpleNamespace:
    """The fields :func:`assert_fits_agree` reads, from a fitted scikit-learn style estimator."""
    return SimpleNamespace(
        labels=estimator.labels_,
        centroids=estimator.cluster_centers_,
        inertia=estimator.inertia_,
        n_iter=estimator.n_iter_,
    )

"""Exact agreement by construction: the canonical distance, the certified argmin, reproducible sums.

Every backend gives the same labels, the same inertia and the same centroids,
bit for bit, on any thread count, because three things are defined here once
and every backend implements them exactly:

**The canonical squared distance.** ``d(x, c) = sum_j (x_j - c_j)^2`` evaluated
in float64 from the exact float64 values of ``x`` and ``c``, features added in
order ``j = 0 .. d-1`` starting from the first square, every subtraction,
multiplication and addition rounded once (no FMA contraction, no
reassociation, no fastmath). NumPy computes it as a loop over features
vectorised over rows (:func:`canonical_sq_distances`), Numba as a plain loop,
CUDA with ``__dsub_rn`` / ``__dmul_rn`` / ``__dadd_rn``. A point's label is the
index of its smallest canonical distance, the lowest index on exact equality;
the squared distances a backend reports (and inertia) are canonical ones.

**The certified argmin.** Computing ``K`` canonical distances per point would
be slow, so a backend *screens* with whatever is fast (a GEMM expansion in the
data's precision, a fused loop in float32) and carries a rigorous a-priori
bound on how far each screened score can be from the canonical distance. A
point whose runner-up is further than the bound allows is certified: its
screened winner is the canonical winner. Otherwise every centre whose screened
score is within the bound of the best is measured canonically and the
smallest wins (lowest index on equality). :func:`direct_threshold` and
:func:`gemm_threshold` give the bounds; their derivations are in their
docstrings.

**Reproducible sums.** A floating-point sum depends on its order, so sums
split across threads, blocks or GPU atomics differ in their last bits, and
centroids rounded to float32 then differ by an ulp, which is enough to break a
tie the other way an iteration later. So every sum (cluster sums, weights,
inertia, seeding potentials, the shift and variance the stopping rule uses)
is *exact*: each term ``v`` is split, on a grid fixed in advance from bounds on
the data (:class:`Scale`), into a high part on a coarse grid and a low part on
a fine one (``h1 = (v + M1) - M1``, ``h2 = ((v - h1) + M2) - M2``, see
:class:`SumGrid`); sums of multiples of a grid are exact in float64 while they
stay below ``2^53`` grid steps, so the two partial sums do not depend on the
order of the terms, and their float64 sum ``acc1 + acc2`` is the result. This is
the "pre-rounding" idea of Demmel and Nguyen's reproducible summation
(ReproBLAS) with fixed bins. The only rounding left is the part dropped below
the finest grid: at most about ``n^2 bound 2^-106`` per term for two folds
and ``n`` terms -- ``2^-60`` of the bound at ten million points, a bound
that is one feature's largest magnitude for the cluster sums, the largest
possible squared distance for inertia and seeding potentials (an inertia
within ``2^45`` of that resolution is summed again on a grid of its own, by
the driver). The parts' totals are added finest first
(:func:`combine`), one rounding sequence shared by every backend.

>>> import numpy as np
>>> grid = SumGrid.for_terms(3, 1.0, folds=3)
>>> values = np.array([1.0, 1e-17, -1.0])
>>> float(reproducible_sum(values, grid)), float(reproducible_sum(values[::-1], grid)), float(values.sum())
(1e-17, 1e-17, 0.0)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Scale",
    "SumGrid",
    "add_parts",
    "canonical_sq_distances",
    "canonical_to_labelled",
    "combine",
    "direct_threshold",
    "fold",
    "gemm_threshold",
    "reproducible_sum",
]

#: Unit roundoff ``u`` of each screening precision (round to nearest).
UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
#: The largest absolute error of one multiplication whose result underflows:
#: half the smallest subnormal. (Subtraction and addition are exact when they
#: underflow.)
UNDERFLOW = {np.dtype(np.float32): 2.0**-150, np.dtype(np.float64): 2.0**-1075}
_U64 = UNIT_ROUNDOFF[np.dtype(np.float64)]
#: Extra room on every bound, for the rounding of the bound's own arithmetic.
_MARGIN = 2.0


def _gamma(n: int, u: float) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: the relative error bound of ``n`` roundings."""
    return n * u / (1.0 - n * u) if n * u < 0.5 else math.inf


def direct_threshold(dtype: Any, n_features: int) -> tuple[float, float]:
    """``(scale, offset)``: centre ``k`` may be the nearest only if ``s_k <= scale * s_best + offset``.

    For screening by direct differences in ``dtype`` (``T``):
    ``s_k = fl_T(sum_j fl_T(fl_T(x_j - c_j)^2))``, summed in any order, with or
    without FMA. With ``D_k`` the exact squared distance, ``d`` features and
    ``u`` the unit roundoff of ``T``: the subtraction gives
    ``(x_j - c_j)(1 + a)``, the square ``(x_j - c_j)^2 (1 + a)^2 (1 + b) + e``
    (``|e| <= eta``, half the smallest subnormal, when the product underflows;
    subtraction and addition are exact then), and a sum of ``d`` non-negative
    terms in any order has relative error ``gamma_{d-1}`` (Higham, *Accuracy
    and Stability of Numerical Algorithms*, 2nd ed., eq. 4.4). Together::

        |s_k - D_k| <= gamma_{d+2}(u) D_k + 2 d eta.

    The canonical distance ``C_k`` is the same computation in float64:
    ``|C_k - D_k| <= gamma_{d+2}(u64) D_k + 2 d eta64``. So with
    ``a = gamma_{d+2}(u) + gamma_{d+2}(u64)`` and ``b = 2 d (eta + eta64)``,
    ``|s_k - C_k| <= a D_k + b`` and, as ``D_k <= (s_k + b) / (1 - a)``,
    ``|s_k - C_k| <= rel s_k + abs`` with ``rel = a / (1 - a)`` and
    ``abs = b / (1 - a)``, both taken :data:`_MARGIN` times larger to cover the
    rounding of the test itself. Centre ``k`` can beat the screened winner only
    if ``s_k - rel s_k - abs <= s_best + rel s_best + abs``, that is if
    ``s_k <= s_best (1 + rel) / (1 - rel) + 2 abs / (1 - rel)``.

    >>> scale, offset = direct_threshold(np.float32, 2)
    >>> 1.0 < scale < 1.0 + 1e-5
    True
    """
    dtype = np.dtype(dtype)
    a = _gamma(n_features + 2, UNIT_ROUNDOFF[dtype]) + _gamma(n_features + 2, _U64)
    b = 2.0 * n_features * (UNDERFLOW[dtype] + UNDERFLOW[np.dtype(np.float64)])
    if a >= 0.25:
        return math.inf, math.inf
    rel = _MARGIN * a / (1.0 - a)
    abs_ = _MARGIN * b / (1.0 - a)
    return (1.0 + rel) / (1.0 - rel), 2.0 * abs_ / (1.0 - rel)


def gemm_threshold(dtype: Any, n_features: int) -> tuple[float, float]:
    """``(rho, offset)``: on the GEMM path, centre ``k`` may be the nearest only if
    ``s'_k <= s'_best + rho * (|x~| + R)^2 + offset``.

    The GEMM path screens with ``s'_k = fl([x~, 1] . [-2 c~_k, b~_k])``, a dot
    product of length ``d + 1`` in ``T`` (any order, any blocking, FMA or
    not), where ``x~ = fl_T(x - o)``, ``c~_k = fl_T(c_k - o)`` for an origin
    ``o`` of type ``T``, and ``b~_k = fl_T(|c~_k|^2)``; ``s'_k + |x~|^2`` screens
    ``D_k``, and the term ``|x~|^2``, the same for every ``k``, is never needed.
    ``R`` is an upper bound on ``|c~_k|``. The errors:

    * the dot product: ``gamma_{d+1}(u) (2 |x~| |c~_k| + b~_k)`` (Higham eq. 3.5,
      with Cauchy-Schwarz), and ``b~_k`` itself is within ``gamma_d(u) |c~_k|^2``;
    * the centring: ``x~ - c~_k = (x - c_k) + e`` with
      ``|e| <= u (|x - o| + |c_k - o|)``, so ``| |x~ - c~_k|^2 - D_k | <=
      2 |x - c_k| |e| + |e|^2 <= (2u + u^2) (|x - o| + |c_k - o|)^2``;
    * the canonical distance: ``gamma_{d+2}(u64) D_k``;
    * underflow: at most ``(2d + 1) eta`` in ``T`` and ``2 d eta64``.

    Every term is at most its coefficient times ``M = (|x~| + R)^2 / (1 - u)^2``,
    which bounds ``2 |x~||c~_k| + |c~_k|^2``, ``|c~_k|^2``, ``(|x-o| + |c_k-o|)^2``
    and ``D_k``. So ``|s'_k + |x~|^2 - C_k| <= E`` with
    ``E = rho0 (|x~| + R)^2 + abs`` the same for every centre, and centre ``k``
    can beat the screened winner only if ``s'_k - E <= s'_best + E``. The
    returned ``rho`` and ``offset`` are ``3 E``'s coefficients (:data:`_MARGIN`
    included): the third ``E`` covers rounding ``s'_best + 2 E`` to ``T``
    (at most ``u |s'_best + 2E| <= E``, as ``|s'_best| <= M``).

    >>> rho, offset = gemm_threshold(np.float32, 16)
    >>> 1e-6 < rho < 1e-4
    True
    """
    dtype = np.dtype(dtype)
    u = UNIT_ROUNDOFF[dtype]
    d = n_features
    g_dot, g_norm = _gamma(d + 1, u), _gamma(d, u)
    if g_dot >= 0.25:
        return math.inf, math.inf
    rho0 = (g_dot * (1.0 + g_norm) + g_norm + 2.0 * u + u * u) / (1.0 - u) ** 2 + _gamma(d + 2, _U64)
    abs_ = (2 * d + 1) * UNDERFLOW[dtype] + 2 * d * UNDERFLOW[np.dtype(np.float64)]
    return 3.0 * _MARGIN * rho0, 3.0 * _MARGIN * abs_


def canonical_sq_distances(X: Any, centroids: Any, xp: Any = np) -> Any:
    """``(len(X), len(centroids))`` canonical squared distances (float64), a feature at a time.

    The definition the other backends reproduce bit for bit: one subtraction,
    one multiplication and one addition per feature, each rounded once, in
    feature order. ``O(len(X) * len(centroids))`` memory: call it on blocks.

    >>> canonical_sq_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0]])).ravel().tolist()
    [0.0, 25.0]
    """
    X = X.astype(np.float64, copy=False)
    centroids = centroids.astype(np.float64, copy=False)
    sq_dist = xp.zeros((X.shape[0], centroids.shape[0]), dtype=np.float64)
    for j in range(X.shape[1]):
        diff = X[:, j, None] - centroids[None, :, j]
        sq_dist += diff * diff  # (0 + the first square is that square: the sum starts with it)
    return sq_dist


def canonical_to_labelled(X: Any, centroids: Any, labels: Any, xp: Any = np) -> Any:
    """``(len(X),)`` canonical squared distance of each row to ``centroids[labels]`` (float64).

    >>> canonical_to_labelled(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), np.array([0])).tolist()
    [25.0]
    """
    X = X.astype(np.float64, copy=False)
    centroids = centroids.astype(np.float64, copy=False)
    sq_dist = xp.zeros(X.shape[0], dtype=np.float64)
    for j in range(X.shape[1]):
        diff = X[:, j] - centroids[labels, j]
        sq_dist += diff * diff
    return sq_dist


# -- reproducible sums ------------------------------------------------------------------
class SumGrid(NamedTuple):
    """The grids of an exact sum: ``magic[f]`` splits the ``f``-th part off (see :func:`fold`).

    ``magic = 1.5 * 2^52 * g`` for a grid step ``g``: adding it to a value
    ``|v| <= 2^51 g`` rounds the value to a multiple of ``g`` (to nearest,
    ties to even), and subtracting it again is exact. ``magic`` is
    ``(n_folds,)``, or ``(n_folds, n_columns)`` for one grid per column.
    """

    magic: np.ndarray

    @property
    def resolution(self) -> Any:
        """The finest step: each term is summed to within half of it."""
        return self.magic[-1] / (1.5 * 2.0**52)

    @classmethod
    def for_terms(cls, n_terms: int, bound: Any, folds: int = 2) -> "SumGrid":
        """The grid for summing at most ``n_terms`` values of magnitude at most ``bound`` (per column).

        The first step ``g1 = 2^(E - 53)`` with ``2^E >= 2 n bound``: every
        partial sum of multiples of ``g1`` is at most ``n (bound + g1 / 2) <=
        2^53 g1``, so exact, and every term is at most ``2^51 g1``. The
        remainders ``v - h1`` (exact, at most ``g1 / 2``) get the same treatment
        on a finer grid, ``folds`` times; what is left is dropped: at most half
        the last step per term, which is about ``n^folds * bound * 2^(-53 folds)``.

        >>> SumGrid.for_terms(10, 1.0).magic.tolist()
        [24.0, 4.263256414560601e-14]
        """
        n = float(max(int(n_terms), 4))
        bound = np.maximum(np.asarray(bound, dtype=np.float64), 2.0**-900)  # (all-zero data: any grid will do)
        steps = []
        for _ in range(folds):
            step = np.ldexp(1.0, np.frexp(2.0 * n * bound)[1] - 53)
            steps.append(step)
            bound = step / 2  # the remainders'
        if not np.all(np.isfinite(np.asarray(steps[0]) * 2.0**53)):
            raise OverflowError(f"a sum of {int(n)} terms of up to {np.max(bound):.3g} exceeds float64's range")
        return cls(1.5 * 2.0**52 * np.array(steps))


def fold(values: Any, grid: SumGrid) -> list[Any]:
    """Split float64 ``values`` into parts on ``grid``'s steps, coarse to fine.

    Their sum is ``values`` to within half the finest step; each part's sums
    are exact in float64, whatever their order.

    >>> [part.tolist() for part in fold(np.array([1.25]), SumGrid.for_terms(4, 2.0))]
    [[1.25], [0.0]]
    """
    parts = []
    for magic in grid.magic:
        high = (values + magic) - magic
        parts.append(high)
        values = values - high
    return parts


def combine(parts: Any) -> Any:
    """The value of an exact sum from its parts' totals, coarse to fine: added finest first.

    Every backend ends its sums with this one rounding sequence.
    """
    total = parts[-1]
    for part in parts[-2::-1]:
        total = part + total
    return total


def add_parts(parts: Any, others: Any) -> list[Any]:
    """Two exact sums' parts added part by part: exact, so partial sums merge in any order.

    >>> add_parts([np.float64(1.0), np.float64(0.5)], [np.float64(2.0), np.float64(0.25)])
    [np.float64(3.0), np.float64(0.75)]
    """
    return [part + other for part, other in zip(parts, others)]


def reproducible_sum(values: Any, grid: SumGrid, axis: Any = None) -> Any:
    """Sum of ``values`` (float64) along ``axis``, exact on ``grid``: the same whatever the order.

    >>> values = np.array([0.1, 0.2, 0.3])
    >>> float(reproducible_sum(values, SumGrid.for_terms(3, 0.3))), float((values[0] + values[1]) + values[2])
    (0.6, 0.6000000000000001)
    """
    return combine([part.sum(axis=axis) for part in fold(values, grid)])


class Scale(NamedTuple):
    """Bounds on a problem that every backend lays its exact sums out from.

    Computed once per fit by the driver (:meth:`of`), so that every iteration,
    on every backend, uses the same grids (and no iteration waits to measure
    anything). ``low`` and ``high`` bound every coordinate, per feature, of
    ``X`` and of every centroid it is used with: a fit's centroids are means of
    its points (inside their bounding box, but for the rounding of a mean,
    which the few ulps of padding here cover) or points, or the initial
    centroids, which the driver adds with :meth:`widened`.
    """

    n_samples: int
    low: np.ndarray
    """``(n_features,)`` float64."""
    high: np.ndarray
    weight_max: float
    """Largest sample weight (1 for unit weights)."""

    @classmethod
    def of(cls, X: Any, sample_weight: Any = None, *others: Any) -> "Scale":
        """The scale of ``X`` (and of the centroid arrays in ``others``), with ``sample_weight``.

        >>> Scale.of(np.array([[0.0, 2.0], [-1.0, 1.0]])).max_sq_dist > 2.0
        True
        """
        low, high = _box(X, *others)
        weight_max = 1.0 if sample_weight is None or not sample_weight.size else float(sample_weight.max())
        return cls(int(X.shape[0]), low, high, weight_max)

    def widened(self, *arrays: Any) -> "Scale":
        """This scale, widened where ``arrays`` (centroids) lie outside it."""
        low, high = _box(*arrays)
        if np.all(low >= self.low) and np.all(high <= self.high):
            return self
        return self._replace(low=np.minimum(low, self.low), high=np.maximum(high, self.high))

    @property
    def max_sq_dist(self) -> float:
        """A bound on every canonical squared distance between two points of the box."""
        return float(np.sum((self.high - self.low) ** 2)) * (1.0 + 2.0**-20)

    def sums_grid(self) -> SumGrid:
        """For the cluster sums ``w_i x_ij`` (float64 products): one grid per feature, two folds."""
        magnitude = np.maximum(np.abs(self.low), np.abs(self.high))
        return SumGrid.for_terms(self.n_samples, magnitude * self.weight_max * (1.0 + 2.0**-50))

    def counts_grid(self) -> SumGrid:
        """For the cluster weights ``w_i`` (two folds)."""
        return SumGrid.for_terms(self.n_samples, self.weight_max)

    def inertia_grid(self) -> SumGrid:
        """For ``w_i * d(x_i, c)`` (inertia, seeding potentials): two folds. (An inertia far below
        its bound -- points all but on their centroids -- is summed again by the driver on a grid
        fitted to its own terms: ``lloyd._refined_inertia``.)"""
        return SumGrid.for_terms(self.n_samples, self.max_sq_dist * self.weight_max * (1.0 + 2.0**-50))

    def grids(self) -> tuple[SumGrid, SumGrid, SumGrid]:
        """``(sums, counts, inertia)`` grids: what one assign-and-accumulate step needs."""
        return self.sums_grid(), self.counts_grid(), self.inertia_grid()

    def shift_grid(self, n_terms: int) -> SumGrid:
        """For the squared moves of ``n_terms`` centroid coordinates (three folds)."""
        return SumGrid.for_terms(n_terms, float(np.max((self.high - self.low) ** 2)) * (1.0 + 2.0**-20), folds=3)


def _box(*arrays: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(low, high)`` over ``arrays``, padded by 4 ulps of their dtype's magnitude (float64)."""
    from .base import column_bounds

    arrays = tuple(array for array in arrays if array.size)
    bounds = [column_bounds(array) for array in arrays]
    low = np.min([array_low for array_low, _ in bounds], axis=0)
    high = np.max([array_high for _, array_high in bounds], axis=0)
    pad = 4 * max(float(np.finfo(array.dtype).eps) for array in arrays) * np.maximum(np.abs(low), np.abs(high))
    return low - pad, high + pad

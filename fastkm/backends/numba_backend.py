"""The Numba backend: one fused, parallel pass over X per Lloyd iteration.

Each thread owns a contiguous range of rows, walks it in blocks, and for every
row finds the nearest centroid, writes the label in place and adds the row to
the thread's private exact sums, counts and inertia (:mod:`fastkm.backends.exact`:
two float64 parts per total, on grids fixed per fit); the partials
are combined once at the end, in any order, to the same bits. No
``n_samples x n_clusters`` matrix is ever made: the only distance storage is
one ``block_rows x n_clusters`` scratch block per thread, which stays in cache.

Two ways to screen a block, chosen by ``n_features``:

* **direct** (few features): ``sum_j (x_j - c_kj)^2`` in X's precision on a
  block of rows transposed a feature at a time, so every loop runs over
  contiguous rows at full SIMD width however small ``d`` and ``K`` are.
* **gemm** (more features): ``|c|^2 - 2 x.c`` from one BLAS GEMM per block of
  centred rows (single-threaded inside each of our threads, so BLAS and Numba
  never oversubscribe the cores), written transposed -- centre by row -- so
  one pass vectorised over rows keeps each row's best, its index and the
  runner-up.

Either way the screen is certified: a row whose runner-up is within the
screen's error bound (:func:`~fastkm.backends.exact.direct_threshold`,
:func:`~fastkm.backends.exact.gemm_threshold`) is settled by the canonical
distance, and every row's reported distance is its winner's canonical one
(kernels that compute it are compiled without fastmath).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange
from numba.extending import intrinsic

from .base import HostArrays, StepParts
from .bounds import TINY_SQ, BoundState, SeedingBounds, certifies, decayed, lower32, sqrt_lower, sqrt_upper, slack
from .exact import Scale, SumGrid, combine, direct_threshold, fold, gemm_threshold
from ..validation import check_integer
from .numba_runtime import kernel, numba_cache_dir, single_threaded_blas, threading_layer

__all__ = ["NumbaBackend", "describe", "unavailable_reason", "warmup"]

logger = logging.getLogger("fastkm")

#: Up to this many features the direct strategy is used, above it GEMM. Measured
#: (``python -m fastkm.bench --sweep``, benchmarks/results/): direct wins at every
#: K up to 128 for d <= 4 (by 1.3-3x) and loses at every K for d >= 16; d = 8 is
#: a toss-up within 15%. The crossover follows d, not d*K: a BLAS product with
#: an inner dimension of a few features wastes most of its work.
DIRECT_MAX_FEATURES = int(os.environ.get("FASTKM_NUMBA_DIRECT_MAX_FEATURES", "4"))

#: Up to this many centroids the direct strategy screens float32 data in float64 (canonically).
#: Measured (benchmarks/compare_refs.sh, grid point A, K = 8): float64 screening with no
#: re-measure of the winner beats float32 screening plus the re-measure by ~1.5x there; the
#: float64 screen's cost grows with K, the re-measure's does not.
CANONICAL_SCREEN_MAX_CLUSTERS = int(os.environ.get("FASTKM_NUMBA_CANONICAL_SCREEN_MAX_K", "16"))

#: Bytes of one thread's distance block (``block_rows * n_clusters`` entries)
#: at most, and its rows at most: 512 rows beat 1024 by ~12% at grid point B
#: (a block that stays nearer the core) and lose ~3% at D (measured).
_BLOCK_BYTES = 4 * 2**20
_MAX_BLOCK_ROWS = 512
#: A bound-based step after one that left at most :data:`SPARSE_STEP_SHARE` of the points undecided
#: takes blocks of :data:`SPARSE_BLOCK_ROWS` rows: a block's fixed work (its verdict's loops, the
#: product and bookkeeping of its undecided rows) is then spread over ~200 undecided rows, not ~25.
#: Measured (benchmarks/results/cpu-notes.md, variant 29): the board (2M, 2, 64), a step with 5%
#: undecided, 33 -> 28 ms; whole fits to convergence 9.7 -> 7.6-8.0 s (the board), 8.5-9.0 -> 8.2-8.3
#: s (blobs (1M, 16, 256)); but a fresh step 160 -> 191 ms, so steps with many undecided keep 512.
#: A thread's scratch for such a block stays within :data:`SPARSE_BLOCK_BYTES` (many centres or groups:
#: fewer rows, never fewer than :func:`_block_rows`).
SPARSE_BLOCK_ROWS = 4096
SPARSE_STEP_SHARE = 0.1
SPARSE_BLOCK_BYTES = 32 * 2**20

#: The bound-based kernel measures a block's undecided rows against every centre, in one product, when
#: the bounds leave at least this share of those distances to measure (else group by group).
DENSE_SHARE = float(os.environ.get("FASTKM_NUMBA_DENSE_SHARE", "0.5"))

#: The seeding's GEMM screen forms its product by hand, not by BLAS, up to this many features
#: (a block's product is then too small for a BLAS call to pay: 2x at d = 16, even at d = 32,
#: BLAS ahead beyond; benchmarks/results/cpu-notes.md).
SMALL_PRODUCT_MAX_FEATURES = 16

#: Interleaved copies of a thread's sums (a power of two; see _assign_kernel).
_LANES = 4


def unavailable_reason() -> str | None:
    """Besides Numba (imported above): SciPy's BLAS for large d*K, threadpoolctl to tame it."""
    for module, why in (
        ("scipy.linalg.cython_blas", "scipy is not installed (Numba's matrix products use its BLAS)"),
        ("threadpoolctl", "threadpoolctl is not installed (it keeps BLAS from oversubscribing the cores)"),
    ):
        try:
            __import__(module)
        except ImportError:
            return f"{why}: pip install {module.split('.')[0]}"
    return None


def describe() -> str:
    """One line on what runs this backend."""
    return (
        f"Numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads, "
        f"threading layer {threading_layer()}, kernel cache {numba_cache_dir()}"
    )


# -- vectorisable building blocks ----------------------------------------------
#: Reassociation and contraction (what lets reductions vectorise) but no
#: assumption that values are finite. Only for sums of values on an exact-sum
#: grid, which are exact in any order, and for error bounds; never for a distance.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


def _pick_nnan(predicate: str, doc: str):
    """An intrinsic ``(a, b) -> a if a <predicate> b else b`` for non-NaN floats, with the fast-math
    flags that let LLVM vectorise a min or max (a reduction, or a running minimum per row)."""

    @intrinsic
    def pick(typingctx, a, b):
        def codegen(context, builder, signature, args):
            x, y = args
            keep = builder.fcmp_ordered(predicate, x, y, flags=("nnan", "nsz"))
            return builder.select(keep, x, y, flags=("nnan", "nsz"))

        return a(a, b), codegen

    pick.__doc__ = doc
    return pick


_min_nnan = _pick_nnan("<", "``min(a, b)`` for non-NaN floats (vectorises).")
_max_nnan = _pick_nnan(">", "``max(a, b)`` for non-NaN floats (vectorises).")


@njit(inline="always")
def _weight_of(weight, i, unit_weight):
    """Row ``i``'s weight in float64; 1 when no weights were given (a test LLVM hoists out of loops)."""
    return 1.0 if unit_weight else np.float64(weight[i])


@njit(inline="always")
def _transpose_rows(X, start, stop, rows_t):
    """``rows_t[j, r] = X[start + r, j]``, a feature at a time (contiguous stores: 5x faster)."""
    block = X[start:stop]
    for j in range(X.shape[1]):
        column = block[:, j]
        row = rows_t[j]
        for r in range(stop - start):
            row[r] = column[r]


@njit(inline="always")
def _reset_nearest(n_rows, best_value, second_value, best):
    for r in range(n_rows):
        best_value[r] = np.inf  # finite data (validated) always beats it
        second_value[r] = np.inf
        best[r] = 0


@njit(inline="always")
def _track_nearest(k, value, r, best_value, second_value, best, runner_up=True):
    """Fold centre ``k``'s screened ``value`` for row ``r`` into the row's best, its index and (``runner_up``)
    the runner-up's value.

    Strict ``<``: the first of equal screened values keeps the lead (the
    certification settles ties anyway). Called in loops over rows, it vectorises.
    """
    current = best_value[r]
    closer = value < current
    if runner_up:
        second_value[r] = _min_nnan(second_value[r], _max_nnan(value, current))
    best_value[r] = value if closer else current
    best[r] = k if closer else best[r]


@njit(inline="always")
def _direct_block(X, start, stop, centroids, rows_t, distance, best_value, second_value, best, runner_up):
    """Screen rows ``start:stop`` by direct differences in X's precision, vectorised over the rows.

    The block is transposed first (``rows_t[j, r]``), so for each centroid every
    inner loop runs over contiguous rows: this keeps small ``d`` and ``K`` (where
    a loop over either is too short to vectorise) at full SIMD width. Leaves
    each row's smallest screened distance, its first index and the runner-up's
    distance (``runner_up``), which :func:`_assign_kernel` tests against
    :func:`~fastkm.backends.exact.direct_threshold`. A canonical screen
    (float64, this order) needs no runner-up: its strict ``<`` is the rule.
    """
    n_rows = stop - start
    n_features = X.shape[1]
    _transpose_rows(X, start, stop, rows_t)
    _reset_nearest(n_rows, best_value, second_value, best)
    last = n_features - 1
    for k in range(centroids.shape[0]):
        # (three loops, not one with a branch: the first feature starts the sum,
        # the last finishes it and keeps the running minima in the same pass)
        c = centroids[k, 0]
        for r in range(n_rows):
            diff = rows_t[0, r] - c
            distance[r] = diff * diff
        for j in range(1, last):
            c = centroids[k, j]
            for r in range(n_rows):
                diff = rows_t[j, r] - c
                distance[r] += diff * diff
        c = centroids[k, last]
        for r in range(n_rows):
            diff = rows_t[last, r] - c
            value = distance[r] + diff * diff if last else distance[r]
            _track_nearest(k, value, r, best_value, second_value, best, runner_up)


@njit(inline="always")
def _canonical(X, i, Y, k):
    """The canonical ``d(X[i], Y[k])``: float64, features in order, each operation rounded once."""
    total = 0.0
    for j in range(X.shape[1]):
        diff = np.float64(X[i, j]) - np.float64(Y[k, j])
        total += diff * diff
    return total


@njit(fastmath=_FAST)
def _sq_norm(values, n):
    """``sum(values[:n] ** 2)`` in float64, any order (only for an error bound, never a distance)."""
    total = 0.0
    for j in range(n):
        value = np.float64(values[j])
        total += value * value
    return total


@njit(inline="always")
def _split(value, magic):
    """``(value rounded to magic's grid, the exact remainder)``: one step of :func:`fastkm.backends.exact.fold`."""
    high = (value + magic) - magic
    return high, value - high


@njit(inline="always")
def _split_into(value, magic, parts, r):
    """``parts[f, r]`` = the ``f``-th part of ``value`` on the grids ``magic`` (coarse to fine)."""
    for f in range(magic.shape[0]):
        parts[f, r], value = _split(value, magic[f])


@njit(fastmath=_FAST)
def _sum(values, n):
    """``values[:n].sum()`` with reassociation (vectorised): exact for values on one grid."""
    total = 0.0
    for r in range(n):
        total += values[r]
    return total


# -- kernels ----------------------------------------------------------------------
@kernel()
def _assign_kernel(
    X, centroids, centroids64, screen_centroids, origin, gemm_operand_t, weight, labels, sq_dist,
    sums, counts, stats, block_rows, use_gemm, accumulate, bounds, sums_magic, counts_magic, inertia_magic,
    screen_is_canonical,
):  # fmt: skip
    """Assign every row (certified); accumulate (``accumulate``) or write ``sq_dist`` (otherwise).

    Part ``p`` of ``stats.shape[0]`` handles one contiguous range of rows and
    writes its partial sums and counts (two parts each) and ``stats[p] =
    (inertia's two parts, n_changed, n_rechecked)``; every float total is
    on an exact-sum grid (``*_magic``, :class:`~fastkm.backends.exact.SumGrid`;
    the sums' has one column per feature), so adding the parts in any order
    gives the same bits. ``bounds`` holds ``(direct scale, direct offset, gemm
    rho, gemm offset, R)`` (:mod:`fastkm.backends.exact`).
    The GEMM strategy multiplies rows ``[x - origin, 1]`` by ``gemm_operand``,
    whose columns are ``[-2 (c - origin), |c - origin|^2]``: one product gives
    ``|c|^2 - 2 x.c`` (the distance less ``|x|^2``), with no pass to finish it.
    """
    n_samples, n_features = X.shape
    n_clusters = centroids.shape[0]
    n_parts = stats.shape[0]
    unit_weight = weight.shape[0] == 0  # no weights given: every point weighs 1
    direct_scale, direct_offset, rho, gemm_offset, radius = bounds[0], bounds[1], bounds[2], bounds[3], bounds[4]
    m1_sums, m2_sums = sums_magic[0], sums_magic[1]
    m1_counts, m2_counts = counts_magic[0], counts_magic[1]
    m1_inertia, m2_inertia = inertia_magic[0], inertia_magic[1]
    for part in prange(n_parts):
        first = part * n_samples // n_parts
        last = (part + 1) * n_samples // n_parts
        # scratch: the GEMM strategy needs a distance block and centred rows,
        # the direct one transposed rows and per-row running minima
        gemm_rows = block_rows if use_gemm else 0
        direct_rows = 0 if use_gemm else block_rows
        scores = np.empty(gemm_rows * n_clusters, dtype=X.dtype)
        centred = np.empty((gemm_rows, n_features + 1), dtype=X.dtype)
        row_width = np.empty(gemm_rows, dtype=np.float64)
        # (+ 16: a power-of-two row stride would map every feature to the same cache sets)
        screen_dtype = screen_centroids.dtype  # (direct: X's, or float64 -- then the screen is canonical)
        rows_t = np.empty((n_features, direct_rows + 16 if direct_rows else 0), dtype=screen_dtype)
        row_distance = np.empty(direct_rows, dtype=screen_dtype)
        direct_best = np.empty(direct_rows, dtype=screen_dtype)
        direct_second = np.empty(direct_rows, dtype=screen_dtype)
        row_best = np.empty(gemm_rows, dtype=X.dtype)
        row_second = np.empty(gemm_rows, dtype=X.dtype)
        nearest = np.empty(block_rows, dtype=labels.dtype)
        nearest_sq_dist = np.empty(block_rows, dtype=np.float64)
        block_index = np.empty(block_rows, dtype=np.int64)
        folded = np.empty((2, direct_rows if accumulate else 0), dtype=np.float64)
        inertia_parts = np.empty((2, block_rows if accumulate else 0), dtype=np.float64)
        # Private sums, two parts each (coarse and fine grid). Consecutive rows
        # of one cluster (data sorted or generated cluster by cluster) would
        # chain every add on the one before through memory; in the direct
        # strategy rows go round _LANES copies instead, summed at the end.
        lane_stride = n_clusters if accumulate else 0
        lane_mask = _LANES - 1
        local_sums = np.zeros((2, n_clusters if accumulate and use_gemm else 0, n_features), dtype=np.float64)
        local_counts = np.zeros((2, _LANES * lane_stride), dtype=np.float64)
        # (the direct strategy's: a feature's coarse and fine parts side by side, one cache line per slot)
        local_sums_t = np.zeros((n_features, 0 if use_gemm else _LANES * lane_stride, 2), dtype=np.float64)
        inertia = np.zeros(2)
        changed = 0
        rechecked = 0
        for start in range(first, last, block_rows):
            stop = min(start + block_rows, last)
            n_rows = stop - start
            if use_gemm:
                # Centre the rows on the centroids' mean first: the products of
                # points far from the origin would otherwise drown the distances.
                for r in range(n_rows):
                    centred_row = centred[r]
                    for j in range(n_features):
                        centred_row[j] = X[start + r, j] - origin[j]
                    centred_row[n_features] = 1.0
                    scale = np.sqrt(_sq_norm(centred_row, n_features)) + radius
                    row_width[r] = rho * scale * scale + gemm_offset
                # The scores of the block transposed, (centre, row): one pass over
                # them keeps each row's best, index and runner-up, vectorised over rows.
                block_t = scores[: n_clusters * n_rows].reshape((n_clusters, n_rows))
                np.dot(gemm_operand_t, centred[:n_rows].T, block_t)
                _reset_nearest(n_rows, row_best, row_second, nearest)
                for k in range(n_clusters):
                    scores_k = block_t[k]
                    for r in range(n_rows):
                        _track_nearest(k, scores_k[r], r, row_best, row_second, nearest)
                for r in range(n_rows):
                    limit = np.float64(row_best[r]) + row_width[r]
                    if np.float64(row_second[r]) <= limit:  # the screen cannot decide: the canonical distance does
                        rechecked += 1
                        best_distance = np.inf
                        for k in range(n_clusters):
                            if np.float64(block_t[k, r]) <= limit:
                                distance = _canonical(X, start + r, centroids, k)
                                if distance < best_distance:
                                    best_distance = distance
                                    nearest[r] = k
            else:
                _direct_block(X, start, stop, screen_centroids, rows_t, row_distance, direct_best, direct_second, nearest,
                              not screen_is_canonical)  # fmt: skip
                if screen_is_canonical:  # the screen is the canonical distance: its argmin is the label
                    nearest_sq_dist[:n_rows] = direct_best[:n_rows]
                for r in range(n_rows if not screen_is_canonical else 0):
                    if np.float64(direct_second[r]) <= np.float64(direct_best[r]) * direct_scale + direct_offset:
                        rechecked += 1
                        best_distance = np.inf
                        for k in range(n_clusters):
                            distance = _canonical(X, start + r, centroids, k)
                            if distance < best_distance:
                                best_distance = distance
                                nearest[r] = k
                        nearest_sq_dist[r] = best_distance
            if not screen_is_canonical:
                # The winners' canonical distances: each a chain of dependent float64 additions
                # (the canonical order), which does not vectorise; four rows' chains interleave.
                for r in range(n_rows):
                    block_index[r] = start + r
                _pair_sq_distances(X, block_index, centroids64, nearest, n_rows, nearest_sq_dist)
            for r in range(n_rows):  # (vectorises)
                changed += labels[start + r] != nearest[r]
                labels[start + r] = nearest[r]
            if not accumulate:
                sq_dist[start:stop] = nearest_sq_dist[:n_rows]
                continue
            if use_gemm:
                for r in range(n_rows):
                    w = _weight_of(weight, start + r, unit_weight)
                    sums_high = local_sums[0, nearest[r]]
                    sums_low = local_sums[1, nearest[r]]
                    for j in range(n_features):
                        high, rest = _split(w * np.float64(X[start + r, j]), m1_sums[j])
                        sums_high[j] += high
                        sums_low[j] += _split(rest, m2_sums[j])[0]
            else:  # a feature at a time, from the transposed rows, into _LANES interleaved copies
                for j in range(n_features):
                    rows_j = rows_t[j]
                    m1, m2 = m1_sums[j], m2_sums[j]
                    for r in range(n_rows):  # (the folding vectorises; the scatter below cannot)
                        w = _weight_of(weight, start + r, unit_weight)
                        high, rest = _split(w * np.float64(rows_j[r]), m1)
                        folded[0, r] = high
                        folded[1, r] = _split(rest, m2)[0]
                    for r in range(n_rows):
                        slot = nearest[r] + lane_stride * (r & lane_mask)
                        local_sums_t[j, slot, 0] += folded[0, r]
                        local_sums_t[j, slot, 1] += folded[1, r]
            for r in range(n_rows):
                w = _weight_of(weight, start + r, unit_weight)
                slot = nearest[r] + lane_stride * (r & lane_mask if not use_gemm else 0)
                if unit_weight:  # (1 is on every counts grid: its parts are 1 and 0)
                    local_counts[0, slot] += 1.0
                else:
                    high, rest = _split(w, m1_counts)
                    local_counts[0, slot] += high
                    local_counts[1, slot] += _split(rest, m2_counts)[0]
            for r in range(n_rows):  # (vectorises)
                value = _weight_of(weight, start + r, unit_weight) * nearest_sq_dist[r]
                inertia_parts[0, r], value = _split(value, m1_inertia)
                inertia_parts[1, r] = _split(value, m2_inertia)[0]
            for f in range(2):
                inertia[f] += _sum(inertia_parts[f], n_rows)
        if accumulate:
            for half in range(2):
                if use_gemm:
                    sums[part, half] = local_sums[half]
                    counts[part, half] = local_counts[half, :n_clusters]
                else:
                    for lane in range(_LANES):
                        lane_columns = slice(lane * n_clusters, (lane + 1) * n_clusters)
                        sums[part, half] += local_sums_t[:, lane_columns, half].T
                        counts[part, half] += local_counts[half, lane_columns]
        stats[part, :2] = inertia
        stats[part, 2] = changed
        stats[part, 3] = rechecked


@kernel()
def _column_sums_kernel(X, mean, magic, out):
    """``out[p, f, j]``: part ``p``'s ``f``-th exact-sum part (grids ``magic[f, j]``) of column ``j``'s sum
    of ``X`` or, with a non-empty ``mean``, of ``(X - mean)^2`` -- :func:`fastkm.backends.exact.fold`'s
    parts, value by value, so any order of adding them gives the NumPy reference's bits."""
    n_samples, n_features = X.shape
    n_parts, n_folds = out.shape[0], out.shape[1]
    squares = mean.shape[0] > 0
    for part in prange(n_parts):
        local = np.zeros((n_folds, n_features))
        for i in range(part * n_samples // n_parts, (part + 1) * n_samples // n_parts):
            for j in range(n_features):  # (vectorises over the features)
                value = np.float64(X[i, j])
                if squares:
                    value = (value - mean[j]) * (value - mean[j])
                for f in range(n_folds):
                    high, value = _split(value, magic[f, j])
                    local[f, j] += high
        out[part] = local


# -- the bound-based step (fastkm.backends.bounds) ----------------------------------------
_certifies = njit(inline="always")(certifies)
_decayed = njit(inline="always")(decayed)
_lower32 = njit(inline="always")(lower32)
_sqrt_lower = njit(inline="always")(sqrt_lower)
_sqrt_upper = njit(inline="always")(sqrt_upper)


@njit(inline="always")
def _add_row(X, i, w, k, sign, local_sums, local_counts, sums_magic, counts_magic, unit_weight):
    """Add (``sign`` 1) or take away (-1) row ``i``'s exact-sum parts, weight ``w``, to cluster ``k``'s."""
    sums_high = local_sums[0, k]
    sums_low = local_sums[1, k]
    for j in range(X.shape[1]):
        high, rest = _split(w * np.float64(X[i, j]), sums_magic[0, j])
        sums_high[j] += sign * high
        sums_low[j] += sign * _split(rest, sums_magic[1, j])[0]
    if unit_weight:
        local_counts[0, k] += sign
    else:
        high, rest = _split(w, counts_magic[0])
        local_counts[0, k] += sign * high
        local_counts[1, k] += sign * _split(rest, counts_magic[1])[0]


@njit(inline="always")
def _pair_sq_distances(X, rows, centres64, which, n_pairs, out):
    """``out[m]`` = canonical ``d(X[rows[m]], centres64[which[m]])``, eight pairs at a time.

    Each canonical distance is a chain of dependent additions; eight pairs'
    chains interleaved keep both adders busy (an add's latency is four cycles,
    two start per cycle: four chains used half of them).
    """
    n_features = X.shape[1]
    whole = n_pairs - n_pairs % 8
    for m in range(0, whole, 8):
        # (scalar indices, no row views: a view's reference count is an atomic every thread contends for)
        i0, i1, i2, i3 = rows[m], rows[m + 1], rows[m + 2], rows[m + 3]
        i4, i5, i6, i7 = rows[m + 4], rows[m + 5], rows[m + 6], rows[m + 7]
        k0, k1, k2, k3 = which[m], which[m + 1], which[m + 2], which[m + 3]
        k4, k5, k6, k7 = which[m + 4], which[m + 5], which[m + 6], which[m + 7]
        total0 = total1 = total2 = total3 = total4 = total5 = total6 = total7 = 0.0
        for j in range(n_features):
            diff0 = np.float64(X[i0, j]) - centres64[k0, j]
            diff1 = np.float64(X[i1, j]) - centres64[k1, j]
            diff2 = np.float64(X[i2, j]) - centres64[k2, j]
            diff3 = np.float64(X[i3, j]) - centres64[k3, j]
            diff4 = np.float64(X[i4, j]) - centres64[k4, j]
            diff5 = np.float64(X[i5, j]) - centres64[k5, j]
            diff6 = np.float64(X[i6, j]) - centres64[k6, j]
            diff7 = np.float64(X[i7, j]) - centres64[k7, j]
            total0 += diff0 * diff0
            total1 += diff1 * diff1
            total2 += diff2 * diff2
            total3 += diff3 * diff3
            total4 += diff4 * diff4
            total5 += diff5 * diff5
            total6 += diff6 * diff6
            total7 += diff7 * diff7
        out[m], out[m + 1], out[m + 2], out[m + 3] = total0, total1, total2, total3
        out[m + 4], out[m + 5], out[m + 6], out[m + 7] = total4, total5, total6, total7
    for m in range(whole, n_pairs):
        out[m] = _canonical(X, rows[m], centres64, which[m])


@njit
def _measure_block(
    scores, exact, operand_t, centred, gathered, rows_t, X, start, todo, n_todo, measure, members, member_of,
    n_members, group_start, order, position_of, centroids64, labels, own, fresh, width, shift, group_best,
    group_second, group_index, pair_best, pair_second, pair_index, nearest, nearest_sq_dist, group_nearest,
    group_offset,
):  # fmt: skip
    """Phase 2 of :func:`_bounded_kernel` for the ``n_todo`` rows of a block the bounds left undecided.

    Group by group, the rows that measure it (``members[g]``) get its
    centres' scores in one product (``scores``, group after group): the GEMM
    screen of their centred rows, or (``exact``) canonical distances
    vectorised over the rows; one vectorised pass keeps each row's best score
    in the group, its position and the runner-up (``pair_*[t, g]``). Then each
    row's label is the canonical argmin over its own centre and every measured
    centre the screen cannot exclude (within ``width``, the screen's error
    bound; with exact scores, the ties), the lowest index on ties; and
    ``group_nearest[t, g]`` bounds from below the canonical distance to every
    centre of measured group ``g`` but the winner. Returns the count measured.
    """
    n_groups = group_start.shape[0] - 1
    n_features = X.shape[1]
    # dense: every row measures every group -- then no member lists, and one product for all (the
    # groups' scores in turn); else each group's rows listed (members[g], and member_of[t, g]: where)
    dense = True
    for t in range(n_todo):
        for g in range(n_groups):
            dense = dense and measure[t, g]
    for g in range(n_groups):
        count = n_todo
        if not dense:  # (a group at a time: the count stays in a register)
            count = 0
            for t in range(n_todo):
                if measure[t, g]:
                    member_of[t, g] = count
                    members[g, count] = t
                    count += 1
        n_members[g] = count
    n_measured = 0
    offset = 0
    if dense and not exact:
        np.dot(operand_t, centred[:n_todo].T, scores[: operand_t.shape[0] * n_todo].reshape((-1, n_todo)))
    for g in range(n_groups):  # the scores, and each row's best and runner-up in the group
        low, high, n = group_start[g], group_start[g + 1], n_members[g]
        if n == 0 or high == low:
            continue
        group_members = members[g, :n]
        group_offset[g] = offset
        out = scores[offset : offset + (high - low) * n].reshape((high - low, n))
        offset += (high - low) * n
        n_measured += (high - low) * n
        if dense and not exact:
            pass
        elif exact:
            for m in range(n):
                t = m if dense else group_members[m]
                for j in range(n_features):
                    rows_t[j, m] = np.float64(X[start + todo[t], j])
            for q in range(high - low):
                centre = centroids64[order[low + q]]
                out_q = out[q]
                for m in range(n):
                    out_q[m] = 0.0
                for j in range(n_features):  # (vectorised over the rows, one running sum each: canonical)
                    rows_j = rows_t[j]
                    c = centre[j]
                    for m in range(n):
                        diff = rows_j[m] - c
                        out_q[m] += diff * diff
        else:
            rows = centred
            if n < n_todo:
                for m in range(n):  # (element by element: a row view per row costs reference counts)
                    t = group_members[m]
                    for j in range(n_features + 1):
                        gathered[m, j] = centred[t, j]
                rows = gathered
            np.dot(operand_t[low:high], rows[:n].T, out)
        _reset_nearest(n, group_best, group_second, group_index)
        for q in range(high - low):
            out_q = out[q]
            for m in range(n):
                _track_nearest(q, out_q[m], m, group_best, group_second, group_index)
        if dense:  # (row m is todo row m: contiguous, vectorised)
            for m in range(n):
                pair_best[m, g] = group_best[m]
                pair_second[m, g] = group_second[m]
                pair_index[m, g] = low + group_index[m]
        else:
            for m in range(n):
                t = group_members[m]
                pair_best[t, g] = group_best[m]
                pair_second[t, g] = group_second[m]
                pair_index[t, g] = low + group_index[m]
    for t in range(n_todo):  # the label: the own centre, and the candidates the screen cannot exclude
        r = todo[t]
        i = start + r
        best, second, best_at = np.inf, np.inf, -1
        for g in range(n_groups):
            if measure[t, g] and group_start[g + 1] > group_start[g]:
                if pair_best[t, g] < best:
                    second = min(best, pair_second[t, g])
                    best, best_at = pair_best[t, g], pair_index[t, g]
                else:
                    second = min(second, pair_best[t, g])
        winner, winner_sq_dist = (-1, np.inf) if fresh else (labels[i], own[t])
        limit = best + width[t]
        if second > limit:  # one candidate: the best
            if best_at >= 0:
                k = order[best_at]
                value = best if exact else _canonical(X, i, centroids64, k)
                if value < winner_sq_dist or (value == winner_sq_dist and k < winner):
                    winner, winner_sq_dist = k, value
        else:  # near-ties (rare): every measured centre within the limit
            for g in range(n_groups):
                low, high, n = group_start[g], group_start[g + 1], n_members[g]
                if not measure[t, g] or high == low or pair_best[t, g] > limit:
                    continue
                at = group_offset[g] + (t if dense else member_of[t, g])  # (scores[at + q n]: centre q's)
                for q in range(high - low):
                    if np.float64(scores[at + q * n]) <= limit:
                        k = order[low + q]
                        value = np.float64(scores[at + q * n]) if exact else _canonical(X, i, centroids64, k)
                        if value < winner_sq_dist or (value == winner_sq_dist and k < winner):
                            winner, winner_sq_dist = k, value
        nearest[r] = winner
        nearest_sq_dist[r] = winner_sq_dist
        # the measured groups' bounds: the nearest centre but the winner (its best, unless that is the winner)
        winner_at = position_of[winner]
        for g in range(n_groups):
            low, high, n = group_start[g], group_start[g + 1], n_members[g]
            if not measure[t, g] or high == low:
                continue
            nearest_other = pair_best[t, g]
            if winner_at == pair_index[t, g]:
                nearest_other = pair_second[t, g]
            elif low <= winner_at and winner_at < high:  # (the screen's best lost to another centre of the group: rare)
                at = group_offset[g] + (t if dense else member_of[t, g])
                nearest_other = np.inf
                for q in range(high - low):
                    if low + q != winner_at:
                        nearest_other = min(nearest_other, np.float64(scores[at + q * n]))
            group_nearest[t, g] = nearest_other + shift[t] - width[t]
    return n_measured


@kernel()
def _bounded_kernel(
    X, centroids64, origin, operand_t, order, group_start, weight, labels, lower, group_move, separation, fresh,
    sums, counts, stats, block_rows, use_gemm, widths, eps, dense_share, sums_magic, counts_magic, inertia_magic,
):  # fmt: skip
    """One bound-based step (:mod:`fastkm.backends.bounds`): the labels, sums and inertia of
    :func:`_assign_kernel`, measuring only the distances the bounds cannot rule out.

    Part ``p`` handles a contiguous range of rows, a block at a time:

    1. each row's canonical distance to its own centre and its group bounds
       decayed by the groups' moves; a row certainly nearest its own centre
       keeps it;
    2. for every group (``order[group_start[g]:group_start[g + 1]]``: the
       centres in group order), the other rows whose bound does not exclude it
       are measured against its centres: the GEMM screen of the centred rows
       (``widths = (rho, offset, R)`` bound its error, as in
       :func:`_assign_kernel`) or, with few features, canonical distances;
       then their labels and the measured groups' bounds (:func:`_measure_block`);
    3. sums and counts: every row when ``fresh``, else only the rows that
       moved (taken from the old cluster, added to the new: exact, so the same
       bits); inertia from every row's canonical distance.

    ``stats[p] = (inertia's two parts, n_changed, distances measured, rows the bounds left undecided)``.
    """
    n_samples, n_features = X.shape
    n_clusters = centroids64.shape[0]
    n_groups = lower.shape[0]
    n_parts = stats.shape[0]
    unit_weight = weight.shape[0] == 0
    use_separation = False
    for k in range(n_clusters):
        use_separation = use_separation or separation[k] > 0
    rho, gemm_offset, radius = widths[0], widths[1], widths[2]
    position_of = np.empty(n_clusters, dtype=np.int32)
    group_of_position = np.empty(n_clusters, dtype=np.int32)
    for g in range(n_groups):
        for p in range(group_start[g], group_start[g + 1]):
            position_of[order[p]] = p
            group_of_position[p] = g
    for part in prange(n_parts):
        first = part * n_samples // n_parts
        last = (part + 1) * n_samples // n_parts
        gemm_rows = block_rows if use_gemm else 0
        direct_rows = 0 if use_gemm else block_rows
        # scores (position, measured row), group after group: GEMM screen in X's precision, or canonical
        gemm_scores = np.empty(n_clusters * gemm_rows, dtype=X.dtype)
        direct_scores = np.empty(n_clusters * direct_rows, dtype=np.float64)
        gemm_best = np.empty(gemm_rows, dtype=X.dtype)
        gemm_second = np.empty(gemm_rows, dtype=X.dtype)
        direct_best = np.empty(direct_rows, dtype=np.float64)
        direct_second = np.empty(direct_rows, dtype=np.float64)
        group_index = np.empty(block_rows, dtype=np.int32)
        pair_best = np.empty((block_rows, n_groups), dtype=np.float64)
        pair_second = np.empty((block_rows, n_groups), dtype=np.float64)
        pair_index = np.empty((block_rows, n_groups), dtype=np.int32)
        members = np.empty((n_groups, block_rows), dtype=np.int32)
        member_of = np.empty((block_rows, n_groups), dtype=np.int32)
        n_members = np.empty(n_groups, dtype=np.int64)
        group_offset = np.empty(n_groups, dtype=np.int64)
        centred = np.empty((gemm_rows, n_features + 1), dtype=X.dtype)
        gathered = np.empty((gemm_rows, n_features + 1), dtype=X.dtype)
        operand_t64 = np.empty((0, n_features + 1), dtype=np.float64)  # (typing stand-ins: the direct path)
        centred64 = np.empty((0, n_features + 1), dtype=np.float64)
        group_nearest = np.empty((block_rows, n_groups), dtype=np.float64)
        rows_t = np.empty((n_features, direct_rows), dtype=np.float64)
        group_lower = np.empty((n_groups, block_rows), dtype=np.float64)
        others = np.empty(block_rows, dtype=np.float64)
        keep = np.empty(block_rows, dtype=np.bool_)
        todo = np.empty(block_rows, dtype=np.int32)
        todo_own = np.empty(block_rows, dtype=np.float64)
        own_sq_dist = np.empty(block_rows, dtype=np.float64)
        block_index = np.empty(block_rows, dtype=np.int64)
        measure = np.empty((block_rows, n_groups), dtype=np.bool_)
        width = np.zeros(block_rows, dtype=np.float64)
        shift = np.zeros(block_rows, dtype=np.float64)
        nearest = np.empty(block_rows, dtype=np.int32)
        nearest_sq_dist = np.empty(block_rows, dtype=np.float64)
        inertia_parts = np.empty((2, block_rows), dtype=np.float64)
        local_sums = np.zeros((2, n_clusters, n_features), dtype=np.float64)
        local_counts = np.zeros((2, n_clusters), dtype=np.float64)
        inertia = np.zeros(2)
        changed = 0
        measured = 0
        reassigned = 0
        for start in range(first, last, block_rows):
            stop = min(start + block_rows, last)
            n_rows = stop - start
            # 1. the bounds' verdict (every loop over the block's rows but the last vectorises)
            n_todo = 0
            if fresh:
                for r in range(n_rows):
                    todo[r] = r
                measure[:n_rows] = True
                n_todo = n_rows
            else:
                for r in range(n_rows):
                    block_index[r] = start + r
                _pair_sq_distances(X, block_index, centroids64, labels[start:stop], n_rows, own_sq_dist)
                for r in range(n_rows):
                    others[r] = np.inf
                for g in range(n_groups):
                    bounds_g = lower[g, start:stop]
                    decayed_g = group_lower[g]
                    move = group_move[g]
                    for r in range(n_rows):
                        value = _decayed(np.float64(bounds_g[r]), move)
                        decayed_g[r] = value
                        others[r] = _min_nnan(others[r], value)
                        bounds_g[r] = _lower32(value)  # (an undecided row's measured groups get new ones below)
                if use_separation:  # Hamerly's and Elkan's other test: 2 s - u
                    for r in range(n_rows):
                        reach = 2.0 * separation[labels[start + r]] - _sqrt_upper(own_sq_dist[r], eps)
                        others[r] = _max_nnan(others[r], reach)
                for r in range(n_rows):
                    nearest[r] = labels[start + r]
                    nearest_sq_dist[r] = own_sq_dist[r]
                    keep[r] = _certifies(own_sq_dist[r], others[r], eps)
                for r in range(n_rows):
                    if not keep[r]:
                        todo[n_todo] = r
                        todo_own[n_todo] = own_sq_dist[r]
                        n_todo += 1
                for t in range(n_todo):
                    for g in range(n_groups):
                        measure[t, g] = not _certifies(todo_own[t], group_lower[g, todo[t]], eps)
            measured += 0 if fresh else n_rows
            reassigned += n_todo
            if n_todo:
                # 2. measure every group the bounds cannot exclude: the labels, the measured groups' bounds
                work = 0
                for t in range(n_todo):
                    for g in range(n_groups):
                        work += group_start[g + 1] - group_start[g] if measure[t, g] else 0
                if work >= dense_share * n_todo * n_clusters:  # most of them: measure all, in one product
                    measure[:n_todo] = True
                if use_gemm:
                    for t in range(n_todo):
                        i = start + todo[t]  # (once: read in the loop, it is read again for every feature)
                        for j in range(n_features):
                            centred[t, j] = X[i, j] - origin[j]
                        centred[t, n_features] = 1.0
                        row = centred[t]
                        norm = _sq_norm(row, n_features)
                        reach = np.sqrt(norm) + radius
                        width[t] = rho * reach * reach + gemm_offset
                        shift[t] = norm
                    measured += _measure_block(
                        gemm_scores, False, operand_t, centred, gathered, rows_t, X, start, todo, n_todo, measure,
                        members, member_of, n_members, group_start, order, position_of, centroids64, labels,
                        todo_own, fresh, width, shift, gemm_best, gemm_second, group_index, pair_best, pair_second,
                        pair_index, nearest, nearest_sq_dist, group_nearest, group_offset,
                    )  # fmt: skip
                else:
                    measured += _measure_block(
                        direct_scores, True, operand_t64, centred64, centred64, rows_t, X, start, todo, n_todo,
                        measure, members, member_of, n_members, group_start, order, position_of, centroids64,
                        labels, todo_own, fresh, width, shift, direct_best, direct_second, group_index, pair_best,
                        pair_second, pair_index, nearest, nearest_sq_dist, group_nearest, group_offset,
                    )  # fmt: skip
                for t in range(n_todo):
                    r = todo[t]
                    i = start + r
                    for g in range(n_groups):
                        if measure[t, g]:
                            lower[g, i] = _lower32(_sqrt_lower(max(group_nearest[t, g], 0.0), eps))
                    a = labels[i]
                    if not fresh and nearest[r] != a:  # it left its centre: that centre's group bounds it too
                        g = group_of_position[position_of[a]]
                        lower[g, i] = min(lower[g, i], _lower32(_sqrt_lower(todo_own[t], eps)))
            # 3. labels, sums, counts (only an undecided row can change its label), inertia
            for t in range(n_todo):
                r = todo[t]
                i = start + r
                new = nearest[r]
                old = labels[i]
                if fresh or new != old:
                    w = _weight_of(weight, i, unit_weight)
                    if not fresh:
                        _add_row(X, i, w, old, -1.0, local_sums, local_counts, sums_magic, counts_magic, unit_weight)
                    _add_row(X, i, w, new, 1.0, local_sums, local_counts, sums_magic, counts_magic, unit_weight)
                changed += old != new
                labels[i] = new
            for r in range(n_rows):  # (vectorises)
                value = _weight_of(weight, start + r, unit_weight) * nearest_sq_dist[r]
                inertia_parts[0, r], value = _split(value, inertia_magic[0])
                inertia_parts[1, r] = _split(value, inertia_magic[1])[0]
            for f in range(2):
                inertia[f] += _sum(inertia_parts[f], n_rows)
        sums[part] = local_sums
        counts[part] = local_counts
        stats[part, :2] = inertia
        stats[part, 2] = changed
        stats[part, 3] = measured
        stats[part, 4] = reassigned


@kernel()
def _pairwise_kernel(X, Y_t, out):
    """``out[i, m]`` = canonical ``d(X[i], Y[m])``; ``Y_t`` is ``Y.T`` in float64, so each
    feature's update runs over the contiguous ``m`` (one running sum per pair, in feature order)."""
    for i in prange(X.shape[0]):
        row = out[i]
        row[:] = 0.0
        for j in range(X.shape[1]):
            x = np.float64(X[i, j])
            y = Y_t[j]
            for m in range(row.shape[0]):
                diff = x - y[m]
                row[m] += diff * diff


@kernel()
def _labelled_kernel(X, centroids, labels, out):
    """``out[i]`` = canonical ``d(X[i], centroids[labels[i]])``, rows in parallel."""
    for i in prange(X.shape[0]):
        out[i] = _canonical(X, i, centroids, labels[i])


@njit(fastmath=_FAST)
def _small_product(X, start, n_rows, origin, operand_t, centred_t, scores_t, sq_norms):
    """The GEMM screen's product by hand, for few features, where a BLAS call costs more than its work.

    ``centred_t[j, r] = X[start + r, j] - origin[j]`` (in X's type, as the GEMM
    path centres), ``scores_t[t, r]`` = ``[x~_r, 1] . operand_t[t]`` in any order
    (the GEMM screen's error bound allows any), and ``sq_norms[r] = |x~_r|^2``
    in float64, any order. Every loop runs over contiguous rows (vectorised);
    the products take two candidates and four features per pass over a row
    vector, so each centred value loaded serves eight multiply-adds.
    """
    n_features = X.shape[1]
    n_candidates = operand_t.shape[0]
    block = X[start : start + n_rows]
    for j in range(n_features):  # (a feature at a time: contiguous stores, as _transpose_rows)
        column = block[:, j]
        centred = centred_t[j]
        shift = origin[j]
        for r in range(n_rows):
            centred[r] = column[r] - shift
    sq_norms[:n_rows] = 0.0
    for j in range(n_features):
        column = centred_t[j]
        for r in range(n_rows):
            value = np.float64(column[r])
            sq_norms[r] += value * value
    for t in range(n_candidates):
        scores = scores_t[t]
        constant = operand_t[t, n_features]
        for r in range(n_rows):
            scores[r] = constant
    whole = n_features - n_features % 4
    for t in range(0, n_candidates - 1, 2):
        u = t + 1
        first, second = scores_t[t], scores_t[u]
        for j in range(0, whole, 4):
            a0, a1, a2, a3 = operand_t[t, j], operand_t[t, j + 1], operand_t[t, j + 2], operand_t[t, j + 3]
            b0, b1, b2, b3 = operand_t[u, j], operand_t[u, j + 1], operand_t[u, j + 2], operand_t[u, j + 3]
            c0, c1, c2, c3 = centred_t[j], centred_t[j + 1], centred_t[j + 2], centred_t[j + 3]
            for r in range(n_rows):
                x0, x1, x2, x3 = c0[r], c1[r], c2[r], c3[r]
                first[r] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                second[r] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3
        for j in range(whole, n_features):
            a, b, column = operand_t[t, j], operand_t[u, j], centred_t[j]
            for r in range(n_rows):
                first[r] += a * column[r]
                second[r] += b * column[r]
    if n_candidates % 2:  # (the odd one out, a feature at a time)
        t = n_candidates - 1
        scores = scores_t[t]
        for j in range(n_features):
            a, column = operand_t[t, j], centred_t[j]
            for r in range(n_rows):
                scores[r] += a * column[r]


@njit(fastmath=_FAST)
def _certainly_farther(X, i, centres64, k, sq_dist, eps):
    """Whether ``X[i]``'s canonical distance to ``centres64[k]`` is certainly above ``sq_dist``.

    The squares summed in any order (vectorised): within ``gamma_{d+2}`` of the
    exact distance, as the canonical one is (:func:`~fastkm.backends.bounds.slack`
    is twice that and more), so a sum above ``sq_dist`` by the slack proves it.
    """
    total = 0.0
    for j in range(X.shape[1]):
        diff = np.float64(X[i, j]) - centres64[k, j]
        total += diff * diff
    return total * (1.0 - eps) - TINY_SQ > sq_dist


@njit(inline="always")
def _fold_add(value, magic, sums, t, sign):
    """``sums[f, t] += sign * (value's f-th part)`` on the grids ``magic`` (coarse to fine), as
    :func:`fastkm.backends.exact.fold` splits it."""
    for f in range(magic.shape[0]):
        high, value = _split(value, magic[f])
        sums[f, t] += sign * high


@kernel()
def _seeding_kernel(
    X, candidates64, closest_sq_dist, nearest, weight, thresholds, row_floor, magic, partial, new_centre, reach,
    eps, use_gemm, origin, operand_t, widths, found_row, found_which, found_sq, n_found, resume,
):  # fmt: skip
    """k-means++ with canonical distances, measuring only what the bounds leave open.

    Row ``i`` is measured against candidate ``t`` unless ``closest_sq_dist[i] <=
    thresholds[nearest[i], t]`` (:func:`~fastkm.backends.bounds.seeding_thresholds`:
    then ``t`` is certainly farther; ``nearest[i] < 0``: always measured), and
    not at all unless ``closest_sq_dist[i] > row_floor[nearest[i]]``
    (:meth:`~fastkm.backends.bounds.SeedingBounds.row_floors`: else no
    candidate can come nearer; one test per row). ``partial[p, f, t]`` is part
    ``p``'s ``f``-th part, on the inertia grid ``magic``, of the change ``w *
    (min(closest, d(x, t)) - closest)`` summed over its rows (a finite
    ``closest`` only: from infinity the change is the new term): a
    candidate's potential is the seeding's total plus these, the same bits as
    summing every term.

    With ``new_centre >= 0`` (one candidate) the rows it is nearer to also
    take it: ``closest`` and ``nearest`` lowered, and ``reach[p]`` is the
    largest new ``closest`` among part ``p``'s. Otherwise part ``p`` lists the
    pairs whose candidate is nearer, ``(found_row, found_which,
    found_sq)[p, :n_found[p]]``, for :func:`_seeding_take` to apply the
    winner's: every pair of its rows before ``resume[p]``, which is the end of
    the part unless the list filled up there (the changes are summed over all
    rows all the same). On entry, part ``p`` starts at row ``resume[p]`` (when
    that is past its first): a list that filled up is resumed there by taking
    the winner, as one candidate, from that row on.

    How a block's open pairs are measured:

    (A row is open when its ``closest`` passes its ``row_floor``: then at least
    one of its pairs is. A block of rows with no centre yet lists all their
    pairs: none can be ruled out.)

    * with few features (not ``use_gemm``) and at least half the rows open:
      every distance, canonically, rows transposed so every inner loop runs
      over contiguous rows (vectorised); a row the bounds rule out changes
      nothing (``0``, whichever way its parts are formed), so every row's
      change is summed;
    * else, screened first, and only the pairs the screen cannot rule out
      measured canonically, pair by pair (:func:`_pair_sq_distances`): with
      ``use_gemm`` and at least half the rows open, every pair of the block
      by one GEMM of its rows moved to ``origin`` against ``operand_t``'s
      columns ``[-2 (c - origin), |c - origin|^2]`` (by hand up to
      :data:`SMALL_PRODUCT_MAX_FEATURES` features, :func:`_small_product`;
      error bound from ``widths = (rho, offset, R)``, as in
      :func:`_assign_kernel`), else the open pairs one by one (:func:`_certainly_farther`, relative
      slack ``eps``).
    """
    n_samples, n_features = X.shape
    n_parts, n_folds, n_candidates = partial.shape
    unit_weight = weight.shape[0] == 0
    rho, gemm_offset, radius = widths[0], widths[1], widths[2]
    capacity = found_row.shape[1]
    block_rows = 256
    small_product = n_features <= SMALL_PRODUCT_MAX_FEATURES
    for part in prange(n_parts):
        pair_row = np.empty(block_rows * n_candidates + 1, dtype=np.int64)
        pair_which = np.empty(block_rows * n_candidates + 1, dtype=np.int64)
        pair_sq = np.empty(block_rows * n_candidates, dtype=np.float64)
        rows_t = np.empty((n_features, 0 if use_gemm else block_rows + 16), dtype=np.float64)
        distance = np.empty((n_candidates, 0 if use_gemm else block_rows), dtype=np.float64)
        terms = np.empty((n_folds, block_rows), dtype=np.float64)
        centred = np.empty((block_rows if use_gemm else 0, n_features + 1), dtype=X.dtype)
        centred_t = np.empty((n_features if use_gemm and small_product else 0, block_rows), dtype=X.dtype)
        scores = np.empty(n_candidates * block_rows if use_gemm else 0, dtype=X.dtype)
        best_score = np.empty(block_rows if use_gemm else 0, dtype=X.dtype)
        row_reach = np.empty(block_rows, dtype=np.float64)
        open_row = np.empty(block_rows, dtype=np.bool_)
        changes = np.zeros((n_folds, n_candidates))
        farthest = 0.0
        found = 0
        last = (part + 1) * n_samples // n_parts
        unlisted = last
        for start in range(max(part * n_samples // n_parts, resume[part]), last, block_rows):
            n_rows = min(block_rows, last - start)
            n_open_rows = 0
            n_unbounded = 0
            for r in range(n_rows):
                a = nearest[start + r]
                is_open = (a < 0) | (closest_sq_dist[start + r] > row_floor[max(a, 0)])
                open_row[r] = is_open
                n_open_rows += is_open
                n_unbounded += a < 0
            if n_open_rows == 0:
                continue
            n_near = 0
            if not use_gemm and 2 * n_open_rows >= n_rows:
                _transpose_rows(X, start, start + n_rows, rows_t)
                for r in range(n_rows):
                    old = closest_sq_dist[start + r]
                    _split_into(_weight_of(weight, start + r, unit_weight) * old if old < np.inf else 0.0,
                                magic, terms, r)  # fmt: skip
                for f in range(n_folds):
                    block_total = _sum(terms[f], n_rows)
                    for t in range(n_candidates):
                        changes[f, t] -= block_total
                for t in range(n_candidates):
                    to_t = distance[t]
                    to_t[:n_rows] = 0.0
                    for j in range(n_features):
                        c = candidates64[t, j]
                        for r in range(n_rows):
                            diff = rows_t[j, r] - c
                            to_t[r] += diff * diff
                    for r in range(n_rows):
                        value = _min_nnan(to_t[r], closest_sq_dist[start + r])
                        _split_into(_weight_of(weight, start + r, unit_weight) * value, magic, terms, r)
                    for f in range(n_folds):
                        changes[f, t] += _sum(terms[f], n_rows)
                # the nearer pairs, for the list or the update below (changes already summed)
                for r in range(n_rows):
                    for t in range(n_candidates):
                        pair_row[n_near] = start + r
                        pair_which[n_near] = t
                        pair_sq[n_near] = distance[t, r]
                        n_near += distance[t, r] < closest_sq_dist[start + r]
            else:
                if n_unbounded == n_rows:
                    for r in range(n_rows):
                        for t in range(n_candidates):
                            pair_row[n_near] = start + r
                            pair_which[n_near] = t
                            n_near += 1
                elif use_gemm and 2 * n_open_rows >= n_rows:
                    # row_reach[r]: |x~|^2 less the screen's error (3 E; the |x~|^2 computed here is
                    # within gamma_d(u64) |x~|^2, far inside the margin): t is certainly farther
                    # when this plus t's score exceeds closest; a row whose best score does not is
                    # looked at candidate by candidate
                    block_t = scores[: n_candidates * n_rows].reshape((n_candidates, n_rows))
                    if small_product:
                        _small_product(X, start, n_rows, origin, operand_t, centred_t, block_t, row_reach)
                    else:
                        for r in range(n_rows):
                            centred_row = centred[r]
                            for j in range(n_features):
                                centred_row[j] = X[start + r, j] - origin[j]
                            centred_row[n_features] = 1.0
                            row_reach[r] = _sq_norm(centred_row, n_features)
                        np.dot(operand_t, centred[:n_rows].T, block_t)
                    for r in range(n_rows):
                        scale = np.sqrt(row_reach[r]) + radius
                        row_reach[r] -= rho * scale * scale + gemm_offset
                    best_score[:n_rows] = block_t[0]
                    for t in range(1, n_candidates):
                        scores_t = block_t[t]
                        for r in range(n_rows):
                            best_score[r] = _min_nnan(best_score[r], scores_t[r])
                    for r in range(n_rows):
                        own = closest_sq_dist[start + r]
                        if not open_row[r] or np.float64(best_score[r]) + row_reach[r] > own:
                            continue
                        for t in range(n_candidates):
                            pair_row[n_near] = start + r
                            pair_which[n_near] = t
                            n_near += np.float64(block_t[t, r]) + row_reach[r] <= own
                else:
                    for r in range(n_rows):
                        if not open_row[r]:
                            continue
                        a = nearest[start + r]
                        own = closest_sq_dist[start + r]
                        for t in range(n_candidates):
                            if a < 0 or own > thresholds[max(a, 0), t]:
                                pair_row[n_near] = start + r
                                pair_which[n_near] = t
                                n_near += a < 0 or not _certainly_farther(X, start + r, candidates64, t, own, eps)
                _pair_sq_distances(X, pair_row, candidates64, pair_which, n_near, pair_sq)
                n_measured = n_near
                n_near = 0
                for m in range(n_measured):
                    i = pair_row[m]
                    old = closest_sq_dist[i]
                    if pair_sq[m] < old:
                        w = _weight_of(weight, i, unit_weight)
                        _fold_add(w * pair_sq[m], magic, changes, pair_which[m], 1.0)
                        if old < np.inf:
                            _fold_add(w * old, magic, changes, pair_which[m], -1.0)
                        pair_row[n_near], pair_which[n_near], pair_sq[n_near] = i, pair_which[m], pair_sq[m]
                        n_near += 1
            if new_centre >= 0:  # the nearer pairs: taken (one candidate), or listed
                for m in range(n_near):
                    closest_sq_dist[pair_row[m]] = pair_sq[m]
                    nearest[pair_row[m]] = new_centre
                    farthest = max(farthest, pair_sq[m])
            elif unlisted == last:
                if found + n_near > capacity:
                    unlisted = start
                else:
                    for m in range(n_near):  # (scalar stores: no array views, whose reference counts contend)
                        found_row[part, found + m] = pair_row[m]
                        found_which[part, found + m] = pair_which[m]
                        found_sq[part, found + m] = pair_sq[m]
                    found += n_near
        partial[part] = changes
        reach[part] = farthest
        n_found[part] = found
        if new_centre < 0:
            resume[part] = unlisted


@kernel()
def _seeding_take(found_row, found_which, found_sq, n_found, best, closest_sq_dist, nearest, new_centre, reach):
    """Candidate ``best`` takes the rows it is nearer to, from :func:`_seeding_kernel`'s lists."""
    for part in prange(n_found.shape[0]):
        farthest = 0.0
        for m in range(n_found[part]):
            if found_which[part, m] == best:
                closest_sq_dist[found_row[part, m]] = found_sq[part, m]
                nearest[found_row[part, m]] = new_centre
                farthest = max(farthest, found_sq[part, m])
        reach[part] = farthest


# -- the backend --------------------------------------------------------------------
class NumbaBackend(HostArrays):
    """Numba implementation of the backend contract (CPU, all cores).

    Parameters
    ----------
    n_threads : int, optional
        Threads to use; default: all Numba threads (``NUMBA_NUM_THREADS``,
        which defaults to the number of cores).
    strategy : {"auto", "direct", "gemm"}
        How distances are computed; ``"auto"`` takes ``"direct"`` up to
        :data:`DIRECT_MAX_FEATURES` features, ``"gemm"`` above.

    Examples
    --------
    >>> import numpy as np
    >>> backend = NumbaBackend()
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    >>> labels, sq_dist = backend.assign(X, np.array([[0.0, 0.5], [10.0, 10.0]]))
    >>> labels.tolist(), sq_dist.tolist()
    ([0, 0, 1], [0.25, 0.25, 0.0])
    """

    name = "numba"
    supports_bounds = True
    fast_bounds = True

    def __init__(self, n_threads: int | None = None, strategy: str = "auto"):
        if n_threads is not None:
            n_threads = check_integer(n_threads, "n_threads", minimum=1)
        if n_threads is not None and n_threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(
                f"n_threads={n_threads} exceeds the {numba.config.NUMBA_NUM_THREADS} threads Numba was started "
                "with; set the NUMBA_NUM_THREADS environment variable before importing fastkm"
            )
        if strategy not in ("auto", "direct", "gemm"):
            raise ValueError(f"strategy must be 'auto', 'direct' or 'gemm', got {strategy!r}")
        self.n_threads = None if n_threads is None else int(n_threads)
        self.strategy = strategy

    def __repr__(self) -> str:
        return f"NumbaBackend(n_threads={self.n_threads!r}, strategy={self.strategy!r})"

    # -- the primitives -------------------------------------------------------
    def assign(self, X: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = np.empty(X.shape[0], dtype=np.int32)
        sq_dist = np.empty(X.shape[0], dtype=np.float64)
        self._run(X, centroids, np.empty(0, dtype=X.dtype), labels, sq_dist, None, accumulate=False)
        return labels, sq_dist

    def column_sum_parts(self, X: np.ndarray, grid: SumGrid, mean: np.ndarray | None = None) -> list[np.ndarray]:
        """Exact-sum parts of X's column sums (or of ``(X - mean)^2``'s): the generic version's bits
        (:meth:`fastkm.backends.base.InProcess.column_sum_parts`) in one parallel pass."""
        magic = np.ascontiguousarray(np.broadcast_to(np.asarray(grid.magic, dtype=np.float64).reshape(len(grid.magic), -1),
                                                     (len(grid.magic), X.shape[1])))  # fmt: skip
        mean = np.empty(0) if mean is None else np.ascontiguousarray(mean, dtype=np.float64)
        with self._threads() as n_threads:
            out = np.zeros((max(1, min(n_threads, X.shape[0] // 1024)), len(magic), X.shape[1]))
            _column_sums_kernel(X, mean, magic, out)
        return list(out.sum(axis=0))

    def accumulate_parts(
        self,
        X: np.ndarray,
        centroids: np.ndarray,
        sample_weight: np.ndarray | None,
        labels: np.ndarray | None = None,
        scale: Scale | None = None,
        bounds: BoundState | None = None,
    ) -> StepParts:
        scale = scale or Scale.of(X, sample_weight, centroids)
        if bounds is not None:
            return self._bounded_parts(X, centroids, sample_weight, labels, scale, bounds)
        if labels is None:
            labels = np.full(X.shape[0], -1, dtype=np.int32)
        weight = _weights_or_empty(sample_weight, X.dtype)
        sums, counts, stats = self._run(X, centroids, weight, labels, np.empty(0), scale, accumulate=True)
        # every part is on an exact-sum grid: adding the threads' in any order gives the same bits
        return StepParts(
            labels, sums.sum(axis=0), counts.sum(axis=0), stats[:, :2].sum(axis=0), np.int64(stats[:, 2].sum())
        )

    def pairwise_sq_distances(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        out = np.empty((X.shape[0], Y.shape[0]), dtype=np.float64)
        with self._threads():
            _pairwise_kernel(X, np.ascontiguousarray(np.asarray(Y, dtype=X.dtype).T, dtype=np.float64), out)
        return out

    def labelled_sq_distances(self, X: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        out = np.empty(X.shape[0], dtype=np.float64)
        with self._threads():
            _labelled_kernel(X, np.ascontiguousarray(centroids, dtype=X.dtype), labels, out)
        return out

    def seeding_step(
        self,
        X: np.ndarray,
        candidates: np.ndarray,
        closest_sq_dist: np.ndarray,
        sample_weight: np.ndarray | None,
        scale: Scale | None = None,
        bounds: SeedingBounds | None = None,
    ) -> tuple[int, float]:
        grid = (scale or Scale.of(X, sample_weight)).inertia_grid()
        weight = _weights_or_empty(sample_weight, X.dtype)
        if bounds is None:  # (one step on its own: no centre known, every distance measured)
            bounds = SeedingBounds(X, 1)
        if bounds.total is None:
            finite = np.isfinite(closest_sq_dist)
            terms = closest_sq_dist[finite] * (1.0 if sample_weight is None else weight[finite].astype(np.float64))
            bounds.total = np.array([part.sum() for part in fold(terms, grid)])
        candidates = np.ascontiguousarray(candidates, dtype=X.dtype)
        candidates64 = candidates.astype(np.float64)
        use_gemm = self.uses_gemm(X.shape[1], len(candidates))
        origin, operand, radius = _gemm_screen(candidates)
        widths = np.array([*gemm_threshold(X.dtype, X.shape[1]), radius])
        n_folds = len(grid.magic)
        with self._threads() as n_threads, single_threaded_blas(use_gemm):
            n_parts = max(1, min(n_threads, X.shape[0] // 1024))
            thresholds = bounds.thresholds(candidates, self.pairwise_sq_distances)
            reach = np.zeros(n_parts)
            n_found = np.zeros(n_parts, dtype=np.int64)
            resume = np.zeros(n_parts, dtype=np.int64)  # each part's first row not listed (0: its first)
            part_ends = np.arange(1, n_parts + 1) * X.shape[0] // n_parts
            centre = bounds.n_centres

            def run(which: slice, new_centre: int, capacity: int) -> tuple[np.ndarray, tuple]:
                """The kernel over candidates ``which``: their changes' parts, and the nearer pairs listed
                (``capacity`` per part), or taken (``new_centre >= 0``, one candidate)."""
                partial = np.zeros((n_parts, n_folds, len(candidates64[which])))
                found = (np.empty((n_parts, capacity), np.int64), np.empty((n_parts, capacity), np.int64),
                         np.empty((n_parts, capacity)))  # fmt: skip
                step_thresholds = np.ascontiguousarray(thresholds[:, which])
                _seeding_kernel(X, candidates64[which], closest_sq_dist, bounds.nearest, weight, step_thresholds,
                                bounds.row_floors(step_thresholds), grid.magic, partial, new_centre, reach,
                                bounds.eps, use_gemm, origin, np.ascontiguousarray(operand.T[which]), widths,
                                *found, n_found, resume)  # fmt: skip
                return partial, found

            best, listed_reach = 0, np.zeros(n_parts)
            if len(candidates) > 1:
                # the nearer pairs listed (24 bytes each, up to half of X's size or an eighth of
                # its rows): the winner's are then taken from the list, not measured again; from
                # where a part's list filled up, the winner alone is measured again
                capacity = max(1024, max(X.shape[0] // 8, X.nbytes // 48) // n_parts)
                partial, found = run(slice(None), -1, capacity)
                best = int(np.argmin(combine(bounds.total[:, None] + partial.sum(axis=0))))
                partial = partial[:, :, best : best + 1]
                _seeding_take(*found, n_found, best, closest_sq_dist, bounds.nearest, centre, reach)
                listed_reach = reach.copy()
            if len(candidates) == 1 or (resume < part_ends).any():
                resumed, _ = run(slice(best, best + 1), centre, 0)
                partial = resumed if len(candidates) == 1 else partial  # (else: the rows resumed only)
                np.maximum(reach, listed_reach, out=reach)
        bounds.add_centre(candidates[best], float(reach.max()))
        bounds.total = bounds.total + partial.sum(axis=0)[:, 0]
        return best, float(combine(bounds.total))

    # -- helpers ----------------------------------------------------------------
    def uses_gemm(self, n_features: int, n_clusters: int) -> bool:
        """Whether a problem of this shape takes the GEMM strategy."""
        if self.strategy != "auto":
            return self.strategy == "gemm"
        return n_features > DIRECT_MAX_FEATURES

    def _run(self, X, centroids, weight, labels, sq_dist, scale, *, accumulate):
        n_samples, n_features = X.shape
        n_clusters = centroids.shape[0]
        centroids = np.ascontiguousarray(centroids, dtype=X.dtype)
        use_gemm = self.uses_gemm(n_features, n_clusters)
        centroids64 = centroids.astype(np.float64)
        # The direct strategy screens few centres in float64, in the canonical order: the screen is
        # then the canonical distance itself (no re-measure), and the wider arithmetic costs less
        # than measuring every winner again; with many centres, X's precision and a re-measure win.
        screen64 = not use_gemm and (X.dtype == np.float64 or n_clusters <= CANONICAL_SCREEN_MAX_CLUSTERS)
        origin, gemm_operand, radius = _gemm_screen(centroids)
        bounds = np.array([*direct_threshold(X.dtype, n_features), *gemm_threshold(X.dtype, n_features), radius])
        if accumulate:
            magic = tuple(np.ascontiguousarray(grid.magic) for grid in scale.grids())
        else:
            magic = (np.zeros((2, n_features)), np.zeros(2), np.zeros(2))
        block_rows = _block_rows(X, n_clusters)
        with self._threads() as n_threads:
            n_parts = max(1, min(n_threads, n_samples // 64))
            shape = (n_parts, 2, n_clusters) if accumulate else (n_parts, 2, 0)
            sums = np.zeros((*shape, n_features if accumulate else 0), dtype=np.float64)
            counts = np.zeros(shape, dtype=np.float64)
            stats = np.zeros((n_parts, 4), dtype=np.float64)
            with single_threaded_blas(use_gemm):
                _assign_kernel(
                    X, centroids, centroids64, centroids64 if screen64 else centroids, origin, gemm_operand.T,
                    weight, labels, sq_dist, sums, counts, stats, block_rows, use_gemm, accumulate, bounds, *magic,
                    screen64,
                )  # fmt: skip
        n_rechecked = int(stats[:, 3].sum())
        logger.debug("numba: %d of %d points rechecked canonically", n_rechecked, n_samples)
        self.last_recheck_share = n_rechecked / max(n_samples, 1)
        return sums, counts, stats

    def _bounded_parts(self, X, centroids, sample_weight, labels, scale, bounds: BoundState) -> StepParts:
        """:meth:`accumulate_parts` of a bound-based algorithm (:func:`_bounded_kernel`)."""
        n_samples, n_features = X.shape
        n_clusters = centroids.shape[0]
        centroids = np.ascontiguousarray(centroids, dtype=X.dtype)
        labels, fresh, motion = bounds.begin_step(centroids, labels, scale, np)
        order, group_start = bounds.group_order()  # (each group's centres one slice of the GEMM operand)
        use_gemm = self.uses_gemm(n_features, n_clusters)
        origin, gemm_operand, radius = _gemm_screen(centroids)
        operand_t = np.ascontiguousarray(gemm_operand.T[order])
        widths = np.array([*gemm_threshold(X.dtype, n_features), radius])
        magic = tuple(np.ascontiguousarray(grid.magic) for grid in scale.grids())
        block_rows = _block_rows(X, n_clusters)
        if not fresh and bounds.undecided_share <= SPARSE_STEP_SHARE:
            # a block's scratch per row (_bounded_kernel's arrays): its scores (K, float64 at most), its
            # bounds and tracking per group (4 float64, 3 int32, a bool), its rows (centred, gathered,
            # transposed), ~15 scalars
            row_bytes = 8 * n_clusters + 45 * bounds.n_groups + 16 * (n_features + 1) + 128
            block_rows = max(block_rows, min(SPARSE_BLOCK_ROWS, SPARSE_BLOCK_BYTES // row_bytes))
        with self._threads() as n_threads:
            n_parts = max(1, min(n_threads, n_samples // 64))
            sums = np.zeros((n_parts, 2, n_clusters, n_features))
            counts = np.zeros((n_parts, 2, n_clusters))
            stats = np.zeros((n_parts, 5))
            with single_threaded_blas(use_gemm):
                _bounded_kernel(
                    X, centroids.astype(np.float64), origin, operand_t, order, group_start,
                    _weights_or_empty(sample_weight, X.dtype), labels, bounds.lower, motion.group_move,
                    motion.separation, fresh, sums, counts, stats, block_rows, use_gemm, widths, slack(n_features),
                    DENSE_SHARE, *magic,
                )  # fmt: skip
        sums, counts = bounds.end_step(sums.sum(axis=0), counts.sum(axis=0), fresh, int(stats[:, 3].sum()),
                                       int(stats[:, 4].sum()))  # fmt: skip
        return StepParts(labels, sums, counts, stats[:, :2].sum(axis=0), np.int64(stats[:, 2].sum()))

    @contextmanager
    def _threads(self):
        previous = numba.get_num_threads()
        if self.n_threads is not None:
            numba.set_num_threads(self.n_threads)
        try:
            yield numba.get_num_threads()
        finally:
            numba.set_num_threads(previous)


def _gemm_screen(centroids):
    """``(origin, operand, R)`` of the GEMM screen: rows ``[x - origin, 1]`` times ``operand``'s columns
    ``[-2 (c - origin), |c - origin|^2]`` give ``|c|^2 - 2 x.c`` up to a constant; ``R`` bounds ``|c - origin|``."""
    origin = centroids.mean(axis=0, dtype=np.float64).astype(centroids.dtype)
    moved = centroids - origin
    moved_sq_norms = np.einsum("ij,ij->i", moved, moved)
    operand = np.ascontiguousarray(np.vstack([-2 * moved.T, moved_sq_norms[None]]))
    radius = float(np.sqrt(np.max(np.einsum("ij,ij->i", moved, moved, dtype=np.float64)))) * (1 + 2.0**-40)
    return origin, operand, radius


def _block_rows(X, n_clusters):
    """Rows per block: a thread's ``block_rows x n_clusters`` scores stay within :data:`_BLOCK_BYTES`."""
    return max(8, min(_MAX_BLOCK_ROWS, _BLOCK_BYTES // (X.itemsize * n_clusters)))


def _weights_or_empty(sample_weight, dtype):
    """The kernels take an empty weight array to mean "every point weighs 1"."""
    return np.empty(0, dtype=dtype) if sample_weight is None else sample_weight


def warmup() -> float:
    """Compile (or load from cache) every kernel for float32 and float64; return seconds taken.

    Numba compiles on first use; call this once at start-up to move that cost
    out of your first fit.

    >>> warmup() >= 0
    True
    """
    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        X = np.random.default_rng(0).standard_normal((256, 4)).astype(dtype)
        for strategy, n_clusters in (("direct", 3), ("direct", CANONICAL_SCREEN_MAX_CLUSTERS + 1), ("gemm", 3)):
            backend = NumbaBackend(strategy=strategy)
            backend.assign_accumulate(X, X[:n_clusters], np.ones(256, dtype=dtype))
            backend.assign_accumulate(X, X[:n_clusters], None)
            backend.assign(X, X[:n_clusters])
        state = BoundState("yinyang", 2, X, 4)
        for _ in range(2):  # (a fresh step, then one that reads the bounds)
            NumbaBackend().assign_accumulate(X, X[:4], None, state.labels, Scale.of(X), state)
        NumbaBackend().pairwise_sq_distances(X, X[:2])
        NumbaBackend().labelled_sq_distances(X, X[:3], np.zeros(256, dtype=np.int32))
        for weight in (None, np.ones(256, dtype=dtype)):
            NumbaBackend().seeding_step(X, X[:2], np.full(256, np.inf), weight)
    elapsed = time.perf_counter() - start
    logger.debug("numba kernels ready in %.2f s", elapsed)
    return elapsed


BACKEND = NumbaBackend

"""Exact bound-based acceleration: Hamerly, Yinyang and Elkan, with Lloyd's labels at every iteration.

After the first iterations of Lloyd's algorithm almost every distance it
computes is wasted: most points keep their centre. The bound-based
algorithms prove it and skip them. fastkm's three share one scheme and differ
only in how the centres are grouped:

* **hamerly** (Hamerly 2010): one group, all centres;
* **yinyang** (Ding et al. 2015): ``G`` groups of nearby centres (k-means on
  the initial centroids), ``G`` about ``K / 10``, fewer where memory says so;
* **elkan** (Elkan 2003): one group per centre (``N x K`` bounds: only when
  asked for).

Per point ``i`` the state keeps, for each group ``g``, a lower bound
``lower[g, i]`` on the Euclidean distance from ``x_i`` to every centre of ``g``
other than its own, stored as float32 rounded down. Each step:

1. the centres moved: each group's bound drops by the group's largest move
   (the triangle inequality), every move rounded up;
2. the distance to the point's own centre is computed canonically (the step
   needs it anyway: it is the point's inertia term), so the upper bound is
   always tight;
3. if it is certainly smaller than every group's bound (and, for Hamerly and
   Elkan, than ``2 s - u``, with ``s`` half the distance to the nearest other
   centre), the point keeps its label: no other distance is computed;
4. otherwise the point is assigned from scratch, exactly as Lloyd's step does
   (the backend's certified argmin), and its bounds are set from the
   distances (screened ones, lowered by the screen's error bound).

**Exactness.** Labels are the argmin of the *canonical* distance (see
:mod:`fastkm.backends.exact`), the lowest index on ties, and rounding must not
let a bound claim what it cannot prove. So every bound is on the exact
Euclidean distance and is rounded the safe way: moves and upper bounds up,
lower bounds down (:func:`sqrt_lower`, :func:`sqrt_upper`, :func:`decayed`,
:func:`lower32`); and a point is kept only if its canonical distance is
*strictly* below the smallest canonical distance its lower bound allows
(:func:`certifies`), so a tie is never decided by a bound. A point the bounds
cannot decide is assigned like Lloyd's step assigns it. Labels, ``n_changed``,
sums, counts and inertia are therefore those of Lloyd's step from the same
centroids, bit for bit, at every iteration; only the work differs.

The functions here take floats or arrays and compile under Numba unchanged,
so the NumPy reference and the Numba kernel round alike.

>>> import numpy as np
>>> eps = slack(2)
>>> bool(certifies(1.0, sqrt_lower(1.0, eps), eps))   # a tie is never certified
False
>>> bool(certifies(1.0, sqrt_lower(1.0001, eps), eps))
True
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np

from .base import to_host
from .exact import _U64, _gamma, canonical_to_labelled

__all__ = [
    "ALGORITHMS",
    "ALGORITHM_CHOICES",
    "BoundState",
    "SeedingBounds",
    "choose_algorithm",
    "Motion",
    "certifies",
    "decayed",
    "half_separation",
    "lower32",
    "seeding_thresholds",
    "slack",
    "sqrt_lower",
    "sqrt_upper",
    "yinyang_groups",
]

logger = logging.getLogger("fastkm")

#: The algorithms a fit can run; all give Lloyd's labels.
ALGORITHMS = ("lloyd", "hamerly", "yinyang", "elkan")
#: What ``algorithm=`` accepts.
ALGORITHM_CHOICES = ("auto", *ALGORITHMS)

#: Absolute slack of a Euclidean bound: above ``sqrt`` of the canonical distance's underflow error
#: (``2 d`` halves of the smallest subnormal) for any ``d < 2^40``.
TINY = 2.0**-500
#: Absolute slack of a squared bound (``TINY ** 2``).
TINY_SQ = 2.0**-1000
_F32_MAX = float(np.finfo(np.float32).max)

#: Yinyang's bounds may take at most this share of the memory of X (the group count adapts).
MEMORY_SHARE = 0.5
#: Yinyang's centres per group, as Ding et al. (2015) suggest.
CENTRES_PER_GROUP = 10
#: Lloyd iterations that group the centres for Yinyang (Ding et al.: 5).
GROUPING_ITERATIONS = 5


def slack(n_features: int) -> float:
    """``eps``: the relative slack of every bound for ``n_features`` features.

    The canonical distance ``C`` is within ``gamma_{d+2}(u) D + beta`` of the
    exact squared distance ``D`` (:func:`~fastkm.backends.exact.direct_threshold`);
    twice that, plus room for the few roundings of the bounds' own arithmetic.

    >>> 0 < slack(16) < 1e-13
    True
    """
    return 2.0 * _gamma(n_features + 2, _U64) + 2.0**-50


def sqrt_lower(sq_dist: Any, eps: float) -> Any:
    """A lower bound on the exact Euclidean distance whose canonical squared distance is ``sq_dist`` (>= 0)."""
    return np.sqrt(sq_dist) * (1.0 - eps) - TINY


def sqrt_upper(sq_dist: Any, eps: float) -> Any:
    """An upper bound on the exact Euclidean distance whose canonical squared distance is ``sq_dist``."""
    return np.sqrt(sq_dist) * (1.0 + eps) + TINY


def certifies(sq_dist: Any, lower: Any, eps: float) -> Any:
    """Whether every centre at exact distance ``>= lower`` has a canonical distance ``> sq_dist``.

    Such a centre's canonical distance is at least ``lower^2 (1 - gamma) - beta``;
    strictly above ``sq_dist`` means it can neither beat nor tie the centre at
    ``sq_dist``.
    """
    return (lower > 0) & (lower * lower * (1.0 - eps) - TINY_SQ > sq_dist)


def decayed(lower: Any, move: Any) -> Any:
    """``lower - move``, rounded down: the bound after its centres moved by at most ``move``."""
    value = lower - move
    return value - np.abs(value) * 2.0**-51 - TINY


def lower32(value: Any) -> Any:
    """``value`` as float32, rounded down (never above it), at least 0 and finite."""
    return np.float32(np.minimum(np.maximum(value * (1.0 - 2.0**-23) - 2.0**-140, 0.0), _F32_MAX))


class Motion(NamedTuple):
    """How far the centroids moved since the bounds were last set (host float64 arrays, rounded up)."""

    move: np.ndarray
    """``(n_clusters,)``: an upper bound on each centre's exact move."""
    group_move: np.ndarray
    """``(n_groups,)``: the largest ``move`` in each group."""
    separation: np.ndarray
    """``(n_clusters,)``: a lower bound on half the distance from each centre to the nearest other one
    (0 where the algorithm does not use it)."""


def _group_maximum(values: np.ndarray, group_of: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros(n_groups)
    np.maximum.at(out, group_of, values)
    return out


class BoundState:
    """The per-point bounds of one run of a bound-based algorithm, kept by the backend between steps.

    The driver makes one per run (:meth:`for_fit`) and passes it to every
    ``assign_accumulate``; the backend reads and updates it. A step whose
    ``labels`` are not the ones the bounds describe (the first step, or any
    other labels) starts afresh: every point assigned, every bound set.

    >>> import numpy as np
    >>> state = BoundState("yinyang", 3, np.zeros((1000, 8), np.float32), 100)
    >>> state.n_groups, state.nbytes
    (3, 12000)
    """

    def __init__(self, algorithm: str, n_groups: int, X: Any, n_clusters: int):
        self.algorithm = algorithm
        self.n_groups = int(n_groups)
        self.n_samples = int(X.shape[0])
        self.n_clusters = int(n_clusters)
        self.uses_separation = algorithm in ("hamerly", "elkan")
        self.lower: Any = None
        """``(n_groups, n_samples)`` float32 (a group's bounds contiguous), allocated by the first step."""
        self.group_of: np.ndarray | None = None
        """``(n_clusters,)`` int32: each centre's group (host), set by the first step."""
        self.centroids: Any = None
        """The centroids the bounds were last set for."""
        self.labels: Any = None
        """The label array the bounds describe (the driver's one buffer)."""
        self.scale: Any = None
        self.sums: Any = None
        """Exact-sum parts of the clusters' sums under ``labels`` (backends that update them incrementally)."""
        self.counts: Any = None
        self.n_distances = 0
        """Point-to-centre distances computed so far (a point's own centre included)."""
        self.undecided_share = 1.0
        """Share of the points the last step's bounds left undecided (a backend may size its work by it)."""
        self.n_steps = 0

    @classmethod
    def for_fit(cls, algorithm: str, X: Any, n_clusters: int) -> "BoundState":
        """The state for ``algorithm`` (not ``"lloyd"``) on ``X`` with ``n_clusters`` centres."""
        if algorithm == "hamerly":
            n_groups = 1
        elif algorithm == "elkan":
            n_groups = n_clusters
        else:
            n_groups = yinyang_groups(X.shape[1], X.dtype.itemsize, n_clusters)
        return cls(algorithm, n_groups, X, n_clusters)

    @property
    def nbytes(self) -> int:
        """Memory of the per-point bounds (float32 each)."""
        return 4 * self.n_samples * self.n_groups

    @property
    def distance_share(self) -> float:
        """Share of the ``n_samples * n_clusters`` distances per step that were computed, over all steps."""
        return self.n_distances / max(1, self.n_steps * self.n_samples * self.n_clusters)

    def is_current(self, labels: Any, scale: Any) -> bool:
        """Whether the bounds describe ``labels`` (and the sums ``scale``'s grids): else a step starts afresh."""
        return self.lower is not None and labels is not None and labels is self.labels and scale is self.scale

    def begin_step(self, centroids: Any, labels: Any, scale: Any, xp: Any) -> tuple[Any, bool, Motion]:
        """``(labels, fresh, motion)`` for a step from ``centroids``, as every backend begins one.

        A step whose ``labels`` are not the ones the bounds describe starts
        afresh (``fresh``: every point assigned, every bound set; ``labels``
        made with ``xp`` when None); ``motion`` is how far the centroids moved
        since the last step (:meth:`advance`).
        """
        fresh = not self.is_current(labels, scale)
        if fresh:
            labels = xp.full(self.n_samples, -1, dtype=np.int32) if labels is None else labels
            self.start(centroids, labels, scale, xp)
        return labels, fresh, self.advance(centroids)

    def group_order(self) -> tuple[np.ndarray, np.ndarray]:
        """``(order, group_start)``: the centres in group order (int32), so group ``g``'s are
        ``order[group_start[g]:group_start[g + 1]]`` (int64, ``n_groups + 1``)."""
        order = np.argsort(self.group_of, kind="stable").astype(np.int32)
        return order, np.searchsorted(self.group_of[order], np.arange(self.n_groups + 1)).astype(np.int64)

    def end_step(self, sums: Any, counts: Any, fresh: bool, n_distances: int, n_undecided: int) -> tuple[Any, Any]:
        """Take a step's exact-sum parts (every point's when ``fresh``, else the moved points': taken
        from their old clusters, added to their new) into the clusters' kept ones, and count its
        distances and the points its bounds left undecided; returns copies of the clusters' parts.
        The parts are on exact-sum grids, so the moves update them to the bits a sum over every
        point gives."""
        if fresh:
            self.sums, self.counts = sums, counts
        else:
            self.sums += sums
            self.counts += counts
        self.n_distances += n_distances
        self.undecided_share = n_undecided / max(self.n_samples, 1)
        return self.sums.copy(), self.counts.copy()

    def start(self, centroids: Any, labels: Any, scale: Any, xp: Any) -> None:
        """Set up for a fresh step: groups from ``centroids`` (first time), bounds to be set by the step."""
        if self.group_of is None:
            self.group_of = _group_centres(np.asarray(to_host(centroids), dtype=np.float64), self.n_groups)
        if self.lower is None:
            self.lower = xp.zeros((self.n_groups, self.n_samples), dtype=np.float32)
        self.labels, self.scale, self.centroids = labels, scale, centroids.copy()

    def advance(self, centroids: Any) -> Motion:
        """The :class:`Motion` from the last step's centroids to ``centroids``, which become the current ones."""
        new = np.asarray(to_host(centroids), dtype=np.float64)
        old = np.asarray(to_host(self.centroids), dtype=np.float64)
        eps = slack(new.shape[1])
        move = sqrt_upper(canonical_to_labelled(new, old, np.arange(len(new))), eps)
        separation = half_separation(new) if self.uses_separation else np.zeros(len(new))
        self.centroids = centroids.copy()
        self.n_steps += 1
        return Motion(move, _group_maximum(move, self.group_of, self.n_groups), separation)


def half_separation(centroids: np.ndarray) -> np.ndarray:
    """A lower bound on half the exact distance from each centre to the nearest other (float64, host).

    Hamerly's and Elkan's ``s``: a point nearer its centre than ``s`` is nearest
    it. One float64 product over the centres moved to their mean, lowered by
    its error bound: with ``m = fl(c - o)`` (each coordinate within ``u |c - o|``,
    so ``| |m_a - m_b| - |c_a - c_b| | <= u (|m_a| + |m_b|)``) and the expansion
    ``|m_a|^2 + |m_b|^2 - 2 m_a.m_b`` within ``2 gamma_{d+2} (|m_a| + |m_b|)^2`` of
    ``|m_a - m_b|^2`` (Higham, eq. 3.5), taken 4 times over. Both errors are
    bounded with ``R_a = |m_a| + max_b |m_b| >= |m_a| + |m_b|``, so the bound
    on ``|c_a - c_b|`` grows with the expansion and only each row's smallest
    expansion is lowered (one pass over the K x K product, no K x K temporaries).

    >>> half_separation(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])).round(6).tolist()
    [2.5, 0.5, 0.5]
    """
    n_clusters, n_features = centroids.shape
    if n_clusters < 2:
        return np.zeros(n_clusters)
    moved = centroids - centroids.mean(axis=0)
    sq_norms = np.einsum("ij,ij->i", moved, moved)
    expansion = moved @ moved.T  # -> |m_b|^2 - 2 m_a.m_b, in place
    expansion *= -2.0
    expansion += sq_norms[None, :]
    np.fill_diagonal(expansion, np.inf)
    nearest_sq = sq_norms + expansion.min(axis=1)
    reach = np.sqrt(sq_norms) + np.sqrt(sq_norms.max())
    error = 8.0 * _gamma(n_features + 2, _U64) * reach * reach
    lower = np.sqrt(np.maximum(nearest_sq - error, 0.0)) - 4.0 * _U64 * reach
    return np.maximum(0.5 * lower * (1.0 - slack(n_features)) - TINY, 0.0)


def seeding_thresholds(sq_separation: Any, eps: float) -> Any:
    """How near its nearest centre ``a`` a point must be for a candidate ``t`` to be certainly farther.

    ``sq_separation[a, t]`` is the canonical squared distance between ``a`` and
    ``t``; a point whose canonical distance to ``a`` is ``C <= threshold[a, t]``
    has a canonical distance to ``t`` strictly above ``C`` (never a tie), so
    k-means++ need not measure it (Raff 2021, "Exact acceleration of K-Means++
    and K-Means||"). With ``D`` the lower bound on the exact ``|a - t|``
    (:func:`sqrt_lower`), ``h = D (1 - 4 eps) / 2 - 4 TINY`` and
    ``threshold = h^2 (1 - 2 eps)`` (-1 where ``h <= 0``: nothing skipped),
    ``sqrt(C) <= h`` and the triangle inequality give an exact distance to
    ``t`` of at least ``D - sqrt_upper(C) >= sqrt(C) (1 + 3 eps) + 7 TINY``,
    which :func:`certifies` ``C``. (The ``4 eps`` rather than ``2 eps`` covers
    the few roundings in ``h`` itself.)

    A point exactly halfway (a possible tie) is always measured:

    >>> 3.9999 < float(seeding_thresholds(np.float64(16.0), slack(2))) < 4.0
    True
    """
    half = sqrt_lower(sq_separation, eps) * (1.0 - 4.0 * eps) * 0.5 - 4.0 * TINY
    return np.where(half > 0, half * half * (1.0 - 2.0 * eps), -1.0)


class SeedingBounds:
    """What a k-means++ seeding keeps between its steps so that most distances need not be measured.

    Per point, the index of its nearest centre so far (``nearest``, -1: none
    yet; its canonical distance is the seeding's ``closest_sq_dist``); the
    centres chosen so far, each with ``reach``, an upper bound on the
    ``closest_sq_dist`` of its points (set when it is chosen: a centre only
    ever loses points, which keep their distance); and the exact-sum parts of ``sum_i w_i
    closest_i`` (``total``), so that a candidate's potential is that total
    plus the changes at the points it comes nearer to -- the same bits as
    summing every term. A backend with ``fast_bounds`` uses it (the driver
    makes one per seeding); others ignore it.

    >>> import numpy as np
    >>> bounds = SeedingBounds(np.zeros((1000, 4), np.float32), 8)
    >>> int(bounds.nearest.min()), bounds.n_centres, bounds.thresholds(np.zeros((3, 4)), None).shape
    (-1, 0, (1, 3))
    """

    def __init__(self, X: Any, n_clusters: int):
        self.nearest = np.full(X.shape[0], -1, dtype=np.int32)
        self.centres = np.empty((max(int(n_clusters), 1), X.shape[1]), dtype=X.dtype)
        self.reach = np.empty(len(self.centres))
        self.n_centres = 0
        self.total: np.ndarray | None = None
        """``(n_folds,)`` exact-sum parts of ``sum_i w_i closest_i`` (None: not known yet)."""
        self.eps = slack(X.shape[1])

    def thresholds(self, candidates: np.ndarray, pairwise: Any) -> np.ndarray:
        """``(n_centres, n_candidates)`` float64 :func:`seeding_thresholds` (one row of -1 before any centre);
        ``pairwise(A, B)`` gives canonical squared distances (the backend's ``pairwise_sq_distances``)."""
        if self.n_centres == 0:
            return np.full((1, len(candidates)), -1.0)
        return np.ascontiguousarray(seeding_thresholds(pairwise(self.centres[: self.n_centres], candidates), self.eps))

    def row_floors(self, thresholds: np.ndarray) -> np.ndarray:
        """``(n_centres,)`` float64: a point of centre ``a`` may have a candidate of ``thresholds`` come
        nearer only if its ``closest_sq_dist`` exceeds ``floors[a]``, its smallest threshold (inf when
        the centre's ``reach`` is within it: none of its points can; one -1 before any centre)."""
        floors = thresholds.min(axis=1)
        if self.n_centres == 0:
            return floors
        return np.where(self.reach[: self.n_centres] > floors, floors, np.inf)

    def add_centre(self, centre: np.ndarray, reach: float) -> None:
        """Record the chosen centre (index ``n_centres``) and the largest distance of the points it took."""
        if self.n_centres == len(self.centres):
            self.centres = np.concatenate([self.centres, np.empty_like(self.centres)])
            self.reach = np.concatenate([self.reach, np.empty_like(self.reach)])
        self.centres[self.n_centres] = centre
        self.reach[self.n_centres] = reach
        self.n_centres += 1


#: ``"auto"`` runs Lloyd below this many centres: the bounds' bookkeeping costs more than the few
#: distances they save (measured: ``fastkm bench --fit``, benchmarks/results/cpu-notes.md).
AUTO_MIN_CLUSTERS = 32
#: ... and Hamerly (one bound) where a point's distances to every centre are cheap (up to
#: :data:`AUTO_HAMERLY_MAX_FEATURES` features, or ``K d`` up to :data:`AUTO_HAMERLY_MAX_WORK`) or
#: there are few centres (up to :data:`AUTO_HAMERLY_MAX_CLUSTERS`: few groups, ``K / 10``, for
#: Yinyang's group bounds to gain from), Yinyang (groups) otherwise. Measured (fits to convergence
#: from one seeding, Hamerly against Yinyang): overlapping blobs (1M, 16, 128) 2.9 vs 3.9 s,
#: (500k, 64, 64) 4.4 vs 5.0 s, (100k, 256, 64) 0.63-0.83 vs 0.71-0.81 s, (500k, 64, 128) 4.3 vs
#: 3.3 s; grid data (1M, 16, 64) 0.93 / 1.28 vs 1.01 / 1.45 s, (1M, 16, 256) 1.20 vs 1.09 s.
AUTO_HAMERLY_MAX_FEATURES = 8
AUTO_HAMERLY_MAX_CLUSTERS = 64
AUTO_HAMERLY_MAX_WORK = 2048
#: ... and Hamerly from this many features on, whatever K: in many dimensions distances concentrate,
#: a group's bound is hardly tighter than Hamerly's one, and Yinyang's first step (K / 10 groups
#: tracked) costs more. Measured (overlapping blobs, two runs each, Hamerly against Yinyang):
#: (100k, 256, 1024) 1.37-1.57 vs 1.57-1.75 s, (200k, 128, 512) 1.61-1.75 vs 1.77-1.96 s,
#: (100k, 256, 256) 0.87-0.97 vs 0.80-0.89 s, (100k, 256, 64) above.
AUTO_HAMERLY_MIN_FEATURES = 128


def choose_algorithm(X: Any, n_clusters: int, backend: Any, max_iter: int = 300) -> str:
    """What ``algorithm="auto"`` runs for ``X`` with ``n_clusters`` centres on ``backend``.

    Lloyd where the bounds cannot pay -- a backend where they are not fast
    (``fast_bounds``: only Numba's are; NumPy's are the plain reference
    versions), fewer than :data:`AUTO_MIN_CLUSTERS` centres, or at most 2
    iterations (the first step of a bound-based run measures every
    distance) -- else Hamerly where distances are cheap, centres few or
    dimensions many (:data:`AUTO_HAMERLY_MAX_FEATURES`, :data:`AUTO_HAMERLY_MAX_WORK`,
    :data:`AUTO_HAMERLY_MAX_CLUSTERS`, :data:`AUTO_HAMERLY_MIN_FEATURES`), Yinyang
    otherwise. Measured with ``fastkm bench --fit`` (see benchmarks/results/cpu-notes.md).

    >>> import numpy as np
    >>> from fastkm.backends import get_backend
    >>> shapes = ((2, 8), (2, 256), (16, 128), (256, 64), (64, 128), (16, 256), (64, 1024), (256, 1024))
    >>> [choose_algorithm(np.zeros((100, d)), k, get_backend("numba")) for d, k in shapes]
    ['lloyd', 'hamerly', 'hamerly', 'hamerly', 'yinyang', 'yinyang', 'yinyang', 'hamerly']
    >>> choose_algorithm(np.zeros((100, 64)), 256, get_backend("numpy"))
    'lloyd'
    """
    if not getattr(backend, "fast_bounds", False) or n_clusters < AUTO_MIN_CLUSTERS or max_iter <= 2:
        return "lloyd"
    n_features = X.shape[1]
    cheap = n_features <= AUTO_HAMERLY_MAX_FEATURES or n_clusters * n_features <= AUTO_HAMERLY_MAX_WORK
    concentrated = n_features >= AUTO_HAMERLY_MIN_FEATURES
    return "hamerly" if cheap or concentrated or n_clusters <= AUTO_HAMERLY_MAX_CLUSTERS else "yinyang"


def yinyang_groups(n_features: int, itemsize: int, n_clusters: int) -> int:
    """Yinyang's group count: ``K / 10`` (Ding et al.), at most what :data:`MEMORY_SHARE` of X allows.

    A point's bounds take ``4 G`` bytes against its ``d * itemsize`` in X.

    >>> yinyang_groups(16, 4, 1024), yinyang_groups(256, 4, 1024), yinyang_groups(2, 4, 64)
    (8, 102, 1)
    """
    wanted = max(1, round(n_clusters / CENTRES_PER_GROUP))
    allowed = max(1, int(MEMORY_SHARE * n_features * itemsize // 4))
    return int(min(wanted, allowed, n_clusters))


def _group_centres(centroids: np.ndarray, n_groups: int) -> np.ndarray:
    """Each centre's group: a few Lloyd iterations on the centres themselves (from evenly spaced ones).

    Deterministic for given centroids on a given machine: the groups only steer which distances
    are measured, never a label.
    """
    n_clusters = len(centroids)
    if n_groups == 1:
        return np.zeros(n_clusters, dtype=np.int32)
    if n_groups == n_clusters:
        return np.arange(n_clusters, dtype=np.int32)
    seeds = centroids[np.linspace(0, n_clusters - 1, n_groups).round().astype(np.int64)]
    group_of = np.zeros(n_clusters, dtype=np.int32)
    for _ in range(GROUPING_ITERATIONS):
        sq_dist = np.einsum("ij,ij->i", seeds, seeds)[None, :] - 2.0 * (centroids @ seeds.T)
        group_of = sq_dist.argmin(axis=1).astype(np.int32)
        counts = np.bincount(group_of, minlength=n_groups)
        sums = np.zeros_like(seeds)
        np.add.at(sums, group_of, centroids)
        seeds = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], seeds)
    return group_of


def describe_state(state: BoundState | None) -> str:
    """One line for the log: algorithm, groups, memory and work skipped."""
    if state is None:
        return "lloyd"
    return (
        f"{state.algorithm} ({state.n_groups} group{'s' * (state.n_groups != 1)}, "
        f"{state.nbytes / 2**20:.1f} MiB of bounds, {100 * (1 - state.distance_share):.1f}% of distances skipped)"
    )


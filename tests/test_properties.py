"""Property tests: what holds for every input, on every backend and code path, found by Hypothesis.

Every property runs on each available backend (``AVAILABLE_BACKENDS``) in each
of its code paths (``VARIANTS``: Numba's "direct" and "gemm" strategies and one
thread, NumPy's chunking; the data has 1 to 8 features, so the automatic
choices fall on both sides of Numba's ``d <= 4`` switch). The data is small,
float32 or float64, often integer-valued (so exact verdicts are possible),
full of duplicate rows, sometimes far from the origin, with no weights, all
positive weights or weights with zeros, and K anywhere from 1 to the number
of positively weighted points.

Labels are held to the definition exactly (the canonical argmin, lowest index
on ties: :mod:`fastkm.backends.exact`); the only allowances are for rounding a
mean to the data's precision (:data:`_ROUNDING`), never for agreement.
Examples are derandomized, so CI runs the same examples every time. For a
deeper search: ``FASTKM_PROPERTY_SCALE=10`` (ten times the examples) and
``FASTKM_PROPERTY_EXPLORE=1`` with ``--hypothesis-seed=N`` (random examples).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastkm
from fastkm import ConvergenceWarning, KMeans, get_backend, kmeans, kmeans_plusplus
from fastkm.backends.exact import canonical_sq_distances, canonical_to_labelled
from fastkm.testing import canonical_assignment, to_numpy

from .conftest import VARIANTS, backend_params


#: A deeper search than CI's (see the module docstring).
_SCALE = max(1, int(os.environ.get("FASTKM_PROPERTY_SCALE", "1")))


def _settings(max_examples: int) -> settings:
    """Reproducible (derandomized unless exploring, no example database), no per-example deadline."""
    return settings(
        max_examples=max_examples * _SCALE,
        deadline=None,
        derandomize=os.environ.get("FASTKM_PROPERTY_EXPLORE") is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# -- the backends: every available one, in every code path -------------------------------------
#: Besides conftest's VARIANTS: each backend's default, and NumPy in blocks smaller than the data
#: here (chunk_rows=97 is one block for the small problems below).
_EXTRA_VARIANTS = {"numpy": [{}, {"chunk_rows": 7}]}


def _variants(name: str) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    for option in [{}, *VARIANTS.get(name, []), *_EXTRA_VARIANTS.get(name, [])]:
        if option not in options:
            options.append(option)
    return options


BACKENDS = backend_params(_variants)


def _backend(param: tuple[str, dict[str, Any]]):
    name, options = param
    return get_backend(name, **options)


# -- the data ---------------------------------------------------------------------------------
@dataclass
class Problem:
    """One k-means problem. ``init`` is a method name or an explicit array."""

    X: np.ndarray
    n_clusters: int
    sample_weight: np.ndarray | None = None
    init: Any = "k-means++"
    seed: int = 0
    n_init: int = 1

    @property
    def weight64(self) -> np.ndarray:
        """The weights the fit uses: in X's dtype (as validation makes them), as float64."""
        if self.sample_weight is None:
            return np.ones(len(self.X))
        return self.sample_weight.astype(self.X.dtype).astype(np.float64)

    def permuted(self, permutation: np.ndarray) -> Problem:
        weight = None if self.sample_weight is None else self.sample_weight[permutation]
        return Problem(self.X[permutation], self.n_clusters, weight, self.init, self.seed, self.n_init)


_CONTINUOUS = st.floats(-100, 100, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_INTEGERS = st.integers(-12, 12).map(float)


@st.composite
def problems(draw, *, integer: bool | None = None, inits=("k-means++", "random", "array")):
    """Small data with duplicate rows (a few distinct rows, repeated), weights, K and an init.

    ``integer``: small integer values as floats (every sum exact in float64), or
    continuous values, or (None) either. An ``"array"`` init is integer-valued
    for integer data: K rows of X, or other points of the same grid.
    """
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    integer = draw(st.booleans()) if integer is None else integer
    n_features = draw(st.integers(1, 8))
    # mostly tiny; now and then past 2 * 64 rows (two Numba threads) and 97 (two NumPy chunks)
    n_samples = draw(st.integers(1, 24)) if draw(st.integers(0, 5)) else draw(st.integers(128, 140))
    n_distinct = draw(st.integers(1, min(n_samples, 24)))
    pool = draw(arrays(np.float64, (n_distinct, n_features), elements=_INTEGERS if integer else _CONTINUOUS))
    rows = draw(arrays(np.intp, n_samples, elements=st.integers(0, n_distinct - 1)))
    offset = draw(st.sampled_from([0.0, 1e3] if dtype == np.float32 else [0.0, 1e4, 1e7]))
    X = (pool[rows] + offset).astype(dtype)

    kind = draw(st.sampled_from(["none", "positive", "with zeros"]))
    if kind == "none":
        weight = None
    else:
        low = 0 if kind == "with zeros" else 1
        elements = st.integers(low, 4).map(float)
        if not integer:
            elements = elements | st.floats(0.125, 8.0)
        weight = draw(arrays(np.float64, n_samples, elements=elements))
        if not (weight > 0).any():
            weight[draw(st.integers(0, n_samples - 1))] = 1.0
    n_positive = n_samples if weight is None else int((weight > 0).sum())
    n_clusters = draw(st.integers(1, n_positive))

    init = draw(st.sampled_from(inits))
    if init == "array":
        if draw(st.booleans()):
            init = X[draw(arrays(np.intp, n_clusters, elements=st.integers(0, n_samples - 1)))]
        else:
            values = _INTEGERS if integer else _CONTINUOUS
            init = (draw(arrays(np.float64, (n_clusters, n_features), elements=values)) + offset).astype(dtype)
    n_init = 1 if isinstance(init, np.ndarray) else draw(st.sampled_from([1, 2]))
    return Problem(X, n_clusters, weight, init, draw(st.integers(0, 2**16)), n_init)


@st.composite
def continuous_problems(draw):
    """Points drawn around a few centres (so exact ties are almost surely absent), an explicit init."""
    n_samples, n_features = draw(st.integers(8, 60)), draw(st.integers(1, 8))
    n_clusters = draw(st.integers(2, min(6, n_samples - 2)))
    seed = draw(st.integers(0, 2**16))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    offset = draw(st.sampled_from([0.0, 1e3] if dtype == np.float32 else [0.0, 1e4, 1e7]))
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(n_clusters, n_features))
    X = (centres[rng.integers(0, n_clusters, n_samples)] + rng.standard_normal((n_samples, n_features)) + offset)
    weight = draw(st.sampled_from([None, "positive", "with zeros"]))
    if weight is not None:
        weight = rng.uniform(0.5, 2.0, n_samples) * (rng.uniform(size=n_samples) < 0.8 if weight != "positive" else 1)
        weight[:n_clusters] = 1.0
    init = X.astype(dtype)[rng.choice(n_samples, n_clusters, replace=False)]
    return Problem(X.astype(dtype), n_clusters, weight, init, seed)


def _fit(problem: Problem, backend, **kwargs):
    """Fit; return the result and the categories of the warnings raised (duplicate points legitimately warn)."""
    arguments = dict(
        init=problem.init,
        sample_weight=problem.sample_weight,
        random_state=problem.seed,
        n_init=problem.n_init,
        backend=backend,
    )
    arguments.update(kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = kmeans(problem.X, problem.n_clusters, **arguments)
    return result, [warning.category for warning in caught]


def _exact_sq_dist(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared distances computed exactly (Python integers, every value scaled by one power of two)."""
    values = np.concatenate([X.ravel(), centroids.ravel()]).astype(np.float64)
    ratios = [value.as_integer_ratio() for value in values.tolist()]
    shift = max(denominator.bit_length() - 1 for _, denominator in ratios)  # denominators are powers of 2
    scaled = np.array([numerator << (shift - denominator.bit_length() + 1) for numerator, denominator in ratios],
                      dtype=object)  # fmt: skip
    X_int = scaled[: X.size].reshape(X.shape)
    C_int = scaled[X.size :].reshape(centroids.shape)
    diff = X_int[:, None, :] - C_int[None, :, :]
    return (diff * diff).sum(axis=2)


# -- 1. labels are the nearest centroid -----------------------------------------------------
#: What rounding a mean to the data's precision may cost: a centroid is its
#: cluster's mean within one ulp of the dtype (relative), so a fit's inertia may
#: rise by a few ulps from one iteration to the next, and two fits whose sums
#: are the same mean agree to that ulp. Nothing here is an agreement tolerance.
_ROUNDING = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=50)
@given(problem=problems())
def test_labels_are_the_nearest_centroid(backend, problem):
    """Every label is the canonical argmin of the returned centroids (lowest index on ties): no exemption."""
    result, _ = _fit(problem, _backend(backend))
    X, n_clusters = problem.X, problem.n_clusters
    labels, centroids = to_numpy(result.labels), to_numpy(result.centroids)
    assert labels.shape == (len(X),) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < n_clusters
    assert centroids.shape == (n_clusters, X.shape[1]) and centroids.dtype == X.dtype
    assert np.all(np.isfinite(centroids))
    nearest, _ = canonical_assignment(X, centroids)
    wrong = np.flatnonzero(labels != nearest)
    assert wrong.size == 0, (
        f"rows {wrong[:10].tolist()} are labelled {labels[wrong[:10]].tolist()}, "
        f"the canonical nearest is {nearest[wrong[:10]].tolist()}"
    )


def _tie_violations(X, centroids, labels) -> tuple[list[str], int]:
    """Points exactly equidistant (exact arithmetic) from their nearest centroids whose label is not the lowest.

    Returns the violations and the number of exactly tied points.
    """
    found, n_tied = [], 0
    canonical = canonical_sq_distances(X, centroids)
    for row, distances in enumerate(_exact_sq_dist(X, centroids)):
        tied = [k for k, value in enumerate(distances.tolist()) if value == min(distances)]
        n_tied += len(tied) > 1
        kept = canonical[row, tied[0]] == canonical[row].min()  # (else the canonical rounding decided)
        if len(tied) > 1 and kept and labels[row] != tied[0]:
            same = all(np.array_equal(centroids[tied[0]], centroids[k]) for k in tied)
            kind = "identical centroids" if same else "distinct centroids"
            found.append(f"row {row} ({X[row].tolist()}) is exactly tied between {kind} {tied}, labelled {labels[row]}")
    return found, n_tied


def _pad(array, n_features: int = 5) -> np.ndarray:
    """Zero columns up to ``n_features`` (distances unchanged; d > 4 takes Numba's automatic GEMM path)."""
    array = np.asarray(array, dtype=np.float64)
    return np.hstack([array, np.zeros((len(array), n_features - array.shape[1]))])


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=40)
@given(problem=problems(integer=True))
@example(  # found by a search, padded to 5 features: -2 is 1 from both -3 (cluster 0) and -1 (cluster 2)
    problem=Problem(
        X=_pad([[3.0], [1.0], [-2.0], [-1.0], [-3.0], [0.0]]), n_clusters=3, init=_pad([[-3.0], [3.0], [-2.0]])
    )
)
def test_exact_ties_go_to_the_lowest_centroid_index(backend, problem):
    """Integer-valued data: a point exactly equidistant from its nearest centroids takes the lowest index.

    The fitted centroids are means, not integers, and a canonical distance to
    one can round (a difference of an integer and a float32 mean has up to 37
    significant bits, its square up to 74); where two exactly equal distances
    round apart, the canonical distance decides, as test 1 checks. Every tie
    the canonical distance keeps goes to the lowest index.
    """
    result, _ = _fit(problem, _backend(backend))
    labels, centroids = to_numpy(result.labels), to_numpy(result.centroids)
    violations, n_tied = _tie_violations(problem.X, centroids, labels)
    event(f"exactly tied points: {n_tied > 0}")
    assert not violations, "; ".join(violations[:5])


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=40)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.tuples(st.integers(1, 30), st.integers(2, 8), st.integers(1, 8)),  # N, K, d
    data=st.data(),
)
@example(dtype=np.float64, shape=(1, 3, 5), data=_pad([[-2.0], [-3.0], [-1.0], [2.0]]))  # point, then centroids
def test_assign_on_integer_centroids_is_the_exact_lowest_index_argmin(backend, dtype, shape, data):
    """One step, small integers: every distance is an exact integer; labels are the exact argmin, lowest on ties."""
    if isinstance(data, np.ndarray):  # the pinned example (found by a search, padded to 5 features)
        X, centroids = data[:1].astype(dtype), data[1:].astype(dtype)
    else:
        n_samples, n_clusters, n_features = shape
        grid = st.integers(-4, 4).map(float)  # few values: many ties, and identical centroids
        X = data.draw(arrays(dtype, (n_samples, n_features), elements=grid), label="X")
        centroids = data.draw(arrays(dtype, (n_clusters, n_features), elements=grid), label="centroids")
        offset = dtype(data.draw(st.sampled_from([0.0, 1000.0]), label="offset"))
        X, centroids = X + offset, centroids + offset
    exact = ((X.astype(np.int64)[:, None, :] - centroids.astype(np.int64)[None, :, :]) ** 2).sum(axis=2)
    expected = exact.argmin(axis=1)  # the first minimum: the lowest index
    backend = _backend(backend)
    labels, sq_dist = (to_numpy(array) for array in backend.assign(X, centroids))
    step_labels = to_numpy(backend.assign_accumulate(X, centroids, None).labels)
    event(f"exactly tied points: {((exact == exact.min(axis=1, keepdims=True)).sum(axis=1) > 1).any()}")
    wrong = np.flatnonzero(labels != expected)
    assert wrong.size == 0, (
        f"rows {wrong[:5].tolist()} labelled {labels[wrong[:5]].tolist()}, exact argmin {expected[wrong[:5]].tolist()} "
        f"(exact squared distances {exact[wrong[:5]].tolist()})"
    )
    np.testing.assert_array_equal(step_labels, labels)
    # the winner's distance is canonical, and for integers canonical is exact
    np.testing.assert_array_equal(sq_dist, exact.min(axis=1).astype(np.float64))


# -- 2. inertia --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=40)
@given(problem=problems())
def test_inertia_is_the_weighted_sum_of_squared_distances(backend, problem):
    result, _ = _fit(problem, _backend(backend))
    labels, centroids = to_numpy(result.labels), to_numpy(result.centroids)
    own = canonical_to_labelled(problem.X, centroids, labels)
    expected = float(own @ problem.weight64)
    # an exact sum rounded once, against a float64 dot product: the dot product's rounding
    np.testing.assert_allclose(result.inertia, expected, rtol=1e-12)
    # and the history never rises, but for rounding the means to the data's precision
    history = np.array([*result.inertia_history, result.inertia])
    atol = len(problem.X) * float(np.finfo(problem.X.dtype).eps) * float(np.abs(problem.X).max()) ** 2
    assert np.all(np.diff(history) <= _ROUNDING[problem.X.dtype] * history[0] + atol), history


# -- 3. centroids are the weighted means of their points ------------------------------------------
def _converged_fit(problem: Problem, backend):
    """A fit with tol=0 (so it stops only when nothing moves), and whether it stopped strictly.

    Strictly: the last iteration changed no label. With tol=0 a fit also stops
    when the centroids did not move by a single bit (e.g. at iteration 1, when
    every cluster holds only copies of its seed); then too the returned labels
    are those of the returned centroids, which are the means of those labels.
    """
    seen: list[np.ndarray] = []
    result, warned = _fit(problem, backend, tol=0.0, callback=lambda state: seen.append(to_numpy(state.labels)))
    strict = result.converged and len(seen) >= 2 and np.array_equal(seen[-1], seen[-2])
    note(f"converged={result.converged}, strictly={strict}, n_iter={result.n_iter}, warnings={warned}")
    return result, warned


def _cluster_weights(problem: Problem, labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, weights=problem.weight64, minlength=problem.n_clusters)


def _n_distinct_positive(problem: Problem) -> int:
    return len(np.unique(problem.X[problem.weight64 > 0], axis=0))


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=25)
@given(problem=problems())
def test_centroids_are_the_weighted_means_of_their_points(backend, problem):
    """After convergence (tol=0), empty clusters only as the driver documents."""
    result, warned = _converged_fit(problem, _backend(backend))
    assume(result.converged)  # (not at max_iter=300)
    X, weight, n_clusters = problem.X, problem.weight64, problem.n_clusters
    labels, centroids = to_numpy(result.labels), to_numpy(result.centroids)
    tol = _ROUNDING[X.dtype]
    cluster_weight = _cluster_weights(problem, labels)
    sums = np.zeros((n_clusters, X.shape[1]))
    np.add.at(sums, labels, X.astype(np.float64) * weight[:, None])
    filled = cluster_weight > 0
    np.testing.assert_allclose(
        centroids[filled],
        sums[filled] / cluster_weight[filled, None],
        rtol=tol,
        atol=tol * float(np.abs(X).max()),
        err_msg="a centroid is not the weighted mean of its points",
    )
    # A cluster with no positive weight remains only when no point could be moved into it.
    n_distinct = _n_distinct_positive(problem)
    empty = np.flatnonzero(~filled).tolist()
    assert not empty or n_distinct < n_clusters, (
        f"clusters {empty} have no positive weight, with {n_distinct} distinct positive-weight points "
        f"for K={n_clusters}"
    )
    assert empty or n_distinct >= n_clusters  # (pigeonhole: the points cannot fill K clusters)
    if np.bincount(labels, minlength=n_clusters).min() == 0:  # a cluster no point is labelled with
        assert ConvergenceWarning in warned


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=10)
@given(problem=problems())
@example(
    problem=Problem(
        X=np.array([[0.0], [0.0], [5.0]]), n_clusters=2, sample_weight=np.array([1.0, 1.0, 0.0]),
        init=np.array([[0.0], [5.0]]),
    )  # fmt: skip
)
def test_a_cluster_left_without_weight_warns(backend, problem):
    result, warned = _converged_fit(problem, _backend(backend))
    if (_cluster_weights(problem, to_numpy(result.labels)) == 0).any():
        assert ConvergenceWarning in warned, "a cluster has no positive weight, yet no ConvergenceWarning"


# -- 4. inputs are never modified ---------------------------------------------------------------
def _snapshot(*arrays_) -> list[tuple[Any, ...]]:
    return [None if a is None else (a.dtype, a.shape, a.strides, a.tobytes()) for a in arrays_]


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=15)
@given(problem=problems(inits=("array", "k-means++")), layout=st.sampled_from(["C", "F", "strided"]))
def test_inputs_are_never_modified(backend, problem, layout):
    backend = _backend(backend)
    X, weight, init = problem.X, problem.sample_weight, problem.init
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":  # a view into a bigger array: the whole base must stay as it was
        base = np.repeat(X, 2, axis=0)
        X = base[::2]
    owners = [X if X.base is None else X.base, weight, init if isinstance(init, np.ndarray) else None]
    before = _snapshot(*owners)
    problem = Problem(X, problem.n_clusters, weight, init, problem.seed)

    result, _ = _fit(problem, backend)
    assert _snapshot(*owners) == before, "kmeans modified its input"
    for array in (to_numpy(result.centroids), to_numpy(result.labels)):
        aliased = [owner for owner in owners if owner is not None and np.shares_memory(array, owner)]
        assert not aliased, "a result shares memory with an input"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = KMeans(problem.n_clusters, init=init, random_state=problem.seed, backend=backend)
        model.fit(X, sample_weight=weight)
        assert _snapshot(*owners) == before, "KMeans.fit modified its input"
        for array in (model.cluster_centers_, model.labels_):
            assert not [owner for owner in owners if owner is not None and np.shares_memory(array, owner)]
        new = X[::-1]
        new_before = _snapshot(new.base if new.base is not None else new)
        model.predict(new)
        model.transform(new)
        model.score(new, sample_weight=None if weight is None else weight[::-1])
        model.fit_predict(X, sample_weight=weight)
        model.fit_transform(X, sample_weight=weight)
    assert _snapshot(*owners) == before, "a KMeans method modified its input"
    assert _snapshot(new.base if new.base is not None else new) == new_before


# -- 5. permuting the rows -----------------------------------------------------------------------
def _relocation_ambiguity(problem: Problem):
    """A callback noting iterations whose empty-cluster relocation had a tie between different points.

    The driver moves the farthest points into empty clusters, ties going to the
    lowest row (documented), so there the row order legitimately decides;
    everywhere else it must not. Returns ``(callback, iterations noted)``.
    """
    ambiguous: list[int] = []
    X64, weight = problem.X.astype(np.float64), problem.weight64

    def watch(state):
        labels = to_numpy(state.labels)
        if (_cluster_weights(problem, labels) > 0).all():
            return
        centroids = to_numpy(state.previous_centroids).astype(np.float64)
        sq_dist = ((X64 - centroids[labels]) ** 2).sum(axis=1)
        members = np.bincount(labels[weight > 0], minlength=problem.n_clusters)
        eligible = np.flatnonzero((sq_dist > 0) & (members[labels] > 1) & (weight > 0))
        by_distance: dict[float, set] = {}
        for row in eligible.tolist():
            by_distance.setdefault(float(sq_dist[row]), set()).add((*X64[row].tolist(), float(weight[row])))
        if any(len(points) > 1 for points in by_distance.values()):
            ambiguous.append(state.iteration)

    return watch, ambiguous


def _random_permutation(random, n: int) -> np.ndarray:
    return np.array(random.sample(range(n), n), dtype=np.intp)


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=30)
@given(
    problem=problems(integer=True, inits=("array",)),
    random=st.randoms(use_true_random=False),
    tol=st.sampled_from([0.0, 1e-4]),
)
def test_permuting_rows_permutes_labels(backend, problem, random, tol):
    """Integer data, integer weights, explicit init: the fit of permuted rows is the permuted fit, exactly.

    Every sum is exact in float64, and a point's label depends on its values,
    never on its row (exact ties: the lowest centroid index, or however a
    backend's rounding decides them, the same for every row), so labels,
    centroids (bit for bit) and n_iter must all follow the permutation.
    """
    backend = _backend(backend)
    X = problem.X
    permutation = _random_permutation(random, len(X))
    watch, ambiguous = _relocation_ambiguity(problem)
    result, _ = _fit(problem, backend, tol=tol, callback=watch)
    permuted_problem = problem.permuted(permutation)
    watch, ambiguous_permuted = _relocation_ambiguity(permuted_problem)
    permuted, _ = _fit(permuted_problem, backend, tol=tol, callback=watch)
    assume(not ambiguous and not ambiguous_permuted)
    note(f"permutation {permutation.tolist()}")
    labels, permuted_labels = to_numpy(result.labels), to_numpy(permuted.labels)
    no_weight = bool((_cluster_weights(problem, labels) == 0).any())
    event(f"n_iter > 1: {result.n_iter > 1}; a cluster with no weight: {no_weight}")
    differ = np.flatnonzero(permuted_labels != labels[permutation])
    assert differ.size == 0, (
        f"{differ.size} labels differ, first at permuted rows {differ[:5].tolist()} "
        f"(points {X[permutation][differ[:5]].tolist()}): {permuted_labels[differ[:5]].tolist()} "
        f"instead of {labels[permutation][differ[:5]].tolist()}"
    )
    np.testing.assert_array_equal(to_numpy(permuted.centroids), to_numpy(result.centroids), strict=True)
    assert permuted.n_iter == result.n_iter
    assert permuted.converged == result.converged
    assert permuted.inertia == result.inertia  # exact sums: the order of the rows does not matter


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=20)
@given(problem=continuous_problems(), random=st.randoms(use_true_random=False))
def test_permuting_continuous_rows_permutes_labels(backend, problem, random):
    """Continuous data too: the sums are exact, so their order is irrelevant, near-ties included.

    Only relocation is exempt (an emptied cluster takes the farthest point,
    the lowest row on ties, and a permutation changes which row is lowest).
    """
    backend = _backend(backend)
    X = problem.X
    permutation = _random_permutation(random, len(X))
    ambiguous = []

    def watch(state):
        if not (_cluster_weights(problem, to_numpy(state.labels)) > 0).all():
            ambiguous.append(state.iteration)

    result, _ = _fit(problem, backend, tol=0.0, callback=watch)
    permuted, _ = _fit(problem.permuted(permutation), backend, tol=0.0)
    assume(not ambiguous)
    np.testing.assert_array_equal(to_numpy(permuted.labels), to_numpy(result.labels)[permutation])
    np.testing.assert_array_equal(to_numpy(permuted.centroids), to_numpy(result.centroids), strict=True)
    assert permuted.inertia == result.inertia
    assert permuted.n_iter == result.n_iter


# -- 6. rejected inputs say which argument is wrong ------------------------------------------------
_X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0], [9.0, 0.0], [9.0, 1.0]])
_N = len(_X)


def _wrong_shape_init(X, n_clusters, random_state):
    return np.zeros((n_clusters + 1, X.shape[1]))


_BAD_X = [
    np.array([[0.0, np.nan], [1.0, 2.0]]),
    np.array([[0.0, np.inf], [1.0, 2.0]]),
    np.array([[0.0, -np.inf], [1.0, 2.0]], dtype=np.float32),
    np.array([0.0, 1.0, 2.0]),  # 1-D
    np.zeros((2, 2, 2)),  # 3-D
    np.float64(3.0),  # 0-D
    np.zeros((0, 2)),
    np.zeros((3, 0)),
    np.array([[1 + 1j, 2.0], [3.0, 4.0]]),
    np.array([["a", "b"], ["c", "d"]]),
    np.array([["1", "2"], ["3", "4"]]),
    np.array([[1.0, None], [2.0, 3.0]], dtype=object),
    np.array([[1.0, "x"], [2.0, 3.0]], dtype=object),
    [[1.0, 2.0], [3.0]],  # ragged
    None,
    np.array([[1e300, 0.0], [0.0, 1.0]]),  # squares overflow float64
    np.array([[1e30, 0.0], [0.0, 1.0]], dtype=np.float32),  # squares overflow float32
]

#: Bad values for each argument of fastkm.kmeans and fastkm.KMeans (on the data _X, K=2).
_BAD = {
    "n_clusters": [0, -1, _N + 1, 2.0, "2", None, True, np.float64(2), np.int8(-1), np.uint8(_N + 1), 1j],
    "init": [
        "kmeans++", "", "K-MEANS++", None, 5, [[0.0, 0.0]], np.zeros((2, 3)), np.zeros((3, 2)),
        np.array([[np.nan, 0.0], [1.0, 1.0]]), np.array([[np.inf, 0.0], [1.0, 1.0]]),
        np.array([[1j, 0.0], [1.0, 1.0]]), np.array([["a", "b"], ["c", "d"]]), _wrong_shape_init,
    ],  # fmt: skip
    "n_init": [0, -3, 1.5, "many", "AUTO", None, True, np.float32(2), np.int16(0), np.int64(-2)],
    "max_iter": [0, -1, 2.5, "10", None, True, np.float64(10), np.int32(0), np.uint8(0)],
    "tol": [-1e-3, np.nan, np.inf, -np.inf, "0.1", None, True, 1j, [0.1], np.float32(-1)],
    "sample_weight": [
        np.ones(_N - 1), np.ones(_N + 1), np.ones((_N, 1)), np.ones((1, _N)), -np.ones(_N),
        np.r_[np.nan, np.ones(_N - 1)], np.r_[np.inf, np.ones(_N - 1)], np.zeros(_N), 0, -1.0, np.nan, np.inf,
        [1.0] * (_N - 1) + [None], ["a"] * _N, np.array([1e308] * _N),
        np.r_[1.0, np.zeros(_N - 1)],  # one positive point for K = 2 (the last: fine for score)
    ],  # fmt: skip
    "random_state": [-1, 1.5, "seed", True, np.int8(-3), np.float64(1.0), object(), [1, 2]],
    "backend": ["tpu", "", "numpy-fast", 3, object(), True],
    "X": _BAD_X,
}


def _names(message: str, name: str) -> bool:
    """Whether ``message`` names ``name`` as a word (so "init" is not found in "n_init")."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def _call(api: str, argument: str, value: Any, backend) -> None:
    """fastkm.kmeans or KMeans(...).fit on _X with K=2 and one argument replaced."""
    params = {"n_clusters": 2, "random_state": 0, "backend": backend}
    X, sample_weight = _X, None
    if argument == "X":
        X = value
    elif argument == "sample_weight":
        sample_weight = value
    else:
        params[argument] = value
    if api == "kmeans":
        kmeans(X, params.pop("n_clusters"), sample_weight=sample_weight, **params)
    else:
        KMeans(**params).fit(X, sample_weight=sample_weight)


def _rejection(api: str, argument: str, value: Any, backend) -> str | None:
    """None if the call raises ValueError or TypeError naming ``argument``; else what happened."""
    backend = value if argument == "backend" else backend
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a bad value must be refused, not warned about and used
            _call(api, argument, value, backend)
    except (ValueError, TypeError) as error:
        if _names(str(error), argument):
            return None
        return f"{api}({argument}={value!r}): message does not name it: {error}"
    except Exception as error:  # noqa: BLE001 (the point: any other exception is wrong)
        return f"{api}({argument}={value!r}) raised {type(error).__name__}: {error}"
    return f"{api}({argument}={value!r}) was accepted"


@pytest.mark.parametrize("api", ["kmeans", "KMeans"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_listed_bad_value_is_rejected_by_name(backend, api):
    backend = _backend(backend)
    found = [_rejection(api, argument, value, backend) for argument, values in _BAD.items() for value in values]
    problems_found = [message for message in found if message]
    assert not problems_found, "\n".join(problems_found)


def _generated_bad_values():
    """(argument, value) pairs generated beyond the listed ones."""
    non_integral = st.floats(allow_nan=False).filter(lambda value: not np.isfinite(value) or value != int(value))
    return st.one_of(
        st.tuples(st.just("n_clusters"), st.integers(max_value=0) | st.integers(min_value=_N + 1)),
        st.tuples(st.sampled_from(["n_init", "max_iter"]), st.integers(max_value=0)),
        st.tuples(st.just("random_state"), st.integers(max_value=-1)),
        st.tuples(st.sampled_from(["n_clusters", "n_init", "max_iter", "random_state"]), non_integral),
        st.tuples(st.just("tol"), st.floats(max_value=-1e-300) | st.just(float("nan")) | st.just(float("inf"))),
        st.tuples(st.just("sample_weight"), arrays(np.float64, _N, elements=st.floats(max_value=-1e-300))),
        st.tuples(
            st.just("sample_weight"),
            arrays(np.float64, st.integers(0, 12).filter(lambda n: n != _N), elements=st.floats(0.5, 2)),
        ),
        st.tuples(
            st.sampled_from(["X", "init"]),
            arrays(np.float64, (2, 2), elements=st.floats()).filter(lambda X: not np.isfinite(X).all()),
        ),
        st.tuples(
            st.just("backend"),
            st.text(max_size=8).filter(lambda name: name.strip().lower() not in fastkm.backends.BACKEND_NAMES),
        ),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=30)
@given(bad=_generated_bad_values(), api=st.sampled_from(["kmeans", "KMeans"]))
def test_generated_bad_values_are_rejected_by_name(backend, bad, api):
    argument, value = bad
    found = _rejection(api, argument, value, _backend(backend))
    assert found is None, found


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=5)
@given(weight=arrays(np.complex128, _N, elements=st.complex_numbers(min_magnitude=0.5, max_magnitude=2)))
@example(weight=np.full(_N, 1 + 1j))
def test_complex_sample_weight_is_rejected_by_name(backend, weight):
    found = _rejection("kmeans", "sample_weight", weight, _backend(backend))
    assert found is None, found


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=5)
@given(weight=arrays("U3", _N, elements=st.integers(1, 99).map(str)))
@example(weight=np.array(["1"] * _N))
def test_string_sample_weight_is_rejected_by_name(backend, weight):
    found = _rejection("kmeans", "sample_weight", weight, _backend(backend))
    assert found is None, found


_BAD_NEW_X = [x for x in _BAD_X if x is not None] + [np.zeros((3, 3)), np.zeros((3, 1))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fitted_estimator_rejects_bad_data_by_name(backend):
    """predict, transform and score: bad X (and, for score, bad sample_weight) named in the error."""
    model = KMeans(2, random_state=0, backend=_backend(backend)).fit(_X)
    calls = [(method, "X", value) for method in ("predict", "transform", "score") for value in _BAD_NEW_X]
    calls += [("score", "sample_weight", value) for value in _BAD["sample_weight"][:-1]]
    found = []
    for method, argument, value in calls:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                if argument == "X":
                    getattr(model, method)(value)
                else:
                    model.score(_X, sample_weight=value)
        except (ValueError, TypeError) as error:
            if not _names(str(error), argument):
                found.append(f"{method}({argument}={value!r}): message does not name it: {error}")
        except Exception as error:  # noqa: BLE001
            found.append(f"{method}({argument}={value!r}) raised {type(error).__name__}: {error}")
        else:
            found.append(f"{method}({argument}={value!r}) was accepted")
    assert not found, "\n".join(found)


_BAD_TRIALS = [0, -1, 1.5, True, "3", np.int8(0), np.uint8(0), np.float64(2.0)]


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=20)
@given(value=st.sampled_from(_BAD_TRIALS) | st.integers(max_value=0))
def test_kmeans_plusplus_rejects_bad_n_local_trials_by_name(backend, value):
    with pytest.raises((ValueError, TypeError)) as info:
        kmeans_plusplus(_X, 2, n_local_trials=value, random_state=0, backend=_backend(backend))
    assert _names(str(info.value), "n_local_trials"), str(info.value)


_NUMPY_INTEGERS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


@pytest.mark.parametrize("backend", BACKENDS)
@_settings(max_examples=25)
@given(
    types=st.tuples(*[st.sampled_from(_NUMPY_INTEGERS)] * 5),
    n_clusters=st.integers(1, _N),
    n_init=st.integers(1, 3),
    max_iter=st.integers(1, 20),
    seed=st.integers(0, 127),
    n_local_trials=st.integers(1, 4),
)
def test_numpy_integer_parameters_are_accepted(backend, types, n_clusters, n_init, max_iter, seed, n_local_trials):
    """np.int8 ... np.uint64 wherever an int is taken, with the same outcome as the plain int."""
    backend = _backend(backend)
    k_type, init_type, iter_type, seed_type, trials_type = types
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = kmeans(_X, n_clusters, n_init=n_init, max_iter=max_iter, random_state=seed, backend=backend)
        typed = kmeans(_X, k_type(n_clusters), n_init=init_type(n_init), max_iter=iter_type(max_iter),
                       random_state=seed_type(seed), backend=backend)  # fmt: skip
        np.testing.assert_array_equal(to_numpy(typed.centroids), to_numpy(plain.centroids))
        np.testing.assert_array_equal(to_numpy(typed.labels), to_numpy(plain.labels))
        assert typed.n_iter == plain.n_iter

        model = KMeans(k_type(n_clusters), n_init=init_type(n_init), max_iter=iter_type(max_iter),
                       random_state=seed_type(seed), backend=backend).fit(_X)  # fmt: skip
        np.testing.assert_array_equal(to_numpy(model.cluster_centers_), to_numpy(plain.centroids))

    centres, indices = kmeans_plusplus(_X, k_type(n_clusters), n_local_trials=trials_type(n_local_trials),
                                       random_state=seed_type(seed), backend=backend)  # fmt: skip
    plain_centres, plain_indices = kmeans_plusplus(_X, n_clusters, n_local_trials=n_local_trials,
                                                   random_state=seed, backend=backend)  # fmt: skip
    np.testing.assert_array_equal(indices, plain_indices)
    np.testing.assert_array_equal(to_numpy(centres), to_numpy(plain_centres))

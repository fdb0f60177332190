"""The bound-based algorithms (Hamerly, Yinyang, Elkan) give Lloyd's fit, bit for bit, at every iteration.

Each algorithm only skips distances it proves cannot change a label, so from
the same initial centroids the labels, centroids and inertia of every
iteration, ``n_iter`` and the final result must be identical to ``lloyd``'s
-- on tie-heavy data, float32 and float64, weighted, with empty clusters
relocated, on every backend that has them and every code path and thread
count. The bounds themselves must be sound: never above the distance they
bound.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastkm
from fastkm import KMeans, get_backend, kmeans
from fastkm.backends.base import to_host
from fastkm.backends.bounds import ALGORITHMS, BoundState, choose_algorithm, slack, sqrt_lower, yinyang_groups
from fastkm.backends.exact import Scale, canonical_sq_distances
from fastkm.testing import assert_fits_agree

from .conftest import AVAILABLE_BACKENDS, make_separated
from .test_exact_agreement import TIE_HEAVY, _cases, _data, _dataset, _weights
from .test_properties import _settings

BOUNDED = [name for name in ALGORITHMS if name != "lloyd"]
#: Every code path of every backend with bounds: Numba's two screens, one and two threads; CuPy's kernels.
_PATHS = (
    [("numpy", {})]
    + [
        ("numba", options)
        for options in ({"strategy": "direct"}, {"strategy": "gemm"}, {"strategy": "gemm", "n_threads": 1})
        if "numba" in AVAILABLE_BACKENDS
    ]
    + [("cupy", {}) for _ in range(1) if "cupy" in AVAILABLE_BACKENDS]
)
PATHS = [
    pytest.param(
        path,
        id="-".join([path[0], *(f"{k}={v}" for k, v in path[1].items())]),
        marks=[pytest.mark.gpu] if path[0] == "cupy" else [],
    )
    for path in _PATHS
]
REFERENCE = get_backend("numpy")


def _trace(X, n_clusters, *, backend, algorithm, **options):
    """A fit and, per iteration, (labels, inertia, centroids)."""
    iterations = []

    def record(iteration):  # (backend arrays: copied to the host)
        iterations.append((to_host(iteration.labels).copy(), float(iteration.inertia), to_host(iteration.centroids).copy()))

    result = kmeans(X, n_clusters, backend=backend, algorithm=algorithm, callback=record, **options)
    return result, iterations


def _assert_traces_agree(reference, candidate):
    (reference_fit, reference_steps), (fit, steps) = reference, candidate
    assert len(steps) == len(reference_steps)
    for number, ((labels, inertia, centroids), (want_labels, want_inertia, want_centroids)) in enumerate(
        zip(steps, reference_steps), start=1
    ):
        np.testing.assert_array_equal(labels, want_labels, err_msg=f"labels at iteration {number}")
        assert inertia == want_inertia, f"inertia at iteration {number}: {inertia!r} != {want_inertia!r}"
        np.testing.assert_array_equal(centroids, want_centroids, err_msg=f"centroids at iteration {number}")
    assert_fits_agree(None, reference_fit, fit)
    assert fit.inertia_history == reference_fit.inertia_history


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("algorithm", BOUNDED)
@pytest.mark.parametrize("name, dtype", _cases([*TIE_HEAVY, "offset-blobs", "tiny"]))
def test_every_iteration_is_lloyds(path, algorithm, name, dtype):
    """From one k-means++ seed: each iteration's labels, inertia and centroids, and the fit, are Lloyd's."""
    X = _data(name, dtype)
    n_clusters = _dataset(name)[1]
    weighted = (False, True) if name in ("digits", "duplicates") else (False,)
    for weight in (None if not w else _weights(len(X), dtype) for w in weighted):
        options = dict(random_state=0, sample_weight=weight, max_iter=60, tol=0)
        reference = _trace(X, n_clusters, backend=REFERENCE, algorithm="lloyd", **options)
        candidate = _trace(X, n_clusters, backend=get_backend(path[0], **path[1]), algorithm=algorithm, **options)
        _assert_traces_agree(reference, candidate)


@pytest.mark.skipif("numba" not in AVAILABLE_BACKENDS, reason="Numba is not installed")
@pytest.mark.parametrize("block_rows", [8, 100, 4096])
@pytest.mark.parametrize("algorithm", BOUNDED)
def test_every_block_size_gives_lloyds_iterations(monkeypatch, block_rows, algorithm):
    """The Numba kernel's blocks (and its later steps' bigger ones, when few points are undecided): forced on
    every step, at sizes that split each thread's rows many ways or not at all, every iteration stays Lloyd's."""
    import fastkm.backends.numba_backend as numba_backend

    monkeypatch.setattr(numba_backend, "_block_rows", lambda X, n_clusters: block_rows)
    monkeypatch.setattr(numba_backend, "SPARSE_STEP_SHARE", 1.0)
    monkeypatch.setattr(numba_backend, "SPARSE_BLOCK_ROWS", block_rows)
    X = _data("duplicates", np.float32)
    n_clusters = _dataset("duplicates")[1]
    options = dict(random_state=0, sample_weight=_weights(len(X), np.float32), max_iter=60, tol=0)
    reference = _trace(X, n_clusters, backend=REFERENCE, algorithm="lloyd", **options)
    _assert_traces_agree(reference, _trace(X, n_clusters, backend=get_backend("numba"), algorithm=algorithm, **options))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("algorithm", BOUNDED)
def test_empty_clusters_are_relocated_alike(path, algorithm):
    """Centroids far from the data empty clusters (relocated to the farthest points), and more clusters than
    distinct rows leave some empty: the bounds follow every move the driver makes."""
    X = np.repeat(np.random.default_rng(3).integers(-4, 5, (30, 5)), 4, axis=0).astype(np.float64)
    for n_clusters, init in ((6, np.vstack([X[:3], np.full((3, 5), 100.0)])), (34, X[:34] + 0.5)):
        options = dict(init=init, max_iter=40, tol=0)
        with pytest.warns(fastkm.ConvergenceWarning) if n_clusters > 30 else contextlib.nullcontext():
            reference = _trace(X, n_clusters, backend=REFERENCE, algorithm="lloyd", **options)
        with pytest.warns(fastkm.ConvergenceWarning) if n_clusters > 30 else contextlib.nullcontext():
            candidate = _trace(X, n_clusters, backend=get_backend(path[0], **path[1]), algorithm=algorithm, **options)
        _assert_traces_agree(reference, candidate)


@_settings(max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 9),
    n_clusters=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
    algorithm=st.sampled_from(BOUNDED),
    path=st.sampled_from(_PATHS),
    weighted=st.booleans(),
)
def test_property_every_iteration_is_lloyds(seed, n_features, n_clusters, dtype, algorithm, path, weighted):
    """Random small-integer data (ties everywhere), random K, init rows and weights."""
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(max(n_clusters, 2), 300))
    X = rng.integers(-5, 6, (n_samples, n_features)).astype(dtype)
    weight = rng.integers(1, 4, n_samples).astype(dtype) if weighted else None
    init = X[rng.choice(n_samples, n_clusters, replace=False)]
    options = dict(init=init, sample_weight=weight, max_iter=30, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastkm.ConvergenceWarning)
        reference = _trace(X, n_clusters, backend=REFERENCE, algorithm="lloyd", **options)
        candidate = _trace(X, n_clusters, backend=get_backend(path[0], **path[1]), algorithm=algorithm, **options)
    _assert_traces_agree(reference, candidate)


# -- the bounds are sound -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("algorithm", BOUNDED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bounds_never_exceed_the_distances(path, algorithm, dtype):
    """After every step, each point's bound for each group is at most its distance to every centre of the
    group but its own (checked against the canonical distances, which are within rounding of the exact ones)."""
    X, _, _, init = make_separated(3000, 6, 12, dtype=dtype, seed=2, spread=2.0)
    backend = get_backend(path[0], **path[1])
    state = BoundState.for_fit(algorithm, X, len(init))
    scale = Scale.of(X, None, init)
    centroids, labels = init, None
    for _ in range(8):
        step = backend.assign_accumulate(backend.asarray(X), backend.asarray(centroids), None, labels, scale, state)
        labels = step.labels
        distances = canonical_sq_distances(X, to_host(state.centroids))
        distances[np.arange(len(X)), to_host(labels)] = np.inf
        lower = to_host(state.lower)
        for group in range(state.n_groups):
            nearest = distances[:, state.group_of == group].min(axis=1, initial=np.inf)
            allowed = np.sqrt(nearest) * (1 + 1e-12)
            assert np.all(lower[group] <= allowed), f"group {group}"
        centroids = (to_host(step.sums) / np.maximum(to_host(step.counts), 1)[:, None]).astype(dtype)


def test_bound_rounding_never_certifies_a_tie():
    """A lower bound made from a distance never certifies that same distance (a tie goes to the canonical argmin)."""
    from fastkm.backends.bounds import certifies, decayed, lower32, sqrt_upper

    eps = slack(8)
    for sq_dist in (0.0, 1e-300, 1e-30, 0.5, 1.0, 2.0, 1e30, 1e300):
        assert not certifies(sq_dist, sqrt_lower(sq_dist, eps), eps)
        assert not certifies(sq_dist, float(lower32(sqrt_lower(sq_dist, eps))), eps)
        assert sqrt_lower(sq_dist, eps) <= np.sqrt(sq_dist) <= sqrt_upper(sq_dist, eps)
        assert decayed(np.sqrt(sq_dist), 0.0) <= np.sqrt(sq_dist)
        assert float(lower32(sq_dist)) <= sq_dist



@pytest.mark.parametrize("shape, offset", [((40, 3), 0.0), ((64, 16), 1e4), ((200, 64), -3.0), ((5, 1), 1e8)])
def test_half_separation_is_a_tight_lower_bound(shape, offset):
    """``s_a`` is at most half the exact distance from centre ``a`` to the nearest other (exact: rationals),
    and within a few parts in 10^9 of it -- also for centres far from the origin and with two equal centres."""
    from fractions import Fraction

    from fastkm.backends.bounds import half_separation

    rng = np.random.default_rng(shape[0])
    centres = rng.standard_normal(shape) + offset
    centres[1] = centres[0]  # (two equal centres: their separation is 0)
    got = half_separation(centres)
    exact = np.empty(shape[0])
    rows = [[Fraction(v) for v in row] for row in centres]
    for a, row in enumerate(rows):
        exact[a] = min(float(sum((p - q) ** 2 for p, q in zip(row, other))) for b, other in enumerate(rows) if b != a)
    half = 0.5 * np.sqrt(exact)  # (within an ulp or two of the exact half distance; the bound's margin is far wider)
    assert np.all(got <= half * (1 + 1e-15)) and got[0] == got[1] == 0.0
    assert np.all(got[2:] >= half[2:] * (1 - 1e-9))

# -- what a fit reports -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", [name for name in ("numpy", "numba", "cupy") if name in AVAILABLE_BACKENDS])
def test_the_fit_reports_the_algorithm_its_memory_and_the_work_it_skipped(backend):
    X, _, _, init = make_separated(4000, 8, 16, dtype=np.float32, seed=1)
    lloyd = kmeans(X, 16, init=init, algorithm="lloyd", backend=backend, tol=0)
    assert (lloyd.algorithm, lloyd.bounds_nbytes, lloyd.distance_share) == ("lloyd", 0, 1.0)
    for algorithm, n_groups in (("hamerly", 1), ("yinyang", yinyang_groups(8, 4, 16)), ("elkan", 16)):
        result = kmeans(X, 16, init=init, algorithm=algorithm, backend=backend, tol=0)
        assert result.algorithm == algorithm
        assert result.bounds_nbytes == 4 * len(X) * n_groups
        # separated blobs: after the first step almost every point keeps its centre
        assert result.distance_share < 0.6, result.distance_share
        assert_fits_agree(X, lloyd, result)


def test_yinyang_groups_keep_the_bounds_within_half_the_data():
    for n_features, itemsize, n_clusters in ((16, 4, 1024), (2, 4, 64), (64, 4, 256), (256, 4, 1024), (16, 8, 5000)):
        n_groups = yinyang_groups(n_features, itemsize, n_clusters)
        assert 1 <= n_groups <= max(1, n_clusters // 10 + 1)
        if n_features * itemsize >= 8:
            assert 4 * n_groups <= 0.5 * n_features * itemsize
    # N = 10M, d = 16, K = 1024 in float32: 640 MB of data, at most 320 MB of bounds
    assert 4 * 10_000_000 * yinyang_groups(16, 4, 1024) <= 320_000_000


def test_auto_picks_lloyd_where_bounds_cannot_pay():
    fast = get_backend("numba") if "numba" in AVAILABLE_BACKENDS else pytest.skip("numba is not available here")
    assert choose_algorithm(np.zeros((100, 2)), 4, fast) == "lloyd"
    assert choose_algorithm(np.zeros((100, 16)), 256, fast) == "yinyang"  # many features and many centres
    assert choose_algorithm(np.zeros((100, 64)), 128, fast) == "yinyang"
    assert choose_algorithm(np.zeros((100, 256)), 64, fast) == "hamerly"  # few centres: few groups to gain from
    assert choose_algorithm(np.zeros((100, 16)), 128, fast) == "hamerly"  # K d = 2048: distances cheap
    assert choose_algorithm(np.zeros((100, 8)), 1024, fast) == "hamerly"  # few features: distances cheap
    assert choose_algorithm(np.zeros((100, 16)), 256, fast, max_iter=2) == "lloyd"  # no step to save
    assert choose_algorithm(np.zeros((100, 16)), 256, REFERENCE) == "lloyd"  # the plain reference versions
    assert choose_algorithm(np.zeros((100, 16)), 256, object()) == "lloyd"  # a backend without bounds


@pytest.mark.parametrize("algorithm", ["fast", "Lloyd", None, 3])
def test_an_unknown_algorithm_is_refused_by_name(algorithm):
    with pytest.raises(ValueError, match="algorithm must be one of 'auto', 'lloyd', 'hamerly', 'yinyang', 'elkan'"):
        kmeans(np.zeros((10, 2)), 2, algorithm=algorithm, backend="numpy")


def test_the_estimator_takes_the_algorithm():
    X, _, _, init = make_separated(600, 4, 5, seed=4)
    model = KMeans(5, init=init, algorithm="yinyang", backend="numpy").fit(X)
    assert model.get_params()["algorithm"] == "yinyang"
    assert model.algorithm_ == "yinyang"
    reference = KMeans(5, init=init, algorithm="lloyd", backend="numpy").fit(X)
    np.testing.assert_array_equal(model.labels_, reference.labels_)
    assert model.n_iter_ == reference.n_iter_

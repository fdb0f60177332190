"""k-means++ with bounds: the Numba backend skips distances, and picks, potentials and D(x)^2 stay the reference's.

Greedy k-means++ compares candidates' potentials, so one wrong skipped
distance changes a pick. The Numba backend measures a point against a
candidate only where the triangle inequality (through the point's nearest
centre so far) and then a certified screen (pair by pair, or a GEMM) leave
it open; every step here is checked bit for bit against the reference, which
measures everything, on data full of exact ties.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastkm
from fastkm import get_backend
from fastkm.backends.bounds import SeedingBounds, seeding_thresholds, slack
from fastkm.backends.exact import Scale, canonical_sq_distances
from fastkm.init import _weighted_draw

pytest.importorskip("numba", reason="the bounds are the Numba backend's")

REFERENCE = get_backend("numpy")


def _data(name: str, dtype) -> np.ndarray:
    rng = np.random.default_rng(5)
    if name == "lattice-2d":  # every path of the low-dimensional kernel, ties everywhere
        return rng.integers(0, 6, (4000, 2)).astype(dtype)
    if name == "duplicates-3d":
        return np.repeat(rng.integers(-3, 4, (60, 3)), 50, axis=0).astype(dtype)
    if name == "lattice-8d":  # the screened paths (GEMM and pair by pair), ties everywhere
        return rng.integers(0, 3, (5000, 8)).astype(dtype)
    if name.startswith("offset-blobs-"):  # far from the origin: the screen's error bound at work
        n_features = int(name.removeprefix("offset-blobs-").removesuffix("d"))  # (12: by hand, 24: by BLAS)
        centres = rng.normal(0.0, 4.0, (12, n_features))
        return (1e4 + centres[rng.integers(0, 12, 5000)] + rng.normal(0.0, 1.0, (5000, n_features))).astype(dtype)
    raise ValueError(name)


NAMES = ["lattice-2d", "duplicates-3d", "lattice-8d", "offset-blobs-12d", "offset-blobs-24d"]


@pytest.mark.parametrize("strategy", ["direct", "gemm"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_every_step_is_the_references(name, dtype, weighted, strategy):
    """The same candidates each step: the same winner, potential and D(x)^2, bit for bit, up to K = 40."""
    X = _data(name, dtype)
    weight = np.random.default_rng(6).integers(0, 4, len(X)).astype(dtype) if weighted else None
    backend = get_backend("numba", strategy=strategy)
    scale = Scale.of(X, weight)
    rng = np.random.default_rng(7)
    n_clusters = 40
    trials = 2 + int(math.log(n_clusters))
    bounds = SeedingBounds(X, n_clusters)
    closest = {"reference": np.full(len(X), np.inf), "numba": np.full(len(X), np.inf)}
    candidates = np.array([int(rng.integers(len(X)))])
    for step in range(n_clusters):
        ref = REFERENCE.seeding_step(X, X[candidates], closest["reference"], weight, scale)
        got = backend.seeding_step(X, X[candidates], closest["numba"], weight, scale, bounds)
        assert got == ref, f"step {step}"
        np.testing.assert_array_equal(closest["numba"], closest["reference"], err_msg=f"step {step}")
        # the state's own account: each point's nearest centre is at its D(x)^2
        centres = bounds.centres[: bounds.n_centres]
        np.testing.assert_array_equal(
            canonical_sq_distances(X, centres)[np.arange(len(X)), bounds.nearest], closest["numba"]
        )
        candidates = _weighted_draw(len(X), weight, closest["reference"], rng.uniform(size=trials), np)
    if name in ("lattice-2d", "duplicates-3d"):  # (in few dimensions the bounds do rule whole clusters out)
        assert np.isinf(bounds.row_floors(bounds.thresholds(X[candidates], backend.pairwise_sq_distances))).any()


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_kmeans_plusplus_picks_the_references_centres(name, n_threads):
    import numba

    if n_threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"Numba runs {numba.config.NUMBA_NUM_THREADS} thread(s) here")
    X = _data(name, np.float32)
    _, expected = fastkm.kmeans_plusplus(X, 60, random_state=11, backend=REFERENCE)
    _, got = fastkm.kmeans_plusplus(X, 60, random_state=11, backend=get_backend("numba", n_threads=n_threads))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("strategy", ["direct", "gemm"])
@pytest.mark.parametrize("n_features", [3, 12, 24])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("open_share", [0.9, 0.1], ids=["most-open", "few-open"])
def test_near_ties_are_measured_not_screened_out(strategy, n_features, dtype, open_share):
    """Points a few ulps off the bisector of their centre and a candidate: no screen may decide them.

    The centre ``c`` and candidate ``t`` differ in the first feature only
    (``offset -/+ h``); a point whose first feature is ``offset + k ulps`` is
    nearer to ``t`` by ``4 h k`` ulps' worth (``k > 0``), tied (``k = 0``) or
    farther, while its other features (spread 500) make both distances large:
    every screen's error (GEMM by hand or by BLAS, pair by pair) is far above
    the gap, and only its margin leaves such a pair to the canonical distance.
    The other rows sit by the centre, where the triangle inequality closes
    them, so ``open_share`` sets the path a block takes. Winner, potential and
    every D(x)^2 must be the reference's.
    """
    rng = np.random.default_rng(12)
    offset, h, n = dtype(300.0), dtype(100.0), 4000
    first = np.zeros(n_features, dtype)
    first[0] = h
    centre, candidate = offset - first, offset + first
    ulp = np.spacing(offset) if dtype == np.float32 else 2.0**-41  # (a gap of about an ulp of the distances)
    X = np.empty((n, n_features), dtype)
    X[:, 0] = offset + rng.integers(-3, 4, n).astype(dtype) * ulp
    X[:, 1:] = offset + rng.normal(0.0, 500.0, (n, n_features - 1)).astype(dtype)
    by_centre = rng.random(n) >= open_share
    X[by_centre] = centre + rng.normal(0.0, 1.0, (by_centre.sum(), n_features)).astype(dtype)
    candidates = np.vstack([candidate, offset + 1e4 + first])  # (a far second candidate: t wins)
    scale = Scale.of(X, None)
    bounds = SeedingBounds(X, 4)
    expected, got_closest = np.full(n, np.inf), np.full(n, np.inf)
    for step_candidates in (centre[None], candidates):  # the centre first (every D(x)^2 to it), then the contest
        reference = REFERENCE.seeding_step(X, step_candidates, expected, None, scale)
        got = get_backend("numba", strategy=strategy).seeding_step(X, step_candidates, got_closest, None, scale, bounds)
        assert got == reference
        np.testing.assert_array_equal(got_closest, expected)
    assert got[0] == 0 and (bounds.nearest == 1).sum() > n * open_share / 20  # (t took rows: the test has teeth)


def test_a_point_halfway_is_never_skipped():
    """Exactly halfway between its centre and a candidate (a tie): the bound must leave it open."""
    eps = slack(1)
    for half in (0.5, 1.0, 3.0, 1e-150, 1e150):
        threshold = seeding_thresholds(np.float64((2 * half) ** 2), eps)
        assert threshold < half**2
    assert seeding_thresholds(np.float64(0.0), eps) < 0  # coinciding centres: nothing is skipped


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-20, 20), min_size=3, max_size=3),
    st.lists(st.integers(-20, 20), min_size=3, max_size=3),
    st.lists(st.integers(-20, 20), min_size=3, max_size=3),
    st.sampled_from([1.0, 1e-3, 1e7]),
)
def test_a_skipped_candidate_is_strictly_farther(point, centre, candidate, unit):
    """Whenever the threshold says skip, the candidate's canonical distance is above the centre's."""
    x, a, t = (np.array([v], dtype=np.float64) * unit for v in (point, centre, candidate))
    closest = float(canonical_sq_distances(x, a)[0, 0])
    threshold = seeding_thresholds(canonical_sq_distances(a, t), slack(3))[0, 0]
    if closest <= threshold:
        assert canonical_sq_distances(x, t)[0, 0] > closest


def test_the_state_grows_past_its_first_size_and_opens_everything_before_a_centre():
    X = np.arange(20.0).reshape(10, 2)
    bounds = SeedingBounds(X, 1)
    assert bounds.row_floors(bounds.thresholds(X[:3], REFERENCE.pairwise_sq_distances)).tolist() == [-1.0]
    for i in range(3):
        bounds.add_centre(X[i], float(i))
    assert bounds.n_centres == 3 and bounds.centres[:3].tolist() == X[:3].tolist()
    assert bounds.reach[:3].tolist() == [0.0, 1.0, 2.0]
    thresholds = bounds.thresholds(X[[9]], REFERENCE.pairwise_sq_distances)
    assert thresholds.shape == (3, 1) and np.all(thresholds[:, 0] > 0)
    # a centre whose points all lie within its reach of it is closed to a far candidate; so are the others here
    assert np.isinf(bounds.row_floors(thresholds)).all()
    # a centre whose reach passes the threshold: its points are tested one by one, against the threshold
    bounds.add_centre(X[3], float(thresholds.max()) * 2)
    floors = bounds.row_floors(bounds.thresholds(X[[9]], REFERENCE.pairwise_sq_distances))
    assert np.isinf(floors[:3]).all() and floors[3] == bounds.thresholds(X[[9]], REFERENCE.pairwise_sq_distances)[3, 0]

"""Exact agreement: every backend, every code path, every thread count -- the same bits.

The policy (:mod:`fastkm.testing`) has no tolerance and no near-tie
exemption: one step gives the same labels, sums, counts and inertia bit for
bit, and whole fits the same labels, ``n_iter``, centroids and inertia. The
data here is where that is hard: integer-valued data full of exact ties
(digits, photographs' pixels, random 8-bit pixels, an integer lattice,
duplicated rows), data far from the origin, and tiny and huge magnitudes.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fastkm
from fastkm import get_backend
from fastkm.testing import assert_fits_agree, assert_step_agrees, assert_step_is_canonical, to_numpy

from .conftest import backend_params, make_separated

#: Every code path and thread count: the reference in odd blocks, Numba's two
#: strategies on one and on two threads, CuPy's two kernels.
_OPTIONS = {
    "numpy": [{}, {"chunk_rows": 97}],
    "numba": [{"strategy": s, "n_threads": t} for s in ("direct", "gemm") for t in (1, 2)],
    "cupy": [{"strategy": "fused"}, {"strategy": "gemm", "chunk_rows": 997}],
}


def _numba_threads() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


VARIANTS = backend_params(
    lambda name: [
        options for options in _OPTIONS.get(name, [{}]) if name != "numba" or options["n_threads"] <= _numba_threads()
    ]
)
REFERENCE = get_backend("numpy")


def _backend(param):
    name, options = param
    return get_backend(name, **options)


# -- the data: where exact ties live -----------------------------------------------------------
def _sample_image(name: str, step: int) -> np.ndarray:
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn ships the sample images")
    try:
        image = datasets.load_sample_image(name)
    except ImportError as exc:  # (it needs Pillow)
        pytest.skip(f"scikit-learn cannot load {name}: {exc}")
    return image.reshape(-1, 3)[::step].astype(np.float64)


@functools.cache
def _dataset(name: str) -> tuple[np.ndarray, int]:
    """``(X as float64, K)`` for each named data set."""
    rng = np.random.default_rng(sum(map(ord, name)))
    if name == "digits":  # integer pixels 0..16, 64 features
        datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn ships the digits")
        return datasets.load_digits().data.astype(np.float64), 10
    if name == "china":  # (K > 16: Numba's direct strategy screens float32 in float32, then re-measures)
        return _sample_image("china.jpg", 11), 20
    if name == "flower":
        return _sample_image("flower.jpg", 11), 8
    if name == "pixels":  # random 8-bit pixels
        return rng.integers(0, 256, (20000, 3)).astype(np.float64), 24
    if name == "lattice":  # an integer grid: many points exactly equidistant from two centres
        grid = np.stack(np.meshgrid(np.arange(21), np.arange(21)), axis=-1).reshape(-1, 2)
        return np.repeat(grid, 3, axis=0).astype(np.float64), 9
    if name == "duplicates":  # 40 distinct rows, 60 copies each, 6 features
        return np.repeat(rng.integers(-3, 4, (40, 6)), 60, axis=0).astype(np.float64), 8
    if name == "offset-blobs":  # unit blobs at 1e4: |x|^2 dwarfs the distances
        X, _, _, _ = make_separated(6000, 8, 6, seed=5, spread=1.0, offset=1e4)
        return X, 6
    if name == "tiny":  # squares of float32 differences underflow float32
        return rng.standard_normal((3000, 3)) * 1e-23, 5
    if name == "huge":
        return rng.standard_normal((3000, 5)) * 1e100, 5
    raise KeyError(name)


def _data(name: str, dtype) -> np.ndarray:
    return _dataset(name)[0].astype(dtype)


TIE_HEAVY = ["digits", "china", "flower", "pixels", "lattice", "duplicates"]
DTYPES = [np.float32, np.float64]


def _cases(names):
    """``(name, dtype)`` parameters (float32 cannot hold the huge data)."""
    return [
        pytest.param(name, dtype, id=f"{name}-{np.dtype(dtype)}")
        for name in names
        for dtype in DTYPES
        if not (name == "huge" and dtype == np.float32)
    ]


def _weights(n_samples: int, dtype) -> np.ndarray:
    """Integer weights with zeros (the sums stay exact on integer data)."""
    return np.random.default_rng(n_samples).integers(0, 4, n_samples).astype(dtype)


# -- one step --------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name, dtype", _cases([*TIE_HEAVY, "offset-blobs", "tiny", "huge"]))
def test_one_step_is_identical_and_canonical(variant, dtype, name):
    """From centroids that are data points (so exact ties are everywhere), with and without weights."""
    X = _data(name, dtype)
    n_clusters = _dataset(name)[1]
    rng = np.random.default_rng(7)
    centroids = X[rng.choice(len(X), n_clusters, replace=False)]
    backend = _backend(variant)
    for weight in (None, _weights(len(X), dtype)):
        reference = REFERENCE.assign_accumulate(X, centroids, weight)
        assert_step_is_canonical(X, centroids, reference, weight)
        step = backend.assign_accumulate(backend.asarray(X), backend.asarray(centroids), None if weight is None else backend.asarray(weight))
        assert_step_agrees(X, centroids, reference, step)
    labels, sq_dist = backend.assign(backend.asarray(X), backend.asarray(centroids))
    np.testing.assert_array_equal(to_numpy(labels), reference.labels)
    expected = REFERENCE.assign(X, centroids)[1]
    np.testing.assert_array_equal(to_numpy(sq_dist), expected)  # canonical distances, bit for bit


# -- whole fits ----------------------------------------------------------------------------------
@functools.cache
def _reference_fit(name: str, dtype, weighted: bool):
    X = _data(name, dtype)
    weight = _weights(len(X), dtype) if weighted else None
    return fastkm.kmeans(X, _dataset(name)[1], random_state=0, sample_weight=weight, backend=REFERENCE, max_iter=100)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name, dtype", _cases([*TIE_HEAVY, "offset-blobs", "tiny", "huge"]))
def test_whole_fit_is_identical(variant, dtype, name):
    """k-means++ from one seed, then Lloyd to convergence: labels, n_iter, centroids, inertia -- the same bits."""
    X = _data(name, dtype)
    for weighted in (False, True) if name in ("digits", "duplicates") else (False,):
        reference = _reference_fit(name, np.dtype(dtype).type, weighted)
        weight = _weights(len(X), dtype) if weighted else None
        candidate = fastkm.kmeans(
            X, _dataset(name)[1], random_state=0, sample_weight=weight, backend=_backend(variant), max_iter=100
        )
        assert_fits_agree(X, reference, candidate)


@pytest.mark.parametrize("variant", VARIANTS)
def test_kmeans_plusplus_picks_the_same_centres(variant):
    """Greedy k-means++ compares candidates' potentials: exact sums make them, and so the picks, identical."""
    for name in ("duplicates", "pixels", "offset-blobs"):
        for dtype in DTYPES:
            X = _data(name, dtype)
            _, expected = fastkm.kmeans_plusplus(X, 8, random_state=3, backend=REFERENCE)
            _, indices = fastkm.kmeans_plusplus(X, 8, random_state=3, backend=_backend(variant))
            np.testing.assert_array_equal(indices, expected, err_msg=f"{name}, {np.dtype(dtype)}")


# -- the tie rule itself, on every path -----------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n_features", [1, 3, 5, 40])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_an_exact_tie_goes_to_the_lowest_index(variant, n_features, dtype):
    """X = [[0], [1], [2]], centroids [[0], [2]]: the middle point goes to centroid 0 (padded with zero features).

    Also with the tied centroids in the other order, a far-away third centroid
    between them in index, and offsets that make the screening round.
    """
    backend = _backend(variant)
    pad = np.zeros((3, n_features - 1))
    for offset in (0.0, 1000.0, 0.1):
        X = np.hstack([np.array([[0.0], [1.0], [2.0]]) + offset, pad]).astype(dtype)
        for order, expected in (([0, 2], [0, 0, 1]), ([2, 0], [1, 0, 0]), ([0, 50, 2], [0, 0, 2])):
            centroids = np.hstack([np.array(order, dtype=np.float64)[:, None] + offset, np.zeros((len(order), n_features - 1))])
            centroids = centroids.astype(dtype)
            want = expected if offset != 0.1 or dtype == np.float64 else None
            labels, _ = backend.assign(backend.asarray(X), backend.asarray(centroids))
            step = backend.assign_accumulate(backend.asarray(X), backend.asarray(centroids), None)
            reference = REFERENCE.assign(X, centroids)[0]
            if want is not None:  # (0.1 + 1 is not exactly between 0.1 and 2.1 in float32)
                np.testing.assert_array_equal(reference, want)
            np.testing.assert_array_equal(to_numpy(labels), reference)
            np.testing.assert_array_equal(to_numpy(step.labels), reference)


@pytest.mark.parametrize("variant", VARIANTS)
def test_many_exact_ties_on_a_lattice(variant):
    """Every point of an integer grid, centroids on the grid: hundreds of points tied between two or four centres."""
    grid = np.stack(np.meshgrid(np.arange(-6, 7), np.arange(-6, 7)), axis=-1).reshape(-1, 2).astype(np.float64)
    for n_features in (2, 6):  # (6: padded with zeros, so Numba takes its GEMM path)
        X = np.hstack([grid, np.zeros((len(grid), n_features - 2))])
        centroids = X[[0, 12, 84, 156, 168, 90]]
        exact = ((X[:, None, :] - centroids[None]) ** 2).sum(axis=2)  # integers: exact
        n_tied = int(((exact == exact.min(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
        assert n_tied > 20
        backend = _backend(variant)
        labels, _ = backend.assign(backend.asarray(X), backend.asarray(centroids))
        np.testing.assert_array_equal(to_numpy(labels), exact.argmin(axis=1))


# -- the numeric range --------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_tiny_float32_data_is_not_collapsed(variant):
    """float32 data at 1e-23: its squared differences underflow float32, never the canonical float64 distance."""
    X = (np.random.default_rng(0).standard_normal((500, 2)) * 1e-23).astype(np.float32)
    centroids = X[:4]
    step = _backend(variant).assign_accumulate(X, centroids, None)
    assert float(step.inertia) > 0
    assert_step_is_canonical(X, centroids, step)

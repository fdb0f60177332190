"""Shared fixtures: the backends under test and well-separated data."""

from __future__ import annotations

import numpy as np
import pytest

from fastkm import available_backends

#: In-process backends that can run here. Each joins the agreement tests by being registered.
#: (The Dask backend runs the same tests on a cluster, over these: tests/test_dask.py.)
AVAILABLE_BACKENDS = [name for name, status in available_backends().items() if status.available and name != "dask"]

#: Options that force each code path of a backend, so every path meets the policy.
VARIANTS = {
    "numpy": [{"chunk_rows": 97}],  # a tiny, odd block size: every chunk boundary case
    "numba": [{}, {"strategy": "direct"}, {"strategy": "gemm"}, {"n_threads": 1}],
    # the GEMM path in odd-sized chunks: every chunk boundary case
    "cupy": [{}, {"strategy": "fused"}, {"strategy": "gemm", "chunk_rows": 997}],
}

def backend_params(options_of) -> list:
    """``pytest.param((name, options))`` for every available backend and each of ``options_of(name)``,
    with readable ids (``numba-strategy=gemm``) and the ``gpu`` mark on CuPy's."""
    return [
        pytest.param(
            (name, options),
            id="-".join([name, *(f"{key}={value}" for key, value in options.items())]),
            marks=[pytest.mark.gpu] if name == "cupy" else [],
        )
        for name in AVAILABLE_BACKENDS
        for options in options_of(name)
    ]


#: Compared against the plain NumPy reference: every variant of every available backend.
CANDIDATE_BACKENDS = backend_params(lambda name: VARIANTS.get(name, [{}]))


@pytest.fixture(params=CANDIDATE_BACKENDS)
def candidate_backend(request):
    """A backend instance to compare with the NumPy reference."""
    from fastkm import get_backend

    name, options = request.param
    return get_backend(name, **options)


def make_separated(n_samples, n_features, n_clusters, *, dtype=np.float64, seed=0, offset=0.0, spread=0.5):
    """Blobs whose centres are at least ``16 * spread`` apart (so no fit is ambiguous).

    Returns ``(X, labels, centers, init)`` where ``init`` is one perturbed point of
    each blob: a start from which every sane k-means finds the blobs.
    """
    rng = np.random.default_rng(seed)
    centers = np.empty((0, n_features))
    box = 4 * spread * max(2.0, n_clusters ** (1 / n_features)) * 4
    while len(centers) < n_clusters:
        candidate = rng.uniform(-box, box, size=n_features)
        if len(centers) == 0 or np.min(np.linalg.norm(centers - candidate, axis=1)) > 16 * spread:
            centers = np.vstack([centers, candidate])
    labels = rng.permutation(np.arange(n_samples) % n_clusters).astype(np.int32)
    X = centers[labels] + rng.normal(0.0, spread, size=(n_samples, n_features)) + offset
    first = np.array([np.flatnonzero(labels == k)[0] for k in range(n_clusters)])
    init = X[first] + rng.normal(0.0, spread / 2, size=(n_clusters, n_features))
    return X.astype(dtype), labels, (centers + offset).astype(dtype), init.astype(dtype)

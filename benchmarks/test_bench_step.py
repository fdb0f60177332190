"""pytest-benchmark: one assign-and-accumulate step per backend at grid points A-D.

Run: ``python -m pytest benchmarks/ --benchmark-only`` (set FASTKM_BENCH_SCALE=0.1
for a quick look at a tenth of N). These are absolute times for one backend at a
time; the ratio table against scikit-learn and FAISS, with the measured floor in
the same run, comes from ``fastkm bench`` (the harness in fastkm/bench.py).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastkm import available_backends, get_backend
from fastkm.bench import GRID, grid_data

SCALE = float(os.environ.get("FASTKM_BENCH_SCALE", "1.0"))
BACKENDS = [name for name, status in available_backends().items() if status.available]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("point", sorted(GRID))
def test_step(benchmark, point, backend_name):
    backend = get_backend(backend_name)
    X, centroids = grid_data(GRID[point], scale=SCALE)
    X, centroids = backend.asarray(X), backend.asarray(centroids)
    weight = backend.asarray(np.ones(X.shape[0], dtype=X.dtype))
    backend.assign_accumulate(X, centroids, weight)  # warm-up (JIT, caches)
    benchmark.extra_info.update(n_samples=X.shape[0], n_features=X.shape[1], n_clusters=len(centroids))

    def one_step():
        step = backend.assign_accumulate(X, centroids, weight)
        float(step.inertia)  # on a GPU: wait for the kernels (what a Lloyd iteration waits for too)
        return step

    step = benchmark(one_step)
    assert step.labels.shape == (X.shape[0],)

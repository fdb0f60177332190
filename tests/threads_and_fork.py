"""Run by tests/test_concurrency.py in a subprocess, under the threading layer it names.

``python tests/threads_and_fork.py threads``: 8 threads fit and predict different
data at once, three rounds, each result compared with the same call made serially;
BLAS and Numba thread limits compared before and after.
``python tests/threads_and_fork.py fork``: a fit in this process, then a pool of
forked workers that fit too, compared with the same fits made here.
Prints one JSON object; exit code 0 unless Python itself failed.
"""

from __future__ import annotations

import json
import sys


def problem(i):
    import numpy as np

    rng = np.random.default_rng(i)
    n_features = (2, 8, 3, 16)[i % 4]  # both Numba strategies (direct up to 4 features, GEMM above)
    dtype = (np.float64, np.float32)[(i // 4) % 2]
    X = rng.standard_normal((3000, n_features)) + 3.0 * rng.integers(0, 4, (3000, 1))
    weight = rng.uniform(0.5, 2.0, 3000) if i % 3 == 0 else None
    return X.astype(dtype), weight


def fit(i, seeded=True):
    """One fit (k-means++ seeding, Lloyd) and a predict; everything that could differ, as bytes."""
    import numpy as np

    import fastkm
    from fastkm.backends.numba_backend import NumbaBackend

    X, weight = problem(i)
    backend = NumbaBackend(n_threads=1 if i % 2 else None)  # per-thread thread counts must not leak
    init = "k-means++" if seeded else X[:6]
    result = fastkm.kmeans(X, 6, init=init, sample_weight=weight, random_state=i, backend=backend)
    model = fastkm.KMeans(6, init=result.centroids, backend=backend).fit(X, sample_weight=weight)
    predicted = model.predict(X[::-1])
    return [result.labels.tobytes().hex(), result.centroids.tobytes().hex(), float(result.inertia),
            result.n_iter, np.asarray(predicted).tobytes().hex()]  # fmt: skip


def run_threads() -> dict:
    import threading

    import numba
    from threadpoolctl import threadpool_info, threadpool_limits

    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the Numba kernels call, loaded up front)

    threadpool_limits(limits=3, user_api="blas")  # a limit fastkm must give back (not 1, not the default)
    blas_before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    numba_before = numba.get_num_threads()
    expected = [fit(i) for i in range(8)]
    mismatches = []
    for round_ in range(3):
        barrier = threading.Barrier(8)
        results = [None] * 8

        def work(i):
            barrier.wait()
            results[i] = fit(i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        mismatches += [(round_, i) for i in range(8) if results[i] != expected[i]]
    return {
        "mismatches": mismatches,
        "blas_before": blas_before,
        "blas_after": [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"],
        "numba_threads_before": numba_before,
        "numba_threads_after": numba.get_num_threads(),
    }


def run_fork() -> dict:
    import multiprocessing

    expected = [fit(i, seeded=False) for i in range(4)]  # the parent has run parallel kernels now
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_fit_unseeded, range(4)).get(timeout=240)
    return {"mismatches": [i for i in range(4) if results[i] != expected[i]]}


def _fit_unseeded(i):
    return fit(i, seeded=False)


if __name__ == "__main__":
    from fastkm.backends.numba_runtime import threading_layer

    mode = sys.argv[1]
    try:
        layer = threading_layer()
    except ValueError as exc:  # the requested layer cannot load here
        print(json.dumps({"unavailable": str(exc).splitlines()[0]}))
        sys.exit(0)
    report = run_threads() if mode == "threads" else run_fork()
    print(json.dumps({"layer": layer, **report}))

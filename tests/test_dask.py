"""fastkm on a real Dask cluster: the same driver, the same bits as one process, for any chunking.

One ``distributed.LocalCluster`` (two worker processes, one thread each, on
127.0.0.1) serves the whole module and is always closed. Fits on a Dask array
are compared with the same fits on the NumPy array, in one process, by the
exact-agreement policy: labels, ``n_iter``, centroids and inertia identical.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastkm
from fastkm import get_backend
from fastkm.testing import assert_fits_agree, assert_step_agrees, to_numpy

from .conftest import make_separated
from .test_exact_agreement import _data, _dataset, _weights

da = pytest.importorskip("dask.array", reason="Dask is an extra: pip install 'fastkm[dask]'")
distributed = pytest.importorskip("distributed", reason="distributed is an extra: pip install 'fastkm[dask]'")

REFERENCE = get_backend("numpy")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _chunkings(n_samples: int) -> dict[str, tuple[int, ...]]:
    """Equal chunks, unequal ones, and chunks with no rows at all."""
    third = n_samples // 3
    return {
        "one": (n_samples,),
        "equal": tuple(np.diff(np.linspace(0, n_samples, 5).astype(int))),
        "unequal-with-empty": (0, 7, third, 0, n_samples - third - 7),
    }


def _dask(X, rows):
    return da.from_array(X, chunks=(rows, X.shape[1]) if X.ndim == 2 else (rows,))


# -- the same answer -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["digits", "pixels", "china"])  # (64 features; 3 with K = 24; K > 16: re-measured)
def test_whole_fit_is_identical_for_every_chunking(client, name, dtype):
    """From the same initial centroids: labels, n_iter, centroids and inertia of the in-process fit, bit for bit."""
    X = _data(name, dtype)
    n_clusters = _dataset(name)[1]
    init = X[np.random.default_rng(3).choice(len(X), n_clusters, replace=False)]
    reference = fastkm.kmeans(X, n_clusters, init=init, backend=REFERENCE, max_iter=25)
    for chunking in ("equal", "unequal-with-empty"):
        candidate = fastkm.kmeans(_dask(X, _chunkings(len(X))[chunking]), n_clusters, init=init, max_iter=25)
        assert candidate.backend == "dask"
        assert isinstance(candidate.labels, da.Array)
        assert_fits_agree(X, reference, candidate)


@pytest.mark.parametrize("weights_as", ["numpy", "dask"])
def test_weighted_fit_is_identical(client, weights_as):
    X = _data("duplicates", np.float64)
    weight = _weights(len(X), np.float64)
    init = X[[0, 60, 120, 180, 240, 300, 360, 420]]
    reference = fastkm.kmeans(X, 8, init=init, sample_weight=weight, backend=REFERENCE)
    rows = _chunkings(len(X))["unequal-with-empty"]
    given = _dask(weight, (301, 2099)) if weights_as == "dask" else weight  # (chunked unlike X: realigned)
    candidate = fastkm.kmeans(_dask(X, rows), 8, init=init, sample_weight=given)
    assert_fits_agree(X, reference, candidate)


@pytest.mark.parametrize("chunk_backend", ["numpy", "numba"])
def test_one_step_is_identical(client, chunk_backend):
    X = _data("pixels", np.float32)
    centroids = X[:24]
    backend = get_backend(chunk_backend, _dask(X, 4000))
    assert backend.name == "dask" and backend.chunk_backend == chunk_backend
    reference = REFERENCE.assign_accumulate(X, centroids, None)
    step = backend.assign_accumulate(_dask(X, (0, 3, 9000, 10997)), centroids, None)
    assert_step_agrees(X, centroids, reference, step)


def test_scattered_centroids_give_the_same_step(client):
    """Centroids over ``scatter_bytes`` reach the workers by ``Client.scatter`` instead of inside each task."""
    X = _data("digits", np.float64)
    centroids = X[:10]
    backend = get_backend("dask", scatter_bytes=0)
    step = backend.assign_accumulate(_dask(X, 500), centroids, None)
    assert_step_agrees(X, centroids, REFERENCE.assign_accumulate(X, centroids, None), step)
    with pytest.raises(ValueError, match="scatter_bytes must be a non-negative integer"):
        get_backend("dask", scatter_bytes=-1)


def test_empty_clusters_are_relocated_alike(client):
    """Duplicated initial centroids empty clusters: the farthest points, found chunk by chunk, fill them."""
    X = _data("lattice", np.float64)
    init = np.repeat(X[[0, 500]], [5, 4], axis=0)
    reference = fastkm.kmeans(X, 9, init=init, backend=REFERENCE)
    for rows in _chunkings(len(X)).values():
        assert_fits_agree(X, reference, fastkm.kmeans(_dask(X, rows), 9, init=init))


def test_n_init_runs_and_tol_agree(client):
    """Random starts (the same draws), several runs compared by partition, and tol > 0 (the data's variance)."""
    X = _data("digits", np.float64)
    reference = fastkm.kmeans(X, 10, init="random", n_init=3, tol=1e-3, random_state=5, backend=REFERENCE)
    candidate = fastkm.kmeans(_dask(X, 500), 10, init="random", n_init=3, tol=1e-3, random_state=5)
    assert_fits_agree(X, reference, candidate)


def test_weighted_random_init_is_the_same_for_every_chunking(client):
    X = _data("pixels", np.float64)
    weight = _weights(len(X), np.float64)
    seeds = [
        fastkm.kmeans(_dask(X, rows), 6, init="random", n_init=1, sample_weight=_dask(weight, rows), max_iter=1,
                      random_state=2).inertia_history[0]
        for rows in _chunkings(len(X)).values()
    ]  # fmt: skip
    assert seeds[0] == seeds[1] == seeds[2]


# -- k-means|| -------------------------------------------------------------------------------------------
def test_kmeans_parallel_is_the_same_on_every_backend_and_chunking(client):
    X = _data("offset-blobs", np.float32)
    weight = _weights(len(X), np.float32)
    for sample_weight in (None, weight):
        expected = fastkm.kmeans_parallel(X, 6, sample_weight=sample_weight, random_state=4, backend="numpy")
        assert expected.shape == (6, X.shape[1]) and expected.dtype == np.float32
        for backend in ("numba",):
            np.testing.assert_array_equal(
                fastkm.kmeans_parallel(X, 6, sample_weight=sample_weight, random_state=4, backend=backend), expected
            )
        for rows in _chunkings(len(X)).values():
            given = None if sample_weight is None else _dask(sample_weight, rows)
            np.testing.assert_array_equal(
                fastkm.kmeans_parallel(_dask(X, rows), 6, sample_weight=given, random_state=4), expected
            )


def test_kmeans_plusplus_on_a_dask_array_seeds_by_kmeans_parallel(client):
    """The default init works on a Dask array (as k-means||) and finds separated blobs; greedy k-means++ refuses."""
    X, truth, _, _ = make_separated(4000, 4, 12, seed=1)
    X_dask = _dask(X, 1000)
    fitted = fastkm.KMeans(12, random_state=0).fit(X_dask)
    in_process = fastkm.kmeans(X, 12, init="k-means||", random_state=0)
    assert_fits_agree(X, in_process, fastkm.KMeansResult(
        fitted.cluster_centers_, fitted.labels_, fitted.inertia_, fitted.n_iter_, fitted.converged_
    ))  # fmt: skip
    labels = to_numpy(fitted.labels_)
    assert len({(a, b) for a, b in zip(labels, truth)}) == 12  # every blob found, none split
    with pytest.raises(TypeError, match="init='k-means||'"):
        fastkm.kmeans_plusplus(X_dask, 3)


def test_kmeans_parallel_checks_its_parameters():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="oversampling_factor must be a positive number"):
        fastkm.kmeans_parallel(X, 2, oversampling_factor=0)
    with pytest.raises(ValueError, match="n_rounds must be a non-negative integer"):
        fastkm.kmeans_parallel(X, 2, n_rounds=-1)


# -- using a fitted model on a Dask array ---------------------------------------------------------------
def test_predict_transform_and_score_stay_lazy(client):
    X = _data("flower", np.float32)
    model = fastkm.KMeans(8, random_state=0, backend="numpy").fit(X)
    X_dask = _dask(X, 3000)
    predicted, distances, score = model.predict(X_dask), model.transform(X_dask), model.score(X_dask)
    for lazy in (predicted, distances, score):
        assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(predicted.compute(), model.predict(X))
    np.testing.assert_array_equal(distances.compute(), model.transform(X))
    np.testing.assert_allclose(float(score), model.score(X), rtol=1e-12)
    bad = X.copy()
    bad[5000, 1] = np.nan
    lazy = model.predict(_dask(bad, 3000))  # (nothing is read yet) ...
    with pytest.raises(ValueError, match="a chunk of X contains NaN"):
        lazy.compute()  # ... the chunk's task says what is wrong


def test_a_fit_rejects_bad_data_and_weights(client):
    X = _data("pixels", np.float64)
    bad = X.copy()
    bad[7, 0] = np.inf
    with pytest.raises(ValueError, match="X contains infinity"):
        fastkm.kmeans(_dask(bad, 5000), 3)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        fastkm.kmeans(_dask(X, 5000), 3, sample_weight=_dask(-np.ones(len(X)), 5000))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fastkm.kmeans(_dask(X, 5000)[_dask(X[:, 0], 5000) > 100], 3)


# -- data on disk, larger than a worker's memory -------------------------------------------------------
def test_a_fit_streams_npy_files_from_disk(client, tmp_path):
    """``from_npy_stack``: with ``persist=False`` every iteration reads the chunks from the files."""
    X = _data("china", np.float32)
    da.to_npy_stack(tmp_path, _dask(X, 1700))
    on_disk = da.from_npy_stack(tmp_path, mmap_mode="r")
    init = X[:20]
    reference = fastkm.kmeans(X, 20, init=init, backend=REFERENCE, max_iter=8)
    backend = get_backend("dask", persist=False)
    assert_fits_agree(X, reference, fastkm.kmeans(on_disk, 20, init=init, backend=backend, max_iter=8))
    assert not distributed.futures_of(backend._prepared[on_disk.name])  # never persisted: read at every pass


# -- faults --------------------------------------------------------------------------------------------
def _slow_steps(seconds):
    """In a worker: make every step task sleep first (tasks name their function by reference, so this
    takes), or with ``None`` undo that."""
    import time

    from fastkm.backends import dask_backend

    original = getattr(dask_backend, "_original_step_rows", dask_backend._step_rows)
    dask_backend._original_step_rows = original

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    slow.__name__ = original.__name__
    dask_backend._step_rows = original if seconds is None else slow


def test_a_worker_killed_while_a_step_runs_changes_nothing(client):
    """Killed with a step's task running on it, and with its chunks of X and labels of earlier steps:
    Dask recomputes them elsewhere (tasks are pure) and the answer is the same, bit for bit."""
    X = _data("pixels", np.float64)
    init = X[:24]
    reference = fastkm.kmeans(X, 24, init=init, backend=REFERENCE, max_iter=3)
    client.wait_for_workers(2, timeout=60)
    client.run(_slow_steps, 0.3)
    results = []
    fit = threading.Thread(target=lambda: results.append(fastkm.kmeans(_dask(X, 2500), 24, init=init, max_iter=3)))
    fit.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a step's task is running, then kill its worker
        busy = [address for address, keys in client.processing().items() if any("_step_rows" in str(k) for k in keys)]
        if busy:
            os.kill(client.run(os.getpid, workers=[busy[0]])[busy[0]], signal.SIGKILL)
            break
        time.sleep(0.02)
    fit.join(timeout=300)
    assert busy and results, "no step was seen running, or the fit did not finish"
    assert_fits_agree(X, reference, results[0])
    client.wait_for_workers(2, timeout=60)
    client.run(_slow_steps, None)  # (the worker that was not killed)


def test_an_error_in_a_worker_task_surfaces_with_its_type_and_message(client):
    X = _dask(_data("pixels", np.float64), 5000)
    backend = fastkm.get_backend("dask", chunk_backend="cupy")
    if fastkm.available_backends()["cupy"].available:
        pytest.skip("CuPy runs here: no task fails")
    with pytest.raises(fastkm.BackendUnavailableError, match="fastkm backend 'cupy' is unavailable"):
        fastkm.kmeans(X, 3, init=np.zeros((3, 3)), backend=backend)


def test_without_a_client_the_error_says_how_to_start_one():
    code = "import dask.array as da, fastkm; fastkm.kmeans(da.ones((100, 2), chunks=50) * da.arange(100)[:, None], 2)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "needs a distributed Client" in done.stderr and "LocalCluster" in done.stderr


def test_concurrent_fits_share_a_cluster(client):
    """Two fits at once from two threads: each has its own label lineage and gets its own answer."""
    datasets = [_data("pixels", np.float64), _data("flower", np.float64)]
    expected = [fastkm.kmeans(X, 6, init=X[:6], backend=REFERENCE) for X in datasets]
    results: list = [None, None]

    def fit(i):
        results[i] = fastkm.kmeans(_dask(datasets[i], 4000), 6, init=datasets[i][:6])

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for X, reference, candidate in zip(datasets, expected, results):
        assert_fits_agree(X, reference, candidate)

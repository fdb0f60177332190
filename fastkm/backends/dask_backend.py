"""The Dask backend: the contract over Dask arrays, each chunk computed where it lives, by its own backend.

A fit on a :class:`dask.array.Array` runs the same driver (:func:`fastkm.lloyd.lloyd`)
as every other fit: only the primitives change. Each primitive is one task
per chunk of rows, on the chunk's own backend (Numba, or NumPy, for NumPy
chunks; CuPy for CuPy chunks), returning small results -- exact-sum parts of
the cluster sums, counts and inertia, a count of changed labels -- which the
client adds (one ``(n_clusters, n_features)`` set of parts per chunk; it
never gathers ``X``). New labels stay on the workers, held by futures, and
come back to the caller as a Dask array. (A tree of merge tasks on the
workers cost more than it saved at the chunk counts measured: one extra task
hop per level.)

Because every total is an exact sum (:mod:`fastkm.backends.exact`) and every
label is a certified argmin, a fit on a Dask array gives the bits of the same
fit in one process, whatever the chunking (unequal chunks and chunks with no
rows included) and whatever order the workers finish in.

Tasks are pure: their outputs depend on their inputs only, so Dask can
recompute a chunk lost with a worker. The one exception is bookkeeping: to
count changed labels a step compares its labels with the previous step's,
which it finds, by a weak reference, in the worker process that computed
them (so the graph never chains one iteration to the next, and the scheduler
keeps nothing of past iterations). Where they are gone -- a lost worker, a
chunk moved -- the step counts every row as changed, which costs the driver
at most one extra pass and never changes the answer.

Needs a :class:`distributed.Client` (``distributed.get_client()`` finds the
current one): ``Client(LocalCluster(...))`` on one machine, or
``Client("scheduler-address:8786")`` for a cluster.
"""

from __future__ import annotations

import functools
import importlib
import logging
import uuid
import weakref
from typing import Any, Callable

import numpy as np

from ..validation import check_integer
from .base import CombinesParts, StepParts, array_namespace, is_cupy_array, is_dask_array, to_host

__all__ = ["DaskBackend", "column_bounds", "unavailable_reason"]

logger = logging.getLogger("fastkm")


def unavailable_reason() -> str | None:
    """Why this backend cannot run here (Dask or distributed missing), or None."""
    for module in ("dask.array", "distributed"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"{exc.name or module} is not installed: pip install 'fastkm[dask]'"
    return None


def describe() -> str:
    """One line on what runs this backend."""
    import dask
    import distributed

    return f"Dask {dask.__version__}, distributed {distributed.__version__}; each chunk on its own backend"


class DaskBackend(CombinesParts):
    """The backend contract over Dask arrays: one task per chunk, run by the chunk's own backend.

    Parameters
    ----------
    chunk_backend : {"numba", "numpy", "cupy"} or None
        The backend each chunk is computed with; ``None`` picks by the chunk's
        type: CuPy for CuPy chunks, else Numba (NumPy where Numba is missing).
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    persist : {"auto", True, False}
        Whether a fit keeps ``X`` in the workers' memory between iterations.
        ``"auto"``: when it takes at most half the cluster's memory (else each
        iteration reads the chunks again from their source, e.g. ``.npy``
        files: data larger than the cluster streams).
    scatter_bytes : int
        Centroids larger than this go to every worker once per iteration
        (``Client.scatter``); smaller ones travel inside each chunk's task.

    Examples
    --------
    >>> import dask.array as da, numpy as np, fastkm
    >>> from distributed import Client, LocalCluster
    >>> cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1")  # doctest: +SKIP
    >>> client = Client(cluster)  # doctest: +SKIP
    >>> X = da.from_array(np.random.default_rng(0).random((1000, 2)), chunks=250)  # doctest: +SKIP
    >>> fastkm.kmeans(X, 3, backend="dask").labels  # doctest: +SKIP
    dask.array<fastkm-rows0-..., shape=(1000,), dtype=int32, chunksize=(250,), chunktype=numpy.ndarray>
    """

    name = "dask"
    xp = np  # the client's arrays: (n_clusters, n_features), NumPy
    #: Greedy k-means++ needs a round trip per candidate: on Dask, "k-means++" seeds by k-means||.
    scalable_seeding_only = True

    def __init__(
        self, chunk_backend: str | None = None, client: Any = None, persist: Any = "auto", scatter_bytes: int = 2**20
    ):
        if chunk_backend is not None and chunk_backend not in ("numba", "numpy", "cupy"):
            raise ValueError(f"chunk_backend must be 'numba', 'numpy', 'cupy' or None, got {chunk_backend!r}")
        if persist not in ("auto", True, False):
            raise ValueError(f"persist must be 'auto', True or False, got {persist!r}")
        self.chunk_backend = chunk_backend
        self.client = client
        self.persist = persist
        self.scatter_bytes = check_integer(scatter_bytes, "scatter_bytes", minimum=0)
        self._prepared: dict[str, Any] = {}  # X's name -> the array the fit reads (persisted or not)
        self._graphs: dict[str, tuple] = {}  # an array's name -> (its graph, its chunks' keys)
        self.last_recheck_share = 0.0

    def __repr__(self) -> str:
        return (
            f"DaskBackend(chunk_backend={self.chunk_backend!r}, persist={self.persist!r}, "
            f"scatter_bytes={self.scatter_bytes!r})"
        )

    @property
    def client_backend(self) -> Any:
        """The in-process backend for the client's small problems (k-means|| candidates): Numba, else NumPy."""
        from . import get_backend

        return get_backend("numba" if self.chunk_backend in (None, "numba", "cupy") else "numpy")

    # -- arrays in and out ----------------------------------------------------------------------
    def asarray(self, array: Any, dtype: Any = None) -> Any:
        """A Dask array with one chunk across the columns (``X``); a small array stays NumPy."""
        if not is_dask_array(array):
            return np.ascontiguousarray(to_host(array), dtype=dtype)
        if dtype is not None and array.dtype != dtype:
            array = array.astype(dtype)
        if array.ndim == 2 and array.numblocks[1] != 1:
            array = array.rechunk({1: -1})
        return array

    def to_numpy(self, array: Any) -> np.ndarray:
        """A NumPy array of a small result (a Dask array is computed)."""
        return np.asarray(array.compute()) if is_dask_array(array) else to_host(array)

    def rows_like(self, array: Any, X: Any) -> Any:
        """A per-row array (the sample weights) as a Dask array chunked like ``X``'s rows, kept on the workers."""
        import dask.array as da

        if not is_dask_array(array):
            array = da.from_array(to_host(array), chunks=(X.chunks[0],))
        elif array.chunks[0] != X.chunks[0]:
            array = array.rechunk({0: X.chunks[0]})
        return self._client().persist(array)

    def take_rows(self, X: Any, indices: Any) -> np.ndarray:
        """Rows of ``X`` at ``indices`` (in that order), gathered to the client."""
        rows = X[np.asarray(indices, dtype=np.int64)].compute()
        return np.array(rows) if not is_cupy_array(rows) else rows

    # -- the primitives --------------------------------------------------------------------------
    def accumulate_parts(self, X, centroids, sample_weight, labels=None, scale=None, bounds=None) -> StepParts:
        from .exact import Scale

        self._no_bounds(bounds)
        scale = scale or Scale.of(X, sample_weight, centroids)
        # (the previous step's labels are held, on the workers, under the token their name ends with)
        previous = labels.name.rpartition("-")[2] if labels is not None and labels.name.startswith(_ROWS) else None
        (new_labels,), (sums, counts, inertia, n_changed, n_rechecked) = self.map_rows(
            _step_rows, X, sample_weight, merge=_add_totals, rows_out=((np.int32, ()),), hold=True, previous=previous,
            centroids=np.asarray(centroids), scale=scale,
        )  # fmt: skip
        self.last_recheck_share = int(n_rechecked) / max(X.shape[0], 1)
        return StepParts(new_labels, sums, counts, inertia, np.int64(n_changed))

    def assign(self, X: Any, centroids: Any) -> tuple[Any, Any]:
        """Lazy: ``(labels, sq_dist)`` Dask arrays."""
        return tuple(
            X.map_blocks(
                _assign_block, centroids=np.asarray(centroids), spec=self.chunk_backend, which=which,
                drop_axis=1, dtype=dtype, meta=_meta(X, dtype, 1),
            )  # fmt: skip
            for which, dtype in ((0, np.int32), (1, np.float64))
        )

    def labelled_sq_distances(self, X: Any, centroids: Any, labels: Any) -> Any:
        """Lazy: a Dask array of each row's squared distance to its labelled centroid."""
        import dask.array as da

        labels = labels.rechunk({0: X.chunks[0]})[:, None]
        return da.map_blocks(
            _labelled_block, X, labels, centroids=np.asarray(centroids), spec=self.chunk_backend, drop_axis=1,
            dtype=np.float64, meta=_meta(X, np.float64, 1),
        )  # fmt: skip

    def pairwise_sq_distances(self, X: Any, Y: Any) -> Any:
        """Lazy: a Dask array ``(n_samples, len(Y))``."""
        Y = np.asarray(Y)
        return X.map_blocks(
            _pairwise_block, Y=Y, spec=self.chunk_backend, chunks=(X.chunks[0], (len(Y),)), dtype=np.float64,
            meta=_meta(X, np.float64, 2),
        )  # fmt: skip

    def seeding_step(self, X, candidates, closest_sq_dist, sample_weight, scale=None, bounds=None):
        raise TypeError(
            "greedy k-means++ takes one pass over the data per candidate, which on a Dask array means a round "
            "trip to the cluster each; seed with init='k-means||' (what kmeans and KMeans do for 'k-means++' "
            "on a Dask array), or compute X first for greedy k-means++"
        )

    # -- running row functions on the chunks --------------------------------------------------------
    def map_rows(
        self, function: Callable, *arrays: Any, merge: Callable | None = None, rows_out: tuple = (),
        hold: bool = False, previous: str | None = None, **shared: Any,
    ) -> Any:  # fmt: skip
        """One task per chunk of rows (see :meth:`fastkm.backends.base.Backend.map_rows`); results merged here.

        The graph is written by hand (a task per chunk, and one that picks each
        task's small result out on the same worker, so per-row outputs never
        travel): building it through ``dask.delayed`` cost more, per chunk and
        iteration, than running it. Shared arrays over ``scatter_bytes`` are
        sent to every worker once (``Client.scatter``), smaller ones ride in the
        tasks. With ``lineage`` (``None`` or the token of the previous step's
        outputs) the function gets that step's first per-row output of its
        chunk as ``previous`` when the worker still holds it, else ``None``.
        """
        import dask.array as da

        reference = next((array for array in arrays if is_dask_array(array)), None)
        if reference is None:
            raise TypeError(
                "the dask backend works on Dask arrays; wrap the data with dask.array.from_array(X, chunks=...) "
                "or pick an in-process backend (numba, numpy, cupy)"
            )
        client = self._client()
        row_chunks = reference.chunks[0]
        graph: dict = {}
        block_keys = []
        for array in arrays:
            if array is None:
                block_keys.append(None)
                continue
            array_graph, keys = self._row_blocks(array, row_chunks)
            graph.update(array_graph)
            block_keys.append(keys)
        token = uuid.uuid4().hex
        scattered = {name: value for name, value in shared.items()
                     if isinstance(value, np.ndarray) and value.nbytes > self.scatter_bytes}  # fmt: skip
        futures = {name: client.scatter(value, broadcast=True, hash=False) for name, value in scattered.items()}
        graph.update({future.key: future for future in futures.values()})
        shared = {name: value for name, value in shared.items() if name not in scattered}
        held = (previous, token) if hold else None
        run_keys = [(f"fastkm-{function.__name__}-{token}", index) for index in range(len(row_chunks))]
        offset = 0
        for index, key in enumerate(run_keys):
            call = _Call(function, self.chunk_backend, offset, index, held, shared, bool(rows_out), tuple(futures))
            blocks = (None if keys is None else keys[index] for keys in block_keys)
            graph[key] = (_run_chunk, call, *blocks, *(future.key for future in futures.values()))
            offset += row_chunks[index]
        small_keys = run_keys
        if rows_out:  # (picked out where the chunk ran: the per-row arrays stay there)
            small_keys = [(f"fastkm-small-{token}", index) for index in range(len(row_chunks))]
            graph.update({small: (_small_of, run) for small, run in zip(small_keys, run_keys)})
        if len(small_keys) > 1 and merge is None:
            raise ValueError(f"{function.__name__} over several chunks needs a merge function")
        futures = client.get(graph, [*small_keys, *(run_keys if rows_out else [])], sync=False)
        # one small result per chunk (K x d at most) comes to the client, merged here in chunk order
        result = functools.reduce(merge, client.gather(futures[: len(small_keys)]))
        if not rows_out:
            return result
        runs = futures[len(small_keys) :]
        per_row = []
        for j, (dtype, trailing) in enumerate(rows_out):
            name = f"{_ROWS}{j}-{token}"
            rows_graph: dict = {run.key: run for run in runs}
            rows_graph.update({(name, index, *(0,) * len(trailing)): (_rows_of, run.key, j)
                               for index, run in enumerate(runs)})  # fmt: skip
            chunks = (row_chunks, *((size,) for size in trailing))
            per_row.append(da.Array(rows_graph, name, chunks, dtype=dtype, meta=_meta(reference, dtype, len(chunks))))
        return tuple(per_row), result

    def _row_blocks(self, array: Any, row_chunks: tuple) -> tuple[dict, list]:
        """``(graph, one key per chunk of rows)`` of an array aligned with ``row_chunks`` (X: the fit's copy)."""
        if array.ndim == 2:
            array = self._fit_copy(array)
        if array.chunks[0] != row_chunks:
            array = array.rechunk({0: row_chunks})
        cached = self._graphs.get(array.name)
        if cached is None:
            cached = (dict(array.__dask_graph__()), _chunk_keys(array))
            self._graphs = {array.name: cached, **dict(list(self._graphs.items())[:3])}
        return cached

    def _fit_copy(self, X: Any) -> Any:
        """``X`` as the fit reads it: persisted on the workers (see ``persist``), the workers warmed up."""
        if X.name in self._prepared:
            return self._prepared[X.name]
        client = self._client()
        _warm_workers(client, self.chunk_backend)
        keep = self.persist
        if keep == "auto":
            workers = client.scheduler_info()["workers"].values()
            memory = sum(worker.get("memory_limit") or 0 for worker in workers)
            keep = not memory or X.nbytes <= memory / 2
            if not keep:
                logger.info(
                    "X (%.3g GB) is over half the cluster's memory (%.3g GB): each iteration reads it from its source",
                    X.nbytes / 1e9, memory / 1e9,
                )  # fmt: skip
        prepared = client.persist(X) if keep else X
        self._prepared = {X.name: prepared}  # (one fit's data at a time)
        return prepared

    def _client(self) -> Any:
        if self.client is not None:
            return self.client
        from distributed import get_client

        try:
            return get_client()
        except ValueError:
            raise RuntimeError(
                "fitting a Dask array needs a distributed Client: start one first, e.g. "
                "from distributed import Client, LocalCluster; client = Client(LocalCluster()) -- "
                "or Client('scheduler-address:8786') to use an existing cluster"
            ) from None


# -- what runs on the workers ----------------------------------------------------------------------------
class _ChunkOut:
    """A chunk task's output: per-row arrays (kept on the worker) and a small result (sent on)."""

    __slots__ = ("rows", "small", "__weakref__")

    def __init__(self, rows: tuple, small: Any):
        self.rows = rows
        self.small = small


#: (token, chunk index) -> the _ChunkOut of a step, while its future keeps it in this worker's memory.
_HELD: "weakref.WeakValueDictionary[tuple, _ChunkOut]" = weakref.WeakValueDictionary()


class _Call:
    """What a chunk task runs, in one object (a graph would otherwise read tuples in it as tasks)."""

    __slots__ = ("function", "spec", "offset", "index", "lineage", "shared", "has_rows", "scattered")

    def __init__(self, function, spec, offset, index, lineage, shared, has_rows, scattered):
        self.function, self.spec, self.offset, self.index = function, spec, offset, index
        self.lineage, self.shared, self.has_rows, self.scattered = lineage, shared, has_rows, scattered

    def __getstate__(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state):
        for name, value in zip(self.__slots__, state):
            setattr(self, name, value)


def _chunk_keys(array: Any) -> list:
    """The keys of an array's chunks, in row order (one chunk across the columns)."""
    keys = array.__dask_keys__()
    return [chunk[0] if array.ndim == 2 else chunk for chunk in keys]


def _small_of(out: _ChunkOut) -> Any:
    return out.small


def _run_chunk(call: _Call, *arguments):
    """Run a row function on one chunk: on the chunk's backend, with results made small and host-side."""
    function, spec, offset, index = call.function, call.spec, call.offset, call.index
    lineage, has_rows = call.lineage, call.has_rows
    blocks = arguments[: len(arguments) - len(call.scattered)]
    shared = {**call.shared, **dict(zip(call.scattered, arguments[len(blocks) :]))}
    backend = _chunk_backend(spec, next(block for block in blocks if block is not None))
    if lineage is not None:
        previous, token = lineage
        prior = _HELD.get((previous, index)) if previous is not None else None
        shared = {**shared, "previous": None if prior is None else prior.rows[0]}
    result = function(backend, offset, *blocks, **shared)
    if not has_rows:
        return _on_host(result)
    rows, small = result
    out = _ChunkOut(tuple(rows), _on_host(small))
    if lineage is not None:
        _HELD[(token, index)] = out
    return out


#: Names of the per-row arrays map_rows returns start with this (then the output's index, "-", the token).
_ROWS = "fastkm-rows"


def _rows_of(out: _ChunkOut, j: int) -> Any:
    return out.rows[j]


def _on_host(value: Any) -> Any:
    """A small result with every CuPy array in it copied to the host."""
    if isinstance(value, (tuple, list)):
        return type(value)(_on_host(item) for item in value)
    return to_host(value) if is_cupy_array(value) else value


def _step_rows(backend, offset, X, sample_weight, *, centroids, scale, previous=None):
    """Row function of the hot step: the chunk backend's ``accumulate_parts``, labels compared with ``previous``."""
    labels = None if previous is None else previous.copy()  # (never written in place: a future holds it)
    step = backend.accumulate_parts(X, backend.asarray(centroids, dtype=X.dtype), sample_weight, labels, scale)
    n_rechecked = round(getattr(backend, "last_recheck_share", 0.0) * X.shape[0])
    return (step.labels,), (step.sums, step.counts, step.inertia, int(step.n_changed), n_rechecked)


def _add_totals(first: tuple, second: tuple) -> tuple:
    """Merge of two chunks' step results: exact-sum parts and counters, added."""
    return tuple(a + b for a, b in zip(first, second))


def _assign_block(X, *, centroids, spec, which):
    backend = _chunk_backend(spec, X)
    return backend.assign(X, backend.asarray(centroids, dtype=X.dtype))[which]


def _labelled_block(X, labels, *, centroids, spec):
    backend = _chunk_backend(spec, X)
    return backend.labelled_sq_distances(X, backend.asarray(centroids, dtype=X.dtype), labels[:, 0])


def _pairwise_block(X, *, Y, spec):
    backend = _chunk_backend(spec, X)
    return backend.pairwise_sq_distances(X, backend.asarray(Y, dtype=X.dtype))


def _chunk_backend(spec: str | None, block: Any):
    """The backend a chunk is computed with, in this worker: Numba with this task's share of the worker's threads."""
    from . import backend_status, get_backend

    name = spec or ("cupy" if is_cupy_array(block) else "numba" if backend_status("numba").available else "numpy")
    if name != "numba":
        return _backend_named(name)
    return get_backend("numba", n_threads=_thread_share())


@functools.lru_cache(maxsize=None)
def _backend_named(name: str):
    from . import get_backend

    return get_backend(name)


def _thread_share() -> int:
    """This task's share of the worker's threads (Numba would otherwise start one per core, per task)."""
    import numba

    try:
        from distributed import get_worker

        state = get_worker().state
        threads = max(1, state.nthreads // max(1, len(state.executing)))
    except (ImportError, ValueError, AttributeError):
        threads = numba.config.NUMBA_NUM_THREADS
    return min(threads, numba.config.NUMBA_NUM_THREADS)


def _warm_workers(client: Any, spec: str | None) -> None:
    """Compile (or load) the chunk backend's kernels on every worker not yet warmed, before the first iteration."""
    from . import backend_status

    name = spec or ("numba" if backend_status("numba").available else "numpy")
    if name == "numba":
        seconds = client.run(_warm, name)
        logger.debug("dask workers warmed up in %s", {worker: round(s, 2) for worker, s in seconds.items()})


def _warm(name: str) -> float:
    from . import warmup

    if _WARMED.get(name):
        return 0.0
    seconds = warmup(name)
    _WARMED[name] = True
    return seconds


_WARMED: dict[str, bool] = {}


def _meta(like: Any, dtype: Any, ndim: int) -> Any:
    """An empty array of ``like``'s chunk type (NumPy or CuPy): Dask's ``meta``."""
    return array_namespace(like._meta).empty((0,) * ndim, dtype=dtype)


# -- column bounds over chunks (validation and Scale) -----------------------------------------------------
def column_bounds(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``(min, max)`` of a Dask array, float64 NumPy (NaN propagates; chunks with no rows are fine).

    Remembered by the array's name: validating X and laying out its exact sums read it once.
    """
    return _bounds(X.name, X)


def _bounds(name: str, X: Any) -> tuple[np.ndarray, np.ndarray]:
    cached = _BOUNDS.get(name)
    if cached is None:
        import dask

        parts = [dask.delayed(_block_bounds)(block) for block in X.to_delayed().ravel()]
        while len(parts) > 1:
            parts = [dask.delayed(_merge_bounds)(*parts[i : i + 2]) if i + 1 < len(parts) else parts[i]
                     for i in range(0, len(parts), 2)]  # fmt: skip
        cached = dask.compute(parts[0])[0]
        _BOUNDS.clear()
        _BOUNDS[name] = cached
    return cached


_BOUNDS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _block_bounds(block: Any) -> tuple[np.ndarray, np.ndarray]:
    from .base import column_bounds as bounds

    if block.shape[0] == 0:
        return np.full(block.shape[1], np.inf), np.full(block.shape[1], -np.inf)
    return bounds(block)


def _merge_bounds(first: tuple, second: tuple) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(first[0], second[0]), np.maximum(first[1], second[1])


BACKEND = DaskBackend

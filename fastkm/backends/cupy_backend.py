"""The CuPy backend: CUDA kernels we own, data resident on the GPU.

It implements the exact-agreement contract of :mod:`fastkm.backends.exact`,
so its labels, squared distances, sums, counts, inertia, changed-label counts
and seeding potentials are bit for bit those of the NumPy and Numba backends:

* every distance it reports or decides by is the **canonical** one (double,
  features in order, each operation rounded once: ``__dsub_rn`` /
  ``__dmul_rn`` / ``__dadd_rn``, one device function for every kernel);
* the nearest centre is a **certified argmin**: a fast screen in ``X``'s
  precision with an a-priori error bound, and canonical distances for the
  points the screen cannot decide;
* every total is an **exact sum** (parts on grids fixed by
  :class:`~fastkm.backends.exact.Scale`), so float64 atomics in any order
  give the same bits; the host combines the parts once
  (:func:`~fastkm.backends.exact.combine`).

The hot step takes one of two screens, chosen by ``n_features * n_clusters``:

* **fused** (``d <= 32`` and ``d*K <=`` :data:`FUSED_MAX_DK`): one kernel.
  Each block stages the centroids in shared memory; each thread takes points,
  keeps a point's features in registers, screens every centroid by direct
  differences in ``X``'s precision (best and runner-up), rechecks the point
  canonically when the runner-up is within
  :func:`~fastkm.backends.exact.direct_threshold` of the best, writes the
  label and the canonical distance, and adds the point to block-local exact
  sums in shared memory, which go to global memory once per block.
* **scores** (larger ``d*K``): rows in chunks of at most 256 MiB of scores
  (and a quarter of free device memory); per chunk one kernel centres the
  rows on the centroids' mean ``o`` (in ``X``'s precision, as the bound
  assumes), one cuBLAS GEMM gives ``x~ . c~``, and one kernel (a warp per
  row) screens with ``|c~|^2 - 2 x~.c~``, rechecks canonically every centre
  within :func:`~fastkm.backends.exact.gemm_threshold` of the best when there
  is more than one, and adds the row to its cluster's exact sums with global
  atomics.

The bound-based algorithms (Hamerly, Yinyang, Elkan:
:mod:`fastkm.backends.bounds`) take three kernels per step instead
(:meth:`CupyBackend._bounded_parts`), measuring only canonical distances; they
have been compiled, not yet run on a GPU, so ``algorithm="auto"`` keeps Lloyd
here (``fast_bounds`` is false).

One pass per iteration reads ``X`` once. The kernels are in
``cuda/kmeans.cu``, compiled by NVRTC through ``cupy.RawModule`` on first use
(cached by CuPy on disk afterwards). CuPy is imported only when this backend
is used, never by ``import fastkm``.

Two things CuPy decides for us: it compiles every kernel with ``-ftz=true``
(appended after the caller's options, so it cannot be overridden), which
would flush float32 subnormals; the kernels therefore do all float32
arithmetic, comparisons and conversions through instructions without
flush-to-zero (see ``cuda/kmeans.cu``; tests/test_cuda_compile.py checks the
PTX), so the bounds' underflow terms hold. And ``CUPY_TF32=1`` in the
environment makes cuBLAS round float32 products to TF32 (~1e-3 relative),
far beyond the GEMM screen's bound, so labels may then differ from the CPU
backends': the backend warns.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..validation import check_integer
from .base import InProcess, StepParts
from .bounds import BoundState, slack
from .exact import Scale, SumGrid, combine, direct_threshold, gemm_threshold

__all__ = ["CupyBackend", "KERNELS", "SOURCE", "describe", "unavailable_reason"]

logger = logging.getLogger("fastkm")

#: The CUDA source of every kernel.
SOURCE = Path(__file__).with_name("cuda") / "kmeans.cu"

#: Largest ``n_features * n_clusters`` for the fused kernel (above it: cuBLAS + argmin).
#: Not yet measured on a GPU (the GPU record issue tunes it).
FUSED_MAX_DK = int(os.environ.get("FASTKM_CUPY_FUSED_MAX_DK", "2048"))

#: Register tiles of the fused kernel: a point's features live in ``DMAX >= d`` registers.
_FUSED_DMAX = (4, 16, 32)
_BLOCK = 256  # threads per block (FASTKM_BLOCK in the source)
_MAX_CANDIDATES = 8  # FASTKM_MAX_CANDIDATES in the source
_MAX_FOLDS = 3  # FASTKM_MAX_FOLDS in the source: parts of an exact sum
_CHUNK_BYTES = 256 * 2**20  # GEMM output, centred rows and row norms of one cuBLAS chunk
_SHARED_LIMIT = 48 * 1024 - 1024  # dynamic shared memory without opting in, less the kernels' static arrays
_RADIUS_FACTOR = 1 + 2.0**-40  # R = sqrt(max |c~|^2) * this bounds every |c~| (as the other backends take it)
_TYPE_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

#: Every kernel instantiation, as NVRTC name expressions (also compiled by nvcc in the tests).
KERNELS = tuple(
    [f"fused_step<{t}, {dmax}>" for t in _TYPE_NAMES.values() for dmax in _FUSED_DMAX]
    + [
        f"{kernel}<{t}>"
        for kernel in (
            "centre_rows", "scores_argmin_step", "seeding_potentials", "seeding_update", "labelled_sq_dist",
            "pairwise_sq_dist", "bounded_filter", "bounded_measure", "bounded_accumulate",
        )
        for t in _TYPE_NAMES.values()
    ]
)


def unavailable_reason() -> str | None:
    """Why this backend cannot run here (``None`` when it can)."""
    try:
        import cupy
    except ImportError:
        return "cupy is not installed: pip install 'fastkm[cuda12]' (CUDA 12.x driver) or 'fastkm[cuda13]' (CUDA 13.x)"
    except Exception as exc:  # a broken CUDA install fails in many ways at import time
        return f"cupy could not be imported ({type(exc).__name__}: {exc}); check the CUDA installation"
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        return f"no usable CUDA device ({exc}); the CPU backends (numba, numpy) run instead"
    if n_devices == 0:
        return "no CUDA device found; the CPU backends (numba, numpy) run instead"
    try:
        cupy.cuda.nvrtc.getVersion()
    except Exception as exc:  # the kernels are compiled at run time: NVRTC must load
        return (
            f"CUDA's run-time compiler NVRTC cannot be loaded ({exc}); install the CUDA toolkit or "
            "pip install 'cupy-cuda13x[ctk]' / 'cupy-cuda12x[ctk]'"
        )
    return None


def describe() -> str:
    """One line on the GPU this backend runs on."""
    import cupy

    try:
        return _describe(cupy)
    except Exception as exc:  # a busy or exclusive device: still usable later, say so
        return f"CuPy {cupy.__version__}, device details unavailable ({type(exc).__name__}: {exc})"


def _describe(cupy) -> str:
    device = cupy.cuda.Device()
    properties = cupy.cuda.runtime.getDeviceProperties(device.id)
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    free, total = device.mem_info
    runtime = cupy.cuda.runtime.runtimeGetVersion()
    return (
        f"{name} (device {device.id}, compute capability {device.compute_capability}, "
        f"{total / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free), CuPy {cupy.__version__}, "
        f"CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}"
    )


@functools.lru_cache(maxsize=None)
def _module(device_id: int):
    """The compiled kernels for one device (NVRTC compiles once; CuPy caches the binary on disk)."""
    import cupy

    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(code=SOURCE.read_text(), options=("--std=c++14",), name_expressions=KERNELS)
    logger.debug("CUDA kernels loaded for device %d", device_id)
    return module


@functools.lru_cache(maxsize=None)
def _function(device_id: int, name: str):
    """One kernel (a name expression of :data:`KERNELS`), looked up once."""
    return _module(device_id).get_function(name)


class CupyBackend(InProcess):
    """CuPy implementation of the backend contract (one NVIDIA GPU).

    Parameters
    ----------
    device : int, optional
        CUDA device to run on; default: CuPy's current device.
    strategy : {"auto", "fused", "gemm"}
        ``"auto"`` picks the fused kernel for small ``d*K`` (see
        :meth:`uses_fused`); ``"fused"`` takes it whenever the shape allows
        (``d <= 32`` and the centroids fit in shared memory); ``"gemm"`` always
        takes cuBLAS + argmin.
    chunk_rows : int, optional
        Rows per cuBLAS chunk on the GEMM path; default: as many as fit in
        256 MiB of scores (less on a device with under 1 GiB free).

    Examples
    --------
    On a machine with a GPU (not run by the doctests, which have none)::

        import cupy
        backend = CupyBackend()
        X = cupy.asarray([[0.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
        labels, sq_dist = backend.assign(X, cupy.asarray([[0.0, 0.5], [10.0, 10.0]]))
        labels.tolist(), sq_dist.tolist()  # ([0, 0, 1], [0.25, 0.25, 0.0])
    """

    name = "cupy"
    # Hamerly, Yinyang and Elkan run here (:meth:`_bounded_parts`); "auto" keeps Lloyd on the GPU
    # until they are measured there (not yet: no GPU has run them)
    supports_bounds = True

    def __init__(self, device: int | None = None, strategy: str = "auto", chunk_rows: int | None = None):
        import cupy

        if strategy not in ("auto", "fused", "gemm"):
            raise ValueError(f"strategy must be 'auto', 'fused' or 'gemm', got {strategy!r}")
        self.strategy = strategy
        self.chunk_rows = None if chunk_rows is None else check_integer(chunk_rows, "chunk_rows", minimum=1)
        if device is not None:
            device = check_integer(device, "device", minimum=0)
        n_devices = cupy.cuda.runtime.getDeviceCount()
        if device is not None and device >= n_devices:
            raise ValueError(f"device={device} does not exist: this machine has {n_devices} CUDA device(s)")
        self.device = cupy.cuda.Device().id if device is None else int(device)
        self._cupy = cupy
        self._sms = cupy.cuda.runtime.getDeviceProperties(self.device)["multiProcessorCount"]
        if os.environ.get("CUPY_TF32") == "1":
            logger.warning(
                "CUPY_TF32=1: cuBLAS rounds float32 products to TF32 on the GEMM path, beyond the bound the "
                "certified argmin relies on, so labels may differ from the CPU backends'; unset it for exact agreement"
            )
        self._rechecked: tuple[Any, int] | None = None  # (device counter, rows) of the last assign call

    def __repr__(self) -> str:
        return f"CupyBackend(device={self.device}, strategy={self.strategy!r}, chunk_rows={self.chunk_rows!r})"

    @property
    def xp(self):
        return self._cupy

    @property
    def last_recheck_share(self) -> float:
        """Share of the points the last assign call measured canonically (reading it waits for the device)."""
        if self._rechecked is None:
            return 0.0
        counter, n_samples = self._rechecked
        return float(counter.get()) / max(n_samples, 1)

    # -- arrays -------------------------------------------------------------------
    def asarray(self, array: Any, dtype: Any = None):
        cp = self._cupy
        with cp.cuda.Device(self.device):
            return cp.ascontiguousarray(cp.asarray(array, dtype=dtype))

    def to_numpy(self, array: Any) -> np.ndarray:
        return self._cupy.asnumpy(array)

    # -- the primitives -------------------------------------------------------------
    def assign(self, X, centroids):
        cp = self._cupy
        with cp.cuda.Device(self.device):
            labels = cp.full(X.shape[0], -1, dtype=np.int32)
            sq_dist = cp.empty(X.shape[0], dtype=np.float64)
            self._step(X, centroids, None, labels, sq_dist, None)
        return labels, sq_dist

    def accumulate_parts(self, X, centroids, sample_weight, labels=None, scale: Scale | None = None, bounds=None) -> StepParts:
        cp = self._cupy
        with cp.cuda.Device(self.device):
            if labels is None:
                labels = cp.full(X.shape[0], -1, dtype=np.int32)
            elif not (isinstance(labels, cp.ndarray) and labels.dtype == np.int32 and labels.flags.c_contiguous):
                raise TypeError("labels must be a C-contiguous int32 CuPy array (the buffer is written in place)")
            scale = scale or Scale.of(X, sample_weight, centroids)  # (the driver's: no wait for the device)
            if bounds is not None:
                return self._bounded_parts(X, centroids, sample_weight, labels, scale, bounds)
            sums, counts, inertia, counters = self._step(X, centroids, sample_weight, labels, None, scale)
            # every part is on an exact-sum grid: the device's atomics left them exact
            return StepParts(labels, sums, counts, inertia, counters[0].astype(np.int64).reshape(()))

    def labelled_sq_distances(self, X, centroids, labels):
        cp = self._cupy
        with cp.cuda.Device(self.device):
            out = cp.empty(X.shape[0], dtype=np.float64)
            centroids = cp.ascontiguousarray(centroids, dtype=X.dtype)
            self._launch("labelled_sq_dist", X, (X, centroids, cp.ascontiguousarray(labels, dtype=np.int32),
                                                 np.int64(X.shape[0]), np.int32(X.shape[1]), out), X.shape[0])  # fmt: skip
        return out

    def pairwise_sq_distances(self, X, Y):
        cp = self._cupy
        with cp.cuda.Device(self.device):
            Y = cp.ascontiguousarray(Y, dtype=X.dtype)
            out = cp.empty((X.shape[0], Y.shape[0]), dtype=np.float64)
            args = (X, Y, np.int64(X.shape[0]), np.int32(Y.shape[0]), np.int32(X.shape[1]), out)
            self._launch("pairwise_sq_dist", X, args, X.shape[0] * Y.shape[0])
        return out

    def seeding_step(
        self, X, candidates, closest_sq_dist, sample_weight, scale: Scale | None = None, bounds: Any = None
    ) -> tuple[int, float]:
        cp = self._cupy
        with cp.cuda.Device(self.device):
            candidates = cp.ascontiguousarray(candidates, dtype=X.dtype)
            n_samples, n_features = X.shape
            grid = (scale or Scale.of(X, sample_weight)).inertia_grid()
            weight, weighted = self._weight(sample_weight, X.dtype)
            # (the kernels read and write closest as float64, the contract's type; another array is worked
            # on in a copy, written back)
            in_place = closest_sq_dist.dtype == np.float64 and closest_sq_dist.flags.c_contiguous
            closest = closest_sq_dist if in_place else cp.ascontiguousarray(closest_sq_dist, dtype=np.float64)
            magic, folds = self._magic(grid)
            potentials = cp.zeros((folds, len(candidates)), dtype=np.float64)  # the parts of exact sums
            for first in range(0, len(candidates), _MAX_CANDIDATES):
                group = candidates[first : first + _MAX_CANDIDATES]
                args = (X, group, closest, weight, np.int64(n_samples), np.int32(n_features), np.int32(len(group)),
                        np.int32(weighted), magic, np.int32(folds), potentials, np.int32(len(candidates)),
                        np.int32(first))  # fmt: skip
                self._launch("seeding_potentials", X, args, n_samples)
            totals = combine(cp.asnumpy(potentials))
            best = int(np.argmin(totals))
            args = (X, candidates[best], np.int64(n_samples), np.int32(n_features), closest)
            self._launch("seeding_update", X, args, n_samples)
            if closest is not closest_sq_dist:
                closest_sq_dist[...] = closest
        return best, float(totals[best])

    # -- helpers ----------------------------------------------------------------------
    def uses_fused(self, n_features: int, n_clusters: int, itemsize: int = 4) -> bool:
        """Whether a problem of this shape takes the fused kernel (else cuBLAS + argmin)."""
        # (shared memory for the most parts an exact sum may have: the path depends on the shape alone)
        shared = _fused_shared_bytes(n_features, n_clusters, itemsize, _MAX_FOLDS, _MAX_FOLDS)
        possible = n_features <= _FUSED_DMAX[-1] and shared <= _SHARED_LIMIT
        if self.strategy != "auto":
            return possible and self.strategy == "fused"
        return possible and n_features * n_clusters <= FUSED_MAX_DK

    def _weight(self, sample_weight, dtype):
        if sample_weight is None:
            return self._cupy.empty(0, dtype=dtype), 0
        return self._cupy.ascontiguousarray(sample_weight, dtype=dtype), 1

    def _magic(self, *grids: SumGrid) -> tuple:
        """``(the grids' magic numbers packed in one device array, then each grid's number of folds)``.

        The kernels' layout: ``[sums' (folds, n_features) | counts' | inertia's]``
        (:attr:`~fastkm.backends.exact.SumGrid.magic`); a seeding step passes
        the inertia grid alone.
        """
        folds = [len(grid.magic) for grid in grids]
        if max(folds, default=0) > _MAX_FOLDS:
            raise ValueError(f"exact sums of up to {_MAX_FOLDS} parts are compiled in, not {max(folds)}")
        packed = np.concatenate([np.ravel(grid.magic) for grid in grids]).astype(np.float64)
        return (self._cupy.asarray(packed), *folds)

    def _launch(self, kernel: str, X, args: tuple, n_items: int, *, shared_mem: int = 0, suffix: str = "") -> None:
        function = _function(self.device, f"{kernel}<{_TYPE_NAMES[X.dtype]}{suffix}>")
        blocks = max(1, min(math.ceil(n_items / _BLOCK), 8 * self._sms))
        function((blocks,), (_BLOCK,), args, shared_mem=shared_mem)

    def _step(self, X, centroids, sample_weight, labels, sq_dist, scale: Scale | None):
        """Run the hot step: accumulate on ``scale``'s grids, or (no scale) write ``sq_dist``.

        Returns ``(sums, counts, inertia, counters)`` device arrays: the first
        three with a leading axis of their exact-sum parts (none without
        ``scale``), ``counters`` = (changed labels, points rechecked canonically).
        """
        cp = self._cupy
        n_samples, n_features = X.shape
        n_clusters = centroids.shape[0]
        accumulate = scale is not None
        centroids = cp.ascontiguousarray(centroids, dtype=X.dtype)
        weight, weighted = self._weight(sample_weight, X.dtype)
        magic, *folds = self._magic(*scale.grids()) if accumulate else (cp.empty(0), 0, 0, 0)
        sums = cp.zeros((folds[0], n_clusters, n_features), dtype=np.float64)
        counts = cp.zeros((folds[1], n_clusters), dtype=np.float64)
        inertia = cp.zeros(folds[2], dtype=np.float64)
        counters = cp.zeros(2, dtype=np.uint64)
        self._rechecked = (counters[1], n_samples)
        write_sq_dist = sq_dist is not None
        if sq_dist is None:
            sq_dist = cp.empty(0, dtype=np.float64)
        # arguments both hot kernels take: the flags, the grids (sums', counts', inertia's), the outputs
        flags = (np.int32(weighted), np.int32(accumulate))
        grids = (magic, *map(np.int32, folds))
        outputs = (labels, sq_dist, np.int32(write_sq_dist), sums, counts, inertia, counters)
        if self.uses_fused(n_features, n_clusters, X.itemsize):
            dmax = next(size for size in _FUSED_DMAX if size >= n_features)
            shared = _fused_shared_bytes(n_features, n_clusters, X.itemsize, *folds[:2])
            args = (X, centroids, weight, np.int64(n_samples), np.int32(n_features), np.int32(n_clusters), *flags,
                    *map(np.float64, direct_threshold(X.dtype, n_features)), *grids, *outputs)  # fmt: skip
            self._launch("fused_step", X, args, n_samples, shared_mem=shared, suffix=f", {dmax}")
        else:
            self._gemm_step(X, centroids, weight, flags, grids, outputs)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("cupy: %d of %d points rechecked canonically", int(counters[1].get()), n_samples)
        return sums, counts, inertia, counters

    def _gemm_step(self, X, centroids, weight, flags: tuple, grids: tuple, outputs: tuple) -> None:
        """The scores path: per chunk, centre the rows, one cuBLAS GEMM, then the argmin kernel."""
        cp = self._cupy
        n_samples, n_features = X.shape
        n_clusters = centroids.shape[0]
        # The screen of exact.gemm_threshold: origin o in X's type, c~ = fl(c - o), x~ = fl(x - o) (both
        # centred by our kernel: CuPy's own float32 arithmetic flushes subnormals), the bias |c~|^2 and the
        # squared row norms |x~|^2 in float64 from those values, R >= max |c~|.
        origin = centroids.mean(axis=0, dtype=np.float64).astype(X.dtype)
        operand = cp.empty((n_features, n_clusters), dtype=X.dtype)  # c~ transposed: the GEMM's right operand
        bias = cp.empty(n_clusters, dtype=np.float64)
        self._centre(centroids, origin, operand, bias, transposed=True)
        radius = cp.sqrt(bias.max()) * _RADIUS_FACTOR  # (0-d, stays on the device)
        rho, offset = map(np.float64, gemm_threshold(X.dtype, n_features))
        chunk = self._chunk_rows(n_samples, n_features, n_clusters, X.itemsize)
        gemm = cp.empty((chunk, n_clusters), dtype=X.dtype)
        centred = cp.empty((chunk, n_features), dtype=X.dtype)
        row_sq_norms = cp.empty(chunk, dtype=np.float64)
        labels, sq_dist, write_sq_dist, *totals = outputs
        weighted = bool(flags[0])
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            rows = stop - start
            self._centre(X[start:stop], origin, centred, row_sq_norms)
            cp.matmul(centred[:rows], operand, out=gemm[:rows])
            args = (gemm, bias, row_sq_norms, radius, X[start:stop], centroids,
                    weight[start:stop] if weighted else weight, np.int64(rows), np.int32(n_features),
                    np.int32(n_clusters), *flags, rho, offset, *grids, labels[start:stop],
                    sq_dist[start:stop] if write_sq_dist else sq_dist, write_sq_dist, *totals)  # fmt: skip
            self._launch("scores_argmin_step", X, args, rows * 32)

    def _bounded_parts(self, X, centroids, sample_weight, labels, scale: Scale, bounds: BoundState) -> StepParts:
        """:meth:`accumulate_parts` of a bound-based algorithm: the kernels ``bounded_filter``,
        ``bounded_measure`` and ``bounded_accumulate`` (``cuda/kmeans.cu``).

        The bounds (``bounds.lower``) and the clusters' exact-sum parts stay on
        the device between steps; only the points that moved change the sums
        (exact, so the same bits as summing every point). Every distance
        measured is canonical: no screen, so the labels are the canonical
        argmin by construction. Reads back four counters per step.
        """
        cp = self._cupy
        n_samples, n_features = X.shape
        n_clusters = len(centroids)
        centroids = cp.ascontiguousarray(centroids, dtype=X.dtype)
        labels, fresh, motion = bounds.begin_step(centroids, labels, scale, cp)
        order, group_start = bounds.group_order()
        weight, weighted = self._weight(sample_weight, X.dtype)
        magic, *folds = self._magic(*scale.grids())
        sums = cp.zeros((folds[0], n_clusters, n_features), dtype=np.float64)
        counts = cp.zeros((folds[1], n_clusters), dtype=np.float64)
        inertia = cp.zeros(folds[2], dtype=np.float64)
        counters = cp.zeros(4, dtype=np.uint64)  # changed, (unused), distances measured, points listed
        nearest = cp.empty(n_samples, dtype=np.int32)
        sq_dist = cp.empty(n_samples, dtype=np.float64)
        todo = cp.empty(n_samples, dtype=np.int64)
        shape = (np.int64(n_samples), np.int32(n_features))
        eps, is_fresh = np.float64(slack(n_features)), np.int32(fresh)
        self._launch("bounded_filter", X, (X, centroids, labels, *shape, np.int32(bounds.n_groups), bounds.lower,
                                           cp.asarray(motion.group_move), cp.asarray(motion.separation), is_fresh,
                                           eps, nearest, sq_dist, todo, counters), n_samples)  # fmt: skip
        self._launch("bounded_measure", X, (X, centroids, labels, *shape, np.int32(bounds.n_groups),
                                            cp.asarray(order), cp.asarray(group_start.astype(np.int32)),
                                            cp.asarray(bounds.group_of.astype(np.int32)), bounds.lower, is_fresh, eps,
                                            todo, counters, nearest, sq_dist), n_samples * 32)  # fmt: skip
        self._launch("bounded_accumulate", X, (X, weight, *shape, np.int32(n_clusters), np.int32(weighted), is_fresh,
                                               magic, *map(np.int32, folds), nearest, sq_dist, labels, sums, counts,
                                               inertia, counters), n_samples)  # fmt: skip
        changed, _, n_measured, n_listed = (int(value) for value in counters.get())
        # (the distances: those measured, and every point's own unless fresh)
        sums, counts = bounds.end_step(sums, counts, fresh, n_measured + (0 if fresh else n_samples), n_listed)
        return StepParts(labels, sums, counts, inertia, np.int64(changed))

    def _centre(self, rows, origin, out, sq_norms, *, transposed: bool = False) -> None:
        """``out = fl(rows - origin)`` in ``rows``' type (``out`` transposed: the GEMM operand), and ``sq_norms``."""
        n_rows, n_features = rows.shape
        strides = (1, n_rows) if transposed else (n_features, 1)
        args = (rows, origin, np.int64(n_rows), np.int32(n_features), *map(np.int64, strides), out, sq_norms)
        self._launch("centre_rows", rows, args, n_rows * 32)

    def _chunk_rows(self, n_samples: int, n_features: int, n_clusters: int, itemsize: int) -> int:
        """Rows per cuBLAS chunk: GEMM output, centred rows and row norms of at most
        :data:`_CHUNK_BYTES`, and of at most a quarter of the device's free memory.

        The chunking never changes a result (labels are the canonical argmin,
        sums exact); it is kept to the fixed cap on any device with a GiB
        free so that the same shape always runs the same GEMMs.
        """
        if self.chunk_rows is not None:
            return min(self.chunk_rows, n_samples)
        cp = self._cupy
        free = cp.cuda.Device(self.device).mem_info[0] + cp.get_default_memory_pool().free_bytes()
        per_row = (n_clusters + n_features) * itemsize + 8
        return int(max(1, min(n_samples, max(1024, min(_CHUNK_BYTES, free // 4) // per_row))))


def _fused_shared_bytes(n_features: int, n_clusters: int, itemsize: int, sums_folds: int, counts_folds: int) -> int:
    """Dynamic shared memory of the fused kernel: the centroids, and the parts of every sum and count."""
    kd = n_clusters * n_features
    return kd * itemsize + 8 * (sums_folds * kd + counts_folds * n_clusters)

BACKEND = CupyBackend

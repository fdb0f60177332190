"""The CuPy backend: CUDA kernels we own, data resident on the GPU.

The hot step takes one of two paths, chosen by ``n_features * n_clusters``:

* **fused** (``d <= 32`` and ``d*K <=`` :data:`FUSED_MAX_DK`): one kernel.
  Each block stages the centroids in shared memory; each thread takes points,
  keeps a point's features in registers, computes its distance to every
  centroid by direct differences, picks the nearest (ties: lowest index),
  writes the label, and adds the point to block-local float64 sums and counts
  in shared memory, which go to global memory once per block.
* **scores** (larger ``d*K``): rows in chunks of at most 256 MiB of scores
  (and a quarter of free device memory);
  per chunk one cuBLAS GEMM of the centred rows against ``-2 (c - o)`` (``o``
  the centroids' mean), then one kernel adds ``|c - o|^2`` (giving the
  distance less ``|x - o|^2``), finds each row's minimum (a warp per row),
  measures the winner's distance again directly in float64 and adds the row
  to its cluster's sums with float64 atomics.

Sums, counts and inertia are float64 (not compensated float32): float64
atomics are native on every GPU CuPy supports for this (compute capability
6.0+), and float64 keeps every backend's totals equal to within rounding, as
the agreement policy asks. One pass per iteration reads ``X`` once; the only
host synchronisation is the driver reading the inertia and changed-label
count. The kernels are in ``cuda/kmeans.cu``, compiled by NVRTC through
``cupy.RawModule`` on first use (cached by CuPy on disk afterwards).

CuPy is imported only when this backend is used, never by ``import fastkm``.

Two things CuPy decides for us: NVRTC compiles with ``-ftz=true``, so float32
squared differences below ~1e-38 flush to zero (data scaled that small tie
on the GPU where the CPU still separates them; rescale such data); and
``CUPY_TF32=1`` in the environment makes cuBLAS round float32 products to
TF32 (~1e-3 relative), beyond the agreement policy: the backend warns then.
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
from .base import StepResult

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
_MAX_CANDIDATES = 32  # FASTKM_MAX_CANDIDATES in the source
_CHUNK_BYTES = 256 * 2**20  # scores + centred rows of one cuBLAS chunk
_SHARED_LIMIT = 48 * 1024 - 1024  # dynamic shared memory without opting in, less the kernels' static arrays
_TYPE_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

#: Every kernel instantiation, as NVRTC name expressions (also compiled by nvcc in the tests).
KERNELS = tuple(
    [f"fused_step<{t}, {dmax}>" for t in _TYPE_NAMES.values() for dmax in _FUSED_DMAX]
    + [
        f"{kernel}<{t}>"
        for kernel in ("scores_argmin_step", "seeding_potentials", "seeding_update", "labelled_sq_dist", "pairwise_sq_dist")
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


class CupyBackend:
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
                "CUPY_TF32=1: cuBLAS rounds float32 products to TF32 on the GEMM path, so labels may differ "
                "from the CPU's beyond float32 near-ties; unset it, or use float64 data, for exact agreement"
            )

    def __repr__(self) -> str:
        return f"CupyBackend(device={self.device}, strategy={self.strategy!r}, chunk_rows={self.chunk_rows!r})"

    @property
    def xp(self):
        return self._cupy

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
            self._step(X, centroids, None, labels, sq_dist, accumulate=False)
        return labels, sq_dist

    def assign_accumulate(self, X, centroids, sample_weight, labels=None) -> StepResult:
        cp = self._cupy
        with cp.cuda.Device(self.device):
            if labels is None:
                labels = cp.full(X.shape[0], -1, dtype=np.int32)
            elif not (isinstance(labels, cp.ndarray) and labels.dtype == np.int32 and labels.flags.c_contiguous):
                raise TypeError("labels must be a C-contiguous int32 CuPy array (the buffer is written in place)")
            sums, counts, inertia, changed = self._step(X, centroids, sample_weight, labels, None, accumulate=True)
        return StepResult(labels, sums, counts, inertia.reshape(()), changed.astype(np.int64).reshape(()))

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

    def seeding_step(self, X, candidates, closest_sq_dist, sample_weight) -> tuple[int, float]:
        cp = self._cupy
        with cp.cuda.Device(self.device):
            candidates = cp.ascontiguousarray(candidates, dtype=X.dtype)
            n_samples, n_features = X.shape
            weight, weighted = self._weight(sample_weight, X.dtype)
            # (the kernels read closest as X's type; another dtype is worked on in a copy, written back)
            in_place = closest_sq_dist.dtype == X.dtype and closest_sq_dist.flags.c_contiguous
            closest = closest_sq_dist if in_place else cp.ascontiguousarray(closest_sq_dist, dtype=X.dtype)
            potentials = cp.zeros(len(candidates), dtype=np.float64)
            for first in range(0, len(candidates), _MAX_CANDIDATES):
                group = candidates[first : first + _MAX_CANDIDATES]
                args = (X, group, closest, weight, np.int64(n_samples), np.int32(n_features),
                        np.int32(len(group)), np.int32(weighted), potentials[first:])  # fmt: skip
                self._launch("seeding_potentials", X, args, n_samples)
            host = cp.asnumpy(potentials)
            best = int(np.argmin(host))
            args = (X, candidates[best], np.int64(n_samples), np.int32(n_features), closest)
            self._launch("seeding_update", X, args, n_samples)
            if closest is not closest_sq_dist:
                closest_sq_dist[...] = closest
        return best, float(host[best])

    # -- helpers ----------------------------------------------------------------------
    def uses_fused(self, n_features: int, n_clusters: int, itemsize: int = 4) -> bool:
        """Whether a problem of this shape takes the fused kernel (else cuBLAS + argmin)."""
        shared = n_clusters * n_features * itemsize + (n_clusters * n_features + n_clusters) * 8
        possible = n_features <= _FUSED_DMAX[-1] and shared <= _SHARED_LIMIT
        if self.strategy != "auto":
            return possible and self.strategy == "fused"
        return possible and n_features * n_clusters <= FUSED_MAX_DK

    def _weight(self, sample_weight, dtype):
        if sample_weight is None:
            return self._cupy.empty(0, dtype=dtype), 0
        return self._cupy.ascontiguousarray(sample_weight, dtype=dtype), 1

    def _launch(self, kernel: str, X, args: tuple, n_items: int, *, shared_mem: int = 0, suffix: str = "") -> None:
        function = _function(self.device, f"{kernel}<{_TYPE_NAMES[X.dtype]}{suffix}>")
        blocks = max(1, min(math.ceil(n_items / _BLOCK), 8 * self._sms))
        function((blocks,), (_BLOCK,), args, shared_mem=shared_mem)

    def _step(self, X, centroids, sample_weight, labels, sq_dist, *, accumulate: bool):
        """Run the hot step; return ``(sums, counts, inertia, changed)`` device arrays."""
        cp = self._cupy
        n_samples, n_features = X.shape
        n_clusters = centroids.shape[0]
        centroids = cp.ascontiguousarray(centroids, dtype=X.dtype)
        weight, weighted = self._weight(sample_weight, X.dtype)
        sums = cp.zeros((n_clusters if accumulate else 0, n_features), dtype=np.float64)
        counts = cp.zeros(n_clusters if accumulate else 0, dtype=np.float64)
        inertia = cp.zeros(1, dtype=np.float64)
        changed = cp.zeros(1, dtype=np.uint64)
        write_sq_dist = sq_dist is not None
        if sq_dist is None:
            sq_dist = cp.empty(0, dtype=np.float64)
        tail = (np.int32(weighted), np.int32(accumulate))
        outputs = (labels, sq_dist, np.int32(write_sq_dist), sums, counts, inertia, changed)
        if self.uses_fused(n_features, n_clusters, X.itemsize):
            dmax = next(size for size in _FUSED_DMAX if size >= n_features)
            shared = n_clusters * n_features * X.itemsize + (8 * (n_clusters * n_features + n_clusters) if accumulate else 0)
            args = (X, centroids, weight, np.int64(n_samples), np.int32(n_features), np.int32(n_clusters),
                    *tail, *outputs)  # fmt: skip
            self._launch("fused_step", X, args, n_samples, shared_mem=shared, suffix=f", {dmax}")
            return sums, counts, inertia, changed
        # cuBLAS on centred rows, chunk by chunk; then argmin + accumulate per chunk
        origin = centroids.mean(axis=0, dtype=np.float64)
        moved = centroids.astype(np.float64) - origin
        operand = cp.ascontiguousarray((-2.0 * moved.T).astype(X.dtype))
        bias = (moved * moved).sum(axis=1).astype(X.dtype)
        origin = origin.astype(X.dtype)
        chunk = self._chunk_rows(n_samples, n_features, n_clusters, X.itemsize)
        scores = cp.empty((chunk, n_clusters), dtype=X.dtype)
        centred = cp.empty((chunk, n_features), dtype=X.dtype)
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            rows = stop - start
            cp.subtract(X[start:stop], origin, out=centred[:rows])
            cp.matmul(centred[:rows], operand, out=scores[:rows])
            chunk_outputs = (labels[start:stop], sq_dist[start:stop] if write_sq_dist else sq_dist, *outputs[2:])
            args = (scores, bias, X[start:stop], centroids, weight[start:stop] if weighted else weight, np.int64(rows),
                    np.int32(n_features), np.int32(n_clusters), *tail, *chunk_outputs)  # fmt: skip
            self._launch("scores_argmin_step", X, args, rows * 32)
        return sums, counts, inertia, changed

    def _chunk_rows(self, n_samples: int, n_features: int, n_clusters: int, itemsize: int) -> int:
        """Rows per cuBLAS chunk: scores and centred rows of at most :data:`_CHUNK_BYTES`, and of at
        most a quarter of the device's free memory.

        The fixed cap, not free memory, decides on any device with a GiB
        free, so the same shape gives the same chunks -- and ``assign`` and
        ``assign_accumulate`` (predict and fit) the same GEMMs and the same
        labels even at near-ties -- except on a nearly full device.
        """
        if self.chunk_rows is not None:
            return min(self.chunk_rows, n_samples)
        cp = self._cupy
        free = cp.cuda.Device(self.device).mem_info[0] + cp.get_default_memory_pool().free_bytes()
        per_row = (n_clusters + n_features) * itemsize
        return int(max(1, min(n_samples, max(1024, min(_CHUNK_BYTES, free // 4) // per_row))))


BACKEND = CupyBackend

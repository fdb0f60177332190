"""Benchmark harness: fastkm's backends against scikit-learn and FAISS, in one run.

Every benchmark is named by the grid points of the design:

| point | N         | d   | K    |
|-------|-----------|-----|------|
| A     | 2,000,000 | 2   | 8    |
| B     | 1,000,000 | 16  | 64   |
| C     | 500,000   | 64  | 256  |
| D     | 100,000   | 256 | 1024 |

(The GPU grid is the same with N x 10.) Per-iteration time means: fixed
initial centroids, ``tol=0``, float32, after warm-up, and the fixed costs of
a fit (validation, the final assignment) taken out by timing ``n`` and ``1``
iterations and dividing the difference by ``n - 1``. Machines are noisy, so
peers are measured in the same run and reported as ratios, next to the floor
measured in that run too: ``max(2 N K d / GEMM rate, bytes of X / read rate)``.

The harness is a library (``run_record``, ``run_grid``, ``full_fit``,
``peak_rss``, ``strategy_sweep``) behind one command: ``fastkm bench``, which
``python -m fastkm.bench`` also runs (the same options, the same names) and
the scripts in ``benchmarks/`` call. The command prints a short summary of
the machine and the table; the whole record (machine, floors, rows) goes to
the file given by ``--json``.

>>> GRID["B"]
GridPoint(name='B', n_samples=1000000, n_features=16, n_clusters=64)
>>> X, centroids = grid_data(GRID["A"], scale=1e-4)
>>> X.shape, centroids.shape, X.dtype
((200, 2), (8, 2), dtype('float32'))
>>> format_duration(0.0471), format_duration(8.4), format_ratio(683.29)
('47.1 µs', '8.40 ms', '683')
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "GRID",
    "GridPoint",
    "cpu_model",
    "format_duration",
    "format_ratio",
    "full_fit",
    "grid_data",
    "grid_figure",
    "machine_info",
    "machine_summary",
    "measure_floors",
    "parse_names",
    "parse_points",
    "peak_rss",
    "plot_grid",
    "run_grid",
    "run_record",
    "strategy_sweep",
]

logger = logging.getLogger("fastkm")


@dataclass(frozen=True)
class GridPoint:
    name: str
    n_samples: int
    n_features: int
    n_clusters: int


GRID = {
    point.name: point
    for point in (
        GridPoint("A", 2_000_000, 2, 8),
        GridPoint("B", 1_000_000, 16, 64),
        GridPoint("C", 500_000, 64, 256),
        GridPoint("D", 100_000, 256, 1024),
    )
}

FASTKM_BACKENDS = ("numpy", "numba")
PEERS = ("sklearn", "faiss")
#: On a GPU: fastkm's CuPy backend against two plain baselines, each a few lines
#: of the obvious code (GEMM + argmin + scatter-add) in PyTorch and in CuPy.
GPU_FASTKM = ("cupy",)
GPU_PEERS = ("torch", "cupy-plain")
#: The one vocabulary of ``--backends`` and ``--peers``, CPU and GPU alike.
BACKEND_NAMES = FASTKM_BACKENDS + GPU_FASTKM
PEER_NAMES = PEERS + GPU_PEERS


def parse_points(text: str) -> list[str]:
    """Grid points from ``"A,b, C"`` (upper-cased, blanks and repeats dropped).

    >>> parse_points("a, B,a")
    ['A', 'B']
    >>> parse_points("A,Z")
    Traceback (most recent call last):
    ...
    ValueError: --grid: unknown point(s) Z; choose from A, B, C, D
    """
    points = list(dict.fromkeys(point.strip().upper() for point in text.split(",") if point.strip()))
    unknown = [point for point in points if point not in GRID]
    if unknown or not points:
        raise ValueError(f"--grid: unknown point(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(GRID)}")
    return points


def parse_names(text: str, valid: tuple[str, ...], option: str) -> list[str]:
    """Implementation names from ``"numba, numpy"`` (lower-cased, blanks and repeats dropped), checked.

    >>> parse_names("numba, NumPy,numba", BACKEND_NAMES, "--backends")
    ['numba', 'numpy']
    >>> parse_names("", PEER_NAMES, "--peers")
    []
    >>> parse_names("cuml", PEER_NAMES, "--peers")
    Traceback (most recent call last):
    ...
    ValueError: --peers: unknown implementation(s) cuml; choose from sklearn, faiss, torch, cupy-plain
    """
    names = list(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"{option}: unknown implementation(s) {', '.join(unknown)}; choose from {', '.join(valid)}")
    return names


# -- text output: figures with significant digits, aligned columns ---------------------
def _significant(value: float, digits: int = 3) -> str:
    """``value`` in fixed point with (at least) ``digits`` significant digits."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def format_duration(ms: float | None) -> str:
    """A duration given in milliseconds, in the unit (s, ms, µs, ns) that shows 3 significant digits.

    >>> [format_duration(ms) for ms in (1234.5, 0.9996, 0.7, 4.71e-5, 0.0)]
    ['1.23 s', '1.00 ms', '700 µs', '47.1 ns', '0 ns']
    """
    if ms is None or not math.isfinite(ms):
        return "n/a"
    seconds = float(f"{ms / 1e3:.3g}")
    scale, unit = next(((scale, unit) for scale, unit in _TIME_UNITS if abs(seconds) >= scale), _TIME_UNITS[-1])
    return f"{_significant(seconds / scale)} {unit}"


def format_ratio(value: float | None) -> str:
    """A ratio with 3 significant digits, thousands separated; ``-`` when there is none.

    >>> [format_ratio(x) for x in (683.29, 1.0, 0.1134, 12345.6, float("nan"), None)]
    ['683', '1.00', '0.113', '12,346', '-', '-']
    """
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 1e7 or 0 < abs(value) < 1e-3:
        return f"{value:.2e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return _significant(value)


#: Widest text ``format_duration`` and ``format_ratio`` give (bar a negative ratio over 10 million).
_FIGURE_WIDTH = 9


class _Table:
    """A text table of fixed-width columns two spaces apart; header and rows line up.

    ``columns`` are ``(title, width, align)`` with align ``<`` or ``>``; the
    width grows to the title's. The last column may have width 0: free text.
    """

    def __init__(self, *columns: tuple[str, int, str]):
        self.columns = [(title, max(width, len(title)), align) for title, width, align in columns]

    def line(self, *cells: str) -> str:
        cells = cells + ("",) * (len(self.columns) - len(cells))
        return "  ".join(f"{cell:{align}{width}}" for cell, (_, width, align) in zip(cells, self.columns)).rstrip()

    def header(self) -> str:
        return self.line(*(title for title, _, _ in self.columns))


def grid_table(points: list[str], implementations: list[str]) -> _Table:
    """The table :func:`run_grid` prints: wide enough for every point and implementation name."""
    return _Table(
        ("point", max(map(len, points), default=0), "<"),
        ("impl", max(map(len, [*implementations, "floor"])), "<"),
        ("time/iter", _FIGURE_WIDTH, ">"),
        ("x floor", _FIGURE_WIDTH, ">"),
        ("x best peer", _FIGURE_WIDTH, ">"),
        ("", 0, "<"),
    )


def grid_data(point: GridPoint, *, scale: float = 1.0, dtype: Any = np.float32, seed: int = 0):
    """Data and fixed initial centroids for a grid point, ``N`` scaled by ``scale``.

    The data are Gaussian blobs around ``n_clusters`` random centres (so Lloyd
    moves points between clusters, as on real data), made block by block in
    ``dtype`` (no float64 copy of the whole set); the initial centroids are the
    first ``n_clusters`` rows.
    """
    n_samples = max(point.n_clusters, int(round(point.n_samples * scale)))
    rng = np.random.default_rng(seed)
    centers = (rng.standard_normal((point.n_clusters, point.n_features)) * 4).astype(dtype)
    X = np.empty((n_samples, point.n_features), dtype=dtype)
    step = max(1, (1 << 22) // point.n_features)
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        X[start:stop] = centers[rng.integers(0, point.n_clusters, stop - start)]
        X[start:stop] += rng.standard_normal((stop - start, point.n_features), dtype=np.float32)
    return X, X[: point.n_clusters].copy()


# -- what the machine can do ------------------------------------------------------
def measure_floors(repeats: int = 7) -> dict[str, float]:
    """Measured SGEMM rate (GFLOP/s, 2048^3, all cores) and read bandwidth (GB/s, 256 MiB, all cores)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    a @ b
    gemm = min(_timed(lambda: a @ b) for _ in range(repeats))
    big = np.ones(64 * 2**20, dtype=np.float32)
    _parallel_sum(big)  # all cores read, as the kernels do (NumPy's sum reads on one)
    read = min(_timed(lambda: _parallel_sum(big)) for _ in range(repeats))
    return {"sgemm_gflops": 2 * 2048**3 / gemm / 1e9, "read_gbps": big.nbytes / read / 1e9}


def _parallel_sum(values: np.ndarray) -> float:
    global _parallel_sum_kernel
    if _parallel_sum_kernel is None:
        import numba

        @numba.njit(parallel=True, fastmath=True)
        def kernel(values):
            total = 0.0
            for i in numba.prange(values.shape[0]):
                total += values[i]
            return total

        _parallel_sum_kernel = kernel
    return _parallel_sum_kernel(values)


_parallel_sum_kernel = None


def floor_ms(point: GridPoint, floors: dict[str, float], n_samples: int | None = None) -> dict[str, float]:
    """The floor of one float32 iteration at a grid point: GEMM time, read time, their max."""
    n = n_samples or point.n_samples
    gemm = 2 * n * point.n_clusters * point.n_features / (floors["sgemm_gflops"] * 1e9)
    read = n * point.n_features * 4 / (floors["read_gbps"] * 1e9)
    return {"gemm_ms": gemm * 1e3, "read_ms": read * 1e3, "floor_ms": max(gemm, read) * 1e3}


def measure_gpu_floors(repeats: int = 7) -> dict[str, float]:
    """The GPU's measured rates: SGEMM (8192^3, FP32), TF32 GEMM (if PyTorch is there), copy bandwidth.

    ``read_gbps`` is the device-to-device copy rate counting bytes read plus
    bytes written: the rate at which a kernel streaming ``X`` can read it.
    """
    import cupy

    def timed(function) -> float:
        function()
        cupy.cuda.Device().synchronize()
        best = float("inf")
        for _ in range(repeats):
            start, stop = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            function()
            stop.record()
            stop.synchronize()
            best = min(best, cupy.cuda.get_elapsed_time(start, stop) / 1e3)
        return best

    a = cupy.random.standard_normal((8192, 8192), dtype=np.float32)
    b = cupy.random.standard_normal((8192, 8192), dtype=np.float32)
    floors = {"sgemm_gflops": 2 * 8192**3 / timed(lambda: a @ b) / 1e9}
    source = cupy.ones(2**28, dtype=np.float32)  # 1 GiB
    target = cupy.empty_like(source)
    floors["read_gbps"] = floors["copy_gbps"] = 2 * source.nbytes / timed(lambda: cupy.copyto(target, source)) / 1e9
    try:
        import torch

        ta, tb = torch.as_tensor(a, device="cuda"), torch.as_tensor(b, device="cuda")
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            floors["tf32_gflops"] = 2 * 8192**3 / timed(lambda: ta @ tb) / 1e9
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    except ImportError:
        pass
    return floors


def gpu_info() -> dict[str, Any]:
    """GPU name, memory, driver and library versions, for the record."""
    import cupy

    from .backends.cupy_backend import describe

    runtime = cupy.cuda.runtime
    info: dict[str, Any] = {"gpu": describe(), "driver": runtime.driverGetVersion(), "cuda_runtime": runtime.runtimeGetVersion()}
    info["versions"] = {"cupy": cupy.__version__}
    try:
        info["versions"]["torch"] = __import__("torch").__version__
    except ImportError:
        pass
    return info


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, threads and library versions, for the record."""
    import numba

    from . import __version__

    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {"fastkm": __version__, "numpy": np.__version__, "numba": numba.__version__},
    }
    for module in ("sklearn", "faiss", "scipy", "threadpoolctl"):
        try:
            info["versions"][module] = __import__(module).__version__
        except ImportError:
            pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {key: lib.get(key) for key in ("internal_api", "version", "num_threads", "architecture")}
            for lib in threadpool_info()
        ]
    except ImportError:
        pass
    return info


def machine_summary(machine: dict[str, Any], floors: dict[str, float] | None = None) -> list[str]:
    """Two to four lines for people: CPU, cores and threads; BLAS and OpenMP pools; GPU; floors.

    >>> print("\\n".join(machine_summary({"cpu": "Xeon", "logical_cores": 2, "numba_threads": 2, "blas": [
    ...     {"internal_api": "openblas", "version": "0.3.30", "num_threads": 2},
    ...     {"internal_api": "openblas", "version": "0.3.15", "num_threads": 2},
    ...     {"internal_api": "openmp", "version": None, "num_threads": 2}]},
    ...     {"sgemm_gflops": 137.2, "read_gbps": 16.43})))
    machine  Xeon, 2 logical cores, 2 Numba threads
    BLAS     openblas 0.3.30, 0.3.15 (2 threads); openmp (2 threads)
    floors   SGEMM 137 GFLOP/s, read 16.4 GB/s
    """
    lines = [f"machine  {machine['cpu']}, {machine['logical_cores']} logical cores, {machine['numba_threads']} Numba threads"]
    pools: dict[str, tuple[list[str], list[Any]]] = {}
    for pool in machine.get("blas", []):
        versions, threads = pools.setdefault(str(pool.get("internal_api")), ([], []))
        for seen, value in ((versions, pool.get("version")), (threads, pool.get("num_threads"))):
            if value is not None and value not in seen:
                seen.append(value)
    if pools:
        lines.append("BLAS     " + "; ".join(
            " ".join([api, ", ".join(versions)]).strip() + f" ({'/'.join(map(str, threads)) or '?'} threads)"
            for api, (versions, threads) in pools.items()
        ))  # fmt: skip
    if "gpu" in machine:
        lines.append(f"GPU      {machine['gpu'].get('gpu', machine['gpu'])}")
    if floors:
        rates = [f"SGEMM {floors['sgemm_gflops']:,.0f} GFLOP/s"]
        if "tf32_gflops" in floors:
            rates.append(f"TF32 {floors['tf32_gflops']:,.0f} GFLOP/s")
        rates.append(f"read {_significant(floors['read_gbps'])} GB/s")
        lines.append("floors   " + ", ".join(rates))
    return lines


# -- per-iteration time ---------------------------------------------------------------
def _timed(function: Callable[[], Any]) -> float:
    return _timed_call(function)[0]


def _timed_call(function: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds taken, what it returned)``."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _fitter(name: str, X: np.ndarray, centroids: np.ndarray) -> Callable[[int], int]:
    """``fit(n_iter) -> passes over X made``, for one implementation, from fixed centroids, tol=0.

    Passes, not iterations: fastkm and scikit-learn end a run that hit
    ``max_iter`` (or stopped on the centroid shift) with one more assignment
    so the labels belong to the centroids, but not a run that stopped because
    no label changed. With ``tol=0`` a run that made fewer iterations than
    asked stopped that way.
    """
    n_clusters = len(centroids)
    passes = _passes
    if name in FASTKM_BACKENDS:
        from .backends import get_backend
        from .lloyd import kmeans

        backend = get_backend(name)

        def fit(n_iter: int) -> int:
            result = kmeans(X, n_clusters, init=centroids, tol=0.0, max_iter=n_iter, backend=backend, algorithm="lloyd")
            return passes(result.n_iter, n_iter)

        def recheck_shares(n_iter: int) -> list[float]:
            """Per iteration, the share of points the certified argmin measured canonically (an untimed fit)."""
            shares: list[float] = []
            collect = lambda state: shares.append(float(getattr(backend, "last_recheck_share", float("nan"))))  # noqa: E731
            kmeans(X, n_clusters, init=centroids, tol=0.0, max_iter=n_iter, backend=backend, algorithm="lloyd",
                   callback=collect)  # fmt: skip
            return shares

        fit.recheck_shares = recheck_shares  # type: ignore[attr-defined]
        return fit
    if name == "sklearn":
        from sklearn.cluster import KMeans

        def fit(n_iter: int) -> int:
            model = KMeans(n_clusters, init=centroids, n_init=1, max_iter=n_iter, tol=0.0, algorithm="lloyd")
            return passes(model.fit(X).n_iter_, n_iter)

        return fit
    if name == "faiss":
        import faiss

        def fit(n_iter: int) -> int:
            # FAISS subsamples to 256 points per centroid unless told otherwise.
            model = faiss.Kmeans(
                X.shape[1], n_clusters, niter=n_iter, max_points_per_centroid=len(X), min_points_per_centroid=1
            )
            model.train(X, init_centroids=centroids)
            # one assignment per iteration, nothing after; FAISS stops early once the
            # centroids stop moving, and its objective history says how many it made
            return len(model.obj) or n_iter

        return fit
    if name in GPU_FASTKM + GPU_PEERS:
        return _gpu_fitter(name, X, centroids, passes)
    raise ValueError(f"unknown implementation {name!r}; choose from {FASTKM_BACKENDS + PEERS + GPU_FASTKM + GPU_PEERS}")


def _gpu_fitter(name: str, X: np.ndarray, centroids: np.ndarray, passes) -> Callable[[int], int]:
    """A fitter whose data sits on the GPU before the clock starts; it returns after the GPU is done."""
    import cupy

    X_gpu, init = cupy.asarray(X), cupy.asarray(centroids)
    n_clusters = len(centroids)
    if name == "cupy":
        from .backends import get_backend
        from .lloyd import kmeans

        backend = get_backend("cupy")

        def fit(n_iter: int) -> int:
            result = kmeans(X_gpu, n_clusters, init=init, tol=0.0, max_iter=n_iter, backend=backend)
            cupy.cuda.Device().synchronize()
            return passes(result.n_iter, n_iter)

        return fit
    if name == "torch":
        import torch

        x = torch.as_tensor(X_gpu, device="cuda")
        x_norms = (x * x).sum(dim=1, keepdim=True)

        def fit(n_iter: int) -> int:
            c = torch.as_tensor(init, device="cuda").clone()
            for _ in range(n_iter):
                scores = x_norms - 2 * x @ c.T + (c * c).sum(dim=1)
                labels = scores.argmin(dim=1)
                sums = torch.zeros_like(c).index_add_(0, labels, x)
                counts = torch.bincount(labels, minlength=n_clusters).to(x.dtype)[:, None]
                c = torch.where(counts > 0, sums / counts.clamp(min=1), c)
            torch.cuda.synchronize()
            return n_iter

        return fit

    x_norms = (X_gpu * X_gpu).sum(axis=1, keepdims=True)

    def fit(n_iter: int) -> int:  # plain CuPy: matmul + argmin + bincount
        c = init.copy()
        for _ in range(n_iter):
            labels = (x_norms - 2 * X_gpu @ c.T + (c * c).sum(axis=1)).argmin(axis=1)
            counts = cupy.bincount(labels, minlength=n_clusters)[:, None]
            sums = cupy.stack([cupy.bincount(labels, X_gpu[:, j], minlength=n_clusters) for j in range(X.shape[1])], 1)
            c = cupy.where(counts > 0, sums / cupy.maximum(counts, 1), c).astype(X.dtype)
        cupy.cuda.Device().synchronize()
        return n_iter

    return fit


def per_iteration_ms(name: str, X: np.ndarray, centroids: np.ndarray, *, iterations: int = 11, repeats: int = 3) -> dict:
    """Per-iteration milliseconds of one implementation (fixed costs differenced away)."""
    import warnings

    fit = _fitter(name, X, centroids)
    with warnings.catch_warnings():
        # A few iterations from arbitrary centroids may leave clusters empty: fine here.
        warnings.simplefilter("ignore")
        timing = _per_iteration_ms(fit, iterations, repeats)
        if hasattr(fit, "recheck_shares"):
            timing["recheck_share"] = fit.recheck_shares(iterations)
    return timing


def _per_iteration_ms(fit: Callable[[int], int], iterations: int, repeats: int) -> dict:
    """(fastest fit of n iterations - fastest fit of 1) / (passes over X between them)."""
    fit(2)  # warm-up: JIT compilation, module loading, page faults
    one = many = float("inf")
    for _ in range(repeats):
        # the fastest of each, then the difference (a minimum of differences would be biased low)
        start = time.perf_counter()
        passes_one = fit(1)
        one = min(one, time.perf_counter() - start)
        start = time.perf_counter()
        passes_many = fit(iterations)
        many = min(many, time.perf_counter() - start)
    return {"ms": (many - one) / max(passes_many - passes_one, 1) * 1e3, "passes": passes_many}


def run_grid(
    points: list[str] | None = None,
    implementations: list[str] | None = None,
    *,
    scale: float = 1.0,
    iterations: int = 11,
    repeats: int = 3,
    floors: dict[str, float] | None = None,
    peers: tuple[str, ...] | list[str] = PEERS,
    echo: Callable[[str], Any] | None = None,
) -> list[dict]:
    """Per-iteration time of every implementation at every grid point, in one run, with ratios.

    ``peers`` are the implementations the "x best peer" column compares with
    (:data:`GPU_PEERS` for a GPU run, whose floors come from :func:`measure_gpu_floors`).
    The table goes to ``echo`` line by line as the times come in (default:
    the ``fastkm`` logger, at INFO).
    """
    echo = echo or logger.info
    floors = floors or measure_floors()
    points = points or list(GRID)
    implementations = implementations or [*FASTKM_BACKENDS, *peers]
    table = grid_table(points, implementations)
    rows = []
    echo(table.header())
    for name in points:
        point = GRID[name]
        X, centroids = grid_data(point, scale=scale)
        floor = floor_ms(point, floors, len(X))
        timings = {}
        skipped = {}
        for implementation in implementations:
            try:
                timings[implementation] = per_iteration_ms(
                    implementation, X, centroids, iterations=iterations, repeats=repeats
                )
            except ImportError as exc:
                skipped[implementation] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "cupy" in sys.modules:
            sys.modules["cupy"].get_default_memory_pool().free_all_blocks()  # this point's device copies
        peer_times = [timings[p]["ms"] for p in peers if p in timings]
        best_peer = min(peer_times) if peer_times else None
        echo(table.line(name, "floor", format_duration(floor["floor_ms"]), "", "",
                        f"GEMM {format_duration(floor['gemm_ms'])}, read {format_duration(floor['read_ms'])}"))  # fmt: skip
        for implementation in implementations:
            if implementation in skipped:
                echo(table.line(name, implementation, "-", "", "", f"skipped: {skipped[implementation]}"))
                continue
            timing = timings[implementation]
            ratio_floor = timing["ms"] / floor["floor_ms"]
            ratio_peer = best_peer / timing["ms"] if best_peer is not None and timing["ms"] else None
            shares = timing.get("recheck_share")
            note = _recheck_note(shares)
            echo(table.line(name, implementation, format_duration(timing["ms"]), format_ratio(ratio_floor),
                            format_ratio(ratio_peer), note))  # fmt: skip
            rows.append(
                {
                    "point": name, **asdict(point), "n_samples_run": len(X), "implementation": implementation,
                    "ms_per_iteration": timing["ms"], "passes": timing["passes"],
                    "floor": floor, "times_floor": ratio_floor, "speedup_vs_best_peer": ratio_peer,
                    "recheck_share_per_iteration": timing.get("recheck_share"),
                }
            )  # fmt: skip
    return rows


def _recheck_note(shares: list[float] | None) -> str:
    """How many points the certified argmin had to measure canonically, at worst, in words.

    >>> _recheck_note([0.0, 0.0]), _recheck_note([0.0002, 0.0071]), _recheck_note(None)
    ('rechecked: none', 'rechecked: at most 0.71% of points per iteration', '')
    """
    if not shares:
        return ""
    worst = max(shares)
    return "rechecked: none" if worst == 0 else f"rechecked: at most {100 * worst:.2g}% of points per iteration"


def grid_figure(rows: list[dict]):
    """Bar chart of :func:`run_grid`'s rows: time per iteration by point and implementation, floor marked.

    Returns the ``matplotlib.figure.Figure`` (made without pyplot: nothing to
    close); ``figure.savefig(path)`` writes it, ``figure.axes[0]`` is the chart.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    points = list(dict.fromkeys(row["point"] for row in rows))
    implementations = list(dict.fromkeys(row["implementation"] for row in rows))
    group = 0.8  # width of each point's group of bars
    width = group / max(len(implementations), 1)
    figure = Figure(figsize=(3.4 + 1.6 * len(points), 4.5), layout="constrained")
    ax = figure.add_subplot()
    where = np.arange(len(points))
    for j, implementation in enumerate(implementations):
        times = [next((r["ms_per_iteration"] for r in rows if r["point"] == p and r["implementation"] == implementation),
                      np.nan) for p in points]  # fmt: skip
        ax.bar(where + (j - (len(implementations) - 1) / 2) * width, times, width, label=implementation)
    floors = [next(r["floor"]["floor_ms"] for r in rows if r["point"] == p) for p in points]
    floor_style = {"color": "black", "linewidth": 2}
    ax.hlines(floors, where - group / 2, where + group / 2, zorder=3, **floor_style)  # over each group of bars
    ax.set_yscale("log")
    ax.set_xticks(where, [f"{p}\n" + "N={n_samples_run:,} d={n_features} K={n_clusters}".format(
        **next(r for r in rows if r["point"] == p)) for p in points], fontsize=8)  # fmt: skip
    ax.set_ylabel("ms per Lloyd iteration (log)")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], **floor_style))
    labels.append("floor")
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)
    return figure


def plot_grid(rows: list[dict], path: str | Path) -> None:
    """Draw :func:`grid_figure` into a PNG at ``path``."""
    grid_figure(rows).savefig(path, dpi=90)


def run_record(
    points: list[str] | None = None,
    backends: list[str] | None = None,
    peers: list[str] | None = None,
    *,
    gpu: bool = False,
    scale: float | None = None,
    iterations: int = 11,
    repeats: int = 3,
    fits: bool = False,
    rss: bool = False,
    sweep: bool = False,
    echo: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """One benchmark run: the record ``fastkm bench`` prints and writes with ``--json``.

    Machine, floors and grid rows always (``machine``, ``floors``, ``grid``,
    with the settings in ``run``); default fits against scikit-learn
    (``fits``), peak RSS (``rss``) and the Numba strategy sweep (``sweep``) on
    request. A GPU run (``gpu``) measures its floors on the device, and its
    defaults are fastkm-cupy against the PyTorch and CuPy baselines at N x 10.
    What ``echo`` gets (default: the ``fastkm`` logger) is for people: a short
    summary of the machine, then the tables.
    """
    echo = echo or logger.info
    backends = list(GPU_FASTKM if gpu else FASTKM_BACKENDS) if backends is None else list(backends)
    peers = list(GPU_PEERS if gpu else PEERS) if peers is None else list(peers)
    scale = (10.0 if gpu else 1.0) if scale is None else scale
    points = points or list(GRID)
    if not backends + peers:
        raise ValueError("nothing to time: give --backends and/or --peers")
    record: dict[str, Any] = {"machine": machine_info()}
    if gpu:
        record["machine"]["gpu"] = gpu_info()
    record["run"] = {"grid": points, "backends": backends, "peers": peers, "gpu": gpu, "scale": scale,
                     "iterations": iterations, "repeats": repeats}  # fmt: skip
    record["floors"] = measure_gpu_floors() if gpu else measure_floors()
    for line in machine_summary(record["machine"], record["floors"]):
        echo(line)
    echo("")
    record["grid"] = run_grid(points, backends + peers, scale=scale, iterations=iterations, repeats=repeats,
                              floors=record["floors"], peers=peers, echo=echo)  # fmt: skip
    if fits:
        echo("")
        shapes = [(p.n_samples, p.n_features, p.n_clusters) for p in (GRID["B"], GRID["C"], GRID["D"])]
        record["full_fit"] = full_fit(shapes, seeds=(0, 1, 2), echo=echo)
    if rss:
        echo("")
        record["peak_rss"] = result = peak_rss()
        echo(f"peak RSS of a fit (N={result['n_samples']:,}, d={result['n_features']}, K={result['n_clusters']}, "
             f"{result['backend']}): {result['fit_overhead_mib']:,.0f} MiB beyond the data "
             f"({result['data_mib']:,.0f} MiB) and code")  # fmt: skip
    if sweep:
        echo("")
        record["strategy_sweep"] = strategy_sweep(echo=echo)
    return record


# -- whole default fits, memory, strategy threshold -----------------------------------------
def full_fit(
    shapes: list[tuple[int, int, int]], *, seeds: tuple[int, ...] = (0, 1, 2), echo: Callable[[str], Any] | None = None
) -> list[dict]:
    """Default fits (k-means++, tol=1e-4, max_iter=300) of fastkm and scikit-learn on the same data, paired.

    A default fit is its seeding and then its iterations. Each library seeds
    itself (timed); then both iterate from the *same* start -- fastkm's
    seeding on even seeds, scikit-learn's on odd ones -- so the two make the
    same number of iterations and a lucky or unlucky start is no one's
    advantage (the seedings are equally good in distribution; the iteration
    count of a blob data set swings several-fold with the start). A library's
    fit is its own seeding plus its iterations from the shared start; the
    medians over ``seeds`` are reported. The table goes to ``echo`` (default:
    the ``fastkm`` logger).
    """
    from sklearn.cluster import KMeans, kmeans_plusplus

    from .init import kmeans_plusplus as fastkm_plusplus
    from .lloyd import kmeans

    echo = echo or logger.info
    rows = []
    table = _Table(("N", 10, ">"), ("d", 3, ">"), ("K", 4, ">"), ("impl", 7, "<"), ("fit", _FIGURE_WIDTH, ">"),
                   ("seeding", _FIGURE_WIDTH, ">"), ("time/iter", _FIGURE_WIDTH, ">"), ("n_iter", 0, ">"))  # fmt: skip
    echo(f"default fits (own seeding, then iterations from a shared start), medians over {len(seeds)} seeds")
    echo(table.header())
    for n_samples, n_features, n_clusters in shapes:
        X, _ = grid_data(GridPoint("fit", n_samples, n_features, n_clusters))
        kmeans(X[:5000], n_clusters, random_state=0)  # JIT warm-up
        runs: dict[str, list[tuple[float, float, int]]] = {"fastkm": [], "sklearn": []}
        for seed in seeds:
            seeded = {"fastkm": _timed_call(lambda: fastkm_plusplus(X, n_clusters, random_state=seed)[0]),
                      "sklearn": _timed_call(lambda: kmeans_plusplus(X, n_clusters, random_state=seed)[0])}  # fmt: skip
            shared = seeded["fastkm" if seed % 2 == 0 else "sklearn"][1]
            fitted = {"fastkm": _timed_call(lambda: kmeans(X, n_clusters, init=shared, n_init=1).n_iter),
                      "sklearn": _timed_call(lambda: KMeans(n_clusters, init=shared, n_init=1).fit(X).n_iter_)}  # fmt: skip
            for name, (seconds, n_iter) in fitted.items():
                runs[name].append((seconds, seeded[name][0], n_iter))
        row: dict[str, Any] = {"n_samples": n_samples, "n_features": n_features, "n_clusters": n_clusters}
        for implementation, values in runs.items():
            fit_s = float(np.median([iterations + seeding for iterations, seeding, _ in values]))
            seed_s = float(np.median([seeding for _, seeding, _ in values]))
            n_iter = float(np.median([n for _, _, n in values]))
            per_iteration = float(np.median([iterations / max(n, 1) for iterations, _, n in values])) * 1e3
            runs_out = [{"iterations_s": iterations, "seeding_s": seeding, "n_iter": n} for iterations, seeding, n in values]
            row[implementation] = {"runs": runs_out, "fit_s": fit_s, "seeding_s": seed_s, "ms_per_iteration": per_iteration, "n_iter": n_iter}
            echo(table.line(f"{n_samples:,}", str(n_features), str(n_clusters), implementation, format_duration(fit_s * 1e3),
                            format_duration(seed_s * 1e3), format_duration(per_iteration), f"{n_iter:.0f}"))  # fmt: skip
        row["speedup_fit"] = row["sklearn"]["fit_s"] / row["fastkm"]["fit_s"]
        row["speedup_seeding"] = row["sklearn"]["seeding_s"] / row["fastkm"]["seeding_s"]
        row["speedup_per_iteration"] = row["sklearn"]["ms_per_iteration"] / row["fastkm"]["ms_per_iteration"]
        echo(f"  fastkm vs scikit-learn: fit {format_ratio(row['speedup_fit'])}x, seeding "
             f"{format_ratio(row['speedup_seeding'])}x, per iteration {format_ratio(row['speedup_per_iteration'])}x")  # fmt: skip
        rows.append(row)
    return rows


# -- fits to convergence: the bound-based algorithms against Lloyd and the peers ------------
#: ``(data, N, d, K)``: the seed's uniform square board, and Gaussian blobs that overlap.
FIT_CASES = (("board", 2_000_000, 2, 64), ("blobs", 1_000_000, 16, 256), ("blobs", 500_000, 64, 256),
             ("blobs", 100_000, 256, 1024))  # fmt: skip
FIT_ALGORITHMS = ("auto", "lloyd")
FIT_PEERS = ("sklearn-lloyd", "sklearn-elkan", "faiss")


def fit_data(kind: str, n_samples: int, n_features: int, n_clusters: int, seed: int = 0) -> np.ndarray:
    """float32 data of a :data:`FIT_CASES` case: the uniform board, or overlapping Gaussian blobs."""
    from .datasets import gaussian_board, uniform_board

    if kind == "board":
        return uniform_board(n_samples, n_features, random_state=seed, dtype=np.float32)
    return gaussian_board(n_samples, n_clusters, n_features, random_state=seed, dtype=np.float32).X


def fit_record(
    cases: tuple = FIT_CASES,
    *,
    scale: float = 1.0,
    algorithms: tuple[str, ...] = FIT_ALGORITHMS,
    peers: tuple[str, ...] = FIT_PEERS,
    max_iter: int = 300,
    echo: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Fits to convergence (labels unchanged, ``tol=0``, at most ``max_iter``) from one shared seeding.

    For each case, k-means++ (fastkm's, seeded 0) is run once and every
    implementation starts from its centroids: fastkm with each of
    ``algorithms``, scikit-learn's ``lloyd`` and ``elkan``, and FAISS (told
    to make fastkm's iteration count: it has no convergence test). Reported:
    total time, iterations, the share of point-centre distances skipped,
    the bounds' memory, and the ratios to fastkm ``auto``, all from this one
    run, beside the floors measured in it.
    """
    from .init import kmeans_plusplus
    from .lloyd import kmeans

    echo = echo or logger.info
    record: dict[str, Any] = {"machine": machine_info(), "floors": measure_floors()}
    record["run"] = {"cases": [list(case) for case in cases], "scale": scale, "algorithms": list(algorithms),
                     "peers": list(peers), "max_iter": max_iter}  # fmt: skip
    for line in machine_summary(record["machine"], record["floors"]):
        echo(line)
    table = _Table(("data", 6, "<"), ("N", 10, ">"), ("d", 3, ">"), ("K", 4, ">"), ("impl", 22, "<"),
                   ("fit", _FIGURE_WIDTH, ">"), ("n_iter", 6, ">"), ("skipped", 8, ">"), ("bounds", 9, ">"),
                   ("floor/it", _FIGURE_WIDTH, ">"), ("auto is", 0, ">"))  # fmt: skip
    echo("")
    echo(f"fits to convergence (tol=0, max_iter={max_iter}) from one k-means++ seeding each; "
         "'auto is' = the row's time / auto's")  # fmt: skip
    echo(table.header())
    rows = []
    for kind, n_samples, n_features, n_clusters in cases:
        n = max(n_clusters, int(round(n_samples * scale)))
        X = fit_data(kind, n, n_features, n_clusters)
        kmeans(X[: 20 * n_clusters], n_clusters, init=X[:n_clusters], max_iter=3)  # JIT warm-up
        for algorithm in algorithms:  # (the bound-based kernels too)
            kmeans(X[: 20 * n_clusters], n_clusters, init=X[:n_clusters], max_iter=3, algorithm=algorithm)
        start = time.perf_counter()
        centroids, _ = kmeans_plusplus(X, n_clusters, random_state=0)
        seeding = time.perf_counter() - start
        floor = floor_ms(GridPoint(kind, n, n_features, n_clusters), record["floors"])["floor_ms"]
        row: dict[str, Any] = {"data": kind, "n_samples": n, "n_features": n_features, "n_clusters": n_clusters,
                               "seeding_s": seeding, "floor_ms_per_iteration": floor, "fits": {}}  # fmt: skip
        if any(peer.startswith("sklearn") for peer in peers):
            from sklearn.cluster import kmeans_plusplus as sklearn_plusplus

            start = time.perf_counter()
            sklearn_plusplus(X, n_clusters, random_state=0)
            row["sklearn_seeding_s"] = time.perf_counter() - start
        for algorithm in algorithms:
            start = time.perf_counter()
            result = kmeans(X, n_clusters, init=centroids, tol=0.0, max_iter=max_iter, algorithm=algorithm)
            row["fits"][f"fastkm-{algorithm}"] = {
                "seconds": time.perf_counter() - start, "n_iter": result.n_iter, "algorithm": result.algorithm,
                "skipped": 1.0 - result.distance_share, "bounds_bytes": result.bounds_nbytes,
            }  # fmt: skip
        n_iter = row["fits"][f"fastkm-{algorithms[0]}"]["n_iter"]
        for peer in peers:
            row["fits"][peer] = _peer_fit(peer, X, centroids, max_iter, n_iter)
        reference = row["fits"].get("fastkm-auto", row["fits"][f"fastkm-{algorithms[0]}"])["seconds"]
        for name, fit in row["fits"].items():
            fit["over_auto"] = fit["seconds"] / reference
            label = name if not name.startswith("fastkm-") or fit["algorithm"] == name[7:] else f"{name} ({fit['algorithm']})"
            skipped = "" if fit.get("skipped") is None else f"{100 * fit['skipped']:.0f}%"
            memory = "" if not fit.get("bounds_bytes") else f"{fit['bounds_bytes'] / 2**20:,.0f} MiB"
            echo(table.line(kind, f"{n:,}", str(n_features), str(n_clusters), label, format_duration(fit["seconds"] * 1e3),
                            str(fit["n_iter"]), skipped, memory, format_duration(floor), f"{format_ratio(fit['over_auto'])}x"))  # fmt: skip
        rows.append(row)
    record["fits"] = rows
    echo("")
    echo("k-means++ seeding (greedy, 2 + ln K candidates a step): fastkm's, and scikit-learn's where it ran")
    seeding = _Table(("data", 6, "<"), ("N", 10, ">"), ("d", 3, ">"), ("K", 4, ">"), ("fastkm", _FIGURE_WIDTH, ">"),
                     ("sklearn", _FIGURE_WIDTH, ">"), ("sklearn is", 0, ">"))  # fmt: skip
    echo(seeding.header())
    for row in rows:
        theirs = row.get("sklearn_seeding_s")
        echo(seeding.line(row["data"], f"{row['n_samples']:,}", str(row["n_features"]), str(row["n_clusters"]),
                          format_duration(row["seeding_s"] * 1e3),
                          "" if theirs is None else format_duration(theirs * 1e3),
                          "" if theirs is None else f"{format_ratio(theirs / row['seeding_s'])}x"))  # fmt: skip
    return record


def _peer_fit(name: str, X: np.ndarray, centroids: np.ndarray, max_iter: int, n_iter: int) -> dict[str, Any]:
    """A peer's fit to convergence from ``centroids`` (FAISS: ``n_iter`` iterations, it has no convergence test)."""
    n_clusters = len(centroids)
    if name.startswith("sklearn-"):
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters, init=centroids, n_init=1, max_iter=max_iter, tol=0.0, algorithm=name[8:])
        start = time.perf_counter()
        model.fit(X)
        return {"seconds": time.perf_counter() - start, "n_iter": int(model.n_iter_)}
    if name == "faiss":
        import faiss

        model = faiss.Kmeans(X.shape[1], n_clusters, niter=n_iter, max_points_per_centroid=len(X), min_points_per_centroid=1)
        start = time.perf_counter()
        model.train(X, init_centroids=centroids)
        return {"seconds": time.perf_counter() - start, "n_iter": len(model.obj) or n_iter}
    raise ValueError(f"unknown peer {name!r}; choose from {', '.join(FIT_PEERS)}")


_RSS_SCRIPT = """
import sys, warnings, numpy as np
from fastkm.bench import GridPoint, grid_data
from fastkm import kmeans
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))
n, d, k, backend = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
X, init = grid_data(GridPoint("rss", n, d, k))
warnings.simplefilter("ignore")
kmeans(X[:10000], k, random_state=0, max_iter=2, backend=backend)  # compile or load every kernel first
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark (VmHWM) to the current RSS
base = status("VmRSS:")
kmeans(X, k, random_state=0, max_iter=20, backend=backend)
print(base, status("VmHWM:"), X.nbytes)
"""


def peak_rss(n_samples: int = 10_000_000, n_features: int = 16, n_clusters: int = 64, backend: str = "numba") -> dict:
    """Peak resident memory of a default fit (k-means++, 20 iterations), beyond data and code (Linux)."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(n_samples), str(n_features), str(n_clusters), backend],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    base_kib, peak_kib, data_bytes = (int(value) for value in out)
    return {
        "n_samples": n_samples, "n_features": n_features, "n_clusters": n_clusters, "backend": backend,
        "data_mib": data_bytes / 2**20, "rss_before_fit_mib": base_kib / 1024, "peak_rss_mib": peak_kib / 1024,
        "fit_overhead_mib": (peak_kib - base_kib) / 1024,
    }  # fmt: skip


def strategy_sweep(n_samples: int = 200_000, echo: Callable[[str], Any] | None = None) -> list[dict]:
    """Direct vs GEMM strategy of the Numba backend over d and K: where the threshold belongs.

    The table goes to ``echo`` (default: the ``fastkm`` logger).
    """
    from .backends.numba_backend import NumbaBackend

    echo = echo or logger.info
    table = _Table(("d", 2, ">"), ("K", 3, ">"), ("dK", 4, ">"), ("direct", _FIGURE_WIDTH, ">"),
                   ("gemm", _FIGURE_WIDTH, ">"), ("faster", 0, "<"))  # fmt: skip
    echo(f"Numba strategy sweep, N={n_samples:,}: one assign-and-accumulate pass")
    echo(table.header())
    rows = []
    rng = np.random.default_rng(0)
    for n_features in (1, 2, 4, 8, 16, 32):
        X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
        weight = np.ones(n_samples, dtype=np.float32)
        for n_clusters in (2, 4, 8, 16, 32, 64, 128):
            centroids = X[:n_clusters].copy()
            labels = np.full(n_samples, -1, dtype=np.int32)
            times = {}
            for strategy in ("direct", "gemm"):
                backend = NumbaBackend(strategy=strategy)
                backend.assign_accumulate(X, centroids, weight, labels)
                times[strategy] = min(
                    _timed(lambda: backend.assign_accumulate(X, centroids, weight, labels)) for _ in range(3)
                ) * 1e3  # fmt: skip
            winner = min(times, key=times.get)
            echo(table.line(str(n_features), str(n_clusters), str(n_features * n_clusters),
                            format_duration(times["direct"]), format_duration(times["gemm"]), winner))  # fmt: skip
            rows.append({"n_features": n_features, "n_clusters": n_clusters, **times, "winner": winner})
    return rows


# -- Dask: fastkm on a LocalCluster against dask-ml and against one process ------------------------------
#: The Dask benchmark's shapes (N, d, K): grid point B, and B at 10x N.
DASK_SHAPES = ((1_000_000, 16, 64), (10_000_000, 16, 64))
#: What fastkm on Dask is compared with: dask-ml's KMeans, and fastkm-numba in one process.
DASK_PEERS = ("dask-ml", "single")
#: dask-ml's seeding and default fit are timed up to this N (past it they take minutes).
DASK_ML_FULL_FIT_MAX_N = 1_000_000

def _worker_peak_kib(reset: bool = False) -> int:
    """This process's peak resident memory in KiB (with ``reset``: set the mark to the current RSS first; Linux)."""
    if reset:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:" if reset else "VmHWM:"))


def dask_record(
    shapes: tuple = DASK_SHAPES,
    *,
    n_workers: int = 2,
    chunks_per_worker: int = 1,
    scheduler: str | None = None,
    iterations: int = 6,
    repeats: int = 2,
    peers: tuple = DASK_PEERS,
    echo: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """fastkm on a Dask cluster against dask-ml's ``KMeans`` and single-process fastkm (Numba), in one run.

    Per shape: the data (float32 blobs, :func:`grid_data`) and the initial
    centroids are the same for all; per-iteration time as the grid measures it
    (fixed centroids, tol=0, the 1-iteration fit differenced away), the
    seeding time (fastkm's k-means||, dask-ml's k-means||, greedy k-means++ in
    one process), the default fit with ``max_iter=10`` (seeding included),
    and the workers' peak memory beyond what they held before. The scheduler's
    own cost per iteration is measured on a tiny N with the same chunks. A
    ``LocalCluster`` of ``n_workers`` single-threaded workers on 127.0.0.1 is
    started, or the cluster at ``scheduler`` is used.
    """
    import warnings

    import dask.array as da
    from distributed import Client, LocalCluster

    from .backends import get_backend
    from .lloyd import kmeans

    echo = echo or logger.info
    cluster = None if scheduler else LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )  # fmt: skip
    record: dict[str, Any] = {"machine": machine_info(), "floors": measure_floors(), "rows": []}
    record["run"] = {"n_workers": n_workers, "chunks_per_worker": chunks_per_worker, "scheduler": scheduler,
                     "iterations": iterations, "repeats": repeats, "peers": list(peers)}  # fmt: skip
    for line in machine_summary(record["machine"], record["floors"]):
        echo(line)
    table = _Table(("N", 11, ">"), ("d", 3, ">"), ("K", 4, ">"), ("impl", 13, "<"), ("time/iter", _FIGURE_WIDTH, ">"),
                   ("seeding", _FIGURE_WIDTH, ">"), ("fit(10)", _FIGURE_WIDTH, ">"), ("peak mem", 10, ">"))  # fmt: skip
    try:
        with Client(scheduler or cluster) as client, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workers = len(client.scheduler_info()["workers"])
            echo(f"Dask: {workers} workers, {chunks_per_worker} chunk(s) per worker; single: fastkm-numba in this process")
            echo(table.header())
            for n_samples, n_features, n_clusters in shapes:
                X, init = grid_data(GridPoint("dask", n_samples, n_features, n_clusters))
                rows = -(-n_samples // (workers * chunks_per_worker))
                X_dask = da.from_array(X, chunks=(rows, n_features)).persist()
                client.wait_for_workers(workers)
                row: dict[str, Any] = {"n_samples": n_samples, "n_features": n_features, "n_clusters": n_clusters,
                                       "chunks": len(X_dask.chunks[0])}  # fmt: skip
                # (passes over X: fastkm ends a run that hit max_iter with one more assignment)
                implementations = {"fastkm-dask": (X_dask, lambda n, data=X_dask: _passes(kmeans(
                    data, n_clusters, init=init, tol=0.0, max_iter=n).n_iter, n))}  # fmt: skip
                if "dask-ml" in peers:
                    from dask_ml.cluster import KMeans as DaskMLKMeans

                    implementations["dask-ml"] = (X_dask, lambda n, data=X_dask: DaskMLKMeans(
                        n_clusters, init=init, max_iter=n, tol=0.0, n_init=1).fit(data).n_iter_)  # fmt: skip
                if "single" in peers:
                    single = get_backend("numba")
                    implementations["fastkm-single"] = (X, lambda n: _passes(kmeans(
                        X, n_clusters, init=init, tol=0.0, max_iter=n, backend=single).n_iter, n))  # fmt: skip
                for name, (data, fit) in implementations.items():
                    client.run(_worker_peak_kib, reset=True)
                    timing = _per_iteration_ms(fit, iterations, repeats)
                    # (dask-ml's default fit takes minutes past 1M points: timed at 1M and below)
                    skip = name == "dask-ml" and n_samples > DASK_ML_FULL_FIT_MAX_N
                    seeding, default_fit = (None, None) if skip else _dask_seeding_and_fit(name, data, n_clusters)
                    peak = max(client.run(_worker_peak_kib).values()) / 1024 if name != "fastkm-single" else None
                    row[name] = {"ms_per_iteration": timing["ms"], "seeding_s": seeding, "fit10_s": default_fit,
                                 "worker_peak_mib": peak}  # fmt: skip
                    echo(table.line(f"{n_samples:,}", str(n_features), str(n_clusters), name,
                                    format_duration(timing["ms"]), *(format_duration(None if s is None else s * 1e3)
                                    for s in (seeding, default_fit)), "" if peak is None else f"{peak:,.0f} MiB"))  # fmt: skip
                tiny = X_dask[: 256 * len(X_dask.chunks[0])].rechunk((256, n_features)).persist()
                row["scheduler_ms_per_iteration"] = _per_iteration_ms(
                    lambda n: _passes(kmeans(tiny, n_clusters, init=init, tol=0.0, max_iter=n).n_iter, n), iterations, repeats
                )["ms"]  # fmt: skip
                if "single" in peers and n_samples == max(shape[0] for shape in shapes):
                    row["seeding_quality"] = _seeding_quality(X, n_clusters, echo)
                row["ratios"] = _dask_ratios(row)
                echo(f"  scheduler cost per iteration (N={256 * row['chunks']:,}, same chunks): "
                     f"{format_duration(row['scheduler_ms_per_iteration'])}; " +
                     ", ".join(f"{key} {format_ratio(value)}x" for key, value in row["ratios"].items()))  # fmt: skip
                record["rows"].append(row)
    finally:
        if cluster is not None:
            cluster.close()
    return record


def _seeding_quality(X: np.ndarray, n_clusters: int, echo: Callable[[str], Any], seeds: tuple = (0, 1)) -> dict:
    """k-means|| against greedy k-means++ in one process: seeding time and the inertia after convergence."""
    from .init import kmeans_parallel, kmeans_plusplus
    from .lloyd import kmeans

    result: dict[str, Any] = {}
    for name, seed_with in (("k-means||", kmeans_parallel), ("k-means++", lambda *a, **k: kmeans_plusplus(*a, **k)[0])):
        runs = []
        for seed in seeds:
            start = time.perf_counter()
            init = seed_with(X, n_clusters, random_state=seed)
            seconds = time.perf_counter() - start
            fitted = kmeans(X, n_clusters, init=init)
            runs.append({"seeding_s": seconds, "inertia": fitted.inertia, "n_iter": fitted.n_iter})
        result[name] = {"runs": runs, "seeding_s": float(np.median([r["seeding_s"] for r in runs])),
                        "inertia": float(np.median([r["inertia"] for r in runs]))}  # fmt: skip
    result["inertia_ratio"] = result["k-means||"]["inertia"] / result["k-means++"]["inertia"]
    echo(f"  seeding in one process (medians of seeds {list(seeds)}): k-means|| "
         f"{format_duration(result['k-means||']['seeding_s'] * 1e3)}, greedy k-means++ "
         f"{format_duration(result['k-means++']['seeding_s'] * 1e3)}; converged inertia k-means|| / k-means++ "
         f"= {result['inertia_ratio']:.4f}")  # fmt: skip
    return result


def _passes(made: int, asked: int) -> int:
    """Passes over X of a fastkm fit from fixed centroids with tol=0: a run that hit max_iter assigns once more."""
    return made if made < asked else made + 1


def _dask_seeding_and_fit(name: str, data: Any, n_clusters: int) -> tuple[float, float]:
    """Seconds of the implementation's default seeding, and of its default fit with ``max_iter=10``."""
    from .estimator import KMeans
    from .init import kmeans_parallel, kmeans_plusplus

    if name == "dask-ml":
        from dask_ml.cluster import KMeans as DaskMLKMeans
        from dask_ml.cluster.k_means import k_init
        from dask_ml.utils import check_random_state

        seeding = _timed(lambda: k_init(data, n_clusters, init="k-means||", random_state=check_random_state(0)))
        return seeding, _timed(lambda: DaskMLKMeans(n_clusters, max_iter=10, random_state=0).fit(data))
    seed = kmeans_parallel if name == "fastkm-dask" else kmeans_plusplus
    seeding = _timed(lambda: seed(data, n_clusters, random_state=0))
    return seeding, _timed(lambda: KMeans(n_clusters, max_iter=10, random_state=0).fit(data))


def _dask_ratios(row: dict) -> dict[str, float]:
    """The issue's ratios: fastkm-dask against dask-ml (higher: faster) and against one process (lower: closer)."""
    ours = row["fastkm-dask"]
    ratios = {}
    if "dask-ml" in row:
        ratios["per-iteration speed-up over dask-ml"] = row["dask-ml"]["ms_per_iteration"] / ours["ms_per_iteration"]
        if row["dask-ml"]["fit10_s"] is not None:
            ratios["fit(10) speed-up over dask-ml"] = row["dask-ml"]["fit10_s"] / ours["fit10_s"]
    if "fastkm-single" in row:
        ratios["per-iteration time over one process"] = ours["ms_per_iteration"] / row["fastkm-single"]["ms_per_iteration"]
        ratios["seeding in iterations"] = ours["seeding_s"] * 1e3 / ours["ms_per_iteration"]
    return ratios


def main(argv: list[str] | None = None) -> None:
    """``python -m fastkm.bench``: the ``fastkm bench`` command itself (same options, same names)."""
    from .cli import bench

    bench.main(args=argv, prog_name="python -m fastkm.bench")


if __name__ == "__main__":  # pragma: no cover
    main()

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

The harness is a library (``run_grid``, ``full_fit``, ``peak_rss``,
``strategy_sweep``) so the ``fastkm bench`` command and the scripts in
``benchmarks/`` share it; ``python -m fastkm.bench --help`` runs it directly.

>>> GRID["B"]
GridPoint(name='B', n_samples=1000000, n_features=16, n_clusters=64)
>>> X, centroids = grid_data(GRID["A"], scale=1e-4)
>>> X.shape, centroids.shape, X.dtype
((200, 2), (8, 2), dtype('float32'))
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
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
    "full_fit",
    "grid_data",
    "machine_info",
    "measure_floors",
    "peak_rss",
    "run_grid",
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


# -- per-iteration time ---------------------------------------------------------------
def _timed(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _fitter(name: str, X: np.ndarray, centroids: np.ndarray) -> Callable[[int], int]:
    """``fit(n_iter) -> passes over X made``, for one implementation, from fixed centroids, tol=0.

    Passes, not iterations: fastkm and scikit-learn end a run that hit
    ``max_iter`` (or stopped on the centroid shift) with one more assignment
    so the labels belong to the centroids, but not a run that stopped because
    no label changed. With ``tol=0`` a run that made fewer iterations than
    asked stopped that way.
    """
    n_clusters = len(centroids)

    def passes(made: int, asked: int) -> int:
        return made if made < asked else made + 1

    if name in FASTKM_BACKENDS:
        from .backends import get_backend
        from .lloyd import kmeans

        backend = get_backend(name)

        def fit(n_iter: int) -> int:
            result = kmeans(X, n_clusters, init=centroids, tol=0.0, max_iter=n_iter, backend=backend)
            return passes(result.n_iter, n_iter)

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
        return _per_iteration_ms(fit, iterations, repeats)


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
    peers: tuple[str, ...] = PEERS,
    echo: Callable[[str], Any] = print,
) -> list[dict]:
    """Per-iteration time of every implementation at every grid point, in one run, with ratios.

    ``peers`` are the implementations the "x best peer" column compares with
    (:data:`GPU_PEERS` for a GPU run, whose floors come from :func:`measure_gpu_floors`).
    """
    floors = floors or measure_floors()
    implementations = implementations or [*FASTKM_BACKENDS, *peers]
    rows = []
    echo(f"floors: SGEMM {floors['sgemm_gflops']:.0f} GFLOP/s, read {floors['read_gbps']:.1f} GB/s")
    header = f"{'point':<6}{'impl':<10}{'ms/iter':>10}{'x floor':>9}{'x best peer':>12}"
    echo(header)
    for name in points or list(GRID):
        point = GRID[name]
        X, centroids = grid_data(point, scale=scale)
        floor = floor_ms(point, floors, len(X))
        timings = {}
        for implementation in implementations:
            try:
                timings[implementation] = per_iteration_ms(
                    implementation, X, centroids, iterations=iterations, repeats=repeats
                )
            except ImportError as exc:
                echo(f"{name:<6}{implementation:<10}  skipped: {exc}")
        if "cupy" in sys.modules:
            sys.modules["cupy"].get_default_memory_pool().free_all_blocks()  # this point's device copies
        peer_times = [timings[p]["ms"] for p in peers if p in timings]
        best_peer = min(peer_times) if peer_times else float("nan")
        echo(f"{name:<6}{'floor':<10}{floor['floor_ms']:>10.1f}   (GEMM {floor['gemm_ms']:.1f}, read {floor['read_ms']:.1f})")
        for implementation, timing in timings.items():
            ratio_floor = timing["ms"] / floor["floor_ms"]
            ratio_peer = best_peer / timing["ms"]
            echo(f"{name:<6}{implementation:<10}{timing['ms']:>10.1f}{ratio_floor:>9.2f}{ratio_peer:>12.2f}")
            rows.append(
                {
                    "point": name, **asdict(point), "n_samples_run": len(X), "implementation": implementation,
                    "ms_per_iteration": timing["ms"], "passes": timing["passes"],
                    "floor": floor, "times_floor": ratio_floor, "speedup_vs_best_peer": ratio_peer,
                }
            )  # fmt: skip
    return rows


def plot_grid(rows: list[dict], path: str | Path) -> None:
    """Bar chart of :func:`run_grid`'s rows: ms per iteration by point and implementation, floor marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = list(dict.fromkeys(row["point"] for row in rows))
    implementations = list(dict.fromkeys(row["implementation"] for row in rows))
    width = 0.8 / max(len(implementations), 1)
    figure, ax = plt.subplots(figsize=(2.2 + 1.6 * len(points), 4.5), layout="constrained")
    for j, implementation in enumerate(implementations):
        times = [next((r["ms_per_iteration"] for r in rows if r["point"] == p and r["implementation"] == implementation),
                      np.nan) for p in points]  # fmt: skip
        ax.bar(np.arange(len(points)) + (j - (len(implementations) - 1) / 2) * width, times, width, label=implementation)
    floors = [next(r["floor"]["floor_ms"] for r in rows if r["point"] == p) for p in points]
    ax.scatter(np.arange(len(points)), floors, marker="_", s=2000, color="black", zorder=3, label="floor")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(points)), [f"{p}\n" + "N={n_samples_run:,} d={n_features} K={n_clusters}".format(
        **next(r for r in rows if r["point"] == p)) for p in points], fontsize=8)  # fmt: skip
    ax.set_ylabel("ms per Lloyd iteration (log)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    figure.savefig(path, dpi=90)
    plt.close(figure)


# -- whole default fits, memory, strategy threshold -----------------------------------------
def full_fit(
    shapes: list[tuple[int, int, int]], *, seeds: tuple[int, ...] = (0, 1, 2), echo: Callable[[str], Any] = print
) -> list[dict]:
    """Default fits (k-means++, tol=1e-4, max_iter=300) of fastkm and scikit-learn on the same data.

    Each library seeds itself, so the iteration counts differ from seed to
    seed; the medians over ``seeds`` are reported, with the seeding time
    apart and the rest per iteration, so the speed-up is not an artefact of
    one lucky start.
    """
    from sklearn.cluster import KMeans, kmeans_plusplus

    from .init import kmeans_plusplus as fastkm_plusplus
    from .lloyd import kmeans

    rows = []
    echo(f"{'N':>9}{'d':>5}{'K':>6}{'impl':>9}{'fit s':>8}{'seed s':>8}{'ms/iter':>9}{'n_iter':>8}  (medians)")
    for n_samples, n_features, n_clusters in shapes:
        X, _ = grid_data(GridPoint("fit", n_samples, n_features, n_clusters))
        kmeans(X[:5000], n_clusters, random_state=0)  # JIT warm-up
        runs: dict[str, list[tuple[float, float, int]]] = {"fastkm": [], "sklearn": []}
        for seed in seeds:
            seeding = _timed(lambda: fastkm_plusplus(X, n_clusters, random_state=seed))
            start = time.perf_counter()
            ours = kmeans(X, n_clusters, random_state=seed)
            runs["fastkm"].append((time.perf_counter() - start, seeding, ours.n_iter))
            seeding = _timed(lambda: kmeans_plusplus(X, n_clusters, random_state=seed))
            start = time.perf_counter()
            theirs = KMeans(n_clusters, random_state=seed).fit(X)
            runs["sklearn"].append((time.perf_counter() - start, seeding, theirs.n_iter_))
        row: dict[str, Any] = {"n_samples": n_samples, "n_features": n_features, "n_clusters": n_clusters}
        for implementation, values in runs.items():
            fit_s, seed_s, n_iter = (float(np.median(column)) for column in zip(*values))
            per_iteration = float(np.median([(f - s) / max(n, 1) for f, s, n in values])) * 1e3
            row[implementation] = {"runs": values, "fit_s": fit_s, "seeding_s": seed_s, "ms_per_iteration": per_iteration, "n_iter": n_iter}
            echo(f"{n_samples:>9}{n_features:>5}{n_clusters:>6}{implementation:>9}{fit_s:>8.2f}{seed_s:>8.2f}{per_iteration:>9.1f}{n_iter:>8.0f}")
        row["speedup_fit"] = row["sklearn"]["fit_s"] / row["fastkm"]["fit_s"]
        row["speedup_seeding"] = row["sklearn"]["seeding_s"] / row["fastkm"]["seeding_s"]
        row["speedup_per_iteration"] = row["sklearn"]["ms_per_iteration"] / row["fastkm"]["ms_per_iteration"]
        echo(f"  fastkm vs scikit-learn: fit {row['speedup_fit']:.1f}x, seeding {row['speedup_seeding']:.1f}x, "
             f"per iteration {row['speedup_per_iteration']:.1f}x")  # fmt: skip
        rows.append(row)
    return rows


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


def strategy_sweep(n_samples: int = 200_000, echo: Callable[[str], Any] = print) -> list[dict]:
    """Direct vs GEMM strategy of the Numba backend over d and K: where the threshold belongs."""
    from .backends.numba_backend import NumbaBackend

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
            echo(f"d={n_features:3d} K={n_clusters:4d} dK={n_features * n_clusters:5d} "
                 f"direct {times['direct']:7.2f} ms  gemm {times['gemm']:7.2f} ms  -> {winner}")  # fmt: skip
            rows.append({"n_features": n_features, "n_clusters": n_clusters, **times, "winner": winner})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write a JSON record (``python -m fastkm.bench``)."""
    parser = argparse.ArgumentParser(prog="python -m fastkm.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default="A,B,C,D", help="grid points, comma-separated")
    parser.add_argument("--impl", default=",".join(FASTKM_BACKENDS + PEERS), help="implementations to time")
    parser.add_argument("--scale", type=float, default=1.0, help="scale N by this factor")
    parser.add_argument("--iterations", type=int, default=11)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-fit", action="store_true", help="also time default fits against scikit-learn")
    parser.add_argument("--rss", action="store_true", help="also measure peak RSS at N=10M, d=16, K=64")
    parser.add_argument("--sweep", action="store_true", help="also sweep the Numba strategy threshold")
    parser.add_argument("--gpu", action="store_true",
                        help="time the GPU: fastkm-cupy against the PyTorch and CuPy baselines, N x 10 "
                             "unless --scale is given, floors measured on the device")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the record here")
    parser.add_argument("--plot", type=Path, help="draw the per-iteration times into this PNG")
    args = parser.parse_args(argv)

    record: dict[str, Any] = {"machine": machine_info()}
    if args.gpu:
        record["machine"]["gpu"] = gpu_info()
    print(json.dumps(record["machine"], indent=1))
    record["floors"] = measure_gpu_floors() if args.gpu else measure_floors()
    implementations = GPU_FASTKM + GPU_PEERS if args.gpu and args.impl == parser.get_default("impl") else args.impl.split(",")
    scale = 10.0 if args.gpu and args.scale == parser.get_default("scale") else args.scale
    record["grid"] = run_grid(
        args.grid.split(","), list(implementations), scale=scale, iterations=args.iterations,
        repeats=args.repeats, floors=record["floors"], peers=GPU_PEERS if args.gpu else PEERS,
    )  # fmt: skip
    if args.full_fit:
        record["full_fit"] = full_fit([(1_000_000, 16, 64), (1_000_000, 16, 256)], seeds=(0, 1, 2, 3, 4))
    if args.rss:
        record["peak_rss"] = peak_rss()
        print(json.dumps(record["peak_rss"]))
    if args.sweep:
        record["strategy_sweep"] = strategy_sweep()
    if args.plot:
        plot_grid(record["grid"], args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

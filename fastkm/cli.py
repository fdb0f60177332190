"""The ``fastkm`` command line.

* ``fastkm demo`` -- cluster a built-in Gaussian board: a summary table, a
  picture of the clusters and an animation of the Lloyd iterations;
* ``fastkm fit DATA -k K`` -- cluster a .npy/.npz/.csv/.tsv/.parquet file;
* ``fastkm select-k DATA --k 1..15`` -- choose K (gap, fK, elbow, silhouette);
* ``fastkm bench`` -- the one-run ratio table against scikit-learn and FAISS;
* ``fastkm info`` -- versions, CPU, threads, backends (and why not), GPU.

Errors a user can fix end with a one-line message and exit code 2, never a
traceback. ``-v`` logs progress and, on a terminal, draws a progress bar.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
import warnings
from typing import Any

import click
import numpy as np

from pathlib import Path

from . import __version__
from .backends import BACKEND_NAMES, available_backends, warmup
from .backends.bounds import ALGORITHM_CHOICES
from .bench import cpu_model
from .datasets import gaussian_board
from .io import OutputFiles
from .exceptions import BackendUnavailableError
from .lloyd import kmeans
from .progress import ProgressAwareHandler, ProgressBar, make_room
from .select_k import DEFAULT_K_RANGE

__all__ = ["main"]


class _UserError(click.ClickException):
    exit_code = 2


class _Group(click.Group):
    """Turns the errors a user can fix into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ValueError, TypeError, OSError, ImportError, BackendUnavailableError) as exc:
            raise _UserError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fastkm")
@click.option("-v", "--verbose", count=True, help="Log progress (-v: info, -vv: debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """fastkm: fast k-means at large N, on NumPy, Numba or CuPy."""
    ctx.obj = {"verbose": verbose}
    # Warnings (e.g. fewer distinct points than clusters) as one line each, never on the progress bar's line.
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    ctx.call_on_close(lambda: setattr(warnings, "showwarning", previous))
    if verbose:
        handler = ProgressAwareHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        library = logging.getLogger("fastkm")  # fastkm's messages only, not every library's debug chatter
        library.addHandler(handler)
        library.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    make_room()
    click.echo(f"Warning: {message}", err=True)


def _verbose() -> bool:
    return bool(click.get_current_context().find_root().obj.get("verbose"))


#: (The commands read their data into memory: the Dask backend is for Dask arrays, from Python.)
_backend_option = click.option(
    "--backend", type=click.Choice([name for name in BACKEND_NAMES if name != "dask"], case_sensitive=False),
    default=None, help="Default: $FASTKM_BACKEND or auto.",
)


_DEFAULT_K_TEXT = f"{DEFAULT_K_RANGE.start}..{DEFAULT_K_RANGE.stop - 1}"

_force_option = click.option("--force", is_flag=True, help="Overwrite output files that already exist.")

_id_column_option = click.option(
    "--id-column", default="auto", show_default=True, callback=lambda ctx, param, value: None if value == "none" else value,
    help="Column of sample ids (name or 0-based position; text/parquet files). auto: a first column of names; none: no id column.",
)  # fmt: skip


def _fit_progress(label: str, max_iter: int | None = None):
    """A progress bar (on a terminal, with -v) and the kmeans callback that feeds it."""
    bar = ProgressBar(label, max_iter, enabled=_verbose())

    def callback(step) -> None:
        bar.update(step.iteration, iteration=step.iteration, inertia=step.inertia)

    return bar, callback


@main.command()
@click.option("-n", "--n-samples", default=200_000, show_default=True, type=click.IntRange(min=1), help="Points on the board.")
@click.option("-k", "--n-clusters", default=7, show_default=True, type=click.IntRange(min=1), help="Blobs on the board, and K.")
@click.option("-d", "--n-features", default=2, show_default=True, type=click.IntRange(min=1), help="Dimensions.")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed for the board and the init.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder for fastkm-demo.png and fastkm-demo.gif.")  # fmt: skip
@click.option("--no-pictures", is_flag=True, help="Only the summary table (no matplotlib needed).")
@click.option("--force", is_flag=True, help="Overwrite files in the way of the pictures (the demo's own are always replaced).")
@_backend_option
def demo(n_samples: int, n_clusters: int, n_features: int, seed: int, out: Path, no_pictures: bool, force: bool,
         backend: str | None) -> None:  # fmt: skip
    """Cluster a built-in Gaussian board: summary, picture and Lloyd animation."""
    plt = missing = None
    if not no_pictures:
        try:
            plt = _pyplot()
        except ImportError as exc:  # the table is the demo; pictures are the plot extra's
            no_pictures, missing = True, exc
    with OutputFiles(force=force) as outputs:
        if not no_pictures:
            out.mkdir(parents=True, exist_ok=True)
            png = outputs.add(out / "fastkm-demo.png", ".png", "--out", replaceable=_is_demo_picture)
            gif = outputs.add(out / "fastkm-demo.gif", ".gif", "--out", replaceable=_is_demo_picture)
        board = gaussian_board(n_samples, n_clusters, n_features, random_state=seed, dtype=np.float32)
        compile_seconds = warmup(backend)  # JIT kernels: compiled once per machine, then loaded from cache
        bar, callback = _fit_progress("demo")
        start = time.perf_counter()
        with bar:
            result = kmeans(board.X, n_clusters, random_state=seed, backend=backend, callback=callback)
        elapsed = time.perf_counter() - start

        # Match every found centroid with the nearest true centre.
        gaps = np.linalg.norm(result.centroids[:, None, :] - board.centers[None, :, :], axis=2)
        nearest_true = gaps.argmin(axis=1)
        sizes = np.bincount(result.labels, minlength=n_clusters)
        agreement = np.mean(nearest_true[result.labels] == board.labels)
        true_means = np.stack([board.X[board.labels == blob].mean(axis=0) for blob in range(n_clusters)])
        true_inertia = float(((board.X - true_means[board.labels]) ** 2).sum())

        click.echo(f"fastkm {__version__} demo: Gaussian board, {n_samples:,} points, d={n_features}, K={n_clusters}")
        click.echo(f"  backend     {result.backend}")
        click.echo(f"  algorithm   {_algorithm_line(result)}")
        click.echo(f"  iterations  {result.n_iter} ({'converged' if result.converged else 'hit max_iter'})")
        click.echo(f"  inertia     {result.inertia:.6g} (grouping by true blob gives {true_inertia:.6g})")
        click.echo(f"  time        {elapsed * 1e3:.1f} ms (k-means++ and Lloyd; kernels ready in {compile_seconds:.2f} s)")
        click.echo(f"  agreement   {agreement:.1%} of points share a cluster with their true blob (blobs overlap)")
        click.echo("")
        click.echo(f"  {'cluster':>7}  {'size':>9}  {'centroid (first 2 coords)':<28}  {'true centre':<22}  {'error':>7}")
        for cluster in np.argsort(nearest_true, kind="stable"):
            true = nearest_true[cluster]
            click.echo(
                f"  {cluster:>7}  {sizes[cluster]:>9,}  {_coords(result.centroids[cluster]):<28}  "
                f"{_coords(board.centers[true]):<22}  {gaps[cluster, true]:>7.4f}"
            )
        if no_pictures:
            if missing is not None:
                click.echo(f"\n  no pictures: {missing}")
            return
        from .plot import animate_lloyd, plot_clusters, plot_inertia, plot_voronoi

        figure, axes = plt.subplots(1, 3 if n_features == 2 else 2, figsize=(17 if n_features == 2 else 12, 5.6), layout="constrained")
        plot_clusters(board.X, result.labels, result.centroids, ax=axes[0])
        if n_features == 2:
            plot_voronoi(result.centroids, X=board.X, labels=result.labels, ax=axes[1], bounds=(-1.05, 1.05, -1.05, 1.05))
        plot_inertia(result, ax=axes[-1])
        figure.suptitle(f"fastkm demo: {n_samples:,} points, K={n_clusters}, {result.n_iter} Lloyd iterations ({result.backend})")
        outputs.write(png, lambda temporary: figure.savefig(temporary, dpi=90, metadata={"Software": _DEMO_STAMP}))
        plt.close(figure)

        def animate(temporary: str) -> Any:
            # the animation starts from random centroids, where Lloyd has a long way to go
            fitted = animate_lloyd(board.X, n_clusters, temporary, init="random", random_state=seed, backend=backend, max_iter=60)
            _stamp_gif(temporary)
            return fitted

        animated: list = []
        outputs.write(gif, lambda temporary: animated.append(animate(temporary)))
    n_iter = animated[0].n_iter
    click.echo("")
    click.echo(f"  wrote {png} and {gif}")
    click.echo(f"  (the GIF: {n_iter} Lloyd iterations from random centroids, in {n_iter + 1} frames: the start, then one per iteration)")


#: Written into the demo's pictures, so that a later demo may replace them (and nothing else) without --force.
_DEMO_STAMP = "fastkm demo"


def _stamp_gif(path: str | Path) -> None:
    """Add a GIF comment extension holding :data:`_DEMO_STAMP` before the file's trailer."""
    data = Path(path).read_bytes()
    stamp = _DEMO_STAMP.encode()
    Path(path).write_bytes(data[:-1] + b"\x21\xfe" + bytes([len(stamp)]) + stamp + b"\x00" + data[-1:])


def _is_demo_picture(path: Path) -> bool:
    """Whether ``path`` is a picture an earlier ``fastkm demo`` wrote (it carries the demo's stamp)."""
    stamp = _DEMO_STAMP.encode()
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
            handle.seek(max(0, path.stat().st_size - 4096))
            tail = handle.read()
    except OSError:
        return False
    return head[:4] in (b"\x89PNG", b"GIF8") and (stamp in head or stamp in tail)


@main.command()
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-k", "--n-clusters", required=True, type=int, help="Number of clusters K.")
@_backend_option
@click.option("--init", "init", type=click.Choice(["k-means++", "k-means||", "random"]), default="k-means++", show_default=True)
@click.option("--n-init", default="auto", show_default=True, help="Runs from different starts (an integer, or auto).")
@click.option("--algorithm", type=click.Choice(list(ALGORITHM_CHOICES)), default="auto", show_default=True,
              help="lloyd measures every distance; hamerly, yinyang, elkan skip the ones bounds rule out (same result).")
@click.option("--max-iter", default=300, show_default=True, type=int)
@click.option("--tol", default=1e-4, show_default=True, type=float, help="Stop when centroids move less (relative).")
@click.option("--seed", default=None, type=int, help="Random seed (default: unseeded).")
@_id_column_option
@click.option("--key", default=None, help="Array to read from a .npz holding several.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write centroids, labels, inertia to this .npz.")
@click.option("--labels-csv", type=click.Path(dir_okay=False, path_type=Path), help="Write id,label rows to this CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Draw the clusters into this PNG.")
@_force_option
def fit(data, n_clusters, backend, init, n_init, algorithm, max_iter, tol, seed, id_column, key, output, labels_csv, plot_path,
        force) -> None:  # fmt: skip
    """Cluster the points in DATA (.npy, .npz, .csv, .tsv, .parquet)."""
    from .io import OutputFiles, load_data, write_labels_csv

    with OutputFiles(force=force, inputs=[data]) as outputs:
        output = output and outputs.add(output, ".npz", "--output")
        labels_csv = labels_csv and outputs.add(labels_csv, ".csv", "--labels-csv")
        plot_path = plot_path and outputs.add(plot_path, ".png", "--plot")
        plt = _pyplot() if plot_path is not None else None  # (before the fit: a missing matplotlib says so at once)
        X, ids = load_data(data, id_column=id_column, key=key)
        n_init_value = n_init if n_init == "auto" else _int_option("--n-init", n_init)
        bar, callback = _fit_progress("fit", max_iter)
        start = time.perf_counter()
        with bar:
            result = kmeans(X, n_clusters, init=init, n_init=n_init_value, max_iter=max_iter, tol=tol,
                            random_state=seed, backend=backend, algorithm=algorithm, callback=callback)  # fmt: skip
        elapsed = time.perf_counter() - start
        click.echo(f"{data}: {X.shape[0]:,} points, {X.shape[1]} features, K={n_clusters}")
        click.echo(f"  backend     {result.backend}")
        click.echo(f"  algorithm   {_algorithm_line(result)}")
        click.echo(f"  iterations  {result.n_iter} ({'converged' if result.converged else 'hit max_iter'})")
        click.echo(f"  inertia     {result.inertia:.8g}")
        click.echo(f"  time        {elapsed:.3f} s")
        for line in _size_lines(np.bincount(result.labels, minlength=n_clusters), full=_verbose()):
            click.echo(line)
        if output is not None:
            outputs.write(output, lambda temporary: np.savez(
                temporary, centroids=result.centroids, labels=result.labels, inertia=result.inertia, n_iter=result.n_iter
            ))  # fmt: skip
        if labels_csv is not None:
            named = isinstance(id_column, str) and not id_column.lstrip("-").isdigit() and id_column != "auto"
            outputs.write(labels_csv, lambda temporary: write_labels_csv(
                temporary, result.labels, ids, id_name=id_column if named else "id"))  # fmt: skip
        if plot_path is not None:
            from .plot import plot_clusters

            ax = plot_clusters(X, result.labels, result.centroids)
            outputs.write(plot_path, lambda temporary: ax.figure.savefig(temporary, dpi=90))
            plt.close(ax.figure)
    for path, what in ((output, "centroids, labels, inertia, n_iter"), (labels_csv, f"{'id' if ids is not None else 'row'},label per sample"),
                       (plot_path, "the clusters")):  # fmt: skip
        if path is not None:
            click.echo(f"  wrote {path} ({what})")


def _algorithm_line(result) -> str:
    """The algorithm that ran, with what its bounds cost and saved."""
    if result.algorithm == "lloyd":
        return "lloyd"
    return (
        f"{result.algorithm} ({result.bounds_nbytes / 2**20:.1f} MiB of bounds, "
        f"{100 * (1 - result.distance_share):.0f}% of distances skipped)"
    )


def _size_lines(sizes: np.ndarray, *, full: bool) -> list[str]:
    """The cluster sizes: every one when there are few (or with -v), else a summary and the smallest."""
    if full or len(sizes) <= 10:
        return [f"  sizes       {', '.join(f'{size:,}' for size in sizes)}"]
    smallest = np.argsort(sizes, kind="stable")[:3]
    return [
        f"  sizes       min {sizes.min():,}, median {np.median(sizes):,.0f}, max {sizes.max():,} over {len(sizes)} clusters",
        f"  smallest    {', '.join(f'#{k}: {sizes[k]:,}' for k in smallest)}  (-v lists every size)",
    ]


@main.command("select-k")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--k", "k_text", default=_DEFAULT_K_TEXT, show_default=True, help="Range of K, as FIRST..LAST (inclusive).")
@click.option("--method", type=click.Choice(["gap", "fK", "elbow", "silhouette"]), default="gap", show_default=True)
@click.option("--n-refs", default=10, show_default=True, type=click.IntRange(min=1), help="gap: reference data sets.")
@click.option("--reference", type=click.Choice(["box", "pca"]), default="box", show_default=True,
              help="gap: draw references in the bounding box of the data or of its principal axes.")  # fmt: skip
@click.option("--seed", default=None, type=int, help="Random seed (default: unseeded).")
@_id_column_option
@click.option("--key", default=None, help="Array to read from a .npz holding several.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Draw the scores into this PNG.")
@_force_option
@_backend_option
def select_k_command(data, k_text, method, n_refs, reference, seed, id_column, key, plot_path, force, backend) -> None:
    """Choose the number of clusters for DATA."""
    from .io import OutputFiles, load_data
    from .select_k import select_k

    with OutputFiles(force=force, inputs=[data]) as outputs:
        plot_path = plot_path and outputs.add(plot_path, ".png", "--plot")
        plt = _pyplot() if plot_path is not None else None
        first, _, last = k_text.partition("..")
        k_range = range(_int_option("--k", first), _int_option("--k", last or first) + 1)
        X, _ = load_data(data, id_column=id_column, key=key)
        bar = ProgressBar("select-k", enabled=_verbose())
        start = time.perf_counter()
        with bar:
            result = select_k(X, k_range, method=method, n_refs=n_refs, reference=reference, random_state=seed,
                              backend=backend, callback=lambda done, total, k: bar.update(done, total, K=k))  # fmt: skip
        click.echo(f"{data}: {X.shape[0]:,} points, {X.shape[1]} features; method {method} ({time.perf_counter() - start:.2f} s)")
        inertia = _same_decimals(result.inertia)
        width = max(len("inertia"), *map(len, inertia))
        click.echo(f"  {'K':>4}  {'score':>10}  {'inertia':>{width}}" + (f"  {'s_k':>8}" if result.errors.size else ""))
        for j, k in enumerate(result.k_values):
            mark = "  <-" if k == result.best_k else ""
            error = f"  {result.errors[j]:>8.4f}" if result.errors.size else ""
            click.echo(f"  {k:>4}  {result.scores[j]:>10.4f}  {inertia[j]:>{width}}{error}{mark}")
        click.echo(f"best K: {result.best_k}")
        if plot_path is not None:
            ax = result.plot()
            outputs.write(plot_path, lambda temporary: ax.figure.savefig(temporary, dpi=90))
            plt.close(ax.figure)
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")


def _same_decimals(values: np.ndarray, digits: int = 6) -> list[str]:
    """Numbers shown with one number of decimals, enough for ``digits`` significant digits of the largest.

    >>> _same_decimals(np.array([1234.5678, 12.3456789, 0.5]))
    ['1,234.57', '12.35', '0.50']
    """
    largest = float(np.max(np.abs(values))) if len(values) else 0.0
    if largest >= 1e15 or 0 < largest < 1e-4:  # beyond fixed notation's reach: one exponent format for all
        return [f"{value:.{digits - 1}e}" for value in values]
    decimals = max(0, digits - 1 - int(np.floor(np.log10(largest)))) if largest > 0 else digits - 1
    return [f"{value:,.{decimals}f}" for value in values]


@main.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--grid", default="A,B,C,D", show_default=True, help="Grid points, comma-separated (A-D).")
@click.option("--backends", default=None, help="fastkm backends to time, comma-separated: numpy, numba, cupy; "
              "empty: none.  [default: numpy,numba; with --gpu: cupy]")  # fmt: skip
@click.option("--peers", default=None, help="Peers to compare with, comma-separated: sklearn, faiss, torch, "
              "cupy-plain; empty: none.  [default: sklearn,faiss; with --gpu: torch,cupy-plain]")  # fmt: skip
@click.option("--scale", default=None, type=click.FloatRange(min=1e-6), help="Scale N by this factor.  [default: 1; with --gpu: 10]")
@click.option("--gpu", is_flag=True, help="GPU run: floors measured on the device; by default fastkm-cupy against "
              "plain PyTorch and plain CuPy (torch, cupy-plain), N x 10.")  # fmt: skip
@click.option("--iterations", default=11, show_default=True, type=click.IntRange(min=2),
              help="Iterations of the long timed fit (the short one makes 1; the difference is timed).")  # fmt: skip
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1), help="Keep the fastest of this many fits.")
@click.option("--full-fit", "fits", is_flag=True, help="Also time default fits against scikit-learn at grid points B, C and D (three seeds).")
@click.option("--rss", is_flag=True, help="Also measure the peak RSS of a fit (N=10M, d=16, K=64; Linux).")
@click.option("--sweep", is_flag=True, help="Also sweep the Numba backend's direct/GEMM threshold over d and K.")
@click.option("--dask", "dask_run", is_flag=True, help="Instead of the grid: fastkm on a Dask cluster against dask-ml and "
              "one process, at (1M, 16, 64) and (10M, 16, 64) x --scale; --peers from dask-ml, single.")  # fmt: skip
@click.option("--fit", "fit_run", is_flag=True, help="Instead of the grid: fits to convergence from one shared k-means++ "
              "seeding -- fastkm auto and lloyd against scikit-learn's lloyd and elkan and FAISS -- on the board "
              "(2M, 2, 64) and overlapping blobs (1M, 16, 256), (500k, 64, 256), (100k, 256, 1024), N x --scale.")  # fmt: skip
@click.option("--algorithms", default=None, help="--fit: fastkm algorithms, comma-separated (auto, lloyd, hamerly, yinyang, "
              "elkan).  [default: auto,lloyd]")  # fmt: skip
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="--dask: LocalCluster workers (one thread each).")
@click.option("--scheduler", default=None, help="--dask: the address of a running scheduler, instead of a LocalCluster.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the whole record (machine, floors, rows) here.")  # fmt: skip
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Bar chart of the times (PNG).")
@_force_option
def bench(grid, backends, peers, scale, gpu, iterations, repeats, fits, rss, sweep, dask_run, fit_run, algorithms,
          workers, scheduler, json_path, plot_path, force) -> None:  # fmt: skip
    """Per-iteration times against peers at the grid points, in one run, with the measured floors.

    Prints a short summary of the machine, then a row per grid point and
    implementation: time per Lloyd iteration (fixed initial centroids, tol=0,
    float32, after warm-up), its ratio to the floor (the larger of GEMM time
    and read time, at rates measured in this run) and the best peer's time
    over it (above 1: faster than every peer). `python -m fastkm.bench` is
    this same command.

    \b
    point          N    d     K
    A      2,000,000    2     8
    B      1,000,000   16    64
    C        500,000   64   256
    D        100,000  256  1024
    """
    import json

    from . import bench as harness

    try:
        if dask_run:
            _dask_bench(harness, peers, scale, workers, scheduler, iterations, repeats, json_path, force)
            return
        if fit_run:
            _fit_bench(harness, algorithms, peers, scale, json_path, force)
            return
        points = harness.parse_points(grid)
        chosen = {
            option: None if text is None else harness.parse_names(text, valid, option)
            for option, text, valid in (("--backends", backends, harness.BACKEND_NAMES), ("--peers", peers, harness.PEER_NAMES))
        }  # fmt: skip
        with OutputFiles(force=force) as outputs:  # both checked before the run, written together after it
            if json_path is not None:
                json_path.parent.mkdir(parents=True, exist_ok=True)
                json_path = outputs.add(json_path, ".json", "--json")
            if plot_path is not None:
                plot_path = outputs.add(plot_path, ".png", "--plot")
                try:
                    import matplotlib  # noqa: F401  (before the run, not after it)
                except ImportError:
                    raise ImportError("--plot needs matplotlib: pip install 'fastkm[plot]'") from None
            record = harness.run_record(
                points, chosen["--backends"], chosen["--peers"], gpu=gpu, scale=scale, iterations=iterations,
                repeats=repeats, fits=fits, rss=rss, sweep=sweep, echo=click.echo,
            )  # fmt: skip
            if json_path is not None:
                outputs.write(json_path, lambda temporary: Path(temporary).write_text(
                    json.dumps(record, indent=1) + "\n", encoding="utf-8"))  # fmt: skip
            if plot_path is not None:
                outputs.write(plot_path, lambda temporary: harness.grid_figure(record["grid"]).savefig(temporary, dpi=90))
        for path in (json_path, plot_path):
            if path is not None:
                click.echo(f"wrote {path}")
    except (ValueError, OSError, ImportError) as exc:  # one line and exit code 2, as `python -m fastkm.bench` too
        raise _UserError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _dask_bench(harness, peers, scale, workers, scheduler, iterations, repeats, json_path, force) -> None:
    """``fastkm bench --dask``: the Dask record, printed and (``--json``) written."""
    peers = harness.DASK_PEERS if peers is None else tuple(harness.parse_names(peers, harness.DASK_PEERS, "--peers"))
    shapes = tuple((max(1000, round(n * (scale or 1.0))), d, k) for n, d, k in harness.DASK_SHAPES)
    _write_record(json_path, force, lambda: harness.dask_record(
        shapes, n_workers=workers, scheduler=scheduler, iterations=iterations, repeats=repeats, peers=peers,
        echo=click.echo))  # fmt: skip


def _fit_bench(harness, algorithms, peers, scale, json_path, force) -> None:
    """``fastkm bench --fit``: fits to convergence, printed and (``--json``) written."""
    from .backends.bounds import ALGORITHM_CHOICES

    algorithms = harness.FIT_ALGORITHMS if algorithms is None else tuple(
        harness.parse_names(algorithms, ALGORITHM_CHOICES, "--algorithms"))  # fmt: skip
    peers = harness.FIT_PEERS if peers is None else tuple(harness.parse_names(peers, harness.FIT_PEERS, "--peers"))
    _write_record(json_path, force, lambda: harness.fit_record(
        scale=scale or 1.0, algorithms=algorithms, peers=peers, echo=click.echo))  # fmt: skip


def _write_record(json_path, force, run) -> None:
    """Run a benchmark (``run() -> record``) and write its record to ``json_path`` (checked before the run)."""
    import json

    with OutputFiles(force=force) as outputs:
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path = outputs.add(json_path, ".json", "--json")
        record = run()
        if json_path is not None:
            outputs.write(json_path, lambda temporary: Path(temporary).write_text(
                json.dumps(record, indent=1) + "\n", encoding="utf-8"))  # fmt: skip
    if json_path is not None:
        click.echo(f"wrote {json_path}")


@main.command()
def info() -> None:
    """Versions, CPU, threads and which backends can run here (and why not)."""
    click.echo(f"fastkm      {__version__}")
    click.echo(f"python      {platform.python_version()} ({sys.executable})")
    click.echo(f"numpy       {np.__version__}")
    click.echo(f"platform    {platform.platform()}")
    click.echo(f"cpu         {cpu_model()} ({os.cpu_count()} logical cores)")
    import numba

    click.echo(f"threads     {numba.config.NUMBA_NUM_THREADS} (Numba; NUMBA_NUM_THREADS sets it)")
    click.echo("backends:")
    statuses = available_backends()
    for status in statuses.values():
        click.echo(f"  {status.name:<6} {'yes' if status.available else 'no ':<4} {status.detail}")
    click.echo(f"gpu         {statuses['cupy'].detail if statuses['cupy'].available else 'none usable (see cupy above)'}")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install 'fastkm[plot]' (or pass --no-pictures)") from None
    return plt


def _int_option(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {text!r}") from None


def _coords(vector: np.ndarray) -> str:
    shown = ", ".join(f"{value:+.3f}" for value in vector[:2])
    return f"({shown}{', ...' if len(vector) > 2 else ''})"


if __name__ == "__main__":  # pragma: no cover
    main()

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

import click
import numpy as np

from pathlib import Path

from . import __version__
from .backends import BACKEND_NAMES, available_backends, warmup
from .bench import cpu_model
from .datasets import gaussian_board
from .exceptions import BackendUnavailableError
from .lloyd import kmeans
from .progress import ProgressAwareHandler, ProgressBar

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
    if verbose:
        handler = ProgressAwareHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        library = logging.getLogger("fastkm")  # fastkm's messages only, not every library's debug chatter
        library.addHandler(handler)
        library.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _verbose() -> bool:
    return bool(click.get_current_context().find_root().obj.get("verbose"))


_backend_option = click.option(
    "--backend", type=click.Choice(BACKEND_NAMES, case_sensitive=False), default=None, help="Default: $FASTKM_BACKEND or auto."
)


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
@_backend_option
def demo(n_samples: int, n_clusters: int, n_features: int, seed: int, out: Path, no_pictures: bool, backend: str | None) -> None:
    """Cluster a built-in Gaussian board: summary, picture and Lloyd animation."""
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
        return
    try:
        plt = _pyplot()
    except ImportError as exc:  # the table is the demo; pictures are the plot extra's
        click.echo(f"\n  no pictures: {exc}")
        return
    from .plot import animate_lloyd, plot_clusters, plot_inertia, plot_voronoi

    out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 3 if n_features == 2 else 2, figsize=(17 if n_features == 2 else 12, 5.6), layout="constrained")
    plot_clusters(board.X, result.labels, result.centroids, ax=axes[0])
    if n_features == 2:
        plot_voronoi(result.centroids, X=board.X, labels=result.labels, ax=axes[1], bounds=(-1.05, 1.05, -1.05, 1.05))
    plot_inertia(result, ax=axes[-1])
    figure.suptitle(f"fastkm demo: {n_samples:,} points, K={n_clusters}, {result.n_iter} Lloyd iterations ({result.backend})")
    png = out / "fastkm-demo.png"
    figure.savefig(png, dpi=90)
    plt.close(figure)
    gif = out / "fastkm-demo.gif"
    # the animation starts from random centroids, where Lloyd has a long way to go
    animated = animate_lloyd(board.X, n_clusters, gif, init="random", random_state=seed, backend=backend, max_iter=60)
    click.echo("")
    click.echo(f"  wrote {png} and {gif} ({animated.n_iter} iterations from random centroids)")


@main.command()
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-k", "--n-clusters", required=True, type=int, help="Number of clusters K.")
@_backend_option
@click.option("--init", "init", type=click.Choice(["k-means++", "random"]), default="k-means++", show_default=True)
@click.option("--n-init", default="auto", show_default=True, help="Runs from different starts (an integer, or auto).")
@click.option("--max-iter", default=300, show_default=True, type=int)
@click.option("--tol", default=1e-4, show_default=True, type=float, help="Stop when centroids move less (relative).")
@click.option("--seed", default=None, type=int, help="Random seed (default: unseeded).")
@click.option("--id-column", default=None, help="Column of sample ids (name or 0-based position; text/parquet files).")
@click.option("--key", default=None, help="Array to read from a .npz holding several.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write centroids, labels, inertia to this .npz.")
@click.option("--labels-csv", type=click.Path(dir_okay=False, path_type=Path), help="Write id,label rows to this CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Draw the clusters into this PNG.")
def fit(data, n_clusters, backend, init, n_init, max_iter, tol, seed, id_column, key, output, labels_csv, plot_path) -> None:
    """Cluster the points in DATA (.npy, .npz, .csv, .tsv, .parquet)."""
    from .io import load_data, write_labels_csv

    for path, suffix in ((output, ".npz"), (labels_csv, ".csv"), (plot_path, ".png")):
        if path is not None and path.suffix.lower() != suffix:
            raise ValueError(f"{path}: must end in {suffix}")
    X, ids = load_data(data, id_column=id_column, key=key)
    n_init_value = n_init if n_init == "auto" else _int_option("--n-init", n_init)
    bar, callback = _fit_progress("fit", max_iter)
    start = time.perf_counter()
    with bar:
        result = kmeans(X, n_clusters, init=init, n_init=n_init_value, max_iter=max_iter, tol=tol,
                        random_state=seed, backend=backend, callback=callback)  # fmt: skip
    elapsed = time.perf_counter() - start
    sizes = np.bincount(result.labels, minlength=n_clusters)
    click.echo(f"{data}: {X.shape[0]:,} points, {X.shape[1]} features, K={n_clusters}")
    click.echo(f"  backend     {result.backend}")
    click.echo(f"  iterations  {result.n_iter} ({'converged' if result.converged else 'hit max_iter'})")
    click.echo(f"  inertia     {result.inertia:.8g}")
    click.echo(f"  time        {elapsed:.3f} s")
    click.echo(f"  sizes       {', '.join(f'{size:,}' for size in sizes)}")
    if output is not None:
        np.savez(output, centroids=result.centroids, labels=result.labels, inertia=result.inertia, n_iter=result.n_iter)
        click.echo(f"  wrote {output} (centroids, labels, inertia, n_iter)")
    if labels_csv is not None:
        named = id_column is not None and not str(id_column).lstrip("-").isdigit()
        write_labels_csv(labels_csv, result.labels, ids, id_name=str(id_column) if named else "id")
        click.echo(f"  wrote {labels_csv} ({'id' if ids is not None else 'row'},label per sample)")
    if plot_path is not None:
        plt = _pyplot()
        from .plot import plot_clusters

        ax = plot_clusters(X, result.labels, result.centroids)
        ax.figure.savefig(plot_path, dpi=90)
        plt.close(ax.figure)
        click.echo(f"  wrote {plot_path}")


@main.command("select-k")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--k", "k_text", default="1..10", show_default=True, help="Range of K, as FIRST..LAST (inclusive).")
@click.option("--method", type=click.Choice(["gap", "fK", "elbow", "silhouette"]), default="gap", show_default=True)
@click.option("--n-refs", default=10, show_default=True, type=int, help="gap: reference data sets.")
@click.option("--reference", type=click.Choice(["box", "pca"]), default="box", show_default=True,
              help="gap: draw references in the bounding box of the data or of its principal axes.")  # fmt: skip
@click.option("--seed", default=None, type=int, help="Random seed (default: unseeded).")
@click.option("--id-column", default=None, help="Column of sample ids to leave out of the data.")
@click.option("--key", default=None, help="Array to read from a .npz holding several.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Draw the scores into this PNG.")
@_backend_option
def select_k_command(data, k_text, method, n_refs, reference, seed, id_column, key, plot_path, backend) -> None:
    """Choose the number of clusters for DATA."""
    from .io import load_data
    from .select_k import select_k

    if plot_path is not None and plot_path.suffix.lower() != ".png":
        raise ValueError(f"{plot_path}: must end in .png")
    first, _, last = k_text.partition("..")
    k_range = range(_int_option("--k", first), _int_option("--k", last or first) + 1)
    X, _ = load_data(data, id_column=id_column, key=key)
    bar = ProgressBar("select-k", enabled=_verbose())
    start = time.perf_counter()
    with bar:
        result = select_k(X, k_range, method=method, n_refs=n_refs, reference=reference, random_state=seed,
                          backend=backend, callback=lambda done, total, k: bar.update(done, total, K=k))  # fmt: skip
    click.echo(f"{data}: {X.shape[0]:,} points, {X.shape[1]} features; method {method} ({time.perf_counter() - start:.2f} s)")
    click.echo(f"  {'K':>4}  {'score':>10}  {'inertia':>12}" + (f"  {'s_k':>8}" if result.errors.size else ""))
    for j, k in enumerate(result.k_values):
        mark = "  <-" if k == result.best_k else ""
        error = f"  {result.errors[j]:>8.4f}" if result.errors.size else ""
        click.echo(f"  {k:>4}  {result.scores[j]:>10.4f}  {result.inertia[j]:>12.6g}{error}{mark}")
    click.echo(f"best K: {result.best_k}")
    if plot_path is not None:
        plt = _pyplot()
        ax = result.plot()
        ax.figure.savefig(plot_path, dpi=90)
        plt.close(ax.figure)
        click.echo(f"wrote {plot_path}")


@main.command()
@click.option("--grid", default="A,B,C,D", show_default=True, help="Grid points, comma-separated (A-D).")
@click.option("--backends", default="numpy,numba", show_default=True, help="fastkm backends to time.")
@click.option("--peers", default="sklearn,faiss", show_default=True, help="Peers to time (sklearn, faiss); empty: none.")
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(min=1e-6), help="Scale N by this factor.")
@click.option("--gpu", is_flag=True, help="GPU run: fastkm-cupy against PyTorch and plain CuPy, N x 10.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the record here.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Bar chart of the times (PNG).")
def bench(grid, backends, peers, scale, gpu, json_path, plot_path) -> None:
    """Per-iteration times against peers at the grid points, in one run, with the measured floors."""
    from . import bench as harness

    points = [point.strip().upper() for point in grid.split(",") if point.strip()]
    unknown = [point for point in points if point not in harness.GRID]
    if unknown or not points:
        raise ValueError(f"--grid: unknown point(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(harness.GRID)}")
    args = ["--grid", ",".join(points), "--scale", str(scale)]
    if gpu:
        args.append("--gpu")
    else:
        chosen = [name.strip() for name in f"{backends},{peers}".split(",") if name.strip()]
        known = harness.FASTKM_BACKENDS + harness.PEERS
        if not chosen:
            raise ValueError("nothing to time: give --backends and/or --peers")
        bad = [name for name in chosen if name not in known]
        if bad:
            raise ValueError(f"unknown implementation(s) {', '.join(bad)}; choose from {', '.join(known)}")
        args += ["--impl", ",".join(chosen)]
    if plot_path is not None and plot_path.suffix.lower() != ".png":
        raise ValueError(f"{plot_path}: must end in .png")
    if json_path is not None:
        args += ["--json", str(json_path)]
    if plot_path is not None:
        args += ["--plot", str(plot_path)]
    harness.main(args)


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

"""The ``fastkm`` command line.

``fastkm demo`` clusters a built-in Gaussian board and prints a summary;
``fastkm info`` says what fastkm runs on here. Errors a user can fix end with
a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time

import click
import numpy as np

from . import __version__
from .backends import BACKEND_NAMES, available_backends, warmup
from .bench import cpu_model
from .datasets import gaussian_board
from .exceptions import BackendUnavailableError
from .lloyd import kmeans

__all__ = ["main"]


class _UserError(click.ClickException):
    exit_code = 2


class _Group(click.Group):
    """Turns the errors a user can fix into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ValueError, TypeError, OSError, BackendUnavailableError) as exc:
            raise _UserError(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fastkm")
@click.option("-v", "--verbose", count=True, help="Log progress (-v: info, -vv: debug).")
def main(verbose: int) -> None:
    """fastkm: fast k-means at large N, on NumPy, Numba or CuPy."""
    if verbose:
        logging.basicConfig(format="%(name)s: %(message)s", level=logging.DEBUG if verbose > 1 else logging.INFO)


@main.command()
@click.option("-n", "--n-samples", default=200_000, show_default=True, type=click.IntRange(min=1), help="Points on the board.")
@click.option("-k", "--n-clusters", default=7, show_default=True, type=click.IntRange(min=1), help="Blobs on the board, and K.")
@click.option("-d", "--n-features", default=2, show_default=True, type=click.IntRange(min=1), help="Dimensions.")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed for the board and the init.")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default=None, help="Default: $FASTKM_BACKEND or auto.")
def demo(n_samples: int, n_clusters: int, n_features: int, seed: int, backend: str | None) -> None:
    """Cluster a built-in Gaussian board and print a summary."""
    board = gaussian_board(n_samples, n_clusters, n_features, random_state=seed, dtype=np.float32)
    compile_seconds = warmup(backend)  # JIT kernels: compiled once per machine, then loaded from cache
    start = time.perf_counter()
    result = kmeans(board.X, n_clusters, random_state=seed, backend=backend)
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


@main.command()
def info() -> None:
    """Versions, CPU, threads and which backends can run here (and why not)."""
    click.echo(f"fastkm      {__version__}")
    click.echo(f"python      {platform.python_version()} ({sys.executable})")
    click.echo(f"numpy       {np.__version__}")
    click.echo(f"platform    {platform.platform()}")
    click.echo(f"cpu         {cpu_model()} ({os.cpu_count()} logical cores)")
    click.echo("backends:")
    for status in available_backends().values():
        click.echo(f"  {status.name:<6} {'yes' if status.available else 'no ':<4} {status.detail}")


def _coords(vector: np.ndarray) -> str:
    shown = ", ".join(f"{value:+.3f}" for value in vector[:2])
    return f"({shown}{', ...' if len(vector) > 2 else ''})"


if __name__ == "__main__":  # pragma: no cover
    main()
